"""Cube: OGBench's single-cube manipulation scene (UR5e arm, Robotiq gripper) with a goal cube position, as pixels.

Shapes and units (S image side; metres, radians):
    * ``state``: float32 (41,) = ``concat(qpos (21), qvel (20))``. qpos holds the arm joints [0:6], the gripper
      joints [6:14] and the cube's free joint [14:21]: position (x, y, z) [14:17] (``CUBE_POS``) then quaternion
      (w, x, y, z) [17:21] (``CUBE_QUAT``). The goal cube position of any state vector is ``state[CUBE_POS]``.
    * ``goal_state``: float32 (41,) in the state layout; the success rule uses only its cube position.
    * ``proprio``: float32 (19,), OGBench ManipSpace's proprioception in its own key order: joint_pos (6), joint_vel
      (6), effector_pos (3), effector_yaw (1), gripper_opening (1), gripper_vel (1), gripper_contact (1) (see
      ``PROPRIO_SLICES``).
    * observation, ``render()``, ``info["goal"]``: uint8 (S, S, 3) from OGBench's ``front_pixels`` camera.
    * action: float32 (5,), OGBench's relative end-effector control: xyz displacement (x 0.05 m), yaw (x 0.3 rad)
      and gripper opening change, for [-1, 1]; 20 steps per second.

The reference is the paper's env, stable-worldmodel's ``swm/OGBCube-v0`` with the LeWM evaluation's kwargs
(``env_type="single"``, ``ob_type="states"``, ``visualize_info=False``, ``terminate_at_goal=True``), which keeps
OGBench's ManipSpace ``step``. Each step is OGBench's exactly: the relative action is taken from the effector pose
MuJoCo left after the previous step (kinematics of the state one physics sub-step before the last), and frames and
proprio read that same data, as the reference does. Frames are the reference's: an opaque arm with a purple gripper,
no target marker, MuJoCo's default lighting with shadows and multisampling (``tests/envs/fidelity`` checks them pixel
for pixel against the reference's own frames). ``transparent_arm=True`` gives the translucent arm of OGBench's own
``visual-cube-single-v0`` instead; ``fast_render=True`` turns off multisampling, shadows, reflections and the skybox.

Success (reference/lewm.md §5.3, OGBench ``_compute_successes``): the cube is within 0.04 m of the goal position; the
episode then terminates with reward 1 (else 0). The goal image is the goal state rendered as a whole: the cube at its
goal pose and the arm where the goal state has it (for a dataset goal row, exactly that row's frame).

Resets: ``reset(seed=s)`` starts where OGBench's data-collection reset with seed s starts (random arm pose, cube
position and yaw) and samples a goal (the cube elsewhere on the table, at least 0.1 m away, and a random arm pose);
``options={"state": ..., "goal_state": ...}`` sets either exactly; ``options={"task": k}`` (k in 1..5) starts OGBench's
evaluation task k (``OGBENCH_TASKS``) exactly as OGBench's ``reset(seed=s, options={"task_id": k})`` does.

MuJoCo renders the UR5e's 193k triangles on the CPU without a GPU: a few steps/s at the reference settings,
about 10x more with ``fast_render`` (``benchmarks/render_speed.py`` measures both).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lewm_envs.mujoco_render import FrameRenderer, check_image_size
from lewm_envs.options import float_vector, physics_state, reset_options

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
PROBE_TARGETS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "cube_pos": ("state", (14, 15, 16), "linear"),
    "effector_pos": ("proprio", (12, 13, 14), "linear"),
    "arm_joints": ("state", (0, 1, 2, 3, 4, 5), "angle"),
}
"""What a latent probe reads out (lewm_agents/analysis/probe.py): property -> (dataset column, indices, "linear" or
"angle"); the cube position (``CUBE_POS``), the end-effector position (proprio ``effector_pos``), the arm joints."""
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
TASK_START_JITTER: float = 0.01
"""OGBench shifts a task's start cube by up to this much in x and y, metres (and turns it to a random yaw)."""


