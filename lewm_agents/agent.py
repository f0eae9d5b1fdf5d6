"""MPCAgent: plans in LeWM's latent space toward a goal image and acts in any Gymnasium or SB3 loop.

Observations are frames, with the goal given by ``set_goal``, or ``{"pixels": frame, "goal": goal_frame}`` dicts, as
the `lewm_agents.wrappers.GoalConditioned` wrapper makes them; batched (vector envs) or not.

Dimension letters: N environments, H horizon in action blocks, F action block width (frameskip * A), A env action
dim, D latent; frames are uint8 ``(height, width, 3)``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from lewm_agents.checkpoint import load_checkpoint
from lewm_agents.data import ActionStats
from lewm_agents.model import LeWM
from lewm_agents.planning import PlanConfig, clamped, latent_goal_cost, normalized_bounds, plan
from lewm_agents.runtime import Precision, autocast, resolve_device, resolve_precision


class MPCAgent:
    """Receding-horizon MPC: encode the current frame and the goal, search action blocks whose predicted final latent
    lands on the goal latent, execute ``receding_horizon`` blocks (``frameskip`` env actions each), replan.

    ``predict`` follows stable-baselines3's ``PolicyPredictor`` (batch in, batch out, ``episode_start`` clears that
    env's plan), so the agent works in ``evaluate_policy`` and over vector envs; ``act`` is the one-env convenience.
    Observations are frames ``(h, w, 3)`` / ``(N, h, w, 3)`` with the goal set by ``set_goal``, or dicts with
    ``"pixels"`` and ``"goal"`` frames (plain or batched). With dicts, a new goal image for an env (a new episode)
    drops that env's plan, so gymnasium vector loops with autoreset need no ``episode_start``.

    All envs that need a plan are planned in one batched call (the model sees B = those envs). Every plan call is
    timed: ``plan_times_ms``, ``plan_batch_sizes``, ``plan_iterations`` and ``plan_budget_hits`` (see
    ``PlanConfig.time_budget_ms``) have one entry per call.

    Example:
        >>> import gymnasium as gym, lewm_envs  # doctest: +SKIP
        >>> from lewm_agents.wrappers import GoalConditioned  # doctest: +SKIP
        >>> env = GoalConditioned(gym.make("lewm/TwoRoom-v1", image_size=64))  # doctest: +SKIP
        >>> agent = MPCAgent.from_checkpoint("runs/tworoom", action_space=env.action_space)  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
        >>> obs, reward, terminated, truncated, info = env.step(agent.act(obs))  # doctest: +SKIP
    """

    def __init__(
        self,
        model: LeWM,
        *,
        action_space: gym.spaces.Box,
        action_stats: ActionStats,
        config: PlanConfig | None = None,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box) or action_space.shape != (model.cfg.action_dim,):
            raise ValueError(
                f"the model plans {model.cfg.action_dim}-dimensional Box actions, but the env's action space is "
                f"{action_space}. Use a checkpoint trained on data from this env."
            )
        self.config = config or PlanConfig()
        self.device = resolve_device(device)
        self.amp = resolve_precision(precision, self.device)
        self.model = model.to(self.device).eval()
        self._rollout: Any = self.model  # what the cost calls .rollout on
        if self.config.compile:
            mode = "reduce-overhead" if self.device.type == "cuda" else "default"
            self._rollout = _Rollout(torch.compile(self.model.rollout, mode=mode, dynamic=False))
        self.action_space = action_space
        self.stats = action_stats
        self._low = np.asarray(action_space.low, dtype=np.float32)
        self._high = np.asarray(action_space.high, dtype=np.float32)
        self._gen = torch.Generator(device=self.device).manual_seed(self.config.seed)
        lo, hi = normalized_bounds(
            *(
                torch.as_tensor(b, dtype=torch.float32)
                for b in (self._low, self._high, action_stats.mean, action_stats.std)
            ),
            frameskip=model.cfg.frameskip,
        )
        self._bounds = lo.to(self.device), hi.to(self.device)  # (F,) each: the action space in planner units
        self._queues: list[deque[np.ndarray]] = []
        self._tails: list[torch.Tensor | None] = []
        self._last_goals: list[np.ndarray | None] = []  # per env, the goal frame of its current plan (dict inputs)
        self._goal_shared: torch.Tensor | None = None  # (D,) goal latent of every env, from set_goal(frame)
        self._goal_per_env: torch.Tensor | None = None  # (N, D), from set_goal(frames)
        self.plan_times_ms: list[float] = []
        """Wall time of every planning call (all envs planned together count as one call)."""
        self.plan_batch_sizes: list[int] = []
        """Envs planned in each call."""
        self.plan_iterations: list[int] = []
        """Solver iterations of each call (fewer than configured when the time budget cut it)."""
        self.plan_budget_hits: list[bool] = []
        """Whether the time budget cut each call short."""

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        *,
        action_space: gym.spaces.Box,
        config: PlanConfig | None = None,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
    ) -> MPCAgent:
        """Build an agent from a checkpoint (a run directory or a checkpoints/step_* directory)."""
        ckpt = load_checkpoint(path, device=resolve_device(device))
        return cls(
            ckpt.model,
            action_space=action_space,
            action_stats=ckpt.action_stats,
            config=config,
            device=device,
            precision=precision,
        )

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        *,
        action_space: gym.spaces.Box | None = None,
        config: PlanConfig | None = None,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
    ) -> MPCAgent:
        """Build an agent from a checkpoint shipped with the package (``lewm_agents.pretrained``), e.g. "pusht".

        ``action_space`` defaults to the action space of the env the checkpoint was trained on (its card's env id).
        """
        from lewm_agents.pretrained import card, pretrained_path

        path = pretrained_path(name)
        if action_space is None:
            import lewm_envs  # noqa: F401  (registers the lewm/* envs)

            env = gym.make(card(name)["env_id"])
            action_space = env.action_space
            env.close()
        return cls.from_checkpoint(path, action_space=action_space, config=config, device=device, precision=precision)

    # ---------------------------------------------------------------- state per environment
    def _ensure(self, n: int) -> None:
        while len(self._queues) < n:
            self._queues.append(deque())
            self._tails.append(None)
            self._last_goals.append(None)

    def reset(self, env_indices: Any = None) -> None:
        """Forget the pending actions and warm starts of these envs (all when None); goals are kept."""
        idx = range(len(self._queues)) if env_indices is None else env_indices
        for i in idx:
            if i < len(self._queues):
                self._queues[i].clear()
                self._tails[i] = None

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        pixels = torch.as_tensor(np.ascontiguousarray(frames))[:, None]  # (n, 1, h, w, 3)
        with torch.no_grad(), autocast(self.device, self.amp):
            return self.model.encode(pixels).float()  # (n, 1, D)

    def set_goal(self, goal: np.ndarray) -> None:
        """Goal frame ``(h, w, 3)`` for every env, or one per env ``(N, h, w, 3)``. Pending plans are dropped."""
        goal = np.asarray(goal)
        if goal.ndim == 3:
            self._goal_shared, self._goal_per_env = self._encode(goal[None])[0, 0], None  # (D,)
        else:
            self._goal_shared, self._goal_per_env = None, self._encode(goal)[:, 0]  # (N, D)
        self.reset()

    # ---------------------------------------------------------------- acting
    def act(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """The next env action ``(A,)`` for one env's observation."""
        return self.predict(obs)[0]

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3 ``PolicyPredictor.predict``: actions ``(N, A)`` for a batch (``(A,)`` for one observation).

        ``state`` is passed through (the plan lives in the agent); ``deterministic`` is accepted for compatibility:
        planning always uses the agent's seeded generator.
        """
        frames, goals = self._split(observation)
        batched = frames.ndim == 4
        frames = frames if batched else frames[None]  # (N, h, w, 3)
        n = len(frames)
        self._ensure(n)
        if episode_start is not None:
            self.reset(np.flatnonzero(np.asarray(episode_start, dtype=bool)))
        if goals is not None:
            goals = goals if goals.ndim == 4 else goals[None]  # (N, h, w, 3)
            for i in range(n):  # a new goal image means a new task for that env: its old plan is void
                if self._last_goals[i] is None or not np.array_equal(self._last_goals[i], goals[i]):
                    self.reset([i])
                    self._last_goals[i] = goals[i].copy()
        need = [i for i in range(n) if not self._queues[i]]
        if need:
            self._plan(frames, goals, need)
        actions = np.stack([self._queues[i].popleft() for i in range(n)])  # (N, A)
        return (actions if batched else actions[0]), state

    def _split(self, observation: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(observation, dict):
            if "pixels" not in observation or "goal" not in observation:
                raise ValueError(f"dict observations need 'pixels' and 'goal' frames, got keys {sorted(observation)}.")
            return np.asarray(observation["pixels"]), np.asarray(observation["goal"])
        if isinstance(observation, tuple):
            raise ValueError("predict() got a tuple: pass the observation, not the (obs, info) pair from reset().")
        return np.asarray(observation), None

    def _plan(self, frames: np.ndarray, goals: np.ndarray | None, need: list[int]) -> None:
        cfg, mcfg = self.config, self.model.cfg
        if goals is not None:
            goal_z = self._encode(goals[need])[:, 0]  # (n, D)
        elif self._goal_per_env is not None:
            if len(self._goal_per_env) != len(frames):
                raise ValueError(f"set_goal got {len(self._goal_per_env)} goals but predict got {len(frames)} envs.")
            goal_z = self._goal_per_env[need]  # (n, D)
        elif self._goal_shared is not None:
            goal_z = self._goal_shared.expand(len(need), -1)  # (n, D)
        else:
            raise RuntimeError(
                "no goal: call agent.set_goal(goal_frame) first, or pass dict observations with "
                "'pixels' and 'goal' frames."
            )
        F = mcfg.action_block_dim
        mean = torch.zeros(len(need), cfg.horizon, F, device=self.device)  # (n, H, F)
        for j, i in enumerate(need):
            tail = self._tails[i]
            if cfg.warm_start and tail is not None and len(tail):
                mean[j, : len(tail)] = tail  # the unexecuted part of the last plan, shifted to the front
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        z = self._encode(frames[need])  # (n, 1, D): the current frames, encoded once per plan
        cost = latent_goal_cost(self._rollout, z, goal_z)
        if cfg.clamp_actions:
            cost = clamped(cost, *self._bounds)
        with torch.no_grad(), autocast(self.device, self.amp):  # the gradient solver turns autograd back on
            result = plan(cost, mean, cfg, self._gen)
        blocks = result.actions.float()  # (n, H, F)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.plan_times_ms.append(1000 * (time.perf_counter() - t0))
        self.plan_batch_sizes.append(len(need))
        self.plan_iterations.append(result.iterations)
        self.plan_budget_hits.append(result.hit_budget)
        r = cfg.executed_blocks
        steps = blocks[:, :r].reshape(len(need), r * mcfg.frameskip, mcfg.action_dim).cpu().numpy()  # (n, r*fs, A)
        steps = np.clip(self.stats.denormalize(steps), self._low, self._high).astype(np.float32)
        for j, i in enumerate(need):
            self._queues[i].extend(steps[j])
            self._tails[i] = blocks[j, r:].clone()  # (H - r, F)


class _Rollout:
    """Gives a (compiled) rollout function the ``rollout`` attribute `latent_goal_cost` calls."""

    def __init__(self, fn: Any) -> None:
        self.rollout = fn
