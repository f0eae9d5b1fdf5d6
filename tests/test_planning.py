"""Planners find known optima, batch without cross-talk, start from a given mean and respect a time budget."""

import time

import pytest
import torch

from lewm_agents.icem import colored_noise, icem
from lewm_agents.planning import (
    PLAN_PRESETS,
    PlanConfig,
    TimeBudget,
    cem,
    clamped,
    gradient,
    latent_goal_cost,
    mppi,
    normalized_bounds,
    plan,
    world_model_cost,
)


def quadratic(target):
    def cost(actions):  # (B, S, H, F) -> (B, S)
        return (actions - target[:, None]).pow(2).sum((-1, -2))

    return cost


SOLVERS = {
    "cem": lambda cost, mean, g, **kw: cem(cost, mean, num_samples=200, iterations=30, topk=20, generator=g, **kw),
    "mppi": lambda cost, mean, g, **kw: mppi(cost, mean, num_samples=200, iterations=30, topk=20, generator=g, **kw),
    "icem": lambda cost, mean, g, **kw: icem(cost, mean, num_samples=200, iterations=30, topk=20, generator=g, **kw),
    "gradient": lambda cost, mean, g, **kw: gradient(
        cost, mean, num_samples=8, iterations=100, lr=0.1, weight_decay=0.0, generator=g, **kw
    ),
}


