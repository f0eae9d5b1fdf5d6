"""Training any registered method: a plain PyTorch loop (reference/lewm.md §4), on one device or data-parallel over
several. The loop knows the method only through its record (lewm_agents/methods/) and its objective
(`lewm_agents.protocols.Objective`): it logs whatever metrics the objective returns.

AdamW, linear warm-up then cosine decay stepped per batch, gradient clipping, bf16 autocast where it pays, an optional
``torch.compile``, TensorBoard scalars and a per-step ``metrics.jsonl``, tqdm, and checkpoints that resume exactly:
the batch order of every step is a pure function of (seed, step), and model, optimizer, every rank's RNG states and
the step are all saved. ``--time-limit`` checkpoints and exits cleanly, so rerunning the same command continues.

Run it with ``lewm train DATA [--method NAME]``, ``lewm train DATA --devices K`` (K processes), or
``torchrun --nproc-per-node K -m lewm_agents.train DATA ...`` (both enter through lewm_agents/train/entry.py);
lewm_agents/distributed.py says what keeps K processes equivalent to one process on the global batch.

Dimension letters: B batch, T clip frames, D latent, F action block width.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents import distributed
from lewm_agents.analysis.straightness import StraightnessProbe
from lewm_agents.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_trainer_state,
    prune_checkpoints,
    save_checkpoint,
    verify_checkpoint,
)
from lewm_agents.data import ActionStats, ClipDataset, DatasetReader, compute_action_stats, split_episodes
from lewm_agents.data.batch import Batch
from lewm_agents.data.sources import recorded_env
from lewm_agents.distributed import DistEnv
from lewm_agents.methods import Method, get_method
from lewm_agents.monitor import Monitor
from lewm_agents.runtime import resolve_precision
from lewm_agents.schedule import StepBatches, lr_at
from lewm_agents.train.config import TrainConfig, recipe_diff
from lewm_agents.train.learner import Learner, recalibrate_batchnorm, validate


@dataclass
class _Run:
    """What the loop needs, assembled from the config and the dataset (no module-level state)."""

    cfg: TrainConfig
    method: Method
    model_cfg: Any
    device: torch.device
    env: DistEnv
    amp: torch.dtype | None
    stats: ActionStats
    train_set: ClipDataset
    val_set: ClipDataset | None
    dataset_meta: dict[str, Any]
    steps_per_epoch: int
    total_steps: int
    started: float
    straightness: StraightnessProbe | None = None
    """Held-out latent paths whose straightness is logged with the statistics (None: off or no long episode)."""


def _prepare(cfg: TrainConfig, device: torch.device, env: DistEnv, started: float) -> _Run:
    method = get_method(cfg.method)
    with DatasetReader(cfg.data) as reader:
        # before any compute: data from an old env version is refused unless --legacy-env (lewm_envs.versions)
        env_id, env_kwargs = recorded_env(reader.env_id, reader.env_kwargs, legacy=cfg.legacy_env)
        if reader.image_size != cfg.model.image_size:
            raise ValueError(
                f"{cfg.data} holds {reader.image_size}x{reader.image_size} frames but the model takes "
                f"{cfg.model.image_size}x{cfg.model.image_size}. Pass --model.image-size {reader.image_size} (with a "
                f"--model.patch-size that divides it), or collect the data with --image-size {cfg.model.image_size}."
            )
        train_eps, val_eps = split_episodes(reader.num_episodes, cfg.val_fraction, cfg.seed)
        stats = compute_action_stats(reader, train_eps)
        model_cfg = replace(cfg.model, action_dim=reader.action_dim)
        if getattr(model_cfg, "encoder", None) == "state":  # the state-input diagnostic encodes the 'state' column
            model_cfg = replace(model_cfg, state_dim=_state_dim(reader, cfg.data))
        data = Path(cfg.data).resolve()
        meta = {
            "path": str(cfg.data),  # as given; `lewm eval` finds the file from the two below, from any directory
            "path_absolute": str(data),
            "path_from_run": os.path.relpath(data, Path(cfg.out).resolve()),
            "env_id": env_id,
            "env_kwargs": env_kwargs,
            **({"recorded_env_id": reader.env_id} if env_id != reader.env_id else {}),
            "image_size": reader.image_size,
            "action_dim": reader.action_dim,
            "num_episodes": reader.num_episodes,
            "num_frames": reader.num_frames,
            "policy": reader.policy,
            "train_episodes": len(train_eps),
            "val_episodes": len(val_eps),
        }
    spec = method.clips(model_cfg)
    clips = dict(
        num_steps=spec.frames, frameskip=model_cfg.frameskip, action_stats=stats, fields=spec.fields, goals=spec.goals
    )
    train_set = ClipDataset(cfg.data, episodes=train_eps, in_memory=cfg.in_memory, seed=cfg.seed, **clips)
    val_set = None
    if len(val_eps):
        try:
            val_set = ClipDataset(cfg.data, episodes=val_eps, seed=cfg.seed + 1, **clips)
        except ValueError:  # validation episodes all too short for a clip: train without validation
            val_set = None
    steps_per_epoch, total = _schedule(cfg, len(train_set))
    amp = resolve_precision(cfg.precision, device)
    straight = None
    # frame paths only: the state-input diagnostic (encoder='state') encodes states, so it logs no straightness
    if cfg.straightness_paths and getattr(model_cfg, "encoder", None) != "state":
        try:  # any method's encode, on held-out paths first (then training ones, when too few are long enough)
            episodes = np.concatenate([val_eps, train_eps])
            straight = StraightnessProbe(cfg.data, episodes, model_cfg.frameskip, paths=cfg.straightness_paths,
                                         frames=8, device=device)  # fmt: skip
        except ValueError:  # no episode is long enough for a path: nothing to log
            straight = None
    return _Run(
        cfg,
        method,
        model_cfg,
        device,
        env,
        amp,
        stats,
        train_set,
        val_set,
        meta,
        steps_per_epoch,
        total,
        started,
        straight,
    )


def _state_dim(reader: DatasetReader, path: Any) -> int:
    """Width of the dataset's ``state`` column (what a state-input model encodes)."""
    if "state" not in reader.columns:
        raise ValueError(
            f"{path} has no 'state' column, so a model with --model.encoder state has nothing to encode. Record the "
            "data from an env that reports info['state'] (all lewm/* envs do), or use --model.encoder vit."
        )
    return int(np.prod(reader.column("state").shape[1:]))


