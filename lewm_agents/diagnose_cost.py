"""The diagnostics of a world model's planning cost, part of `lewm diagnose` (lewm_agents/diagnose.py holds the
command and the protocol-level diagnostics), and the true distance every diagnostic measures against.

* `state_distance`: the env's true distance to the goal state (what the ceiling planner minimises).
* `latent_cost_vs_distance`: ||z_t - z_goal||^2 against the true distance along held-out trajectories (Spearman rank
  correlation): is the planner's cost informative?
* `true_action_rank`: on the protocol's pairs, does the model's cost rank the recorded actions (which reached the
  goal) above random candidates? Separates a wrong model from a weak search.
* `plan_gap`: on the same pairs, is the planner's first plan worse than the recorded actions by the model's own cost
  (lost in the search), or does the env refute what the model predicted for it (the search exploits model error)?

Each returns a JSON-ready dict with ``"tables"`` and, when a path is given, ``"figures"``, the shapes the benchmark
report accepts.

Dimension letters: B problems (envs), S samples, H horizon (action blocks), F action block (frameskip * A), D latent.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents.data import DatasetReader, split_episodes
from lewm_agents.diagnostics import within_episode_share
from lewm_agents.evaluate import EvalConfig, recorded_dataset, sample_start_goal_pairs
from lewm_agents.planning import PlanConfig, clamped, normalized_bounds, plan

ANGLE_UNITS_PER_RAD: float = 20.0 / (math.pi / 9)
"""PushT: the pose success rule's 20 units weigh as much as its pi/9 rad; the ceiling's cost adds angle error so."""


def state_distance(env_id: str, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """The true distance to the goal that the ceiling planner minimises, ``(...,)`` from states ``(..., S)``.

    PushT: ||(agent xy, block xy) - goal's|| + angle error x 20 / (pi/9) (both terms of its success rule, in units);
    other envs: the Euclidean distance between the first min(S, 2) state entries (their success rules' position).
    """
    state, goal = np.asarray(state, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    if "PushT" in env_id:
        pos = np.linalg.norm(state[..., :4] - goal[..., :4], axis=-1)
        d = np.abs(state[..., 4] - goal[..., 4]) % (2 * math.pi)
        return pos + ANGLE_UNITS_PER_RAD * np.minimum(d, 2 * math.pi - d)
    k = min(state.shape[-1], 2)
    return np.linalg.norm(state[..., :k] - goal[..., :k], axis=-1)


def figure_entry(path: Path | None, title: str, caption: str, draw: Any) -> list[dict[str, str]]:
    """Draw with matplotlib (optional dependency) into ``path``; returns the report's figure entry (or none)."""
    if path is None:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    draw(ax)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [{"title": title, "path": str(path), "caption": caption}]


# ----------------------------------------------------------------------------------- latent cost vs true distance


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


@torch.no_grad()
def latent_cost_vs_distance(
    checkpoint: str | Path,
    data: str | Path | None = None,
    *,
    episodes: int = 20,
    goal_offset: int = 25,
    device: str = "cpu",
    figure: Path | None = None,
) -> dict[str, Any]:
    """Latent cost ||z_t - z_goal||^2 against the true distance along held-out episodes.

    For each held-out (validation-split) episode and each goal frame g (every ``goal_offset`` steps), every frame t in
    [g - goal_offset, g] gives one (cost, distance) pair. Reports the pooled Spearman correlation, the mean
    per-window one (does the cost fall as the goal nears, within one task?) and the same for pixel L2 as a
    reference an informative latent should beat. Also the share of the latents' variance that lies within episodes,
    beside the true state's: far below the state's, the latent spends its spread on what stays constant within an
    episode (PushT on random actions: the resting block) and leaves out what moves (issue 13).
    """
    from lewm_agents.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint, device=device)
    meta = ckpt.meta
    data = Path(data) if data else recorded_dataset(meta, checkpoint)  # found from any directory
    train_cfg = meta.get("train", {})
    with DatasetReader(data) as reader:
        _, val = split_episodes(reader.num_episodes, train_cfg.get("val_fraction", 0.1), train_cfg.get("seed", 3072))
        ep_idx, step_idx = reader.column("episode_idx"), reader.column("step_idx")
        states = reader.column("state")
        env_id = reader.env_id
        costs, dists, pix, window_rho, pix_rho, latents, truths = [], [], [], [], [], [], []
        for e in val[:episodes]:
            rows = np.flatnonzero(ep_idx == e)
            rows = rows[np.argsort(step_idx[rows])]
            frames = reader.frames(rows)  # (T, h, w, 3)
            z = ckpt.model.encode(torch.from_numpy(frames)[None]).float()[0]  # (T, D)
            latents.append(z), truths.append(torch.from_numpy(states[rows].astype(np.float32)))  # (T, D), (T, S)
            for g in range(goal_offset, len(rows), goal_offset):
                ts = np.arange(g - goal_offset, g + 1)
                c = ((z[ts] - z[g]) ** 2).sum(-1).cpu().numpy()  # (W,)
                d = state_distance(env_id, states[rows[ts]], states[rows[g]])  # (W,)
                p = ((frames[ts].astype(np.float32) - frames[g].astype(np.float32)) ** 2).mean((1, 2, 3))  # (W,)
                costs.append(c), dists.append(d), pix.append(p)
                window_rho.append(_spearman(c, d))
                pix_rho.append(_spearman(p, d))
    c, d, p = np.concatenate(costs), np.concatenate(dists), np.concatenate(pix)
    scale = torch.cat(truths).std(0).clamp_min(1e-6)  # (S,): every state dimension counts alike
    near = d < 60.0  # within 3x the success radius: can the cost tell "almost there" from "there"?
    result = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "pairs": len(c),
        "spearman_latent": _spearman(c, d),
        "spearman_pixels": _spearman(p, d),
        "window_spearman_latent": float(np.nanmean(window_rho)),
        "window_spearman_pixels": float(np.nanmean(pix_rho)),
        "near_pairs": int(near.sum()),
        "spearman_latent_near": _spearman(c[near], d[near]) if near.sum() > 2 else float("nan"),
        "spearman_pixels_near": _spearman(p[near], d[near]) if near.sum() > 2 else float("nan"),
        # a latent whose spread lies across episodes while the state's lies within them encodes what does not move
        "within_episode_share_latent": within_episode_share(latents),
        "within_episode_share_state": within_episode_share([t / scale for t in truths]),
    }
    result["tables"] = [
        {
            "title": "Is the planning cost informative? (Spearman rho with the true distance, held-out episodes)",
            "columns": ["cost", "pooled rho", "mean rho within a 25-step window", "rho within 60 units", "pairs"],
            "rows": [
                [
                    "latent ||z - z_goal||^2",
                    f"{result['spearman_latent']:.2f}",
                    f"{result['window_spearman_latent']:.2f}",
                    f"{result['spearman_latent_near']:.2f}",
                    len(c),
                ],
                [
                    "pixel L2 (reference)",
                    f"{result['spearman_pixels']:.2f}",
                    f"{result['window_spearman_pixels']:.2f}",
                    f"{result['spearman_pixels_near']:.2f}",
                    len(c),
                ],
            ],
        },
        {
            "title": "Where does the latent's spread come from? (held-out episodes)",
            "columns": ["vectors", "share of the variance within episodes"],
            "rows": [
                ["latents", f"{result['within_episode_share_latent']:.3f}"],
                ["true state (standardised)", f"{result['within_episode_share_state']:.3f}"],
            ],
        },
    ]

    def draw(ax: Any) -> None:
        ax.scatter(d, c, s=3, alpha=0.3, color="tab:blue")
        bins = np.quantile(d, np.linspace(0, 1, 11))
        idx = np.clip(np.digitize(d, bins[1:-1]), 0, 9)
        ax.plot([d[idx == k].mean() for k in range(10)], [c[idx == k].mean() for k in range(10)], "k-o", ms=3)
        ax.set_xlabel("true distance to goal (units)")
        ax.set_ylabel("latent cost")

    result["figures"] = figure_entry(
        figure,
        f"latent cost vs distance (rho {result['spearman_latent']:.2f})",
        "Each dot: a held-out frame and a goal up to 25 steps later; black: the mean cost per distance decile.",
        draw,
    )
    return result


