"""Records trajectories and frames of our own v0 envs (``lewm/PushT-v0``, ``lewm/TwoRoom-v0``) into
``tests/envs/fidelity/{pusht,tworoom}_v0.npz``, so the tests can check that the v1 envs with the legacy options of
``LEGACY_VERSIONS[0]`` reproduce v0 (and with it, datasets recorded under v0).

The v0 code is the last commit before the -v1 bump (37e9561). Export it and run this script against its ``envs/``::

    git archive 37e9561 envs | tar -x -C /tmp/lewm-v0
    .venv/bin/python benchmarks/fidelity/record_v0.py /tmp/lewm-v0/envs
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity"


def load_v0(envs_dir: Path) -> None:
    """Imports ``envs_dir`` as the ``lewm_envs`` package (before anything imports the installed one)."""
    spec = importlib.util.spec_from_file_location(
        "lewm_envs", envs_dir / "__init__.py", submodule_search_locations=[str(envs_dir)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["lewm_envs"] = module
    spec.loader.exec_module(module)


def main(envs_dir: Path) -> None:
    load_v0(envs_dir)
    from lewm_envs.pusht import PushTEnv, PushTPusherPolicy
    from lewm_envs.two_room import TwoRoomEnv, TwoRoomHeuristicPolicy

    steps, frame_steps = 60, (0, 30, 60)
    for name, make, policy_cls in (
        ("tworoom", lambda: TwoRoomEnv(image_size=64), TwoRoomHeuristicPolicy),
        ("pusht", lambda: PushTEnv(image_size=64), PushTPusherPolicy),
    ):
        starts, goals, actions, states, frames, goal_frames = [], [], [], [], [], []
        for seed in range(6):
            env = make()
            policy = policy_cls(action_space=env.action_space, seed=seed)
            obs, info = env.reset(seed=seed)
            starts.append(info["state"])
            goals.append(info["goal_state"])
            goal_frames.append(info["goal"])
            seq_actions, seq_states, seq_frames = [], [info["state"]], [obs]
            for t in range(steps):
                action = policy(obs, info)
                obs, _, _, _, info = env.step(action)
                seq_actions.append(action)
                seq_states.append(info["state"])
                if t + 1 in frame_steps:
                    seq_frames.append(obs)
            actions.append(seq_actions)
            states.append(seq_states)
            frames.append(seq_frames)
        np.savez_compressed(
            OUT / f"{name}_v0.npz",
            start=np.array(starts),  # (N, D) state after reset(seed=n), passed back as options["state"]
            goal=np.array(goals),  # (N, D)
            actions=np.array(actions, np.float32),  # (N, T, 2)
            states=np.array(states),  # (N, T + 1, D) float32 as reported
            frame_steps=np.array(frame_steps),
            frames=np.array(frames, np.uint8),  # (N, len(frame_steps), 64, 64, 3)
            goal_frames=np.array(goal_frames, np.uint8),  # (N, 64, 64, 3)
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: record_v0.py PATH/TO/v0/envs (see the docstring)")
    main(Path(sys.argv[1]).resolve())
