"""Checkpoints: safetensors weights + a JSON config, never a pickled object (aesthetics §5 rule 14; le-wm#95).

Layout of one checkpoint directory (``<run>/checkpoints/step_00001234/``)::

    model.safetensors    model weights and BatchNorm statistics
    config.json          format tag and version, the method (``"method": "lewm"``), its config (``"model"``), action
                         statistics, training config, dataset description, step, metrics, the SHA-256 of every
                         other file (``files_sha256``) and of its own content (``config_sha256``)
    trainer.safetensors  optimizer moments and RNG states (only for resuming training)
    trainer.json         optimizer hyper-parameters, step and epoch (only for resuming training)

Integrity: every file is covered by a SHA-256 recorded in config.json, and config.json by the SHA-256 of its parsed
content (canonical JSON without the ``config_sha256`` entry), so one flipped bit anywhere is refused with an error
that names the file. A flip that leaves the parsed content equal (whitespace that stays whitespace) changes nothing
and is accepted. Checkpoints written before these hashes load as before: only model.safetensors is checked (its
``weights_sha256``), and resuming from their unverified trainer state warns (`UnverifiedCheckpointWarning`).

A checkpoint directory is written under a temporary name and renamed into place, so a crash mid-save never leaves
a half-written checkpoint under a real name; the previous checkpoints stay readable.

Version 1 checkpoints (before methods) have no ``method``: they load as LeWM, with ``lam`` and ``num_proj`` taken from
their training config (`upgrade_meta`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from lewm_agents.data.dataset import ActionStats
from lewm_agents.methods import get_method

CHECKPOINT_FORMAT = "lewm-checkpoint"
CHECKPOINT_VERSION = 2
"""2: config.json names its method; 1 (LeWM only) still loads."""
_STEP_DIR = re.compile(r"^step_(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, or belongs to another model; the message says which file and what to do."""


class UnverifiedCheckpointWarning(UserWarning):
    """A checkpoint written before every file was hashed: its trainer state is used without an integrity check."""


TRAINER_FILES = ("trainer.safetensors", "trainer.json")
"""The files only resuming reads."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode) and everything needed to use it."""

    path: Path
    model: nn.Module
    """The method's model: a `lewm_agents.protocols.WorldModel` or `Policy` (see ``method``)."""
    config: Any
    """The method's config."""
    action_stats: ActionStats
    meta: dict[str, Any] = field(default_factory=dict)
    method: str = "lewm"
    """The registered method (lewm_agents/methods/) that built the model."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _config_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of a config.json's parsed content without its own ``config_sha256`` entry (canonical JSON: sorted
    keys, no whitespace), so the hash survives formatting and covers every value."""
    body = {k: v for k, v in meta.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _write_json(path: Path, obj: dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(
    directory: str | os.PathLike,
    model: nn.Module,
    *,
    method: str = "lewm",
    action_stats: ActionStats,
    meta: dict[str, Any] | None = None,
    trainer_state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
) -> Path:
    """Atomically write a checkpoint directory (replacing one of the same name).

    Args:
        directory: the checkpoint directory to create, e.g. ``run/checkpoints/step_00000100``.
        model: the model; its config (``model.cfg``) is stored with it.
        method: the registered method that built the model.
        action_stats: the action normalisation the model was trained with (the agent un-normalises with it).
        meta: JSON-serialisable extras: training config, dataset description, step, metrics.
        trainer_state: ``(tensors, json_dict)`` for exact resume, or None for a weights-only checkpoint.
    """
    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"), metadata={"format": CHECKPOINT_FORMAT})
    get_method(method)  # refuse an unregistered name before writing anything
    if trainer_state is not None:
        tensors, extra = trainer_state
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / "trainer.safetensors"))
        _write_json(tmp / "trainer.json", extra)
    files = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
    config = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "method": method,
        "model": model.cfg.to_dict(),
        "action_stats": action_stats.to_dict(),
        **{k: v for k, v in (meta or {}).items() if k not in ("weights_sha256", "files_sha256", "config_sha256")},
        "weights_sha256": files["model.safetensors"],  # what readers before files_sha256 check
        "files_sha256": files,  # last: the meta of a checkpoint being re-saved cannot bring its old hashes
    }
    config = json.loads(json.dumps(config))  # as it will be read back (tuples become lists), for the hash
    config["config_sha256"] = _config_digest(config)
    _write_json(tmp / "config.json", config)
    if final.exists():  # same step saved again: move the old one aside first, so a crash keeps one of them
        old = final.parent / f".old-{final.name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def write_config(directory: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Write an edited ``config.json`` into a checkpoint directory with a fresh ``config_sha256``, keeping in
    ``files_sha256`` only the files the directory holds (e.g. an exported weights-only copy). The hashes of the other
    files are kept as they are: edit the config, not the weights."""
    directory = Path(directory)
    config = json.loads(json.dumps(config))
    if isinstance(config.get("files_sha256"), dict):
        config["files_sha256"] = {k: v for k, v in config["files_sha256"].items() if (directory / k).is_file()}
    config["config_sha256"] = _config_digest(config)
    _write_json(directory / "config.json", config)
    return directory / "config.json"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint directories of a run (``<run>/checkpoints/step_*``), oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    steps = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(steps)]


def prune_checkpoints(run_dir: str | os.PathLike, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, and temporary leftovers of crashed saves."""
    ckpts = list_checkpoints(run_dir)
    for p in ckpts[: max(0, len(ckpts) - keep_last)]:
        shutil.rmtree(p, ignore_errors=True)
    root = Path(run_dir) / "checkpoints"
    for p in root.glob(".tmp-*") if root.is_dir() else []:
        shutil.rmtree(p, ignore_errors=True)


