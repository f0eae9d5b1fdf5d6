"""The LeWM objective: next-embedding MSE + lambda * SIGReg (reference/lewm.md §3).

Dimension letters: B batch, T time, N samples per time step (the batch, global under DDP), D latent, M random
directions, K quadrature knots.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from lewm_agents.diagnostics import effective_rank
from lewm_agents.distributed import all_reduce_sum, is_distributed
from lewm_agents.model import LeWM

LAMBDA = 0.09  # official config; the paper text says 0.1, its sweep peaks at 0.09 (§3.3)
NUM_PROJ = 1024
KNOTS = 17
T_MAX = 3.0


def epps_pulley_knots(
    knots: int = KNOTS, t_max: float = T_MAX, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Knots t_k on [0, t_max], the target CF phi(t) = exp(-t^2/2), and trapezoid weights doubled for the even
    integrand and windowed by exp(-t^2/2) (§3.2 steps 3 and 6)."""
    t = torch.linspace(0.0, t_max, knots, device=device, dtype=torch.float32)  # (K,)
    phi = torch.exp(-0.5 * t**2)  # (K,)
    dt = t_max / (knots - 1)
    w = 2 * dt * phi  # (K,): interior trapezoid weight dt, doubled because |phi_N - phi|^2 is even in t
    w[0], w[-1] = dt * phi[0], dt * phi[-1]  # end points carry half weight
    return t, phi, w


def sigreg_per_step(
    z: torch.Tensor, num_proj: int = NUM_PROJ, generator: torch.Generator | None = None, knots: int = KNOTS
) -> torch.Tensor:
    """The SIGReg statistic of every time step ``(T,)``, averaged over the M directions; `sigreg` is its mean.

    Args:
        z: latents ``(T, N, D)``; the statistic is taken per time step over the N samples.
        num_proj: number of random unit directions M, drawn fresh at every call (shared by the T time steps).
        generator: the RNG for the directions (on z's device). Every DDP rank must pass a generator in the same state
            so all ranks project on the same directions.
        knots: trapezoid knots on [0, 3].

    Under torch.distributed, the empirical characteristic function is averaged over all ranks before the statistic,
    so the value is the single-process value on the global batch (ranks must hold equal batch sizes). Its backward
    sums the upstream gradients of all ranks, so every rank's gradient is world_size times the gradient of the
    global statistic w.r.t. its own samples; DDP's gradient averaging divides by world_size again, which makes the
    parameter gradient exactly the single-process one (tests/test_distributed.py checks both).
    """
    z = z.float()  # the CF of a bf16 projection is too coarse; deliberately fp32 (the official code runs it in bf16)
    _, N, D = z.shape  # (T, N, D)
    A = torch.randn(D, num_proj, device=z.device, generator=generator)  # (D, M)
    A = A / A.norm(dim=0, keepdim=True)  # unit directions, uniform on the sphere
    t, phi, w = epps_pulley_knots(knots, device=z.device)  # (K,)
    x = (z @ A).unsqueeze(-1) * t  # (T, N, M, K)
    ecf = torch.stack([x.cos().mean(1), x.sin().mean(1)])  # (2, T, M, K): empirical CF, real and imaginary parts
    world = dist.get_world_size() if is_distributed() else 1
    if world > 1:  # global-batch statistic: average the local ECFs (ranks hold equal batch sizes)
        ecf = all_reduce_sum(ecf) / world  # differentiable: its backward sums over ranks too
    err = (ecf[0] - phi) ** 2 + ecf[1] ** 2  # (T, M, K): |phi_N(t) - phi(t)|^2
    return (N * world * (err @ w)).mean(-1)  # (T,): Eq. 4, the Epps-Pulley statistic, mean over the M directions


