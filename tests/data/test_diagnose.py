"""Why a file cannot be opened, told by structure: each cause from a real file, whatever h5py's message says."""

from __future__ import annotations

import errno
import pathlib
import subprocess
import sys

import h5py
import numpy as np
import pytest

from lewm_agents.data.diagnose import Cause, diagnose, read_superblock

# h5py's own text for a truncated file: it holds the word "lock" (sblock), which once decided the diagnosis.
TRUNCATION_TEXT = "Unable to synchronously open file (truncated file: eof = 10, sblock->base_addr = 0, stored_eof = 20)"


def h5_file(path: pathlib.Path, **kwargs: object) -> pathlib.Path:
    with h5py.File(path, "w", **kwargs) as f:
        f["x"] = np.arange(4096)
    return path


def cause(path: pathlib.Path, exc: OSError | None = None, *, writing: bool = False) -> Cause:
    return diagnose(path, exc or OSError(TRUNCATION_TEXT), writing=writing).cause


@pytest.mark.parametrize("libver", [None, "v108"], ids=["superblock-v0", "superblock-v2"])
def test_superblock_end_of_file_is_the_file_size(tmp_path: pathlib.Path, libver: str | None) -> None:
    path = h5_file(tmp_path / "d.h5", **({"libver": libver} if libver else {}))
    superblock = read_superblock(path)
    assert superblock is not None and superblock.version == (0 if libver is None else 2)
    assert (superblock.offset, superblock.end_of_file) == (0, path.stat().st_size)


def test_a_user_block_moves_the_signature(tmp_path: pathlib.Path) -> None:
    path = h5_file(tmp_path / "d.h5", userblock_size=512)
    superblock = read_superblock(path)
    assert superblock is not None and superblock.offset == 512
    assert superblock.end_of_file == path.stat().st_size


@pytest.mark.parametrize("keep", [0.99, 0.5, 40, 20, 8, 5], ids=["99%", "50%", "40B", "20B", "8B", "5B"])
def test_a_cut_file_is_truncated_whatever_the_message_says(tmp_path: pathlib.Path, keep: float) -> None:
    path = h5_file(tmp_path / "d.h5")
    data = path.read_bytes()
    cut = tmp_path / "c.h5"
    cut.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    found = diagnose(cut, OSError(TRUNCATION_TEXT), writing=False)
    assert found.cause is Cause.TRUNCATED and found.size == cut.stat().st_size
    with pytest.raises(OSError) as info:  # and h5py agrees that it cannot be opened
        h5py.File(cut, "r")
    assert diagnose(cut, info.value, writing=False).cause is Cause.TRUNCATED


def test_empty_text_and_damaged_files(tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "a.h5"
    empty.write_bytes(b"")
    text = tmp_path / "b.h5"
    text.write_text("episodes,frames\n1,2\n" * 100)
    damaged = tmp_path / "c.h5"
    data = bytearray(h5_file(damaged).read_bytes())
    data[8] = 9  # a superblock version that does not exist
    damaged.write_bytes(bytes(data))
    assert [cause(p) for p in (empty, text, damaged)] == [Cause.EMPTY, Cause.NOT_HDF5, Cause.DAMAGED]


def test_permission_is_read_from_errno(tmp_path: pathlib.Path) -> None:
    path = h5_file(tmp_path / "d.h5")
    assert cause(path, PermissionError(errno.EACCES, "Permission denied")) is Cause.PERMISSION


HOLD = """
import sys, h5py
f = h5py.File(sys.argv[1], sys.argv[2], locking=True)
print("open", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="HDF5 locks with flock on Linux")
@pytest.mark.parametrize(("held", "writing"), [("r+", False), ("r", True)], ids=["writer-holds", "reader-holds"])
def test_a_file_held_by_another_process_is_locked(tmp_path: pathlib.Path, held: str, writing: bool) -> None:
    path = h5_file(tmp_path / "d.h5")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), held], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(OSError) as info:
            h5py.File(path, "r+" if writing else "r", locking=True)
        assert diagnose(path, info.value, writing=writing).cause is Cause.LOCKED
        # the flock probe alone tells it too, when h5py attaches no errno
        assert cause(path, OSError("unable to open file"), writing=writing) is Cause.LOCKED
    finally:
        proc.communicate("")
    assert cause(path, OSError("unable to open file"), writing=writing) is Cause.DAMAGED  # released: not locked
