"""``lewm benchmark``: collect -> train -> evaluate -> report, for LeWM and the sanity baselines, on the same data.

Every stage caches its output under ``results/<env>/<scale>/`` and a rerun reuses what is finished: the dataset (an
interrupted collection is topped up), the checkpoint (an interrupted training resumes exactly), and the evaluations
(recomputed only when the checkpoint or the protocol changed).

Scales: ``ci`` checks the whole pipeline in seconds (the test suite runs it; its numbers mean nothing); ``smoke``
proves the pipeline in minutes on a CPU; ``small`` really learns on 2 CPU cores (minutes to an hour); ``gpu`` is
sized for one GPU in about 15 minutes; ``paper`` is the paper's data size, model and recipe.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch

from lewm_agents.checkpoint import list_checkpoints, read_checkpoint_meta
from lewm_agents.data import CollectConfig, DatasetReader, collect
from lewm_agents.evaluate import EvalConfig, evaluate
from lewm_agents.model import parameter_table
from lewm_agents.planning import PlanConfig
from lewm_agents.runtime import resolve_device
from lewm_agents.train import TRAIN_PRESETS, TrainConfig, train

Scale = Literal["ci", "smoke", "small", "gpu", "paper"]
SCALE_NAMES: tuple[str, ...] = ("ci", "smoke", "small", "gpu", "paper")
METHOD_NAMES: tuple[str, ...] = ("lewm", "random")


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything one (env, scale) cell runs: data size, training recipe, planner and protocol."""

    env_id: str
    episodes: int
    """Episodes collected with ``policy``."""
    train: TrainConfig
    """Training recipe (data and out are filled in by the benchmark)."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    eval_episodes: int = 50
    goal_offset: int = 25
    budget: int = 50
    plan_precision: Literal["auto", "bf16", "fp32"] = "auto"
    """Autocast for planning ('bf16' helps on CPUs with AVX-512 BF16)."""
    collect_workers: int = 1
    """Env processes during collection (pays for render-bound envs on many-core hosts)."""
    policy: str = "default"
    """Collection policy (see `lewm collect --policy`): 'default' is the env's own scripted one."""


def _spec(
    env_id: str,
    scale: str,
    *,
    episodes: int,
    history: int = 3,
    plan: PlanConfig | None = None,
    eval_episodes: int = 50,
    model: dict[str, Any] | None = None,
    preset: str | None = None,
    policy: str = "default",
    **train_overrides: Any,
) -> BenchmarkSpec:
    base = TRAIN_PRESETS[preset or ("smoke" if scale == "ci" else scale)]
    model_cfg = replace(base.model, history=history, **(model or {}))
    train_cfg = replace(base, model=model_cfg, progress=True, **train_overrides)
    return BenchmarkSpec(
        env_id=env_id,
        episodes=episodes,
        train=train_cfg,
        plan=plan or PlanConfig(),
        eval_episodes=eval_episodes,
        plan_precision="bf16" if scale in ("ci", "smoke", "small") else "auto",
        collect_workers=8 if scale in ("gpu", "paper") else 1,
        policy=policy,
    )


