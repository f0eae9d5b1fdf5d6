"""Damaged dataset files through every public entry point: truncation, byte flips, missing or foreign attributes,
wrong file types. Each row: the user gets a clear error (or, where a row says so, correct data), and a refused file
is left as it was."""

from __future__ import annotations

import json
import pathlib
import shutil

import h5py
import numpy as np
import pytest

from tests.faults.datasets import NAME, dataset_fault, regions
from tests.faults.harness import CLEAR_OR_HARMLESS, SURVIVED, Fault, FaultLog, Outcome, flip_bit, truncate

# --- truncation -----------------------------------------------------------------------------------------------


def cut_to(fraction: float):
    return lambda path: truncate(path, int(path.stat().st_size * fraction))


def cut_inside_last_episode(path: pathlib.Path) -> None:
    """Cut through the middle of a frame in the middle of the last episode."""
    with h5py.File(path, "r") as f:
        middle = int(f["ep_offset"][-1] + f["ep_len"][-1] // 2)
        info = f["pixels"].id.get_chunk_info_by_coord((middle, 0, 0, 0))
    truncate(path, info.byte_offset + info.size // 2)


CUT = ("cut short",)
"""What a truncation error must say (paths removed): before issue 10 it said "locked"."""
CUTS = {"10%": cut_to(0.10), "50%": cut_to(0.50), "90%": cut_to(0.90), "99%": cut_to(0.99)}
TRUNCATION: list[Fault] = [
    *(dataset_fault("dataset: truncation", f"cut-{name}", cut, "reader", says=CUT) for name, cut in CUTS.items()),
    *(
        dataset_fault("dataset: truncation", "cut-50%", CUTS["50%"], entry, says=CUT)
        for entry in ("clips", "info", "collect", "merge", "video", "train", "console-info")
    ),
    *(
        dataset_fault("dataset: truncation", "cut-in-last-episode", cut_inside_last_episode, entry, says=CUT)
        for entry in ("reader", "info", "collect")
    ),
]

# --- byte flips -----------------------------------------------------------------------------------------------


def flip_in(region: str, seed: int):
    """Flip one seeded random bit in a region of the file: superblock, metadata, pixels, last-episode, or a column."""

    def damage(path: pathlib.Path) -> None:
        rng = np.random.default_rng(seed)
        where = regions(path)
        if region == "superblock":
            offset = int(rng.choice(where.superblock))
        elif region == "metadata":
            offset = int(rng.choice(where.metadata))
        elif region == "pixels":
            chunk = where.pixel_chunks[int(rng.integers(len(where.pixel_chunks)))]
            offset = int(rng.choice(chunk))
        elif region == "last-episode":
            offset = int(rng.choice(where.pixel_chunks[-2]))
        else:
            offset = int(rng.choice(where.column_chunks[region][0]))
        flip_bit(path, offset, int(rng.integers(8)))

    return damage


FLIP_WHY = "a flip in bytes nothing reads (padding, unused slots) changes nothing: the data read back is the original"
# Measured, not hidden: HDF5's default layout (superblock v0, which keeps no open-for-write flag, so a killed writer's
# file reopens) has no checksum on the chunk index (a v1 B-tree) or the heaps. A flip there can misdirect a chunk
# lookup, and HDF5 then returns the fill value (zeros) without an error. These rows may come out silent; they still
# fail on a traceback, a crash or a hang. Detection would need libver v110 (a checksummed chunk index), whose
# open-for-write flag stops a killed writer's file from reopening (see the report of issue 10).
METADATA_FLIP_WHY = "no checksum on HDF5's v0 chunk index and heaps: a misdirected chunk lookup reads zeros"
FLIPS: list[Fault] = [
    *(
        dataset_fault(
            "dataset: byte flip (metadata)",
            f"flip-metadata-{seed}",
            flip_in("metadata", seed),
            "reader",
            expect=CLEAR_OR_HARMLESS | {Outcome.SILENT},
            why=METADATA_FLIP_WHY,
        )
        for seed in (0, 1, 2, 3)
    ),
    *(
        dataset_fault(
            "dataset: byte flip",
            f"flip-{region}-{seed}",
            flip_in(region, seed),
            "reader",
            expect=CLEAR_OR_HARMLESS,
            why=FLIP_WHY,
        )
        for region, seeds in (
            ("superblock", (0, 1, 2)),
            ("pixels", (0, 1, 2)),
            ("action", (0,)),
            ("ep_len", (0,)),
            ("terminated", (0,)),
        )
        for seed in seeds
    ),
    *(
        dataset_fault(
            "dataset: byte flip",
            "flip-last-episode-0",
            flip_in("last-episode", 0),
            entry,
            expect=CLEAR_OR_HARMLESS,
            why=FLIP_WHY,
        )
        for entry in ("reader", "clips", "video", "merge")
    ),
]

# --- missing or foreign attributes ----------------------------------------------------------------------------


def set_attr(name: str, value: object):
    def damage(path: pathlib.Path) -> None:
        with h5py.File(path, "r+") as f:
            f.attrs[name] = value

    return damage


def drop_attr(name: str):
    def damage(path: pathlib.Path) -> None:
        with h5py.File(path, "r+") as f:
            del f.attrs[name]

    return damage


BOX_3 = json.dumps({"type": "Box", "shape": [3], "low": [-1, -1, -1], "high": [1, 1, 1], "dtype": "float32"})
OPTIONAL_WHY = "optional by the format (files written before it was recorded lack it): read as absent, episodes intact"
METADATA: list[Fault] = [
    *(
        dataset_fault("dataset: attributes", "env_kwargs-missing", drop_attr("env_kwargs"), entry, says=("env_kwargs",))
        for entry in ("reader", "info", "collect", "merge", "train")
    ),
    *(
        dataset_fault(
            "dataset: attributes", "env_kwargs-json-list", set_attr("env_kwargs", "[1, 2]"), entry, says=("env_kwargs",)
        )
        for entry in ("reader", "collect")
    ),
    dataset_fault(
        "dataset: attributes",
        "env_kwargs-not-json",
        set_attr("env_kwargs", "{image_size: 32"),
        "reader",
        says=("env_kwargs",),
    ),
    dataset_fault(
        "dataset: attributes", "env_kwargs-number", set_attr("env_kwargs", 7), "reader", says=("env_kwargs",)
    ),
    *(
        dataset_fault(
            "dataset: attributes",
            "action_space-other-dim",
            set_attr("action_space", BOX_3),
            entry,
            says=("action_space",),
        )
        for entry in ("reader", "info")
    ),
    dataset_fault(
        "dataset: attributes",
        "action_space-json-text",
        set_attr("action_space", '"Box"'),
        "reader",
        says=("action_space",),
    ),
    *(
        dataset_fault(
            "dataset: attributes", "collection-json-number", set_attr("collection", "3"), entry, says=("collection",)
        )
        for entry in ("reader", "merge")
    ),
    dataset_fault(
        "dataset: attributes", "image_size-text", set_attr("image_size", "32"), "reader", says=("image_size",)
    ),
    dataset_fault(
        "dataset: attributes",
        "format_version-text",
        set_attr("format_version", "1"),
        "reader",
        says=("format_version",),
    ),
    dataset_fault("dataset: attributes", "env_id-missing", drop_attr("env_id"), "reader", says=("env_id",)),
    dataset_fault("dataset: attributes", "format-missing", drop_attr("format"), "info", says=("not a lewm dataset",)),
    *(
        dataset_fault(
            "dataset: attributes", f"{name}-missing", drop_attr(name), "episodes", expect=SURVIVED, why=OPTIONAL_WHY
        )
        for name in ("action_space", "collection")
    ),
]

# --- wrong file types -----------------------------------------------------------------------------------------


def replace_with_bytes(data: bytes):
    return lambda path: path.write_bytes(data)


def other_hdf5(path: pathlib.Path) -> None:
    """An HDF5 file of another tool, with same-named columns."""
    path.unlink()
    with h5py.File(path, "w") as f:
        f["pixels"] = np.zeros((4, 8, 8), np.float32)
        f.attrs["creator"] = "another tool"


def foreign_columns(path: pathlib.Path) -> None:
    """lewm attributes, but a column of another dtype (a converter that wrote float frames)."""
    with h5py.File(path, "r+") as f:
        shape = f["pixels"].shape
        del f["pixels"]
        f.create_dataset("pixels", data=np.zeros(shape, np.float32))


def checkpoint_folder(path: pathlib.Path) -> None:
    """A training run folder where the dataset should be (the layout of lewm_agents/checkpoint.py)."""
    path.unlink()
    step = path / "checkpoints" / "step_00000012"
    step.mkdir(parents=True)
    (step / "config.json").write_text(json.dumps({"format": "lewm-checkpoint", "version": 1}))
    (step / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (path / "metrics.jsonl").write_text("")


NOT_HDF5 = ("not an hdf5",)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CSV = b"episode,step,x,y\n" + b"0,0,0.5,0.5\n" * 200
FILE_TYPES: list[Fault] = [
    *(
        dataset_fault("dataset: wrong file type", "empty-file", replace_with_bytes(b""), entry, says=("empty",))
        for entry in ("reader", "info", "collect", "merge", "video", "train")
    ),
    *(
        dataset_fault("dataset: wrong file type", "text-file", replace_with_bytes(CSV), entry, says=NOT_HDF5)
        for entry in ("reader", "info", "collect", "train")
    ),
    dataset_fault("dataset: wrong file type", "png-file", replace_with_bytes(PNG), "reader", says=NOT_HDF5),
    *(
        dataset_fault("dataset: wrong file type", "other-hdf5", other_hdf5, entry, says=("not a lewm dataset",))
        for entry in ("reader", "info", "merge")
    ),
    *(
        dataset_fault("dataset: wrong file type", "float-pixels", foreign_columns, entry, says=("'pixels'",))
        for entry in ("reader", "info")
    ),
    *(
        dataset_fault("dataset: wrong file type", "checkpoint-folder", checkpoint_folder, entry, says=("directory",))
        for entry in ("reader", "collect", "merge", "video", "train")
    ),
]


@pytest.mark.parametrize("fault", [*TRUNCATION, *FLIPS, *METADATA, *FILE_TYPES], ids=str)
def test_dataset_fault(fault: Fault, pristine_dataset: pathlib.Path, tmp_path: pathlib.Path, fault_log: FaultLog):
    verdict = fault_log.check(fault, pristine_dataset, tmp_path)  # records the row for the figure
    assert verdict.outcome in fault.expect and verdict.lost == 0, verdict.detail


def test_rows_are_unique() -> None:
    names = [f.name for f in (*TRUNCATION, *FLIPS, *METADATA, *FILE_TYPES)]
    assert len(names) == len(set(names))
    assert NAME == "d.h5" and shutil.which  # the neutral name every row's damaged copy gets
