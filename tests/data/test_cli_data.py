"""The data commands as users run them (subprocesses): kill -9 safety, clear refusals, info / merge / video."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from lewm_agents.data.collect import CollectConfig, collect
from lewm_agents.data.format import DatasetReader


def lewm(*args: object, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "lewm_agents", *map(str, args)], capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"lewm {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tworoom(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("cli") / "tworoom.h5"
    collect(CollectConfig(env="tworoom", episodes=4, out=path, image_size=32, progress=False))
    return path


def committed_episodes(path: pathlib.Path) -> int:
    """Committed episodes of a file a writer holds open (read without the lock; 0 while unreadable)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return min(len(f["ep_offset"]), len(f["ep_len"]))
    except (OSError, KeyError):
        return 0


def descendants(pid: int) -> set[int]:
    """Live (non-zombie) descendants of ``pid``, from /proc."""
    parent_of = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parent_of[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_during_collect_keeps_finished_episodes_and_the_next_run_appends(
    tmp_path: pathlib.Path, workers: int
) -> None:
    out = tmp_path / "killed.h5"
    args = ["collect", "tworoom", "--episodes", "100000", "--out", out, "--image-size", "32", "--workers", workers]
    proc = subprocess.Popen([sys.executable, "-m", "lewm_agents", *map(str, args), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while committed_episodes(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "lewm collect exited early"
        assert committed_episodes(out) >= 3
        workers_pids = descendants(proc.pid)
        assert len(workers_pids) >= (3 if workers == 2 else 0)  # the fork server and its two workers
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers_pids if alive(pid)], "worker processes outlived the killed writer"

    with DatasetReader(out) as reader:
        before = reader.num_episodes
        assert before >= 3
        for k in range(before):  # every committed episode reads back whole
            episode = reader.episode(k)
            assert np.isnan(episode.action[-1]).all() and np.isfinite(episode.action[:-1]).all()
            assert episode.terminated or episode.truncated
    proc2 = lewm(*[a if a != "100000" else 2 for a in args], "--no-progress")
    assert "total_episodes" in proc2.stdout
    with DatasetReader(out) as reader:
        assert reader.num_episodes == before + 2


def test_truncated_and_corrupted_files_name_the_file_and_the_problem(
    tworoom: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # Neutral file names: the test's folder is named after the test, so words are looked for with the path removed.
    cut = tmp_path / "d.h5"
    data = tworoom.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    for cmd in (
        ["info", cut],
        ["collect", "tworoom", "--episodes", "1", "--out", cut, "--image-size", "32"],
    ):
        proc = lewm(*cmd, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert str(cut) in proc.stderr
        message = proc.stderr.replace(str(cut), "FILE")
        assert f"has {len(data) // 2} bytes" in message and f"records {len(data)}" in message
        assert "cut short" in message and "locked" not in message

    corrupted = tmp_path / "e.h5"
    shutil.copy(tworoom, corrupted)
    with h5py.File(corrupted, "r") as f:
        offset = f["pixels"].id.get_chunk_info(0).byte_offset  # the compressed bytes of frame 0 (on the sheet)
    with open(corrupted, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * 64)
    proc = lewm("info", corrupted, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert str(corrupted) in proc.stderr and "damaged" in proc.stderr.replace(str(corrupted), "FILE")


def test_collect_refuses_another_env_or_image_size(tworoom: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "d.h5"
    shutil.copy(tworoom, out)
    size = lewm("collect", "tworoom", "--episodes", "1", "--out", out, "--image-size", "64", check=False)
    env = lewm("collect", "Pendulum-v1", "--episodes", "1", "--out", out, "--image-size", "32", check=False)
    for proc, match in ((size, "image_size=32"), (env, "env_id='lewm/TwoRoom-v1'")):
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert str(out) in proc.stderr and match in proc.stderr and "new --out" in proc.stderr
    with DatasetReader(out) as reader:
        assert reader.num_episodes == 4


def test_info_merge_and_video_commands(tworoom: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import imageio.v3 as iio

    data = tmp_path / "a.h5"
    shutil.copy(tworoom, data)
    out = lewm("info", data).stdout
    assert "episodes" in out and "action_std" in out and "contact_sheet" in out
    sheet = iio.imread(tmp_path / "a.sheet.png")
    assert sheet.std() > 0

    merged = tmp_path / "m.h5"
    assert "total_episodes  8" in lewm("merge", merged, data, tworoom, "--no-progress").stdout
    with DatasetReader(merged) as reader:
        assert reader.num_episodes == 8 and reader.column("episode_idx")[-1] == 7
    pendulum = tmp_path / "p.h5"
    with h5py.File(data, "r") as f:
        f_attrs = dict(f.attrs)
    assert f_attrs["env_id"] == "lewm/TwoRoom-v1"
    shutil.copy(data, pendulum)
    with h5py.File(pendulum, "r+") as f:
        f.attrs["env_id"] = "Pendulum-v1"
    proc = lewm("merge", tmp_path / "bad.h5", data, pendulum, check=False)
    assert proc.returncode == 1 and "Cannot merge" in proc.stderr and str(pendulum) in proc.stderr

    video = tmp_path / "v.mp4"
    lewm("video", merged, "--episodes", "0", "7", "--out", video)
    with DatasetReader(merged) as reader:
        expected = int(reader.ep_len[0] + reader.ep_len[7])
    assert len(list(iio.imiter(video))) == expected
    assert os.path.getsize(video) > 0


def test_collecting_a_pygame_env_headless_prints_nothing_to_stderr(tmp_path: pathlib.Path) -> None:
    # A shell without a display: SDL (under pygame's renderer) used to print "XDG_RUNTIME_DIR is invalid or not set".
    hidden = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SDL_VIDEODRIVER")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    out = tmp_path / "d.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "lewm_agents", "collect", "CartPole-v1", "--episodes", "1", "--out", str(out),
         "--image-size", "32", "--no-progress"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    with DatasetReader(out) as reader:
        assert reader.num_episodes == 1
