"""The one entry point of ``lewm train`` (lewm_agents/cli.py) and ``torchrun -m lewm_agents.train``
(__main__.py): parse the flags, then print the dry-run table, launch K processes, or train in this one.

Scripts print; this is the script side of training (the loop itself only returns metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _print_table(rows: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def main(args: Sequence[str]) -> int:
    """Run ``lewm train ARGS`` (the flags after ``train``); returns the exit code. Errors propagate (the CLI turns
    them into one-paragraph messages)."""
    from lewm_agents.distributed import env_from_environ, launch
    from lewm_agents.train.config import config_from_args
    from lewm_agents.train.loop import describe, train

    args = list(args)
    dry_run = "--dry-run" in args
    cfg = config_from_args([a for a in args if a != "--dry-run"])
    if dry_run:
        d = describe(cfg)
        f = d["flops"]
        _print_table(
            [
                ("method", cfg.method),
                *[(f"params/{k}", f"{v:,}") for k, v in d["parameters"].items()],
                ("flops/step forward", f"{f.forward / 1e12:.3f} TFLOP"),
                ("flops/step backward", f"{f.backward / 1e12:.3f} TFLOP"),
                ("flops/step total", f"{f.total / 1e12:.3f} TFLOP (batch {f.batch_size})"),
                ("flops/clip", f"{f.per_clip / 1e9:.2f} GFLOP"),
                ("flops counted", "matmuls of forward + backward (linear, conv, attention, the objective's)"),
            ]
        )
        return 0
    env = env_from_environ()
    if cfg.resume and env.is_main:  # said before the first step, also with --no-progress (the bar shows it too)
        from lewm_agents.checkpoint import list_checkpoints

        ckpts = list_checkpoints(cfg.out)
        print(
            f"resuming {cfg.out} from {ckpts[-1].name} (step {int(ckpts[-1].name.split('_')[1])})"
            if ckpts
            else f"--resume: {cfg.out} has no checkpoint yet, starting a fresh run",
            flush=True,
        )
    if cfg.devices > 1 and env.world == 1:  # launch the K processes here; under torchrun we are one of them
        summary = launch(train, (cfg,), cfg.devices)
    else:
        summary = train(cfg)
    if env.is_main:
        _print_table([(k, f"{v:.4g}" if isinstance(v, float) else v) for k, v in summary.items()])
    return 0
