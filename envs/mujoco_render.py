"""One offscreen MuJoCo renderer per env, freed deterministically in its own GL context.

Rendering: each MuJoCo env of the suite owns one :class:`FrameRenderer` (a ``mujoco.Renderer``) and closes it in
``close()`` with its own GL context made current first. MuJoCo 3.17 frees GL objects in whatever context is current,
so closing (or garbage collecting) an old renderer while a newer one is current corrupts the newer one's frames
(reference/envs.md §2). By default frames are MuJoCo's own look, as the reference envs render them (multisampling,
shadows, reflections, skybox); ``fast`` turns those off: 10-20x faster in software rendering, with flatter lighting.
MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported; headless machines need ``MUJOCO_GL=egl``
(or ``osmesa``) set before that, by the application.

Dimension letters: S image side.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import weakref
from typing import Any

import numpy as np

_DMC_EXTRA = "pip install 'lewm-agents[dmc]'"


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
        fast: Turn off multisampling, shadows, reflections and the skybox (frames then differ from the reference
            look, MuJoCo's defaults).
        scene_option: Visibility options (geom groups, ...); MuJoCo's defaults when None.

    Raises:
        ValueError: ``camera`` names no camera of the model.
        RuntimeError: No OpenGL context could be created (e.g. ``MUJOCO_GL`` unset on a machine without a display).
    """

    def __init__(
        self, model: Any, image_size: int, camera: int | str, *, fast: bool = False, scene_option: Any = None
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
