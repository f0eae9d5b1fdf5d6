"""TwoRoom: a point agent in two rooms joined by a door, rendered with numpy only.

Units and shapes:
    World coordinates are float units in [0, 224] x [0, 224], whatever the rendered image size, so that states
    recorded at different image sizes are comparable. x grows to the right (image column) and y grows downward
    (image row). S is the rendered image side in pixels; one world unit is S / 224 pixels.

    * ``state`` = ``proprio``: the agent centre (x, y), float32 (2,).
    * ``goal_state``: the target centre (x, y), float32 (2,).
    * observation, ``render()``, ``info["goal"]``: RGB frames, uint8 (S, S, 3).
    * action: float32 (2,) in [-1, 1]; the agent moves by ``action * max_speed`` units per step.

Geometry (the official stable-worldmodel TwoRoom, defined on a 64-px reference and scaled to 224 units):
    14-unit border walls on every side; one 10-unit vertical wall centred at x = 112 (x in [107, 117]) with one door
    centred at y = 49 of half-width 14 (y in [35, 63]). The agent is a disc of radius 7 that may never overlap a wall,
    so its centre lives in x in [21, 100] (left room) or [124, 203] (right room), y in [21, 203], and crosses the
    wall only with y in [42, 56]. Success is a distance below 16 units to the target (the paper's 16 px at 224 px).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.options import reset_options

WORLD_SIZE: float = 224.0
"""Side of the square world, in units (the 224-px frame of the paper)."""
BORDER: float = 14.0
"""Thickness of the outer walls, in units."""
WALL_X: float = 112.0
"""x of the centre line of the interior wall, in units."""
WALL_HALF_THICKNESS: float = 5.0
"""Half thickness of the interior wall, in units (the wall spans x in [107, 117])."""
DOOR_CENTER: float = 49.0
"""Default y of the door centre, in units."""
DOOR_HALF_WIDTH: float = 14.0
"""Default half-extent of the door along y, in units (the door spans y in [35, 63])."""
MIN_GOAL_DISTANCE: float = 40.0
"""A sampled target is at least this far from the agent, in units, so episodes are not trivially solved at reset."""

# States are stored as float32. A position clamped against a wall and then rounded to float32 can sit ~1e-5 units
# inside the wall, so free-space checks (and re-setting such a state through `reset`) accept this much overlap.
_FREE_TOL: float = 1e-3
# The Gaussian dot is cut off at this many sigmas: exp(-8) * 255 < 0.1 grey level, so the cut is invisible.
_BLOB_SIGMAS: float = 4.0
# Below about half a pixel a Gaussian aliases to a single pixel and sub-pixel motion disappears (tiny image sizes).
_MIN_SIGMA_PX: float = 0.5
_AGENT_RGB = np.array([255.0, 0.0, 0.0], dtype=np.float32)
_TARGET_RGB = np.array([0.0, 170.0, 0.0], dtype=np.float32)
_SAMPLE_BATCH: int = 64


class _Rect(NamedTuple):
    """An axis-aligned wall rectangle in world units: x in [x0, x1], y in [y0, y1]."""

    x0: float
    x1: float
    y0: float
    y1: float


def _make_walls(door_center: float, door_half_width: float) -> tuple[_Rect, ...]:
    """Builds the wall rectangles: four borders plus the interior wall split by the door."""
    lo, hi = WORLD_SIZE - BORDER, WORLD_SIZE
    wall_x0, wall_x1 = WALL_X - WALL_HALF_THICKNESS, WALL_X + WALL_HALF_THICKNESS
    door_y0, door_y1 = door_center - door_half_width, door_center + door_half_width
    walls = [
        _Rect(0.0, BORDER, 0.0, WORLD_SIZE),  # left
        _Rect(lo, hi, 0.0, WORLD_SIZE),  # right
        _Rect(0.0, WORLD_SIZE, 0.0, BORDER),  # top
        _Rect(0.0, WORLD_SIZE, lo, hi),  # bottom
    ]
    # A door flush with a border leaves an empty segment; skip it rather than keep a zero-height rectangle.
    if door_y0 > BORDER:
        walls.append(_Rect(wall_x0, wall_x1, BORDER, door_y0))
    if door_y1 < lo:
        walls.append(_Rect(wall_x0, wall_x1, door_y1, lo))
    return tuple(walls)


def _pixel_coverage(lo: float, hi: float, image_size: int) -> np.ndarray:
    """Fraction of each pixel of one image axis covered by the world interval [lo, hi].

    Returns:
        float64 (S,) in [0, 1].
    """
    pixel = WORLD_SIZE / image_size
    edges = np.arange(image_size + 1) * pixel  # (S + 1,)
    overlap = np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1])  # (S,)
    return np.clip(overlap / pixel, 0.0, 1.0)


@functools.lru_cache(maxsize=32)
def _background(image_size: int, walls: tuple[_Rect, ...]) -> np.ndarray:
    """The static frame (white floor, black walls), area anti-aliased, shared read-only between envs.

    Returns:
        uint8 (S, S, 3), not writeable: callers copy it before drawing.
    """
    cover = np.zeros((image_size, image_size), dtype=np.float64)  # (S, S)
    for wall in walls:
        # Rectangles are separable: pixel coverage is the outer product of the per-axis coverages.
        cover += np.outer(_pixel_coverage(wall.y0, wall.y1, image_size), _pixel_coverage(wall.x0, wall.x1, image_size))
    grey = np.rint(255.0 * (1.0 - np.clip(cover, 0.0, 1.0))).astype(np.uint8)  # (S, S)
    frame = np.repeat(grey[:, :, None], 3, axis=2)  # (S, S, 3)
    frame.setflags(write=False)
    return frame


def _draw_dot(frame: np.ndarray, xy: np.ndarray, scale: float, sigma_px: float, rgb: np.ndarray) -> None:
    """Alpha-blends a Gaussian-profile dot into ``frame`` in place, touching only a window around it.

    A Gaussian (rather than a hard disc) changes smoothly with sub-pixel motion, so a 5-unit step (1.4 px at 64 px)
    always changes the image and a world model can read small actions from pixels.

    Args:
        frame: uint8 (S, S, 3), modified in place.
        xy: Dot centre in world units, (2,).
        scale: Pixels per world unit.
        sigma_px: Standard deviation of the dot, in pixels.
        rgb: float32 (3,) colour of the dot centre.
    """
    size = frame.shape[0]
    # Pixel j covers world [j, j + 1] / scale, so its centre is at (j + 0.5) / scale.
    cx, cy = float(xy[0]) * scale - 0.5, float(xy[1]) * scale - 0.5
    reach = _BLOB_SIGMAS * sigma_px
    j0, j1 = max(math.floor(cx - reach), 0), min(math.ceil(cx + reach) + 1, size)
    i0, i1 = max(math.floor(cy - reach), 0), min(math.ceil(cy + reach) + 1, size)
    if j0 >= j1 or i0 >= i1:
        return
    gx = np.exp(-0.5 * ((np.arange(j0, j1) - cx) / sigma_px) ** 2)  # (w,)
    gy = np.exp(-0.5 * ((np.arange(i0, i1) - cy) / sigma_px) ** 2)  # (h,)
    alpha = np.outer(gy, gx).astype(np.float32)[:, :, None]  # (h, w, 1)
    patch = frame[i0:i1, j0:j1].astype(np.float32)  # (h, w, 3)
    patch += alpha * (rgb - patch)
    frame[i0:i1, j0:j1] = (patch + 0.5).astype(np.uint8)


class TwoRoomEnv(gym.Env[np.ndarray, np.ndarray]):
    """A 2-D point agent in two rooms joined by a door, observed as RGB pixels (goal-conditioned).

    The agent must reach a target that is given as a goal image (``info["goal"]``), and as a state
    (``info["goal_state"]``) for evaluation and scripted policies. Moves are resolved one axis at a time (x then y)
    and clamped where the agent disc touches a wall, so the agent slides along walls and crosses the door only when it
    fits. The episode terminates with reward 1 when the agent is within ``success_radius`` of the target; time limits
    come from the registration (``max_episode_steps=100``).

    Args:
        image_size: Side S of the square RGB frame in pixels, an int >= 16. World units do not depend on it.
        render_mode: ``"rgb_array"`` (``render()`` returns the current frame) or None.
        max_speed: Displacement in units of a full action (``|a_i| = 1``) per step.
        door_center: y of the door centre, in units.
        door_half_width: Half-extent of the door along y, in units; must exceed ``agent_radius``.
        render_target: Also draw the target (green) in observations. Off by default: the goal comes as an image.
        success_radius: The episode succeeds when the agent-target distance is below this, in units.
        agent_radius: Radius of the agent disc used for collisions, in units.

    Example:
        >>> env = TwoRoomEnv(image_size=32)
        >>> obs, info = env.reset(seed=0, options={"state": [60.0, 100.0], "goal_state": [160.0, 100.0]})
        >>> obs.shape, info["state"].tolist(), info["is_success"]
        ((32, 32, 3), [60.0, 100.0], False)
        >>> obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
        >>> info["state"].tolist()
        [65.0, 100.0]
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012 (Gymnasium declares it a dict)

    def __init__(
        self,
        *,
        image_size: int = 64,
        render_mode: str | None = "rgb_array",
        max_speed: float = 5.0,
        door_center: float = DOOR_CENTER,
        door_half_width: float = DOOR_HALF_WIDTH,
        render_target: bool = False,
        success_radius: float = 16.0,
        agent_radius: float = 7.0,
    ) -> None:
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
            raise ValueError(
                f"image_size must be an int >= 16 (the frame side in pixels), got {image_size!r}. "
                "Pass e.g. image_size=64 or image_size=224; world units are always [0, 224] whatever the size."
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}.")
        for name, value in (
            ("max_speed", max_speed),
            ("success_radius", success_radius),
            ("agent_radius", agent_radius),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number of world units, got {value!r}.")
        if not (door_half_width > agent_radius):
            raise ValueError(
                f"door_half_width={door_half_width!r} must exceed agent_radius={agent_radius!r}, otherwise the agent "
                "cannot pass the door and targets in the other room are unreachable."
            )
        if not (BORDER <= door_center - door_half_width and door_center + door_half_width <= WORLD_SIZE - BORDER):
            raise ValueError(
                f"The door (door_center={door_center!r} +/- door_half_width={door_half_width!r}) must lie within the "
                f"interior wall, y in [{BORDER:g}, {WORLD_SIZE - BORDER:g}]; the defaults are "
                f"door_center={DOOR_CENTER:g}, door_half_width={DOOR_HALF_WIDTH:g}."
            )

        self.image_size = int(image_size)
        self.render_mode = render_mode
        self.max_speed = float(max_speed)
        self.door_center = float(door_center)
        self.door_half_width = float(door_half_width)
        self.render_target = bool(render_target)
        self.success_radius = float(success_radius)
        self.agent_radius = float(agent_radius)

        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)

        self._walls = _make_walls(self.door_center, self.door_half_width)
        # Walls as (a0, a1, b0, b1) seen from each moving axis, so the per-axis sweep has no branching.
        self._walls_by_axis = (
            tuple((w.x0, w.x1, w.y0, w.y1) for w in self._walls),
            tuple((w.y0, w.y1, w.x0, w.x1) for w in self._walls),
        )
        self._scale = self.image_size / WORLD_SIZE  # pixels per unit
        # The official env draws a Gaussian whose standard deviation is the agent radius (dot_std = 2 px on its 64-px
        # reference grid = 7 units): a wide, soft dot also keeps nearby positions similar in pixel space.
        self._sigma_px = max(self.agent_radius * self._scale, _MIN_SIGMA_PX)
        self._background = _background(self.image_size, self._walls)  # (S, S, 3), read-only

        self._agent: np.ndarray | None = None  # float64 (2,), always exactly float32-representable
        self._target: np.ndarray | None = None  # float64 (2,)
        self._frame: np.ndarray | None = None  # uint8 (S, S, 3)
        self._goal_frame: np.ndarray | None = None  # uint8 (S, S, 3)

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random``, the only source of randomness.
            options: Optional ``{"state": xy, "goal_state": xy}``. ``state`` puts the agent exactly at xy and
                ``goal_state`` puts the target exactly at xy (world units, inside free space). A missing (or None)
                entry is sampled uniformly in free space, the target at least 40 units from the agent.

        Returns:
            The first frame, uint8 (S, S, 3), and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option key, or a position that is malformed or not in free space.
        """
        super().reset(seed=seed)
        options = reset_options(
            options,
            {"state", "goal_state"},
            "TwoRoomEnv.reset accepts options={'state': xy, 'goal_state': xy}, each optional, with xy an (x, y) "
            "position in world units.",
        )
        agent = self._validated_position(options.get("state"), "state")
        target = self._validated_position(options.get("goal_state"), "goal_state")
        if agent is None:
            agent = self._sample_free(away_from=target)
        if target is None:
            target = self._sample_free(away_from=agent)
        self._agent, self._target = agent, target
        self._goal_frame = self._render_frame(self._target)
        self._frame = self._render_frame(self._agent)
        return self._frame, self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Moves the agent by ``clip(action, -1, 1) * max_speed`` units, stopping at walls.

        Args:
            action: (2,) displacement direction and magnitude, clipped to [-1, 1].

        Returns:
            ``(obs, reward, terminated, truncated, info)``: obs is uint8 (S, S, 3); reward is 1.0 on success else
            0.0; terminated is True on success; truncated is always False (the registered TimeLimit truncates).
            info holds ``"proprio"``, ``"state"`` (agent xy, float32 (2,)), ``"goal_state"`` (float32 (2,)),
            ``"goal"`` (uint8 (S, S, 3), the frame with the agent drawn at the target), ``"is_success"`` (bool) and
            ``"distance"`` (float, units).
        """
        if self._agent is None:
            raise RuntimeError("TwoRoomEnv.step() was called before reset(); call env.reset(seed=...) first.")
        act = np.asarray(action, dtype=np.float64).reshape(-1)  # (2,)
        if act.shape != (2,) or not np.all(np.isfinite(act)):
            raise ValueError(f"action must be 2 finite numbers in [-1, 1] (dx, dy), got {action!r}.")
        dx, dy = np.clip(act, -1.0, 1.0) * self.max_speed
        x, y = float(self._agent[0]), float(self._agent[1])
        x = self._sweep(x, dx, y, axis=0)
        y = self._sweep(y, dy, x, axis=1)
        # Round to float32 so the internal state equals the reported one and reset(options={"state": ...}) with a
        # recorded state reproduces the episode exactly.
        self._agent = np.array([x, y], dtype=np.float32).astype(np.float64)
        self._frame = self._render_frame(self._agent)
        info = self._info()
        success = info["is_success"]
        return self._frame, 1.0 if success else 0.0, success, False, info

    def render(self) -> np.ndarray:
        """Returns the current frame, uint8 (S, S, 3) (equal to the last observation)."""
        if self._frame is None:
            raise RuntimeError("TwoRoomEnv.render() was called before reset(); call env.reset(seed=...) first.")
        return self._frame.copy()

    # ------------------------------------------------------------------ goal-conditioned API

    def render_goal(self) -> np.ndarray:
        """Returns the goal image: the frame with the agent drawn at the target, uint8 (S, S, 3)."""
        if self._goal_frame is None:
            raise RuntimeError("TwoRoomEnv.render_goal() was called before reset(); call env.reset(seed=...) first.")
        return self._goal_frame.copy()

    def is_success(self, state: np.ndarray, goal_state: np.ndarray) -> bool:
        """The success rule: the agent-target distance is below ``success_radius``.

        Args:
            state: Agent xy in world units, (2,).
            goal_state: Target xy in world units, (2,).

        Returns:
            True when ``||state - goal_state|| < success_radius``.
        """
        return self._distance(state, goal_state) < self.success_radius

    @property
    def state(self) -> np.ndarray:
        """Agent xy in world units, float32 (2,) (a copy)."""
        if self._agent is None:
            raise RuntimeError("TwoRoomEnv has no state before reset(); call env.reset(seed=...) first.")
        return self._agent.astype(np.float32)

    @property
    def goal_state(self) -> np.ndarray:
        """Target xy in world units, float32 (2,) (a copy)."""
        if self._target is None:
            raise RuntimeError("TwoRoomEnv has no goal_state before reset(); call env.reset(seed=...) first.")
        return self._target.astype(np.float32)

    def clearance(self, xy: np.ndarray) -> np.ndarray:
        """Distance from the agent disc's edge to the nearest wall; negative means the disc overlaps a wall.

        Args:
            xy: Agent centres in world units, (..., 2).

        Returns:
            float64 (...,) clearances in units; a centre is in free space when its clearance is >= 0.
        """
        pts = np.asarray(xy, dtype=np.float64)  # (..., 2)
        nearest = np.full(pts.shape[:-1], np.inf)  # (...,)
        for w in self._walls:
            gap_x = np.maximum(np.maximum(w.x0 - pts[..., 0], pts[..., 0] - w.x1), 0.0)  # (...,)
            gap_y = np.maximum(np.maximum(w.y0 - pts[..., 1], pts[..., 1] - w.y1), 0.0)  # (...,)
            nearest = np.minimum(nearest, np.hypot(gap_x, gap_y))
        return nearest - self.agent_radius

    # ------------------------------------------------------------------ internals

    def _sweep(self, pos: float, delta: float, other: float, axis: int) -> float:
        """Moves one coordinate by ``delta`` with the other fixed, stopping where the disc first touches a wall.

        For a fixed ``other`` coordinate each wall blocks an interval of ``pos``: the wall widened by the disc's
        half-chord at that offset (so corners are round, as for a true disc). The move stops at the first blocked
        interval ahead of ``pos``.
        """
        end = pos + delta
        r = self.agent_radius
        for a0, a1, b0, b1 in self._walls_by_axis[axis]:
            gap = max(b0 - other, other - b1, 0.0)
            if gap >= r:
                continue
            half = math.sqrt(r * r - gap * gap)
            lo, hi = a0 - half, a1 + half
            # The tolerance treats a centre that float32 rounding left just inside the interval as touching it.
            if delta > 0 and pos - _FREE_TOL <= lo < end:
                end = lo
            elif delta < 0 and end < hi <= pos + _FREE_TOL:
                end = hi
        return end

    def _validated_position(self, value: Any, name: str) -> np.ndarray | None:
        """Checks an ``options`` position and returns it as float64 (2,), or None when it is missing."""
        if value is None:
            return None
        region = (
            f"x in [{BORDER + self.agent_radius:g}, {WALL_X - WALL_HALF_THICKNESS - self.agent_radius:g}] (left room) "
            f"or [{WALL_X + WALL_HALF_THICKNESS + self.agent_radius:g}, {WORLD_SIZE - BORDER - self.agent_radius:g}] "
            f"(right room), y in [{BORDER + self.agent_radius:g}, {WORLD_SIZE - BORDER - self.agent_radius:g}], or the "
            f"door passage y in [{self.door_center - self.door_half_width + self.agent_radius:g}, "
            f"{self.door_center + self.door_half_width - self.agent_radius:g}]"
        )
        try:
            xy = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"options[{name!r}] must be an (x, y) position in world units, got {value!r}.") from err
        if xy.shape != (2,) or not np.all(np.isfinite(xy)):
            raise ValueError(
                f"options[{name!r}] must be a finite (x, y) position of shape (2,) in world units, got {value!r} "
                f"(shape {xy.shape}). Free space is {region}."
            )
        if self.clearance(xy) < -_FREE_TOL:
            raise ValueError(
                f"options[{name!r}]={xy.tolist()} is not in free space: the agent disc (radius {self.agent_radius:g}) "
                f"would overlap a wall. Valid centres are {region}."
            )
        return xy

    def _sample_free(self, away_from: np.ndarray | None) -> np.ndarray:
        """Samples a centre uniformly in free space, at least MIN_GOAL_DISTANCE from ``away_from`` if given."""
        lo, hi = BORDER + self.agent_radius, WORLD_SIZE - BORDER - self.agent_radius
        for _ in range(1000):
            # Rejection sampling from the bounding box is uniform in free space; batches keep it to one draw.
            cand = self.np_random.uniform(lo, hi, size=(_SAMPLE_BATCH, 2))  # (N, 2)
            cand = cand.astype(np.float32).astype(np.float64)  # exactly representable as reported
            ok = self.clearance(cand) >= 0.0  # (N,)
            if away_from is not None:
                ok &= np.linalg.norm(cand - away_from, axis=1) >= MIN_GOAL_DISTANCE
            if ok.any():
                return cand[int(np.argmax(ok))]
        raise RuntimeError("Could not sample a free position; the geometry leaves no room for the agent.")

    def _render_frame(self, agent_xy: np.ndarray) -> np.ndarray:
        """Draws the background, the target if ``render_target``, then the agent at ``agent_xy``: uint8 (S, S, 3)."""
        frame = self._background.copy()  # (S, S, 3)
        if self.render_target and self._target is not None:
            _draw_dot(frame, self._target, self._scale, self._sigma_px, _TARGET_RGB)
        _draw_dot(frame, agent_xy, self._scale, self._sigma_px, _AGENT_RGB)
        return frame

    @staticmethod
    def _distance(a: np.ndarray, b: np.ndarray) -> float:
        diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)  # (2,)
        return math.hypot(float(diff[0]), float(diff[1]))

    def _info(self) -> dict[str, Any]:
        distance = self._distance(self._agent, self._target)
        state = self._agent.astype(np.float32)  # (2,)
        return {
            "proprio": state,
            "state": state.copy(),
            "goal_state": self._target.astype(np.float32),
            "goal": self._goal_frame.copy(),
            "is_success": distance < self.success_radius,
            "distance": distance,
        }


