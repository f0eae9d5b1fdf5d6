"""The evaluation protocols (dataset-goal, fixed-target, ogbench-tasks), their protocol card, and the env-version check
of training and evaluation on data recorded under an old env (``--legacy-env``)."""

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest

from lewm_agents.data import CollectConfig, DatasetReader, EpisodeWriter, collect
from lewm_agents.eval_protocols import check_protocol, reset_options, valid_protocols
from lewm_agents.evaluate import EvalConfig, evaluate


@pytest.fixture(scope="module")
def tworoom_v0_data(tworoom_data, tmp_path_factory):
    """The session's TwoRoom episodes, recorded as if by lewm/TwoRoom-v0 (the old door rule), as old files say."""
    path = tmp_path_factory.mktemp("legacy") / "tworoom_v0.h5"
    with (
        DatasetReader(tworoom_data) as r,
        EpisodeWriter(
            path, env_id="lewm/TwoRoom-v0", image_size=r.image_size, action_dim=r.action_dim, env_kwargs=r.env_kwargs
        ) as w,
    ):
        for i in range(r.num_episodes):
            w.write_episode(r.episode(i))
    return path


@pytest.fixture(scope="module")
def pusht_data(tmp_path_factory):
    pytest.importorskip("pymunk")
    path = tmp_path_factory.mktemp("pusht") / "pusht.h5"
    collect(CollectConfig(env="pusht", episodes=1, out=path, image_size=32, max_episode_steps=30, progress=False))
    return path


def test_protocols_apply_to_their_envs_only():
    assert valid_protocols("lewm/PushT-v1") == ["dataset-goal", "fixed-target"]
    assert valid_protocols("lewm/Cube-v1") == ["dataset-goal", "ogbench-tasks"]
    assert valid_protocols("Pendulum-v1") == ["dataset-goal"]
    with pytest.raises(ValueError, match=r"applies only to lewm/Cube.*for lewm/TwoRoom-v1: dataset-goal"):
        check_protocol("ogbench-tasks", "lewm/TwoRoom-v1")
    assert [o["task"] for o in reset_options("ogbench-tasks", 6)] == [1, 2, 3, 4, 5, 1]


def test_a_protocol_that_does_not_apply_is_refused_with_the_valid_ones(tworoom_data):
    with pytest.raises(ValueError, match=r"--protocol fixed-target applies only to lewm/PushT.*: dataset-goal\."):
        evaluate(EvalConfig(policy="random", data=tworoom_data, protocol="fixed-target", episodes=1, progress=False))


def test_dataset_goal_result_carries_its_protocol_card(tworoom_data):
    r = evaluate(EvalConfig(policy="random", data=tworoom_data, episodes=2, budget=3, videos=0, progress=False))
    card = r["protocol"]
    assert card["name"] == "dataset-goal" and card["budget"] == 3 and card["goal_offset"] == 25
    assert card["env_id"] == "lewm/TwoRoom-v1" and card["env_kwargs"]["image_size"] == 64
    assert card["episodes"] == 2 and card["seed"] == 42 and card["rendering"] == "reference"
    assert card["plan"] is None and card["starts_from_training_episodes"] is None  # random: no checkpoint
    assert max(r["steps"]) <= 3
    default = evaluate(EvalConfig(policy="random", data=tworoom_data, episodes=1, videos=0, progress=False))
    assert default["protocol"]["budget"] == 50  # the paper's budget when none is given


def test_fixed_target_starts_from_gym_pushts_start_and_aims_at_the_fixed_t(pusht_data, tmp_path):
    from lewm_envs.pusht import FIXED_TARGET_STATE

    cfg = EvalConfig(policy="random", data=pusht_data, protocol="fixed-target", episodes=2, budget=4, videos=1,
                     out=tmp_path, progress=False)  # fmt: skip
    r = evaluate(cfg)
    card = r["protocol"]
    assert card["name"] == "fixed-target" and card["env_kwargs"]["success"] == "coverage"
    assert card["goal_offset"] is None and card["starts_from_training_episodes"] is False
    assert card["success_rule"] == "success=coverage" and card["budget"] == 4
    # the tasks themselves: the same reset gives gym-pusht's start and the fixed T as the goal
    from lewm_agents.evaluate import protocol_tasks

    cfg, tasks = protocol_tasks(EvalConfig(policy="random", data=pusht_data, protocol="fixed-target", episodes=2), {})
    assert cfg.budget == 300  # gym-pusht's episode limit when no budget is given
    env = gym.make("lewm/PushT-v1", image_size=32)
    _, info = env.reset(seed=43, options={"start": "gym-pusht"})
    assert np.allclose(tasks.start_states[1], info["state"])
    assert np.allclose(tasks.goal_states[:, 2:5], np.asarray(FIXED_TARGET_STATE)[2:5], atol=1e-4)
    assert (tasks.goal_frames[0] == tasks.goal_frames[1]).all() and tasks.goal_frames.std() > 0


