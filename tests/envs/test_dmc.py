"""DMCEnv behaviour: Gymnasium compliance, frames, exact state resets, DMC rewards, renderer lifetime, the goal
interface (qpos_match), and fidelity to dm_control itself (``tests/envs/fidelity/dmc_reference.npz``).

States are the physics ``concat(qpos, qvel)``; frames are uint8 (S, S, 3). Cartpole swing-up stands in for any DMC
task (4 state numbers, 1 action, rewards in [0, 1]).
"""

from __future__ import annotations

import doctest
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("dm_control", reason="needs the dmc extra: pip install 'lewm-agents[dmc]'")

from gymnasium.utils.env_checker import check_env

from lewm_agents.wrappers import GoalConditioned
from lewm_envs import dmc
from lewm_envs.dmc import LEGACY_VERSIONS, DMCEnv
from tests.envs.mujoco_fidelity import MAX_DIFFERING_PIXELS, differing_pixels, gl_renderer, load_fixture


def _lag1_autocorrelation(x: np.ndarray) -> float:
    x = x - x.mean()
    return float(np.dot(x[:-1], x[1:]) / np.dot(x, x))


@pytest.fixture
def cartpole() -> DMCEnv:
    env = DMCEnv("cartpole", "swingup", image_size=32)
    yield env
    env.close()


def test_gym_make_builds_the_requested_task_and_check_env_passes() -> None:
    made = gym.make("lewm/DMC-v1", domain="cartpole", task="swingup", image_size=64)
    assert made.spec.max_episode_steps == 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(made.unwrapped)
    obs, info = made.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert made.action_space.shape == (1,) and info["state"].shape == (4,) and info["observation"].shape == (5,)
    made.close()


@pytest.mark.parametrize("size", [64, 224])
def test_frames_are_non_constant_and_depend_on_state(size: int) -> None:
    env = DMCEnv("cartpole", "swingup", image_size=size)
    a, _ = env.reset(seed=0, options={"state": [0.0, np.pi, 0.0, 0.0]})
    b, _ = env.reset(seed=0, options={"state": [0.3, np.pi / 2, 0.0, 0.0]})
    assert a.shape == (size, size, 3) and a.std() > 10
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1  # cart and pole moved
    np.testing.assert_array_equal(env.render(), b)
    env.close()


def test_state_reset_round_trips_exactly_and_replays(cartpole: DMCEnv) -> None:
    cartpole.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _, _, _, _, info = cartpole.step(rng.uniform(-1, 1, 1).astype(np.float32))
    recorded = info["state"]
    actions = rng.uniform(-1, 1, (5, 1)).astype(np.float32)
    continued = [cartpole.step(a)[4]["state"] for a in actions]
    _, again = cartpole.reset(seed=7, options={"state": recorded})
    np.testing.assert_array_equal(again["state"], recorded)
    replayed = [cartpole.step(a)[4]["state"] for a in actions]
    # The recorded state is float32, the physics float64: the replay matches up to that rounding.
    np.testing.assert_allclose(replayed, continued, atol=1e-4)


def test_rewards_are_dmcs_own(cartpole: DMCEnv) -> None:
    from dm_control import suite

    reference = suite.load("cartpole", "swingup")
    reference.reset()
    _, info = cartpole.reset(seed=3)
    with reference.physics.reset_context():
        reference.physics.data.qpos[:] = info["state"][:2]
        reference.physics.data.qvel[:] = info["state"][2:]
    rewards = []
    for a in np.linspace(-1.0, 1.0, 20, dtype=np.float32):
        _, reward, terminated, truncated, info = cartpole.step(np.array([a]))
        expected = reference.step(np.array([a])).reward
        assert reward == pytest.approx(expected, abs=1e-5)
        assert not (terminated or truncated)
        rewards.append(reward)
    assert 0.0 < min(rewards) and max(rewards) < 1.0 and np.ptp(rewards) > 1e-3
    observation = reference.task.get_observation(reference.physics)
    np.testing.assert_allclose(
        info["observation"], np.concatenate([v.ravel() for v in observation.values()]), atol=1e-4
    )


def test_action_repeat_sums_rewards_over_control_steps() -> None:
    single = DMCEnv("cartpole", "swingup", obs_type="state", render_mode=None)
    double = DMCEnv("cartpole", "swingup", obs_type="state", render_mode=None, action_repeat=2)
    start = {"state": [0.1, 0.5, 0.0, 0.0]}
    single.reset(seed=0, options=start)
    double.reset(seed=0, options=start)
    action = np.array([0.7], dtype=np.float32)
    r1 = single.step(action)[1] + single.step(action)[1]
    _, r2, _, _, info = double.step(action)
    assert r2 == pytest.approx(r1)
    np.testing.assert_allclose(info["state"], single.state, atol=1e-6)
    assert double.data.time == pytest.approx(2 * single._dm.control_timestep())


