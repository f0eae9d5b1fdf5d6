"""Shared by the MuJoCo envs' fidelity tests: the committed reference fixtures and the frame comparison.

The fixtures in ``tests/envs/fidelity/`` were recorded from the reference packages by
``benchmarks/fidelity/record_{reacher,cube,cube_frames,dmc}.py`` in separate virtual environments; the tests need
none of those packages.

Frames: the reference frames were rendered on the CPU by Mesa's llvmpipe (``MUJOCO_GL=egl`` without a GPU), where
ours are identical to them, pixel for pixel. The check allows 0.1% of the pixels to differ (4 of 4096 at 64 px) so
that a Mesa update that moves an edge pixel does not fail it; every visual deviation we know is far above that (the
smallest, Reacher's 1.5 cm target sphere, changes 0.3% of the pixels; ``fast_render`` 92%; Cube's translucent arm
10-15%), and the tests check that each of them fails the comparison. Other OpenGL implementations (a GPU driver)
rasterise and multisample differently everywhere (a mean error of 2-5 grey levels), so there the frame tests skip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent / "fidelity"
MAX_DIFFERING_PIXELS = 0.001
"""Largest fraction of pixels that may differ (in any channel) from a reference frame."""


def load_fixture(name: str) -> dict[str, np.ndarray]:
    """The arrays of ``tests/envs/fidelity/<name>``."""
    with np.load(FIXTURES / name) as data:
        return {key: data[key] for key in data.files}


def differing_pixels(frame: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of pixels of ``frame`` that differ from ``reference`` in any channel (both uint8 (S, S, 3))."""
    assert frame.shape == reference.shape and frame.dtype == reference.dtype == np.uint8
    return float(np.any(frame != reference, axis=2).mean())


def gl_renderer() -> str:
    """The name of the current OpenGL renderer (call after a render, while its context is current)."""
    from OpenGL import GL, error

    try:
        renderer = GL.glGetString(GL.GL_RENDERER)
    except error.GLError as err:  # an error flag left by an earlier call is reported here; the string is returned
        renderer = err.result
    return renderer.decode() if isinstance(renderer, bytes) else str(renderer)


def skip_unless_llvmpipe() -> None:
    """Skips the calling test unless the current OpenGL context (call after a render) is Mesa's llvmpipe."""
    name = gl_renderer()
    if "llvmpipe" not in name:
        pytest.skip(f"reference frames were rendered by Mesa llvmpipe; this OpenGL is {name!r}")
