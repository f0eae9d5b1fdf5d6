"""The collection loop behind ``lewm collect``: run a policy in an env and record complete episodes to HDF5.

Episode k (its global index in the file, counting episodes already there) is reset with ``seed + k`` and the policy
is reset with the same seed, so every episode is reproducible and appending to a file yields new episodes.
"""

from __future__ import annotations

import inspect
import pathlib
import time
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from tqdm.auto import tqdm

from lewm_agents.data.format import EpisodeWriter
from lewm_agents.data.policies import make_policy, resolve_policy_name
from lewm_agents.data.recorder import RecordEpisodes


@dataclass(frozen=True)
class CollectConfig:
    """Collect reward-free pixel episodes from a Gymnasium env into one HDF5 dataset file."""

    env: str
    """Gymnasium id (e.g. Pendulum-v1) or lewm alias (e.g. pusht)."""
    episodes: int = 100
    """Number of complete episodes to add to the file."""
    out: pathlib.Path = pathlib.Path("data/dataset.h5")
    """Dataset file; an existing file recorded from the same env and image size is appended to."""
    image_size: int = 64
    """Side of the square frames stored in the file."""
    policy: str = "default"
    """Collection policy: default (the env's own), random, or a scripted policy of the env."""
    seed: int = 0
    """Base seed: episode k of the file is reset with seed + k."""
    max_episode_steps: int | None = None
    """Cut episodes after this many steps; None keeps the env's registered limit."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16 (the encoder needs some pixels), got {self.image_size}.")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {self.max_episode_steps}.")


def resolve_env_id(name: str) -> str:
    """Map a lewm alias to its gymnasium id (importing lewm_envs registers its envs); other names pass through."""
    try:
        import lewm_envs
    except ImportError:
        return name
    resolve = getattr(lewm_envs, "resolve_env_id", None)
    return resolve(name) if resolve is not None else name


def _make_kwargs(env_id: str, cfg: CollectConfig) -> dict[str, Any]:
    """Keyword arguments for gymnasium.make: image_size for envs that take it, else rgb_array rendering."""
    try:
        spec = gymnasium.spec(env_id)
    except gymnasium.error.Error as exc:
        raise ValueError(
            f"Unknown env {env_id!r} ({exc}). Pass a registered gymnasium id (e.g. Pendulum-v1) or a lewm alias."
        ) from exc
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gymnasium.envs.registration.load_env_creator(creator)
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):  # builtins and some C callables have no signature: assume plain kwargs
        params = {}
    kwargs: dict[str, Any] = {}
    if "image_size" in params:
        kwargs["image_size"] = cfg.image_size
    if "rgb_array" in getattr(creator, "metadata", {}).get("render_modes", ()):
        kwargs["render_mode"] = "rgb_array"  # frames come from render() unless observations are images
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    elif spec.max_episode_steps is None:
        raise ValueError(
            f"{env_id} has no registered episode limit, so episodes might never end; set max_episode_steps "
            "(--max-episode-steps N)."
        )
    return kwargs


def collect(cfg: CollectConfig) -> dict[str, float]:
    """Run ``cfg.policy`` in ``cfg.env`` for ``cfg.episodes`` complete episodes and append them to ``cfg.out``.

    Args:
        cfg: The collection settings.

    Returns:
        ``episodes`` and ``frames`` written by this call, ``seconds`` it took, ``frames_per_s``, and
        ``total_episodes`` in the file afterwards.

    Raises:
        ValueError: Unknown env or policy, a non-Box action space, or no episode limit.
        DatasetError: ``cfg.out`` exists but holds another env, image size or action dim, or is unreadable.
    """
    env_id = resolve_env_id(cfg.env)
    kwargs = _make_kwargs(env_id, cfg)
    env = gymnasium.make(env_id, **kwargs)
    try:
        if not isinstance(env.action_space, gymnasium.spaces.Box):
            space = type(env.action_space).__name__
            raise ValueError(f"{env_id} has a {space} action space; lewm records Box action spaces only.")
        policy_name = resolve_policy_name(env_id, cfg.policy)
        action_dim = int(np.prod(env.action_space.shape, dtype=np.int64))
        meta = {"policy": policy_name, "seed": cfg.seed, "env_kwargs": kwargs}
        with EpisodeWriter(cfg.out, env_id=env_id, image_size=cfg.image_size, action_dim=action_dim, **meta) as writer:
            recorder = RecordEpisodes(env, writer, policy=policy_name, seed=cfg.seed, image_size=cfg.image_size)
            policy = make_policy(env_id, policy_name, action_space=env.action_space, seed=cfg.seed)
            return _run(cfg, recorder, policy, writer)
    finally:
        env.close()


def _run(cfg: CollectConfig, recorder: RecordEpisodes, policy: Any, writer: EpisodeWriter) -> dict[str, float]:
    """Drive the recorder for cfg.episodes complete episodes."""
    first, frames_before, start = writer.num_episodes, writer.num_frames, time.perf_counter()
    with tqdm(total=cfg.episodes, disable=not cfg.progress, unit="ep", dynamic_ncols=True, desc=cfg.env) as bar:
        for k in range(first, first + cfg.episodes):
            obs, info = recorder.reset(seed=cfg.seed + k)
            policy.reset(seed=cfg.seed + k)
            done = False
            while not done:  # the recorder writes the episode when it ends
                obs, _, terminated, truncated, info = recorder.step(policy(obs, info))
                done = terminated or truncated
            bar.update(1)
            bar.set_postfix(frames_per_s=f"{(writer.num_frames - frames_before) / (time.perf_counter() - start):.0f}")
    seconds = time.perf_counter() - start
    frames = writer.num_frames - frames_before
    return {
        "episodes": float(cfg.episodes),
        "frames": float(frames),
        "seconds": seconds,
        "frames_per_s": frames / max(seconds, 1e-9),
        "total_episodes": float(writer.num_episodes),
    }
