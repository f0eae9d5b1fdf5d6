"""RecordEpisodes: what gets written (and what must not), for image observations and for the render path."""

from __future__ import annotations

import pathlib
from typing import Any, ClassVar

import gymnasium
import numpy as np
import pytest

from lewm_agents.data.format import DatasetReader, EpisodeWriter
from lewm_agents.data.recorder import RecordEpisodes, resize_frame

VECTOR_ENV_ID = "LewmTestVector-v0"


class ImageEnv(gymnasium.Env):
    """16x16 image observations whose value is base + t; terminates after `length` steps unless told otherwise."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": [], "render_fps": 10}

    def __init__(self, length: int = 4, terminate: bool = True) -> None:
        self.observation_space = gymnasium.spaces.Box(0, 255, (16, 16, 3), np.uint8)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.length, self.terminate, self.steps_taken = length, terminate, 0

    def _obs(self) -> np.ndarray:
        return np.full((16, 16, 3), self.base + self.t, np.uint8)

    def _info(self) -> dict[str, Any]:
        return {"proprio": np.array([self.t, 2 * self.t]), "state": np.array([self.base, self.t, 0.0])}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.base = 0, int(self.np_random.integers(0, 100))
        return self._obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        self.steps_taken += 1
        return self._obs(), float(action[0]), self.terminate and self.t >= self.length, False, self._info()


class VectorEnv(gymnasium.Env):
    """A 3-D point observation with 40x48 (non-square) rendered frames that depend on the state."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gymnasium.spaces.Box(-0.5, 0.5, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.x = self.x + float(np.asarray(action).reshape(-1)[0])
        return self.x.copy(), -float(np.abs(self.x).sum()), False, False, {}

    def render(self) -> np.ndarray:
        color = np.clip(128 + 60 * self.x, 0, 255).astype(np.uint8)  # (3,)
        return np.broadcast_to(color, (40, 48, 3)).copy()


if VECTOR_ENV_ID not in gymnasium.registry:
    gymnasium.register(VECTOR_ENV_ID, entry_point=VectorEnv, max_episode_steps=6)


def run_episode(env: gymnasium.Env, seed: int, actions: list[np.ndarray]) -> None:
    env.reset(seed=seed)
    for action in actions:
        env.step(action)


