"""Cube: OGBench's single-cube manipulation scene (UR5e arm, Robotiq gripper) with a goal cube position, as pixels.

Shapes and units (S image side; metres, radians):
    * ``state``: float32 (41,) = ``concat(qpos (21), qvel (20))``. qpos holds the arm joints [0:6], the gripper
      joints [6:14] and the cube's free joint [14:21]: position (x, y, z) [14:17] (``CUBE_POS``) then quaternion
      (w, x, y, z) [17:21] (``CUBE_QUAT``). The goal cube position of any state vector is ``state[CUBE_POS]``.
      Resetting to a recorded state restores the scene up to its float32 rounding (the frame then matches the
      recorded one to a few grey levels on a few per cent of the pixels, in the translucent arm).
    * ``goal_state``: float32 (41,) in the state layout; the success rule uses only its cube position.
    * ``proprio``: float32 (19,), OGBench ManipSpace's proprioception in its own key order: joint_pos (6), joint_vel
      (6), effector_pos (3), effector_yaw (1), gripper_opening (1), gripper_vel (1), gripper_contact (1) (see
      ``PROPRIO_SLICES``).
    * observation, ``render()``, ``info["goal"]``: uint8 (S, S, 3) from OGBench's ``front_pixels`` camera, with the
      translucent arm and colours of OGBench's ``visual-cube-single-v0``; the target marker is never drawn.
    * action: float32 (5,) in [-1, 1], OGBench's relative end-effector control: xyz displacement (x 0.05 m), yaw
      (x 0.3 rad) and gripper opening change; 20 steps per second.

Success (reference/lewm.md §5.3, OGBench ``_compute_successes``): the cube is within 0.04 m of the goal position; the
episode then terminates with reward 1 (else 0). The goal image is the goal state rendered as a whole: the cube at its
goal pose and the arm where the goal state has it (for a dataset goal row, exactly that row's frame). A sampled goal
puts the cube at a uniform position and yaw on the table (OGBench's target bounds, at least 0.1 m from the cube) and
the arm at a random pose above the table (OGBench's arm sampling).

MuJoCo renders the UR5e's 193k triangles on the CPU without a GPU: about 11-45 steps/s; ``fast_render`` (the default)
is the fast end.
"""

from __future__ import annotations

import functools
import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.dmc import FrameRenderer, check_image_size
from lewm_envs.options import physics_state, reset_options

CUBE_POS: slice = slice(14, 17)
"""The cube position (x, y, z) in a state vector, metres."""
CUBE_QUAT: slice = slice(17, 21)
"""The cube orientation quaternion (w, x, y, z) in a state vector."""
PROPRIO_SLICES: dict[str, slice] = {
    "joint_pos": slice(0, 6),
    "joint_vel": slice(6, 12),
    "effector_pos": slice(12, 15),
    "effector_yaw": slice(15, 16),
    "gripper_opening": slice(16, 17),
    "gripper_vel": slice(17, 18),
    "gripper_contact": slice(18, 19),
}
"""Where each ManipSpace proprio key lies in ``info["proprio"]``."""
SUCCESS_THRESHOLD: float = 0.04
"""The cube must be within this distance of the goal position, metres."""
MIN_GOAL_DISTANCE: float = 0.1
"""A sampled goal is at least this far from the cube, metres, so episodes are not solved at reset."""
TARGET_BOUNDS: np.ndarray = np.array([[0.3, -0.3], [0.55, 0.3]])
"""Sampling box of goal cube positions (x, y) on the table: OGBench ManipSpace's target bounds."""
ARM_SAMPLING_BOUNDS: np.ndarray = np.array([[0.25, -0.35, 0.20], [0.6, 0.35, 0.35]])
"""Sampling box of effector positions (OGBench ManipSpace's arm sampling bounds)."""
CUBE_REST_HEIGHT: float = 0.02
"""z of the centre of a cube resting on the table (half its 4 cm side)."""
_CUBE_EXTRA = "pip install 'lewm-agents[cube]'"
_SEED_BOUND = 2**31 - 1
_RESET_USAGE = (
    "CubeEnv.reset accepts options={'state': s, 'goal_state': g}, each optional, with s and g float (41,) "
    "states as in info['state']."
)
_CUBE_LAYOUT = " (the cube position is [14:17])"


