"""FLOPs of a training step of any method, and the peak a device can reach: model FLOP utilisation (MFU) = counted
FLOPs per second / peak.

What is counted: every matrix product of one forward and one backward pass of the method's objective (for LeWM the
loss of ``lewm_loss``), as ``torch.utils.flop_counter.FlopCounterMode`` counts them (2 FLOPs per multiply-add): linear
layers, the patch convolution, attention's two matmuls per head (full, not halved for the causal predictor mask), and
the objective's own products (SIGReg's projection onto its M directions, PLDM's covariances). Not counted:
element-wise work (norms, GELU, softmax, SIGReg's cos/sin, the optimizer), which is the usual MFU convention (PaLM,
nanoGPT). The model runs on the ``meta`` device: no memory,
no compute, and attention goes through its math decomposition so its matmuls are visible to the counter.

Dimension letters: B batch (clips), T clip frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from lewm_agents.data.batch import Batch
from lewm_agents.loss import NUM_PROJ
from lewm_agents.methods import Method, get_method
from lewm_agents.model import ModelConfig

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets. Matched against
# torch.cuda.get_device_name() in this order (the first substring that matches wins).
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.4),
    ("H100 PCIe", 756.5),
    ("H100 NVL", 835.5),
    ("H100", 989.4),  # SXM
    ("A100", 312.0),
    ("L40S", 362.1),
    ("A10G", 70.0),
    ("L4", 121.0),
)


@dataclass(frozen=True)
class StepFlops:
    """Counted FLOPs of one optimizer step of the LeWM objective."""

    forward: int
    """FLOPs of the forward pass (encoder on B*T frames, predictor, projectors, SIGReg projection)."""
    backward: int
    """FLOPs of the backward pass (about twice the forward)."""
    batch_size: int
    """Clips per step B the count is for."""

    @property
    def total(self) -> int:
        """Forward + backward FLOPs of one step."""
        return self.forward + self.backward

    @property
    def per_clip(self) -> float:
        """FLOPs of one clip (all is linear in B)."""
        return self.total / self.batch_size


def count_step_flops(model_cfg: ModelConfig, batch_size: int, num_proj: int = NUM_PROJ) -> StepFlops:
    """Count the matmul FLOPs of one forward + backward of the LeWM objective at ``batch_size`` clips (meta device).

    Args:
        model_cfg: the architecture (its ``action_dim`` is used as is).
        batch_size: clips per step B (global batch: under DDP the step's FLOPs are spread over the ranks).
        num_proj: SIGReg directions M.
    """
    lewm = get_method("lewm")
    arch = {f.name: getattr(model_cfg, f.name) for f in fields(ModelConfig)}
    return count_objective_flops(lewm, lewm.config(**arch, num_proj=num_proj), batch_size)


def count_objective_flops(method: Method, cfg: Any, batch_size: int) -> StepFlops:
    """Count the matmul FLOPs of one forward + backward of ``method``'s objective at ``batch_size`` clips, on the meta
    device (shapes only: no memory, no compute).

    Args:
        method: the registered method.
        cfg: its config (``action_dim`` used as is).
        batch_size: clips per step B (global batch: under DDP the step's FLOPs are spread over the ranks).
    """
    from torch.utils.flop_counter import FlopCounterMode

    if "predictor_dropout" in {f.name for f in fields(cfg)}:
        cfg = replace(cfg, predictor_dropout=0.0)  # dropout does no matmul; off keeps the meta run simple
    with torch.device("meta"):
        model = method.build(cfg).train()
    spec = method.clips(cfg)
    if spec.fields:
        raise ValueError(f"counting FLOPs of a method that trains on {spec.fields} needs their sizes; not supported.")
    T, size, F = spec.frames, cfg.image_size, cfg.frameskip * cfg.action_dim
    batch = Batch(
        pixels=torch.empty(batch_size, T, size, size, 3, dtype=torch.uint8, device="meta"),  # (B, T, h, w, 3)
        actions=torch.empty(batch_size, T, F, device="meta"),  # (B, T, F)
        goal_pixels=None
        if spec.goals is None
        else torch.empty(batch_size, size, size, 3, dtype=torch.uint8, device="meta"),
        goal_offset=None if spec.goals is None else torch.ones(batch_size, dtype=torch.int64, device="meta"),
    )
    objective = method.objective(model, cfg, None)
    fwd, bwd = FlopCounterMode(display=False), FlopCounterMode(display=False)
    with fwd:
        loss, _ = objective(batch)
    with bwd:
        loss.backward()
    return StepFlops(int(fwd.get_total_flops()), int(bwd.get_total_flops()), batch_size)


def gpu_peak_bf16(name: str) -> float | None:
    """Data-sheet dense bf16 FLOP/s of a GPU by its ``torch.cuda.get_device_name``, or None if unknown.

    Example:
        >>> gpu_peak_bf16("NVIDIA H100 80GB HBM3") / 1e12
        989.4
    """
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in name:
            return tflops * 1e12
    return None


def peak_flops(device: torch.device, dtype: torch.dtype | None = torch.bfloat16) -> tuple[float, str]:
    """The device's peak FLOP/s for ``dtype`` matmuls and where the number comes from.

    CUDA: the data-sheet dense bf16 peak of a known GPU (``PEAK_BF16_TFLOPS``); fp32 (dtype None) and unknown GPUs
    are measured like a CPU. CPU: measured with a large matmul at start-up (``measure_matmul_flops``).
    """
    if device.type == "cuda" and dtype == torch.bfloat16:
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak_bf16(name)
        if peak is not None:
            return peak, f"{name}: data sheet, dense bf16"
    measured = measure_matmul_flops(device, dtype or torch.float32)
    return measured, f"{device.type}: measured {str(dtype or torch.float32).removeprefix('torch.')} matmul"


def measure_matmul_flops(
    device: torch.device, dtype: torch.dtype = torch.float32, size: int = 1024, seconds: float = 0.5
) -> float:
    """The best FLOP/s of ``size`` x ``size`` matmuls in ``dtype`` on ``device`` over about ``seconds``."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, generator=g).to(dtype)  # (n, n)
    b = torch.randn(size, size, device=device, generator=g).to(dtype)  # (n, n)
    torch.mm(a, b)  # warm-up (kernel selection, thread pool)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        _sync(device)
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - t0))
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
