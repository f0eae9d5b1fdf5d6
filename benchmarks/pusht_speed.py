"""PushT speed and collection-policy statistics: steps/s with pixels (64 and 224 px, the reference's rendering and
v0's), state-only, and the pusher policy's contact fraction, block travel and episode length.

Run: ``.venv/bin/python benchmarks/pusht_speed.py`` (single process, one core; ``--episodes 50`` by default).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import tyro

import lewm_envs
from lewm_envs.pusht import PushTPusherPolicy

ENV_ID = lewm_envs.ENV_ALIASES["pusht"]


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


def pusher_statistics(cfg: SpeedConfig) -> dict[str, float]:
    """Contact fraction, block travel, mean episode length and steps/s (policy included, state observations: the
    policy reads only ``info``, so rendering is left out)."""
    env = gym.make(ENV_ID, image_size=64, obs_type="state")
    contacts = steps = successes = 0
    travel = 0.0
    start = time.perf_counter()
    for episode in range(cfg.episodes):
        policy = PushTPusherPolicy(action_space=env.action_space, seed=cfg.seed + episode)
        obs, info = env.reset(seed=cfg.seed + episode)
        done = False
        while not done:
            before = info["state"][2:4]
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
            travel += float(np.linalg.norm(info["state"][2:4] - before))
            contacts += info["contact"]
            steps += 1
            done = terminated or truncated
        successes += bool(terminated)
    return {
        "contact": contacts / steps,
        "travel": travel / cfg.episodes,
        "length": steps / cfg.episodes,
        "successes": successes,
        "steps_per_s": steps / (time.perf_counter() - start),
    }


def main(cfg: SpeedConfig) -> None:
    rows = [
        ("pixels 64 px", steps_per_second(cfg, image_size=64)),
        ("pixels 224 px", steps_per_second(cfg, image_size=224)),
        ("pixels 64 px, render_style='v0'", steps_per_second(cfg, image_size=64, render_style="v0")),
        ("state only (obs_type='state')", steps_per_second(cfg, obs_type="state")),
    ]
    stats = pusher_statistics(cfg)
    print("| PushT setting | steps/s |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} |")
    print(f"| pusher policy + env, state only | {stats['steps_per_s']:,.0f} |")
    print(
        f"\npusher policy over {cfg.episodes} episodes: contact in {100 * stats['contact']:.1f}% of steps, the block "
        f"travels {stats['travel']:.0f} units per episode, mean episode length {stats['length']:.1f} steps, "
        f"{stats['successes']} reached their random goal"
    )


if __name__ == "__main__":
    main(tyro.cli(SpeedConfig))
