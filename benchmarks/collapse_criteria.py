"""Does each method's collapse criterion tell collapsed latents from small-but-informative ones? (issue 12)

Two measurements on a tiny TwoRoom dataset (collected here unless ``--data`` is given), 1 torch thread:

1. **Trained**: each method in ``--train`` (default TD-MPC-style) is trained ``--steps`` steps at the smoke preset
   (batch 16, history 1; with the TwoRoom cells' method settings unless ``--no-cell-settings``), logging latent
   statistics every ``--log-every`` steps; the table gives the last logged
   ``emb_std`` / ``eff_rank``, whether LeWM's criterion (std < 0.05 or rank < 0.02 D, the old default for every
   method) flags the run, and whether the method's own criterion (`Method.collapse_std` / `collapse_rank`) does:
   counted as CollapseWarnings raised during training, the real path.
2. **Constant encoder**: each method's objective on a batch whose frames are all one frame (the encoder's output is
   then the same for every sample, a collapse by definition) at initialisation: ``emb_std``, ``eff_rank``, and
   whether the method's criterion flags it, for every method whose objective reports latent statistics.

Run: ``.venv/bin/python benchmarks/collapse_criteria.py [--steps 300] [--train tdmpc pldm]``.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import tyro

from lewm_agents.cells import TWOROOM
from lewm_agents.data import ClipDataset, CollectConfig, DatasetReader, collect, compute_action_stats
from lewm_agents.data.batch import Batch
from lewm_agents.methods import METHODS, get_method
from lewm_agents.monitor import CollapseWarning, read_metrics
from lewm_agents.train import Learner, train, train_preset

LEWM_STD, LEWM_RANK = 0.05, 0.02  # the criterion every method had before issue 12's per-method thresholds


@dataclass(frozen=True)
class Config:
    data: Path | None = None
    """A TwoRoom dataset at 64 px (None: collect 12 episodes into a temporary directory)."""
    train: tuple[str, ...] = ("tdmpc",)
    """Methods to train (measurement 1)."""
    steps: int = 300
    """Optimizer steps per training run."""
    log_every: int = 25
    """Steps between latent statistics."""
    cell_settings: bool = True
    """Train with the TwoRoom cells' settings of each method (`lewm_agents.cells.TWOROOM`: PLDM's weights,
    Dreamer-style's tuned KL scale); False: the presets' (DreamerV3's KL weights, which collapse on TwoRoom)."""
    threads: int = 1
    """torch threads."""


def _tiny(name: str):
    cfg = train_preset(name, "smoke").model
    names = {f.name for f in fields(cfg)}
    return replace(cfg, **{k: v for k, v in {"history": 1, "num_proj": 32}.items() if k in names})


def _flags(std: float, rank: float, d: int, std_floor: float, rank_frac: float) -> bool:
    return std < std_floor or rank < rank_frac * d


def trained(data: Path, name: str, cfg: Config, root: Path) -> dict:
    m = get_method(name)
    base = train_preset(name, "smoke")
    settings = TWOROOM.get(name, {}) if cfg.cell_settings else {}
    loop = {
        "batch_size": 16,
        "max_steps": cfg.steps,
        "log_every": cfg.log_every,
        "val_batches": 2,
        "bn_recalibration": 2,
    }
    tc = replace(
        base, model=replace(_tiny(name), **settings), data=data, out=root / name, progress=False, device="cpu", **loop
    )
    t0 = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(tc)
    cpu = time.process_time() - t0
    logs = [e for e in read_metrics(root / name) if "emb_std" in e]
    d = tc.model.latent_dim
    old = [_flags(e["emb_std"], e["eff_rank"], d, LEWM_STD, LEWM_RANK) for e in logs]
    own = [_flags(e["emb_std"], e["eff_rank"], d, m.collapse_std, m.collapse_rank) for e in logs]
    return {
        "method": name + (" (cell settings)" if settings else ""),
        "steps": cfg.steps,
        "cpu_s": cpu,
        "emb_std": logs[-1]["emb_std"],
        "emb_std_min": min(e["emb_std"] for e in logs),
        "eff_rank": logs[-1]["eff_rank"],
        "D": d,
        "lewm_flags": f"{sum(old)}/{len(old)}",
        "own_flags": f"{sum(own)}/{len(own)}",
        "warnings": sum(issubclass(w.category, CollapseWarning) for w in caught),
        "emb_std per log": " ".join(f"{e['emb_std']:.1g}" for e in logs),
    }


def constant(data: Path, name: str) -> dict | None:
    m = get_method(name)
    cfg = replace(_tiny(name), action_dim=2)
    spec = m.clips(cfg)
    with DatasetReader(data) as r:
        stats = compute_action_stats(r)
    ds = ClipDataset(data, num_steps=spec.frames, frameskip=cfg.frameskip, action_stats=stats, goals=spec.goals)
    batch = Batch.collate([ds[int(i)] for i in np.linspace(0, len(ds) - 1, 16)])
    frame = batch.pixels[:1, :1]  # (1, 1, h, w, 3): one frame everywhere
    same = batch._replace(
        pixels=frame.expand_as(batch.pixels).clone(),
        goal_pixels=None if batch.goal_pixels is None else frame[:, 0].expand_as(batch.goal_pixels).clone(),
    )
    learner = Learner(replace(train_preset(name, "smoke"), model=cfg), cfg, torch.device("cpu"))
    learner.model.train()
    with torch.no_grad():
        _, metrics = learner.make_objective(torch.Generator().manual_seed(0))(same, with_stats=True)
        _, varied = learner.make_objective(torch.Generator().manual_seed(0))(batch, with_stats=True)
    if "emb_std" not in metrics:
        return None
    d = learner.model.latent_dim

    def flagged(stats: dict) -> bool:
        return _flags(float(stats["emb_std"]), float(stats["eff_rank"]), d, m.collapse_std, m.collapse_rank)

    return {
        "method": name,
        "floor": f"std < {m.collapse_std:g} or rank < {m.collapse_rank:g} D",
        "const_std": float(metrics["emb_std"]),
        "const_rank": float(metrics["eff_rank"]),
        "const_flagged": flagged(metrics),
        "init_std": float(varied["emb_std"]),
        "init_rank": float(varied["eff_rank"]),
        "init_flagged": flagged(varied),
    }


def _table(rows: list[dict]) -> str:
    cols = list(rows[0])
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(out + ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows])


def main(cfg: Config) -> None:
    torch.set_num_threads(cfg.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = cfg.data
        if data is None:
            data = root / "tworoom.h5"
            collect(CollectConfig(env="tworoom", episodes=12, out=data, image_size=64, progress=False))
        print("## Constant encoder (one frame everywhere), at initialisation\n")
        print(_table([r for r in (constant(data, n) for n in METHODS) if r is not None]))
        print(f"\n## Trained {cfg.steps} steps (smoke preset, batch 16, 12 TwoRoom episodes)\n")
        print(_table([trained(data, n, cfg, root / "runs") for n in cfg.train]))


if __name__ == "__main__":
    main(tyro.cli(Config))
