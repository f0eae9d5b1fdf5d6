"""TwoRoom diagnostics of issue 13 that are cheap enough to run on a loaded CPU: the protocol's ceiling through a
vectorised copy of the reference dynamics, and a linear probe of the agent's xy from a checkpoint's latents with the
latent cost against the true distance.

* ``ceiling``: CEM (the agent's solver, budget and action normalisation) through the true dynamics, all candidates of
  a plan stepped at once in numpy (``lewm diagnose ceiling`` steps env copies one by one: ~225k env steps per plan).
  The step is `TwoRoomEnv._reference_move` vectorised; `check_dynamics` asserts that they agree bit for bit.
* ``probe``: encode the first ``--frames`` frames of a dataset (or their states, for a state-input model), fit xy by
  least squares on 4 of 5 episodes, report R^2 on the fifth; Spearman rank correlation of ||z_a - z_b||^2 with the
  true distance over random pairs (all, < 60 units, same room, across the wall).

Run: ``.venv/bin/python benchmarks/tworoom_diagnostics.py ceiling DATA [--receding-horizon 1]`` or
``... probe CHECKPOINT DATA``. Prints one line per call.

Dimension letters: N positions stepped together, B problems, S samples, H horizon, F action block, D latent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import tyro

from lewm_agents.data import DatasetReader, compute_action_stats
from lewm_agents.evaluate import sample_start_goal_pairs, wilson_interval
from lewm_agents.planning import PlanConfig, clamped, normalized_bounds, plan
from lewm_envs.two_room import (
    BORDER,
    DOOR_CENTER,
    DOOR_HALF_WIDTH,
    DOOR_MARGIN,
    WALL_HALF_THICKNESS,
    WALL_PUSHBACK,
    WALL_X,
    WORLD_SIZE,
    TwoRoomEnv,
)

RADIUS, SPEED, SUCCESS = 7.0, 5.0, 16.0  # the env's defaults


def reference_step(pos: np.ndarray, action: np.ndarray) -> np.ndarray:
    """`TwoRoomEnv._reference_move` for many agents: positions ``(N, 2)`` float32, actions ``(N, 2)``."""
    a = np.clip(action.astype(np.float32), -1.0, 1.0)  # (N, 2)
    lo, hi = BORDER + RADIUS, WORLD_SIZE - BORDER - RADIUS
    nxt = np.clip(pos + a * np.float32(SPEED), lo, hi).astype(np.float32)  # (N, 2)
    x, y = nxt[:, 0], nxt[:, 1]
    half = int(2 * WALL_HALF_THICKNESS) // 2
    band = (y >= DOOR_CENTER - DOOR_HALF_WIDTH - DOOR_MARGIN) & (y <= DOOR_CENTER + DOOR_HALF_WIDTH + DOOR_MARGIN)
    left = pos[:, 0] < WALL_X
    x = np.where(left & (x > WALL_X - half - RADIUS) & ~band, np.float32(WALL_X - half - RADIUS - WALL_PUSHBACK), x)
    x = np.where(~left & (x < WALL_X + half + RADIUS) & ~band, np.float32(WALL_X + half + RADIUS + WALL_PUSHBACK), x)
    return np.stack([x, y], 1).astype(np.float32)  # (N, 2)


def check_dynamics(episodes: int = 20, steps: int = 60, seed: int = 0) -> int:
    """Steps the env and `reference_step` side by side (random and wall-bound actions); returns the mismatches."""
    env, rng, bad = TwoRoomEnv(image_size=16), np.random.default_rng(seed), 0
    for ep in range(episodes):
        info = env.reset(seed=ep)[1]
        for _ in range(steps):
            p = info["state"][None].astype(np.float32)  # (1, 2)
            a = rng.uniform(-1, 1, 2).astype(np.float32)
            if rng.random() < 0.5:
                a[0] = 1.0 if p[0, 0] < WALL_X else -1.0
            info = env.step(a)[4]
            bad += not np.array_equal(reference_step(p, a[None])[0], info["state"])
    return bad


def ceiling(data: Path, episodes: int, plan_cfg: PlanConfig, frameskip: int = 5, seed: int = 42) -> str:
    """Success of the dataset-goal protocol (goal 25 steps ahead, budget 50) with the true dynamics as the model."""
    with DatasetReader(data) as r:
        starts, goals = sample_start_goal_pairs(r, episodes, 25, seed)
        states, stats = r.column("state"), compute_action_stats(r)
    A = 2
    low, high = normalized_bounds(torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]), torch.tensor(stats.mean),
                                  torch.tensor(stats.std), frameskip)  # fmt: skip
    now: dict[str, np.ndarray] = {}

    def cost(actions: torch.Tensor) -> torch.Tensor:
        B, S, H, _ = actions.shape
        raw = stats.denormalize(actions.float().numpy().reshape(B * S, H * frameskip, A))  # (BS, H*fs, A)
        pos = np.repeat(now["start"][None], B * S, 0)  # (BS, 2)
        for t in range(H * frameskip):
            pos = reference_step(pos, raw[:, t])
        return torch.from_numpy(np.linalg.norm(pos - now["goal"], axis=1).reshape(B, S)).float()  # (B, S)

    solve, gen, wins = clamped(cost, low, high), torch.Generator().manual_seed(plan_cfg.seed), 0
    for i in range(episodes):
        s, g, t, ok = states[starts[i]].astype(np.float32), states[goals[i]].astype(np.float32), 0, False
        while t < 50 and not ok:
            now["start"], now["goal"] = s, g
            best = plan(solve, torch.zeros(1, plan_cfg.horizon, frameskip * A), plan_cfg, gen).actions  # (1, H, F)
            for a in stats.denormalize(best[0].numpy().reshape(-1, A))[: plan_cfg.executed_blocks * frameskip]:
                s, t = reference_step(s[None], a[None])[0], t + 1
                ok = bool(np.linalg.norm(s - g) < SUCCESS)
                if ok or t >= 50:
                    break
        wins += ok
    lo, hi = wilson_interval(wins, episodes)
    return (
        f"ceiling {data}: cem {plan_cfg.num_samples} x {plan_cfg.iterations}, H {plan_cfg.horizon}, receding "
        f"{plan_cfg.executed_blocks}: {wins}/{episodes} = {100 * wins / episodes:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"
    )


def probe(checkpoint: Path, data: Path, frames: int = 6000, pairs: int = 4000) -> str:
    """Linear-probe R^2 of xy from the latents and Spearman(latent cost, true distance); one line."""
    from scipy.stats import spearmanr

    from lewm_agents.checkpoint import load_checkpoint

    model = load_checkpoint(checkpoint).model.eval()
    with DatasetReader(data) as r:
        n = min(r.num_frames, frames)
        pix, st, ep = r.frames(np.arange(n)), r.column("state")[:n].astype(np.float64), r.column("episode_idx")[:n]
    on_state = getattr(model, "observes", "pixels") == "state"
    zs = []
    with torch.no_grad():
        for i in range(0, n, 500):
            x = torch.as_tensor(st[i : i + 500], dtype=torch.float32) if on_state else torch.as_tensor(pix[i : i + 500])
            zs.append(model.encode(x[:, None])[:, 0].float().numpy())  # (b, D)
    z = np.concatenate(zs)  # (n, D)
    train = ep % 5 != 0
    X = np.c_[z, np.ones(n)]  # (n, D + 1)
    w = np.linalg.lstsq(X[train], st[train], rcond=None)[0]
    err = X[~train] @ w - st[~train]  # (m, 2)
    r2 = 1 - (err**2).sum(0) / ((st[~train] - st[~train].mean(0)) ** 2).sum(0)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    dz, dx = ((z[a] - z[b]) ** 2).sum(1), np.linalg.norm(st[a] - st[b], axis=1)
    cross = (st[a, 0] < WALL_X) != (st[b, 0] < WALL_X)
    rho = {k: spearmanr(dz[m], dx[m])[0] for k, m in
           (("all", dx >= 0), ("<60", dx < 60), ("same room", ~cross), ("across", cross))}  # fmt: skip
    return (
        f"probe {checkpoint} on {data}: R2 x {r2[0]:.3f} y {r2[1]:.3f}, rmse {np.sqrt((err**2).sum(1).mean()):.1f} "
        f"units | Spearman " + ", ".join(f"{k} {v:.2f}" for k, v in rho.items())
    )


@dataclass(frozen=True)
class Args:
    """TwoRoom diagnostics (see the module docstring)."""

    what: tyro.conf.Positional[Literal["ceiling", "probe", "check"]]
    """'ceiling' (DATA), 'probe' (CHECKPOINT DATA) or 'check' (the vectorised dynamics against the env)."""
    paths: tyro.conf.Positional[tuple[Path, ...]] = ()
    """ceiling: the dataset; probe: the checkpoint and the dataset."""
    episodes: int = 50
    """ceiling: protocol pairs."""
    iterations: int = 30
    """ceiling: CEM iterations."""
    receding_horizon: int | None = None
    """ceiling: blocks executed per plan (None: the whole plan, as the paper)."""


def main(args: Args) -> None:
    torch.set_num_threads(1)
    if args.what == "check":
        print(f"vectorised reference step vs TwoRoomEnv: {check_dynamics()} mismatches")
    elif args.what == "ceiling":
        cfg = PlanConfig(iterations=args.iterations, receding_horizon=args.receding_horizon)
        print(ceiling(args.paths[0], args.episodes, cfg))
    else:
        print(probe(args.paths[0], args.paths[1]))


if __name__ == "__main__":
    main(tyro.cli(Args))
