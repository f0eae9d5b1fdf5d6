"""LeWorldModel: ViT encoder + projector, action embedder, AdaLN-zero causal predictor (reference/lewm.md §2).

The model knows tensors only: no environments, trainers or files. `LeWM` is a `lewm_agents.protocols.WorldModel`
(``encode``, ``rollout``, ``goal_cost``); its fused incremental rollout lives in rollout.py, parameter counts and
the effective rank in diagnostics.py. Its building blocks (`ViTEncoder`, `MLP`, `normalize_frames`) are shared by
the other methods (lewm_agents/methods/).

A small CNN encoder (``ModelConfig.encoder="cnn"``, as DreamerV3 and TD-MPC2 use at 64 px) is an option for CPU
scales; the paper's ViT stays the default.

A state encoder (``ModelConfig.encoder="state"``: an MLP on the env's low-dimensional ``state`` column instead of the
frames) is a diagnostic, not the paper's model: it measures dynamics and planning without vision (issue 13). Its
``encode`` takes states ``(B, T, S)`` and the planner's goal is the goal state.

Dimension letters: B batch, T time (frames), S planning samples, H horizon (action blocks), D latent, E encoder width,
N tokens, A action dim per env step, F = frameskip * A (one action block), and image height/width. Pixels enter as
uint8 ``(..., height, width, 3)`` and are normalised on the model's device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lewm_agents.checks import check_range
from lewm_agents.rollout import rollout_incremental

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_patch_size(image_size: int, patch_size: int) -> None:
    """Refuse a patch size that does not divide the frame, naming the sizes that do."""
    if patch_size < 1 or image_size % patch_size != 0:
        raise ValueError(
            f"image_size {image_size} is not divisible by patch_size {patch_size}: the ViT cuts frames "
            f"into whole patches. Pick a patch size that divides the frame (for {image_size} px: "
            f"{', '.join(str(p) for p in range(4, 33) if image_size % p == 0) or 'none between 4 and 32'}) "
            f"or collect frames at a multiple of {patch_size} px (e.g. --image-size "
            f"{max(patch_size, round(image_size / max(patch_size, 1)) * patch_size)})."
        )


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a LeWM. The defaults are the paper's (official config, reference/lewm.md §2)."""

    image_size: int = 224
    """Side of the square input frames, in pixels (frames of another size are refused)."""
    encoder: Literal["vit", "cnn", "state"] = "vit"
    """Encoder family: 'vit' (the paper's ViT with a CLS token) or 'cnn' (a strided conv stack, DreamerV3-style; a
    deliberate difference from the paper for CPU scales). The CNN uses encoder_dim and cnn_width; the ViT fields are
    then unused. 'state' (a diagnostic: no vision) encodes the dataset's ``state`` column with an MLP of width
    encoder_dim (`StateEncoder`); the model then observes states, not frames."""
    cnn_width: int = 32
    """CNN: channels of the first conv stage (doubled at each of the stride-2 stages down to a 4 x 4 map)."""
    patch_size: int = 14
    """ViT patch side; image_size must be a multiple of it."""
    encoder_dim: int = 192
    """ViT width (ViT-tiny: 192)."""
    encoder_depth: int = 12
    """ViT blocks."""
    encoder_heads: int = 3
    """ViT attention heads."""
    encoder_mlp_ratio: float = 4.0
    """ViT MLP width as a multiple of encoder_dim."""
    latent_dim: int = 192
    """Latent size D: projector output, predictor width and the space SIGReg and the planner work in."""
    projector_hidden: int = 2048
    """Hidden width of the two projector MLPs (Linear, BatchNorm1d, GELU, Linear)."""
    action_dim: int = 2
    """Action dimension A per env step (filled from the dataset by the trainer)."""
    frameskip: int = 5
    """Env steps per action block: the predictor steps frameskip env steps at a time."""
    action_smoothed_dim: int = 10
    """Width of the Embedder's 1x1 Conv1d."""
    predictor_depth: int = 6
    """Conditional transformer blocks in the predictor."""
    predictor_heads: int = 16
    """Predictor attention heads."""
    predictor_head_dim: int = 64
    """Width of one predictor attention head (16 x 64 = 1024 attention width in the paper)."""
    predictor_mlp_dim: int = 2048
    """Predictor MLP width."""
    predictor_dropout: float = 0.1
    """Dropout in the predictor's attention and MLP (the paper's ablation picks 0.1)."""
    history: int = 3
    """Frames of context the predictor sees (learned positions cover this many); 3 in the paper, 1 for TwoRoom."""
    state_dim: int = 0
    """encoder='state': width S of the dataset's ``state`` column (the trainer fills it from the dataset)."""

    def __post_init__(self) -> None:
        if self.encoder not in ("vit", "cnn", "state"):
            raise ValueError(f"ModelConfig.encoder must be 'vit', 'cnn' or 'state', got {self.encoder!r}.")
        if self.state_dim < 0:
            raise ValueError(f"ModelConfig.state_dim must be >= 0 (0: filled from the dataset), got {self.state_dim}.")
        if self.encoder == "cnn" and (self.image_size < 8 or self.image_size & (self.image_size - 1)):
            raise ValueError(
                f"the CNN encoder halves the frame down to 4 x 4 pixels, so image_size must be a power of two >= 8, "
                f"got {self.image_size}. Collect frames at e.g. --image-size 64, or use --model.encoder vit."
            )
        if self.encoder == "vit":
            check_patch_size(self.image_size, self.patch_size)
        for name in (
            "image_size",
            "cnn_width",
            "patch_size",
            "encoder_dim",
            "encoder_depth",
            "encoder_heads",
            "latent_dim",
            "projector_hidden",
            "action_dim",
            "frameskip",
            "action_smoothed_dim",
            "predictor_depth",
            "predictor_heads",
            "predictor_head_dim",
            "predictor_mlp_dim",
            "history",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.encoder_dim % self.encoder_heads != 0:
            raise ValueError(f"encoder_dim {self.encoder_dim} must be divisible by encoder_heads {self.encoder_heads}.")
        check_range(self, "encoder_mlp_ratio", low=0, low_open=True, prefix="model.", what="a multiple of encoder_dim")
        check_range(self, "predictor_dropout", low=0, high=1, high_open=True, prefix="model.", what="a probability")

    @property
    def action_block_dim(self) -> int:
        """F = frameskip * A, the width of one action block."""
        return self.frameskip * self.action_dim

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def clip_frames(self) -> int:
        """Frames per training clip: ``history`` of context and the frame after them."""
        return self.history + 1

    def to_dict(self) -> dict:
        """JSON-ready form (saved in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of `to_dict`; unknown fields are refused (a checkpoint of a newer lewm-agents)."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} fields {sorted(unknown)}; this checkpoint needs a newer lewm-agents."
            )
        return cls(**d)


# Presets: `paper` is the official architecture (~18.0M parameters, reference/lewm.md §2.6). The CPU presets keep the
# paper's structure (ViT + CLS + BN projector, AdaLN-zero causal predictor) at sizes 2 cores can train.
MODEL_PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "gpu": ModelConfig(
        image_size=64,
        patch_size=8,
        encoder_depth=6,
        projector_hidden=1024,
        predictor_depth=4,
        predictor_heads=8,
        predictor_mlp_dim=1024,
    ),
    "small": ModelConfig(
        image_size=64,
        patch_size=8,
        encoder_dim=128,
        encoder_depth=4,
        encoder_heads=4,
        latent_dim=128,
        projector_hidden=512,
        predictor_depth=3,
        predictor_heads=4,
        predictor_head_dim=32,
        predictor_mlp_dim=512,
    ),
    "smoke": ModelConfig(
        image_size=64,
        patch_size=16,
        encoder_dim=64,
        encoder_depth=2,
        encoder_heads=2,
        latent_dim=64,
        projector_hidden=256,
        predictor_depth=2,
        predictor_heads=4,
        predictor_head_dim=16,
        predictor_mlp_dim=256,
    ),
}


class EncoderBlock(nn.Module):
    """Pre-norm ViT block as in HF ViTLayer (GELU, qkv bias, LayerNorm eps 1e-12)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, E = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).view(B, N, 3, self.heads, E // self.heads).permute(2, 0, 3, 1, 4)
        )  # (B, h, N, e)
        attn = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, e)
        x = x + self.proj(attn.transpose(1, 2).reshape(B, N, E))  # (B, N, E)
        return x + self.mlp(self.norm2(x))  # (B, N, E)


