"""``lewm benchmark``: collect -> train -> evaluate -> report, for every requested method on the same data.

All methods (default: every registered one, lewm_agents/methods/, plus the ``random`` sanity row) see the same
dataset, the same number of gradient steps, the same evaluation pairs and seeds, and, where they plan, the same
planner and budget (the cell's `lewm_agents.cells.BenchmarkSpec`). A method that declares its own planner
(`lewm_agents.methods.Method.native_plan`: TD-MPC-style's MPPI) gets one extra row, ``<method>@native``
(``tdmpc@native``): the same run, evaluated a second time with that planner; its main row keeps the common budget.
Every stage caches its output under ``results/<env>/<scale>/`` and a rerun reuses what is finished, so a crashed
stage reruns alone:

    dataset.h5              the dataset (an interrupted collection is topped up)
    runs/<method>/          each method's run (an interrupted training resumes exactly; @native rows share it)
    eval_<row>.json         each row's evaluation (recomputed only when its weights, the protocol or its planner
                            changed), e.g. eval_tdmpc.json and eval_tdmpc@native.json
    videos/, results.json (schema 2, paths relative to the cell), then report.md, plots/ and index.html
                            (lewm_agents/report.py; `lewm report CELL` re-renders them from results.json)

``--protocol fixed-target`` (PushT) or ``ogbench-tasks`` (Cube) evaluates the same runs under that protocol instead of
the paper's: its evaluations, videos, results.json and report go to ``results/<env>/<scale>/<protocol>/``.

A cell written before methods had its LeWM run in ``run/``: it is moved to ``runs/<its method>/`` (a note says so).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch

from lewm_agents.cells import BENCHMARKS, SCALE_NAMES, BenchmarkSpec, Scale
from lewm_agents.checkpoint import list_checkpoints, load_checkpoint, read_checkpoint_meta
from lewm_agents.data import CollectConfig, DatasetReader, collect
from lewm_agents.diagnose import attached_entries
from lewm_agents.eval_protocols import PROTOCOLS, ProtocolName, check_protocol, protocol_env_kwargs, rendering
from lewm_agents.evaluate import EvalConfig, evaluate
from lewm_agents.methods import METHODS
from lewm_agents.monitor import METRICS_FILE
from lewm_agents.planning import PlanConfig
from lewm_agents.report import write_report
from lewm_agents.runtime import resolve_device
from lewm_agents.train import TrainConfig, recipe_diff, schedule_steps, train

RESULTS_SCHEMA = 2
BASELINES: tuple[str, ...] = ("random",)
"""Rows that need no training."""
NATIVE = "native"
"""The variant of a row ``<method>@native``: the method's run, evaluated with its own planner (`Method.native_plan`)."""


def _all_methods() -> tuple[str, ...]:
    """Every row, in report order: each registered method, right after it its native-planner row where it declares
    one (``tdmpc@native``), then the baselines."""
    rows = [(name, f"{name}@{NATIVE}") if m.native_plan is not None else (name,) for name, m in METHODS.items()]
    return (*(r for row in rows for r in row), *BASELINES)


def split_row(row: str) -> tuple[str, str | None]:
    """A row key -> (the method or baseline, the variant or None): ``"tdmpc@native"`` -> ``("tdmpc", "native")``."""
    base, _, variant = row.partition("@")
    return base, variant or None


def _row_plan(row: str, spec: BenchmarkSpec) -> PlanConfig:
    """The planner a row is evaluated with: the cell's (the common budget), or the method's own for ``@native``."""
    base, variant = split_row(row)
    if variant == NATIVE:
        return METHODS[base].native_plan
    return spec.plan


def _row_label(row: str) -> str:
    """The report label: the method's, or for ``x@native`` its short name and planner, e.g. "TD-MPC-style, native
    MPPI (512x6, H=3)"."""
    base, variant = split_row(row)
    if base not in METHODS:
        return row
    if variant != NATIVE:
        return METHODS[base].label
    p = METHODS[base].native_plan  # the rest of it (replanning, std bounds) is in the row's settings
    short = METHODS[base].label.split(" (")[0]  # plots show the label up to its parenthesis
    return f"{short}, native {p.solver.upper()} ({p.num_samples}x{p.iterations}, H={p.horizon})"


