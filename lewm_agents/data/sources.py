"""Where collected frames come from: any Gymnasium id, a lewm alias, or a DeepMind Control task, made for recording.

Dimension letters: S image side.

:func:`resolve_source` turns what the user typed (``tworoom``, ``Pusher-v5``, ``dmc:cheetah-run``) into a Gymnasium
id and the ``gymnasium.make`` keyword arguments that make it render ``rgb_array`` frames at S x S where the env
allows it (``image_size`` for lewm envs, ``width``/``height`` for Gymnasium MuJoCo envs). :func:`make_env` builds
it and wraps it in :class:`RenderFrames`, which puts the S x S frame of every step into ``info`` (inside a vector
worker, so rendering and resizing run in parallel) and applies fast MuJoCo render settings.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np

from lewm_agents.data.recorder import is_image_space, resize_frame

FRAME_KEY = "lewm_frame"
"""``info`` key of the recorded frame, added by :class:`RenderFrames` when the observation is not the frame."""
DMC_ENV_ID = "lewm/DMC-v1"
"""Gymnasium id of the DeepMind Control env of ``lewm_envs.dmc``, made with ``domain=``, ``task=``, ``image_size=``."""
DMC_PREFIX = "dmc:"
# Keys of env_kwargs that do not change what an episode looks like or means: files that differ only in these may
# be appended to or merged.
NEUTRAL_KWARGS = frozenset({"max_episode_steps"})
# Keys of env_kwargs that the collector sets from its own flags; --env-kwargs may not set them.
_OWN_FLAGS = {
    "image_size": "--image-size",
    "width": "--image-size",
    "height": "--image-size",
    "render_mode": "(none: frames are always rgb_array)",
    "max_episode_steps": "--max-episode-steps",
    "fast_render": "--fast-render / --no-fast-render",
    "domain": "the env name dmc:DOMAIN-TASK",
    "task": "the env name dmc:DOMAIN-TASK",
}


class EnvKwargsError(ValueError):
    """``--env-kwargs`` that cannot be parsed, or that the env does not take."""


def parse_env_kwargs(items: str | Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """The env options of ``lewm collect --env-kwargs``: one JSON object, or ``KEY=VALUE`` pairs.

    A value is read as JSON where it parses (``4`` an int, ``0.5`` a float, ``true`` a bool, ``null`` None, ``[1, 2]``
    a list) and is kept as a string otherwise (``success=coverage``).

    Example:
        >>> parse_env_kwargs(["success=coverage", "max_speed=4", "walls=null"])
        {'success': 'coverage', 'max_speed': 4, 'walls': None}
        >>> parse_env_kwargs(['{"success": "coverage", "threshold": 0.9}'])
        {'success': 'coverage', 'threshold': 0.9}

    Raises:
        EnvKwargsError: A pair without ``=``, an empty key, a key given twice, or JSON that is not an object.
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    if isinstance(items, str):
        items = [items]
    items = [s for s in items if s.strip()]
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            value = json.loads(items[0])
        except json.JSONDecodeError as exc:
            raise EnvKwargsError(
                f"--env-kwargs {items[0]!r} is not valid JSON ({exc.msg} at character {exc.pos}). Write one JSON "
                'object, e.g. \'{"success": "coverage"}\', or KEY=VALUE pairs, e.g. success=coverage.'
            ) from exc
        if not isinstance(value, dict):
            raise EnvKwargsError(f"--env-kwargs {items[0]!r} must be a JSON object (keys: the env's options).")
        return value
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise EnvKwargsError(
                f"--env-kwargs item {item!r} is not KEY=VALUE with KEY a keyword of the env (e.g. success=coverage, "
                'max_speed=4.0), nor one JSON object (e.g. \'{"success": "coverage"}\').'
            )
        if key in out:
            raise EnvKwargsError(f"--env-kwargs sets {key!r} twice ({out[key]!r} and {text!r}); keep one.")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def check_env_kwargs(env_id: str, creator: Any, env_kwargs: Mapping[str, Any]) -> None:
    """Refuse user env options that the collector sets itself, or that ``creator`` (the env's class) does not take.

    Raises:
        EnvKwargsError: naming the key, and the flag to use or the env's keywords.
    """
    for key in env_kwargs:
        if key in _OWN_FLAGS:
            raise EnvKwargsError(f"--env-kwargs may not set {key!r}: the collector sets it from {_OWN_FLAGS[key]}.")
    params = _parameters(creator)
    if not params or any(p.kind is p.VAR_KEYWORD for p in params):
        return  # e.g. a factory with **kwargs: the env validates its own options when it is made
    known = sorted({p.name for p in params if p.kind is not p.VAR_POSITIONAL} - set(_OWN_FLAGS))
    unknown = [k for k in env_kwargs if not _accepts(creator, k)]
    if unknown:
        raise EnvKwargsError(
            f"{env_id} takes no option {', '.join(map(repr, unknown))} (--env-kwargs). Its options: "
            f"{', '.join(known) or 'none'}."
        )