class ViTEncoder(nn.Module):
    """ViT from scratch (HF ViTModel shape, no pooler). Returns the CLS token after the final LayerNorm (§2.2).

    Args:
        image_size: side of the square frames; patch_size: ViT patch side (divides image_size).
        dim: width E; depth: blocks; heads: attention heads; mlp_ratio: MLP width as a multiple of E.
    """

    def __init__(self, image_size: int, patch_size: int, dim: int, depth: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        E = dim
        self.patch_embed = nn.Conv2d(3, E, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, E))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image_size // patch_size) ** 2 + 1, E))
        mlp_dim = int(E * mlp_ratio)
        self.blocks = nn.ModuleList(EncoderBlock(E, heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(E, eps=1e-12)
        # HF ViT init: truncated normal (std 0.02) for weights, CLS and positions; zero biases.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, E)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed  # (B, N+1, E)
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])  # (B, E)


class CNNEncoder(nn.Module):
    """Strided conv stack (DreamerV3's image encoder shape): stride-2 4x4 convs, each followed by a channel LayerNorm
    (GroupNorm with one group) and SiLU, from the frame down to a 4 x 4 map with channels cnn_width x 2^k, then the
    flattened map -> Linear -> LayerNorm, an ``encoder_dim`` vector like the ViT's CLS token. Flattening (not pooling)
    keeps where things are: PushT's success rule needs positions to ~2.5 px at 64 px."""

    def __init__(self, image_size: int, width: int, dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        side, c_in, c_out = image_size, 3, width
        while side > 4:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GroupNorm(1, c_out), nn.SiLU()]
            side, c_in, c_out = side // 2, c_out, min(2 * c_out, 8 * width)
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(c_in * side * side, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x).flatten(1)  # (B, C*4*4)
        return self.norm(self.out(x))  # (B, E)


