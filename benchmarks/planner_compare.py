"""Compare the solvers (CEM, iCEM, MPPI, gradient) on one checkpoint of a world-model method: the cost they reach
and the success they get.

For N start/goal pairs drawn from the dataset (the paper's protocol, `lewm_agents.evaluate`), every solver plans once
from the start frame; the table reports the model's cost of the plan *as executed* (clipped to the action space), the
time per plan, and, with ``--episodes``, the success rate of full evaluation episodes. Each solver runs with and
without ``clamp_actions`` (scoring candidates clamped to the action bounds). The costs come from the agent's own
``MPCAgent.cost`` (the world model's ``goal_cost`` of its rollout, clamped or not), as in evaluation.

    python benchmarks/planner_compare.py runs/tworoom --pairs 32 --episodes 20
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import tyro

from lewm_agents.agent import MPCAgent
from lewm_agents.checkpoint import read_checkpoint_meta
from lewm_agents.evaluate import EvalConfig, evaluate, load_tasks
from lewm_agents.planning import PLAN_PRESETS, plan


@dataclass(frozen=True)
class CompareConfig:
    """Solver comparison on one checkpoint."""

    checkpoint: tyro.conf.Positional[Path]
    """Run directory (or checkpoints/step_* directory) from `lewm train`."""
    data: Path | None = None
    """Dataset for the start/goal pairs (default: the checkpoint's training data)."""
    pairs: int = 32
    """Start/goal pairs planned once each (cost reached)."""
    episodes: int = 0
    """Evaluation episodes per solver (success rate); 0 skips the rollouts in the env."""
    iterations: int | None = None
    """Override every solver's iterations (e.g. to compare at equal time)."""
    threads: int | None = 1
    """CPU threads for torch."""
    seed: int = 42
    """Seed of the pair draw and of the planners."""


def main(cfg: CompareConfig) -> None:
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    meta = read_checkpoint_meta(cfg.checkpoint)
    tasks = load_tasks(EvalConfig(checkpoint=cfg.checkpoint, data=cfg.data, episodes=cfg.pairs, seed=cfg.seed), meta)
    import gymnasium as gym

    import lewm_envs  # noqa: F401

    space = gym.make(tasks.env_id, image_size=tasks.image_size).action_space
    agent = MPCAgent.from_checkpoint(cfg.checkpoint, action_space=space, device="cpu", precision="fp32")
    starts = np.stack([_start_frame(tasks, i) for i in range(cfg.pairs)])  # (N, h, w, 3)
    z, z_goal = agent.encode(starts), agent.encode(tasks.goal_frames)[:, 0]  # (N, 1, D), (N, D)
    executed_cost = agent.cost(z, z_goal, clamp=True)  # what the env will execute: the plan clipped to the box
    F = agent.model.frameskip * agent.model.action_dim
    print(f"{tasks.env_id}, {cfg.pairs} start/goal pairs, checkpoint {cfg.checkpoint}")
    header = f"{'solver':<10} {'clamp':>5} {'SxI':>8} {'cost (executed)':>16} {'ms/plan':>9} {'success':>14}"
    print(header)
    print("-" * len(header))
    for name, preset in PLAN_PRESETS.items():
        for clamp in (True, False):
            pcfg = replace(preset, clamp_actions=clamp, seed=cfg.seed)
            if cfg.iterations is not None:
                pcfg = replace(pcfg, iterations=cfg.iterations)
            planned = agent.cost(z, z_goal, clamp=clamp)
            mean0 = torch.zeros(cfg.pairs, pcfg.horizon, F)
            t0 = time.perf_counter()
            with torch.no_grad():
                result = plan(planned, mean0, pcfg, torch.Generator().manual_seed(cfg.seed))
            ms = 1000 * (time.perf_counter() - t0) / cfg.pairs
            with torch.no_grad():
                executed = executed_cost(result.actions.unsqueeze(1))[:, 0]  # (N,)
            success = ""
            if cfg.episodes:
                r = evaluate(
                    EvalConfig(
                        checkpoint=cfg.checkpoint,
                        data=cfg.data,
                        episodes=cfg.episodes,
                        plan=pcfg,
                        videos=0,
                        progress=False,
                        device="cpu",
                        seed=cfg.seed,
                    )
                )
                success = f"{r['successes']}/{r['episodes']} [{r['ci95'][0]:.2f},{r['ci95'][1]:.2f}]"
            print(
                f"{name:<10} {clamp!s:>5} {f'{pcfg.num_samples}x{pcfg.iterations}':>8} "
                f"{float(executed.mean()):>9.2f} ± {float(executed.std() / cfg.pairs**0.5):<4.2f} {ms:>9.0f} "
                f"{success:>14}"
            )


def _start_frame(tasks, i: int) -> np.ndarray:
    """The start frame of pair i, rendered by resetting the env to its start state."""
    import gymnasium as gym

    env = gym.make(tasks.env_id, image_size=tasks.image_size)
    obs, _ = env.reset(seed=0, options={"state": tasks.start_states[i], "goal_state": tasks.goal_states[i]})
    env.close()
    return obs


if __name__ == "__main__":
    main(tyro.cli(CompareConfig))
