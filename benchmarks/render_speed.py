"""MuJoCo env speed at the reference look and with ``fast_render``: env steps/s with pixel observations.

    python benchmarks/render_speed.py                       # Reacher, Cube, DMC cheetah-run at 64 and 224 px
    python benchmarks/render_speed.py --envs reacher --sizes 64

Each row builds the env, resets it once and times ``steps`` env steps under uniform random actions (physics, the
frame and the goal bookkeeping; the goal image is rendered once per reset, not per step). The reference look is
MuJoCo's default: multisampling, shadows, reflections, skybox. In software rendering (Mesa llvmpipe) that costs most
of the step; ``fast_render=True`` turns those off. Numbers depend on the load of the machine: compare rows of one run.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # scripts choose the headless backend; library code never does
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import platform
import subprocess
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import tyro

import lewm_envs  # noqa: F401  (registers the lewm/* envs)

_MAKE = {
    "reacher": ("lewm/Reacher-v1", {}),
    "cube": ("lewm/Cube-v1", {}),
    "dmc": ("lewm/DMC-v1", {"domain": "cheetah", "task": "run"}),
}


@dataclass(frozen=True)
class RenderSpeedConfig:
    """Env steps/s with pixel observations, at the reference look and with fast_render, per env and image size."""

    envs: tuple[str, ...] = ("reacher", "cube", "dmc")
    """Envs to measure: reacher, cube, dmc (cheetah-run)."""
    sizes: tuple[int, ...] = (64, 224)
    """Image sides."""
    steps: int = 30
    """Timed steps per row (Cube at the reference look takes about a second each on 2 cores)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.envs) - set(_MAKE))
        if unknown:
            raise ValueError(f"Unknown envs {unknown}; choose from {sorted(_MAKE)}.")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}.")


def steps_per_second(env_id: str, kwargs: dict, size: int, fast: bool, steps: int) -> float:
    """Steps/s of ``steps`` random steps after one reset (episodes that end are reset outside the timing)."""
    env = gym.make(env_id, image_size=size, fast_render=fast, **kwargs)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(env.action_space.sample())  # first-frame costs (shader compilation, buffers) stay out of the timing
    elapsed = 0.0
    for _ in range(steps):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    env.close()
    return steps / elapsed


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"


def main(cfg: RenderSpeedConfig) -> None:
    print(f"# {_cpu()}, MUJOCO_GL={os.environ['MUJOCO_GL']}")
    print("| env | size | reference look steps/s | fast_render steps/s | ratio |")
    print("|---|---|---|---|---|")
    for name in cfg.envs:
        env_id, kwargs = _MAKE[name]
        for size in cfg.sizes:
            ref = steps_per_second(env_id, kwargs, size, False, cfg.steps)
            fast = steps_per_second(env_id, kwargs, size, True, cfg.steps)
            print(f"| {env_id} | {size} | {ref:.1f} | {fast:.1f} | {fast / ref:.1f}x |", flush=True)


if __name__ == "__main__":
    main(tyro.cli(RenderSpeedConfig))
