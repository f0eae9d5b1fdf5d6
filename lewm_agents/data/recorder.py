"""A Gymnasium wrapper that records every complete episode the wrapped env runs into a lewm dataset file.

Dimension letters: L rows of one episode (env steps + 1), H = W image side, A action dim, O flattened observation dim.

:class:`EpisodeBuffer` holds the rows of one episode and turns them into an :class:`Episode`; the wrapper below and
the vectorised collector (``collect.py``) both fill one per running episode.

Row t holds observation t and the action taken after it, so ``step`` fills in the previous row's action and appends a
new row; the final row keeps a NaN action. Only complete episodes (ended by ``terminated`` or ``truncated``) are
written: a ``reset`` or ``close`` mid-episode discards the unfinished one.
"""

from __future__ import annotations

import functools
import os
from typing import Any, SupportsFloat

import gymnasium
import numpy as np

from lewm_agents.data.actions import action_dim, describe_action_space, encode_action
from lewm_agents.data.format import Episode, EpisodeWriter


def is_image_space(space: gymnasium.Space) -> bool:
    """True for an RGB image Box: uint8, shape (H, W, 3)."""
    return (
        isinstance(space, gymnasium.spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] == 3
    )


@functools.lru_cache(maxsize=16)
def _resize_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights, both (n_out, K): area averaging when shrinking, bilinear when enlarging."""
    dense = np.zeros((n_out, n_in), np.float64)  # (n_out, n_in)
    scale = n_in / n_out
    if n_out <= n_in:
        # Output pixel i averages input interval [i*scale, (i+1)*scale), partial pixels weighted by their overlap.
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for j in range(int(lo), min(int(np.ceil(hi)), n_in)):
                dense[i, j] = min(hi, j + 1) - max(lo, j)
        dense /= dense.sum(axis=1, keepdims=True)
    else:
        centers = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0, n_in - 1)  # (n_out,) half-pixel convention
        left = np.floor(centers).astype(np.intp)
        right = np.minimum(left + 1, n_in - 1)
        np.add.at(dense, (np.arange(n_out), left), 1 - (centers - left))
        np.add.at(dense, (np.arange(n_out), right), centers - left)
    taps = [np.flatnonzero(row) for row in dense]
    width = max(len(t) for t in taps)
    index = np.zeros((n_out, width), np.intp)  # (n_out, K); padding taps point at pixel 0 with weight 0
    weight = np.zeros((n_out, width), np.float32)  # (n_out, K)
    for i, t in enumerate(taps):
        index[i, : len(t)], weight[i, : len(t)] = t, dense[i, t]
    return index, weight


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB frame to ``size`` x ``size`` (area average when shrinking, bilinear when enlarging).

    Gathers the few input pixels behind each output pixel instead of multiplying by a dense matrix: no BLAS, whose
    threads slow down 20x on a busy machine.

    Args:
        frame: (H, W, 3) uint8.
        size: Output side.

    Returns:
        (size, size, 3) uint8. The aspect ratio is not kept: non-square frames are stretched.
    """
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return frame
    row_index, row_weight = _resize_taps(h, size)  # (size, K)
    col_index, col_weight = _resize_taps(w, size)  # (size, K')
    x = frame.astype(np.float32)  # (H, W, 3)
    x = np.einsum("ok,okwc->owc", row_weight, x[row_index])  # (size, K, W, 3) -> (size, W, 3)
    x = np.einsum("pk,opkc->opc", col_weight, x[:, col_index])  # (size, size, K', 3) -> (size, size, 3)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


_INFO_COLUMNS = ("proprio", "state")


