"""Latent maps (reference/lewm.md §6.7, the paper's Fig. 13): frames of the agent (and, in PushT, the block) placed on a
grid of positions, rendered by the env, encoded by a run's model (any method), and projected to 2-D with PCA (and
t-SNE where scikit-learn is installed). Each point is coloured by its true position (x -> red, y -> blue), so a map
that keeps the spatial layout shows the same colour gradient as the grid.

Dimension letters: N grid frames, D latent, h / w frame side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents.analysis.trajectories import encode_frames, load_model


def grid_states(env_id: str, n: int) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """``{map name: (reset states (N, S), the state indices of the varied position)}`` on an ``n`` x ``n`` grid.

    TwoRoom: the agent over the free space. PushT: the agent with the block at rest in the middle, and the block
    (angle 0) with the agent in a corner.
    """
    if "TwoRoom" in env_id:
        g = np.linspace(21.0, 203.0, n)
        xy = np.array([(x, y) for y in g for x in g if not 100.0 <= x <= 124.0])  # (N, 2): not in the wall zone
        return {"agent": (xy, (0, 1))}
    if "PushT" in env_id:
        g = np.linspace(40.0, 472.0, n)
        agent = np.array([(x, y, 256.0, 256.0, 0.0) for y in g for x in g])  # (N, 5)
        gb = np.linspace(110.0, 400.0, n)
        block = np.array([(30.0, 30.0, x, y, 0.0) for y in gb for x in gb])  # (N, 5)
        return {"agent": (agent, (0, 1)), "block": (block, (2, 3))}
    raise ValueError(f"no latent-map grid is defined for {env_id}; `lewm latent-map` supports TwoRoom and PushT.")


def render_grid(env_id: str, env_kwargs: dict[str, Any], states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reset the env at every state: frames ``(N, h, w, 3)`` and the states reached ``(N, S)`` (a reset may move the
    block a little where the agent overlaps it; points are coloured by the reached state)."""
    import gymnasium

    import lewm_envs  # noqa: F401  (registers the lewm/* ids)

    env = gymnasium.make(env_id, **env_kwargs).unwrapped
    frames, reached = [], []
    for s in states:
        obs, info = env.reset(seed=0, options={"state": s})
        frames.append(obs)
        reached.append(np.asarray(info["state"], np.float64))
    env.close()
    return np.stack(frames), np.stack(reached)


def project(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Latents ``(N, D)`` -> 2-D coordinates ``(N, 2)`` by PCA (centred SVD) or t-SNE (scikit-learn)."""
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, len(z) / 4)).fit_transform(z)
    zc = z - z.mean(0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    return zc @ vt[:2].T


def _colours(xy: np.ndarray) -> np.ndarray:
    lo, hi = xy.min(0), xy.max(0)
    u = (xy - lo) / np.where(hi > lo, hi - lo, 1.0)  # (N, 2) in [0, 1]
    return np.stack([u[:, 0], 0.35 * np.ones(len(u)), u[:, 1]], axis=1)  # x -> red, y -> blue


def latent_map(
    run: str | os.PathLike,
    *,
    grid: int = 15,
    device: str = "cpu",
    figure: str | os.PathLike | None = None,
    tsne: bool | None = None,
) -> dict[str, Any]:
    """Latent maps of ``run`` (a run directory or checkpoint of any method) on its env's position grids.

    Args:
        run: the run.
        grid: points per side of the grid.
        device: torch device.
        figure: the PNG to write (None: no figure).
        tsne: also t-SNE (None: where scikit-learn is installed).

    Returns:
        ``{"run", "method", "env_id", "maps": {name: {"points", "pca_explained"}}, "figures"}``.
    """
    from lewm_agents.data import DatasetReader

    model, ckpt = load_model(run, device)
    data = Path(ckpt.meta.get("dataset", {}).get("path", ""))
    with DatasetReader(data) as reader:
        env_id, env_kwargs = reader.env_id, dict(reader.env_kwargs)
        env_kwargs.setdefault("image_size", reader.image_size)
    if tsne is None:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            tsne = False
        else:
            tsne = True
    maps = {}
    for name, (states, idx) in grid_states(env_id, grid).items():
        frames, reached = render_grid(env_id, env_kwargs, states)
        with torch.no_grad():
            z = encode_frames(model, frames, device).numpy().astype(np.float64)  # (N, D)
        pca = project(z, "pca")
        zc = z - z.mean(0)
        var = np.linalg.svd(zc, compute_uv=False) ** 2
        maps[name] = {
            "xy": reached[:, list(idx)],
            "pca": pca,
            "tsne": project(z, "tsne") if tsne else None,
            "pca_explained": float(var[:2].sum() / max(var.sum(), 1e-12)),
        }
    result: dict[str, Any] = {
        "run": str(run),
        "method": ckpt.method,
        "env_id": env_id,
        "maps": {k: {"points": len(v["xy"]), "pca_explained": v["pca_explained"]} for k, v in maps.items()},
        "figures": [],
    }
    if figure is not None:
        result["figures"] = _plot(maps, ckpt.method, Path(figure))
    return result


def _plot(maps: dict[str, dict[str, Any]], method: str, path: Path) -> list[dict[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional (the dev or all extra)
        return []
    cols = 2 + any(m["tsne"] is not None for m in maps.values())
    fig, axes = plt.subplots(len(maps), cols, figsize=(3.0 * cols, 3.0 * len(maps)), squeeze=False)
    for row, (name, m) in zip(axes, maps.items()):
        c = _colours(m["xy"])
        panels = [
            ("true " + name + " position", m["xy"] * [1, -1]),
            (f"PCA ({100 * m['pca_explained']:.0f}% var)", m["pca"]),
        ]
        if m["tsne"] is not None:
            panels.append(("t-SNE", m["tsne"]))
        for ax, (title, pts) in zip(row, panels):
            ax.scatter(pts[:, 0], pts[:, 1], c=c, s=12)
            ax.set_title(f"{name}: {title}" if title.startswith(("PCA", "t-SNE")) else title, fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"{method}: latent maps (colour: x -> red, y -> blue)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [
        {
            "title": "Latent map",
            "path": str(path),
            "caption": "Frames with the agent (PushT: and the block) on a grid of positions, encoded and projected to "
            "2-D; each point coloured by its true position. Left: the grid itself (image orientation).",
        }
    ]
