"""DMC: any DeepMind Control Suite task as a goal-conditioned Gymnasium env with pixel observations.

Shapes (S image side, A action dim, Q = nq + nv physics state size, O flattened DMC observation size):
    * observation: uint8 (S, S, 3) frames (``obs_type="pixels"``) or the float32 (O,) DMC observation
      (``obs_type="state"``, no rendering per step). ``render()`` always returns the current frame, uint8 (S, S, 3).
    * ``info["state"]`` (= ``info["proprio"]``): float32 (Q,), the physics state ``concat(qpos, qvel)``;
      ``reset(options={"state": ...})`` puts the physics back exactly there. Task randomness kept in the model (e.g.
      reacher's target position) and actuator activations are not part of it.
    * ``info["goal_state"]``: float32 (Q,) in the state layout; ``info["goal"]``: the goal image, uint8 (S, S, 3).
    * ``info["observation"]``: float32 (O,), the DMC observation dict flattened in its own key order.
    * action: float32 (A,), clipped to the task's action spec bounds (MuJoCo clamps limited controls the same way).

Goals. World-model agents plan towards a goal image, and the evaluation (reference/lewm.md §5.3) resets the env to a
dataset start and hands it the dataset row 25 steps later as the goal: so every task gets the suite's goal interface.
``reset(options={"goal_state": g})`` sets the goal configuration; without it the goal is a random configuration at rest
(``_sample_goal``, drawn from ``np_random``). The goal image is the goal state rendered.
The success rule is the paper's ``qpos_match`` (its DMC task, Reacher): every coordinate of qpos within
``success_threshold`` (0.05 rad or m) of the goal's, raw (unwrapped); it is checked after every physics control step
and ends the episode there (``terminated``), within an action repeat too, as stable-worldmodel's qpos_match task does.
``success_threshold=None`` makes the env reward-only: the goal interface stays (goal images for planning), nothing
counts as success and only DMC's own end terminates an episode. Rewards are always DMC's, summed over the control
steps of the repeat.

Seeding follows stable-worldmodel's DMControl wrapper: ``reset(seed=s)`` gives the task the generator
``RandomState(s)``, so the start is DMC's own start for seed s; an unseeded reset continues that generator.

Rendering is MuJoCo's default look through one owned :class:`~lewm_envs.mujoco_render.FrameRenderer`;
``fast_render=True`` trades it for speed (see that module).
"""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.mujoco_render import FrameRenderer, check_image_size
from lewm_envs.options import float_vector, physics_state, reset_options

__all__ = ["LEGACY_VERSIONS", "QPOS_MATCH_THRESHOLD", "DMCEnv", "FrameRenderer", "check_image_size"]

_DMC_EXTRA = "pip install 'lewm-agents[dmc]'"
# RandomState accepts seeds below 2**32; larger Gymnasium seeds and goal generators draw one from np_random.
_SEED_BOUND = 2**32 - 1

QPOS_MATCH_THRESHOLD: float = 0.05
"""The paper's ``qpos_match`` tolerance: every qpos coordinate within this of the goal's (rad, or m for slides)."""
LEGACY_VERSIONS: dict[int, tuple[dict[str, Any] | None, str]] = {
    0: (
        {"fast_render": True, "success_threshold": None},
        "lewm/DMC-v0 rendered with fast_render=True (no multisampling, shadows, reflections or skybox) and was not "
        "goal-conditioned (no goal_state option, goal image or success rule; success_threshold=None restores the "
        "last); its seeded random starts were drawn from another generator",
    )
}
"""Old versions of ``lewm/DMC``: version -> (v1 kwargs that reproduce it, what differs)."""


def flatten_observation(observation: Any) -> np.ndarray:
    """Concatenates a DMC observation dict (or array) into float32 (O,) in the dict's own key order."""
    if isinstance(observation, dict):
        parts = [np.asarray(v, dtype=np.float64).reshape(-1) for v in observation.values()]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    return np.asarray(observation, dtype=np.float32).reshape(-1)


def _load_dmc(domain: str, task: str, task_kwargs: dict[str, Any]) -> Any:
    try:
        from dm_control import suite
    except ImportError as exc:
        raise ImportError(f"DMCEnv needs dm-control: {_DMC_EXTRA}.") from exc
    if (domain, task) not in suite.ALL_TASKS:
        by_domain: dict[str, list[str]] = {}
        for d, t in suite.ALL_TASKS:
            by_domain.setdefault(d, []).append(t)
        known = "; ".join(f"{d}: {', '.join(ts)}" for d, ts in sorted(by_domain.items()))
        raise ValueError(f"Unknown DeepMind Control task domain={domain!r}, task={task!r}. Valid tasks: {known}.")
    return suite.load(domain, task, task_kwargs=task_kwargs)


