"""Planners find known optima; the config is validated."""

import pytest
import torch

from lewm_agents.planning import PlanConfig, cem, plan


def quadratic(target):
    def cost(actions):  # (B, S, H, F) -> (B, S)
        return (actions - target[:, None]).pow(2).sum((-1, -2))

    return cost


def test_cem_finds_the_minimum_of_a_quadratic():
    g = torch.Generator().manual_seed(0)
    target = torch.tensor([[[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]])  # (B=1, H=3, F=2)
    mean = cem(quadratic(target), torch.zeros(1, 3, 2), num_samples=200, iterations=30, topk=20, generator=g)
    torch.testing.assert_close(mean, target, atol=0.05, rtol=0)


def test_cem_is_batched_over_problems():
    g = torch.Generator().manual_seed(0)
    targets = torch.randn(4, 2, 3)
    mean = cem(quadratic(targets), torch.zeros(4, 2, 3), num_samples=300, iterations=30, topk=30, generator=g)
    torch.testing.assert_close(mean, targets, atol=0.05, rtol=0)


def test_cem_pins_candidate_zero_to_the_mean():
    seen = []

    def cost(actions):
        seen.append(actions[:, 0].clone())
        return actions.pow(2).sum((-1, -2))

    start = torch.full((1, 2, 2), 0.7)
    cem(cost, start, num_samples=10, iterations=1, topk=3)
    torch.testing.assert_close(seen[0], start)


def test_plan_dispatch_and_config_validation():
    cfg = PlanConfig(num_samples=64, iterations=10, topk=8, horizon=2)
    target = torch.ones(1, 2, 4)
    out = plan(quadratic(target), torch.zeros(1, 2, 4), cfg, torch.Generator().manual_seed(0))
    assert out.shape == (1, 2, 4) and (out - target).abs().max() < 0.3
    with pytest.raises(ValueError):
        PlanConfig(num_samples=10, topk=20)
    with pytest.raises(ValueError):
        PlanConfig(horizon=3, receding_horizon=4)
