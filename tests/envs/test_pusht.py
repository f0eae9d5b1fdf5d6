"""PushT behaviour: Gymnasium compliance, rendering, the reference's resets, both success rules and rewards, physics,
the v0 options and the pusher policy. Step-for-step agreement with the recorded references is in
test_pusht_fidelity.py.

States are 7-vectors in world units ([0, 512]^2): agent x, y; block x, y, angle; agent vx, vy. Block xy is the centre
of the T bar's top edge; the stem hangs 120 units below it at angle 0 (y grows downward).
"""

from __future__ import annotations

import doctest
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("pymunk", reason="PushT needs the pusht extra: pip install 'lewm-agents[pusht]'")

from lewm_envs import pusht
from lewm_envs.pusht import PushTEnv, PushTPusherPolicy, block_coverage
from tests.envs.contract import assert_seeding_is_deterministic

# Geometry from the documented standard env, written out here rather than taken from the module: walls' inner faces at
# 7 and 504, agent radius 15; the T is a bar x in [-60, 60], y in [0, 30] over a stem x in [-15, 15], y in [30, 120].
_AGENT_LO, _AGENT_HI = 22.0, 489.0
_WALL_LO, _WALL_HI = 7.0, 504.0
_SOFT = 8.0  # soft contacts may overlap a few units while the block is jammed against a wall
_REST = [0.0, 0.0]


def _t_corners(pose: np.ndarray) -> np.ndarray:
    """World corners of the bar and the stem, (8, 2)."""
    local = np.array([[-60, 0], [60, 0], [60, 30], [-60, 30], [-15, 30], [15, 30], [15, 120], [-15, 120]], float)
    c, s = math.cos(pose[2]), math.sin(pose[2])
    return local @ np.array([[c, s], [-s, c]]) + np.asarray(pose[:2], float)


def _inside_t(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Whether world points lie inside the T at ``pose``, (N,) bool."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    d = points - np.asarray(pose[:2], float)
    u, v = c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]
    return ((np.abs(u) <= 60) & (v >= 0) & (v <= 30)) | ((np.abs(u) <= 15) & (v >= 30) & (v <= 120))


def _run(env: PushTEnv, actions: list, options: dict | None = None, seed: int = 0) -> list[dict]:
    _, info = env.reset(seed=seed, options=options)
    infos = [info]
    for a in actions:
        infos.append(env.step(np.asarray(a, dtype=np.float32))[4])
    return infos


@pytest.fixture
def env() -> PushTEnv:
    return PushTEnv(image_size=32)


