"""A goal-directed PushT expert: pushes the block to sampled target poses (position and angle), no demonstrations.

The expert keeps a target block pose (x, y, angle). Before each push it tries ``candidates`` pushes in a private copy
of the simulator (a contact point on the T, a push direction, a speed and a length; the pusher first drives to a
start point just clear of the block behind the contact point, as it will for real, which can bump the block), and
keeps the one that leaves the block closest to the target (plus a small cost per step), measured as
position error + ``ANGLE_WEIGHT`` x angle error (within 60 units of the target it tries only short, slow pushes).
It then drives to that push's start point (orbiting the block when
the block is in the way) and pushes in closed loop, tracking the contact point as the block turns; then it looks
ahead again. A target reached (block within ``reach_position`` units and ``reach_angle`` rad of it) or timed out
(``target_steps``) is replaced by a new one, so an episode is a sequence of deliberate manipulations.

Looking ahead in the simulator itself (rather than with a hand-written push model) keeps the expert right whatever
the physics (e.g. a dynamic or a kinematic pusher): it only uses the env's public API (``reset(options={"state"})``
and ``step``).

Noise is tunable: Gaussian action noise ``noise`` and, with probability ``explore_prob``, a short random walk in place
of a push. Targets are drawn uniformly over poses that keep the T ``target_margin`` units inside the walls, or, with
probability ``goal_prob``, are the episode's goal pose.

Units: world units in [0, 512]^2 and radians, as in `lewm_envs.pusht`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from lewm_envs.pusht import (
    ACTION_SCALE,
    AGENT_RADIUS,
    ARENA_HI,
    ARENA_LO,
    BAR,
    STEM,
    T_AREA,
    PushTEnv,
    angle_error,
    t_polygons,
    t_signed_distance,
)

ANGLE_WEIGHT: float = 20.0 / (math.pi / 9)
"""Units per radian in the expert's pose error: the success rule's 20 units weigh as much as its pi/9."""
STEP_COST: float = 0.5
"""Units of pose error one env step is worth in the look-ahead's choice (prefers quick pushes at equal result)."""
_CENTRE_LOCAL = np.array([0.0, 60.0])  # centre of the T's bounding box, body frame
_REACH = math.hypot(60.0, 60.0)  # every point of the T is within this of _CENTRE_LOCAL
_LO, _HI = ARENA_LO + AGENT_RADIUS, ARENA_HI - AGENT_RADIUS  # free range of the pusher's centre
_TWO_PI = 2.0 * math.pi