@dataclass(frozen=True)
class OGBenchTask:
    """One of OGBench's evaluation tasks of the single-cube env (``CubeEnv.set_tasks``, ``env_type="single"``)."""

    name: str
    """OGBench's task name."""
    init_xyz: tuple[float, float, float]
    """Start cube position before OGBench's jitter, metres."""
    goal_xyz: tuple[float, float, float]
    """Goal cube position (the target, with identity orientation), metres."""


OGBENCH_TASKS: tuple[OGBenchTask, ...] = (
    OGBenchTask("task1_horizontal", (0.425, 0.1, 0.02), (0.425, -0.1, 0.02)),
    OGBenchTask("task2_vertical1", (0.35, 0.0, 0.02), (0.50, 0.0, 0.02)),
    OGBenchTask("task3_vertical2", (0.50, 0.0, 0.02), (0.35, 0.0, 0.02)),
    OGBenchTask("task4_diagonal1", (0.35, -0.2, 0.02), (0.50, 0.2, 0.02)),
    OGBenchTask("task5_diagonal2", (0.35, 0.2, 0.02), (0.50, -0.2, 0.02)),
)
"""OGBench's 5 evaluation tasks of ``cube-single``; ``reset(options={"task": k})`` starts task k = 1..5."""

LEGACY_VERSIONS: dict[int, tuple[dict[str, Any] | None, str]] = {
    0: (
        None,
        "lewm/Cube-v0 ran an extra forward pass after every step, so each relative action was taken from an effector "
        "pose one physics sub-step ahead of OGBench's (up to 0.04 rad and 15 mm apart after 100 steps); it also "
        "rendered with fast_render=True and a translucent arm (transparent_arm=True), clipped actions to [-1, 1] and "
        "drew random starts from another seed. The step cannot be restored by an option: re-collect with lewm/Cube-v1",
    )
}
"""Old versions of ``lewm/Cube``: version -> (v1 kwargs that reproduce it, or None when none can; what differs)."""

_CUBE_EXTRA = "pip install 'lewm-agents[cube]'"
_RESET_USAGE = (
    "CubeEnv.reset accepts options={'state': s, 'goal_state': g}, each optional, with s and g float (41,) states as "
    "in info['state'], or options={'task': k} with k in 1..5 (OGBench's evaluation tasks, "
    "lewm_envs.cube.OGBENCH_TASKS)."
)
_CUBE_LAYOUT = " (the cube position is [14:17])"
_IDENTITY_QUAT = (1.0, 0.0, 0.0, 0.0)


@functools.cache
def _ogbench() -> tuple[type, Any]:
    """OGBench's CubeEnv whose frames come from CubeEnv's own renderer (OGBench's is never created), and its ``lie``."""
    try:
        from ogbench.manipspace import lie
        from ogbench.manipspace.envs.cube_env import CubeEnv as OGBenchCubeEnv
    except ImportError as exc:
        raise ImportError(f"CubeEnv needs OGBench: {_CUBE_EXTRA}.") from exc

    class OwnRendererCubeEnv(OGBenchCubeEnv):
        def get_pixel_observation(self) -> None:
            # OGBench would open (and never close) its own renderer here; lewm's CubeEnv renders the frames.
            return None

    return OwnRendererCubeEnv, lie


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


def _task_index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= len(OGBENCH_TASKS):
        names = ", ".join(f"{k} ({t.name})" for k, t in enumerate(OGBENCH_TASKS, start=1))
        raise ValueError(f"options['task'] must be an int in 1..{len(OGBENCH_TASKS)}: {names}; got {value!r}.")
    return int(value)


