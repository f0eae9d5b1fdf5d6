"""Cube behaviour: Gymnasium compliance, frames, exact resets, the 0.04 m rule, goal images, the pick-and-place oracle.

States are concat(qpos (21), qvel (20)) with the cube position at [14:17] (metres); frames are uint8 (S, S, 3).
Rendering the UR5e in software is slow (tens of frames per second): the default tests share one env and run one
episode; heavier ones are marked slow.
"""

from __future__ import annotations

import doctest
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ogbench", reason="needs the cube extra: pip install 'lewm-agents[cube]'")

from gymnasium.utils.env_checker import check_env

from lewm_envs import cube
from lewm_envs.cube import CUBE_POS, CUBE_QUAT, PROPRIO_SLICES, CubeEnv, CubePickPlacePolicy, yaw_quaternion


def _run(env: gym.Env, policy: CubePickPlacePolicy, seed: int) -> tuple[int, bool, dict]:
    """One episode of ``policy``; returns its length, whether it succeeded and the last info."""
    policy.reset(seed=seed)
    obs, info = env.reset(seed=seed)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(policy(obs, info))
        steps += 1
    return steps, bool(terminated and info["is_success"]), info


@pytest.fixture(scope="module")
def made() -> gym.Env:
    env = gym.make("lewm/Cube-v1")  # 64-px frames
    yield env
    env.close()


