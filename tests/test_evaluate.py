"""The evaluation protocol: start/goal pairs, the interval, and end-to-end runs of LeWM and random."""

import numpy as np
import pytest

from lewm_agents.data import DatasetError, DatasetReader, Episode, EpisodeWriter
from lewm_agents.evaluate import EvalConfig, evaluate, sample_start_goal_pairs, wilson_interval
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
