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
from lewm_agents.model import MODEL_PRESETS, LeWM, ModelConfig, inverse_dynamics_head


@dataclass(frozen=True)
class LeWMConfig(ModelConfig):
    """A LeWM: the architecture (the paper's defaults) and the two settings of its objective."""

    lam: Annotated[float, tyro.conf.arg(aliases=("--lam",))] = LAMBDA
    """SIGReg weight lambda, the one effective hyper-parameter (`lewm tune-lambda` searches it)."""
    num_proj: Annotated[int, tyro.conf.arg(aliases=("--num-proj",))] = NUM_PROJ
    """SIGReg random directions M per step."""
    idm_coeff: float = 0.0
    """Weight of an inverse-dynamics term, MSE(IDM(z_t, z_t+1), a_t), with an MLP head (PLDM's). Not the paper's
    objective (0, the default, is the paper's): for data where SIGReg's spread can come from what stays constant
    within an episode (random-action PushT: the resting block's pose) and the controlled agent is left out of the
    latent; the term makes the latent carry what the actions move. Planning never calls the head."""
    idm_hidden: int = 512
    """Hidden width of the inverse-dynamics head."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self, "lam", low=0, prefix="model.", what="the SIGReg weight")
        if self.num_proj < 1:
            raise ValueError(f"LeWMConfig.num_proj (--model.num-proj) must be >= 1, got {self.num_proj}.")
        check_range(self, "idm_coeff", low=0, prefix="model.", what="the inverse-dynamics weight")
        if self.idm_hidden < 1:
            raise ValueError(f"LeWMConfig.idm_hidden (--model.idm-hidden) must be >= 1, got {self.idm_hidden}.")

    @classmethod
    def from_arch(cls, arch: ModelConfig, **loss: Any) -> LeWMConfig:
        """An architecture (e.g. a `MODEL_PRESETS` entry) with the objective's settings."""
        return cls(**{**asdict(arch), **loss})


def build_lewm(cfg: LeWMConfig) -> LeWM:
    """The LeWM of ``cfg``, with the inverse-dynamics head when ``cfg.idm_coeff`` > 0 (training only)."""
    model = LeWM(cfg)
    if cfg.idm_coeff > 0:
        model.idm = inverse_dynamics_head(cfg.latent_dim, cfg.action_block_dim, cfg.idm_hidden)
    return model


class LeWMObjective(nn.Module):
    """`lewm_loss` of a batch as one module call (DDP synchronises the gradients of what runs in a forward)."""

    def __init__(self, model: LeWM, cfg: LeWMConfig, generator: torch.Generator | None) -> None:
        super().__init__()
        self.model, self.lam, self.num_proj, self.generator = model, cfg.lam, cfg.num_proj, generator
        self.idm_coeff = cfg.idm_coeff

    def forward(self, batch: Batch, with_stats: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return lewm_loss(
            self.model,
            batch.state if self.model.cfg.encoder == "state" else batch.pixels,  # (B, T, S) or (B, T, h, w, 3)
            batch.actions,
            lam=self.lam,
            num_proj=self.num_proj,
            generator=self.generator,
            idm_coeff=self.idm_coeff,
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
    build=build_lewm,
    objective=LeWMObjective,
    acts="plan",
    clips=lambda cfg: ClipSpec(frames=cfg.clip_frames, fields=("state",) if cfg.encoder == "state" else ()),
    hparams=lambda cfg: {
        "lam": cfg.lam,
        "num_proj": cfg.num_proj,
        **({"idm_coeff": cfg.idm_coeff} if cfg.idm_coeff else {}),
    },
    collapse_hint="Raise --lam (the SIGReg weight)",
)