def test_check_env_passes_on_reset_and_step(made: gym.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        # The render check builds a second env (seconds of scene compilation): the slow test below runs it.
        check_env(made.unwrapped, skip_render_check=True)
    assert made.spec.max_episode_steps == 200
    obs, info = made.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["state"].shape == info["goal_state"].shape == (41,) and info["proprio"].shape == (19,)
    assert made.action_space.shape == (5,)


def test_reset_round_trips_exactly_and_the_goal_image_is_the_goal_state(made: gym.Env) -> None:
    obs, info = made.reset(seed=1)
    for _ in range(3):
        obs, _, _, _, info = made.step(np.array([0.5, -0.3, 0.2, 0.4, 0.8], np.float32))
    state, goal = info["state"], info["goal_state"]
    again_obs, again = made.reset(seed=9, options={"state": state, "goal_state": goal})
    np.testing.assert_array_equal(again["state"], state)
    np.testing.assert_array_equal(again["goal_state"], goal)
    # The frame is a function of the state, up to the float32 rounding of the recorded state: the translucent arm's
    # blending moves a few grey levels on a few per cent of the pixels.
    diff = np.abs(again_obs.astype(int) - obs.astype(int))
    assert diff.max() <= 8 and (diff > 0).mean() < 0.05
    np.testing.assert_allclose(again["proprio"][PROPRIO_SLICES["joint_pos"]], state[:6], atol=1e-6)
    # Reset to the goal state itself: the observation is the goal image.
    at_goal, _ = made.reset(seed=9, options={"state": goal, "goal_state": state})
    np.testing.assert_array_equal(at_goal, info["goal"])
    assert not np.array_equal(at_goal, obs)


def test_frames_are_non_constant_and_show_the_cube(made: gym.Env) -> None:
    _, info = made.reset(seed=2)
    state = info["state"].copy()
    a, _ = made.reset(seed=2, options={"state": state})
    state[CUBE_POS] = [0.5, 0.2, 0.02]
    b, _ = made.reset(seed=2, options={"state": state})
    assert a.std() > 10
    changed = np.any(a != b, axis=2)
    assert 0 < changed.mean() < 0.05  # only the cube's pixels (old and new place) change


def test_frames_at_224_and_closing_another_env_keeps_frames_intact(made: gym.Env) -> None:
    expected, info = made.reset(seed=3)
    large = CubeEnv(image_size=224)
    frame, _ = large.reset(seed=0, options={"state": info["state"], "goal_state": info["goal_state"]})
    assert frame.shape == (224, 224, 3) and frame.std() > 10
    large.close()
    np.testing.assert_array_equal(made.unwrapped._renderer.render(made.unwrapped.data), expected)


def test_success_rule_is_0_04_m_from_the_goal_cube(made: gym.Env) -> None:
    env = made.unwrapped
    state = np.zeros(41)
    state[CUBE_POS] = [0.4, 0.1, 0.02]
    for offset, expected in ((0.039, True), (0.041, False)):
        for axis in range(3):
            goal = state.copy()
            goal[CUBE_POS.start + axis] += offset
            assert env.is_success(state, goal) is expected
    goal = state.copy()
    goal[:14] = 1.0  # the arm's pose and the cube's orientation do not matter
    goal[CUBE_QUAT] = yaw_quaternion(1.0)
    assert env.is_success(state, goal)


def test_episode_terminates_when_the_cube_is_near_the_goal(made: gym.Env) -> None:
    _, info = made.reset(seed=4)
    goal = info["state"].copy()
    goal[CUBE_POS.start] += 0.02  # the cube 2 cm from its goal: already a success
    _, info = made.reset(seed=4, options={"state": info["state"], "goal_state": goal})
    assert info["is_success"] is True and info["distance"] == pytest.approx(0.02, abs=1e-6)
    _, reward, terminated, truncated, info = made.step(np.zeros(5, np.float32))
    assert terminated and reward == 1.0 and not truncated and info["is_success"] is True


def test_sampled_goals_put_the_cube_elsewhere_on_the_table(made: gym.Env) -> None:
    _, info = made.reset(seed=5)
    _, again = made.reset(seed=5)
    np.testing.assert_array_equal(info["goal_state"], again["goal_state"])
    goal = info["goal_state"]
    assert info["distance"] >= 0.1 and goal[CUBE_POS][2] == pytest.approx(0.02)
    assert 0.3 <= goal[CUBE_POS][0] <= 0.55 and -0.3 <= goal[CUBE_POS][1] <= 0.3
    assert not np.allclose(goal[:6], info["state"][:6], atol=1e-3)  # the goal shows the arm elsewhere too


@pytest.mark.slow
def test_pick_and_place_oracle_reaches_the_goal(made: gym.Env) -> None:
    steps, success, info = _run(made, CubePickPlacePolicy(noise=0.0), seed=0)
    assert success and steps < 150 and info["distance"] <= 0.04


def test_pick_and_place_policy_is_seeded_and_reads_only_info() -> None:
    state = np.zeros(41, np.float32)
    state[CUBE_POS], state[CUBE_QUAT] = [0.4, 0.0, 0.02], yaw_quaternion(0.3)
    goal = state.copy()
    goal[CUBE_POS] = [0.5, 0.2, 0.02]
    proprio = np.zeros(19, np.float32)
    proprio[PROPRIO_SLICES["effector_pos"]] = [0.3, -0.1, 0.3]
    info = {"state": state, "goal_state": goal, "proprio": proprio}
    a, b = CubePickPlacePolicy(seed=1), CubePickPlacePolicy(seed=1)
    actions = np.stack([a(None, info) for _ in range(5)])
    np.testing.assert_array_equal(actions, np.stack([b(None, info) for _ in range(5)]))
    assert actions.dtype == np.float32 and np.all(np.abs(actions) <= 1)
    clean = CubePickPlacePolicy(noise=0.0)(None, info)
    assert clean[0] > 0 and clean[1] > 0 and clean[4] == -1.0  # towards above the cube, gripper opening
    with pytest.raises(ValueError, match=r"Box of shape \(5,\)"):
        CubePickPlacePolicy(action_space=gym.spaces.Box(-1, 1, (2,)))


def test_bad_options_raise_helpful_errors(made: gym.Env) -> None:
    with pytest.raises(ValueError, match=r"options\['state'\] must be 41 finite numbers .*\[14:17\]"):
        made.reset(options={"state": np.zeros(7)})
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['goal'\]"):
        made.reset(options={"goal": np.zeros(41)})
    made.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be 5 finite numbers"):
        made.step(np.full(5, np.nan))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(cube, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.slow
def test_noisy_pick_and_place_collects_mostly_successful_episodes() -> None:
    env = gym.make("lewm/Cube-v1", image_size=32)
    results = [_run(env, CubePickPlacePolicy(), seed) for seed in range(10)]
    env.close()
    assert sum(success for _, success, _ in results) >= 8
    assert min(steps for steps, _, _ in results) > 25  # long enough for the evaluation's 25-step goals


@pytest.mark.slow
def test_full_check_env_passes() -> None:
    made = gym.make("lewm/Cube-v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(made.unwrapped)
    made.close()
