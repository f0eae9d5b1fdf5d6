"""Records reference PushT trajectories and frames into ``tests/envs/fidelity/pusht_*.npz``.

Two references, each in its own virtual environment outside the repo (they cannot share one: gym-pusht pins
``pymunk<7``, stable-worldmodel uses pymunk 7):

* ``swm``: stable-worldmodel's ``swm/PushT-v1``, the paper's env (pymunk 7). Writes ``pusht_swm.npz``::

      python3 -m venv /work/ref/swm-2d
      /work/ref/swm-2d/bin/pip install torch==2.13.0 stable-worldmodel pygame pymunk shapely \
          opencv-python-headless imageio
      /work/ref/swm-2d/bin/python benchmarks/fidelity/record_pusht.py swm

* ``gym-pusht``: Hugging Face's ``gym_pusht/PushT-v0`` (the Diffusion Policy protocol: fixed target, coverage rule,
  its start distribution). Writes ``pusht_gympusht.npz``::

      python3 -m venv /work/ref/gympusht && /work/ref/gympusht/bin/pip install gym-pusht
      /work/ref/gympusht/bin/python benchmarks/fidelity/record_pusht.py gym-pusht

Every sequence is stored as the reset options and the open-loop actions the reference was given, and the states it
reported after the reset and after every step, so the tests replay the actions in ``lewm_envs.pusht`` and compare step
by step without the reference installed. Closed-loop (scripted) sequences are recorded as the actions the script
chose on the reference's states. Run from the repository root.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reference import git_commit, import_stable_worldmodel, meta, versions

OUT = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity"
STEPS = 100
FRAME_STEPS = (0, 10, 50, 100)
"""Steps whose 224-px frames are stored for the frame sequences (0 is the frame after reset)."""


# ------------------------------------------------------------------------------------------------ start states


def swm_like_state(rng: np.random.Generator) -> np.ndarray:
    """A 7-vector from swm's reset distribution: agent U[50, 450]^2, block U[100, 400]^2, angle U[-2pi, 2pi]."""
    return np.array([*rng.uniform(50, 450, 2), *rng.uniform(100, 400, 2), rng.uniform(-2 * np.pi, 2 * np.pi), 0, 0])


def near_block_state(rng: np.random.Generator) -> np.ndarray:
    """Agent 40-90 units from the block's centre (so pushes start quickly), block anywhere swm would put it."""
    block = np.array([*rng.uniform(100, 400, 2), rng.uniform(0, 2 * np.pi)])
    centre = block[:2] + 60 * np.array([-math.sin(block[2]), math.cos(block[2])])
    phi, dist = rng.uniform(0, 2 * np.pi), rng.uniform(95, 130)
    return np.array([*(centre + dist * np.array([math.cos(phi), math.sin(phi)])), *block, 0, 0])


def wall_state(rng: np.random.Generator, k: int) -> np.ndarray:
    """Block next to a wall or in a corner, agent behind it: pushes drive the block into the wall."""
    spots = [(256, 440, 0.0), (70, 256, math.pi / 2), (440, 90, math.pi), (90, 90, 3 * math.pi / 4)]
    bx, by, th = spots[k % len(spots)]
    th += rng.uniform(-0.2, 0.2)
    centre = np.array([bx, by]) + 60 * np.array([-math.sin(th), math.cos(th)])
    wall = np.array([bx, by]) - np.array([256, 256])
    away = -wall / np.linalg.norm(wall)
    return np.array([*(centre + 110 * away), bx, by, th, 0, 0])


# ------------------------------------------------------------------------------------------------ action scripts


def t_point(pose: np.ndarray, local: np.ndarray) -> np.ndarray:
    c, s = math.cos(pose[2]), math.sin(pose[2])
    return np.array([pose[0] + c * local[0] - s * local[1], pose[1] + s * local[0] + c * local[1]])


