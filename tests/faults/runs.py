"""Training-run artifacts for the fault suite: a tiny run, what loading, resuming and evaluating it give, and
:func:`run_fault`, which turns a damage to a run directory and an entry point into a
:class:`~tests.faults.harness.Fault` row.

The pristine run is a 2-step LeWM on the pristine dataset, with its step-1 checkpoint kept (``run/``) and the
SHA-256 of the step-2 weights recorded: resuming the step-1 checkpoint must give exactly those weights (resume is
bit-exact), so a resume that accepts a damaged file is judged RECOVERED only if it ends on them.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.harness import (
    CLEAR_ONLY,
    Fault,
    Outcome,
    Seen,
    Verdict,
    file_digest,
    isolated,
    judge,
    run_cli,
)

RUN = "run"
"""The damaged copy of the pristine run is ``work/run``: a neutral name."""
STEP = "step_00000001"
RUN_ARGS = (
    "--preset", "smoke", "--model.image-size", "32", "--model.patch-size", "8", "--model.history", "1",
    "--batch-size", "8", "--max-steps", "2", "--ckpt-every", "1", "--keep-last", "3", "--bn-recalibration", "1",
    "--val-batches", "1", "--device", "cpu", "--num-workers", "0", "--no-progress",
)  # fmt: skip
"""`lewm train DATA` flags of the pristine run, and of every resume of it (they must match to resume)."""
EVAL_ARGS = (
    "--episodes", "1", "--budget", "2", "--goal-offset", "5", "--videos", "0", "--batch", "1", "--device", "cpu",
    "--no-progress", "--plan.num-samples", "4", "--plan.iterations", "1", "--plan.topk", "2", "--plan.horizon", "1",
)  # fmt: skip
"""`lewm eval RUN` flags: one episode of two steps with the smallest plan (what is judged is the error, not the
success)."""
DAMAGE = ("corrupted", "does not match", "missing", "not a lewm-agents checkpoint", "cannot read", "incomplete")
"""Words of an error that blames damage to a checkpoint file (paths removed)."""


def make_run(data: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    """Train the pristine run into ``root/run`` (library call, this process); keep its step-1 checkpoint and write the
    SHA-256 of the step-2 weights to ``root/final.sha256``. Returns the run directory."""
    run = root / RUN
    seen = isolated(_train, data, run)  # one thread, as every resume (in a forked child) runs: the same rounding
    assert seen.value is not None, f"the pristine run failed: {seen.message[-2000:]}"
    final = run / "checkpoints" / "step_00000002"
    (root / "final.sha256").write_text(_sha(final / "model.safetensors"))
    shutil.rmtree(final)
    return run


def _train(data: pathlib.Path, run: pathlib.Path) -> dict:
    import torch

    from lewm_agents.train import train
    from lewm_agents.train.config import config_from_args

    torch.set_num_threads(1)
    return train(config_from_args([str(data), *RUN_ARGS, "--out", str(run)]))


def train_command(data: pathlib.Path, out: pathlib.Path) -> list[str]:
    """`lewm train` of the pristine run as a real process, on one thread like the pristine run."""
    code = (
        "import sys, torch; torch.set_num_threads(1); from lewm_agents.cli import main; "
        "raise SystemExit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, "train", str(data), *RUN_ARGS, "--out", str(out)]


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checkpoint_digest(ckpt: pathlib.Path) -> str:
    """sha256 of what `load_checkpoint` gives: every weight, the method, its config, the action statistics and the
    metadata."""
    from lewm_agents.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt, device="cpu")
    h = hashlib.sha256()
    for name, value in sorted(c.model.state_dict().items()):
        h.update(name.encode() + value.cpu().contiguous().numpy().tobytes())
    h.update(json.dumps([c.method, c.meta, c.action_stats.to_dict()], sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class RunEntry:
    """A public entry point that takes a run (or one of its checkpoints), and what the user gets from it."""

    name: str
    call: Callable[[pathlib.Path, pathlib.Path], Seen]
    """(run directory, dataset) -> what the user saw."""
    result: Callable[[Seen, pathlib.Path], str]
    """(seen, run directory) -> a digest of what the user got when the call succeeded."""


def _loaded(seen: Seen, run: pathlib.Path) -> str:
    return str(seen.value)


def _resumed(seen: Seen, run: pathlib.Path) -> str:
    final = run / "checkpoints" / "step_00000002" / "model.safetensors"
    return _sha(final) if final.is_file() else "no final checkpoint"


def _evaluated(seen: Seen, run: pathlib.Path) -> str:
    return "\n".join(line for line in seen.stdout.splitlines() if line.startswith(("policy", "success_rate")))


ENTRIES: dict[str, RunEntry] = {
    # load_checkpoint on the checkpoint directory: the model, its config and statistics
    "load": RunEntry(
        "load", lambda r, d: isolated(checkpoint_digest, r / "checkpoints" / STEP, expected=(_ckpt_error(),)), _loaded
    ),
    # lewm train --resume: model, optimizer and RNG state, then one more step and the final checkpoint
    "resume": RunEntry("resume", lambda r, d: run_cli("train", d, *RUN_ARGS, "--resume", "--out", r), _resumed),
    # lewm eval RUN: the checkpoint, then the dataset it records
    "eval": RunEntry("eval", lambda r, d: run_cli("eval", r, *EVAL_ARGS), _evaluated),
}


def _ckpt_error() -> type:
    from lewm_agents.checkpoint import CheckpointError

    return CheckpointError


_BASELINES: dict[tuple[str, pathlib.Path], str] = {}


def baseline(entry: RunEntry, pristine: pathlib.Path, data: pathlib.Path) -> str:
    """What ``entry`` gives on an undamaged copy of the pristine run (the resume: the recorded step-2 weights)."""
    key = (entry.name, pristine)
    if key not in _BASELINES:
        if entry.name == "resume":
            _BASELINES[key] = (pristine.parent / "final.sha256").read_text()
        else:
            with tempfile.TemporaryDirectory(dir=pristine.parent) as tmp:
                run = pathlib.Path(tmp) / RUN
                shutil.copytree(pristine, run)
                seen = entry.call(run, data)
                assert seen.exit_code in (None, 0) and not seen.error_type, f"{entry.name} fails on {pristine}: {seen}"
                _BASELINES[key] = entry.result(seen, run)
    return _BASELINES[key]


def run_fault(
    kind: str,
    name: str,
    damage: Callable[[pathlib.Path], pathlib.Path],
    entry: str,
    *,
    says: tuple[str, ...] = DAMAGE,
    expect: frozenset[Outcome] = CLEAR_ONLY,
    why: str = "",
) -> Fault:
    """A row: copy the pristine run to ``work/run``, ``damage(run)`` it (returning the file it damaged, which the
    error must name), run entry point ``entry`` on it; an error must contain one of the words ``says``.

    Nothing finished may be lost: a refused run's checkpoints must be left as they were (the user may still rescue
    them), and after an accepted resume the run's last checkpoint must load.
    """

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        data = pristine.parent / "data.h5"
        target_run = work / RUN
        shutil.copytree(pristine, target_run)
        target = damage(target_run)
        checkpoints = target_run / "checkpoints"
        before = file_digest(checkpoints)
        point = ENTRIES[entry]
        seen = point.call(target_run, data)
        verdict = judge(
            seen,
            [target],
            intact=lambda: point.result(seen, target_run) == baseline(point, pristine, data),
            says=says,
        )
        if verdict.outcome in (Outcome.CLEAR, Outcome.UNCLEAR) and file_digest(checkpoints) != before:
            return Verdict(verdict.outcome, f"the refused run's checkpoints were changed; {verdict.detail}", lost=1)
        if verdict.outcome is Outcome.RECOVERED and entry == "resume":
            last = isolated(checkpoint_digest, checkpoints / "step_00000002", expected=(_ckpt_error(),))
            if last.error_type or last.crashed:
                return Verdict(verdict.outcome, f"the resumed run's checkpoint does not load: {last.message}", lost=1)
        return verdict

    return Fault(kind=kind, name=f"{name}-{entry}", run=run, expect=expect, why=why)
