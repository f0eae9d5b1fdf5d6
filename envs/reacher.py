"""Reacher: the DeepMind Control two-link planar arm with the ``qpos_match`` goal (reach a joint configuration).

Shapes and units (S image side; angles in radians, velocities in rad/s):
    * ``state`` = ``proprio``: float32 (4,) = (shoulder, wrist, shoulder velocity, wrist velocity), the physics
      ``concat(qpos, qvel)``. The shoulder is an unlimited hinge (its angle winds freely, it is not wrapped); the
      wrist is limited to +-160 degrees.
    * ``goal_state``: float32 (4,) in the state layout; only its qpos (the first two numbers) matters.
    * observation, ``render()``, ``info["goal"]``: uint8 (S, S, 3) frames from the top-down camera.
    * ``info["observation"]``: float32 (6,), DMC's (position, to_target, velocity).
    * action: float32 (2,) joint torques in [-1, 1], applied for ``action_repeat`` (2) physics control steps of 0.02 s,
      as in stable-worldmodel's DMControl wrapper.

The reference is the paper's env, stable-worldmodel's ``swm/ReacherDMControl-v0`` with ``task="qpos_match"``
(reference/lewm.md §5.3), step for step: DMC reacher physics, seeding (``reset(seed=s)`` starts where the reference's
does), DMC's reward for its own target (placed at random by DMC's episode initialisation, size 0.015 as in DMC's
``hard`` task, and invisible), and the rule: success when every joint's raw qpos is within 0.05 rad of the goal's,
checked after each of the two control steps of an env step; the episode then terminates there. The shoulder winds
freely, so a goal one full turn away is not reached (``success="wrapped"`` compares angles modulo 2 pi instead, as
lewm/Reacher-v0 did). Frames are the reference's (``tests/envs/fidelity`` checks them pixel for pixel): the arm only,
the goal shown by the goal image, the arm drawn at the goal configuration.

Options that differ from the reference, all off by default: ``fast_render``, ``success="wrapped"``,
``target_at_goal`` (DMC's target, and so its reward and ``to_target`` observation, follow the goal fingertip) and
``show_target`` (draw the target sphere).

Collection policies: ``ReacherNoisePolicy`` (temporally correlated 1/f^beta torques) and ``ReacherSACPolicy`` (a
stable-baselines3 SAC model trained by ``benchmarks/train_reacher_sac.py`` on :func:`reacher_goal_features`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.dmc import QPOS_MATCH_THRESHOLD, DMCEnv
from lewm_envs.noise import ColoredNoisePolicy

PROBE_TARGETS: dict[str, tuple[str, tuple[int, ...], str]] = {"joint_angles": ("state", (0, 1), "angle")}
"""What a latent probe reads out (lewm_agents/analysis/probe.py): property -> (dataset column, indices, "linear" or
"angle"); the shoulder and wrist angles are probed as (sin, cos)."""
SUCCESS_THRESHOLD: float = QPOS_MATCH_THRESHOLD
"""A joint matches the goal when its angle error is below this, in radians."""
SUCCESS_RULES: tuple[str, ...] = ("qpos_match", "wrapped")
"""``"qpos_match"``: raw joint angles (the reference); ``"wrapped"``: angles modulo 2 pi (lewm/Reacher-v0)."""
WRIST_LIMIT: float = math.radians(160.0)
"""The wrist joint range is [-WRIST_LIMIT, WRIST_LIMIT] (DMC's reacher.xml)."""
MIN_GOAL_ERROR: float = 0.2
"""A sampled goal differs from the start by at least this much on some joint, in radians (no success at reset)."""
DEFAULT_SAC_PATH: Path = Path("models/reacher_sac.zip")
"""Where ``ReacherSACPolicy`` looks for its SB3 model by default (relative to the working directory)."""
LEGACY_VERSIONS: dict[int, tuple[dict[str, Any] | None, str]] = {
    0: (
        {"fast_render": True, "success": "wrapped", "target_at_goal": True},
        "lewm/Reacher-v0 rendered with fast_render=True, wrapped joint angles in the success rule (a wound shoulder "
        "counted as at its goal) and checked it only after both control steps of an env step, moved DMC's target "
        "(size 0.05) to the goal fingertip, rewarded 1 on success instead of DMC's reward and seeded random starts "
        "differently. The kwargs restore its frames, dynamics, rule and observations; rewards, the mid-step check "
        "and seeded random starts stay v1's",
    )
}
"""Old versions of ``lewm/Reacher``: version -> (v1 kwargs that reproduce it, what differs)."""
_HIDDEN_GROUP = 3  # MjvOption renders geom groups 0-2 by default


def wrap_angle(angle: Any) -> np.ndarray:
    """Wraps angles in radians to [-pi, pi), float64."""
    return (np.asarray(angle, dtype=np.float64) + math.pi) % (2 * math.pi) - math.pi


def joint_errors(state: Any, goal_state: Any) -> np.ndarray:
    """Wrapped goal-minus-current joint angles, float64 (2,), from states (or qpos) of the Reacher layout.

    The ``success="wrapped"`` rule compares these. They are not always the way to go: see :func:`travel_errors`.
    """
    q = np.asarray(state, dtype=np.float64).reshape(-1)[:2]
    g = np.asarray(goal_state, dtype=np.float64).reshape(-1)[:2]
    return wrap_angle(g - q)


def travel_errors(state: Any, goal_state: Any) -> np.ndarray:
    """The joint rotations that bring the arm to the goal configuration, float64 (2,): shoulder wrapped, wrist not.

    The wrist cannot pass its +-160 degree limit, so its only way to the goal is the raw difference (up to 320
    degrees); the wrapped one may point through the limit. The shoulder's wrapped error reaches the goal's angle, not
    necessarily its winding: the reference rule also wants the raw shoulder angle.
    """
    q = np.asarray(state, dtype=np.float64).reshape(-1)[:2]
    g = np.asarray(goal_state, dtype=np.float64).reshape(-1)[:2]
    return np.array([wrap_angle(g[0] - q[0]), g[1] - q[1]])


class ReacherEnv(DMCEnv):
    """DMC reacher with a goal configuration (``qpos_match``), observed as RGB pixels.

    Args:
        image_size: Side S of the square RGB frames, an int >= 16.
        camera_id: DMC camera (0, the fixed top-down view; 1 tracks the hand).
        fast_render: No multisampling, shadows, reflections or skybox (10-20x faster in software rendering; frames
            differ from the reference's).
        render_mode: ``"rgb_array"`` or None.
        obs_type: ``"pixels"``, or ``"state"`` (observation = ``info["observation"]``, no frame rendered per step and
            no ``info["goal"]``; for training state-based policies).
        action_repeat: Physics control steps (0.02 s each) per env step.
        success_threshold: Per-joint tolerance of the success rule, in radians.
        success: ``"qpos_match"`` (raw angles, the reference) or ``"wrapped"`` (angles modulo 2 pi).
        target_at_goal: Put DMC's target at the goal fingertip, so its reward and ``to_target`` measure the goal;
            the reference leaves it where DMC's episode initialisation puts it.
        show_target: Draw DMC's target sphere (hidden by default, as in the reference), in observations and goal
            images alike.

    Example:
        >>> env = ReacherEnv(image_size=32)
        >>> obs, info = env.reset(seed=0, options={"state": [0.5, -1.0, 0.0, 0.0], "goal_state": [2.0, 1.0, 0.0, 0.0]})
        >>> obs.shape, info["state"].tolist(), info["is_success"], round(info["distance"], 3)
        ((32, 32, 3), [0.5, -1.0, 0.0, 0.0], False, 2.0)
        >>> env.is_success([0.5, -1.0, 0, 0], [0.54, -1.04, 0, 0]), env.is_success([2 * math.pi, 0, 0, 0], [0, 0, 0, 0])
        (True, False)
        >>> env.close()
    """

    def __init__(
        self,
        *,
        image_size: int = 64,
        camera_id: int | str = 0,
        fast_render: bool = False,
        render_mode: str | None = "rgb_array",
        obs_type: str = "pixels",
        action_repeat: int = 2,
        success_threshold: float = SUCCESS_THRESHOLD,
        success: str = "qpos_match",
        target_at_goal: bool = False,
        show_target: bool = False,
    ) -> None:
        if not (math.isfinite(success_threshold) and success_threshold > 0):
            raise ValueError(f"success_threshold must be a positive angle in radians, got {success_threshold!r}.")
        if success not in SUCCESS_RULES:
            raise ValueError(f"success must be one of {SUCCESS_RULES} (the rule of the goal test), got {success!r}.")
        # The reference's qpos_match task uses the small target of DMC's "hard" task (0.015). Episodes end on success
        # or at the registered TimeLimit, never at DMC's own 20 s limit.
        super().__init__(
            "reacher",
            "hard",
            image_size=image_size,
            camera_id=camera_id,
            fast_render=fast_render,
            render_mode=render_mode,
            obs_type=obs_type,
            action_repeat=action_repeat,
            time_limit=math.inf,
            success_threshold=success_threshold,
        )
        self.success = success
        self.target_at_goal = bool(target_at_goal)
        self.show_target = bool(show_target)
        self._target_geom = self.model.geom("target").id
        self._finger_geom = self.model.geom("finger").id
        if not self.show_target:
            # The reference hides it with alpha 0; a geom group MuJoCo does not draw gives the same frames.
            self.model.geom_group[self._target_geom] = _HIDDEN_GROUP

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random`` and DMC's task generator (``RandomState(seed)``, as the reference does), so
                the random start (and DMC's target) of a seed is the reference's.
            options: Optional ``{"state": s, "goal_state": g}``, each (4,) in the state layout (``goal_state`` may
                also be the goal qpos alone, (2,)). ``state`` puts the arm exactly there; ``goal_state`` sets the goal
                configuration. A missing start is DMC's random one (uniform shoulder and wrist angles, at rest); a
                missing goal is uniform over the joint ranges, at least 0.2 rad from the start on some joint.

        Returns:
            The first frame and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option key or a malformed state.
        """
        return super().reset(seed=seed, options=options)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies the torques ``clip(action, -1, 1)`` for ``action_repeat`` control steps (fewer on success).

        Returns:
            ``(obs, reward, terminated, truncated, info)``: DMC's reacher reward (finger in its target), summed over
            the control steps taken; terminated on success; truncated is left to the registered TimeLimit. info
            holds ``"proprio"`` and ``"state"`` (float32 (4,)), ``"goal_state"`` (float32 (4,)), ``"goal"`` (uint8
            (S, S, 3), pixel observations only), ``"is_success"``, ``"distance"`` (the largest joint error of the
            rule, rad) and ``"observation"``.
        """
        return super().step(action)

    # ------------------------------------------------------------------ goal-conditioned API

    def is_success(self, state: Any, goal_state: Any) -> bool:
        """The ``qpos_match`` rule: every joint error below ``success_threshold`` (raw, or wrapped per ``success``).

        Args:
            state: A state (4,) or qpos (2,).
            goal_state: A goal state (4,) or goal qpos (2,).
        """
        return self._distance(state, goal_state) < self.success_threshold

    # ------------------------------------------------------------------ internals

    def _distance(self, state: Any, goal_state: Any) -> float:
        if self.success == "wrapped":
            return float(np.max(np.abs(joint_errors(state, goal_state))))
        return super()._distance(state, goal_state)

    def _reset_task(self, options: dict[str, Any]) -> None:
        goal = self._validated_goal(options.get("goal_state"))
        self._goal_state = goal if goal is not None else self._sample_goal()
        if self.target_at_goal:
            # DMC's target (and so its to_target observation) sits at the goal fingertip; it is a static world geom,
            # so the simulation needs its kinematics recomputed after it moves.
            mujoco, model, gd = self._mujoco, self.model, self._goal_data
            gd.qpos[:], gd.qvel[:] = self._goal_state[:2], 0.0
            mujoco.mj_kinematics(model, gd)
            model.geom_pos[self._target_geom, :2] = gd.geom_xpos[self._finger_geom, :2]
            self._physics.forward()
        self._goal_frame = None
        if self.obs_type == "pixels":
            self.render_goal()

    def _validated_goal(self, value: Any) -> np.ndarray | None:
        if value is None:
            return None
        try:
            goal = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise ValueError(f"options['goal_state'] must be 4 numbers (or the 2 angles), got {value!r}.") from err
        if goal.shape not in ((2,), (4,)) or not np.all(np.isfinite(goal)):
            raise ValueError(
                f"options['goal_state'] must be 4 finite numbers in the state layout (shoulder, wrist, and their "
                f"velocities; only the angles matter) or the 2 goal angles, got {value!r}."
            )
        return np.concatenate([goal, np.zeros(4 - goal.size)])

    def _sample_goal(self) -> np.ndarray:
        state = self.state
        for _ in range(100):
            qpos = self.np_random.uniform([-math.pi, -WRIST_LIMIT], [math.pi, WRIST_LIMIT])  # (2,)
            if np.max(np.abs(joint_errors(state, qpos))) >= MIN_GOAL_ERROR:
                break
        # float32-representable, so info["goal_state"] reproduces the goal exactly when passed back to reset.
        return np.concatenate([qpos, np.zeros(2)]).astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------------- collection policies


def _box_or_default(action_space: spaces.Box | None) -> spaces.Box:
    if action_space is None:
        return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    if not isinstance(action_space, spaces.Box) or action_space.shape != (2,):
        raise ValueError(f"action_space must be a Box of shape (2,) (Reacher's torques), got {action_space}.")
    return action_space


class ReacherNoisePolicy(ColoredNoisePolicy):
    """Random torques with temporally correlated 1/f^beta ("coloured") noise: the arm sweeps the whole workspace.

    :class:`~lewm_envs.noise.ColoredNoisePolicy` for Reacher's (2,) torques; it reads nothing from ``info``.

    Args:
        action_space: Actions are clipped to its bounds; defaults to Box(-1, 1, (2,), float32).
        seed: Seed of the policy's own generator; the same seed gives the same actions.
        beta: Spectral exponent (0 white, 1 pink, 2 red); larger values give smoother, longer excursions.
        scale: Standard deviation of the torques before clipping, in half-ranges of the action space.
        horizon: Length of the noise sequence drawn at once (a new one follows when it runs out).

    Example:
        >>> policy = ReacherNoisePolicy(seed=0, beta=1.0)
        >>> action = policy(None, {})
        >>> action.shape, action.dtype, bool(np.all(np.abs(action) <= 1))
        ((2,), dtype('float32'), True)
    """

    def __init__(
        self,
        *,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        beta: float = 1.0,
        scale: float = 1.0,
        horizon: int = 1000,
    ) -> None:
        super().__init__(action_space=_box_or_default(action_space), seed=seed, beta=beta, scale=scale, horizon=horizon)


def reacher_goal_features(state: Any, goal_state: Any) -> np.ndarray:
    """The observation of goal-reaching state-based policies (what ``ReacherSACPolicy``'s model consumes).

    Args:
        state: Reacher state (4,): shoulder, wrist angles and their velocities.
        goal_state: Goal in the state layout (4,) or goal angles (2,).

    Returns:
        float32 (8,): cos and sin of both angles, velocities / 10, and the :func:`travel_errors` to the goal.
    """
    s = np.asarray(state, dtype=np.float64).reshape(-1)
    q, qd = s[:2], s[2:4]
    return np.concatenate([np.cos(q), np.sin(q), qd / 10.0, travel_errors(s, goal_state)]).astype(np.float32)


class ReacherGoalFeatures(gym.Wrapper):
    """A ReacherEnv as a state-based goal-reaching task for RL: observation = :func:`reacher_goal_features`.

    The reward is the negative mean absolute :func:`travel_errors` (in units of pi) at every step; the
    episode terminates on success, so reaching sooner earns more. Use ``ReacherEnv(obs_type="state")`` inside (no
    rendering) to train quickly.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(8,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Resets the inner env and returns the features of its first state."""
        _, info = self.env.reset(seed=seed, options=options)
        return reacher_goal_features(info["state"], info["goal_state"]), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        """Steps the inner env; the reward is the shaped joint error (see the class docstring)."""
        _, _, terminated, truncated, info = self.env.step(action)
        errors = travel_errors(info["state"], info["goal_state"])
        reward = -float(np.mean(np.abs(errors))) / math.pi
        return reacher_goal_features(info["state"], info["goal_state"]), reward, terminated, truncated, info


class ReacherSACPolicy:
    """A stable-baselines3 SAC model (from ``benchmarks/train_reacher_sac.py``) driving the arm, plus noise.

    The model maps :func:`reacher_goal_features` (8,) to torques. With ``target="waypoints"`` (the default, for data
    collection) the policy chases configurations it samples itself, a new one when it gets within ``reach`` rad or
    after ``patience`` steps, so episodes stay long and cover the workspace with purposeful motions; with
    ``target="goal"`` it chases the env's goal (``info["goal_state"]``). Gaussian noise of std ``noise`` is added to
    every action for diversity.

    Args:
        action_space: Actions are clipped to its bounds; defaults to Box(-1, 1, (2,), float32).
        seed: Seed of the policy's own generator (noise and waypoints).
        model_path: The SB3 ``.zip``; train one with ``python benchmarks/train_reacher_sac.py``.
        noise: Std of the Gaussian action noise.
        target: ``"waypoints"`` or ``"goal"``.
        reach: A waypoint counts as reached within this largest joint error, in radians.
        patience: Steps after which an unreached waypoint is replaced.
        device: Torch device for the model.

    Raises:
        FileNotFoundError: No model at ``model_path``.
    """

    def __init__(
        self,
        *,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        model_path: str | Path = DEFAULT_SAC_PATH,
        noise: float = 0.2,
        target: str = "waypoints",
        reach: float = 0.1,
        patience: int = 60,
        device: str = "cpu",
    ) -> None:
        if target not in ("waypoints", "goal"):
            raise ValueError(f"target must be 'waypoints' or 'goal', got {target!r}.")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {noise!r}.")
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No Reacher SAC model at {path}. Train one first (about 15 minutes on a CPU): "
                f"`python benchmarks/train_reacher_sac.py --out {path}`, or pass model_path=... to ReacherSACPolicy."
            )
        from stable_baselines3 import SAC

        self.model = SAC.load(path, device=device)
        if self.model.observation_space.shape != (8,):
            raise ValueError(
                f"{path} holds a model for observations of shape {self.model.observation_space.shape}; "
                "ReacherSACPolicy needs one trained on reacher_goal_features (8,) by benchmarks/train_reacher_sac.py."
            )
        self.action_space = _box_or_default(action_space)
        self.noise, self.target, self.reach, self.patience = float(noise), target, float(reach), int(patience)
        self._rng = np.random.default_rng(seed)
        self._waypoint: np.ndarray | None = None
        self._age = 0

    def reset(self, seed: int | None = None) -> None:
        """Forgets the current waypoint (reseeding the generator when ``seed`` is given)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._waypoint, self._age = None, 0

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Returns the next action, float32 (2,), from ``info["state"]`` (and ``info["goal_state"]``)."""
        state = np.asarray(info["state"], dtype=np.float64)
        if self.target == "goal":
            goal = np.asarray(info["goal_state"], dtype=np.float64)
        else:
            if (
                self._waypoint is None
                or self._age >= self.patience
                or np.max(np.abs(joint_errors(state, self._waypoint))) < self.reach
            ):
                self._waypoint = self._rng.uniform([-math.pi, -WRIST_LIMIT], [math.pi, WRIST_LIMIT])
                self._age = 0
            self._age += 1
            goal = self._waypoint
        action, _ = self.model.predict(reacher_goal_features(state, goal), deterministic=True)
        action = np.asarray(action, dtype=np.float64) + self._rng.normal(0.0, self.noise, size=2)
        return np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)
