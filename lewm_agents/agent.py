"""Goal-reaching agents for any Gymnasium or SB3 loop: `MPCAgent` plans through a world model, `PolicyAgent` asks a
goal-conditioned policy; `load_agent` builds the right one from a checkpoint's method.

Both use only the interfaces of lewm_agents/protocols.py (`WorldModel`, `Policy`). Observations are frames, with the
goal given by ``set_goal``, or ``{"pixels": frame, "goal": goal_frame}`` dicts, as the
`lewm_agents.wrappers.GoalConditioned` wrapper makes them; batched (vector envs) or not.

Dimension letters: N environments, H horizon in action blocks, F action block width (frameskip * A), A env action
dim, D latent; frames are uint8 ``(height, width, 3)``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from lewm_agents.checkpoint import load_checkpoint
from lewm_agents.data import ActionStats
from lewm_agents.methods import get_method
from lewm_agents.planning import PlanConfig, clamped, normalized_bounds, plan, world_model_cost
from lewm_agents.protocols import Policy, WorldModel
from lewm_agents.runtime import Calibration, Precision, autocast, calibrate, resolve_device, resolve_precision

if TYPE_CHECKING:
    from lewm_agents.goal_policy import GoalPolicy


class _GoalAgent:
    """What both agents share: SB3's ``predict``, goals per env, queues of pending actions, timing.

    A subclass implements ``_decide``: the next action blocks of the envs that need a decision.
    """

    def __init__(
        self,
        model: WorldModel | Policy,
        *,
        action_space: gym.spaces.Box,
        action_stats: ActionStats,
        device: str | torch.device,
        precision: Precision,
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box) or action_space.shape != (model.action_dim,):
            raise ValueError(
                f"the model acts with {model.action_dim}-dimensional Box actions, but the env's action space is "
                f"{action_space}. Use a checkpoint trained on data from this env."
            )
        self.device = resolve_device(device)
        self.precision = precision
        self.amp = resolve_precision(precision, self.device)
        self.calibration: Calibration | None = None
        """What the ``precision="auto"`` measurement chose on a CPU (None until the first decision, or when fixed)."""
        self.model = model.to(self.device).eval()
        self.observes: str = getattr(model, "observes", "pixels")
        """What observations and goals are: "pixels" (frames) or "state" (the env's state vectors, for a state-input
        model, the ``encoder="state"`` diagnostic)."""
        self._obs_ndim = 1 if self.observes == "state" else 3  # one observation: (S,) or (h, w, 3)
        self.action_space = action_space
        self.stats = action_stats
        self._low = np.asarray(action_space.low, dtype=np.float32)
        self._high = np.asarray(action_space.high, dtype=np.float32)
        self._queues: list[deque[np.ndarray]] = []
        self._last_goals: list[np.ndarray | None] = []  # per env, the goal frame of its current plan (dict inputs)
        self._goal_shared: torch.Tensor | None = None  # (D,) goal latent of every env, from set_goal(frame)
        self._goal_per_env: torch.Tensor | None = None  # (N, D), from set_goal(frames)
        self.plan_times_ms: list[float] = []
        """Wall time of every decision call (all envs decided together count as one call), encoding included."""
        self.plan_batch_sizes: list[int] = []
        """Envs decided in each call."""
        self.plan_iterations: list[int] = []
        """Solver iterations of each call (fewer than configured when the time budget cut it; 1 for a policy)."""
        self.plan_budget_hits: list[bool] = []
        """Whether the time budget cut each call short."""

    # ---------------------------------------------------------------- state per environment
    def _ensure(self, n: int) -> None:
        while len(self._queues) < n:
            self._queues.append(deque())
            self._last_goals.append(None)

    def reset(self, env_indices: Any = None) -> None:
        """Forget the pending actions (and warm starts) of these envs (all when None); goals are kept."""
        idx = range(len(self._queues)) if env_indices is None else env_indices
        for i in idx:
            if i < len(self._queues):
                self._queues[i].clear()
                self._forget(int(i))

    def _forget(self, i: int) -> None:
        """Drop what a subclass keeps per env beyond its queue (MPC: the warm start)."""

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """Frames ``(n, h, w, 3)`` uint8 -> latents ``(n, 1, D)`` on the agent's device, in fp32."""
        pixels = torch.as_tensor(np.ascontiguousarray(frames))[:, None]  # (n, 1, h, w, 3)
        with torch.no_grad(), autocast(self.device, self.amp):
            return self.model.encode(pixels).float()  # (n, 1, D)

    def check_frames(self, frames: Any, what: str = "observation") -> np.ndarray:
        """``frames`` as an array after checking it is one frame ``(h, w, 3)`` or a batch ``(N, h, w, 3)`` of this
        model's size, uint8 (or float in [0, 1], finite); otherwise a one-paragraph ValueError naming ``what``, what
        is wrong and the fix. Every call of ``predict`` / ``act`` / ``set_goal`` checks, planned actions queued or
        not."""
        if self.observes == "state":
            return self._check_states(frames, what)
        size = self.model.image_size
        want = f"uint8 RGB frames of shape ({size}, {size}, 3), or a batch ({size}, {size}, 3) per env"
        arr = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise ValueError(f"the {what} is not a numeric array (dtype {arr.dtype}); pass {want}.")
        if arr.ndim not in (3, 4) or arr.shape[-3:] != (size, size, 3) or (arr.ndim == 4 and len(arr) == 0):
            raise ValueError(
                f"the {what} has shape {arr.shape}, but this model takes {want}. Run the env at image_size={size} "
                f"(e.g. gym.make(id, image_size={size})) and pass its frame, not a state vector or another array."
            )
        if arr.dtype == np.uint8:
            return arr
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(
                f"the {what} has dtype {arr.dtype}, but frames are uint8 (0..255) or float in [0, 1]; convert it with "
                f"frame.astype(np.uint8)."
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"the {what} holds NaN or infinite values; pass {want} (float frames: finite, in [0, 1]).")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise ValueError(
                f"the {what} is a float array with values in [{arr.min():g}, {arr.max():g}], but float frames must lie "
                f"in [0, 1]; pass the uint8 frame (or divide by 255)."
            )
        return arr

    def _check_states(self, states: Any, what: str) -> np.ndarray:
        """For a state-input model (the ``encoder="state"`` diagnostic): one state ``(S,)`` or a batch ``(N, S)`` of
        finite numbers, as float32; otherwise a one-paragraph ValueError naming ``what``."""
        dim = self.model.cfg.state_dim
        arr = np.asarray(states)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"the {what} is not a numeric array (dtype {arr.dtype}); pass the env's info['state'].")
        if arr.ndim not in (1, 2) or arr.shape[-1] != dim or (arr.ndim == 2 and len(arr) == 0):
            raise ValueError(
                f"the {what} has shape {arr.shape}, but this state-input model takes env states of shape ({dim},) "
                f"(or ({dim},) per env): pass info['state'], not the frame."
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"the {what} holds NaN or infinite values; pass the env's info['state'].")
        return arr.astype(np.float32)

    def set_goal(self, goal: np.ndarray) -> None:
        """Goal frame ``(h, w, 3)`` for every env, or one per env ``(N, h, w, 3)``. Pending actions are dropped."""
        goal = self.check_frames(goal, "goal")
        if goal.ndim == self._obs_ndim:
            self._goal_shared, self._goal_per_env = self.encode(goal[None])[0, 0], None  # (D,)
        else:
            self._goal_shared, self._goal_per_env = None, self.encode(goal)[:, 0]  # (N, D)
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
        *,
        episode_end: np.ndarray | None = None,
    ) -> tuple[np.ndarray, Any]:
        """SB3 ``PolicyPredictor.predict``: actions ``(N, A)`` for a batch (``(A,)`` for one observation).

        ``state`` is passed through (the plan lives in the agent); ``deterministic`` is accepted for compatibility:
        the agent always acts with its own seeded generator. Every observation (and goal) is checked
        (`check_frames`), also while planned actions are queued.

        ``episode_end`` (N,) marks observations that are the last frame of their episode, as gymnasium's vector envs
        return them with ``autoreset_mode=NEXT_STEP`` (the default): pass ``terminated | truncated`` of the step that
        returned ``observation``. The vector env ignores the next action of those envs (it resets them), so the
        agent does not plan for them: it returns a placeholder action (the action space's point nearest 0) and drops
        their plans, and the reset's observation that follows starts a new plan. SB3's ``VecEnv`` resets in the same
        step and needs only ``episode_start``.
        """
        frames, goals = self._split(observation)
        batched = frames.ndim == self._obs_ndim + 1
        frames = frames if batched else frames[None]  # (N, h, w, 3), or (N, S) states
        n = len(frames)
        if goals is not None:
            goals = goals if goals.ndim == self._obs_ndim + 1 else goals[None]  # (N, h, w, 3), or (N, S)
            if len(goals) != n:
                raise ValueError(f"the observation holds {n} frames but {len(goals)} goal frames; pass one per env.")
        if self._goal_per_env is not None and goals is None and len(self._goal_per_env) != n:
            raise ValueError(
                f"set_goal got {len(self._goal_per_env)} goals but predict got {n} envs; call set_goal with one goal "
                f"frame per env (or one frame for all)."
            )
        start = self._mask(episode_start, n, "episode_start")
        end = self._mask(episode_end, n, "episode_end")
        self._ensure(n)
        self.reset(np.flatnonzero(start | end))
        if goals is not None:
            for i in range(n):  # a new goal image means a new task for that env: its old plan is void
                if self._last_goals[i] is None or not np.array_equal(self._last_goals[i], goals[i]):
                    self.reset([i])
                    self._last_goals[i] = goals[i].copy()
        need = [i for i in range(n) if not self._queues[i] and not end[i]]
        if need:
            self._refill(frames, goals, need)
        idle = np.clip(np.zeros_like(self._low), self._low, self._high)  # (A,) what an ending env gets
        actions = np.stack([idle if end[i] else self._queues[i].popleft() for i in range(n)])  # (N, A)
        return (actions if batched else actions[0]), state

    @staticmethod
    def _mask(mask: Any, n: int, name: str) -> np.ndarray:
        """A per-env boolean mask ``(n,)`` (all False when None), checked."""
        if mask is None:
            return np.zeros(n, dtype=bool)
        m = np.asarray(mask)
        if m.shape not in ((n,), ()) or not (m.dtype == np.bool_ or np.issubdtype(m.dtype, np.integer)):
            raise ValueError(
                f"{name} must be a boolean array of shape ({n},), one entry per env, got {m.dtype} {m.shape}."
            )
        return np.broadcast_to(m.astype(bool), (n,))

    def _split(self, observation: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(observation, dict):
            if "pixels" not in observation or "goal" not in observation:
                raise ValueError(f"dict observations need 'pixels' and 'goal' frames, got keys {sorted(observation)}.")
            frames = self.check_frames(observation["pixels"], "observation's 'pixels'")
            goals = self.check_frames(observation["goal"], "observation's 'goal'")
            if goals.ndim != frames.ndim:
                raise ValueError(
                    f"the observation's 'pixels' has shape {frames.shape} but its 'goal' {goals.shape}: pass one goal "
                    f"frame per frame (both batched or neither)."
                )
            return frames, goals
        if isinstance(observation, tuple):
            raise ValueError("predict() got a tuple: pass the observation, not the (obs, info) pair from reset().")
        return self.check_frames(observation), None

    def _goal_latents(self, goals: np.ndarray | None, need: list[int], n: int) -> torch.Tensor:
        """The goal latents ``(len(need), D)`` of the envs in ``need``."""
        if goals is not None:
            return self.encode(goals[need])[:, 0]  # (n, D)
        if self._goal_per_env is not None:
            if len(self._goal_per_env) != n:
                raise ValueError(f"set_goal got {len(self._goal_per_env)} goals but predict got {n} envs.")
            return self._goal_per_env[need]  # (n, D)
        if self._goal_shared is not None:
            return self._goal_shared.expand(len(need), -1)  # (n, D)
        raise RuntimeError(
            "no goal: call agent.set_goal(goal_frame) first, or pass dict observations with 'pixels' and 'goal' frames."
        )

    def _refill(self, frames: np.ndarray, goals: np.ndarray | None, need: list[int]) -> None:
        """Decide for the envs in ``need`` (one batched call, timed) and queue their env actions."""
        goal_z = self._goal_latents(goals, need, len(frames))  # (n, D)
        self._calibrate(len(need))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        z = self.encode(frames[need])  # (n, 1, D): the current frames, encoded once per decision
        blocks, iterations, hit = self._decide(z, goal_z, need)  # (n, r, F)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.plan_times_ms.append(1000 * (time.perf_counter() - t0))
        self.plan_batch_sizes.append(len(need))
        self.plan_iterations.append(iterations)
        self.plan_budget_hits.append(hit)
        fs, A = self.model.frameskip, self.model.action_dim
        steps = blocks.float().reshape(len(need), -1, fs, A).flatten(1, 2).cpu().numpy()  # (n, r*fs, A)
        steps = np.clip(self.stats.denormalize(steps), self._low, self._high).astype(np.float32)
        for j, i in enumerate(need):
            self._queues[i].extend(steps[j])

    def _decide(self, z: torch.Tensor, z_goal: torch.Tensor, need: list[int]) -> tuple[torch.Tensor, int, bool]:
        """Action blocks to execute ``(n, r, F)`` (z-scored) for current latents ``(n, 1, D)`` and goals ``(n, D)``;
        also the solver iterations and whether a time budget cut them."""
        raise NotImplementedError

    def _calibrate(self, n: int) -> None:
        """Before a decision for ``n`` envs (untimed): settle ``precision="auto"`` by measurement where needed."""

    @property
    def precision_used(self) -> str:
        """The precision decisions run in: 'bf16' or 'fp32' (after calibration, for ``auto`` on a CPU)."""
        return "bf16" if self.amp is not None else "fp32"


class MPCAgent(_GoalAgent):
    """Receding-horizon MPC through any `lewm_agents.protocols.WorldModel`: encode the current frame and the goal,
    search action blocks that minimise the model's ``goal_cost`` of its rollout, execute ``receding_horizon`` blocks
    (``frameskip`` env actions each), replan.

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
        model: WorldModel,
        *,
        action_space: gym.spaces.Box,
        action_stats: ActionStats,
        config: PlanConfig | None = None,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
        goal_policy: GoalPolicy | None = None,
    ) -> None:
        super().__init__(
            model, action_space=action_space, action_stats=action_stats, device=device, precision=precision
        )
        self.config = config or PlanConfig()
        if self.config.policy != "off" and goal_policy is None:
            raise ValueError(
                f"PlanConfig(policy={self.config.policy!r}) needs a goal policy: train one beside the checkpoint with "
                f"`lewm train-policy RUN` and build the agent with from_checkpoint / load_agent (they load it), or "
                f"pass goal_policy=load_goal_policy(RUN); or plan with policy='off'."
            )
        self.goal_policy = None if goal_policy is None else goal_policy.to(self.device).eval()
        self._rollout: Any = None  # None: the model's own rollout
        if self.config.compile:
            mode = "reduce-overhead" if self.device.type == "cuda" else "default"
            self._rollout = torch.compile(self.model.rollout, mode=mode, dynamic=False)
        self._gen = torch.Generator(device=self.device).manual_seed(self.config.seed)
        lo, hi = normalized_bounds(
            *(
                torch.as_tensor(b, dtype=torch.float32)
                for b in (self._low, self._high, action_stats.mean, action_stats.std)
            ),
            frameskip=model.frameskip,
        )
        self._bounds = lo.to(self.device), hi.to(self.device)  # (F,) each: the action space in planner units
        self._tails: list[torch.Tensor | None] = []

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
        """Build an agent from a checkpoint of a world-model method (a run directory or a checkpoints/step_*
        directory)."""
        ckpt = load_checkpoint(path, device=resolve_device(device))
        _check_acts(ckpt.method, "plan", path)
        return cls(
            ckpt.model,
            action_space=action_space,
            action_stats=ckpt.action_stats,
            config=config,
            device=device,
            precision=precision,
            goal_policy=_goal_policy_for(path, config, device),
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

    def _ensure(self, n: int) -> None:
        super()._ensure(n)
        while len(self._tails) < n:
            self._tails.append(None)

    def _forget(self, i: int) -> None:
        if i < len(self._tails):
            self._tails[i] = None

    def cost(self, z: torch.Tensor, z_goal: torch.Tensor, *, clamp: bool | None = None) -> Any:
        """The planner's cost ``(n, S, H, F) -> (n, S)`` from current latents ``(n, T0, D)`` toward goals ``(n, D)``:
        the world model's ``goal_cost`` of its rollout, scoring the candidates clamped to the action space when
        ``clamp`` (default: ``config.clamp_actions``)."""
        cost = world_model_cost(self.model, z, z_goal, rollout=self._rollout, chunk_rows=self.config.chunk_rows)
        return clamped(cost, *self._bounds) if (self.config.clamp_actions if clamp is None else clamp) else cost

    def _calibrate(self, n: int) -> None:
        if self.precision != "auto" or self.device.type != "cpu" or self.config.policy == "only":
            return
        cfg, F, D = self.config, self.model.frameskip * self.model.action_dim, self.model.latent_dim
        z, goal = torch.zeros(n, 1, D, device=self.device), torch.zeros(n, D, device=self.device)
        actions = torch.randn(n, cfg.num_samples, cfg.horizon, F, generator=torch.Generator().manual_seed(0))
        cost = self.cost(z, goal)
        size = sum(p.numel() for p in self.model.parameters())
        self.calibration = calibrate(
            lambda: cost(actions), self.device, ("plan", type(self.model).__name__, size, D, tuple(actions.shape))
        )
        self.amp = self.calibration.dtype

    def _decide(self, z: torch.Tensor, z_goal: torch.Tensor, need: list[int]) -> tuple[torch.Tensor, int, bool]:
        cfg = self.config
        F = self.model.frameskip * self.model.action_dim
        mean = torch.zeros(len(need), cfg.horizon, F, device=self.device)  # (n, H, F)
        for j, i in enumerate(need):
            tail = self._tails[i]
            if cfg.warm_start and tail is not None and len(tail):
                mean[j, : len(tail)] = tail  # the unexecuted part of the last plan, shifted to the front
        extra = None
        if self.goal_policy is not None and cfg.policy != "off":
            with torch.no_grad():
                proposal = self.goal_policy.act(z[:, -1], z_goal).float()  # (n, H', F)
            if cfg.policy == "only":  # the fast mode: no search, one block per query
                return proposal[:, :1], 0, False
            seeded = torch.zeros_like(mean)  # (n, H, F): the proposal, zero-padded to the horizon
            k = min(cfg.horizon, proposal.shape[1])
            seeded[:, :k] = proposal[:, :k]
            mean, extra = seeded, mean[:, None]  # start from the proposal; the warm start still competes
        with torch.no_grad(), autocast(self.device, self.amp):  # the gradient solver turns autograd back on
            result = plan(self.cost(z, z_goal), mean, cfg, self._gen, extra=extra)
        blocks = result.actions.float()  # (n, H, F)
        r = cfg.executed_blocks
        for j, i in enumerate(need):
            self._tails[i] = blocks[j, r:].clone()  # (H - r, F)
        return blocks[:, :r], result.iterations, result.hit_budget


class PolicyAgent(_GoalAgent):
    """Acts with a goal-conditioned `lewm_agents.protocols.Policy` (GCBC, ...): encode the current frame and the
    goal, ask the policy for action blocks, execute ``execute_blocks`` of them (``frameskip`` env actions each), ask
    again. The same API as `MPCAgent` (``set_goal``, ``act``, SB3's ``predict``, dict observations, vector envs, the
    timing lists, with one "iteration" per call).

    Example:
        >>> agent = PolicyAgent.from_checkpoint("runs/gcbc", action_space=env.action_space)  # doctest: +SKIP
    """

    def __init__(
        self,
        policy: Policy,
        *,
        action_space: gym.spaces.Box,
        action_stats: ActionStats,
        execute_blocks: int = 1,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
    ) -> None:
        super().__init__(
            policy, action_space=action_space, action_stats=action_stats, device=device, precision=precision
        )
        if execute_blocks < 1:
            raise ValueError(f"execute_blocks must be >= 1, got {execute_blocks}.")
        self.execute_blocks = execute_blocks

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        *,
        action_space: gym.spaces.Box,
        execute_blocks: int = 1,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
    ) -> PolicyAgent:
        """Build an agent from a checkpoint of a policy method (a run directory or a checkpoints/step_* directory)."""
        ckpt = load_checkpoint(path, device=resolve_device(device))
        _check_acts(ckpt.method, "policy", path)
        return cls(
            ckpt.model,
            action_space=action_space,
            action_stats=ckpt.action_stats,
            execute_blocks=execute_blocks,
            device=device,
            precision=precision,
        )

    def _decide(self, z: torch.Tensor, z_goal: torch.Tensor, need: list[int]) -> tuple[torch.Tensor, int, bool]:
        with torch.no_grad(), autocast(self.device, self.amp):
            blocks = self.model.act(z[:, -1], z_goal).float()  # (n, H', F)
        return blocks[:, : self.execute_blocks], 1, False


def _check_acts(method: str, acts: str, path: Any) -> None:
    m = get_method(method)
    if m.acts != acts:
        kind = "a planner" if m.acts == "plan" else "no planner"
        raise ValueError(
            f"{path} holds a {m.label} checkpoint, which acts with {kind}: build its agent with "
            f"lewm_agents.agent.load_agent(path, action_space=...) (it picks MPCAgent or PolicyAgent by method)."
        )


def _goal_policy_for(path: Any, config: PlanConfig | None, device: Any) -> GoalPolicy | None:
    """The goal policy beside a checkpoint, when the plan config uses one."""
    if config is None or config.policy == "off":
        return None
    from lewm_agents.goal_policy import load_goal_policy

    return load_goal_policy(path, device=resolve_device(device))


def load_agent(
    path: str | os.PathLike,
    *,
    action_space: gym.spaces.Box,
    plan: PlanConfig | None = None,
    device: str | torch.device = "auto",
    precision: Precision = "auto",
) -> MPCAgent | PolicyAgent:
    """The agent of a checkpoint's method: an `MPCAgent` planning with ``plan`` for a world model, a `PolicyAgent` for
    a policy (``plan`` is then unused).

    Example:
        >>> agent = load_agent("results/tworoom/smoke/runs/gcbc", action_space=env.action_space)  # doctest: +SKIP
    """
    ckpt = load_checkpoint(path, device=resolve_device(device))
    common = dict(action_space=action_space, action_stats=ckpt.action_stats, device=device, precision=precision)
    if get_method(ckpt.method).acts == "plan":
        return MPCAgent(ckpt.model, config=plan, goal_policy=_goal_policy_for(path, plan, device), **common)
    return PolicyAgent(ckpt.model, **common)


__all__ = ["MPCAgent", "PolicyAgent", "load_agent"]
