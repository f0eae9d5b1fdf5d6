"""FLOP counting: the counter sees every matmul of a training step (checked against a hand count of the paper
model), and device peaks come from the data sheet or a measurement."""

from dataclasses import replace

import pytest
import torch

from lewm_agents.flops import count_step_flops, gpu_peak_bf16, measure_matmul_flops, peak_flops
from lewm_agents.model import MODEL_PRESETS


def _paper_forward_by_hand(B: int) -> int:
    """Matmul FLOPs (2 per multiply-add) of the paper model's forward on B clips of 4 frames (lewm.md §2)."""
    N, E, D, H = 257, 192, 192, 2048  # tokens (256 patches + CLS), ViT width, latent, projector hidden
    encoder = 2 * 256 * (3 * 14 * 14) * E + 12 * (2 * N * E * (3 * E + E + 4 * E + 4 * E) + 4 * N * N * E)
    projector = 2 * (E * H + H * D)
    action = 2 * 10 * 10 + 2 * (10 * 4 * D + 4 * D * D)  # Conv1d(F=10 -> 10), Linear, Linear
    block = 2 * (D * 6 * D + D * 3 * 1024 + 1024 * D + 2 * D * 2048)  # AdaLN, qkv, out, MLP
    attention = 4 * 3 * 3 * 1024  # per sequence of 3 latents and layer: QK^T and AV, causal mask not halved
    sigreg = 2 * 4 * B * D * 1024  # projection on 1024 directions
    frames, tokens = 4 * B, 3 * B
    return frames * (encoder + projector + action) + tokens * (6 * block + projector) + B * 6 * attention + sigreg


def test_paper_step_flops_equal_the_hand_count():
    flops = count_step_flops(MODEL_PRESETS["paper"], batch_size=128)
    assert flops.forward == _paper_forward_by_hand(128)  # attention included: 5.8% of the forward
    assert 1.95 < flops.backward / flops.forward < 2.0  # no gradient w.r.t. the pixels
    assert flops.total == pytest.approx(5.215e12, rel=1e-3) and flops.per_clip == flops.total / 128


def test_flops_are_linear_in_the_batch():
    cfg = replace(MODEL_PRESETS["smoke"], history=1)
    a, b = count_step_flops(cfg, 8), count_step_flops(cfg, 32)
    assert b.total == 4 * a.total


def test_device_peaks():
    assert gpu_peak_bf16("NVIDIA H100 80GB HBM3") == pytest.approx(989.4e12)
    assert gpu_peak_bf16("NVIDIA H100 PCIe") == pytest.approx(756.5e12)
    assert gpu_peak_bf16("NVIDIA L40S") == pytest.approx(362.1e12)
    assert gpu_peak_bf16("NVIDIA A100-SXM4-80GB") == pytest.approx(312e12)
    assert gpu_peak_bf16("NVIDIA H200") == pytest.approx(989.4e12)
    assert gpu_peak_bf16("Some Future GPU") is None
    measured = measure_matmul_flops(torch.device("cpu"), torch.float32, size=128, seconds=0.05)
    assert 1e7 < measured < 1e14
    flops, source = peak_flops(torch.device("cpu"), None)
    assert flops > 0 and "measured float32" in source
