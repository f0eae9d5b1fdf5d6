"""Precision by measurement: ``auto`` picks bf16 only where faster, caches the choice, reports what it measured."""

import time

import torch

from lewm_agents.runtime import calibrate, clear_calibrations, resolve_precision


def _workload(bf16_ms: float, fp32_ms: float, calls: list):
    def fn():
        bf16 = torch.is_autocast_enabled("cpu")
        calls.append(bf16)
        time.sleep((bf16_ms if bf16 else fp32_ms) / 1000)

    return fn


def test_auto_keeps_fp32_where_bf16_is_slower_and_takes_bf16_where_faster():
    clear_calibrations()
    cpu = torch.device("cpu")
    slow = calibrate(_workload(bf16_ms=30, fp32_ms=10, calls=[]), cpu, "slow-bf16")
    fast = calibrate(_workload(bf16_ms=5, fp32_ms=20, calls=[]), cpu, "fast-bf16")
    assert slow.precision == "fp32" and slow.dtype is None
    assert fast.precision == "bf16" and fast.dtype == torch.bfloat16
    assert fast.ms[f"bf16@{torch.get_num_threads()}"] < fast.ms[f"fp32@{torch.get_num_threads()}"]


def test_a_tie_stays_in_fp32_and_results_are_cached():
    clear_calibrations()
    calls: list = []
    cpu = torch.device("cpu")
    first = calibrate(_workload(bf16_ms=10, fp32_ms=10, calls=calls), cpu, "tie")
    n = len(calls)
    again = calibrate(_workload(bf16_ms=1, fp32_ms=100, calls=calls), cpu, "tie")
    assert first.precision == "fp32" and again is first and len(calls) == n and n == 8  # 2 x (1 warm-up + 3)


def test_thread_counts_are_tried_and_restored():
    clear_calibrations()
    before = torch.get_num_threads()
    seen = []
    result = calibrate(lambda: seen.append(torch.get_num_threads()), torch.device("cpu"), "threads", threads=[1, 2])
    assert set(seen) == {1, 2} and torch.get_num_threads() == before and result.threads in (1, 2)


def test_fixed_precisions_resolve_without_measuring():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None and resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("auto", torch.device("cuda")) == torch.bfloat16