# One row per env (the lewm/* envs of lewm_envs). TwoRoom uses a history of 1 frame, as in the paper's text
# (reference/lewm.md §2.5).
BENCHMARKS: dict[str, dict[str, BenchmarkSpec]] = {
    "tworoom": {
        "ci": _spec(
            "lewm/TwoRoom-v1",
            "ci",
            episodes=16,
            history=1,
            max_steps=20,
            batch_size=16,
            eval_episodes=4,
            plan=PlanConfig(num_samples=32, iterations=3, topk=4),
        ),
        # Sized by measurement on 2 cores (1 torch thread, 50-pair protocol). The smoke model needs ~3000 steps to
        # beat random clearly (~590 steps gave 2%; 3000 gave 62%). Bigger models did worse on TwoRoom here, at equal
        # steps and data: latent 128 instead of 64 gave 0% (smoke model) and 22% (small preset, patch 16, 10k steps),
        # a wider encoder with latent 64 gave 34% (3000 steps). TwoRoom's state is 2-D; SIGReg spreads it over every
        # latent dimension (the paper's own caveat on low-intrinsic-dimension data). So `small` keeps the smoke model
        # and scales data (2000 episodes) and steps (10k): 64% at 3000 steps, 72% at 10k in a trial run.
        "smoke": _spec("lewm/TwoRoom-v1", "smoke", episodes=300, history=1, max_steps=3000),
        "small": _spec("lewm/TwoRoom-v1", "small", preset="smoke", episodes=2000, history=1, max_steps=10_000),
        "gpu": _spec("lewm/TwoRoom-v1", "gpu", episodes=5000, history=1, epochs=10),
        "paper": _spec("lewm/TwoRoom-v1", "paper", episodes=10000, history=1),
    },
    "pusht": {
        "ci": _spec(
            "lewm/PushT-v1",
            "ci",
            episodes=8,
            max_steps=20,
            batch_size=16,
            eval_episodes=4,
            plan=PlanConfig(num_samples=32, iterations=3, topk=4),
        ),
        # Issue 13 (2 shared cores, 1 thread, 50 pairs): v1 smoke scores 0/50 vs random 0/50. On v0 the smoke model at
        # 3000 steps scored 8% (pusher data) / 6% (expert data) vs random 4%, and 20% vs 2% at goal offset 10: the
        # model ranks the recorded actions in its top 0.3%, but 25-step goals move the block ~100 units and ~40
        # degrees, and CEM through the true simulator reached 1 of 3 (lewm diagnose). Sizes unchanged until a setting
        # is measured to beat random on v1.
        "smoke": _spec("lewm/PushT-v1", "smoke", episodes=200, epochs=2),
        "small": _spec("lewm/PushT-v1", "small", episodes=2000, epochs=6),
        # ~500k frames and ~32k steps at batch 128: about 13 minutes on one H100 at 5-10% MFU (in stages of < 10 min
        # with --time-limit 9; arithmetic in the issue-4 notes). Unmeasured: no GPU was available.
        "gpu": _spec("lewm/PushT-v1", "gpu", episodes=2500, epochs=10),
        "paper": _spec("lewm/PushT-v1", "paper", episodes=13000),  # x 300 steps ~ the paper's 20k x 196 frames
    },
    "reacher": {
        "ci": _spec(
            "lewm/Reacher-v1",
            "ci",
            episodes=4,
            max_steps=20,
            batch_size=16,
            eval_episodes=4,
            plan=PlanConfig(num_samples=32, iterations=3, topk=4),
        ),
        "smoke": _spec("lewm/Reacher-v1", "smoke", episodes=100, epochs=2),
        "small": _spec("lewm/Reacher-v1", "small", episodes=1000, epochs=6),
        "gpu": _spec("lewm/Reacher-v1", "gpu", episodes=5000, epochs=10),
        "paper": _spec("lewm/Reacher-v1", "paper", episodes=10000),
    },
    "cube": {
        "ci": _spec(
            "lewm/Cube-v1",
            "ci",
            episodes=2,
            max_steps=10,
            batch_size=16,
            eval_episodes=2,
            plan=PlanConfig(num_samples=32, iterations=3, topk=4),
        ),
        "smoke": _spec("lewm/Cube-v1", "smoke", episodes=30, epochs=2),
        "small": _spec("lewm/Cube-v1", "small", episodes=300, epochs=6),
        "gpu": _spec("lewm/Cube-v1", "gpu", episodes=3000, epochs=10),
        "paper": _spec("lewm/Cube-v1", "paper", episodes=10000),
    },
}


