"""The ``lewm`` command (tyro over frozen dataclasses): ``collect``, ``train``, ``tune-lambda``, ``eval``,
``benchmark``, ``report``, ``info``, ``merge``, ``video``, ``diagnose``, ``train-policy`` and the latent analyses
``probe``, ``surprise``, ``straightness``, ``latent-map`` and ``analyses``.

Nothing imports this module; it parses arguments, calls the library, and prints what the library returns.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tyro

USAGE = """usage: lewm {collect,train,train-policy,tune-lambda,eval,benchmark,report,info,merge,video,diagnose,probe,
             surprise,straightness,latent-map,analyses} [--help] ...

  collect      record reward-free pixel episodes from a Gymnasium env (or dmc:DOMAIN-TASK) into an HDF5 dataset
  train        train a method on a dataset (--method lewm|pldm|gcbc|dreamer|tdmpc, --preset smoke|small|gpu|paper,
               --devices K)
  train-policy train the amortized goal policy of a world-model run on its frozen latents (the planner's fast mode)
  tune-lambda  search the SIGReg weight lambda with short runs scored by a state probe
  eval         evaluate a checkpoint of any method (or the random policy): --protocol dataset-goal (the paper's),
               fixed-target (PushT) or ogbench-tasks (Cube)
  benchmark    collect -> train -> evaluate -> report for one env and scale, every method on the same data
  report       re-render a benchmark cell's report.md, plots and index.html from its results.json: lewm report CELL
  info         summarise a dataset (.h5, plus a contact sheet PNG) or a checkpoint (run directory)
  merge        merge datasets of one env into a new file: lewm merge OUT IN1 IN2 ...
  video        write an MP4 of chosen episodes: lewm video DATA --episodes 0 5 --out x.mp4
  diagnose     where is success lost: ceiling | tasks | latent-cost | action-rank | plan-gap | curve
               | fixed-target
  probe        linear and MLP probes of physical quantities from frozen latents (several runs: one table)
  surprise     violation of expectation: surprise on teleported / recoloured trajectories, paired t-test
  straightness temporal straightness of latent paths across a run's checkpoints
  latent-map   latents of a grid of agent (and block) positions, projected to 2-D (PNG)
  analyses     all four for every method of a benchmark cell, linked from its report

Run `lewm <command> --help` for the options of a command.
"""


@dataclass(frozen=True)
class InfoConfig:
    """Summarise a dataset file or a checkpoint / run directory."""

    path: tyro.conf.Positional[Path]
    """An HDF5 dataset from `lewm collect`, or a run / checkpoint directory from `lewm train`."""
    json: bool = False
    """Print the summary as JSON."""
    sheet: str = "auto"
    """Contact sheet PNG of sample frames (datasets only): auto (next to the file, NAME.sheet.png), none, or a path."""


@dataclass(frozen=True)
class MergeConfig:
    """Merge datasets of one env (same image size and action space) into a new file, episodes re-indexed from 0."""

    out: tyro.conf.Positional[Path]
    """The new dataset file (rerunning an interrupted merge resumes it)."""
    inputs: tyro.conf.Positional[tuple[Path, ...]]
    """Input datasets, copied in this order."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class VideoConfig:
    """Write chosen episodes of a dataset, one after another, into an MP4."""

    path: tyro.conf.Positional[Path]
    """The dataset file."""
    episodes: tuple[int, ...] = (0,)
    """Episode indices to play, in order (negative ones count from the end)."""
    out: Path = Path("episodes.mp4")
    """The MP4 to write."""
    fps: int = 15
    """Frames per second."""
    min_side: int = 256
    """Upscale smaller frames by an integer factor (nearest neighbour) to at least this side."""


def _print_table(rows: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _cmd_collect(args: list[str]) -> None:
    from lewm_agents.data import CollectConfig, collect

    cfg = tyro.cli(
        CollectConfig,
        args=args,
        prog="lewm collect",
        config=(tyro.conf.PositionalRequiredArgs,),
        description="Record reward-free pixel episodes from a Gymnasium env (any id, a lewm alias or dmc:DOMAIN-TASK) "
        "into an HDF5 dataset; --workers N steps N env processes.",
    )
    stats = collect(cfg)
    _print_table(
        [
            ("dataset", cfg.out),
            *[(k, f"{v:.1f}" if k in ("seconds", "frames_per_s") else int(v)) for k, v in stats.items()],
        ]
    )


def _cmd_merge(args: list[str]) -> None:
    from lewm_agents.data import merge_datasets

    cfg = tyro.cli(MergeConfig, args=args, prog="lewm merge", description=MergeConfig.__doc__)
    stats = merge_datasets(cfg.out, cfg.inputs, progress=cfg.progress)
    _print_table([("dataset", cfg.out), *[(k, f"{v:.1f}" if k == "seconds" else int(v)) for k, v in stats.items()]])


def _cmd_video(args: list[str]) -> None:
    from lewm_agents.data.preview import write_video

    cfg = tyro.cli(VideoConfig, args=args, prog="lewm video", description=VideoConfig.__doc__)
    stats = write_video(cfg.path, cfg.episodes, cfg.out, fps=cfg.fps, min_side=cfg.min_side)
    _print_table([("video", cfg.out), *stats.items()])


def _positional_to_flag(args: list[str], flag: str) -> list[str]:
    """`lewm train DATA ...` -> `--data DATA ...` (tyro keeps the dataclass field optional for presets)."""
    if args and not args[0].startswith("-"):
        return [flag, args[0], *args[1:]]
    return args


def _cmd_train(args: list[str]) -> None:
    from lewm_agents.train.entry import main  # shared with torchrun -m lewm_agents.train

    main(args)


@dataclass(frozen=True)
class TrainPolicyConfig:
    """Train the amortized goal policy of a world-model checkpoint (lewm_agents/goal_policy.py) on hindsight pairs of
    its dataset's frozen latents; it is saved beside the checkpoint (goal_policy.safetensors + goal_policy.json) and
    used by PlanConfig(policy='only' | 'seed')."""

    run: tyro.conf.Positional[Path]
    """Run directory or checkpoint directory of a world model (lewm, pldm)."""
    data: Path | None = None
    """The dataset (default: the checkpoint's training data)."""
    steps: int = 3000
    """Optimiser steps."""
    batch_size: int = 256
    """Pairs per step."""
    hidden: int = 256
    """Width of the policy MLP."""
    blocks: int = 5
    """Action blocks predicted per query (the planner's horizon)."""
    max_goal_steps: int = 50
    """Hindsight goals lie up to this many env steps ahead."""
    device: str = "auto"
    """Torch device."""


def _cmd_train_policy(args: list[str]) -> None:
    cfg = tyro.cli(TrainPolicyConfig, args=args, prog="lewm train-policy", description=TrainPolicyConfig.__doc__)
    from lewm_agents.goal_policy import GoalPolicyConfig, train_goal_policy
    from lewm_agents.runtime import resolve_device

    pcfg = GoalPolicyConfig(
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        hidden=cfg.hidden,
        blocks=cfg.blocks,
        max_goal_steps=cfg.max_goal_steps,
    )
    result = train_goal_policy(cfg.run, cfg.data, pcfg, device=resolve_device(cfg.device))
    _print_table([(k, v) for k, v in result.items()])


def _cmd_tune_lambda(args: list[str]) -> None:
    from lewm_agents.tune import TuneConfig, tune_lambda

    cfg = tyro.cli(
        TuneConfig,
        args=args,
        prog="lewm tune-lambda",
        config=(tyro.conf.PositionalRequiredArgs,),
        description="Search the SIGReg weight lambda: golden-section search over log-spaced candidates, each a "
        "short training run scored by a linear probe of the state on held-out episodes (collapsed runs score "
        "-inf). Writes OUT/lambda_search.json and OUT/lambda_search.png.",
    )
    r = tune_lambda(cfg)
    rows = [
        (
            f"lambda {run['lam']:.4g}",
            "collapsed"
            if run["collapsed"]
            else f"score {run['score']:.4f}  val_pred {run['val_pred_loss']:.4f}  "
            f"eff_rank {run['eff_rank']:.1f}  std {run['emb_std']:.3f}",
        )
        for run in r["runs"]
    ]
    rows += [
        ("criterion", r["criterion"]),
        ("runs trained", f"{r['runs_trained']} of {len(r['candidates'])} candidates"),
        ("chosen lambda", f"{r['chosen_lambda']:.4g}"),
        ("written", f"{Path(cfg.out) / 'lambda_search.json'}, {Path(cfg.out) / 'lambda_search.png'}"),
    ]
    _print_table(rows)


def _pretrained_args(args: list[str]) -> tuple[list[str], Any]:
    """`--pretrained NAME` -> `--checkpoint <shipped dir>`; without --data, a fresh held-out dataset is collected
    with the card's data policy (another seed than training) for the protocol's start/goal pairs."""
    if "--pretrained" not in args and not any(a.startswith("--pretrained=") for a in args):
        return args, None
    rest, name = [], ""
    it = iter(args)
    for a in it:
        if a == "--pretrained":
            name = next(it, "")
        elif a.startswith("--pretrained="):
            name = a.split("=", 1)[1]
        else:
            rest.append(a)
    from lewm_agents.pretrained import card, pretrained_path

    info = card(name)
    rest = ["--checkpoint", str(pretrained_path(name)), *rest]
    if any(a == "--data" or a.startswith("--data=") for a in rest):
        return rest, None
    import tempfile

    from lewm_agents.data import CollectConfig, collect

    tmp = tempfile.TemporaryDirectory(prefix="lewm-eval-")
    data = Path(tmp.name) / "heldout.h5"
    print(f"collecting {info['eval_episodes_collected']} held-out episodes ({info['policy']}) for the protocol ...")
    collect(CollectConfig(env=info["env_id"], episodes=info["eval_episodes_collected"], out=data,
                          image_size=info["image_size"], policy=info["policy"], seed=info.get("eval_seed", 100_000),
                          progress=False))  # fmt: skip
    return [*rest, "--data", str(data)], tmp


def _cmd_eval(args: list[str]) -> None:
    from lewm_agents.evaluate import EvalConfig, evaluate

    args = _positional_to_flag(args, "--checkpoint")
    args, _tmp = _pretrained_args(args)  # _tmp keeps a collected held-out dataset alive until the end
    cfg = tyro.cli(
        EvalConfig,
        args=args,
        prog="lewm eval",
        description="Evaluate a checkpoint of any method under a goal-reaching protocol: by default the paper's "
        "(start and goal from the dataset, goal 25 steps ahead, 50 steps budget); --protocol fixed-target (PushT: "
        "gym-pusht's T, coverage > 95%, 300 steps) or ogbench-tasks (Cube: OGBench's 5 tasks). `lewm eval RUN_DIR` "
        "(world models plan with --plan.*, policies act directly); `lewm eval --policy random --data DATA` for the "
        "sanity row; `lewm eval --pretrained pusht` evaluates a shipped checkpoint (on a freshly collected held-out "
        "dataset unless --data is given). Data from an old env version needs --legacy-env.",
    )
    r = evaluate(cfg)
    lo, hi = r["ci95"]
    rows = [
        ("policy", r["policy"]),
        ("env", r["env_id"]),
        ("success_rate", f"{r['success_rate']:.3f} ({r['successes']}/{r['episodes']})"),
        ("ci95", f"[{lo:.3f}, {hi:.3f}]"),
        ("seconds", f"{r['seconds']:.1f}"),
        *protocol_rows(r["protocol"]),
    ]
    if r.get("plan_ms") is not None:
        pc = r.get("plan_config")
        rows += [
            ("plan_ms_per_env", f"{r['plan_ms']:.1f}"),
            ("plan_call_ms", f"{r['plan_call_ms']:.1f} (max {r['plan_call_ms_max']:.1f})"),
            ("plan_batch", f"{r['plan_batch']:.0f}"),
            ("plan_iterations", f"{r['plan_iterations']:.1f} (min {r['plan_iterations_min']})"),
        ]
        if pc and pc["time_budget_ms"] is not None:
            rows.append(
                (
                    "plan_budget_hits",
                    f"{r['plan_budget_hits']}/{r['num_plan_calls']} calls capped at {pc['time_budget_ms']:g} ms",
                )
            )
    rows += [("video", v) for v in r["videos"]]
    _print_table(rows)


def protocol_rows(card: dict[str, Any]) -> list[tuple[str, Any]]:
    """The protocol card of a result (`lewm_agents.evaluate.protocol_card`) as printable rows."""
    plan = card.get("plan")
    planner = f"{plan['solver']} {plan['num_samples']} x {plan['iterations']}, H={plan['horizon']}" if plan else None
    rows = [
        ("protocol", card.get("name")),
        ("env_kwargs", json.dumps(card.get("env_kwargs"))),
        ("episodes / seed", f"{card.get('episodes')} / {card.get('seed')}"),
        ("budget", f"{card.get('budget')} env steps"),
        ("goal_offset", card.get("goal_offset")),
        ("planner", f"{planner} ({card.get('plan_precision')})" if planner else None),
        ("rendering", card.get("rendering")),
        ("success_rule", card.get("success_rule")),
        ("starts_from_training", card.get("starts_from_training_episodes")),
    ]
    return [(k, v) for k, v in rows if v is not None]


def _cmd_benchmark(args: list[str]) -> None:
    from lewm_agents.benchmark import BenchmarkConfig, run_benchmark

    cfg = tyro.cli(
        BenchmarkConfig,
        args=args,
        prog="lewm benchmark",
        description="Collect -> train -> evaluate -> report for one env and scale, for every method (--methods "
        "lewm,pldm,gcbc,random by default) on the same data, pairs and planner; finished stages are reused. Writes "
        "results/<env>/<scale>/{results.json,report.md,index.html,plots/,runs/<method>/,eval_<method>.json,videos/}.",
    )
    results = run_benchmark(cfg)
    for note in results.get("notes", []):
        print(f"note: {note}")
    if results.get("unfinished"):
        print(f"stopped at the time limit during {results['unfinished']}; rerun the same command to continue.")
        return
    from lewm_agents.report import render_summary

    cell = Path(cfg.out) / cfg.env / cfg.scale
    cell = cell if cfg.protocol == "dataset-goal" else cell / cfg.protocol
    print(render_summary(results))
    print(f"written to {cell} (open {cell / 'index.html'} in a browser)")


@dataclass(frozen=True)
class ReportConfig:
    """Re-render benchmark cells' reports (report.md, plots/, index.html) from their results.json."""

    cells: tyro.conf.Positional[tuple[Path, ...]]
    """Cell directories, results/<env>/<scale>/, each holding a results.json."""


def _cmd_report(args: list[str]) -> None:
    cfg = tyro.cli(ReportConfig, args=args, prog="lewm report", description=ReportConfig.__doc__)
    from lewm_agents.report import load_results, write_report

    for cell in cfg.cells:
        path = cell / "results.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: `lewm report` re-renders a cell written by `lewm benchmark` (a directory "
                "results/<env>/<scale>/ with a results.json). Pass that directory, or run the benchmark first."
            )
        written = write_report(load_results(path), cell)
        print(f"{cell}: wrote {', '.join(written)} (open {cell / 'index.html'})")


def _cmd_diagnose(args: list[str]) -> None:
    from lewm_agents.diagnose import DiagnoseConfig, diagnose

    cfg = tyro.cli(DiagnoseConfig, args=args, prog="lewm diagnose", description=DiagnoseConfig.__doc__)
    result = diagnose(cfg)
    for table in result.get("tables", []):
        print(f"{table['title']}\n\n| " + " | ".join(map(str, table["columns"])) + " |")
        print("|" + "---|" * len(table["columns"]))
        for row in table["rows"]:
            print("| " + " | ".join(map(str, row)) + " |")
        print()
    out = cfg.attach / "diagnostics" if cfg.attach else cfg.out
    print(f"written under {out}" + (f"; {cfg.attach}/report.md shows it" if cfg.attach else ""))


@dataclass(frozen=True)
class ProbeConfig:
    """Linear and MLP probes from the frozen latents of one or more runs (any method) to the env's physical
    quantities, beside each encoder at random initialisation; one table (report.md style, CSV, JSON) for all runs."""

    runs: tyro.conf.Positional[tuple[Path, ...]]
    """Run directories (or checkpoints) of `lewm train`, of any method."""
    data: Path | None = None
    """Dataset to probe on, split by episode (default: each run's own dataset)."""
    out: Path = Path("results/analyses")
    """Directory for probe.md, probe.csv and probe.json."""
    max_frames: int = 4000
    """Frames drawn from each side of the probe's episode split."""
    epochs: int = 100
    """MLP probe epochs (the documented recipe: 100)."""
    device: str = "cpu"
    """Torch device."""


@dataclass(frozen=True)
class SurpriseConfig:
    """Violation of expectation: the world model's per-step surprise on paired trajectories (unperturbed, a teleport,
    a colour change at the same step) rendered by the env, with a paired t-test at the perturbation step."""

    run: tyro.conf.Positional[Path]
    """Run directory (or checkpoint) of a world-model method (one that plans)."""
    data: Path | None = None
    """Dataset whose episodes give the starts and the replayed actions (default: the run's)."""
    pairs: int = 50
    """Trajectory triples."""
    frames: int = 8
    """Frames per trajectory, one model step (frameskip env steps) apart."""
    perturb_step: int = 4
    """The perturbation happens just before this frame."""
    seed: int = 0
    """Seed of the teleport targets."""
    out: Path = Path("results/analyses")
    """Directory for <method>_surprise.png and .json."""
    device: str = "cpu"
    """Torch device."""


@dataclass(frozen=True)
class StraightnessConfig:
    """Temporal straightness (mean cosine of consecutive latent velocities) of every saved checkpoint of one or more
    runs on held-out paths, plotted with the curve logged during training."""

    runs: tyro.conf.Positional[tuple[Path, ...]]
    """Run directories of `lewm train`, of any method."""
    data: Path | None = None
    """Dataset of the held-out paths (default: each run's own)."""
    paths: int = 64
    """Held-out paths."""
    frames: int = 8
    """Frames per path, one model step apart."""
    out: Path = Path("results/analyses")
    """Directory for straightness.png and straightness.json."""
    device: str = "cpu"
    """Torch device."""


@dataclass(frozen=True)
class LatentMapConfig:
    """Latents of frames with the agent (and the block) on a grid of positions, projected to 2-D (PCA; t-SNE where
    scikit-learn is installed), coloured by position."""

    run: tyro.conf.Positional[Path]
    """Run directory (or checkpoint) of any method."""
    grid: int = 15
    """Grid points per side."""
    out: Path = Path("results/analyses")
    """Directory for <method>_latent_map.png."""
    device: str = "cpu"
    """Torch device."""


@dataclass(frozen=True)
class AnalysesConfig:
    """Every latent analysis for every method of a benchmark cell, linked from the cell's report."""

    cell: tyro.conf.Positional[Path]
    """A benchmark cell, results/<env>/<scale>/ (runs/<method>/ and dataset.h5)."""
    methods: tuple[str, ...] = ()
    """Methods to analyse (default: every run in the cell)."""
    analyses: tuple[str, ...] = ("probe", "surprise", "straightness", "latent-map")
    """Which analyses to run."""
    pairs: int = 50
    """Surprise: trajectory triples per method."""
    device: str = "cpu"
    """Torch device."""

    def __post_init__(self) -> None:
        for name in ("methods", "analyses"):  # "a,b" and "a b" alike
            object.__setattr__(self, name, tuple(x for v in getattr(self, name) for x in v.split(",") if x))
        bad = sorted(set(self.analyses) - {"probe", "surprise", "straightness", "latent-map"})
        if bad:
            raise ValueError(f"unknown analyses {bad}; valid: probe, surprise, straightness, latent-map.")


def _cmd_probe(args: list[str]) -> None:
    from lewm_agents.analysis.cell import _write_table
    from lewm_agents.analysis.probe import ProbeRecipe, probe_run, probe_table

    cfg = tyro.cli(ProbeConfig, args=args, prog="lewm probe", description=ProbeConfig.__doc__)
    recipe = ProbeRecipe(max_frames=cfg.max_frames, epochs=cfg.epochs)
    results = {}
    for run in cfg.runs:
        r = probe_run(run, cfg.data, recipe=recipe, device=cfg.device)
        label = r["method"] if r["method"] not in results else f"{r['method']} ({run})"
        results[label] = r
    table = probe_table(results)
    cfg.out.mkdir(parents=True, exist_ok=True)
    _write_table(table, cfg.out / "probe")
    (cfg.out / "probe_runs.json").write_text(json.dumps(results, indent=2))
    print(f"{table['title']}\n\n" + (cfg.out / "probe.md").read_text().split("\n\n", 1)[1])
    print(f"written to {cfg.out / 'probe.md'}, probe.csv, probe.json")


def _cmd_surprise(args: list[str]) -> None:
    from lewm_agents.analysis.surprise import surprise_test

    cfg = tyro.cli(SurpriseConfig, args=args, prog="lewm surprise", description=SurpriseConfig.__doc__)
    cfg.out.mkdir(parents=True, exist_ok=True)
    from lewm_agents.checkpoint import find_checkpoint, read_checkpoint_meta

    method = read_checkpoint_meta(find_checkpoint(cfg.run)).get("method", "lewm")
    r = surprise_test(cfg.run, cfg.data, pairs=cfg.pairs, frames=cfg.frames, perturb_step=cfg.perturb_step,
                      seed=cfg.seed, device=cfg.device, figure=cfg.out / f"{method}_surprise.png")  # fmt: skip
    (cfg.out / f"{method}_surprise.json").write_text(json.dumps(r, indent=2))
    k = cfg.perturb_step - 1
    rows = [("pairs", r["pairs"]), ("env", r["env_id"])]
    rows += [(f"surprise at the step, {c}", f"{v['mean'][k]:.4g}") for c, v in r["curves"].items()]
    rows += [(f"paired t-test, {c}", f"t = {t['t']:.2f}, p = {t['p']:.2g}") for c, t in r["tests"].items()]
    rows += [("written", ", ".join(f["path"] for f in r["figures"]) or str(cfg.out))]
    _print_table(rows)


def _cmd_straightness(args: list[str]) -> None:
    from lewm_agents.analysis.straightness import checkpoint_straightness, plot_straightness

    cfg = tyro.cli(StraightnessConfig, args=args, prog="lewm straightness", description=StraightnessConfig.__doc__)
    results = {}
    for run in cfg.runs:
        r = checkpoint_straightness(run, cfg.data, paths=cfg.paths, frames=cfg.frames, device=cfg.device)
        results[r["method"] if r["method"] not in results else str(run)] = r
    cfg.out.mkdir(parents=True, exist_ok=True)
    plot_straightness(results, cfg.out / "straightness.png")
    (cfg.out / "straightness.json").write_text(json.dumps(results, indent=2))
    rows = [
        (name, " ".join(f"{e['step']}:{e['straightness']:.3f}" for e in r["checkpoints"]))
        for name, r in results.items()
    ]
    _print_table([*rows, ("written", cfg.out / "straightness.png")])


def _cmd_latent_map(args: list[str]) -> None:
    from lewm_agents.analysis.latent_map import latent_map
    from lewm_agents.checkpoint import find_checkpoint, read_checkpoint_meta

    cfg = tyro.cli(LatentMapConfig, args=args, prog="lewm latent-map", description=LatentMapConfig.__doc__)
    method = read_checkpoint_meta(find_checkpoint(cfg.run)).get("method", "lewm")
    r = latent_map(cfg.run, grid=cfg.grid, device=cfg.device, figure=cfg.out / f"{method}_latent_map.png")
    rows = [
        (f"{k}: points, PCA variance in 2-D", f"{v['points']}, {v['pca_explained']:.2f}") for k, v in r["maps"].items()
    ]
    _print_table([*rows, ("written", ", ".join(f["path"] for f in r["figures"]) or "(no matplotlib: no figure)")])


def _cmd_analyses(args: list[str]) -> None:
    from lewm_agents.analysis.cell import analyse_cell

    cfg = tyro.cli(AnalysesConfig, args=args, prog="lewm analyses", description=AnalysesConfig.__doc__)
    r = analyse_cell(cfg.cell, methods=cfg.methods, analyses=cfg.analyses, pairs=cfg.pairs, device=cfg.device)
    for table in r["tables"]:
        print(f"{table['title']}\n\n| " + " | ".join(map(str, table["columns"])) + " |")
        print("|" + "---|" * len(table["columns"]))
        for row in table["rows"]:
            print("| " + " | ".join(map(str, row)) + " |")
        print()
    print(f"written to {cfg.cell / 'analyses'}")


def _cmd_info(args: list[str]) -> None:
    cfg = tyro.cli(InfoConfig, args=args, prog="lewm info", description=InfoConfig.__doc__)
    from lewm_agents.info import summarize

    summary = summarize(cfg.path)
    if not cfg.path.is_dir() and cfg.sheet != "none":
        from lewm_agents.data.preview import save_contact_sheet

        summary["contact_sheet"] = str(save_contact_sheet(cfg.path, None if cfg.sheet == "auto" else cfg.sheet))
    if cfg.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_table([(k, v) for k, v in summary.items()])


COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "collect": _cmd_collect,
    "train": _cmd_train,
    "train-policy": _cmd_train_policy,
    "tune-lambda": _cmd_tune_lambda,
    "eval": _cmd_eval,
    "benchmark": _cmd_benchmark,
    "report": _cmd_report,
    "info": _cmd_info,
    "diagnose": _cmd_diagnose,
    "merge": _cmd_merge,
    "video": _cmd_video,
    "probe": _cmd_probe,
    "surprise": _cmd_surprise,
    "straightness": _cmd_straightness,
    "latent-map": _cmd_latent_map,
    "analyses": _cmd_analyses,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lewm`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        # Headless MuJoCo (Reacher, Cube, DMC, Gymnasium MuJoCo envs) renders through EGL; it must be chosen before
        # mujoco is imported. The CLI is a script, so it may set it; the library never does.
        os.environ.setdefault("MUJOCO_GL", "egl")
        if not os.environ.get("WAYLAND_DISPLAY"):
            # Gymnasium's pygame renderers (CartPole, ...) call pygame.display.init() even for rgb_array frames, which
            # they draw on off-screen surfaces; without a display SDL probes Wayland first and prints "XDG_RUNTIME_DIR
            # is invalid or not set". The dummy video driver is all off-screen drawing needs.
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if cmd not in COMMANDS:
        print(f"lewm: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        COMMANDS[cmd](rest)
    # DatasetError and CheckpointError are ValueErrors: naming them here would import torch for every command.
    except (ValueError, FileNotFoundError, RuntimeError, FloatingPointError) as e:
        if os.environ.get("LEWM_DEBUG"):
            raise
        print(f"lewm {cmd}: error: {e}\n(set LEWM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"lewm {cmd}: interrupted; finished episodes and checkpoints are kept (rerun to continue).", file=sys.stderr
        )
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