def test_image_env_episodes_are_recorded_row_by_row(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "image.h5"
    rng = np.random.default_rng(0)
    terminated_actions = [rng.uniform(-1, 1, 2).astype(np.float32) for _ in range(4)]
    truncated_actions = [rng.uniform(-1, 1, 2).astype(np.float32) for _ in range(3)]
    env = RecordEpisodes(ImageEnv(length=4), path, policy="test", seed=3)
    run_episode(env, 0, terminated_actions)
    env.close()
    truncating = RecordEpisodes(gymnasium.wrappers.TimeLimit(ImageEnv(terminate=False), max_episode_steps=3), path)
    run_episode(truncating, 1, truncated_actions)
    assert truncating.num_episodes == 2 and truncating.episodes_recorded == 1
    truncating.close()

    with DatasetReader(path) as reader:
        assert (reader.env_id, reader.image_size, reader.action_dim, reader.policy) == ("unknown", 16, 2, "test")
        np.testing.assert_array_equal(reader.ep_len, [5, 4])
        np.testing.assert_array_equal(reader.column("step_idx"), [0, 1, 2, 3, 4, 0, 1, 2, 3])
        assert "observation" not in reader.columns  # the image observation is the frame
        first, second = reader.episode(0), reader.episode(1)
    assert (first.terminated, first.truncated, second.terminated, second.truncated) == (True, False, False, True)
    for episode, actions in ((first, terminated_actions), (second, truncated_actions)):
        np.testing.assert_array_equal(episode.action[:-1], np.stack(actions))
        assert np.isnan(episode.action[-1]).all() and np.isnan(episode.reward[-1])
        np.testing.assert_array_equal(episode.reward[:-1], [a[0] for a in actions])
        steps = np.arange(len(episode))
        np.testing.assert_array_equal(episode.pixels[:, 0, 0, 0] - episode.pixels[0, 0, 0, 0], steps)
        np.testing.assert_array_equal(episode.proprio, np.stack([steps, 2 * steps], axis=1))
        np.testing.assert_array_equal(episode.state[:, 1], steps)


def test_unfinished_episodes_are_not_written(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.h5"
    env = RecordEpisodes(ImageEnv(length=3), path)
    action = np.zeros(2, np.float32)
    run_episode(env, 0, [action, action])  # reset before the end: discarded
    run_episode(env, 1, [action] * 3)  # complete
    run_episode(env, 2, [action])  # closed before the end: discarded
    assert env.num_episodes == 1
    env.close()
    with DatasetReader(path) as reader:
        assert reader.num_episodes == 1 and reader.num_frames == 4


def test_nan_action_raises_before_stepping_and_discards_the_episode(tmp_path: pathlib.Path) -> None:
    inner = ImageEnv(length=2)
    env = RecordEpisodes(inner, tmp_path / "d.h5")
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([np.inf, 0.0], np.float32))
    assert inner.steps_taken == 1
    env.step(np.zeros(2, np.float32))  # the episode ends in the env, but it was discarded: nothing is written
    assert env.num_episodes == 0
    run_episode(env, 1, [np.zeros(2, np.float32)] * 2)
    assert env.num_episodes == 1
    env.close()


def test_render_path_resizes_frames_and_records_observations(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "vector.h5"
    env = RecordEpisodes(gymnasium.make(VECTOR_ENV_ID, render_mode="rgb_array"), path, image_size=16)
    obs, _ = env.reset(seed=0)
    observations, done = [obs], False
    while not done:
        obs, _, terminated, truncated, _ = env.step(np.array([0.1], np.float32))
        observations.append(obs)
        done = terminated or truncated
    env.close()
    with DatasetReader(path) as reader:
        assert (reader.env_id, reader.image_size, reader.action_dim) == (VECTOR_ENV_ID, 16, 1)
        episode = reader.episode(0)
    assert episode.truncated and len(episode) == 7
    np.testing.assert_array_equal(episode.observation, np.stack(observations))
    expected = np.clip(128 + 60 * np.stack(observations), 0, 255).astype(np.uint8)  # constant frames survive resizing
    np.testing.assert_array_equal(episode.pixels[:, 5, 7], expected)


def test_render_path_errors() -> None:
    with pytest.raises(ValueError, match='render_mode="rgb_array"'):
        RecordEpisodes(gymnasium.make(VECTOR_ENV_ID), "unused.h5")
    multi = gymnasium.make(VECTOR_ENV_ID, render_mode="rgb_array")
    multi.action_space = gymnasium.spaces.MultiDiscrete([2, 3])
    with pytest.raises(TypeError, match=r"Box .* and Discrete"):
        RecordEpisodes(multi, "unused.h5")
    assert not pathlib.Path("unused.h5").exists()


def test_discrete_actions_are_recorded_one_hot(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="CartPole-v1 renders with pygame (gymnasium[classic_control])")
    path = tmp_path / "cartpole.h5"
    env = RecordEpisodes(
        gymnasium.make("CartPole-v1", render_mode="rgb_array", max_episode_steps=4), path, image_size=16
    )
    run_episode(env, 0, [1, 0, 1, 1])
    with pytest.raises(ValueError, match="not an element of Discrete"):
        env.step(2)
    env.close()
    with DatasetReader(path) as reader:
        episode = reader.episode(0)
        assert reader.action_space == {"type": "Discrete", "n": 2, "start": 0}
    np.testing.assert_array_equal(episode.action[:-1], [[0, 1], [1, 0], [0, 1], [0, 1]])


def test_non_square_frames_need_image_size(tmp_path: pathlib.Path) -> None:
    env = RecordEpisodes(gymnasium.make(VECTOR_ENV_ID, render_mode="rgb_array"), tmp_path / "d.h5")
    with pytest.raises(ValueError, match="image_size=N"):
        env.reset(seed=0)
    env.close()


def test_recording_into_a_caller_owned_writer(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.h5"
    with EpisodeWriter(path, env_id="Image-v0", image_size=16, action_dim=2) as writer:
        env = RecordEpisodes(ImageEnv(length=2), writer)
        run_episode(env, 0, [np.zeros(2, np.float32)] * 2)
        env.close()  # must not close the caller's writer
        assert writer.num_episodes == 1
        run_episode(RecordEpisodes(ImageEnv(length=1), writer), 1, [np.zeros(2, np.float32)])
        assert writer.num_episodes == 2
    with EpisodeWriter(path, env_id="Image-v0", image_size=16, action_dim=2) as writer:
        with pytest.raises(ValueError, match="action_dim"):
            RecordEpisodes(gymnasium.make(VECTOR_ENV_ID, render_mode="rgb_array"), writer)


@pytest.mark.parametrize("size", [8, 16, 20])
def test_resize_frame_preserves_constants_and_averages_blocks(size: int) -> None:
    constant = np.full((12, 12, 3), 77, np.uint8)
    assert (resize_frame(constant, size) == 77).all()
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = resize_frame(frame, size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    if 32 % size == 0:
        k = 32 // size
        block_mean = frame.reshape(size, k, size, k, 3).astype(np.float64).mean(axis=(1, 3))
        assert np.abs(out - block_mean).max() <= 0.5 + 1e-4


def test_pendulum_render_path(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="Pendulum-v1 renders with pygame (gymnasium[classic_control])")
    path = tmp_path / "pendulum.h5"
    env = RecordEpisodes(
        gymnasium.make("Pendulum-v1", render_mode="rgb_array", max_episode_steps=5), path, image_size=32
    )
    run_episode(env, 0, [np.array([0.5], np.float32)] * 5)
    env.close()
    with DatasetReader(path) as reader:
        episode = reader.episode(0)
    assert episode.pixels.shape == (6, 32, 32, 3) and episode.observation.shape == (6, 3) and episode.truncated
    assert episode.pixels.std() > 0