@dataclass(frozen=True)
class BenchmarkConfig:
    """Run the whole protocol for one env at one scale, for every method, and write results.json, report.md, plots
    and videos."""

    env: str = "tworoom"
    """Benchmark env (short name)."""
    scale: Scale = "smoke"
    """smoke | small | gpu | paper."""
    out: Path = Path("results")
    """Results root: results/<env>/<scale>/ holds the dataset, the runs, the videos and the reports."""
    methods: tuple[str, ...] = _all_methods()
    """Rows to run, in report order: registered methods (lewm, pldm, gcbc, ...), the native-planner rows of the
    methods that declare one (tdmpc@native: TD-MPC-style's run planned with TD-MPC2's own MPPI instead of the cell's
    planner; trained once with tdmpc, never retrained for it) and 'random'; `--methods lewm pldm` or
    `--methods lewm,pldm` runs a subset (name tdmpc@native to get that row: tdmpc alone is the common-budget row)."""
    redo: Literal["none", "eval", "all"] = "none"
    """Recompute cached stages: 'eval' reruns the evaluations, 'all' also retrains (the dataset is kept)."""
    device: str = "auto"
    """Torch device for training and planning."""
    time_limit: float | None = None
    """Stop after this many minutes (collection and training checkpoint first); rerun the same command to continue.
    Keeps every command under a job limit, e.g. --time-limit 9 for 10-minute slots."""
    videos: int = 3
    """Evaluation videos per method."""
    protocol: ProtocolName = "dataset-goal"
    """Evaluation protocol: dataset-goal (the paper's), fixed-target (PushT) or ogbench-tasks (Cube); any but
    dataset-goal writes its evaluations and report to results/<env>/<scale>/<protocol>/ (same data and runs)."""
    progress: bool = True
    """Progress bars."""

    def __post_init__(self) -> None:
        if self.env not in BENCHMARKS:
            raise ValueError(f"unknown benchmark env {self.env!r}; valid: {', '.join(BENCHMARKS)}.")
        if self.scale not in BENCHMARKS[self.env]:
            raise ValueError(f"unknown scale {self.scale!r} for {self.env}; valid: {', '.join(BENCHMARKS[self.env])}.")
        methods = tuple(dict.fromkeys(x for m in self.methods for x in m.split(",") if x))  # "a,b" and "a b"
        bad = [m for m in methods if m not in _all_methods()]
        if bad or not methods:
            raise ValueError(
                f"unknown methods {bad}; valid: {', '.join(_all_methods())} (a <method>@{NATIVE} row exists only for "
                "methods that declare their own planner)."
            )
        object.__setattr__(self, "methods", methods)
        check_protocol(self.protocol, BENCHMARKS[self.env][self.scale].env_id)


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
                fast_render=spec.fast_render,
                progress=progress,
            )
        )
        have = _num_episodes(path)
    with DatasetReader(path) as r:
        return {
            "path": path.name,
            "episodes": r.num_episodes,
            "frames": r.num_frames,
            "size_mb": path.stat().st_size / 2**20,
            "policy": r.policy,
            "env_kwargs": dict(r.env_kwargs),
            "collect_s": time.perf_counter() - t0 if start < spec.episodes else None,
            "reused": start >= spec.episodes,
            "finished": r.num_episodes >= spec.episodes,
        }


def _migrate_legacy_run(cell: Path) -> str | None:
    """Move a pre-methods ``<cell>/run`` to ``<cell>/runs/<its method>``; returns a note for the report, or None."""
    old = cell / "run"
    ckpts = list_checkpoints(old)
    if not ckpts:
        return None
    method = read_checkpoint_meta(ckpts[-1])["method"]
    new = cell / "runs" / method
    if new.exists():
        return f"{old} was left in place: {new} exists and is the {method} run used."
    new.parent.mkdir(parents=True, exist_ok=True)
    os.replace(old, new)
    return f"moved {old} to {new} (one run directory per method); its training was reused."


def _equal_budget(recipe: TrainConfig, spec: BenchmarkSpec, data: Path) -> TrainConfig:
    """``recipe`` with the reference recipe's number of gradient steps: a cell set in epochs gives methods with
    other clip lengths (more or fewer clips per epoch) the reference's steps, not its epochs."""
    if recipe.method == spec.train.method or recipe.max_steps is not None:
        return recipe
    steps = schedule_steps(replace(spec.train, data=data))
    if schedule_steps(replace(recipe, data=data)) == steps:
        return recipe  # the same clips per epoch (e.g. the same history): epochs already give equal steps
    return replace(recipe, max_steps=steps)


