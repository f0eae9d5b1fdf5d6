"""DMC: any DeepMind Control Suite task as a Gymnasium env with pixel observations from one owned renderer.

Shapes (S image side, A action dim, Q = nq + nv physics state size, O flattened DMC observation size):
    * observation: uint8 (S, S, 3) frames (``obs_type="pixels"``) or the float32 (O,) DMC observation
      (``obs_type="state"``, no rendering per step). ``render()`` always returns the current frame, uint8 (S, S, 3).
    * ``info["state"]``: float32 (Q,), the physics state ``concat(qpos, qvel)``; ``reset(options={"state": ...})``
      puts the physics back exactly there. Task randomness kept in the model (e.g. reacher's target position) and
      actuator activations are not part of it.
    * ``info["observation"]``: float32 (O,), the DMC observation dict flattened in its own key order.
    * action: float32 (A,), clipped to the task's action spec bounds.

Rendering: each env owns one :class:`FrameRenderer` (a ``mujoco.Renderer``) and closes it in ``close()`` with its own
GL context made current first. MuJoCo 3.17 frees GL objects in whatever context is current, so closing (or garbage
collecting) an old renderer while a newer one is current corrupts the newer one's frames (reference/envs.md §2).
``fast_render`` turns off multisampling, shadows, reflections and the skybox: 10-20x faster in software rendering,
with flatter lighting. MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported; headless machines
need ``MUJOCO_GL=egl`` (or ``osmesa``) set before that, by the application.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import weakref
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.options import physics_state, reset_options

_DMC_EXTRA = "pip install 'lewm-agents[dmc]'"
# A task seed is drawn from the env's np_random at every reset; RandomState accepts seeds below 2**32.
_SEED_BOUND = 2**32 - 1


# Renderers still open at interpreter exit are closed before the GL libraries shut down; otherwise mujoco's own
# finalizers run after EGL is terminated and print EGLError tracebacks (reference/envs.md §2).
_OPEN_RENDERERS: weakref.WeakSet[FrameRenderer] = weakref.WeakSet()


def _close_open_renderers() -> None:
    for renderer in list(_OPEN_RENDERERS):
        renderer.close()


@functools.cache
def _import_mujoco() -> Any:
    try:
        import mujoco
    except ImportError as exc:
        raise ImportError(f"MuJoCo rendering needs the mujoco package: {_DMC_EXTRA} (or the 'cube' extra).") from exc
    return mujoco


@functools.cache
def _close_renderers_at_exit() -> None:
    """Registers the exit hook once, after the first GL context exists.

    mujoco's EGL backend registers its display shutdown when it creates its first context, and atexit runs the
    last-registered handler first: registered after it, ours closes the renderers while the display still exists.
    """
    atexit.register(_close_open_renderers)


def check_image_size(image_size: Any) -> int:
    """Validates an ``image_size`` argument and returns it as an int.

    Raises:
        ValueError: ``image_size`` is not an int >= 16.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(
            f"image_size must be an int >= 16 (the frame side in pixels), got {image_size!r}. "
            "Pass e.g. image_size=64 or image_size=224."
        )
    return int(image_size)


