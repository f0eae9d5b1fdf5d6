"""Training LeWM: a plain PyTorch loop (reference/lewm.md §4).

AdamW, linear warm-up then cosine decay stepped per batch, gradient clipping, bf16 autocast where it pays, TensorBoard
scalars, tqdm, and checkpoints that resume exactly: the batch order of every step is a pure function of (seed, step),
and model, optimizer, RNG states and step are all saved.

Dimension letters: B batch, T clip frames (history + 1), D latent, F action block width.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from lewm_agents.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_trainer_state,
    prune_checkpoints,
    read_checkpoint_meta,
    save_checkpoint,
)
from lewm_agents.data import ActionStats, ClipDataset, DatasetReader, compute_action_stats, split_episodes
from lewm_agents.loss import LAMBDA, NUM_PROJ, lewm_loss
from lewm_agents.model import MODEL_PRESETS, LeWM, ModelConfig
from lewm_agents.runtime import Precision, autocast, resolve_device, resolve_precision


@dataclass(frozen=True)
class TrainConfig:
    """Training run. Defaults are the paper's recipe (reference/lewm.md §4); `--preset` picks a size-matched set."""

    data: Path = Path("data/dataset.h5")
    """HDF5 dataset written by `lewm collect`."""
    out: Path = Path("runs/lewm")
    """Run directory: checkpoints/, tb/ (TensorBoard) and config.json go here."""
    preset: str = "paper"
    """Name of the preset these defaults came from (recorded with the run)."""
    model: ModelConfig = field(default_factory=lambda: MODEL_PRESETS["paper"])
    """Architecture; model.action_dim is taken from the dataset."""
    epochs: float = 10.0
    """Passes over the training clips (the paper trains 10 epochs with the cosine fully annealed)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps instead (sets the schedule length)."""
    batch_size: int = 128
    """Clips per optimizer step (global batch under DDP)."""
    lr: float = 5e-5
    """Peak learning rate of AdamW."""
    weight_decay: float = 1e-3
    """AdamW weight decay, applied to all parameters as in the official code."""
    warmup: float = 0.01
    """Fraction of the steps spent in linear warm-up before the cosine decay to 0."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    lam: float = LAMBDA
    """SIGReg weight lambda, the one effective hyper-parameter."""
    num_proj: int = NUM_PROJ
    """SIGReg random directions M per step."""
    val_fraction: float = 0.05
    """Fraction of episodes held out for validation (split by episode, never by clip)."""
    val_every: int = 0
    """Validate every N steps (0: at the end of each epoch and of the run)."""
    val_batches: int = 20
    """Validation batches per validation."""
    seed: int = 3072
    """Seed of the weights, the batch order and the SIGReg directions (official: 3072)."""
    device: str = "auto"
    """'auto' (CUDA if present), 'cpu', 'cuda', 'cuda:1', ..."""
    precision: Precision = "auto"
    """'auto' = bf16 autocast on CUDA and fp32 on CPU; 'bf16' forces autocast (worth it on CPUs with AVX-512 BF16)."""
    num_workers: int = 0
    """DataLoader worker processes."""
    log_every: int = 25
    """TensorBoard scalars every N steps."""
    ckpt_every: int = 0
    """Checkpoint every N steps (0: at the end of each epoch); the final step is always saved."""
    keep_last: int = 3
    """Checkpoints kept on disk (the newest ones)."""
    bn_recalibration: int = 50
    """Batches used at the end of training to recompute the projectors' BatchNorm statistics at the final weights
    (0: keep the running averages, as the official code does). Eval-mode latents (planning) depend on them."""
    resume: bool = False
    """Continue the run in `out` from its newest checkpoint."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (BatchNorm and SIGReg need several samples per step).")
        if self.epochs <= 0 and self.max_steps is None:
            raise ValueError("epochs must be positive (or set max_steps).")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be >= 1.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}.")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}.")
        if self.lam < 0 or self.lr <= 0 or self.keep_last < 1:
            raise ValueError("need lam >= 0, lr > 0 and keep_last >= 1.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


# Size-matched recipes. `paper` is the official one; the CPU presets raise the learning rate for short runs.
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(),
    "gpu": TrainConfig(
        preset="gpu", model=MODEL_PRESETS["gpu"], batch_size=128, lr=3e-4, epochs=10, precision="auto", num_workers=8
    ),
    "small": TrainConfig(
        preset="small", model=MODEL_PRESETS["small"], batch_size=64, lr=5e-4, epochs=6, num_proj=256, log_every=25
    ),
    "smoke": TrainConfig(
        preset="smoke",
        model=MODEL_PRESETS["smoke"],
        batch_size=32,
        lr=1e-3,
        epochs=1,
        num_proj=128,
        log_every=10,
        val_batches=5,
    ),
}