@pytest.mark.parametrize("size", [64, 224])
def test_check_env_passes_without_warnings(size: int) -> None:
    made = gym.make("lewm/PushT-v1", image_size=size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(made.unwrapped)
    obs, _ = made.reset(seed=0)
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8


@pytest.mark.parametrize("kwargs", [{"obs_type": "state"}, {"relative": False}, {"success": "coverage"}])
def test_check_env_passes_for_the_variants(kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Box(0, 512) absolute targets are gym-pusht's convention; the checker only recommends a normalised box.
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space")
        check_env(gym.make("lewm/PushT-v1", image_size=16, **kwargs).unwrapped)


def test_registration_time_limit_truncates_at_300_steps() -> None:
    made = gym.make("lewm/PushT-v1", image_size=16)
    assert made.unwrapped.image_size == 16
    made.reset(seed=0, options={"state": [100, 100, 300, 300, 0, *_REST], "goal_state": [400, 100, 100, 300, 1, 0, 0]})
    for t in range(300):
        _, _, terminated, truncated, _ = made.step(np.zeros(2, dtype=np.float32))
        assert not terminated and truncated == (t == 299)


@pytest.mark.parametrize("size", [64, 224])
def test_frames_are_non_constant_and_depend_on_state(size: int) -> None:
    env = PushTEnv(image_size=size)
    base = [100.0, 400.0, 256.0, 200.0, 0.3, *_REST]
    a, _ = env.reset(seed=0, options={"state": base})
    assert a.min() < 120 and a.max() == 255 and len(np.unique(a.reshape(-1, 3), axis=0)) > 10  # resized edges
    np.testing.assert_array_equal(env.render(), a)
    for k, delta in ((0, 3.0), (2, 3.0), (4, 0.02)):  # agent 3 units, block 3 units, block 1.1 degrees
        moved = list(base)
        moved[k] += delta
        b, _ = env.reset(seed=0, options={"state": moved})
        assert not np.array_equal(a, b), f"changing state[{k}] by {delta} left the {size}-px frame unchanged"


def test_frame_shows_the_block_and_agent_where_the_state_says() -> None:
    env = PushTEnv(image_size=224, goal_marker="none")
    pose = np.array([300.0, 150.0, 0.7])
    obs, _ = env.reset(seed=0, options={"state": [100.0, 420.0, *pose, *_REST]})
    scale = 512 / 224
    centres = (np.stack(np.meshgrid(np.arange(224), np.arange(224)), -1).reshape(-1, 2) + 0.5) * scale  # (x, y)
    # The reference fills the block with LightSlateGray (119, 136, 153) lightened 1.2x and outlines it in the plain
    # colour; the agent is a RoyalBlue (65, 105, 225) ring around a lightened disc.
    fill = np.all(np.abs(obs.reshape(-1, 3).astype(int) - [143, 163, 184]) < 4, axis=1)
    inside = _inside_t(centres, pose)
    assert fill[inside].mean() > 0.6 and fill[~inside].mean() < 0.01
    np.testing.assert_array_equal(obs[round(420 / scale), round(100 / scale)], [78, 126, 255])
    ring = obs[round(420 / scale), round((100 - 13) / scale)]
    assert np.abs(ring.astype(int) - [65, 105, 225]).max() < 20


def test_goal_image_is_the_frame_at_the_goal_state(env: PushTEnv) -> None:
    goal = [400.0, 100.0, 150.0, 300.0, 2.0, *_REST]
    _, info = env.reset(seed=0, options={"state": [100, 100, 300, 300, 0, *_REST], "goal_state": goal})
    at_goal, _ = env.reset(seed=0, options={"state": goal})
    np.testing.assert_array_equal(info["goal"], at_goal)
    env.reset(seed=0, options={"state": [100, 100, 300, 300, 0, *_REST], "goal_state": goal})
    np.testing.assert_array_equal(env.render_goal(), at_goal)
    assert not np.array_equal(env.render(), at_goal)


@pytest.mark.parametrize("style", ["reference", "v0"])
def test_goal_marker_draws_a_green_t_under_the_block(style: str) -> None:
    goal = [400.0, 100.0, 150.0, 300.0, 2.0, *_REST]
    options = {"state": [100, 100, 300, 100, 0, *_REST], "goal_state": goal}
    frames = {
        marker: PushTEnv(image_size=64, goal_marker=marker, render_style=style).reset(seed=0, options=options)[0]
        for marker in ("none", "fixed", "episode")
    }
    for marker in ("fixed", "episode"):
        diff = np.any(frames["none"] != frames[marker], axis=2)
        assert diff.any() and np.all(frames[marker][diff][:, 1] > frames[marker][diff][:, 0])  # greenish pixels only
    # The fixed T's bar covers world (260, 276), pixel (row 34, column 32) at 64 px; the episode's goal T does not.
    assert frames["fixed"][34, 32, 1] > frames["fixed"][34, 32, 0]
    assert np.array_equal(frames["episode"][34, 32], frames["none"][34, 32])


def test_reset_round_trips_states_exactly(env: PushTEnv) -> None:
    state = np.array([33.25, 480.5, 300.125, 210.75, 5.5, 0.0, 0.0], dtype=np.float32)
    # (A goal whose block overlaps a wall would be pushed during reset, and that push carries into the start.)
    goal = np.array([250.0, 250.0, 100.5, 300.25, 0.125, 0.0, 0.0], dtype=np.float32)
    _, info = env.reset(seed=0, options={"state": state, "goal_state": goal})
    np.testing.assert_array_equal(info["state"], state)  # block pose (angle included) lands exactly
    np.testing.assert_array_equal(info["proprio"], state[[0, 1, 5, 6]])
    np.testing.assert_array_equal(info["goal_state"], goal)
    assert info["state"].dtype == info["goal_state"].dtype == info["proprio"].dtype == np.float32
    np.testing.assert_array_equal(env.state, state)
    # A recorded mid-episode state re-sets with its agent moved by v * 0.01 (the reference's reset step; the agent is
    # kinematic), or exactly with reset_physics=False; a 5-vector means "at rest".
    for _ in range(5):
        _, _, _, _, step_info = env.step(np.array([0.4, -0.9], dtype=np.float32))
    recorded = step_info["state"]
    _, again = env.reset(options={"state": recorded, "goal_state": goal})
    np.testing.assert_allclose(again["state"][:2], recorded[:2] + 0.01 * recorded[5:], atol=1e-4)
    np.testing.assert_array_equal(again["state"][2:], recorded[2:])
    exact = PushTEnv(image_size=16, reset_physics=False)
    np.testing.assert_array_equal(exact.reset(options={"state": recorded, "goal_state": goal})[1]["state"], recorded)
    _, rest = env.reset(options={"state": state[:5]})
    np.testing.assert_array_equal(rest["state"], [*state[:5], 0.0, 0.0])


def test_reset_steps_the_physics_like_the_reference(env: PushTEnv) -> None:
    # The reference steps 0.01 s after setting a state: an agent velocity moves the agent by v * 0.01 ...
    moving = [100.0, 400.0, 300.0, 200.0, 1.0, 50.0, -30.0]
    _, info = env.reset(seed=0, options={"state": moving})
    np.testing.assert_allclose(info["state"][:2], [100.5, 399.7], atol=1e-4)
    np.testing.assert_array_equal(info["state"][2:5], np.float32(moving[2:5]))
    # ... and the goal state is simulated on the same space first: a goal with the agent inside the block gives the
    # block a velocity that moves it when the start is stepped (swm/PushT-v1 reports 251.64788382 here).
    inside = [256.0, 262.0, 256.0, 250.0, 0.0, 0.0, 0.0]
    env.reset(seed=0, options={"state": inside, "goal_state": inside})
    assert env._state()[3] == pytest.approx(251.64788382, abs=1e-8)
    exact = PushTEnv(image_size=16, reset_physics=False)
    _, info = exact.reset(seed=0, options={"state": inside})
    np.testing.assert_array_equal(info["state"], inside)


def test_only_missing_options_are_sampled(env: PushTEnv) -> None:
    state = [60.0, 60.0, 300.0, 200.0, 1.0, *_REST]
    _, info = env.reset(seed=1, options={"state": state})
    np.testing.assert_array_equal(info["state"], state)
    assert not info["is_success"]
    goal = [400.0, 400.0, 200.0, 100.0, 3.0, *_REST]
    _, info = env.reset(seed=1, options={"goal_state": goal})
    np.testing.assert_array_equal(info["goal_state"], goal)


def test_random_resets_follow_the_reference_distribution(env: PushTEnv) -> None:
    # The reference: agent uniform in [50, 450]^2, block in [100, 400]^2, any angle, at rest (overlaps allowed; the
    # reset's physics step then pushes the block out of the agent).
    states = np.array([env.reset(seed=seed)[1]["state"] for seed in range(300)])
    assert states[:, :2].min() >= 50 and states[:, :2].max() <= 450
    assert np.mean((states[:, 2:4] >= 100) & (states[:, 2:4] <= 400)) > 0.98
    assert states[:, 4].min() < 0.5 and states[:, 4].max() > 5.8
    assert abs(states[:, 0].mean() - 250) < 20 and abs(states[:, 3].mean() - 250) < 15


def test_gym_pusht_start_option() -> None:
    env = PushTEnv(image_size=16, success="coverage")
    _, a = env.reset(seed=3, options={"start": "gym-pusht", "goal_state": list(pusht.FIXED_TARGET_STATE)})
    _, b = env.reset(seed=3, options={"start": "gym-pusht", "goal_state": list(pusht.FIXED_TARGET_STATE)})
    np.testing.assert_array_equal(a["state"], b["state"])
    assert np.all(a["state"][:2] == np.round(a["state"][:2]))  # gym-pusht draws integer agent positions
    np.testing.assert_array_equal(a["goal_state"][2:5], np.float32(pusht.FIXED_TARGET))
    with pytest.raises(ValueError, match=r"options\['start'\] must be 'gym-pusht'"):
        env.reset(seed=0, options={"start": "random"})


def test_v0_resets_are_valid_and_unsolved() -> None:
    env = PushTEnv(image_size=16, sampling="v0", reset_physics=False)
    for seed in range(40):
        _, info = env.reset(seed=seed)
        for s in (info["state"], info["goal_state"]):
            corners = _t_corners(s[2:5])
            assert corners.min() >= _WALL_LO and corners.max() <= _WALL_HI
            assert np.all((s[:2] >= _AGENT_LO) & (s[:2] <= _AGENT_HI))
            ring = s[:2] + 15.0 * np.stack([np.cos(np.linspace(0, 6.3, 64)), np.sin(np.linspace(0, 6.3, 64))], 1)
            assert not _inside_t(np.vstack([s[:2], ring]), s[2:5]).any()  # the agent disc does not touch the T
            np.testing.assert_array_equal(s[5:], [0.0, 0.0])
        assert not info["is_success"] and not info["contact"]


def test_pose_success_thresholds(env: PushTEnv) -> None:
    goal = np.array([100.0, 400.0, 256.0, 200.0, 0.1, 0.0, 0.0])

    def shifted(dxy: tuple, dangle: float = 0.0) -> np.ndarray:
        s = goal.copy()
        s[:4] += dxy
        s[4] = (s[4] + dangle) % (2 * math.pi)
        return s

    assert env.is_success(shifted((19.9, 0, 0, 0)), goal)
    assert not env.is_success(shifted((20.1, 0, 0, 0)), goal)
    assert env.is_success(shifted((0, 0, 0, -19.9)), goal)
    assert not env.is_success(shifted((15, 0, 0, 14)), goal)  # 20.5 from agent and block together: ...
    assert env.is_success(shifted((14, 0, 0, 14)), goal)  # 19.8: the norm runs over all four coordinates
    assert env.is_success(shifted((0, 0, 0, 0), math.pi / 9 - 0.01), goal)
    assert not env.is_success(shifted((0, 0, 0, 0), math.pi / 9 + 0.01), goal)
    assert env.is_success(shifted((0, 0, 0, 0), -(math.pi / 9 - 0.01)), goal)  # wraps past 0 to ~5.94 rad
    assert not env.is_success(shifted((0, 0, 0, 0), -(math.pi / 9 + 0.01)), goal)
    assert not env.is_success(shifted((0, 0, 0, 0), math.pi), goal)
    _, info = env.reset(seed=0, options={"state": shifted((0, 0, 12.0, -9.0)), "goal_state": goal})
    assert info["is_success"] is True and info["distance"] == pytest.approx(15.0)


def test_coverage_matches_closed_forms_and_sampling() -> None:
    pose = np.array([256.0, 200.0, 0.0])
    assert block_coverage(pose, pose) == pytest.approx(1.0)
    for dy in (1.0, 2.5, 10.0, 29.0):  # sliding down by dy loses 120 dy of the 6300-unit^2 area
        assert block_coverage(pose + np.array([0, dy, 0]), pose) == pytest.approx(1 - 120 * dy / 6300)
    assert block_coverage(pose + np.array([0, 0, math.pi]), pose) == 0.0  # flipped about the bar's top edge: no overlap
    flipped = pose + np.array([0, 120, math.pi])  # flipped about the bounding box centre
    assert block_coverage(flipped, pose) == pytest.approx((900 + 900 + 1800) / 6300)
    assert block_coverage(pose + np.array([300, 0, 0]), pose) == 0.0
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = np.array([*rng.uniform(200, 300, 2), rng.uniform(0, 6.3)])
        b = a + np.array([*rng.normal(0, 20, 2), rng.normal(0, 0.4)])
        pts = rng.uniform(b[:2] - 130, b[:2] + 130, size=(200_000, 2))
        in_b = _inside_t(pts, b)
        estimate = (in_b & _inside_t(pts, a)).sum() / in_b.sum()
        assert block_coverage(a, b) == pytest.approx(estimate, abs=0.01)


def test_coverage_success_option() -> None:
    env = PushTEnv(image_size=16, success="coverage")
    goal = np.array([100.0, 400.0, 256.0, 200.0, 0.4, 0.0, 0.0])
    far_agent = goal + np.array([300.0, -300.0, 0, 0, 0, 0, 0])  # coverage ignores the agent
    assert env.is_success(far_agent, goal)
    c, s = math.cos(0.4), math.sin(0.4)
    down = np.array([0, 0, -s, c, 0, 0, 0])  # the block's own "down" axis
    assert env.is_success(goal + 2.5 * down, goal)  # coverage 1 - 300/6300 = 0.952
    assert not env.is_success(goal + 2.75 * down, goal)  # 0.948
    _, info = env.reset(seed=0, options={"state": far_agent + 2.75 * down, "goal_state": goal})
    assert info["coverage"] == pytest.approx(1 - 120 * 2.75 / 6300) and not info["is_success"]


def test_scripted_push_reaches_the_goal() -> None:
    env = PushTEnv(image_size=16)
    # Block 30 units below its goal; the agent starts under the stem and pushes it straight up.
    goal = np.array([256.0, 391.0, 256.0, 256.0, 0.0, 0.0, 0.0])
    _, info = env.reset(seed=0, options={"state": [256.0, 460.0, 256.0, 286.0, 0.0, *_REST], "goal_state": goal})
    assert info["distance"] > 60 and not info["is_success"]
    contacts, terminated = 0, False
    for _ in range(40):
        action = np.clip((goal[:2] - info["state"][:2]) / 100.0, -1, 1).astype(np.float32)
        _, reward, terminated, _, info = env.step(action)
        contacts += info["contact"]
        if terminated:
            break
    assert terminated and info["is_success"], f"not solved in 40 steps: {info['state']}"
    # The reference's reward: minus the distance over all 7 entries (velocity included).
    full = np.asarray(env.unwrapped._state()) if hasattr(env, "unwrapped") else env._state()
    assert reward == pytest.approx(-np.linalg.norm(full - goal))
    assert contacts >= 2 and info["state"][3] < 280.0  # the block was pushed, not teleported
    assert pusht.angle_error(info["state"][4], 0.0) < 0.05


def test_pd_controller_converges_to_an_absolute_target() -> None:
    env = PushTEnv(image_size=16, relative=False)
    infos = _run(env, [(300.0, 200.0)] * 20, options={"state": [100, 100, 400, 300, 0, *_REST]})
    final = infos[-1]["state"]
    np.testing.assert_allclose(final[:2], [300.0, 200.0], atol=0.5)
    assert np.abs(final[5:]).max() < 5.0
    path = np.array([i["state"][:2] for i in infos])
    dist = np.linalg.norm(path - [300.0, 200.0], axis=1)
    assert np.all(np.diff(dist) <= 1e-3)  # critically damped: no overshoot
    # Relative actions move the target 100 units from the agent: steady pursuit of a moving target.
    env = PushTEnv(image_size=16)
    infos = _run(env, [(1.0, 0.0)] * 6, options={"state": [50, 100, 400, 300, 0, *_REST]})
    dx = np.diff([i["state"][0] for i in infos])
    assert 20.0 < dx[0] < dx[1]  # from rest, accelerating ...
    np.testing.assert_allclose(dx[2:], 40.69, atol=0.1)  # ... to a steady ~40.7 units per step
    assert abs(infos[-1]["state"][1] - 100.0) < 1e-6


def test_contact_flag(env: PushTEnv) -> None:
    options = {"state": [256.0, 360.0, 256.0, 200.0, 0.0, *_REST]}  # agent 25 units below the stem's end
    assert not any(i["contact"] for i in _run(env, [(0.0, 1.0)] * 3, options=options))
    infos = _run(env, [(0.0, -0.5)] * 4, options=options)
    assert infos[-1]["contact"] and infos[-1]["state"][3] < 199.0  # touching and pushing the block up


def test_kinematic_agent_passes_walls_and_drives_the_block_through() -> None:
    # The reference's kinematic pusher has unbounded force: it leaves the arena, and a block caught against a wall is
    # driven into it (the v0 options below prevent both).
    env = PushTEnv(image_size=16)
    infos = _run(env, [(-1.0, 0.0)] * 10, options={"state": [60.0, 100.0, 300.0, 300.0, 0.0, *_REST]})
    assert infos[-1]["state"][0] < -100.0
    infos = _run(env, [(-1.0, 0.0)] * 30, options={"state": [200.0, 256.0, 8.0, 256.0, 1.5 * math.pi, *_REST]})
    sunk = min(float(pusht.t_signed_distance(i["state"][:2], i["state"][2:5])) for i in infos)
    assert _t_corners(infos[3]["state"][2:5]).min() < _WALL_LO - 3.0  # the block is driven into the wall ...
    assert sunk < 15.0 - 5.0 and infos[-1]["state"][0] < -500.0  # ... and the agent through the block


_V0_WALLS = {"pusher": "dynamic", "walls": "solid", "clamp_target": True}


def test_v0_agent_and_block_stay_inside_the_walls() -> None:
    env = PushTEnv(image_size=16, obs_type="state", **_V0_WALLS)
    rng = np.random.default_rng(0)
    worst = 0.0
    for episode in range(4):
        _, info = env.reset(seed=episode)
        policy = PushTPusherPolicy(seed=episode)
        for t in range(250):
            # Alternate the pusher (jams the block into walls) with saturated random actions (hammers the walls).
            if (t // 25) % 2:
                action = rng.choice([-1.0, 1.0], size=2)
            else:
                action = policy(None, info)
            _, _, _, _, info = env.step(np.asarray(action, dtype=np.float32))
            s = info["state"]
            corners = _t_corners(s[2:5])
            worst = max(worst, _WALL_LO - corners.min(), corners.max() - _WALL_HI)
            assert np.all((s[:2] >= _AGENT_LO - 1) & (s[:2] <= _AGENT_HI + 1)), f"agent in a wall: {s}"
    assert worst < _SOFT, f"the block sank {worst:.1f} units into a wall"


def test_v0_block_jammed_against_a_wall_stops_the_agent() -> None:
    # Stem pointing right from a bar flush with the left wall; the agent drives left into the stem's end.
    env = PushTEnv(image_size=16, **_V0_WALLS)
    infos = _run(env, [(-1.0, 0.0)] * 30, options={"state": [200.0, 256.0, 8.0, 256.0, 1.5 * math.pi, *_REST]})
    for info in infos:
        s = info["state"]
        # A kinematic pusher (the standard env's) sinks ~20 units into the block here.
        assert _t_corners(s[2:5]).min() > _WALL_LO - 5.0
        assert pusht.t_signed_distance(s[:2], s[2:5]) > 15.0 - 3.0  # the disc does not sink into the block
    assert infos[-1]["contact"]


def test_pusher_policy_keeps_contact_and_moves_the_block() -> None:
    env = PushTEnv(image_size=16, obs_type="state")
    contacts = steps = 0
    travelled = turned = 0.0
    for episode in range(4):
        policy = PushTPusherPolicy(action_space=env.action_space, seed=episode)
        obs, info = env.reset(seed=episode)
        for _ in range(150):
            prev = info["state"]
            action = policy(obs, info)
            assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
            obs, _, _, _, info = env.step(action)
            contacts += info["contact"]
            steps += 1
            travelled += float(np.linalg.norm(info["state"][2:4] - prev[2:4]))
            turned += pusht.angle_error(info["state"][4], prev[4])
    assert contacts / steps >= 0.4, f"the pusher touched the block in only {contacts / steps:.0%} of steps"
    assert travelled / 4 > 300.0 and turned / 4 > 3.0  # per episode: the block travels and rotates a lot


def test_pusher_policy_drives_absolute_action_spaces() -> None:
    env = PushTEnv(image_size=16, obs_type="state", relative=False)
    policy = PushTPusherPolicy(action_space=env.action_space, seed=0)
    obs, info = env.reset(seed=0)
    contacts = 0
    for _ in range(100):
        action = policy(obs, info)
        assert np.all((action >= 0) & (action <= 512)) and np.linalg.norm(action - info["state"][:2]) <= 142.0
        obs, _, _, _, info = env.step(action)
        contacts += info["contact"]
    assert contacts >= 30


def test_pusher_policy_is_seeded() -> None:
    env = PushTEnv(image_size=16, obs_type="state")

    def actions(policy: PushTPusherPolicy) -> np.ndarray:
        obs, info = env.reset(seed=5)
        out = []
        for _ in range(40):
            out.append(policy(obs, info))
            obs, _, _, _, info = env.step(out[-1])
        return np.stack(out)

    first = actions(PushTPusherPolicy(seed=3))
    np.testing.assert_array_equal(first, actions(PushTPusherPolicy(seed=3)))
    assert not np.array_equal(first, actions(PushTPusherPolicy(seed=4)))
    policy = PushTPusherPolicy(seed=9)
    actions(policy)
    policy.reset(seed=3)
    np.testing.assert_array_equal(first, actions(policy))


def test_seeding_is_deterministic() -> None:
    assert_seeding_is_deterministic(lambda: PushTEnv(image_size=32), steps=20)


def test_info_keys_and_state_observations() -> None:
    env = PushTEnv(image_size=24, obs_type="state")
    obs, info = env.reset(seed=0)
    assert set(info) == {
        "proprio",
        "state",
        "goal_state",
        "goal",
        "is_success",
        "distance",
        "contact",
        "n_contacts",
        "coverage",
    }
    np.testing.assert_array_equal(obs, info["state"])
    assert obs.dtype == np.float32 and obs.shape == (7,) and info["goal"].shape == (24, 24, 3)
    assert isinstance(info["distance"], float) and isinstance(info["contact"], bool)
    assert 0.0 <= info["coverage"] <= 1.0
    frame = env.render()
    assert frame.shape == (24, 24, 3) and frame.max() == 255
    assert info["distance"] == pytest.approx(float(np.linalg.norm(info["state"][:4] - info["goal_state"][:4])), 1e-5)


_OK = [100.0, 100.0, 300.0, 300.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"state": [1.0, 2.0, 3.0]}, r"options\['state'\] must be a finite 7-vector \(agent x, agent y, block x"),
        ({"goal_state": [*_OK[:6], float("nan")]}, r"options\['goal_state'\] must be a finite 7-vector"),
        ({"state": "left"}, r"options\['state'\] must be a 7-vector"),
        ({"goal": _OK}, r"Unknown reset option\(s\) \['goal'\].*'goal_state'"),
    ],
)
def test_bad_options_raise_helpful_errors(env: PushTEnv, options: dict, match: str | None) -> None:
    with pytest.raises(ValueError, match=match):
        env.reset(seed=0, options=options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"state": [0.2, 0.2, 0.5, 0.5, 0.0, 0, 0]}, None),  # normalised units: rejected as overlapping/in a wall
        ({"state": [5.0, 100.0, 300.0, 300.0, 0.0, 0, 0]}, r"agent at \[5.0, 100.0\], inside a wall.*\[22, 489\]"),
        ({"state": [100.0, 100.0, 300.0, 450.0, 0.0, 0, 0]}, r"block .* partly outside the walls"),
        ({"state": [300.0, 350.0, 300.0, 300.0, 0.0, 0, 0]}, r"overlapping the block .* by 30.0 units"),
    ],
)
def test_solid_walls_reject_states_they_cannot_simulate(options: dict, match: str | None) -> None:
    with pytest.raises(ValueError, match=match):
        PushTEnv(image_size=16, walls="solid").reset(seed=0, options=options)


