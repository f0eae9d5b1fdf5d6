"""Ship a benchmark cell's checkpoint inside the package (lewm_agents/pretrained/<name>/) with its card.

    python benchmarks/export_pretrained.py results/tworoom/small tworoom [--command "make benchmark ..."]

Reads the cell's results.json (success and interval of LeWM and of the random policy, data, protocol) and copies the
final checkpoint's weights and config (no optimiser state).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lewm_agents.checkpoint import find_checkpoint
from lewm_agents.pretrained import export_pretrained


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cell", type=Path, help="results/<env>/<scale> directory of a finished `lewm benchmark` run")
    p.add_argument("name", help="shipped name, e.g. pusht")
    p.add_argument("--command", default="", help="the command that reproduces it (default: make benchmark ...)")
    p.add_argument("--eval-episodes", type=int, default=20, help="held-out episodes `lewm eval --pretrained` collects")
    p.add_argument("--note", default="", help="a caveat for the card (e.g. what the data's goals ask for)")
    a = p.parse_args()
    r = json.loads((a.cell / "results.json").read_text())
    lewm, rand, d, proto = r["methods"]["lewm"], r["methods"]["random"], r["dataset"], r["protocol"]
    plan = proto["plan"]
    if "train" in r:  # schema 1: one LeWM run, paths relative to the working directory
        ckpt, steps = Path(r["train"]["checkpoint"]), r["train"]["steps"]
    else:  # schema 2: per-method entries, paths relative to the cell
        ckpt, steps = a.cell / lewm["checkpoint"], lewm.get("steps")
    info = {
        "env_id": r["env_id"],
        "data": f"{d['episodes']} episodes, {d['frames']} frames, policy {d['policy']}",
        "policy": d["policy"],
        "image_size": json.loads((find_checkpoint(ckpt) / "config.json").read_text())["model"]["image_size"],
        "protocol": f"dataset-goal: {proto['episodes']} start/goal pairs (seed {proto['seed']}), goal "
        f"{proto['goal_offset']} steps ahead, budget {proto['budget']} steps; {plan['solver']} {plan['num_samples']} x "
        f"{plan['iterations']}, horizon {plan['horizon']} blocks",
        "success_rate": lewm["success_rate"],
        "ci95": lewm["ci95"],
        "episodes": lewm["episodes"],
        "random": {"success_rate": rand["success_rate"], "ci95": rand["ci95"]},
        "command": a.command or f"make benchmark ENV={r['env']} SCALE={r['scale']}",
        "scale": r["scale"],
        "train_steps": steps,
        "measured": f"{r['created']} on {r['device']}",
        "eval_episodes_collected": a.eval_episodes,
        "eval_seed": 100_000,
        **({"note": a.note} if a.note else {}),
    }
    print(export_pretrained(ckpt, a.name, info))


if __name__ == "__main__":
    main()
