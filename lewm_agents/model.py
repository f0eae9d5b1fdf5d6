"""LeWorldModel: ViT encoder + projector, action embedder, AdaLN-zero causal predictor (reference/lewm.md §2).

A small CNN encoder (``ModelConfig.encoder="cnn"``, as DreamerV3 and TD-MPC2 use at 64 px) is an option for CPU
scales; the paper's ViT stays the default.

The model knows tensors only: no environments, trainers or files.

Dimension letters: B batch, T time (frames), S planning samples, H horizon (action blocks), D latent, E encoder width,
N tokens, A action dim per env step, F = frameskip * A (one action block), and image height/width. Pixels enter as
uint8 ``(..., height, width, 3)`` and are normalised on the model's device.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a LeWM. The defaults are the paper's (official config, reference/lewm.md §2)."""

    image_size: int = 224
    """Side of the square input frames, in pixels (frames of another size are refused)."""
    encoder: Literal["vit", "cnn"] = "vit"
    """Encoder family: 'vit' (the paper's ViT with a CLS token) or 'cnn' (a strided conv stack, DreamerV3-style; a
    deliberate difference from the paper for CPU scales). The CNN uses encoder_dim and cnn_width; the ViT fields are
    then unused."""
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

    def __post_init__(self) -> None:
        if self.encoder not in ("vit", "cnn"):
            raise ValueError(f"ModelConfig.encoder must be 'vit' or 'cnn', got {self.encoder!r}.")
        if self.encoder == "cnn" and (self.image_size < 8 or self.image_size & (self.image_size - 1)):
            raise ValueError(
                f"the CNN encoder halves the frame down to 4 x 4 pixels, so image_size must be a power of two >= 8, "
                f"got {self.image_size}. Collect frames at e.g. --image-size 64, or use --model.encoder vit."
            )
        if self.encoder == "vit" and self.image_size % self.patch_size != 0:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by patch_size {self.patch_size}: the ViT cuts frames "
                f"into whole patches. Pick a patch size that divides the frame (for {self.image_size} px: "
                f"{', '.join(str(p) for p in range(4, 33) if self.image_size % p == 0) or 'none between 4 and 32'}) "
                f"or collect frames at a multiple of {self.patch_size} px (e.g. --image-size "
                f"{max(self.patch_size, round(self.image_size / self.patch_size) * self.patch_size)})."
            )
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
        if not 0.0 <= self.predictor_dropout < 1.0:
            raise ValueError(f"predictor_dropout must be in [0, 1), got {self.predictor_dropout}.")

    @property
    def action_block_dim(self) -> int:
        """F = frameskip * A, the width of one action block."""
        return self.frameskip * self.action_dim

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown ModelConfig fields {sorted(unknown)}; this checkpoint needs a newer lewm-agents."
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
    """ViT from scratch (HF ViTModel shape, no pooler). Returns the CLS token after the final LayerNorm (§2.2)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        E = cfg.encoder_dim
        self.patch_embed = nn.Conv2d(3, E, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, E))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches + 1, E))
        mlp_dim = int(E * cfg.encoder_mlp_ratio)
        self.blocks = nn.ModuleList(EncoderBlock(E, cfg.encoder_heads, mlp_dim) for _ in range(cfg.encoder_depth))
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

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        side, c_in, c_out = cfg.image_size, 3, cfg.cnn_width
        while side > 4:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GroupNorm(1, c_out), nn.SiLU()]
            side, c_in, c_out = side // 2, c_out, min(2 * c_out, 8 * cfg.cnn_width)
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(c_in * side * side, cfg.encoder_dim)
        self.norm = nn.LayerNorm(cfg.encoder_dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x).flatten(1)  # (B, C*4*4)
        return self.norm(self.out(x))  # (B, E)


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


class FeedForward(nn.Module):
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
        nn.init.zeros_(self.adaLN_modulation[1].weight)
        nn.init.zeros_(self.adaLN_modulation[1].bias)

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


class LeWM(nn.Module):
    """LeWorldModel: ``encode`` pixels to latents, ``predict`` the next latents from latents and actions, ``rollout``
    action sequences from a context in latent space.

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
        self.encoder = ViTEncoder(cfg) if cfg.encoder == "vit" else CNNEncoder(cfg)
        self.projector = MLP(cfg.encoder_dim, cfg.projector_hidden, cfg.latent_dim)
        self.action_encoder = Embedder(cfg.action_block_dim, cfg.action_smoothed_dim, cfg.latent_dim)
        self.predictor = ARPredictor(cfg)
        self.pred_proj = MLP(cfg.latent_dim, cfg.projector_hidden, cfg.latent_dim)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 frames ``(..., h, w, 3)`` -> ImageNet-normalised float ``(M, 3, h, w)`` on the model's device."""
        size = self.cfg.image_size
        if pixels.shape[-3:] != (size, size, 3):
            raise ValueError(
                f"frames have shape {tuple(pixels.shape[-3:])} but this model takes ({size}, {size}, 3) RGB frames. "
                f"Record the data and run the env at image_size={size} (e.g. gym.make(id, image_size={size})), or "
                f"train a model at the frame size you have."
            )
        x = pixels.reshape(-1, size, size, 3).to(self.pixel_mean.device, non_blocking=True)  # (M, h, w, 3)
        x = x.permute(0, 3, 1, 2).float()  # (M, 3, h, w)
        if pixels.dtype == torch.uint8:
            x = x / 255.0
        return (x - self.pixel_mean) / self.pixel_std  # (M, 3, h, w)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, h, w, 3)`` (uint8, or float in [0, 1]) -> latents ``(B, T, D)``."""
        B, T = pixels.shape[:2]
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
        `_rollout_incremental` for what is reused. Differentiable in ``actions`` (the gradient planner backpropagates
        through it). In training mode with dropout the plain rollout runs, since dropout masks differ per call.

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
        return self._rollout_incremental(seq, act_emb, H).reshape(B, S, H, -1)  # (B, S, H, D)

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

    def _rollout_incremental(self, z: torch.Tensor, act_emb: torch.Tensor, H: int) -> torch.Tensor:
        """`rollout_plain` without its repeated work, exactly (up to float rounding):

        * the AdaLN modulations of every block are computed once for all time steps (one GEMM for all blocks),
          instead of once per step for the whole window;
        * while the window grows (the first ``history`` frames), earlier positions keep their learned positions and,
          the mask being causal, their keys and values: they are cached and each step computes only the new frame;
        * once the window slides every position (hence every key) changes and the window is recomputed, but the last
          block runs its queries, attention output and MLP for the last position only, the only one kept;
        * the final norm and ``pred_proj`` run on that one position, and attention over at most ``history`` keys is
          computed directly (the fused kernels are slower than a few products at this size);
        * a window of one position (``history`` 1, as for TwoRoom) attends to itself with weight 1, so attention is
          ``out(V(u))``: queries and keys are skipped and the two projections fold into one D x D matrix.

        Args:
            z: context latents per sample ``(N, T0, D)``; act_emb: ``(N, T0-1+H, D)``.

        Returns:
            The H predicted latents ``(N, H, D)``.
        """
        pred, W = self.predictor, self.cfg.history
        N, T0, D = z.shape
        depth = len(pred.blocks)
        # AdaLN-zero: shift, scale, gate for attention and MLP, all blocks, all steps; the +1 of (1 + scale) is folded
        weight = torch.cat([b.adaLN_modulation[1].weight for b in pred.blocks])  # (depth*6D, D)
        one = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0], device=weight.device, dtype=weight.dtype).view(1, 6, 1)
        bias = (torch.cat([b.adaLN_modulation[1].bias for b in pred.blocks]).view(depth, 6, D) + one).flatten()
        mod = F.linear(F.silu(act_emb), weight, bias).view(N, -1, depth, 6, D)  # (N, T0-1+H, depth, 6, D)
        frames = list(z.unbind(1))  # T0 x (N, D), then one per prediction
        cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per block (K, V) of the window's prefix
        for h in range(H):
            t = T0 + h  # frames known so far
            lo = max(0, t - W)
            start = 0 if cache is None else cache[0][0].shape[1]  # first position not yet in the cache
            x = torch.stack(frames[lo + start : t], 1) + pred.pos_embed[:, start : t - lo]  # (N, Tn, D)
            keep = lo == 0 and t < W  # the next window still starts at frame 0: keep keys and values
            out, cache = self._predictor_step(x, mod[:, lo + start : t], cache if lo == 0 else None, keep)
            frames.append(self.pred_proj(pred.norm(out)))  # (N, D)
        return torch.stack(frames[T0:], 1)  # (N, H, D)

    def _predictor_step(
        self,
        x: torch.Tensor,
        mod: torch.Tensor,
        cache: list[tuple[torch.Tensor, torch.Tensor]] | None,
        keep: bool,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """The predictor's blocks on new positions ``x (N, Tn, D)`` after a cached prefix (or none).

        Args:
            mod: modulations of the new positions ``(N, Tn, depth, 6, D)``.
            cache: per block, the prefix's keys and values ``(N, P, heads, head_dim)`` each, or None.
            keep: return the keys and values of prefix + new positions for the next step.

        Returns:
            The last block's output at the last position ``(N, D)`` (before the final norm), and the cache.
        """
        N, Tn, D = x.shape
        new_cache = []
        last = len(self.predictor.blocks) - 1
        for i, block in enumerate(self.predictor.blocks):
            attn = block.attn
            sh1, sc1, g1, sh2, sc2, g2 = mod[:, :, i].unbind(2)  # 6 x (N, Tn, D)
            u = torch.addcmul(sh1, F.layer_norm(x, (D,), eps=block.norm1.eps), sc1)  # (N, Tn, D)
            u = F.layer_norm(u, (D,), attn.norm.weight, attn.norm.bias, attn.norm.eps)  # (N, Tn, D)
            he = attn.heads * attn.head_dim
            w = attn.qkv.weight  # (3*he, D): q, k, v
            if Tn == 1 and cache is None and not keep:
                # a lone position attends to itself with weight 1: attention is out(V(u)), one D x D map
                w_ov = attn.out[0].weight @ w[2 * he :]  # (D, D)
                x = torch.addcmul(x, g1, F.linear(u, w_ov, attn.out[0].bias))  # (N, 1, D)
            else:
                if i == last:  # only the last position's output is used: its query alone
                    q = F.linear(u[:, -1:], w[:he])  # (N, 1, he)
                    kv = F.linear(u, w[he:]).view(N, Tn, 2, attn.heads, attn.head_dim)  # (N, Tn, 2, h, e)
                    x, g1, sh2, sc2, g2 = x[:, -1:], g1[:, -1:], sh2[:, -1:], sc2[:, -1:], g2[:, -1:]
                else:
                    qkv = F.linear(u, w).view(N, Tn, 3, attn.heads, attn.head_dim)  # (N, Tn, 3, h, e)
                    q, kv = qkv[:, :, 0], qkv[:, :, 1:]
                q = q.reshape(N, -1, attn.heads, attn.head_dim)  # (N, Tq, h, e)
                k, v = kv[:, :, 0], kv[:, :, 1]  # (N, Tn, h, e) each
                if cache is not None:
                    k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)  # (N, P+Tn, h, e)
                if keep:
                    new_cache.append((k, v))
                a = _causal_attention(q, k, v).reshape(N, -1, he)  # (N, Tq, he)
                x = torch.addcmul(x, g1, F.linear(a, attn.out[0].weight, attn.out[0].bias))  # (N, Tq, D)
            ln, fc1, fc2 = block.ff.net[0], block.ff.net[1], block.ff.net[4]
            u = torch.addcmul(sh2, F.layer_norm(x, (D,), eps=block.norm2.eps), sc2)  # (N, Tq, D)
            u = F.gelu(F.linear(F.layer_norm(u, (D,), ln.weight, ln.bias, ln.eps), fc1.weight, fc1.bias))
            x = torch.addcmul(x, g2, F.linear(u, fc2.weight, fc2.bias))  # (N, Tq, D)
        return x[:, -1], (new_cache if keep else None)


