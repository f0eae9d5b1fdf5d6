"""Processes killed while they write a dataset (kill -9 at seeded random points of `lewm collect` and `lewm merge`),
and a disk that fills up. Each row: every episode committed before the fault still loads and equals the episode a
clean run writes, and rerunning the same command appends (collect) or resumes (merge)."""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from lewm_agents.data.format import DatasetReader
from tests.faults.datasets import NAME, collect_args
from tests.faults.harness import (
    CLEAR_ONLY,
    SURVIVED,
    Fault,
    FaultLog,
    Outcome,
    Verdict,
    isolated,
    kill_at_random,
    run_cli,
    unclear_because,
)

SEEDS = range(int(os.environ.get("LEWM_FAULT_SEEDS", "1")))
"""Seeded kill points per row family (benchmarks/faults.py --seeds N runs more)."""
LEWM = [sys.executable, "-m", "lewm_agents"]


def committed(path: pathlib.Path) -> int:
    """Committed episodes of a file a writer may hold open (read without the lock; 0 while unreadable)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return min(len(f["ep_offset"]), len(f["ep_len"]))
    except Exception:  # a half-written file mid-flush: not ready yet
        return 0


def episode_digests(path: pathlib.Path) -> list[str]:
    """One digest per committed episode (every column), read through DatasetReader."""
    import hashlib

    out = []
    with DatasetReader(path) as reader:
        for episode in reader.iter_episodes():
            h = hashlib.sha256()
            for name in ("pixels", "action", "proprio", "state", "observation", "reward"):
                value = getattr(episode, name)
                if value is not None:
                    h.update(name.encode() + np.ascontiguousarray(value).tobytes())
            out.append(h.hexdigest())
    return out


def check_survivors(path: pathlib.Path, reference: list[str], at_kill: int, *, cyclic: bool = False) -> Verdict | None:
    """Every episode committed at the kill still loads and equals the clean run's (episode i: ``reference[i]``, or
    ``reference[i % len(reference)]`` for a merge of copies of one file); None when all is well."""
    if at_kill == 0 and committed(path) == 0:
        return None  # nothing was committed, so nothing can be lost (and a reader refuses an empty file)
    seen = isolated(episode_digests, path)
    if seen.crashed or seen.error_type:
        return Verdict(Outcome.UNCLEAR, f"the killed file does not load: {seen.message[-400:]}", lost=at_kill)
    survivors: list[str] = seen.value
    if len(survivors) < at_kill:
        return Verdict(
            Outcome.SILENT, f"{at_kill} committed at the kill, {len(survivors)} after", at_kill - len(survivors)
        )
    compared = survivors if cyclic else survivors[: len(reference)]
    wrong = [i for i, d in enumerate(compared) if d != reference[i % len(reference)]]
    if wrong:
        return Verdict(Outcome.SILENT, f"episodes {wrong} differ from a clean run's", lost=len(wrong))
    return None


def kill_collect(seed: int, workers: int) -> Fault:
    """kill -9 `lewm collect` once 1-3 episodes are committed, after a seeded random delay; then rerun it."""

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        out = work / NAME
        rng = np.random.default_rng(seed)
        k, delay = int(rng.integers(1, 4)), float(rng.uniform(0.0, 0.3))
        cmd = [*LEWM, *collect_args(out, 100000), "--workers", str(workers), "--no-progress"]
        code, at_kill, stderr = kill_at_random(
            cmd, ready=lambda: committed(out) >= k, delay_s=delay, just_before=lambda: committed(out)
        )
        if code != -signal.SIGKILL:
            return Verdict(Outcome.UNCLEAR, f"lewm collect ended before the kill with {code}: {stderr[-400:]}")
        reference = episode_digests(pristine)  # collection is seeded per episode: a clean run writes these
        bad = check_survivors(out, reference, at_kill)
        if bad:
            return bad
        after = committed(out)
        rerun = run_cli(*collect_args(out, 2), "--no-progress")
        if rerun.exit_code != 0:
            return Verdict(Outcome.UNCLEAR, f"the rerun failed: {rerun.message[-400:]}")
        total = episode_digests(out)
        if len(total) != after + 2 or any(d != reference[i % len(reference)] for i, d in enumerate(total[:16])):
            return Verdict(Outcome.SILENT, f"after the rerun: {len(total)} episodes, expected {after + 2}")
        return Verdict(Outcome.RECOVERED, f"killed with {at_kill} committed (k={k}, +{delay:.2f} s); rerun appended 2")

    return Fault("collect: kill -9", f"kill-collect-w{workers}-{seed}", run, expect=SURVIVED,
                 why="a killed collection keeps its committed episodes; rerunning appends")  # fmt: skip


def kill_merge(seed: int) -> Fault:
    """kill -9 `lewm merge` of four inputs once k episodes are copied (k seeded), then rerun the same merge."""

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        inputs = [work / f"in{i}.h5" for i in range(4)]
        for path in inputs:
            shutil.copyfile(pristine, path)
        out = work / NAME
        rng = np.random.default_rng(seed)
        k, delay = int(rng.integers(1, 48)), float(rng.uniform(0.0, 0.01))
        code, at_kill, stderr = kill_at_random(
            [*LEWM, "merge", str(out), *map(str, inputs), "--no-progress"],
            ready=lambda: committed(out) >= k,
            delay_s=delay,
            just_before=lambda: committed(out),
        )
        if code != -signal.SIGKILL:
            return Verdict(Outcome.UNCLEAR, f"lewm merge ended before the kill with {code}: {stderr[-400:]}")
        reference = episode_digests(pristine)
        bad = check_survivors(out, reference, at_kill, cyclic=True)
        if bad:
            return bad
        rerun = run_cli("merge", out, *inputs, "--no-progress")
        if rerun.exit_code != 0:
            return Verdict(Outcome.UNCLEAR, f"the rerun failed: {rerun.message[-400:]}")
        merged = episode_digests(out)
        if len(merged) != 4 * len(reference) or any(d != reference[i % len(reference)] for i, d in enumerate(merged)):
            return Verdict(Outcome.SILENT, "the resumed merge differs from its inputs, in order")
        return Verdict(Outcome.RECOVERED, f"killed with {at_kill} of {len(merged)} copied (k={k}); the rerun resumed")

    return Fault("merge: kill -9", f"kill-merge-{seed}", run, expect=SURVIVED,
                 why="a killed merge keeps its copied episodes; rerunning resumes")  # fmt: skip


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def disk_full(command: str) -> Fault:
    """A file-size limit (the disk fills up) while `lewm collect` appends or `lewm merge` copies; then rerun."""

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        out = work / NAME
        size = pristine.stat().st_size
        # The limit leaves room for a few episodes (the writer keeps 1 MiB in hand), then the "disk" is full.
        if command == "collect":
            shutil.copyfile(pristine, out)
            args, again, limit = collect_args(out, 100), collect_args(out, 2), size + (3 << 19)
        else:
            src = work / "in.h5"
            shutil.copyfile(pristine, src)
            args = again = ["merge", str(out), str(src)]
            limit = (1 << 20) + size // 2
        paths = [out, work / "in.h5"]
        before = committed(out) if out.exists() else 0
        proc = subprocess.run(
            [*LEWM, *args, "--no-progress"], capture_output=True, text=True, timeout=300,
            preexec_fn=_limit_file_size(limit),
        )  # fmt: skip
        seen = run_console_result(proc)
        reason = unclear_because(seen, paths, says=("no room",)) if proc.returncode != 0 else "it reported success"
        reference = episode_digests(pristine)
        bad = check_survivors(out, reference, before, cyclic=command == "merge")
        if bad:
            return bad
        written = committed(out)
        rerun = run_cli(*again, "--no-progress")
        if rerun.exit_code != 0 or committed(out) <= written:
            return Verdict(Outcome.UNCLEAR, f"the rerun did not continue: {rerun.message[-400:]}")
        outcome = Outcome.CLEAR if reason is None else Outcome.UNCLEAR
        return Verdict(outcome, f"{reason or 'clear'} ({before} -> {written} episodes): {proc.stderr.strip()[-300:]}")

    return Fault(f"{command}: disk full", f"disk-full-{command}", run, expect=CLEAR_ONLY)


def run_console_result(proc: subprocess.CompletedProcess):
    from tests.faults.harness import Seen

    if proc.returncode < 0:
        return Seen(crashed=signal.Signals(-proc.returncode).name, message=proc.stderr)
    return Seen(exit_code=proc.returncode, message=proc.stderr, traceback="Traceback" in proc.stderr)


FAULTS: list[Fault] = [
    *(kill_collect(seed, workers=1) for seed in SEEDS),
    kill_collect(0, workers=2),
    *(kill_merge(seed) for seed in SEEDS),
    disk_full("collect"),
    disk_full("merge"),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 and file-size limits as on Linux")
@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_collection_fault(fault: Fault, pristine_dataset: pathlib.Path, tmp_path: pathlib.Path, fault_log: FaultLog):
    verdict = fault_log.check(fault, pristine_dataset, tmp_path)  # records the row for the figure
    assert verdict.outcome in fault.expect and verdict.lost == 0, verdict.detail