class StateEncoder(nn.Module):
    """The diagnostic encoder of ``encoder="state"``: BatchNorm1d on the raw state (its running statistics put every
    env's units on one scale), then Linear, GELU, Linear, GELU, Linear to ``dim`` and a LayerNorm, an ``encoder_dim``
    vector like the ViT's CLS token (so the projector, SIGReg and predictor are unchanged)."""

    def __init__(self, state_dim: int, dim: int) -> None:
        super().__init__()
        if state_dim < 1:
            raise ValueError(
                "ModelConfig.state_dim must be >= 1 for encoder='state' (the width of the dataset's 'state' column); "
                "the trainer fills it from the dataset, or pass --model.state-dim S."
            )
        self.net = nn.Sequential(
            nn.BatchNorm1d(state_dim),
            nn.Linear(state_dim, dim),
            nn.GELU(),
            nn.Linear(dim, dim),
            nn.GELU(),
            nn.Linear(dim, dim),
            nn.LayerNorm(dim, eps=1e-12),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, E)


class MLP(nn.Module):
    """Projector: Linear, BatchNorm1d, GELU, Linear (§2.3). BatchNorm undoes the ViT's final LayerNorm, which would
    otherwise stop SIGReg from shaping the latent distribution."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        return self.net(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)  # (..., out_dim)


class Embedder(nn.Module):
    """Action encoder (§2.4): 1x1 Conv1d over time (F -> 10), Linear(10 -> 4D), SiLU, Linear(4D -> D)."""

    def __init__(self, in_dim: int, smoothed_dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, smoothed_dim, kernel_size=1)
        self.mlp = nn.Sequential(nn.Linear(smoothed_dim, 4 * out_dim), nn.SiLU(), nn.Linear(4 * out_dim, out_dim))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a = self.conv(a.float().transpose(1, 2)).transpose(1, 2)  # (B, T, 10)
        return self.mlp(a)  # (B, T, D)


class Attention(nn.Module):
    """Causal self-attention over time with its own affine LayerNorm first (the official double norm, §2.5)."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.out = nn.Sequential(nn.Linear(heads * head_dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, h, T, e)
        p = self.dropout if self.training else 0.0
        attn = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=p, is_causal=True)  # (B, h, T, e)
        return self.out(attn.transpose(1, 2).reshape(B, T, -1))  # (B, T, D)

    @property
    def out_proj(self) -> nn.Linear:
        """The output projection (``out`` is it followed by dropout; the state_dict keys stay ``out.0.*``)."""
        return self.out[0]