@dataclass(frozen=True)
class BenchmarkConfig:
    """Run the whole protocol for one env at one scale and write results.json, report.md, plots and videos."""

    env: str = "tworoom"
    """Benchmark env (short name)."""
    scale: Scale = "smoke"
    """smoke | small | gpu | paper."""
    out: Path = Path("results")
    """Results root: results/<env>/<scale>/ holds the dataset, the run, the videos and the reports."""
    methods: tuple[str, ...] = METHOD_NAMES
    """Methods to evaluate."""
    redo: Literal["none", "eval", "all"] = "none"
    """Recompute cached stages: 'eval' reruns the evaluations, 'all' also retrains (the dataset is kept)."""
    device: str = "auto"
    """Torch device for training and planning."""
    time_limit: float | None = None
    """Stop after this many minutes (collection and training checkpoint first); rerun the same command to continue.
    Keeps every command under a job limit, e.g. --time-limit 9 for 10-minute slots."""
    videos: int = 3
    """Evaluation videos per method."""
    progress: bool = True
    """Progress bars."""

    def __post_init__(self) -> None:
        if self.env not in BENCHMARKS:
            raise ValueError(f"unknown benchmark env {self.env!r}; valid: {', '.join(BENCHMARKS)}.")
        if self.scale not in BENCHMARKS[self.env]:
            raise ValueError(f"unknown scale {self.scale!r} for {self.env}; valid: {', '.join(BENCHMARKS[self.env])}.")
        bad = [m for m in self.methods if m not in METHOD_NAMES]
        if bad:
            raise ValueError(f"unknown methods {bad}; valid: {', '.join(METHOD_NAMES)}.")


def _num_episodes(path: Path) -> int:
    if not path.exists():
        return 0
    with DatasetReader(path) as r:
        return r.num_episodes


