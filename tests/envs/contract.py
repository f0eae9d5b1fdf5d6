"""Checks every goal-conditioned env of the suite must pass, shared by the per-env test files."""

from collections.abc import Callable

import gymnasium as gym
import numpy as np


def assert_seeding_is_deterministic(make_env: Callable[[], gym.Env], steps: int) -> None:
    """Two fresh envs reset with one seed and stepped with one action sequence give the same frames, states and goal;
    another seed gives another start."""
    runs = []
    for _ in range(2):
        env = make_env()
        obs, info = env.reset(seed=7)
        frames, states = [obs], [info["state"]]
        rng = np.random.default_rng(0)
        for _ in range(steps):
            obs, _, _, _, info = env.step(rng.uniform(-1, 1, size=env.action_space.shape).astype(np.float32))
            frames.append(obs)
            states.append(info["state"])
        runs.append((np.stack(frames), np.stack(states), info["goal_state"]))
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)
    _, other = make_env().reset(seed=8)
    assert not np.array_equal(other["state"], runs[0][1][0])