class FrameRenderer:
    """One offscreen ``mujoco.Renderer`` for one model, freed deterministically in its own GL context.

    Args:
        model: The ``mujoco.MjModel`` to render. Its offscreen buffer is enlarged to ``image_size`` when smaller, and
            with ``fast`` its multisampling is turned off (``vis.quality.offsamples = 0``); both are visual-only.
        image_size: Side S of the square frames, in pixels.
        camera: Camera id (-1 is the free camera) or name.
        fast: Turn off multisampling, shadows, reflections and the skybox.
        scene_option: Visibility options (geom groups, ...); MuJoCo's defaults when None.

    Raises:
        ValueError: ``camera`` names no camera of the model.
        RuntimeError: No OpenGL context could be created (e.g. ``MUJOCO_GL`` unset on a machine without a display).
    """

    def __init__(
        self, model: Any, image_size: int, camera: int | str, *, fast: bool = True, scene_option: Any = None
    ) -> None:
        mujoco = _import_mujoco()
        self._renderer = None
        self.image_size = check_image_size(image_size)
        self.camera = self.camera_index(model, camera)
        # Both must be set before the renderer exists: its GL framebuffers are sized and multisampled from them.
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), self.image_size)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), self.image_size)
        if fast:
            model.vis.quality.offsamples = 0
        try:
            renderer = mujoco.Renderer(model, height=self.image_size, width=self.image_size)
        except Exception as exc:  # the GL backends raise their own types (GLFWError, EGLError, ImportError, ...)
            raise RuntimeError(
                f"Could not create a MuJoCo OpenGL context ({type(exc).__name__}: {exc}). On a machine without a "
                "display, set MUJOCO_GL=egl (or MUJOCO_GL=osmesa after `apt-get install libosmesa6`) in the "
                "environment before Python imports mujoco, e.g. `MUJOCO_GL=egl lewm collect reacher`."
            ) from exc
        if fast:
            flags = mujoco.mjtRndFlag
            for flag in (flags.mjRND_SHADOW, flags.mjRND_REFLECTION, flags.mjRND_SKYBOX):
                renderer.scene.flags[flag] = False
        self._renderer = renderer
        _OPEN_RENDERERS.add(self)
        _close_renderers_at_exit()
        self._scene_option = scene_option if scene_option is not None else mujoco.MjvOption()

    @staticmethod
    def camera_index(model: Any, camera: int | str) -> int:
        """The id of camera ``camera`` (an id or a name) of ``model``.

        Raises:
            ValueError: No such camera.
        """
        mujoco = _import_mujoco()
        if isinstance(camera, str):
            cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            if cam_id < 0:
                names = [model.camera(i).name for i in range(model.ncam)]
                raise ValueError(f"No camera named {camera!r} in the model; its cameras are {names} (or -1, free).")
            return int(cam_id)
        if isinstance(camera, bool) or not isinstance(camera, (int, np.integer)) or not -1 <= camera < model.ncam:
            raise ValueError(
                f"camera must be a camera name or an id in [-1, {model.ncam}) (-1 is the free camera), got {camera!r}."
            )
        return int(camera)

    def render(self, data: Any) -> np.ndarray:
        """Renders ``data`` (an ``MjData`` of the model, forward kinematics done) from the camera.

        Returns:
            A new uint8 (S, S, 3) frame.
        """
        if self._renderer is None:
            raise RuntimeError("FrameRenderer.render() was called after close(); make a new env.")
        self._renderer.update_scene(data, camera=self.camera, scene_option=self._scene_option)
        return self._renderer.render()

    def close(self) -> None:
        """Frees the GL objects in this renderer's own context (idempotent)."""
        renderer, self._renderer = self._renderer, None
        if renderer is None:
            return
        _OPEN_RENDERERS.discard(self)
        context = getattr(renderer, "_gl_context", None)
        if context is not None:
            context.make_current()  # mujoco frees in the current context: make it ours (reference/envs.md §2)
        renderer.close()

    def __del__(self) -> None:
        # At interpreter exit the GL library may already be unloaded; a failed free then is harmless.
        with contextlib.suppress(Exception):
            self.close()


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
    """A DeepMind Control Suite task (``dm_control.suite.load(domain, task)``) with pixel observations.

    Rewards are DMC's, summed over ``action_repeat`` physics control steps. DMC signals the end of an episode itself
    (its own time limit, 1000 control steps for most tasks): a final step with discount 0 is ``terminated``, any other
    final step ``truncated``. ``time_limit=math.inf`` leaves time limits to the Gymnasium registration.

    Args:
        domain: DMC domain, e.g. ``"cheetah"``.
        task: DMC task of the domain, e.g. ``"run"``.
        image_size: Side S of the square RGB frames, an int >= 16.
        camera_id: Camera id (0 is the first camera of the model, -1 the free camera) or camera name.
        fast_render: Turn off multisampling, shadows, reflections and the skybox (10-20x faster in software).
        render_mode: ``"rgb_array"`` or None (``render()`` works either way).
        obs_type: ``"pixels"`` (observation = frame) or ``"state"`` (observation = flattened DMC observation, and no
            frame is rendered per step: for state-based RL).
        action_repeat: Physics control steps per env step (the same action each time).
        time_limit: DMC's episode time limit in seconds; None keeps the task's default.
        task_kwargs: Extra keyword arguments for the DMC task constructor (not ``random``, which comes from ``seed``).

    Example:
        >>> env = DMCEnv("cartpole", "swingup", image_size=32)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype, info["state"].shape
        ((32, 32, 3), dtype('uint8'), (4,))
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012 (Gymnasium declares it a dict)
    _RESET_OPTIONS: frozenset[str] = frozenset({"state"})

    def __init__(
        self,
        domain: str,
        task: str,
        *,
        image_size: int = 64,
        camera_id: int | str = 0,
        fast_render: bool = True,
        render_mode: str | None = "rgb_array",
        obs_type: str = "pixels",
        action_repeat: int = 1,
        time_limit: float | None = None,
        task_kwargs: dict[str, Any] | None = None,
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
        self._dm = _load_dmc(self.domain, self.task, kwargs)
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
        self._frame: np.ndarray | None = None
        self._started = False  # reset() has been called at least once
        self._needs_reset = True

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random``; the DMC task's initial-state randomness is drawn from it.
            options: Optional ``{"state": concat(qpos, qvel)}``, float (Q,): the physics starts exactly there.

        Returns:
            The first observation and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option or a malformed state.
        """
        super().reset(seed=seed)
        options = self._check_options(options, self._RESET_OPTIONS)
        self._reset_physics(options)
        self._reset_task(options)
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies ``action`` for ``action_repeat`` control steps.

        Returns:
            ``(obs, reward, terminated, truncated, info)``; info holds ``"state"`` (float32 (Q,)) and
            ``"observation"`` (float32 (O,)).
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

    # ------------------------------------------------------------------ internals (subclass hooks)

    def _check_options(self, options: dict[str, Any] | None, allowed: frozenset[str]) -> dict[str, Any]:
        keys = ", ".join(f"{k!r}: ..." for k in sorted(allowed))
        usage = f"{type(self).__name__}.reset accepts options={{{keys}}}, each optional."
        return reset_options(options, allowed, usage)

    def _reset_physics(self, options: dict[str, Any]) -> None:
        """DMC's own episode initialisation (seeded from np_random), then the given state if any."""
        state = physics_state(options.get("state"), "state", self.model.nq, self.model.nv)
        # dm_control keeps the task's generator in a private attribute and offers no setter.
        self._dm.task._random = np.random.RandomState(int(self.np_random.integers(_SEED_BOUND)))
        self._dm.reset()
        if state is not None:
            self.set_physics_state(state)
        self._started, self._needs_reset = True, False

    def _reset_task(self, options: dict[str, Any]) -> None:
        """Hook for subclasses: task set-up after the physics reset (e.g. a goal); nothing for plain DMC."""

    def set_physics_state(self, state: np.ndarray) -> None:
        """Sets qpos and qvel exactly (everything else stays as DMC's reset left it) and runs forward dynamics."""
        nq = self.model.nq
        self.data.qpos[:] = state[:nq]
        self.data.qvel[:] = state[nq:]
        self._physics.forward()

    def _advance(self, action: np.ndarray) -> tuple[float, bool, bool]:
        """Steps DMC ``action_repeat`` times; returns the summed reward and DMC's terminated / truncated."""
        if self._needs_reset:
            raise RuntimeError(
                f"{type(self).__name__}.step() was called before reset() or after the episode ended; call env.reset()."
            )
        act = np.asarray(action, dtype=np.float64).reshape(-1)  # (A,)
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
            if time_step.last():
                terminated = float(time_step.discount) == 0.0
                truncated = not terminated
                self._needs_reset = True  # dm_control would silently start a new episode on the next step
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
        return {"state": self.state, "observation": self._dmc_observation()}
