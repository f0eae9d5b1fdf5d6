"""Records tests/envs/fidelity/cube_frames.npz: frames of the paper's Cube env, stable-worldmodel's
``swm/OGBCube-v0``, with the kwargs of the LeWM evaluation (``env_type="single"``, ``ob_type="states"``,
``visualize_info=False``, ``terminate_at_goal=True``): an opaque arm with a purple gripper, no target marker.

The states come from cube_ogbench.npz (run record_cube.py first): three task starts, two states of oracle episodes
(the cube in the gripper) and a goal scene; each is set with ``set_state`` and rendered from ``front_pixels`` at
64 px, the first also at 224 px (the paper's size). Run it in the stable-worldmodel venv (see record_reacher.py):

    MUJOCO_GL=egl /work/ref/swm-mj/bin/python benchmarks/fidelity/record_cube_frames.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES / "cube_frames.npz")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import gymnasium as gym
    from record_reacher import import_stable_worldmodel

    swm = import_stable_worldmodel()
    ref = np.load(FIXTURES / "cube_ogbench.npz")
    goal = ref["reset_start"][0].copy()
    goal[:6] = ref["reset_goal_arm"][0]
    goal[14:17], goal[17:21], goal[21:] = ref["reset_goal_xyz"][0], [1.0, 0.0, 0.0, 0.0], 0.0
    states = [*ref["reset_start"][:3], ref["states"][0, 30], ref["states"][2, 45], goal]
    kwargs = {"env_type": "single", "ob_type": "states", "multiview": False, "visualize_info": False}
    frames = {}
    for size in (64, 224):
        env = gym.make("swm/OGBCube-v0", **kwargs, terminate_at_goal=True, width=size, height=size).unwrapped
        env.reset(seed=0)
        frames[size] = []
        for state in states if size == 64 else states[:1]:
            env.set_state(state[:21], state[21:])
            frames[size].append(env.render())
        env.close()
    np.savez_compressed(
        args.out,
        states=np.stack(states),
        frames_64=np.stack(frames[64]),
        frame_224=frames[224][0],
        swm_version=np.array(getattr(swm, "__version__", "unknown")),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