class CubeEnv(gym.Env[np.ndarray, np.ndarray]):
    """OGBench single-cube pick-and-place, goal-conditioned on a cube position, observed as RGB pixels.

    Args:
        image_size: Side S of the square RGB frames, an int >= 16.
        render_mode: ``"rgb_array"`` or None.
        fast_render: No multisampling, shadows, reflections or skybox (several times faster in software rendering;
            frames differ from the reference's).
        success_threshold: Cube-to-goal distance for success, metres.
        camera: OGBench camera name (``"front_pixels"``, the reference's view, or ``"front"``).
        transparent_arm: Draw the arm translucent, as OGBench's own pixel tasks (``visual-cube-single-v0``) do;
            the paper's env draws it opaque.
        obs_type: ``"pixels"``, or ``"state"`` (observation = ``info["state"]``, no frame rendered per step and no
            ``info["goal"]``; the dynamics are the same).

    Example (building the scene takes seconds, so this is not run as a doctest)::

        env = CubeEnv(image_size=64)
        obs, info = env.reset(seed=0, options={"task": 2})  # OGBench's task2_vertical1
        goal_xyz = info["goal_state"][CUBE_POS]  # (0.5, 0.0, 0.02)
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012 (Gymnasium declares it a dict)

    def __init__(
        self,
        *,
        image_size: int = 64,
        render_mode: str | None = "rgb_array",
        fast_render: bool = False,
        success_threshold: float = SUCCESS_THRESHOLD,
        camera: str = "front_pixels",
        transparent_arm: bool = False,
        obs_type: str = "pixels",
    ) -> None:
        self.image_size = check_image_size(image_size)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}.")
        if not (math.isfinite(success_threshold) and success_threshold > 0):
            raise ValueError(f"success_threshold must be a positive distance in metres, got {success_threshold!r}.")
        if obs_type not in ("pixels", "state"):
            raise ValueError(f"obs_type must be 'pixels' or 'state', got {obs_type!r}.")
        import mujoco

        self._mujoco = mujoco
        self.render_mode = render_mode
        self.success_threshold = float(success_threshold)
        self.obs_type = obs_type
        og_class, self._lie = _ogbench()
        # ob_type="pixels" only picks OGBench's pixel colours (a purple gripper; with pixel_transparent_arm, a
        # translucent arm): the same look as the reference's ob_type="states" scene, whose gripper
        # stable-worldmodel colours purple. OGBench's observation itself is never computed (see _ogbench).
        self._og = og_class(
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
        self._camera = camera
        self._fast_render = bool(fast_render)
        self._renderer: FrameRenderer | None = None
        if obs_type == "pixels":
            self._renderer = self._make_renderer()
        self._goal_data = mujoco.MjData(self.model)  # the goal state, rendered for the goal image

        self.action_space = spaces.Box(-1.0, 1.0, shape=(5,), dtype=np.float32)
        if obs_type == "pixels":
            self.observation_space = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
        else:
            size = self.model.nq + self.model.nv
            self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        self._goal_state: np.ndarray | None = None  # float64 (41,)
        self._goal_frame: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._proprio: np.ndarray | None = None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Seeds ``self.np_random`` (goal sampling) and OGBench's generator (the start), as
                ``OGBench.reset(seed=seed)`` does: the same seed gives OGBench's start.
            options: Optional ``{"state": s, "goal_state": g}``, each float (41,) in the state layout (e.g. two rows
                of a dataset). ``state`` puts the whole scene exactly there; ``goal_state`` is the goal (its cube
                position is the target, and it is what the goal image shows). A missing start is OGBench's random
                one (arm pose, cube position and yaw); a missing goal is sampled as the module docstring says.
                Or ``{"task": k}``, k in 1..5: OGBench's evaluation task k (``OGBENCH_TASKS[k - 1]``), started
                exactly as OGBench's ``reset(seed=seed, options={"task_id": k})`` starts it; the goal state is
                OGBench's goal scene (the cube at the task's goal with identity orientation, the arm at the pose
                OGBench draws for it, at rest).

        Returns:
            The first observation and the info dict (see ``step``).

        Raises:
            ValueError: An unknown option key, a malformed state, a task out of range, or a task with a state.
        """
        super().reset(seed=seed)
        options = reset_options(options, {"state", "goal_state", "task"}, _RESET_USAGE)
        if "task" in options:
            if len(options) > 1:
                raise ValueError(f"options['task'] sets both start and goal; pass it alone. {_RESET_USAGE}")
            self._goal_state = self._reset_to_task(_task_index(options["task"]), seed)
        else:
            nq, nv = self.model.nq, self.model.nv
            state = physics_state(options.get("state"), "state", nq, nv, _CUBE_LAYOUT)
            goal = physics_state(options.get("goal_state"), "goal_state", nq, nv, _CUBE_LAYOUT)
            self._og.reset(seed=seed)  # OGBench's generator continues its own stream when seed is None
            if state is not None:
                self._og.set_state(state[:nq], state[nq:])
            self._goal_state = goal if goal is not None else self._sample_goal()
        # OGBench's (invisible) target follows the goal, so its own success flag and privileged info agree with ours.
        self.data.mocap_pos[self._mocap] = self._goal_state[CUBE_POS]
        self.data.mocap_quat[self._mocap] = self._goal_state[CUBE_QUAT]
        # Contact forces (the proprio's gripper_contact) are computed after a step, not by forward dynamics; OGBench's
        # reset leaves them from before the reset (in task mode, from its unseeded settling steps), so we compute them
        # for the current state. Only info["proprio"] at reset sees this.
        self._mujoco.mj_rnePostConstraint(self.model, self.data)
        self._goal_frame = self._render_state(self._goal_state) if self.obs_type == "pixels" else None
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies OGBench's relative end-effector action for one control step (0.05 s), exactly as OGBench does.

        Actions outside [-1, 1] are passed on unclipped, as in the reference (a larger displacement, after which
        OGBench clips the target pose to its workspace).

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward 1.0 on success else 0.0; terminated on success;
            truncated is left to the registered TimeLimit. info holds ``"proprio"`` (float32 (19,)), ``"state"`` and
            ``"goal_state"`` (float32 (41,)), ``"goal"`` (uint8 (S, S, 3), pixel observations only),
            ``"is_success"`` and ``"distance"`` (cube to goal, metres).
        """
        if self._goal_state is None:
            raise RuntimeError("CubeEnv.step() was called before reset(); call env.reset(seed=...) first.")
        act = float_vector(action)  # (5,)
        if act.shape != (5,) or not np.all(np.isfinite(act)):
            raise ValueError(f"action must be 5 finite numbers in [-1, 1] (dx, dy, dz, dyaw, dgrip), got {action!r}.")
        self._og.step(act)  # OGBench's step; no extra forward pass (lewm/Cube-v0 had one, see LEGACY_VERSIONS)
        obs = self._observe()
        info = self._info()
        success = info["is_success"]
        return obs, 1.0 if success else 0.0, success, False, info

    def render(self) -> np.ndarray:
        """Returns the current frame, uint8 (S, S, 3)."""
        if self._goal_state is None:
            raise RuntimeError("CubeEnv.render() was called before reset(); call env.reset(seed=...) first.")
        if self._frame is None:
            self._frame = self._renderer_or_new().render(self.data)
        return self._frame.copy()

    def close(self) -> None:
        """Frees the renderer (in its own GL context); the env cannot render afterwards."""
        if self._renderer is not None:
            self._renderer.close()

    # ------------------------------------------------------------------ goal-conditioned API

    def render_goal(self) -> np.ndarray:
        """Returns the goal image (the goal state rendered), uint8 (S, S, 3)."""
        if self._goal_state is None:
            raise RuntimeError("CubeEnv.render_goal() was called before reset(); call env.reset(seed=...) first.")
        if self._goal_frame is None:
            self._goal_frame = self._render_state(self._goal_state)
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

    def _make_renderer(self) -> FrameRenderer:
        return FrameRenderer(
            self.model, self.image_size, self._camera, fast=self._fast_render, scene_option=self._og._scene_option
        )

    def _renderer_or_new(self) -> FrameRenderer:
        if self._renderer is None:
            self._renderer = self._make_renderer()
        return self._renderer

    def _observe(self) -> np.ndarray:
        self._proprio = self._read_proprio(self._og.compute_ob_info())
        if self.obs_type == "state":
            self._frame = None
            return self.state
        self._frame = self._renderer_or_new().render(self.data)
        return self._frame.copy()

    def _reset_to_task(self, task: int, seed: int | None) -> np.ndarray:
        """OGBench's task-mode ``initialize_episode`` for one cube, on the data-collection scene; returns the goal.

        OGBench draws, from its generator seeded by ``reset(seed=...)``: a cube permutation (one cube), the arm of
        its goal scene, the start arm, the start cube's xy jitter and yaw. It then settles its goal scene with two
        random actions from an unseeded generator, which only its goal observation sees; we render the goal scene
        itself (see the README's list of where we differ).
        """
        og, model, data, mujoco = self._og, self.model, self.data, self._mujoco
        spec = OGBENCH_TASKS[task - 1]
        gym.Env.reset(og, seed=seed)  # seeds OGBench's generator as its own reset(seed=seed) does
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        data.qpos[og._arm_joint_ids] = og._home_qpos
        mujoco.mj_kinematics(model, data)
        og.np_random.permutation(1)
        saved_qpos, saved_qvel = data.qpos.copy(), data.qvel.copy()
        og.initialize_arm()
        goal = np.concatenate([data.qpos, np.zeros(model.nv)])
        goal[CUBE_POS], goal[CUBE_QUAT] = spec.goal_xyz, _IDENTITY_QUAT
        data.qpos[:], data.qvel[:] = saved_qpos, saved_qvel
        og.initialize_arm()
        cube = np.array(spec.init_xyz)
        cube[:2] += og.np_random.uniform(-TASK_START_JITTER, TASK_START_JITTER, size=2)
        yaw = og.np_random.uniform(0, 2 * np.pi)
        data.qpos[CUBE_POS] = cube
        data.qpos[CUBE_QUAT] = self._lie.SO3.from_z_radians(yaw).wxyz
        data.mocap_pos[self._mocap], data.mocap_quat[self._mocap] = spec.goal_xyz, _IDENTITY_QUAT
        og.pre_step()
        mujoco.mj_forward(model, data)
        og.post_step()
        mujoco.mj_forward(model, data)
        return goal

    def _sample_goal(self) -> np.ndarray:
        """A goal state: the current scene with the cube moved on the table and the arm at a random pose."""
        rng, data, og = self.np_random, self.data, self._og
        cube = data.qpos[CUBE_POS].copy()
        for _ in range(100):
            xy = rng.uniform(TARGET_BOUNDS[0], TARGET_BOUNDS[1])  # (2,)
            if np.linalg.norm(xy - cube[:2]) >= MIN_GOAL_DISTANCE:
                break
        yaw = rng.uniform(0.0, 2.0 * math.pi)
        saved_qpos, saved_qvel = data.qpos.copy(), data.qvel.copy()
        og_rng = og.np_random
        og.np_random = rng  # OGBench's random arm pose (IK), drawn from our generator so OGBench's stream is untouched
        try:
            og.initialize_arm()  # it writes the live data, restored just below
        finally:
            og.np_random = og_rng
        goal_qpos = data.qpos.copy()
        data.qpos[:], data.qvel[:] = saved_qpos, saved_qvel
        self._mujoco.mj_forward(self.model, data)
        goal_qpos[CUBE_POS] = [xy[0], xy[1], CUBE_REST_HEIGHT]
        goal_qpos[CUBE_QUAT] = yaw_quaternion(yaw)
        goal = np.concatenate([goal_qpos, np.zeros(self.model.nv)])
        return goal.astype(np.float32).astype(np.float64)

    def _render_state(self, state: np.ndarray) -> np.ndarray:
        gd, nq = self._goal_data, self.model.nq
        gd.qpos[:] = state[:nq]
        gd.qvel[:] = state[nq:]
        gd.mocap_pos[:], gd.mocap_quat[:] = self.data.mocap_pos, self.data.mocap_quat
        self._mujoco.mj_forward(self.model, gd)
        return self._renderer_or_new().render(gd)

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
        # The rule compares the live float64 cube position with the float64 goal, as OGBench does.
        distance = float(np.linalg.norm(self.data.qpos[CUBE_POS] - self._goal_state[CUBE_POS]))
        info = {
            "proprio": self._proprio.copy(),
            "state": state,
            "goal_state": self._goal_state.astype(np.float32),
            "is_success": distance <= self.success_threshold,
            "distance": distance,
        }
        if self.obs_type == "pixels":
            info["goal"] = self.render_goal()
        return info


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