def find_checkpoint(path: str | os.PathLike) -> Path:
    """Resolve a checkpoint directory, a run directory (its newest checkpoint) or a ``config.json`` path."""
    p = Path(path)
    if p.name == "config.json":
        p = p.parent
    if (p / "config.json").is_file():
        return p
    ckpts = list_checkpoints(p.parent if p.name == "checkpoints" else p)
    if ckpts:
        return ckpts[-1]
    if _STEP_DIR.match(p.name) and p.is_dir():
        raise CheckpointError(
            f"{p / 'config.json'} is missing: the checkpoint is incomplete or was damaged. Use another checkpoint of "
            f"the run (checkpoints/step_*), delete this one to resume from the one before, or retrain."
        )
    if not p.exists():
        raise CheckpointError(
            f"no checkpoint at {p}: the path does not exist. Pass a run directory written by `lewm train` (its newest "
            f"checkpoint is used) or one of its checkpoints/step_* directories."
        )
    raise CheckpointError(
        f"no checkpoint in {p}: it holds neither config.json nor checkpoints/step_* directories. Train one with "
        f"`lewm train DATA --out {p}`, or point to the run directory you trained into."
    )


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed and validated ``config.json`` of a checkpoint (no weights loaded)."""
    ckpt = find_checkpoint(path)
    cfg_path = ckpt / "config.json"
    try:
        meta = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"cannot read {cfg_path}: {e}. The checkpoint is corrupted or partially copied; use another checkpoint of "
            f"the run (checkpoints/step_*) or retrain."
        ) from e
    if isinstance(meta, dict) and "config_sha256" in meta and meta["config_sha256"] != _config_digest(meta):
        raise CheckpointError(
            f"{cfg_path} does not match the SHA-256 of its content recorded in it (config_sha256): the file is "
            f"corrupted or was edited. Use another checkpoint of the run (checkpoints/step_*) or retrain; if you "
            f"edited it on purpose, delete its config_sha256 entry."
        )
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{cfg_path} is not a lewm-agents checkpoint (no format tag {CHECKPOINT_FORMAT!r}): it was replaced or "
            f"written by other code (e.g. the official le-wm weights.pt cannot be loaded directly). Use a checkpoint "
            f"written by `lewm train` (another checkpoints/step_* of the run) or retrain."
        )
    if meta.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{cfg_path} has checkpoint version {meta.get('version')}, newer than this lewm-agents supports "
            f"({CHECKPOINT_VERSION}); upgrade lewm-agents."
        )
    return upgrade_meta(meta)


def upgrade_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A config.json in the current layout: a checkpoint without ``method`` is LeWM's, its training config moves to
    the current layout (`lewm_agents.train.config.upgrade_train_dict`) and LeWM's ``lam`` / ``num_proj`` join the
    model config (what the old training used; the model does not depend on them)."""
    if "method" in meta:
        return meta
    from lewm_agents.train.config import upgrade_train_dict

    meta = dict(meta)
    train = upgrade_train_dict(meta.get("train", {}))
    if "model" in meta:
        trained = train.get("model", {})
        meta["model"] = {**meta["model"], **{k: trained[k] for k in ("lam", "num_proj") if k in trained}}
    if "train" in meta:
        meta["train"] = train
    meta["method"] = "lewm"
    return meta


