"""Collection with N worker processes: complete episodes, no autoreset transitions, the same data as N=1; any env."""

from __future__ import annotations

import pathlib
import sys
from typing import Any, ClassVar

import gymnasium
import numpy as np
import pytest

from lewm_agents.data.collect import CollectConfig, collect
from lewm_agents.data.format import DatasetError, DatasetReader
from lewm_agents.data.sources import resolve_source

COUNTER_ENV_ID = "LewmTestCounter-v0"


class CounterEnv(gymnasium.Env):
    """Observation (t, length, base): the step counter t is visible in the observation and in the rendered frame.

    Each episode terminates after a seeded random length of 2..8 steps, so sub-envs finish out of step with each
    other; the registered limit truncates at 6. Red = 10 t, green = base (per episode), blue = 7.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.observation_space = gymnasium.spaces.Box(0.0, 255.0, (3,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.length, self.base], np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.length = 0, int(self.np_random.integers(2, 9))
        self.base = int(self.np_random.integers(0, 200))
        return self._obs(), {"state": np.array([self.t], np.float32)}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        info = {"state": np.array([self.t], np.float32)}
        return self._obs(), float(np.asarray(action).reshape(-1)[0]), self.t >= self.length, False, info

    def render(self) -> np.ndarray:
        frame = np.zeros((20, 20, 3), np.uint8)
        frame[..., 0], frame[..., 1], frame[..., 2] = 10 * self.t, self.base, 7
        return frame


if COUNTER_ENV_ID not in gymnasium.registry:
    gymnasium.register(COUNTER_ENV_ID, entry_point=CounterEnv, max_episode_steps=6)


def counter_config(out: pathlib.Path, **overrides: Any) -> CollectConfig:
    return CollectConfig(
        **{"env": COUNTER_ENV_ID, "episodes": 9, "out": out, "image_size": 16, "progress": False, **overrides}
    )


def assert_no_fake_transitions(reader: DatasetReader) -> None:
    """Every row of every episode is the next step of the same episode: t = 0, 1, ..., L-1, one base per episode."""
    for k in range(reader.num_episodes):
        ep = reader.episode(k)
        steps = np.arange(len(ep))
        np.testing.assert_array_equal(ep.observation[:, 0], steps)  # an autoreset row would restart t at 0
        np.testing.assert_array_equal(ep.state[:, 0], steps)
        np.testing.assert_array_equal(ep.pixels[:, 3, 3, 0], 10 * steps)  # frames belong to the same rows
        assert (ep.observation[:, 2] == ep.observation[0, 2]).all() and (
            ep.pixels[:, 3, 3, 1] == ep.observation[0, 2]
        ).all()
        length = int(ep.observation[0, 1])
        assert len(ep) == min(length, 6) + 1
        assert ep.terminated == (length <= 6) and ep.truncated == (length >= 6)  # TimeLimit cuts at 6
        assert np.isnan(ep.action[-1]).all() and np.isfinite(ep.action[:-1]).all()


def test_two_workers_write_complete_reproducible_episodes_without_fake_transitions(tmp_path: pathlib.Path) -> None:
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    stats = collect(counter_config(two, workers=2))
    assert stats["episodes"] == 9 and stats["total_episodes"] == 9 and stats["workers"] == 2
    collect(counter_config(one, workers=1))
    with DatasetReader(one) as a, DatasetReader(two) as b:
        assert b.num_episodes == 9 and len(set(b.ep_len.tolist())) > 1  # lengths differ: workers finish out of step
        assert_no_fake_transitions(b)
        np.testing.assert_array_equal(a.ep_len, b.ep_len)
        for name in ("pixels", "action", "observation", "state", "reward", "terminated", "truncated"):
            np.testing.assert_array_equal(a.column(name), b.column(name), err_msg=name)
        assert b.collection["workers"] == 2 and b.action_space["type"] == "Box"


def test_more_workers_than_episodes_and_appending(tmp_path: pathlib.Path) -> None:
    out, reference = tmp_path / "d.h5", tmp_path / "ref.h5"
    collect(counter_config(out, episodes=1, workers=3))
    collect(counter_config(out, episodes=4, workers=2))  # appends episodes 1..4, seeded seed + k
    collect(counter_config(reference, episodes=5, workers=1))
    with DatasetReader(out) as a, DatasetReader(reference) as b:
        assert a.num_episodes == 5
        assert_no_fake_transitions(a)
        np.testing.assert_array_equal(a.column("observation"), b.column("observation"))


def test_policy_sees_its_own_sub_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy that echoes the step counter of its observation: each recorded action must match its own row."""
    out = tmp_path / "echo.h5"

    class Echo:
        def reset(self, seed: int | None = None) -> None:
            pass

        def __call__(self, obs: np.ndarray, info: dict) -> np.ndarray:
            assert info["state"][0] == obs[0]  # obs and info come from the same sub-env and step
            return np.array([obs[0] / 10 + obs[2] / 1000], np.float32)

    collect_module = sys.modules[collect.__module__]  # the module; `lewm_agents.data.collect` is also the function
    monkeypatch.setattr(collect_module, "make_policy", lambda *args, **kwargs: Echo())
    collect(counter_config(out, workers=2, episodes=6))
    with DatasetReader(out) as reader:
        for k in range(reader.num_episodes):
            ep = reader.episode(k)
            expected = ep.observation[:-1, 0] / 10 + ep.observation[:-1, 2] / 1000
            np.testing.assert_allclose(ep.action[:-1, 0], expected, rtol=1e-6)


