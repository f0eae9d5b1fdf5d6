"""The HDF5 episode format: exact round trips, appends, crash safety (including a real SIGKILL) and error messages."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from lewm_agents.data.format import (
    FORMAT_VERSION,
    DatasetError,
    DatasetReader,
    Episode,
    EpisodeWriter,
    _DeferSignals,
)

SIZE, ACTION_DIM = 16, 2


def make_episode(rng: np.random.Generator, length: int, *, optional: bool = True, **flags: bool) -> Episode:
    """A random episode of `length` rows with every optional column (NaN last action and reward)."""
    action = rng.normal(size=(length, ACTION_DIM)).astype(np.float32)
    action[-1] = np.nan
    columns = {}
    if optional:
        reward = rng.normal(size=length).astype(np.float32)
        reward[-1] = np.nan
        columns = {
            "proprio": rng.normal(size=(length, 4)),
            "state": rng.normal(size=(length, 5)),
            "observation": rng.normal(size=(length, 3)),
            "reward": reward,
        }
    pixels = rng.integers(0, 256, (length, SIZE, SIZE, 3), dtype=np.uint8)
    return Episode(pixels=pixels, action=action, **columns, **flags)


def assert_episodes_equal(got: Episode, want: Episode) -> None:
    np.testing.assert_array_equal(got.pixels, want.pixels)
    for name in ("action", "proprio", "state", "observation", "reward"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b)  # NaN == NaN for assert_array_equal
    assert (got.terminated, got.truncated) == (want.terminated, want.truncated)


def write(path: pathlib.Path, episodes: list[Episode], **kwargs: object) -> None:
    meta = {"env_id": "Toy-v0", "image_size": SIZE, "action_dim": ACTION_DIM, **kwargs}
    with EpisodeWriter(path, **meta) as writer:
        for episode in episodes:
            writer.write_episode(episode)


def test_round_trip_is_exact_for_every_column(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    lengths = [1, 3, 7, 12]
    episodes = [make_episode(rng, n, terminated=i % 2 == 0, truncated=i % 2 == 1) for i, n in enumerate(lengths)]
    path = tmp_path / "sub" / "d.h5"
    write(path, episodes, policy="random", seed=7, env_kwargs={"image_size": SIZE, "obj": object})

    with DatasetReader(path) as reader:
        assert (reader.env_id, reader.image_size, reader.action_dim) == ("Toy-v0", SIZE, ACTION_DIM)
        assert (reader.policy, reader.seed, reader.env_kwargs["image_size"]) == ("random", 7, SIZE)
        assert reader.num_episodes == 4 and reader.num_frames == sum(lengths)
        np.testing.assert_array_equal(reader.ep_len, lengths)
        np.testing.assert_array_equal(reader.ep_offset, np.cumsum([0, *lengths[:-1]]))
        assert reader.columns == {"pixels", "action", "episode_idx", "step_idx", "terminated", "truncated"} | {
            "proprio",
            "state",
            "observation",
            "reward",
        }
        for i, episode in enumerate(episodes):
            assert_episodes_equal(reader.episode(i), episode)
        assert_episodes_equal(reader.episode(-1), episodes[-1])
        np.testing.assert_array_equal(reader.column("episode_idx"), np.repeat(np.arange(4), lengths))
        np.testing.assert_array_equal(reader.column("step_idx"), np.concatenate([np.arange(n) for n in lengths]))
        last = np.cumsum(lengths) - 1
        np.testing.assert_array_equal(np.flatnonzero(reader.column("terminated")), last[[0, 2]])
        np.testing.assert_array_equal(np.flatnonzero(reader.column("truncated")), last[[1, 3]])
        all_pixels = np.concatenate([e.pixels for e in episodes])
        rows = np.array([22, 0, 5, 5, 6, 7, 1, 22])  # unsorted, duplicated, with a consecutive run
        np.testing.assert_array_equal(reader.frames(rows), all_pixels[rows])
        np.testing.assert_array_equal(reader.frames(np.array([9])), all_pixels[[9]])
        assert reader.frames(np.zeros(0, np.int64)).shape == (0, SIZE, SIZE, 3)
        with pytest.raises(IndexError):
            reader.frames(np.array([reader.num_frames]))
        with pytest.raises(DatasetError, match="no column 'qpos'"):
            reader.column("qpos")
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "lewm-dataset" and f.attrs["format_version"] == FORMAT_VERSION
        assert f["pixels"].chunks == (1, SIZE, SIZE, 3) and f["pixels"].compression == "lzf"
        assert f["action"].dtype == np.float32 and f["ep_offset"].dtype == np.int64 and f["ep_len"].dtype == np.int32


def test_second_writer_appends_and_continues_the_index(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(1)
    first, second = [make_episode(rng, n) for n in (4, 6)], [make_episode(rng, n) for n in (5, 2)]
    path = tmp_path / "d.h5"
    write(path, first)
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=ACTION_DIM) as writer:
        assert (writer.num_episodes, writer.num_frames) == (2, 10)
        assert [writer.write_episode(e) for e in second] == [2, 3]
    with DatasetReader(path) as reader:
        np.testing.assert_array_equal(reader.ep_offset, [0, 4, 10, 15])
        np.testing.assert_array_equal(np.unique(reader.column("episode_idx")), [0, 1, 2, 3])
        for i, episode in enumerate(first + second):
            assert_episodes_equal(reader.episode(i), episode)


@pytest.mark.parametrize(
    ("key", "value"), [("env_id", "Other-v0"), ("image_size", 32), ("action_dim", 3)], ids=["env", "size", "adim"]
)
def test_incompatible_append_is_refused_and_file_unchanged(tmp_path: pathlib.Path, key: str, value: object) -> None:
    path = tmp_path / "d.h5"
    write(path, [make_episode(np.random.default_rng(2), 5)])
    before = path.read_bytes()
    meta = {"env_id": "Toy-v0", "image_size": SIZE, "action_dim": ACTION_DIM, key: value}
    with pytest.raises(DatasetError, match=f"{key}=.*--out") as info:
        EpisodeWriter(path, **meta)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_episode_with_other_columns_is_refused(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "d.h5"
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=ACTION_DIM) as writer:
        writer.write_episode(make_episode(rng, 3))
        with pytest.raises(DatasetError, match="optional column"):
            writer.write_episode(make_episode(rng, 3, optional=False))
        with pytest.raises(DatasetError, match="Resize the frames"):
            writer.write_episode(Episode(pixels=np.zeros((1, 8, 8, 3), np.uint8), action=np.full((1, 2), np.nan)))
        assert writer.num_episodes == 1
    with DatasetReader(path) as reader:
        assert reader.num_frames == 3


def test_uncommitted_rows_are_ignored_by_readers_and_trimmed_by_writers(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(4)
    episodes = [make_episode(rng, n) for n in (4, 3)]
    path = tmp_path / "d.h5"
    write(path, episodes)
    with h5py.File(path, "r+") as f:  # a crash mid-write: rows without an index entry, and half an index entry
        for name in ("pixels", "action", "episode_idx", "step_idx", "terminated", "truncated", "proprio", "reward"):
            f[name].resize(7 + 5, axis=0)
        f["pixels"][7:] = 255
        f["ep_offset"].resize(3, axis=0)
        f["ep_offset"][2] = 7
    with DatasetReader(path) as reader:
        assert (reader.num_episodes, reader.num_frames) == (2, 7)
        assert len(reader.column("pixels")) == 7
        assert_episodes_equal(reader.episode(1), episodes[1])
    extra = make_episode(rng, 2)
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=ACTION_DIM) as writer:
        assert writer.num_frames == 7
        writer.write_episode(extra)
    with h5py.File(path, "r") as f:
        assert len(f["pixels"]) == len(f["state"]) == 9 and len(f["ep_offset"]) == len(f["ep_len"]) == 3
    with DatasetReader(path) as reader:
        np.testing.assert_array_equal(reader.ep_offset, [0, 4, 7])
        for i, episode in enumerate([*episodes, extra]):
            assert_episodes_equal(reader.episode(i), episode)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from lewm_agents.data.format import Episode, EpisodeWriter
    with EpisodeWriter(sys.argv[1], env_id="Kill-v0", image_size=16, action_dim=2) as writer:
        k = 0
        while True:
            length = 3 + k % 4
            action = np.full((length, 2), k, np.float32)
            action[-1] = np.nan
            pixels = np.full((length, 16, 16, 3), k % 256, np.uint8)
            writer.write_episode(Episode(pixels=pixels, action=action))
            print("wrote", k, flush=True)
            k += 1
            time.sleep(0.02)
    """
)


