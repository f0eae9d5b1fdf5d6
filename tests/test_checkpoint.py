"""Checkpoints: save -> load predicts identically; corrupted or foreign checkpoints are refused clearly."""

import json

import pytest
import torch

from lewm_agents.checkpoint import (
    CheckpointError,
    find_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from lewm_agents.data import ActionStats
from lewm_agents.model import MODEL_PRESETS, LeWM

STATS = ActionStats(mean=(0.1, -0.2), std=(0.5, 0.7))


def _trained_model():
    torch.manual_seed(0)
    model = LeWM(MODEL_PRESETS["smoke"])
    for p in model.parameters():
        p.data += 0.02 * torch.randn_like(p)
    model.train()
    model.encode(torch.randint(0, 256, (8, 2, 64, 64, 3), dtype=torch.uint8))  # moves BatchNorm running stats
    return model.eval()


def test_save_load_predicts_identically(tmp_path):
    model = _trained_model()
    path = save_checkpoint(tmp_path / "checkpoints" / "step_00000007", model, action_stats=STATS, meta={"step": 7})
    ckpt = load_checkpoint(tmp_path)  # a run directory resolves to its newest checkpoint
    assert ckpt.path == path and ckpt.meta["step"] == 7 and ckpt.action_stats == STATS
    assert not ckpt.model.training
    pixels = torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8)
    actions = torch.randn(2, 4, 5, 10)
    with torch.no_grad():
        z, z2 = model.encode(pixels), ckpt.model.encode(pixels)
        torch.testing.assert_close(z, z2, rtol=0, atol=0)
        torch.testing.assert_close(
            model.rollout(z[:, :1], actions), ckpt.model.rollout(z2[:, :1], actions), rtol=0, atol=0
        )
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format"] == "lewm-checkpoint" and cfg["model"]["latent_dim"] == 64


def test_corrupted_weights_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-100] ^= 0xFF  # flip bits inside a weight
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)


def test_truncated_weights_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    cfg = json.loads((path / "config.json").read_text())
    del cfg["weights_sha256"]  # even without the hash, a cut file must not load silently
    (path / "config.json").write_text(json.dumps(cfg))
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["predictor_depth"] = 3  # weights no longer match the described architecture
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="another model"):
        load_checkpoint(path)
    (path / "config.json").write_text(json.dumps({"some": "other format"}))
    with pytest.raises(CheckpointError, match="not a lewm-agents checkpoint"):
        load_checkpoint(path)


def test_missing_checkpoint_names_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        find_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="lewm train"):
        find_checkpoint(tmp_path)


def test_prune_keeps_newest(tmp_path):
    model = _trained_model()
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path / "checkpoints" / f"step_{step:08d}", model, action_stats=STATS)
    (tmp_path / "checkpoints" / ".tmp-step_00000005-1").mkdir()  # a crashed save
    prune_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003", "step_00000004"]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