class Pusher:
    """Closed-loop scripted pusher on the reference state: approach a random point of the T from outside, push
    through it for a while, pick another; Gaussian action noise. Relative actions in [-1, 1]."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.left = 0

    def __call__(self, state: np.ndarray) -> np.ndarray:
        rng, agent, pose = self.rng, state[:2], state[2:5]
        if self.left <= 0:
            bar = rng.random() < 0.5
            self.local = np.array([rng.uniform(-60, 60), rng.uniform(0, 30)] if bar else [rng.uniform(-15, 15), 75])
            # Toward a random point of the arena's centre, so the block mostly stays inside the walls.
            aim = rng.uniform(150, 362, 2) - t_point(pose, np.array([0.0, 60.0]))
            self.heading = math.atan2(aim[1], aim[0]) + rng.normal(0, 0.5)
            self.left, self.phase = int(rng.integers(10, 25)), 0
        self.left -= 1
        target = t_point(pose, self.local)
        direction = np.array([math.cos(self.heading), math.sin(self.heading)])
        approach = target - 100 * direction
        if self.phase == 0 and np.linalg.norm(approach - agent) > 15:
            move = approach - agent
        else:
            self.phase = 1
            move = target + 30 * direction - agent
        action = move / max(100.0, np.linalg.norm(move)) * rng.uniform(0.4, 1.0)
        return np.clip(action + rng.normal(0, 0.1, 2), -1, 1).astype(np.float32)


def random_walk(rng: np.random.Generator, n: int) -> np.ndarray:
    """Smooth random actions (an AR(1) process), which wander further than i.i.d. ones, sometimes out of the arena."""
    out, a = np.zeros((n, 2), np.float32), rng.uniform(-1, 1, 2)
    for k in range(n):
        a = np.clip(0.9 * a + rng.normal(0, 0.3, 2), -1, 1)
        out[k] = a
    return out


def clearance(agent: np.ndarray, pose: np.ndarray) -> float:
    """Distance from the agent disc (radius 15) to the T; negative when they overlap."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    dx, dy = agent[0] - pose[0], agent[1] - pose[1]
    u, v = c * dx + s * dy, -s * dx + c * dy
    dist = []
    for x0, x1, y0, y1 in ((-60, 60, 0, 30), (-15, 15, 30, 120)):
        qx, qy = abs(u - (x0 + x1) / 2) - (x1 - x0) / 2, abs(v - (y0 + y1) / 2) - (y1 - y0) / 2
        dist.append(math.hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0))
    return min(dist) - 15.0


def success_actions(env, rng: np.random.Generator, start: np.ndarray, goal: np.ndarray) -> tuple:
    """Pusher actions from ``start`` and a state they reach after step 40 with the agent clear of the block:
    (actions (T, 2), state (7,)). Clear, because the reference's reset steps the physics at the goal state first, on
    the same space: a goal with the agent inside the block pushes the block, and that velocity carries into the start.
    """
    obs, _ = env.reset(options={"state": start, "goal_state": goal})
    pusher, acts, mid = Pusher(rng), [], None
    for t in range(STEPS):
        acts.append(pusher(obs["state"]))
        obs = env.step(acts[-1])[0]
        if mid is None and t + 1 >= 40 and clearance(obs["state"][:2], obs["state"][2:5]) > 2.0:
            mid = obs["state"].copy()
    return np.array(acts), mid if mid is not None else obs["state"].copy()


# ------------------------------------------------------------------------------------------------ recorders