# ------------------------------------------------------------------------- the model's ranking of the true actions


@torch.no_grad()
def true_action_rank(
    checkpoint: str | Path,
    data: str | Path | None = None,
    *,
    episodes: int = 50,
    goal_offset: int = 25,
    samples: int = 300,
    seed: int = 42,
    device: str = "cpu",
) -> dict[str, Any]:
    """On the protocol's own start/goal pairs: where do the recorded actions (which did reach the goal) rank among
    ``samples`` candidates drawn as CEM's first iteration draws them, by the model's planning cost?

    A rank near 0 means the model's rollout prefers the actions that really reach the goal, so a good planner can
    find them: success is then lost in the search or in execution. A rank near 0.5 means the model cannot tell them
    from random candidates: success is lost in the world model. Also reports how far the predicted final latent lands
    from the goal latent, relative to the start's distance to it.
    """
    from lewm_agents.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint, device=device)
    model, stats, mcfg = ckpt.model, ckpt.action_stats, ckpt.config
    data = Path(data) if data else recorded_dataset(ckpt.meta, checkpoint)  # found from any directory
    H = goal_offset // mcfg.frameskip
    with DatasetReader(data) as reader:
        starts, goals = sample_start_goal_pairs(reader, episodes, goal_offset, seed)
        actions = reader.column("action")
        z0 = model.encode(torch.from_numpy(reader.frames(starts))[:, None].to(device)).float()  # (B, 1, D)
        zg = model.encode(torch.from_numpy(reader.frames(goals))[:, None].to(device)).float()[:, 0]  # (B, D)
    rows = starts[:, None] + np.arange(H * mcfg.frameskip)  # (B, H*fs)
    true = stats.normalize(actions[rows]).reshape(len(starts), 1, H, -1)  # (B, 1, H, F)
    gen = torch.Generator().manual_seed(seed)
    rand = torch.randn(len(starts), samples - 1, H, true.shape[-1], generator=gen)  # (B, S-1, H, F)
    cand = torch.cat([torch.from_numpy(true), rand], dim=1).to(device)  # (B, S, H, F)
    z_hat = model.rollout(z0, cand)[:, :, -1]  # (B, S, D)
    cost = (z_hat - zg[:, None]).pow(2).sum(-1).cpu().numpy()  # (B, S)
    rank = (cost[:, 1:] < cost[:, :1]).mean(1)  # (B,) fraction of random candidates the model prefers
    start_cost = (z0[:, 0] - zg).pow(2).sum(-1).cpu().numpy()  # (B,)
    rel = cost[:, 0] / np.maximum(start_cost, 1e-9)  # (B,)
    result = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "episodes": len(starts),
        "rank_median": float(np.median(rank)),
        "rank_mean": float(rank.mean()),
        "top_1pct": float((rank <= 0.01).mean()),
        "true_cost_over_start_cost_median": float(np.median(rel)),
    }
    result["tables"] = [
        {
            "title": "Does the model prefer the recorded actions that reached the goal? (rank among random candidates)",
            "columns": ["pairs", "median rank", "in the top 1%", "median cost(true actions) / cost(start)"],
            "rows": [
                [
                    result["episodes"],
                    f"{result['rank_median']:.3f}",
                    f"{100 * result['top_1pct']:.0f}%",
                    f"{result['true_cost_over_start_cost_median']:.2f}",
                ]
            ],
        }
    ]
    return result