def test_appending_other_env_settings_is_refused(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="CartPole-v1 renders with pygame (gymnasium[classic_control])")
    out = tmp_path / "cp.h5"
    collect(CollectConfig(env="CartPole-v1", episodes=1, out=out, image_size=16, max_episode_steps=3, progress=False))
    collect(CollectConfig(env="CartPole-v1", episodes=1, out=out, image_size=16, max_episode_steps=5, progress=False))
    with pytest.raises(DatasetError, match=r"env_id='CartPole-v1'.*env_id='Pendulum-v1'"):
        collect(CollectConfig(env="Pendulum-v1", episodes=1, out=out, image_size=16, progress=False))
    with DatasetReader(out) as reader:
        assert reader.num_episodes == 2


def test_discrete_actions_are_recorded_one_hot(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="CartPole-v1 renders with pygame (gymnasium[classic_control])")
    from lewm_agents.data.actions import action_space_from_description, decode_action

    out = tmp_path / "cartpole.h5"
    collect(CollectConfig(env="CartPole-v1", episodes=3, out=out, image_size=32, policy="random", progress=False))
    with DatasetReader(out) as reader:
        assert reader.action_dim == 2 and reader.action_space == {"type": "Discrete", "n": 2, "start": 0}
        action = reader.column("action")  # (N, 2)
        valid = action[~np.isnan(action).any(axis=1)]
        assert set(valid.sum(axis=1).tolist()) == {1.0} and set(np.unique(valid).tolist()) == {0.0, 1.0}
        assert 0 < valid[:, 0].mean() < 1  # both actions occur
        assert reader.column("observation").shape[1] == 4 and reader.frames(np.arange(3)).std() > 0
        space = action_space_from_description(reader.action_space)
    assert space == gymnasium.spaces.Discrete(2)
    assert [decode_action(space, row) for row in valid[:4]] == valid[:4].argmax(axis=1).tolist()


def test_pendulum_render_path_with_workers(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="Pendulum-v1 renders with pygame (gymnasium[classic_control])")
    out = tmp_path / "pendulum.h5"
    collect(CollectConfig(env="Pendulum-v1", episodes=2, out=out, image_size=32, max_episode_steps=8, workers=2,
                          policy="noise", progress=False))  # fmt: skip
    with DatasetReader(out) as reader:
        assert reader.ep_len.tolist() == [9, 9] and reader.column("observation").shape == (18, 3)
        frames = reader.frames(np.arange(18))
        assert frames.shape == (18, 32, 32, 3) and frames.std() > 0
        assert reader.env_kwargs["render_mode"] == "rgb_array" and reader.policy == "noise"


def test_gymnasium_mujoco_renders_at_the_image_size_with_fast_flags(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("mujoco", reason="Pusher-v5 needs mujoco")
    source = resolve_source("Pusher-v5", image_size=48)
    assert source.kwargs["width"] == source.kwargs["height"] == 48 and source.kwargs["render_mode"] == "rgb_array"
    out = tmp_path / "pusher.h5"
    collect(CollectConfig(env="Pusher-v5", episodes=2, out=out, image_size=48, max_episode_steps=5, workers=2,
                          fast_render=True, progress=False))  # fmt: skip
    with DatasetReader(out) as reader:
        frames = reader.frames(np.arange(reader.num_frames))
        assert reader.num_episodes == 2 and reader.column("observation").shape == (12, 23)
        assert frames.std() > 0 and len({f.tobytes() for f in frames}) > 2  # a live renderer, not constant frames
        assert reader.collection["fast_render"] is True
    with pytest.raises(DatasetError, match="fast_render"):
        collect(CollectConfig(env="Pusher-v5", episodes=1, out=out, image_size=48, max_episode_steps=5,
                              fast_render=False, progress=False))  # fmt: skip


def test_dmc_names_map_onto_the_lewm_dmc_env(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("dm_control", reason="pip install lewm-agents[dmc]")
    source = resolve_source("dmc:cartpole-swingup", image_size=32)
    assert source.env_id == "lewm/DMC-v1" and source.kwargs["domain"] == "cartpole"
    assert source.kwargs["task"] == "swingup" and source.kwargs["image_size"] == 32
    out = tmp_path / "dmc.h5"
    collect(CollectConfig(env="dmc:cartpole-swingup", episodes=1, out=out, image_size=32, max_episode_steps=5,
                          progress=False))  # fmt: skip
    with DatasetReader(out) as reader:
        assert reader.num_frames == 6 and reader.frames(np.arange(6)).std() > 0
        assert reader.columns >= {"observation", "state"}  # info["observation"] of the pixel env
    with pytest.raises(DatasetError, match="task"):  # same gymnasium id and action dim, another task: refused
        collect(CollectConfig(env="dmc:cartpole-balance", episodes=1, out=out, image_size=32, max_episode_steps=5,
                              progress=False))  # fmt: skip


def test_bad_dmc_names_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="dmc:DOMAIN-TASK"):
        resolve_source("dmc:cheetah", image_size=32)
