"""The amortized goal policy: hindsight targets, training beside a checkpoint, refusal with other weights, and the
agent's fast and seeded modes."""

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from lewm_agents.agent import MPCAgent, load_agent
from lewm_agents.checkpoint import CheckpointError, find_checkpoint
from lewm_agents.goal_policy import (
    CONFIG,
    GoalPolicy,
    GoalPolicyConfig,
    hindsight_targets,
    load_goal_policy,
    train_goal_policy,
)
from lewm_agents.planning import PlanConfig

TINY_PLAN = PlanConfig(num_samples=16, iterations=2, topk=4, horizon=3)


def test_hindsight_targets_are_the_next_blocks_masked_at_the_episode_end():
    # two episodes of 4 and 3 frames (the last row's action is NaN), A = 1, frameskip 2, 2 blocks
    actions = np.array([[1.0], [2.0], [3.0], [np.nan], [5.0], [6.0], [np.nan]], np.float32)
    target, mask = hindsight_targets(actions, np.array([0, 0, 0, 0, 1, 1, 1]), np.array([0, 4]), np.array([4, 3]), 2, 2)
    assert target.shape == (7, 2, 2)
    np.testing.assert_array_equal(target[0], [[1, 2], [3, 0]])
    np.testing.assert_array_equal(mask[0], [[1, 1], [1, 0]])
    np.testing.assert_array_equal(target[4], [[5, 6], [0, 0]])  # nothing from the next episode leaks in
    np.testing.assert_array_equal(mask[5], [[1, 0], [0, 0]])


@pytest.fixture(scope="module")
def policy_run(tiny_run, tworoom_data, tmp_path_factory):
    import shutil

    run = tmp_path_factory.mktemp("policy") / "run"
    shutil.copytree(find_checkpoint(tiny_run), run)
    info = train_goal_policy(run, tworoom_data, GoalPolicyConfig(steps=60, hidden=32, blocks=3, batch_size=64))
    return run, info


def test_training_saves_a_policy_that_fits_its_pairs(policy_run):
    run, info = policy_run
    assert (run / "goal_policy.safetensors").is_file()
    assert info["loss"] < 0.8 * info["loss_start"]  # it learned something about the actions
    policy = load_goal_policy(run)
    assert policy.cfg.blocks == 3 and policy.cfg.latent_dim == 64


def test_a_policy_of_other_world_model_weights_is_refused(policy_run, tmp_path):
    import shutil

    run, _ = policy_run
    other = tmp_path / "other"
    shutil.copytree(run, other)
    meta = json.loads((other / CONFIG).read_text())
    (other / CONFIG).write_text(json.dumps({**meta, "world_model_sha256": "0" * 64}))
    with pytest.raises(CheckpointError, match="train-policy"):
        load_goal_policy(other)


def test_fast_mode_acts_without_search_and_seeded_mode_plans(policy_run):
    run, _ = policy_run
    env = gym.make("lewm/TwoRoom-v1", image_size=64)
    obs, info = env.reset(seed=0)
    fast = load_agent(run, action_space=env.action_space, plan=replace(TINY_PLAN, policy="only"), device="cpu")
    called = []
    fast.model.rollout = lambda *a, **k: called.append(1)  # the fast mode must never roll the model out
    fast.set_goal(info["goal"])
    action = fast.act(obs)
    assert env.action_space.contains(action) and not called and fast.plan_iterations == [0]
    assert len(fast._queues[0]) == fast.model.frameskip - 1  # one block per query
    # the first block is the policy's, denormalised and clipped
    z, g = fast.encode(obs[None])[:, 0], fast._goal_shared[None]
    block = fast.goal_policy.act(z, g)[0, 0].detach().numpy().reshape(-1, 2)[0]
    np.testing.assert_allclose(action, np.clip(fast.stats.denormalize(block), -1, 1), atol=1e-5)
    seeded = MPCAgent.from_checkpoint(run, action_space=env.action_space, config=replace(TINY_PLAN, policy="seed"))
    seeded.set_goal(info["goal"])
    assert env.action_space.contains(seeded.act(obs)) and seeded.plan_iterations == [2]
    env.close()


def test_a_policy_mode_without_a_policy_says_how_to_get_one(tiny_run):
    env = gym.make("lewm/TwoRoom-v1", image_size=64)
    ckpt = find_checkpoint(tiny_run)
    if not (ckpt / "goal_policy.safetensors").exists():
        with pytest.raises(CheckpointError, match="train-policy"):
            MPCAgent.from_checkpoint(tiny_run, action_space=env.action_space, config=replace(TINY_PLAN, policy="only"))
    from lewm_agents.checkpoint import load_checkpoint

    c = load_checkpoint(tiny_run)
    with pytest.raises(ValueError, match="goal policy"):
        MPCAgent(
            c.model,
            action_space=env.action_space,
            action_stats=c.action_stats,
            config=replace(TINY_PLAN, policy="seed"),
        )
    env.close()


def test_policy_maps_latents_to_blocks():
    policy = GoalPolicy(GoalPolicyConfig(latent_dim=4, block_dim=6, blocks=2, hidden=8, depth=1))
    out = policy.act(torch.zeros(5, 4), torch.ones(5, 4))
    assert out.shape == (5, 2, 6)
