"""Test-wide settings. Headless rendering is chosen here (library code never writes os.environ)."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tworoom_data(tmp_path_factory):
    """A small TwoRoom dataset at 64 px recorded with the heuristic policy (shared by the whole session)."""
    from lewm_agents.data import CollectConfig, collect

    path = tmp_path_factory.mktemp("data") / "tworoom.h5"
    collect(CollectConfig(env="tworoom", episodes=12, out=path, image_size=64, progress=False))
    return path


@pytest.fixture(scope="session")
def tiny_run(tworoom_data, tmp_path_factory):
    """A smoke-sized LeWM (history 1) trained for a few steps on `tworoom_data`; returns the run directory."""
    from dataclasses import replace

    from lewm_agents.train import TRAIN_PRESETS, train

    base = TRAIN_PRESETS["smoke"]
    run = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = replace(
        base,
        data=tworoom_data,
        out=run,
        model=replace(base.model, history=1, num_proj=32),
        max_steps=12,
        batch_size=16,
        progress=False,
        device="cpu",
        precision="fp32",  # 'auto' times bf16 against fp32 on this CPU: the weights would depend on the machine
        val_batches=2,
    )
    train(cfg)
    return run
