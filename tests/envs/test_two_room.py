"""TwoRoom behaviour: Gymnasium compliance, rendering, the goal-conditioned interface, collisions and the heuristic.

Positions are world units in [0, 224]^2 (independent of the image size); frames are uint8 (S, S, 3).
"""

from __future__ import annotations

import doctest
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import lewm_envs
from lewm_envs import two_room
from lewm_envs.two_room import TwoRoomEnv, TwoRoomHeuristicPolicy
from tests.envs.contract import assert_seeding_is_deterministic

# Free space for the agent centre, derived here from the documented geometry (not from the env's own code): borders
# 14 thick, interior wall x in [107, 117], door y in [35, 63], agent radius 7.
_WALLS = [
    (0, 14, 0, 224),
    (210, 224, 0, 224),
    (0, 224, 0, 14),
    (0, 224, 210, 224),
    (107, 117, 14, 35),
    (107, 117, 63, 210),
]


def _clearance(xy: np.ndarray) -> float:
    """Distance from the agent disc (radius 7) to the nearest wall; negative when it overlaps one."""
    x, y = float(xy[0]), float(xy[1])
    gaps = [math.hypot(max(x0 - x, x - x1, 0.0), max(y0 - y, y - y1, 0.0)) for x0, x1, y0, y1 in _WALLS]
    return min(gaps) - 7.0


def _push(env: TwoRoomEnv, action: tuple[float, float], steps: int) -> np.ndarray:
    """Applies a constant action and returns the final agent state, float32 (2,)."""
    info = {}
    for _ in range(steps):
        _, _, _, _, info = env.step(np.asarray(action, dtype=np.float32))
    return info["state"]


@pytest.fixture
def env() -> TwoRoomEnv:
    return TwoRoomEnv(image_size=32)


