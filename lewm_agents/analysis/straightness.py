"""Temporal straightness of latent paths (reference/lewm.md §6.6, PAPER-v3 §5.1 and App. H).

With latent velocities v_t = z_{t+1} - z_t along a path of T frames,

    S_straight = 1 / (B (T - 2)) * sum_i sum_{t=1}^{T-2} cos(v_t^(i), v_{t+1}^(i)),

the mean cosine between consecutive velocities: 1 on a straight path, about 0 on a random walk. The paper finds that
LeWM's paths straighten during training though no loss term asks for it. Here it is:

* `straightness`: the statistic of any latent paths ``(B, T, D)``;
* `StraightnessProbe`: fixed held-out paths of a dataset, encoded by the model being trained; the training loop logs
  ``straightness`` with its statistics (TensorBoard ``train/straightness`` and metrics.jsonl), for every method;
* `checkpoint_straightness`: the statistic of every saved checkpoint of a run and, with ``figure``, a plot of it
  beside the curve logged during training (``lewm straightness RUN``).

Paths are frames ``frameskip`` env steps apart (the model's step), so a velocity is one predicted step.

Dimension letters: B paths, T frames per path, D latent, h / w frame side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents.analysis.trajectories import encode_frames, heldout_episodes, read_paths


def straightness(z: torch.Tensor, eps: float = 1e-8) -> float:
    """Mean cosine between consecutive latent velocities of paths ``(B, T, D)`` (T >= 3); see the module docstring.

    Example:
        >>> t = torch.arange(6.0)[None, :, None] * torch.ones(1, 1, 4)  # a straight path
        >>> round(straightness(t), 6)
        1.0
    """
    return float(path_straightness(z, eps).mean())


def path_straightness(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-path mean cosine between consecutive velocities: latents ``(B, T, D)`` -> ``(B,)``."""
    if z.ndim != 3 or z.shape[1] < 3:
        raise ValueError(f"straightness needs latent paths of shape (B, T, D) with T >= 3, got {tuple(z.shape)}.")
    v = (z[:, 1:] - z[:, :-1]).float()  # (B, T-1, D)
    cos = torch.nn.functional.cosine_similarity(v[:, 1:], v[:, :-1], dim=-1, eps=eps)  # (B, T-2)
    return cos.mean(dim=1)  # (B,)


class StraightnessProbe:
    """Fixed latent paths to measure straightness on while a model trains: up to ``paths`` held-out episodes of
    ``data``, ``frames`` frames each, ``frameskip`` env steps apart (read once, kept on ``device`` as uint8).

    ``probe(model)`` encodes them in eval mode without gradients (no BatchNorm statistic or RNG state is touched, so
    exact resume is unaffected) and restores the model's mode.

    Args:
        data: the training dataset.
        episodes: the episodes to draw paths from (the validation split; the training split if it is empty).
        frameskip: env steps between two frames of a path.
        frames: T, frames per path (>= 3).
        paths: B, at most this many paths (one per episode, from its first frame).
        device: where the frames live and the model runs.
    """

    def __init__(
        self,
        data: str | os.PathLike,
        episodes: np.ndarray,
        frameskip: int,
        *,
        frames: int = 16,
        paths: int = 8,
        device: str | torch.device = "cpu",
    ) -> None:
        from lewm_agents.data import DatasetReader

        with DatasetReader(data) as reader:
            p = read_paths(reader, episodes, frameskip=frameskip, frames=frames, max_paths=paths)
        if p.pixels.shape[0] == 0:
            raise ValueError(f"{data} has no episode with {frames} frames {frameskip} steps apart for straightness.")
        self.pixels = torch.from_numpy(p.pixels).to(device)  # (B, T, h, w, 3)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> float:
        was_training = model.training
        model.eval()
        try:
            z = model.encode(self.pixels)  # (B, T, D)
        finally:
            model.train(was_training)
        return straightness(z)


