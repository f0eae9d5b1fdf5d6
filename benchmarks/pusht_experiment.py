"""One row of the PushT CPU-scale experiments: train a preset (with overrides) on a dataset, evaluate it and the random
policy under the dataset-goal protocol, and append the row to a JSONL file.

    OMP_NUM_THREADS=1 python benchmarks/pusht_experiment.py NAME DATA [--steps N] [--preset smoke]
        [--model-json '{"encoder": "cnn"}'] [--train-json '{"lam": 0.05}'] [--episodes 50] [--out runs/exp]

Prints the row; the README's scale table and the issue-13 notes quote these rows.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from lewm_agents.data import DatasetReader
from lewm_agents.evaluate import EvalConfig, evaluate
from lewm_agents.train import TRAIN_PRESETS, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("data", type=Path)
    p.add_argument("--preset", default="smoke")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--model-json", default="{}")
    p.add_argument("--train-json", default="{}")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--goal-offsets", type=int, nargs="+", default=[25], help="evaluate at each goal offset")
    p.add_argument("--ckpt-every", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/exp"))
    p.add_argument("--no-random", action="store_true", help="skip the random row (same data: same row)")
    a = p.parse_args()
    torch.set_num_threads(1)
    base = TRAIN_PRESETS[a.preset]
    model = replace(base.model, **json.loads(a.model_json))
    run = a.out / a.name
    cfg = replace(
        base,
        model=model,
        data=a.data,
        out=run,
        max_steps=a.steps,
        progress=False,
        ckpt_every=a.ckpt_every,
        keep_last=50,
        **json.loads(a.train_json),
    )
    t0 = time.perf_counter()
    summary = train(cfg)
    train_s = time.perf_counter() - t0
    row: dict = {"name": a.name, "data": str(a.data), "preset": a.preset, "model": json.loads(a.model_json),
                 "train": json.loads(a.train_json), "steps": a.steps, "train_min": train_s / 60}  # fmt: skip
    with DatasetReader(a.data) as r:
        row.update(frames=r.num_frames, policy=r.policy)
    for offset in a.goal_offsets:
        for policy in ("lewm",) if a.no_random else ("lewm", "random"):
            t0 = time.perf_counter()
            res = evaluate(
                EvalConfig(
                    checkpoint=Path(summary["checkpoint"]) if policy == "lewm" else None,
                    data=a.data,
                    policy=policy,
                    episodes=a.episodes,
                    goal_offset=offset,
                    videos=0,
                    device="cpu",
                    precision="bf16",
                    progress=False,
                )
            )
            key = policy if offset == 25 else f"{policy}@{offset}"
            minutes = (time.perf_counter() - t0) / 60
            row[key] = {"success": res["success_rate"], "ci95": res["ci95"], "eval_min": minutes}
    row["metrics"] = {k: v for k, v in summary.items() if isinstance(v, float)}
    line = json.dumps(row)
    with open(a.out / "results.jsonl", "a") as f:
        f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