def record_swm() -> None:
    import gymnasium as gym

    import_stable_worldmodel()
    rng = np.random.default_rng(2026)
    envs = {rel: gym.make("swm/PushT-v1", relative=rel).unwrapped for rel in (True, False)}
    kinds, starts, goals, actions, states, rewards, terms = [], [], [], [], [], [], []
    frames, frame_seq, goal_frames = [], [], []
    plan = [("random", 10), ("walk", 8), ("push", 18), ("wall", 4), ("absolute", 4), ("success", 4)]
    frame_kinds = {"random": 1, "walk": 1, "push": 4, "wall": 1, "absolute": 1, "success": 0}
    for kind, count in plan:
        for k in range(count):
            env = envs[kind != "absolute"]
            if kind in ("push", "absolute", "success"):
                start = near_block_state(rng)
            elif kind == "wall":
                start = wall_state(rng, k)
            else:
                start = swm_like_state(rng)
            goal = swm_like_state(rng) if k % 3 else near_block_state(rng)
            start[5:] = rng.normal(0, 20, 2) if k % 4 == 1 else 0.0  # some starts carry an agent velocity
            if kind == "success":
                # A first pass finds where a push sequence is at step 50; the goal is that state plus noise, so the
                # pose rule (and the reward) changes during the recorded second pass.
                replay = success_actions(env, rng, start, goal)
                goal = replay[1] + np.concatenate([rng.normal(0, 5, 4), rng.normal(0, 0.1, 1), [0, 0]])
                goal[4] %= 2 * np.pi
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)), options={"state": start, "goal_state": goal})
            seq_states, seq_actions, seq_rewards, seq_terms = [obs["state"]], [], [], []
            keep_frames = k < frame_kinds[kind]
            if keep_frames:
                frame_seq.append(len(kinds))
                goal_frames.append(np.asarray(env._goal))
                frames.append([env.render()])
            pusher, walk = Pusher(rng), random_walk(rng, STEPS)
            for t in range(STEPS):
                s = seq_states[-1]
                if kind == "success":
                    a = replay[0][t]
                elif kind == "random":
                    a = rng.uniform(-1, 1, 2).astype(np.float32)
                elif kind == "walk":
                    a = walk[t]
                elif kind == "absolute":
                    a = (s[:2] + 100 * pusher(s)).astype(np.float32)  # the same pushes as absolute targets
                else:
                    a = pusher(s)
                obs, reward, terminated, _, _ = env.step(a)
                seq_actions.append(a)
                seq_states.append(obs["state"])
                seq_rewards.append(reward)
                seq_terms.append(terminated)
                if keep_frames and t + 1 in FRAME_STEPS:
                    frames[-1].append(env.render())
            kinds.append(kind)
            starts.append(start)
            goals.append(goal)
            actions.append(seq_actions)
            states.append(seq_states)
            rewards.append(seq_rewards)
            terms.append(seq_terms)
    np.savez_compressed(
        OUT / "pusht_swm.npz",
        kind=np.array(kinds),
        start=np.array(starts),  # (N, 7) reset options["state"]
        goal=np.array(goals),  # (N, 7) reset options["goal_state"]
        actions=np.array(actions, dtype=np.float32),  # (N, T, 2)
        states=np.array(states),  # (N, T + 1, 7) float64, as reported (obs["state"])
        reward=np.array(rewards),  # (N, T)
        terminated=np.array(terms),  # (N, T)
        frame_seq=np.array(frame_seq),  # (M,) sequences whose frames are stored
        frame_steps=np.array(FRAME_STEPS),
        frames=np.array(frames, dtype=np.uint8),  # (M, len(FRAME_STEPS), 224, 224, 3)
        goal_frames=np.array(goal_frames, dtype=np.uint8),  # (M, 224, 224, 3)
        meta=meta(
            env="swm/PushT-v1",
            resolution=224,
            commit=git_commit(),
            **versions("stable-worldmodel", "pymunk", "pygame", "opencv-python-headless", "numpy", "gymnasium"),
        ),
    )


