"""The ``lewm`` command: ``collect``, ``train``, ``eval``, ``benchmark``, ``info``, ``merge``, ``video`` (tyro).

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

USAGE = """usage: lewm {collect,train,eval,benchmark,info,merge,video} [--help] ...

  collect    record reward-free pixel episodes from a Gymnasium env (or dmc:DOMAIN-TASK) into an HDF5 dataset
  train      train a LeWorldModel on a dataset (--preset smoke|small|gpu|paper)
  eval       evaluate a checkpoint (or the random policy) under the paper's goal-reaching protocol
  benchmark  collect -> train -> evaluate -> report for one env and scale
  info       summarise a dataset (.h5, plus a contact sheet PNG) or a checkpoint (run directory)
  merge      merge datasets of one env into a new file: lewm merge OUT IN1 IN2 ...
  video      write an MP4 of chosen episodes: lewm video DATA --episodes 0 5 --out x.mp4

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
    from dataclasses import replace

    from lewm_agents.train import TRAIN_PRESETS, TrainConfig, describe, train

    args = _positional_to_flag(args, "--data")
    dry_run = "--dry-run" in args
    args = [a for a in args if a != "--dry-run"]
    preset = "paper"
    for i, a in enumerate(args):
        if a == "--preset" and i + 1 < len(args):
            preset = args[i + 1]
        elif a.startswith("--preset="):
            preset = a.split("=", 1)[1]
    if preset not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(TRAIN_PRESETS)}.")
    cfg = tyro.cli(
        TrainConfig,
        args=args,
        default=TRAIN_PRESETS[preset],
        prog="lewm train",
        description="Train a LeWorldModel. `lewm train DATA --preset small`; --dry-run prints the model "
        "size without training. Defaults shown are the chosen preset's.",
    )
    cfg = replace(cfg, preset=preset)
    if dry_run:
        d = describe(cfg)
        _print_table([(f"params/{k}", f"{v:,}") for k, v in d["parameters"].items()])
        return
    summary = train(cfg)
    _print_table([(k, f"{v:.4g}" if isinstance(v, float) else v) for k, v in summary.items()])


def _cmd_eval(args: list[str]) -> None:
    from lewm_agents.evaluate import EvalConfig, evaluate

    args = _positional_to_flag(args, "--checkpoint")
    cfg = tyro.cli(
        EvalConfig,
        args=args,
        prog="lewm eval",
        description="Evaluate a checkpoint under the paper's protocol: start and goal from the dataset, "
        "goal 25 steps ahead, 50 steps budget. `lewm eval RUN_DIR`.",
    )
    r = evaluate(cfg)
    lo, hi = r["ci95"]
    rows = [
        ("policy", r["policy"]),
        ("env", r["env_id"]),
        ("success_rate", f"{r['success_rate']:.3f} ({r['successes']}/{r['episodes']})"),
        ("ci95", f"[{lo:.3f}, {hi:.3f}]"),
        ("seconds", f"{r['seconds']:.1f}"),
    ]
    if "plan_ms" in r:
        pc = r["plan_config"]
        rows += [
            ("planner", f"{pc['solver']} {pc['num_samples']} x {pc['iterations']}, H={pc['horizon']}"),
            ("plan_ms_per_env", f"{r['plan_ms']:.1f}"),
            ("plan_call_ms", f"{r['plan_call_ms']:.1f} (max {r['plan_call_ms_max']:.1f})"),
            ("plan_batch", f"{r['plan_batch']:.0f}"),
            ("plan_iterations", f"{r['plan_iterations']:.1f} (min {r['plan_iterations_min']})"),
        ]
        if pc["time_budget_ms"] is not None:
            rows.append(
                (
                    "plan_budget_hits",
                    f"{r['plan_budget_hits']}/{r['num_plan_calls']} calls capped at {pc['time_budget_ms']:g} ms",
                )
            )
    rows += [("video", v) for v in r["videos"]]
    _print_table(rows)


def _cmd_benchmark(args: list[str]) -> None:
    from lewm_agents.benchmark import BenchmarkConfig, run_benchmark

    cfg = tyro.cli(
        BenchmarkConfig,
        args=args,
        prog="lewm benchmark",
        description="Collect -> train -> evaluate -> report for one env and scale; finished stages are "
        "reused. Writes results/<env>/<scale>/{results.json,report.md,success.png,videos/}.",
    )
    results = run_benchmark(cfg)
    from lewm_agents.benchmark import render_report

    print(render_report(results))
    print(f"written to {Path(cfg.out) / cfg.env / cfg.scale}")


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
    "eval": _cmd_eval,
    "benchmark": _cmd_benchmark,
    "info": _cmd_info,
    "merge": _cmd_merge,
    "video": _cmd_video,
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
