"""Device and precision choices, in one place: ``device`` is always an argument, never hard-coded.

``precision="auto"`` is bf16 on CUDA. On a CPU it is decided by measurement (`calibrate`), for planning (the agent)
and for training (the trainer times a forward and backward pass): bf16 autocast doubles the matmul rate on CPUs with
AVX-512 BF16 / AMX and is several times slower on others (3.6x slower on an Intel Xeon without AVX512-BF16, in issue
15's measurements), so the choice is made per host, per workload, once per process.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

Precision = Literal["auto", "bf16", "fp32"]

BF16_MARGIN = 0.9
"""bf16 is chosen only when it takes at most this share of fp32's time: ``auto`` is never slower than fp32 (up to the
noise of a short measurement), and ties stay in full precision."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device`` and checked."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is visible; pass --device cpu or auto.")
    return dev


def resolve_precision(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a fixed choice: ``auto`` is bf16 on CUDA and fp32 on CPU here; callers with a workload
    to measure (the agent, the trainer) replace the CPU's ``auto`` with `calibrate`'s choice."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    raise ValueError(f"unknown precision {precision!r}; valid: 'auto', 'bf16', 'fp32'.")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype``, or a no-op when dtype is None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class Calibration:
    """What a short measurement chose for one workload on this host."""

    precision: Literal["bf16", "fp32"]
    """The faster precision (bf16 only when at most `BF16_MARGIN` of fp32's time)."""
    threads: int
    """The torch thread count that ran fastest (the current one when threads were not calibrated)."""
    ms: dict[str, float] = field(default_factory=dict)
    """Median milliseconds per call of every setting tried, keyed ``"<precision>@<threads>"``."""

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None for fp32)."""
        return torch.bfloat16 if self.precision == "bf16" else None


_CACHE: dict[Hashable, Calibration] = {}


def calibrate(
    fn: Callable[[], Any],
    device: torch.device,
    key: Hashable,
    *,
    threads: Sequence[int] | None = None,
    repeats: int = 3,
    grad: bool = False,
) -> Calibration:
    """Time ``fn`` in fp32 and under bf16 autocast (and at each thread count in ``threads``), keep the fastest.

    Results are cached per process under ``(device type, key)``: the same workload is measured once. On CUDA nothing is
    measured: bf16. The thread count in force when this returns is the one it found before (the caller sets the
    chosen count if it wants it).

    Args:
        fn: one call of the workload (e.g. one cost call of a plan), run under ``torch.no_grad`` unless ``grad``.
        key: what identifies the workload (model size, batch shape, ...).
        threads: torch thread counts to try (None: only the current one).
        repeats: timed calls per setting, after one warm-up call; the median counts.
        grad: run ``fn`` with autograd on (a training step: forward and backward).
    """
    full_key = (device.type, key, tuple(threads) if threads else torch.get_num_threads())
    if full_key in _CACHE:
        return _CACHE[full_key]
    before = torch.get_num_threads()
    if device.type == "cuda":
        result = Calibration("bf16", before)
        _CACHE[full_key] = result
        return result
    ms: dict[str, float] = {}
    try:
        for n in threads or [before]:
            torch.set_num_threads(n)
            for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
                times = []
                with torch.set_grad_enabled(grad), autocast(device, dtype):
                    for i in range(repeats + 1):
                        t0 = time.perf_counter()
                        fn()
                        if i:  # the first call warms up caches and kernels
                            times.append(1000 * (time.perf_counter() - t0))
                ms[f"{name}@{n}"] = statistics.median(times)
    finally:
        torch.set_num_threads(before)
    best_n = {n: min(ms[f"fp32@{n}"], ms[f"bf16@{n}"]) for n in threads or [before]}
    n = min(best_n, key=best_n.__getitem__)
    precision: Literal["bf16", "fp32"] = "bf16" if ms[f"bf16@{n}"] <= BF16_MARGIN * ms[f"fp32@{n}"] else "fp32"
    result = Calibration(precision, n, ms)
    _CACHE[full_key] = result
    return result


def clear_calibrations() -> None:
    """Forget every cached `calibrate` result (tests, or after the host's load changed)."""
    _CACHE.clear()