@dataclass(frozen=True)
class EnvSource:
    """A resolved env: its Gymnasium id and the keyword arguments ``gymnasium.make`` gets for recording."""

    name: str
    """What the user asked for (``tworoom``, ``Pusher-v5``, ``dmc:cheetah-run``)."""
    env_id: str
    """Gymnasium id."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``gymnasium.make`` (stored in the dataset as ``env_kwargs``)."""
    spec: gymnasium.envs.registration.EnvSpec | None = None
    """The registration, carried to worker processes, which may not have registered the env themselves."""


def resolve_env_id(name: str) -> str:
    """Map a lewm alias to its gymnasium id (importing lewm_envs registers its envs); other names pass through."""
    try:
        import lewm_envs
    except ImportError:
        return name
    resolve = getattr(lewm_envs, "resolve_env_id", None)
    return resolve(name) if resolve is not None else name


def _accepts(creator: Any, name: str) -> bool:
    """Whether ``creator`` (a class or function) takes a keyword ``name``, looking through the class hierarchy."""
    for obj in getattr(creator, "__mro__", (creator,)):
        init = obj.__init__ if isinstance(obj, type) else obj
        try:
            if name in inspect.signature(init).parameters:
                return True
        except (TypeError, ValueError):  # builtins and some C callables have no signature
            continue
    return False


def _parameters(creator: Any) -> list[inspect.Parameter]:
    """The parameters ``creator`` (an env class or a factory function) is called with; [] if it has no signature."""
    try:
        return list(inspect.signature(creator).parameters.values())
    except (TypeError, ValueError):
        return []


def _dmc_kwargs(name: str) -> dict[str, Any]:
    domain, _, task = name[len(DMC_PREFIX) :].partition("-")
    if not domain or not task:
        raise ValueError(
            f"Cannot parse {name!r}: write DeepMind Control tasks as dmc:DOMAIN-TASK, e.g. dmc:cheetah-run or "
            "dmc:reacher-easy."
        )
    if DMC_ENV_ID not in gymnasium.registry:
        try:
            importlib.import_module("lewm_envs.dmc")  # registers lewm/DMC-v1 if the package does not already
        except ImportError as exc:
            raise ValueError(
                f"{name} needs the DeepMind Control env of lewm_envs, which failed to import ({exc}). Install the "
                "extra: pip install lewm-agents[dmc]."
            ) from exc
    if DMC_ENV_ID not in gymnasium.registry:
        raise ValueError(f"{name}: {DMC_ENV_ID} is not registered; reinstall lewm-agents with the [dmc] extra.")
    return {"domain": domain, "task": task}


