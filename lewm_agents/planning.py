"""Planners over one seam: ``cost(actions (B, S, H, F)) -> (B, S)``, lower is better (reference/lewm.md §5).

A planner knows nothing of models or environments: it searches normalised action blocks. `latent_goal_cost` builds
the LeWM cost (squared L2 between the last predicted latent and the goal latent, §5.1).

Dimension letters: B independent problems (environments), S candidate samples, H horizon in action blocks, F action
block width (frameskip * A), D latent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

CostFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PlanConfig:
    """How the agent plans. Defaults are the paper's CEM (reference/lewm.md §5.2, DINO-WM's configuration)."""

    solver: Literal["cem"] = "cem"
    """Which planner searches the action blocks."""
    num_samples: int = 300
    """Candidate action sequences per iteration (S)."""
    iterations: int = 30
    """CEM iterations per plan (the paper: 30 for PushT, 10 for the others; the released eval uses 30 everywhere)."""
    topk: int = 30
    """Elites that refit the sampling distribution."""
    init_std: float = 1.0
    """Initial standard deviation, in normalised action units."""
    horizon: int = 5
    """Planning horizon H in action blocks (5 blocks x frameskip 5 = 25 env steps)."""
    receding_horizon: int | None = None
    """Action blocks executed before replanning; None executes the whole plan, as the paper does."""
    warm_start: bool = True
    """Start the next plan from the unexecuted tail of the last one (a no-op when receding_horizon == horizon)."""
    seed: int = 0
    """Seed of the planner's own random generator."""

    def __post_init__(self) -> None:
        if self.num_samples < 2 or not 1 <= self.topk <= self.num_samples:
            raise ValueError(
                f"need num_samples >= 2 and 1 <= topk <= num_samples, got {self.num_samples}, {self.topk}."
            )
        if self.iterations < 1 or self.horizon < 1 or not 1 <= self.executed_blocks <= self.horizon:
            raise ValueError(
                f"need iterations >= 1, horizon >= 1 and 1 <= receding_horizon <= horizon; got {self.iterations}, "
                f"{self.horizon}, {self.receding_horizon}."
            )
        if self.init_std <= 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}.")

    @property
    def executed_blocks(self) -> int:
        """Action blocks executed per plan: receding_horizon, or the whole horizon when it is None."""
        return self.horizon if self.receding_horizon is None else self.receding_horizon


def cem(
    cost: CostFn,
    mean: torch.Tensor,
    *,
    num_samples: int = 300,
    iterations: int = 30,
    topk: int = 30,
    init_std: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cross-entropy method, as the paper runs it (SWM CEMSolver, §5.2).

    Each iteration samples S sequences from N(mean, std), pins candidate 0 to the mean, keeps the top-k lowest costs
    and refits mean and std to them. Returns the final mean, not the best sample.

    Args:
        cost: ``(B, S, H, F) -> (B, S)``.
        mean: initial mean ``(B, H, F)`` (zeros, or a warm start).

    Returns:
        The optimised mean ``(B, H, F)``.
    """
    mean = mean.clone()  # (B, H, F)
    std = torch.full_like(mean, init_std)  # (B, H, F)
    B, H, F = mean.shape
    for _ in range(iterations):
        noise = torch.randn(B, num_samples, H, F, device=mean.device, generator=generator)  # (B, S, H, F)
        candidates = mean.unsqueeze(1) + std.unsqueeze(1) * noise  # (B, S, H, F)
        candidates[:, 0] = mean  # the current mean always competes
        costs = cost(candidates)  # (B, S)
        elite_idx = costs.topk(topk, dim=1, largest=False).indices  # (B, k)
        elites = candidates.gather(1, elite_idx[:, :, None, None].expand(B, topk, H, F))  # (B, k, H, F)
        mean, std = elites.mean(1), elites.std(1)  # (B, H, F) each
    return mean


def latent_goal_cost(
    model: torch.nn.Module, z: torch.Tensor, z_goal: torch.Tensor, context_actions: torch.Tensor | None = None
) -> CostFn:
    """The LeWM planning cost: ``||z_hat_H - z_goal||^2`` summed over latent dims, last step only (§5.1).

    Args:
        model: anything with ``rollout(z (B, T0, D), actions (B, S, H, F), context_actions) -> (B, S, H, D)``.
        z: encoded context ``(B, T0, D)``; z_goal: encoded goals ``(B, D)``.
    """

    def cost(actions: torch.Tensor) -> torch.Tensor:
        z_hat = model.rollout(z, actions, context_actions)  # (B, S, H, D)
        return (z_hat[:, :, -1].float() - z_goal.float().unsqueeze(1)).pow(2).sum(-1)  # (B, S)

    return cost


def plan(
    cost: CostFn, mean: torch.Tensor, config: PlanConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Run the configured solver from ``mean (B, H, F)``; returns the plan ``(B, H, F)``."""
    if config.solver == "cem":
        return cem(
            cost,
            mean,
            num_samples=config.num_samples,
            iterations=config.iterations,
            topk=config.topk,
            init_std=config.init_std,
            generator=generator,
        )
    raise ValueError(f"unknown solver {config.solver!r}; valid: 'cem'.")