class FeedForward(nn.Module):
    """LayerNorm, Linear, GELU, Dropout, Linear, Dropout (the official ``net`` Sequential; its state_dict keys)."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @property
    def norm(self) -> nn.LayerNorm:
        """The leading LayerNorm."""
        return self.net[0]

    @property
    def fc1(self) -> nn.Linear:
        """The expanding linear layer (D -> mlp)."""
        return self.net[1]

    @property
    def fc2(self) -> nn.Linear:
        """The contracting linear layer (mlp -> D)."""
        return self.net[4]


class ConditionalBlock(nn.Module):
    """DiT-style AdaLN-zero block: the action embedding of each time step sets shift, scale and gate (§2.5)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        D = cfg.latent_dim
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(D, cfg.predictor_heads, cfg.predictor_head_dim, cfg.predictor_dropout)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(D, cfg.predictor_mlp_dim, cfg.predictor_dropout)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        # Zero init: every block starts as the identity, so actions enter the predictor progressively.
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    @property
    def modulation(self) -> nn.Linear:
        """The Linear(D -> 6D) of the AdaLN modulation (after its SiLU; state_dict keys ``adaLN_modulation.1.*``)."""
        return self.adaLN_modulation[1]

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=-1)  # 6 x (B, T, D)
        x = x + gate1 * self.attn(self.norm1(x) * (1 + scale1) + shift1)  # (B, T, D)
        return x + gate2 * self.ff(self.norm2(x) * (1 + scale2) + shift2)  # (B, T, D)


class ARPredictor(nn.Module):
    """Causal transformer over latents, conditioned per time step on action embeddings, learned positions (§2.5)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.history, cfg.latent_dim))  # official init: std 1
        self.blocks = nn.ModuleList(ConditionalBlock(cfg) for _ in range(cfg.predictor_depth))
        self.norm = nn.LayerNorm(cfg.latent_dim)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        T = z.shape[1]
        if T > self.pos_embed.shape[1]:
            raise ValueError(f"the predictor takes at most {self.pos_embed.shape[1]} frames of history, got {T}.")
        x = z + self.pos_embed[:, :T]  # (B, T, D)
        for block in self.blocks:
            x = block(x, c)
        return self.norm(x)  # (B, T, D)


def inverse_dynamics_head(latent_dim: int, action_block_dim: int, hidden: int) -> nn.Sequential:
    """An inverse-dynamics MLP (z_t, z_t+1) ``(..., 2D)`` -> action block ``(..., F)`` (Linear, LayerNorm, GELU,
    Linear), as PLDM's; the objectives that use it (PLDM-style, LeWM with ``idm_coeff`` > 0) train it, planning never
    calls it."""
    return nn.Sequential(
        nn.Linear(2 * latent_dim, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, action_block_dim)
    )


def frames_to_tensor(pixels: torch.Tensor, image_size: int, device: torch.device | str) -> torch.Tensor:
    """uint8 frames ``(..., h, w, 3)`` (or float in [0, 1]) -> float ``(M, 3, h, w)`` in [0, 1] on ``device``; frames
    of another size are refused with the fix. Every method's encoder input starts here."""
    size = image_size
    if pixels.shape[-3:] != (size, size, 3):
        raise ValueError(
            f"frames have shape {tuple(pixels.shape[-3:])} but this model takes ({size}, {size}, 3) RGB frames. "
            f"Record the data and run the env at image_size={size} (e.g. gym.make(id, image_size={size})), or "
            f"train a model at the frame size you have."
        )
    x = pixels.reshape(-1, size, size, 3).to(device, non_blocking=True)  # (M, h, w, 3)
    x = x.permute(0, 3, 1, 2).float()  # (M, 3, h, w)
    return x / 255.0 if pixels.dtype == torch.uint8 else x


