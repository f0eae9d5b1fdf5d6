"""Cube behaviour: Gymnasium compliance, frames, exact resets, the 0.04 m rule, goal images, the pick-and-place oracle,
OGBench's 5 evaluation tasks, and fidelity to the reference: OGBench's steps and task resets
(``tests/envs/fidelity/cube_ogbench.npz``) and the paper's frames (``cube_frames.npz``, from ``swm/OGBCube-v0``).

States are concat(qpos (21), qvel (20)) with the cube position at [14:17] (metres); frames are uint8 (S, S, 3).
Rendering the UR5e in software is slow (a few frames per second at the reference settings): behaviour tests share one
env with ``fast_render=True``, dynamics tests use ``obs_type="state"`` (no frames), only the frame-fidelity test
renders the reference look; heavier tests are marked slow.
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
from lewm_envs.cube import (
    CUBE_POS,
    CUBE_QUAT,
    LEGACY_VERSIONS,
    OGBENCH_TASKS,
    PROPRIO_SLICES,
    CubeEnv,
    CubePickPlacePolicy,
    yaw_quaternion,
)
from tests.envs.mujoco_fidelity import MAX_DIFFERING_PIXELS, differing_pixels, load_fixture, skip_unless_llvmpipe


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
    env = gym.make("lewm/Cube-v1", fast_render=True)  # 64-px frames, fast: these tests are not about the look
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
    # A stepped frame shows MuJoCo's kinematics as OGBench's step leaves them, one 2 ms physics sub-step behind the
    # final state (the reference renders the same); a reset recomputes them at the state: edge pixels of the moving
    # arm differ (measured: under 1% of the pixels).
    diff = np.abs(again_obs.astype(int) - obs.astype(int))
    assert 0 < (diff > 0).mean() < 0.02
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
    large = CubeEnv(image_size=224, fast_render=True)
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
    env = gym.make("lewm/Cube-v1", image_size=32, fast_render=True)
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


def test_state_observations_render_nothing_until_asked() -> None:
    env = CubeEnv(obs_type="state")
    obs, info = env.reset(seed=0, options={"task": 1})
    assert env.observation_space.shape == (41,) and obs.dtype == np.float32 and "goal" not in info
    np.testing.assert_array_equal(obs, info["state"])
    assert env._renderer is None  # no renderer (and no GL context) until a frame is asked for
    obs, _, _, _, info = env.step(np.zeros(5, np.float32))
    np.testing.assert_array_equal(obs, info["state"])
    assert env.render().shape == (64, 64, 3) and env.render_goal().std() > 10
    env.close()


def test_task_option_sets_ogbenchs_start_and_goal(made: gym.Env) -> None:
    for k, task in enumerate(OGBENCH_TASKS, start=1):
        _, info = made.reset(seed=3, options={"task": k})
        goal, state = info["goal_state"], info["state"]
        np.testing.assert_allclose(goal[CUBE_POS], task.goal_xyz, atol=1e-7)
        np.testing.assert_allclose(goal[CUBE_QUAT], [1.0, 0.0, 0.0, 0.0])
        assert np.all(np.abs(state[CUBE_POS][:2] - task.init_xyz[:2]) <= 0.01) and state[CUBE_POS][2] == 0.02
        assert not info["is_success"] and info["distance"] > 0.1
        np.testing.assert_array_equal(made.unwrapped.data.mocap_pos[0], task.goal_xyz)  # OGBench's target
    with pytest.raises(ValueError, match=r"options\['task'\] must be an int in 1..5: 1 \(task1_horizontal\)"):
        made.reset(options={"task": 6})
    with pytest.raises(ValueError, match=r"options\['task'\] sets both start and goal; pass it alone"):
        made.reset(options={"task": 1, "state": np.zeros(41)})


def test_legacy_v0_cannot_be_rebuilt_and_says_why() -> None:
    kwargs, what = LEGACY_VERSIONS[0]
    assert kwargs is None and "extra forward pass" in what and "re-collect" in what


# ---------------------------------------------------------------------- fidelity to the reference
# Tolerances. States: replaying OGBench's actions from OGBench's starts, every state agrees with OGBench bit for bit
# on this machine (measured: 0.0 over 100 steps, grasps included). 1e-6 (m or rad) leaves room for another CPU's
# last-bit differences, which contacts amplify over a grasp, and still fails any real change: lewm/Cube-v0's extra
# forward pass was 16.5 mm and 0.24 rad off on these episodes. Task starts and goals are set, not simulated: exact.


@pytest.fixture(scope="module")
def ogbench_reference() -> dict[str, np.ndarray]:
    return load_fixture("cube_ogbench.npz")


@pytest.fixture(scope="module")
def state_env() -> CubeEnv:
    env = CubeEnv(obs_type="state")
    yield env
    env.close()


def test_task_resets_are_ogbenchs_exactly(ogbench_reference: dict[str, np.ndarray], state_env: CubeEnv) -> None:
    ref = ogbench_reference
    for task, seed, start, goal_xyz, goal_arm in zip(
        ref["reset_task"], ref["reset_seed"], ref["reset_start"], ref["reset_goal_xyz"], ref["reset_goal_arm"]
    ):
        state_env.reset(seed=int(seed), options={"task": int(task)})
        np.testing.assert_array_equal(np.concatenate([state_env.data.qpos, state_env.data.qvel]), start)
        np.testing.assert_array_equal(state_env._goal_state[CUBE_POS], goal_xyz)
        np.testing.assert_array_equal(state_env._goal_state[:6], goal_arm)  # the arm of OGBench's goal scene
        np.testing.assert_array_equal(OGBENCH_TASKS[int(task) - 1].goal_xyz, goal_xyz)


@pytest.mark.parametrize("via", ["task", "state"])
def test_steps_replay_ogbench(ogbench_reference: dict[str, np.ndarray], state_env: CubeEnv, via: str) -> None:
    """OGBench's oracle (grasp, carry, place: 5 successes) and random actions, 100 steps from each task's start,
    entered through the task option or as a recorded state with the task's goal."""
    ref = ogbench_reference
    for e, task in enumerate(ref["task"]):
        if via == "task":
            state_env.reset(seed=0, options={"task": int(task)})
        else:
            goal = ref["states"][e][0].copy()
            goal[CUBE_POS] = OGBENCH_TASKS[int(task) - 1].goal_xyz
            state_env.reset(seed=5, options={"state": ref["states"][e][0], "goal_state": goal})
        for t, action in enumerate(ref["actions"][e]):
            _, reward, terminated, _, info = state_env.step(action)
            state = np.concatenate([state_env.data.qpos, state_env.data.qvel])
            np.testing.assert_allclose(state, ref["states"][e][t + 1], rtol=0, atol=1e-6, err_msg=f"{e=} {t=}")
            assert info["is_success"] == bool(ref["success"][e][t]) == terminated == (reward == 1.0), (e, t)
    assert ref["success"][ref["oracle"]].any(axis=1).all()  # the oracle episodes do reach their goals


