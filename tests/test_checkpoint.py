"""Checkpoints: save -> load predicts identically; corrupted or foreign checkpoints are refused clearly."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lewm_agents.checkpoint import (
    CheckpointError,
    UnverifiedCheckpointWarning,
    find_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_trainer_state,
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


def _edit_config(path: Path, edit) -> None:
    """Rewrite a checkpoint's config.json with ``edit(cfg)`` applied, dropping its own hash (a hand edit made on
    purpose, or a checkpoint from before config.json was hashed)."""
    cfg = json.loads((path / "config.json").read_text())
    edit(cfg)
    cfg.pop("config_sha256", None)
    (path / "config.json").write_text(json.dumps(cfg))


def test_corrupted_weights_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-100] ^= 0xFF  # flip bits inside a weight
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)


def test_truncated_weights_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    _edit_config(path, lambda cfg: [cfg.pop(k) for k in ("weights_sha256", "files_sha256")])  # no hash: still refused
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    _edit_config(path, lambda cfg: cfg["model"].update(predictor_depth=3))  # weights no longer match the architecture
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


LEGACY = Path(__file__).parent / "fixtures" / "legacy_v1"


@pytest.fixture
def one_thread():
    """The fixture's outputs were computed on 1 thread: matmuls split over more threads round differently."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_checkpoint_from_before_methods_loads_as_lewm_and_plans_identically(one_thread):
    """tests/fixtures/legacy_v1 was written by the code before checkpoints named their method (format version 1);
    expected.safetensors holds what that code computed with it (on 1 thread)."""
    import gymnasium as gym
    from safetensors.torch import load_file

    from lewm_agents.agent import MPCAgent
    from lewm_agents.planning import PlanConfig

    raw = json.loads((list_checkpoints(LEGACY)[-1] / "config.json").read_text())
    assert raw["version"] == 1 and "method" not in raw and raw["train"]["lam"] == 0.07  # really the old layout
    ckpt = load_checkpoint(LEGACY)
    assert ckpt.method == "lewm" and type(ckpt.model) is LeWM
    assert (ckpt.config.lam, ckpt.config.num_proj, ckpt.config.history) == (0.07, 64, 2)  # from its training config
    assert ckpt.meta["train"]["method"] == "lewm" and ckpt.meta["train"]["model"]["lam"] == 0.07
    expected = load_file(str(LEGACY / "expected.safetensors"))
    with torch.no_grad():
        z = ckpt.model.encode(expected["pixels"])
        torch.testing.assert_close(z, expected["latents"], rtol=0, atol=0)
        rollout = ckpt.model.rollout(z[:, :2], expected["actions"], expected["context_actions"])
        torch.testing.assert_close(rollout, expected["rollout"], rtol=0, atol=0)
    agent = MPCAgent.from_checkpoint(
        LEGACY,
        action_space=gym.spaces.Box(-1, 1, (2,)),
        config=PlanConfig(num_samples=16, iterations=3, topk=4, horizon=3, seed=5),
        device="cpu",
    )
    frames = expected["pixels"][:, 0].numpy()
    agent.set_goal(expected["pixels"][:, 2].numpy())
    actions = np.stack([agent.predict(frames)[0] for _ in range(6)])
    np.testing.assert_array_equal(actions, expected["agent_actions"].numpy())


def test_a_checkpoint_without_a_method_is_lewms(tmp_path):
    path = save_checkpoint(tmp_path / "ck", _trained_model(), action_stats=STATS)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["method"] == "lewm" and cfg["version"] == 2
    _edit_config(path, lambda cfg: cfg.pop("method"))
    ckpt = load_checkpoint(path)
    assert ckpt.method == "lewm" and type(ckpt.model) is LeWM
    _edit_config(path, lambda cfg: cfg.update(method="dreamerv3"))
    with pytest.raises(CheckpointError, match="unknown method 'dreamerv3'"):
        load_checkpoint(path)


# --- every file is hashed (issue 10, defect 2) ------------------------------------------------------------------


def _with_trainer(tmp_path):
    tensors = {"optim.0.exp_avg": torch.arange(64, dtype=torch.float32), "rng.cpu": torch.arange(16, dtype=torch.uint8)}
    return save_checkpoint(
        tmp_path / "ck", _trained_model(), action_stats=STATS, meta={"step": 3}, trainer_state=(tensors, {"step": 3})
    )


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["trainer.safetensors", "trainer.json"])
def test_a_flipped_bit_in_the_trainer_state_is_refused_on_resume(tmp_path, name):
    path = _with_trainer(tmp_path)
    tensors, extra = load_trainer_state(path)
    assert extra["step"] == 3 and torch.equal(tensors["optim.0.exp_avg"], torch.arange(64, dtype=torch.float32))
    target = path / name
    _flip(target, target.stat().st_size - 3)  # inside the last tensor's bytes / the last value
    with pytest.raises(CheckpointError, match="does not match the SHA-256") as e:
        load_trainer_state(path)
    assert str(target) in str(e.value)
    load_checkpoint(path)  # the model does not need the trainer state


def test_a_changed_value_in_config_json_is_refused(tmp_path):
    path = _with_trainer(tmp_path)
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text.replace('"step": 3', '"step": 2'))  # one character, valid JSON
    with pytest.raises(CheckpointError, match="config_sha256"):
        load_checkpoint(path)
    (path / "config.json").write_text(text.replace("\n", "\n  "))  # formatting only: the content is the same
    assert load_checkpoint(path).meta["step"] == 3


def test_a_missing_trainer_file_is_named(tmp_path):
    path = _with_trainer(tmp_path)
    (path / "trainer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing") as e:
        load_trainer_state(path)
    assert str(path / "trainer.safetensors") in str(e.value)


def test_a_checkpoint_from_before_the_trainer_hashes_resumes_with_a_warning(tmp_path):
    path = _with_trainer(tmp_path)
    _edit_config(path, lambda cfg: cfg.pop("files_sha256"))
    with pytest.warns(UnverifiedCheckpointWarning, match="without an integrity check"):
        _, extra = load_trainer_state(path)
    assert extra["step"] == 3
    load_checkpoint(path)  # its model is still checked by weights_sha256
    _flip(path / "model.safetensors", (path / "model.safetensors").stat().st_size - 5)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)


def test_a_checkpoint_saved_again_with_its_own_meta_gets_fresh_hashes(tmp_path):
    path = _with_trainer(tmp_path)
    ckpt = load_checkpoint(path)
    model = ckpt.model
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # other weights, e.g. recalibrated BatchNorm statistics
    again = save_checkpoint(tmp_path / "again", model, action_stats=ckpt.action_stats, meta=dict(ckpt.meta))
    assert load_checkpoint(again).meta["step"] == 3
