"""One optimizer step of any method, and the two no-gradient passes a run needs: validation and BatchNorm
recalibration. All three go through the method's `lewm_agents.protocols.Objective` and nothing else.

``Learner`` holds the model, its objective (DDP-wrapped under torch.distributed, the model's children optionally
compiled), AdamW and the objective's generator; the training loop (loop.py) and benchmarks/train_speed.py both step
it, so both time the same step.

Dimension letters: B batch (this rank's share under DDP), T clip frames, D latent, F action block width.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lewm_agents import distributed
from lewm_agents.checkpoint import load_optimizer_tensors, optimizer_tensors
from lewm_agents.data import ClipDataset
from lewm_agents.data.batch import Batch
from lewm_agents.distributed import DistEnv
from lewm_agents.methods import get_method
from lewm_agents.runtime import Calibration, autocast, calibrate
from lewm_agents.schedule import StepBatches, rank_batches
from lewm_agents.train.config import TrainConfig

ObjectiveFactory = Callable[[torch.Generator | None], nn.Module]
"""Builds the method's objective over the learner's model with a given generator (for validation and BatchNorm
recalibration, which must not draw from the training generator)."""


class Learner:
    """The model of ``cfg.method``, its (DDP-wrapped) objective, AdamW and the objective's generator.

    Used by the training loop and by benchmarks/train_speed.py, so both time the same step.

    Args:
        cfg: the training recipe (method, lr, weight decay, clip, seed, compile, sync_bn).
        model_cfg: the method's config, with the dataset's action_dim.
        device: this process's device.
        env: this process's place in the process group.
        amp: the autocast dtype (None: fp32).

    Example:
        >>> from dataclasses import replace
        >>> from lewm_agents.train.config import train_preset
        >>> cfg = train_preset("lewm", "smoke")
        >>> learner = Learner(cfg, replace(cfg.model, num_proj=16), torch.device("cpu"))
        >>> px = torch.randint(0, 256, (4, 4, 64, 64, 3), dtype=torch.uint8)  # (B, T, h, w, 3)
        >>> metrics = learner.step(Batch(px, torch.zeros(4, 4, 10)), lr=1e-3)
        >>> sorted(metrics)
        ['grad_norm', 'loss', 'pred_loss', 'sigreg_loss']
    """

    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: Any,
        device: torch.device,
        env: DistEnv | None = None,
        amp: torch.dtype | None = None,
    ) -> None:
        env = env or DistEnv()
        self.cfg, self.model_cfg, self.device, self.env, self.amp = cfg, model_cfg, device, env, amp
        self.method = get_method(cfg.method)
        torch.manual_seed(cfg.seed)  # the same weights on every rank; dropout then draws from the global RNG
        self.model: nn.Module = self.method.build(model_cfg).to(device)
        if env.rank > 0:
            torch.manual_seed(cfg.seed + 1_000_003 * env.rank)  # own dropout masks; rank 0 keeps the 1-process stream
        if env.world > 1 and cfg.sync_bn:
            distributed.use_global_batchnorm(self.model)
        if cfg.compile:
            for child in self.model.children():
                child.compile()  # in place: parameter names (checkpoints) stay the same
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)  # the same on every rank
        self.make_objective: ObjectiveFactory = lambda gen: self.method.objective(self.model, model_cfg, gen)
        objective = self.make_objective(self.generator)
        if env.world > 1:
            ddp = nn.parallel.DistributedDataParallel
            # Global BN keeps the buffers equal on every rank; local BN takes rank 0's at every forward.
            sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters else None
            objective = ddp(
                objective,
                device_ids=[device.index] if device.type == "cuda" else None,
                gradient_as_bucket_view=True,
                **{sync or "broadcast_buffers": not cfg.sync_bn},
            )
        self.objective = objective
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda"
        )

    def step(self, batch: Batch, lr: float, with_stats: bool = False) -> dict[str, torch.Tensor]:
        """One optimizer step on this rank's share of the batch (on the device).

        Returns:
            The objective's metrics (with its statistics when ``with_stats``) and ``grad_norm``: scalar tensors on
            the device (no host sync).
        """
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        with autocast(self.device, self.amp):
            loss, metrics = self.objective(batch, with_stats=with_stats)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        return {**metrics, "grad_norm": grad_norm.to(loss.device)}

    def calibrate_precision(self, batch: Batch) -> Calibration:
        """Choose this CPU's training precision by timing a forward and backward pass of the objective on ``batch``
        in fp32 and under bf16 autocast (`lewm_agents.runtime.calibrate`), and train in the faster one from now on.

        The measurement leaves the run as it was: the weights' gradients are cleared, BatchNorm's running statistics
        and the global RNG are restored, and the objective it times draws from a generator of its own (the SIGReg
        directions of the run are unchanged). On an Intel Xeon with AMX, bf16 ran the CNN encoder alone up to ~1.8x
        faster but a whole CPU-preset LeWM step only 1.06x (fp32 kept); CPUs without AVX-512 BF16 run it several times
        slower: hence a measurement of the real step.
        """
        saved = {k: v.clone() for k, v in self.model.state_dict().items()}  # (BatchNorm statistics, EMA targets)
        rng = torch.get_rng_state()
        objective = self.make_objective(torch.Generator(device=self.device).manual_seed(0))
        self.model.train()

        def step() -> None:
            objective(batch)[0].backward()

        shapes = tuple(tuple(f.shape) for f in batch if isinstance(f, torch.Tensor))
        key = ("train", self.cfg.method, repr(self.model_cfg), shapes)
        chosen = calibrate(step, self.device, key, repeats=2, grad=True)
        self.opt.zero_grad(set_to_none=True)
        self.model.load_state_dict(saved)
        torch.set_rng_state(rng)
        self.amp = chosen.dtype
        return chosen

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Optimizer moments, every rank's RNG states and the objective's generator (a collective under DDP)."""
        tensors, extra = optimizer_tensors(self.opt)
        local = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            local["cuda"] = torch.cuda.get_rng_state(self.device)
        for rank, states in enumerate(distributed.gather_objects(local)):
            for name, t in states.items():
                tensors[f"rng.{name}" + (f".{rank}" if rank else "")] = t  # rank 0: the single-process keys
        tensors["rng.objective"] = self.generator.get_state()
        extra["world_size"] = self.env.world
        return tensors, extra

    def load_state(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any], step: int) -> None:
        """Restore what `state` saved. A rank the checkpoint has no RNG state for (another world size) is re-seeded
        from (seed, rank, step): the run continues deterministically, though not bit-identical to the original."""
        load_optimizer_tensors(self.opt, tensors, extra)
        suffix = f".{self.env.rank}" if self.env.rank else ""
        if f"rng.torch{suffix}" in tensors:
            torch.set_rng_state(tensors[f"rng.torch{suffix}"])
        else:
            torch.manual_seed(self.cfg.seed + 1_000_003 * self.env.rank + 7919 * step)
        if self.device.type == "cuda" and f"rng.cuda{suffix}" in tensors:
            torch.cuda.set_rng_state(tensors[f"rng.cuda{suffix}"], self.device)
        self.generator.set_state(tensors.get("rng.objective", tensors.get("rng.sigreg")))  # the name before methods