def record_gym_pusht() -> None:
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)
    import gymnasium as gym

    rng = np.random.default_rng(7)
    env = gym.make("gym_pusht/PushT-v0", obs_type="state").unwrapped
    seeds, starts, actions, states, coverage, success, rewards = [], [], [], [], [], [], []
    for k in range(12):
        seed = int(rng.integers(1 << 30))
        obs, _ = env.reset(seed=seed)
        seeds.append(seed)
        starts.append(obs)
        seq_states = [np.array([*env.agent.position, *env.block.position, env.block.angle % (2 * np.pi)])]
        seq_actions, seq_cov, seq_succ, seq_rew = [], [], [], []
        pusher = Pusher(rng)
        for _ in range(STEPS):
            s = seq_states[-1]
            if k < 4:  # i.i.d. absolute targets, gym-pusht's action space
                a = rng.uniform(0, 512, 2)
            else:
                a = s[:2] + 100 * pusher(s)
            obs, reward, terminated, _, info = env.step(a)
            seq_actions.append(a)
            seq_states.append(obs)
            seq_cov.append(info["coverage"])
            seq_succ.append(terminated)
            seq_rew.append(reward)
        actions.append(seq_actions)
        states.append(seq_states)
        coverage.append(seq_cov)
        success.append(seq_succ)
        rewards.append(seq_rew)
    # Near-goal sequences: the block starts by the fixed target and is pushed across the 95% coverage line.
    near_starts, near_actions, near_states, near_cov, near_succ = [], [], [], [], []
    for k in range(6):
        pose = np.array([256 + rng.normal(0, 1), 256 + rng.normal(0, 1), np.pi / 4 + rng.normal(0, 0.01)])
        start = np.array([*t_point(pose, np.array([rng.uniform(-40, 40), -40.0])), *pose])
        env.reset(seed=k)
        # Set the block pose directly (reset_to_state would move it: it sets position before angle).
        env.agent.position = tuple(start[:2])
        env.block.angle = float(start[4])
        env.block.position = tuple(start[2:4])
        env.space.step(env.dt)
        s0 = np.array([*env.agent.position, *env.block.position, env.block.angle % (2 * np.pi)])
        seq_states, seq_actions, seq_cov, seq_succ = [s0], [], [], []
        for _ in range(30):
            aim = t_point(seq_states[-1][2:5], np.array([0.0, 60.0]))
            a = seq_states[-1][:2] + (aim - seq_states[-1][:2]) * 0.3 + rng.normal(0, 3, 2)  # slowly into the block
            obs, _, terminated, _, info = env.step(a)
            seq_actions.append(a)
            seq_states.append(obs)
            seq_cov.append(info["coverage"])
            seq_succ.append(terminated)
        near_starts.append(s0)
        near_actions.append(seq_actions)
        near_states.append(seq_states)
        near_cov.append(seq_cov)
        near_succ.append(seq_succ)
    np.savez_compressed(
        OUT / "pusht_gympusht.npz",
        seed=np.array(seeds),  # (N,) reset seeds (gym-pusht samples the start from env.np_random)
        start=np.array(starts),  # (N, 5) state after reset: agent xy, block xy, block angle in [0, 2pi)
        actions=np.array(actions),  # (N, T, 2) absolute targets
        states=np.array(states),  # (N, T + 1, 5)
        coverage=np.array(coverage),  # (N, T)
        success=np.array(success),  # (N, T)
        reward=np.array(rewards),  # (N, T)
        near_start=np.array(near_starts),  # (K, 5) state after the block was placed (and one physics step)
        near_actions=np.array(near_actions),  # (K, 30, 2)
        near_states=np.array(near_states),  # (K, 31, 5)
        near_coverage=np.array(near_cov),  # (K, 30)
        near_success=np.array(near_succ),  # (K, 30)
        meta=meta(
            env="gym_pusht/PushT-v0",
            obs_type="state",
            commit=git_commit(),
            **versions("gym-pusht", "pymunk", "shapely", "numpy", "gymnasium"),
        ),
    )


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "swm":
        record_swm()
    elif which == "gym-pusht":
        record_gym_pusht()
    else:
        sys.exit("usage: record_pusht.py swm|gym-pusht (run in the matching reference venv; see the docstring)")
