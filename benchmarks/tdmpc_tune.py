"""TD-MPC-style's hyper-parameter search on TwoRoom, on the budget ``lewm tune-lambda`` spends on LeWM's lambda.

    python benchmarks/tdmpc_tune.py --data results/tworoom/small/dataset.h5 --out runs/tune-tdmpc

Budget: `lewm tune-lambda` trains about 7 of its 13 candidates (golden-section search) for 500 steps each; this
script trains 7 candidates for 500 steps each, with the TwoRoom ``small`` cell's recipe for ``tdmpc`` (model, batch,
learning rate; the cosine schedule fitted to the 500 steps) and tune-lambda's seed and validation split.

Criterion (no evaluation episodes are used, as tune-lambda uses none): on frame pairs (o_t, o_{t+k}) of the held-out
episodes, k uniform in 1..50 env steps (the evaluation's goals lie 25 steps ahead), the Spearman rank correlation
between the value V(enc(o_t), enc(o_{t+k})) and -k: whether the value orders goals by how far the data's agent was
from them, which is what the planner's cost relies on. Reported beside it: tune-lambda's probe (held-out R^2 of a ridge
regression of the state on the latents) and the latents' std and effective rank. A candidate whose value is flat
(std < `FLAT` over the pairs: its rank correlation is rounding noise) cannot be chosen; if every one is, the first
(TD-MPC2's defaults) is kept. Prints a Markdown table and writes
``out/tdmpc_search.json``. Runs are kept in ``out/runs/<name>`` and reused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import tyro

from lewm_agents.cells import BENCHMARKS
from lewm_agents.checkpoint import load_checkpoint
from lewm_agents.data import DatasetReader, split_episodes
from lewm_agents.data.batch import HindsightGoals
from lewm_agents.runtime import resolve_device
from lewm_agents.train import train
from lewm_agents.tune import TuneConfig, evaluate_run

CANDIDATES: dict[str, dict] = {
    "default": {},
    "heads x10": {"reward_coef": 1.0, "value_coef": 1.0},
    "consistency 2": {"consistency_coef": 2.0},
    "random goals 0.3": {"random_goals": 0.3},
    "discount 0.8": {"discount": 0.8},
    "discount 0.95": {"discount": 0.95},
    "uniform goals": {"goals": HindsightGoals()},
}
"""The candidates, in the order trained: TD-MPC2's defaults (with our discount and goal draw), then one change each
(the loss balance first: it decides whether the heads can shape the latents)."""


FLAT = 1e-3
"""A value whose std over the scored pairs is below this is flat (it ignores the state and the goal)."""


@dataclass(frozen=True)
class SearchConfig:
    """Train every candidate briefly and score its value on held-out episodes."""

    data: Path
    """TwoRoom HDF5 dataset (e.g. the small cell's)."""
    out: Path = Path("runs/tune-tdmpc")
    """Directory for the runs and tdmpc_search.json."""
    steps: int = 500
    """Optimizer steps per run (tune-lambda's)."""
    val_fraction: float = 0.2
    """Held-out episodes (tune-lambda's)."""
    seed: int = 3072
    """Seed of every run (tune-lambda's)."""
    pairs: int = 3000
    """Held-out frame pairs scored."""
    max_offset: int = 50
    """Largest pair offset k in env steps."""
    only: tuple[str, ...] = ()
    """Train only these candidates (default: all)."""
    device: str = "auto"
    """Torch device."""


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@torch.no_grad()
def value_rank_score(run_dir: Path, cfg: SearchConfig, device: torch.device) -> dict:
    """Spearman(V(o_t, o_{t+k}), -k) over held-out pairs, and the value's mean at k <= 5 and k >= 40."""
    model = load_checkpoint(run_dir, device=device).model.eval()
    rng = np.random.default_rng(cfg.seed)
    with DatasetReader(cfg.data) as r:
        _, val = split_episodes(r.num_episodes, cfg.val_fraction, cfg.seed)
        eps = [e for e in val if r.ep_len[e] > cfg.max_offset + 1]
        ep = rng.choice(eps, cfg.pairs)
        k = rng.integers(1, cfg.max_offset + 1, cfg.pairs)
        t = np.array([rng.integers(0, r.ep_len[e] - kk) for e, kk in zip(ep, k)])
        start = np.array([r.ep_offset[e] for e in ep]) + t
        values = []
        for idx in np.array_split(np.arange(cfg.pairs), max(1, cfg.pairs // 256)):
            rows = np.concatenate([start[idx], start[idx] + k[idx]])
            order = np.argsort(rows)
            frames = np.empty((len(rows), *r.frames(rows[:1]).shape[1:]), np.uint8)
            frames[order] = r.frames(rows[order])  # h5py reads sorted rows
            z = model.encode(torch.from_numpy(frames).unsqueeze(1).to(device))[:, 0]  # (2m, D)
            m = len(idx)
            values.append(model.decode(model.value(z[:m], z[m:])).mean(0).float().cpu().numpy())
    v = np.concatenate(values)
    return {
        "value_spearman": _spearman(v, -k),
        "value_std": float(v.std()),
        "value_near": float(v[k <= 5].mean()),
        "value_far": float(v[k >= 40].mean()),
    }


def main(cfg: SearchConfig) -> dict:
    torch.set_num_threads(1)
    device = resolve_device(cfg.device)
    base = BENCHMARKS["tworoom"]["small"].recipe("tdmpc")
    results = []
    for name, change in CANDIDATES.items():
        if cfg.only and name not in cfg.only:
            continue
        run_dir = cfg.out / "runs" / name.replace(" ", "_")
        recipe = replace(
            base,
            model=replace(base.model, **change),
            data=cfg.data,
            out=run_dir,
            max_steps=cfg.steps,
            val_fraction=cfg.val_fraction,
            seed=cfg.seed,
            device=str(device),
            ckpt_every=cfg.steps,
            keep_last=1,
            resume=True,
            progress=False,
            collapse_patience=10**9,
        )
        summary = train(recipe)
        probe = evaluate_run(run_dir, TuneConfig(data=cfg.data, val_fraction=cfg.val_fraction, seed=cfg.seed), device)
        meta = load_checkpoint(run_dir).meta.get("metrics", {})
        row = {
            "name": name,
            "change": {k: (v.__dict__ if isinstance(v, HindsightGoals) else v) for k, v in change.items()},
            "steps": summary["steps"],
            **value_rank_score(run_dir, cfg, device),
            "probe_r2": probe["probe_r2"],
            "emb_std": probe["emb_std"],
            "eff_rank": probe["eff_rank"],
            **{k: meta.get(k) for k in ("val_consistency_loss", "val_value_loss", "val_reward_loss")},
            "train_s": load_checkpoint(run_dir).meta.get("train_seconds"),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    # a value that is flat across states (std < FLAT) ranks by rounding noise: it cannot win; if all are, the defaults
    eligible = [r for r in results if r.get("value_std", 1.0) >= FLAT] or results[:1]
    best = max(eligible, key=lambda r: (r["value_spearman"], r["probe_r2"] or 0.0))
    out = {"criterion": "value_spearman", "chosen": best["name"], "runs": results, "steps": cfg.steps}
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "tdmpc_search.json").write_text(json.dumps(out, indent=2))
    print("| candidate | value Spearman | V(k<=5) | V(k>=40) | probe R^2 | emb std | eff rank | val consistency |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['name']}{' (chosen)' if r is best else ''} | {r['value_spearman']:.3f} | {r['value_near']:.2f} | "
            f"{r['value_far']:.2f} | {r['probe_r2']:.3f} | {r['emb_std']:.3f} | {r['eff_rank']:.1f} | "
            f"{r['val_consistency_loss'] or float('nan'):.2e} |"
        )
    return out


if __name__ == "__main__":
    main(tyro.cli(SearchConfig))