def test_ogbench_tasks_run_the_five_tasks(tmp_path):
    pytest.importorskip("ogbench")
    data = tmp_path / "cube.h5"
    collect(CollectConfig(env="cube", episodes=1, out=data, image_size=32, max_episode_steps=3, fast_render=True,
                          progress=False))  # fmt: skip
    from lewm_agents.evaluate import protocol_tasks
    from lewm_envs.cube import CUBE_POS

    cfg, tasks = protocol_tasks(EvalConfig(policy="random", data=data, protocol="ogbench-tasks", episodes=5), {})
    assert cfg.budget == 200 and [o["task"] for o in tasks.options] == [1, 2, 3, 4, 5]
    goals = tasks.goal_states[:, CUBE_POS]  # the cube's goal positions
    assert len({tuple(np.round(g, 4)) for g in goals}) == 5
    assert tasks.env_kwargs["fast_render"] is True  # the dataset's rendering, kept for evaluation


def test_old_env_data_is_refused_by_evaluation_unless_legacy_env(tworoom_v0_data):
    with pytest.raises(ValueError, match=r"recorded with lewm/TwoRoom-v0.*re-collect.*--legacy-env"):
        evaluate(EvalConfig(policy="random", data=tworoom_v0_data, episodes=1, progress=False))
    r = evaluate(
        EvalConfig(policy="random", data=tworoom_v0_data, episodes=2, budget=2, legacy_env=True, progress=False)
    )
    assert r["protocol"]["env_id"] == "lewm/TwoRoom-v1" and r["protocol"]["env_kwargs"]["door_rule"] == "disc"


def test_old_env_data_is_refused_by_training_before_any_compute(tworoom_v0_data, tmp_path):
    from lewm_agents.train import TRAIN_PRESETS, train

    base = TRAIN_PRESETS["smoke"]
    cfg = replace(base, data=tworoom_v0_data, out=tmp_path / "run", model=replace(base.model, history=1, num_proj=32),
                  max_steps=1, batch_size=4, device="cpu", progress=False, bn_recalibration=0)  # fmt: skip
    with pytest.raises(ValueError, match=r"recorded with lewm/TwoRoom-v0.*--legacy-env"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
    summary = train(replace(cfg, legacy_env=True))
    from lewm_agents.checkpoint import read_checkpoint_meta

    meta = read_checkpoint_meta(summary["checkpoint"])["dataset"]
    assert meta["env_id"] == "lewm/TwoRoom-v1" and meta["recorded_env_id"] == "lewm/TwoRoom-v0"
    assert meta["env_kwargs"]["door_rule"] == "disc"


def test_legacy_env_flags_parse():
    from lewm_agents.train.config import config_from_args

    assert config_from_args(["data.h5", "--legacy-env"]).legacy_env is True
    import tyro

    cfg = tyro.cli(EvalConfig, args=["--policy", "random", "--protocol", "fixed-target", "--legacy-env"])
    assert cfg.protocol == "fixed-target" and cfg.legacy_env and cfg.budget is None


def test_lewm_eval_prints_the_protocol_card(tworoom_data, capsys):
    from lewm_agents.cli import main

    args = ["eval", "--policy", "random", "--data", str(tworoom_data), "--episodes", "1", "--budget", "2"]
    assert main([*args, "--videos", "0", "--no-progress"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line.strip())
    assert rows["protocol"] == "dataset-goal" and rows["budget"] == "2 env steps" and rows["rendering"] == "reference"
    assert json.loads(rows["env_kwargs"])["image_size"] == 64 and rows["goal_offset"] == "25"