def _schedule(cfg: TrainConfig, clips: int) -> tuple[int, int]:
    """Steps per epoch and in the whole run, for ``clips`` training clips."""
    steps_per_epoch = clips // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"{cfg.data} yields {clips} training clips, fewer than one batch of {cfg.batch_size}. Collect "
            f"more episodes (lewm collect ... --episodes N) or pass a smaller --batch-size."
        )
    return steps_per_epoch, cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))


def schedule_steps(cfg: TrainConfig) -> int:
    """The optimizer steps `train` (cfg) runs: ``max_steps``, or ``epochs`` passes over the training clips of
    ``cfg.data`` (which depend on the method's clip length). The benchmark gives every method this many steps of
    the reference recipe, so budgets are equal in gradient steps."""
    if cfg.max_steps:
        return cfg.max_steps
    method = get_method(cfg.method)
    with DatasetReader(cfg.data) as reader:
        train_eps, _ = split_episodes(reader.num_episodes, cfg.val_fraction, cfg.seed)
        stats = compute_action_stats(reader, train_eps)
        model_cfg = replace(cfg.model, action_dim=reader.action_dim)
    spec = method.clips(model_cfg)
    clips = ClipDataset(
        cfg.data,
        num_steps=spec.frames,
        frameskip=model_cfg.frameskip,
        action_stats=stats,
        episodes=train_eps,
        in_memory=False,  # counting only
        goals=spec.goals,
    )
    return _schedule(cfg, len(clips))[1]


