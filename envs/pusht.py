"""PushT: push a T-shaped block to a goal pose with a round pusher; the paper's env (stable-worldmodel's
``swm/PushT-v1``, whose dynamics gym-pusht shares), on pymunk 7 with numpy-only rendering.

Units and shapes:
    World coordinates are float units; the arena is [0, 512]^2 (the standard PushT window), whatever the image size.
    x grows to the right (image column) and y grows downward (image row). S is the rendered image side in pixels.

    * ``state``: float32 (7,) = agent x, y; block x, y; block angle (rad, wrapped to [0, 2 pi)); agent vx, vy
      (units/s), the layout of ``swm/PushT-v1`` (its ``obs["state"]``; the datasets' ``state`` column).
    * ``proprio``: float32 (4,) = agent x, y, vx, vy (swm's ``obs["proprio"]``).
    * ``goal_state``: float32 (7,), the same layout; the pose rule reads its first 5 entries.
    * observation, ``render()``, ``info["goal"]``: RGB frames, uint8 (S, S, 3).
    * action (``relative=True``, the paper's setup): float32 (2,), nominally in [-1, 1]; the PD target is agent xy +
      100 * action. ``relative=False``: the absolute target, float32 (2,) in [0, 512] (gym-pusht's convention). As in
      the reference, actions are not clipped.

Dynamics, step for step the reference's:
    The agent is a kinematic disc of radius 15 driven by a PD law (k_p 100, k_v 20) whose velocity is updated before
    each of 10 ``space.step(0.01)`` per env step (10 Hz control); 10 solver iterations, no damping (bodies keep no
    velocity beyond the next substep). The block is a T of mass 1 (a 120 x 30 bar over a 30 x 90 stem, centre of
    gravity at local (0, 45)); contacts are frictionless. Walls are four static segments of radius 2 at 5 and 506.
    A kinematic body has unbounded force: it passes through the walls (the agent can leave the arena) and drives a
    block caught against a wall into and through it. The PD arithmetic is written as the reference's, including its
    types: with numpy >= 2, a float32 action makes the relative target and the PD acceleration float32 (NEP 50).

Resets, exactly the reference's: ``options={"state": s, "goal_state": g}`` (7-vectors, or 5 at rest). The physics is
stepped once (0.01 s) at the goal state, the goal image is drawn, then the start state is set and stepped once, on the
same space: a start with an agent velocity moves by v * 0.01 during reset, and a goal or start whose agent overlaps
the block pushes the block (that push carries into the start). Missing states are sampled from the reference's
distribution: agent uniform in [50, 450]^2, block in [100, 400]^2, angle uniform (agent and block may overlap). The
distribution is the reference's; its random stream is not reproduced. ``options={"start": "gym-pusht"}`` samples
gym-pusht's start instead (agent integers in [50, 450), block integers in [100, 400), angle in [-pi, pi), position
set before the angle, one physics step), from the same random stream as gym-pusht for the same seed.

Success and reward: ``success="pose"`` (the paper's rule): ||(agent xy, block xy) - goal's|| < 20 and the block-angle
error < pi/9, reward = -||state - goal_state|| (all 7 entries), as swm. ``success="coverage"`` (gym-pusht's rule, for
the fixed-target protocol with ``FIXED_TARGET_STATE``): the block covers more than 95% of the goal T, reward =
clip(coverage / 0.95, 0, 1). ``terminated`` is success. ``info["coverage"]`` is reported under both rules.

Rendering, the reference's (see ``lewm_envs.pusht_render``): pymunk's debug drawing at 512 px (lightened fills with
4-px outlines, the agent as a ring, the fixed green goal T at (256, 256, pi/4) under everything, red contact marks),
resized to 224 px as OpenCV's bilinear resize does, then to S with PIL's bilinear filter.

Where we differ, each a constructor option, off by default: ``pusher="dynamic"`` (a mass-20 disc whose PD runs inside
pymunk's velocity update, 20 solver iterations: it cannot push a block through a wall), ``walls="solid"`` (thick
walls), ``clamp_target=True`` (PD targets kept inside the arena), ``goal_marker="episode"`` / ``"none"`` (draw the
episode's goal T, or none), ``render_style="v0"`` (v0's anti-aliased look drawn directly at S), ``sampling="v0"``,
``reset_physics=False`` (set states without stepping), ``clip_actions=True`` and ``success_reward=True`` (reward 1 on
success). ``LEGACY_VERSIONS[0]`` combines them to reproduce ``lewm/PushT-v0``.

Block pose (x, y, angle) is the pose of the T's body frame, as in gym-pusht and stable-worldmodel: the local origin is
the centre of the bar's top edge (bar x in [-60, 60], y in [0, 30]; stem x in [-15, 15], y in [30, 120]) and the body
rotates about its centre of gravity. States are set angle first, then position, so the origin lands exactly where
asked (gym-pusht's ``reset_to_state`` sets them the other way round and misplaces the block).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.options import float_vector, reset_options
from lewm_envs.pusht_render import T_VERTICES, WALL_RADIUS, WALL_SEGMENTS, ReferenceRenderer

PROBE_TARGETS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "agent_xy": ("state", (0, 1), "linear"),
    "block_xy": ("state", (2, 3), "linear"),
    "block_angle": ("state", (4,), "angle"),
}
"""What a latent probe reads out (lewm_agents/analysis/probe.py): property -> (dataset column, indices, "linear" or
"angle"); angles are probed as (sin, cos)."""
WORLD_SIZE: float = 512.0
"""Side of the square world, in units (the standard 512-px PushT window)."""
ARENA_LO: float = 7.0
"""Inner face of the top and left walls, in units (segments at 5 with radius 2)."""
ARENA_HI: float = 504.0
"""Inner face of the bottom and right walls, in units (segments at 506 with radius 2)."""
AGENT_RADIUS: float = 15.0
"""Radius of the pusher disc, in units."""
BAR: tuple[float, float, float, float] = (-60.0, 60.0, 0.0, 30.0)
"""The T's bar in its body frame: (x0, x1, y0, y1), 120 x 30 units."""
STEM: tuple[float, float, float, float] = (-15.0, 15.0, 30.0, 120.0)
"""The T's stem in its body frame: (x0, x1, y0, y1), 30 x 90 units."""
BLOCK_COG: tuple[float, float] = (0.0, 45.0)
"""The block's centre of gravity in its body frame (the mean of the two parts' centroids)."""
FIXED_TARGET: tuple[float, float, float] = (256.0, 256.0, math.pi / 4)
"""gym-pusht's (and Diffusion Policy's) goal pose of the block, drawn in green in every reference frame."""
FIXED_TARGET_STATE: tuple[float, ...] = (256.0, 400.0, *FIXED_TARGET, 0.0, 0.0)
"""A 7-vector goal for the fixed-target protocol: the block at ``FIXED_TARGET``. The coverage rule ignores the agent;
its position in the goal image (gym-pusht's initial agent position, clear of the goal T) is our choice."""
MAX_EPISODE_STEPS_GYM_PUSHT: int = 300
"""gym-pusht's episode limit (the fixed-target protocol)."""
ACTION_SCALE = 100
"""A relative action of 1 moves the PD target 100 units from the agent (an int, as the reference's)."""
K_P, K_V = 100, 20
"""PD gains of the agent's target tracking (ints, as the reference's: the PD arithmetic keeps its types)."""
DT: float = 0.01
"""Physics time step, in seconds."""
SUBSTEPS: int = 10
"""Physics steps per env step (10 Hz control)."""
SAMPLE_AGENT: tuple[float, float] = (50.0, 450.0)
"""Reference reset distribution of the agent's x and y."""
SAMPLE_BLOCK: tuple[float, float] = (100.0, 400.0)
"""Reference reset distribution of the block's x and y (its angle is uniform)."""
DYNAMIC_AGENT_MASS: float = 20.0
"""``pusher="dynamic"``: mass of the pusher (the block's is 1); a free push moves the block 96% as far."""
DYNAMIC_SOLVER_ITERATIONS: int = 20
"""``pusher="dynamic"``: solver iterations, so the heavy pusher does not sink into a block jammed against a wall."""
LEGACY_VERSIONS: dict[int, tuple[dict[str, Any], str]] = {
    0: (
        {
            "pusher": "dynamic",
            "walls": "solid",
            "clamp_target": True,
            "goal_marker": "none",
            "render_style": "v0",
            "sampling": "v0",
            "reset_physics": False,
            "clip_actions": True,
            "success_reward": True,
        },
        "lewm/PushT-v0 had a dynamic pusher of mass 20 with its PD inside the velocity update (one substep late), 20 "
        "solver iterations, solid walls and clamped targets (the reference's pusher is kinematic, 10 iterations, "
        "segment walls it can pass); it drew no goal T, in darker anti-aliased colours at the image size; it sampled "
        "non-overlapping starts inside the walls, set reset states without a physics step, clipped actions and gave "
        "reward 1 on success (the reference: -distance)",
    )
}
"""Old versions of ``lewm/PushT``: version -> (v1 constructor kwargs that reproduce it, what differs)."""


