"""Damaged training runs through their entry points (load_checkpoint, `lewm train --resume`, `lewm eval`): a flipped
bit in every file of a checkpoint, missing or foreign JSON in a run directory, and kill -9 during training. Each row:
a clear error that names the damaged file (or, where a row says so, exactly the undamaged result), and nothing
finished lost."""

from __future__ import annotations

import os
import pathlib
import signal
import sys

import numpy as np
import pytest

from tests.faults.harness import (
    CLEAR_OR_HARMLESS,
    SURVIVED,
    Fault,
    FaultLog,
    Outcome,
    Verdict,
    flip_bit,
    isolated,
    kill_at_random,
    run_cli,
)
from tests.faults.runs import RUN_ARGS, STEP, checkpoint_digest, run_fault, train_command

SEEDS = range(int(os.environ.get("LEWM_FAULT_SEEDS", "1")))

# --- byte flips -----------------------------------------------------------------------------------------------


def flip(name: str, seed: int):
    """Flip one seeded random bit of a file of the run's checkpoint; returns the file."""

    def damage(run: pathlib.Path) -> pathlib.Path:
        target = run / "checkpoints" / STEP / name
        rng = np.random.default_rng(seed)
        flip_bit(target, int(rng.integers(target.stat().st_size)), int(rng.integers(8)))
        return target

    return damage


WHITESPACE_WHY = "config.json is hashed by its parsed content: a flip that keeps the same JSON values changes nothing"
TRAINER_WHY = "loading a model does not read the trainer state (resuming does, and refuses the flip)"
FLIPS: list[Fault] = [
    *(
        run_fault("checkpoint: byte flip", f"flip-model-{seed}", flip("model.safetensors", seed), entry)
        for seed in (0, 1, 2)
        for entry in ("load", "resume")
    ),
    run_fault("checkpoint: byte flip", "flip-model-0", flip("model.safetensors", 0), "eval"),
    *(
        run_fault(
            "checkpoint: byte flip",
            f"flip-config-{seed}",
            flip("config.json", seed),
            entry,
            expect=CLEAR_OR_HARMLESS,
            why=WHITESPACE_WHY,
        )
        for seed in (0, 1, 2)
        for entry in ("load", "resume")
    ),
    run_fault(
        "checkpoint: byte flip",
        "flip-config-0",
        flip("config.json", 0),
        "eval",
        expect=CLEAR_OR_HARMLESS,
        why=WHITESPACE_WHY,
    ),
    *(
        run_fault("checkpoint: byte flip", f"flip-{stem}-{seed}", flip(name, seed), "resume")
        for name, stem in (("trainer.safetensors", "trainer-tensors"), ("trainer.json", "trainer-json"))
        for seed in (0, 1, 2)
    ),
    *(
        run_fault("checkpoint: byte flip", f"flip-{stem}-0", flip(name, 0), "load", expect=SURVIVED, why=TRAINER_WHY)
        for name, stem in (("trainer.safetensors", "trainer-tensors"), ("trainer.json", "trainer-json"))
    ),
]

# --- missing or foreign JSON in a run directory ---------------------------------------------------------------


def remove(name: str):
    def damage(run: pathlib.Path) -> pathlib.Path:
        target = run / "checkpoints" / STEP / name
        target.unlink()
        return target

    return damage


def replace_json(relative: str, text: str):
    def damage(run: pathlib.Path) -> pathlib.Path:
        target = run / relative.replace("CKPT", f"checkpoints/{STEP}")
        target.write_text(text)
        return target

    return damage


def append_lines(relative: str, text: str):
    def damage(run: pathlib.Path) -> pathlib.Path:
        target = run / relative
        with open(target, "a") as f:
            f.write(text)
        return target

    return damage


