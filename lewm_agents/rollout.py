"""The fused incremental rollout of LeWM's predictor: `LeWM.rollout_plain`'s numbers without its repeated work.

`LeWM.rollout` calls `rollout_incremental` in eval mode; tests/test_model.py checks it against `rollout_plain` for
growing and sliding windows, long contexts and the gradient. The kernel reads the predictor's weights through the
named accessors of its blocks (``modulation``, ``attn.qkv``, ``attn.out_proj``, ``ff.norm`` / ``fc1`` / ``fc2``), so
the architecture in model.py stays the single definition of the network.

Dimension letters: N rollouts (batch x samples), T0 context frames, H predicted frames, D latent, P cached prefix
positions, Tn new positions, Tq query positions, Tk key positions, h heads, e head width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from lewm_agents.model import LeWM

KVCache = list[tuple[torch.Tensor, torch.Tensor]]
"""Per predictor block, the keys and values ``(N, P, h, e)`` of the window's prefix."""


def rollout_incremental(model: LeWM, z: torch.Tensor, act_emb: torch.Tensor, H: int) -> torch.Tensor:
    """`LeWM.rollout_plain` without its repeated work, exactly (up to float rounding):

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
        model: the LeWM whose predictor runs (eval mode: no dropout).
        z: context latents per sample ``(N, T0, D)``.
        act_emb: embeddings of the context blocks, then of the H planned blocks ``(N, T0-1+H, D)``.
        H: frames to predict.

    Returns:
        The H predicted latents ``(N, H, D)``.
    """
    pred, W = model.predictor, model.cfg.history
    N, T0, D = z.shape
    depth = len(pred.blocks)
    # AdaLN-zero: shift, scale, gate for attention and MLP, all blocks, all steps; the +1 of (1 + scale) is folded
    weight = torch.cat([b.modulation.weight for b in pred.blocks])  # (depth*6D, D)
    one = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0], device=weight.device, dtype=weight.dtype).view(1, 6, 1)
    bias = (torch.cat([b.modulation.bias for b in pred.blocks]).view(depth, 6, D) + one).flatten()  # (depth*6D,)
    mod = F.linear(F.silu(act_emb), weight, bias).view(N, -1, depth, 6, D)  # (N, T0-1+H, depth, 6, D)
    frames = list(z.unbind(1))  # T0 x (N, D), then one per prediction
    cache: KVCache | None = None  # per block (K, V) of the window's prefix
    for h in range(H):
        t = T0 + h  # frames known so far
        lo = max(0, t - W)
        start = 0 if cache is None else cache[0][0].shape[1]  # first position not yet in the cache
        x = torch.stack(frames[lo + start : t], 1) + pred.pos_embed[:, start : t - lo]  # (N, Tn, D)
        keep = lo == 0 and t < W  # the next window still starts at frame 0: keep keys and values
        out, cache = _predictor_step(model, x, mod[:, lo + start : t], cache if lo == 0 else None, keep)
        frames.append(model.pred_proj(pred.norm(out)))  # (N, D)
    return torch.stack(frames[T0:], 1)  # (N, H, D)


def _predictor_step(
    model: LeWM, x: torch.Tensor, mod: torch.Tensor, cache: KVCache | None, keep: bool
) -> tuple[torch.Tensor, KVCache | None]:
    """The predictor's blocks on new positions ``x (N, Tn, D)`` after a cached prefix (or none).

    Args:
        mod: modulations of the new positions ``(N, Tn, depth, 6, D)``.
        cache: per block, the prefix's keys and values ``(N, P, h, e)`` each, or None.
        keep: return the keys and values of prefix + new positions for the next step.

    Returns:
        The last block's output at the last position ``(N, D)`` (before the final norm), and the cache.
    """
    N, Tn, D = x.shape
    new_cache: KVCache = []
    blocks = model.predictor.blocks
    last = len(blocks) - 1
    for i, block in enumerate(blocks):
        attn, ff = block.attn, block.ff
        sh1, sc1, g1, sh2, sc2, g2 = mod[:, :, i].unbind(2)  # 6 x (N, Tn, D)
        u = torch.addcmul(sh1, F.layer_norm(x, (D,), eps=block.norm1.eps), sc1)  # (N, Tn, D)
        u = F.layer_norm(u, (D,), attn.norm.weight, attn.norm.bias, attn.norm.eps)  # (N, Tn, D)
        he = attn.heads * attn.head_dim
        w = attn.qkv.weight  # (3*he, D): q, k, v
        out = attn.out_proj
        if Tn == 1 and cache is None and not keep:
            # a lone position attends to itself with weight 1: attention is out(V(u)), one D x D map
            w_ov = out.weight @ w[2 * he :]  # (D, D)
            x = torch.addcmul(x, g1, F.linear(u, w_ov, out.bias))  # (N, 1, D)
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
            a = causal_attention(q, k, v).reshape(N, -1, he)  # (N, Tq, he)
            x = torch.addcmul(x, g1, F.linear(a, out.weight, out.bias))  # (N, Tq, D)
        u = torch.addcmul(sh2, F.layer_norm(x, (D,), eps=block.norm2.eps), sc2)  # (N, Tq, D)
        u = F.layer_norm(u, (D,), ff.norm.weight, ff.norm.bias, ff.norm.eps)  # (N, Tq, D)
        u = F.gelu(F.linear(u, ff.fc1.weight, ff.fc1.bias))  # (N, Tq, mlp)
        x = torch.addcmul(x, g2, F.linear(u, ff.fc2.weight, ff.fc2.bias))  # (N, Tq, D)
    return x[:, -1], (new_cache if keep else None)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
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