class DMCEnv(gym.Env[np.ndarray, np.ndarray]):
    """A DeepMind Control Suite task (``dm_control.suite.load(domain, task)``) with pixel observations and a goal.

    DMC signals the end of an episode itself (its own time limit, 1000 control steps for most tasks): a final step
    with discount 0 is ``terminated``, any other final step ``truncated``. ``time_limit=math.inf`` leaves time limits
    to the Gymnasium registration. Reaching the goal (see the module docstring) is ``terminated`` too.

    Args:
        domain: DMC domain, e.g. ``"cheetah"``.
        task: DMC task of the domain, e.g. ``"run"``.
        image_size: Side S of the square RGB frames, an int >= 16.
        camera_id: Camera id (0 is the first camera of the model, -1 the free camera) or camera name.
        fast_render: Turn off multisampling, shadows, reflections and the skybox (10-20x faster in software; frames
            differ from MuJoCo's default look).
        render_mode: ``"rgb_array"`` or None (``render()`` works either way).
        obs_type: ``"pixels"`` (observation = frame) or ``"state"`` (observation = flattened DMC observation, and no
            frame is rendered per step: for state-based RL).
        action_repeat: Physics control steps per env step (the same action each time).
        time_limit: DMC's episode time limit in seconds; None keeps the task's default.
        task_kwargs: Extra keyword arguments for the DMC task constructor (not ``random``, which comes from ``seed``).
        success_threshold: The ``qpos_match`` tolerance, or None for a reward-only env (no success, no goal
            termination).

    Example:
        >>> env = DMCEnv("cartpole", "swingup", image_size=32)
        >>> obs, info = env.reset(seed=0, options={"goal_state": [0.0, 0.0, 0.0, 0.0]})
        >>> obs.shape, obs.dtype, info["state"].shape, info["goal"].shape, info["is_success"]
        ((32, 32, 3), dtype('uint8'), (4,), (32, 32, 3), False)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012 (Gymnasium declares it a dict)
    _RESET_OPTIONS: frozenset[str] = frozenset({"state", "goal_state"})

    def __init__(
        self,
        domain: str,
        task: str,
        *,
        image_size: int = 64,
        camera_id: int | str = 0,
        fast_render: bool = False,
        render_mode: str | None = "rgb_array",
        obs_type: str = "pixels",
        action_repeat: int = 1,
        time_limit: float | None = None,
        task_kwargs: dict[str, Any] | None = None,
        success_threshold: float | None = QPOS_MATCH_THRESHOLD,
    ) -> None:
        self.image_size = check_image_size(image_size)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}.")
        if obs_type not in ("pixels", "state"):
            raise ValueError(f"obs_type must be 'pixels' or 'state', got {obs_type!r}.")
        if isinstance(action_repeat, bool) or not isinstance(action_repeat, (int, np.integer)) or action_repeat < 1:
            raise ValueError(f"action_repeat must be an int >= 1, got {action_repeat!r}.")
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be positive seconds (or math.inf, or None), got {time_limit!r}.")
        if success_threshold is not None and not (math.isfinite(success_threshold) and success_threshold > 0):
            raise ValueError(
                f"success_threshold must be a positive tolerance (rad or m), or None for a reward-only env, got "
                f"{success_threshold!r}."
            )
        kwargs = dict(task_kwargs or {})
        if "random" in kwargs:
            raise ValueError("task_kwargs must not set 'random': DMCEnv seeds the task from reset(seed=...).")
        if time_limit is not None:
            kwargs["time_limit"] = time_limit

        self.domain, self.task = str(domain), str(task)
        self.render_mode = render_mode
        self.obs_type = obs_type
        self.action_repeat = int(action_repeat)
        self.fast_render = bool(fast_render)
        self.success_threshold = None if success_threshold is None else float(success_threshold)
        self._task_kwargs = kwargs
        self._dm = _load_dmc(self.domain, self.task, kwargs)
        self._goal_dm: Any = None  # a second instance of the task, made on demand to sample goal states
        self._physics = self._dm.physics
        self.model = self._physics.model.ptr  # mujoco.MjModel
        self.data = self._physics.data.ptr  # mujoco.MjData, the live simulation
        self.metadata = {**self.metadata, "render_fps": round(1.0 / (self._dm.control_timestep() * self.action_repeat))}

        spec = self._dm.action_spec()
        self.action_space = spaces.Box(
            np.broadcast_to(spec.minimum, spec.shape).astype(np.float32),
            np.broadcast_to(spec.maximum, spec.shape).astype(np.float32),
            dtype=np.float32,
        )
        self._obs_dim = int(sum(int(np.prod(s.shape)) for s in self._dm.observation_spec().values()))
        if obs_type == "pixels":
            self.observation_space = spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        else:
            self.observation_space = spaces.Box(-np.inf, np.inf, (self._obs_dim,), np.float32)
        self._renderer: FrameRenderer | None = None
        self._camera = FrameRenderer.camera_index(self.model, camera_id)
        if obs_type == "pixels":
            self._renderer = FrameRenderer(self.model, self.image_size, camera_id, fast=self.fast_render)
        import mujoco

        self._mujoco = mujoco
        self._goal_data = mujoco.MjData(self.model)  # the goal configuration, rendered for the goal image
        self._goal_state: np.ndarray | None = None  # float64 (Q,)
        self._goal_frame: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._started = False  # reset() has been called at least once
        self._needs_reset = True

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random`` and the DMC task's generator (``RandomState(seed)``, as the reference
                does); without a seed the task's generator continues.
            options: Optional ``{"state": s, "goal_state": g}``, each float (Q,) ``concat(qpos, qvel)``: the physics
                starts exactly at ``s``; ``g`` is the goal configuration (only its qpos matters to the rule). A
                missing start is DMC's own random one; a missing goal is a random configuration (``_sample_goal``).

        Returns:
            The first observation and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option or a malformed state.
        """
        super().reset(seed=seed)
        options = self._check_options(options, self._RESET_OPTIONS)
        self._reset_physics(options, seed)
        self._reset_task(options)
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies ``action`` for ``action_repeat`` control steps (fewer when the goal is reached in between).

        Returns:
            ``(obs, reward, terminated, truncated, info)``; info holds ``"state"`` and ``"proprio"`` (float32 (Q,)),
            ``"goal_state"`` (float32 (Q,)), ``"goal"`` (uint8 (S, S, 3), pixel observations only),
            ``"is_success"``, ``"distance"`` (the largest qpos error to the goal) and ``"observation"``
            (float32 (O,)).
        """
        reward, terminated, truncated = self._advance(action)
        return self._observe(), reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray:
        """Returns the current frame, uint8 (S, S, 3)."""
        if not self._started:
            raise RuntimeError(f"{type(self).__name__}.render() was called before reset(); call env.reset() first.")
        if self.obs_type == "pixels" and self._frame is not None:
            return self._frame.copy()
        return self.render_state(self.data)

    def close(self) -> None:
        """Frees the renderer (in its own GL context); the env cannot render afterwards."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ goal-conditioned API

    def render_goal(self) -> np.ndarray:
        """Returns the goal image, the goal configuration rendered: uint8 (S, S, 3)."""
        if self._goal_state is None:
            raise RuntimeError(f"{type(self).__name__}.render_goal() was called before reset(); call env.reset().")
        if self._goal_frame is None:
            gd, nq = self._goal_data, self.model.nq
            gd.qpos[:], gd.qvel[:] = self._goal_state[:nq], self._goal_state[nq:]
            self._mujoco.mj_forward(self.model, gd)
            self._goal_frame = self.render_state(gd)
        return self._goal_frame.copy()

    def is_success(self, state: Any, goal_state: Any) -> bool:
        """The ``qpos_match`` rule: every qpos coordinate within ``success_threshold`` of the goal's (raw values).

        Args:
            state: A state (Q,) or qpos (nq,).
            goal_state: A goal state (Q,) or goal qpos (nq,).
        """
        return self.success_threshold is not None and self._distance(state, goal_state) < self.success_threshold

    @property
    def goal_state(self) -> np.ndarray:
        """The goal in the state layout, float32 (Q,) (a copy)."""
        if self._goal_state is None:
            raise RuntimeError(f"{type(self).__name__} has no goal_state before reset(); call env.reset() first.")
        return self._goal_state.astype(np.float32)

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> np.ndarray:
        """The physics state ``concat(qpos, qvel)``, float32 (Q,) (a copy)."""
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float32)

    def render_state(self, data: Any) -> np.ndarray:
        """Renders any ``MjData`` of this env's model (e.g. a goal configuration), uint8 (S, S, 3)."""
        if self._renderer is None:
            self._renderer = FrameRenderer(self.model, self.image_size, self._camera, fast=self.fast_render)
        return self._renderer.render(data)

    def set_physics_state(self, state: np.ndarray) -> None:
        """Sets qpos and qvel exactly (everything else stays as DMC's reset left it) and runs forward dynamics."""
        nq = self.model.nq
        self.data.qpos[:] = state[:nq]
        self.data.qvel[:] = state[nq:]
        self._physics.forward()

    # ------------------------------------------------------------------ internals (subclass hooks)

    def _check_options(self, options: dict[str, Any] | None, allowed: frozenset[str]) -> dict[str, Any]:
        keys = ", ".join(f"{k!r}: ..." for k in sorted(allowed))
        usage = f"{type(self).__name__}.reset accepts options={{{keys}}}, each optional."
        return reset_options(options, allowed, usage)

    def _reset_physics(self, options: dict[str, Any], seed: int | None) -> None:
        """DMC's own episode initialisation (seeded as the reference seeds it), then the given state if any."""
        state = physics_state(options.get("state"), "state", self.model.nq, self.model.nv)
        if seed is not None:
            task_seed = seed if 0 <= seed <= _SEED_BOUND else int(self.np_random.integers(_SEED_BOUND))
            # dm_control keeps the task's generator in a private attribute and offers no setter.
            self._dm.task._random = np.random.RandomState(task_seed)
        self._dm.reset()
        if state is not None:
            self.set_physics_state(state)
        self._started, self._needs_reset = True, False

    def _reset_task(self, options: dict[str, Any]) -> None:
        """Sets the goal (given, or sampled by ``_sample_goal``) and its image."""
        goal = self._validated_goal(options.get("goal_state"))
        self._goal_state = goal if goal is not None else self._sample_goal()
        self._goal_frame = None
        if self.obs_type == "pixels":
            self.render_goal()

    def _validated_goal(self, value: Any) -> np.ndarray | None:
        return physics_state(value, "goal_state", self.model.nq, self.model.nv)

    def _sample_goal(self) -> np.ndarray:
        """A random configuration, at rest, that does not already satisfy the rule at the start.

        DMC's ``randomize_limited_and_rotational_joints`` on a second instance of the task (the live one stays as it
        is): limited joints uniform in their ranges, hinges at uniform angles, balls and free joints at uniform
        orientations; other coordinates (e.g. a runner's x position) stay at DMC's own start.
        """
        from dm_control.suite.utils import randomizers

        if self._goal_dm is None:
            self._goal_dm = _load_dmc(self.domain, self.task, self._task_kwargs)
        physics = self._goal_dm.physics
        random = np.random.RandomState(int(self.np_random.integers(_SEED_BOUND)))
        for _ in range(100):
            with physics.reset_context():
                physics.data.qpos[:] = self.data.qpos
                randomizers.randomize_limited_and_rotational_joints(physics, random)
            qpos = physics.data.qpos.copy()
            if self.success_threshold is None or self._distance(self.data.qpos, qpos) >= 2 * self.success_threshold:
                break
        # float32-representable, so info["goal_state"] reproduces the goal exactly when passed back to reset.
        return np.concatenate([qpos, np.zeros(self.model.nv)]).astype(np.float32).astype(np.float64)

    def _distance(self, state: Any, goal_state: Any) -> float:
        nq = self.model.nq
        q = np.asarray(state, dtype=np.float64).reshape(-1)[:nq]
        g = np.asarray(goal_state, dtype=np.float64).reshape(-1)[:nq]
        return float(np.max(np.abs(g - q))) if nq else 0.0

    def _goal_reached(self) -> bool:
        return self.is_success(self.data.qpos, self._goal_state)

    def _advance(self, action: np.ndarray) -> tuple[float, bool, bool]:
        """Steps DMC up to ``action_repeat`` times; returns the summed reward and terminated / truncated."""
        if self._needs_reset:
            raise RuntimeError(
                f"{type(self).__name__}.step() was called before reset() or after the episode ended; call env.reset()."
            )
        act = float_vector(action)  # (A,)
        if act.shape != self.action_space.shape or not np.all(np.isfinite(act)):
            raise ValueError(
                f"action must be {self.action_space.shape[0]} finite numbers in [{self.action_space.low.min():g}, "
                f"{self.action_space.high.max():g}], got {action!r}."
            )
        act = np.clip(act, self.action_space.low, self.action_space.high)
        reward, terminated, truncated = 0.0, False, False
        for _ in range(self.action_repeat):
            time_step = self._dm.step(act)
            reward += float(time_step.reward or 0.0)
            reached = self._goal_reached()  # the reference's qpos_match ends the episode mid-repeat too
            if reached or time_step.last():
                terminated = reached or float(time_step.discount) == 0.0
                truncated = not terminated
                # dm_control would silently start a new episode on the step after its last one
                self._needs_reset = time_step.last()
                break
        return reward, terminated, truncated

    def _observe(self) -> np.ndarray:
        if self.obs_type == "state":
            self._frame = None
            return self._dmc_observation()
        self._frame = self.render_state(self.data)
        return self._frame.copy()

    def _dmc_observation(self) -> np.ndarray:
        return flatten_observation(self._dm.task.get_observation(self._physics))

    def _info(self) -> dict[str, Any]:
        state = self.state
        info = {
            "proprio": state,
            "state": state.copy(),
            "goal_state": self._goal_state.astype(np.float32),
            "is_success": self._goal_reached(),
            "distance": self._distance(self.data.qpos, self._goal_state),
            "observation": self._dmc_observation(),
        }
        if self.obs_type == "pixels":
            info["goal"] = self.render_goal()
        return info
