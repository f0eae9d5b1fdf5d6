"""The training recipe: ``TrainConfig`` (the loop's fields, the method's name and the method's config), the
size-matched presets, the one list of runtime-only fields, and parsing them from the command line.

The ``paper`` preset of LeWM is the official recipe number for number (reference/lewm.md §2, §4); tests/test_train.py
checks it against the reference. Every method has a config per preset (lewm_agents/methods/); the loop's fields of a
preset are shared by all methods, so they train with the same budget (a method may override some, per preset).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from lewm_agents.checks import check_finite, check_range
from lewm_agents.methods import METHODS, SCALES, get_method
from lewm_agents.runtime import Precision

C = TypeVar("C")
"""The method's config type (`lewm_agents.methods.Method.config`)."""


def _paper_lewm() -> Any:
    return get_method("lewm").presets["paper"]


@dataclass(frozen=True)
class TrainConfig(Generic[C]):
    """Training run. Defaults are the paper's recipe (reference/lewm.md §4); `--preset` picks a size-matched set and
    `--method` the method (its config's fields appear as ``--model.<field>``)."""

    data: Path = Path("data/dataset.h5")
    """HDF5 dataset written by `lewm collect`."""
    out: Path = Path("runs/lewm")
    """Run directory: checkpoints/, tb/ (TensorBoard), metrics.jsonl and run.json go here (default: runs/METHOD)."""
    method: str = "lewm"
    """The method to train (lewm, pldm, gcbc, ...: lewm_agents/methods/). Read before the other flags, so `--help`
    shows that method's --model fields and defaults."""
    preset: str = "paper"
    """Name of the preset these defaults came from (recorded with the run)."""
    model: C = field(default_factory=_paper_lewm)
    """The method's config: architecture and loss weights; model.action_dim is taken from the dataset."""
    epochs: float = 10.0
    """Passes over the training clips (the paper trains 10 epochs with the cosine fully annealed)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps instead (sets the schedule length)."""
    batch_size: int = 128
    """Clips per optimizer step (the global batch under DDP: each of K processes takes batch_size / K)."""
    lr: float = 5e-5
    """Peak learning rate of AdamW."""
    weight_decay: float = 1e-3
    """AdamW weight decay, applied to all parameters as in the official code."""
    warmup: float = 0.01
    """Fraction of the steps spent in linear warm-up before the cosine decay to 0."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    val_fraction: float = 0.1
    """Fraction of episodes held out for validation (split by episode, never by clip; official: 10% of clips)."""
    val_every: int = 0
    """Validate every N steps (0: at the end of each epoch and of the run)."""
    val_batches: int = 20
    """Validation batches per validation."""
    seed: int = 3072
    """Seed of the weights, the batch order and the SIGReg directions (official: 3072)."""
    device: str = "auto"
    """'auto' (CUDA if present), 'cpu', 'cuda', 'cuda:1', ... (under DDP each process takes cuda:LOCAL_RANK)."""
    devices: int = 1
    """Processes for data-parallel training, one per GPU (or gloo processes on CPU); `lewm train` launches them.
    Under torchrun the world size comes from torchrun instead."""
    precision: Precision = "auto"
    """'auto' = bf16 autocast on CUDA; on a CPU, whichever of fp32 and bf16 autocast a timed forward and backward
    pass on a training batch finds faster (bf16 only at <= 0.9x fp32's time; recorded in run.json). 'bf16' / 'fp32'
    force one."""
    compile: bool = False
    """torch.compile the encoder, projectors and predictor (in place: checkpoints are unchanged). Pays on GPUs for
    runs longer than the minute or two of compilation."""
    num_workers: int = 0
    """DataLoader worker processes (they ship uint8 frames; the model normalises on the device)."""
    in_memory: bool | None = None
    """Load the training frames into RAM (workers share them copy-on-write); None: only when they take < 2 GiB.
    From memory the loader is ~10x faster than from the file's lzf chunks (benchmarks/train_speed.py)."""
    prefetch: int = 2
    """Batches each worker prepares ahead (DataLoader prefetch_factor; needs num_workers > 0)."""
    sync_bn: bool = True
    """Under DDP, BatchNorm statistics over the global batch (what one device with the whole batch computes); False:
    over each process's share, as the official code under DDP."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms and no cuDNN autotuning: bit-identical reruns, somewhat slower on GPUs (CUDA
    also needs CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment)."""
    time_limit: float | None = None
    """Minutes this command may run: it then checkpoints and exits cleanly; rerun it with --resume to continue."""
    log_every: int = 25
    """TensorBoard scalars (and embedding statistics) every N steps; metrics.jsonl gets every step."""
    ckpt_every: int = 0
    """Checkpoint every N steps (0: at the end of each epoch); the final step is always saved."""
    keep_last: int = 3
    """Checkpoints kept on disk (the newest ones)."""
    bn_recalibration: int = 50
    """Batches used at the end of training to recompute every BatchNorm's statistics at the final weights, by running
    the objective over them (0: keep the running averages, as the official code does). Eval-mode latents (planning)
    depend on them."""
    collapse_rank: float | None = None
    """Warn (CollapseWarning) when the latents' effective rank stays below this fraction of D (for objectives that
    report latent statistics) ... (None: the method's `Method.collapse_rank`, 0.02 for LeWM) ..."""
    collapse_std: float | None = None
    """... or their mean per-dimension std below this (None: the method's `Method.collapse_std`: 0.05 for LeWM,
    whose SIGReg aims at 1; 1e-5 for TD-MPC-style, whose SimNorm latents are small by construction) ..."""
    collapse_patience: int = 3
    """... for this many consecutive logs."""
    straightness_paths: int = 8
    """Latent paths (8 frames, one model step apart; validation episodes first, then training ones if too few are
    long enough) whose temporal straightness is logged with the statistics (``straightness`` in metrics.jsonl and
    TensorBoard; lewm_agents/analysis/straightness.py); 0: none."""
    resume: bool = False
    """Continue the run in `out` from its newest checkpoint (a run without checkpoints starts fresh)."""
    legacy_env: bool = False
    """Train on data recorded under an old version of a lewm env (e.g. lewm/PushT-v0): without it such data is
    refused; with it the run records the current env plus the legacy options that reproduce the old one."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def __post_init__(self) -> None:
        method = get_method(self.method)
        if not isinstance(self.model, method.config):
            raise ValueError(
                f"TrainConfig.model is a {type(self.model).__name__}, but method {self.method!r} trains with a "
                f"{method.config.__name__}. Take the defaults from train_preset({self.method!r}, preset) or pass "
                f"--method before the other flags."
            )
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (BatchNorm and SIGReg need several samples per step).")
        if self.max_steps is None:
            check_range(self, "epochs", low=0, low_open=True, what="passes over the clips; or set --max-steps")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be >= 1.")
        check_range(self, "lr", low=0, low_open=True, what="the peak learning rate")
        check_range(self, "weight_decay", low=0, what="AdamW's decoupled weight decay")
        check_range(self, "warmup", low=0, high=1, high_open=True, what="a fraction of the steps")
        check_range(self, "grad_clip", low=0, low_open=True, what="the gradient-norm clip")
        check_range(self, "val_fraction", low=0, high=1, high_open=True, what="a fraction of the episodes")
        check_range(self, "time_limit", low=0, low_open=True, what="minutes")
        check_range(self, "collapse_rank", low=0, high=1, what="a fraction of the latent size")
        check_range(self, "collapse_std", low=0, what="a per-dimension std")
        if self.keep_last < 1:
            raise ValueError(f"keep_last must be >= 1 (the newest checkpoints kept), got {self.keep_last}.")
        check_finite(self)  # every other float, the method's config included: nan / inf never reach torch
        if self.devices < 1 or self.batch_size % self.devices:
            raise ValueError(
                f"devices must be >= 1 and divide batch_size (each process takes an equal share of the global "
                f"batch); got devices={self.devices}, batch_size={self.batch_size}."
            )
        if self.log_every < 1 or self.prefetch < 1 or self.num_workers < 0:
            raise ValueError("need log_every >= 1, prefetch >= 1 and num_workers >= 0.")

    def collapse_criterion(self) -> tuple[float, float]:
        """``(std floor, rank fraction)`` of the collapse warning: the flags where given, else the method's own
        (`lewm_agents.methods.Method.collapse_std` / ``collapse_rank``).

        Example:
            >>> train_preset("tdmpc", "smoke").collapse_criterion(), train_preset("lewm", "smoke").collapse_criterion()
            ((1e-05, 0.02), (0.05, 0.02))
        """
        m = get_method(self.method)
        std = m.collapse_std if self.collapse_std is None else self.collapse_std
        return std, m.collapse_rank if self.collapse_rank is None else self.collapse_rank

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings, the method's config as a dict), saved in run.json and checkpoints."""
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


RUNTIME_ONLY: frozenset[str] = frozenset(
    {
        "data",
        "out",
        "resume",
        "progress",
        "device",
        "devices",
        "num_workers",
        "prefetch",
        "in_memory",
        "compile",
        "deterministic",
        "time_limit",
        "log_every",
        "ckpt_every",
        "keep_last",
        "val_every",
        "val_batches",
        "collapse_rank",
        "collapse_std",
        "collapse_patience",
        "legacy_env",
        "straightness_paths",
    }
)
"""TrainConfig fields that change how a run executes or reports, not what it learns: they may differ when a run is
resumed, and between a cached run and the benchmark's recipe. Every other field (the method and its config, the
schedule, the batch, the seed, BatchNorm recalibration) must match."""


def upgrade_train_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    """A saved training config in the current layout: configs written before checkpoints carried their method have
    no ``method`` (they are LeWM's) and keep ``lam`` / ``num_proj`` at the top level (now in ``model``)."""
    d = dict(d)
    if "method" not in d:
        model = dict(d.get("model", {}))
        for k in ("lam", "num_proj"):
            if k in d:
                model[k] = d.pop(k)
        d["model"], d["method"] = model, "lewm"
    return d


def recipe_diff(saved: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields (``model.<name>`` for the method's config) whose values differ between a saved training config and
    ``now``, ignoring `RUNTIME_ONLY` fields and fields only one of them has (added or removed since)."""
    saved = upgrade_train_dict(saved)
    now = json.loads(json.dumps(now))  # as it would be saved (tuples become lists)
    return _diff({k: v for k, v in saved.items() if k not in RUNTIME_ONLY}, now)


def _diff(saved: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    diff: dict[str, tuple[Any, Any]] = {}
    for k, v in now.items():
        if k not in saved:
            continue
        if isinstance(v, Mapping) and isinstance(saved[k], Mapping):
            diff.update(_diff(saved[k], v, f"{prefix}{k}."))
        elif saved[k] != v:
            diff[prefix + k] = (saved[k], v)
    return diff


# The loop's size-matched recipes, shared by every method. `paper` is the official one (lewm.md §2, §4: lr 5e-5, wd
# 1e-3, 1% warm-up + cosine per step, clip 1.0, batch 128, 10 epochs, 6 workers prefetching 3, seed 3072); `gpu`
# trains 64 px PushT within minutes on one H100; the CPU presets raise the learning rate for short runs.
_LOOP_PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(num_workers=6, prefetch=3),
    "gpu": TrainConfig(
        preset="gpu",
        batch_size=128,
        lr=3e-4,
        epochs=10,
        num_workers=8,
        prefetch=4,
        in_memory=True,  # ~500k frames of 64 px: 6 GB, in RAM on a 128 GiB GPU host
    ),
    "small": TrainConfig(preset="small", batch_size=64, lr=5e-4, epochs=6, log_every=25),
    "smoke": TrainConfig(preset="smoke", batch_size=32, lr=1e-3, epochs=1, log_every=10, val_batches=5),
}


def train_preset(method: str = "lewm", preset: str = "paper") -> TrainConfig:
    """The recipe of ``method`` at ``preset``: the shared loop preset, the method's config for that preset and the
    method's loop overrides; the run directory defaults to ``runs/<method>``.

    Example:
        >>> cfg = train_preset("pldm", "smoke")
        >>> cfg.method, cfg.batch_size, cfg.model.std_coeff
        ('pldm', 32, 18.0)
    """
    m = get_method(method)
    if preset not in _LOOP_PRESETS or preset not in m.presets:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(p for p in SCALES if p in m.presets)}.")
    overrides = dict(m.train_overrides.get(preset, {}))
    return replace(
        _LOOP_PRESETS[preset],
        method=method,
        preset=preset,
        model=m.presets[preset],
        out=Path("runs") / method,
        **overrides,
    )


TRAIN_PRESETS: dict[str, TrainConfig] = {
    name: train_preset("lewm", name) for name in ("paper", "gpu", "small", "smoke")
}
"""LeWM's recipes by preset (`train_preset` gives every method's)."""


def _flag(args: list[str], name: str, default: str) -> str:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``args`` (the last one wins, as in tyro)."""
    value = default
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a.split("=", 1)[1]
    return value


def config_from_args(args: list[str], prog: str = "lewm train") -> TrainConfig:
    """Parse command-line flags into a TrainConfig (tyro), defaults taken from ``--method NAME`` (lewm if absent)
    and ``--preset NAME`` (paper if absent), which are read first.

    A leading positional argument is the dataset (``lewm train DATA ...``).
    """
    import tyro

    if args and not args[0].startswith("-"):
        args = ["--data", args[0], *args[1:]]
    method, preset = _flag(args, "--method", "lewm"), _flag(args, "--preset", "paper")
    m = get_method(method)
    cfg = tyro.cli(
        TrainConfig[m.config],  # the method's config type: tyro shows and parses its fields
        args=args,
        default=train_preset(method, preset),
        prog=prog,
        description=f"Train {m.label} (--method {', '.join(METHODS)}). `lewm train DATA --method {method} "
        "--preset small`; --dry-run prints the model size and the FLOPs of a step without training; --devices K "
        "trains data-parallel. Defaults shown are the method's and the preset's.",
    )
    return replace(cfg, preset=preset, method=method)
