"""Reacher: the DeepMind Control two-link planar arm with the ``qpos_match`` goal (reach a joint configuration).

Shapes and units (S image side; angles in radians, velocities in rad/s):
    * ``state`` = ``proprio``: float32 (4,) = (shoulder, wrist, shoulder velocity, wrist velocity), the physics
      ``concat(qpos, qvel)``. The shoulder is an unlimited hinge (its angle is not wrapped); the wrist is limited to
      +-160 degrees.
    * ``goal_state``: float32 (4,) in the state layout; only its qpos (the first two numbers) matters.
    * observation, ``render()``, ``info["goal"]``: uint8 (S, S, 3) frames from the top-down camera.
    * ``info["observation"]``: float32 (6,), DMC's (position, to_target, velocity), with the target at the fingertip
      of the goal configuration.
    * action: float32 (2,) joint torques in [-1, 1], applied for ``action_repeat`` (2) physics control steps of 0.02 s,
      as in stable-worldmodel's DMControl wrapper.

The goal (``qpos_match``, reference/lewm.md §5.3): success when every joint is within 0.05 rad (wrapped) of the goal
configuration; the episode then terminates with reward 1 (else 0). The goal image is the arm drawn at the goal
configuration. DMC's own target sphere is hidden (moved to an unrendered geom group) so frames show only the arm and
the goal image is exactly the frame of any state with the goal's qpos; ``show_target=True`` draws it at the goal
fingertip instead, in observations and goal images alike.

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

from lewm_envs.dmc import DMCEnv
from lewm_envs.noise import ColoredNoisePolicy

SUCCESS_THRESHOLD: float = 0.05
"""A joint matches the goal when its wrapped angle error is below this, in radians."""
WRIST_LIMIT: float = math.radians(160.0)
"""The wrist joint range is [-WRIST_LIMIT, WRIST_LIMIT] (DMC's reacher.xml)."""
MIN_GOAL_ERROR: float = 0.2
"""A sampled goal differs from the start by at least this much on some joint, in radians (no success at reset)."""
DEFAULT_SAC_PATH: Path = Path("models/reacher_sac.zip")
"""Where ``ReacherSACPolicy`` looks for its SB3 model by default (relative to the working directory)."""
_HIDDEN_GROUP = 3  # MjvOption renders geom groups 0-2 by default


def wrap_angle(angle: Any) -> np.ndarray:
    """Wraps angles in radians to [-pi, pi), float64."""
    return (np.asarray(angle, dtype=np.float64) + math.pi) % (2 * math.pi) - math.pi


def joint_errors(state: Any, goal_state: Any) -> np.ndarray:
    """Wrapped goal-minus-current joint angles, float64 (2,), from states (or qpos) of the Reacher layout.

    The success rule compares these. They are not always the way to go: see :func:`travel_errors`.
    """
    q = np.asarray(state, dtype=np.float64).reshape(-1)[:2]
    g = np.asarray(goal_state, dtype=np.float64).reshape(-1)[:2]
    return wrap_angle(g - q)


def travel_errors(state: Any, goal_state: Any) -> np.ndarray:
    """The joint rotations that bring the arm to the goal, float64 (2,): shoulder wrapped, wrist not.

    The wrist cannot pass its +-160 degree limit, so its only way to the goal is the raw difference (up to 320
    degrees); the wrapped one may point through the limit. For valid angles both give the same success test.
    """
    q = np.asarray(state, dtype=np.float64).reshape(-1)[:2]
    g = np.asarray(goal_state, dtype=np.float64).reshape(-1)[:2]
    return np.array([wrap_angle(g[0] - q[0]), g[1] - q[1]])


class ReacherEnv(DMCEnv):
    """DMC reacher with a goal configuration (``qpos_match``), observed as RGB pixels.

    Args:
        image_size: Side S of the square RGB frames, an int >= 16.
        camera_id: DMC camera (0, the fixed top-down view; 1 tracks the hand).
        fast_render: No multisampling, shadows, reflections or skybox (10-20x faster in software rendering).
        render_mode: ``"rgb_array"`` or None.
        obs_type: ``"pixels"``, or ``"state"`` (observation = ``info["observation"]``, no frame rendered per step and
            no ``info["goal"]``; for training state-based policies).
        action_repeat: Physics control steps (0.02 s each) per env step.
        success_threshold: Per-joint tolerance of the success rule, in radians.
        show_target: Draw DMC's target sphere at the goal fingertip (hidden by default).

    Example:
        >>> env = ReacherEnv(image_size=32)
        >>> obs, info = env.reset(seed=0, options={"state": [0.5, -1.0, 0.0, 0.0], "goal_state": [2.0, 1.0, 0.0, 0.0]})
        >>> obs.shape, info["state"].tolist(), info["is_success"], round(info["distance"], 3)
        ((32, 32, 3), [0.5, -1.0, 0.0, 0.0], False, 2.0)
        >>> env.is_success([0.5, -1.0, 0, 0], [0.54, -1.04, 0, 0])
        True
        >>> env.close()
    """

    _RESET_OPTIONS = frozenset({"state", "goal_state"})

    def __init__(
        self,
        *,
        image_size: int = 64,
        camera_id: int | str = 0,
        fast_render: bool = True,
        render_mode: str | None = "rgb_array",
        obs_type: str = "pixels",
        action_repeat: int = 2,
        success_threshold: float = SUCCESS_THRESHOLD,
        show_target: bool = False,
    ) -> None:
        if not (math.isfinite(success_threshold) and success_threshold > 0):
            raise ValueError(f"success_threshold must be a positive angle in radians, got {success_threshold!r}.")
        # Episodes end on success or at the registered TimeLimit, never at DMC's own 20 s limit.
        super().__init__(
            "reacher",
            "easy",
            image_size=image_size,
            camera_id=camera_id,
            fast_render=fast_render,
            render_mode=render_mode,
            obs_type=obs_type,
            action_repeat=action_repeat,
            time_limit=math.inf,
        )
        import mujoco

        self._mujoco = mujoco
        self.success_threshold = float(success_threshold)
        self.show_target = bool(show_target)
        self._target_geom = self.model.geom("target").id
        self._finger_geom = self.model.geom("finger").id
        if not self.show_target:
            self.model.geom_group[self._target_geom] = _HIDDEN_GROUP
        self._goal_data = mujoco.MjData(self.model)  # the goal configuration, rendered for the goal image
        self._goal_state: np.ndarray | None = None  # float64 (4,), float32-representable
        self._goal_frame: np.ndarray | None = None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random``, the only source of randomness.
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
        """Applies the torques ``clip(action, -1, 1)`` for ``action_repeat`` control steps.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward 1.0 on success else 0.0; terminated on success;
            truncated is left to the registered TimeLimit. info holds ``"proprio"`` and ``"state"`` (float32 (4,)),
            ``"goal_state"`` (float32 (4,)), ``"goal"`` (uint8 (S, S, 3), pixel observations only),
            ``"is_success"``, ``"distance"`` (the largest wrapped joint error, rad) and ``"observation"``.
        """
        self._advance(action)
        info = self._info()
        success = info["is_success"]
        return self._observe(), 1.0 if success else 0.0, success, False, info

    # ------------------------------------------------------------------ goal-conditioned API

    def render_goal(self) -> np.ndarray:
        """Returns the goal image, the arm at the goal configuration: uint8 (S, S, 3)."""
        if self._goal_state is None:
            raise RuntimeError("ReacherEnv.render_goal() was called before reset(); call env.reset(seed=...) first.")
        if self._goal_frame is None:
            self._goal_frame = self.render_state(self._goal_data)
        return self._goal_frame.copy()

    def is_success(self, state: Any, goal_state: Any) -> bool:
        """The ``qpos_match`` rule: every wrapped joint error is below ``success_threshold``.

        Args:
            state: A state (4,) or qpos (2,).
            goal_state: A goal state (4,) or goal qpos (2,).
        """
        return bool(np.max(np.abs(joint_errors(state, goal_state))) < self.success_threshold)

    @property
    def goal_state(self) -> np.ndarray:
        """The goal in the state layout, float32 (4,) (a copy)."""
        if self._goal_state is None:
            raise RuntimeError("ReacherEnv has no goal_state before reset(); call env.reset(seed=...) first.")
        return self._goal_state.astype(np.float32)

    # ------------------------------------------------------------------ internals

    def _reset_task(self, options: dict[str, Any]) -> None:
        goal = self._validated_goal(options.get("goal_state"))
        if goal is None:
            goal = self._sample_goal()
        self._goal_state = goal
        mujoco, model, gd = self._mujoco, self.model, self._goal_data
        gd.qpos[:] = goal[:2]
        gd.qvel[:] = 0.0
        mujoco.mj_kinematics(model, gd)
        # DMC's target (and so its to_target observation) sits at the goal fingertip; it is a static world geom, so
        # both simulations need their kinematics recomputed after it moves.
        model.geom_pos[self._target_geom, :2] = gd.geom_xpos[self._finger_geom, :2]
        mujoco.mj_forward(model, gd)
        self._physics.forward()
        self._goal_frame = None
        if self.obs_type == "pixels":
            self._goal_frame = self.render_state(gd)

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

    def _info(self) -> dict[str, Any]:
        state = self.state
        errors = joint_errors(state, self._goal_state)
        distance = float(np.max(np.abs(errors)))
        info = {
            "proprio": state,
            "state": state.copy(),
            "goal_state": self._goal_state.astype(np.float32),
            "is_success": distance < self.success_threshold,
            "distance": distance,
            "observation": self._dmc_observation(),
        }
        if self._goal_frame is not None:
            info["goal"] = self._goal_frame.copy()
        return info


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