def _check_resume(cfg: TrainConfig, saved: dict[str, Any], ckpt: Path) -> None:
    diff = recipe_diff(saved.get("train", {}), cfg.to_dict())
    if diff:
        raise CheckpointError(
            f"cannot resume {ckpt}: it was trained with other settings {diff} (saved vs requested). Resume with the "
            f"same settings, or start a new run with another --out."
        )


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train ``cfg.method`` on ``cfg.data`` into ``cfg.out``; returns a summary (``resumed_from``: the step a
    resumed run continued from, 0 for a fresh one; steps, seconds, final metrics, checkpoint, whether the schedule
    finished).

    Inside torchrun (or ``lewm train --devices K``) every process calls this; it joins the process group itself.
    Refuses to overwrite a run that already has checkpoints unless ``resume`` is set, so nothing written is lost.
    """
    started = time.perf_counter()
    env, device, owns_group = distributed.setup(cfg.device)
    try:
        if cfg.batch_size % env.world:
            raise ValueError(
                f"batch_size {cfg.batch_size} is not divisible by the {env.world} processes; each process takes an "
                f"equal share of the global batch. Pick a batch size that is a multiple of {env.world}."
            )
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes every step: autotuned convolutions pay
        return _train(_prepare(cfg, device, env, started))
    finally:
        if owns_group:
            distributed.teardown()


def _train(run: _Run) -> dict[str, Any]:
    cfg, out = run.cfg, Path(run.cfg.out)
    existing = list_checkpoints(out)
    if existing and not cfg.resume:
        raise CheckpointError(
            f"{out} already holds checkpoints ({existing[-1].name}). Pass --resume to continue that run, or choose "
            f"another --out; nothing was overwritten."
        )
    learner = Learner(cfg, run.model_cfg, run.device, run.env, run.amp)
    start_step, train_seconds = 0, 0.0
    saved = verify_checkpoint(existing[-1]) if cfg.resume and existing else None  # every file checked before use
    precision = _choose_precision(run, learner, saved)
    if cfg.resume and existing:
        ckpt = existing[-1]
        _check_resume(cfg, saved, ckpt)
        from safetensors.torch import load_file

        learner.model.load_state_dict(load_file(str(ckpt / "model.safetensors"), device=str(run.device)))
        tensors, extra = load_trainer_state(ckpt)
        start_step, train_seconds = int(extra["step"]), float(extra.get("train_seconds", 0.0))
        learner.load_state(tensors, extra, start_step)
    if run.env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(
            json.dumps(
                {
                    "train": cfg.to_dict(),
                    "model": run.model_cfg.to_dict(),
                    "dataset": run.dataset_meta,
                    "precision": precision,
                },
                indent=2,
            )
        )
    summary = _loop(run, learner, start_step, train_seconds)
    return {"resumed_from": start_step, **summary}


def _choose_precision(run: _Run, learner: Learner, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The precision this run trains in: ``auto`` on a single CPU process is measured on a batch of the training set
    (`Learner.calibrate_precision`); otherwise the fixed choice (bf16 on CUDA). Recorded in run.json and every
    checkpoint. A resumed run continues in the precision its checkpoint recorded; ``--deterministic`` runs and DDP
    on CPUs keep fp32 (a timing must not change the numbers, and the ranks must agree)."""
    cfg = run.cfg
    if cfg.precision == "auto" and run.device.type == "cpu" and saved and saved.get("precision") in ("bf16", "fp32"):
        learner.amp = run.amp = torch.bfloat16 if saved["precision"] == "bf16" else None
        return {"ran": saved["precision"], "measured": False, "from": "the resumed checkpoint"}
    if cfg.precision != "auto" or run.device.type != "cpu" or run.env.world > 1 or cfg.deterministic:
        return {"ran": "bf16" if run.amp is not None else "fp32", "measured": False}
    n = min(run.cfg.batch_size, len(run.train_set))
    batch = Batch.collate([run.train_set[i] for i in range(n)]).to(run.device)
    chosen = learner.calibrate_precision(batch)
    run.amp = learner.amp  # validation and BatchNorm recalibration run in it too
    return {"ran": chosen.precision, "measured": True, "ms_per_step": chosen.ms}