@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_finds_the_minimum_of_a_quadratic(solver):
    target = torch.tensor([[[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]])  # (B=1, H=3, F=2)
    mean = SOLVERS[solver](quadratic(target), torch.zeros(1, 3, 2), torch.Generator().manual_seed(0))
    torch.testing.assert_close(mean, target, atol=0.05, rtol=0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_finds_the_lower_basin(solver):
    # two basins: x = -1 (cost 1) and x = 2 (cost 0); the search must prefer the global one
    def cost(actions):
        x = actions[..., 0, 0]  # (B, S)
        return torch.minimum((x + 1).pow(2) + 1, (x - 2).pow(2))

    mean = SOLVERS[solver](cost, torch.full((1, 1, 1), 0.7), torch.Generator().manual_seed(0))
    assert abs(float(mean[0, 0, 0]) - 2.0) < 0.05


@pytest.mark.parametrize("solver", SOLVERS)
def test_batched_equals_one_by_one(solver):
    targets = torch.randn(3, 2, 3)  # (B, H, F)
    batched = SOLVERS[solver](quadratic(targets), torch.zeros(3, 2, 3), torch.Generator().manual_seed(0))
    for b in range(3):
        alone = SOLVERS[solver](quadratic(targets[b : b + 1]), torch.zeros(1, 2, 3), torch.Generator().manual_seed(b))
        torch.testing.assert_close(batched[b : b + 1], alone, atol=0.05, rtol=0)
    # no cross-talk: with the same noise, changing problem 1 leaves problem 0's answer bit-identical
    other = targets.clone()
    other[1] += 3.0
    again = SOLVERS[solver](quadratic(other), torch.zeros(3, 2, 3), torch.Generator().manual_seed(0))
    torch.testing.assert_close(again[0], batched[0], rtol=0, atol=0)
    assert not torch.allclose(again[1], batched[1])


@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_starts_from_the_given_mean(solver):
    # a warm start at the optimum: one iteration keeps it (the mean is always among the candidates)
    target = torch.randn(2, 3, 2)
    one_step = {
        "cem": lambda c, m, g: cem(c, m, num_samples=16, iterations=1, topk=1, generator=g),
        "mppi": lambda c, m, g: mppi(c, m, num_samples=16, iterations=1, topk=1, generator=g),
        "icem": lambda c, m, g: icem(c, m, num_samples=16, iterations=1, topk=1, generator=g),
        "gradient": lambda c, m, g: gradient(c, m, num_samples=16, iterations=1, weight_decay=0.0, generator=g),
    }[solver]
    out = one_step(quadratic(target), target.clone(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, target, atol=1e-6, rtol=0)


def test_cem_pins_candidate_zero_to_the_mean():
    seen = []

    def cost(actions):
        seen.append(actions[:, 0].clone())
        return actions.pow(2).sum((-1, -2))

    start = torch.full((1, 2, 2), 0.7)
    cem(cost, start, num_samples=10, iterations=1, topk=3)
    torch.testing.assert_close(seen[0], start)


def test_mppi_temperature_interpolates_between_best_elite_and_elite_mean():
    def cost(actions):  # (B, S, H, F): cost = the first coordinate
        return actions[..., 0, 0]

    args = dict(num_samples=50, iterations=1, topk=10, momentum=0.0, generator=None)
    torch.manual_seed(0)
    cold = mppi(cost, torch.zeros(1, 1, 1), temperature=1e-4, **args)
    torch.manual_seed(0)
    hot = mppi(cost, torch.zeros(1, 1, 1), temperature=1e4, **args)
    torch.manual_seed(0)
    elites = cem(cost, torch.zeros(1, 1, 1), num_samples=50, iterations=1, topk=10)
    assert float(cold) < float(hot)  # the coldest weighting keeps the lowest sample
    torch.testing.assert_close(hot, elites, atol=1e-3, rtol=0)  # the hottest one is the plain elite mean


def test_gradient_solver_runs_under_inference_mode():
    # the agent plans under no_grad / inference_mode; the gradient solver must still get its gradients
    target = torch.ones(1, 2, 2)
    with torch.inference_mode():
        out = gradient(quadratic(target), torch.zeros(1, 2, 2), num_samples=4, iterations=40, weight_decay=0.0)
    assert (out - target).abs().max() < 0.1


def test_time_budget_reduces_iterations():
    calls = []

    def slow_cost(actions):
        calls.append(1)
        time.sleep(0.02)
        return actions.pow(2).sum((-1, -2))

    cfg = PlanConfig(num_samples=8, iterations=50, topk=2, horizon=2, time_budget_ms=100)
    result = plan(slow_cost, torch.zeros(1, 2, 2), cfg)
    assert result.hit_budget and 1 <= result.iterations < 10 and result.iterations == len(calls)
    free = plan(slow_cost, torch.zeros(1, 2, 2), PlanConfig(num_samples=8, iterations=3, topk=2, horizon=2))
    assert not free.hit_budget and free.iterations == 3


def test_time_budget_always_allows_one_iteration():
    budget = TimeBudget(1e-6)
    time.sleep(0.001)
    assert budget(1) and budget.hit


def test_plan_dispatch_presets_and_config_validation():
    target = torch.ones(1, 2, 4)
    for name, preset in PLAN_PRESETS.items():
        cfg = PlanConfig(**{**preset.__dict__, "num_samples": 64, "iterations": 20, "topk": 8, "horizon": 2})
        result = plan(quadratic(target), torch.zeros(1, 2, 4), cfg, torch.Generator().manual_seed(0))
        assert result.actions.shape == (1, 2, 4) and (result.actions - target).abs().max() < 0.3, name
        assert result.iterations == 20 and not result.hit_budget
    assert PLAN_PRESETS["gradient"].num_samples == 100 and PLAN_PRESETS["gradient"].lr == 0.1
    for bad in (
        dict(num_samples=10, topk=20),
        dict(horizon=3, receding_horizon=4),
        dict(solver="adam"),
        dict(time_budget_ms=0),
        dict(momentum=1.0),
        dict(min_std=0.5, max_std=0.1),
        dict(policy="always"),
        dict(solver="icem", population_decay=0.5),
    ):
        with pytest.raises(ValueError):
            PlanConfig(**bad)


def test_clamped_cost_scores_the_clamped_actions():
    seen = []

    def cost(actions):
        seen.append(actions)
        return actions.sum((-1, -2))

    lo, hi = normalized_bounds(
        torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.0]), torch.tensor([0.5, 2.0]), 2
    )
    torch.testing.assert_close(lo, torch.tensor([-3.0, -0.5, -3.0, -0.5]))  # (low - mean) / std, per block
    torch.testing.assert_close(hi, torch.tensor([1.0, 0.5, 1.0, 0.5]))
    clamped(cost, lo, hi)(torch.full((1, 1, 1, 4), 9.0))
    torch.testing.assert_close(seen[0][0, 0, 0], hi)


def test_latent_goal_cost_is_the_last_step_distance():
    class Fixed(torch.nn.Module):
        def rollout(self, z, actions, context_actions=None):  # (B, S, H, D): the action blocks as latents
            return actions

    z_goal = torch.tensor([[1.0, 2.0]])
    cost = latent_goal_cost(Fixed(), torch.zeros(1, 1, 2), z_goal)
    actions = torch.tensor([[[[5.0, 5.0], [1.0, 4.0]]]])  # (B=1, S=1, H=2, D=2)
    torch.testing.assert_close(cost(actions), torch.tensor([[4.0]]))  # only the last step counts


@pytest.mark.parametrize("solver", ["cem", "icem", "mppi", "gradient"])
def test_extra_candidates_are_scored_in_the_first_iteration(solver):
    # the optimum offered as an extra candidate wins a one-iteration search that starts far from it
    target = torch.randn(2, 3, 2)
    cfg = PlanConfig(solver=solver, num_samples=8, iterations=1, topk=1, horizon=3, init_std=0.01, lr=1e-6, momentum=0)
    far = torch.full((2, 3, 2), 5.0)
    alone = plan(quadratic(target), far, cfg, torch.Generator().manual_seed(0)).actions
    seeded = plan(quadratic(target), far, cfg, torch.Generator().manual_seed(0), extra=target[:, None]).actions
    assert (alone - target).abs().max() > 3
    torch.testing.assert_close(seeded, target, atol=1e-3, rtol=0)


def test_colored_noise_is_unit_variance_and_smooth():
    g = torch.Generator().manual_seed(0)
    white, red = colored_noise((4000, 16, 1), 0.0, g), colored_noise((4000, 16, 1), 2.0, g)
    for x in (white, red):
        assert abs(float(x.var()) - 1) < 0.1
    lag1 = lambda x: float((x[:, 1:] * x[:, :-1]).mean())  # noqa: E731
    assert abs(lag1(white)) < 0.05 and lag1(red) > 0.5


def test_icem_shrinks_its_population():
    sizes = []

    def cost(actions):
        sizes.append(actions.shape[1])
        return actions.pow(2).sum((-1, -2))

    icem(cost, torch.zeros(1, 2, 2), num_samples=100, iterations=4, topk=5, keep_elites=0.4, population_decay=2.0)
    assert sizes == [100, 50 + 2, 25 + 2, 12 + 2]  # decayed samples (>= 2 * topk), plus 2 kept elites


@pytest.mark.parametrize("chunk", [1, 4, 6, 100])
def test_chunked_world_model_cost_equals_the_whole(chunk):
    class Toy(torch.nn.Module):
        def rollout(self, z, actions, context_actions=None):  # (B, S, H, D)
            return z[:, None, -1:, :2] + actions.cumsum(2) + context_actions.sum(1)[:, None, None]

        def goal_cost(self, z_hat, z_goal, actions):
            return (z_hat[:, :, -1] - z_goal[:, None]).pow(2).sum(-1)

    z, goal, ctx = torch.randn(3, 2, 2), torch.randn(3, 2), torch.randn(3, 1, 2)
    actions = torch.randn(3, 5, 4, 2)  # (B, S, H, F)
    whole = world_model_cost(Toy(), z, goal, ctx)(actions)
    torch.testing.assert_close(world_model_cost(Toy(), z, goal, ctx, chunk_rows=chunk)(actions), whole)
