"""Dreamer-style: a DreamerV3-shaped RSSM world model (Hafner et al., 2025; reference/baselines.md §4) trained on
the reward-free clips, planned with the shared solvers toward the goal frame's latent. Labelled "Dreamer-style
(RSSM world model + planning)", not DreamerV3: the data carry no reward, so there are **no reward, continuation,
actor or critic heads** and no imagination training; only the world model is learned, and the planner acts.

The model (per action block, i.e. one RSSM step per ``frameskip`` env actions, as LeWM's predictor steps):

* a CNN encoder (stride-2 4x4 convs, GroupNorm(1) + SiLU, DreamerV3's image encoder shape) -> embedding e_t;
* a deterministic state h_t: ``h_t = GRU(h_{t-1}, MLP([z_{t-1}, a_{t-1}]))``; DreamerV3 uses a block-diagonal
  LayerNorm GRU with 8 blocks, we use torch's dense ``nn.GRUCell`` (one block; the fused kernel is what 2 CPU
  cores can afford);
* a stochastic state z_t of ``stoch`` categorical variables with ``classes`` classes each (DreamerV3: 32 x 32),
  sampled with straight-through gradients from DreamerV3's unimix distribution (1% uniform mixed into the softmax):
  prior p(z_t | h_t) (imagination), posterior q(z_t | e_t) (see below; DreamerV3's q(z_t | h_t, e_t) is
  ``posterior="rssm"``);
* a transposed-CNN decoder of the frame from ``[h_t, z_t]``.

The loss of a clip of T frames (every term a per-sample mean over B and T, so DDP's gradient averaging over equal
shares is exact; no batch statistics)::

    L = sum_pixels (decoder(h_t, z_t) - x_t)^2                      x in [-0.5, 0.5]: DreamerV3's image MSE, summed
      + 0.5 * max(1, KL[sg(q_t) || p_t])                            dynamics term, free bits 1 nat
      + 0.1 * max(1, KL[q_t || sg(p_t)])                            representation term, free bits 1 nat

with the KL summed over the ``stoch`` categoricals and clipped per (sample, step) as DreamerV3 does. Every clip
starts from the learned initial state h_0 (DreamerV3's learned initial deterministic state), so the first frame's
posterior is exactly what `encode` returns at planning time.

Deliberate difference from DreamerV3: by default the posterior sees the frame's embedding only, q(z_t | e_t), not
h_t. The planner compares an imagined state with a lone goal frame's encoding; with DreamerV3's posterior, z_t
carries only what h_t does not already predict, so a goal frame encoded from h_0 and a state imagined 5 blocks ahead
live in different regimes. Measured on TwoRoom (500 steps, KL scale 0.1): with ``posterior="rssm"`` a state probe
fitted on encoded frames scores R^2 -4e5 on the imagined latents and the imagined latent picks its own goal among 400
held-out clips 0.5% of the time. With q(z_t | e_t), z_t is a complete code of the frame at every step, and the prior
p(z_t | h_t) is trained (the dynamics KL) to predict exactly the goal's code.

The seam. A latent is ``[h, probs]``: the deterministic state (``deter``) and the categorical probabilities
(``stoch * classes``), D = deter + stoch * classes. `encode` is the posterior of each frame from h_0 (the agent
passes one frame: the protocol gives no actions to filter a longer history with, so ``history`` is 1); `rollout`
steps the prior under the candidate action blocks, feeding each step the mode of the last categoricals (one-hot with
straight-through gradients, so the gradient planner can differentiate it); `goal_cost` compares the last predicted
prior with the goal frame's posterior (see `DreamerConfig.plan_cost` for the options and the measured choice).

torchrl ships an RSSM and DreamerV3-style losses; we do not use them: they are built around tensordict and reward /
value keys, Gaussian (DreamerV1) latents, and its own rollout loop, so fitting them to the seam would add a
dependency and adapters larger than the ~200 lines here.

Dimension letters: B batch, T clip frames, S samples, H horizon (action blocks), D latent = deter + stoch * classes,
K stoch (categoricals), C classes, E embedding, F action block width, h / w frame side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lewm_agents.checks import check_finite
from lewm_agents.data.batch import Batch, ClipSpec
from lewm_agents.diagnostics import effective_rank
from lewm_agents.methods.method import Method
from lewm_agents.model import frames_to_tensor

PlanCost = Literal["stoch_l2", "stoch_kl", "feat_l2"]


@dataclass(frozen=True)
class DreamerConfig:
    """A Dreamer-style RSSM world model: architecture, the KL settings of DreamerV3 and the planning cost."""

    image_size: int = 224
    """Side of the square input frames (halved by the CNN while even and > 7: 64 -> 4, 224 -> 7)."""
    action_dim: int = 2
    """Action dimension A per env step (filled from the dataset by the trainer)."""
    frameskip: int = 5
    """Env steps per action block: the RSSM steps once per block."""
    channels: int = 32
    """CNN channels of the first stage (doubled per stage, capped at 8x); DreamerV3's ``depth``."""
    embed_dim: int = 512
    """E, the encoder's output (a Linear + LayerNorm after the flattened map)."""
    deter: int = 512
    """Deterministic (GRU) state size."""
    stoch: int = 32
    """Categorical variables K of the stochastic state (DreamerV3: 32)."""
    classes: int = 32
    """Classes C per categorical (DreamerV3: 32)."""
    hidden: int = 512
    """Width of the MLPs around the GRU (input, prior and posterior heads)."""
    clip_frames: int = 6
    """T, frames per training clip: the planner's horizon (5 blocks) + 1 (DreamerV3 trains on 64-step sequences;
    TwoRoom episodes hold ~8 blocks). The smoke preset (CPU cells) uses 4, which halves its step time (measured:
    183 vs 361 ms CPU per step at batch 32; LeWM's 2-frame TwoRoom step: 83 ms)."""
    unimix: float = 0.01
    """Uniform mixture of the categoricals (DreamerV3: 1%)."""
    free_nats: float = 1.0
    """Free bits: each KL term is clipped below at this many nats (DreamerV3: 1)."""
    dyn_scale: float = 0.5
    """Weight of the dynamics KL (trains the prior; DreamerV3: 0.5)."""
    rep_scale: float = 0.1
    """Weight of the representation KL (trains the posterior; DreamerV3: 0.1)."""
    recon_scale: float = 1.0
    """Weight of the pixel reconstruction."""
    posterior: Literal["frame", "rssm"] = "frame"
    """What the posterior conditions on: 'frame', the embedding only, q(z | e) (default; module docstring), or
    'rssm', DreamerV3's q(z | h, e)."""
    plan_cost: PlanCost = "stoch_l2"
    """Planning cost between the last predicted prior and the goal's posterior: 'stoch_l2' (squared L2 between the
    categorical probabilities), 'stoch_kl' (KL(goal || predicted), summed over categoricals) or 'feat_l2' (squared
    L2 over the whole latent [h, probs])."""

    def __post_init__(self) -> None:
        check_finite(self, "model.")  # NaN / inf in any float field, named with its --model.<field> flag
        ints = ("image_size", "action_dim", "frameskip", "channels", "embed_dim", "deter", "stoch", "hidden")
        for name in ints:
            if getattr(self, name) < 1:
                raise ValueError(f"DreamerConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.classes < 2 or self.clip_frames < 2:
            raise ValueError(
                f"DreamerConfig needs classes >= 2 and clip_frames >= 2 (the KL compares a transition's prior with "
                f"the next posterior), got classes={self.classes}, clip_frames={self.clip_frames}."
            )
        if not 0.0 <= self.unimix < 1.0 or self.free_nats < 0:
            raise ValueError(f"need 0 <= unimix < 1 and free_nats >= 0, got {self.unimix}, {self.free_nats}.")
        if min(self.dyn_scale, self.rep_scale, self.recon_scale) < 0:
            raise ValueError("DreamerConfig loss scales must be >= 0.")
        if self.posterior not in ("frame", "rssm"):
            raise ValueError(f"posterior must be 'frame' or 'rssm', got {self.posterior!r}.")
        if self.plan_cost not in ("stoch_l2", "stoch_kl", "feat_l2"):
            raise ValueError(f"plan_cost must be 'stoch_l2', 'stoch_kl' or 'feat_l2', got {self.plan_cost!r}.")
        if _map_side(self.image_size) > 8:
            raise ValueError(
                f"image_size {self.image_size} leaves a {_map_side(self.image_size)}-pixel map after the CNN's "
                f"halvings (it halves while the side is even and > 7); use a size like 64 or 224 (k * 2^n, k <= 7)."
            )

    @property
    def action_block_dim(self) -> int:
        """F = frameskip * A."""
        return self.frameskip * self.action_dim

    @property
    def latent_dim(self) -> int:
        """D = deter + stoch * classes."""
        return self.deter + self.stoch * self.classes

    def to_dict(self) -> dict:
        """JSON-ready form (saved in checkpoints)."""
        return asdict(self)


def _map_side(size: int) -> int:
    """Side of the CNN's last map: the frame halved while even and > 7."""
    while size % 2 == 0 and size > 7:
        size //= 2
    return size


def _stages(cfg: DreamerConfig) -> list[int]:
    """Output channels of every stride-2 stage, first to last."""
    n, size, out = 0, cfg.image_size, []
    while size % 2 == 0 and size > 7:
        size, n = size // 2, n + 1
    for i in range(n):
        out.append(cfg.channels * min(2**i, 8))
    return out


class ConvEncoder(nn.Module):
    """Frames in [-0.5, 0.5] ``(M, 3, h, w)`` -> embeddings ``(M, E)``: stride-2 4x4 convs with GroupNorm(1) + SiLU
    down to a map of side <= 7, flattened, Linear + LayerNorm."""

    def __init__(self, cfg: DreamerConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in _stages(cfg):
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.GroupNorm(1, c), nn.SiLU()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        side = _map_side(cfg.image_size)
        self.out = nn.Sequential(nn.Linear(c_in * side * side, cfg.embed_dim), nn.LayerNorm(cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(x).flatten(1))  # (M, E)


class ConvDecoder(nn.Module):
    """Features ``(M, deter + K*C)`` -> frames in [-0.5, 0.5] units ``(M, 3, h, w)``: Linear to the encoder's last
    map, then stride-2 transposed convs mirroring the encoder (GroupNorm(1) + SiLU between them)."""

    def __init__(self, cfg: DreamerConfig) -> None:
        super().__init__()
        stages = _stages(cfg)[::-1]  # (widest first)
        self.side, self.c0 = _map_side(cfg.image_size), stages[0] if stages else 3
        self.inp = nn.Linear(cfg.latent_dim, self.c0 * self.side * self.side)
        layers: list[nn.Module] = []
        for i, c in enumerate(stages):
            last = i == len(stages) - 1
            c_out = 3 if last else stages[i + 1]
            layers.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
            if not last:
                layers += [nn.GroupNorm(1, c_out), nn.SiLU()]
        self.convs = nn.Sequential(*layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = self.inp(feat).view(-1, self.c0, self.side, self.side)  # (M, C0, s, s)
        return self.convs(x)  # (M, 3, h, w)


def _head(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """Linear, LayerNorm, SiLU, Linear."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, d_out))


class DreamerWorldModel(nn.Module):
    """The RSSM + CNN encoder / decoder (module docstring); a `lewm_agents.protocols.WorldModel`.

    Example:
        >>> cfg = PRESETS["smoke"]
        >>> model = DreamerWorldModel(cfg).eval()
        >>> z = model.encode(torch.zeros(2, 1, 64, 64, 3, dtype=torch.uint8))  # (B, T, D)
        >>> tuple(model.rollout(z, torch.zeros(2, 4, 5, cfg.action_block_dim)).shape)  # (B, S, H, D)
        (2, 4, 5, 256)
    """

    def __init__(self, cfg: DreamerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        K, C = cfg.stoch, cfg.classes
        self.encoder = ConvEncoder(cfg)
        self.decoder = ConvDecoder(cfg)
        self.h0 = nn.Parameter(torch.zeros(cfg.deter))  # learned initial state (tanh of it, as DreamerV3)
        self.img_in = nn.Sequential(
            nn.Linear(K * C + cfg.action_block_dim, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.SiLU()
        )
        self.gru = nn.GRUCell(cfg.hidden, cfg.deter)
        self.prior = _head(cfg.deter, cfg.hidden, K * C)
        self.posterior = _head(cfg.embed_dim + (cfg.deter if cfg.posterior == "rssm" else 0), cfg.hidden, K * C)

    # ------------------------------------------------------------------ the WorldModel interface
    @property
    def action_dim(self) -> int:
        """A, the env's action dimension."""
        return self.cfg.action_dim

    @property
    def frameskip(self) -> int:
        """Env steps per action block (one RSSM step)."""
        return self.cfg.frameskip

    @property
    def image_size(self) -> int:
        """Side of the square frames the encoder takes."""
        return self.cfg.image_size

    @property
    def history(self) -> int:
        """1: `encode` filters each frame from the initial state (the protocol gives no actions between frames)."""
        return 1

    @property
    def latent_dim(self) -> int:
        """D = deter + stoch * classes."""
        return self.cfg.latent_dim

    # ------------------------------------------------------------------ RSSM pieces
    def preprocess(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 frames ``(..., h, w, 3)`` -> floats in [-0.5, 0.5] ``(M, 3, h, w)`` on the model's device."""
        return frames_to_tensor(pixels, self.cfg.image_size, self.h0.device) - 0.5  # (M, 3, h, w)

    def initial(self, n: int) -> torch.Tensor:
        """The initial deterministic state ``(n, deter)``."""
        return torch.tanh(self.h0).expand(n, -1)

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits ``(..., K*C)`` -> unimix probabilities ``(..., K, C)`` in fp32."""
        p = logits.float().unflatten(-1, (self.cfg.stoch, self.cfg.classes)).softmax(-1)  # (..., K, C)
        return (1 - self.cfg.unimix) * p + self.cfg.unimix / self.cfg.classes

    def step(self, h: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One transition: state ``(n, deter)``, flat categorical sample ``(n, K*C)``, action block ``(n, F)`` ->
        the next deterministic state ``(n, deter)``."""
        x = self.img_in(torch.cat([z.to(a.dtype), a], -1))  # (n, hidden)
        return self.gru(x.float(), h.float())  # (n, deter)

    def post(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Posterior probabilities ``(n, K, C)`` from the state ``(n, deter)`` and the embedding ``(n, E)``."""
        x = torch.cat([h.to(e.dtype), e], -1) if self.cfg.posterior == "rssm" else e  # (n, [deter +] E)
        return self.probs(self.posterior(x))

    def feature(self, h: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """The latent ``[h, probs]`` ``(..., D)`` from ``(..., deter)`` and ``(..., K, C)``."""
        return torch.cat([h.float(), probs.flatten(-2)], -1)

    # ------------------------------------------------------------------ encode / rollout / cost
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, h, w, 3)`` -> posterior latents ``[h_0, q(z | e)]`` ``(B, T, D)``, each frame from the
        initial state."""
        B, T = pixels.shape[:2]
        e = self.encoder(self.preprocess(pixels))  # (BT, E)
        h = self.initial(B * T)  # (BT, deter)
        post = self.post(h, e)  # (BT, K, C)
        return self.feature(h, post).view(B, T, -1)  # (B, T, D)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A latent ``(..., D)`` -> ``h (..., deter)`` and ``probs (..., K, C)``."""
        d = self.cfg.deter
        return z[..., :d], z[..., d:].unflatten(-1, (self.cfg.stoch, self.cfg.classes))

    def rollout(
        self, z: torch.Tensor, actions: torch.Tensor, context_actions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Imagine S candidate action sequences with the prior from the last context latent.

        Each step feeds the mode of the current categoricals (one-hot, straight-through, so the gradient planner
        differentiates it); the output latents hold the prior's probabilities. Earlier context frames (and
        ``context_actions``) are not used: each encoded frame already is a full state.

        Args:
            z: context latents ``(B, T0, D)``; the last one is the current frame.
            actions: candidate action blocks ``(B, S, H, F)``.

        Returns:
            ``(B, S, H, D)``.
        """
        B, S, H, _ = actions.shape
        h, p = self.split(z[:, -1])  # (B, deter), (B, K, C)
        h = h.unsqueeze(1).expand(B, S, -1).reshape(B * S, -1)  # (BS, deter)
        p = p.unsqueeze(1).expand(B, S, *p.shape[1:]).reshape(B * S, *p.shape[1:])  # (BS, K, C)
        acts = actions.reshape(B * S, H, -1)  # (BS, H, F)
        out = []
        for t in range(H):
            h = self.step(h, _mode(p).flatten(-2), acts[:, t])  # (BS, deter)
            p = self.probs(self.prior(h))  # (BS, K, C)
            out.append(self.feature(h, p))
        return torch.stack(out, 1).view(B, S, H, -1)  # (B, S, H, D)

    def goal_cost(self, z_hat: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``cfg.plan_cost`` between the last predicted latent ``(B, S, H, D)`` and the goal ``(B, D)`` -> ``(B, S)``.

        The goal's deterministic part is the initial state (`encode` filters a lone frame from h_0), so it carries
        no information about the goal: 'stoch_*' compare only the categoricals, where the goal frame lives.
        'feat_l2' would also pull h toward h_0, which says nothing about the goal. Measured on TwoRoom (the tuned
        model after 500 steps, the small cell's 50 pairs): 'stoch_l2' 9/50, 'stoch_kl' 8/50, equal within noise;
        'stoch_l2' is the default (benchmarks/results/dreamer_tuning.json)."""
        last, goal = z_hat[:, :, -1].float(), z_goal.float().unsqueeze(1)  # (B, S, D), (B, 1, D)
        if self.cfg.plan_cost == "feat_l2":
            return (last - goal).pow(2).sum(-1)  # (B, S)
        (_, p), (_, g) = self.split(last), self.split(goal)  # (B, S, K, C), (B, 1, K, C)
        if self.cfg.plan_cost == "stoch_l2":
            return (p - g).pow(2).sum((-2, -1))  # (B, S)
        return (g * (g.clamp_min(1e-8).log() - p.clamp_min(1e-8).log())).sum((-2, -1))  # (B, S) KL(goal || pred)

    # ------------------------------------------------------------------ training pass
    def observe(
        self, pixels: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Filter clips: frames ``(B, T, h, w, 3)`` and action blocks ``(B, T, F)`` (block t leads from frame t to
        t + 1) -> the posterior and prior probabilities ``(B, T, K, C)``, the deterministic states ``(B, T, deter)``,
        the straight-through posterior samples ``(B, T, K*C)`` and the targets in [-0.5, 0.5] ``(B*T, 3, h, w)``.
        The prior of frame 0 is that of the initial state."""
        B, T = pixels.shape[:2]
        x = self.preprocess(pixels)  # (BT, 3, h, w)
        e = self.encoder(x).view(B, T, -1)  # (B, T, E)
        h = self.initial(B)  # (B, deter)
        hs, posts, priors, samples = [], [], [], []
        for t in range(T):
            if t > 0:
                h = self.step(h, samples[-1], actions[:, t - 1])  # (B, deter)
            prior = self.probs(self.prior(h))  # (B, K, C)
            post = self.post(h, e[:, t])  # (B, K, C)
            hs.append(h)
            priors.append(prior)
            posts.append(post)
            samples.append(_sample(post, generator).flatten(-2))  # (B, K*C)
        return {
            "h": torch.stack(hs, 1),
            "post": torch.stack(posts, 1),
            "prior": torch.stack(priors, 1),
            "sample": torch.stack(samples, 1),
            "target": x,
        }


def _mode(p: torch.Tensor) -> torch.Tensor:
    """One-hot argmax of probabilities ``(..., C)`` with straight-through gradients."""
    hard = F.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
    return hard + p - p.detach()


def _sample(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A one-hot sample of probabilities ``(..., C)`` with straight-through gradients (DreamerV3), drawn by inverse
    CDF from ``generator`` (on its own device, then moved)."""
    dev = generator.device if generator is not None else p.device
    u = torch.rand(p.shape[:-1], generator=generator, device=dev).to(p.device).unsqueeze(-1)  # (..., 1)
    idx = (p.detach().cumsum(-1) < u).sum(-1).clamp_max(p.shape[-1] - 1)  # (...)
    hard = F.one_hot(idx, p.shape[-1]).to(p.dtype)
    return hard + p - p.detach()


def categorical_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of categoricals ``(..., K, C)``, summed over the K variables -> ``(...)``."""
    return (p * (p.clamp_min(1e-8).log() - q.clamp_min(1e-8).log())).sum((-2, -1))


def kl_terms(
    post: torch.Tensor, prior: torch.Tensor, free_nats: float, dyn_scale: float, rep_scale: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DreamerV3's balanced KL with free bits, for posteriors and priors ``(B, T, K, C)``.

    ``dyn = max(free, KL[sg(post) || prior])`` trains the prior, ``rep = max(free, KL[post || sg(prior)])`` the
    posterior, both clipped per (sample, step), then averaged over B and T.

    Returns:
        ``dyn_scale * dyn + rep_scale * rep`` and the unclipped KL, the clipped terms, for metrics.
    """
    dyn_raw = categorical_kl(post.detach(), prior)  # (B, T)
    rep_raw = categorical_kl(post, prior.detach())  # (B, T)
    dyn, rep = dyn_raw.clamp_min(free_nats).mean(), rep_raw.clamp_min(free_nats).mean()
    return dyn_scale * dyn + rep_scale * rep, {"kl": dyn_raw.detach().mean(), "dyn_loss": dyn, "rep_loss": rep}


class DreamerObjective(nn.Module):
    """Reconstruction + balanced KL with free bits (module docstring) of a batch as one module call."""

    def __init__(self, model: DreamerWorldModel, cfg: DreamerConfig, generator: torch.Generator | None) -> None:
        super().__init__()
        self.model, self.cfg, self.generator = model, cfg, generator

    def forward(self, batch: Batch, with_stats: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg, model = self.cfg, self.model
        out = model.observe(batch.pixels, batch.actions, self.generator)
        feat = torch.cat([out["h"].float(), out["sample"].float()], -1).flatten(0, 1)  # (BT, D)
        recon = model.decoder(feat).float()  # (BT, 3, h, w)
        recon_loss = (recon - out["target"]).pow(2).sum((1, 2, 3)).mean()  # summed over pixels, mean over B*T
        kl_loss, kl_metrics = kl_terms(out["post"], out["prior"], cfg.free_nats, cfg.dyn_scale, cfg.rep_scale)
        loss = cfg.recon_scale * recon_loss + kl_loss
        ent = -(out["post"] * out["post"].clamp_min(1e-8).log()).sum((-2, -1)).mean()
        metrics = {"loss": loss.detach(), "recon_loss": recon_loss.detach(), **kl_metrics, "post_ent": ent.detach()}
        if with_stats:  # the collapse warning's statistics, with Dreamer-style's criterion (METHOD below)
            flat = out["post"][:, 0].detach().flatten(1)  # (B, K*C): the first frame's posterior, as `encode`
            metrics["emb_std"] = flat.std(0).mean()
            metrics["eff_rank"] = torch.tensor(effective_rank(flat), device=flat.device)
        return loss, metrics


# Sizes per scale, within 2x of LeWM's parameters at each (tests/methods/test_dreamer.py checks it): smoke / small
# at 64 px on CPU, gpu at 64 px, paper at 224 px with DreamerV3's 32 x 32 categoricals.
PRESETS: dict[str, DreamerConfig] = {
    "paper": DreamerConfig(),
    "gpu": DreamerConfig(image_size=64, channels=32, embed_dim=512, deter=512, hidden=512),
    "small": DreamerConfig(image_size=64, channels=16, embed_dim=256, deter=256, stoch=16, classes=16, hidden=256),
    "smoke": DreamerConfig(
        image_size=64, channels=8, embed_dim=128, deter=128, stoch=32, classes=4, hidden=128, clip_frames=4
    ),
}

HPARAMS = ("stoch", "classes", "deter", "posterior", "free_nats", "dyn_scale", "rep_scale", "unimix", "plan_cost")
"""The config fields reported with results."""

METHOD = Method(
    name="dreamer",
    label="Dreamer-style (RSSM world model + planning)",
    config=DreamerConfig,
    presets=PRESETS,
    build=DreamerWorldModel,
    objective=DreamerObjective,
    acts="plan",
    clips=lambda cfg: ClipSpec(frames=cfg.clip_frames),
    hparams=lambda cfg: {k: getattr(cfg, k) for k in HPARAMS},
    collapse_hint="Lower the KL scales (--model.dyn-scale, --model.rep-scale) or raise --model.free-nats",
    # Collapse criterion, on the first frame's posterior class probabilities (the objective's emb_std / eff_rank). A
    # posterior that ignores the frame is constant: std 0 (benchmarks/collapse_criteria.py). Small is not collapsed
    # here: at the tuned TwoRoom KL scale the std dips to 1e-4 for steps 25-200 and only then rises to 0.06-0.08
    # (300 steps, smoke), and at DreamerV3's scales it stays at 2.7e-4 while a linear probe still reads the position
    # (R^2 0.955, benchmarks/results/dreamer_tuning.json). So the floor is 1e-5, as TD-MPC-style's: a warning means
    # a constant posterior. (benchmarks/dreamer_tune.py keeps LeWM's 0.05 as its recorded search guard.) No rank
    # test: near one-hot categoricals of a 2-D state have a low effective rank by nature (7-10 of the posterior's
    # dimensions, collapsed or not), below 0.02 D at the larger presets.
    collapse_std=1e-5,
    collapse_rank=0.0,
)
