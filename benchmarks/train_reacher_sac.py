"""Train the SAC policy that ``ReacherSACPolicy`` (``lewm collect reacher --policy sac``) loads, then measure it.

Soft Actor-Critic (stable-baselines3) learns to reach goal configurations of the DMC reacher from states: the
observation is ``reacher_goal_features(state, goal_state)`` (cos/sin of the joint angles, velocities, wrapped angle
errors), the reward the negative mean joint error, and an episode ends when every joint is within 0.05 rad of its goal
(the ``qpos_match`` rule of ``lewm/Reacher-v1``). Training stops after ``--steps`` env steps or ``--minutes`` of wall
time, whichever comes first. The saved policy is then run deterministically (no noise, ``target="goal"``) from random
start/goal pairs, beside the uniform random policy, and a table is printed.

    python benchmarks/train_reacher_sac.py --out models/reacher_sac.zip --minutes 15
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import tyro
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from lewm_agents.evaluate import wilson_interval
from lewm_envs.reacher import DEFAULT_SAC_PATH, ReacherEnv, ReacherGoalFeatures, ReacherSACPolicy


@dataclass(frozen=True)
class TrainReacherSACConfig:
    """Train SB3 SAC on Reacher goal reaching from states and report its success rate."""

    out: Path = DEFAULT_SAC_PATH
    """Where the SB3 model (.zip) is written."""
    steps: int = 300_000
    """Upper bound on training env steps."""
    minutes: float = 15.0
    """Wall-clock cap on training, in minutes."""
    episode_steps: int = 100
    """Training episodes are cut after this many env steps."""
    learning_starts: int = 2_000
    """Uniform random steps collected before the first gradient step."""
    batch_size: int = 256
    """SAC minibatch size."""
    gamma: float = 0.98
    """Discount factor."""
    net_width: int = 256
    """Width of the two hidden layers of the actor and critics."""
    eval_episodes: int = 100
    """Random start/goal pairs the trained policy is evaluated on."""
    eval_budget: int = 200
    """Env steps allowed per evaluation episode (the registered Reacher episode length)."""
    seed: int = 0
    """Seed of training and evaluation."""
    threads: int = 1
    """Torch CPU threads (more than one slows small-MLP SAC down badly on a busy machine)."""
    device: str = "cpu"
    """Torch device for SAC."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.episode_steps < 1 or self.eval_episodes < 1 or self.eval_budget < 1:
            raise ValueError("steps, episode_steps, eval_episodes and eval_budget must be >= 1.")
        if not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}.")


class _WallClock(BaseCallback):
    """Stops training after ``seconds`` and prints progress every ``every`` steps."""

    def __init__(self, seconds: float, every: int = 5_000) -> None:
        super().__init__()
        self.seconds, self.every = seconds, every
        self.start = time.perf_counter()
        self.successes: list[bool] = []

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done:
                self.successes.append(bool(info.get("is_success", False)))
        if self.num_timesteps % self.every == 0:
            recent = self.successes[-100:]
            rate = f"{np.mean(recent):.0%}" if recent else "-"
            elapsed = time.perf_counter() - self.start
            print(
                f"step {self.num_timesteps:>7}  {elapsed / 60:5.1f} min  {self.num_timesteps / elapsed:6.1f} steps/s  "
                f"success (last {len(recent)} training episodes) {rate}",
                flush=True,
            )
        return time.perf_counter() - self.start < self.seconds


def make_training_env(episode_steps: int) -> gym.Env:
    """The state-only goal-reaching env SAC trains on (no rendering)."""
    env = ReacherEnv(obs_type="state", render_mode=None)
    return gym.wrappers.TimeLimit(ReacherGoalFeatures(env), max_episode_steps=episode_steps)


def count_successes(policy: object, episodes: int, budget: int, seed: int) -> int:
    """Random start/goal episodes in which ``policy(obs, info)`` reaches the goal within ``budget`` steps."""
    env = gym.wrappers.TimeLimit(ReacherEnv(obs_type="state", render_mode=None), max_episode_steps=budget)
    successes = 0
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        terminated = truncated = False
        while not (terminated or truncated):
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
        successes += bool(terminated and info["is_success"])
    env.close()
    return successes


def main(cfg: TrainReacherSACConfig) -> None:
    torch.set_num_threads(cfg.threads)
    env = make_training_env(cfg.episode_steps)
    model = SAC(
        "MlpPolicy",
        env,
        learning_starts=cfg.learning_starts,
        batch_size=cfg.batch_size,
        gamma=cfg.gamma,
        policy_kwargs={"net_arch": [cfg.net_width, cfg.net_width]},
        seed=cfg.seed,
        device=cfg.device,
        verbose=0,
    )
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3's default logger makes a folder in /tmp
    clock = _WallClock(cfg.minutes * 60.0)
    model.learn(total_timesteps=cfg.steps, callback=clock)
    train_s = time.perf_counter() - clock.start
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(cfg.out)
    env.close()

    trained = ReacherSACPolicy(model_path=cfg.out, noise=0.0, target="goal", seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    rows = [
        ("SAC (deterministic)", count_successes(trained, cfg.eval_episodes, cfg.eval_budget, 10_000 + cfg.seed)),
        (
            "uniform random",
            count_successes(
                lambda obs, info: rng.uniform(-1, 1, 2).astype(np.float32),
                cfg.eval_episodes,
                cfg.eval_budget,
                10_000 + cfg.seed,
            ),
        ),
    ]
    steps = model.num_timesteps
    print(
        f"\nReacher SAC: {steps} env steps in {train_s / 60:.1f} min ({steps / train_s:.0f} steps/s); saved {cfg.out}"
    )
    print(f"qpos_match success on {cfg.eval_episodes} random start/goal pairs, budget {cfg.eval_budget} steps:\n")
    print("| policy | success | 95% CI |")
    print("|---|---|---|")
    for name, k in rows:
        lo, hi = wilson_interval(k, cfg.eval_episodes)
        print(f"| {name} | {k / cfg.eval_episodes:.0%} ({k}/{cfg.eval_episodes}) | [{lo:.0%}, {hi:.0%}] |")


if __name__ == "__main__":
    main(tyro.cli(TrainReacherSACConfig))
