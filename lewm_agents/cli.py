"""The ``lewm`` command (tyro over frozen dataclasses): ``collect``, ``train``, ``tune-lambda``, ``eval``,
``benchmark``, ``info``, ``merge`` and ``video``.

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

USAGE = """usage: lewm {collect,train,tune-lambda,eval,benchmark,info,merge,video,diagnose} [--help] ...

  collect      record reward-free pixel episodes from a Gymnasium env (or dmc:DOMAIN-TASK) into an HDF5 dataset
  train        train a method on a dataset (--method lewm|pldm|gcbc, --preset smoke|small|gpu|paper, --devices K)
  tune-lambda  search the SIGReg weight lambda with short runs scored by a state probe
  eval         evaluate a checkpoint of any method (or the random policy) under the paper's goal-reaching protocol
  benchmark    collect -> train -> evaluate -> report for one env and scale, every method on the same data
  info         summarise a dataset (.h5, plus a contact sheet PNG) or a checkpoint (run directory)
  merge        merge datasets of one env into a new file: lewm merge OUT IN1 IN2 ...
  video        write an MP4 of chosen episodes: lewm video DATA --episodes 0 5 --out x.mp4
  diagnose     where is success lost: ceiling | tasks | latent-cost | action-rank | curve | fixed-target

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
        description="Evaluate a checkpoint of any method under the paper's protocol: start and goal from the "
        "dataset, goal 25 steps ahead, 50 steps budget. `lewm eval RUN_DIR` (world models plan with --plan.*, "
        "policies act directly); `lewm eval --policy random --data DATA` for the sanity row; `lewm eval --pretrained "
        "pusht` evaluates a shipped checkpoint (on a freshly collected held-out dataset unless --data is given).",
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
    if r.get("plan_ms") is not None:
        pc = r.get("plan_config")
        rows += [
            (
                "planner",
                f"{pc['solver']} {pc['num_samples']} x {pc['iterations']}, H={pc['horizon']}" if pc else "none",
            ),
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


def _cmd_benchmark(args: list[str]) -> None:
    from lewm_agents.benchmark import BenchmarkConfig, run_benchmark

    cfg = tyro.cli(
        BenchmarkConfig,
        args=args,
        prog="lewm benchmark",
        description="Collect -> train -> evaluate -> report for one env and scale, for every method (--methods "
        "lewm,pldm,gcbc,random by default) on the same data, pairs and planner; finished stages are reused. Writes "
        "results/<env>/<scale>/{results.json,report.md,success.png,runs/<method>/,eval_<method>.json,videos/}.",
    )
    results = run_benchmark(cfg)
    for note in results.get("notes", []):
        print(f"note: {note}")
    if results.get("unfinished"):
        print(f"stopped at the time limit during {results['unfinished']}; rerun the same command to continue.")
        return
    from lewm_agents.benchmark import render_report

    print(render_report(results))
    print(f"written to {Path(cfg.out) / cfg.env / cfg.scale}")


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
    "tune-lambda": _cmd_tune_lambda,
    "eval": _cmd_eval,
    "benchmark": _cmd_benchmark,
    "info": _cmd_info,
    "diagnose": _cmd_diagnose,
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
