"""Model diagnostics for any method: parameter counts per module, the effective rank of latents and the share of
their spread that lies within episodes.

Dimension letters: M latent vectors, D latent, T frames of one episode.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``module``."""
    return sum(p.numel() for p in module.parameters())


def parameter_table(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level child module, in registration order, then ``total``; parameters held directly by
    ``model`` (not by a child) are listed as ``(own)``. Works for any method's model.

    Example:
        >>> parameter_table(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
        {'0': 9, '1': 4, 'total': 13}
    """
    parts = {name: count_parameters(child) for name, child in model.named_children()}
    own = sum(p.numel() for p in model.parameters(recurse=False))
    if own:
        parts["(own)"] = own
    parts["total"] = count_parameters(model)
    return parts


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of centred latents ``(M, D)``: D when isotropic, 1 when
    collapsed to a line (Roy & Vetterli, 2007)."""
    z = z.detach().float().reshape(-1, z.shape[-1])  # (M, D)
    s = torch.linalg.svdvals(z - z.mean(0))  # (min(M, D),)
    p = s / s.sum().clamp_min(1e-12)
    return float(math.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))


def within_episode_share(episodes: list[torch.Tensor]) -> float:
    """Share of the total variance of vectors ``[(T_e, D), ...]`` (one tensor per episode) that lies within episodes:
    1 - between-episode variance / total. Near 0 when the vectors are constant within each episode (the spread comes
    from what differs across episodes, e.g. a resting object's pose), near 1 when the episodes share one mean.

    Example:
        >>> round(within_episode_share([torch.zeros(3, 2), torch.ones(3, 2)]), 3)
        0.0
    """
    flat = torch.cat([e.float() for e in episodes])  # (M, D)
    total = (flat - flat.mean(0)).pow(2).sum()
    within = sum((e.float() - e.float().mean(0)).pow(2).sum() for e in episodes)
    return float(within / total.clamp_min(1e-12))