class EpisodeBuffer:
    """The rows of one episode being recorded; :meth:`finish` turns them into an :class:`Episode`.

    ``info["proprio"]`` and ``info["state"]``, when present in the first row's info, become columns and must then be
    present in every row.

    Args:
        frame: The first frame, (H, W, 3) uint8.
        action_dim: A, the width of the action column.
        observation: The first flattened observation (O,), or None when the env's observation is the frame.
        info: The reset info.

    Example:
        >>> buffer = EpisodeBuffer(np.zeros((8, 8, 3), np.uint8), action_dim=1)
        >>> buffer.add(np.array([0.5], np.float32), 1.0, np.ones((8, 8, 3), np.uint8))
        >>> episode = buffer.finish(terminated=True, truncated=False)
        >>> len(episode), episode.action[:, 0].tolist()
        (2, [0.5, nan])
    """

    def __init__(
        self,
        frame: np.ndarray,
        *,
        action_dim: int,
        observation: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        info = info or {}
        self.action_dim = int(action_dim)
        self._rows: dict[str, list[Any]] = {"pixels": [], "action": [], "reward": []}
        if observation is not None:
            self._rows["observation"] = []
        for key in _INFO_COLUMNS:
            if key in info:
                self._rows[key] = []
        self._append(frame, observation, info)

    def __len__(self) -> int:
        """Rows so far (env steps + 1)."""
        return len(self._rows["pixels"])

    def _append(self, frame: np.ndarray, observation: np.ndarray | None, info: dict[str, Any]) -> None:
        rows = self._rows
        rows["pixels"].append(frame)
        if "observation" in rows:
            if observation is None:
                raise ValueError("EpisodeBuffer started with an observation column; every row needs an observation.")
            rows["observation"].append(np.asarray(observation, np.float32).reshape(-1))  # (O,)
        for key in _INFO_COLUMNS:
            if key in rows:
                if key not in info:
                    raise ValueError(
                        f"info[{key!r}] was present at reset but is missing at step {len(rows['pixels']) - 1}; "
                        "an env must provide it on every step or never."
                    )
                rows[key].append(np.asarray(info[key], np.float32).reshape(-1))

    def add(
        self,
        action: np.ndarray,
        reward: float | None,
        frame: np.ndarray,
        observation: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        """Record a transition: the action (A,) taken after the last row, its reward, and the next row."""
        self._rows["action"].append(np.asarray(action, np.float32).reshape(self.action_dim))
        self._rows["reward"].append(np.nan if reward is None else float(reward))
        self._append(frame, observation, info or {})

    def finish(self, *, terminated: bool, truncated: bool) -> Episode:
        """The complete episode; the last row's action and reward are NaN."""
        rows, length = self._rows, len(self)
        action = np.full((length, self.action_dim), np.nan, np.float32)  # (L, A); last row stays NaN
        if length > 1:
            action[:-1] = np.stack(rows["action"])
        reward = np.full(length, np.nan, np.float32)  # (L,); last row stays NaN
        reward[:-1] = rows["reward"]
        columns = {key: np.stack(rows[key]) for key in ("observation", *_INFO_COLUMNS) if key in rows}
        return Episode(
            pixels=np.stack(rows["pixels"]),  # (L, H, W, 3)
            action=action,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            **columns,
        )


class RecordEpisodes(gymnasium.Wrapper):
    """Record every complete episode of the wrapped env into a lewm dataset (HDF5) file.

    Pixels are the observation itself when the observation space is a uint8 (H, W, 3) Box; otherwise they come from
    ``env.render()`` (the env needs ``render_mode="rgb_array"``) and the flattened observation goes to the
    ``observation`` column (for image observations, ``info["observation"]`` goes there when the env provides it).
    ``info["proprio"]`` and ``info["state"]``, when present at reset, are recorded as columns,
    and so is the reward. Box actions are stored as is, Discrete actions one-hot (``lewm_agents.data.actions``).

    Args:
        env: The env to record. Its action space must be a Box or Discrete.
        path_or_writer: A ``.h5`` path (a writer is created and closed with the wrapper; an existing file is
            appended to) or an open :class:`EpisodeWriter` (the caller closes it).
        policy: Name of the collection policy, stored as metadata when this wrapper creates the file.
        seed: Base seed, stored as metadata when this wrapper creates the file.
        image_size: Resize frames to this square side. None keeps the env's size, which must then be square.

    Example (Pendulum renders with pygame)::

        env = RecordEpisodes(gymnasium.make("Pendulum-v1", render_mode="rgb_array"), "pendulum.h5", image_size=64)
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        env.close()  # the episode (201 rows) is in pendulum.h5
    """

    def __init__(
        self,
        env: gymnasium.Env,
        path_or_writer: str | os.PathLike | EpisodeWriter,
        *,
        policy: str = "unknown",
        seed: int | None = None,
        image_size: int | None = None,
    ) -> None:
        super().__init__(env)
        try:
            self._action_dim = action_dim(env.action_space)
        except ValueError as exc:
            raise TypeError(f"RecordEpisodes: {exc}") from None
        self._pixels_from_obs = is_image_space(env.observation_space)
        if not self._pixels_from_obs and env.render_mode != "rgb_array":
            raise ValueError(
                f"RecordEpisodes needs frames: the observation space {env.observation_space} is not an RGB image Box, "
                f"so frames come from env.render(), but render_mode is {env.render_mode!r}. Create the env with "
                'gymnasium.make(env_id, render_mode="rgb_array").'
            )
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be >= 1 or None, got {image_size}.")
        self._image_size = image_size
        self._owns_writer = not isinstance(path_or_writer, EpisodeWriter)
        self._writer: EpisodeWriter | None = None
        self._path = None if isinstance(path_or_writer, EpisodeWriter) else path_or_writer
        self._metadata = {"policy": policy, "seed": seed}
        self._buffer: EpisodeBuffer | None = None  # the episode being recorded, None between episodes
        self.episodes_recorded = 0
        """Episodes this wrapper wrote (not counting those already in the file)."""
        if isinstance(path_or_writer, EpisodeWriter):
            self._attach(path_or_writer)
        elif self._known_size() is not None:
            # Create (or check) the file now, so an incompatible --out fails before any episode is run.
            self._attach(self._open_writer(self._known_size()))

    def _known_size(self) -> int | None:
        """The stored frame side if it is known before the first frame, else None."""
        if self._image_size is not None:
            return self._image_size
        if self._pixels_from_obs:
            h, w = self.env.observation_space.shape[:2]
            return int(h) if h == w else None
        return None

    def _open_writer(self, size: int) -> EpisodeWriter:
        spec = self.env.spec
        return EpisodeWriter(
            self._path,
            env_id=spec.id if spec is not None else "unknown",
            image_size=size,
            action_dim=self._action_dim,
            policy=self._metadata["policy"],
            seed=self._metadata["seed"],
            env_kwargs=dict(spec.kwargs) if spec is not None else {},
            action_space=describe_action_space(self.env.action_space),
        )

    def _attach(self, writer: EpisodeWriter) -> None:
        if writer.action_dim != self._action_dim:
            raise ValueError(
                f"The writer for {writer.path} holds action_dim={writer.action_dim}, the env's action space "
                f"{self.env.action_space} has {self._action_dim}. Use a writer (file) made for this env."
            )
        if self._image_size is not None and writer.image_size != self._image_size:
            raise ValueError(
                f"The writer for {writer.path} holds {writer.image_size}px frames, but image_size={self._image_size} "
                "was requested. Pass the writer's image_size or use another file."
            )
        self._writer = writer

    @property
    def writer(self) -> EpisodeWriter | None:
        """The writer episodes go to (None until the first frame when its size could not be known earlier)."""
        return self._writer

    @property
    def num_episodes(self) -> int:
        """Complete episodes in the file, including any that were there before this wrapper opened it."""
        return self._writer.num_episodes if self._writer is not None else 0

    def _frame(self, obs: Any) -> np.ndarray:
        """The (H', W', 3) uint8 frame for this step, resized to image_size when given."""
        frame = np.asarray(obs if self._pixels_from_obs else self.env.render())
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"Expected a uint8 RGB frame of shape (H, W, 3) from the env, got {frame.dtype} {frame.shape}."
            )
        if self._image_size is not None:
            frame = resize_frame(frame, self._image_size)  # (S, S, 3)
        elif frame.shape[0] != frame.shape[1]:
            raise ValueError(
                f"The env produces non-square {frame.shape[0]}x{frame.shape[1]} frames; pass "
                "RecordEpisodes(..., image_size=N) to resize them to N x N."
            )
        if self._writer is None:
            self._attach(self._open_writer(frame.shape[0]))
        return frame.astype(np.uint8, copy=True)  # copy: envs may reuse their frame buffer

    def _observation(self, obs: Any, info: dict[str, Any]) -> np.ndarray | None:
        """The flattened observation (O,); for image observations, ``info["observation"]`` if the env gives one."""
        if self._pixels_from_obs:
            return None if info.get("observation") is None else np.asarray(info["observation"], np.float32)
        return np.asarray(gymnasium.spaces.flatten(self.env.observation_space, obs), np.float32).reshape(-1)  # (O,)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env and start a new episode buffer; an unfinished previous episode is discarded."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._buffer = EpisodeBuffer(
            self._frame(obs), action_dim=self._action_dim, observation=self._observation(obs, info), info=info
        )
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env and record the transition; write the episode when it ends.

        Raises:
            ValueError: The action contains NaN or inf (checked before the env is stepped; the current episode is
                discarded), has the wrong size, or is not an element of a Discrete space.
        """
        row = encode_action(self.env.action_space, action)  # (A,)
        if not np.isfinite(row).all():
            self._buffer = None
            raise ValueError(
                f"Action {row.tolist()} contains NaN or inf; the env was not stepped and the current episode was "
                "discarded. Check the policy (e.g. a planner fed a NaN) and reset the env."
            )
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._buffer is not None:  # None: stepping after the episode ended without a reset; nothing to record
            self._buffer.add(row, reward, self._frame(obs), self._observation(obs, info), info)
            if terminated or truncated:
                buffer, self._buffer = self._buffer, None
                assert self._writer is not None
                self._writer.write_episode(buffer.finish(terminated=bool(terminated), truncated=bool(truncated)))
                self.episodes_recorded += 1
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Discard an unfinished episode, close the writer if this wrapper created it, and close the env."""
        self._buffer = None
        if self._owns_writer and self._writer is not None:
            self._writer.close()
        super().close()