def _train_stage(
    recipe: TrainConfig, data: Path, run_dir: Path, device: str, redo: bool, progress: bool, deadline: float | None
) -> dict[str, Any]:
    """Train (or resume) to the end of the recipe; with a deadline, checkpoint and stop in time (rerun continues). A
    finished run trained under another recipe is refused (`lewm_agents.train.recipe_diff`)."""
    ckpts = list_checkpoints(run_dir)
    if ckpts and redo:
        shutil.rmtree(run_dir)
        ckpts = []
    reused = bool(ckpts) and bool(read_checkpoint_meta(ckpts[-1]).get("finished"))
    if reused:
        diff = recipe_diff(read_checkpoint_meta(ckpts[-1]).get("train", {}), recipe.to_dict())
        if diff:
            raise ValueError(
                f"{run_dir} holds a finished run trained with other settings than this benchmark's {diff} (saved vs "
                "now). Rerun with --redo all to retrain it (the dataset is kept), or move that run directory away."
            )
        ckpt = str(ckpts[-1])
    else:
        minutes = None if deadline is None else (deadline - time.monotonic()) / 60
        if minutes is not None and minutes < 1.0:  # too little time left to start: the next run trains
            return {"checkpoint": str(ckpts[-1]) if ckpts else "", "finished": False, "reused": False}
        cfg = replace(recipe, data=data, out=run_dir, device=device, resume=bool(ckpts), progress=progress,
                      time_limit=minutes)  # fmt: skip
        ckpt = train(cfg)["checkpoint"]
        if not ckpt:
            return {"checkpoint": "", "finished": False, "reused": False}
    meta = read_checkpoint_meta(ckpt)
    return {
        "checkpoint": ckpt,
        "steps": meta["step"],
        "train_s": meta["train_seconds"],
        "metrics": meta.get("metrics", {}),
        "weights_sha256": meta.get("weights_sha256"),
        "reused": reused,
        "finished": bool(meta.get("finished")),
    }


def _eval_stage(
    spec: BenchmarkSpec, row: str, data: Path, training: dict[str, Any] | None, cell: Path, cfg: BenchmarkConfig
) -> dict[str, Any]:
    """Evaluate one row (a method, its native-planner variant, or random) under the cell's protocol; cached in
    ``eval_<row>.json`` by the weights, the protocol and the planner."""
    method, _ = split_row(row)
    acts = METHODS[method].acts if method in METHODS else "random"
    ecfg = EvalConfig(
        checkpoint=Path(training["checkpoint"]) if training else None,
        data=data,
        policy=method,
        name=row,
        protocol=cfg.protocol,
        episodes=spec.eval_episodes,
        goal_offset=spec.goal_offset,
        budget=spec.budget if cfg.protocol == "dataset-goal" else PROTOCOLS[cfg.protocol].budget,
        seed=spec.seed,
        plan=_row_plan(row, spec),
        videos=cfg.videos,
        out=cell,
        device=cfg.device,
        precision=spec.plan_precision,
        progress=cfg.progress,
    )
    key = {
        "method": row,
        "weights_sha256": training and training["weights_sha256"],  # the weights, wherever the run directory is
        "episodes": ecfg.episodes,
        "goal_offset": ecfg.goal_offset,
        "budget": ecfg.budget,
        "seed": ecfg.seed,
        "plan": asdict(ecfg.plan) if acts == "plan" else None,
        "precision": ecfg.precision if acts != "random" else None,
        **({"protocol": cfg.protocol} if cfg.protocol != "dataset-goal" else {}),  # older caches stay valid
    }
    cached = cell / f"eval_{row}.json"
    if cached.exists() and cfg.redo == "none":
        old = json.loads(cached.read_text())
        if old.get("cache_key") == key:
            return {**old, "reused": True}
    result = evaluate(ecfg)
    result["cache_key"] = key
    cached.write_text(json.dumps(result, indent=2))
    return {**result, "reused": False}


def _rel(path: str | None, cell: Path) -> str | None:
    return None if not path else os.path.relpath(path, cell)


def _method_entry(row: str, r: dict[str, Any], training: dict[str, Any] | None, cell: Path) -> dict[str, Any]:
    """One row of results.json (schema 2); a ``<method>@native`` row also says which row's run it shares
    (``trained_as``) and its planner (``plan``)."""
    method, variant = split_row(row)
    m = METHODS.get(method)
    entry: dict[str, Any] = {
        "label": _row_label(row),
        "acts": m.acts if m else "random",
        "success_rate": r["success_rate"],
        "successes": r["successes"],
        "episodes": r["episodes"],
        "ci95": r["ci95"],
        "plan_ms": r.get("plan_ms"),
        "plan_precision": r.get("plan_precision"),  # what ran: 'auto' is settled by measurement on a CPU
        "train_s": training["train_s"] if training else 0,
        "eval_s": r["seconds"],
        "steps": training["steps"] if training else 0,
        "parameters": None,
        "checkpoint": None,
        "metrics_file": None,
        "videos": [_rel(v, cell) for v in r["videos"]],
        "hparams": {},
        "cached": {"train": bool(training and training["reused"]), "eval": r["reused"]},
    }
    if m and training:
        ckpt = load_checkpoint(training["checkpoint"])
        run_dir = Path(training["checkpoint"]).parents[1]
        entry.update(
            parameters=sum(p.numel() for p in ckpt.model.parameters()),
            checkpoint=_rel(training["checkpoint"], cell),
            metrics_file=_rel(str(run_dir / METRICS_FILE), cell),
            hparams=m.hparams(ckpt.config),
            final_metrics={k: v for k, v in training["metrics"].items() if isinstance(v, float)},
        )
    if variant is not None:
        entry.update(trained_as=method, plan=r.get("plan_config"))
    return entry


