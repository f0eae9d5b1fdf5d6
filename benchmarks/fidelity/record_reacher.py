"""Records tests/envs/fidelity/reacher_reference.npz from the paper's Reacher, stable-worldmodel's
``swm/ReacherDMControl-v0`` with ``task="qpos_match"``.

Stored: seeded starts (``reset(seed=s)``: joint state and DMC's target position); episodes that replay a fixed
action sequence after ``set_state`` and ``set_target_qpos`` (every state, reward, termination flag and physics time,
plus DMC's observation vector); the success rule on hand-made cases (wound shoulder, the +-pi seam, each joint at
+-0.049 / +-0.051 rad); and frames rendered by the reference at 64 and 224 px. lewm's tests compare
``lewm/Reacher-v1`` with them step by step.

stable-worldmodel imports torchvision (whose PyPI wheel is a CUDA build that fails on CPU torch), cv2, pygame and
pymunk at import time; none of them is used by the Reacher env, so this script puts empty stand-ins in their place
(reference/envs.md §4). Run it in its own virtual environment:

    python3 -m venv /work/ref/swm-mj && /work/ref/swm-mj/bin/pip install torch==2.13.0 stable-worldmodel \
        "mujoco>=3.17,<4" dm-control==1.0.50 ogbench
    MUJOCO_GL=egl /work/ref/swm-mj/bin/python benchmarks/fidelity/record_reacher.py

Dimension letters: E episodes, T steps (+1 with the start).
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import math
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity" / "reacher_reference.npz"
STEPS = 100


class _Missing(types.ModuleType):
    """An empty stand-in module: any attribute is another stand-in (a class when capitalised)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name[:1].isupper():
            return type(name, (), {"__init__": lambda self, *a, **k: None})
        return _Missing(f"{self.__name__}.{name}")


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: set[str]) -> None:
        self.roots = roots

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Missing(spec.name)

    def exec_module(self, module) -> None:
        module.__path__ = []


def import_stable_worldmodel():
    """``import stable_worldmodel`` with stand-ins for its unused, uninstallable imports."""
    sys.meta_path.insert(0, _StandIns({"torchvision", "cv2", "pygame", "pymunk", "shapely"}))
    import stable_worldmodel

    return stable_worldmodel


