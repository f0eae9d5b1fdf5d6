"""The collection loop behind ``lewm collect``: N env processes step, one writer (this process) records episodes.

Dimension letters: N workers (sub-envs), A action dim, S image side.

Episode k (its global index in the file, counting episodes already there) is reset with ``seed + k`` and its
policy is reset with the same seed, so every episode is reproducible whatever the number of workers, and appending
to a file yields new episodes. Sub-envs run with ``autoreset_mode=DISABLED``: a finished sub-env is reset explicitly
(masked reset, with its next episode's seed), so no fake autoreset transition can enter the data. Episodes finish
out of order across workers; they are written in index order (a finished episode waits for the earlier ones).

Crash safety: every written episode is committed (see ``format.py``); a kill -9 loses only unfinished episodes (and
finished ones still waiting for an earlier one). On Linux the workers get ``PR_SET_PDEATHSIG`` (their parent, the fork
server, exits when the writer dies), so they die with the writer instead of outliving it; elsewhere they exit when
their pipe to the writer closes.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import pathlib
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import iterate
from tqdm.auto import tqdm

from lewm_agents.data.actions import action_dim, describe_action_space, encode_action
from lewm_agents.data.format import DatasetError, EpisodeWriter
from lewm_agents.data.policies import make_policy, resolve_policy_name
from lewm_agents.data.recorder import EpisodeBuffer, is_image_space
from lewm_agents.data.sources import (
    FRAME_KEY,
    EnvSource,
    RenderFrames,
    kwargs_conflicts,
    make_env,
    parse_env_kwargs,
    resolve_env_id,
    resolve_source,
)

__all__ = ["CollectConfig", "collect", "resolve_env_id"]

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class CollectConfig:
    """Collect reward-free pixel episodes from a Gymnasium env into one HDF5 dataset file."""

    env: str
    """Gymnasium id (e.g. Pusher-v5, CartPole-v1), lewm alias (e.g. tworoom) or DMC task (e.g. dmc:cheetah-run)."""
    episodes: int = 100
    """Number of complete episodes to add to the file."""
    out: pathlib.Path = pathlib.Path("data/dataset.h5")
    """Dataset file; an existing file recorded from the same env and image size is appended to."""
    image_size: int = 64
    """Side of the square frames stored in the file."""
    policy: str = "default"
    """Policy: default (the env's own), random, noise[:BETA] (1/f^beta noise), sb3:MODEL.zip, or a scripted one."""
    seed: int = 0
    """Base seed: episode k of the file is reset with seed + k."""
    max_episode_steps: int | None = None
    """Cut episodes after this many steps; None keeps the env's registered limit."""
    workers: int = 1
    """Env processes stepping in parallel (1: everything in this process)."""
    fast_render: bool = False
    """MuJoCo envs: no MSAA, shadows, reflections or skybox (10-30x faster software rendering, flatter light). Off by
    default: the frames then look like the paper's reference envs (issue 9). Recorded in the dataset."""
    env_kwargs: tuple[str, ...] = ()
    """The env's own options, recorded in the dataset (so evaluation rebuilds the same env): KEY=VALUE pairs (values
    read as JSON where they parse, e.g. success=coverage max_speed=4.0) or one JSON object."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16 (the encoder needs some pixels), got {self.image_size}.")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {self.max_episode_steps}.")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        if isinstance(self.env_kwargs, str):  # a Python caller's one JSON object or pair
            object.__setattr__(self, "env_kwargs", (self.env_kwargs,))
        parse_env_kwargs(self.env_kwargs)  # syntax errors now, before anything is opened

    def options(self) -> dict[str, Any]:
        """``env_kwargs`` as a dict (see `lewm_agents.data.sources.parse_env_kwargs`)."""
        return parse_env_kwargs(self.env_kwargs)


def _worker_env(source: EnvSource, image_size: int, fast_render: bool, writer_pid: int) -> RenderFrames:
    """Build one sub-env; inside a worker process, first tie the worker's life to the writer's."""
    if os.getpid() != writer_pid:
        # Ctrl-C reaches the whole process group: let the writer handle it and close the workers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if sys.platform.startswith("linux"):
            # The kernel kills this worker when the writer dies, even by SIGKILL (no atexit runs then).
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            try:
                os.kill(writer_pid, 0)
            except ProcessLookupError:  # the writer died before prctl took effect
                os._exit(1)
    return make_env(source, image_size=image_size, fast_render=fast_render)


def _vector_env(source: EnvSource, cfg: CollectConfig, probe: RenderFrames) -> gymnasium.vector.VectorEnv:
    """N=1: the probe env, in this process. N>1: N worker processes started by a fork server (or spawned).

    Never plain fork: a process that has rendered with MuJoCo (EGL or OSMesa), e.g. an earlier N=1 collection or an
    evaluation in the same Python session, crashes its forked children when they render. The fork server is a fresh
    interpreter that preloads this module, so starting workers stays cheap (about 0.3 s for two).
    """
    if cfg.workers == 1:
        return SyncVectorEnv([lambda: probe], autoreset_mode=AutoresetMode.DISABLED)
    make = functools.partial(_worker_env, source, cfg.image_size, cfg.fast_render, os.getpid())
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = "forkserver"
        # Takes effect when the (per-session) fork server starts; a running one keeps its preloads.
        multiprocessing.get_context(context).set_forkserver_preload([__name__])
    else:
        context = "spawn"
    return AsyncVectorEnv([make] * cfg.workers, context=context, autoreset_mode=AutoresetMode.DISABLED)


def collect(cfg: CollectConfig) -> dict[str, float]:
    """Run ``cfg.policy`` in ``cfg.env`` for ``cfg.episodes`` complete episodes and append them to ``cfg.out``.

    Args:
        cfg: The collection settings.

    Returns:
        ``episodes`` and ``frames`` written by this call, ``seconds`` it took, ``frames_per_s``, ``workers``, and
        ``total_episodes`` in the file afterwards.

    Raises:
        ValueError: Unknown env or policy, an action space other than Box or Discrete, no episode limit, or env
            options (``cfg.env_kwargs``) the env does not take (`EnvKwargsError`).
        DatasetError: ``cfg.out`` exists but holds another env (or env settings), image size or action space, or is
            unreadable.
    """
    source = resolve_source(
        cfg.env,
        image_size=cfg.image_size,
        max_episode_steps=cfg.max_episode_steps,
        fast_render=cfg.fast_render,
        env_kwargs=cfg.options(),
    )
    probe = make_env(source, image_size=cfg.image_size, fast_render=cfg.fast_render)  # spaces, before any worker
    envs: gymnasium.vector.VectorEnv | None = None
    writer: EpisodeWriter | None = None
    probe_open = True
    try:
        space = probe.action_space
        policy_name = resolve_policy_name(source.env_id, cfg.policy)
        # Gymnasium MuJoCo envs: the wrapper's flags, recorded here (lewm envs take fast_render as an env kwarg)
        fast = cfg.fast_render and getattr(probe.unwrapped, "mujoco_renderer", None) is not None
        collection = {"env": cfg.env, "policy": policy_name, "workers": cfg.workers, "fast_render": fast}
        writer = EpisodeWriter(
            cfg.out,
            env_id=source.env_id,
            image_size=cfg.image_size,
            action_dim=action_dim(space),
            policy=policy_name,
            seed=cfg.seed,
            env_kwargs=source.kwargs,
            action_space=describe_action_space(space),
            collection=collection,
        )
        _check_same_settings(writer, source, fast)
        observation_space, frame_is_obs = probe.observation_space, probe.frame_is_obs
        if cfg.workers > 1:  # the workers build their own envs
            probe.close()
        probe_open = False
        envs = _vector_env(source, cfg, probe)
        policies = [
            make_policy(
                source.env_id, policy_name, action_space=space, seed=cfg.seed, observation_space=observation_space
            )
            for _ in range(cfg.workers)
        ]
        loop = _Loop(
            cfg, envs, policies, writer, frame_is_obs=frame_is_obs, pixels_obs=is_image_space(observation_space)
        )
        return loop.run()
    except BaseException:
        if envs is not None:
            with warnings.catch_warnings():  # a step may be pending (e.g. Ctrl-C): terminating the workers is the point
                warnings.simplefilter("ignore")
                envs.close(terminate=True)
            envs = None
        raise
    finally:
        if envs is not None:
            envs.close()
        if probe_open:
            probe.close()
        if writer is not None:
            writer.close()


def _check_same_settings(writer: EpisodeWriter, source: EnvSource, fast_render: bool) -> None:
    """Refuse to append to a file recorded with other env settings (e.g. another DMC task under lewm/DMC-v1)."""
    conflicts = kwargs_conflicts(writer.file_env_kwargs, source.kwargs)
    if conflicts:
        detail = ", ".join(f"{k}: file {theirs!r}, this run {ours!r}" for k, (theirs, ours) in conflicts.items())
        raise DatasetError(
            f"Cannot append to {writer.path}: it was recorded with other settings of {source.env_id} ({detail}). A "
            "dataset holds one env configuration; write to a new --out path instead."
        )
    theirs = writer.file_collection.get("fast_render")
    if theirs is not None and bool(theirs) != fast_render:
        raise DatasetError(
            f"Cannot append to {writer.path}: its frames were rendered with fast_render={theirs}, this run has "
            f"fast_render={fast_render}, so frames would look different. Pass --{'' if theirs else 'no-'}fast-render "
            "or write to a new --out path."
        )


def _unbatch_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env i's info from a vector env's batched info dict (keys whose ``_key`` mask is False are left out)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        out[key] = _unbatch_info(value, i) if isinstance(value, dict) else value[i]
    return out


class _Loop:
    """State of one collection run: which episode each sub-env runs, its buffer, and finished episodes."""

    def __init__(
        self,
        cfg: CollectConfig,
        envs: gymnasium.vector.VectorEnv,
        policies: list[Any],
        writer: EpisodeWriter,
        *,
        frame_is_obs: bool,
        pixels_obs: bool,
    ) -> None:
        self.cfg, self.envs, self.policies, self.writer = cfg, envs, policies, writer
        self.space = envs.single_action_space
        self.frame_is_obs, self.pixels_obs = frame_is_obs, pixels_obs
        self.num = envs.num_envs
        self.first = writer.num_episodes
        self.end = self.first + cfg.episodes
        self.next_k = self.first  # the next episode index to hand out
        self.episode_of = [-1] * self.num  # episode index each sub-env runs; -1: a throwaway run after the last one
        self.buffers: list[EpisodeBuffer | None] = [None] * self.num
        self.obs: list[Any] = [None] * self.num
        self.info: list[dict[str, Any]] = [{} for _ in range(self.num)]
        self.finished: dict[int, Any] = {}  # episode index -> Episode, waiting for the earlier ones
        if isinstance(self.space, gymnasium.spaces.Discrete):
            self.idle_action: Any = int(self.space.start)
        else:
            self.idle_action = np.clip(np.zeros(self.space.shape), self.space.low, self.space.high).astype(
                self.space.dtype
            )

    def _row(self, obs: Any, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """A sub-env's frame (S, S, 3) and flattened observation (O,): the env's own, or info["observation"] when the
        observation is an image (None when there is neither)."""
        frame = np.asarray(obs) if self.frame_is_obs else info.pop(FRAME_KEY)
        if self.pixels_obs:  # pixel envs may expose their vector observation in info (e.g. lewm/DMC-v1)
            return frame, None if info.get("observation") is None else np.asarray(info["observation"], np.float32)
        flat = gymnasium.spaces.flatten(self.envs.single_observation_space, obs)
        return frame, np.asarray(flat, np.float32).reshape(-1)

    def _reset(self, mask: np.ndarray | None) -> None:
        """Reset the masked sub-envs (all when None), each into the next episode index if any is left."""
        todo = range(self.num) if mask is None else np.flatnonzero(mask).tolist()
        seeds: list[int | None] = [None] * self.num
        for i in todo:
            if self.next_k < self.end:
                self.episode_of[i], seeds[i] = self.next_k, self.cfg.seed + self.next_k
                self.next_k += 1
            else:
                self.episode_of[i] = -1
        options = None if mask is None else {"reset_mask": mask}
        obs, infos = self.envs.reset(seed=seeds, options=options)
        for i, obs_i in enumerate(iterate(self.envs.observation_space, obs)):
            if i not in todo:
                continue
            self.obs[i], self.info[i] = obs_i, _unbatch_info(infos, i)
            self.buffers[i] = None
            if self.episode_of[i] >= 0:
                frame, flat = self._row(obs_i, self.info[i])
                self.policies[i].reset(seed=seeds[i])
                self.buffers[i] = EpisodeBuffer(
                    frame, action_dim=self.writer.action_dim, observation=flat, info=self.info[i]
                )

    def _actions(self) -> tuple[Any, list[np.ndarray | None]]:
        actions, rows = [], []
        for i in range(self.num):
            if self.episode_of[i] < 0:
                actions.append(self.idle_action)
                rows.append(None)
                continue
            action = self.policies[i](self.obs[i], self.info[i])
            row = encode_action(self.space, action)  # (A,)
            if not np.isfinite(row).all():
                raise ValueError(
                    f"The {self.cfg.policy!r} policy returned the action {row.tolist()} with NaN or inf in episode "
                    f"{self.episode_of[i]}; nothing of that episode was written. Fix the policy."
                )
            actions.append(action)
            rows.append(row)
        if isinstance(self.space, gymnasium.spaces.Discrete):
            return np.asarray(actions, np.int64), rows  # (N,)
        return np.stack([np.asarray(a, self.space.dtype).reshape(self.space.shape) for a in actions]), rows

    def run(self) -> dict[str, float]:
        """Step until cfg.episodes new episodes are written; return the statistics."""
        writer, frames_before, start = self.writer, self.writer.num_frames, time.perf_counter()
        bar = tqdm(
            total=self.cfg.episodes, disable=not self.cfg.progress, unit="ep", dynamic_ncols=True, desc=self.cfg.env
        )
        stepped, last_postfix = 0, start
        with bar:
            self._reset(None)
            while writer.num_episodes < self.end:
                actions, rows = self._actions()
                obs, reward, terminated, truncated, infos = self.envs.step(actions)
                done = np.logical_or(terminated, truncated)  # (N,)
                for i, obs_i in enumerate(iterate(self.envs.observation_space, obs)):
                    self.obs[i], self.info[i] = obs_i, _unbatch_info(infos, i)
                    buffer = self.buffers[i]
                    if buffer is None:  # a throwaway run after the last episode was handed out
                        continue
                    stepped += 1
                    frame, flat = self._row(obs_i, self.info[i])
                    buffer.add(rows[i], float(reward[i]), frame, flat, self.info[i])
                    if done[i]:
                        episode = buffer.finish(terminated=bool(terminated[i]), truncated=bool(truncated[i]))
                        self.finished[self.episode_of[i]], self.buffers[i] = episode, None
                written = self._write_ready()
                if written or time.perf_counter() - last_postfix > 1.0:
                    bar.update(written)
                    last_postfix = time.perf_counter()
                    bar.set_postfix(frames_per_s=f"{stepped / max(last_postfix - start, 1e-9):.0f}")
                if done.any() and writer.num_episodes < self.end:
                    self._reset(done)
        seconds = time.perf_counter() - start
        frames = writer.num_frames - frames_before
        return {
            "episodes": float(self.cfg.episodes),
            "frames": float(frames),
            "seconds": seconds,
            "frames_per_s": frames / max(seconds, 1e-9),
            "workers": float(self.num),
            "total_episodes": float(writer.num_episodes),
        }

    def _write_ready(self) -> int:
        """Write the finished episodes that come next in index order; return how many were written."""
        written = 0
        while self.writer.num_episodes in self.finished:
            self.writer.write_episode(self.finished.pop(self.writer.num_episodes))
            written += 1
        return written