def test_dmc_time_limit_truncates_and_then_requires_reset() -> None:
    env = DMCEnv("cartpole", "swingup", obs_type="state", render_mode=None, time_limit=0.05)  # 5 steps of 0.01 s
    env.reset(seed=0)
    flags = [env.step(np.zeros(1, np.float32))[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]
    with pytest.raises(RuntimeError, match=r"after the episode ended; call env.reset"):
        env.step(np.zeros(1, np.float32))
    env.reset()
    env.step(np.zeros(1, np.float32))


def test_seeding_is_deterministic(cartpole: DMCEnv) -> None:
    a, info_a = cartpole.reset(seed=5)
    b, info_b = cartpole.reset(seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(info_a["state"], info_b["state"])
    _, info_c = cartpole.reset(seed=6)
    assert not np.array_equal(info_a["state"], info_c["state"])


def test_state_observations_skip_rendering_until_asked() -> None:
    env = DMCEnv("cartpole", "swingup", image_size=32, obs_type="state")
    obs, info = env.reset(seed=0)
    assert env.observation_space.shape == (5,) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, info["observation"])
    assert env._renderer is None  # nothing rendered yet
    frame = env.render()
    assert frame.shape == (32, 32, 3) and frame.std() > 10
    env.close()


def test_fast_render_changes_only_the_look() -> None:
    fast = DMCEnv("cartpole", "swingup", image_size=32, fast_render=True)
    slow = DMCEnv("cartpole", "swingup", image_size=32)
    assert fast.model.vis.quality.offsamples == 0 and slow.model.vis.quality.offsamples > 0
    a, _ = fast.reset(seed=0)
    b, _ = slow.reset(seed=0)
    assert a.std() > 10 and b.std() > 10 and not np.array_equal(a, b)
    fast.close()
    slow.close()


def test_closing_one_env_leaves_the_others_frames_intact() -> None:
    """The renderer-lifetime bug (reference/envs.md §2): freeing a renderer in another's GL context garbles it."""
    first = DMCEnv("cartpole", "swingup", image_size=48)
    second = DMCEnv("cartpole", "swingup", image_size=48)
    start = {"state": [0.2, 1.0, 0.0, 0.0]}
    expected, _ = second.reset(seed=0, options=start)
    first.reset(seed=0)
    first.close()
    np.testing.assert_array_equal(second.render_state(second.data), expected)
    second.close()
    env = DMCEnv("cartpole", "swingup", image_size=48)  # made after the others were closed
    frame, _ = env.reset(seed=0, options=start)
    env.close()
    np.testing.assert_array_equal(frame, expected)
    renderer = dmc.FrameRenderer(env.model, 48, 0)
    renderer.close()
    renderer.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        renderer.render(env.data)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"domain": "cartpole", "task": "fly"}, ValueError, r"Unknown DeepMind Control task.*cartpole: .*swingup"),
        ({"domain": "cartpole", "task": "swingup", "image_size": 8}, ValueError, r"image_size must be an int >= 16"),
        ({"domain": "cartpole", "task": "swingup", "obs_type": "rgb"}, ValueError, r"obs_type must be 'pixels'"),
        ({"domain": "cartpole", "task": "swingup", "camera_id": 7}, ValueError, r"camera must be .* \[-1, 2\)"),
        ({"domain": "cartpole", "task": "swingup", "action_repeat": 0}, ValueError, r"action_repeat must be"),
    ],
)
def test_bad_constructor_arguments_say_what_to_pass(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DMCEnv(**kwargs)


def test_bad_reset_options_and_actions_raise(cartpole: DMCEnv) -> None:
    with pytest.raises(RuntimeError, match=r"before reset"):
        cartpole.step(np.zeros(1, np.float32))
    with pytest.raises(ValueError, match=r"options\['state'\] must be 4 finite numbers concat\(qpos \(2\), qvel"):
        cartpole.reset(options={"state": [0.0, 1.0]})
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['target'\]"):
        cartpole.reset(options={"target": [0.0, 1.0, 0.0, 0.0]})
    with pytest.raises(ValueError, match=r"options\['goal_state'\] must be 4 finite numbers"):
        cartpole.reset(options={"goal_state": [0.0, 1.0]})
    cartpole.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be 1 finite numbers"):
        cartpole.step(np.array([np.nan]))


def test_goal_interface_goal_image_and_qpos_match_rule(cartpole: DMCEnv) -> None:
    goal = np.array([0.5, 1.0, 0.0, 0.0], np.float32)
    obs, info = cartpole.reset(seed=0, options={"state": [0.0, np.pi, 0.0, 0.0], "goal_state": goal})
    np.testing.assert_array_equal(info["goal_state"], goal)
    at_goal, _ = cartpole.reset(seed=0, options={"state": [0.5, 1.0, 2.0, -2.0], "goal_state": goal})
    np.testing.assert_array_equal(info["goal"], at_goal)  # the goal image is the goal configuration's frame
    np.testing.assert_array_equal(cartpole.render_goal(), at_goal)
    assert not np.array_equal(obs, at_goal) and info["distance"] == pytest.approx(np.pi - 1.0, abs=1e-6)
    assert cartpole.is_success([0.54, 0.96, 9.0, 9.0], goal) and not cartpole.is_success([0.56, 1.0], goal)
    assert not cartpole.is_success([0.5 + 2 * np.pi, 1.0], [0.5, 1.0])  # raw values, as the paper's qpos_match


def test_reaching_the_goal_ends_the_episode_mid_repeat() -> None:
    env = DMCEnv("cartpole", "swingup", obs_type="state", render_mode=None, action_repeat=2)
    # The cart moves 0.02 m per 0.01 s control step: within 0.05 m of the goal after the first, not after both.
    start = {"state": [0.0, 0.0, 2.0, 0.0], "goal_state": [0.06, 0.0, 0.0, 0.0]}
    env.reset(seed=0, options=start)
    _, _, terminated, truncated, info = env.step(np.zeros(1, np.float32))
    assert terminated and not truncated and info["is_success"]
    assert env.data.time == pytest.approx(0.01)  # one control step, not two
    env.step(np.zeros(1, np.float32))  # the episode may go on: dm_control itself has not ended


def test_sampled_goals_are_seeded_at_rest_and_unsolved(cartpole: DMCEnv) -> None:
    goals = []
    for seed in range(6):
        _, info = cartpole.reset(seed=seed)
        _, again = cartpole.reset(seed=seed)
        np.testing.assert_array_equal(info["goal_state"], again["goal_state"])
        assert not info["is_success"] and info["distance"] >= 0.1
        np.testing.assert_array_equal(info["goal_state"][2:], 0.0)
        goals.append(info["goal_state"][:2])
    assert np.ptp(np.stack(goals), axis=0).min() > 0.5  # cart position and pole angle both vary


def test_reward_only_env_keeps_goal_images_but_never_succeeds() -> None:
    env = DMCEnv("cartpole", "swingup", image_size=32, success_threshold=None)
    _, info = env.reset(seed=0, options={"state": [0.0, 1.0, 0.0, 0.0], "goal_state": [0.0, 1.0, 0.0, 0.0]})
    assert info["is_success"] is False and info["goal"].shape == (32, 32, 3)
    assert not env.step(np.zeros(1, np.float32))[2]
    env.close()
    with pytest.raises(ValueError, match=r"success_threshold must be a positive tolerance .* or None"):
        DMCEnv("cartpole", "swingup", success_threshold=0.0)


def test_goal_conditioned_wrapper_and_the_evaluation_options_work() -> None:
    made = GoalConditioned(gym.make("lewm/DMC-v1", domain="cartpole", task="swingup", image_size=32))
    state = np.array([0.1, 3.0, 0.0, 0.0], np.float32)
    obs, info = made.reset(seed=0, options={"state": state, "goal_state": state + np.array([0.3, -0.5, 0, 0])})
    assert sorted(obs) == ["goal", "pixels"] and not np.array_equal(obs["goal"], obs["pixels"])
    np.testing.assert_array_equal(info["state"], state)
    made.close()


def test_legacy_kwargs_rebuild_v0() -> None:
    kwargs, what = LEGACY_VERSIONS[0]
    assert kwargs == {"fast_render": True, "success_threshold": None} and "goal" in what
    legacy = DMCEnv("cartpole", "swingup", image_size=32, **kwargs)
    assert legacy.model.vis.quality.offsamples == 0 and not legacy.is_success([0, 0], [0, 0])
    legacy.close()


# ---------------------------------------------------------------------- fidelity to dm_control
# Seeded starts (cheetah's settles for 200 physics steps) and fixed-action episodes must equal dm_control's own: same
# model, same MuJoCo, bit for bit here; 1e-9 leaves room for another CPU's last bits over these few smooth steps.
# Frames follow tests/envs/mujoco_fidelity.py.


@pytest.mark.parametrize(("domain", "task"), [("cartpole", "swingup"), ("cheetah", "run")])
def test_starts_steps_rewards_and_frames_are_dm_controls(domain: str, task: str) -> None:
    ref = load_fixture("dmc_reference.npz")
    prefix = f"{domain}_{task}"
    env = DMCEnv(domain, task, image_size=64)
    for seed in range(3):
        frame, _ = env.reset(seed=seed)
        start = np.concatenate([env.data.qpos, env.data.qvel])
        np.testing.assert_allclose(start, ref[f"{prefix}_starts"][seed], rtol=0, atol=1e-9)
        if "llvmpipe" in gl_renderer():  # see tests/envs/mujoco_fidelity.py
            assert differing_pixels(frame, ref[f"{prefix}_frames"][seed]) <= MAX_DIFFERING_PIXELS
        for t, action in enumerate(ref[f"{prefix}_actions"][seed]):
            _, reward, _, _, _ = env.step(action)
            state = np.concatenate([env.data.qpos, env.data.qvel])
            np.testing.assert_allclose(state, ref[f"{prefix}_states"][seed][t], rtol=0, atol=1e-9)
            assert reward == pytest.approx(ref[f"{prefix}_rewards"][seed][t], abs=1e-9)
    env.close()


def test_docstring_examples_run() -> None:
    result = doctest.testmod(dmc, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