def _pd(state: np.ndarray, goal: np.ndarray, wrap: bool) -> np.ndarray:
    """Joint-space PD torques towards ``goal``; ``wrap`` takes the shoulder's shortest way round."""
    error = goal - state[:2]
    if wrap:
        error[0] = (error[0] + math.pi) % (2 * math.pi) - math.pi
    return np.clip(2.0 * error - 0.1 * state[2:], -1, 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import gymnasium as gym

    swm = import_stable_worldmodel()
    env = gym.make("swm/ReacherDMControl-v0", task="qpos_match").unwrapped
    env.reset(seed=0)  # the first reset recompiles the model (its variation space differs from the XML)
    physics = env.env.physics

    def state() -> np.ndarray:
        return np.concatenate([physics.data.qpos, physics.data.qvel])

    out: dict[str, list] = {k: [] for k in ("seed", "seed_state", "seed_target")}
    for seed in range(8):
        env.reset(seed=seed)
        assert env.env.physics is physics, "the reference rebuilt its model; fetch physics after each reset"
        out["seed"].append(seed)
        out["seed_state"].append(state())
        out["seed_target"].append(physics.named.data.geom_xpos["target", :2].copy())

    # (start seed, start override or None, goal qpos, controller): controller is "random", "pd" (raw error) or
    # "pd_wrapped" (the shoulder's shortest way, which never unwinds a wound shoulder).
    rng = np.random.default_rng(0)
    episodes = [
        (0, None, np.array([2.0, -1.0]), "random"),
        (1, None, np.array([-2.5, 1.5]), "pd"),
        (2, np.array([2 * math.pi + 0.3, 0.5, 0.0, 0.0]), np.array([0.3, -0.5]), "pd_wrapped"),  # wound shoulder
        (3, np.array([0.4, -0.2, 0.0, 0.0]), np.array([0.4 - 2 * math.pi, 0.8]), "pd"),  # unwinds a full turn
        (4, np.array([1.0, 0.5, 3.0, 0.0]), np.array([1.06, 0.5]), "zero"),  # within 0.05 after 1 of 2 sub-steps
        (5, np.array([math.pi - 0.02, 0.0, 0.0, 0.0]), np.array([-math.pi + 0.02, 0.0]), "zero"),  # across the seam
    ]
    keys = ("episode_seed", "start", "goal", "actions", "states", "rewards", "terminated", "time", "observations")
    keys += ("target", "steps")
    for key in keys:
        out[key] = []
    for seed, start, goal, controller in episodes:
        env.reset(seed=seed)
        assert env.env.physics is physics
        if start is not None:
            env.set_state(start[:2], start[2:])
        env.set_target_qpos(goal)
        s0 = state()
        actions, states, rewards, terminated, times, observations = [], [s0], [], [], [physics.data.time], []
        observations.append(env._obs_to_array(env.env.task.get_observation(physics)))
        for _ in range(STEPS):
            if controller == "random":
                action = rng.uniform(-1, 1, 2).astype(np.float32)
            elif controller == "zero":
                action = np.zeros(2, np.float32)
            else:
                action = _pd(states[-1], goal, wrap=controller == "pd_wrapped")
            obs, reward, term, _, _ = env.step(action)
            actions.append(action)
            states.append(state())
            rewards.append(reward)
            terminated.append(term)
            times.append(physics.data.time)
            observations.append(obs)
            if term:
                break
        n = len(actions)
        pad = STEPS - n  # episodes that terminate early are padded by repeating their last row
        out["episode_seed"].append(seed)
        out["start"].append(s0)
        out["goal"].append(goal)
        out["actions"].append(np.concatenate([actions, np.repeat(actions[-1:], pad, 0)]))
        out["states"].append(np.concatenate([states, np.repeat(states[-1:], pad, 0)]))
        out["rewards"].append(np.concatenate([rewards, np.zeros(pad)]))
        out["terminated"].append(np.concatenate([terminated, np.zeros(pad, bool)]))
        out["time"].append(np.concatenate([times, np.repeat(times[-1:], pad)]))
        out["observations"].append(np.concatenate([observations, np.repeat(observations[-1:], pad, 0)]))
        out["target"].append(physics.named.data.geom_xpos["target", :2].copy())
        out["steps"].append(n)

    # The success rule on its own: (qpos, target_qpos) pairs through the task's get_termination.
    cases = [
        ([1.0, -0.5], [1.049, -0.5]),
        ([1.0, -0.5], [0.951, -0.5]),
        ([1.0, -0.5], [1.051, -0.5]),
        ([1.0, -0.5], [0.949, -0.5]),
        ([1.0, -0.5], [1.0, -0.451]),
        ([1.0, -0.5], [1.0, -0.549]),
        ([1.0, -0.5], [1.0, -0.449]),
        ([1.0, -0.5], [1.0, -0.551]),
        ([0.0, 0.0], [0.04, 0.06]),
        ([2 * math.pi + 0.01, 0.0], [0.01, 0.0]),  # wound shoulder: the same angle, a full turn apart
        ([0.01, 0.0], [2 * math.pi, 0.0]),
        ([-2 * math.pi + 0.3, 0.2], [0.3, 0.2]),
        ([math.pi - 0.02, 0.0], [-math.pi + 0.02, 0.0]),  # 0.04 rad apart across the +-pi seam
        ([4 * math.pi, 1.0], [4 * math.pi + 0.03, 1.02]),  # wound twice, matching
    ]
    rule_qpos, rule_goal, rule_result = [], [], []
    for qpos, target in cases:
        env.set_state(np.array(qpos), np.zeros(2))
        env.set_target_qpos(np.array(target))
        rule_qpos.append(qpos)
        rule_goal.append(target)
        rule_result.append(env.env.task.get_termination(physics) is not None)
    out.update(rule_qpos=rule_qpos, rule_goal=rule_goal, rule_success=rule_result)

    # Frames at the reference's default look (target hidden), of the seeded starts of seeds 0-2 and of two
    # mid-episode states; 224 px once (the paper's size).
    frame_states = [*out["seed_state"][:3], *[episode[40] for episode in out["states"][:2]]]
    frames = []
    for s in frame_states:
        env.set_state(s[:2], s[2:])
        frames.append(env.render(64, 64))
    out["frame_states"] = frame_states
    out["frames_64"] = frames
    env.set_state(frame_states[0][:2], frame_states[0][2:])
    out["frame_224"] = env.render(224, 224)

    arrays = {key: np.asarray(value) for key, value in out.items()}
    arrays["swm_version"] = np.array(getattr(swm, "__version__", "unknown"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
    print("steps per episode:", arrays["steps"].tolist(), "terminated:", arrays["terminated"].any(1).tolist())
    print("rule cases:", arrays["rule_success"].tolist())


if __name__ == "__main__":
    main()