def test_states_outside_the_arena_are_accepted_as_the_reference_does(env: PushTEnv) -> None:
    _, info = env.reset(seed=0, options={"state": [700.0, -20.0, 300.0, 300.0, 0.0, 0, 0]})
    np.testing.assert_array_equal(info["state"][:2], [700.0, -20.0])


def test_goal_states_need_not_be_physically_settable(env: PushTEnv) -> None:
    # The goal is only compared with and drawn, so an agent drawn on the block is fine there.
    _, info = env.reset(seed=0, options={"goal_state": [300.0, 350.0, 300.0, 300.0, 0.0, 0, 0]})
    assert info["goal_state"][0] == 300.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 8}, r"image_size must be an int >= 16.*image_size=64"),
        ({"image_size": 64.0}, r"image_size must be an int"),
        ({"success": "overlap"}, r"success must be one of \('pose', 'coverage'\)"),
        ({"obs_type": "rgb"}, r"obs_type must be one of \('pixels', 'state'\)"),
        ({"pusher": "heavy"}, r"pusher must be one of \('kinematic', 'dynamic'\)"),
        ({"render_mode": "human"}, r"render_mode must be 'rgb_array' or None"),
        ({"success_angle": 4.0}, r"success_angle must be in \(0, pi\]"),
    ],
)
def test_bad_constructor_arguments_say_what_to_pass(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PushTEnv(**kwargs)


def test_step_before_reset_and_bad_actions_raise(env: PushTEnv) -> None:
    with pytest.raises(RuntimeError, match=r"call env.reset"):
        env.step(np.zeros(2, dtype=np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be 2 finite numbers"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"action_space must be a Box of shape \(2,\)"):
        PushTPusherPolicy(action_space=gym.spaces.Box(-1, 1, (3,)))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(pusht, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
