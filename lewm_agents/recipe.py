"""The training recipe: ``TrainConfig``, the size-matched presets, and parsing them from the command line.

The ``paper`` preset is the official recipe number for number (reference/lewm.md §2, §4); tests/test_train.py checks
it against the reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lewm_agents.loss import LAMBDA, NUM_PROJ
from lewm_agents.model import MODEL_PRESETS, ModelConfig
from lewm_agents.runtime import Precision


@dataclass(frozen=True)
class TrainConfig:
    """Training run. Defaults are the paper's recipe (reference/lewm.md §4); `--preset` picks a size-matched set."""

    data: Path = Path("data/dataset.h5")
    """HDF5 dataset written by `lewm collect`."""
    out: Path = Path("runs/lewm")
    """Run directory: checkpoints/, tb/ (TensorBoard), metrics.jsonl and run.json go here."""
    preset: str = "paper"
    """Name of the preset these defaults came from (recorded with the run)."""
    model: ModelConfig = field(default_factory=lambda: MODEL_PRESETS["paper"])
    """Architecture; model.action_dim is taken from the dataset."""
    epochs: float = 10.0
    """Passes over the training clips (the paper trains 10 epochs with the cosine fully annealed)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps instead (sets the schedule length)."""
    batch_size: int = 128
    """Clips per optimizer step (the global batch under DDP: each of K processes takes batch_size / K)."""
    lr: float = 5e-5
    """Peak learning rate of AdamW."""
    weight_decay: float = 1e-3
    """AdamW weight decay, applied to all parameters as in the official code."""
    warmup: float = 0.01
    """Fraction of the steps spent in linear warm-up before the cosine decay to 0."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    lam: float = LAMBDA
    """SIGReg weight lambda, the one effective hyper-parameter (`lewm tune-lambda` searches it)."""
    num_proj: int = NUM_PROJ
    """SIGReg random directions M per step."""
    val_fraction: float = 0.1
    """Fraction of episodes held out for validation (split by episode, never by clip; official: 10% of clips)."""
    val_every: int = 0
    """Validate every N steps (0: at the end of each epoch and of the run)."""
    val_batches: int = 20
    """Validation batches per validation."""
    seed: int = 3072
    """Seed of the weights, the batch order and the SIGReg directions (official: 3072)."""
    device: str = "auto"
    """'auto' (CUDA if present), 'cpu', 'cuda', 'cuda:1', ... (under DDP each process takes cuda:LOCAL_RANK)."""
    devices: int = 1
    """Processes for data-parallel training, one per GPU (or gloo processes on CPU); `lewm train` launches them.
    Under torchrun the world size comes from torchrun instead."""
    precision: Precision = "auto"
    """'auto' = bf16 autocast on CUDA and fp32 on CPU; 'bf16' forces autocast (worth it on CPUs with AVX-512 BF16)."""
    compile: bool = False
    """torch.compile the encoder, projectors and predictor (in place: checkpoints are unchanged). Pays on GPUs for
    runs longer than the minute or two of compilation."""
    num_workers: int = 0
    """DataLoader worker processes (they ship uint8 frames; the model normalises on the device)."""
    in_memory: bool | None = None
    """Load the training frames into RAM (workers share them copy-on-write); None: only when they take < 2 GiB.
    From memory the loader is ~10x faster than from the file's lzf chunks (benchmarks/train_speed.py)."""
    prefetch: int = 2
    """Batches each worker prepares ahead (DataLoader prefetch_factor; needs num_workers > 0)."""
    sync_bn: bool = True
    """Under DDP, BatchNorm statistics over the global batch (what one device with the whole batch computes); False:
    over each process's share, as the official code under DDP."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms and no cuDNN autotuning: bit-identical reruns, somewhat slower on GPUs (CUDA
    also needs CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment)."""
    time_limit: float | None = None
    """Minutes this command may run: it then checkpoints and exits cleanly; rerun it with --resume to continue."""
    log_every: int = 25
    """TensorBoard scalars (and embedding statistics) every N steps; metrics.jsonl gets every step."""
    ckpt_every: int = 0
    """Checkpoint every N steps (0: at the end of each epoch); the final step is always saved."""
    keep_last: int = 3
    """Checkpoints kept on disk (the newest ones)."""
    bn_recalibration: int = 50
    """Batches used at the end of training to recompute the projectors' BatchNorm statistics at the final weights
    (0: keep the running averages, as the official code does). Eval-mode latents (planning) depend on them."""
    collapse_rank: float = 0.02
    """Warn (CollapseWarning) when the latents' effective rank stays below this fraction of D ..."""
    collapse_std: float = 0.05
    """... or their mean per-dimension std below this (SIGReg aims at 1) ..."""
    collapse_patience: int = 3
    """... for this many consecutive logs."""
    resume: bool = False
    """Continue the run in `out` from its newest checkpoint (a run without checkpoints starts fresh)."""
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
        if self.devices < 1 or self.batch_size % self.devices:
            raise ValueError(
                f"devices must be >= 1 and divide batch_size (each process takes an equal share of the global "
                f"batch); got devices={self.devices}, batch_size={self.batch_size}."
            )
        if self.time_limit is not None and self.time_limit <= 0:
            raise ValueError(f"time_limit is in minutes and must be positive, got {self.time_limit}.")
        if self.log_every < 1 or self.prefetch < 1 or self.num_workers < 0:
            raise ValueError("need log_every >= 1, prefetch >= 1 and num_workers >= 0.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings), saved in run.json and in every checkpoint."""
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


# Size-matched recipes. `paper` is the official one (lewm.md §2, §4: lr 5e-5, wd 1e-3, 1% warm-up + cosine per step,
# clip 1.0, batch 128, lambda 0.09, 1024 directions, 10 epochs, 6 workers prefetching 3, seed 3072); `gpu` trains
# 64 px PushT within minutes on one H100; the CPU presets raise the learning rate for short runs.
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(num_workers=6, prefetch=3),
    "gpu": TrainConfig(
        preset="gpu",
        model=MODEL_PRESETS["gpu"],
        batch_size=128,
        lr=3e-4,
        epochs=10,
        num_workers=8,
        prefetch=4,
        in_memory=True,  # ~500k frames of 64 px: 6 GB, in RAM on a 128 GiB GPU host
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


def config_from_args(args: list[str], prog: str = "lewm train") -> TrainConfig:
    """Parse command-line flags into a TrainConfig (tyro), defaults taken from ``--preset NAME`` (paper if absent).

    A leading positional argument is the dataset (``lewm train DATA ...``).
    """
    import tyro

    if args and not args[0].startswith("-"):
        args = ["--data", args[0], *args[1:]]
    preset = "paper"
    for i, a in enumerate(args):
        if a == "--preset" and i + 1 < len(args):
            preset = args[i + 1]
        elif a.startswith("--preset="):
            preset = a.split("=", 1)[1]
    if preset not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(TRAIN_PRESETS)}.")
    cfg = tyro.cli(
        TrainConfig,
        args=args,
        default=TRAIN_PRESETS[preset],
        prog=prog,
        description="Train a LeWorldModel. `lewm train DATA --preset small`; --dry-run prints the model size and "
        "the FLOPs of a step without training; --devices K trains data-parallel. Defaults shown are the preset's.",
    )
    return replace(cfg, preset=preset)