def sigreg(
    z: torch.Tensor, num_proj: int = NUM_PROJ, generator: torch.Generator | None = None, knots: int = KNOTS
) -> torch.Tensor:
    """Sketched Isotropic Gaussian Regularizer: Epps-Pulley test of each of M random 1-D projections against N(0, 1).

    Args:
        z: latents ``(T, N, D)``; the statistic is taken per time step over the N samples.
        num_proj: number of random unit directions M, drawn fresh at every call.
        generator: the RNG for the directions (on z's device); identical on every DDP rank.
        knots: trapezoid knots on [0, 3].

    Returns:
        Scalar: N * integral of w(t) |phi_N(t) - phi(t)|^2, averaged over time steps and directions. About 1.05 for
        N(0, I) latents (its floor) and about 51 for a collapsed batch of 128. Global-batch value under
        torch.distributed (see `sigreg_per_step`).
    """
    return sigreg_per_step(z, num_proj=num_proj, generator=generator, knots=knots).mean()


def lewm_loss(
    model: LeWM,
    pixels: torch.Tensor,
    actions: torch.Tensor,
    *,
    lam: float = LAMBDA,
    num_proj: int = NUM_PROJ,
    generator: torch.Generator | None = None,
    idm_coeff: float = 0.0,
    with_stats: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L = MSE(predicted, encoded next latents) + lam * SIGReg(latents of every frame) (§3.1-3.3)
    [+ idm_coeff * MSE(IDM(z_t, z_t+1), a_t): not the paper's; off by default, see `LeWMConfig.idm_coeff`].

    No stop-gradient and no EMA: the targets come from the same encoder and gradients flow through both branches.

    Args:
        pixels: clips ``(B, T, h, w, 3)`` uint8 with T = history + 1.
        actions: normalised action blocks ``(B, T, F)``; block t leads from frame t to t + 1 (the last is unused).
        idm_coeff: weight of the inverse-dynamics term (needs ``model.idm``, the head `LeWMConfig.idm_coeff` builds).

    Returns:
        The scalar loss and metrics (detached scalar tensors; with `with_stats` also `emb_std`, `eff_rank` and the
        SIGReg of every frame, `sigreg_t0` .. `sigreg_t{T-1}`).
    """
    hist = model.cfg.history
    if pixels.shape[1] != hist + 1:
        raise ValueError(f"clips must have history + 1 = {hist + 1} frames, got {pixels.shape[1]}.")
    emb = model.encode(pixels)  # (B, T, D)
    act_emb = model.embed_actions(actions)  # (B, T, D)
    pred = model.predict(emb[:, :hist], act_emb[:, :hist])  # (B, T-1, D): frames 1..T-1 from 0..T-2
    pred_loss = (pred.float() - emb[:, 1:].float()).pow(2).mean()
    sigreg_t = sigreg_per_step(emb.transpose(0, 1), num_proj=num_proj, generator=generator)  # (T,) over (T, B, D)
    sigreg_loss = sigreg_t.mean()
    loss = pred_loss + lam * sigreg_loss
    metrics: dict[str, torch.Tensor] = {"pred_loss": pred_loss.detach(), "sigreg_loss": sigreg_loss.detach()}
    if idm_coeff > 0:  # the action block between two frames, from their latents
        idm = getattr(model, "idm", None)
        if idm is None:
            raise ValueError(
                "idm_coeff > 0 needs the model's inverse-dynamics head: build the model with lewm_agents.methods.lewm."
                "build_lewm(LeWMConfig(..., idm_coeff=w)), as `lewm train --model.idm-coeff w` does."
            )
        a_hat = idm(torch.cat([emb[:, :-1], emb[:, 1:]], -1))  # (B, T-1, F)
        idm_loss = (a_hat.float() - actions[:, :-1].float()).pow(2).mean()
        loss = loss + idm_coeff * idm_loss
        metrics["idm_loss"] = idm_loss.detach()
    metrics = {"loss": loss.detach(), **metrics}
    if with_stats:
        flat = emb.detach().float().reshape(-1, emb.shape[-1])  # (B*T, D)
        metrics["emb_std"] = flat.std(0).mean()
        metrics["eff_rank"] = torch.tensor(effective_rank(flat), device=flat.device)
        for t, v in enumerate(sigreg_t.detach()):
            metrics[f"sigreg_t{t}"] = v
    return loss, metrics
