"""The goal-directed PushT expert: contract of a collection policy, and that it really moves the block to targets."""

import math

import numpy as np
import pytest
from gymnasium import spaces

from lewm_envs import load_policy_class
from lewm_envs.pusht import PushTEnv
from lewm_envs.pusht_expert import PushTExpertPolicy, measure_expert, pose_error


def test_registered_as_a_pusht_collection_policy():
    assert load_policy_class("pusht", "expert") is PushTExpertPolicy


def test_same_seed_same_actions_and_actions_in_bounds():
    env = PushTEnv(image_size=16, obs_type="state", render_mode=None)
    runs = []
    for _ in range(2):
        policy = PushTExpertPolicy(seed=3)
        _, info = env.reset(seed=1)
        acts = []
        for _ in range(40):
            a = policy(None, info)
            assert a.shape == (2,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1.0)
            acts.append(a)
            info = env.step(a)[4]
        runs.append(np.stack(acts))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_absolute_action_space_gets_targets_inside_it():
    space = spaces.Box(0.0, 512.0, shape=(2,), dtype=np.float32)
    policy = PushTExpertPolicy(action_space=space, seed=0)
    info = {"state": np.array([100.0, 400.0, 256.0, 256.0, 0.0, 0.0, 0.0]), "goal_state": np.zeros(7)}
    a = policy(None, info)
    assert np.all((a >= 0) & (a <= 512)) and np.linalg.norm(a - info["state"][:2]) <= 100 * math.sqrt(2) + 1e-3


def test_pushes_the_block_closer_to_its_target():
    env = PushTEnv(image_size=16, obs_type="state", render_mode=None)
    policy = PushTExpertPolicy(seed=0, noise=0.0, explore_prob=0.0, target_steps=10**6)
    _, info = env.reset(seed=1)
    policy(None, info)
    target = policy.target
    start = pose_error(info["state"][2:5], target)
    errors = []
    for _ in range(200):
        info = env.step(policy(None, info))[4]
        errors.append(pose_error(info["state"][2:5], target))
        if policy.stats["reached"]:
            break
    # a target ~190 units (position + weighted angle) away is reached within 200 steps (76 on lewm/PushT-v1)
    assert start > 100 and policy.stats["reached"] == 1 and min(errors) < 0.2 * start


def test_measure_expert_reports_its_reach_rate():
    r = measure_expert(episodes=1, steps=60, seed=0)
    assert r["targets"] >= 1 and 0.0 <= r["reach_rate"] <= 1.0 and r["block_moved"] > 0.0


@pytest.mark.parametrize("kw", [{"noise": -1.0}, {"goal_prob": 2.0}, {"candidates": 0}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ValueError):
        PushTExpertPolicy(**kw)


def test_random_arena_keeps_the_pusher_in_view_where_uniform_random_actions_leave_it():
    """v1's kinematic pusher passes through the walls: uniform random actions walk it out of the frame; the
    ``random-arena`` policy draws the same actions with the PD target clipped to the arena."""
    from lewm_agents.data.policies import RandomPolicy
    from lewm_envs.pusht import ARENA_HI, ARENA_LO
    from lewm_envs.pusht_expert import PushTArenaRandomPolicy

    assert load_policy_class("pusht", "random-arena") is PushTArenaRandomPolicy
    env = PushTEnv(image_size=16, obs_type="state", render_mode=None)
    outside = {}
    for name, policy in (
        ("random", RandomPolicy(action_space=env.action_space, seed=0)),
        ("random-arena", PushTArenaRandomPolicy(action_space=env.action_space, seed=0)),
    ):
        _, info = env.reset(seed=0)
        out = 0
        for _ in range(300):
            a = policy(None, info)
            assert env.action_space.contains(a)
            info = env.step(a)[4]
            xy = info["state"][:2]
            out += bool(np.any(xy < ARENA_LO) or np.any(xy > ARENA_HI))
        outside[name] = out
    assert outside["random-arena"] == 0 and outside["random"] > 30, outside