@pytest.mark.parametrize("size", [64, 224])
def test_check_env_passes_without_warnings(size: int) -> None:
    made = gym.make("lewm/TwoRoom-v1", image_size=size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(made.unwrapped)
    obs, _ = made.reset(seed=0)
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8


def test_registration_time_limit_truncates_at_100_steps() -> None:
    made = gym.make("lewm/TwoRoom-v1")
    made.reset(seed=0, options={"state": [40.0, 180.0], "goal_state": [180.0, 180.0]})
    for t in range(100):
        _, _, terminated, truncated, _ = made.step(np.zeros(2, dtype=np.float32))
        assert not terminated
        assert truncated == (t == 99)


@pytest.mark.parametrize("size", [64, 224])
def test_frames_are_non_constant_and_depend_on_state(size: int) -> None:
    env = TwoRoomEnv(image_size=size)
    a, info = env.reset(seed=0, options={"state": [50.0, 100.0], "goal_state": [170.0, 100.0]})
    b, _ = env.reset(seed=0, options={"state": [50.0, 105.0], "goal_state": [170.0, 100.0]})
    assert a.min() == 0 and a.max() == 255  # walls black, floor white
    assert not np.array_equal(a, b)  # one 5-unit step is visible
    np.testing.assert_array_equal(env.render(), b)
    assert info["goal"].shape == (size, size, 3) and not np.array_equal(info["goal"], a)


def test_sub_pixel_motion_changes_the_frame() -> None:
    env = TwoRoomEnv(image_size=64)
    a, _ = env.reset(seed=0, options={"state": [50.0, 100.0]})
    b, _ = env.reset(seed=0, options={"state": [51.0, 100.0]})  # 0.29 px at 64 px
    assert not np.array_equal(a, b)


def test_goal_image_is_the_agent_drawn_at_the_target(env: TwoRoomEnv) -> None:
    _, info = env.reset(seed=0, options={"state": [50.0, 100.0], "goal_state": [170.0, 60.0]})
    at_goal, _ = env.reset(seed=0, options={"state": [170.0, 60.0], "goal_state": [50.0, 100.0]})
    np.testing.assert_array_equal(info["goal"], at_goal)
    env.reset(seed=0, options={"state": [50.0, 100.0], "goal_state": [170.0, 60.0]})
    np.testing.assert_array_equal(env.render_goal(), at_goal)


def test_reset_options_round_trip_exactly(env: TwoRoomEnv) -> None:
    state = np.array([33.25, 187.5], dtype=np.float32)
    goal = np.array([150.125, 44.0], dtype=np.float32)
    _, info = env.reset(seed=0, options={"state": state, "goal_state": goal})
    np.testing.assert_array_equal(info["state"], state)
    np.testing.assert_array_equal(info["proprio"], state)
    np.testing.assert_array_equal(info["goal_state"], goal)
    assert info["state"].dtype == info["goal_state"].dtype == np.float32
    # A recorded mid-episode state (float32) re-sets exactly as well.
    _, _, _, _, step_info = env.step(np.array([0.3, -0.7], dtype=np.float32))
    _, again = env.reset(options={"state": step_info["state"], "goal_state": goal})
    np.testing.assert_array_equal(again["state"], step_info["state"])


def test_only_missing_options_are_sampled(env: TwoRoomEnv) -> None:
    _, info = env.reset(seed=1, options={"state": [60.0, 60.0]})
    np.testing.assert_array_equal(info["state"], [60.0, 60.0])
    assert info["distance"] >= 40.0 and _clearance(info["goal_state"]) >= 0
    _, info = env.reset(seed=1, options={"goal_state": [180.0, 190.0]})
    np.testing.assert_array_equal(info["goal_state"], [180.0, 190.0])
    assert info["distance"] >= 40.0 and _clearance(info["state"]) >= 0


def test_success_rule_at_16_units(env: TwoRoomEnv) -> None:
    base = np.array([60.0, 100.0])
    assert env.is_success(base, base + np.array([15.9, 0.0]))
    assert env.is_success(base, base + np.array([0.0, -15.99]))
    assert not env.is_success(base, base + np.array([16.1, 0.0]))
    assert not env.is_success(base, base + np.array([12.0, 12.0]))  # 16.97 away
    _, info = env.reset(seed=0, options={"state": base, "goal_state": base + np.array([15.9, 0.0])})
    assert info["is_success"] is True and info["distance"] == pytest.approx(15.9)


def test_scripted_episode_terminates_with_success(env: TwoRoomEnv) -> None:
    env.reset(seed=0, options={"state": [60.0, 100.0], "goal_state": [60.0, 150.0]})
    steps, terminated = 0, False
    while not terminated and steps < 20:
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        assert not truncated
        steps += 1
    # 50 units at 5 units/step: the distance first drops below 16 after 7 steps (15 units left).
    assert steps == 7 and terminated and info["is_success"] is True and reward == 1.0
    assert info["distance"] == pytest.approx(15.0)


def test_agent_never_enters_walls_under_random_actions(env: TwoRoomEnv) -> None:
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for t in range(2000):
        if t % 250 == 0:
            env.reset()
        # Half the actions saturate at +-1 so the agent hammers walls and door corners at full speed.
        action = rng.uniform(-1.0, 1.0, size=2) if t % 2 else rng.choice([-1.0, 1.0], size=2) * 1.5
        _, _, terminated, _, info = env.step(action.astype(np.float32))
        assert _clearance(info["state"]) >= -1e-3, f"step {t}: agent at {info['state']} overlaps a wall"
        if terminated:
            env.reset()


def test_door_is_passable_and_the_wall_is_not(env: TwoRoomEnv) -> None:
    goal = {"goal_state": [60.0, 200.0]}
    env.reset(seed=0, options={"state": [90.0, 49.0], **goal})
    assert _push(env, (1.0, 0.0), 20)[0] > 124.0  # through the door into the right room
    env.reset(seed=0, options={"state": [140.0, 51.0], **goal})
    assert _push(env, (-1.0, 0.0), 20)[0] < 100.0  # and back
    env.reset(seed=0, options={"state": [90.0, 150.0], **goal})
    np.testing.assert_allclose(_push(env, (1.0, 0.0), 20), [100.0, 150.0])  # stops flush with the wall
    env.reset(seed=0, options={"state": [140.0, 150.0], **goal})
    np.testing.assert_allclose(_push(env, (-1.0, 0.0), 20), [124.0, 150.0])
    # Centre level with the door edge: the disc does not fit, so it stops at the door's corner.
    env.reset(seed=0, options={"state": [90.0, 36.0], **goal})
    assert _push(env, (1.0, 0.0), 20)[0] < 107.0
    # Pushing diagonally into the wall slides along it.
    env.reset(seed=0, options={"state": [95.0, 150.0], **goal})
    state = _push(env, (1.0, 1.0), 5)
    assert state[0] == pytest.approx(100.0) and state[1] == pytest.approx(175.0)


def test_heuristic_reaches_the_target_within_100_steps() -> None:
    made = gym.make("lewm/TwoRoom-v1", image_size=16)  # smallest frames: the policy reads only info
    successes = 0
    for episode in range(30):
        policy = TwoRoomHeuristicPolicy(action_space=made.action_space, seed=episode)
        obs, info = made.reset(seed=episode)
        terminated = truncated = False
        while not (terminated or truncated):
            action = policy(obs, info)
            assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
            obs, _, terminated, truncated, info = made.step(action)
        successes += bool(terminated and info["is_success"])
    assert successes >= 24, f"heuristic reached the target in only {successes}/30 episodes"


def test_heuristic_routes_through_the_door() -> None:
    policy = TwoRoomHeuristicPolicy(seed=0)
    goal = np.array([180.0, 180.0])
    np.testing.assert_array_equal(policy.waypoint([40.0, 180.0], goal), [92.0, 49.0])  # in front of the door
    np.testing.assert_array_equal(policy.waypoint([80.0, 50.0], goal), [132.0, 49.0])  # lined up: through it
    np.testing.assert_array_equal(policy.waypoint([150.0, 100.0], goal), goal)  # same room: straight there


def test_heuristic_is_seeded() -> None:
    info = {"state": np.array([40.0, 150.0], dtype=np.float32), "goal_state": np.array([170.0, 90.0])}
    a, b = TwoRoomHeuristicPolicy(seed=3), TwoRoomHeuristicPolicy(seed=3)
    actions_a = np.stack([a(None, info) for _ in range(10)])
    actions_b = np.stack([b(None, info) for _ in range(10)])
    np.testing.assert_array_equal(actions_a, actions_b)
    assert len(np.unique(actions_a, axis=0)) == 10  # noisy: every action differs
    b.reset(seed=3)
    np.testing.assert_array_equal(b(None, info), actions_a[0])


def test_seeding_is_deterministic() -> None:
    assert_seeding_is_deterministic(lambda: TwoRoomEnv(image_size=32), steps=10)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"state": [1.0, 2.0, 3.0]}, r"options\['state'\] must be a finite \(x, y\) position of shape \(2,\)"),
        ({"goal_state": [float("nan"), 50.0]}, r"options\['goal_state'\] must be a finite"),
        ({"state": [112.0, 150.0]}, r"not in free space.*x in \[21, 100\] \(left room\) or \[124, 203\]"),
        ({"goal_state": [5.0, 100.0]}, r"options\['goal_state'\]=\[5.0, 100.0\] is not in free space"),
        ({"state": [112.0, 37.0]}, r"door passage y in \[42, 56\]"),
        ({"goal": [60.0, 60.0]}, r"Unknown reset option\(s\) \['goal'\].*'goal_state'"),
        ({"state": "left"}, r"options\['state'\] must be"),
    ],
)
def test_bad_options_raise_helpful_errors(env: TwoRoomEnv, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        env.reset(seed=0, options=options)


@pytest.mark.parametrize("size", [8, 64.0, "64", True])
def test_bad_image_size_says_what_to_pass(size: object) -> None:
    with pytest.raises(ValueError, match=r"image_size must be an int >= 16.*image_size=64"):
        TwoRoomEnv(image_size=size)


def test_step_before_reset_and_bad_actions_raise(env: TwoRoomEnv) -> None:
    with pytest.raises(RuntimeError, match=r"call env.reset"):
        env.step(np.zeros(2, dtype=np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be 2 finite numbers"):
        env.step(np.array([np.nan, 0.0]))


def test_docstring_examples_run() -> None:
    for module in (two_room, lewm_envs):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0
