"""SIGReg and the LeWM objective: the values the reference derives, and behaviour under training."""

import pytest
import torch

from lewm_agents.loss import epps_pulley_knots, lewm_loss, sigreg
from lewm_agents.model import MODEL_PRESETS, LeWM


def test_quadrature_matches_reference_constants():
    t, phi, w = epps_pulley_knots()
    assert t.shape == (17,) and float(t[-1]) == pytest.approx(3.0)
    # E[statistic] under N(0, 1) and the statistic of a collapsed batch of 128 (reference/lewm.md §3.2)
    assert float((w * (1 - torch.exp(-(t**2)))).sum()) == pytest.approx(1.052, abs=1e-3)
    assert float(128 * (w * (1 - phi) ** 2).sum()) == pytest.approx(51.46, abs=0.01)


def test_sigreg_low_on_gaussian_high_on_collapsed():
    g = torch.Generator().manual_seed(0)
    gauss = [float(sigreg(torch.randn(4, 128, 32), num_proj=256, generator=g)) for _ in range(10)]
    assert sum(gauss) / len(gauss) == pytest.approx(1.05, abs=0.1)
    collapsed = float(sigreg(torch.zeros(4, 128, 32), num_proj=256, generator=g))
    assert collapsed == pytest.approx(51.46, abs=0.05)
    scaled = float(sigreg(0.5 * torch.randn(4, 128, 32), num_proj=256, generator=g))  # wrong variance
    shifted = float(sigreg(torch.randn(4, 128, 32) + 1.0, num_proj=256, generator=g))  # wrong mean
    assert scaled > 10 and shifted > 10


def test_sigreg_gradients_finite_and_push_toward_gaussian():
    z = (0.1 * torch.randn(2, 64, 16)).requires_grad_()
    g = torch.Generator().manual_seed(0)
    loss = sigreg(z, num_proj=128, generator=g)
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    opt = torch.optim.Adam([z], lr=0.02)
    for _ in range(200):
        opt.zero_grad()
        sigreg(z, num_proj=128, generator=g).backward()
        opt.step()
    assert float(sigreg(z.detach(), num_proj=512, generator=g)) < 0.2 * float(loss.detach())
    assert z.detach().std() == pytest.approx(1.0, abs=0.3)


def test_sigreg_collapsed_gradient_is_finite():
    z = torch.zeros(2, 32, 8, requires_grad=True)
    sigreg(z, num_proj=16).backward()
    assert torch.isfinite(z.grad).all()


def test_sigreg_directions_come_from_the_generator():
    z = torch.randn(3, 64, 16)
    a = sigreg(z, num_proj=8, generator=torch.Generator().manual_seed(1))
    b = sigreg(z, num_proj=8, generator=torch.Generator().manual_seed(1))
    c = sigreg(z, num_proj=8, generator=torch.Generator().manual_seed(2))
    assert a == b and a != c


def test_lewm_loss_has_no_stop_gradient():
    torch.manual_seed(0)
    model = LeWM(MODEL_PRESETS["smoke"]).train()
    pixels = torch.randint(0, 256, (4, 4, 64, 64, 3), dtype=torch.uint8)
    actions = torch.randn(4, 4, model.cfg.action_block_dim)
    _, m = lewm_loss(model, pixels, actions, lam=0.09, num_proj=32, with_stats=True)
    assert set(m) >= {"loss", "pred_loss", "sigreg_loss", "emb_std", "eff_rank"}
    assert float(m["loss"]) == pytest.approx(float(m["pred_loss"]) + 0.09 * float(m["sigreg_loss"]), rel=1e-5)
    # MSE alone must reach the encoder through the targets as well (no stop-gradient): its gradient on the
    # encoder differs from what the context branch alone would give.
    model.zero_grad()
    lewm_loss(model, pixels, actions, lam=0.0, num_proj=32)[0].backward()
    enc_grad = model.encoder.patch_embed.weight.grad
    assert enc_grad is not None and enc_grad.abs().sum() > 0


def test_lewm_loss_rejects_wrong_clip_length():
    model = LeWM(MODEL_PRESETS["smoke"])
    with pytest.raises(ValueError, match="history"):
        lewm_loss(model, torch.zeros(2, 2, 64, 64, 3, dtype=torch.uint8), torch.zeros(2, 2, 10))


def test_the_inverse_dynamics_term_is_off_by_default_and_adds_its_weighted_mse_when_on(tmp_path):
    from lewm_agents.checkpoint import load_checkpoint, save_checkpoint
    from lewm_agents.data import ActionStats
    from lewm_agents.methods.lewm import LeWMConfig, build_lewm

    plain = build_lewm(LeWMConfig.from_arch(MODEL_PRESETS["smoke"]))
    assert type(plain) is LeWM and not any(k.startswith("idm.") for k in plain.state_dict())  # the paper's model
    with pytest.raises(ValueError, match="inverse-dynamics head"):  # a weight without the head says how to build it
        lewm_loss(plain, torch.zeros(2, 4, 64, 64, 3, dtype=torch.uint8), torch.zeros(2, 4, 10), idm_coeff=1.0)
    torch.manual_seed(0)
    cfg = LeWMConfig.from_arch(MODEL_PRESETS["smoke"], idm_coeff=2.0, idm_hidden=32)
    model = build_lewm(cfg).train()
    pixels = torch.randint(0, 256, (4, 4, 64, 64, 3), dtype=torch.uint8)
    actions = torch.randn(4, 4, model.cfg.action_block_dim)
    _, m = lewm_loss(model, pixels, actions, lam=0.09, num_proj=32, idm_coeff=2.0)
    assert float(m["idm_loss"]) > 0
    assert float(m["loss"]) == pytest.approx(
        float(m["pred_loss"]) + 0.09 * float(m["sigreg_loss"]) + 2.0 * float(m["idm_loss"]), rel=1e-5
    )
    # the term alone trains the encoder (the latents must carry what the actions move) and the head
    model.zero_grad()
    emb = model.encode(pixels)  # (B, T, D)
    a_hat = model.idm(torch.cat([emb[:, :-1], emb[:, 1:]], -1))  # (B, T-1, F)
    (a_hat - actions[:, :-1]).pow(2).mean().backward()
    assert model.encoder.patch_embed.weight.grad.abs().sum() > 0 and model.idm[0].weight.grad.abs().sum() > 0
    # the head is saved and loaded with the model
    stats = ActionStats(mean=(0.0, 0.0), std=(1.0, 1.0))
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "ck", model, action_stats=stats))
    assert ckpt.config.idm_coeff == 2.0
    torch.testing.assert_close(ckpt.model.idm[0].weight, model.idm[0].weight)
