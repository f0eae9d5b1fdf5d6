"""Frame resizing as the reference pipeline does it: PIL's bilinear resize, bit for bit, in numpy, for whole frames or
for the window of output pixels that a moving object can change.

stable-worldmodel renders PushT and TwoRoom at 224 px and its ``World(image_shape=(S, S))`` resizes every frame with
``PIL.Image.resize((S, S), Image.BILINEAR)``. Pillow's resampler (``libImaging/Resample.c``) is a separable triangle
filter whose support grows with the downscale factor; each pass rounds to uint8 with 22-bit fixed-point weights. This
module reimplements it (facts only) so that only the pixels near a moved object need recomputing each step.

Dimension letters: N source side, S output side, K taps per output pixel.
"""

from __future__ import annotations

import functools
import math

import numpy as np

_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images


@functools.lru_cache(maxsize=32)
def _taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's bilinear coefficients for one axis: first source index (S,) and fixed-point weights (S, K)."""
    scale = src / dst
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    k = math.ceil(support) * 2 + 1
    first = np.zeros(dst, dtype=np.int64)
    weights = np.zeros((dst, k), dtype=np.int64)
    for xx in range(dst):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), src) - xmin
        ws = []
        for x in range(xmax):
            t = (x + xmin - center + 0.5) / filterscale
            ws.append(1.0 - abs(t) if -1.0 < t < 1.0 else 0.0)
        total = sum(ws)
        for x, w in enumerate(ws):
            w = w / total if total != 0.0 else w
            weights[xx, x] = int(-0.5 + w * (1 << _PRECISION_BITS)) if w < 0 else int(0.5 + w * (1 << _PRECISION_BITS))
        first[xx] = xmin
    first.setflags(write=False)
    weights.setflags(write=False)
    return first, weights


@functools.lru_cache(maxsize=32)
def _matrix(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The taps as a dense (S, N) float64 matrix (exact: every product and sum is an integer below 2^53), and the
    first and one-past-last source index each output reads, (S,) each."""
    first, weights = _taps(src, dst)
    dense = np.zeros((dst, src), dtype=np.float64)
    for out in range(dst):
        for k in range(weights.shape[1]):
            if weights[out, k] and first[out] + k < src:
                dense[out, first[out] + k] = weights[out, k]
    nonzero = dense != 0
    start = nonzero.argmax(axis=1)
    stop = src - nonzero[:, ::-1].argmax(axis=1)
    for arr in (dense, start, stop):
        arr.setflags(write=False)
    return dense, start, stop


def _round(acc: np.ndarray) -> np.ndarray:
    """Pillow's ``clip8((acc + 2^21) >> 22)``, exact in float64 (a division by a power of two and a floor)."""
    return np.clip(np.floor((acc + float(1 << (_PRECISION_BITS - 1))) / float(1 << _PRECISION_BITS)), 0, 255)


def resize_bilinear(frame: np.ndarray, size: int) -> np.ndarray:
    """``np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR))``, bit for bit.

    Args:
        frame: uint8 (N, N, 3).
        size: Output side S.

    Returns:
        uint8 (S, S, 3); ``frame`` itself when N == S.
    """
    if frame.shape[0] == size and frame.shape[1] == size:
        return frame
    return resize_window(frame, size, slice(0, size), slice(0, size))


def resize_window(frame: np.ndarray, size: int, rows: slice, cols: slice) -> np.ndarray:
    """The output rows x cols of :func:`resize_bilinear` (Pillow: horizontal pass first, each pass rounded).

    Returns:
        uint8 (len(rows), len(cols), 3).
    """
    n = frame.shape[0]
    my, y_start, y_stop = _matrix(n, size)
    mx, x_start, x_stop = _matrix(n, size)
    r0, r1 = int(y_start[rows].min()), int(y_stop[rows].max())
    c0, c1 = int(x_start[cols].min()), int(x_stop[cols].max())
    src = frame[r0:r1, c0:c1].astype(np.float64).transpose(2, 0, 1)  # (3, R, C)
    horizontal = _round(src @ mx[cols, c0:c1].T)  # (3, R, w)
    return _round(my[rows, r0:r1] @ horizontal).transpose(1, 2, 0).astype(np.uint8)  # (h, w, 3)


def affected(lo: int, hi: int, src: int, size: int) -> slice:
    """Output indices whose taps read any source index in [lo, hi)."""
    _, start, stop = _matrix(src, size)
    hit = np.nonzero((start < hi) & (stop > lo))[0]
    return slice(int(hit[0]), int(hit[-1]) + 1) if hit.size else slice(0, 0)
