"""TwoRoom: a point agent in two rooms joined by a door; the paper's env (stable-worldmodel's ``swm/TwoRoom-v1``).

Units and shapes:
    World coordinates are float units in [0, 224] x [0, 224] (the reference's 224-px frame), whatever the rendered
    image size. x grows to the right (image column) and y grows downward (image row). S is the image side in pixels.

    * ``state`` = ``proprio``: the agent centre (x, y), float32 (2,).
    * ``goal_state``: the target centre (x, y), float32 (2,).
    * observation, ``render()``, ``info["goal"]``: RGB frames, uint8 (S, S, 3).
    * action: float32 (2,) in [-1, 1]; the agent moves by ``action * max_speed`` units per step (5 by default).

Dynamics, exactly the reference's (float32 positions, one update per step):
    The move ``pos + clip(a, -1, 1) * 5`` is clamped to [21, 203] on both axes (14-unit borders, agent radius 7). Then
    the central wall (x in [107, 117]) is checked on the end point only: an agent that started left of x = 112 and
    ends right of x = 100, or started right and ends left of x = 124, is put back to x = 99.5 (or 124.5) unless its
    centre's y lies in the door band [33.25, 64.75] (door centre 49, half-size 14, plus a 1.75 margin). So the centre
    passes through a 31.5-unit band (the disc may overlap the door posts), and an agent inside the wall zone that
    leaves the band jumps back out of the doorway. Success (``terminated``) is a distance below 16 units.

Rendering, exactly the reference's at 224 px (other sizes: the 224-px frame resized with PIL's bilinear filter, as
stable-worldmodel's ``World(image_shape=...)`` does): white floor; black 4-px border lines at pixels 10-13 and
210-213 (outside them stays white); the black central wall on pixel columns 107-117 except door rows 35-63; the agent
a red Gaussian (std 7 px, peak 1 at the nearest pixel) alpha-blended over the whole frame and truncated to uint8; the
goal image is the frame with the agent drawn at the target. ``render_target=True`` also draws the target (green).

Resets: ``options={"state": xy, "goal_state": xy}`` put the agent / the target exactly there (swm names the second
one ``target_state``). A missing one is sampled as the reference does: agent uniform in [14, 209]^2 outside the wall
zone x in [100, 124], target uniform in [14, 209]^2 (it may fall in the wall). The distributions are the reference's;
its random stream is not reproduced (it seeds a tree of variation spaces).

Where we differ, each a constructor option, off by default: ``door_rule="disc"`` (v0: moves are swept axis by axis
and the whole disc must fit through the 28-unit door), ``render_style="v0"`` (v0 look: anti-aliased filled 14-unit
borders, the dot drawn directly at S), ``sampling="v0"`` (v0 starts: free space only, target at least 40 units away),
``success_reward=True`` (reward 1 on success; the reference's reward is always 0). ``LEGACY_VERSIONS[0]`` combines
them to reproduce ``lewm/TwoRoom-v0``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal, NamedTuple, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.frames import affected, resize_bilinear, resize_window
from lewm_envs.options import float_vector, reset_options

WORLD_SIZE: float = 224.0
"""Side of the square world, in units (the reference's 224-px frame)."""
REFERENCE_SIZE: int = 224
"""Side of the reference's frame in pixels; other image sizes are resized from it."""
BORDER: float = 14.0
"""Outer walls: the agent centre is clamped to [BORDER + radius, WORLD_SIZE - BORDER - radius]."""
PROBE_TARGETS: dict[str, tuple[str, tuple[int, ...], str]] = {"agent_xy": ("state", (0, 1), "linear")}
"""What a latent probe reads out (lewm_agents/analysis/probe.py): property -> (dataset column, indices, "linear" or
"angle")."""
WALL_X: float = 112.0
"""x of the centre line of the interior wall, in units."""
WALL_HALF_THICKNESS: float = 5.0
"""Half thickness of the interior wall (the reference's ``10 // 2``): it spans x in [107, 117]."""
DOOR_CENTER: float = 49.0
"""Default y of the door centre, in units."""
DOOR_HALF_WIDTH: float = 14.0
"""Default half-extent of the door along y (the reference's door ``size``): drawn on rows 35-63."""
DOOR_MARGIN: float = 1.75
"""The reference's door test accepts centres this far beyond the door's half-extent (band [33.25, 64.75])."""
WALL_PUSHBACK: float = 0.5
"""A blocked agent is put this far outside the wall zone (x = 99.5 or 124.5)."""
SAMPLE_RANGE: tuple[float, float] = (14.0, 209.0)
"""Reference reset distribution: agent and target uniform in this range on both axes."""
MIN_GOAL_DISTANCE: float = 40.0
"""``sampling="v0"``: a sampled target is at least this far from the agent, in units."""
LEGACY_VERSIONS: dict[int, tuple[dict[str, Any], str]] = {
    0: (
        {"door_rule": "disc", "render_style": "v0", "sampling": "v0", "success_reward": True},
        "lewm/TwoRoom-v0 swept the whole agent disc through a 28-unit door (the reference lets the centre through a "
        "31.5-unit band), drew anti-aliased filled 14-unit borders and a sub-pixel dot directly at the image size "
        "(the reference draws 4-px border lines at 224 px and resizes), sampled starts in free space only and gave "
        "reward 1 on success",
    )
}
"""Old versions of ``lewm/TwoRoom``: version -> (v1 constructor kwargs that reproduce it, what differs)."""

# v0 only: states are float32, so a centre clamped against a wall can sit ~1e-5 units inside it.
_FREE_TOL: float = 1e-3
_BLOB_SIGMAS: float = 4.0
_MIN_SIGMA_PX: float = 0.5
_AGENT_RGB = np.array([255.0, 0.0, 0.0], dtype=np.float32)
_TARGET_RGB = np.array([0.0, 255.0, 0.0], dtype=np.float32)  # the reference's target colour
_V0_TARGET_RGB = np.array([0.0, 170.0, 0.0], dtype=np.float32)
_SAMPLE_BATCH: int = 64
# The reference blends its Gaussian over the whole frame. With alpha below 2^-25, (1 - alpha) rounds to 1 in float32
# and the blend leaves a uint8 pixel unchanged: beyond 41.2 px from the centre (exp(-d^2 / 98) < 2^-25). The window
# drawn here reaches 48 px, so nothing outside it can change.
_DOT_REACH: int = 48


class _Rect(NamedTuple):
    """An axis-aligned wall rectangle in world units: x in [x0, x1], y in [y0, y1] (v0 geometry)."""

    x0: float
    x1: float
    y0: float
    y1: float


def _make_walls(door_center: float, door_half_width: float) -> tuple[_Rect, ...]:
    """v0 wall rectangles: four 14-unit borders plus the interior wall split by the door."""
    lo, hi = WORLD_SIZE - BORDER, WORLD_SIZE
    wall_x0, wall_x1 = WALL_X - WALL_HALF_THICKNESS, WALL_X + WALL_HALF_THICKNESS
    door_y0, door_y1 = door_center - door_half_width, door_center + door_half_width
    walls = [
        _Rect(0.0, BORDER, 0.0, WORLD_SIZE),
        _Rect(lo, hi, 0.0, WORLD_SIZE),
        _Rect(0.0, WORLD_SIZE, 0.0, BORDER),
        _Rect(0.0, WORLD_SIZE, lo, hi),
    ]
    if door_y0 > BORDER:
        walls.append(_Rect(wall_x0, wall_x1, BORDER, door_y0))
    if door_y1 < lo:
        walls.append(_Rect(wall_x0, wall_x1, door_y1, lo))
    return tuple(walls)


# ---------------------------------------------------------------------------------------------- reference rendering


@functools.lru_cache(maxsize=8)
def _reference_background(door_center: float, door_half_width: float) -> np.ndarray:
    """The reference's static 224-px frame: white, 4-px black border lines, the central wall with its door.

    Returns:
        uint8 (224, 224, 3), read-only.
    """
    n = REFERENCE_SIZE
    grid = np.arange(n, dtype=np.float32)
    half = int(2 * WALL_HALF_THICKNESS) // 2
    stripe = (grid >= WALL_X - half) & (grid <= WALL_X + half)  # (W,) columns of the wall
    door = (grid >= door_center - door_half_width) & (grid <= door_center + door_half_width)  # (H,) door rows
    wall = stripe[None, :] & ~door[:, None]  # (H, W)
    b, t = int(BORDER), 4  # the reference's border lines are 4 px thick, just inside the 14-px border
    wall[:, b - t : b] = True
    wall[:, n - b : n - b + t] = True
    wall[b - t : b, :] = True
    wall[n - b : n - b + t, :] = True
    frame = np.repeat(np.where(wall, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)  # (H, W, 3)
    frame.setflags(write=False)
    return frame


def _dot_window(xy: np.ndarray, n: int) -> tuple[int, int, int, int]:
    """Pixel window (i0, i1, j0, j1) that the reference's dot at ``xy`` can change (``_DOT_REACH``), clipped."""
    cx, cy = math.floor(float(np.float32(xy[0]))), math.floor(float(np.float32(xy[1])))
    return max(cy - _DOT_REACH, 0), min(cy + _DOT_REACH + 1, n), max(cx - _DOT_REACH, 0), min(cx + _DOT_REACH + 1, n)


def _blend_gaussian(frame: np.ndarray, xy: np.ndarray, std: float, rgb: np.ndarray) -> None:
    """The reference's dot, in place: alpha = exp(-d^2 / (2 std^2)) / its maximum over the pixel grid (pixel i at
    coordinate i), blended as ``pixel * (1 - alpha) + rgb * alpha`` in float32 and truncated to uint8.

    Only a window of +-48 px is computed; outside it the blend changes nothing (see ``_DOT_REACH``).
    """
    n = frame.shape[0]
    x, y = float(np.float32(xy[0])), float(np.float32(xy[1]))
    two_var = np.float32(2.0 * std * std)
    # The maximum of the dot over the grid sits at the grid point nearest the centre (clamped to the frame).
    nx, ny = min(max(round(x), 0), n - 1), min(max(round(y), 0), n - 1)
    dx0, dy0 = np.float32(nx) - np.float32(x), np.float32(ny) - np.float32(y)
    peak = np.exp(-(dx0 * dx0 + dy0 * dy0) / two_var)  # float32 scalar
    i0, i1, j0, j1 = _dot_window(xy, n)
    if j0 >= j1 or i0 >= i1 or not peak > 0:
        return
    dx = np.arange(j0, j1, dtype=np.float32) - np.float32(x)  # (w,)
    dy = np.arange(i0, i1, dtype=np.float32) - np.float32(y)  # (h,)
    dist2 = dx[None, :] * dx[None, :] + dy[:, None] * dy[:, None]  # (h, w) float32, the reference's order
    alpha = np.exp(-dist2 / two_var)  # float32, as torch (the two may round an ulp apart)
    if peak != 1.0:
        alpha = alpha / peak
    alpha = np.clip(alpha, 0.0, 1.0)[:, :, None]  # (h, w, 1)
    patch = frame[i0:i1, j0:j1].astype(np.float32)  # (h, w, 3)
    patch = patch * (np.float32(1.0) - alpha) + rgb * alpha
    frame[i0:i1, j0:j1] = patch.astype(np.uint8)  # truncation, as torch's .to(torch.uint8)


# ---------------------------------------------------------------------------------------------- v0 rendering


def _pixel_coverage(lo: float, hi: float, image_size: int) -> np.ndarray:
    """Fraction of each pixel of one image axis covered by the world interval [lo, hi], float64 (S,)."""
    pixel = WORLD_SIZE / image_size
    edges = np.arange(image_size + 1) * pixel  # (S + 1,)
    overlap = np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1])  # (S,)
    return np.clip(overlap / pixel, 0.0, 1.0)


