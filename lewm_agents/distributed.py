"""Data-parallel training: the process group, the launcher behind ``lewm train --devices K``, and BatchNorm over the
global batch.

One process per device (DDP). Every rank builds the same model from the same seed, reads its share of every global
batch (``StepBatches``), and DDP averages the gradients. What makes K processes train like one process on the
global batch:

* SIGReg all-reduces its empirical characteristic function (``loss.sigreg_per_step``), so its value is the global-batch
  value; its backward sums over ranks, so each rank holds K times the global gradient w.r.t. its own latents and
  DDP's averaging by 1/K restores the exact single-process parameter gradient.
* The projectors' BatchNorm normalises over the global batch (``GlobalBatchNorm1d``), as one device holding the whole
  batch does; with ``sync_bn=False`` each rank normalises over its own share, as the official code does under DDP.
* The SIGReg directions come from a generator seeded identically on every rank and drawn in lockstep.

Dimension letters: B the rank's batch rows, C channels.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lewm_agents.runtime import resolve_device


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in the process group (a single process: rank 0 of 1).

    Example:
        >>> DistEnv().is_main, DistEnv(rank=1, world=2).is_main
        (True, False)
    """

    rank: int = 0
    """Global rank of this process."""
    world: int = 1
    """Number of processes."""
    local_rank: int = 0
    """Rank on this machine: the index of its GPU."""

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, metrics and TensorBoard; the others only compute."""
        return self.rank == 0


def env_from_environ() -> DistEnv:
    """The rank layout torchrun (or ``launch``) put in the environment; a plain process is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    return DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def setup(device: str | torch.device = "auto") -> tuple[DistEnv, torch.device, bool]:
    """Resolve the device of this process and join the process group when launched with several processes.

    Backend ``nccl`` on CUDA (device ``cuda:LOCAL_RANK``), ``gloo`` on CPU.

    Returns:
        ``(env, device, owns_group)``; ``owns_group`` is True when this call created the group, so the caller
        destroys it with ``teardown()`` when done.
    """
    env = env_from_environ()
    dev = resolve_device(device)
    if env.world == 1:
        return env, dev, False
    if dev.type == "cuda":
        if env.local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"rank {env.rank} wants GPU {env.local_rank} but only {torch.cuda.device_count()} are visible; "
                f"launch at most {torch.cuda.device_count()} processes per machine (--devices / --nproc-per-node)."
            )
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
    if dist.is_initialized():
        return env, dev, False
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", device_id=dev if dev.type == "cuda" else None)
    return env, dev, True


def teardown() -> None:
    """Leave the process group (a no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def all_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over ranks (``x`` itself in a single process); not differentiable."""
    if not is_distributed():
        return x
    y = x.detach().clone()
    dist.all_reduce(y)
    return y / dist.get_world_size()


def all_max(x: torch.Tensor) -> torch.Tensor:
    """The element-wise maximum of ``x`` over ranks (``x`` itself in a single process)."""
    if not is_distributed():
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.MAX)
    return y


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward sums the upstream gradients over ranks (the adjoint of a sum that every rank
    receives). torch.distributed.nn.functional.all_reduce does the same but is deprecated with a warning per call."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(g)
        return g


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable sum of ``x`` over ranks (``x`` itself in a single process).

    Backward: each rank receives the sum of all ranks' upstream gradients. With every rank's loss built on the
    reduced value and DDP averaging the parameter gradients, this gives exactly the gradient of the global-batch
    loss (see the module docstring).
    """
    return _AllReduceSum.apply(x) if is_distributed() else x


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch across all ranks.

    Differentiable (the reductions are ``all_reduce_sum``), two-pass (mean first, then the centred
    second moment: projector activations can have a spread 1e-3 of their mean, where E[x^2] - E[x]^2 cancels in
    fp32), and backend-agnostic (gloo on CPU, NCCL on CUDA; torch's SyncBatchNorm refuses CPU tensors). Outside a
    process group, or in eval mode, it is exactly ``nn.BatchNorm1d``; its state_dict keys are the same.

    Example:
        >>> bn = GlobalBatchNorm1d(4)
        >>> tuple(bn(torch.randn(8, 4)).shape)
        (8, 4)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        if x.dim() != 2:
            raise ValueError(f"GlobalBatchNorm1d takes (B, C) inputs, got shape {tuple(x.shape)}.")
        xf = x.float()  # (B, C): statistics in fp32 under autocast too
        sums = all_reduce_sum(torch.cat([xf.sum(0), xf.new_full((1,), x.shape[0])]))  # (C + 1,): sum x, then count
        n = sums[-1].detach()
        mean = sums[:-1] / n  # (C,)
        var = all_reduce_sum((xf - mean).pow(2).sum(0)) / n  # (C,) biased, as BatchNorm normalises with
        y = (xf - mean) * torch.rsqrt(var + self.eps)  # (B, C)
        if self.affine:
            y = y * self.weight + self.bias
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1), factor)  # unbiased, as BatchNorm
        return y.to(x.dtype)


def use_global_batchnorm(model: nn.Module) -> int:
    """Replace every ``nn.BatchNorm1d`` of ``model`` in place by a ``GlobalBatchNorm1d`` with the same parameters and
    statistics (same state_dict keys, so checkpoints do not change). Returns the number replaced."""
    count = 0
    for name, child in list(model.named_children()):
        if type(child) is nn.BatchNorm1d:
            new = GlobalBatchNorm1d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            ).to(next(iter(child.state_dict().values())).device)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(model, name, new)
            count += 1
        else:
            count += use_global_batchnorm(child)
    return count


def launch(fn: Callable[..., Any], args: tuple[Any, ...], nprocs: int, *, cpu_threads: bool = True) -> Any:
    """Run ``fn(*args)`` in ``nprocs`` fresh processes on this machine, as ``torchrun --standalone`` would (elastic
    launcher, c10d rendezvous on a free local port, no restarts), and return rank 0's result.

    ``fn`` must be importable by name (spawned processes re-import it). With ``cpu_threads`` each process gets
    ``cpu_count // nprocs`` intra-op threads, so CPU ranks do not oversubscribe the cores.

    Raises:
        RuntimeError: a worker failed; the message carries its error.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nprocs < 1:
        raise ValueError(f"nprocs must be >= 1, got {nprocs}.")
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nprocs,
        run_id=f"lewm-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.2,
        start_method="spawn",
    )
    threads = max(1, (os.cpu_count() or 1) // nprocs) if cpu_threads else 0
    try:
        results = elastic_launch(config, _run_worker)(fn, args, threads)
    except ChildFailedError as e:
        raise RuntimeError(f"a training process failed: {e.format_msg()}") from e
    return results[0]


def _run_worker(fn: Callable[..., Any], args: tuple[Any, ...], threads: int) -> Any:
    if threads:
        torch.set_num_threads(threads)
    return fn(*args)