def resolve_source(
    name: str,
    *,
    image_size: int,
    max_episode_steps: int | None = None,
    fast_render: bool | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> EnvSource:
    """Resolve an env name into a Gymnasium id and the make kwargs that render ``image_size`` frames.

    Args:
        name: A lewm alias (``tworoom``), any registered Gymnasium id (``Pusher-v5``, ``CartPole-v1``) or a DeepMind
            Control task ``dmc:DOMAIN-TASK`` (made as ``lewm/DMC-v1`` with ``domain`` and ``task``).
        image_size: S, the side of the recorded frames.
        max_episode_steps: Episode limit; None keeps the registered one (which must then exist).
        fast_render: Passed as ``fast_render=`` to envs that take it (the MuJoCo envs of lewm_envs); None leaves
            their default.
        env_kwargs: The env's own options (e.g. ``{"success": "coverage"}``, ``lewm collect --env-kwargs``), passed
            to ``gymnasium.make`` and so recorded in the dataset.

    Returns:
        The source.

    Raises:
        ValueError: Unknown env, unparsable DMC name, missing extra, or no episode limit.
        EnvKwargsError: ``env_kwargs`` the env does not take, or that other flags set.
    """
    kwargs: dict[str, Any] = {}
    if name.startswith(DMC_PREFIX):
        env_id = DMC_ENV_ID
        kwargs.update(_dmc_kwargs(name))
    else:
        env_id = resolve_env_id(name)
    try:
        spec = gymnasium.spec(env_id)
    except gymnasium.error.Error as exc:
        raise ValueError(
            f"Unknown env {env_id!r} ({exc}). Pass a registered gymnasium id (e.g. Pendulum-v1), a lewm alias or "
            "dmc:DOMAIN-TASK."
        ) from exc
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gymnasium.envs.registration.load_env_creator(creator)
    if _accepts(creator, "image_size"):
        kwargs["image_size"] = image_size
    elif _accepts(creator, "width") and _accepts(creator, "height"):
        kwargs.update(width=image_size, height=image_size)  # MuJoCo envs render at S x S: no resize needed
    if fast_render is not None and _accepts(creator, "fast_render"):
        kwargs["fast_render"] = fast_render
    if env_kwargs:
        check_env_kwargs(env_id, creator, env_kwargs)
        kwargs.update(env_kwargs)
    if "rgb_array" in getattr(creator, "metadata", {}).get("render_modes", ()):
        kwargs["render_mode"] = "rgb_array"  # frames come from render() unless observations are images
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    elif spec.max_episode_steps is None:
        raise ValueError(
            f"{env_id} has no registered episode limit, so episodes might never end; set max_episode_steps "
            "(--max-episode-steps N)."
        )
    return EnvSource(name=name, env_id=env_id, kwargs=kwargs, spec=spec)


def kwargs_conflicts(stored: dict[str, Any], ours: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Env kwargs that differ between a dataset and a new run, ignoring those that do not change the episodes."""
    keys = (set(stored) | set(ours)) - NEUTRAL_KWARGS
    return {k: (stored.get(k), ours.get(k)) for k in sorted(keys) if stored.get(k) != ours.get(k)}


def apply_fast_render(env: gymnasium.Env) -> bool:
    """Turn off multisampling for a Gymnasium MuJoCo env (before its first render); True if it is one.

    Shadows, reflections and the skybox are switched off by :class:`RenderFrames` once the viewer exists. Together
    they make software (llvmpipe) rendering 10-30x faster; frames lose the floor gradient and soft lighting.
    """
    base = env.unwrapped
    if getattr(base, "mujoco_renderer", None) is None or getattr(base, "model", None) is None:
        return False
    base.model.vis.quality.offsamples = 0
    return True


class RenderFrames(gymnasium.Wrapper):
    """Add the S x S uint8 frame of every reset and step to ``info[FRAME_KEY]``, unless the observation is one.

    Frames come from ``render()`` (or from an image observation of another size), resized with
    :func:`~lewm_agents.data.recorder.resize_frame` when they are not S x S already.

    Args:
        env: The env, made with ``render_mode="rgb_array"`` unless its observations are RGB images.
        image_size: S.
        fast_render: For Gymnasium MuJoCo envs: no MSAA, shadows, reflections or skybox (much faster in software).
    """

    def __init__(self, env: gymnasium.Env, image_size: int, *, fast_render: bool = True) -> None:
        super().__init__(env)
        self.image_size = int(image_size)
        space = env.observation_space
        self.frame_is_obs = is_image_space(space) and tuple(space.shape) == (image_size, image_size, 3)
        self._from_obs = is_image_space(space)
        if not self._from_obs and env.render_mode != "rgb_array":
            raise ValueError(
                f"{env.spec.id if env.spec else env}: observations {space} are not RGB images, so frames come from "
                f"render(), but render_mode is {env.render_mode!r} and the env does not list 'rgb_array' in "
                "metadata['render_modes']. Record an env that renders rgb_array frames."
            )
        self._mujoco_flags_pending = fast_render and apply_fast_render(env)

    def _frame(self, obs: Any) -> np.ndarray:
        if self._mujoco_flags_pending:
            import mujoco

            viewer = self.env.unwrapped.mujoco_renderer._get_viewer("rgb_array")
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
                viewer.scn.flags[flag] = 0
            viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
            self._mujoco_flags_pending = False
        frame = np.asarray(obs if self._from_obs else self.env.render())
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"Expected a uint8 RGB frame (H, W, 3) from the env, got {frame.dtype} {frame.shape}.")
        return resize_frame(frame, self.image_size).copy()  # (S, S, 3); copy: envs may reuse their buffer

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env and add the first frame to the info."""
        obs, info = self.env.reset(seed=seed, options=options)
        if not self.frame_is_obs:
            info = {**info, FRAME_KEY: self._frame(obs)}
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Step the env and add the new frame to the info."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not self.frame_is_obs:
            info = {**info, FRAME_KEY: self._frame(obs)}
        return obs, reward, terminated, truncated, info


def make_env(source: EnvSource, *, image_size: int, fast_render: bool = True) -> RenderFrames:
    """Build ``source`` for recording: ``gymnasium.make(env_id, **kwargs)`` wrapped in :class:`RenderFrames`."""
    env = gymnasium.make(source.spec if source.spec is not None else source.env_id, **source.kwargs)
    return RenderFrames(env, image_size, fast_render=fast_render)


def recorded_env(env_id: str, env_kwargs: Mapping[str, Any] | None, *, legacy: bool = False) -> tuple[str, dict]:
    """The id and kwargs to rebuild a dataset's env with, after checking its env version (``lewm_envs.versions``).

    Training calls this before any compute and evaluation when it builds its tasks: data recorded under an old
    version of one of our envs (e.g. ``lewm/PushT-v0``) is refused with a message that names the difference and the
    two fixes (re-collect, or ``--legacy-env``); ``legacy=True`` maps it to the current env plus its legacy options.
    Ids that are not ours pass unchanged, also when ``lewm_envs`` is not installed.

    Raises:
        ValueError: ``env_id`` is an old version of one of our envs and ``legacy`` is False (or it cannot be rebuilt).
    """
    try:
        from lewm_envs.versions import check_recorded_env
    except ImportError:  # the env package is optional for foreign envs
        return env_id, dict(env_kwargs or {})
    return check_recorded_env(env_id, env_kwargs, legacy=legacy)
