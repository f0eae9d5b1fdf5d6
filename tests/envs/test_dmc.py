"""DMCEnv behaviour: Gymnasium compliance, frames, exact state resets, DMC rewards, renderer lifetime, noise policy.

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

from lewm_envs import dmc
from lewm_envs.dmc import DMCEnv


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
    fast = DMCEnv("cartpole", "swingup", image_size=32)
    slow = DMCEnv("cartpole", "swingup", image_size=32, fast_render=False)
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
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['goal_state'\]"):
        cartpole.reset(options={"goal_state": [0.0, 1.0, 0.0, 0.0]})
    cartpole.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be 1 finite numbers"):
        cartpole.step(np.array([np.nan]))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(dmc, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
