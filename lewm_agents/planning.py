"""Planners over one seam: ``cost(actions (B, S, H, F)) -> (B, S)``, lower is better (reference/lewm.md §5).

A planner knows nothing of models or environments: it searches normalised action blocks for B independent problems
at once, from an initial mean (zeros, the warm start from the last plan, or a goal policy's proposal) and optional
extra candidates scored in the first iteration. Four solvers:

* `cem`, the paper's cross-entropy method (SWM ``CEMSolver``, §5.2);
* `icem`, the improved CEM (coloured noise, population decay, elite reuse; lewm_agents/icem.py);
* `mppi`, TD-MPC2-style path integral: elites weighted by their cost, mean with momentum, std refitted and clamped;
* `gradient`, the official ``GradientSolver``: AdamW on S sampled sequences through the differentiable rollout.

`world_model_cost` builds the cost of any `lewm_agents.protocols.WorldModel`: its ``goal_cost`` over its
``rollout`` (LeWM's is the squared L2 between the last predicted latent and the goal latent, §5.1; `latent_goal_cost`
is that cost over anything with a ``rollout``); `clamped` scores candidates clamped to the action bounds
(`normalized_bounds`); `plan` runs the solver a `PlanConfig` names, under an optional wall-clock budget.

Dimension letters: B independent problems (environments), S candidate samples, H horizon in action blocks, F action
block width (frameskip * A), D latent, k elites.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    from lewm_agents.protocols import WorldModel

CostFn = Callable[[torch.Tensor], torch.Tensor]
RolloutFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""``rollout(z (B, T0, D), actions (B, S, H, F), context_actions) -> (B, S, H, D)``, as `WorldModel.rollout`."""
StopFn = Callable[[int], bool]
"""Asked before every iteration after the first with the number of iterations done; True ends the solve."""


