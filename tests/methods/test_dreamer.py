"""The Dreamer-style method's own pieces: DreamerV3's KL balancing and free bits, unimix, straight-through samples,
per-sample-mean losses (DDP-correct), the sizes per scale and the planner-facing rollout. The seam's parametrised
tests (tests/test_methods.py) cover training, save -> load and acting in a gym loop."""

from dataclasses import replace

import pytest
import torch

from lewm_agents.data.batch import Batch
from lewm_agents.methods import get_method
from lewm_agents.methods.dreamer import (
    PRESETS,
    DreamerObjective,
    DreamerWorldModel,
    _sample,
    categorical_kl,
    kl_terms,
)

CFG = replace(PRESETS["smoke"], channels=4, embed_dim=32, deter=32, stoch=4, classes=5, hidden=32, clip_frames=3)


def _probs(logits: torch.Tensor) -> torch.Tensor:
    return logits.softmax(-1)


def test_free_bits_clip_each_kl_below_one_nat_and_stop_its_gradient():
    post_logits = torch.zeros(3, 2, 4, 5, requires_grad=True)
    prior_logits = (0.01 * torch.randn(3, 2, 4, 5)).requires_grad_()  # KL far below 1 nat
    loss, m = kl_terms(_probs(post_logits), _probs(prior_logits), free_nats=1.0, dyn_scale=0.5, rep_scale=0.1)
    assert float(m["kl"]) < 0.01
    torch.testing.assert_close(loss, torch.tensor(0.6))  # 0.5 * 1 + 0.1 * 1
    loss.backward()
    assert post_logits.grad.abs().max() == 0 and prior_logits.grad.abs().max() == 0


def test_balancing_sends_the_dynamics_term_to_the_prior_and_the_representation_term_to_the_posterior():
    def grads(dyn_scale, rep_scale):
        post_logits = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(1)).mul(3).requires_grad_()
        prior_logits = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(2)).mul(3).requires_grad_()
        loss, m = kl_terms(_probs(post_logits), _probs(prior_logits), 0.0, dyn_scale, rep_scale)
        loss.backward()
        return post_logits.grad, prior_logits.grad, m

    g_post, g_prior, m = grads(1.0, 0.0)
    assert g_post.abs().max() == 0 and g_prior.abs().max() > 0
    g_post, g_prior, _ = grads(0.0, 1.0)
    assert g_post.abs().max() > 0 and g_prior.abs().max() == 0
    # without free bits both terms equal the KL: the split changes gradients, not values
    torch.testing.assert_close(m["dyn_loss"], m["rep_loss"])
    torch.testing.assert_close(m["dyn_loss"], m["kl"])


def test_categorical_kl_sums_over_the_variables():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])  # (K=2, C=2)
    q = torch.tensor([[0.9, 0.1], [0.9, 0.1]])
    expected = 0.5 * torch.log(torch.tensor(0.5 / 0.9)) + 0.5 * torch.log(torch.tensor(0.5 / 0.1))
    torch.testing.assert_close(categorical_kl(p, q), expected)


def test_unimix_keeps_every_class_above_one_percent_of_uniform():
    model = DreamerWorldModel(CFG)
    p = model.probs(torch.tensor([100.0, -100.0, 0.0, 0.0, 0.0]).repeat(CFG.stoch))  # (K, C)
    assert p.shape == (CFG.stoch, CFG.classes)
    torch.testing.assert_close(p.sum(-1), torch.ones(CFG.stoch))
    assert float(p.min()) >= 0.01 / CFG.classes - 1e-7 and float(p.max()) <= 0.99 + 0.01 / CFG.classes + 1e-6


def test_samples_are_one_hot_follow_the_probabilities_and_pass_gradients_straight_through():
    logits = torch.tensor([0.0, 1.0, 2.0]).repeat(20000, 1).requires_grad_()
    p = logits.softmax(-1)
    s = _sample(p, torch.Generator().manual_seed(0))  # (N, C)
    assert set(s.detach().sum(-1).tolist()) == {1.0} and set(s.detach().unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(s.detach().mean(0), p[0].detach(), atol=0.015, rtol=0)
    (s * torch.arange(3.0)).sum().backward()
    assert logits.grad.abs().max() > 0


def _batch(n: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, CFG.clip_frames, 64, 64, 3), generator=g, dtype=torch.uint8)
    return Batch(pixels, torch.randn(n, CFG.clip_frames, CFG.action_block_dim, generator=g))


