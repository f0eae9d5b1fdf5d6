"""Collection speed: frames/s recorded by `lewm collect` per env, at 64 and 224 px, with 1 and N worker processes.

    python benchmarks/collect_speed.py                # TwoRoom, PushT, Reacher, Cube (if importable), Pusher-v5
    python benchmarks/collect_speed.py --envs tworoom --workers 4

frames/s counts frames written to the HDF5 file during the collection loop (rendering, resizing, the policy, the
writer, lzf compression); "wall s" adds env and worker start-up. Envs whose module (or optional dependency) is
missing are listed with a note instead of a number. Numbers depend on the load of the machine: compare rows taken
in the same run.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # scripts choose the headless backend; library code never does
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import importlib.util
import pathlib
import tempfile
import time
from dataclasses import dataclass

import tyro

import lewm_envs
from lewm_agents.data import CollectConfig, collect, resolve_env_id


@dataclass(frozen=True)
class SpeedConfig:
    """Measure collection frames/s per env, image size and number of workers."""

    envs: tuple[str, ...] = ("tworoom", "pusht", "reacher", "cube", "Pusher-v5")
    """Envs to measure (lewm aliases, gymnasium ids or dmc:DOMAIN-TASK)."""
    sizes: tuple[int, ...] = (64, 224)
    """Image sides."""
    workers: int = max(2, os.cpu_count() or 2)
    """N, the parallel measurement (always compared with 1 worker)."""
    episodes: int = 8
    """Episodes per measurement."""
    max_episode_steps: int = 50
    """Episode length cap, so every env records about episodes * (steps + 1) frames."""
    policy: str = "random"
    """Collection policy (random: no scripted policy cost and full-length episodes)."""
    slow_render_row: bool = True
    """Also time Pusher-v5 with --no-fast-render (default MuJoCo quality), 1 worker, 64 px."""


def missing_module(env: str) -> str | None:
    """Why ``env`` cannot be measured here (its module is not in this checkout, or a dependency is missing)."""
    try:
        env_id = resolve_env_id(env)
    except ValueError as exc:
        return str(exc).split(".")[0]
    entry = next((e for e in lewm_envs.ENVS if e.env_id == env_id), None)
    if entry is None:
        return None
    module = entry.entry_point.partition(":")[0]
    if importlib.util.find_spec(module) is None:
        return f"module {module} missing"
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"{module}: {exc}"
    return None


def measure(
    env: str, size: int, workers: int, cfg: SpeedConfig, folder: pathlib.Path, *, fast: bool = True, episodes: int = 0
) -> dict:
    """Collect into a fresh file; return collect()'s statistics plus wall seconds and file size."""
    out = folder / f"{env.replace('/', '_').replace(':', '_')}_{size}_{workers}_{fast}.h5"
    start = time.perf_counter()
    stats = collect(
        CollectConfig(env=env, episodes=episodes or cfg.episodes, out=out, image_size=size, policy=cfg.policy,
                      workers=workers, max_episode_steps=cfg.max_episode_steps, fast_render=fast, progress=False)
    )  # fmt: skip
    return {**stats, "wall": time.perf_counter() - start, "mb": out.stat().st_size / 2**20}


def main(cfg: SpeedConfig) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpu cores: {os.cpu_count()}, load average (1 min): {load:.1f}; {cfg.episodes} episodes of <= "
          f"{cfg.max_episode_steps} steps, policy {cfg.policy}\n")  # fmt: skip
    print("| env | size | workers | frames/s | vs 1 worker | wall s | MB | note |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        for env in cfg.envs:
            reason = missing_module(env)
            if reason:
                print(f"| {env} | - | - | - | - | - | - | skipped: {reason} |")
                continue
            for size in cfg.sizes:
                base = None
                for workers in dict.fromkeys((1, cfg.workers)):
                    try:
                        r = measure(env, size, workers, cfg, folder)
                    except Exception as exc:  # a benchmark row reports the failure and the table goes on
                        print(f"| {env} | {size} | {workers} | - | - | - | - | failed: {type(exc).__name__}: {exc} |")
                        continue
                    base = base or r["frames_per_s"]
                    print(f"| {env} | {size} | {workers} | {r['frames_per_s']:.0f} | {r['frames_per_s'] / base:.2f}x "
                          f"| {r['wall']:.1f} | {r['mb']:.1f} | |", flush=True)  # fmt: skip
            if cfg.slow_render_row and env == "Pusher-v5":
                r = measure(env, 64, 1, cfg, folder, fast=False, episodes=2)  # about 20 frames/s: keep it short
                print(f"| {env} | 64 | 1 | {r['frames_per_s']:.0f} | - | {r['wall']:.1f} | {r['mb']:.1f} "
                      "| --no-fast-render (default MuJoCo quality) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(tyro.cli(SpeedConfig))