class TwoRoomHeuristicPolicy:
    """The noisy heuristic collection policy: straight to the door when the target is in the other room, then on.

    It reads only ``info["state"]`` and ``info["goal_state"]`` (no env reference, so it works behind wrappers and in
    worker processes) plus the default geometry. Waypoints: a point in front of the door on the agent's side, then a
    point through the door, then the target. Each action is the unit direction to the current waypoint times a random
    magnitude in [0.4, 1], plus Gaussian noise of std ``noise``, clipped: diverse enough for a world model to learn
    action effects, yet it reaches the target within 100 steps in the large majority of episodes.

    Args:
        action_space: Actions are clipped to its bounds; defaults to Box(-1, 1, (2,), float32).
        seed: Seed of the policy's own generator; the same seed gives the same actions.
        noise: Std of the Gaussian noise added to each action component.
        door_center: y of the door centre in world units (match the env's ``door_center``).
        wall_x: x of the interior wall's centre line in world units.

    Example:
        >>> policy = TwoRoomHeuristicPolicy(seed=0)
        >>> info = {"state": np.array([60.0, 150.0]), "goal_state": np.array([160.0, 150.0])}
        >>> policy.waypoint(info["state"], info["goal_state"]).tolist()  # in front of the door first
        [92.0, 49.0]
        >>> action = policy(None, info)
        >>> action.shape, action.dtype, bool(np.all(np.abs(action) <= 1))
        ((2,), dtype('float32'), True)
    """

    approach: float = 20.0
    """Distance of the before/after-door waypoints from the wall's centre line, in units."""
    align_tolerance: float = 5.0
    """How far from the door centre (in y) the agent may be and still head straight through, in units."""
    passage_half_width: float = WALL_HALF_THICKNESS + 7.0
    """Within this |x - wall_x| the agent is in the doorway and keeps going through, in units."""

    def __init__(
        self,
        *,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        noise: float = 0.3,
        door_center: float = DOOR_CENTER,
        wall_x: float = WALL_X,
    ) -> None:
        if action_space is None:
            action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if not isinstance(action_space, spaces.Box) or action_space.shape != (2,):
            raise ValueError(f"action_space must be a Box of shape (2,) (TwoRoom's action space), got {action_space}.")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {noise!r}.")
        self.action_space = action_space
        self.noise = float(noise)
        self.door_center = float(door_center)
        self.wall_x = float(wall_x)
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseeds the policy's generator when ``seed`` is given; the policy is otherwise stateless."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def waypoint(self, state: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """The point the agent heads to now.

        Args:
            state: Agent xy in world units, (2,).
            goal_state: Target xy in world units, (2,).

        Returns:
            float64 (2,) waypoint in world units.
        """
        state = np.asarray(state, dtype=np.float64).reshape(2)
        goal = np.asarray(goal_state, dtype=np.float64).reshape(2)
        agent_left, goal_left = state[0] < self.wall_x, goal[0] < self.wall_x
        if agent_left == goal_left:
            return goal
        side = -1.0 if agent_left else 1.0
        in_doorway = abs(state[0] - self.wall_x) < self.passage_half_width
        aligned = abs(state[1] - self.door_center) <= self.align_tolerance
        # Once lined up with the door (or inside it), head through it; before that, go to the point in front of it.
        x = self.wall_x - side * self.approach if (in_doorway or aligned) else self.wall_x + side * self.approach
        return np.array([x, self.door_center])

    def __call__(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """Returns the next action.

        Args:
            obs: The observation (unused; the policy reads the state from ``info``).
            info: The env's info dict with ``"state"`` and ``"goal_state"``, each (2,) in world units.

        Returns:
            float32 (2,) action within the action space bounds.
        """
        state = np.asarray(info["state"], dtype=np.float64).reshape(2)
        delta = self.waypoint(state, info["goal_state"]) - state  # (2,)
        norm = math.hypot(float(delta[0]), float(delta[1]))
        direction = delta / norm if norm > 1e-9 else np.zeros(2)
        # Always draw both random numbers so the stream (and hence seeded actions) does not depend on the branch.
        magnitude = self._rng.uniform(0.4, 1.0)
        jitter = self._rng.normal(0.0, self.noise, size=2)  # (2,)
        action = direction * magnitude + jitter
        return np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)
