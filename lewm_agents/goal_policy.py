"""The amortized goal policy: a small MLP on a frozen world model's latents, from (current latent, goal latent) to the
next action blocks (GC-IDM-style, reference/field-2026.md §2), trained on hindsight pairs of the dataset's episodes.

It is the agent's fast mode (``PlanConfig(policy="only")``: act without search) and a planner's seed
(``policy="seed"``: the solver starts from its proposal). Training encodes every frame of the dataset once with the
frozen encoder, then fits the MLP by masked MSE on z-scored actions: for a row t and a goal g env steps later in the
same episode (uniform in ``[frameskip, max_goal_steps]``), the target is the ``blocks`` action blocks from t on.

Its checkpoint sits beside the world model's (``goal_policy.safetensors`` + ``goal_policy.json`` in the checkpoint
directory) and records the SHA-256 of the world model's weights it was trained on: a policy is refused with another
world model (retrain it with ``lewm train-policy``).

Differences from GC-IDM: ours predicts a chunk of ``blocks`` action blocks (the planner's horizon, so the proposal
can seed it) and sees only the current latent (no history); it is not distilled from the planner's plans.

Dimension letters: N frames, B batch, D latent, H' predicted blocks, F action block width (frameskip * A).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lewm_agents.checkpoint import CheckpointError, find_checkpoint, load_checkpoint, read_checkpoint_meta
from lewm_agents.data import ActionStats, DatasetReader

WEIGHTS, CONFIG = "goal_policy.safetensors", "goal_policy.json"


@dataclass(frozen=True)
class GoalPolicyConfig:
    """Architecture and training of the goal policy."""

    latent_dim: int = 64
    """D of the world model (filled from the checkpoint)."""
    block_dim: int = 10
    """F = frameskip * action dim (filled from the checkpoint)."""
    blocks: int = 5
    """H', action blocks predicted per query: the planner's horizon, so the proposal can seed a plan."""
    hidden: int = 256
    """Width of the MLP."""
    depth: int = 3
    """Hidden layers (Linear, LayerNorm, GELU)."""
    max_goal_steps: int = 50
    """Hindsight goals lie 1 block to this many env steps ahead of the current frame (the protocol's goal: 25)."""
    steps: int = 3000
    """Optimiser steps."""
    batch_size: int = 256
    """Pairs per step."""
    lr: float = 1e-3
    """AdamW learning rate (cosine decay to 0)."""
    seed: int = 0
    """Seed of the pair draw and the initialisation."""

    def __post_init__(self) -> None:
        sizes = (self.latent_dim, self.block_dim, self.blocks, self.hidden, self.depth, self.steps, self.batch_size)
        if min(sizes) < 1 or self.max_goal_steps < 1 or self.lr <= 0:
            raise ValueError(f"goal policy sizes, steps, batch_size, max_goal_steps and lr must be positive: {self}.")


class GoalPolicy(nn.Module):
    """MLP ``(z, z_goal, z_goal - z) -> (H', F)`` z-scored action blocks.

    Example:
        >>> policy = GoalPolicy(GoalPolicyConfig(latent_dim=8, block_dim=4, blocks=2, hidden=16))
        >>> tuple(policy.act(torch.zeros(3, 8), torch.ones(3, 8)).shape)
        (3, 2, 4)
    """

    def __init__(self, cfg: GoalPolicyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = 3 * cfg.latent_dim
        for _ in range(cfg.depth):
            layers += [nn.Linear(width, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU()]
            width = cfg.hidden
        layers.append(nn.Linear(width, cfg.blocks * cfg.block_dim))
        self.net = nn.Sequential(*layers)

    def act(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """Current latents ``(B, D)`` and goal latents ``(B, D)`` -> action blocks ``(B, H', F)``, z-scored."""
        x = torch.cat([z, z_goal, z_goal - z], -1)  # (B, 3D)
        return self.net(x).view(len(z), self.cfg.blocks, self.cfg.block_dim)  # (B, H', F)


def weights_sha256(ckpt_dir: Path) -> str:
    """The world model's weights fingerprint: the recorded SHA-256, else the file's."""
    meta = read_checkpoint_meta(ckpt_dir)
    if meta.get("weights_sha256"):
        return str(meta["weights_sha256"])
    return hashlib.sha256((ckpt_dir / "model.safetensors").read_bytes()).hexdigest()


def save_goal_policy(policy: GoalPolicy, ckpt_dir: Path, info: dict[str, Any]) -> Path:
    """Write the policy beside the world model in ``ckpt_dir``; returns the weights path."""
    save_file({k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}, str(ckpt_dir / WEIGHTS))
    meta = {"config": asdict(policy.cfg), "world_model_sha256": weights_sha256(ckpt_dir), **info}
    (ckpt_dir / CONFIG).write_text(json.dumps(meta, indent=2))
    return ckpt_dir / WEIGHTS


def has_goal_policy(path: str | Path) -> bool:
    """True when the checkpoint at ``path`` has a goal policy beside it."""
    try:
        return (find_checkpoint(path) / WEIGHTS).is_file()
    except CheckpointError:
        return False


def load_goal_policy(path: str | Path, device: str | torch.device = "cpu") -> GoalPolicy:
    """The goal policy beside the world-model checkpoint at ``path`` (a run directory or checkpoint directory).

    Raises:
        CheckpointError: none there, or it was trained on other world-model weights.
    """
    ckpt = find_checkpoint(path)
    if not (ckpt / WEIGHTS).is_file() or not (ckpt / CONFIG).is_file():
        raise CheckpointError(
            f"{ckpt} has no goal policy ({WEIGHTS} + {CONFIG}): train one with `lewm train-policy {path}` (or plan "
            f"without it: PlanConfig(policy='off'))."
        )
    meta = json.loads((ckpt / CONFIG).read_text())
    if meta.get("world_model_sha256") != weights_sha256(ckpt):
        raise CheckpointError(
            f"{ckpt / WEIGHTS} was trained on other world-model weights than {ckpt / 'model.safetensors'} (the "
            f"SHA-256 in {CONFIG} differs), so its latents mean something else. Retrain it: `lewm train-policy {path}`."
        )
    policy = GoalPolicy(GoalPolicyConfig(**meta["config"]))
    policy.load_state_dict(load_file(str(ckpt / WEIGHTS)))
    return policy.to(device).eval()


@torch.no_grad()
def encode_frames(model: Any, reader: DatasetReader, batch: int = 1024, device: torch.device | None = None) -> Any:
    """Every frame of the dataset through the frozen encoder: latents ``(N, D)`` in fp32."""
    out = []
    for lo in range(0, reader.num_frames, batch):
        rows = np.arange(lo, min(lo + batch, reader.num_frames))
        pixels = torch.as_tensor(reader.frames(rows))[:, None]  # (b, 1, h, w, 3)
        out.append(model.encode(pixels.to(device)).float()[:, 0])  # (b, D)
    return torch.cat(out)  # (N, D)


def hindsight_targets(
    actions: np.ndarray, episode_idx: np.ndarray, ep_offset: np.ndarray, ep_len: np.ndarray, frameskip: int, blocks: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every row, the next ``blocks`` action blocks ``(N, H', F)`` (z-scored actions already) and their mask
    ``(N, H', F)`` (0 past the episode's last action)."""
    N, A = actions.shape
    steps = blocks * frameskip
    idx = np.arange(N)[:, None] + np.arange(steps)[None]  # (N, steps)
    end = (ep_offset + ep_len - 1)[episode_idx]  # (N,) the last row (its action is NaN)
    valid = idx < end[:, None]  # (N, steps)
    taken = actions[np.minimum(idx, N - 1)]  # (N, steps, A)
    mask = np.repeat(valid[:, :, None], A, 2) & ~np.isnan(taken)
    target = np.where(mask, taken, 0.0).astype(np.float32)
    return target.reshape(N, blocks, frameskip * A), mask.reshape(N, blocks, frameskip * A).astype(np.float32)


def train_goal_policy(
    checkpoint: str | Path,
    data: str | Path | None = None,
    cfg: GoalPolicyConfig | None = None,
    device: str | torch.device = "cpu",
    val_fraction: float = 0.1,
) -> dict[str, Any]:
    """Train the goal policy of a world-model checkpoint on its dataset and save it beside the checkpoint.

    Args:
        checkpoint: run directory or checkpoint directory of a world model (LeWM, PLDM-style).
        data: the dataset (default: the checkpoint's training data).
        cfg: sizes and training (latent_dim and block_dim are taken from the checkpoint).
        val_fraction: share of episodes held out for the reported validation loss.

    Returns:
        Metrics: ``loss_start`` (first step), ``loss``, ``val_loss``, ``val_loss_mean_action`` (predicting the mean
        action), ``encode_s``, ``train_s``, ``parameters``, ``path``.
    """
    device = torch.device(device)
    ckpt_dir = find_checkpoint(checkpoint)
    ckpt = load_checkpoint(ckpt_dir, device=device)
    model = ckpt.model
    data_path = Path(data or ckpt.meta.get("dataset", {}).get("path", ""))
    if str(data_path) in ("", ".") or not data_path.is_file():
        raise FileNotFoundError(
            f"no dataset for the goal policy of {ckpt_dir}: {data_path or 'none recorded'} does not exist. Pass "
            f"--data PATH (the HDF5 file the world model was trained on)."
        )
    base = cfg or GoalPolicyConfig()
    F = model.frameskip * model.action_dim
    cfg = GoalPolicyConfig(**{**asdict(base), "latent_dim": model.latent_dim, "block_dim": F})
    t0 = time.perf_counter()
    with DatasetReader(data_path) as reader:
        z = encode_frames(model, reader, device=device)  # (N, D)
        stats: ActionStats = ckpt.action_stats
        actions = stats.normalize(reader.column("action").astype(np.float32))  # (N, A), NaN at episode ends
        ep_idx, ep_off, ep_len = reader.column("episode_idx"), np.asarray(reader.ep_offset), np.asarray(reader.ep_len)
    encode_s = time.perf_counter() - t0
    target, mask = hindsight_targets(actions, ep_idx, ep_off, ep_len, model.frameskip, cfg.blocks)
    rng = np.random.default_rng(cfg.seed)
    val_eps = rng.permutation(len(ep_len))[: max(1, int(val_fraction * len(ep_len)))]
    is_val = np.isin(ep_idx, val_eps)
    end = (ep_off + ep_len - 1)[ep_idx]  # (N,) last row of each row's episode
    starts = np.flatnonzero(end - np.arange(len(ep_idx)) >= model.frameskip)  # rows with a goal >= 1 block ahead
    train_rows, val_rows = starts[~is_val[starts]], starts[is_val[starts]]

    def draw(rows: np.ndarray, n: int, g: np.random.Generator) -> tuple[torch.Tensor, ...]:
        t = rows[g.integers(0, len(rows), n)]  # (B,)
        room = np.minimum(end[t] - t, cfg.max_goal_steps)  # (B,) >= frameskip
        goal = t + g.integers(model.frameskip, room + 1)  # (B,)
        return tuple(torch.as_tensor(x).to(device) for x in (t, goal))

    torch.manual_seed(cfg.seed)
    policy = GoalPolicy(cfg).to(device).train()
    z_t, target_t, mask_t = z.to(device), torch.as_tensor(target).to(device), torch.as_tensor(mask).to(device)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))

    def loss_of(t: torch.Tensor, goal: torch.Tensor, net: Any) -> torch.Tensor:
        pred = net(z_t[t], z_t[goal])  # (B, H', F)
        m = mask_t[t]  # (B, H', F)
        return ((pred - target_t[t]).pow(2) * m).sum() / m.sum().clamp_min(1)

    t1 = time.perf_counter()
    first = None
    for _ in range(cfg.steps):
        t, goal = draw(train_rows, cfg.batch_size, rng)
        loss = loss_of(t, goal, policy.act)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        first = float(loss.detach()) if first is None else first
    train_s = time.perf_counter() - t1
    policy.eval()
    with torch.no_grad():
        g = np.random.default_rng(cfg.seed + 1)
        t, goal = draw(val_rows if len(val_rows) else train_rows, 8192, g)
        val = float(loss_of(t, goal, policy.act))
        val_mean = float(loss_of(t, goal, lambda a, b: torch.zeros(len(a), cfg.blocks, F, device=device)))
    info = {
        "data": str(data_path),
        "loss_start": first,
        "loss": float(loss.detach()),
        "val_loss": val,
        "val_loss_mean_action": val_mean,
        "encode_s": encode_s,
        "train_s": train_s,
        "parameters": sum(p.numel() for p in policy.parameters()),
    }
    path = save_goal_policy(policy, ckpt_dir, info)
    return {**info, "path": str(path)}


__all__ = [
    "GoalPolicy",
    "GoalPolicyConfig",
    "encode_frames",
    "has_goal_policy",
    "hindsight_targets",
    "load_goal_policy",
    "save_goal_policy",
    "train_goal_policy",
]
