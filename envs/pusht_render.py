"""PushT's reference frames in numpy: pymunk's debug drawing of the scene with pygame at 512 x 512, then OpenCV's
bilinear resize to 224 px, as stable-worldmodel's ``swm/PushT-v1`` renders (and PIL's bilinear resize to other sizes,
as its ``World(image_shape=...)`` does).

Dimension letters: S output side; a canvas is (512, 512, 3) uint8, rows = y, columns = x.

What the reference draws, in order, each primitive rasterised by pygame's integer rules (reimplemented here from
pygame 2.6's ``draw.c``, facts only, and checked against recorded frames in tests/envs/fidelity):

1. White floor; the fixed goal T (256, 256, pi/4) as two filled LightGreen polygons (vertices rounded to pixels).
2. Dynamic shapes (the block's bar and stem, then the agent), then static ones (the four wall segments):
   a polygon is filled in its colour lightened 1.2x, then each edge is drawn as a "fat segment" of radius 2 in the
   plain colour (a 4-px ``draw.lines`` plus the quad around it and 2-px discs at both ends); the agent is a
   RoyalBlue disc of radius 15 with a lightened disc of radius 11 on top; walls are LightGray fat segments.
3. Contact points of the last physics substep: for each contact a red (231, 76, 60) anti-aliased line from 2 units
   inside one body to 2 units inside the other, along the normal (pygame's ``aalines``, blended).

Only a window around the block and the agent changes between frames: the static layers are cached and the 224-px
output is recomputed inside that window only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

CANVAS: int = 512
"""Side of the reference's drawing surface, in pixels (= world units)."""
REFERENCE_SIZE: int = 224
"""Side of the reference's rendered frame (``resolution=224``)."""

FLOOR = (255, 255, 255)
GOAL = (144, 238, 144)  # LightGreen
WALL = (211, 211, 211)  # LightGray
BLOCK = (119, 136, 153)  # LightSlateGray
AGENT = (65, 105, 225)  # RoyalBlue
CONTACT = (231, 76, 60)  # pymunk's collision-point colour
WALL_SEGMENTS: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((5.0, 506.0), (5.0, 5.0)),
    ((5.0, 5.0), (506.0, 5.0)),
    ((506.0, 5.0), (506.0, 506.0)),
    ((5.0, 506.0), (506.0, 506.0)),
)
"""The reference's walls: static segments of radius 2."""
WALL_RADIUS: float = 2.0


def light(rgb: Sequence[int]) -> tuple[int, int, int]:
    """The fill colour of a debug-drawn polygon or disc: 1.2x the colour in float32, capped at 255, rounded."""
    c = np.minimum(np.float32(1.2) * np.array(rgb, dtype=np.float32), np.float32(255.0))
    return tuple(round(float(v)) for v in c)


def to_pixel(p: Sequence[float]) -> tuple[int, int]:
    """World point to pygame pixel: Python's round (half to even), as pymunk's ``to_pygame``."""
    return round(p[0]), round(p[1])


# ------------------------------------------------------------------------------------------------ pygame primitives