def lr_at(step: int, total_steps: int, peak: float, warmup: float) -> float:
    """Linear warm-up over `warmup * total_steps` steps, then cosine decay to 0 at `total_steps` (per step)."""
    warm = max(1, round(warmup * total_steps)) if warmup > 0 else 0
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total_steps - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class StepBatches(torch.utils.data.Sampler):
    """Clip indices of every step from `start` to `total`: epoch e is a permutation drawn from (seed, e) cut into full
    batches. A pure function of the step, so a resumed run sees exactly the batches it would have seen."""

    def __init__(
        self, num_clips: int, batch_size: int, seed: int, start: int, total: int, rank: int = 0, world: int = 1
    ) -> None:
        self.n, self.bs, self.seed, self.start, self.total = num_clips, batch_size, seed, start, total
        self.rank, self.world = rank, world
        self.per_epoch = num_clips // batch_size

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, perm = -1, torch.empty(0, dtype=torch.long)
        local = self.bs // self.world
        for step in range(self.start, self.total):
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            b = step % self.per_epoch
            idx = perm[b * self.bs : (b + 1) * self.bs]  # (B,) global batch
            yield idx[self.rank * local : (self.rank + 1) * local].tolist()  # this rank's share


def _optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], extra: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for key, v in extra["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": extra["param_groups"]})


def _rng_state(device: torch.device, sigreg_gen: torch.Generator) -> dict[str, torch.Tensor]:
    out = {"rng.torch": torch.get_rng_state(), "rng.sigreg": sigreg_gen.get_state()}
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device)
    return out