def translate_legacy_kwargs(version: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Renames old versions' kwargs for ``lewm_envs.versions``: v0's ``render_target`` became ``goal_marker``.

    Example:
        >>> translate_legacy_kwargs(0, {"image_size": 64, "render_target": True})
        {'image_size': 64, 'goal_marker': 'episode'}
    """
    out = dict(kwargs)
    if version == 0 and "render_target" in out:
        out["goal_marker"] = "episode" if out.pop("render_target") else "none"
    return out


T_AREA: float = (BAR[1] - BAR[0]) * (BAR[3] - BAR[2]) + (STEM[1] - STEM[0]) * (STEM[3] - STEM[2])
_T_CENTRE = (0.0, 60.0)  # centre of the T's bounding box, body frame
_T_REACH = math.hypot(60.0, 60.0)  # every point of the T is within this of _T_CENTRE
_AGENT_LO, _AGENT_HI = ARENA_LO + AGENT_RADIUS, ARENA_HI - AGENT_RADIUS  # free range of the agent centre
# v0 (walls="solid"): recorded states may overlap by a few units; reset rejects more (wrong units or layout).
_OVERLAP_TOL: float = 10.0
_STATE_BOUND: float = 1e5  # obs_type="state" bounds on positions (units) and velocities (units/s)
_SAMPLE_MARGIN: float = 5.0  # v0 sampling: clearance from walls and between agent and block
_TWO_PI = 2.0 * math.pi

_FLOOR_RGB = np.array([255.0, 255.0, 255.0], dtype=np.float32)
_WALL_RGB = np.array([211.0, 211.0, 211.0], dtype=np.float32)  # LightGray
_BLOCK_RGB = np.array([119.0, 136.0, 153.0], dtype=np.float32)  # LightSlateGray
_AGENT_RGB = np.array([65.0, 105.0, 225.0], dtype=np.float32)  # RoyalBlue
_GOAL_RGB = np.array([144.0, 238.0, 144.0], dtype=np.float32)  # LightGreen


def _import_pymunk() -> Any:
    try:
        import pymunk
    except ImportError as err:
        raise ImportError(
            "PushTEnv needs pymunk 7 for its physics, which is not installed. Install the extra: "
            "pip install 'lewm-agents[pusht]'."
        ) from err
    return pymunk


# ---------------------------------------------------------------------------------------------- geometry (numpy only)


def t_polygons(pose: np.ndarray) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """World corners of the T's bar and stem at a block pose (two interior-disjoint convex quads).

    Args:
        pose: Block (x, y, angle) in world units and radians.

    Returns:
        The bar's and the stem's 4 corners, counter-clockwise in the body frame.
    """
    x, y, th = float(pose[0]), float(pose[1]), float(pose[2])
    c, s = math.cos(th), math.sin(th)
    quads = []
    for x0, x1, y0, y1 in (BAR, STEM):
        quads.append([(x + c * u - s * v, y + s * u + c * v) for u, v in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])
    return quads[0], quads[1]


def t_signed_distance(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Signed distance from points to the T at ``pose``: exact outside, negative inside.

    Args:
        points: World points, (..., 2).
        pose: Block (x, y, angle).

    Returns:
        float64 (...,) distances in units.
    """
    pts = np.asarray(points, dtype=np.float64)
    c, s = math.cos(float(pose[2])), math.sin(float(pose[2]))
    dx, dy = pts[..., 0] - float(pose[0]), pts[..., 1] - float(pose[1])  # (...,)
    u, v = c * dx + s * dy, -s * dx + c * dy  # (...,) body-frame coordinates
    out = []
    for x0, x1, y0, y1 in (BAR, STEM):
        qx = np.abs(u - 0.5 * (x0 + x1)) - 0.5 * (x1 - x0)  # (...,)
        qy = np.abs(v - 0.5 * (y0 + y1)) - 0.5 * (y1 - y0)  # (...,)
        outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
        out.append(outside + np.minimum(np.maximum(qx, qy), 0.0))
    return np.minimum(out[0], out[1])


def _clip_convex(subject: list[tuple[float, float]], clip: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of convex polygon ``subject`` inside convex CCW polygon ``clip``."""
    out = subject
    for k in range(len(clip)):
        if not out:
            break
        (ax, ay), (bx, by) = clip[k - 1], clip[k]
        ex, ey = bx - ax, by - ay
        inp, out = out, []
        prev = inp[-1]
        prev_in = ex * (prev[1] - ay) - ey * (prev[0] - ax) >= 0.0
        for cur in inp:
            cur_in = ex * (cur[1] - ay) - ey * (cur[0] - ax) >= 0.0
            if cur_in != prev_in:
                # The edge prev -> cur crosses the clip line: add the crossing point.
                d0 = ex * (prev[1] - ay) - ey * (prev[0] - ax)
                d1 = ex * (cur[1] - ay) - ey * (cur[0] - ax)
                t = d0 / (d0 - d1)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if cur_in:
                out.append(cur)
            prev, prev_in = cur, cur_in
    return out


def _area(poly: list[tuple[float, float]]) -> float:
    """Shoelace area of a simple polygon (absolute value)."""
    return 0.5 * abs(sum(poly[k - 1][0] * p[1] - p[0] * poly[k - 1][1] for k, p in enumerate(poly)))


def block_coverage(block_pose: np.ndarray, goal_pose: np.ndarray) -> float:
    """Fraction of the goal T's area covered by the block T (gym-pusht's coverage), with exact polygon clipping.

    Both Ts are unions of two interior-disjoint rectangles, so the overlap is the sum of the four pairwise convex
    intersections.

    Args:
        block_pose: Block (x, y, angle).
        goal_pose: Goal block (x, y, angle).

    Returns:
        Coverage in [0, 1].

    Example:
        >>> block_coverage(np.array([256.0, 256.0, 0.3]), np.array([256.0, 256.0, 0.3]))
        1.0
        >>> round(block_coverage(np.array([256.0, 256.0, 0.0]), np.array([256.0, 271.0, 0.0])), 4)  # 15 units lower
        0.7143
    """
    c, s = math.cos(float(block_pose[2])), math.sin(float(block_pose[2]))
    cg, sg = math.cos(float(goal_pose[2])), math.sin(float(goal_pose[2]))
    cx = float(block_pose[0]) - s * _T_CENTRE[1] - float(goal_pose[0]) + sg * _T_CENTRE[1]
    cy = float(block_pose[1]) + c * _T_CENTRE[1] - float(goal_pose[1]) - cg * _T_CENTRE[1]
    if math.hypot(cx, cy) >= 2.0 * _T_REACH:
        return 0.0  # bounding circles apart: no overlap (the common case, kept cheap)
    inter = 0.0
    for a in t_polygons(block_pose):
        for b in t_polygons(goal_pose):
            piece = _clip_convex(a, b)
            if len(piece) >= 3:
                inter += _area(piece)
    return min(inter / T_AREA, 1.0)


def angle_error(a: float, b: float) -> float:
    """Absolute difference of two angles, wrapped to [0, pi]."""
    d = (float(a) - float(b)) % _TWO_PI
    return min(d, _TWO_PI - d)


# ---------------------------------------------------------------------------------------------- rendering (numpy only)


def _axis_coverage(lo: float, hi: float, image_size: int) -> np.ndarray:
    """Fraction of each pixel along one image axis covered by the world interval [lo, hi], float64 (S,)."""
    pixel = WORLD_SIZE / image_size
    edges = np.arange(image_size + 1) * pixel  # (S + 1,)
    return np.clip((np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1])) / pixel, 0.0, 1.0)


@functools.lru_cache(maxsize=16)
def _background(image_size: int) -> np.ndarray:
    """White floor inside light-grey walls, area anti-aliased; uint8 (S, S, 3), read-only and shared."""
    inside = np.outer(
        _axis_coverage(ARENA_LO, ARENA_HI, image_size), _axis_coverage(ARENA_LO, ARENA_HI, image_size)
    )  # (S, S)
    frame = _WALL_RGB + inside[:, :, None] * (_FLOOR_RGB - _WALL_RGB)  # (S, S, 3)
    frame = np.rint(frame).astype(np.uint8)
    frame.setflags(write=False)
    return frame


def _window(lo_x: float, hi_x: float, lo_y: float, hi_y: float, scale: float, size: int) -> tuple[int, ...] | None:
    """Pixel window (i0, i1, j0, j1) holding a world bounding box plus one pixel, or None when off-image."""
    j0, j1 = max(math.floor(lo_x * scale) - 1, 0), min(math.ceil(hi_x * scale) + 1, size)
    i0, i1 = max(math.floor(lo_y * scale) - 1, 0), min(math.ceil(hi_y * scale) + 1, size)
    return (i0, i1, j0, j1) if (i0 < i1 and j0 < j1) else None


def _blend(frame: np.ndarray, win: tuple[int, ...], alpha: np.ndarray, rgb: np.ndarray) -> None:
    """Alpha-blends colour ``rgb`` with coverage ``alpha`` (h, w) into ``frame`` inside ``win``, in place."""
    i0, i1, j0, j1 = win
    patch = frame[i0:i1, j0:j1].astype(np.float32)  # (h, w, 3)
    patch += alpha[:, :, None] * (rgb - patch)
    frame[i0:i1, j0:j1] = (patch + 0.5).astype(np.uint8)


def _pixel_centres(win: tuple[int, ...], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """World y of the window's pixel rows (h, 1) and world x of its columns (1, w)."""
    i0, i1, j0, j1 = win
    rows = ((np.arange(i0, i1, dtype=np.float32) + 0.5) / scale)[:, None]  # (h, 1)
    cols = ((np.arange(j0, j1, dtype=np.float32) + 0.5) / scale)[None, :]  # (1, w)
    return rows, cols


def _draw_t(frame: np.ndarray, pose: np.ndarray, scale: float, rgb: np.ndarray) -> None:
    """Draws the T at ``pose``, anti-aliased by its signed distance (coverage = 0.5 - distance in pixels)."""
    corners = np.array(t_polygons(pose)).reshape(-1, 2)  # (8, 2)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    win = _window(lo[0], hi[0], lo[1], hi[1], scale, frame.shape[0])
    if win is None:
        return
    rows, cols = _pixel_centres(win, scale)
    c, s = math.cos(float(pose[2])), math.sin(float(pose[2]))
    dx, dy = cols - float(pose[0]), rows - float(pose[1])  # (1, w), (h, 1)
    u, v = c * dx + s * dy, c * dy - s * dx  # (h, w) body-frame coordinates
    # Box distance max(|u| - hw, |v| - hh): exact along edges, enough for one-pixel anti-aliasing. The stem is drawn
    # reaching up into the bar so the shared edge leaves no half-covered seam.
    bar = np.maximum(np.abs(u) - 60.0, np.abs(v - 15.0) - 15.0)  # (h, w)
    stem = np.maximum(np.abs(u) - 15.0, np.abs(v - 67.5) - 52.5)  # (h, w)
    alpha = np.clip(0.5 - np.minimum(bar, stem) * scale, 0.0, 1.0)  # (h, w)
    _blend(frame, win, alpha, rgb)


def _draw_disc(frame: np.ndarray, xy: np.ndarray, radius: float, scale: float, rgb: np.ndarray) -> None:
    """Draws a disc anti-aliased by its signed distance."""
    x, y = float(xy[0]), float(xy[1])
    win = _window(x - radius, x + radius, y - radius, y + radius, scale, frame.shape[0])
    if win is None:
        return
    rows, cols = _pixel_centres(win, scale)
    dist = np.sqrt((cols - x) ** 2 + (rows - y) ** 2) - radius  # (h, w)
    _blend(frame, win, np.clip(0.5 - dist * scale, 0.0, 1.0), rgb)


# ---------------------------------------------------------------------------------------------- the env


class PushTEnv(gym.Env[np.ndarray, np.ndarray]):
    """PushT with goal-conditioned resets: push the T block to a goal pose given as a goal image and a goal state.

    Each episode has its own goal (a full 7-vector state; the goal image is the frame rendered at it). The episode
    terminates on success (see the module docstring for both rules); time limits come from the registration
    (``max_episode_steps=300``).

    Args:
        image_size: Side S of the square RGB frames in pixels, an int >= 16. World units do not depend on it.
        render_mode: ``"rgb_array"`` (``render()`` returns the current frame) or None.
        relative: Actions are offsets of the PD target from the agent, times 100 units (the paper's setup); False
            makes them absolute targets, Box(0, 512, (2,)).
        success: ``"pose"`` (the paper's rule) or ``"coverage"`` (gym-pusht's rule).
        obs_type: ``"pixels"`` (uint8 (S, S, 3) frames) or ``"state"`` (the float32 (7,) state; frames are then
            drawn only for ``render()`` and the goal image), for state-based baselines.
        goal_marker: ``"fixed"`` (the reference: the green T at ``FIXED_TARGET`` in every frame), ``"episode"`` (the
            episode's goal T instead) or ``"none"``.
        pusher: ``"kinematic"`` (the reference) or ``"dynamic"`` (v0's heavy disc; see the module docstring).
        walls: ``"segments"`` (the reference's radius-2 segments) or ``"solid"`` (v0's thick walls).
        clamp_target: Keep PD targets where the agent fits inside the walls (v0).
        render_style: ``"reference"`` or ``"v0"`` (v0's anti-aliased look, no contact marks).
        sampling: ``"reference"`` or ``"v0"`` (block inside the walls, agent not touching it, goal not solved).
        reset_physics: Step the physics at the goal and at the start during reset, as the reference; False sets
            the states exactly (v0).
        clip_actions: Clip actions to the action space (v0); the reference does not.
        success_reward: Reward 1.0 on success, else 0.0 (v0), instead of the rule's reference reward.
        success_position: Threshold on ||(agent xy, block xy) - goal's||, in units.
        success_angle: Threshold on the block-angle error, in radians.
        coverage_threshold: Coverage above which ``success="coverage"`` succeeds.

    Example:
        >>> env = PushTEnv(image_size=32)
        >>> state = [100.0, 400.0, 256.0, 256.0, 0.5, 0.0, 0.0]
        >>> obs, info = env.reset(seed=0, options={"state": state, "goal_state": state})
        >>> obs.shape, info["state"].tolist() == state, info["is_success"]
        ((32, 32, 3), True, True)
        >>> obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
        >>> bool(info["state"][0] > 110.0), info["contact"]  # the agent moved right, away from the block
        (True, False)
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012 (Gymnasium declares it a dict)

    def __init__(
        self,
        *,
        image_size: int = 64,
        render_mode: str | None = "rgb_array",
        relative: bool = True,
        success: Literal["pose", "coverage"] = "pose",
        obs_type: Literal["pixels", "state"] = "pixels",
        goal_marker: Literal["fixed", "episode", "none"] = "fixed",
        pusher: Literal["kinematic", "dynamic"] = "kinematic",
        walls: Literal["segments", "solid"] = "segments",
        clamp_target: bool = False,
        render_style: Literal["reference", "v0"] = "reference",
        sampling: Literal["reference", "v0"] = "reference",
        reset_physics: bool = True,
        clip_actions: bool = False,
        success_reward: bool = False,
        success_position: float = 20.0,
        success_angle: float = math.pi / 9,
        coverage_threshold: float = 0.95,
    ) -> None:
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
            raise ValueError(
                f"image_size must be an int >= 16 (the frame side in pixels), got {image_size!r}. "
                "Pass e.g. image_size=64 or image_size=224; world units are always [0, 512] whatever the size."
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}.")
        for name, value, valid in (
            ("success", success, ("pose", "coverage")),
            ("obs_type", obs_type, ("pixels", "state")),
            ("goal_marker", goal_marker, ("fixed", "episode", "none")),
            ("pusher", pusher, ("kinematic", "dynamic")),
            ("walls", walls, ("segments", "solid")),
            ("render_style", render_style, ("reference", "v0")),
            ("sampling", sampling, ("reference", "v0")),
        ):
            if value not in valid:
                raise ValueError(f"{name} must be one of {valid} (the first is the paper's env), got {value!r}.")
        if not (math.isfinite(success_position) and success_position > 0):
            raise ValueError(f"success_position must be a positive number of units, got {success_position!r}.")
        if not (0 < success_angle <= math.pi):
            raise ValueError(f"success_angle must be in (0, pi] radians, got {success_angle!r}.")
        if not (0 < coverage_threshold <= 1):
            raise ValueError(f"coverage_threshold must be in (0, 1], got {coverage_threshold!r}.")
        self._pymunk = _import_pymunk()

        self.image_size = int(image_size)
        self.render_mode = render_mode
        self.relative = bool(relative)
        self.success = success
        self.obs_type = obs_type
        self.goal_marker = goal_marker
        self.pusher = pusher
        self.walls = walls
        self.clamp_target = bool(clamp_target)
        self.render_style = render_style
        self.sampling = sampling
        self.reset_physics = bool(reset_physics)
        self.clip_actions = bool(clip_actions)
        self.success_reward = bool(success_reward)
        self.success_position = float(success_position)
        self.success_angle = float(success_angle)
        self.coverage_threshold = float(coverage_threshold)

        if self.relative:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        else:
            self.action_space = spaces.Box(0.0, WORLD_SIZE, shape=(2,), dtype=np.float32)
        if obs_type == "pixels":
            self.observation_space = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
        else:
            # Wide bounds: the kinematic agent (and a block it drives) can leave the arena, at most ~40 units a step.
            w = _STATE_BOUND
            low = np.array([-w, -w, -w, -w, 0.0, -w, -w], dtype=np.float32)
            high = np.array([w, w, w, w, _TWO_PI, w, w], dtype=np.float32)
            self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self._scale = self.image_size / WORLD_SIZE  # pixels per unit (v0 rendering)
        self._renderer: ReferenceRenderer | None = None
        if render_style == "reference":
            self._renderer = ReferenceRenderer(self.image_size, FIXED_TARGET if goal_marker == "fixed" else None)
        self._space: Any = None
        self._agent: Any = None  # pymunk.Body
        self._agent_shape: Any = None
        self._block: Any = None  # dynamic pymunk.Body
        self._goal: np.ndarray | None = None  # float64 (7,)
        self._goal_frame: np.ndarray | None = None  # uint8 (S, S, 3)
        self._frame: np.ndarray | None = None  # uint8 (S, S, 3), drawn lazily in state mode
        self._touched = False
        self._n_contacts = 0
        self._contact_marks: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self._colors: dict[str, tuple[int, int, int]] = {}  # set only by perturb(agent_rgb=, block_rgb=)

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random``, the only source of randomness.
            options: Optional ``{"state": s, "goal_state": g, "start": "gym-pusht"}``. ``state`` and ``goal_state``
                are 7-vectors (agent xy, block xy, block angle, agent velocity) or 5-vectors (at rest); see the module
                docstring for what the reference's reset does with them. A missing (or None) state or goal is
                sampled; ``start="gym-pusht"`` samples the start from gym-pusht's distribution and random stream.

        Returns:
            The first observation and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option key or a malformed state (with ``walls="solid"``, also one outside the
                walls or with the agent deep in the block).
        """
        super().reset(seed=seed)
        self._colors = {}
        options = reset_options(
            options,
            {"state", "goal_state", "start"},
            "PushTEnv.reset accepts options={'state': s, 'goal_state': g, 'start': 'gym-pusht'}, each optional, with "
            "s and g 7-vectors (agent x, y, block x, y, block angle, agent vx, vy) in world units.",
        )
        start = options.get("start")
        if start not in (None, "reference", "gym-pusht"):
            raise ValueError(f"options['start'] must be 'gym-pusht' or 'reference' (the default), got {start!r}.")
        physical = self.walls == "solid"
        state = self._validated_state(options.get("state"), "state", physical=physical)
        goal = self._validated_state(options.get("goal_state"), "goal_state", physical=False)
        gym_pusht_start = None
        if self.sampling == "v0":  # v0's order: the start, then a goal it does not already satisfy
            if state is None:
                state = self._sample_state_v0()
            if goal is None:
                goal = self._sample_state_v0()
                for _ in range(100):
                    if not self.is_success(state, goal):
                        break
                    goal = self._sample_state_v0()
        else:
            if start == "gym-pusht" and state is None:
                rng = self.np_random  # gym-pusht's draws, in its order, from the freshly seeded generator
                gym_pusht_start = [
                    float(rng.integers(50, 450)),
                    float(rng.integers(50, 450)),
                    float(rng.integers(100, 400)),
                    float(rng.integers(100, 400)),
                    float(rng.uniform(-np.pi, np.pi)),
                ]
            if goal is None:
                goal = self._sample_state()
                goal[4] %= _TWO_PI  # the reference keeps the raw angle, which its angle rule can misjudge
            if state is None and gym_pusht_start is None:
                state = self._sample_state()
        self._goal = goal
        if self.goal_marker == "episode" and self.render_style == "reference":
            self._renderer = ReferenceRenderer(self.image_size, (float(goal[2]), float(goal[3]), float(goal[4])))
        if gym_pusht_start is not None:
            # gym-pusht's reset: a fresh space (agent at (256, 400), block at (256, 300), angle 0), the agent placed,
            # the block's position set before its angle (which moves its origin), one physics step.
            self._build_space(np.array([256.0, 400.0, 256.0, 300.0, 0.0, 0.0, 0.0]))
            self._agent.position = gym_pusht_start[:2]
            self._block.position = gym_pusht_start[2:4]
            self._block.angle = gym_pusht_start[4]
            self._target = (gym_pusht_start[0], gym_pusht_start[1])
            self._physics_step()
            self._goal_frame = self._render_state(goal)
        elif self.reset_physics:
            self._build_space(state)
            self._set_state(goal)
            self._physics_step()
            self._goal_frame = self._render_current()
            self._set_state(state)
            self._physics_step()
        else:
            self._build_space(state)
            self._goal_frame = self._render_state(goal)
            self._set_state(state)
        self._frame = None
        self._touched = bool(t_signed_distance(self._state()[:2], self._state()[2:5]) <= AGENT_RADIUS)
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Moves the PD target and simulates 0.1 s (10 physics substeps).

        Args:
            action: (2,) target offset (x 100 units) when ``relative``, else the absolute target in world units; not
                clipped unless ``clip_actions``.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward follows the success rule (module docstring);
            terminated is True on success; truncated is always False (the registered TimeLimit truncates). info holds
            ``"proprio"`` (float32 (4,)), ``"state"`` and ``"goal_state"`` (float32 (7,)), ``"goal"`` (uint8
            (S, S, 3), the goal image), ``"is_success"`` (bool), ``"distance"`` (float, ||(agent xy, block xy) -
            goal's||), ``"contact"`` (bool, the agent touched the block during this step), ``"n_contacts"`` (the
            reference's contact points per substep, walls included) and ``"coverage"`` (float in [0, 1]).
        """
        if self._space is None:
            raise RuntimeError("PushTEnv.step() was called before reset(); call env.reset(seed=...) first.")
        # The action keeps its float dtype: the reference's arithmetic follows it (float32 from the action space).
        act = float_vector(action, keep_float=True)  # (2,)
        if act.shape != (2,) or not np.all(np.isfinite(act)):
            raise ValueError(f"action must be 2 finite numbers (the PD target, x and y), got {action!r}.")
        if self.clip_actions:
            act = np.clip(act, self.action_space.low, self.action_space.high)
        self._touched = False
        self._n_contacts = 0
        if self.pusher == "dynamic":
            self._step_dynamic(act)
        else:
            self._step_kinematic(act)
        self._frame = None
        info = self._info()
        success = info["is_success"]
        return self._observation(), self._reward(info), success, False, info

    def render(self) -> np.ndarray:
        """Returns the current frame, uint8 (S, S, 3) (equal to the last observation in pixel mode)."""
        if self._space is None:
            raise RuntimeError("PushTEnv.render() was called before reset(); call env.reset(seed=...) first.")
        return self._current_frame().copy()

    def perturb(
        self, *, state: Any = None, agent_rgb: Any = None, block_rgb: Any = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A mid-episode perturbation for violation-of-expectation tests (``lewm surprise``): teleport the agent and
        the block to ``state`` (a 7- or 5-vector as in ``reset``; no physics step is taken) and/or draw the agent and
        the block in other colours (three values in [0, 255] each) until the next reset. The goal image is unchanged.

        Returns:
            The new observation and the info dict (see ``step``).

        Example:
            >>> env = PushTEnv(image_size=32)
            >>> _ = env.reset(seed=0)
            >>> _, info = env.perturb(state=[100.0, 100.0, 300.0, 300.0, 1.0], agent_rgb=[220, 20, 60])
            >>> info["state"][:5].round(3).tolist()
            [100.0, 100.0, 300.0, 300.0, 1.0]
        """
        if self._space is None:
            raise RuntimeError("PushTEnv.perturb() was called before reset(); call env.reset(seed=...) first.")
        if state is not None:
            self._set_state(self._validated_state(state, "state", physical=self.walls == "solid"))
            self._contact_marks = []
        for name, rgb in (("agent", agent_rgb), ("block", block_rgb)):
            if rgb is not None:
                c = np.asarray(rgb, dtype=np.float64).reshape(-1)
                if c.shape != (3,) or not np.all((c >= 0) & (c <= 255)):
                    raise ValueError(f"{name}_rgb must be three values in [0, 255], got {rgb!r}.")
                self._colors[name] = tuple(round(float(v)) for v in c)
        self._frame = None
        return self._observation(), self._info()

    # ------------------------------------------------------------------ goal-conditioned API

    def render_goal(self) -> np.ndarray:
        """Returns the goal image: the frame with the agent and the block at the goal state, uint8 (S, S, 3)."""
        if self._goal_frame is None:
            raise RuntimeError("PushTEnv.render_goal() was called before reset(); call env.reset(seed=...) first.")
        return self._goal_frame.copy()

    def is_success(self, state: np.ndarray, goal_state: np.ndarray) -> bool:
        """The success rule chosen by ``success`` (see the module docstring).

        Args:
            state: A state, (7,) or at least its first 5 entries (agent xy, block xy, block angle).
            goal_state: The goal, same layout.

        Returns:
            True when ``state`` satisfies the goal.
        """
        s, g = np.asarray(state, dtype=np.float64), np.asarray(goal_state, dtype=np.float64)
        if self.success == "coverage":
            return block_coverage(s[2:5], g[2:5]) > self.coverage_threshold
        # The reference's arithmetic: |goal - state| folded once (angles in [0, 2 pi) give the wrapped error).
        pos_diff = float(np.linalg.norm(g[:4] - s[:4]))
        angle_diff = abs(float(g[4]) - float(s[4]))
        angle_diff = min(angle_diff, 2 * np.pi - angle_diff)
        return bool(pos_diff < self.success_position and angle_diff < self.success_angle)

    @property
    def state(self) -> np.ndarray:
        """The current state, float32 (7,) (a copy)."""
        if self._space is None:
            raise RuntimeError("PushTEnv has no state before reset(); call env.reset(seed=...) first.")
        return self._state().astype(np.float32)

    @property
    def goal_state(self) -> np.ndarray:
        """The goal state, float32 (7,) (a copy)."""
        if self._goal is None:
            raise RuntimeError("PushTEnv has no goal_state before reset(); call env.reset(seed=...) first.")
        return self._goal.astype(np.float32)

    # ------------------------------------------------------------------ physics

    def _build_space(self, initial: np.ndarray) -> None:
        """A fresh pymunk space, its shapes created in the reference's order (walls, agent, block)."""
        pm = self._pymunk
        space = pm.Space()
        space.gravity = (0.0, 0.0)
        space.damping = 0.0  # bodies keep no velocity beyond the next substep: the block moves only while pushed
        if self.walls == "solid":
            far_lo, far_hi = -WORLD_SIZE, 2.0 * WORLD_SIZE
            for x0, x1, y0, y1 in (
                (far_lo, ARENA_LO, far_lo, far_hi),
                (ARENA_HI, far_hi, far_lo, far_hi),
                (far_lo, far_hi, far_lo, ARENA_LO),
                (far_lo, far_hi, ARENA_HI, far_hi),
            ):
                # Thick walls: a block squeezed against one by the heavy agent cannot tunnel through it.
                space.add(pm.Poly(space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
        else:
            space.add(*(pm.Segment(space.static_body, a, b, WALL_RADIUS) for a, b in WALL_SEGMENTS))
        if self.pusher == "dynamic":
            space.iterations = DYNAMIC_SOLVER_ITERATIONS
            agent = pm.Body(DYNAMIC_AGENT_MASS, math.inf)
            agent.velocity_func = self._pd_velocity
        else:
            agent = pm.Body(body_type=pm.Body.KINEMATIC)
        agent.position = (float(initial[0]), float(initial[1]))
        agent_shape = pm.Circle(agent, AGENT_RADIUS)
        space.add(agent, agent_shape)
        bar, stem = (list(v) for v in T_VERTICES)
        # Mass 1; the moment is the reference's (it sums the bar's moment twice), kept for identical dynamics.
        inertia = pm.moment_for_poly(1, vertices=bar)
        block = pm.Body(1, inertia + inertia)
        bar_shape, stem_shape = pm.Poly(block, bar), pm.Poly(block, stem)
        block.center_of_gravity = (bar_shape.center_of_gravity + stem_shape.center_of_gravity) / 2
        block.position = (float(initial[2]), float(initial[3]))
        block.angle = float(initial[4])
        space.add(block, bar_shape, stem_shape)
        space.on_collision(0, 0, post_solve=self._on_contact)
        self._space, self._agent, self._agent_shape, self._block = space, agent, agent_shape, block
        self._target = (float(initial[0]), float(initial[1]))

    def _set_state(self, state: np.ndarray) -> None:
        """Puts the agent and the block at ``state``: agent velocity and position, then block angle and position."""
        s = np.asarray(state, dtype=np.float64).tolist()
        self._agent.velocity = tuple(s[5:7]) if len(s) == 7 else (0.0, 0.0)
        self._agent.position = s[:2]
        # Angle first: pymunk rotates about the centre of gravity, so setting the position last puts the body origin
        # (the reported block xy) exactly where asked.
        self._block.angle = s[4]
        self._block.position = s[2:4]
        self._target = (s[0], s[1])

    def _physics_step(self) -> None:
        self._contact_marks = []
        self._space.step(DT)

    def _step_kinematic(self, act: np.ndarray) -> None:
        """The reference's update: the PD law sets the kinematic agent's velocity, then the space steps."""
        agent = self._agent
        Vec2d = self._pymunk.Vec2d
        # Written as the reference, types included: the float32 action makes the target (and, through it, the PD
        # acceleration) float32 in relative mode; absolute targets stay float64 arrays.
        target = agent.position + act * ACTION_SCALE if self.relative else act
        if self.clamp_target:
            target = np.clip(np.asarray(target, dtype=np.float64), _AGENT_LO, _AGENT_HI)
        for _ in range(SUBSTEPS):
            acceleration = K_P * (target - agent.position) + K_V * (Vec2d(0, 0) - agent.velocity)
            agent.velocity += acceleration * DT
            self._physics_step()

    def _step_dynamic(self, act: np.ndarray) -> None:
        """v0's update: the target is fixed for the step and the PD law runs inside pymunk's velocity update."""
        act = act.astype(np.float64)
        if self.relative:
            act = np.array(self._agent.position) + ACTION_SCALE * act
        if self.clamp_target:
            act = np.clip(act, _AGENT_LO, _AGENT_HI)
        self._target = (float(act[0]), float(act[1]))
        for _ in range(SUBSTEPS):
            self._physics_step()

    def _pd_velocity(self, body: Any, gravity: Any, damping: float, dt: float) -> None:
        """``pusher="dynamic"``: the agent's velocity update, called by pymunk every substep before contacts."""
        (px, py), (vx, vy) = body.position, body.velocity
        tx, ty = self._target
        body.velocity = (vx + (K_P * (tx - px) - K_V * vx) * dt, vy + (K_P * (ty - py) - K_V * vy) * dt)

    def _on_contact(self, arbiter: Any, space: Any, data: Any) -> None:
        """Post-solve on every pair: the reference's contact count, our agent-block flag, and the contact marks."""
        points = arbiter.contact_point_set
        self._n_contacts += len(points.points)
        if self._agent_shape in arbiter.shapes:
            self._touched = True
        n = points.normal
        for p in points.points:
            a, b = p.point_a, p.point_b
            self._contact_marks.append(((a.x - 2.0 * n.x, a.y - 2.0 * n.y), (b.x + 2.0 * n.x, b.y + 2.0 * n.y)))

    def _state(self) -> np.ndarray:
        (ax, ay), (bx, by), (vx, vy) = self._agent.position, self._block.position, self._agent.velocity
        return np.array([ax, ay, bx, by, float(self._block.angle) % _TWO_PI, vx, vy], dtype=np.float64)  # (7,)

    def _reward(self, info: dict[str, Any]) -> float:
        if self.success_reward:
            return 1.0 if info["is_success"] else 0.0
        if self.success == "coverage":
            return float(np.clip(info["coverage"] / self.coverage_threshold, 0.0, 1.0))
        return -float(np.linalg.norm(self._goal - self._state()))

    # ------------------------------------------------------------------ observations

    def _observation(self) -> np.ndarray:
        return self._current_frame() if self.obs_type == "pixels" else self._state().astype(np.float32)

    def _current_frame(self) -> np.ndarray:
        if self._frame is None:
            self._frame = self._render_current()
        return self._frame

    def _render_current(self) -> np.ndarray:
        """The frame of the current physics state (with the last substep's contact marks)."""
        if self._renderer is None:
            state = self._state()
            return self._render_v0(state[:2], state[2:5])
        block = [[tuple(self._block.local_to_world(v)) for v in s.get_vertices()] for s in self._block.shapes]
        colors = {f"{k}_color": v for k, v in self._colors.items()}
        return self._renderer.frame(block, tuple(self._agent.position), AGENT_RADIUS, self._contact_marks, **colors)

    def _render_state(self, state: np.ndarray) -> np.ndarray:
        """The frame of a state without simulating it (no contact marks)."""
        if self._renderer is None:
            return self._render_v0(state[:2], state[2:5])
        c, s = math.cos(float(state[4])), math.sin(float(state[4]))
        x, y = float(state[2]), float(state[3])
        block = [[(c * u + -s * v + x, s * u + c * v + y) for u, v in poly] for poly in T_VERTICES]
        return self._renderer.frame(block, (float(state[0]), float(state[1])), AGENT_RADIUS, [])

    def _render_v0(self, agent_xy: np.ndarray, block_pose: np.ndarray) -> np.ndarray:
        """v0's look: background, the goal T if marked, the block, then the agent on top: uint8 (S, S, 3)."""
        frame = _background(self.image_size).copy()  # (S, S, 3)
        if self.goal_marker != "none" and self._goal is not None:
            pose = self._goal[2:5] if self.goal_marker == "episode" else np.array(FIXED_TARGET)
            _draw_t(frame, pose, self._scale, _GOAL_RGB)
        block_rgb = np.array(self._colors.get("block", _BLOCK_RGB), dtype=np.float32)
        agent_rgb = np.array(self._colors.get("agent", _AGENT_RGB), dtype=np.float32)
        _draw_t(frame, block_pose, self._scale, block_rgb)
        _draw_disc(frame, agent_xy, AGENT_RADIUS, self._scale, agent_rgb)
        return frame

    def _info(self) -> dict[str, Any]:
        state, goal = self._state(), self._goal
        state32 = state.astype(np.float32)  # (7,)
        return {
            "proprio": state32[[0, 1, 5, 6]],
            "state": state32,
            "goal_state": goal.astype(np.float32),
            "goal": self._goal_frame.copy(),
            "is_success": self.is_success(state, goal),
            "distance": float(np.linalg.norm(state[:4] - goal[:4])),
            "contact": self._touched,
            "n_contacts": math.ceil(self._n_contacts / SUBSTEPS),
            "coverage": block_coverage(state[2:5], goal[2:5]),
        }

    # ------------------------------------------------------------------ states

    def _validated_state(self, value: Any, name: str, physical: bool) -> np.ndarray | None:
        """Checks an ``options`` state and returns it as float64 (7,), or None when it is missing.

        ``physical`` (``walls="solid"``) states must also fit inside the solid walls: agent centre in [22, 489]^2,
        block inside the walls, agent not deep in the block (each up to a small tolerance for recorded contacts).
        """
        if value is None:
            return None
        layout = "(agent x, agent y, block x, block y, block angle, agent vx, agent vy) in world units"
        try:
            s = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise ValueError(f"options[{name!r}] must be a 7-vector {layout}, got {value!r}.") from err
        if s.shape not in ((5,), (7,)) or not np.all(np.isfinite(s)):
            raise ValueError(
                f"options[{name!r}] must be a finite 7-vector {layout} (or its first 5 entries, at rest), got "
                f"{value!r} (shape {s.shape})."
            )
        if s.shape == (5,):
            s = np.concatenate([s, np.zeros(2)])
        if not physical:
            return s
        tol = _OVERLAP_TOL
        if not np.all((s[:2] >= _AGENT_LO - tol) & (s[:2] <= _AGENT_HI + tol)):
            raise ValueError(
                f"options[{name!r}] puts the agent at {s[:2].tolist()}, inside a wall: with walls='solid' its centre "
                f"must be in [{_AGENT_LO:g}, {_AGENT_HI:g}] on both axes."
            )
        corners = np.array(t_polygons(s[2:5])).reshape(-1, 2)  # (8, 2)
        if corners.min() < ARENA_LO - tol or corners.max() > ARENA_HI + tol:
            raise ValueError(
                f"options[{name!r}] puts the block (x, y, angle) = {s[2:5].tolist()} partly outside the walls "
                f"([{ARENA_LO:g}, {ARENA_HI:g}] on both axes), which walls='solid' cannot simulate. Block xy is the "
                "centre of the bar's top edge; the stem extends 120 units from it along the block's local y axis."
            )
        gap = float(t_signed_distance(s[:2], s[2:5])) - AGENT_RADIUS
        if gap < -tol:
            raise ValueError(
                f"options[{name!r}] has the agent at {s[:2].tolist()} overlapping the block at {s[2:5].tolist()} by "
                f"{-gap:.1f} units (at most {tol:g} is accepted with walls='solid')."
            )
        return s

    def _sample_state(self) -> np.ndarray:
        """The reference's distribution: agent U[50, 450]^2, block U[100, 400]^2, angle U[-2 pi, 2 pi], at rest."""
        rng = self.np_random
        agent = rng.uniform(*SAMPLE_AGENT, size=2)
        block = rng.uniform(*SAMPLE_BLOCK, size=2)
        return np.array([*agent, *block, rng.uniform(-_TWO_PI, _TWO_PI), 0.0, 0.0])

    def _sample_state_v0(self) -> np.ndarray:
        """v0: block uniformly inside the walls, agent uniformly in the free space around it, at rest."""
        rng, m = self.np_random, _SAMPLE_MARGIN
        for _ in range(1000):
            pose = np.array([*rng.uniform(ARENA_LO, ARENA_HI, size=2), rng.uniform(0.0, _TWO_PI)])
            corners = np.array(t_polygons(pose)).reshape(-1, 2)  # (8, 2)
            if corners.min() < ARENA_LO + m or corners.max() > ARENA_HI - m:
                continue
            agents = rng.uniform(_AGENT_LO, _AGENT_HI, size=(16, 2))  # (16, 2)
            free = t_signed_distance(agents, pose) >= AGENT_RADIUS + m  # (16,)
            if free.any():
                state = np.concatenate([agents[int(np.argmax(free))], pose, np.zeros(2)])
                return state.astype(np.float32).astype(np.float64)
        raise RuntimeError("Could not sample a PushT state; the arena leaves no room for the block and the agent.")


# ---------------------------------------------------------------------------------------------- collection policy


class PushTPusherPolicy:
    """A scripted, noisy pusher that keeps touching the block: approach, push through, re-approach, sometimes wander.

    It reads only ``info["state"]`` and ``info["goal_state"]`` (no env reference, so it works behind wrappers and in
    worker processes). Each push segment picks a direction (toward the goal block with probability ``goal_prob``,
    otherwise toward a random point of the arena's central quarter, plus angular noise: uniform directions pile the
    block up against the walls) and a contact point drawn uniformly on the T, so pushes translate and rotate it.
    The agent goes to a point behind that contact point (orbiting the block when the block is in the way), then
    drives through it for a random number of steps at a random speed, tracking the point as the block turns. With
    probability ``explore_prob`` a segment is a short random walk instead. Gaussian noise of std ``noise`` is added to
    every action.

    Args:
        action_space: The env's action space: Box(-1, 1, (2,)) for relative actions or Box(0, 512, (2,)) for
            absolute targets; defaults to the relative one.
        seed: Seed of the policy's own generator; the same seed gives the same actions.
        noise: Std of the Gaussian noise added to each relative action component.
        goal_prob: Probability that a push heads toward the goal block's position.
        explore_prob: Probability that a segment is a random walk rather than a push.

    Example:
        >>> policy = PushTPusherPolicy(seed=0)
        >>> info = {"state": np.array([100.0, 400.0, 256.0, 256.0, 0.0, 0.0, 0.0]), "goal_state": np.zeros(7)}
        >>> action = policy(None, info)
        >>> action.shape, action.dtype, bool(np.all(np.abs(action) <= 1))
        ((2,), dtype('float32'), True)
    """

    approach_tolerance: float = 8.0
    """The agent starts pushing once this close to the approach point, in units."""
    approach_timeout: int = 15
    """Steps allowed to reach the approach point before the segment is dropped."""
    push_steps: tuple[int, int] = (4, 16)
    """Range (low inclusive, high exclusive) of the number of steps of one push."""

    def __init__(
        self,
        *,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        noise: float = 0.1,
        goal_prob: float = 0.3,
        explore_prob: float = 0.1,
    ) -> None:
        if action_space is None:
            action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if not isinstance(action_space, spaces.Box) or action_space.shape != (2,):
            raise ValueError(f"action_space must be a Box of shape (2,) (PushT's action space), got {action_space}.")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {noise!r}.")
        for name, p in (("goal_prob", goal_prob), ("explore_prob", explore_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
        self.action_space = action_space
        # Absolute-target spaces (gym-pusht's Box(0, 512)) get the relative action converted to a target.
        self.relative = bool(np.all(action_space.low >= -1.0 - 1e-6) and np.all(action_space.high <= 1.0 + 1e-6))
        self.noise = float(noise)
        self.goal_prob = float(goal_prob)
        self.explore_prob = float(explore_prob)
        self._rng = np.random.default_rng(seed)
        self._mode = ""

    def reset(self, seed: int | None = None) -> None:
        """Starts a new episode (forgets the current segment); reseeds the generator when ``seed`` is given."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._mode = ""

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Returns the next action.

        Args:
            obs: The observation (unused; the policy reads the state from ``info``).
            info: The env's info dict with ``"state"`` and ``"goal_state"`` (7-vectors in world units).

        Returns:
            float32 (2,) action within the action space bounds.
        """
        state = np.asarray(info["state"], dtype=np.float64).reshape(-1)
        goal = np.asarray(info["goal_state"], dtype=np.float64).reshape(-1)
        agent, pose = state[:2], state[2:5]
        if not self._mode:
            self._new_segment(agent, pose, goal[2:5])
        self._steps += 1
        if self._mode == "approach":
            point = self._approach_point(pose)
            if np.linalg.norm(point - agent) < self.approach_tolerance:
                self._mode, self._steps = "push", 0
            elif self._steps > self.approach_timeout:
                self._new_segment(agent, pose, goal[2:5])
        if self._mode == "approach":
            move = self._waypoint(agent, pose, self._approach_point(pose)) - agent  # (2,)
            norm = float(np.linalg.norm(move))
            rel = move / ACTION_SCALE if norm <= ACTION_SCALE else move / norm
        elif self._mode == "push":
            aim = _to_world(pose, self._local) + 40.0 * self._dir - agent  # a point past the contact point
            rel = self._speed * aim / max(float(np.linalg.norm(aim)), 1e-9)
            slipped = self._steps > 3 and float(t_signed_distance(agent, pose)) > AGENT_RADIUS + 25.0
            if self._steps >= self._length or slipped:
                self._mode = ""
        else:  # explore: a random walk with a slowly turning heading
            self._heading += self._rng.normal(0.0, 0.5)
            rel = self._speed * np.array([math.cos(self._heading), math.sin(self._heading)])
            if self._steps >= self._length:
                self._mode = ""
        rel = np.clip(rel + self._rng.normal(0.0, self.noise, size=2), -1.0, 1.0)  # (2,)
        # The reference's kinematic pusher follows its target anywhere, out of the arena too: keep the target (and so
        # the agent, and the recorded frames) inside the arena.
        rel = (np.clip(agent + ACTION_SCALE * rel, _AGENT_LO, _AGENT_HI) - agent) / ACTION_SCALE  # (2,)
        action = rel if self.relative else agent + ACTION_SCALE * rel
        return np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)

    def _new_segment(self, agent: np.ndarray, pose: np.ndarray, goal_pose: np.ndarray) -> None:
        rng = self._rng
        self._steps = 0
        self._speed = rng.uniform(0.3, 1.0)
        if rng.random() >= self.explore_prob:
            centre, goal_centre = _to_world(pose, np.array(_T_CENTRE)), _to_world(goal_pose, np.array(_T_CENTRE))
            for _ in range(10):
                # Toward the goal, or toward a random point of the arena's centre: uniform directions would pile the
                # block up against the walls.
                u = rng.random()
                aim = goal_centre if u < self.goal_prob else rng.uniform(0.25, 0.75, size=2) * WORLD_SIZE
                heading = math.atan2(aim[1] - centre[1], aim[0] - centre[0]) + rng.normal(0.0, 0.4)
                direction = np.array([math.cos(heading), math.sin(heading)])
                local = _sample_t_point(rng)
                contact = _to_world(pose, local)
                # Back off along -direction until the disc clears the T: that is where the push starts.
                back = np.arange(0.0, 260.0, 4.0)  # (K,)
                clear = t_signed_distance(contact - back[:, None] * direction, pose) >= AGENT_RADIUS + 4.0  # (K,)
                if not clear.any():
                    continue
                offset = back[int(np.argmax(clear))] + rng.uniform(0.0, 15.0)
                start = contact - offset * direction
                if np.all((start > _AGENT_LO + 2.0) & (start < _AGENT_HI - 2.0)):
                    self._mode, self._local, self._dir, self._offset = "approach", local, direction, offset
                    self._length = int(rng.integers(*self.push_steps))
                    return
        self._mode, self._heading = "explore", rng.uniform(0.0, _TWO_PI)
        self._length = int(rng.integers(3, 9))

    def _approach_point(self, pose: np.ndarray) -> np.ndarray:
        return _to_world(pose, self._local) - self._offset * self._dir

    @staticmethod
    def _waypoint(agent: np.ndarray, pose: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``target``, or a point on a circle around the block when the straight path would hit the block."""
        path = agent + np.linspace(0.0, 1.0, 12)[:, None] * (target - agent)  # (12, 2)
        if t_signed_distance(path, pose).min() >= AGENT_RADIUS + 2.0:
            return target
        centre = _to_world(pose, np.array(_T_CENTRE))
        radius = _T_REACH + AGENT_RADIUS + 10.0
        phi = math.atan2(agent[1] - centre[1], agent[0] - centre[0])
        turn = (math.atan2(target[1] - centre[1], target[0] - centre[0]) - phi + math.pi) % _TWO_PI - math.pi
        phi += max(-0.7, min(0.7, turn))  # orbit toward the target's side, at most 40 degrees per step
        return np.clip(centre + radius * np.array([math.cos(phi), math.sin(phi)]), _AGENT_LO, _AGENT_HI)


def _to_world(pose: np.ndarray, local: np.ndarray) -> np.ndarray:
    """A body-frame point of the block at ``pose`` in world units, (2,)."""
    c, s = math.cos(float(pose[2])), math.sin(float(pose[2]))
    return np.array([pose[0] + c * local[0] - s * local[1], pose[1] + s * local[0] + c * local[1]])


def _sample_t_point(rng: np.random.Generator) -> np.ndarray:
    """A point uniform on the T's area, body frame, (2,)."""
    bar_area = (BAR[1] - BAR[0]) * (BAR[3] - BAR[2])
    x0, x1, y0, y1 = BAR if rng.random() < bar_area / T_AREA else STEM
    return np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