def test_frames_are_the_papers_and_the_look_options_are_not() -> None:
    ref = load_fixture("cube_frames.npz")
    envs = {"default": CubeEnv(image_size=64)}
    envs["default"].reset(seed=0)
    skip_unless_llvmpipe()
    envs.update(fast=CubeEnv(image_size=64, fast_render=True), ogbench=CubeEnv(image_size=64, transparent_arm=True))
    for i, (state, expected) in enumerate(zip(ref["states"], ref["frames_64"])):
        names = envs if i < 2 else ["default"]  # the other looks once or twice: each frame costs a second here
        frames = {name: envs[name].reset(seed=0, options={"state": state})[0] for name in names}
        assert differing_pixels(frames["default"], expected) <= MAX_DIFFERING_PIXELS, i
        if i < 2:
            assert differing_pixels(frames["fast"], expected) > 0.5
            assert differing_pixels(frames["ogbench"], expected) > 0.05
    for env in envs.values():
        env.close()


@pytest.mark.slow
def test_frames_at_224_are_the_papers() -> None:
    ref = load_fixture("cube_frames.npz")
    env = CubeEnv(image_size=224)
    frame, _ = env.reset(seed=0, options={"state": ref["states"][0]})
    skip_unless_llvmpipe()
    assert differing_pixels(frame, ref["frame_224"]) <= MAX_DIFFERING_PIXELS
    env.close()