def test_writer_killed_with_sigkill_leaves_a_readable_appendable_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        written, deadline = 0, time.monotonic() + 60
        while written < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"writer exited early with {proc.poll()}"
            written += line.startswith("wrote")
        assert written >= 3
        # While the writer holds the file, readers get a clear "locked" error, not an h5py traceback.
        with pytest.raises(DatasetError, match="locked"):
            DatasetReader(path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with DatasetReader(path) as reader:
        assert reader.num_episodes >= 3
        for k in range(reader.num_episodes):
            episode = reader.episode(k)
            assert len(episode) == 3 + k % 4
            assert (episode.pixels == k % 256).all() and (episode.action[:-1] == k).all()
        before = reader.num_episodes
    with EpisodeWriter(path, env_id="Kill-v0", image_size=16, action_dim=2) as writer:
        action = np.array([[0.5, 0.5], [np.nan, np.nan]], np.float32)
        assert writer.write_episode(Episode(pixels=np.zeros((2, 16, 16, 3), np.uint8), action=action)) == before
    with DatasetReader(path) as reader:
        assert reader.num_episodes == before + 1


def test_reader_errors_name_the_file_and_the_fix(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.h5"
    with pytest.raises(DatasetError, match=r"does not exist.*lewm collect") as info:
        DatasetReader(missing)
    assert str(missing) in str(info.value)

    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(DatasetError, match="not an HDF5 file") as info:
        DatasetReader(garbage)
    assert str(garbage) in str(info.value)

    # Neutral names: the test's own folder and file names must not contain a word the assertions look for.
    path = tmp_path / "d.h5"
    rng = np.random.default_rng(5)
    write(path, [make_episode(rng, 30) for _ in range(3)])
    cut = tmp_path / "c.h5"
    size = path.stat().st_size
    cut.write_bytes(path.read_bytes()[: size // 2])
    with pytest.raises(DatasetError) as info:
        DatasetReader(cut)
    assert str(cut) in str(info.value)
    message = str(info.value).replace(str(cut), "FILE")
    # what only the truncation message says: both sizes, and no claim of a lock
    assert f"has {size // 2} bytes" in message and f"records {size}" in message
    assert "cut short" in message and "locked" not in message

    with pytest.raises(DatasetError, match="directory"):
        DatasetReader(tmp_path)

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["pixels"] = np.zeros((1, 4, 4, 3), np.uint8)
    with pytest.raises(DatasetError, match="not a lewm dataset"):
        DatasetReader(other)

    empty = tmp_path / "empty.h5"
    EpisodeWriter(empty, env_id="Toy-v0", image_size=SIZE, action_dim=ACTION_DIM).close()
    with pytest.raises(DatasetError, match="no complete episode"):
        DatasetReader(empty)


@pytest.mark.parametrize("damage", ["drop_column", "index_past_end", "gap_in_index", "newer_version"])
def test_damaged_layout_is_reported(tmp_path: pathlib.Path, damage: str) -> None:
    path = tmp_path / "d.h5"
    write(path, [make_episode(np.random.default_rng(6), n) for n in (4, 4)])
    with h5py.File(path, "r+") as f:
        if damage == "drop_column":
            del f["step_idx"]
        elif damage == "index_past_end":
            f["ep_len"][1] = 40
        elif damage == "gap_in_index":
            f["ep_offset"][1] = 5
        else:
            f.attrs["format_version"] = FORMAT_VERSION + 1
    expected = {
        "drop_column": "missing the required column",
        "index_past_end": "inconsistent",
        "gap_in_index": "inconsistent",
        "newer_version": "upgrade lewm-agents",
    }[damage]
    with pytest.raises(DatasetError, match=expected) as info:
        DatasetReader(path)
    assert str(path) in str(info.value)


def test_episode_validation() -> None:
    pixels = np.zeros((3, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="not finite"):
        Episode(pixels=pixels, action=np.array([[0.0], [np.nan], [np.nan]]))
    with pytest.raises(ValueError, match="last row must be NaN"):
        Episode(pixels=pixels, action=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="uint8"):
        Episode(pixels=pixels.astype(np.float32), action=np.full((3, 1), np.nan))
    with pytest.raises(ValueError, match="shape"):
        Episode(pixels=pixels, action=np.full((2, 1), np.nan))
    with pytest.raises(ValueError, match="reward"):
        Episode(pixels=pixels, action=np.array([[0.0], [1.0], [np.nan]]), reward=np.zeros(2))
    episode = Episode(pixels=pixels[:1], action=np.full((1, 2), np.nan, np.float64))
    assert episode.action.dtype == np.float32 and len(episode) == 1


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler for the test: a shell starts background jobs with SIGINT ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_sigint_during_a_deferred_block_is_delivered_after_it(default_sigint) -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with _DeferSignals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # give the interpreter a chance to run the (deferring) handler here
            finished = True
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored_in_a_deferred_block() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _DeferSignals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
