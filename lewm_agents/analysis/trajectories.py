"""What the analyses read: held-out episodes of a run's dataset, paths of frames one model step apart, frames with
their simulator state, and a checkpoint's model ready to encode. Only `WorldModel.encode` / `Policy.encode` and, for
surprise, `WorldModel.rollout` are used, so every registered method is analysed the same way.

Dimension letters: B paths, T frames per path, N frames, D latent, S state dimensions, A action dim, F = frameskip x A,
h / w frame side.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import torch

from lewm_agents.data import DatasetReader, split_episodes


class Paths(NamedTuple):
    """Frame paths cut from episodes, one per episode."""

    pixels: np.ndarray
    """uint8 ``(B, T, h, w, 3)``, frames ``frameskip`` env steps apart."""
    actions: np.ndarray
    """float32 ``(B, T - 1, F)``: the raw env actions between two frames, one action block per row (time-major)."""
    state: np.ndarray | None
    """float32 ``(B, T, S)`` simulator state of each frame (None when the dataset has no state column)."""
    episodes: np.ndarray
    """int64 ``(B,)`` the episode of each path."""


def heldout_episodes(meta: dict[str, Any], num_episodes: int) -> np.ndarray:
    """The validation episodes of the run whose checkpoint ``meta`` is given (its own split: val_fraction and seed of
    its recipe), or every episode when the run held none out (or the dataset is another one)."""
    train = meta.get("train", {})
    seen = meta.get("dataset", {}).get("num_episodes")
    if seen is not None and int(seen) != num_episodes:
        return np.arange(num_episodes)  # another dataset than the run's: none of it was trained on by construction
    _, val = split_episodes(num_episodes, float(train.get("val_fraction", 0.1)), int(train.get("seed", 3072)))
    return val if len(val) else np.arange(num_episodes)


def read_paths(
    reader: DatasetReader,
    episodes: np.ndarray,
    *,
    frameskip: int,
    frames: int,
    max_paths: int,
    start: int = 0,
) -> Paths:
    """One path per episode (in order, at most ``max_paths``): ``frames`` frames ``frameskip`` env steps apart from
    step ``start``; episodes too short are skipped."""
    span = (frames - 1) * frameskip
    pix, acts, states, used = [], [], [], []
    state_col = reader.column("state") if "state" in reader.columns else None
    action_col = reader.column("action")
    for e in np.asarray(episodes, dtype=np.int64):
        if len(used) == max_paths:
            break
        if reader.ep_len[e] <= start + span:
            continue
        first = int(reader.ep_offset[e]) + start
        rows = first + np.arange(frames) * frameskip  # (T,)
        pix.append(reader.frames(rows))  # (T, h, w, 3)
        a = action_col[first : first + span]  # (span, A)
        acts.append(a.reshape(frames - 1, frameskip * a.shape[-1]))  # (T-1, F)
        if state_col is not None:
            states.append(state_col[rows])  # (T, S)
        used.append(int(e))
    h = reader.image_size
    A = reader.action_dim
    return Paths(
        pixels=np.stack(pix) if pix else np.zeros((0, frames, h, h, 3), np.uint8),
        actions=np.stack(acts).astype(np.float32) if acts else np.zeros((0, frames - 1, frameskip * A), np.float32),
        state=np.stack(states).astype(np.float32) if states else None,
        episodes=np.asarray(used, dtype=np.int64),
    )


def sample_frames(
    reader: DatasetReader, episodes: np.ndarray, max_frames: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``max_frames`` rows drawn uniformly without replacement from ``episodes`` (sorted).

    Returns:
        ``(rows (N,), episode of each row (N,), state (N, S))``; the frames are read by the caller in chunks.
    """
    if "state" not in reader.columns:
        raise ValueError(
            f"{reader.path} has no 'state' column, so there is nothing to probe for. Collect it with an env that "
            "reports info['state'] (every lewm/* env does)."
        )
    ep_idx = np.repeat(np.arange(reader.num_episodes), reader.ep_len)  # (N_all,)
    rows = np.flatnonzero(np.isin(ep_idx, episodes))
    rng = np.random.default_rng(seed)
    if len(rows) > max_frames:
        rows = np.sort(rng.choice(rows, size=max_frames, replace=False))
    return rows, ep_idx[rows], reader.column("state")[rows].astype(np.float32)


@torch.no_grad()
def encode_frames(
    model: torch.nn.Module, pixels: np.ndarray, device: str | torch.device = "cpu", chunk: int = 256
) -> torch.Tensor:
    """Frames ``(N, h, w, 3)`` or paths ``(B, T, h, w, 3)`` (uint8 numpy) -> latents ``(N, D)`` / ``(B, T, D)``
    (float32, on the CPU), ``chunk`` frames per ``encode`` call."""
    lead = pixels.shape[:-3]
    flat = pixels.reshape(-1, *pixels.shape[-3:])  # (N, h, w, 3)
    out = []
    for i in range(0, len(flat), chunk):
        x = torch.from_numpy(np.ascontiguousarray(flat[i : i + chunk])).to(device)[:, None]  # (n, 1, h, w, 3)
        out.append(model.encode(x)[:, 0].float().cpu())  # (n, D)
    return torch.cat(out).reshape(*lead, -1)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Any]:
    """A checkpoint's model in eval mode and the `Checkpoint` (a run directory gives its newest checkpoint)."""
    from lewm_agents.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, device=device)
    return ckpt.model.eval(), ckpt


def random_init_model(ckpt: Any, seed: int = 0, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The same architecture as the checkpoint's model at random initialisation (the probes' floor), in eval mode."""
    from lewm_agents.methods import get_method

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_method(ckpt.method).build(ckpt.config)
    return model.to(device).eval()