@functools.lru_cache(maxsize=32)
def _v0_background(image_size: int, walls: tuple[_Rect, ...]) -> np.ndarray:
    """v0's static frame (white floor, black filled walls), area anti-aliased; uint8 (S, S, 3), read-only."""
    cover = np.zeros((image_size, image_size), dtype=np.float64)  # (S, S)
    for wall in walls:
        cover += np.outer(_pixel_coverage(wall.y0, wall.y1, image_size), _pixel_coverage(wall.x0, wall.x1, image_size))
    grey = np.rint(255.0 * (1.0 - np.clip(cover, 0.0, 1.0))).astype(np.uint8)  # (S, S)
    frame = np.repeat(grey[:, :, None], 3, axis=2)  # (S, S, 3)
    frame.setflags(write=False)
    return frame


def _v0_draw_dot(frame: np.ndarray, xy: np.ndarray, scale: float, sigma_px: float, rgb: np.ndarray) -> None:
    """v0's dot: a Gaussian (pixel j centred at (j + 0.5) / scale) cut at 4 sigma, blended and rounded, in place."""
    size = frame.shape[0]
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
    (``info["goal_state"]``) for evaluation and scripted policies. Dynamics, rendering and resets are the paper's
    reference env (see the module docstring). The episode terminates when the agent is within ``success_radius`` of
    the target; time limits come from the registration (``max_episode_steps=100``).

    Args:
        image_size: Side S of the square RGB frame in pixels, an int >= 16. World units do not depend on it.
        render_mode: ``"rgb_array"`` (``render()`` returns the current frame) or None.
        max_speed: Displacement in units of a full action (``|a_i| = 1``) per step.
        door_center: y of the door centre, in units.
        door_half_width: Half-extent of the door along y, in units; must exceed ``agent_radius``.
        render_target: Also draw the target (green) in observations. Off by default: the goal comes as an image.
        success_radius: The episode succeeds when the agent-target distance is below this, in units.
        agent_radius: Radius of the agent, in units (collisions, and the std of the drawn dot).
        door_rule: ``"band"`` (the reference's wall rule, above) or ``"disc"`` (v0: the whole disc must fit).
        render_style: ``"reference"`` (the reference's 224-px frame, resized) or ``"v0"`` (v0's look).
        sampling: ``"reference"`` or ``"v0"`` (free-space starts, target at least 40 units from the agent).
        success_reward: Reward 1.0 on success (v0) instead of the reference's constant 0.

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
        door_rule: Literal["band", "disc"] = "band",
        render_style: Literal["reference", "v0"] = "reference",
        sampling: Literal["reference", "v0"] = "reference",
        success_reward: bool = False,
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
        for name, value, valid in (
            ("door_rule", door_rule, ("band", "disc")),
            ("render_style", render_style, ("reference", "v0")),
            ("sampling", sampling, ("reference", "v0")),
        ):
            if value not in valid:
                raise ValueError(f"{name} must be one of {valid} (the first is the paper's env), got {value!r}.")
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
        self.door_rule = door_rule
        self.render_style = render_style
        self.sampling = sampling
        self.success_reward = bool(success_reward)

        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)

        self._walls = _make_walls(self.door_center, self.door_half_width)
        self._walls_by_axis = (
            tuple((w.x0, w.x1, w.y0, w.y1) for w in self._walls),
            tuple((w.y0, w.y1, w.x0, w.x1) for w in self._walls),
        )
        self._scale = self.image_size / WORLD_SIZE  # pixels per unit (v0 rendering)
        self._sigma_px = max(self.agent_radius * self._scale, _MIN_SIGMA_PX)
        if render_style == "reference":
            self._background = _reference_background(self.door_center, self.door_half_width)  # (224, 224, 3)
            self._background_small = resize_bilinear(self._background, self.image_size)  # (S, S, 3)
            self._canvas = self._background.copy()  # (224, 224, 3), restored inside the last windows each frame
            self._dirty: list[tuple[int, int, int, int]] = []
        else:
            self._background = _v0_background(self.image_size, self._walls)  # (S, S, 3)

        self._agent: np.ndarray | None = None  # float64 (2,), always exactly float32-representable
        self._target: np.ndarray | None = None  # float64 (2,)
        self._frame: np.ndarray | None = None  # uint8 (S, S, 3)
        self._goal_frame: np.ndarray | None = None  # uint8 (S, S, 3)
        self._agent_rgb = _AGENT_RGB  # changed only by perturb(agent_rgb=...)

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random``, the only source of randomness.
            options: Optional ``{"state": xy, "goal_state": xy}``. ``state`` puts the agent exactly at xy and
                ``goal_state`` puts the target exactly at xy (world units, float32). A missing (or None) entry is
                sampled (see the module docstring; ``sampling="v0"``: free space, target 40+ units away).

        Returns:
            The first frame, uint8 (S, S, 3), and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option key or a malformed position (with ``door_rule="disc"``, also one whose
                disc overlaps a wall).
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
        if self.sampling == "v0":
            if agent is None:
                agent = self._sample_free(away_from=target)
            if target is None:
                target = self._sample_free(away_from=agent)
        else:
            if agent is None:
                agent = self._sample_reference(agent=True)
            if target is None:
                target = self._sample_reference(agent=False)
        self._agent, self._target = agent, target
        self._agent_rgb = _AGENT_RGB
        self._goal_frame = self._render_frame(self._target)
        self._frame = self._render_frame(self._agent)
        return self._frame, self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Moves the agent by ``clip(action, -1, 1) * max_speed`` units and applies the wall rule.

        Args:
            action: (2,) displacement direction and magnitude, clipped to [-1, 1].

        Returns:
            ``(obs, reward, terminated, truncated, info)``: obs is uint8 (S, S, 3); reward is 0.0 (the reference's;
            1.0 on success with ``success_reward``); terminated is True on success; truncated is always False (the
            registered TimeLimit truncates). info holds ``"proprio"``, ``"state"`` (agent xy, float32 (2,)),
            ``"goal_state"`` (float32 (2,)), ``"goal"`` (uint8 (S, S, 3), the frame with the agent drawn at the
            target), ``"is_success"`` (bool) and ``"distance"`` (float, units).
        """
        if self._agent is None:
            raise RuntimeError("TwoRoomEnv.step() was called before reset(); call env.reset(seed=...) first.")
        act = float_vector(action)  # (2,)
        if act.shape != (2,) or not np.all(np.isfinite(act)):
            raise ValueError(f"action must be 2 finite numbers in [-1, 1] (dx, dy), got {action!r}.")
        if self.door_rule == "band":
            self._agent = self._reference_move(act)
        else:
            dx, dy = np.clip(act, -1.0, 1.0) * self.max_speed
            x, y = float(self._agent[0]), float(self._agent[1])
            x = self._sweep(x, dx, y, axis=0)
            y = self._sweep(y, dy, x, axis=1)
            self._agent = np.array([x, y], dtype=np.float32).astype(np.float64)
        self._frame = self._render_frame(self._agent)
        info = self._info()
        success = info["is_success"]
        reward = 1.0 if (success and self.success_reward) else 0.0
        return self._frame, reward, success, False, info

    def render(self) -> np.ndarray:
        """Returns the current frame, uint8 (S, S, 3) (equal to the last observation)."""
        if self._frame is None:
            raise RuntimeError("TwoRoomEnv.render() was called before reset(); call env.reset(seed=...) first.")
        return self._frame.copy()

    def perturb(self, *, state: Any = None, agent_rgb: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        """A mid-episode perturbation for violation-of-expectation tests (``lewm surprise``): teleport the agent to
        ``state`` (an (x, y) position in world units) and/or draw it in ``agent_rgb`` (three values in [0, 255]) from
        now until the next reset. No time passes; the goal image keeps its colours.

        Returns:
            The new frame, uint8 (S, S, 3), and the info dict (see ``step``).

        Example:
            >>> env = TwoRoomEnv(image_size=32)
            >>> _ = env.reset(seed=0, options={"state": [60.0, 100.0]})
            >>> _, info = env.perturb(state=[160.0, 150.0], agent_rgb=[0, 0, 255])
            >>> info["state"].tolist()
            [160.0, 150.0]
        """
        if self._agent is None:
            raise RuntimeError("TwoRoomEnv.perturb() was called before reset(); call env.reset(seed=...) first.")
        if state is not None:
            self._agent = self._validated_position(state, "state")
        if agent_rgb is not None:
            rgb = np.asarray(agent_rgb, dtype=np.float32).reshape(-1)
            if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 255)):
                raise ValueError(f"agent_rgb must be three values in [0, 255], got {agent_rgb!r}.")
            self._agent_rgb = rgb
        self._frame = self._render_frame(self._agent)
        return self._frame, self._info()

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

    def in_door_band(self, y: float) -> bool:
        """Whether an agent centre at height ``y`` may be in the wall zone (the reference's door test)."""
        lo = self.door_center - self.door_half_width - DOOR_MARGIN
        hi = self.door_center + self.door_half_width + DOOR_MARGIN
        return lo <= y <= hi

    def clearance(self, xy: np.ndarray) -> np.ndarray:
        """Distance from the agent disc's edge to the nearest wall of the v0 geometry (filled 14-unit borders and
        the central wall); negative means the disc overlaps a wall.

        Args:
            xy: Agent centres in world units, (..., 2).

        Returns:
            float64 (...,) clearances in units.
        """
        pts = np.asarray(xy, dtype=np.float64)  # (..., 2)
        nearest = np.full(pts.shape[:-1], np.inf)  # (...,)
        for w in self._walls:
            gap_x = np.maximum(np.maximum(w.x0 - pts[..., 0], pts[..., 0] - w.x1), 0.0)  # (...,)
            gap_y = np.maximum(np.maximum(w.y0 - pts[..., 1], pts[..., 1] - w.y1), 0.0)  # (...,)
            nearest = np.minimum(nearest, np.hypot(gap_x, gap_y))
        return nearest - self.agent_radius

    # ------------------------------------------------------------------ internals

    def _reference_move(self, act: np.ndarray) -> np.ndarray:
        """One reference step in float32: move, clamp to the borders, then the central wall's end-point rule."""
        a = np.clip(act.astype(np.float32), np.float32(-1.0), np.float32(1.0))  # (2,) float32
        pos = self._agent.astype(np.float32)  # (2,)
        nxt = pos + a * np.float32(self.max_speed)  # (2,) float32
        lo, hi = BORDER + self.agent_radius, WORLD_SIZE - BORDER - self.agent_radius
        x, y = min(max(float(nxt[0]), lo), hi), min(max(float(nxt[1]), lo), hi)
        x, y = float(np.float32(x)), float(np.float32(y))
        half = int(2 * WALL_HALF_THICKNESS) // 2
        if float(pos[0]) < WALL_X:  # started in the left room (or the left half of the doorway)
            if x > WALL_X - half - self.agent_radius and not self.in_door_band(y):
                x = WALL_X - half - self.agent_radius - WALL_PUSHBACK
        elif x < WALL_X + half + self.agent_radius and not self.in_door_band(y):
            x = WALL_X + half + self.agent_radius + WALL_PUSHBACK
        return np.array([x, y], dtype=np.float32).astype(np.float64)

    def _sweep(self, pos: float, delta: float, other: float, axis: int) -> float:
        """v0: moves one coordinate by ``delta`` with the other fixed, stopping where the disc first touches a wall.

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
            if delta > 0 and pos - _FREE_TOL <= lo < end:
                end = lo
            elif delta < 0 and end < hi <= pos + _FREE_TOL:
                end = hi
        return end

    def _validated_position(self, value: Any, name: str) -> np.ndarray | None:
        """Checks an ``options`` position and returns it as float64 (2,) (float32-representable), or None."""
        if value is None:
            return None
        try:
            xy = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"options[{name!r}] must be an (x, y) position in world units, got {value!r}.") from err
        if xy.shape != (2,) or not np.all(np.isfinite(xy)):
            raise ValueError(
                f"options[{name!r}] must be a finite (x, y) position of shape (2,) in world units [0, 224], got "
                f"{value!r} (shape {xy.shape})."
            )
        if self.door_rule == "disc" and self.clearance(xy) < -_FREE_TOL:
            raise ValueError(
                f"options[{name!r}]={xy.tolist()} is not in free space: with door_rule='disc' the agent disc (radius "
                f"{self.agent_radius:g}) may not overlap a wall (14-unit borders, the central wall at x in "
                f"[{WALL_X - WALL_HALF_THICKNESS:g}, {WALL_X + WALL_HALF_THICKNESS:g}] outside the door)."
            )
        return xy.astype(np.float32).astype(np.float64)

    def _sample_reference(self, agent: bool) -> np.ndarray:
        """The reference's reset distribution: uniform in [14, 209]^2; the agent outside x in [100, 124]."""
        lo, hi = SAMPLE_RANGE
        zone = (WALL_X - WALL_HALF_THICKNESS - self.agent_radius, WALL_X + WALL_HALF_THICKNESS + self.agent_radius)
        for _ in range(1000):
            xy = self.np_random.uniform(lo, hi, size=2).astype(np.float32).astype(np.float64)  # (2,)
            if not agent or not zone[0] <= xy[0] <= zone[1]:
                return xy
        raise RuntimeError("Could not sample a TwoRoom start outside the wall zone.")

    def _sample_free(self, away_from: np.ndarray | None) -> np.ndarray:
        """v0: a centre uniform in free space, at least MIN_GOAL_DISTANCE from ``away_from`` if given."""
        lo, hi = BORDER + self.agent_radius, WORLD_SIZE - BORDER - self.agent_radius
        for _ in range(1000):
            cand = self.np_random.uniform(lo, hi, size=(_SAMPLE_BATCH, 2))  # (N, 2)
            cand = cand.astype(np.float32).astype(np.float64)
            ok = self.clearance(cand) >= 0.0  # (N,)
            if away_from is not None:
                ok &= np.linalg.norm(cand - away_from, axis=1) >= MIN_GOAL_DISTANCE
            if ok.any():
                return cand[int(np.argmax(ok))]
        raise RuntimeError("Could not sample a free position; the geometry leaves no room for the agent.")

    def _render_frame(self, agent_xy: np.ndarray) -> np.ndarray:
        """Background, the target if ``render_target``, then the agent at ``agent_xy``: uint8 (S, S, 3)."""
        if self.render_style == "v0":
            frame = self._background.copy()  # (S, S, 3)
            if self.render_target and self._target is not None:
                _v0_draw_dot(frame, self._target, self._scale, self._sigma_px, _V0_TARGET_RGB)
            _v0_draw_dot(frame, agent_xy, self._scale, self._sigma_px, self._agent_rgb)
            return frame
        canvas, n = self._canvas, REFERENCE_SIZE
        for i0, i1, j0, j1 in self._dirty:  # undo the last frame's dots
            canvas[i0:i1, j0:j1] = self._background[i0:i1, j0:j1]
        self._dirty = [_dot_window(agent_xy, n)]
        if self.render_target and self._target is not None:
            self._dirty.append(_dot_window(self._target, n))
            _blend_gaussian(canvas, self._target, self.agent_radius, _TARGET_RGB)
        _blend_gaussian(canvas, agent_xy, self.agent_radius, self._agent_rgb)
        if self.image_size == n:
            return canvas.copy()
        small = self._background_small.copy()  # only the output pixels that read a dot's window are redone
        for i0, i1, j0, j1 in self._dirty:
            rows, cols = affected(i0, i1, n, self.image_size), affected(j0, j1, n, self.image_size)
            if rows.stop > rows.start and cols.stop > cols.start:
                small[rows, cols] = resize_window(canvas, self.image_size, rows, cols)
        return small

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
