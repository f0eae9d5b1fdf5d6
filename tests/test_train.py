"""The trainer: the loss falls without collapse, resume is exact, runs are never overwritten, bf16 stays finite."""

import itertools
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from lewm_agents.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from lewm_agents.data import ClipDataset
from lewm_agents.data.batch import Batch
from lewm_agents.loss import lewm_loss, sigreg
from lewm_agents.model import LeWM
from lewm_agents.monitor import read_metrics
from lewm_agents.train import TRAIN_PRESETS, StepBatches, config_from_args, lr_at, train


def _cfg(data, out, lam=None, **kw):
    base = TRAIN_PRESETS["smoke"]
    kw.setdefault("model", replace(base.model, history=1, num_proj=32))
    if lam is not None:
        kw["model"] = replace(kw["model"], lam=lam)
    return replace(base, data=data, out=out, batch_size=16, progress=False, device="cpu", val_batches=2, **kw)


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
    pixels, actions = Batch.collate([ds[i] for i in range(0, len(ds), max(1, len(ds) // 64))])[:2]

    def val_loss(model):
        with torch.no_grad():
            _, m = lewm_loss(
                model.eval(),
                pixels,
                actions,
                lam=cfg.model.lam,
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


def _train_args(data, out, *extra):
    return [
        str(data),
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--model.history",
        "1",
        "--batch-size",
        "16",
        "--num-proj",
        "32",
        "--max-steps",
        "10",
        "--ckpt-every",
        "4",
        "--log-every",
        "1",
        "--val-batches",
        "2",
        "--bn-recalibration",
        "4",
        "--device",
        "cpu",
        "--deterministic",
        "--no-progress",
        *extra,
    ]


def test_kill_and_resume_equals_an_uninterrupted_run(tworoom_data, tmp_path):
    """kill -9 between two checkpoints, then --resume: the same per-step losses and final weights, bit for bit."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    train(config_from_args(_train_args(tworoom_data, whole)))  # in this process, with the same thread count:
    cmd = [sys.executable, "-m", "lewm_agents.train"]
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # identical matmul blocking
    proc = subprocess.Popen(
        cmd + _train_args(tworoom_data, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while len(read_metrics(killed)) < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    logged = len(read_metrics(killed))
    saved = int(list_checkpoints(killed)[-1].name.split("_")[1])
    assert logged < 10 and saved < logged  # died mid-run with steps after its last checkpoint
    subprocess.run(cmd + _train_args(tworoom_data, killed, "--resume"), env=env, check=True, capture_output=True)
    a, b = read_metrics(whole), read_metrics(killed)
    assert [e["step"] for e in b] == list(range(1, 11))  # entries after the checkpoint were dropped, then rewritten
    assert a == b  # every loss, gradient norm and validation value identical
    w_a = load_file(str(list_checkpoints(whole)[-1] / "model.safetensors"))
    w_b = load_file(str(list_checkpoints(killed)[-1] / "model.safetensors"))
    for k in w_a:
        torch.testing.assert_close(w_b[k], w_a[k], rtol=0, atol=0, msg=k)


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


def test_paper_preset_is_the_official_recipe():
    """Every number of lewm.md §2 and §4."""
    cfg, m = TRAIN_PRESETS["paper"], TRAIN_PRESETS["paper"].model
    assert (m.image_size, m.patch_size, m.encoder_depth, m.encoder_heads, m.encoder_dim) == (224, 14, 12, 3, 192)
    assert (m.encoder_mlp_ratio, m.latent_dim, m.projector_hidden) == (4.0, 192, 2048)
    assert (m.predictor_depth, m.predictor_heads, m.predictor_head_dim, m.predictor_mlp_dim) == (6, 16, 64, 2048)
    assert (m.predictor_dropout, m.history, m.frameskip, m.action_smoothed_dim) == (0.1, 3, 5, 10)
    assert (cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.warmup, cfg.grad_clip) == (128, 5e-5, 1e-3, 0.01, 1.0)
    assert (m.lam, m.num_proj, cfg.epochs, cfg.max_steps, cfg.seed) == (0.09, 1024, 10.0, None, 3072)
    assert (cfg.precision, cfg.num_workers, cfg.prefetch, cfg.val_fraction) == ("auto", 6, 3, 0.1)
    assert lr_at(0, 1000, cfg.lr, cfg.warmup) == pytest.approx(5e-6)  # 1% warm-up: 10 steps of 1000
    assert lr_at(9, 1000, cfg.lr, cfg.warmup) == pytest.approx(5e-5) and lr_at(999, 1000, cfg.lr, cfg.warmup) < 1e-9


def test_dry_run_prints_parameters_and_flops_per_step(capsys):
    from lewm_agents.cli import main

    assert main(["train", "--preset", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "18,034,478" in out and "5,501,376" in out and "10,791,360" in out
    assert "5.215 TFLOP (batch 128)" in out and "40.74 GFLOP" in out


def test_time_limit_checkpoints_and_the_same_command_continues(tworoom_data, tmp_path):
    cfg = _cfg(tworoom_data, tmp_path / "run", max_steps=5, resume=True, time_limit=1e-4, bn_recalibration=2)
    first = train(cfg)  # 6 ms allowed: stops after its first step, with a checkpoint
    assert not first["finished"] and first["stopped"] == "time_limit" and first["steps"] == 1
    assert first["resumed_from"] == 0  # --resume on a run without checkpoints starts fresh
    assert [p.name for p in list_checkpoints(cfg.out)] == ["step_00000001"]
    second = train(replace(cfg, time_limit=None))  # the same command, no limit this time
    assert second["finished"] and second["steps"] == 5 and second["resumed_from"] == 1  # said without a bar too
    assert [e["step"] for e in read_metrics(cfg.out)] == [1, 2, 3, 4, 5]


def test_loader_ships_uint8_clips_and_workers_do_not_change_the_batches(tworoom_data, tmp_path):
    from lewm_agents.train import make_loader

    cfg = replace(_cfg(tworoom_data, tmp_path), batch_size=8)
    ds = ClipDataset(tworoom_data, num_steps=2, frameskip=5, action_stats=load_stats(cfg))
    plain = list(make_loader(ds, cfg, torch.device("cpu"), 0, 5))
    pooled = list(make_loader(ds, replace(cfg, num_workers=2, prefetch=2), torch.device("cpu"), 2, 5))
    pixels, actions = plain[0].pixels, plain[0].actions
    assert pixels.dtype == torch.uint8 and pixels.shape == (8, 2, 64, 64, 3)  # normalised later, on the device
    assert actions.dtype == torch.float32 and actions.shape == (8, 2, 10)
    for b1, b2 in zip(plain[2:], pooled, strict=True):  # resuming at step 2, with workers
        assert torch.equal(b1.pixels, b2.pixels) and torch.equal(b1.actions, b2.actions)


@pytest.mark.slow  # inductor compiles the encoder, projectors and predictor on CPU: minutes on 2 cores
def test_compiled_training_matches_eager_and_keeps_checkpoint_keys(tworoom_data, tmp_path):
    eager = train(_cfg(tworoom_data, tmp_path / "eager", max_steps=3, log_every=1, bn_recalibration=2))
    compiled = train(
        _cfg(tworoom_data, tmp_path / "compiled", max_steps=3, log_every=1, bn_recalibration=2, compile=True)
    )
    a, b = read_metrics(tmp_path / "eager"), read_metrics(tmp_path / "compiled")
    for x, y in zip(a, b, strict=True):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-3)
    assert compiled["finished"] and eager["finished"]
    ckpt = load_checkpoint(compiled["checkpoint"])  # plain LeWM keys: loads without torch.compile
    assert not any("_orig_mod" in k for k in ckpt.model.state_dict())


def test_collapse_without_sigreg_is_warned_and_not_with_it(tworoom_data, tmp_path):
    from lewm_agents.monitor import CollapseWarning

    for lam, expect in ((0.0, 1), (0.09, 0)):
        cfg = _cfg(tworoom_data, tmp_path / f"{lam}", max_steps=40, lr=2e-3, lam=lam, log_every=5, bn_recalibration=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train(cfg)
        assert sum(issubclass(w.category, CollapseWarning) for w in caught) == expect, lam


def test_auto_precision_on_cpu_is_measured_recorded_and_kept_on_resume(tworoom_data, tmp_path, monkeypatch):
    """precision='auto' on a CPU: measured (run.json says what ran and the timings), recorded in every checkpoint,
    and a resumed run continues in the recorded precision without measuring again; --deterministic keeps fp32."""
    import json
    import shutil

    from lewm_agents import runtime
    from lewm_agents.checkpoint import read_checkpoint_meta

    runtime.clear_calibrations()
    cfg = _cfg(tworoom_data, tmp_path / "run", max_steps=6, ckpt_every=2, keep_last=3)
    monkeypatch.setattr(runtime, "BF16_MARGIN", 1e9)  # bf16 "wins" whatever the timings: the choice is visible
    train(cfg)
    ran = json.loads((tmp_path / "run/run.json").read_text())["precision"]
    assert (
        ran["ran"] == "bf16"
        and ran["measured"] is True
        and set(ran["ms_per_step"]) == {f"{p}@{torch.get_num_threads()}" for p in ("fp32", "bf16")}
    )
    ckpts = list_checkpoints(tmp_path / "run")
    assert {read_checkpoint_meta(c)["precision"] for c in ckpts} == {"bf16"}

    def refuse(*a, **k):
        raise AssertionError("a resumed run must not measure again")

    monkeypatch.setattr("lewm_agents.train.learner.calibrate", refuse)
    for late in list_checkpoints(tmp_path / "run")[1:]:  # back to step 2, as if the run had died there
        shutil.rmtree(late)
    train(replace(cfg, resume=True))
    assert read_checkpoint_meta(list_checkpoints(tmp_path / "run")[-1])["step"] == 6
    resumed = json.loads((tmp_path / "run/run.json").read_text())["precision"]
    assert resumed == {"ran": "bf16", "measured": False, "from": "the resumed checkpoint"}
    train(replace(cfg, out=tmp_path / "det", max_steps=2, deterministic=True))
    assert json.loads((tmp_path / "det/run.json").read_text())["precision"] == {"ran": "fp32", "measured": False}
