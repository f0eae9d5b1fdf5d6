"""PLDM-style: LeWM's backbone (the same encoder, projectors, action embedder and predictor) trained with the
VICReg-family objective of PLDM (Sobal et al., 2025; reference/baselines.md §2), planned with the same solvers and
budget as LeWM. Labelled "PLDM-style", not PLDM: PLDM's own encoders, predictors and MPPI settings differ.

The objective, on the latents z of a clip's T frames (weights from swm's ``pldm.yaml``, the LeWM authors' setting
of PLDM on this backbone)::

    L = 1.0 * MSE(predicted, encoded next latents)          prediction (teacher forcing, as LeWM)
      + 18  * mean_t relu(1 - std_batch(z_t))                variance hinge over the batch, per frame and dimension
      + 12  * mean_t offdiag(cov_batch(z_t))^2 / (D^2 - D)   covariance over the batch
      + 0.7 * mean_b relu(1 - std_time(z_b))                 temporal variance, within each clip
      + 0   * mean_b offdiag(cov_time(z_b))^2 / (D^2 - D)    temporal covariance
      + 0.2 * MSE(z_{t+1}, z_t)                              temporal smoothness
      + 0   * MSE(IDM(z_t, z_{t+1}), a_t)                     inverse dynamics (an MLP head; off by default)

PLDM's authors tune the weights per environment; swm's defaults fail on TwoRoom with a 1-frame history (0% where
PLDM's own Two-Rooms weights reach 94%, measured in lewm_agents/cells.py), so the benchmark's TwoRoom cells set those.

The batch statistics are those of the global batch under torch.distributed (sums all-reduced, differentiably), so K
processes train like one, as SIGReg does (tests/test_distributed.py). Deliberate differences from swm's VCReg: the
temporal covariance centres each clip over time (swm centres over the batch only), and no term is computed in bf16.

Dimension letters: B batch (this rank's share), N global batch, T clip frames, D latent, F action block width.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from lewm_agents.checks import check_range
from lewm_agents.data.batch import Batch, ClipSpec
from lewm_agents.diagnostics import effective_rank
from lewm_agents.distributed import all_reduce_sum, is_distributed
from lewm_agents.methods.lewm import PRESETS as LEWM_PRESETS
from lewm_agents.methods.method import Method
from lewm_agents.model import LeWM, ModelConfig, inverse_dynamics_head


@dataclass(frozen=True)
class PLDMConfig(ModelConfig):
    """LeWM's architecture (the same defaults) and the weights of the VICReg-family objective (swm ``pldm.yaml``)."""

    sim_coeff: float = 1.0
    """Weight of the prediction MSE."""
    std_coeff: float = 18.0
    """Weight of the variance hinge over the batch (per frame and latent dimension)."""
    cov_coeff: float = 12.0
    """Weight of the covariance penalty over the batch."""
    std_t_coeff: float = 0.7
    """Weight of the temporal variance hinge (across each clip's frames)."""
    cov_t_coeff: float = 0.0
    """Weight of the temporal covariance penalty."""
    smooth_coeff: float = 0.2
    """Weight of the temporal smoothness MSE between consecutive latents."""
    idm_coeff: float = 0.0
    """Weight of the inverse-dynamics loss (0: no IDM head is built)."""
    idm_hidden: int = 512
    """Hidden width of the IDM head (Linear, LayerNorm, GELU, Linear)."""
    std_margin: float = 1.0
    """Target standard deviation of the hinges (VICReg's gamma)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("sim_coeff", "std_coeff", "cov_coeff", "std_t_coeff", "cov_t_coeff", "smooth_coeff", "idm_coeff"):
            check_range(self, name, low=0, prefix="model.", what="a loss weight")
        check_range(self, "std_margin", low=0, low_open=True, prefix="model.", what="the hinges' target std")
        if self.idm_hidden < 1:
            raise ValueError(f"PLDMConfig.idm_hidden (--model.idm-hidden) must be >= 1, got {self.idm_hidden}.")


class PLDMModel(LeWM):
    """LeWM's world model, plus the inverse-dynamics head when the objective uses it (training only: planning never
    calls it, and it is counted in the parameters)."""

    def __init__(self, cfg: PLDMConfig) -> None:
        super().__init__(cfg)
        self.idm = (
            inverse_dynamics_head(cfg.latent_dim, cfg.action_block_dim, cfg.idm_hidden) if cfg.idm_coeff > 0 else None
        )


def variance_covariance(z: torch.Tensor, margin: float = 1.0, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg's variance hinge and covariance penalty of ``z (T, N, D)`` over its N samples, averaged over T.

    Under torch.distributed the samples of all ranks count (the sums are all-reduced with a differentiable sum
    whose backward sums over ranks, so after DDP's averaging the parameter gradients are the single-process ones).

    Returns:
        ``mean relu(margin - sqrt(var + eps))`` and ``mean (sum of squared off-diagonal covariances) / (D^2 - D)``.
    """
    z = z.float()  # (T, n, D)
    _, n, D = z.shape
    world = dist.get_world_size() if is_distributed() else 1
    N = n * world  # samples over all ranks
    mean = all_reduce_sum(z.sum(1)) / N  # (T, D)
    zc = z - mean.unsqueeze(1)  # (T, n, D)
    cov = all_reduce_sum(torch.einsum("tni,tnj->tij", zc, zc)) / (N - 1)  # (T, D, D)
    var = cov.diagonal(dim1=-2, dim2=-1)  # (T, D)
    std_loss = F.relu(margin - (var + eps).sqrt()).mean()
    off = (cov.pow(2).sum((-2, -1)) - var.pow(2).sum(-1)) / (D * D - D)  # (T,)
    return std_loss, off.mean()