def _restore_rng(tensors: dict[str, torch.Tensor], device: torch.device, sigreg_gen: torch.Generator) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    sigreg_gen.set_state(tensors["rng.sigreg"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


# Settings that may change between a run and its resumption; anything else must match or the resume is refused.
_RESUMABLE = {
    "resume",
    "progress",
    "device",
    "num_workers",
    "log_every",
    "ckpt_every",
    "keep_last",
    "val_every",
    "val_batches",
    "epochs",
    "max_steps",
    "out",
    "data",
    "bn_recalibration",
}


@dataclass
class _Run:
    """What the loop needs, assembled from the config and the dataset (no module-level state)."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    device: torch.device
    amp: torch.dtype | None
    stats: ActionStats
    train_set: ClipDataset
    val_set: ClipDataset | None
    dataset_meta: dict[str, Any]
    steps_per_epoch: int
    total_steps: int


def _prepare(cfg: TrainConfig) -> _Run:
    device = resolve_device(cfg.device)
    with DatasetReader(cfg.data) as reader:
        if reader.image_size != cfg.model.image_size:
            raise ValueError(
                f"{cfg.data} holds {reader.image_size}x{reader.image_size} frames but the model takes "
                f"{cfg.model.image_size}x{cfg.model.image_size}. Pass --model.image-size {reader.image_size} (with a "
                f"--model.patch-size that divides it), or collect the data with --image-size {cfg.model.image_size}."
            )
        train_eps, val_eps = split_episodes(reader.num_episodes, cfg.val_fraction, cfg.seed)
        stats = compute_action_stats(reader, train_eps)
        model_cfg = replace(cfg.model, action_dim=reader.action_dim)
        meta = {
            "path": str(cfg.data),
            "env_id": reader.env_id,
            "image_size": reader.image_size,
            "action_dim": reader.action_dim,
            "num_episodes": reader.num_episodes,
            "num_frames": reader.num_frames,
            "policy": reader.policy,
            "train_episodes": len(train_eps),
            "val_episodes": len(val_eps),
        }
    T = model_cfg.history + 1
    train_set = ClipDataset(
        cfg.data, num_steps=T, frameskip=model_cfg.frameskip, action_stats=stats, episodes=train_eps
    )
    val_set = None
    if len(val_eps):
        try:
            val_set = ClipDataset(
                cfg.data, num_steps=T, frameskip=model_cfg.frameskip, action_stats=stats, episodes=val_eps
            )
        except ValueError:  # validation episodes all too short for a clip: train without validation
            val_set = None
    steps_per_epoch = len(train_set) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"{cfg.data} yields {len(train_set)} training clips, fewer than one batch of {cfg.batch_size}. Collect "
            f"more episodes (lewm collect ... --episodes N) or pass a smaller --batch-size."
        )
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    return _Run(
        cfg,
        model_cfg,
        device,
        resolve_precision(cfg.precision, device),
        stats,
        train_set,
        val_set,
        meta,
        steps_per_epoch,
        total,
    )


def _check_resume(cfg: TrainConfig, saved: dict[str, Any], ckpt: Path) -> None:
    old = saved.get("train", {})
    new = cfg.to_dict()
    diff = {k: (old.get(k), new[k]) for k in new if k not in _RESUMABLE and old.get(k) != new[k]}
    if diff:
        raise CheckpointError(
            f"cannot resume {ckpt}: it was trained with other settings {diff} (saved vs requested). Resume with the "
            f"same settings, or start a new run with another --out."
        )


@torch.no_grad()
def validate(
    model: LeWM,
    dataset: ClipDataset,
    *,
    batch_size: int,
    batches: int,
    lam: float,
    num_proj: int,
    device: torch.device,
    amp: torch.dtype | None,
    seed: int = 0,
) -> dict[str, float]:
    """Mean validation losses over the first `batches` batches (eval mode, fixed SIGReg directions)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=True)
    sums: dict[str, float] = {}
    n = 0
    for i, (pixels, actions) in enumerate(loader):
        if i >= batches:
            break
        with autocast(device, amp):
            _, m = lewm_loss(model, pixels.to(device), actions.to(device), lam=lam, num_proj=num_proj, generator=gen)
        for k, v in m.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n += 1
    model.train(was_training)
    return {f"val_{k}": v / n for k, v in sums.items()} if n else {}


@torch.no_grad()
def recalibrate_batchnorm(
    model: LeWM,
    dataset: ClipDataset,
    *,
    batches: int,
    batch_size: int,
    device: torch.device,
    amp: torch.dtype | None,
    seed: int = 0,
) -> int:
    """Recompute every BatchNorm's running statistics as exact averages over `batches` batches at the current
    weights, with dropout off (what eval mode will see). Returns the batches used.

    Why: the projector's pre-BN activations can vary by only ~1e-3 across frames (e.g. TwoRoom frames differ in a
    small dot), so BatchNorm amplifies them and the lagging momentum averages shift eval-mode latents by whole
    standard deviations. Deliberate difference from the official code, which keeps the running averages.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or batches <= 0:
        return 0
    was_training = model.training
    model.eval()
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
        bn.train()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(seed)
    )
    hist = model.cfg.history
    used = 0
    for pixels, actions in loader:
        if used >= batches:
            break
        with autocast(device, amp):
            emb = model.encode(pixels.to(device))  # (B, T, D)
            model.predict(emb[:, :hist], model.embed_actions(actions.to(device)[:, :hist]))
        used += 1
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)
    return used


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train a LeWM on ``cfg.data`` into ``cfg.out``; returns a summary (steps, seconds, final metrics, checkpoint).

    Refuses to overwrite a run that already has checkpoints unless ``resume`` is set, so nothing written is lost.
    """
    run = _prepare(cfg)
    out = Path(cfg.out)
    existing = list_checkpoints(out)
    if existing and not cfg.resume:
        raise CheckpointError(
            f"{out} already holds checkpoints ({existing[-1].name}). Pass --resume to continue that run, or choose "
            f"another --out; nothing was overwritten."
        )
    torch.manual_seed(cfg.seed)  # weights and dropout; the loop owns this run's global RNG
    model = LeWM(run.model_cfg).to(run.device)
    fused = run.device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    sigreg_gen = torch.Generator(device=run.device).manual_seed(cfg.seed)
    start_step, train_seconds = 0, 0.0
    if cfg.resume and existing:
        ckpt = existing[-1]
        saved = read_checkpoint_meta(ckpt)
        _check_resume(cfg, saved, ckpt)
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt / "model.safetensors"), device=str(run.device)))
        tensors, extra = load_trainer_state(ckpt)
        _load_optimizer_state(opt, tensors, extra)  # load_state_dict moves each state to its parameter's device
        _restore_rng(tensors, run.device, sigreg_gen)
        start_step, train_seconds = int(extra["step"]), float(extra.get("train_seconds", 0.0))
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(
        json.dumps({"train": cfg.to_dict(), "model": run.model_cfg.to_dict(), "dataset": run.dataset_meta}, indent=2)
    )
    return _loop(run, model, opt, sigreg_gen, start_step, train_seconds)