def _save(run: _Run, learner: Learner, step: int, train_seconds: float, metrics: dict[str, float]) -> Path | None:
    """Checkpoint on the main rank (every rank calls: the RNG states are gathered), then wait for it."""
    tensors, extra = learner.state()
    path = None
    if run.env.is_main:
        extra.update(step=step, train_seconds=train_seconds)
        meta = {
            "train": run.cfg.to_dict(),
            "dataset": run.dataset_meta,
            "step": step,
            "total_steps": run.total_steps,
            "epoch": step / run.steps_per_epoch,
            "finished": step >= run.total_steps,
            "train_seconds": train_seconds,
            "world_size": run.env.world,
            "precision": "bf16" if learner.amp is not None else "fp32",
            "metrics": metrics,
        }
        path = save_checkpoint(
            Path(run.cfg.out) / "checkpoints" / f"step_{step:08d}",
            learner.model,
            method=run.cfg.method,
            action_stats=run.stats,
            meta=meta,
            trainer_state=(tensors, extra),
        )
        prune_checkpoints(run.cfg.out, run.cfg.keep_last)
    distributed.barrier()
    return path


def make_loader(
    dataset: ClipDataset,
    cfg: TrainConfig,
    device: torch.device,
    start: int,
    total: int,
    env: DistEnv | None = None,
) -> torch.utils.data.DataLoader:
    """The training DataLoader: this rank's share of the batches of steps ``start .. total - 1`` (``StepBatches``),
    ``cfg.num_workers`` workers prefetching ``cfg.prefetch`` batches each, pinned memory on CUDA. It ships `Batch` es
    of uint8 frames ``(B, T, h, w, 3)`` (a quarter of float32's bytes; the model normalises them on the device); a
    dataset that draws goals gets the step with every index, so goals differ per epoch and resume exactly."""
    env = env or DistEnv()
    draws = dataset.goals is not None
    sampler = StepBatches(len(dataset), cfg.batch_size, cfg.seed, start, total, env.rank, env.world, draws=draws)
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=Batch.collate,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=cfg.prefetch if cfg.num_workers else None,
        generator=torch.Generator().manual_seed(cfg.seed),  # never draw worker seeds from the global RNG (dropout)
    )


def _out_of_time(run: _Run, done: int, reserve: float) -> bool:
    """Whether the time limit (minus what a checkpoint takes) has run out. Decided together under DDP (at log
    steps only, so the all-reduce costs nothing measurable)."""
    if run.cfg.time_limit is None:
        return False
    late = time.perf_counter() - run.started > 60 * run.cfg.time_limit - reserve
    if run.env.world == 1:
        return late
    if done % run.cfg.log_every:
        return False
    return bool(distributed.all_max(torch.tensor([float(late)], device=run.device)).item())