def temporal_variance_covariance(
    z: torch.Tensor, margin: float = 1.0, eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same two terms across the T frames of each clip ``z (B, T, D)`` (per clip, then the mean over clips)."""
    z = z.float()  # (B, T, D)
    _, T, D = z.shape
    zc = z - z.mean(1, keepdim=True)  # (B, T, D)
    cov = torch.einsum("bti,btj->bij", zc, zc) / max(T - 1, 1)  # (B, D, D)
    var = cov.diagonal(dim1=-2, dim2=-1)  # (B, D)
    std_loss = F.relu(margin - (var + eps).sqrt()).mean()
    off = (cov.pow(2).sum((-2, -1)) - var.pow(2).sum(-1)) / (D * D - D)  # (B,)
    return std_loss, off.mean()


class PLDMObjective(nn.Module):
    """The VICReg-family objective of a batch (module docstring) as one module call."""

    def __init__(self, model: PLDMModel, cfg: PLDMConfig, generator: torch.Generator | None) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg  # no randomness: the generator is not needed

    def forward(self, batch: Batch, with_stats: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg, model, hist = self.cfg, self.model, self.cfg.history
        if batch.pixels.shape[1] != hist + 1:
            raise ValueError(f"clips must have history + 1 = {hist + 1} frames, got {batch.pixels.shape[1]}.")
        emb = model.encode(batch.pixels)  # (B, T, D)
        act_emb = model.embed_actions(batch.actions)  # (B, T, D)
        pred = model.predict(emb[:, :hist], act_emb[:, :hist])  # (B, T-1, D)
        z = emb.float()  # (B, T, D)
        terms = {"pred_loss": (pred.float() - z[:, 1:]).pow(2).mean()}
        terms["std_loss"], terms["cov_loss"] = variance_covariance(z.transpose(0, 1), cfg.std_margin)
        terms["std_t_loss"], terms["cov_t_loss"] = temporal_variance_covariance(z, cfg.std_margin)
        terms["smooth_loss"] = (z[:, 1:] - z[:, :-1]).pow(2).mean()
        weights = {
            "pred_loss": cfg.sim_coeff,
            "std_loss": cfg.std_coeff,
            "cov_loss": cfg.cov_coeff,
            "std_t_loss": cfg.std_t_coeff,
            "cov_t_loss": cfg.cov_t_coeff,
            "smooth_loss": cfg.smooth_coeff,
        }
        if model.idm is not None:
            a_hat = model.idm(torch.cat([emb[:, :-1], emb[:, 1:]], -1))  # (B, T-1, F)
            terms["idm_loss"] = (a_hat.float() - batch.actions[:, :-1].float()).pow(2).mean()
            weights["idm_loss"] = cfg.idm_coeff
        loss = sum(weights[k] * v for k, v in terms.items())
        metrics = {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}
        if with_stats:
            flat = z.detach().reshape(-1, z.shape[-1])  # (B*T, D)
            metrics["emb_std"] = flat.std(0).mean()
            metrics["eff_rank"] = torch.tensor(effective_rank(flat), device=flat.device)
        return loss, metrics


def _pldm_config(lewm: ModelConfig) -> PLDMConfig:
    """The PLDM-style config on a LeWM architecture (its ModelConfig fields; the LeWM objective's settings dropped)."""
    arch = {f.name: getattr(lewm, f.name) for f in fields(ModelConfig)}
    return PLDMConfig(**arch)


METHOD = Method(
    name="pldm",
    label="PLDM-style (VICReg-family objective on the LeWM backbone)",
    config=PLDMConfig,
    presets={name: _pldm_config(cfg) for name, cfg in LEWM_PRESETS.items()},
    build=PLDMModel,
    objective=PLDMObjective,
    acts="plan",
    clips=lambda cfg: ClipSpec(frames=cfg.clip_frames),
    hparams=lambda cfg: {
        k: getattr(cfg, k)
        for k in ("sim_coeff", "std_coeff", "cov_coeff", "std_t_coeff", "cov_t_coeff", "smooth_coeff", "idm_coeff")
    },
    collapse_hint="Raise --model.std-coeff (the variance hinge weight)",
)
