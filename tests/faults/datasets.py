"""Dataset artifacts for the fault suite: a digest of what a dataset holds, the entry points that take one, where
its bytes are (superblock, metadata, chunks), and :func:`dataset_fault`, which turns a damage and an entry point into
a :class:`~tests.faults.harness.Fault` row."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import h5py
import numpy as np

from lewm_agents.data.format import DatasetError, DatasetReader
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
    run_console,
)

ENV = "tworoom"
"""The env of the pristine datasets (through this one name, so an env rename is one line)."""
IMAGE_SIZE = 32
NAME = "d.h5"
"""Every damaged copy is called this: neutral, so no word of an assertion can come from the file name."""


DAMAGE = ("damaged", "corrupted", "cut short", "not an hdf5", "not a lewm dataset", "inconsistent", "breaks the format")
"""Words of an error that blames damage to the file (what a flipped bit may cause, wherever it lands)."""
TRAIN_ARGS = ("--preset", "smoke", "--max-steps", "1", "--device", "cpu", "--num-workers", "0", "--no-progress")
"""`lewm train DATA` flags of the training-start entry point: the smallest run, should the dataset be accepted."""


def collect_args(out: pathlib.Path, episodes: int) -> list[str]:
    """``lewm collect`` arguments that append ``episodes`` episodes of the pristine env to ``out``."""
    return ["collect", ENV, "--episodes", str(episodes), "--out", str(out), "--image-size", str(IMAGE_SIZE)]


def dataset_digest(path: pathlib.Path, *, meta: bool = True) -> str:
    """sha256 of everything a reader returns: attributes (``meta``) and every column of every episode."""
    h = hashlib.sha256()
    with DatasetReader(path) as r:
        if meta:
            collection = json.dumps(r.collection, sort_keys=True).replace(str(path.parent), "<dir>")
            fields = (r.env_id, r.image_size, r.action_dim, r.env_kwargs, r.action_space, collection, r.policy, r.seed)
            h.update(repr(fields).encode())
        h.update(repr((r.num_episodes, sorted(r.columns))).encode())
        for episode in r.iter_episodes():
            for name in ("pixels", "action", "proprio", "state", "observation", "reward"):
                value = getattr(episode, name)
                if value is not None:
                    h.update(name.encode() + np.ascontiguousarray(value).tobytes())
            h.update(bytes([episode.terminated, episode.truncated]))
    return h.hexdigest()


def clips_digest(path: pathlib.Path) -> str:
    """sha256 of every clip a ClipDataset (2 frames, frameskip 1) yields; the training path into the data."""
    from lewm_agents.data import ClipDataset, compute_action_stats

    with DatasetReader(path) as reader:
        stats = compute_action_stats(reader)
    dataset = ClipDataset(path, num_steps=2, frameskip=1, action_stats=stats, in_memory=False)
    h = hashlib.sha256()
    try:
        for i in range(len(dataset)):
            pixels, actions = dataset[i]
            h.update(pixels.numpy().tobytes() + actions.numpy().tobytes())
    finally:
        dataset.close()
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """A public entry point that takes a dataset, and what the user gets from it."""

    name: str
    call: Callable[[pathlib.Path, pathlib.Path], Seen]
    """(dataset, work folder) -> what the user saw."""
    result: Callable[[Seen, pathlib.Path, pathlib.Path], str]
    """(seen, dataset, work folder) -> a digest of what the user got when the call succeeded."""


def _returned(seen: Seen, target: pathlib.Path, work: pathlib.Path) -> str:
    return str(seen.value)


def _stdout(seen: Seen, target: pathlib.Path, work: pathlib.Path) -> str:
    return seen.stdout.replace(str(work), "<work>")


def _dataset_after(seen: Seen, target: pathlib.Path, work: pathlib.Path) -> str:
    return dataset_digest(target)


def _merged(seen: Seen, target: pathlib.Path, work: pathlib.Path) -> str:
    return dataset_digest(work / "m.h5")


def _video(seen: Seen, target: pathlib.Path, work: pathlib.Path) -> str:
    return file_digest(work / "v.mp4")


def _ran(seen: Seen, target: pathlib.Path, work: pathlib.Path) -> str:
    return "exit 0"


ENTRIES: dict[str, Entry] = {
    "reader": Entry(
        "reader", lambda d, w: isolated(dataset_digest, d, expected=(DatasetError,)), _returned
    ),  # DatasetReader: every attribute, every episode
    "episodes": Entry(
        "episodes",
        lambda d, w: isolated(lambda p: dataset_digest(p, meta=False), d, expected=(DatasetError,)),
        _returned,
    ),  # DatasetReader, episodes only (for optional attributes a file may lack)
    "clips": Entry("clips", lambda d, w: isolated(clips_digest, d, expected=(DatasetError,)), _returned),
    "info": Entry("info", lambda d, w: run_cli("info", d, "--sheet", "none"), _stdout),
    "console-info": Entry("console-info", lambda d, w: run_console("info", d, "--sheet", "none"), _stdout),
    "collect": Entry("collect", lambda d, w: run_cli(*collect_args(d, 1), "--no-progress"), _dataset_after),
    "merge": Entry("merge", lambda d, w: run_cli("merge", w / "m.h5", d, "--no-progress"), _merged),
    "video": Entry("video", lambda d, w: run_cli("video", d, "--episodes", "0", "-1", "--out", w / "v.mp4"), _video),
    # Training start: only the exit code and the message are judged (the trainer is not this suite's to fix).
    "train": Entry("train", lambda d, w: run_cli("train", d, *TRAIN_ARGS, "--out", w / "run"), _ran),
}

_BASELINES: dict[tuple[str, pathlib.Path], str] = {}


def baseline(entry: Entry, pristine: pathlib.Path) -> str:
    """What ``entry`` gives on an undamaged copy of ``pristine`` (computed once per session)."""
    key = (entry.name, pristine)
    if key not in _BASELINES:
        if entry.result is _ran:
            _BASELINES[key] = "exit 0"
        else:
            with tempfile.TemporaryDirectory(dir=pristine.parent) as tmp:
                work = pathlib.Path(tmp)
                target = work / NAME
                shutil.copyfile(pristine, target)
                seen = entry.call(target, work)
                assert seen.exit_code in (None, 0) and not seen.error_type, f"{entry.name} fails on {pristine}: {seen}"
                _BASELINES[key] = entry.result(seen, target, work)
    return _BASELINES[key]


def dataset_fault(
    kind: str,
    name: str,
    damage: Callable[[pathlib.Path], object],
    entry: str,
    *,
    says: tuple[str, ...] = DAMAGE,
    expect: frozenset[Outcome] = CLEAR_ONLY,
    why: str = "",
) -> Fault:
    """A row: copy the pristine dataset to ``work/d.h5``, ``damage`` it, run entry point ``entry`` on it; an error
    must contain one of the words ``says`` (the real cause), paths removed.

    Besides the outcome, a refusal must leave the damaged file as it was (a tool that refuses a file must not
    "repair" or clobber what the user may still rescue): a changed file counts as lost.
    """

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        target = work / NAME
        shutil.copyfile(pristine, target)
        damage(target)
        before = file_digest(target) if target.is_file() else None
        point = ENTRIES[entry]
        seen = point.call(target, work)
        verdict = judge(
            seen,
            [target, work],
            intact=lambda: point.result(seen, target, work) == baseline(point, pristine),
            says=says,
        )
        if verdict.outcome in (Outcome.CLEAR, Outcome.UNCLEAR) and before is not None and file_digest(target) != before:
            return Verdict(verdict.outcome, f"the refused file was changed; {verdict.detail}", lost=1)
        return verdict

    return Fault(kind=kind, name=f"{name}-{entry}", run=run, expect=expect, why=why)


# --- where the bytes of a dataset file are ---------------------------------------------------------------------


@dataclass(frozen=True)
class Regions:
    """Byte ranges of a dataset file, by what they hold."""

    superblock: range
    pixel_chunks: list[range]
    """One range per stored frame chunk (frame k is chunk k)."""
    column_chunks: dict[str, list[range]]
    metadata: np.ndarray
    """Offsets outside the superblock and every chunk: object headers, B-trees, heaps, attributes."""


def regions(path: pathlib.Path) -> Regions:
    """Map a dataset file's bytes (superblock v0: 96 bytes with 8-byte addresses, then the root group's entry)."""
    size = path.stat().st_size
    in_chunk = np.zeros(size, bool)
    pixel_chunks: list[range] = []
    column_chunks: dict[str, list[range]] = {}
    with h5py.File(path, "r") as f:
        for name in f:
            chunks = []
            for i in range(f[name].id.get_num_chunks()):
                info = f[name].id.get_chunk_info(i)
                chunks.append(range(info.byte_offset, info.byte_offset + info.size))
                in_chunk[info.byte_offset : info.byte_offset + info.size] = True
            if name == "pixels":
                pixel_chunks = chunks
            else:
                column_chunks[name] = chunks
    superblock = range(0, 96)
    in_chunk[: superblock.stop] = True
    return Regions(superblock, pixel_chunks, column_chunks, np.flatnonzero(~in_chunk))
