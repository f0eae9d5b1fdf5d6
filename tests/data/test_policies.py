"""Collection policies by name: coloured noise (lewm_envs.noise) and saved stable-baselines3 models."""

from __future__ import annotations

import pathlib

import gymnasium
import numpy as np
import pytest

from lewm_agents.data.collect import CollectConfig, collect
from lewm_agents.data.format import DatasetReader
from lewm_agents.data.policies import RandomPolicy, SB3Policy, make_policy
from lewm_envs.noise import ColoredNoisePolicy, powerlaw_noise


def lag1_autocorrelation(x: np.ndarray) -> float:
    x = x - x.mean()
    return float((x[1:] * x[:-1]).mean() / x.var())


@pytest.mark.parametrize(("beta", "low", "high"), [(0.0, -0.1, 0.1), (1.0, 0.3, 0.95), (2.0, 0.95, 1.0)])
def test_powerlaw_noise_is_unit_variance_and_correlated_by_beta(beta: float, low: float, high: float) -> None:
    x = powerlaw_noise(beta, (64, 1000), np.random.default_rng(0))  # (64 sequences, T)
    assert x.shape == (64, 1000)
    assert 0.8 < x.var(axis=1).mean() < 1.3  # unit variance about each sequence's mean
    rho = np.mean([lag1_autocorrelation(seq) for seq in x])
    assert low < rho < high, rho


def test_colored_noise_policy_stays_in_bounds_and_is_reproducible() -> None:
    space = gymnasium.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    for beta, min_rho, max_rho in ((2.0, 0.9, 1.0), (0.0, -0.15, 0.15)):
        policy = ColoredNoisePolicy(action_space=space, seed=0, beta=beta)
        policy.reset(seed=3)
        actions = np.stack([policy(None, {}) for _ in range(1500)])  # longer than one 1000-step sequence
        assert actions.dtype == np.float32 and all(space.contains(a) for a in actions)
        assert actions[:, 0].std() > 0.3 and abs(actions[:, 1].mean() - 0.5) < 0.2
        assert min_rho < lag1_autocorrelation(actions[:, 0]) < max_rho
        policy.reset(seed=3)
        np.testing.assert_array_equal(actions[:50], np.stack([policy(None, {}) for _ in range(50)]))
    with pytest.raises(ValueError, match="finite"):
        ColoredNoisePolicy(action_space=gymnasium.spaces.Box(-np.inf, np.inf, (2,)))
    with pytest.raises(ValueError, match="beta"):
        ColoredNoisePolicy(action_space=space, beta=-1.0)


def test_colored_noise_on_a_discrete_space_persists_with_beta() -> None:
    space = gymnasium.spaces.Discrete(3, start=1)
    switches = {}
    for beta in (0.0, 2.0):
        policy = ColoredNoisePolicy(action_space=space, seed=1, beta=beta)
        actions = np.array([policy(None, {}) for _ in range(600)])
        assert set(actions.tolist()) == {1, 2, 3}
        switches[beta] = np.mean(actions[1:] != actions[:-1])
    assert switches[2.0] < 0.2 < 0.5 < switches[0.0]


def test_make_policy_names() -> None:
    box = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert isinstance(make_policy("Pendulum-v1", "noise", action_space=box, seed=0), ColoredNoisePolicy)
    assert make_policy("Pendulum-v1", "noise:2", action_space=box).beta == 2.0
    assert isinstance(make_policy("CartPole-v1", "random", action_space=gymnasium.spaces.Discrete(2)), RandomPolicy)
    with pytest.raises(ValueError, match="noise:2"):
        make_policy("Pendulum-v1", "noise:red", action_space=box)
    with pytest.raises(ValueError, match=r"sb3:PATH\.zip"):
        make_policy("Pendulum-v1", "brownian", action_space=box)
    with pytest.raises(ValueError, match="does not exist"):
        make_policy("Pendulum-v1", "sb3:/no/such/model.zip", action_space=box)


@pytest.fixture(scope="module")
def sac_pendulum(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A SAC model trained for a few steps on Pendulum-v1 (its predictions are random-ish, which is enough here)."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import Logger

    path = tmp_path_factory.mktemp("sb3") / "sac_pendulum.zip"
    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=10, batch_size=8, buffer_size=100, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})  # fmt: skip
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3's default logger makes a folder in /tmp
    model.learn(total_timesteps=20)
    model.save(path)
    return path


def test_sb3_policy_round_trip(sac_pendulum: pathlib.Path, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="Pendulum-v1 renders with pygame (gymnasium[classic_control])")
    env = gymnasium.make("Pendulum-v1")
    policy = SB3Policy(sac_pendulum, action_space=env.action_space, seed=0)
    assert policy.algorithm == "SAC"  # found from the zip's metadata
    obs, info = env.reset(seed=0)
    policy.reset(seed=5)
    first = [policy(obs, info) for _ in range(3)]
    policy.reset(seed=5)
    np.testing.assert_array_equal(first, [policy(obs, info) for _ in range(3)])  # reproducible sampling
    assert all(env.action_space.contains(a) for a in first) and len({float(a[0]) for a in first}) == 3  # stochastic

    out = tmp_path / "sb3.h5"
    cfg = CollectConfig(env="Pendulum-v1", episodes=2, out=out, image_size=16, max_episode_steps=6,
                        policy=f"sb3:{sac_pendulum}", progress=False)  # fmt: skip
    collect(cfg)
    with DatasetReader(out) as reader:
        assert reader.num_episodes == 2 and reader.policy == f"sb3:{sac_pendulum}"
        action = reader.column("action")
    assert np.isfinite(action[~np.isnan(action).any(axis=1)]).all() and np.abs(np.nan_to_num(action)).max() <= 2.0

    # The model also drives an env whose observation does not fit, through info["state"].
    image_obs = {"state": np.zeros(3, np.float32)}
    assert policy(np.zeros((8, 8, 3), np.uint8), image_obs).shape == (1,)
    with pytest.raises(ValueError, match="expects observations"):
        policy(np.zeros(5, np.float32), {})
    with pytest.raises(ValueError, match="acts in"):
        SB3Policy(sac_pendulum, action_space=gymnasium.spaces.Box(-1.0, 1.0, (2,)))


def test_sb3_policy_refuses_a_file_that_is_not_a_model(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "model.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a stable-baselines3 model archive"):
        SB3Policy(bad, action_space=gymnasium.spaces.Box(-1.0, 1.0, (1,)))
