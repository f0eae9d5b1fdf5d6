"""The evaluation protocol: start/goal pairs, the interval, and end-to-end runs of LeWM and random."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lewm_agents.checkpoint import CheckpointError, list_checkpoints, read_checkpoint_meta
from lewm_agents.data import DatasetError, DatasetReader, Episode, EpisodeWriter
from lewm_agents.evaluate import EvalConfig, evaluate, recorded_dataset, sample_start_goal_pairs, wilson_interval
from lewm_agents.planning import PlanConfig


def test_wilson_interval():
    lo, hi = wilson_interval(43, 50)
    assert lo == pytest.approx(0.738, abs=1e-3) and hi == pytest.approx(0.930, abs=1e-3)
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(50, 50)[1] == 1.0


def test_start_goal_pairs_stay_in_their_episode(tworoom_data):
    with DatasetReader(tworoom_data) as r:
        starts, goals = sample_start_goal_pairs(r, 10, 25, seed=42)
        again, _ = sample_start_goal_pairs(r, 10, 25, seed=42)
        ep, step = r.column("episode_idx"), r.column("step_idx")
        assert (starts == again).all() and len(set(starts)) == 10
        assert (ep[starts] == ep[goals]).all() and (step[goals] - step[starts] == 25).all()
        with pytest.raises(DatasetError, match="fewer"):
            sample_start_goal_pairs(r, 10**6, 25, seed=0)


def test_random_policy_eval(tworoom_data, tmp_path):
    r = evaluate(
        EvalConfig(policy="random", data=tworoom_data, episodes=6, batch=3, videos=1, out=tmp_path, progress=False)
    )
    assert 0.0 <= r["success_rate"] <= 1.0 and r["episodes"] == 6
    assert r["ci95"][0] <= r["success_rate"] <= r["ci95"][1]
    assert len(r["videos"]) == 1 and (tmp_path / "eval_random.json").exists()


def test_lewm_eval_end_to_end(tiny_run, tmp_path):
    plan = PlanConfig(num_samples=16, iterations=2, topk=4)
    r = evaluate(
        EvalConfig(checkpoint=tiny_run, episodes=4, plan=plan, videos=2, out=tmp_path, device="cpu", progress=False)
    )
    assert r["episodes"] == 4 and r["plan_ms"] > 0 and r["num_plan_calls"] == 2  # 50 steps, 25 per plan
    assert len(r["videos"]) == 2
    import imageio.v2 as imageio

    frames = imageio.mimread(r["videos"][0])
    assert len(frames) >= 2 and frames[0].shape[1] == 2 * frames[0].shape[0]  # agent view beside the goal


def test_checkpoint_and_dataset_must_match(tiny_run, tmp_path):
    path = tmp_path / "other.h5"
    with EpisodeWriter(path, env_id="lewm/TwoRoom-v1", image_size=64, action_dim=3) as w:
        action = np.zeros((30, 3), np.float32)
        action[-1] = np.nan
        w.write_episode(
            Episode(pixels=np.zeros((30, 64, 64, 3), np.uint8), action=action, state=np.zeros((30, 2), np.float32))
        )
    with pytest.raises(DatasetError, match="action_dim 3"):
        evaluate(EvalConfig(checkpoint=tiny_run, data=path, episodes=1, progress=False))


# --- the recorded dataset is found from any directory; a damaged checkpoint is reported first (issue 10, defect 4)


def _fake_run(root: Path, dataset: dict) -> Path:
    """A run directory whose newest checkpoint records ``dataset`` (only what `recorded_dataset` reads)."""
    ckpt = root / "runs" / "x" / "checkpoints" / "step_00000001"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text(json.dumps({"format": "lewm-checkpoint", "dataset": dataset}))
    return root / "runs" / "x"


def test_the_recorded_dataset_is_found_from_any_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "d.h5").write_bytes(b"")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # written by `lewm train data/d.h5 --out runs/x` in `project`, then the project moved as a whole
    run = _fake_run(
        project, {"path": "data/d.h5", "path_absolute": "/gone/data/d.h5", "path_from_run": "../../data/d.h5"}
    )
    assert recorded_dataset(read_checkpoint_meta(run), run) == run / "../../data/d.h5"
    # a run directory copied elsewhere: the absolute path
    other = _fake_run(tmp_path / "copy", {"path": "data/d.h5", "path_absolute": str(project / "data" / "d.h5")})
    assert recorded_dataset(read_checkpoint_meta(other), other) == project / "data" / "d.h5"


def test_a_run_from_before_the_recorded_paths_finds_its_dataset_above_itself(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "d.h5").write_bytes(b"")
    run = _fake_run(project, {"path": "data/d.h5"})  # only the path as given, relative to where training ran
    monkeypatch.chdir(tmp_path)
    assert recorded_dataset(read_checkpoint_meta(run), run).resolve() == (project / "data" / "d.h5").resolve()
    (project / "data" / "d.h5").unlink()
    with pytest.raises(DatasetError, match=r"moved or deleted\. Pass --data PATH"):
        recorded_dataset(read_checkpoint_meta(run), run)


def test_training_records_where_its_dataset_is(tiny_run, tworoom_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    meta = read_checkpoint_meta(tiny_run)["dataset"]
    assert Path(meta["path_absolute"]) == tworoom_data.resolve()
    assert (tiny_run.resolve() / meta["path_from_run"]).resolve() == tworoom_data.resolve()


def test_a_damaged_checkpoint_is_reported_before_a_missing_dataset(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    weights = list_checkpoints(run)[-1] / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-50] ^= 0x10
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the SHA-256") as e:
        evaluate(EvalConfig(checkpoint=run, data=tmp_path / "d.h5", episodes=1, progress=False))
    assert str(weights) in str(e.value)