def _collect_stage(spec: BenchmarkSpec, path: Path, progress: bool, deadline: float | None) -> dict[str, Any]:
    """Top the dataset up to ``spec.episodes``; with a deadline, in chunks that each append (crash-safe anyway)."""
    have = start = _num_episodes(path)
    t0 = time.perf_counter()
    chunk = spec.episodes if deadline is None else max(1, spec.episodes // 20)
    while have < spec.episodes and (deadline is None or time.monotonic() < deadline):
        collect(
            CollectConfig(
                env=spec.env_id,
                episodes=min(chunk, spec.episodes - have),
                out=path,
                image_size=spec.train.model.image_size,
                seed=0,
                policy=spec.policy,
                workers=spec.collect_workers,
                progress=progress,
            )
        )
        have = _num_episodes(path)
    with DatasetReader(path) as r:
        return {
            "path": str(path),
            "episodes": r.num_episodes,
            "frames": r.num_frames,
            "size_mb": path.stat().st_size / 2**20,
            "policy": r.policy,
            "collect_s": time.perf_counter() - t0 if start < spec.episodes else None,
            "reused": start >= spec.episodes,
            "finished": r.num_episodes >= spec.episodes,
        }


# Settings that only change how a run executes, not what it learns: a finished run trained under other values of
# these is still this cell's run.
_RUNTIME_ONLY = {"data", "out", "device", "devices", "resume", "progress", "num_workers", "prefetch", "in_memory",
                 "compile", "deterministic", "time_limit", "log_every", "ckpt_every", "keep_last"}  # fmt: skip


def _check_same_recipe(recipe: TrainConfig, meta: dict[str, Any], run_dir: Path) -> None:
    """Refuse to report a finished run that was trained with another recipe than this cell's (e.g. after an upgrade)."""
    saved, now = meta.get("train", {}), recipe.to_dict()
    diff = {k: (saved[k], now[k]) for k in now if k not in _RUNTIME_ONLY and k in saved and saved[k] != now[k]}
    if diff:
        raise ValueError(
            f"{run_dir} holds a finished run trained with other settings than this benchmark's {diff} (saved vs now). "
            "Rerun with --redo all to retrain it (the dataset is kept), or move that run directory away first."
        )


def _train_stage(
    spec: BenchmarkSpec, data: Path, run_dir: Path, device: str, redo: bool, progress: bool, deadline: float | None
) -> dict[str, Any]:
    """Train (or resume) to the end of the recipe; with a deadline, checkpoint and stop in time (rerun continues)."""
    ckpts = list_checkpoints(run_dir)
    if ckpts and redo:
        import shutil

        shutil.rmtree(run_dir)
        ckpts = []
    if ckpts and read_checkpoint_meta(ckpts[-1]).get("finished"):
        meta = read_checkpoint_meta(ckpts[-1])
        _check_same_recipe(spec.train, meta, run_dir)
        return {
            "checkpoint": str(ckpts[-1]),
            "steps": meta["step"],
            "train_s": meta["train_seconds"],
            "metrics": meta.get("metrics", {}),
            "reused": True,
            "finished": True,
        }
    minutes = None if deadline is None else (deadline - time.monotonic()) / 60
    if minutes is not None and minutes < 1.0:  # too little time left to start: the next run trains
        return {"checkpoint": str(ckpts[-1]) if ckpts else "", "finished": False, "reused": False}
    cfg = replace(spec.train, data=data, out=run_dir, device=device, resume=bool(ckpts), progress=progress,
                  time_limit=minutes)  # fmt: skip
    summary = train(cfg)
    if not summary["checkpoint"]:
        return {"checkpoint": "", "finished": False, "reused": False}
    meta = read_checkpoint_meta(summary["checkpoint"])
    return {
        "checkpoint": summary["checkpoint"],
        "steps": meta["step"],
        "train_s": meta["train_seconds"],
        "metrics": meta.get("metrics", {}),
        "reused": False,
        "finished": bool(meta.get("finished")),
    }


def _eval_stage(
    spec: BenchmarkSpec, method: str, data: Path, ckpt: str | None, cell: Path, cfg: BenchmarkConfig
) -> dict[str, Any]:
    ecfg = EvalConfig(
        checkpoint=Path(ckpt) if method == "lewm" and ckpt else None,
        data=data,
        policy=method,
        episodes=spec.eval_episodes,
        goal_offset=spec.goal_offset,
        budget=spec.budget,
        plan=spec.plan,
        videos=cfg.videos,
        out=cell,
        device=cfg.device,
        precision=spec.plan_precision,
        progress=cfg.progress,
    )
    key = {
        "checkpoint": ecfg.checkpoint and str(ecfg.checkpoint),
        "episodes": ecfg.episodes,
        "goal_offset": ecfg.goal_offset,
        "budget": ecfg.budget,
        "plan": asdict(ecfg.plan),
        "precision": ecfg.precision,
    }
    cached = cell / f"eval_{method}.json"
    if cached.exists() and cfg.redo == "none":
        old = json.loads(cached.read_text())
        if old.get("cache_key") == key:
            return old
    result = evaluate(ecfg)
    result["cache_key"] = key
    cached.write_text(json.dumps(result, indent=2))
    return result


def run_benchmark(cfg: BenchmarkConfig) -> dict[str, Any]:
    """Run (or reuse) every stage and write results.json and report.md; returns the results dict.

    With ``cfg.time_limit``, a stage that runs out of time stops safely and the returned dict has
    ``"unfinished": "<stage>"`` and no results: rerunning the same command continues from the files.
    """
    spec = BENCHMARKS[cfg.env][cfg.scale]
    cell = Path(cfg.out) / cfg.env / cfg.scale
    cell.mkdir(parents=True, exist_ok=True)
    deadline = None if cfg.time_limit is None else time.monotonic() + 60 * cfg.time_limit
    data_path = cell / "dataset.h5"
    dataset = _collect_stage(spec, data_path, cfg.progress, deadline)
    if not dataset["finished"]:
        return {"env": cfg.env, "scale": cfg.scale, "unfinished": "collect", "dataset": dataset}
    training = None
    if "lewm" in cfg.methods:
        training = _train_stage(spec, data_path, cell / "run", cfg.device, cfg.redo == "all", cfg.progress, deadline)
        if not training["finished"]:
            return {"env": cfg.env, "scale": cfg.scale, "unfinished": "train", "dataset": dataset, "train": training}
    methods: dict[str, Any] = {}
    for method in cfg.methods:
        r = _eval_stage(spec, method, data_path, training and training["checkpoint"], cell, cfg)
        methods[method] = {
            "success_rate": r["success_rate"],
            "ci95": r["ci95"],
            "episodes": r["episodes"],
            "successes": r["successes"],
            "plan_ms": r.get("plan_ms", 0.0),
            "train_s": training["train_s"] if method == "lewm" and training else 0.0,
            "eval_s": r["seconds"],
            "videos": r["videos"],
        }
    params = None
    if training:
        from lewm_agents.checkpoint import load_checkpoint

        params = parameter_table(load_checkpoint(training["checkpoint"]).model)
    device = resolve_device(cfg.device)
    results = {
        "env": cfg.env,
        "env_id": spec.env_id,
        "scale": cfg.scale,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": {
            "episodes": spec.eval_episodes,
            "goal_offset": spec.goal_offset,
            "budget": spec.budget,
            "seed": 42,
            "plan": asdict(spec.plan),
            "plan_precision": spec.plan_precision,
        },
        "dataset": dataset,
        "train": training,
        "parameters": params,
        "methods": methods,
    }
    (cell / "results.json").write_text(json.dumps(results, indent=2))
    (cell / "report.md").write_text(render_report(results))
    _plot(results, cell / "success.png")
    return results