def _loader(dataset: ClipDataset, batch_sampler: Any, seed: int) -> torch.utils.data.DataLoader:
    """A DataLoader over fixed batches that never draws from the global RNG (dropout masks must not depend on when
    validation ran)."""
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=batch_sampler, collate_fn=Batch.collate, generator=torch.Generator().manual_seed(seed)
    )


@torch.no_grad()
def validate(
    model: nn.Module,
    objective: nn.Module,
    dataset: ClipDataset,
    *,
    batch_size: int,
    batches: int,
    device: torch.device,
    amp: torch.dtype | None,
    seed: int = 0,
    env: DistEnv | None = None,
) -> dict[str, float]:
    """Mean of the objective's metrics over `batches` fixed, shuffled global batches, in eval mode, as ``val_<key>``.

    ``objective`` is the method's objective over ``model``, built with a generator of its own seeded with ``seed``
    (fixed SIGReg directions). Under DDP every rank evaluates its share of each global batch and the means are taken
    over ranks, so the numbers equal the single-process ones (a collective: every rank calls it).
    """
    env = env or DistEnv()
    was_training = model.training
    model.eval()
    sampler = rank_batches(len(dataset), batch_size, batches, env, seed=seed)
    sums: dict[str, torch.Tensor] = {}
    n = 0
    for batch in _loader(dataset, sampler, seed):
        with autocast(device, amp):
            _, m = objective(batch.to(device))
        for k, v in m.items():
            sums[k] = sums.get(k, 0.0) + v.float()
        n += 1
    model.train(was_training)
    if not n:
        return {}
    keys = sorted(sums)
    means = distributed.all_mean(torch.stack([sums[k] for k in keys]) / n).tolist()
    return {f"val_{k}": v for k, v in zip(keys, means)}


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    objective: nn.Module,
    dataset: ClipDataset,
    *,
    batches: int,
    batch_size: int,
    device: torch.device,
    amp: torch.dtype | None,
    seed: int = 0,
    env: DistEnv | None = None,
) -> int:
    """Recompute every BatchNorm's running statistics as exact averages over `batches` global batches at the current
    weights, by running the method's objective (over ``model``, with a generator of its own) with dropout off and
    BatchNorm in cumulative training mode (what eval mode will see). Returns the batches used.

    Why: the projector's pre-BN activations can vary by only ~1e-3 across frames (e.g. TwoRoom frames differ in a
    small dot), so BatchNorm amplifies them and the lagging momentum averages shift eval-mode latents by whole
    standard deviations. Deliberate difference from the official code, which keeps the running averages. Under DDP
    every rank takes its share of each batch; with global BatchNorm all ranks end with identical statistics.
    """
    env = env or DistEnv()
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches <= 0:
        return 0
    was_training = model.training
    model.eval()
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
        bn.train()
    total = min(batches, len(dataset) // batch_size)
    sampler = StepBatches(len(dataset), batch_size, seed + 1, 0, total, env.rank, env.world)
    used = 0
    for batch in _loader(dataset, sampler, seed):
        with autocast(device, amp):
            objective(batch.to(device))
        used += 1
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)
    return used
