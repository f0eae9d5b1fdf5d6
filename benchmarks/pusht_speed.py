"""PushT speed and collection-policy statistics: steps/s with pixels (64 and 224 px) and state-only, and the pusher
policy's contact fraction and episode length.

Run: ``.venv/bin/python benchmarks/pusht_speed.py`` (single process, one core; ``--episodes 50`` by default).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import tyro

import lewm_envs  # noqa: F401  (registers lewm/PushT-v1)
from lewm_envs.pusht import PushTPusherPolicy


@dataclass(frozen=True)
class SpeedConfig:
    """PushT throughput and pusher-policy statistics."""

    steps: int = 3000
    """Env steps timed per setting (uniform random actions; the resets they need are timed too)."""
    episodes: int = 50
    """Pusher-policy episodes (300 steps each unless solved) for the contact statistics."""
    seed: int = 0
    """Seed of the resets and the actions."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.episodes < 1:
            raise ValueError(f"steps and episodes must be >= 1, got {self.steps} and {self.episodes}.")


def steps_per_second(cfg: SpeedConfig, **env_kwargs: object) -> float:
    """Random-action steps per second of ``gym.make("lewm/PushT-v1", **env_kwargs)``, resets included."""
    env = gym.make("lewm/PushT-v1", **env_kwargs)
    actions = np.random.default_rng(cfg.seed).uniform(-1, 1, size=(cfg.steps, 2)).astype(np.float32)  # (N, 2)
    env.reset(seed=cfg.seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return cfg.steps / (time.perf_counter() - start)


def pusher_statistics(cfg: SpeedConfig) -> dict[str, float]:
    """Contact fraction, mean episode length and steps/s (policy included) of the pusher at 64 px."""
    env = gym.make("lewm/PushT-v1", image_size=64)
    contacts = steps = successes = 0
    start = time.perf_counter()
    for episode in range(cfg.episodes):
        policy = PushTPusherPolicy(action_space=env.action_space, seed=cfg.seed + episode)
        obs, info = env.reset(seed=cfg.seed + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
            contacts += info["contact"]
            steps += 1
            done = terminated or truncated
        successes += bool(terminated)
    return {
        "contact": contacts / steps,
        "length": steps / cfg.episodes,
        "successes": successes,
        "steps_per_s": steps / (time.perf_counter() - start),
    }


def main(cfg: SpeedConfig) -> None:
    rows = [
        ("pixels 64 px", steps_per_second(cfg, image_size=64)),
        ("pixels 224 px", steps_per_second(cfg, image_size=224)),
        ("state only (obs_type='state')", steps_per_second(cfg, obs_type="state")),
    ]
    stats = pusher_statistics(cfg)
    print("| PushT setting | steps/s |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    print(f"| pusher policy + env, 64 px | {stats['steps_per_s']:,.0f} |")
    print(
        f"\npusher policy over {cfg.episodes} episodes: contact in {100 * stats['contact']:.1f}% of steps, mean "
        f"episode length {stats['length']:.1f} steps, {stats['successes']} reached their random goal"
    )


if __name__ == "__main__":
    main(tyro.cli(SpeedConfig))