def _extra_entries(cell: Path, out: Path) -> dict[str, list[dict[str, Any]]]:
    """The report's extra figures and tables that other commands attached to this cell, kept when the benchmark
    rewrites results.json: the diagnostics of `lewm diagnose ... --attach CELL` (read afresh from the cell), and
    every other section already in results.json (latent analyses of `lewm analyses`, the planning frontier of
    benchmarks/plan_pareto.py) whose figure files still exist."""
    extra = attached_entries(cell)
    try:
        old = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):  # no earlier report (or an unreadable one: it is rewritten below)
        return extra
    for key in ("figures", "tables"):
        kept = [e for e in old.get(key, []) if isinstance(e, dict) and e.get("section") != "Diagnostics"]
        if key == "figures":
            kept = [e for e in kept if isinstance(e.get("path"), str) and (out / e["path"]).exists()]
        extra[key] = kept + extra[key]
    return extra


def run_benchmark(cfg: BenchmarkConfig) -> dict[str, Any]:
    """Run (or reuse) every stage, write results.json (schema 2), then the report (report.md, plots/, index.html:
    `lewm_agents.report.write_report`); returns the results dict.

    With ``cfg.time_limit``, a stage that runs out of time stops safely and the returned dict has
    ``"unfinished": "<stage>"`` and no results: rerunning the same command continues from the files.
    """
    spec = BENCHMARKS[cfg.env][cfg.scale]
    cell = Path(cfg.out) / cfg.env / cfg.scale
    cell.mkdir(parents=True, exist_ok=True)
    deadline = None if cfg.time_limit is None else time.monotonic() + 60 * cfg.time_limit
    notes = [n for n in [_migrate_legacy_run(cell)] if n]
    data_path = cell / "dataset.h5"
    out = cell if cfg.protocol == "dataset-goal" else cell / cfg.protocol  # evaluations, videos, report
    out.mkdir(exist_ok=True)
    dataset = _collect_stage(spec, data_path, cfg.progress, deadline)
    if not dataset["finished"]:
        return {"env": cfg.env, "scale": cfg.scale, "unfinished": "collect", "dataset": dataset, "notes": notes}
    methods: dict[str, Any] = {}
    trainings: dict[str, dict[str, Any]] = {}  # per method: a native-planner row shares its method's run
    success_rule = None
    for row in cfg.methods:
        method, _ = split_row(row)
        training = trainings.get(method)
        if method in METHODS and training is None:
            run_dir = cell / "runs" / method
            recipe = _equal_budget(spec.recipe(method), spec, data_path)
            training = _train_stage(recipe, data_path, run_dir, cfg.device, cfg.redo == "all", cfg.progress, deadline)
            if not training["finished"]:
                return {"env": cfg.env, "scale": cfg.scale, "unfinished": f"train {method}", "dataset": dataset,
                        "train": training, "notes": notes}  # fmt: skip
            trainings[method] = training
        r = _eval_stage(spec, row, data_path, training, out, cfg)
        success_rule = success_rule or r.get("success_rule")
        methods[row] = _method_entry(row, r, training, out)
    device = resolve_device(cfg.device)
    results = {
        "schema": RESULTS_SCHEMA,
        "env": cfg.env,
        "env_id": spec.env_id,
        "scale": cfg.scale,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": {
            "name": cfg.protocol,
            "description": PROTOCOLS[cfg.protocol].description,
            "env_id": spec.env_id,
            "env_kwargs": protocol_env_kwargs(cfg.protocol, dataset["env_kwargs"]),
            "episodes": spec.eval_episodes,
            "goal_offset": spec.goal_offset if cfg.protocol == "dataset-goal" else None,
            "budget": spec.budget if cfg.protocol == "dataset-goal" else PROTOCOLS[cfg.protocol].budget,
            "seed": spec.seed,
            # dataset-goal draws its pairs from every episode, 90% of which train the models; the others start fresh
            "starts_from_training_episodes": cfg.protocol == "dataset-goal",
            "success_rule": success_rule,
            "plan": asdict(spec.plan),
            "plan_precision": spec.plan_precision,
            "rendering": rendering(dataset["env_kwargs"]),
        },
        "dataset": {**dataset, "path": _rel(str(data_path), out)},
        "methods": methods,
        "notes": notes,
        **_extra_entries(cell, out),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))  # first: the report is rebuilt from it
    write_report(results, out)
    return results


__all__ = [
    "BASELINES",
    "BENCHMARKS",
    "NATIVE",
    "RESULTS_SCHEMA",
    "SCALE_NAMES",
    "BenchmarkConfig",
    "BenchmarkSpec",
    "run_benchmark",
    "split_row",
]
