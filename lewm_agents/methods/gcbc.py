"""GCBC: goal-conditioned behaviour cloning, the model-free reference (reference/baselines.md §5, §9).

The LeWM encoder family (the ViT encoder + BatchNorm projector of model.py, trained from scratch) embeds the current
frame and a goal frame; an MLP maps the two latents to the next action block(s). Trained by MSE on the dataset's
z-scored actions, with hindsight goals: frames from the future of the same episode (`HindsightGoals`, uniform over
the rest of the episode by default, as OGBench's GCBC). It acts without a planner (`PolicyAgent`), re-querying the
policy after every executed block.

Dimension letters: B batch, T clip frames (= H' action blocks), H' predicted blocks, D latent, F action block width.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from lewm_agents.checks import check_range
from lewm_agents.data.batch import Batch, ClipSpec, HindsightGoals
from lewm_agents.methods.lewm import PRESETS as LEWM_PRESETS
from lewm_agents.methods.method import Method
from lewm_agents.model import IMAGENET_MEAN, IMAGENET_STD, MLP, ViTEncoder, check_patch_size, normalize_frames


@dataclass(frozen=True)
class GCBCConfig:
    """A GCBC policy: LeWM's encoder and projector (the same defaults), an MLP head, and how goals are drawn."""

    image_size: int = 224
    """Side of the square input frames, in pixels."""
    patch_size: int = 14
    """ViT patch side; image_size must be a multiple of it."""
    encoder_dim: int = 192
    """ViT width."""
    encoder_depth: int = 12
    """ViT blocks."""
    encoder_heads: int = 3
    """ViT attention heads."""
    encoder_mlp_ratio: float = 4.0
    """ViT MLP width as a multiple of encoder_dim."""
    latent_dim: int = 192
    """Latent size D of the projector."""
    projector_hidden: int = 2048
    """Hidden width of the projector MLP (Linear, BatchNorm1d, GELU, Linear)."""
    action_dim: int = 2
    """Action dimension A per env step (filled from the dataset by the trainer)."""
    frameskip: int = 5
    """Env steps per action block."""
    policy_hidden: int = 2048
    """Width of the policy MLP."""
    policy_depth: int = 3
    """Hidden layers of the policy MLP (each Linear, then LayerNorm and GELU)."""
    blocks: int = 1
    """H', action blocks predicted per query (the agent executes the first and asks again)."""
    goals: HindsightGoals = field(default_factory=HindsightGoals)
    """How training goals are drawn from the future of each clip's episode."""

    def __post_init__(self) -> None:
        check_patch_size(self.image_size, self.patch_size)
        sizes = (self.encoder_dim, self.encoder_depth, self.encoder_heads, self.latent_dim, self.projector_hidden)
        if min(*sizes, self.action_dim, self.frameskip, self.policy_hidden, self.policy_depth, self.blocks) < 1:
            raise ValueError("every size of GCBCConfig must be >= 1.")
        if self.encoder_dim % self.encoder_heads:
            raise ValueError(f"encoder_dim {self.encoder_dim} must be divisible by encoder_heads {self.encoder_heads}.")
        check_range(self, "encoder_mlp_ratio", low=0, low_open=True, prefix="model.", what="a multiple of encoder_dim")

    @property
    def action_block_dim(self) -> int:
        """F = frameskip * A."""
        return self.frameskip * self.action_dim

    def to_dict(self) -> dict:
        """JSON-ready form (saved in checkpoints)."""
        return asdict(self)