def verify_checkpoint(path: str | os.PathLike, *, files: tuple[str, ...] = ("model.safetensors",)) -> dict[str, Any]:
    """Check ``files`` of a checkpoint against the SHA-256s its config.json records (config.json itself is checked
    on reading); returns the config. A file without a recorded hash (checkpoints written before every file was
    hashed) is not checked: for trainer files that is warned about (`UnverifiedCheckpointWarning`).

    Raises:
        CheckpointError: a file is missing or does not match its hash; the message names it and what to do.
    """
    ckpt = find_checkpoint(path)
    meta = read_checkpoint_meta(ckpt)
    recorded = dict(meta.get("files_sha256") or {})
    if "model.safetensors" not in recorded and meta.get("weights_sha256"):
        recorded["model.safetensors"] = meta["weights_sha256"]
    fix = (
        "Use another checkpoint of the run (checkpoints/step_*), delete this one to resume from the one before, or "
        "retrain."
        if set(files) & set(TRAINER_FILES)
        else "Use another checkpoint of the run (checkpoints/step_*) or retrain."
    )
    for name in files:
        target = ckpt / name
        if not target.is_file():
            raise CheckpointError(f"{target} is missing: the checkpoint is incomplete. {fix}")
        if name not in recorded:
            if name in TRAINER_FILES:
                warnings.warn(
                    f"{target} has no SHA-256 in its config.json (written before lewm-agents hashed every file): it "
                    f"is used without an integrity check. Checkpoints written from now on are covered.",
                    UnverifiedCheckpointWarning,
                    stacklevel=2,
                )
            continue
        if _sha256(target) != recorded[name]:
            raise CheckpointError(
                f"{target} does not match the SHA-256 recorded in its config.json: the file is corrupted or was "
                f"replaced. {fix}"
            )
    return meta


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint's model (in eval mode), built by its method (lewm_agents/methods/), with its config and
    action statistics.

    Raises:
        CheckpointError: missing files, a weights file that does not match its recorded hash (corruption), or
            weights that belong to another architecture.
    """
    ckpt = find_checkpoint(path)
    meta = verify_checkpoint(ckpt)
    weights_path = ckpt / "model.safetensors"
    try:
        method = get_method(meta["method"])
        cfg = method.config_from_dict(meta["model"])
        stats = ActionStats.from_dict(meta["action_stats"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{ckpt / 'config.json'} has an invalid method, model or action_stats entry: {e}. The checkpoint was "
            f"written by a newer lewm-agents or edited; use one written by this version or retrain."
        ) from e
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"cannot read {weights_path}: {e}. The file is corrupted; use another checkpoint.") from e
    model = method.build(cfg)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{weights_path} holds weights of another model than its config describes (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}). The checkpoint was written by other code or "
            f"its files were mixed up; retrain, or pair the weights with their own config.json."
        )
    model.load_state_dict(state)
    return Checkpoint(
        path=ckpt, model=model.to(device).eval(), config=cfg, action_stats=stats, meta=meta, method=method.name
    )


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state as ``(tensors, json_dict)`` for ``trainer_state``: moments as ``optim.<param>.<name>``
    tensors, hyper-parameters and scalar entries as JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], extra: dict) -> None:
    """Inverse of `optimizer_tensors` (each state moves to its parameter's device)."""
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for key, v in extra["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    try:
        opt.load_state_dict({"state": state, "param_groups": extra["param_groups"]})
    except (KeyError, ValueError) as e:
        raise CheckpointError(
            f"the optimizer state of the checkpoint does not fit this model ({e}); resume with the settings the run "
            f"was started with, or start a new run."
        ) from e


def load_trainer_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The optimizer/RNG state saved for resuming, as ``(tensors, json_dict)``, checked against its recorded hashes
    (`verify_checkpoint`)."""
    ckpt = find_checkpoint(path)
    verify_checkpoint(ckpt, files=TRAINER_FILES)
    try:
        tensors = load_file(str(ckpt / "trainer.safetensors"))
        extra = json.loads((ckpt / "trainer.json").read_text())
    except (SafetensorError, OSError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"cannot resume from {ckpt}: its trainer state is missing or corrupted ({e}). Resume from an older "
            f"checkpoint of the run by deleting this one, or start a fresh run without --resume."
        ) from e
    return tensors, extra