def checkpoint_straightness(
    run: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    paths: int = 64,
    frames: int = 8,
    device: str = "cpu",
    figure: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Straightness of every saved checkpoint of ``run`` on held-out paths, plus the curve logged in training.

    Args:
        run: a run directory of `lewm train` (or one checkpoint).
        data: the dataset (default: the run's own, read from the checkpoint).
        paths: episodes used (one path each, from its first frame): held-out ones first, then training ones when
            too few held-out episodes are long enough.
        frames: frames per path, ``frameskip`` env steps apart.
        device: torch device.
        figure: where to write the PNG (None: no figure).

    Returns:
        ``{"run", "method", "checkpoints": [{"step", "straightness"}], "logged": [{"step", "straightness"}],
        "final", "figures"}`` (``final``: the last checkpoint's value).
    """
    from lewm_agents.analysis.trajectories import load_model
    from lewm_agents.checkpoint import list_checkpoints
    from lewm_agents.data import DatasetReader
    from lewm_agents.monitor import read_metrics

    run = Path(run)
    run_dir = run if list_checkpoints(run) else run.parents[1]
    ckpts = list_checkpoints(run_dir) or [run]
    model, ckpt = load_model(ckpts[-1], device)
    data = Path(data or ckpt.meta.get("dataset", {}).get("path", ""))
    with DatasetReader(data) as reader:
        held = heldout_episodes(ckpt.meta, reader.num_episodes)  # first, then training ones if too few are long
        eps = np.concatenate([held, np.setdiff1d(np.arange(reader.num_episodes), held)])
        p = read_paths(reader, eps, frameskip=model.frameskip, frames=frames, max_paths=paths)
    if not len(p.episodes):
        raise ValueError(
            f"{data} has no episode of {(frames - 1) * model.frameskip + 1} steps for a path of {frames} frames; pass "
            "fewer --frames (>= 3)."
        )
    rows = []
    for c in ckpts:
        m, ck = load_model(c, device)
        z = encode_frames(m, p.pixels, device)  # (B, T, D)
        rows.append({"step": int(ck.meta.get("step", 0)), "straightness": straightness(z)})
    logged = [
        {"step": int(e["step"]), "straightness": float(e["straightness"])}
        for e in read_metrics(run_dir)
        if "straightness" in e
    ]
    result: dict[str, Any] = {
        "run": str(run_dir),
        "method": ckpt.method,
        "data": str(data),
        "paths": int(p.pixels.shape[0]),
        "heldout_paths": int(np.isin(p.episodes, held).sum()),
        "frames": frames,
        "checkpoints": rows,
        "logged": logged,
        "final": rows[-1]["straightness"],
        "figures": [],
    }
    if figure is not None:
        result["figures"] = plot_straightness({ckpt.method: result}, Path(figure))
    return result


def plot_straightness(results: dict[str, dict[str, Any]], path: Path) -> list[dict[str, str]]:
    """One figure of the straightness curves of several runs (logged: lines; checkpoints: dots)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional (the dev or all extra)
        return []
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, (name, r) in enumerate(results.items()):
        color = f"C{i}"
        if r["logged"]:
            ax.plot([e["step"] for e in r["logged"]], [e["straightness"] for e in r["logged"]], color=color,
                    lw=1.2, label=f"{name} (logged, 8 paths)")  # fmt: skip
        ax.plot([e["step"] for e in r["checkpoints"]], [e["straightness"] for e in r["checkpoints"]], "o",
                color=color, ms=5, label=f"{name} (checkpoints, {r['paths']} paths)")  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel("mean cos(v_t, v_t+1)")
    ax.set_title("temporal straightness of latent paths")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [
        {
            "title": "Temporal straightness",
            "path": str(path),
            "caption": "Mean cosine between consecutive latent velocities on held-out paths (1: straight, 0: random "
            "walk), over training.",
        }
    ]