def _save(
    run: _Run,
    model: LeWM,
    opt: torch.optim.Optimizer,
    sigreg_gen: torch.Generator,
    step: int,
    train_seconds: float,
    metrics: dict[str, float],
) -> Path:
    cfg = run.cfg
    tensors, extra = _optimizer_state(opt)
    tensors.update(_rng_state(run.device, sigreg_gen))
    extra.update(step=step, train_seconds=train_seconds)
    meta = {
        "train": cfg.to_dict(),
        "dataset": run.dataset_meta,
        "step": step,
        "total_steps": run.total_steps,
        "epoch": step / run.steps_per_epoch,
        "finished": step >= run.total_steps,
        "train_seconds": train_seconds,
        "metrics": metrics,
    }
    path = save_checkpoint(
        Path(cfg.out) / "checkpoints" / f"step_{step:08d}",
        model,
        action_stats=run.stats,
        meta=meta,
        trainer_state=(tensors, extra),
    )
    prune_checkpoints(cfg.out, cfg.keep_last)
    return path


def _loop(
    run: _Run,
    model: LeWM,
    opt: torch.optim.Optimizer,
    sigreg_gen: torch.Generator,
    start_step: int,
    train_seconds: float,
) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter
    from tqdm.auto import tqdm

    cfg, device = run.cfg, run.device
    sampler = StepBatches(len(run.train_set), cfg.batch_size, cfg.seed, start_step, run.total_steps)
    loader = torch.utils.data.DataLoader(
        run.train_set,
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.num_workers > 0,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    writer = SummaryWriter(str(Path(cfg.out) / "tb"), purge_step=start_step or None)
    if start_step == 0:
        writer.add_text("config", "```json\n" + json.dumps(cfg.to_dict(), indent=2) + "\n```")
    ckpt_every = cfg.ckpt_every or run.steps_per_epoch
    val_every = cfg.val_every or run.steps_per_epoch
    bar = tqdm(
        total=run.total_steps,
        initial=start_step,
        disable=not cfg.progress,
        dynamic_ncols=True,
        desc="train",
        unit="step",
    )
    model.train()
    metrics: dict[str, float] = {}
    last_ckpt: Path | None = None
    t_last, clips_since = time.perf_counter(), 0
    step = start_step
    for step, (pixels, actions) in enumerate(loader, start=start_step):
        t0 = time.perf_counter()
        lr = lr_at(step, run.total_steps, cfg.lr, cfg.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        log_now = (step + 1) % cfg.log_every == 0 or step == start_step
        pixels = pixels.to(device, non_blocking=True)  # (B, T, h, w, 3) uint8: normalised on the device
        actions = actions.to(device, non_blocking=True)  # (B, T, F)
        with autocast(device, run.amp):
            loss, m = lewm_loss(
                model, pixels, actions, lam=cfg.lam, num_proj=cfg.num_proj, generator=sigreg_gen, with_stats=log_now
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        train_seconds += time.perf_counter() - t0
        clips_since += pixels.shape[0]
        if not math.isfinite(float(m["loss"])):
            raise FloatingPointError(
                f"the loss became {float(m['loss'])} at step {step}. Lower --lr, keep --grad-clip 1.0, or resume from "
                f"the last checkpoint in {cfg.out}/checkpoints with --resume."
            )
        if log_now:
            now = time.perf_counter()
            metrics = {k: float(v) for k, v in m.items()}
            metrics.update(lr=lr, grad_norm=float(grad_norm), clips_per_s=clips_since / max(now - t_last, 1e-9))
            t_last, clips_since = now, 0
            for k, v in metrics.items():
                writer.add_scalar(("charts/" if k in ("lr", "clips_per_s") else "train/") + k, v, step + 1)
            bar.set_postfix(
                loss=f"{metrics['loss']:.4f}",
                pred=f"{metrics['pred_loss']:.4f}",
                sigreg=f"{metrics['sigreg_loss']:.3f}",
                refresh=False,
            )
        bar.update(1)
        done = step + 1
        if run.val_set is not None and (done % val_every == 0 or done == run.total_steps):
            val = validate(
                model,
                run.val_set,
                batch_size=cfg.batch_size,
                batches=cfg.val_batches,
                lam=cfg.lam,
                num_proj=cfg.num_proj,
                device=device,
                amp=run.amp,
                seed=cfg.seed,
            )
            for k, v in val.items():
                writer.add_scalar(f"val/{k[4:]}", v, done)
            metrics.update(val)
        if done == run.total_steps and cfg.bn_recalibration:
            t0 = time.perf_counter()
            metrics["bn_recalibration_batches"] = float(
                recalibrate_batchnorm(
                    model,
                    run.train_set,
                    batches=cfg.bn_recalibration,
                    batch_size=cfg.batch_size,
                    device=device,
                    amp=run.amp,
                    seed=cfg.seed,
                )
            )
            train_seconds += time.perf_counter() - t0
        if done % ckpt_every == 0 or done == run.total_steps:
            last_ckpt = _save(run, model, opt, sigreg_gen, done, train_seconds, metrics)
    bar.close()
    writer.close()
    if last_ckpt is None:  # resumed a finished run: nothing to do
        last_ckpt = list_checkpoints(cfg.out)[-1]
    return {
        "steps": step + 1 if run.total_steps > start_step else start_step,
        "total_steps": run.total_steps,
        "train_seconds": train_seconds,
        "checkpoint": str(last_ckpt),
        **{k: v for k, v in metrics.items() if isinstance(v, float)},
    }


def describe(cfg: TrainConfig, action_dim: int = 2) -> dict[str, Any]:
    """Parameter counts per module for a config (used by ``lewm train --dry-run``)."""
    from lewm_agents.model import parameter_table

    model = LeWM(replace(cfg.model, action_dim=action_dim))
    return {"parameters": parameter_table(model), "clip_frames": cfg.model.history + 1}