def _loop(run: _Run, learner: Learner, start_step: int, train_seconds: float) -> dict[str, Any]:
    from tqdm.auto import tqdm

    cfg, device, env = run.cfg, run.device, run.env
    loader = make_loader(run.train_set, cfg, device, start_step, run.total_steps, env)
    monitor = Monitor(
        cfg.out,
        start_step=start_step,
        latent_dim=getattr(learner.model, "latent_dim", None),
        collapse_fraction=cfg.collapse_criterion()[1],
        collapse_std=cfg.collapse_criterion()[0],
        collapse_patience=cfg.collapse_patience,
        collapse_hint=run.method.collapse_hint,
        write=env.is_main,
        config=cfg.to_dict(),
    )
    ckpt_every = cfg.ckpt_every or run.steps_per_epoch
    val_every = cfg.val_every or run.steps_per_epoch
    bar = tqdm(
        total=run.total_steps,
        initial=start_step,
        disable=not (cfg.progress and env.is_main),
        dynamic_ncols=True,
        desc="train",
        unit="step",
    )
    metrics: dict[str, float] = {}
    last_ckpt: Path | None = None
    reserve = 10.0  # seconds kept for the final checkpoint under a time limit; updated from measured saves
    t_last, clips_since, done, stopped = time.perf_counter(), 0, start_step, None
    try:
        for step, batch in enumerate(loader, start=start_step):
            t0 = time.perf_counter()
            done = step + 1
            lr = lr_at(step, run.total_steps, cfg.lr, cfg.warmup)
            # statistics on a grid of steps (the same in a resumed run, so metrics.jsonl reads as one run); the first
            # step of a resumed run is logged too, without them
            stats_now = done % cfg.log_every == 0 or done == 1 or done == run.total_steps
            log_now = stats_now or step == start_step
            batch = batch.to(device, non_blocking=True)  # uint8 frames: normalised on the device
            m = learner.step(batch, lr, with_stats=stats_now)
            monitor.step(done, lr, m)
            train_seconds += time.perf_counter() - t0
            if stats_now and run.straightness is not None:  # not counted as training time
                monitor.add(done, {"straightness": run.straightness(learner.model)})
            clips_since += batch.size * env.world
            val_now = run.val_set is not None and (done % val_every == 0 or done == run.total_steps)
            if val_now:
                val = validate(
                    learner.model,
                    learner.make_objective(torch.Generator(device=device).manual_seed(cfg.seed)),
                    run.val_set,
                    batch_size=cfg.batch_size,
                    batches=cfg.val_batches,
                    device=device,
                    amp=run.amp,
                    seed=cfg.seed,
                    env=env,
                )
                monitor.add(done, val)
                metrics.update(val)
            ckpt_now = done % ckpt_every == 0 or done == run.total_steps
            stop_now = not ckpt_now and _out_of_time(run, done, reserve)
            if log_now or val_now or ckpt_now or stop_now:
                entries = monitor.flush()  # before any checkpoint: metrics.jsonl always covers the saved steps
                if log_now:
                    now = time.perf_counter()
                    metrics.update({k: v for k, v in entries[-1].items() if k != "step"})
                    metrics["clips_per_s"] = clips_since / max(now - t_last, 1e-9)
                    t_last, clips_since = now, 0
                    monitor.log(done, metrics)
                    shown = [k for k in m if k != "grad_norm"][:4]  # the loss and the first terms the objective names
                    bar.set_postfix({k: f"{metrics[k]:.4g}" for k in shown}, refresh=False)
            bar.update(1)
            if done == run.total_steps and cfg.bn_recalibration:
                t0 = time.perf_counter()
                metrics["bn_recalibration_batches"] = float(
                    recalibrate_batchnorm(
                        learner.model,
                        learner.make_objective(torch.Generator(device=device).manual_seed(cfg.seed + 2)),
                        run.train_set,
                        batches=cfg.bn_recalibration,
                        batch_size=cfg.batch_size,
                        device=device,
                        amp=run.amp,
                        seed=cfg.seed,
                        env=env,
                    )
                )
                train_seconds += time.perf_counter() - t0
            if ckpt_now or stop_now:
                t0 = time.perf_counter()
                last_ckpt = _save(run, learner, done, train_seconds, metrics) or last_ckpt
                reserve = max(reserve, 3 * (time.perf_counter() - t0))
            if stop_now:
                stopped = "time_limit"
                break
    finally:
        bar.close()
        monitor.close()
    if last_ckpt is None and env.is_main:  # resumed a finished run: nothing to do
        last_ckpt = list_checkpoints(cfg.out)[-1]
    return {
        "steps": done,
        "total_steps": run.total_steps,
        "finished": done >= run.total_steps,
        "stopped": stopped or "",
        "world_size": env.world,
        "train_seconds": train_seconds,
        "checkpoint": str(last_ckpt) if last_ckpt else "",
        **{k: v for k, v in metrics.items() if isinstance(v, float)},
    }


def describe(cfg: TrainConfig, action_dim: int = 2) -> dict[str, Any]:
    """Parameter counts per module and counted FLOPs of one training step (used by ``lewm train --dry-run``)."""
    from lewm_agents.diagnostics import parameter_table
    from lewm_agents.flops import count_objective_flops

    method = get_method(cfg.method)
    model_cfg = replace(cfg.model, action_dim=action_dim)
    with torch.device("meta"):  # shapes only: the paper model is built in no time and no memory
        model = method.build(model_cfg)
    flops = count_objective_flops(method, model_cfg, cfg.batch_size)
    return {"parameters": parameter_table(model), "clip_frames": method.clips(model_cfg).frames, "flops": flops}
