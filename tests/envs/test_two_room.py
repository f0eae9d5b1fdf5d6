"""TwoRoom behaviour: Gymnasium compliance, rendering, the goal-conditioned interface, the reference's wall rule, the
v0 options and the heuristic. Step-for-step agreement with the recorded reference is in test_two_room_fidelity.py.

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

# v0's free space for the agent centre (door_rule="disc"), from the documented geometry (not from the env's own code):
# borders 14 thick, interior wall x in [107, 117], door y in [35, 63], agent radius 7.
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


# The reference's rule, from its documented numbers: centre clamped to [21, 203]; the wall zone x in (100, 124) is open
# only to centres with y in the door band [33.25, 64.75].
_BAND = (33.25, 64.75)


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
    assert a.min() < 100 and a.max() == 255  # dark walls (black at 224 px), white floor
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
    assert not np.array_equal(info["goal_state"], [60.0, 60.0])
    _, info = env.reset(seed=1, options={"goal_state": [180.0, 190.0]})
    np.testing.assert_array_equal(info["goal_state"], [180.0, 190.0])
    assert not np.array_equal(info["state"], [180.0, 190.0])


def test_sampled_starts_follow_the_reference_distribution(env: TwoRoomEnv) -> None:
    # The reference: agent and target uniform in [14, 209]^2, the agent outside the wall zone x in [100, 124]; the
    # target may fall anywhere (even in the wall).
    agents, targets = [], []
    for seed in range(400):
        _, info = env.reset(seed=seed)
        agents.append(info["state"])
        targets.append(info["goal_state"])
    agents, targets = np.array(agents), np.array(targets)
    assert agents.min() >= 14 and agents.max() <= 209 and targets.min() >= 14 and targets.max() <= 209
    assert not np.any((agents[:, 0] >= 100) & (agents[:, 0] <= 124))
    assert np.any((targets[:, 0] > 100) & (targets[:, 0] < 124))  # about 12% of targets: uniform, no exclusion
    assert agents.min() < 21 and targets.max() > 203  # overlapping the border lines, as the reference allows
    assert abs(np.mean(agents[:, 1]) - 111.5) < 8 and abs(np.mean(targets[:, 0]) - 111.5) < 8


def test_v0_sampling_keeps_starts_in_free_space() -> None:
    env = TwoRoomEnv(image_size=16, sampling="v0")
    for seed in range(50):
        _, info = env.reset(seed=seed)
        assert info["distance"] >= 40.0 and _clearance(info["state"]) >= 0 and _clearance(info["goal_state"]) >= 0


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
    assert steps == 7 and terminated and info["is_success"] is True and reward == 0.0  # the reference: always 0
    assert info["distance"] == pytest.approx(15.0)
    success = TwoRoomEnv(image_size=16, success_reward=True)
    success.reset(seed=0, options={"state": [60.0, 100.0], "goal_state": [60.0, 110.0]})
    assert success.step(np.zeros(2, dtype=np.float32))[1] == 1.0


def test_agent_stays_out_of_the_wall_zone_except_through_the_door(env: TwoRoomEnv) -> None:
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for t in range(2000):
        if t % 250 == 0:
            env.reset()
        action = rng.uniform(-1.0, 1.0, size=2) if t % 2 else rng.choice([-1.0, 1.0], size=2) * 1.5
        _, _, terminated, _, info = env.step(action.astype(np.float32))
        x, y = info["state"]
        assert 21.0 <= x <= 203.0 and 21.0 <= y <= 203.0, f"step {t}: agent at {info['state']} beyond a border"
        assert not 100.0 < x < 124.0 or _BAND[0] <= y <= _BAND[1], f"step {t}: agent at {info['state']} in the wall"
        if terminated:
            env.reset()


def test_v0_disc_rule_never_enters_walls_under_random_actions() -> None:
    env = TwoRoomEnv(image_size=16, door_rule="disc", sampling="v0")
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


def test_reference_wall_rule(env: TwoRoomEnv) -> None:
    goal = {"goal_state": [60.0, 200.0]}
    env.reset(seed=0, options={"state": [90.0, 49.0], **goal})
    assert _push(env, (1.0, 0.0), 20)[0] > 124.0  # through the door into the right room
    env.reset(seed=0, options={"state": [90.0, 150.0], **goal})
    np.testing.assert_array_equal(_push(env, (1.0, 0.0), 20), [99.5, 150.0])  # put back 0.5 outside the zone
    env.reset(seed=0, options={"state": [140.0, 150.0], **goal})
    np.testing.assert_array_equal(_push(env, (-1.0, 0.0), 20), [124.5, 150.0])
    # The band lets the centre through where the disc overlaps the door post (y 34 < 35 + 7).
    env.reset(seed=0, options={"state": [90.0, 34.0], **goal})
    assert _push(env, (1.0, 0.0), 10)[0] == pytest.approx(140.0)
    env.reset(seed=0, options={"state": [90.0, 32.0], **goal})  # below the band: blocked
    np.testing.assert_array_equal(_push(env, (1.0, 0.0), 10), [99.5, 32.0])
    # Inside the doorway, leaving the band puts the agent back out of the zone on its starting side.
    env.reset(seed=0, options={"state": [110.0, 62.0], **goal})
    np.testing.assert_array_equal(_push(env, (0.0, 1.0), 1), [99.5, 67.0])
    env.reset(seed=0, options={"state": [114.0, 62.0], **goal})
    np.testing.assert_array_equal(_push(env, (0.0, 1.0), 1), [124.5, 67.0])
    # Diagonal pushes slide along the wall and stop at the borders.
    env.reset(seed=0, options={"state": [95.0, 150.0], **goal})
    np.testing.assert_array_equal(_push(env, (1.0, 1.0), 5), [99.5, 175.0])
    np.testing.assert_array_equal(_push(env, (-1.0, 1.0), 20), [21.0, 203.0])


def test_v0_disc_rule_door_is_passable_and_the_wall_is_not() -> None:
    env = TwoRoomEnv(image_size=16, door_rule="disc")
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
        ({"goal": [60.0, 60.0]}, r"Unknown reset option\(s\) \['goal'\].*'goal_state'"),
        ({"state": "left"}, r"options\['state'\] must be"),
    ],
)
def test_bad_options_raise_helpful_errors(env: TwoRoomEnv, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        env.reset(seed=0, options=options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"state": [112.0, 150.0]}, r"not in free space: with door_rule='disc'.*\[107, 117\]"),
        ({"goal_state": [5.0, 100.0]}, r"options\['goal_state'\]=\[5.0, 100.0\] is not in free space"),
    ],
)
def test_v0_disc_rule_rejects_positions_in_walls(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TwoRoomEnv(image_size=16, door_rule="disc").reset(seed=0, options=options)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"door_rule": "wide"}, r"door_rule must be one of \('band', 'disc'\)"), ({"sampling": "x"}, r"sampling must")],
)
def test_bad_option_names_the_choices(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TwoRoomEnv(**kwargs)


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