@functools.cache
def _ogbench_cube_class() -> type:
    """OGBench's CubeEnv whose frames come from CubeEnv's own renderer (OGBench's is never created)."""
    try:
        from ogbench.manipspace.envs.cube_env import CubeEnv as OGBenchCubeEnv
    except ImportError as exc:
        raise ImportError(f"CubeEnv needs OGBench: {_CUBE_EXTRA}.") from exc

    class OwnRendererCubeEnv(OGBenchCubeEnv):
        def get_pixel_observation(self) -> None:
            # OGBench would open (and never close) its own renderer here; lewm's CubeEnv renders the frames.
            return None

    return OwnRendererCubeEnv


def yaw_quaternion(yaw: float) -> np.ndarray:
    """The (w, x, y, z) quaternion of a rotation by ``yaw`` radians about z, float64 (4,).

    Example:
        >>> round(quaternion_yaw(yaw_quaternion(0.5)), 6)
        0.5
    """
    return np.array([math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0)])


def quaternion_yaw(quat: Any) -> float:
    """The rotation about z (radians) of a (w, x, y, z) quaternion."""
    w, x, y, z = np.asarray(quat, dtype=np.float64).reshape(4)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


class CubeEnv(gym.Env[np.ndarray, np.ndarray]):
    """OGBench single-cube pick-and-place, goal-conditioned on a cube position, observed as RGB pixels.

    Args:
        image_size: Side S of the square RGB frames, an int >= 16.
        render_mode: ``"rgb_array"`` or None.
        fast_render: No multisampling, shadows, reflections or skybox (several times faster in software rendering).
        success_threshold: Cube-to-goal distance for success, metres.
        camera: OGBench camera name (``"front_pixels"``, the visual tasks' view, or ``"front"``).
        transparent_arm: Draw the arm translucent, as OGBench's pixel tasks do, so it never hides the cube.

    Example (building the scene takes seconds, so this is not run as a doctest)::

        env = CubeEnv(image_size=64)
        obs, info = env.reset(seed=0)  # obs (64, 64, 3); info["state"] (41,), info["proprio"] (19,)
        goal_xyz = info["goal_state"][CUBE_POS]
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012 (Gymnasium declares it a dict)

    def __init__(
        self,
        *,
        image_size: int = 64,
        render_mode: str | None = "rgb_array",
        fast_render: bool = True,
        success_threshold: float = SUCCESS_THRESHOLD,
        camera: str = "front_pixels",
        transparent_arm: bool = True,
    ) -> None:
        self.image_size = check_image_size(image_size)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}.")
        if not (math.isfinite(success_threshold) and success_threshold > 0):
            raise ValueError(f"success_threshold must be a positive distance in metres, got {success_threshold!r}.")
        import mujoco

        self._mujoco = mujoco
        self.render_mode = render_mode
        self.success_threshold = float(success_threshold)
        self._og = _ogbench_cube_class()(
            env_type="single",
            ob_type="pixels",
            width=self.image_size,
            height=self.image_size,
            visualize_info=False,  # no target marker, no success colours: frames depend on qpos only
            terminate_at_goal=False,
            mode="data_collection",
            pixel_transparent_arm=transparent_arm,
        )
        self._og.reset(seed=0)  # OGBench builds and compiles its model on the first reset
        self.model, self.data = self._og.model, self._og.data
        cube_adr = int(self.model.jnt_qposadr[self.model.joint("object_joint_0").id])
        if cube_adr != CUBE_POS.start or (self.model.nq, self.model.nv) != (21, 20):
            raise RuntimeError(
                f"This OGBench version lays out the cube scene differently (nq={self.model.nq}, nv={self.model.nv}, "
                f"cube qpos at {cube_adr}) from what lewm's CubeEnv documents (21, 20, 14); use ogbench 1.2."
            )
        self._mocap = int(self.model.body("object_target_0").mocapid[0])
        self._renderer = FrameRenderer(
            self.model, self.image_size, camera, fast=fast_render, scene_option=self._og._scene_option
        )
        self._goal_data = mujoco.MjData(self.model)  # the goal state, rendered for the goal image

        self.action_space = spaces.Box(-1.0, 1.0, shape=(5,), dtype=np.float32)
        self.observation_space = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
        self._goal_state: np.ndarray | None = None  # float64 (41,), float32-representable
        self._goal_frame: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._proprio: np.ndarray | None = None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random``, the only source of randomness.
            options: Optional ``{"state": s, "goal_state": g}``, each float (41,) in the state layout (e.g. two rows
                of a dataset). ``state`` puts the whole scene exactly there; ``goal_state`` is the goal (its cube
                position is the target, and it is what the goal image shows). A missing start is OGBench's random
                one (arm pose, cube position and yaw); a missing goal is sampled as the module docstring says.

        Returns:
            The first frame and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option key or a malformed state.
        """
        super().reset(seed=seed)
        options = reset_options(options, {"state", "goal_state"}, _RESET_USAGE)
        nq, nv = self.model.nq, self.model.nv
        state = physics_state(options.get("state"), "state", nq, nv, _CUBE_LAYOUT)
        goal = physics_state(options.get("goal_state"), "goal_state", nq, nv, _CUBE_LAYOUT)
        self._og.reset(seed=int(self.np_random.integers(_SEED_BOUND)))
        if state is not None:
            self._og.set_state(state[: self.model.nq], state[self.model.nq :])
        # Contact forces (the proprio's gripper_contact) are computed after a step, not by forward dynamics.
        self._mujoco.mj_rnePostConstraint(self.model, self.data)
        self._goal_state = goal if goal is not None else self._sample_goal()
        # OGBench's (invisible) target follows the goal, so its own success flag and privileged info agree with ours.
        self.data.mocap_pos[self._mocap] = self._goal_state[CUBE_POS]
        self.data.mocap_quat[self._mocap] = self._goal_state[CUBE_QUAT]
        self._goal_frame = self._render_goal_state()
        self._proprio = self._read_proprio(self._og.compute_ob_info())
        self._frame = self._renderer.render(self.data)
        return self._frame.copy(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies OGBench's relative end-effector action for one control step (0.05 s).

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward 1.0 on success else 0.0; terminated on success;
            truncated is left to the registered TimeLimit. info holds ``"proprio"`` (float32 (19,)), ``"state"`` and
            ``"goal_state"`` (float32 (41,)), ``"goal"`` (uint8 (S, S, 3)), ``"is_success"`` and ``"distance"``
            (cube to goal, metres).
        """
        if self._goal_state is None:
            raise RuntimeError("CubeEnv.step() was called before reset(); call env.reset(seed=...) first.")
        act = np.asarray(action, dtype=np.float64).reshape(-1)  # (5,)
        if act.shape != (5,) or not np.all(np.isfinite(act)):
            raise ValueError(f"action must be 5 finite numbers in [-1, 1] (dx, dy, dz, dyaw, dgrip), got {action!r}.")
        self._og.step(np.clip(act, -1.0, 1.0))
        # mj_step leaves positions and contact forces at the state before its last integration; bring them up to
        # the new state so that frames and proprio are functions of info["state"], exactly as after a reset. The
        # dynamics are unchanged: the next mj_step recomputes the same forward pass from the same state.
        self._mujoco.mj_forward(self.model, self.data)
        self._mujoco.mj_rnePostConstraint(self.model, self.data)
        self._proprio = self._read_proprio(self._og.compute_ob_info())
        self._frame = self._renderer.render(self.data)
        info = self._info()
        success = info["is_success"]
        return self._frame.copy(), 1.0 if success else 0.0, success, False, info

    def render(self) -> np.ndarray:
        """Returns the current frame, uint8 (S, S, 3)."""
        if self._frame is None:
            raise RuntimeError("CubeEnv.render() was called before reset(); call env.reset(seed=...) first.")
        return self._frame.copy()

    def close(self) -> None:
        """Frees the renderer (in its own GL context); the env cannot render afterwards."""
        self._renderer.close()

    # ------------------------------------------------------------------ goal-conditioned API

    def render_goal(self) -> np.ndarray:
        """Returns the goal image (the goal state rendered), uint8 (S, S, 3)."""
        if self._goal_frame is None:
            raise RuntimeError("CubeEnv.render_goal() was called before reset(); call env.reset(seed=...) first.")
        return self._goal_frame.copy()

    def is_success(self, state: Any, goal_state: Any) -> bool:
        """The success rule: ``||state[CUBE_POS] - goal_state[CUBE_POS]|| <= success_threshold``.

        Args:
            state: A state vector (41,).
            goal_state: A goal state vector (41,).
        """
        return self._distance(state, goal_state) <= self.success_threshold

    @property
    def state(self) -> np.ndarray:
        """``concat(qpos, qvel)``, float32 (41,) (a copy)."""
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float32)

    @property
    def goal_state(self) -> np.ndarray:
        """The goal state, float32 (41,) (a copy)."""
        if self._goal_state is None:
            raise RuntimeError("CubeEnv has no goal_state before reset(); call env.reset(seed=...) first.")
        return self._goal_state.astype(np.float32)

    # ------------------------------------------------------------------ internals

    def _sample_goal(self) -> np.ndarray:
        """A goal state: the current scene with the cube moved on the table and the arm at a random pose."""
        rng, data = self.np_random, self.data
        cube = data.qpos[CUBE_POS].copy()
        for _ in range(100):
            xy = rng.uniform(TARGET_BOUNDS[0], TARGET_BOUNDS[1])  # (2,)
            if np.linalg.norm(xy - cube[:2]) >= MIN_GOAL_DISTANCE:
                break
        yaw = rng.uniform(0.0, 2.0 * math.pi)
        saved_qpos, saved_qvel = data.qpos.copy(), data.qvel.copy()
        self._og.initialize_arm()  # OGBench's random arm pose (IK); it writes the live data, restored just below
        goal_qpos = data.qpos.copy()
        data.qpos[:], data.qvel[:] = saved_qpos, saved_qvel
        self._mujoco.mj_forward(self.model, data)
        self._mujoco.mj_rnePostConstraint(self.model, data)
        goal_qpos[CUBE_POS] = [xy[0], xy[1], CUBE_REST_HEIGHT]
        goal_qpos[CUBE_QUAT] = yaw_quaternion(yaw)
        goal = np.concatenate([goal_qpos, np.zeros(self.model.nv)])
        return goal.astype(np.float32).astype(np.float64)

    def _render_goal_state(self) -> np.ndarray:
        gd, nq = self._goal_data, self.model.nq
        gd.qpos[:] = self._goal_state[:nq]
        gd.qvel[:] = self._goal_state[nq:]
        gd.mocap_pos[:], gd.mocap_quat[:] = self.data.mocap_pos, self.data.mocap_quat
        self._mujoco.mj_forward(self.model, gd)
        return self._renderer.render(gd)

    @staticmethod
    def _read_proprio(ob_info: dict[str, Any]) -> np.ndarray:
        parts = [np.asarray(ob_info[f"proprio/{key}"], dtype=np.float64).reshape(-1) for key in PROPRIO_SLICES]
        return np.concatenate(parts).astype(np.float32)

    @staticmethod
    def _distance(state: Any, goal_state: Any) -> float:
        a = np.asarray(state, dtype=np.float64).reshape(-1)[CUBE_POS]
        b = np.asarray(goal_state, dtype=np.float64).reshape(-1)[CUBE_POS]
        return float(np.linalg.norm(a - b))

    def _info(self) -> dict[str, Any]:
        state = self.state
        distance = self._distance(state, self._goal_state)
        return {
            "proprio": self._proprio.copy(),
            "state": state,
            "goal_state": self._goal_state.astype(np.float32),
            "goal": self._goal_frame.copy(),
            "is_success": distance <= self.success_threshold,
            "distance": distance,
        }


@functools.cache
def _seeded_oracle_class() -> type:
    """OGBench's Markov cube oracle, with its end-of-task arm pose drawn from the policy's generator."""
    try:
        from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
    except ImportError as exc:
        raise ImportError(f"CubePickPlacePolicy needs OGBench: {_CUBE_EXTRA}.") from exc

    class SeededCubeMarkovOracle(CubeMarkovOracle):
        def reset_seeded(self, rng: np.random.Generator) -> None:
            # CubeMarkovOracle.reset draws these from the global np.random and reads them off an env object.
            self._done, self._step = False, 0
            self._final_pos = rng.uniform(ARM_SAMPLING_BOUNDS[0], ARM_SAMPLING_BOUNDS[1])
            self._final_yaw = rng.uniform(-math.pi, math.pi)

    return SeededCubeMarkovOracle


class CubePickPlacePolicy:
    """OGBench's scripted pick-and-place oracle (``CubeMarkovOracle``) with OGBench's "noisy" dataset noise.

    The oracle moves above the cube, descends, grasps, lifts, carries it above the goal and lowers it there. As in
    OGBench's data generation (``generate_manipspace.py --dataset_type=noisy``), each episode draws a noise level
    xi ~ U(0, ``noise``) and every action gets Gaussian noise of std (xi, xi, xi, 3 xi, 10 xi) (position, yaw,
    gripper); with probability ``p_random_action`` an action is uniform instead. It reads only ``info["proprio"]``,
    ``info["state"]`` and ``info["goal_state"]``.

    Args:
        action_space: Actions are clipped to its bounds; defaults to Box(-1, 1, (5,), float32).
        seed: Seed of the policy's own generator.
        noise: Upper bound of the per-episode noise level (OGBench's default 0.1).
        min_norm: The oracle's minimum displacement norm (OGBench's default 0.4).
        p_random_action: Probability of a uniform random action.

    Example:
        >>> policy = CubePickPlacePolicy(seed=0)
        >>> policy.reset(seed=0)
        >>> state = np.zeros(41, np.float32); state[CUBE_POS] = [0.4, 0.0, 0.02]; state[17] = 1.0
        >>> goal = state.copy(); goal[CUBE_POS] = [0.5, 0.1, 0.02]
        >>> proprio = np.zeros(19, np.float32); proprio[12:15] = [0.4, 0.0, 0.3]
        >>> action = policy(None, {"state": state, "goal_state": goal, "proprio": proprio})
        >>> action.shape, bool(np.all(np.abs(action) <= 1))
        ((5,), True)
    """

    def __init__(
        self,
        *,
        action_space: spaces.Box | None = None,
        seed: int | None = None,
        noise: float = 0.1,
        min_norm: float = 0.4,
        p_random_action: float = 0.0,
    ) -> None:
        if action_space is None:
            action_space = spaces.Box(-1.0, 1.0, shape=(5,), dtype=np.float32)
        if not isinstance(action_space, spaces.Box) or action_space.shape != (5,):
            raise ValueError(f"action_space must be a Box of shape (5,) (Cube's action space), got {action_space}.")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite std >= 0, got {noise!r}.")
        if not 0.0 <= p_random_action <= 1.0:
            raise ValueError(f"p_random_action must be a probability in [0, 1], got {p_random_action!r}.")
        self.action_space = action_space
        self.noise, self.p_random_action = float(noise), float(p_random_action)
        self._oracle = _seeded_oracle_class()(env=None, min_norm=min_norm)
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Starts an episode: a new noise level and end pose (reseeding the generator when ``seed`` is given)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._xi = self._rng.uniform(0.0, self.noise)
        self._oracle.reset_seeded(self._rng)

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Returns the next action, float32 (5,)."""
        proprio = np.asarray(info["proprio"], dtype=np.float64)
        state = np.asarray(info["state"], dtype=np.float64)
        goal = np.asarray(info["goal_state"], dtype=np.float64)
        oracle_info = {f"proprio/{key}": proprio[sl] for key, sl in PROPRIO_SLICES.items()}
        oracle_info.update(
            {
                "privileged/target_block": 0,
                "privileged/block_0_pos": state[CUBE_POS],
                "privileged/block_0_yaw": np.array([quaternion_yaw(state[CUBE_QUAT])]),
                "privileged/target_block_pos": goal[CUBE_POS],
                "privileged/target_block_yaw": np.array([quaternion_yaw(goal[CUBE_QUAT])]),
            }
        )
        # Draw every random number on every call, so the stream (hence seeded actions) does not depend on the branch.
        random_action = self._rng.uniform(self.action_space.low, self.action_space.high)
        use_random = self._rng.uniform() < self.p_random_action
        jitter = self._rng.normal(0.0, 1.0, size=5) * self._xi * np.array([1.0, 1.0, 1.0, 3.0, 10.0])
        action = random_action if use_random else np.asarray(self._oracle.select_action(None, oracle_info)) + jitter
        return np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)
