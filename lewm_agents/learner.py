"""One optimizer step of LeWM, and the two no-gradient passes a run needs: validation and BatchNorm recalibration.

``Learner`` holds the model, its objective (DDP-wrapped under torch.distributed, optionally compiled), AdamW and the
SIGReg generator; the training loop (train.py) and benchmarks/train_speed.py both step it, so both time the same step.

Dimension letters: B batch (this rank's share under DDP), T clip frames, D latent, F action block width.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from lewm_agents import distributed
from lewm_agents.checkpoint import load_optimizer_tensors, optimizer_tensors
from lewm_agents.data import ClipDataset
from lewm_agents.distributed import DistEnv
from lewm_agents.loss import lewm_loss
from lewm_agents.model import LeWM, ModelConfig
from lewm_agents.recipe import TrainConfig
from lewm_agents.runtime import autocast
from lewm_agents.schedule import StepBatches, rank_batches


class _Objective(nn.Module):
    """The LeWM objective of a batch as one module call: DDP synchronises gradients of what runs in a forward."""

    def __init__(self, model: LeWM, lam: float, num_proj: int, generator: torch.Generator) -> None:
        super().__init__()
        self.model, self.lam, self.num_proj, self.generator = model, lam, num_proj, generator

    def forward(
        self, pixels: torch.Tensor, actions: torch.Tensor, with_stats: bool = False
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        return lewm_loss(
            self.model,
            pixels,
            actions,
            lam=self.lam,
            num_proj=self.num_proj,
            generator=self.generator,
            with_stats=with_stats,
        )


class Learner:
    """The model, its (DDP-wrapped, optionally compiled) objective, AdamW and the SIGReg generator.

    Used by the training loop and by benchmarks/train_speed.py, so both time the same step.

    Args:
        cfg: the training recipe (lam, num_proj, lr, weight decay, clip, seed, compile, sync_bn).
        model_cfg: the architecture, with the dataset's action_dim.
        device: this process's device.
        env: this process's place in the process group.
        amp: the autocast dtype (None: fp32).

    Example:
        >>> from dataclasses import replace
        >>> from lewm_agents.recipe import TRAIN_PRESETS
        >>> cfg = replace(TRAIN_PRESETS["smoke"], num_proj=16)
        >>> learner = Learner(cfg, cfg.model, torch.device("cpu"))
        >>> px = torch.randint(0, 256, (4, 4, 64, 64, 3), dtype=torch.uint8)  # (B, T, h, w, 3)
        >>> values, metrics = learner.step(px, torch.zeros(4, 4, 10), lr=1e-3)
        >>> tuple(values.shape)  # loss, pred_loss, sigreg_loss, grad_norm
        (4,)
    """

    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        device: torch.device,
        env: DistEnv | None = None,
        amp: torch.dtype | None = None,
    ) -> None:
        env = env or DistEnv()
        self.cfg, self.device, self.env, self.amp = cfg, device, env, amp
        torch.manual_seed(cfg.seed)  # the same weights on every rank; dropout then draws from the global RNG
        self.model = LeWM(model_cfg).to(device)
        if env.rank > 0:
            torch.manual_seed(cfg.seed + 1_000_003 * env.rank)  # own dropout masks; rank 0 keeps the 1-process stream
        if env.world > 1 and cfg.sync_bn:
            distributed.use_global_batchnorm(self.model)
        if cfg.compile:
            for name in ("encoder", "projector", "predictor", "pred_proj"):
                getattr(self.model, name).compile()  # in place: parameter names (checkpoints) stay the same
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)  # same directions on every rank
        objective: nn.Module = _Objective(self.model, cfg.lam, cfg.num_proj, self.generator)
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

    def step(
        self, pixels: torch.Tensor, actions: torch.Tensor, lr: float, with_stats: bool = False
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """One optimizer step on this rank's share ``(B, T, h, w, 3)`` uint8 / ``(B, T, F)``.

        Returns:
            ``(values, metrics)``: values ``(4,)`` = loss, pred_loss, sigreg_loss, grad_norm on the device (no host
            sync), and the loss's metrics (with embedding statistics when ``with_stats``).
        """
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        with autocast(self.device, self.amp):
            loss, m = self.objective(pixels, actions, with_stats=with_stats)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        values = torch.stack([m["loss"], m["pred_loss"], m["sigreg_loss"], grad_norm.to(m["loss"].device)])  # (4,)
        return values, m

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Optimizer moments, every rank's RNG states and the SIGReg generator (a collective under DDP)."""
        tensors, extra = optimizer_tensors(self.opt)
        local = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            local["cuda"] = torch.cuda.get_rng_state(self.device)
        for rank, states in enumerate(distributed.gather_objects(local)):
            for name, t in states.items():
                tensors[f"rng.{name}" + (f".{rank}" if rank else "")] = t  # rank 0: the single-process keys
        tensors["rng.sigreg"] = self.generator.get_state()
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
        self.generator.set_state(tensors["rng.sigreg"])


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
    env: DistEnv | None = None,
) -> dict[str, float]:
    """Mean validation losses over `batches` fixed, shuffled global batches (eval mode, fixed SIGReg directions).

    Under DDP every rank evaluates its share of each global batch and the means are taken over ranks, so the numbers
    equal the single-process ones (a collective: every rank calls it).
    """
    env = env or DistEnv()
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    sampler = rank_batches(len(dataset), batch_size, batches, env, seed=seed)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler)
    sums: dict[str, torch.Tensor] = {}
    n = 0
    for pixels, actions in loader:
        with autocast(device, amp):
            _, m = lewm_loss(model, pixels.to(device), actions.to(device), lam=lam, num_proj=num_proj, generator=gen)
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
    model: LeWM,
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
    weights, with dropout off (what eval mode will see). Returns the batches used.

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
    hist = model.cfg.history
    used = 0
    for pixels, actions in torch.utils.data.DataLoader(dataset, batch_sampler=sampler):
        with autocast(device, amp):
            emb = model.encode(pixels.to(device))  # (B, T, D)
            model.predict(emb[:, :hist], model.embed_actions(actions.to(device)[:, :hist]))
        used += 1
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)
    return used