FOREIGN = '{"format": "another-tool", "weights": "model.bin"}'
RUN_JSON_WHY = "run.json is a record for people; training rewrites it and nothing reads it back"
METRICS_WHY = "metrics.jsonl lines that are not this run's entries are skipped; the resumed run keeps its own entries"
JSON: list[Fault] = [
    *(
        run_fault("run dir: missing or foreign JSON", "config-missing", remove("config.json"), entry)
        for entry in ("load", "resume", "eval")
    ),
    *(
        run_fault(
            "run dir: missing or foreign JSON", "config-foreign", replace_json("CKPT/config.json", FOREIGN), entry
        )
        for entry in ("load", "resume", "eval")
    ),
    run_fault("run dir: missing or foreign JSON", "config-list", replace_json("CKPT/config.json", "[1, 2]"), "load"),
    run_fault("run dir: missing or foreign JSON", "config-empty", replace_json("CKPT/config.json", ""), "resume"),
    run_fault("run dir: missing or foreign JSON", "trainer-json-missing", remove("trainer.json"), "resume"),
    run_fault("run dir: missing or foreign JSON", "trainer-tensors-missing", remove("trainer.safetensors"), "resume"),
    run_fault(
        "run dir: missing or foreign JSON", "trainer-json-foreign", replace_json("CKPT/trainer.json", "{}"), "resume"
    ),
    run_fault(
        "run dir: missing or foreign JSON",
        "run-json-foreign",
        replace_json("run.json", FOREIGN),
        "resume",
        expect=SURVIVED,
        why=RUN_JSON_WHY,
    ),
    run_fault(
        "run dir: missing or foreign JSON",
        "metrics-foreign-lines",
        append_lines("metrics.jsonl", '[1, 2]\n{"step": "x"}\nnot json\n'),
        "resume",
        expect=SURVIVED,
        why=METRICS_WHY,
    ),
]

# --- kill -9 during training ----------------------------------------------------------------------------------


def kill_train(seed: int) -> Fault:
    """kill -9 `lewm train` at a seeded random point after its first checkpoint; the newest checkpoint left must load,
    and `--resume` must end on exactly the weights of an uninterrupted run."""

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        data = pristine.parent / "data.h5"
        out = work / "run"
        first = out / "checkpoints" / STEP / "config.json"
        delay = float(np.random.default_rng(seed).uniform(0.0, 1.0))
        code, _, stderr = kill_at_random(train_command(data, out), ready=first.is_file, delay_s=delay)
        if code not in (-signal.SIGKILL, 0):
            return Verdict(Outcome.UNCLEAR, f"lewm train failed before the kill with {code}: {stderr[-400:]}")
        from lewm_agents.checkpoint import CheckpointError, list_checkpoints

        newest = list_checkpoints(out)[-1]
        seen = isolated(checkpoint_digest, newest, expected=(CheckpointError,))
        if seen.error_type or seen.crashed:
            return Verdict(Outcome.UNCLEAR, f"the newest checkpoint left does not load: {seen.message[-400:]}", lost=1)
        rerun = run_cli("train", data, *RUN_ARGS, "--resume", "--out", out)
        final = out / "checkpoints" / "step_00000002" / "model.safetensors"
        if rerun.exit_code != 0 or not final.is_file():
            return Verdict(Outcome.UNCLEAR, f"the resume failed: {rerun.message[-400:]}")
        import hashlib

        if hashlib.sha256(final.read_bytes()).hexdigest() != (pristine.parent / "final.sha256").read_text():
            return Verdict(Outcome.SILENT, "the resumed run's final weights differ from an uninterrupted run's")
        resumed = [line for line in rerun.stdout.splitlines() if line.startswith(("resuming", "--resume"))]
        if not any(f"(step {int(name.split('_')[1])})" in line for line in resumed for name in [newest.name]):
            return Verdict(Outcome.UNCLEAR, f"--no-progress: the resume did not say from which step: {rerun.stdout}")
        return Verdict(Outcome.RECOVERED, f"killed after {delay:.2f} s ({newest.name} left); {resumed}")

    why = "a killed run keeps its checkpoints; --resume ends on the uninterrupted run's weights"
    return Fault("train: kill -9", f"kill-train-{seed}", run, expect=SURVIVED, why=why)


KILLS: list[Fault] = [kill_train(seed) for seed in SEEDS]


@pytest.mark.parametrize("fault", [*FLIPS, *JSON], ids=str)
def test_checkpoint_fault(fault: Fault, pristine_run: pathlib.Path, tmp_path: pathlib.Path, fault_log: FaultLog):
    verdict = fault_log.check(fault, pristine_run, tmp_path)  # records the row for the figure
    assert verdict.outcome in fault.expect and verdict.lost == 0, verdict.detail


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 as on Linux")
@pytest.mark.parametrize("fault", KILLS, ids=str)
def test_training_fault(fault: Fault, pristine_run: pathlib.Path, tmp_path: pathlib.Path, fault_log: FaultLog):
    verdict = fault_log.check(fault, pristine_run, tmp_path)  # records the row for the figure
    assert verdict.outcome in fault.expect and verdict.lost == 0, verdict.detail


def test_rows_are_unique() -> None:
    names = [f.name for f in (*FLIPS, *JSON, *KILLS)]
    assert len(names) == len(set(names))
