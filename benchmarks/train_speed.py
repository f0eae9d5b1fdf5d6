"""Training speed of any method on whatever device is here: step time, images/s and model FLOP utilisation per
preset, and the data loader's clips/s on its own, so you can see whether the GPU starves.

    python benchmarks/train_speed.py                      # LeWM, small and paper presets, auto device
    python benchmarks/train_speed.py --presets gpu paper --compile
    python benchmarks/train_speed.py --method pldm --presets small

Model: the exact step of `lewm train` (``Learner.step``: bf16 autocast on CUDA, fused AdamW, SDPA attention,
optional torch.compile) on random uint8 clips (and goal frames, for methods that use them) already on the device.
Warm-up steps are excluded; CUDA is synchronised before the clock starts and before it stops. MFU = matmul FLOPs
counted by FlopCounterMode for one forward + backward (lewm_agents/flops.py) / step time / peak, where the peak is the
data-sheet dense bf16 number of a known GPU, or on CPU a matmul peak measured at start-up in the precision the step
runs in.

Loader: the training DataLoader (``make_loader``: StepBatches, workers, prefetching, pinned memory on CUDA) over a
generated HDF5 file at the preset's frame size, read in memory (how ClipDataset reads files < 2 GiB) and from disk
(lzf chunks, how a paper-scale dataset is read); clips/s after the first batch (worker start-up excluded).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import tyro

from lewm_agents.data import ClipDataset, DatasetReader, compute_action_stats
from lewm_agents.data.batch import Batch
from lewm_agents.data.format import Episode, EpisodeWriter
from lewm_agents.flops import count_objective_flops, measure_matmul_flops, peak_flops
from lewm_agents.methods import get_method
from lewm_agents.runtime import Precision, resolve_device, resolve_precision
from lewm_agents.train import Learner, TrainConfig, make_loader, train_preset


@dataclass(frozen=True)
class SpeedConfig:
    """Benchmark the training step and the data loader."""

    method: str = "lewm"
    """The method whose training step is timed (lewm, pldm, gcbc, ...)."""
    presets: tuple[str, ...] = ("small", "paper")
    """Training presets to time."""
    device: str = "auto"
    """Torch device ('auto': CUDA if present)."""
    steps: int | None = None
    """Timed steps per preset (default: 50 on CUDA, 3 on CPU)."""
    warmup: int | None = None
    """Untimed steps first (default: 10 on CUDA, 1 on CPU; 30 with --compile)."""
    cpu_batch: int = 8
    """Batch size on CPU for presets whose batch would take minutes per step there (paper, gpu)."""
    compile: bool = False
    """torch.compile the model (as `lewm train --compile`)."""
    precision: Precision | None = None
    """Override the presets' precision ('bf16' on a CPU with AVX-512 BF16 / AMX; default: the preset's 'auto')."""
    workers: int | None = None
    """DataLoader workers (default: the preset's)."""
    loader_episodes: int = 24
    """Episodes of the generated HDF5 file for the loader benchmark (100 frames each)."""
    loader_batches: int = 20
    """Batches timed per loader measurement."""


def _batch_for(preset: str, cfg: TrainConfig, device: torch.device, sc: SpeedConfig) -> tuple[int, str]:
    if device.type == "cpu" and preset in ("paper", "gpu"):
        return sc.cpu_batch, f"CPU: batch {sc.cpu_batch} instead of {cfg.batch_size}"
    return cfg.batch_size, ""


def time_model(preset: str, sc: SpeedConfig, device: torch.device, peaks: dict) -> dict:
    """Step time, throughput and MFU of one preset's training step on random data."""
    base = train_preset(sc.method, preset)
    batch, note = _batch_for(preset, base, device, sc)
    cfg = replace(base, batch_size=batch, compile=sc.compile, precision=sc.precision or base.precision)
    model_cfg = replace(cfg.model, action_dim=2)
    amp = resolve_precision(cfg.precision, device)
    learner = Learner(cfg, model_cfg, device, amp=amp)
    spec = learner.method.clips(model_cfg)
    T, size = spec.frames, model_cfg.image_size
    g = torch.Generator(device=device).manual_seed(0)
    frames = torch.randint(0, 256, (batch, T + 1, size, size, 3), dtype=torch.uint8, device=device, generator=g)
    actions = torch.randn(batch, T, model_cfg.frameskip * 2, device=device, generator=g)  # (B, T, F)
    goals = spec.goals is not None
    clips = Batch(
        pixels=frames[:, :T],
        actions=actions,
        goal_pixels=frames[:, T] if goals else None,
        goal_offset=torch.ones(batch, dtype=torch.int64, device=device) if goals else None,
    )
    cuda = device.type == "cuda"
    warmup = sc.warmup if sc.warmup is not None else (30 if sc.compile else 10 if cuda else 1)
    steps = sc.steps or (50 if cuda else 3)
    for _ in range(warmup):
        learner.step(clips, lr=cfg.lr)
    if cuda:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        metrics = learner.step(clips, lr=cfg.lr)
    if cuda:
        torch.cuda.synchronize(device)
    step_s = (time.perf_counter() - t0) / steps
    flops = count_objective_flops(learner.method, model_cfg, batch)
    peak, source = peaks[amp]
    return {
        "preset": preset,
        "batch": batch,
        "precision": "bf16" if amp else "fp32",
        "step_ms": 1e3 * step_s,
        "clips_per_s": batch / step_s,
        "images_per_s": batch * T / step_s,
        "tflop_per_step": flops.total / 1e12,
        "tflops": flops.total / step_s / 1e12,
        "mfu": flops.total / step_s / peak,
        "peak": source,
        "note": ", ".join(x for x in (note, f"{steps} steps after {warmup} warm-up") if x),
        "finite": all(bool(torch.isfinite(v)) for v in metrics.values()),
    }


def _frame(rng: np.random.Generator, size: int) -> np.ndarray:
    """A simulator-like frame: flat background and a few solid rectangles (compresses like rendered scenes)."""
    img = np.full((size, size, 3), rng.integers(0, 256, 3), np.uint8)  # (H, W, 3)
    for _ in range(3):
        x, y = rng.integers(0, size - size // 4, 2)
        img[y : y + size // 5, x : x + size // 5] = rng.integers(0, 256, 3)
    return img


def make_dataset(path: Path, size: int, episodes: int, length: int = 100) -> Path:
    """A generated HDF5 dataset of ``episodes`` x ``length`` frames at ``size`` px, action dim 2."""
    rng = np.random.default_rng(0)
    with EpisodeWriter(path, env_id="Synthetic-v0", image_size=size, action_dim=2, policy="random") as w:
        for _ in range(episodes):
            action = rng.normal(size=(length, 2)).astype(np.float32)  # (L, A)
            action[-1] = np.nan
            w.write_episode(Episode(pixels=np.stack([_frame(rng, size) for _ in range(length)]), action=action))
    return path


def time_loader(preset: str, sc: SpeedConfig, device: torch.device, path: Path, in_memory: bool) -> dict:
    """Clips/s of the training DataLoader alone (after its first batch), at the preset's real batch size."""
    cfg = train_preset(sc.method, preset)
    if sc.workers is not None:
        cfg = replace(cfg, num_workers=sc.workers)
    with DatasetReader(path) as reader:
        stats = compute_action_stats(reader)
    spec = get_method(sc.method).clips(cfg.model)
    ds = ClipDataset(
        path,
        num_steps=spec.frames,
        frameskip=cfg.model.frameskip,
        action_stats=stats,
        in_memory=in_memory,
        goals=spec.goals,
    )
    batches = min(sc.loader_batches, 4 * (len(ds) // cfg.batch_size))
    loader = make_loader(ds, cfg, device, 0, batches + 1)
    it = iter(loader)
    next(it)  # worker start-up and the first prefetch are not throughput
    t0 = time.perf_counter()
    clips = 0
    for batch in it:
        batch = batch.to(device, non_blocking=True)
        clips += batch.size
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    return {
        "preset": preset,
        "source": "memory" if in_memory else "disk (lzf)",
        "workers": cfg.num_workers,
        "batch": cfg.batch_size,
        "clips_per_s": clips / dt,
        "mb_per_s": clips * spec.frames * cfg.model.image_size**2 * 3 / dt / 1e6,
    }


def main(sc: SpeedConfig) -> None:
    device = resolve_device(sc.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}")
    peaks = {torch.bfloat16: peak_flops(device, torch.bfloat16)}
    if device.type == "cpu":
        fp32 = measure_matmul_flops(device, torch.float32)
        peaks[None] = (fp32, "cpu: measured float32 matmul")
        print(f"CPU matmul peak (measured): fp32 {fp32 / 1e9:.1f} GFLOP/s, bf16 {peaks[torch.bfloat16][0] / 1e9:.1f}")
    else:
        peaks[None] = peak_flops(device, None)
    rows = [time_model(p, sc, device, peaks) for p in sc.presets]
    print(f"\nmodel: one {sc.method} training step (forward + backward + AdamW) on random uint8 clips on the device")
    print("| preset | batch | precision | step ms | images/s | clips/s | TFLOP/step | TFLOP/s | MFU | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['batch']} | {r['precision']} | {r['step_ms']:.1f} | {r['images_per_s']:.1f} | "
            f"{r['clips_per_s']:.1f} | {r['tflop_per_step']:.4f} | {r['tflops']:.4f} | {100 * r['mfu']:.1f}% | "
            f"{r['note']}; peak: {r['peak']}{'' if r['finite'] else '; NON-FINITE LOSS'} |"
        )
    print("\nloader: the training DataLoader alone, generated HDF5 file, at the preset's batch size")
    print("| preset | source | workers | batch | clips/s | MB/s | model clips/s (this device) | starves? |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[int, Path] = {}
        for r in rows:
            size = train_preset(sc.method, r["preset"]).model.image_size
            if size not in files:
                files[size] = make_dataset(Path(tmp) / f"synthetic_{size}.h5", size, sc.loader_episodes)
            for in_memory in (True, False):
                lr = time_loader(r["preset"], sc, device, files[size], in_memory)
                model_cps = r["clips_per_s"]
                print(
                    f"| {lr['preset']} | {lr['source']} | {lr['workers']} | {lr['batch']} | {lr['clips_per_s']:.0f} | "
                    f"{lr['mb_per_s']:.0f} | {model_cps:.1f} | {'yes' if lr['clips_per_s'] < model_cps else 'no'} |"
                )


if __name__ == "__main__":
    main(tyro.cli(SpeedConfig))
