"""LeWM architecture: parameter counts, shapes, causality, AdaLN-zero and the rollout."""

from dataclasses import replace

import pytest
import torch

from lewm_agents.diagnostics import effective_rank, parameter_table, within_episode_share
from lewm_agents.model import MODEL_PRESETS, LeWM, ModelConfig


def test_paper_preset_matches_reference_parameter_count():
    # reference/lewm.md §2.6 derives every block from the official config
    table = parameter_table(LeWM(MODEL_PRESETS["paper"]))
    assert table["encoder"] == 5_501_376
    assert table["projector"] == table["pred_proj"] == 792_768
    assert table["predictor"] == 10_791_360
    assert table["action_encoder"] == 156_206
    assert table["total"] == pytest.approx(18.03e6, rel=0.02)


def test_image_size_must_divide_by_patch():
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        ModelConfig(image_size=65, patch_size=8)


def test_wrong_frame_size_is_refused():
    model = LeWM(MODEL_PRESETS["smoke"])
    with pytest.raises(ValueError, match="image_size=64"):
        model.encode(torch.zeros(1, 1, 32, 32, 3, dtype=torch.uint8))


def test_predictor_is_causal():
    model = LeWM(replace(MODEL_PRESETS["smoke"], predictor_dropout=0.0)).eval()
    for p in model.parameters():  # AdaLN-zero makes blocks the identity at init; perturb so attention matters
        p.data += 0.05 * torch.randn_like(p)
    z = torch.randn(2, 3, 64)
    a = torch.randn(2, 3, 10)
    out = model.predict(z, model.embed_actions(a))
    z2, a2 = z.clone(), a.clone()
    z2[:, 2] += 1.0
    a2[:, 2] += 1.0
    out2 = model.predict(z2, model.embed_actions(a2))
    torch.testing.assert_close(out[:, :2], out2[:, :2])
    assert not torch.allclose(out[:, 2], out2[:, 2])


def test_adaln_zero_makes_actions_irrelevant_at_init():
    model = LeWM(MODEL_PRESETS["smoke"]).eval()
    z = torch.randn(2, 3, 64)
    out1 = model.predict(z, model.embed_actions(torch.randn(2, 3, 10)))
    out2 = model.predict(z, model.embed_actions(torch.randn(2, 3, 10)))
    torch.testing.assert_close(out1, out2)


def test_rollout_matches_step_by_step_prediction():
    cfg = replace(MODEL_PRESETS["smoke"], history=3, predictor_dropout=0.0)
    model = LeWM(cfg).eval()
    for p in model.parameters():
        p.data += 0.05 * torch.randn_like(p)
    z0 = torch.randn(2, 1, 64)  # (B, T0, D)
    actions = torch.randn(2, 4, 5, 10)  # (B, S, H, F)
    out = model.rollout(z0, actions)
    assert out.shape == (2, 4, 5, 64)
    # by hand for sample (b=1, s=2): window of at most 3 latents
    seq, acts = [z0[1, 0]], actions[1, 2]
    for h in range(5):
        lo = max(0, len(seq) - 3)
        window = torch.stack(seq[lo:])[None]
        emb = model.embed_actions(acts[lo : h + 1][None])
        seq.append(model.predict(window, emb)[0, -1])
    torch.testing.assert_close(out[1, 2], torch.stack(seq[1:]))


def test_effective_rank():
    assert effective_rank(torch.randn(2000, 16)) > 14
    line = torch.randn(500, 1) * torch.ones(1, 16)
    assert effective_rank(line) < 1.5


def _perturbed(history: int, dropout: float = 0.0) -> LeWM:
    model = LeWM(replace(MODEL_PRESETS["smoke"], history=history, predictor_dropout=dropout)).eval()
    for p in model.parameters():  # AdaLN-zero makes blocks the identity at init; perturb so every path matters
        p.data += 0.05 * torch.randn_like(p)
    return model


