"""LeWM: the paper's method. The architecture of model.py trained with next-embedding MSE + lambda * SIGReg
(loss.py), planned with the shared solvers (reference/lewm.md).

Dimension letters: B batch, T clip frames (history + 1), F action block width.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

import torch
import tyro
from torch import nn

from lewm_agents.checks import check_range
from lewm_agents.data.batch import Batch, ClipSpec
from lewm_agents.loss import LAMBDA, NUM_PROJ, lewm_loss
from lewm_agents.methods.method import Method
from lewm_agents.model import MODEL_PRESETS, LeWM, ModelConfig


@dataclass(frozen=True)
class LeWMConfig(ModelConfig):
    """A LeWM: the architecture (the paper's defaults) and the two settings of its objective."""

    lam: Annotated[float, tyro.conf.arg(aliases=("--lam",))] = LAMBDA
    """SIGReg weight lambda, the one effective hyper-parameter (`lewm tune-lambda` searches it)."""
    num_proj: Annotated[int, tyro.conf.arg(aliases=("--num-proj",))] = NUM_PROJ
    """SIGReg random directions M per step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self, "lam", low=0, prefix="model.", what="the SIGReg weight")
        if self.num_proj < 1:
            raise ValueError(f"LeWMConfig.num_proj (--model.num-proj) must be >= 1, got {self.num_proj}.")

    @classmethod
    def from_arch(cls, arch: ModelConfig, **loss: Any) -> LeWMConfig:
        """An architecture (e.g. a `MODEL_PRESETS` entry) with the objective's settings."""
        return cls(**{**asdict(arch), **loss})


class LeWMObjective(nn.Module):
    """`lewm_loss` of a batch as one module call (DDP synchronises the gradients of what runs in a forward)."""

    def __init__(self, model: LeWM, cfg: LeWMConfig, generator: torch.Generator | None) -> None:
        super().__init__()
        self.model, self.lam, self.num_proj, self.generator = model, cfg.lam, cfg.num_proj, generator

    def forward(self, batch: Batch, with_stats: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return lewm_loss(
            self.model,
            batch.state if self.model.cfg.encoder == "state" else batch.pixels,  # (B, T, S) or (B, T, h, w, 3)
            batch.actions,
            lam=self.lam,
            num_proj=self.num_proj,
            generator=self.generator,
            with_stats=with_stats,
        )


# The paper's configuration, and the size-matched architectures of MODEL_PRESETS with fewer SIGReg directions on CPU.
PRESETS: dict[str, LeWMConfig] = {
    "paper": LeWMConfig(),
    "gpu": LeWMConfig.from_arch(MODEL_PRESETS["gpu"]),
    "small": LeWMConfig.from_arch(MODEL_PRESETS["small"], num_proj=256),
    "smoke": LeWMConfig.from_arch(MODEL_PRESETS["smoke"], num_proj=128),
}

METHOD = Method(
    name="lewm",
    label="LeWM",
    config=LeWMConfig,
    presets=PRESETS,
    build=LeWM,
    objective=LeWMObjective,
    acts="plan",
    clips=lambda cfg: ClipSpec(frames=cfg.clip_frames, fields=("state",) if cfg.encoder == "state" else ()),
    hparams=lambda cfg: {"lam": cfg.lam, "num_proj": cfg.num_proj},
    collapse_hint="Raise --lam (the SIGReg weight)",
)