class GCBC(nn.Module):
    """Goal-conditioned policy: ``encode`` frames, ``act`` from the current and goal latents. A
    `lewm_agents.protocols.Policy`.

    Example:
        >>> policy = GCBC(PRESETS["smoke"]).eval()
        >>> z = policy.encode(torch.zeros(2, 1, 64, 64, 3, dtype=torch.uint8))[:, 0]  # (B, D)
        >>> tuple(policy.act(z, z).shape)  # (B, H', F)
        (2, 1, 10)
    """

    def __init__(self, cfg: GCBCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ViTEncoder(
            cfg.image_size, cfg.patch_size, cfg.encoder_dim, cfg.encoder_depth, cfg.encoder_heads, cfg.encoder_mlp_ratio
        )
        self.projector = MLP(cfg.encoder_dim, cfg.projector_hidden, cfg.latent_dim)
        layers: list[nn.Module] = [nn.Linear(2 * cfg.latent_dim, cfg.policy_hidden)]
        for _ in range(cfg.policy_depth - 1):
            layers += [nn.LayerNorm(cfg.policy_hidden), nn.GELU(), nn.Linear(cfg.policy_hidden, cfg.policy_hidden)]
        layers += [
            nn.LayerNorm(cfg.policy_hidden),
            nn.GELU(),
            nn.Linear(cfg.policy_hidden, cfg.blocks * cfg.action_block_dim),
        ]
        self.head = nn.Sequential(*layers)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def action_dim(self) -> int:
        """A."""
        return self.cfg.action_dim

    @property
    def frameskip(self) -> int:
        """Env steps per action block."""
        return self.cfg.frameskip

    @property
    def image_size(self) -> int:
        """Side of the square frames."""
        return self.cfg.image_size

    @property
    def latent_dim(self) -> int:
        """D."""
        return self.cfg.latent_dim

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, h, w, 3)`` uint8 -> latents ``(B, T, D)``."""
        B, T = pixels.shape[:2]
        x = normalize_frames(pixels, self.cfg.image_size, self.pixel_mean, self.pixel_std)  # (B*T, 3, h, w)
        return self.projector(self.encoder(x)).view(B, T, -1)  # (B, T, D)

    def act(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """Current latents ``(B, D)`` and goal latents ``(B, D)`` -> z-scored action blocks ``(B, H', F)``."""
        out = self.head(torch.cat([z, z_goal], -1))  # (B, H'*F)
        return out.view(len(z), self.cfg.blocks, -1)  # (B, H', F)


class GCBCObjective(nn.Module):
    """Behaviour cloning toward hindsight goals: MSE between the predicted and the dataset's action blocks."""

    def __init__(self, model: GCBC, cfg: GCBCConfig, generator: torch.Generator | None) -> None:
        super().__init__()
        self.model, self.blocks = model, cfg.blocks  # no randomness: the goals come with the batch

    def forward(self, batch: Batch, with_stats: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if batch.goal_pixels is None:
            raise ValueError(
                "GCBC trains on hindsight goals: the batch has no goal_pixels (its ClipSpec asks for them)."
            )
        frames = torch.cat([batch.pixels[:, :1], batch.goal_pixels[:, None]], 1)  # (B, 2, h, w, 3)
        z = self.model.encode(frames)  # (B, 2, D): one pass, so BatchNorm sees frames and goals alike
        pred = self.model.act(z[:, 0], z[:, 1])  # (B, H', F)
        loss = (pred.float() - batch.actions[:, : self.blocks].float()).pow(2).mean()
        return loss, {"loss": loss.detach()}


def _gcbc_config(lewm: GCBCConfig | object, policy_hidden: int) -> GCBCConfig:
    """GCBC on the encoder and projector of a LeWM preset, with an MLP sized to stay within 2x of LeWM's parameters."""
    shared = {k: v for k, v in asdict(lewm).items() if k in GCBCConfig.__dataclass_fields__}
    return GCBCConfig(**shared, policy_hidden=policy_hidden)


# The head widths keep GCBC's parameter count between 0.7x and 0.9x of LeWM's at every preset (tests check 2x).
PRESETS: dict[str, GCBCConfig] = {
    name: _gcbc_config(LEWM_PRESETS[name], hidden)
    for name, hidden in (("paper", 2048), ("gpu", 1024), ("small", 512), ("smoke", 256))
}

METHOD = Method(
    name="gcbc",
    label="GCBC (goal-conditioned behaviour cloning, LeWM encoder)",
    config=GCBCConfig,
    presets=PRESETS,
    build=GCBC,
    objective=GCBCObjective,
    acts="policy",
    clips=lambda cfg: ClipSpec(frames=cfg.blocks, goals=cfg.goals),
    hparams=lambda cfg: {"goals": asdict(cfg.goals), "blocks": cfg.blocks},
)