def _to_world(pose: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Body-frame point(s) ``(..., 2)`` of the block at ``pose`` in world units."""
    c, s = math.cos(float(pose[2])), math.sin(float(pose[2]))
    x, y = local[..., 0], local[..., 1]
    return np.stack([pose[0] + c * x - s * y, pose[1] + s * x + c * y], axis=-1)


def pose_error(pose: np.ndarray, target: np.ndarray) -> float:
    """Block pose error in units: ||xy - target xy|| + ``ANGLE_WEIGHT`` x wrapped angle error."""
    return float(np.hypot(pose[0] - target[0], pose[1] - target[1])) + ANGLE_WEIGHT * angle_error(pose[2], target[2])


class PushTExpertPolicy:
    """Goal-directed pusher: moves the block to sampled target poses, choosing each push by simulated look-ahead.

    Reads only ``info["state"]`` and ``info["goal_state"]``, like every collection policy. ``stats`` counts the
    targets set, reached and the steps they took (the expert's own success rate, see `measure_expert`).

    Args:
        action_space: The env's action space: Box(-1, 1, (2,)) (relative) or Box(0, 512, (2,)) (absolute targets).
        seed: Seed of the policy's generator.
        noise: Std of the Gaussian noise added to each relative action component.
        explore_prob: Probability that a segment is a short random walk instead of the best push.
        goal_prob: Probability that a new target is the episode's goal pose rather than a uniform one.
        candidates: Pushes simulated per decision (more: better pushes, slower collection); as many again when none
            of them brings the block closer to the target.
        target_steps: Steps allowed per target before a new one is drawn.
        reach_position: A target counts as reached within this many units ...
        reach_angle: ... and this many radians.
        target_margin: Sampled target Ts keep this clearance from the walls, in units.
        speed: Scale of every move (approach and push): lower is slower, more careful pushing (human demonstrations
            are slow), which also moves the block less between a frame and the frame 25 steps later.

    Example:
        >>> policy = PushTExpertPolicy(seed=0)
        >>> info = {"state": np.array([100.0, 400.0, 256.0, 256.0, 0.0, 0.0, 0.0]), "goal_state": np.zeros(7)}
        >>> action = policy(None, info)
        >>> action.shape, action.dtype, bool(np.all(np.abs(action) <= 1))
        ((2,), dtype('float32'), True)
    """

    approach_tolerance: float = 8.0
    """Pushing starts once the pusher is this close to the push's start point, in units."""
    approach_timeout: int = 25
    """Steps allowed to reach the start point before the expert looks ahead again."""
    push_lengths: tuple[int, ...] = (4, 8, 12)
    """Push lengths (steps) tried by the look-ahead."""
    push_speeds: tuple[float, ...] = (0.4, 0.8)
    """Relative action sizes tried by the look-ahead."""

    def __init__(
        self,
        *,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        noise: float = 0.05,
        explore_prob: float = 0.05,
        goal_prob: float = 0.0,
        candidates: int = 16,
        target_steps: int = 150,
        reach_position: float = 15.0,
        reach_angle: float = math.pi / 12,
        target_margin: float = 40.0,
        speed: float = 1.0,
    ) -> None:
        if action_space is None:
            action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if not isinstance(action_space, spaces.Box) or action_space.shape != (2,):
            raise ValueError(f"action_space must be a Box of shape (2,) (PushT's action space), got {action_space}.")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {noise!r}.")
        for name, p in (("explore_prob", explore_prob), ("goal_prob", goal_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
        if not 0.0 < speed <= 1.0:
            raise ValueError(f"speed scales the actions and must be in (0, 1], got {speed!r}.")
        if candidates < 1 or target_steps < 1 or reach_position <= 0 or reach_angle <= 0 or target_margin < 0:
            raise ValueError(
                "need candidates >= 1, target_steps >= 1, reach_position > 0, reach_angle > 0 and target_margin >= 0; "
                f"got {candidates}, {target_steps}, {reach_position}, {reach_angle}, {target_margin}."
            )
        self.action_space = action_space
        self.relative = bool(np.all(action_space.low >= -1.0 - 1e-6) and np.all(action_space.high <= 1.0 + 1e-6))
        self.noise, self.explore_prob, self.goal_prob = float(noise), float(explore_prob), float(goal_prob)
        self.candidates, self.target_steps = int(candidates), int(target_steps)
        self.reach_position, self.reach_angle = float(reach_position), float(reach_angle)
        self.target_margin, self.speed = float(target_margin), float(speed)
        self._rng = np.random.default_rng(seed)
        self._sim: PushTEnv | None = None  # private simulator for the look-ahead, made on first use
        self.stats = {"targets": 0, "reached": 0, "steps_to_reach": 0}
        self.reset()

    # ------------------------------------------------------------------ policy API

    def reset(self, seed: int | None = None) -> None:
        """Starts a new episode (new target on the next call); reseeds the generator when ``seed`` is given."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._target: np.ndarray | None = None
        self._mode = ""

    @property
    def target(self) -> np.ndarray | None:
        """The current target block pose (x, y, angle), or None before the first call of an episode."""
        return None if self._target is None else self._target.copy()

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Returns the next action (float32 (2,), within the action space) for the state in ``info``."""
        state = np.asarray(info["state"], dtype=np.float64).reshape(-1)
        agent, pose = state[:2], state[2:5]
        if self._target is None:
            self._new_target(pose, np.asarray(info["goal_state"], dtype=np.float64).reshape(-1)[2:5])
        self._target_age += 1
        err_xy = float(np.hypot(*(pose[:2] - self._target[:2])))
        if err_xy < self.reach_position and angle_error(pose[2], self._target[2]) < self.reach_angle:
            self.stats["reached"] += 1
            self.stats["steps_to_reach"] += self._target_age
            self._new_target(pose, np.asarray(info["goal_state"], dtype=np.float64).reshape(-1)[2:5])
        elif self._target_age > self.target_steps:
            self._new_target(pose, np.asarray(info["goal_state"], dtype=np.float64).reshape(-1)[2:5])
        if not self._mode:
            self._decide(state)
        self._steps += 1
        if self._mode == "approach":
            if np.linalg.norm(self._start_point(pose) - agent) < self.approach_tolerance:
                self._mode, self._steps = "push", 0
            elif self._steps > self.approach_timeout:
                self._decide(state)
        if self._mode == "approach":
            rel = _approach_action(agent, pose, self._start_point(pose), self.speed)
        elif self._mode == "push":
            rel = _push_action(agent, pose, self._local, self._dir, self._speed)
            slipped = self._steps > 2 and float(t_signed_distance(agent, pose)) > AGENT_RADIUS + 25.0
            if self._steps >= self._length or slipped:
                self._mode = ""
        else:  # explore: a short random walk with a slowly turning heading
            self._heading += self._rng.normal(0.0, 0.5)
            rel = self._speed * np.array([math.cos(self._heading), math.sin(self._heading)])
            if self._steps >= self._length:
                self._mode = ""
        rel = np.clip(rel + self._rng.normal(0.0, self.noise, size=2), -1.0, 1.0)  # (2,)
        # Keep the PD target inside the arena: the reference (v1) pusher is kinematic and passes through the walls.
        rel = (np.clip(agent + ACTION_SCALE * rel, _LO, _HI) - agent) / ACTION_SCALE
        action = rel if self.relative else agent + ACTION_SCALE * rel
        return np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)

    # ------------------------------------------------------------------ internals

    def _new_target(self, pose: np.ndarray, goal_pose: np.ndarray) -> None:
        self.stats["targets"] += 1
        self._target_age, self._mode = 0, ""
        if self._rng.random() < self.goal_prob and pose_error(pose, goal_pose) > 0:
            self._target = goal_pose.astype(np.float64).copy()
            return
        m = self.target_margin
        for _ in range(1000):
            cand = np.array([*self._rng.uniform(ARENA_LO, ARENA_HI, size=2), self._rng.uniform(0.0, _TWO_PI)])
            corners = np.array(t_polygons(cand)).reshape(-1, 2)  # (8, 2)
            if corners.min() >= ARENA_LO + m and corners.max() <= ARENA_HI - m:
                self._target = cand
                return
        self._target = np.array([256.0, 256.0, math.pi / 4])  # unreachable in practice: the arena has room

    def _decide(self, state: np.ndarray) -> None:
        """Pick the next segment: a random walk (explore_prob) or the best of ``candidates`` simulated pushes."""
        rng, self._steps = self._rng, 0
        if rng.random() < self.explore_prob:
            self._mode, self._heading = "explore", rng.uniform(0.0, _TWO_PI)
            self._speed, self._length = rng.uniform(0.3, 1.0), int(rng.integers(3, 9))
            return
        pose = state[2:5]
        now = pose_error(pose, self._target)
        fine = now < 60.0  # near the target: short, slow pushes
        speeds, lengths = ((0.2, 0.4), (2, 4, 6)) if fine else (self.push_speeds, self.push_lengths)
        speeds = tuple(self.speed * v for v in speeds)
        best, best_cost = None, math.inf
        to_target = math.atan2(self._target[1] - pose[1], self._target[0] - pose[0])
        for k in range(2 * self.candidates):
            if k == self.candidates and best_cost < now:
                break  # a second round of candidates only when the first found no improvement
            # half the candidates push roughly toward the target, half in any direction (turning pushes)
            heading = to_target + rng.normal(0.0, 0.6) if k % 2 == 0 else rng.uniform(0.0, _TWO_PI)
            direction = np.array([math.cos(heading), math.sin(heading)])
            local = _sample_t_point(rng)
            offset = _clear_offset(pose, local, direction)
            if offset is None:
                continue
            start = _to_world(pose, local) - offset * direction
            if not np.all((start > _LO + 2.0) & (start < _HI - 2.0)):
                continue
            speed, length = float(rng.choice(speeds)), int(rng.choice(lengths))
            end_pose, steps = self._simulate(state, local, direction, offset, speed, length)
            cost = pose_error(end_pose, self._target) + STEP_COST * steps
            if cost < best_cost:
                best, best_cost = (local, direction, offset, speed, length), cost
        if best is None:
            self._mode, self._heading = "explore", rng.uniform(0.0, _TWO_PI)
            self._speed, self._length = rng.uniform(0.3, 1.0), int(rng.integers(3, 9))
            return
        self._local, self._dir, self._offset, self._speed, self._length = best
        self._mode = "approach"

    def _simulate(
        self, state: np.ndarray, local: np.ndarray, direction: np.ndarray, offset: float, speed: float, length: int
    ) -> tuple[np.ndarray, int]:
        """Block pose and steps taken after approaching the push's start point from ``state`` and pushing for
        ``length`` steps, both with the controllers the expert executes (in its private simulator): the approach can
        bump the block, and the look-ahead sees it."""
        if self._sim is None:
            self._sim = PushTEnv(image_size=16, obs_type="state", render_mode=None)
        obs, _ = self._sim.reset(options={"state": state, "goal_state": state})
        steps = 0
        while steps < self.approach_timeout:
            agent, pose = obs[:2].astype(np.float64), obs[2:5].astype(np.float64)
            point = _to_world(pose, local) - offset * direction
            if np.linalg.norm(point - agent) < self.approach_tolerance:
                break
            steps += 1
            obs = self._sim.step(_approach_action(agent, pose, point, self.speed).astype(np.float32))[0]
        for _ in range(length):
            rel = _push_action(obs[:2].astype(np.float64), obs[2:5].astype(np.float64), local, direction, speed)
            obs = self._sim.step(rel.astype(np.float32))[0]
        return obs[2:5].astype(np.float64), steps + length

    def _start_point(self, pose: np.ndarray) -> np.ndarray:
        return _to_world(pose, self._local) - self._offset * self._dir


def _approach_action(agent: np.ndarray, pose: np.ndarray, point: np.ndarray, speed: float) -> np.ndarray:
    """Relative action toward ``point`` (around the block when it is in the way), at most ``speed`` long."""
    move = _waypoint(agent, pose, point) - agent  # (2,)
    norm = float(np.linalg.norm(move))
    return move / ACTION_SCALE if norm <= speed * ACTION_SCALE else speed * move / norm


def _push_action(agent: np.ndarray, pose: np.ndarray, local: np.ndarray, direction: np.ndarray, speed: float):
    """Relative action that drives through the contact point (tracked as the block turns) along ``direction``."""
    aim = _to_world(pose, local) + 40.0 * direction - agent  # a point past the contact point
    return speed * aim / max(float(np.linalg.norm(aim)), 1e-9)


def _clear_offset(pose: np.ndarray, local: np.ndarray, direction: np.ndarray) -> float | None:
    """Distance to back off from the contact point along -direction until the disc clears the T (None: never)."""
    back = np.arange(0.0, 260.0, 4.0)  # (K,)
    contact = _to_world(pose, local)
    clear = t_signed_distance(contact - back[:, None] * direction, pose) >= AGENT_RADIUS + 4.0  # (K,)
    return float(back[int(np.argmax(clear))]) + 4.0 if clear.any() else None


def _waypoint(agent: np.ndarray, pose: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target``, or a point on a circle around the block when the straight path would hit the block."""
    path = agent + np.linspace(0.0, 1.0, 12)[:, None] * (target - agent)  # (12, 2)
    if t_signed_distance(path, pose).min() >= AGENT_RADIUS + 2.0:
        return target
    centre = _to_world(pose, _CENTRE_LOCAL)
    radius = _REACH + AGENT_RADIUS + 10.0
    phi = math.atan2(agent[1] - centre[1], agent[0] - centre[0])
    turn = (math.atan2(target[1] - centre[1], target[0] - centre[0]) - phi + math.pi) % _TWO_PI - math.pi
    phi += max(-0.7, min(0.7, turn))  # orbit toward the target's side, at most 40 degrees per step
    return np.clip(centre + radius * np.array([math.cos(phi), math.sin(phi)]), _LO, _HI)


def _sample_t_point(rng: np.random.Generator) -> np.ndarray:
    """A point uniform on the T's area, body frame, (2,)."""
    bar_area = (BAR[1] - BAR[0]) * (BAR[3] - BAR[2])
    x0, x1, y0, y1 = BAR if rng.random() < bar_area / T_AREA else STEM
    return np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])


def measure_expert(episodes: int = 10, steps: int = 300, seed: int = 0, **policy_kwargs: Any) -> dict[str, float]:
    """Run the expert on fresh PushT episodes and return its own success at reaching its sampled targets.

    Returns:
        ``targets`` (set), ``reached``, ``reach_rate`` (reached / targets that ended, i.e. not the last open one of
        each episode), ``mean_steps_to_reach``, and ``block_moved`` (mean block travel per step, units).
    """
    env = PushTEnv(image_size=16, obs_type="state", render_mode=None)
    policy = PushTExpertPolicy(seed=seed, **policy_kwargs)
    moved = 0.0
    for ep in range(episodes):
        _, info = env.reset(seed=seed + ep)
        policy.reset()
        for _ in range(steps):
            prev = info["state"][2:4].astype(np.float64)
            _, _, _, _, info = env.step(policy(None, info))
            moved += float(np.hypot(*(info["state"][2:4] - prev)))
    s = policy.stats
    ended = s["targets"] - episodes  # the last target of each episode is still open at its end
    return {
        "targets": float(s["targets"]),
        "reached": float(s["reached"]),
        "reach_rate": s["reached"] / max(ended, 1),
        "mean_steps_to_reach": s["steps_to_reach"] / max(s["reached"], 1),
        "block_moved": moved / (episodes * steps),
    }


class PushTSlowExpertPolicy(PushTExpertPolicy):
    """`PushTExpertPolicy` at half pace (``speed=0.5``), closer to the pace of human demonstrations: the block moves
    about 60% as far per step, so the dataset-goal protocol's goal 25 steps ahead is nearer (registered as
    ``expert-slow``)."""

    def __init__(self, *, speed: float = 0.5, **kwargs: Any) -> None:
        super().__init__(speed=speed, **kwargs)


class PushTArenaRandomPolicy:
    """Uniform random relative actions whose PD target is kept inside the arena (registered as ``random-arena``).

    Plain ``random`` actions on the reference PushT (v1) random-walk the kinematic pusher out of the arena, where it
    passes through the walls and leaves the frame: on 200 such episodes a linear probe of the agent's xy from the
    latents had r = 0.0 (block xy: 0.88), and goal frames with the agent outside the picture cannot be reached by
    sight. This policy draws the same uniform actions and clips the target to the pusher's free range, as the
    expert does, so the agent stays in view. Reads only ``info["state"]``.

    Example:
        >>> policy = PushTArenaRandomPolicy(seed=0)
        >>> a = policy(None, {"state": np.array([500.0, 10.0, 256.0, 256.0, 0.0, 0.0, 0.0])})
        >>> bool(np.all(np.abs(a) <= 1)), bool(500.0 + ACTION_SCALE * a[0] <= _HI)
        (True, True)
    """

    def __init__(self, *, action_space: spaces.Box | None = None, seed: int | None = None) -> None:
        if action_space is None:
            action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if not isinstance(action_space, spaces.Box) or action_space.shape != (2,):
            raise ValueError(f"action_space must be a Box of shape (2,) (PushT's action space), got {action_space}.")
        self.action_space = action_space
        self.relative = bool(np.all(action_space.low >= -1.0 - 1e-6) and np.all(action_space.high <= 1.0 + 1e-6))
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseeds the generator when ``seed`` is given."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """A uniform action, its PD target clipped to the arena (float32 (2,), within the action space)."""
        agent = np.asarray(info["state"], dtype=np.float64).reshape(-1)[:2]
        rel = self._rng.uniform(-1.0, 1.0, size=2)  # (2,)
        target = np.clip(agent + ACTION_SCALE * rel, _LO, _HI)  # (2,)
        action = (target - agent) / ACTION_SCALE if self.relative else target
        return np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)
