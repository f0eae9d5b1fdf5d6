"""The trainer: the loss falls without collapse, resume is exact, runs are never overwritten, bf16 stays finite."""

import itertools
import shutil
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from lewm_agents.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from lewm_agents.data import ClipDataset
from lewm_agents.loss import lewm_loss, sigreg
from lewm_agents.model import LeWM
from lewm_agents.train import TRAIN_PRESETS, StepBatches, lr_at, train


def _cfg(data, out, **kw):
    base = TRAIN_PRESETS["smoke"]
    kw.setdefault("model", replace(base.model, history=1))
    return replace(
        base, data=data, out=out, batch_size=16, num_proj=32, progress=False, device="cpu", val_batches=2, **kw
    )


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [lr_at(s, 100, 1.0, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lr_at(99, 100, 1.0, 0.1) < 0.01


def test_step_batches_are_a_pure_function_of_the_step():
    full = list(StepBatches(50, 8, seed=1, start=0, total=14))
    assert list(StepBatches(50, 8, seed=1, start=5, total=14)) == full[5:]
    epoch0 = [i for b in full[:6] for i in b]
    assert len(set(epoch0)) == 48  # a permutation cut into full batches
    halves = [list(StepBatches(50, 8, 1, 0, 14, rank=r, world=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*halves)] == full  # DDP ranks split each global batch


def test_training_lowers_the_loss_without_collapse(tworoom_data, tmp_path):
    cfg = _cfg(tworoom_data, tmp_path / "run", max_steps=120, lr=2e-3, warmup=0.05)
    ds = ClipDataset(tworoom_data, num_steps=2, frameskip=5, action_stats=load_stats(cfg))
    pixels, actions = map(torch.stack, zip(*[ds[i] for i in range(0, len(ds), max(1, len(ds) // 64))]))

    def val_loss(model):
        with torch.no_grad():
            _, m = lewm_loss(
                model.eval(),
                pixels,
                actions,
                lam=cfg.lam,
                num_proj=256,
                generator=torch.Generator().manual_seed(0),
                with_stats=True,
            )
        return m

    torch.manual_seed(cfg.seed)
    before = val_loss(LeWM(replace(cfg.model, action_dim=2)))
    summary = train(cfg)
    after = val_loss(load_checkpoint(summary["checkpoint"]).model)
    collapsed = float(sigreg(torch.zeros(2, len(pixels), 64), num_proj=256))  # the statistic of a point mass
    assert float(after["loss"]) < 0.6 * float(before["loss"])
    assert float(after["sigreg_loss"]) < 0.6 * collapsed
    assert after["eff_rank"] > 2 and float(after["emb_std"]) > 0.3  # TwoRoom's data is 2-D: more than a line


def load_stats(cfg):
    from lewm_agents.data import DatasetReader, compute_action_stats, split_episodes

    with DatasetReader(cfg.data) as r:
        train_eps, _ = split_episodes(r.num_episodes, cfg.val_fraction, cfg.seed)
        return compute_action_stats(r, train_eps)


def test_resume_is_exact(tworoom_data, tmp_path):
    cfg = _cfg(tworoom_data, tmp_path / "a", max_steps=6, ckpt_every=3, keep_last=5)
    train(cfg)
    full = load_file(str(list_checkpoints(cfg.out)[-1] / "model.safetensors"))
    # "kill" the run after step 3: drop the later checkpoint, then resume
    shutil.copytree(cfg.out, tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step_00000006")
    summary = train(replace(cfg, out=tmp_path / "b", resume=True))
    assert summary["steps"] == 6
    resumed = load_file(str(list_checkpoints(tmp_path / "b")[-1] / "model.safetensors"))
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], rtol=0, atol=0, msg=k)


def test_existing_run_is_not_overwritten(tworoom_data, tmp_path):
    cfg = _cfg(tworoom_data, tmp_path / "run", max_steps=2)
    train(cfg)
    before = (list_checkpoints(cfg.out)[-1] / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="--resume"):
        train(cfg)
    assert (list_checkpoints(cfg.out)[-1] / "model.safetensors").read_bytes() == before
    with pytest.raises(CheckpointError, match="other settings"):
        train(replace(cfg, lr=0.5, resume=True))


def test_bf16_autocast_on_cpu_stays_finite(tworoom_data, tmp_path):
    summary = train(_cfg(tworoom_data, tmp_path / "run", max_steps=15, precision="bf16", lr=3e-3))
    for k in ("loss", "pred_loss", "sigreg_loss"):
        assert torch.isfinite(torch.tensor(summary[k])), k


def test_image_size_mismatch_names_the_fix(tworoom_data, tmp_path):
    cfg = _cfg(tworoom_data, tmp_path / "run", model=replace(TRAIN_PRESETS["smoke"].model, image_size=32))
    with pytest.raises(ValueError, match=r"--model\.image-size 64"):
        train(cfg)
