"""FLOPs of a LeWM training step, and the peak a device can reach: model FLOP utilisation (MFU) = counted FLOPs per
second / peak.

What is counted: every matrix product of one forward and one backward pass of the LeWM objective (the loss of
``lewm_loss``), as ``torch.utils.flop_counter.FlopCounterMode`` counts them (2 FLOPs per multiply-add): linear layers,
the patch convolution, attention's two matmuls per head (full, not halved for the causal predictor mask), and
SIGReg's projection onto its M directions. Not counted: element-wise work (norms, GELU, softmax, SIGReg's cos/sin,
the optimizer), which is the usual MFU convention (PaLM, nanoGPT). The model runs on the ``meta`` device: no memory,
no compute, and attention goes through its math decomposition so its matmuls are visible to the counter.

Dimension letters: B batch (clips), T clip frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from lewm_agents.loss import NUM_PROJ, lewm_loss
from lewm_agents.model import LeWM, ModelConfig

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
    from torch.utils.flop_counter import FlopCounterMode

    cfg = replace(model_cfg, predictor_dropout=0.0)  # dropout does no matmul; off keeps the meta run simple
    with torch.device("meta"):
        model = LeWM(cfg).train()
    T, size = cfg.history + 1, cfg.image_size
    pixels = torch.empty(batch_size, T, size, size, 3, dtype=torch.uint8, device="meta")  # (B, T, h, w, 3)
    actions = torch.empty(batch_size, T, cfg.action_block_dim, device="meta")  # (B, T, F)
    fwd, bwd = FlopCounterMode(display=False), FlopCounterMode(display=False)
    with fwd:
        loss, _ = lewm_loss(model, pixels, actions, num_proj=num_proj)
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
