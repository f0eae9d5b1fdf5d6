"""iCEM, the improved cross-entropy method (Pinneri et al. 2020), over the planners' seam
``cost(actions (B, S, H, F)) -> (B, S)``.

What it changes against the paper's CEM (`lewm_agents.planning.cem`):

* **coloured noise**: the samples' deviations are correlated along the horizon, with power spectrum ``1 / f**beta``
  (beta 0 is CEM's white noise; iCEM's default 2 gives smooth action sequences);
* **population decay**: iteration i samples ``max(2 * topk, S * decay**-i)`` sequences, so later, narrower iterations
  cost less;
* **elite reuse**: a fraction of each iteration's elites joins the next iteration's candidates, so good sequences are
  not lost to resampling;
* **momentum** on the mean and std (iCEM's alpha), and the **best sequence ever scored** is returned, not the mean;
* the **shifted warm start** (the last plan's unexecuted tail as the initial mean) is the caller's, as for CEM; the
  caller may also pass extra candidates (the last plan's shifted elites, a goal policy's proposal).

stable-worldmodel ships an iCEM solver; this one is written from the paper's description. Differences from the
paper: candidate 0 is always the current mean (as our CEM), the mean joins every iteration, not only the last, and
noise is coloured over the H action blocks (each block's F entries share the block's noise level).

Dimension letters: B problems, S samples, H horizon in action blocks, F action block width, k elites.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

CostFn = Callable[[torch.Tensor], torch.Tensor]


def colored_noise(
    shape: tuple[int, ...], beta: float, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """Gaussian noise of unit variance per entry, coloured along dimension -2 (time) with spectrum ``1 / f**beta``.

    Args:
        shape: ``(..., H, F)``: H time steps, F independent channels.
        beta: 0 gives white noise; larger values give smoother sequences.

    Returns:
        A tensor of ``shape``; each entry has zero mean and unit variance in expectation.
    """
    H = shape[-2]
    white = torch.randn(shape, device=device, generator=generator)  # (..., H, F)
    if beta == 0 or H < 2:
        return white
    freqs = torch.fft.rfftfreq(H, device=device)  # (H//2+1,)
    freqs[0] = freqs[1]  # keep the mean component finite (as the colorednoise package does)
    amp = freqs.pow(-beta / 2)  # (H//2+1,)
    spec = torch.fft.rfft(white, dim=-2) * amp[:, None]  # (..., H//2+1, F)
    out = torch.fft.irfft(spec, n=H, dim=-2)  # (..., H, F)
    # Parseval: the filter's variance gain is the mean squared amplitude over the full (two-sided) spectrum
    mult = torch.full_like(amp, 2.0)  # (H//2+1,)
    mult[0] = 1.0
    if H % 2 == 0:
        mult[-1] = 1.0  # the Nyquist bin appears once
    return out / (mult * amp.pow(2)).sum().div(H).sqrt()  # unit variance per entry, in expectation


def icem(
    cost: CostFn,
    mean: torch.Tensor,
    *,
    num_samples: int = 300,
    iterations: int = 30,
    topk: int = 30,
    init_std: float = 1.0,
    noise_beta: float = 2.0,
    population_decay: float = 1.25,
    keep_elites: float = 0.3,
    momentum: float = 0.1,
    extra: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    stop: Callable[[int], bool] | None = None,
) -> torch.Tensor:
    """Improved CEM (see the module docstring).

    Args:
        cost: ``(B, S, H, F) -> (B, S)``.
        mean: initial mean ``(B, H, F)`` (zeros, or the shifted warm start).
        num_samples: samples of the first iteration; later ones decay by ``population_decay`` per iteration.
        keep_elites: share of each iteration's elites carried into the next iteration's candidates.
        momentum: share of the previous mean and std kept at each refit (iCEM's alpha).
        extra: extra candidates ``(B, E, H, F)`` scored in the first iteration (warm-start elites, a policy's plan).
        stop: optional early stop, asked before every iteration after the first.

    Returns:
        The lowest-cost sequence scored in any iteration ``(B, H, F)``.
    """
    B, H, F = mean.shape
    mean = mean.clone()  # (B, H, F)
    std = torch.full_like(mean, init_std)  # (B, H, F)
    kept: torch.Tensor | None = extra  # (B, E, H, F) candidates carried into the next iteration
    best = mean.clone()  # (B, H, F)
    best_cost = torch.full((B,), float("inf"), device=mean.device)  # (B,)
    n_keep = max(1, round(keep_elites * topk)) if keep_elites > 0 else 0
    for i in range(iterations):
        if i and stop is not None and stop(i):
            break
        n = max(2 * topk, round(num_samples * population_decay**-i), 2)
        noise = colored_noise((B, n, H, F), noise_beta, generator, mean.device)  # (B, n, H, F)
        candidates = mean.unsqueeze(1) + std.unsqueeze(1) * noise  # (B, n, H, F)
        candidates[:, 0] = mean  # the current mean always competes
        if kept is not None:
            candidates = torch.cat([candidates, kept.to(candidates.dtype)], 1)  # (B, n+E, H, F)
        costs = cost(candidates).float()  # (B, n+E)
        k = min(topk, candidates.shape[1])
        elite_costs, idx = costs.topk(k, dim=1, largest=False)  # (B, k), ascending
        elites = candidates.gather(1, idx[:, :, None, None].expand(B, k, H, F))  # (B, k, H, F)
        better = elite_costs[:, 0] < best_cost  # (B,)
        best = torch.where(better[:, None, None], elites[:, 0], best)  # (B, H, F)
        best_cost = torch.where(better, elite_costs[:, 0], best_cost)  # (B,)
        new_mean, new_std = elites.mean(1), elites.std(1, correction=int(k > 1))  # (B, H, F) each
        mean = momentum * mean + (1 - momentum) * new_mean  # (B, H, F)
        std = momentum * std + (1 - momentum) * new_std  # (B, H, F)
        kept = elites[:, :n_keep] if n_keep else None  # (B, n_keep, H, F)
    return best


__all__ = ["colored_noise", "icem"]
