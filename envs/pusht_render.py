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

from lewm_envs.frames import affected, resize_bilinear, resize_window

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


class Mask:
    """A boolean drawing mask on a window of the canvas: ``m[i, j]`` covers canvas pixel (y0 + i, x0 + j)."""

    def __init__(self, y0: int, x0: int, h: int, w: int) -> None:
        self.y0, self.x0 = y0, x0
        self.m = np.zeros((h, w), dtype=bool)

    def add(self, other: np.ndarray, y0: int, x0: int) -> None:
        """ORs a mask whose top-left pixel is canvas (y0, x0) into this one (clipped to the window)."""
        h, w = other.shape
        i0, j0 = y0 - self.y0, x0 - self.x0
        a0, b0 = max(i0, 0), max(j0, 0)
        a1, b1 = min(i0 + h, self.m.shape[0]), min(j0 + w, self.m.shape[1])
        if a0 < a1 and b0 < b1:
            self.m[a0:a1, b0:b1] |= other[a0 - i0 : a1 - i0, b0 - j0 : b1 - j0]

    def points(self, ys: np.ndarray, xs: np.ndarray) -> None:
        """Sets single pixels (clipped to the window)."""
        i, j = ys - self.y0, xs - self.x0
        keep = (i >= 0) & (i < self.m.shape[0]) & (j >= 0) & (j < self.m.shape[1])
        self.m[i[keep], j[keep]] = True

    def spans(self, ys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Sets rows ``ys``, inclusive columns [lo, hi] (clipped to the window; rows may repeat)."""
        for y, a, b in zip(ys.tolist(), lo.tolist(), hi.tolist()):
            i = y - self.y0
            if 0 <= i < self.m.shape[0]:
                self.m[i, max(min(a, b) - self.x0, 0) : max(max(a, b) - self.x0 + 1, 0)] = True


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

    def paint(self, mask: Mask, color: Sequence[int]) -> None:
        """Sets every pixel of ``mask`` (clipped to the canvas) to ``color``."""
        h, w = mask.m.shape
        y0, x0 = max(mask.y0, 0), max(mask.x0, 0)
        y1, x1 = min(mask.y0 + h, self.h), min(mask.x0 + w, self.w)
        if y0 < y1 and x0 < x1:
            sub = mask.m[y0 - mask.y0 : y1 - mask.y0, x0 - mask.x0 : x1 - mask.x0]
            np.copyto(self.pixels[y0:y1, x0:x1], np.asarray(color, dtype=np.uint8), where=sub[:, :, None])

    def polygon(self, xs: Sequence[int], ys: Sequence[int], color: Sequence[int]) -> None:
        """pygame's filled polygon (``draw_fillpoly``)."""
        self.paint(polygon_mask(xs, ys), color)

    def fat_polyline(self, verts: Sequence[Sequence[float]], radius: float, color: Sequence[int]) -> None:
        """pymunk-pygame's ``draw_fat_segment`` for every edge of a closed polygon (one colour, so one mask)."""
        self.paint(outline_mask(tuple(to_pixel(v) for v in verts), radius, self.w, self.h), color)

    def fat_segment(self, a: Sequence[float], b: Sequence[float], radius: float, color: Sequence[int]) -> None:
        """pymunk-pygame's ``draw_fat_segment``: a thick line, the quad around it, discs at both ends."""
        p1, p2 = to_pixel(a), to_pixel(b)
        reach = round(radius) + 3
        y0, x0 = min(p1[1], p2[1]) - reach, min(p1[0], p2[0]) - reach
        mask = Mask(y0, x0, abs(p1[1] - p2[1]) + 2 * reach + 1, abs(p1[0] - p2[0]) + 2 * reach + 1)
        _fat_segment(mask, p1, p2, radius, self.w, self.h)
        self.paint(mask, color)

    def debug_polygon(self, verts: Sequence[Sequence[float]], color: Sequence[int]) -> None:
        """A pymunk polygon as swm's debug draw renders it: lightened fill, then radius-2 fat edges."""
        pts = [to_pixel(v) for v in verts]
        self.polygon([p[0] for p in pts], [p[1] for p in pts], light(color))
        self.fat_polyline(verts, 2.0, color)

    def debug_circle(self, centre: Sequence[float], radius: float, color: Sequence[int]) -> None:
        """A pymunk circle as swm's debug draw renders it: a disc and a lightened disc 4 px smaller."""
        x, y = to_pixel(centre)
        self.circle(x, y, round(radius), color)
        self.circle(x, y, round(radius - 4), light(color))

    def circle(self, x0: int, y0: int, radius: int, color: Sequence[int]) -> None:
        """pygame's filled circle (``draw_circle_filled``, midpoint algorithm) at an integer centre."""
        if radius < 1:
            return
        mask = Mask(y0 - radius, x0 - radius, 2 * radius + 1, 2 * radius + 1)
        mask.m[:] = _circle_mask(radius)
        self.paint(mask, color)

    def aaline(self, x0: float, y0: float, x1: float, y1: float, color: Sequence[int]) -> None:
        """pygame's blended anti-aliased line (``draw_aaline``, Wu's algorithm in float32)."""
        for x, y, brightness in _aaline_pixels(x0, y0, x1, y1, self.w, self.h):
            if 0 <= x < self.w and 0 <= y < self.h:
                bg = self.pixels[y, x].astype(np.float32)
                b = np.float32(brightness)
                mixed = b * np.array(color, dtype=np.float32) + (np.float32(1.0) - b) * bg
                self.pixels[y, x] = mixed.astype(np.uint8)


def outline_mask(pts: tuple[tuple[int, int], ...], radius: float, w: int = 512, h: int = 512) -> Mask:
    """pymunk-pygame's ``draw_fat_segment`` for every edge of a closed polygon with pixel vertices, as one mask (the
    edges share a colour); the quads around the edges are filled in one batch."""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    reach = round(radius) + 3
    mask = Mask(min(ys) - reach, min(xs) - reach, max(ys) - min(ys) + 2 * reach + 1, max(xs) - min(xs) + 2 * reach + 1)
    quads = []
    for i in range(len(pts)):
        quad = _fat_segment(mask, pts[i], pts[(i + 1) % len(pts)], radius, w, h, add_quad=False)
        if quad is not None:
            quads.append(quad)
    if quads:
        quads_mask(mask, [q[0] for q in quads], [q[1] for q in quads])
    return mask


def _fat_segment(
    mask: Mask, p1: tuple[int, int], p2: tuple[int, int], radius: float, w: int, h: int, add_quad: bool = True
) -> tuple[list[int], list[int]] | None:
    """Adds a fat segment to ``mask``; with ``add_quad=False`` its quad is returned (xs, ys) for a batch fill."""
    r = round(max(1, radius * 2))
    _thick_line(mask, p1[0], p1[1], p2[0], p2[1], r, w, h)
    if r <= 2:
        return None
    ox, oy = abs(p2[1] - p1[1]), abs(p2[0] - p1[0])
    if ox == 0 and oy == 0:
        return None
    scale = radius / (ox * ox + oy * oy) ** 0.5
    ox, oy = round(ox * scale), round(oy * scale)
    quad = [p1[0] - ox, p1[0] + ox, p2[0] + ox, p2[0] - ox], [p1[1] - oy, p1[1] + oy, p2[1] + oy, p2[1] - oy]
    disc = _circle_mask(round(radius))
    rr = round(radius)
    mask.add(disc, p1[1] - rr, p1[0] - rr)
    mask.add(disc, p2[1] - rr, p2[0] - rr)
    if add_quad:
        filled = polygon_mask(*quad)
        mask.add(filled.m, filled.y0, filled.x0)
        return None
    return quad


def _thick_line(mask: Mask, x1: int, y1: int, x2: int, y2: int, width: int, w: int, h: int) -> None:
    """pygame's ``draw_line_width`` on a w x h surface: a Bresenham walk of the centre, widened across the minor axis
    by ``width`` pixels ((width - 1) // 2 before, width // 2 after); a line leaving the surface follows pygame's
    clipping."""
    if not (0 <= x1 < w and 0 <= y1 < h and 0 <= x2 < w and 0 <= y2 < h):
        spans = _clipped_line_width(x1, y1, x2, y2, width, w, h)
        if spans:
            arr = np.array(spans, dtype=np.int64)
            mask.spans(arr[:, 0], arr[:, 1], arr[:, 2])
        return
    xs, ys = _bresenham(x1, y1, x2, y2)
    offsets = np.arange(-((width - 1) // 2), width // 2 + 1)
    if abs(x1 - x2) <= abs(y1 - y2):  # grows in x: flat top and bottom ends
        mask.points(np.repeat(ys, len(offsets)), (xs[:, None] + offsets[None, :]).reshape(-1))
    else:  # grows in y
        mask.points((ys[:, None] + offsets[None, :]).reshape(-1), np.repeat(xs, len(offsets)))


def polygon_mask(xs: Sequence[int], ys: Sequence[int]) -> Mask:
    """pygame's filled polygon (``draw_fillpoly``) as a mask: scanlines over integer vertices, intersections
    truncated toward zero, pairs of sorted intersections filled, plus the horizontal edges between top and bottom."""
    xs, ys = [int(v) for v in xs], [int(v) for v in ys]
    miny, maxy, minx, maxx = min(ys), max(ys), min(xs), max(xs)
    mask = Mask(miny, minx, maxy - miny + 1, maxx - minx + 1)
    if miny == maxy:
        mask.m[0, :] = True
        return mask
    rows = np.arange(miny, maxy + 1, dtype=np.float64)  # (R,)
    hits, xis = [], []
    n = len(xs)
    for i in range(n):
        j = i - 1 if i else n - 1
        y1, y2, x1, x2 = ys[j], ys[i], xs[j], xs[i]
        if y1 == y2:
            continue
        if y1 > y2:
            y1, y2, x1, x2 = y2, y1, x2, x1
        hit = (rows >= y1) & (rows < y2)
        if y2 == maxy:
            hit |= rows == maxy
        hits.append(hit)
        xis.append(np.trunc((rows - y1) * (x2 - x1) / (y2 - y1) + x1))  # C's (int) truncates toward zero
    hit = np.array(hits)  # (E, R)
    xi = np.where(hit, np.array(xis), np.inf)
    xi.sort(axis=0)
    counts = hit.sum(axis=0)  # (R,)
    cols = np.arange(minx, maxx + 1, dtype=np.float64)
    for k in range(0, int(counts.max(initial=0)), 2):
        sel = (counts > k + 1)[:, None]
        lo, hi = np.minimum(xi[k], xi[k + 1]), np.maximum(xi[k], xi[k + 1])
        mask.m |= sel & (cols[None, :] >= lo[:, None]) & (cols[None, :] <= hi[:, None])
    for i in range(n):
        j = i - 1 if i else n - 1
        if miny < ys[i] < maxy and ys[j] == ys[i]:
            a, b = sorted((xs[i], xs[j]))
            mask.m[ys[i] - miny, a - minx : b - minx + 1] = True
    return mask


def quads_mask(mask: Mask, xs: list[list[int]], ys: list[list[int]]) -> None:
    """ORs pygame's fill of several polygons with the same vertex count into ``mask`` in one vectorised pass (the
    rule of ``polygon_mask``; the quads around fat segments are the common case)."""
    vx, vy = np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)  # (Q, N)
    miny, maxy = vy.min(axis=1), vy.max(axis=1)  # (Q,)
    rows = miny[:, None] + np.arange(int((maxy - miny).max()) + 1)[None, :]  # (Q, R)
    valid = rows <= maxy[:, None]
    prev = np.roll(np.arange(vx.shape[1]), 1)
    ya, yb, xa, xb = vy[:, prev], vy, vx[:, prev], vx  # (Q, N) edges from the previous vertex
    swap = ya > yb
    y1, y2 = np.where(swap, yb, ya)[:, :, None], np.where(swap, ya, yb)[:, :, None]  # (Q, N, 1)
    x1, x2 = np.where(swap, xb, xa)[:, :, None], np.where(swap, xa, xb)[:, :, None]
    r = rows[:, None, :]  # (Q, 1, R)
    hit = ((r >= y1) & (r < y2)) | ((r == maxy[:, None, None]) & (y2 == maxy[:, None, None]))
    hit &= (y1 != y2) & valid[:, None, :]  # (Q, N, R)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.trunc((r - y1) * (x2 - x1) / (y2 - y1) + x1)  # C's (int) truncates toward zero
    xi = np.where(hit, xi, np.inf)
    xi.sort(axis=1)
    counts = hit.sum(axis=1)  # (Q, R)
    cols = mask.x0 + np.arange(mask.m.shape[1], dtype=np.float64)  # (W,)
    for k in range(0, int(counts.max(initial=0)), 2):
        sel = counts > k + 1  # (Q, R)
        lo, hi = np.minimum(xi[:, k], xi[:, k + 1]), np.maximum(xi[:, k], xi[:, k + 1])  # (Q, R)
        band = sel[:, :, None] & (cols >= lo[:, :, None]) & (cols <= hi[:, :, None])  # (Q, R, W)
        for q in range(vx.shape[0]):
            mask.add(band[q], int(miny[q]), mask.x0)
    n = vx.shape[1]
    for q in np.nonzero(miny == maxy)[0]:  # one pixel high: a single row from the leftmost to the rightmost vertex
        a, b = int(vx[q].min()), int(vx[q].max())
        mask.add(np.ones((1, b - a + 1), dtype=bool), int(miny[q]), a)
    for q in range(vx.shape[0]):  # horizontal edges strictly between the top and bottom rows
        for i in range(n):
            j = i - 1 if i else n - 1
            if miny[q] < vy[q, i] < maxy[q] and vy[q, j] == vy[q, i]:
                a, b = sorted((int(vx[q, i]), int(vx[q, j])))
                line = np.ones((1, b - a + 1), dtype=bool)
                mask.add(line, int(vy[q, i]), a)


@functools.lru_cache(maxsize=8)
def _circle_mask(radius: int) -> np.ndarray:
    """pygame's filled circle of ``radius`` about the centre of a (2r + 1, 2r + 1) mask, read-only."""
    ys, x1s, x2s = _circle_spans(radius)
    mask = np.zeros((2 * radius + 1, 2 * radius + 1), dtype=bool)
    for y, a, b in zip(ys.tolist(), x1s.tolist(), x2s.tolist()):
        mask[y + radius, a + radius : b + radius + 1] = True
    mask.setflags(write=False)
    return mask


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
    w0 = np.rint((1.0 - fx) * 2048).astype(np.int32)  # saturate_cast<short>((1 - fx) * INTER_RESIZE_COEF_SCALE)
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
    ya, xa = int(sy.min()), int(sx.min())
    src = img[ya : int(sy1.max()) + 1, xa : int(sx1.max()) + 1].astype(np.int32)  # only the rows and columns read
    sy, sy1, sx, sx1 = sy - ya, sy1 - ya, sx - xa, sx1 - xa
    wx0, wx1 = wx0[None, :, None], wx1[None, :, None]
    top_rows, bottom_rows = src[sy], src[sy1]  # (h, W, 3)
    top = top_rows[:, sx] * wx0 + top_rows[:, sx1] * wx1  # (h, w, 3)
    bottom = bottom_rows[:, sx] * wx0 + bottom_rows[:, sx1] * wx1
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
        self._static_small = resize_bilinear(self._static_frame, image_size)  # (S, S, 3)
        self._canvas = self._static.copy()  # (512, 512, 3), restored from _static inside the last window each frame
        self._dirty: list[tuple[int, int, int, int]] = []

    def frame(
        self,
        block: Sequence[Sequence[Sequence[float]]],
        agent_xy: Sequence[float],
        agent_radius: float,
        contacts: Sequence[tuple[Sequence[float], Sequence[float]]],
        agent_color: tuple[int, int, int] = AGENT,
        block_color: tuple[int, int, int] = BLOCK,
    ) -> np.ndarray:
        """One frame.

        Args:
            block: The world vertices of the block's two polygons, in pymunk's order.
            agent_xy: The agent's centre.
            agent_radius: Its radius.
            contacts: (a, b) endpoints of each contact mark, world units.
            agent_color: The agent's outline colour (the reference's RoyalBlue; others for visual perturbations).
            block_color: The block's outline colour (the reference's LightSlateGray).

        Returns:
            uint8 (S, S, 3).
        """
        canvas = self._canvas
        for y0, y1, x0, x1 in self._dirty:  # undo the last frame's drawing
            canvas[y0:y1, x0:x1] = self._static[y0:y1, x0:x1]
        reach = max(agent_radius, 4.0) + 4.0
        windows = [
            _window(np.array([p for poly in block for p in poly], dtype=np.float64), reach),
            _window(np.array([tuple(agent_xy)], dtype=np.float64), reach),
        ]
        windows = [w for w in _merge(windows) if w[0] < w[1] and w[2] < w[3]]
        self._dirty = windows
        frame = self._static_frame.copy()  # (224, 224, 3)
        if not windows:
            return frame if self.image_size == REFERENCE_SIZE else self._static_small.copy()
        draw = Canvas(canvas)
        for mask, color in _block_masks(tuple(tuple(to_pixel(v) for v in poly) for poly in block), block_color):
            draw.paint(mask, color)
        draw.debug_circle(agent_xy, agent_radius, agent_color)
        for y0, y1, x0, x1 in windows:  # static shapes (the walls) are drawn after the dynamic ones
            for wy0, wy1, wx0, wx1 in _WALL_STRIPS:
                a0, a1, b0, b1 = max(y0, wy0), min(y1, wy1), max(x0, wx0), min(x1, wx1)
                if a0 < a1 and b0 < b1:
                    canvas[a0:a1, b0:b1][self._walls[a0:a1, b0:b1]] = WALL
        for a, b in contacts:
            pa, pb = to_pixel(a), to_pixel(b)
            draw.aaline(pa[0], pa[1], pb[0], pb[1], CONTACT)
        changed = []
        for y0, y1, x0, x1 in windows:
            rows = output_window(y0, y1, CANVAS, REFERENCE_SIZE)
            cols = output_window(x0, x1, CANVAS, REFERENCE_SIZE)
            if rows.start >= rows.stop or cols.start >= cols.stop:
                continue
            frame[rows, cols] = cv2_resize_window(canvas, REFERENCE_SIZE, rows, cols)
            changed.append((rows, cols))
        if self.image_size == REFERENCE_SIZE:
            return frame
        small = self._static_small.copy()  # (S, S, 3): only the pixels reading a changed 224-px pixel are redone
        for rows, cols in changed:
            out_rows = affected(rows.start, rows.stop, REFERENCE_SIZE, self.image_size)
            out_cols = affected(cols.start, cols.stop, REFERENCE_SIZE, self.image_size)
            if out_rows.stop > out_rows.start and out_cols.stop > out_cols.start:
                small[out_rows, out_cols] = resize_window(frame, self.image_size, out_rows, out_cols)
        return small


@functools.lru_cache(maxsize=64)
def _block_masks(
    polys: tuple[tuple[tuple[int, int], ...], ...], color: tuple[int, int, int] = BLOCK
) -> list[tuple[Mask, tuple[int, int, int]]]:
    """The block's drawing as (mask, colour) layers, for its polygons' pixel vertices: each polygon's lightened fill,
    then its outline. Cached: a block that did not move this step (most steps) is not rasterised again."""
    layers = []
    for poly in polys:
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        layers.append((polygon_mask(xs, ys), light(color)))
        layers.append((outline_mask(poly, 2.0), color))
    return layers


_WALL_STRIPS = ((0, 10, 0, CANVAS), (502, CANVAS, 0, CANVAS), (0, CANVAS, 0, 10), (0, CANVAS, 502, CANVAS))
"""Canvas windows (y0, y1, x0, x1) holding every wall pixel (segments at 5 and 506, radius 2, with 1 px to spare)."""


def _window(points: np.ndarray, reach: float) -> tuple[int, int, int, int]:
    """The canvas window (y0, y1, x0, x1) around world points, ``reach`` pixels wide, clipped to the canvas."""
    lo, hi = points.min(axis=0) - reach, points.max(axis=0) + reach
    x0, y0 = min(max(math.floor(lo[0]), 0), CANVAS), min(max(math.floor(lo[1]), 0), CANVAS)  # off-canvas: empty
    x1, y1 = min(math.ceil(hi[0]) + 1, CANVAS), min(math.ceil(hi[1]) + 1, CANVAS)
    return y0, max(y1, y0), x0, max(x1, x0)


def _merge(windows: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Two windows, or their bounding window when their resized outputs could overlap (a 3-pixel margin)."""
    (a0, a1, b0, b1), (c0, c1, d0, d1) = windows
    if a0 - 3 < c1 and c0 - 3 < a1 and b0 - 3 < d1 and d0 - 3 < b1:
        return [(min(a0, c0), max(a1, c1), min(b0, d0), max(b1, d1))]
    return windows


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