class Canvas:
    """A uint8 (H, W, 3) image with pygame's drawing rules; writes outside the image are clipped."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.h, self.w = pixels.shape[:2]

    def hline(self, x1: int, y: int, x2: int, color: Sequence[int]) -> None:
        """Pixels x1..x2 (inclusive, either order) of row y (pygame's ``drawhorzlineclipbounding``)."""
        if not 0 <= y < self.h:
            return
        if x2 < x1:
            x1, x2 = x2, x1
        x1, x2 = max(x1, 0), min(x2, self.w - 1)
        if x1 <= x2:
            self.pixels[y, x1 : x2 + 1] = color

    def spans(self, ys: np.ndarray, x1: np.ndarray, x2: np.ndarray, color: Sequence[int]) -> None:
        """Many horizontal spans at once: rows ys, inclusive columns [x1, x2] (any order), clipped."""
        lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
        keep = (ys >= 0) & (ys < self.h) & (hi >= 0) & (lo < self.w)
        ys, lo, hi = ys[keep], np.maximum(lo[keep], 0), np.minimum(hi[keep], self.w - 1)
        if ys.size == 0:
            return
        y0, y1 = int(ys.min()), int(ys.max()) + 1
        x0, x1_ = int(lo.min()), int(hi.max()) + 1
        cols = np.arange(x0, x1_)
        mask = np.zeros((y1 - y0, x1_ - x0), dtype=bool)  # (h, w)
        rows = ys - y0
        inside = (cols[None, :] >= lo[:, None]) & (cols[None, :] <= hi[:, None])  # (n, w)
        np.logical_or.at(mask, rows, inside)
        self.pixels[y0:y1, x0:x1_][mask] = color

    def polygon(self, xs: Sequence[int], ys: Sequence[int], color: Sequence[int]) -> None:
        """pygame's filled polygon (``draw_fillpoly``): scanlines over integer vertices."""
        vx, vy = np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64)
        miny, maxy = int(vy.min()), int(vy.max())
        if miny == maxy:
            self.hline(int(vx.min()), miny, int(vx.max()), color)
            return
        prev = np.roll(np.arange(len(vx)), 1)
        ya, yb, xa, xb = vy[prev], vy, vx[prev], vx
        swap = ya > yb
        y1, y2 = np.where(swap, yb, ya), np.where(swap, ya, yb)
        x1, x2 = np.where(swap, xb, xa), np.where(swap, xa, xb)
        edge = y1 != y2
        y1, y2, x1, x2 = y1[edge], y2[edge], x1[edge], x2[edge]
        rows = np.arange(miny, maxy + 1)  # (R,)
        r = rows[:, None].astype(np.float64)  # (R, 1)
        hit = ((r >= y1) & (r < y2)) | ((r == maxy) & (y2 == maxy))  # (R, E)
        # C's (int) of a double truncates toward zero.
        xi = np.trunc((r - y1) * (x2 - x1) / np.where(hit, y2 - y1, 1) + x1).astype(np.int64)  # (R, E)
        xi = np.where(hit, xi, np.iinfo(np.int64).max)
        xi.sort(axis=1)
        counts = hit.sum(axis=1)  # (R,)
        for k in range(0, int(counts.max(initial=0)), 2):
            sel = counts > k + 1
            self.spans(rows[sel], xi[sel, k], xi[sel, k + 1], color)
        # Horizontal edges strictly between the top and bottom rows are drawn separately.
        for i in range(len(vx)):
            j = i - 1
            if miny < vy[i] < maxy and vy[j] == vy[i]:
                self.hline(int(vx[i]), int(vy[i]), int(vx[j]), color)

    def circle(self, x0: int, y0: int, radius: int, color: Sequence[int]) -> None:
        """pygame's filled circle (``draw_circle_filled``, midpoint algorithm) at an integer centre."""
        if radius < 1:
            return
        ys, x1s, x2s = _circle_spans(radius)
        self.spans(ys + y0, x1s + x0, x2s + x0, color)

    def thick_line(self, x1: int, y1: int, x2: int, y2: int, width: int, color: Sequence[int]) -> None:
        """pygame's ``draw_line_width`` for a line inside the surface: a Bresenham walk of the centre, widened across
        the minor axis by ``width`` pixels ((width - 1) // 2 before, width // 2 after)."""
        if not (0 <= x1 < self.w and 0 <= y1 < self.h and 0 <= x2 < self.w and 0 <= y2 < self.h):
            for y, xa, xb in _clipped_line_width(x1, y1, x2, y2, width, self.w, self.h):
                self.hline(xa, y, xb, color)
            return
        xs, ys = _bresenham(x1, y1, x2, y2)
        if abs(x1 - x2) <= abs(y1 - y2):  # grows in x: flat top and bottom ends
            self.spans(ys, xs - (width - 1) // 2, xs + width // 2, color)
        else:  # grows in y
            offsets = np.arange(-((width - 1) // 2), width // 2 + 1)
            px = np.repeat(xs, len(offsets))
            py = (ys[:, None] + offsets[None, :]).reshape(-1)
            keep = (px >= 0) & (px < self.w) & (py >= 0) & (py < self.h)
            self.pixels[py[keep], px[keep]] = color

    def fat_segment(self, a: Sequence[float], b: Sequence[float], radius: float, color: Sequence[int]) -> None:
        """pymunk-pygame's ``draw_fat_segment``: a thick line, the quad around it, discs at both ends."""
        p1, p2 = to_pixel(a), to_pixel(b)
        r = round(max(1, radius * 2))
        self.thick_line(p1[0], p1[1], p2[0], p2[1], r, color)
        if r <= 2:
            return
        ox, oy = abs(p2[1] - p1[1]), abs(p2[0] - p1[0])
        if ox == 0 and oy == 0:
            return
        scale = radius / (ox * ox + oy * oy) ** 0.5
        ox, oy = round(ox * scale), round(oy * scale)
        self.polygon(
            [p1[0] - ox, p1[0] + ox, p2[0] + ox, p2[0] - ox],
            [p1[1] - oy, p1[1] + oy, p2[1] + oy, p2[1] - oy],
            color,
        )
        self.circle(round(p1[0]), round(p1[1]), round(radius), color)
        self.circle(round(p2[0]), round(p2[1]), round(radius), color)

    def debug_polygon(self, verts: Sequence[Sequence[float]], color: Sequence[int]) -> None:
        """A pymunk polygon as swm's debug draw renders it: lightened fill, then radius-2 fat edges."""
        pts = [to_pixel(v) for v in verts]
        self.polygon([p[0] for p in pts], [p[1] for p in pts], light(color))
        for i in range(len(verts)):
            self.fat_segment(verts[i], verts[(i + 1) % len(verts)], 2.0, color)

    def debug_circle(self, centre: Sequence[float], radius: float, color: Sequence[int]) -> None:
        """A pymunk circle as swm's debug draw renders it: a disc and a lightened disc 4 px smaller."""
        x, y = to_pixel(centre)
        self.circle(x, y, round(radius), color)
        self.circle(x, y, round(radius - 4), light(color))

    def aaline(self, x0: float, y0: float, x1: float, y1: float, color: Sequence[int]) -> None:
        """pygame's blended anti-aliased line (``draw_aaline``, Wu's algorithm in float32)."""
        for x, y, brightness in _aaline_pixels(x0, y0, x1, y1, self.w, self.h):
            if 0 <= x < self.w and 0 <= y < self.h:
                bg = self.pixels[y, x].astype(np.float32)
                b = np.float32(brightness)
                mixed = b * np.array(color, dtype=np.float32) + (np.float32(1.0) - b) * bg
                self.pixels[y, x] = mixed.astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _circle_spans(radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row offsets and inclusive column offsets of pygame's filled circle of ``radius`` about (0, 0)."""
    f, ddf_x, ddf_y, x, y = 1 - radius, 0, -2 * radius, 0, radius
    rows: list[tuple[int, int, int]] = []
    while x < y:
        if f >= 0:
            y -= 1
            ddf_y += 2
            f += ddf_y
        x += 1
        ddf_x += 2
        f += ddf_x + 1
        if f >= 0:
            rows += [(y - 1, -x, x - 1), (-y, -x, x - 1)]
        rows += [(x - 1, -y, y - 1), (-x, -y, y - 1)]
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


@functools.lru_cache(maxsize=4096)
def _bresenham_offsets(dx: int, dy: int, sx: int, sy: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of pygame's Bresenham walk from (0, 0) by (sx * dx, sy * dy), end included."""
    err = dx if dx > dy else -dy
    err = int(err / 2)  # C integer division truncates toward zero
    x = y = 0
    xs, ys = [0], [0]
    ex, ey = sx * dx, sy * dy
    while x != ex or y != ey:
        e2 = err
        if e2 > -dx:
            err -= dy
            x += sx
        if e2 < dy:
            err += dx
            y += sy
        xs.append(x)
        ys.append(y)
    return np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)


def _bresenham(x1: int, y1: int, x2: int, y2: int) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = abs(x2 - x1), abs(y2 - y1)
    sx, sy = (1 if x1 < x2 else -1), (1 if y1 < y2 else -1)
    ox, oy = _bresenham_offsets(dx, dy, sx, sy)
    return ox + x1, oy + y1


def _clip_line(x1: int, y1: int, x2: int, y2: int, w: int, h: int) -> tuple[int, int, int, int] | None:
    """pygame's ``clip_line`` (Liang-Barsky with its rounding) against the surface [0, w) x [0, h)."""
    p1, p3 = x1 - x2, y1 - y2
    p2, p4 = -p1, -p3
    q1, q2, q3, q4 = x1, w - x1, y1, h - y1
    if (p1 == 0 and q1 < 0) or (p2 == 0 and q2 < 0) or (p3 == 0 and q3 < 0) or (p4 == 0 and q4 < 0):
        return None
    nmax, pmin = 0.0, 1.0
    for p, qa, qb in ((p1, q1, q2), (p3, q3, q4)):
        if p:
            r1, r2 = qa / p, qb / -p
            if p < 0:
                nmax, pmin = max(nmax, r1), min(pmin, r2)
            else:
                nmax, pmin = max(nmax, r2), min(pmin, r1)
    if nmax > pmin:
        return None

    def rnd(v: float) -> int:  # C: (int)(v < 0 ? v - 0.5 : v + 0.5)
        return int(v - 0.5) if v < 0 else int(v + 0.5)

    return x1 + rnd(p2 * nmax), y1 + rnd(p4 * nmax), x1 + rnd(p2 * pmin), y1 + rnd(p4 * pmin)


def _clipped_line_width(  # noqa: C901 (a line-by-line port of pygame's loops, kept so to stay checkable)
    x1: int, y1: int, x2: int, y2: int, width: int, w: int, h: int
) -> list[tuple[int, int, int]]:
    """pygame's ``draw_line_width`` for a line that leaves the surface, as (y, x_from, x_to) spans (a port of its
    loops, used only in that rare case; single pixels are spans of length 1)."""

    def sign(v: int, default: int) -> int:
        return 1 if v > 0 else (-1 if v < 0 else default)

    def inside(x: int, y: int) -> bool:
        return 0 <= x < w and 0 <= y < h

    out: list[tuple[int, int, int]] = []
    end_x, end_y = x2, y2
    xinc = abs(x1 - x2) <= abs(y1 - y2)
    dx, sx = abs(x2 - x1), (1 if x1 < x2 else -1)
    dy, sy = abs(y2 - y1), (1 if y1 < y2 else -1)
    err = int((dx if dx > dy else -dy) / 2)
    clipped = _clip_line(x1, y1, x2, y2, w, h)
    if clipped is None:
        return out
    x1, y1, x2, y2 = clipped
    lo, hi = (x1, x1) if xinc else (y1, y1)
    lo, hi = lo - (width - 1) // 2, hi + width // 2

    def emit() -> None:
        if xinc:
            out.append((y1, lo, hi))
        else:
            out.extend((y, x1, x1) for y in range(lo, hi + 1))

    while sign(x1 - x2, sx) != sx or sign(y1 - y2, sy) != sy:
        emit()
        e2 = err
        if e2 > -dx:
            err -= dy
            x1 += sx
            if xinc:
                lo, hi = lo + sx, hi + sx
        if e2 < dy:
            err += dx
            y1 += sy
            if not xinc:
                lo, hi = lo + sy, hi + sy
    if xinc:
        while y1 != end_y and (inside(lo, y1) or inside(hi, y1)):
            emit()
            e2 = err
            if e2 > -dx:
                err -= dy
                x1 += sx
                lo, hi = lo + sx, hi + sx
            if e2 < dy:
                err += dx
                y1 += sy
    else:
        while x1 != end_x and (inside(x1, lo) or inside(x1, hi)):
            emit()
            e2 = err
            if e2 > -dx:
                err -= dy
                x1 += sx
            if e2 < dy:
                err += dx
                y1 += sy
                lo, hi = lo + sy, hi + sy
    emit()
    return out


def _aaline_pixels(fx: float, fy: float, tx: float, ty: float, w: int, h: int) -> list[tuple[int, int, float]]:
    """The (x, y, brightness) writes of pygame's ``draw_aaline`` with blending, in its order, in float32."""
    f32 = np.float32
    fx, fy, tx, ty = f32(fx), f32(fy), f32(tx), f32(ty)
    dx, dy = tx - fx, ty - fy
    if abs(dx) < 0.0001 and abs(dy) < 0.0001:
        return [(math.floor(fx + 0.5), math.floor(fy + 0.5), 1.0)]
    clip_left, clip_top = f32(-1.0), f32(-1.0)
    clip_right, clip_bottom = clip_left + f32(w) + f32(1.0), clip_top + f32(h) + f32(1.0)
    steep = abs(dx) < abs(dy)
    if steep:
        fx, fy, tx, ty, dx, dy = fy, fx, ty, tx, dy, dx
        clip_left, clip_top, clip_right, clip_bottom = clip_top, clip_left, clip_bottom, clip_right
    if dx < 0:
        fx, tx, fy, ty, dx, dy = tx, fx, ty, fy, -dx, -dy
    if tx <= clip_left or fx >= clip_right:
        return []
    grad = f32(dy / dx)
    # Contact marks lie inside the surface, so the clipping steps of the original never trigger here.
    fy, ty = fy + f32(1.0), ty + f32(1.0)
    out: list[tuple[int, int, float]] = []

    def put(x: int, y: int, b: float) -> None:
        out.append((y, x, b) if steep else (x, y, b))

    x_start = int(fx)
    intersect = y_end = f32(fy + grad * f32(x_start - fx))
    if tx > clip_left + f32(1.0):
        gap = f32(f32(1 + x_start) - fx)
        bright = f32(y_end - f32(int(y_end)))
        if int(y_end) < y_end:
            put(x_start, int(y_end), float(f32(bright * gap)))
        put(x_start, int(y_end) - 1, float(f32(f32(1.0 - bright) * gap)))
        intersect = f32(intersect + grad)
        x_start += 1
    x_end = math.ceil(tx)
    if fx < clip_right - f32(1.0):
        y_end = f32(ty + grad * f32(x_end - tx))
        gap = f32(f32(1 - x_end) + tx)
        bright = f32(y_end - f32(int(y_end)))
        if int(y_end) < y_end:
            put(x_end, int(y_end), float(f32(bright * gap)))
        put(x_end, int(y_end) - 1, float(f32(f32(1.0 - bright) * gap)))
    for x in range(x_start, x_end):
        y = int(intersect)
        bright = f32(f32(1.0) - intersect + f32(y))
        put(x, y - 1, float(bright))
        if y < intersect:
            put(x, y, float(f32(1.0) - bright))
        intersect = f32(intersect + grad)
    return out


# ------------------------------------------------------------------------------------------------ resizing


@functools.lru_cache(maxsize=8)
def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_LINEAR taps for one axis: left index (dst,), and 11-bit fixed-point weights (dst,) x 2."""
    scale = src / dst
    fx = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    sx = np.floor(fx).astype(np.int64)
    fx = fx - sx
    left = sx < 0
    fx[left], sx[left] = 0.0, 0
    right = sx >= src - 1
    fx[right], sx[right] = 0.0, src - 1
    w0 = np.rint((1.0 - fx) * 2048).astype(np.int64)  # saturate_cast<short>((1 - fx) * INTER_RESIZE_COEF_SCALE)
    w1 = 2048 - w0
    return sx, w0, w1


def cv2_resize_window(img: np.ndarray, dst: int, rows: slice, cols: slice) -> np.ndarray:
    """OpenCV's ``resize(img, (dst, dst))`` (INTER_LINEAR, uint8, fixed point) for output rows x cols only.

    Args:
        img: uint8 (N, N, 3) source.
        dst: Output side.
        rows, cols: The output window.

    Returns:
        uint8 (len(rows), len(cols), 3).
    """
    n = img.shape[0]
    sy, wy0, wy1 = (a[rows] for a in _linear_taps(n, dst))
    sx, wx0, wx1 = (a[cols] for a in _linear_taps(n, dst))
    sx1, sy1 = np.minimum(sx + 1, n - 1), np.minimum(sy + 1, n - 1)
    src = img.astype(np.int64)
    top = src[sy][:, sx] * wx0[None, :, None] + src[sy][:, sx1] * wx1[None, :, None]  # (h, w, 3)
    bottom = src[sy1][:, sx] * wx0[None, :, None] + src[sy1][:, sx1] * wx1[None, :, None]
    # OpenCV's vectorised vertical pass: ((b0 * (t >> 4)) >> 16) + ((b1 * (b >> 4)) >> 16) + 2) >> 2.
    out = (((wy0[:, None, None] * (top >> 4)) >> 16) + ((wy1[:, None, None] * (bottom >> 4)) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def output_window(lo: float, hi: float, src: int, dst: int) -> slice:
    """Output indices of a resize whose taps can read source pixels in [lo, hi]."""
    scale = src / dst
    start = max(math.floor((lo - 1) / scale - 0.5) - 1, 0)
    stop = min(math.ceil((hi + 1) / scale + 0.5) + 2, dst)
    return slice(start, stop)


# ------------------------------------------------------------------------------------------------ the scene


class ReferenceRenderer:
    """Draws PushT scenes as the reference does, caching the static layers.

    Args:
        image_size: Output side S; frames are drawn at 224 px and resized with PIL's bilinear filter when S != 224.
        goal_pose: Pose (x, y, angle) of the green goal T drawn under everything, or None for no marker.
    """

    def __init__(self, image_size: int, goal_pose: tuple[float, float, float] | None) -> None:
        self.image_size = image_size
        self._static, self._walls, self._static_frame = _static_layers(goal_pose)
        self._canvas = self._static.copy()  # (512, 512, 3), restored from _static inside the last window each frame
        self._dirty: tuple[int, int, int, int] | None = None

    def frame(
        self,
        block: Sequence[Sequence[Sequence[float]]],
        agent_xy: Sequence[float],
        agent_radius: float,
        contacts: Sequence[tuple[Sequence[float], Sequence[float]]],
    ) -> np.ndarray:
        """One frame.

        Args:
            block: The world vertices of the block's two polygons, in pymunk's order.
            agent_xy: The agent's centre.
            agent_radius: Its radius.
            contacts: (a, b) endpoints of each contact mark, world units.

        Returns:
            uint8 (S, S, 3).
        """
        canvas = self._canvas
        if self._dirty is not None:  # undo the last frame's drawing
            y0, y1, x0, x1 = self._dirty
            canvas[y0:y1, x0:x1] = self._static[y0:y1, x0:x1]
        pts = np.array([p for poly in block for p in poly] + [tuple(agent_xy)], dtype=np.float64)  # (K, 2)
        reach = max(agent_radius, 4.0) + 4.0
        lo, hi = pts.min(axis=0) - reach, pts.max(axis=0) + reach
        x0, y0 = max(math.floor(lo[0]), 0), max(math.floor(lo[1]), 0)
        x1, y1 = min(math.ceil(hi[0]) + 1, CANVAS), min(math.ceil(hi[1]) + 1, CANVAS)
        frame = self._static_frame.copy()  # (224, 224, 3)
        if x0 >= x1 or y0 >= y1:
            self._dirty = None
            return _resize_pil(frame, self.image_size)
        self._dirty = (y0, y1, x0, x1)
        draw = Canvas(canvas)
        for poly in block:
            draw.debug_polygon(poly, BLOCK)
        draw.debug_circle(agent_xy, agent_radius, AGENT)
        wall = self._walls[y0:y1, x0:x1]
        canvas[y0:y1, x0:x1][wall] = WALL  # static shapes are drawn after dynamic ones
        for a, b in contacts:
            pa, pb = to_pixel(a), to_pixel(b)
            draw.aaline(pa[0], pa[1], pb[0], pb[1], CONTACT)
        rows = output_window(y0, y1, CANVAS, REFERENCE_SIZE)
        cols = output_window(x0, x1, CANVAS, REFERENCE_SIZE)
        frame[rows, cols] = cv2_resize_window(canvas, REFERENCE_SIZE, rows, cols)
        return _resize_pil(frame, self.image_size)


@functools.lru_cache(maxsize=4)
def _static_layers(goal_pose: tuple[float, float, float] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(floor + goal T + walls canvas, wall mask (512, 512) bool, its 224-px frame), read-only."""
    base = np.empty((CANVAS, CANVAS, 3), dtype=np.uint8)
    base[:] = FLOOR
    draw = Canvas(base)
    if goal_pose is not None:
        for poly in goal_polygons(goal_pose):
            pts = [to_pixel(p) for p in poly]
            draw.polygon([p[0] for p in pts], [p[1] for p in pts], GOAL)
    walls = np.zeros((CANVAS, CANVAS, 3), dtype=np.uint8)
    wall_draw = Canvas(walls)
    for a, b in WALL_SEGMENTS:
        wall_draw.fat_segment(a, b, WALL_RADIUS, (1, 1, 1))
    mask = walls[:, :, 0] == 1
    base[mask] = WALL
    frame = cv2_resize_window(base, REFERENCE_SIZE, slice(0, REFERENCE_SIZE), slice(0, REFERENCE_SIZE))
    for arr in (base, mask, frame):
        arr.setflags(write=False)
    return base, mask, frame


def goal_polygons(pose: Sequence[float]) -> list[list[tuple[float, float]]]:
    """World vertices of the goal T's two polygons at ``pose`` (a body without an offset centre of gravity)."""
    x, y, th = float(pose[0]), float(pose[1]), float(pose[2])
    c, s = math.cos(th), math.sin(th)
    return [[(x + c * u - s * v, y + s * u + c * v) for u, v in poly] for poly in T_VERTICES]


T_VERTICES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((-60.0, 30.0), (60.0, 30.0), (60.0, 0.0), (-60.0, 0.0)),
    ((-15.0, 30.0), (-15.0, 120.0), (15.0, 120.0), (15.0, 30.0)),
)
"""The T's bar and stem in its body frame, in the reference's vertex order (a 120 x 30 bar over a 30 x 90 stem)."""


def _resize_pil(frame: np.ndarray, size: int) -> np.ndarray:
    if size == frame.shape[0]:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR))