@dataclass(frozen=True)
class PlanConfig:
    """How the agent plans. Defaults are the paper's CEM (reference/lewm.md §5.2, DINO-WM's configuration);
    `PLAN_PRESETS` holds each solver's reference settings."""

    solver: Literal["cem", "icem", "mppi", "gradient"] = "cem"
    """'cem' (the paper's), 'icem' (improved CEM), 'mppi' (TD-MPC2-style) or 'gradient' (AdamW through the
    rollout)."""
    policy: Literal["off", "seed", "only"] = "off"
    """The amortized goal policy (lewm_agents/goal_policy.py, trained by ``lewm train-policy``): 'off' plans alone;
    'seed' starts the solver from the policy's proposal (the warm start joins as an extra candidate); 'only' acts
    with the policy without search (one block per query), the fast mode."""
    num_samples: int = 300
    """Candidate action sequences S per iteration (gradient: sequences optimised in parallel; the official 100)."""
    iterations: int = 30
    """Iterations per plan (gradient: optimiser steps). The paper: 30 for PushT, 10 for the others; the released
    eval uses 30 everywhere."""
    topk: int = 30
    """cem, mppi: elites that refit the sampling distribution."""
    init_std: float = 1.0
    """Initial standard deviation, in normalised action units (gradient: spread of samples 1..S-1 around the mean)."""
    horizon: int = 5
    """Planning horizon H in action blocks (5 blocks x frameskip 5 = 25 env steps)."""
    receding_horizon: int | None = None
    """Action blocks executed before replanning; None executes the whole plan, as the paper does."""
    warm_start: bool = True
    """Start the next plan from the unexecuted tail of the last one (a no-op when receding_horizon == horizon)."""
    temperature: float = 0.5
    """mppi: elite weights are softmax(-(cost - best) / (temperature * (worst elite - best))): relative to the elites'
    cost range, so one value suits any latent scale; small -> the best elite, large -> the plain elite mean."""
    momentum: float = 0.1
    """mppi, icem: share of the previous mean (icem: and std) kept at each update (TD-MPC's and iCEM's 0.1)."""
    noise_beta: float = 2.0
    """icem: colour of the sampling noise along the horizon (0 white as CEM, iCEM's 2 smooth)."""
    population_decay: float = 1.25
    """icem: samples shrink by this factor per iteration (iCEM's gamma), down to 2 * topk."""
    keep_elites: float = 0.3
    """icem: share of the elites carried into the next iteration (iCEM's 0.3)."""
    min_std: float = 0.05
    """mppi: floor of the refitted standard deviation (TD-MPC2's), so the search never collapses to a point."""
    max_std: float = 2.0
    """mppi: ceiling of the refitted standard deviation (TD-MPC2's)."""
    lr: float = 0.1
    """gradient: AdamW learning rate (the official 0.1)."""
    weight_decay: float = 0.01
    """gradient: AdamW weight decay (torch's default, as the official solver leaves it), a pull toward the data mean."""
    clamp_actions: bool = True
    """Score candidates clamped to the env's action bounds (in normalised units): the model then judges the actions
    that will be executed, since the agent clips its actions to the action space."""
    time_budget_ms: float | None = None
    """Wall-clock cap per plan call, for real-time use: iterations stop once the next one would overrun it (at least
    one always runs). None plans all ``iterations``."""
    compile: bool = False
    """torch.compile the model's rollout (on CUDA in mode 'reduce-overhead', i.e. replayed as CUDA graphs, which
    removes the kernel-launch overhead that dominates a GPU plan). Each new batch size compiles once (tens of
    seconds); mainly for sampling solvers on a GPU."""
    chunk_rows: int | None = 4096
    """Rollout rows (envs x samples) per model call; bigger cost calls run in pieces (`world_model_cost`), so
    batched planning stays in cache on a CPU. None: one call."""
    seed: int = 0
    """Seed of the planner's own random generator."""

    def __post_init__(self) -> None:
        if self.solver not in ("cem", "icem", "mppi", "gradient"):
            raise ValueError(f"unknown solver {self.solver!r}; valid: 'cem', 'icem', 'mppi', 'gradient'.")
        if self.policy not in ("off", "seed", "only"):
            raise ValueError(f"unknown policy mode {self.policy!r}; valid: 'off', 'seed', 'only'.")
        if self.noise_beta < 0 or self.population_decay < 1 or not 0 <= self.keep_elites <= 1:
            raise ValueError(
                f"need noise_beta >= 0, population_decay >= 1 and 0 <= keep_elites <= 1; got {self.noise_beta}, "
                f"{self.population_decay}, {self.keep_elites}."
            )
        if self.num_samples < 2 or not 1 <= self.topk <= self.num_samples:
            raise ValueError(
                f"need num_samples >= 2 and 1 <= topk <= num_samples, got {self.num_samples}, {self.topk}."
            )
        if self.iterations < 1 or self.horizon < 1 or not 1 <= self.executed_blocks <= self.horizon:
            raise ValueError(
                f"need iterations >= 1, horizon >= 1 and 1 <= receding_horizon <= horizon; got {self.iterations}, "
                f"{self.horizon}, {self.receding_horizon}."
            )
        if self.init_std <= 0 or self.temperature <= 0 or self.lr <= 0:
            raise ValueError(
                f"init_std, temperature and lr must be positive, got {self.init_std}, {self.temperature}, {self.lr}."
            )
        if not 0 <= self.momentum < 1 or not 0 < self.min_std <= self.max_std:
            raise ValueError(
                f"need 0 <= momentum < 1 and 0 < min_std <= max_std, got {self.momentum}, {self.min_std}, "
                f"{self.max_std}."
            )
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1 (or None for one call), got {self.chunk_rows}.")
        if self.time_budget_ms is not None and self.time_budget_ms <= 0:
            raise ValueError(f"time_budget_ms must be positive (or None for no cap), got {self.time_budget_ms}.")

    @property
    def executed_blocks(self) -> int:
        """Action blocks executed per plan: receding_horizon, or the whole horizon when it is None."""
        return self.horizon if self.receding_horizon is None else self.receding_horizon


PLAN_PRESETS: dict[str, PlanConfig] = {
    "cem": PlanConfig(),
    "icem": PlanConfig(solver="icem", num_samples=100, iterations=10, topk=10),
    "mppi": PlanConfig(solver="mppi"),
    "gradient": PlanConfig(solver="gradient", num_samples=100, iterations=30, lr=0.1),
}
"""Reference settings per solver: the paper's CEM; iCEM at a third of CEM's samples and iterations; MPPI on CEM's
budget; the official GradientSolver (AdamW, lr 0.1, 30 steps, 100 samples)."""


def _sample(
    mean: torch.Tensor,
    std: torch.Tensor,
    num_samples: int,
    generator: torch.Generator | None,
    extra: torch.Tensor | None = None,
) -> torch.Tensor:
    """S candidates around each mean ``(B, H, F)``, candidate 0 pinned to the mean and candidates 1..E replaced by
    ``extra (B, E, H, F)`` when given: ``(B, S, H, F)``."""
    B, H, F = mean.shape
    noise = torch.randn(B, num_samples, H, F, device=mean.device, generator=generator)  # (B, S, H, F)
    candidates = mean.unsqueeze(1) + std.unsqueeze(1) * noise  # (B, S, H, F)
    candidates[:, 0] = mean  # the current mean always competes
    if extra is not None:
        e = min(extra.shape[1], num_samples - 1)
        candidates[:, 1 : 1 + e] = extra[:, :e].to(candidates.dtype)  # (B, e, H, F)
    return candidates


