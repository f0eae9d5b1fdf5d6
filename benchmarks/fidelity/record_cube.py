"""Records tests/envs/fidelity/cube_ogbench.npz: OGBench's single-cube env under its 5 evaluation tasks.

The reference is OGBench 1.2.2's ManipSpace ``CubeEnv(env_type="single")`` (the physics of the paper's
``swm/OGBCube-v0``, which subclasses it and keeps its ``step``), in task mode: ``reset(seed=s, options={"task_id":
k})``. For each task and seed it stores the start state, the goal (the target cube position and the arm pose
OGBench samples for its goal scene), then steps a fixed action sequence and stores every state and success flag.
Half of the sequences come from OGBench's own pick-and-place oracle (the cube is grasped, carried and put down:
contact-rich), half are uniform random actions. lewm's tests replay the stored actions on ``lewm/Cube-v1``.

Run it in its own virtual environment (OGBench must not be a test dependency):

    python3 -m venv /work/ref/ogbench && /work/ref/ogbench/bin/pip install ogbench==1.2.2 "mujoco>=3.17,<4"
    MUJOCO_GL=egl /work/ref/ogbench/bin/python benchmarks/fidelity/record_cube.py

Dimension letters: E episodes, T steps (+1 with the start), Q = 41 = nq + nv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

STEPS = 100
START_SEEDS = (0, 1, 2)
"""Seeds whose task starts (and goal arm poses) are stored; seed 0 also gets the stepped episodes."""
OUT = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity" / "cube_ogbench.npz"


def _state(env) -> np.ndarray:
    return np.concatenate([env.unwrapped._data.qpos, env.unwrapped._data.qvel])  # (Q,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import ogbench
    from ogbench.manipspace.envs.cube_env import CubeEnv
    from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle

    env = CubeEnv(env_type="single", ob_type="states", terminate_at_goal=False)  # cube-single-v0, task mode
    goal_arms: list[np.ndarray] = []
    initialize_arm = env.initialize_arm

    def recording_initialize_arm() -> None:  # OGBench's first call places the arm of its goal scene
        initialize_arm()
        goal_arms.append(env._data.qpos[env._arm_joint_ids].copy())

    env.initialize_arm = recording_initialize_arm
    keys = ("reset_task", "reset_seed", "reset_start", "reset_goal_xyz", "reset_goal_arm")
    starts: dict[str, list] = {k: [] for k in keys}
    for task in range(1, 6):
        for seed in START_SEEDS:
            goal_arms.clear()
            env.reset(seed=seed, options={"task_id": task})
            goal_xyz = env._data.mocap_pos[env._cube_target_mocap_ids[0]].copy()
            for key, value in zip(starts, (task, seed, _state(env), goal_xyz, goal_arms[0])):
                starts[key].append(np.asarray(value))
    rows: dict[str, list] = {k: [] for k in ("task", "oracle", "actions", "states", "success")}
    for task in range(1, 6):
        for seed in START_SEEDS[:1]:
            for oracle in (True, False):
                _, info = env.reset(seed=seed, options={"task_id": task})
                start = _state(env)
                goal_xyz = env._data.mocap_pos[env._cube_target_mocap_ids[0]].copy()
                np.random.seed(1000 * task + seed)  # noqa: NPY002 (the oracle draws its end pose from the global generator)
                policy = CubeMarkovOracle(env=env, min_norm=0.4)
                policy.reset(None, info)
                rng = np.random.default_rng(1000 * task + seed)
                actions, states, success = [], [start], []
                for _ in range(STEPS):
                    if oracle:
                        info.update(
                            {
                                "privileged/target_block": 0,
                                "privileged/target_block_pos": goal_xyz,
                                "privileged/target_block_yaw": np.zeros(1),
                            }
                        )
                        action = np.clip(policy.select_action(None, info), -1, 1)
                    else:
                        action = rng.uniform(-1, 1, 5)
                    _, _, _, _, info = env.step(action)
                    actions.append(action)
                    states.append(_state(env))
                    success.append(bool(info["success"]))
                for key, value in zip(rows, (task, oracle, actions, states, success)):
                    rows[key].append(np.asarray(value))
    arrays = {key: np.stack(value) for key, value in {**starts, **rows}.items()}
    arrays["ogbench_version"] = np.array(ogbench.__version__ if hasattr(ogbench, "__version__") else "1.2.2")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    moved = np.linalg.norm(arrays["states"][:, -1, 14:17] - arrays["states"][:, 0, 14:17], axis=1)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB); cube moved (m): {np.round(moved, 3).tolist()}")
    print(f"episodes with success: {int(arrays['success'].any(axis=1).sum())} of {len(moved)}")


if __name__ == "__main__":
    main()