def _causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention of the last Tq of Tk positions (causal), for the few positions of a predictor window.

    Args:
        q: ``(N, Tq, h, e)``; k, v: ``(N, Tk, h, e)`` with Tk >= Tq; query i sits at position Tk - Tq + i.

    Returns:
        ``(N, Tq, h, e)``.
    """
    Tq, Tk = q.shape[1], k.shape[1]
    if Tk > 8:  # long windows: the fused kernel wins
        mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril(Tk - Tq)  # (Tq, Tk) True = attend
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        return out.transpose(1, 2)  # (N, Tq, h, e)
    s = (q.unsqueeze(2) * k.unsqueeze(1)).sum(-1) * q.shape[-1] ** -0.5  # (N, Tq, Tk, h)
    if Tq > 1:
        future = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).triu(Tk - Tq + 1)  # (Tq, Tk)
        s = s.masked_fill(future[None, :, :, None], float("-inf"))
    return (s.softmax(2).unsqueeze(-1) * v.unsqueeze(1)).sum(2)  # (N, Tq, h, e)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_table(model: LeWM) -> dict[str, int]:
    """Parameters per module, for dry runs and reports."""
    parts = {
        name: count_parameters(getattr(model, name))
        for name in ("encoder", "projector", "action_encoder", "predictor", "pred_proj")
    }
    parts["total"] = sum(parts.values())
    return parts


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of centred latents ``(M, D)``: D when isotropic, 1 when
    collapsed to a line (Roy & Vetterli, 2007)."""
    z = z.detach().float().reshape(-1, z.shape[-1])  # (M, D)
    s = torch.linalg.svdvals(z - z.mean(0))  # (min(M, D),)
    p = s / s.sum().clamp_min(1e-12)
    return float(math.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))
