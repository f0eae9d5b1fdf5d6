"""Summaries of datasets and checkpoints (``lewm info``): plain dicts, printed by the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def summarize(path: str | os.PathLike) -> dict[str, Any]:
    """Summary of an HDF5 dataset (a file) or of a checkpoint (a run or checkpoint directory)."""
    p = Path(path)
    if p.is_dir():
        return summarize_checkpoint(p)
    return summarize_dataset(p)


def _space_text(space: dict[str, Any] | None) -> str | None:
    """One-line description of a stored action space: Discrete(2) (one-hot) or Box(2) [-1, 1]."""
    if space is None:
        return None
    if space.get("type") == "Discrete":
        return f"Discrete({space['n']}), stored one-hot"
    low, high = np.asarray(space.get("low", [])), np.asarray(space.get("high", []))
    bounds = f"[{low.min():g}, {high.max():g}]" if low.size else ""
    return f"Box{tuple(space.get('shape', ()))} {bounds}".strip()


def summarize_dataset(path: str | os.PathLike) -> dict[str, Any]:
    """Episodes, frames, size on disk, env and image size, episode lengths and action statistics.

    Example:
        >>> summarize_dataset("data/tworoom.h5")["episodes"]  # doctest: +SKIP
        100
    """
    from lewm_agents.data import DatasetReader

    with DatasetReader(path) as r:
        action = r.column("action").astype(np.float64)  # (N, A)
        valid = action[~np.isnan(action).any(axis=1)]  # (N - E, A): the last row of each episode has no action
        lengths = r.ep_len - 1  # env steps per episode
        return {
            "path": str(path),
            "env_id": r.env_id,
            "env_kwargs": r.env_kwargs,
            "image_size": r.image_size,
            "policy": r.policy,
            "episodes": r.num_episodes,
            "frames": r.num_frames,
            "size_mb": round(Path(path).stat().st_size / 2**20, 2),
            "episode_steps": f"mean {lengths.mean():.1f}, min {lengths.min()}, max {lengths.max()}",
            "action_dim": r.action_dim,
            "action_space": _space_text(r.action_space),
            "action_mean": np.round(valid.mean(0), 4).tolist() if len(valid) else None,
            "action_std": np.round(valid.std(0), 4).tolist() if len(valid) else None,
            "action_min": np.round(valid.min(0), 4).tolist() if len(valid) else None,
            "action_max": np.round(valid.max(0), 4).tolist() if len(valid) else None,
            "columns": sorted(r.columns),
            **({"merged_from": len(r.collection["merged_from"])} if "merged_from" in r.collection else {}),
        }


def summarize_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Model size, training progress, data and last metrics of a checkpoint."""
    from lewm_agents.checkpoint import find_checkpoint, load_checkpoint
    from lewm_agents.diagnostics import parameter_table

    ckpt = load_checkpoint(find_checkpoint(path))
    meta = ckpt.meta
    out: dict[str, Any] = {
        "checkpoint": str(ckpt.path),
        "method": ckpt.method,
        "step": meta.get("step"),
        "finished": meta.get("finished"),
        "train_seconds": round(meta.get("train_seconds", 0), 1),
        "dataset": meta.get("dataset", {}).get("path"),
        "env_id": meta.get("dataset", {}).get("env_id"),
    }
    out.update({f"params/{k}": f"{v:,}" for k, v in parameter_table(ckpt.model).items()})
    out.update({f"model/{k}": v for k, v in ckpt.config.to_dict().items()})
    out.update({f"metrics/{k}": round(v, 5) for k, v in meta.get("metrics", {}).items() if isinstance(v, float)})
    return out
