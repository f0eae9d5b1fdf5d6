"""Records reference TwoRoom trajectories and frames into ``tests/envs/fidelity/tworoom_swm.npz``.

The reference is stable-worldmodel's ``swm/TwoRoom-v1`` (the paper's env), in its own virtual environment outside
the repo (the same one as ``record_pusht.py swm``)::

    python3 -m venv /work/ref/swm-2d
    /work/ref/swm-2d/bin/pip install torch==2.13.0 stable-worldmodel pygame pymunk shapely \
        opencv-python-headless imageio
    /work/ref/swm-2d/bin/python benchmarks/fidelity/record_tworoom.py

Sequences: door passages (from both rooms, at heights inside, at and outside the door band), slides along the
central wall and the borders, i.i.d. random actions, and a scripted door-seeking walk. Each is stored as the reset
options and open-loop actions given to the reference and the positions it reported, so the tests replay them in
``lewm_envs.two_room`` without the reference installed. Run from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reference import git_commit, import_stable_worldmodel, meta, versions

OUT = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity"
STEPS = 100
FRAME_STEPS = (0, 10, 50, 100)


def door_sequences(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Walks toward the door's wall from either room at heights across the door band (centre 49, band 33.25-64.75)."""
    out = []
    for y in (20.0, 30.0, 33.0, 34.0, 40.0, 49.0, 58.0, 64.0, 65.5, 70.0, 90.0):
        for side in (-1.0, 1.0):
            start = np.array([112.0 + side * rng.uniform(20, 40), y], np.float32)
            acts = np.tile(np.array([-side, 0.0], np.float32), (STEPS, 1))
            acts[:, 1] = rng.normal(0, 0.15, STEPS)
            acts[STEPS // 2 :, 1] += rng.choice([-0.8, 0.8])  # then drift up or down, out of the band
            out.append(("door", start, np.clip(acts, -1, 1)))
    return out


def slide_sequences(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Diagonal pushes into the central wall (outside the door) and into the borders and corners."""
    out = []
    for start, direction in (
        ((80, 150), (1, 0.4)),
        ((80, 150), (1, -0.6)),
        ((150, 180), (-1, -0.5)),
        ((150, 100), (-1, 0.3)),
        ((60, 60), (-0.5, -1)),
        ((180, 180), (1, 1)),
        ((40, 190), (-0.3, 1)),
        ((190, 40), (1, -0.2)),
    ):
        acts = np.tile(np.array(direction, np.float32), (STEPS, 1)) + rng.normal(0, 0.1, (STEPS, 2))
        out.append(("slide", np.array(start, np.float32), np.clip(acts, -1, 1).astype(np.float32)))
    return out


def random_sequences(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for _ in range(10):
        x = rng.choice([rng.uniform(21, 100), rng.uniform(124, 203)])
        start = np.array([x, rng.uniform(21, 203)], np.float32)
        out.append(("random", start, rng.uniform(-1, 1, (STEPS, 2)).astype(np.float32)))
    return out


def scripted_actions(env, rng: np.random.Generator, start: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A noisy door-seeking walk on the reference's positions (closed loop, recorded open loop)."""
    env.reset(options={"state": start, "target_state": target})
    acts = []
    for _ in range(STEPS):
        pos = env.agent_position.numpy().astype(np.float64)
        if (pos[0] < 112) != (target[0] < 112):
            side = -1.0 if pos[0] < 112 else 1.0
            aligned = abs(pos[1] - 49) < 6 or abs(pos[0] - 112) < 14
            way = np.array([112 - side * 20 if aligned else 112 + side * 20, 49.0])
        else:
            way = target
        d = way - pos
        a = d / max(np.linalg.norm(d), 1e-9) * rng.uniform(0.4, 1.0) + rng.normal(0, 0.3, 2)
        acts.append(np.clip(a, -1, 1).astype(np.float32))
        env.step(acts[-1])
    return np.array(acts)


def main() -> None:
    import gymnasium as gym

    import_stable_worldmodel()
    rng = np.random.default_rng(2026)
    env = gym.make("swm/TwoRoom-v1").unwrapped
    seqs = door_sequences(rng) + slide_sequences(rng) + random_sequences(rng)
    for _ in range(8):
        start = np.array([rng.uniform(21, 100), rng.uniform(21, 203)], np.float32)
        target = np.array([rng.uniform(124, 203), rng.uniform(21, 203)], np.float32)
        if rng.random() < 0.5:
            start, target = target, start
        seqs.append(("scripted", start, scripted_actions(env, rng, start, target), target))
    kinds, starts, targets, actions, states, terms, frames, frame_seq, goal_frames = ([] for _ in range(9))
    for n, seq in enumerate(seqs):
        kind, start, acts = seq[:3]
        target = seq[3] if len(seq) > 3 else np.array([rng.uniform(21, 203), rng.uniform(21, 203)], np.float32)
        if kind == "door" and n % 4 == 0:
            # The target lies on the agent's path, so termination (distance < 16) happens mid-sequence.
            target = (start + 8 * 5.0 * np.array([1.0 if start[0] < 112 else -1.0, 0.0])).astype(np.float32)
        env.reset(options={"state": start, "target_state": target})
        keep = n % 6 == 0
        seq_states, seq_terms = [env.agent_position.numpy().copy()], []
        if keep:
            frame_seq.append(n)
            goal_frames.append(env._target_img.numpy().transpose(1, 2, 0))
            frames.append([env.render()])
        for t, a in enumerate(acts):
            _, _, terminated, _, _ = env.step(a)
            seq_states.append(env.agent_position.numpy().copy())
            seq_terms.append(terminated)
            if keep and t + 1 in FRAME_STEPS:
                frames[-1].append(env.render())
        kinds.append(kind)
        starts.append(start)
        targets.append(target)
        actions.append(acts)
        states.append(seq_states)
        terms.append(seq_terms)
    # One frame with the target drawn (render_target=True), for the optional marker.
    marked = gym.make("swm/TwoRoom-v1", render_target=True).unwrapped
    start, target = np.array([60.0, 150.0], np.float32), np.array([160.0, 80.0], np.float32)
    marked.reset(options={"state": start, "target_state": target})
    np.savez_compressed(
        OUT / "tworoom_swm.npz",
        kind=np.array(kinds),
        start=np.array(starts, np.float32),  # (N, 2) reset options["state"]
        target=np.array(targets, np.float32),  # (N, 2) reset options["target_state"] (our "goal_state")
        actions=np.array(actions, np.float32),  # (N, T, 2)
        states=np.array(states, np.float32),  # (N, T + 1, 2) agent xy after reset and after each step
        terminated=np.array(terms),  # (N, T)
        frame_seq=np.array(frame_seq),
        frame_steps=np.array(FRAME_STEPS),
        frames=np.array(frames, np.uint8),  # (M, len(FRAME_STEPS), 224, 224, 3)
        goal_frames=np.array(goal_frames, np.uint8),  # (M, 224, 224, 3)
        target_frame=marked.render(),  # (224, 224, 3) agent (60, 150), target (160, 80), render_target=True
        meta=meta(env="swm/TwoRoom-v1", commit=git_commit(), **versions("stable-worldmodel", "torch", "numpy")),
    )


if __name__ == "__main__":
    main()