def plan_gap(
    checkpoint: str | Path,
    data: str | Path | None = None,
    *,
    episodes: int = 50,
    goal_offset: int = 25,
    plan_config: PlanConfig | None = None,
    seed: int = 42,
    device: str = "cpu",
    label: str = "",
) -> dict[str, Any]:
    """Where the first plan of each protocol pair loses: in the search, or in the model the search exploits.

    The planner solves each pair's first decision (the protocol's pairs, solver and budget; candidates scored clamped
    to the env's bounds when ``clamp_actions``, as the agent scores them) and the env executes the whole plan from
    the start state. Three costs by the model's own ``goal_cost``, each divided by the start's (medians over pairs).
    The ratios need a cost that is >= 0 and 0 at the goal (a latent distance: LeWM, PLDM-style, Dreamer-style); for
    any other (TD-MPC-style's minus return) the raw medians are reported instead, and ``ratios`` is False:

    * ``plan (predicted)``: the model's cost of the plan;
    * ``recorded (predicted)``: the model's cost of the recorded actions that reached the goal. A plan the model scores
      worse than these (``plan beats recorded`` low) is lost in the search: a better plan exists and the model knows;
    * ``plan (real)``: the cost of the frame the env really reaches with the plan, encoded (its ``goal_cost`` as a
      one-step path). Real far above predicted is the planner exploiting model error: it found actions the model
      believes and the env refutes.

    Also the true distance to the goal after the plan (`state_distance`) and the share of plans that reach the goal
    (the env's success rule at any step of the plan). Needs a world model that plans (not a policy). The table's row
    names the checkpoint's method, and ``label`` (e.g. the run's setting) when given.
    """
    import lewm_envs  # noqa: F401  (registers the lewm/* envs)
    from lewm_agents.checkpoint import load_checkpoint
    from lewm_agents.evaluate import load_tasks, make_env
    from lewm_agents.planning import world_model_cost

    cfg = plan_config or PlanConfig()
    ckpt = load_checkpoint(checkpoint, device=device)
    model, stats, fs = ckpt.model.eval(), ckpt.action_stats, ckpt.model.frameskip
    if not hasattr(model, "rollout"):
        raise ValueError(
            f"{checkpoint} is a policy ({ckpt.meta.get('method')}); `lewm diagnose plan-gap` needs a world model."
        )
    data = Path(data) if data else recorded_dataset(ckpt.meta, checkpoint)
    tasks = load_tasks(
        EvalConfig(checkpoint=Path(checkpoint), data=data, episodes=episodes, goal_offset=goal_offset, seed=seed),
        ckpt.meta,
    )
    with DatasetReader(data) as reader:
        starts, _ = sample_start_goal_pairs(reader, episodes, goal_offset, seed)
        start_frames, actions = reader.frames(starts), reader.column("action")
    n, H = len(starts), cfg.horizon
    env = make_env(tasks, budget=H * fs + 1)
    mean_t, std_t = torch.tensor(stats.mean), torch.tensor(stats.std)
    low, high = normalized_bounds(
        torch.as_tensor(env.action_space.low), torch.as_tensor(env.action_space.high), mean_t, std_t, fs
    )
    low, high = low.to(device), high.to(device)
    with torch.no_grad():
        z0 = model.encode(torch.from_numpy(start_frames)[:, None].to(device)).float()  # (n, 1, D)
        zg = model.encode(torch.from_numpy(tasks.goal_frames)[:, None].to(device)).float()[:, 0]  # (n, D)
        cost = world_model_cost(model, z0, zg)
        cost = clamped(cost, low, high) if cfg.clamp_actions else cost  # scored as the agent scores them
        mean = torch.zeros(n, H, fs * model.action_dim, device=device)  # (n, H, F)
        best = plan(cost, mean, cfg, torch.Generator().manual_seed(cfg.seed)).actions  # (n, H, F); the env clips it
        rows = starts[:, None] + np.minimum(np.arange(H * fs), goal_offset - 1)  # (n, H*fs), the recorded actions
        recorded = torch.from_numpy(stats.normalize(actions[rows]).reshape(n, H, -1)).to(device)  # (n, H, F)
        c_plan = cost(best[:, None])[:, 0].cpu().numpy()  # (n,)
        c_rec = cost(recorded[:, None])[:, 0].cpu().numpy()  # (n,)

        def at(z: torch.Tensor) -> np.ndarray:  # the model's cost of being at latents z (n, D): a one-step path
            return model.goal_cost(z[:, None, None], zg, best[:, None, :1]).float().cpu().numpy()[:, 0]  # (n,)

        c_start = at(z0[:, 0])  # (n,)
    raw = stats.denormalize(best.cpu().numpy().reshape(n, H * fs, -1))  # (n, H*fs, A)
    reached, final_frames, final_states = [], [], []
    for i in range(n):
        obs, info = env.reset(seed=seed + i, options=tasks.reset_options(i))
        ok = False
        for a in raw[i]:
            obs, _, terminated, _, info = env.step(np.clip(a, env.action_space.low, env.action_space.high))
            ok = ok or bool(terminated and info.get("is_success", False))
        reached.append(ok)
        final_frames.append(obs["pixels"] if isinstance(obs, dict) else obs)
        final_states.append(info["state"])
    env.close()
    with torch.no_grad():
        z_real = model.encode(torch.from_numpy(np.stack(final_frames))[:, None].to(device)).float()[:, 0]  # (n, D)
        c_real = at(z_real)  # (n,)
    ratios = bool((c_start > 0).all() and (c_plan >= 0).all() and (c_real >= 0).all())
    scale = np.maximum(c_start, 1e-9) if ratios else np.ones_like(c_start)
    dist = state_distance(tasks.env_id, np.stack(final_states), tasks.goal_states)  # (n,)
    method = ckpt.meta.get("method", "lewm")
    result = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "episodes": n,
        "model": method + (f" ({label})" if label and label != method else ""),
        "plan": f"{cfg.solver} {cfg.num_samples} x {cfg.iterations}, topk {cfg.topk}, H={H}",
        "plan_predicted_over_start": float(np.median(c_plan / scale)),
        "recorded_predicted_over_start": float(np.median(c_rec / scale)),
        "plan_beats_recorded": float((c_plan <= c_rec).mean()),
        "plan_real_over_start": float(np.median(c_real / scale)),
        "real_over_predicted": float(np.median(c_real / np.maximum(c_plan, 1e-9))) if ratios else float("nan"),
        "ratios": ratios,
        "final_distance_median": float(np.median(dist)),
        "start_distance_median": float(np.median(state_distance(tasks.env_id, tasks.start_states, tasks.goal_states))),
        "reached": float(np.mean(reached)),
    }
    keys = [
        "plan_predicted_over_start",
        "recorded_predicted_over_start",
        "plan_beats_recorded",
        "plan_real_over_start",
        "real_over_predicted",
        "final_distance_median",
        "reached",
    ]
    result["tables"] = [
        {
            "title": "Search or model? First plan of each pair: predicted, recorded and real cost"
            + (" / start cost" if ratios else " (raw model cost: not a distance)"),
            "columns": [
                "model",
                "planner",
                "plan (predicted)",
                "recorded (predicted)",
                "plan beats recorded",
                "plan (real)",
                "real / predicted",
                "distance after plan (median)",
                "reached",
            ],
            "rows": [[result["model"], result["plan"]] + [f"{result[k]:.3g}" for k in keys]],
        }
    ]
    return result
