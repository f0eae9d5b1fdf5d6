"""`lewm diagnose`: where goal-reaching success is lost. The protocol's ceiling, the eval tasks themselves,
the model's planning cost (diagnose_cost.py), success against training steps, and the fixed-target protocol.

Each function returns a JSON-ready dict with ``"tables"`` (``{"title", "columns", "rows"}``) and, when a path is
given, ``"figures"`` (``{"title", "path", "caption"}``), the shapes the benchmark report accepts.

* `protocol_ceiling`: the same solver, budget and protocol with the true simulator as the model (copies of the env
  reset to the current state roll each candidate out; the cost is the env's own distance to the goal state). What
  planning could reach with a perfect model.
* `task_stats`: how far the dataset-goal protocol's goals are from their starts (trivially close goals inflate every
  method's success, the random policy's too).
* `latent_cost_vs_distance`, `true_action_rank`, `plan_gap`: the diagnostics of the model's planning cost, in
  lewm_agents/diagnose_cost.py (imported here: the command dispatches to them).
* `success_curve`: success (with its interval) of the saved checkpoints of a run against their training step.

Dimension letters: B problems (envs), S samples, H horizon (action blocks), F action block (frameskip * A), D latent.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import tyro

from lewm_agents.data import DatasetReader, compute_action_stats, split_episodes
from lewm_agents.diagnose_cost import (
    figure_entry,
    latent_cost_vs_distance,
    plan_gap,
    state_distance,
    true_action_rank,
)
from lewm_agents.evaluate import EvalConfig, evaluate, recorded_dataset, sample_start_goal_pairs, wilson_interval
from lewm_agents.planning import PlanConfig, clamped, normalized_bounds, plan

# --------------------------------------------------------------------------------------------- the protocol's ceiling


class SimulatorCost:
    """``cost(actions (B, S, H, F)) -> (B, S)``: roll each candidate out in a copy of the env reset to the current
    state, and score the final state by `state_distance` to the goal (the terminal cost, like LeWM's)."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], stats: Any, frameskip: int, action_dim: int) -> None:
        kwargs = {k: v for k, v in env_kwargs.items() if k not in ("max_episode_steps", "image_size")}
        if "PushT" in env_id:
            kwargs.update(obs_type="state", render_mode=None)  # no frames needed to simulate
        self.env = gym.make(env_id, max_episode_steps=10**9, image_size=16, **kwargs).unwrapped
        self.env_id, self.stats, self.frameskip, self.A = env_id, stats, frameskip, action_dim
        self.states: np.ndarray | None = None  # (B, state) current states
        self.goals: np.ndarray | None = None  # (B, state) goal states
        self.env_steps = 0

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        B, S, H, _ = actions.shape
        raw = self.stats.denormalize(actions.float().cpu().numpy().reshape(B, S, H * self.frameskip, self.A))
        raw = np.clip(raw, self.env.action_space.low, self.env.action_space.high)  # (B, S, H*fs, A)
        costs = np.zeros((B, S))
        for b in range(B):
            for s in range(S):
                _, info = self.env.reset(options={"state": self.states[b], "goal_state": self.goals[b]})
                for a in raw[b, s]:
                    info = self.env.step(a.astype(np.float32))[4]
                costs[b, s] = state_distance(self.env_id, info["state"], self.goals[b])
        self.env_steps += B * S * H * self.frameskip
        return torch.from_numpy(costs).to(actions.dtype)


def protocol_ceiling(
    data: str | Path,
    *,
    episodes: int = 10,
    goal_offset: int = 25,
    budget: int = 50,
    plan_config: PlanConfig | None = None,
    frameskip: int = 5,
    seed: int = 42,
    figure: Path | None = None,
) -> dict[str, Any]:
    """Success of CEM planning through the true simulator under the dataset-goal protocol (first ``episodes`` pairs).

    Actions are normalised with the dataset's statistics, exactly as LeWM's agent samples them, and the whole plan is
    executed before replanning (the paper's receding horizon). Returns success, its Wilson interval, plan seconds and
    simulated env steps per plan.
    """
    cfg = plan_config or PlanConfig()
    with DatasetReader(data) as reader:
        starts, goals = sample_start_goal_pairs(reader, episodes, goal_offset, seed)
        states = reader.column("state")
        env_id, env_kwargs = reader.env_id, dict(reader.env_kwargs)
        stats = compute_action_stats(reader)
        action_dim = reader.action_dim
    import lewm_envs  # noqa: F401  (registers the lewm/* envs)

    cost = SimulatorCost(env_id, env_kwargs, stats, frameskip, action_dim)
    env = gym.make(
        env_id, max_episode_steps=budget, **{k: v for k, v in env_kwargs.items() if k != "max_episode_steps"}
    )
    mean_t, std_t = torch.tensor(stats.mean), torch.tensor(stats.std)
    low, high = normalized_bounds(
        torch.as_tensor(env.action_space.low), torch.as_tensor(env.action_space.high), mean_t, std_t, frameskip
    )
    solve = clamped(cost, low, high) if cfg.clamp_actions else cost
    gen = torch.Generator().manual_seed(cfg.seed)
    success, plan_s = [], []
    for i in range(episodes):
        _, info = env.reset(seed=seed + i, options={"state": states[starts[i]], "goal_state": states[goals[i]]})
        done, t = False, 0
        while not done and t < budget:
            cost.states, cost.goals = info["state"][None].astype(np.float64), states[goals[i]][None]
            t0 = time.perf_counter()
            mean = torch.zeros(1, cfg.horizon, frameskip * action_dim)
            best = plan(solve, mean, cfg, gen).actions  # (1, H, F)
            plan_s.append(time.perf_counter() - t0)
            raw = stats.denormalize(best[0].numpy().reshape(-1, action_dim))[: cfg.executed_blocks * frameskip]
            for a in raw:
                _, _, terminated, truncated, info = env.step(np.clip(a, env.action_space.low, env.action_space.high))
                t += 1
                if terminated or truncated:
                    done = True
                    success.append(bool(terminated and info.get("is_success", False)))
                    break
        if not done:
            success.append(False)
    env.close()
    k, n = int(sum(success)), len(success)
    lo, hi = wilson_interval(k, n)
    steps_per_plan = cost.env_steps / max(len(plan_s), 1)
    result = {
        "env_id": env_id,
        "data": str(data),
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "ci95": [lo, hi],
        "episode_success": success,
        "plan_seconds_mean": float(np.mean(plan_s)),
        "env_steps_per_plan": steps_per_plan,
        "plan": {
            "solver": cfg.solver,
            "num_samples": cfg.num_samples,
            "iterations": cfg.iterations,
            "horizon": cfg.horizon,
            "topk": cfg.topk,
        },
        "tables": [
            {
                "title": "Protocol ceiling: planning with the true simulator",
                "columns": ["planner", "episodes", "success", "95% CI", "s / plan", "env steps / plan"],
                "rows": [
                    [
                        f"{cfg.solver} {cfg.num_samples} x {cfg.iterations}, H={cfg.horizon}",
                        n,
                        f"{100 * k / n:.0f}%",
                        f"[{100 * lo:.0f}, {100 * hi:.0f}]",
                        f"{np.mean(plan_s):.1f}",
                        f"{steps_per_plan:,.0f}",
                    ]
                ],
            }
        ],
    }
    return result


# --------------------------------------------------------------------------------------------------- the eval tasks


def task_stats(
    data: str | Path, *, episodes: int = 50, goal_offset: int = 25, seed: int = 42, figure: Path | None = None
) -> dict[str, Any]:
    """How far the protocol's goals are from their starts (already-solved fraction, distance quantiles), and whether
    replaying the recorded actions open loop from the reset start state reaches the goal."""
    import lewm_envs  # noqa: F401

    with DatasetReader(data) as reader:
        starts, goals = sample_start_goal_pairs(reader, episodes, goal_offset, seed)
        states, actions = reader.column("state"), reader.column("action")
        env_id, kwargs = reader.env_id, dict(reader.env_kwargs)
    env = gym.make(env_id, **{k: v for k, v in kwargs.items() if k != "max_episode_steps"}).unwrapped
    s, g = states[starts], states[goals]
    solved = np.array([env.is_success(a, b) for a, b in zip(s, g)])
    dist = state_distance(env_id, s, g)  # (n,)
    # Replaying the recorded actions open loop from the reset start reaches the goal, if resets restore everything
    # that matters: the best any plan executed open loop can do (the protocol's own ceiling for a perfect plan).
    replay = []
    for i, (a, b) in enumerate(zip(starts, goals)):
        env.reset(seed=seed + i, options={"state": states[a], "goal_state": states[b]})
        ok = False
        for t in range(goal_offset):
            info = env.step(actions[a + t])[4]
            ok = ok or bool(info.get("is_success", False))
        replay.append(ok or bool(info.get("is_success", False)))
    row: dict[str, float] = {
        "solved_at_start": float(solved.mean()),
        "recorded_actions_reach_goal": float(np.mean(replay)),
        "distance_median": float(np.median(dist)),
    }
    if "PushT" in env_id:
        block = np.linalg.norm(s[:, 2:4] - g[:, 2:4], axis=-1)
        d = np.abs(s[:, 4] - g[:, 4]) % (2 * math.pi)
        row.update(
            block_moved_median=float(np.median(block)),
            block_moved_lt_20=float((block < 20).mean()),
            block_turn_median_deg=float(np.degrees(np.median(np.minimum(d, 2 * math.pi - d)))),
        )
    env.close()
    figs = figure_entry(
        figure,
        f"start-goal distance ({Path(data).name})",
        "Distance (state_distance) from each evaluation start to its goal; the dashed line is 20 units.",
        lambda ax: (ax.hist(dist, bins=20, color="tab:blue"), ax.axvline(20, ls="--", c="k"), ax.set_xlabel("units")),
    )
    return {
        "env_id": env_id,
        "data": str(data),
        "episodes": episodes,
        **row,
        "tables": [{"title": "Evaluation tasks", "columns": list(row), "rows": [[f"{v:.3g}" for v in row.values()]]}],
        "figures": figs,
    }


# ------------------------------------------------------------------------------------- success vs training steps


def _recalibrated_copy(ckpt: Path, data: Path | None, out: Path, batches: int) -> Path:
    """A copy of ``ckpt`` whose BatchNorm statistics are recomputed at its weights on its training clips (with its
    method's objective and clips, as the trainer's final ``bn_recalibration``)."""
    from lewm_agents.checkpoint import load_checkpoint, save_checkpoint
    from lewm_agents.data import ClipDataset
    from lewm_agents.methods import get_method
    from lewm_agents.train.learner import recalibrate_batchnorm

    c = load_checkpoint(ckpt)
    method = get_method(c.method)
    train = c.meta.get("train", {})
    path = data or recorded_dataset(c.meta, ckpt)  # found from any directory
    with DatasetReader(path) as reader:
        train_eps, _ = split_episodes(reader.num_episodes, train.get("val_fraction", 0.1), train.get("seed", 3072))
    spec = method.clips(c.config)
    ds = ClipDataset(
        path,
        num_steps=spec.frames,
        frameskip=c.config.frameskip,
        action_stats=c.action_stats,
        episodes=train_eps,
        fields=spec.fields,
        goals=spec.goals,
    )
    seed = int(train.get("seed", 0))
    objective = method.objective(c.model, c.config, torch.Generator().manual_seed(seed + 2))
    recalibrate_batchnorm(
        c.model,
        objective,
        ds,
        batches=batches,
        batch_size=int(train.get("batch_size", 32)),
        device=torch.device("cpu"),
        amp=None,
        seed=seed,
    )
    meta = {
        k: v
        for k, v in c.meta.items()
        if k not in ("format", "version", "model", "action_stats", "weights_sha256", "method")
    }
    return save_checkpoint(out, c.model, action_stats=c.action_stats, meta=meta, method=c.method)


def success_curve(
    run_dir: str | Path,
    data: str | Path | None = None,
    *,
    episodes: int = 50,
    plan_config: PlanConfig | None = None,
    device: str = "cpu",
    precision: str = "bf16",
    recalibrate: bool = True,
    bn_batches: int = 50,
    figure: Path | None = None,
) -> dict[str, Any]:
    """Evaluate every saved checkpoint of a run (``checkpoints/step_*``) under the protocol; success vs step.

    Only a run's final checkpoint has its BatchNorm statistics recomputed at its weights (the trainer's
    ``bn_recalibration``); earlier ones carry the lagging running averages, which shift eval-mode latents. With
    ``recalibrate`` (default) each earlier checkpoint is recalibrated the same way (on a copy) before it is evaluated,
    so the curve measures the weights, not the averages.
    """
    import tempfile

    from lewm_agents.checkpoint import list_checkpoints, read_checkpoint_meta

    points = []
    with tempfile.TemporaryDirectory(prefix="lewm-curve-") as tmp:
        for ckpt in list_checkpoints(run_dir):
            meta = read_checkpoint_meta(ckpt)
            path = ckpt
            if recalibrate and not meta.get("finished"):
                path = _recalibrated_copy(ckpt, Path(data) if data else None, Path(tmp) / ckpt.name, bn_batches)
            r = evaluate(
                EvalConfig(
                    checkpoint=path,
                    data=Path(data) if data else None,
                    episodes=episodes,
                    plan=plan_config or PlanConfig(),
                    videos=0,
                    device=device,
                    precision=precision,  # type: ignore[arg-type]
                    progress=False,
                )
            )
            points.append(
                {
                    "step": int(meta["step"]),
                    "success_rate": r["success_rate"],
                    "ci95": r["ci95"],
                    "successes": r["successes"],
                    "recalibrated": path != ckpt,
                }
            )
    steps = [p["step"] for p in points]
    rates = [p["success_rate"] for p in points]

    def draw(ax: Any) -> None:
        lo = [r - p["ci95"][0] for r, p in zip(rates, points)]
        hi = [p["ci95"][1] - r for r, p in zip(rates, points)]
        ax.errorbar(steps, rates, yerr=[lo, hi], fmt="-o", capsize=3)
        ax.set_ylim(0, 1)
        ax.set_xlabel("training step")
        ax.set_ylabel("success (95% CI)")

    return {
        "run": str(run_dir),
        "points": points,
        "tables": [
            {
                "title": "Success against training steps",
                "columns": ["step", "success", "95% CI"],
                "rows": [
                    [
                        p["step"],
                        f"{100 * p['success_rate']:.0f}%",
                        f"[{100 * p['ci95'][0]:.0f}, {100 * p['ci95'][1]:.0f}]",
                    ]
                    for p in points
                ],
            }
        ],
        "figures": figure_entry(
            figure, "success vs training steps", f"{episodes} protocol episodes per checkpoint.", draw
        ),
    }


# ------------------------------------------------------------------------------------------ the fixed-target protocol

FIXED_TARGET_SEED: int = 100_000
"""First reset seed of the fixed-target protocol (Diffusion Policy's and LeRobot's PushT evaluations start there)."""


def fixed_target(
    checkpoint: str | Path | None,
    *,
    episodes: int = 50,
    seed: int = FIXED_TARGET_SEED,
    image_size: int = 64,
    plan_config: PlanConfig | None = None,
    device: str = "cpu",
    precision: str = "bf16",
) -> dict[str, Any]:
    """PushT on gym-pusht's fixed-target protocol: episode k starts from gym-pusht's start distribution
    (``reset(seed=seed + k, options={"start": "gym-pusht", "goal_state": FIXED_TARGET_STATE})``), the goal is the
    block at gym-pusht's fixed T pose, success is coverage > 95% within 300 steps (``success="coverage"``). The goal
    image is the env's frame at ``FIXED_TARGET_STATE``. ``checkpoint=None`` evaluates the random policy.

    Not the paper's protocol (dataset goals 25 steps ahead, 50 steps): a checkpoint trained on dataset-goal data is
    asked here for far longer-horizon pushes. Returns success with its Wilson interval and the mean over episodes of
    the best reward (clip(coverage / 0.95, 0, 1)), the two numbers LeRobot reports for Diffusion Policy.
    """
    import lewm_envs  # noqa: F401  (registers the lewm/* envs)
    from lewm_agents.agent import load_agent
    from lewm_agents.evaluate import UniformPolicy
    from lewm_envs.pusht import FIXED_TARGET_STATE, MAX_EPISODE_STEPS_GYM_PUSHT

    budget = MAX_EPISODE_STEPS_GYM_PUSHT
    if checkpoint is not None:
        from lewm_agents.checkpoint import read_checkpoint_meta

        image_size = int(read_checkpoint_meta(Path(checkpoint)).get("model", {}).get("image_size", image_size))
    goal_state = np.asarray(FIXED_TARGET_STATE, dtype=np.float64)
    envs = [
        gym.make("lewm/PushT-v1", success="coverage", max_episode_steps=budget, image_size=image_size)
        for _ in range(episodes)
    ]
    goal = envs[0].reset(seed=seed, options={"state": goal_state, "goal_state": goal_state})[0]  # (h, w, 3)
    if checkpoint is None:
        policy: Any = UniformPolicy(envs[0].action_space, seed)
    else:
        policy = load_agent(
            checkpoint, action_space=envs[0].action_space, plan=plan_config, device=device, precision=precision
        )
        policy.set_goal(goal)
    obs = [env.reset(seed=seed + k, options={"start": "gym-pusht", "goal_state": goal_state})[0] for k, env in
           enumerate(envs)]  # fmt: skip
    success, best = [False] * episodes, [0.0] * episodes
    active = set(range(episodes))
    t0 = time.perf_counter()
    for t in range(budget):
        actions, _ = policy.predict(np.stack(obs), episode_start=np.full(episodes, t == 0))  # (n, A)
        for k in sorted(active):
            obs[k], reward, terminated, truncated, info = envs[k].step(actions[k])
            best[k] = max(best[k], float(reward))
            if terminated or truncated:
                active.discard(k)
                success[k] = bool(terminated and info.get("is_success", False))
        if not active:
            break
    for env in envs:
        env.close()
    k, n = int(sum(success)), episodes
    lo, hi = wilson_interval(k, n)
    name = "random" if checkpoint is None else str(checkpoint)
    return {
        "protocol": "fixed-target",
        "policy": name,
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "ci95": [lo, hi],
        "mean_max_reward": float(np.mean(best)),
        "seconds": time.perf_counter() - t0,
        "episode_success": success,
        "tables": [
            {
                "title": "Fixed-target protocol (gym-pusht's T, coverage > 95%, 300 steps)",
                "columns": ["policy", "episodes", "success", "95% CI", "mean max reward"],
                "rows": [
                    [
                        "random" if checkpoint is None else Path(checkpoint).name,
                        n,
                        f"{100 * k / n:.0f}%",
                        f"[{100 * lo:.0f}, {100 * hi:.0f}]",
                        f"{np.mean(best):.3f}",
                    ]
                ],
            }
        ],
    }


# ------------------------------------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class DiagnoseConfig:
    """Where is success lost? One diagnostic per call; writes diagnose_<what>.json (+ .png) under --out."""

    what: tyro.conf.Positional[
        Literal["ceiling", "tasks", "latent-cost", "action-rank", "plan-gap", "curve", "fixed-target"]
    ]
    """'ceiling' (plan with the true simulator), 'tasks' (start-goal distances of the protocol), 'latent-cost'
    (latent cost vs true distance on held-out episodes), 'action-rank' (does the model rank the recorded actions
    above random ones on the protocol's pairs?), 'plan-gap' (is the first plan lost in the search or in the model it
    exploits?), 'curve' (success of every saved checkpoint of a run) or 'fixed-target'
    (PushT on gym-pusht's fixed T; without --checkpoint the random policy)."""
    data: Path | None = None
    """Dataset of the protocol's start/goal pairs (default for latent-cost and curve: the checkpoint's)."""
    checkpoint: Path | None = None
    """Run directory (curve) or checkpoint (latent-cost)."""
    episodes: int = 50
    """Protocol episodes (ceiling: its full budget costs ~225k simulated env steps per plan, so fewer), or held-out
    episodes (latent-cost)."""
    out: Path = Path("results/diagnostics")
    """Output directory."""
    device: str = "cpu"
    """Torch device (latent-cost, curve, fixed-target)."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    """Planner of ceiling, plan-gap, curve and fixed-target (default: the paper's CEM; the ceiling's full budget
    simulates ~225k env steps per plan, so e.g. --plan.num-samples 64 --plan.iterations 10 --plan.topk 8
    for a quick bound)."""
    tag: str = ""
    """Suffix of the output name: diagnose_<what>_<tag>.json (e.g. 'random' beside a checkpoint's fixed-target);
    plan-gap also labels its row with it."""
    attach: Path | None = None
    """A benchmark cell (results/<env>/<scale>): write under <cell>/diagnostics/ instead of --out, put every attached
    diagnostic into its results.json and rebuild its report (section "Diagnostics")."""

    def __post_init__(self) -> None:
        if self.what in ("ceiling", "tasks") and self.data is None:
            raise ValueError(f"`lewm diagnose {self.what}` needs --data DATASET.h5 (the protocol draws pairs there).")
        if self.what in ("latent-cost", "action-rank", "plan-gap", "curve") and self.checkpoint is None:
            raise ValueError(f"`lewm diagnose {self.what}` needs --checkpoint RUN_DIR.")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")


DIAGNOSTICS_DIR = "diagnostics"
"""Folder of a benchmark cell that holds its attached diagnostics (``lewm diagnose ... --attach CELL``)."""


def attached_entries(cell: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The tables and figures of every ``<cell>/diagnostics/diagnose_*.json``, in the report's extra-section shape
    (section "Diagnostics", figure paths relative to the cell), sorted by file name. Tables with the same title and
    columns (one diagnostic run per method, e.g. ``--tag lewm``, ``--tag pldm``) become one table, a row per run."""
    out: dict[str, list[dict[str, Any]]] = {"figures": [], "tables": []}
    merged: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for path in sorted((Path(cell) / DIAGNOSTICS_DIR).glob("diagnose_*.json")):
        result = json.loads(path.read_text())
        for table in result.get("tables", []):
            key = (table.get("title", ""), tuple(table.get("columns", [])))
            if key in merged:
                merged[key]["rows"] = merged[key]["rows"] + list(table.get("rows", []))
                continue
            merged[key] = {**table, "rows": list(table.get("rows", [])), "section": "Diagnostics"}
            out["tables"].append(merged[key])
        for fig in result.get("figures", []):
            rel = f"{DIAGNOSTICS_DIR}/{Path(fig['path']).name}"
            out["figures"].append({**fig, "path": rel, "section": "Diagnostics"})
    return out


def attach_to_cell(cell: str | Path) -> dict[str, Any]:
    """Put every attached diagnostic of ``cell`` into its results.json (replacing earlier "Diagnostics" entries) and
    rebuild its report (report.md, plots, index.html); returns the updated results."""
    from lewm_agents.report import load_results, write_report

    cell = Path(cell)
    path = cell / "results.json"
    if not path.exists():
        raise FileNotFoundError(
            f"--attach {cell}: no results.json there. Attach diagnostics to a finished benchmark cell "
            f"(e.g. results/pusht/smoke after `lewm benchmark --env pusht`), or drop --attach and use --out."
        )
    results = load_results(path)
    entries = attached_entries(cell)
    for key in ("figures", "tables"):
        kept = [e for e in results.get(key, []) if e.get("section") != "Diagnostics"]
        results[key] = kept + entries[key]
    path.write_text(json.dumps(results, indent=2))
    write_report(results, cell)
    return results


def diagnose(cfg: DiagnoseConfig) -> dict[str, Any]:
    """Run one diagnostic and write its JSON (and figure) under ``cfg.out`` (``<attach>/diagnostics`` with
    ``cfg.attach``, whose report then shows it); returns the result."""
    out = cfg.attach / DIAGNOSTICS_DIR if cfg.attach else cfg.out
    out.mkdir(parents=True, exist_ok=True)
    name = f"diagnose_{cfg.what}" + (f"_{cfg.tag}" if cfg.tag else "")
    fig = out / f"{name}.png"
    if cfg.what == "ceiling":
        result = protocol_ceiling(cfg.data, episodes=cfg.episodes, plan_config=cfg.plan, figure=fig)
    elif cfg.what == "tasks":
        result = task_stats(cfg.data, episodes=cfg.episodes, figure=fig)
    elif cfg.what == "action-rank":
        result = true_action_rank(cfg.checkpoint, cfg.data, episodes=cfg.episodes, device=cfg.device)
    elif cfg.what == "plan-gap":
        result = plan_gap(
            cfg.checkpoint, cfg.data, episodes=cfg.episodes, plan_config=cfg.plan, device=cfg.device, label=cfg.tag
        )
    elif cfg.what == "latent-cost":
        result = latent_cost_vs_distance(cfg.checkpoint, cfg.data, episodes=cfg.episodes, device=cfg.device, figure=fig)
    elif cfg.what == "fixed-target":
        result = fixed_target(cfg.checkpoint, episodes=cfg.episodes, plan_config=cfg.plan, device=cfg.device)
    else:
        result = success_curve(
            cfg.checkpoint, cfg.data, episodes=cfg.episodes, plan_config=cfg.plan, device=cfg.device, figure=fig
        )
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    if cfg.attach:
        attach_to_cell(cfg.attach)
    return result