def test_the_loss_is_a_per_sample_mean_so_ddp_averaging_over_equal_shares_is_exact(monkeypatch):
    from lewm_agents.methods import dreamer

    monkeypatch.setattr(dreamer, "_sample", lambda p, g: dreamer._mode(p))  # the same "draws" in any split
    torch.manual_seed(0)
    model = DreamerWorldModel(CFG)
    objective = DreamerObjective(model, CFG, None)
    batch = _batch(4)
    with torch.no_grad():
        full, m = objective(batch)
        halves = [objective(Batch(batch.pixels[i : i + 2], batch.actions[i : i + 2]))[0] for i in (0, 2)]
    torch.testing.assert_close(full, torch.stack(halves).mean(), rtol=1e-5, atol=1e-4)
    assert float(m["recon_loss"]) > 1.0  # summed over pixels, not averaged


@pytest.mark.parametrize("posterior", ["frame", "rssm"])
def test_rollout_is_differentiable_in_the_actions_and_starts_from_the_encoded_state(posterior):
    torch.manual_seed(0)
    model = DreamerWorldModel(replace(CFG, posterior=posterior)).eval()
    pixels = torch.randint(0, 256, (2, 1, 64, 64, 3), dtype=torch.uint8)
    z = model.encode(pixels)  # (B, 1, D)
    assert z.shape == (2, 1, CFG.latent_dim)
    h, p = model.split(z[:, 0])
    torch.testing.assert_close(h, model.initial(2))
    torch.testing.assert_close(p.sum(-1), torch.ones(2, CFG.stoch))
    actions = torch.randn(2, 3, 4, CFG.action_block_dim, requires_grad=True)  # (B, S, H, F)
    z_hat = model.rollout(z, actions)
    assert z_hat.shape == (2, 3, 4, CFG.latent_dim)
    goal = model.encode(torch.randint(0, 256, (2, 1, 64, 64, 3), dtype=torch.uint8))[:, 0]
    for cost in ("stoch_l2", "stoch_kl", "feat_l2"):
        model.cfg = replace(CFG, plan_cost=cost, posterior=posterior)
        c = model.goal_cost(z_hat, goal, actions)
        assert c.shape == (2, 3) and bool((c >= 0).all()), cost
    (g,) = torch.autograd.grad(c.sum(), actions)
    assert g.abs().max() > 0
    # one step of the rollout is the training transition from the encoded frame, fed its posterior's mode
    with torch.no_grad():
        h1 = model.step(h, torch.nn.functional.one_hot(p.argmax(-1), CFG.classes).float().flatten(-2),
                        actions[:, 0, 0])  # fmt: skip
        torch.testing.assert_close(model.split(z_hat[:, 0, 0])[0], h1)


def test_the_goal_costs_are_zero_at_the_goal():
    torch.manual_seed(0)
    model = DreamerWorldModel(CFG).eval()
    z = model.encode(torch.randint(0, 256, (2, 1, 64, 64, 3), dtype=torch.uint8))[:, 0]  # (B, D)
    z_hat = z[:, None, None].expand(2, 3, 4, -1)  # (B, S, H, D)
    for cost in ("stoch_l2", "stoch_kl", "feat_l2"):
        model.cfg = replace(CFG, plan_cost=cost)
        torch.testing.assert_close(model.goal_cost(z_hat, z, None), torch.zeros(2, 3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("scale", ["smoke", "small", "gpu", "paper"])
def test_parameters_are_within_2x_of_lewm_at_every_scale(scale):
    def count(name):
        with torch.device("meta"):
            m = get_method(name).build(get_method(name).presets[scale])
        return sum(p.numel() for p in m.parameters())

    ratio = count("dreamer") / count("lewm")
    assert 0.5 <= ratio <= 2.0, ratio


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="plan_cost"):
        replace(CFG, plan_cost="cosine")
    with pytest.raises(ValueError, match="posterior"):
        replace(CFG, posterior="both")
    with pytest.raises(ValueError, match="classes >= 2"):
        replace(CFG, classes=1)
    with pytest.raises(ValueError, match="image_size 288"):
        replace(CFG, image_size=288)