def render_report(results: dict[str, Any]) -> str:
    """A Markdown report: the results table, then what produced it."""
    lines = [
        f"# {results['env']} / {results['scale']}",
        "",
        "| method | success | 95% CI | episodes | plan ms / env | train s |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in results["methods"].items():
        lo, hi = m["ci95"]
        plan = f"{m['plan_ms']:.1f}" if m["plan_ms"] else "-"
        lines.append(
            f"| {name} | {100 * m['success_rate']:.1f}% ({m['successes']}/{m['episodes']}) | "
            f"[{100 * lo:.1f}, {100 * hi:.1f}] | {m['episodes']} | {plan} | {m['train_s']:.0f} |"
        )
    d, p = results["dataset"], results["protocol"]
    lines += [
        "",
        f"- env: `{results['env_id']}`; device: {results['device']}; created {results['created']}",
        f"- data: {d['episodes']} episodes, {d['frames']} frames ({d['size_mb']:.1f} MB), policy `{d['policy']}`",
        f"- protocol: {p['episodes']} start/goal pairs from the dataset (seed {p['seed']}), goal "
        f"{p['goal_offset']} steps ahead, budget {p['budget']} steps; planner {p['plan']['solver']} "
        f"{p['plan']['num_samples']} samples x {p['plan']['iterations']} iterations, horizon "
        f"{p['plan']['horizon']} blocks, {p['plan_precision']} precision",
        "- plan ms / env: wall time of a planning call divided by the envs it planned together",
    ]
    if results.get("train"):
        t = results["train"]
        lines.append(
            f"- training: {t['steps']} steps, {t['train_s']:.0f} s; final metrics "
            + ", ".join(f"{k} {v:.4g}" for k, v in sorted(t["metrics"].items()) if isinstance(v, float))
        )
    if results.get("parameters"):
        lines.append("- parameters: " + ", ".join(f"{k} {v:,}" for k, v in results["parameters"].items()))
    vids = [v for m in results["methods"].values() for v in m["videos"]]
    if vids:
        lines.append("- videos (agent view | goal): " + ", ".join(f"`{Path(v).name}`" for v in vids))
    return "\n".join(lines) + "\n"


def _plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional (install the dev or all extra)
        return
    names = list(results["methods"])
    rates = [results["methods"][n]["success_rate"] for n in names]
    err = [
        [r - results["methods"][n]["ci95"][0] for n, r in zip(names, rates)],
        [results["methods"][n]["ci95"][1] - r for n, r in zip(names, rates)],
    ]
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(names, rates, yerr=err, capsize=4, color=["tab:blue", "tab:gray", "tab:orange", "tab:green"][: len(names)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title(f"{results['env']} / {results['scale']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
