"""Success against planning time: the frontier of planners on shipped LeWM checkpoints (issue 15).

For each env (TwoRoom, PushT), one world-model checkpoint (default: the one shipped in lewm_agents/pretrained/), the
dataset-goal protocol of the benchmark (50 start/goal pairs, seed 42, goal 25 steps ahead, budget 50 steps, all
episodes planned in one batched call), and a grid of planners: CEM over samples x iterations (the paper's 300 x 30
first), iCEM, MPPI, the gradient solver, the amortized goal policy alone (no search) and policy-seeded planners.
Each row: success with its Wilson 95% interval, milliseconds per decision per env (the agent's timing: encoding and
planning, divided by the envs planned together), the precision that ran, and the speed-up against CEM 300 x 30.

Writes, per env, into ``--out/<env>/<scale>/frontier/``: ``frontier.json`` (rows; a cache: rerunning skips rows
already measured with the same settings), ``frontier.png`` (success vs ms per decision, log scale, the Pareto front
drawn) and ``frontier.md``; and, when that cell has a results.json (a benchmark run), adds the figure and table to
its report (``results["figures"]`` / ``results["tables"]``, section "Planning frontier") and rebuilds the report.

The dataset is the cell's (``--out/<env>/<scale>/dataset.h5``; collected with the cell's spec when missing, the
scale being the checkpoint card's). The goal policy comes from beside the checkpoint when it matches its weights;
otherwise the checkpoint is copied into the frontier folder and a policy is trained there (``lewm train-policy``).

Usage:
    python benchmarks/plan_pareto.py                       # both envs, the full grid
    python benchmarks/plan_pareto.py --envs tworoom --grid quick
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import tyro

from lewm_agents.planning import PlanConfig

PAPER = PlanConfig()  # CEM 300 x 30, topk 30, horizon 5


def _cem(s: int, i: int, **kw: Any) -> PlanConfig:
    return replace(PAPER, num_samples=s, iterations=i, topk=max(2, min(30, s // 10)), **kw)


GRIDS: dict[str, dict[str, PlanConfig]] = {
    "full": {
        "cem 300x30 (paper)": PAPER,
        "cem 300x10": _cem(300, 10),
        "cem 100x10": _cem(100, 10),
        "cem 100x3": _cem(100, 3),
        "cem 30x3": _cem(30, 3),
        "icem 100x10": _cem(100, 10, solver="icem"),
        "icem 30x3": _cem(30, 3, solver="icem"),
        "mppi 100x10": _cem(100, 10, solver="mppi"),
        "gradient 16x10": replace(PAPER, solver="gradient", num_samples=16, iterations=10, topk=2),
        "policy alone": replace(PAPER, policy="only"),
        "policy + cem 30x3": _cem(30, 3, policy="seed"),
        "policy + icem 30x3": _cem(30, 3, solver="icem", policy="seed"),
        "policy + cem 100x10": _cem(100, 10, policy="seed"),
    },
    "quick": {
        "cem 300x30 (paper)": PAPER,
        "cem 30x3": _cem(30, 3),
        "icem 30x3": _cem(30, 3, solver="icem"),
        "policy alone": replace(PAPER, policy="only"),
        "policy + cem 30x3": _cem(30, 3, policy="seed"),
    },
}


@dataclass(frozen=True)
class ParetoConfig:
    envs: tuple[str, ...] = ("tworoom", "pusht")
    """Envs (keys of lewm_agents.cells.BENCHMARKS) whose checkpoint is measured."""
    checkpoints: tuple[str, ...] = ()
    """Checkpoint per env (run or checkpoint directories), in the order of --envs; default: the shipped ones."""
    grid: Literal["full", "quick"] = "full"
    """Planner grid: 'full' (13 rows) or 'quick' (5 rows)."""
    episodes: int = 50
    """Start/goal pairs per row (the paper's 50)."""
    out: Path = Path("results")
    """Cells root: rows go to OUT/<env>/<scale>/frontier/."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """Planning precision ('auto': measured per workload on a CPU; the rows say what ran)."""
    threads: int = 1
    """Torch threads."""
    policy_steps: int = 3000
    """Training steps of the goal policy when one has to be trained."""
    redo: bool = False
    """Measure every row again (default: reuse rows of frontier.json measured with the same settings)."""


def _checkpoint_and_scale(env: str, given: str | None) -> tuple[Path, str]:
    from lewm_agents.checkpoint import find_checkpoint
    from lewm_agents.pretrained import card, pretrained_path

    if given:
        ckpt = find_checkpoint(given)
        meta = json.loads((ckpt / "config.json").read_text())
        return ckpt, str(meta.get("scale") or "small")
    return pretrained_path(env), str(card(env).get("scale", "smoke"))


def _dataset(env: str, scale: str, cell: Path) -> Path:
    from lewm_agents.benchmark import _collect_stage
    from lewm_agents.cells import BENCHMARKS

    path = cell / "dataset.h5"
    _collect_stage(BENCHMARKS[env][scale], path, progress=True, deadline=None)
    return path


def _policy_checkpoint(ckpt: Path, data: Path, frontier: Path, steps: int) -> tuple[Path, dict[str, Any]]:
    """A checkpoint directory with a goal policy matching its weights: the given one, or a copy with a new policy."""
    from lewm_agents.checkpoint import CheckpointError
    from lewm_agents.goal_policy import CONFIG, GoalPolicyConfig, load_goal_policy, train_goal_policy

    for candidate in (ckpt, frontier / "checkpoint"):
        try:
            load_goal_policy(candidate)
            return candidate, json.loads((candidate / CONFIG).read_text())
        except (CheckpointError, FileNotFoundError):
            continue
    copy = frontier / "checkpoint"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(ckpt, copy, ignore=shutil.ignore_patterns("goal_policy.*"))
    print(f"training the goal policy of {ckpt} ({steps} steps) into {copy}", flush=True)
    info = train_goal_policy(copy, data, GoalPolicyConfig(steps=steps))
    print(f"  val loss {info['val_loss']:.3f} (mean action: {info['val_loss_mean_action']:.3f}), "
          f"{info['train_s']:.0f} s", flush=True)  # fmt: skip
    return copy, info


def _measure(ckpt: Path, data: Path, plan: PlanConfig, cfg: ParetoConfig) -> dict[str, Any]:
    from lewm_agents.evaluate import EvalConfig, evaluate

    ecfg = EvalConfig(
        checkpoint=ckpt, data=data, plan=plan, episodes=cfg.episodes, videos=0, progress=False, precision=cfg.precision
    )
    r = evaluate(ecfg)
    keys = ("success_rate", "successes", "episodes", "ci95", "plan_ms", "num_plan_calls", "plan_precision", "seconds")
    out = {k: r.get(k) for k in keys}
    # every env is decided in every call (finished ones too): per env, num_plan_calls decisions over its steps
    out["ms_per_step"] = r["plan_ms"] * r["num_plan_calls"] / max(1.0, sum(r["steps"]) / len(r["steps"]))
    return out


def pareto_front(rows: list[dict[str, Any]]) -> list[str]:
    """Names of the rows no other row beats in both time (lower) and success (higher or equal, strictly better in one).

    >>> pareto_front([{"name": "a", "plan_ms": 1, "success_rate": .5}, {"name": "b", "plan_ms": 2, "success_rate": .4}])
    ['a']
    """
    front = []
    for r in rows:
        beaten = any(
            o["plan_ms"] <= r["plan_ms"]
            and o["success_rate"] >= r["success_rate"]
            and (o["plan_ms"] < r["plan_ms"] or o["success_rate"] > r["success_rate"])
            for o in rows
        )
        if not beaten:
            front.append(r["name"])
    return front


def _plot(rows: list[dict[str, Any]], front: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        kind = "policy" if r["name"].startswith("policy") else r["name"].split()[0]
        color = {"cem": "C0", "icem": "C1", "mppi": "C2", "gradient": "C3", "policy": "C4"}[kind]
        lo, hi = r["ci95"]
        err = [[100 * (r["success_rate"] - lo)], [100 * (hi - r["success_rate"])]]
        ax.errorbar(r["plan_ms"], 100 * r["success_rate"], yerr=err, fmt="o", color=color, capsize=3, ms=5)
        ax.annotate(r["name"], (r["plan_ms"], 100 * r["success_rate"]), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")  # fmt: skip
    pts = sorted((r["plan_ms"], 100 * r["success_rate"]) for r in rows if r["name"] in front)
    if pts:
        ax.step(
            [p[0] for p in pts], [p[1] for p in pts], where="post", color="k", lw=1, alpha=0.5, label="Pareto front"
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ms per decision per env (log)")
    ax.set_ylabel("success % (95% CI)")
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _table(rows: list[dict[str, Any]], front: list[str]) -> tuple[list[str], list[list[Any]]]:
    ref = next((r for r in rows if r["name"].startswith("cem 300x30")), None)
    cols = ["planner", "success", "95% CI", "ms / decision", "x cheaper than CEM 300x30", "ms / env step", "precision",
            "front"]  # fmt: skip
    out = []
    for r in sorted(rows, key=lambda r: r["plan_ms"]):
        lo, hi = r["ci95"]
        speed = f"{ref['plan_ms'] / r['plan_ms']:.1f}x" if ref else "-"
        out.append([
            r["name"], f"{100 * r['success_rate']:.0f}% ({r['successes']}/{r['episodes']})",
            f"[{100 * lo:.0f}, {100 * hi:.0f}]", round(r["plan_ms"], 2), speed, round(r["ms_per_step"], 2),
            r["plan_precision"],
            "yes" if r["name"] in front else "",
        ])  # fmt: skip
    return cols, out


def report_entries(env: str, cols: list[str], table: list[list[Any]], note: str) -> dict[str, list[dict[str, Any]]]:
    """The frontier as the report's extra ``figures`` / ``tables`` entries (paths relative to the cell)."""
    section = "Planning frontier"
    figure = {"title": f"{env}: success vs planning time", "path": "frontier/frontier.png", "caption": note,
              "section": section, "method": "lewm"}  # fmt: skip
    tab = {"title": "Planners", "columns": cols, "rows": table, "caption": note, "section": section, "method": "lewm"}
    return {"figures": [figure], "tables": [tab]}


def _attach_to_report(cell: Path, entries: dict[str, list[dict[str, Any]]]) -> bool:
    """Put the frontier into the cell's results.json (replacing an earlier one) and rebuild its report."""
    results_path = cell / "results.json"
    if not results_path.is_file():
        return False
    from lewm_agents.report import write_report

    results = json.loads(results_path.read_text())
    for key in ("figures", "tables"):
        kept = [e for e in results.get(key, []) if e.get("section") != "Planning frontier"]
        results[key] = [*kept, *entries[key]]
    results_path.write_text(json.dumps(results, indent=2))
    write_report(results, cell)
    return True


def run_env(env: str, given: str | None, cfg: ParetoConfig) -> list[dict[str, Any]]:
    ckpt, scale = _checkpoint_and_scale(env, given)
    cell = cfg.out / env / scale
    frontier = cell / "frontier"
    frontier.mkdir(parents=True, exist_ok=True)
    data = _dataset(env, scale, cell)
    pol_ckpt, pol_info = _policy_checkpoint(ckpt, data, frontier, cfg.policy_steps)
    cache_path = frontier / "frontier.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() and not cfg.redo else {}
    rows = cache.get("rows", {})
    print(f"\n## {env} ({ckpt}, {scale} data: {data}); {cfg.episodes} pairs, {torch.get_num_threads()} thread(s)")
    print(f"{'planner':<22} {'success':>8} {'95% CI':>12} {'ms/decision':>12} {'precision':>9} {'wall s':>7}")
    for name, plan in GRIDS[cfg.grid].items():
        settings = {"plan": asdict(plan), "episodes": cfg.episodes, "precision": cfg.precision, "ckpt": str(ckpt)}
        if name in rows and rows[name]["settings"] == settings:
            r = rows[name]
        else:
            use = pol_ckpt if plan.policy != "off" else ckpt
            r = {"name": name, "settings": settings, **_measure(use, data, plan, cfg)}
            rows[name] = r
            cache_path.write_text(json.dumps({"env": env, "rows": rows, "goal_policy": pol_info}, indent=2))
        lo, hi = r["ci95"]
        print(f"{name:<22} {100 * r['success_rate']:>7.0f}% {f'[{100 * lo:.0f}, {100 * hi:.0f}]':>12} "
              f"{r['plan_ms']:>12.2f} {r['plan_precision']:>9} {r['seconds']:>7.0f}", flush=True)  # fmt: skip
    rows_l = [rows[n] for n in GRIDS[cfg.grid] if n in rows]
    front = pareto_front(rows_l)
    _plot(rows_l, front, f"{env}: LeWM planners ({cfg.episodes} pairs, CPU, {torch.get_num_threads()} thread)",
          frontier / "frontier.png")  # fmt: skip
    cols, table = _table(rows_l, front)
    where = ckpt.relative_to(Path.cwd()) if ckpt.is_relative_to(Path.cwd()) else ckpt
    threads = torch.get_num_threads()
    note = (
        f"LeWM checkpoint {where} ({scale} data), which need not be this cell's own run; dataset-goal protocol, "
        f"{cfg.episodes} pairs, all envs planned in one batched call; ms per decision per env on {threads} CPU "
        f"thread(s), encoding included. The planners decide once per 5 blocks (25 env steps, the paper's open-loop "
        f"plan), the policy alone once per block (5 steps): ms / env step compares them per step."
    )
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(c) for c in row) + " |" for row in table]
    (frontier / "frontier.md").write_text(f"# {env}: planning frontier\n\n{note}\n\n" + "\n".join(md) + "\n")
    entries = report_entries(env, cols, table, note)
    cache_path.write_text(json.dumps({"env": env, "rows": rows, "goal_policy": pol_info, **entries}, indent=2))
    if _attach_to_report(cell, entries):
        print(f"added the frontier to {cell / 'results.json'} and rebuilt the report")
    print(f"written to {frontier}")
    return rows_l


def main(cfg: ParetoConfig) -> None:
    torch.set_num_threads(cfg.threads)
    if cfg.checkpoints and len(cfg.checkpoints) != len(cfg.envs):
        raise SystemExit(f"--checkpoints needs one entry per env ({len(cfg.envs)}), got {len(cfg.checkpoints)}.")
    t0 = time.perf_counter()
    for i, env in enumerate(cfg.envs):
        run_env(env, cfg.checkpoints[i] if cfg.checkpoints else None, cfg)
    print(f"\ndone in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main(tyro.cli(ParetoConfig))