@pytest.mark.parametrize(
    ("history", "T0", "H"),
    [(3, 1, 5), (1, 1, 5), (3, 2, 5), (2, 3, 4), (6, 1, 4), (12, 1, 10)],
    ids=["paper", "history1", "context2", "context_over_history", "growth_only", "long_window"],
)
def test_incremental_rollout_equals_plain_rollout(history, T0, H):
    # growth (cached keys/values), sliding windows, a context longer than the window and windows over 8 positions
    model = _perturbed(history, dropout=0.1)  # eval mode: dropout off, the fast path runs
    z = torch.randn(2, T0, 64)  # (B, T0, D)
    actions = torch.randn(2, 6, H, 10)  # (B, S, H, F)
    ctx = torch.randn(2, T0 - 1, 10)
    with torch.no_grad():
        fast, plain = model.rollout(z, actions, ctx), model.rollout_plain(z, actions, ctx)
    assert fast.shape == (2, 6, H, 64)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)


def test_incremental_rollout_has_the_plain_gradient():
    model = _perturbed(3)
    z = torch.randn(2, 1, 64)
    actions = torch.randn(2, 4, 5, 10, requires_grad=True)
    (g_fast,) = torch.autograd.grad(model.rollout(z, actions)[:, :, -1].pow(2).sum(), actions)
    (g_plain,) = torch.autograd.grad(model.rollout_plain(z, actions)[:, :, -1].pow(2).sum(), actions)
    torch.testing.assert_close(g_fast, g_plain, rtol=1e-4, atol=1e-6)
    assert g_fast.abs().sum() > 0


def test_rollout_in_training_mode_with_dropout_is_the_plain_one():
    model = _perturbed(3, dropout=0.5).train()
    z, actions = torch.randn(1, 1, 64), torch.randn(1, 3, 4, 10)
    torch.manual_seed(1)
    out = model.rollout(z, actions)
    torch.manual_seed(1)
    torch.testing.assert_close(out, model.rollout_plain(z, actions))  # same dropout masks: the same code path


def test_cnn_encoder_option_encodes_and_predicts():
    cfg = replace(MODEL_PRESETS["smoke"], encoder="cnn", cnn_width=8)
    model = LeWM(cfg).eval()
    z = model.encode(torch.randint(0, 255, (2, 3, 64, 64, 3), dtype=torch.uint8))  # (B, T, D)
    assert z.shape == (2, 3, cfg.latent_dim)
    assert model.predict(z, model.embed_actions(torch.zeros(2, 3, cfg.action_block_dim))).shape == z.shape
    assert parameter_table(model)["encoder"] != parameter_table(LeWM(MODEL_PRESETS["smoke"]))["encoder"]


def test_cnn_encoder_sees_where_things_are():
    # flattening the final map (not pooling) keeps position: a dot moved by a few pixels changes the features
    enc = LeWM(replace(MODEL_PRESETS["smoke"], encoder="cnn", cnn_width=8)).eval()
    a = torch.zeros(1, 1, 64, 64, 3, dtype=torch.uint8)
    b = a.clone()
    a[0, 0, 10:14, 10:14] = 255
    b[0, 0, 10:14, 40:44] = 255
    with torch.no_grad():
        assert not torch.allclose(enc.encoder(enc.preprocess(a)), enc.encoder(enc.preprocess(b)), atol=1e-3)


def test_cnn_encoder_needs_a_power_of_two_frame():
    with pytest.raises(ValueError, match="power of two"):
        ModelConfig(image_size=96, patch_size=8, encoder="cnn")
    ModelConfig(image_size=96, patch_size=8, encoder="vit")  # the ViT takes 96 px with 8-px patches


def test_within_episode_share_separates_constant_episodes_from_shared_means():
    g = torch.Generator().manual_seed(0)
    offsets = [torch.randn(1, 4, generator=g) * 10 for _ in range(5)]
    static = [o.expand(20, 4) + 0.01 * torch.randn(20, 4, generator=g) for o in offsets]  # spread across episodes
    moving = [torch.randn(20, 4, generator=g) for _ in range(5)]  # every episode spans the same distribution
    assert within_episode_share(static) < 0.01
    assert within_episode_share(moving) > 0.9
