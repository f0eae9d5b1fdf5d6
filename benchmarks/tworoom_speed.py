"""TwoRoom speed and collection-policy statistics: steps/s with pixels (64 and 224 px), and the heuristic policy's
success rate, door-crossing rate and episode length.

Run: ``.venv/bin/python benchmarks/tworoom_speed.py`` (single process, one core; ``--episodes 200`` by default).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import tyro

import lewm_envs
from lewm_envs.two_room import TwoRoomHeuristicPolicy

ENV_ID = lewm_envs.ENV_ALIASES["tworoom"]


@dataclass(frozen=True)
class SpeedConfig:
    """TwoRoom throughput and heuristic-policy statistics."""

    steps: int = 5000
    """Env steps timed per setting (uniform random actions; the resets they need are timed too)."""
    episodes: int = 200
    """Heuristic-policy episodes (100 steps each unless solved) for the statistics."""
    seed: int = 0
    """Seed of the resets and the actions."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.episodes < 1:
            raise ValueError(f"steps and episodes must be >= 1, got {self.steps} and {self.episodes}.")


def steps_per_second(cfg: SpeedConfig, **env_kwargs: object) -> float:
    """Random-action steps per second of ``gym.make(ENV_ID, **env_kwargs)``, resets included."""
    env = gym.make(ENV_ID, **env_kwargs)
    actions = np.random.default_rng(cfg.seed).uniform(-1, 1, size=(cfg.steps, 2)).astype(np.float32)  # (N, 2)
    env.reset(seed=cfg.seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return cfg.steps / (time.perf_counter() - start)


def heuristic_statistics(cfg: SpeedConfig) -> dict[str, float]:
    """Success rate, door-crossing rate (episodes whose target is in the other room that reach it) and length."""
    env = gym.make(ENV_ID, image_size=64)
    successes = other_room = crossed = steps = 0
    for episode in range(cfg.episodes):
        policy = TwoRoomHeuristicPolicy(action_space=env.action_space, seed=cfg.seed + episode)
        obs, info = env.reset(seed=cfg.seed + episode)
        wall = 112.0
        far = (info["state"][0] < wall) != (info["goal_state"][0] < wall)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
            steps += 1
            done = terminated or truncated
        successes += bool(terminated)
        other_room += far
        crossed += far and (info["state"][0] < wall) == (info["goal_state"][0] < wall)
    return {
        "success": successes / cfg.episodes,
        "crossing": crossed / max(other_room, 1),
        "other_room": other_room / cfg.episodes,
        "length": steps / cfg.episodes,
    }


def main(cfg: SpeedConfig) -> None:
    rows = [
        ("pixels 64 px", steps_per_second(cfg, image_size=64)),
        ("pixels 224 px", steps_per_second(cfg, image_size=224)),
    ]
    stats = heuristic_statistics(cfg)
    print(f"| {ENV_ID} setting | steps/s |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    print(
        f"\nHeuristic policy over {cfg.episodes} episodes: success {stats['success']:.0%}, targets in the other room "
        f"{stats['other_room']:.0%} of episodes, of which {stats['crossing']:.0%} crossed the door; mean length "
        f"{stats['length']:.1f} steps."
    )


if __name__ == "__main__":
    main(tyro.cli(SpeedConfig))