def normalize_frames(pixels: torch.Tensor, image_size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 frames ``(..., h, w, 3)`` (or float in [0, 1]) -> ImageNet-normalised float ``(M, 3, h, w)`` on the
    device of ``mean`` / ``std`` (``(1, 3, 1, 1)`` each); frames of another size are refused with the fix."""
    return (frames_to_tensor(pixels, image_size, mean.device) - mean) / std  # (M, 3, h, w)


def final_latent_distance(z_hat: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
    """LeWM's planning cost (§5.1): ``||z_hat_H - z_goal||^2`` summed over latent dims, last step only.

    Args:
        z_hat: predicted latents ``(B, S, H, D)``; z_goal: goal latents ``(B, D)``.

    Returns:
        ``(B, S)``, in fp32.
    """
    return (z_hat[:, :, -1].float() - z_goal.float().unsqueeze(1)).pow(2).sum(-1)  # (B, S)


class LeWM(nn.Module):
    """LeWorldModel: ``encode`` pixels to latents, ``predict`` the next latents from latents and actions, ``rollout``
    action sequences from a context in latent space, ``goal_cost`` of a rollout toward a goal latent. A
    `lewm_agents.protocols.WorldModel`.

    Example:
        >>> cfg = MODEL_PRESETS["smoke"]
        >>> model = LeWM(cfg).eval()
        >>> z = model.encode(torch.zeros(2, 3, 64, 64, 3, dtype=torch.uint8))  # (B, T, D)
        >>> tuple(z.shape)
        (2, 3, 64)
        >>> a = torch.zeros(2, 3, cfg.action_block_dim)  # (B, T, F)
        >>> tuple(model.predict(z, model.embed_actions(a)).shape)
        (2, 3, 64)
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = (
            ViTEncoder(
                cfg.image_size,
                cfg.patch_size,
                cfg.encoder_dim,
                cfg.encoder_depth,
                cfg.encoder_heads,
                cfg.encoder_mlp_ratio,
            )
            if cfg.encoder == "vit"
            else StateEncoder(cfg.state_dim, cfg.encoder_dim)
            if cfg.encoder == "state"
            else CNNEncoder(cfg.image_size, cfg.cnn_width, cfg.encoder_dim)
        )
        self.projector = MLP(cfg.encoder_dim, cfg.projector_hidden, cfg.latent_dim)
        self.action_encoder = Embedder(cfg.action_block_dim, cfg.action_smoothed_dim, cfg.latent_dim)
        self.predictor = ARPredictor(cfg)
        self.pred_proj = MLP(cfg.latent_dim, cfg.projector_hidden, cfg.latent_dim)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------------ the WorldModel interface (read-only)
    @property
    def action_dim(self) -> int:
        """A, the env's action dimension."""
        return self.cfg.action_dim

    @property
    def frameskip(self) -> int:
        """Env steps per action block."""
        return self.cfg.frameskip

    @property
    def image_size(self) -> int:
        """Side of the square frames the encoder takes."""
        return self.cfg.image_size

    @property
    def history(self) -> int:
        """Frames of context the predictor sees."""
        return self.cfg.history

    @property
    def latent_dim(self) -> int:
        """D."""
        return self.cfg.latent_dim

    @property
    def observes(self) -> str:
        """What ``encode`` takes: "pixels" (frames), or "state" (the env's state vectors, ``encoder="state"``)."""
        return "state" if self.cfg.encoder == "state" else "pixels"

    def preprocess(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 frames ``(..., h, w, 3)`` -> ImageNet-normalised float ``(M, 3, h, w)`` on the model's device."""
        return normalize_frames(pixels, self.cfg.image_size, self.pixel_mean, self.pixel_std)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, h, w, 3)`` (uint8, or float in [0, 1]) -> latents ``(B, T, D)``; with ``encoder="state"``,
        states ``(B, T, S)`` instead of frames."""
        B, T = pixels.shape[:2]
        if self.cfg.encoder == "state":
            if pixels.shape[-1] != self.cfg.state_dim or pixels.dim() != 3:
                raise ValueError(
                    f"this state-input model takes states (B, T, {self.cfg.state_dim}), got {tuple(pixels.shape)}. "
                    "Feed it the env's info['state'] (the dataset's 'state' column), not frames."
                )
            x = pixels.reshape(B * T, -1).to(self.pixel_mean.device, torch.float32)  # (B*T, S)
            return self.projector(self.encoder(x)).view(B, T, -1)  # (B, T, D)
        cls = self.encoder(self.preprocess(pixels))  # (B*T, E)
        return self.projector(cls).view(B, T, -1)  # (B, T, D)

    def embed_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Normalised action blocks ``(B, T, F)`` -> embeddings ``(B, T, D)``."""
        if actions.shape[-1] != self.cfg.action_block_dim:
            raise ValueError(
                f"action blocks have width {actions.shape[-1]} but the model takes frameskip x action_dim = "
                f"{self.cfg.frameskip} x {self.cfg.action_dim} = {self.cfg.action_block_dim}."
            )
        return self.action_encoder(actions)

    def predict(self, z: torch.Tensor, act_emb: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, T, D)`` and action embeddings ``(B, T, D)`` -> predicted next latents ``(B, T, D)``.

        Position t sees frames and actions 0..t only (causal), and predicts the latent of frame t+1.
        """
        return self.pred_proj(self.predictor(z, act_emb))  # (B, T, D)

    def rollout(
        self, z: torch.Tensor, actions: torch.Tensor, context_actions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Autoregressive latent rollout of S candidate action sequences from a shared context (§5.1).

        Numerically the plain rollout (`rollout_plain`, the reference), computed incrementally: see
        `lewm_agents.rollout.rollout_incremental` for what is reused. Differentiable in ``actions`` (the gradient
        planner backpropagates through it). In training mode with dropout the plain rollout runs, since dropout masks
        differ per call.

        Args:
            z: context latents ``(B, T0, D)``; the last one is the current frame.
            actions: candidate action blocks ``(B, S, H, F)`` (normalised), the first applied at the current frame.
            context_actions: the blocks already applied between the context frames ``(B, T0 - 1, F)``; needed when
                T0 > 1.

        Returns:
            Predicted latents ``(B, S, H, D)`` for the H frames after the current one. The predictor sees at most
            ``cfg.history`` frames, the most recent ones, at every step.
        """
        if self.training and self.cfg.predictor_dropout > 0:
            return self.rollout_plain(z, actions, context_actions)
        B, S, H, _ = actions.shape
        seq, act_emb = self._rollout_inputs(z, actions, context_actions)  # (BS, T0, D), (BS, T0-1+H, D)
        return rollout_incremental(self, seq, act_emb, H).reshape(B, S, H, -1)  # (B, S, H, D)

    def goal_cost(self, z_hat: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The planning cost of rolled-out latents ``(B, S, H, D)`` toward goals ``(B, D)``: the squared L2 distance
        of the last predicted latent (`final_latent_distance`, §5.1); the actions ``(B, S, H, F)`` are unused.
        Returns ``(B, S)``, lower is better."""
        return final_latent_distance(z_hat, z_goal)  # (B, S)

    def rollout_plain(
        self, z: torch.Tensor, actions: torch.Tensor, context_actions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The reference rollout, written plainly: at every step, re-run the predictor over the whole window of the
        last ``history`` frames and keep the last position. Same arguments and result as `rollout`."""
        B, S, H, _ = actions.shape
        T0 = z.shape[1]
        seq, act_emb = self._rollout_inputs(z, actions, context_actions)  # (BS, T0, D), (BS, T0-1+H, D)
        W = self.cfg.history
        for h in range(H):
            t = T0 + h  # frames known so far
            lo = max(0, t - W)
            nxt = self.predict(seq[:, lo:t], act_emb[:, lo:t])[:, -1:]  # (BS, 1, D)
            seq = torch.cat([seq, nxt], dim=1)  # (BS, t+1, D)
        return seq[:, T0:].reshape(B, S, H, -1)  # (B, S, H, D)

    def _rollout_inputs(
        self, z: torch.Tensor, actions: torch.Tensor, context_actions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context latents repeated per sample ``(BS, T0, D)`` and the embeddings of every action block, context
        blocks first ``(BS, T0-1+H, D)``: the Embedder is per time step, so all H blocks are embedded once."""
        B, S, H, _ = actions.shape
        T0 = z.shape[1]
        seq = z.unsqueeze(1).expand(B, S, T0, z.shape[-1]).reshape(B * S, T0, -1)  # (BS, T0, D)
        acts = actions.reshape(B * S, H, -1)  # (BS, H, F)
        if T0 > 1:
            if context_actions is None or context_actions.shape[1] != T0 - 1:
                raise ValueError(f"a context of {T0} frames needs context_actions of shape (B, {T0 - 1}, F).")
            ctx = context_actions.unsqueeze(1).expand(B, S, T0 - 1, acts.shape[-1]).reshape(B * S, T0 - 1, -1)
            acts = torch.cat([ctx, acts], dim=1)  # (BS, T0-1+H, F)
        return seq, self.embed_actions(acts)  # (BS, T0, D), (BS, T0-1+H, D)