def _elites(candidates: torch.Tensor, costs: torch.Tensor, topk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k lowest-cost candidates ``(B, k, H, F)`` and their costs ``(B, k)``, best first."""
    elite_costs, idx = costs.topk(topk, dim=1, largest=False)  # (B, k) each, ascending
    B, _, H, F = candidates.shape
    return candidates.gather(1, idx[:, :, None, None].expand(B, topk, H, F)), elite_costs  # (B, k, H, F), (B, k)


def cem(
    cost: CostFn,
    mean: torch.Tensor,
    *,
    num_samples: int = 300,
    iterations: int = 30,
    topk: int = 30,
    init_std: float = 1.0,
    extra: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    stop: StopFn | None = None,
) -> torch.Tensor:
    """Cross-entropy method, as the paper runs it (SWM CEMSolver, §5.2).

    Each iteration samples S sequences from N(mean, std), pins candidate 0 to the mean, keeps the top-k lowest costs
    and refits mean and std to them. Returns the final mean, not the best sample.

    Args:
        cost: ``(B, S, H, F) -> (B, S)``.
        mean: initial mean ``(B, H, F)`` (zeros, or a warm start).
        extra: candidates ``(B, E, H, F)`` scored in the first iteration (a policy's proposal, a warm start).
        stop: optional early stop (see `StopFn`), e.g. a `TimeBudget`.

    Returns:
        The optimised mean ``(B, H, F)``.
    """
    mean = mean.clone()  # (B, H, F)
    std = torch.full_like(mean, init_std)  # (B, H, F)
    for i in range(iterations):
        if i and stop is not None and stop(i):
            break
        candidates = _sample(mean, std, num_samples, generator, extra if i == 0 else None)  # (B, S, H, F)
        elites, _ = _elites(candidates, cost(candidates), topk)  # (B, k, H, F)
        mean, std = elites.mean(1), elites.std(1, correction=int(topk > 1))  # (B, H, F) each (SWM: unbiased)
    return mean


def mppi(
    cost: CostFn,
    mean: torch.Tensor,
    *,
    num_samples: int = 300,
    iterations: int = 30,
    topk: int = 30,
    init_std: float = 1.0,
    temperature: float = 0.5,
    momentum: float = 0.1,
    min_std: float = 0.05,
    max_std: float = 2.0,
    extra: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    stop: StopFn | None = None,
) -> torch.Tensor:
    """Model-predictive path integral, TD-MPC2's ``_plan`` with costs for values (reference/baselines.md §3.1).

    Each iteration samples S sequences around the mean (candidate 0 is the mean), keeps the top-k, weights them by
    ``softmax(-(cost - best) / (temperature * spread))`` with spread the elites' cost range, refits the std as the
    weighted spread (clamped to [min_std, max_std]) and moves the mean with momentum (TD-MPC's). Returns the mean.

    Args:
        cost: ``(B, S, H, F) -> (B, S)``.
        mean: initial mean ``(B, H, F)``.
        extra: candidates ``(B, E, H, F)`` scored in the first iteration.
        stop: optional early stop (see `StopFn`).

    Returns:
        The optimised mean ``(B, H, F)``.
    """
    mean = mean.clone()  # (B, H, F)
    std = torch.full_like(mean, init_std)  # (B, H, F)
    for i in range(iterations):
        if i and stop is not None and stop(i):
            break
        candidates = _sample(mean, std, num_samples, generator, extra if i == 0 else None)  # (B, S, H, F)
        elites, elite_costs = _elites(candidates, cost(candidates), topk)  # (B, k, H, F), (B, k)
        gap = elite_costs - elite_costs[:, :1]  # (B, k), >= 0
        spread = gap[:, -1:].clamp_min(1e-12)  # (B, 1): scale-free temperature
        w = torch.softmax(-gap / (temperature * spread), dim=1)[:, :, None, None]  # (B, k, 1, 1)
        new_mean = (w * elites).sum(1)  # (B, H, F)
        std = (w * (elites - new_mean.unsqueeze(1)).pow(2)).sum(1).sqrt().clamp(min_std, max_std)  # (B, H, F)
        mean = momentum * mean + (1 - momentum) * new_mean  # (B, H, F)
    return mean


def gradient(
    cost: CostFn,
    mean: torch.Tensor,
    *,
    num_samples: int = 100,
    iterations: int = 30,
    init_std: float = 1.0,
    lr: float = 0.1,
    weight_decay: float = 0.01,
    extra: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    stop: StopFn | None = None,
) -> torch.Tensor:
    """Gradient descent on the actions (the official GradientSolver): S sequences, sample 0 at the mean and the rest
    around it with ``init_std``, all optimised by AdamW on their summed cost; returns the lowest-cost one.

    The cost must be differentiable in the actions (`latent_goal_cost` is: the rollout runs under autograd here, even
    when the caller plans under ``torch.no_grad`` or ``torch.inference_mode``). Adam is elementwise, so problems and
    samples stay independent.

    Args:
        cost: ``(B, S, H, F) -> (B, S)``, differentiable.
        mean: initial mean ``(B, H, F)``.
        extra: starting points ``(B, E, H, F)`` that replace samples 1..E.
        stop: optional early stop (see `StopFn`).

    Returns:
        The best optimised sequence ``(B, H, F)``.
    """
    with torch.inference_mode(False), torch.enable_grad():
        std0 = torch.full_like(mean, init_std)  # (B, H, F)
        x = _sample(mean.detach().clone(), std0, num_samples, generator, extra)  # (B, S, H, F)
        x.requires_grad_(True)
        opt = torch.optim.AdamW([x], lr=lr, weight_decay=weight_decay)
        for i in range(iterations):
            if i and stop is not None and stop(i):
                break
            (x.grad,) = torch.autograd.grad(cost(x).float().sum(), x)  # problems and samples add independently
            opt.step()
        with torch.no_grad():
            final = cost(x)  # (B, S): the last step moved every sample, so score them again
            best = final.argmin(1)  # (B,)
            return x.detach()[torch.arange(len(x), device=x.device), best]  # (B, H, F)


def clamped(cost: CostFn, low: torch.Tensor, high: torch.Tensor) -> CostFn:
    """``cost`` of the candidates clamped to ``[low, high]`` (each ``(F,)``, normalised action-block bounds)."""
    return lambda actions: cost(torch.maximum(torch.minimum(actions, high), low))


def world_model_cost(
    model: WorldModel,
    z: torch.Tensor,
    z_goal: torch.Tensor,
    context_actions: torch.Tensor | None = None,
    *,
    rollout: RolloutFn | None = None,
    chunk_rows: int | None = None,
) -> CostFn:
    """The planning cost of a world model: ``model.goal_cost`` of its rollout of the candidates.

    The context and goal are encoded once, by the caller; every cost call only rolls the model out. With
    ``chunk_rows``, the B x S rollouts run in pieces of at most that many rows (whole envs together while they fit,
    else slices of one env's samples): on a CPU a rollout's activations then stay in cache, so planning many envs in
    one call costs no more per env than planning them one by one.

    Args:
        model: a `lewm_agents.protocols.WorldModel`.
        z: encoded context ``(B, T0, D)``; z_goal: encoded goals ``(B, D)``.
        context_actions: the blocks between the context frames ``(B, T0 - 1, F)`` (when T0 > 1).
        rollout: another implementation of ``model.rollout`` with the same numbers (a compiled one, or LeWM's
            ``rollout_plain`` for timing); default ``model.rollout``.
    """
    roll = rollout or model.rollout

    def whole(actions: torch.Tensor, sl: slice = slice(None)) -> torch.Tensor:
        ctx = None if context_actions is None else context_actions[sl]
        z_hat = roll(z[sl], actions, ctx)  # (b, S, H, D)
        return model.goal_cost(z_hat, z_goal[sl], actions)  # (b, S)

    def cost(actions: torch.Tensor) -> torch.Tensor:
        B, S = actions.shape[:2]
        if chunk_rows is None or B * S <= chunk_rows:
            return whole(actions)
        if S <= chunk_rows:  # groups of whole envs
            per = chunk_rows // S
            return torch.cat([whole(actions[b : b + per], slice(b, b + per)) for b in range(0, B, per)])  # (B, S)
        rows = [
            torch.cat(
                [whole(actions[b : b + 1, s : s + chunk_rows], slice(b, b + 1)) for s in range(0, S, chunk_rows)], 1
            )
            for b in range(B)
        ]  # B x (1, S)
        return torch.cat(rows)  # (B, S)

    return cost


def latent_goal_cost(
    model: torch.nn.Module, z: torch.Tensor, z_goal: torch.Tensor, context_actions: torch.Tensor | None = None
) -> CostFn:
    """The LeWM planning cost over anything with a ``rollout``: ``||z_hat_H - z_goal||^2`` summed over latent dims,
    last step only (§5.1). `world_model_cost` with LeWM's ``goal_cost``.

    Args:
        model: anything with ``rollout(z (B, T0, D), actions (B, S, H, F), context_actions) -> (B, S, H, D)``.
        z: encoded context ``(B, T0, D)``; z_goal: encoded goals ``(B, D)``.
    """
    from lewm_agents.model import final_latent_distance

    def cost(actions: torch.Tensor) -> torch.Tensor:
        z_hat = model.rollout(z, actions, context_actions)  # (B, S, H, D)
        return final_latent_distance(z_hat, z_goal)  # (B, S)

    return cost


class TimeBudget:
    """A `StopFn` that ends a solve once the next iteration would overrun ``ms`` of wall time (the mean iteration so
    far predicts the next). On CUDA it synchronises before reading the clock, so queued kernels are counted."""

    def __init__(self, ms: float, device: torch.device | None = None) -> None:
        self.ms, self.device = ms, device
        self.start = time.perf_counter()
        self.hit = False
        """True once the budget stopped the solve."""

    def __call__(self, done: int) -> bool:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = 1000 * (time.perf_counter() - self.start)
        self.hit = elapsed * (done + 1) / done > self.ms
        return self.hit


@dataclass(frozen=True)
class PlanResult:
    """One plan: the actions and what it took to find them."""

    actions: torch.Tensor
    """The plan ``(B, H, F)`` in normalised action units."""
    iterations: int
    """Iterations the solver ran (fewer than configured when the time budget stopped it)."""
    hit_budget: bool
    """The time budget cut the solve short."""


def plan(
    cost: CostFn,
    mean: torch.Tensor,
    config: PlanConfig,
    generator: torch.Generator | None = None,
    extra: torch.Tensor | None = None,
) -> PlanResult:
    """Run the configured solver from ``mean (B, H, F)`` under the config's time budget, if any; ``extra (B, E, H,
    F)`` candidates (a policy's proposal, last plan's tail) are scored in the first iteration.

    Example:
        >>> target = torch.ones(1, 2, 3)
        >>> def cost(actions):  # (B, S, H, F) -> (B, S)
        ...     return (actions - target.unsqueeze(1)).pow(2).sum((-1, -2))
        >>> cfg = PlanConfig(num_samples=200, iterations=30, topk=20, horizon=2)
        >>> result = plan(cost, torch.zeros(1, 2, 3), cfg, torch.Generator().manual_seed(0))
        >>> bool((result.actions - target).abs().max() < 0.2), result.iterations
        (True, 30)
    """
    budget = None if config.time_budget_ms is None else TimeBudget(config.time_budget_ms, mean.device)
    done = [0]

    def stop(i: int) -> bool:  # counts iterations, then asks the budget
        done[0] = i
        return budget is not None and budget(i)

    common = dict(num_samples=config.num_samples, iterations=config.iterations, init_std=config.init_std, extra=extra)
    if config.solver == "icem":
        from lewm_agents.icem import icem

        out = icem(
            cost,
            mean,
            topk=config.topk,
            noise_beta=config.noise_beta,
            population_decay=config.population_decay,
            keep_elites=config.keep_elites,
            momentum=config.momentum,
            generator=generator,
            stop=stop,
            **common,
        )
    elif config.solver == "cem":
        out = cem(cost, mean, topk=config.topk, generator=generator, stop=stop, **common)
    elif config.solver == "mppi":
        out = mppi(
            cost,
            mean,
            topk=config.topk,
            temperature=config.temperature,
            momentum=config.momentum,
            min_std=config.min_std,
            max_std=config.max_std,
            generator=generator,
            stop=stop,
            **common,
        )
    else:
        out = gradient(
            cost, mean, lr=config.lr, weight_decay=config.weight_decay, generator=generator, stop=stop, **common
        )
    hit = budget is not None and budget.hit
    return PlanResult(actions=out, iterations=done[0] if hit else config.iterations, hit_budget=hit)


def normalized_bounds(
    low: torch.Tensor, high: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, frameskip: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The env's action bounds ``(A,)`` in the planner's units: z-scored, tiled over one block ``(F,)``.

    Infinite bounds stay infinite (no clamp on that dimension).
    """
    lo = ((low - mean) / std).repeat(frameskip)  # (F,)
    hi = ((high - mean) / std).repeat(frameskip)  # (F,)
    return lo, hi


__all__ = [
    "PLAN_PRESETS",
    "CostFn",
    "PlanConfig",
    "PlanResult",
    "RolloutFn",
    "StopFn",
    "TimeBudget",
    "cem",
    "clamped",
    "gradient",
    "latent_goal_cost",
    "mppi",
    "normalized_bounds",
    "plan",
    "world_model_cost",
]
