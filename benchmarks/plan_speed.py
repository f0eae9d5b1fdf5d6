"""Time per plan: LeWM's planner against the reference codes' ways of rolling out, batched envs and (opt-in) a
DINO-WM-sized world model, under one solver.

The paper's configuration: CEM with 300 samples x 30 iterations, horizon 5 blocks, 1 context frame, history 3,
224-px frames, random weights (speed does not depend on training). Rows:

  (a)  ours: start and goal encoded once per plan, the incremental rollout (`LeWM.rollout`);
  (a0) stable-worldmodel's way (our re-creation, not its code): encode once per plan, then at every step re-run the
       predictor over the whole window (`LeWM.rollout_plain`); (a) / (a0) is the rollout's own gain;
  (b)  the official le-wm code's way (our re-creation, not its code): every cost call re-encodes the start and the
       goal (2 encodes per call), then re-predicts the whole window at every step (``pred_proj`` on every position);
  (d)  ``--envs`` envs planned in one call, per env: with the rollout cut into cache-sized pieces (PlanConfig's
       ``chunk_rows``), and (d0) in one piece; batching pays when (d) is at most (a);
  (c)  ``--dino``: a DINO-WM-sized model (reference/baselines.md §1.1): 196 patch tokens of 384 dims per frame
       (frozen ViT-S/14 encoder on 196-px frames, run once per plan), a ViT predictor (depth 6, 16 heads x 64, MLP
       2048) over 384 + 10 (action) + 10 (proprio) = 404-dim tokens with a frame-causal mask, history 3, re-run over
       the window at every step as DINO-WM does; the cost is the MSE of the last frame's patches and proprio.

``--precision auto`` settles the precision on a CPU by measuring row (a)'s cost call in fp32 and bf16
(`lewm_agents.runtime.calibrate`) and prints what it measured. Times are wall-clock (CUDA synchronised), the best of
``--repeats`` rounds; each row is printed as soon as it is measured. On a CPU the default runs 2 iterations per plan
(the per-iteration time is exact, the 30-iteration plan is extrapolated linearly) and finishes in a few minutes on 2
cores; (c) runs ``--dino-samples`` x ``--dino-iterations`` and is extrapolated linearly in both.

    python benchmarks/plan_speed.py                     # CPU: 2 iterations per plan, extrapolated; GPU: 30
    python benchmarks/plan_speed.py --dino --compile    # add the DINO-WM-sized row and torch.compile
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
import tyro
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lewm_agents.model import MODEL_PRESETS, EncoderBlock, LeWM
from lewm_agents.planning import PlanConfig, RolloutFn, plan, world_model_cost
from lewm_agents.runtime import Precision, autocast, calibrate, resolve_device, resolve_precision

PAPER_ITERATIONS = 30


@dataclass(frozen=True)
class SpeedConfig:
    """Planning-speed benchmark (prints a table)."""

    samples: int = 300
    """CEM samples S per iteration (the paper: 300)."""
    iterations: int | None = None
    """CEM iterations actually run per timed plan (default: 30 on CUDA, 2 on CPU); the table extrapolates to the
    paper's 30."""
    topk: int = 30
    """CEM elites."""
    horizon: int = 5
    """Planning horizon H in action blocks."""
    history: int = 3
    """Predictor history (3 for PushT, the paper's planning-time setting)."""
    dino_samples: int | None = None
    """Samples for row (c); default: ``samples`` on CUDA, 10 on CPU (then extrapolated)."""
    dino_iterations: int | None = None
    """Iterations for row (c); default: ``iterations`` on CUDA, 1 on CPU (then extrapolated)."""
    repeats: int = 2
    """Timed rounds (after one warm-up); each row reports its best round."""
    envs: int = 4
    """Envs planned together in rows (d) and (d0); 0 leaves them out."""
    device: str = "auto"
    """'auto' (CUDA when present), 'cpu' or 'cuda'."""
    precision: Precision = "auto"
    """'auto' is bf16 on CUDA and measured on a CPU (fp32 unless bf16 is faster); applied to every row."""
    threads: int | None = None
    """CPU threads for torch (None: torch's default). On a loaded machine 1 thread is the most stable."""
    compile: bool = False
    """Also time (a) with the rollout under torch.compile (mode reduce-overhead on CUDA: CUDA graphs)."""
    dino: bool = False
    """Add row (c), the DINO-WM-sized model (minutes on a CPU)."""
    seed: int = 0
    """Seed of the weights, frames and planner."""


# ---------------------------------------------------------------------------------------------- the DINO-WM-sized model
class DinoWMSized(nn.Module):
    """DINO-WM's shapes with random weights: ViT-S/14 patch encoder, 404-dim frame-causal ViT predictor."""

    def __init__(self, history: int = 3, action_block: int = 10, proprio_dim: int = 2) -> None:
        super().__init__()
        self.history, self.patches, self.dim, self.emb = history, 196, 384, 10
        self.patch_embed = nn.Conv2d(3, self.dim, kernel_size=14, stride=14)  # 196 px -> 14 x 14 patches
        self.enc_pos = nn.Parameter(0.02 * torch.randn(1, self.patches, self.dim))
        self.encoder = nn.ModuleList(EncoderBlock(self.dim, 6, 4 * self.dim) for _ in range(12))  # ViT-S/14
        self.enc_norm = nn.LayerNorm(self.dim)
        self.action_encoder = nn.Linear(action_block, self.emb)
        self.proprio_encoder = nn.Linear(proprio_dim, self.emb)
        width = self.dim + 2 * self.emb  # 404: patch + proprio + action, concatenated (concat_dim 1)
        self.pred_pos = nn.Parameter(0.02 * torch.randn(1, history * self.patches, width))
        self.predictor = nn.ModuleList(_ViTBlock(width, 16, 64, 2048) for _ in range(6))
        self.pred_norm = nn.LayerNorm(width)
        frame = torch.arange(history * self.patches) // self.patches
        self.register_buffer("mask", frame[:, None] >= frame[None, :], persistent=False)  # frame-causal

    def encode(self, pixels: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, 3, 196, 196)`` and proprio ``(B, P)`` -> tokens ``(B, 196, 394)`` (patches + proprio)."""
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2) + self.enc_pos  # (B, 196, 384)
        for block in self.encoder:
            x = block(x)
        p = self.proprio_encoder(proprio).unsqueeze(1).expand(-1, self.patches, -1)  # (B, 196, 10)
        return torch.cat([self.enc_norm(x), p], -1)  # (B, 196, 394)

    def rollout_cost(self, tokens: torch.Tensor, goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """tokens, goal ``(B, 196, 394)``; actions ``(B, S, H, F)`` -> cost of the last frame ``(B, S)``."""
        B, S, H, _ = actions.shape
        a = self.action_encoder(actions.reshape(B * S, H, -1))  # (BS, H, 10)
        frames = [tokens.unsqueeze(1).expand(B, S, *tokens.shape[1:]).reshape(B * S, *tokens.shape[1:])]
        for h in range(H):  # re-run the whole window every step, as DINO-WM's rollout does
            lo = max(0, len(frames) - self.history)
            win = torch.stack(frames[lo:], 1)  # (BS, T, 196, 394)
            act = a[:, lo : h + 1, None].expand(-1, -1, self.patches, -1)  # (BS, T, 196, 10)
            x = torch.cat([win, act], -1).flatten(1, 2)  # (BS, T*196, 404)
            n = x.shape[1]
            x = x + self.pred_pos[:, :n]
            for block in self.predictor:
                x = block(x, self.mask[:n, :n])
            frames.append(self.pred_norm(x)[:, -self.patches :, : -self.emb])  # (BS, 196, 394): next frame
        goal = goal.unsqueeze(1).expand(B, S, *goal.shape[1:]).reshape(B * S, *goal.shape[1:])
        return (frames[-1].float() - goal.float()).pow(2).mean((-1, -2)).view(B, S)  # (B, S)


class _ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, mlp: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.out = nn.Linear(heads * head_dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, N, e)
        x = x + self.out(a.transpose(1, 2).reshape(B, N, -1))  # (B, N, dim)
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------------------------------------------- the rows
def obvious_cost(model: LeWM, start: torch.Tensor, goal: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Row (b), the official le-wm code's way: re-encode start and goal per cost call; re-predict whole windows."""
    W = model.cfg.history

    def cost(actions: torch.Tensor) -> torch.Tensor:
        B, S, H, Fb = actions.shape
        z_goal = model.encode(goal)[:, 0]  # (B, D)
        z0 = model.encode(start)  # (B, 1, D), once per call
        preds: list[torch.Tensor] = []
        for h in range(H):
            seq = torch.cat([z0.unsqueeze(1).expand(B, S, 1, -1).reshape(B * S, 1, -1), *preds], 1)  # (BS, t, D)
            lo = max(0, seq.shape[1] - W)
            emb = model.embed_actions(actions.reshape(B * S, H, Fb)[:, lo : h + 1])  # (BS, T, D)
            preds.append(model.predict(seq[:, lo:], emb)[:, -1:])  # (BS, 1, D)
        return (preds[-1].view(B, S, -1).float() - z_goal.float().unsqueeze(1)).pow(2).sum(-1)  # (B, S)

    return cost


def build_model(cfg: SpeedConfig, device: torch.device) -> LeWM:
    """The paper-sized LeWM with random weights (predictor perturbed so its blocks do work)."""
    torch.manual_seed(cfg.seed)
    mcfg = replace(MODEL_PRESETS["paper"], history=cfg.history, action_dim=2, frameskip=5)
    model = LeWM(mcfg).to(device).eval()
    for p in model.predictor.parameters():  # AdaLN-zero blocks are the identity at init; give them work
        p.data += 0.02 * torch.randn_like(p)
    return model


def build_rows(
    cfg: SpeedConfig, model: LeWM, iterations: int, device: torch.device
) -> dict[str, tuple[Callable[[], None], int, int, int]]:
    """Each row: a function running one plan, the (samples, iterations) it runs, and the envs it plans."""
    mcfg = model.cfg
    cfg = replace(cfg, iterations=iterations)
    size = mcfg.image_size
    start = torch.randint(0, 256, (1, 1, size, size, 3), dtype=torch.uint8, device=device)
    goal = torch.randint(0, 256, (1, 1, size, size, 3), dtype=torch.uint8, device=device)
    pcfg = PlanConfig(num_samples=cfg.samples, iterations=cfg.iterations, topk=cfg.topk, horizon=cfg.horizon)
    mean0 = torch.zeros(1, cfg.horizon, mcfg.action_block_dim, device=device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)

    def ours(rollout: RolloutFn) -> Callable[[], None]:
        def run() -> None:
            z, z_goal = model.encode(start), model.encode(goal)[:, 0]  # once per plan
            plan(world_model_cost(model, z, z_goal, rollout=rollout), mean0, pcfg, gen)

        return run

    def obvious() -> None:
        plan(obvious_cost(model, start, goal), mean0, pcfg, gen)

    def batched(chunk_rows: int | None) -> Callable[[], None]:
        n = cfg.envs
        starts, goals = start.expand(n, -1, -1, -1, -1), goal.expand(n, -1, -1, -1, -1)
        mean = mean0.expand(n, -1, -1)

        def run() -> None:
            z, z_goal = model.encode(starts), model.encode(goals)[:, 0]  # (n, 1, D), (n, D)
            plan(world_model_cost(model, z, z_goal, chunk_rows=chunk_rows), mean, pcfg, gen)

        return run

    S, it = cfg.samples, cfg.iterations
    rows = {
        "(a) ours: incremental rollout": (ours(model.rollout), S, it, 1),
        "(a0) swm-style: encode once, window": (ours(model.rollout_plain), S, it, 1),
        "(b) le-wm-style: encode per call": (obvious, S, it, 1),
    }
    if cfg.envs > 1:
        rows[f"(d) {cfg.envs} envs in one call, chunked"] = (batched(PlanConfig().chunk_rows), S, it, cfg.envs)
        rows[f"(d0) {cfg.envs} envs in one call, 1 piece"] = (batched(None), S, it, cfg.envs)
    if cfg.compile:
        mode = "reduce-overhead" if device.type == "cuda" else "default"
        rows["(a) ours + torch.compile"] = (ours(torch.compile(model.rollout, mode=mode)), S, it, 1)
    if cfg.dino:
        cuda = device.type == "cuda"
        ds = cfg.dino_samples or (cfg.samples if cuda else 10)
        di = cfg.dino_iterations or (cfg.iterations if cuda else 1)
        dino = DinoWMSized(history=3).to(device).eval()
        dpix = torch.randn(2, 3, 196, 196, device=device)
        dprop = torch.randn(2, 2, device=device)
        dcfg = replace(pcfg, num_samples=ds, iterations=di, topk=min(cfg.topk, ds))

        def dino_plan() -> None:
            tok = dino.encode(dpix, dprop)  # (2, 196, 394): start and goal, once per plan
            plan(lambda a: dino.rollout_cost(tok[:1], tok[1:], a), mean0, dcfg, gen)

        rows["(c) DINO-WM-sized, same CEM"] = (dino_plan, ds, di, 1)
    return rows


def count_gflop(run: Callable[[], None]) -> float:
    """GFLOP of one call (matmuls, convolutions and attention; elementwise work is not counted)."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 1e9


def _precision(cfg: SpeedConfig, model: LeWM, device: torch.device) -> tuple[torch.dtype | None, str]:
    """The autocast dtype and a line saying how it was chosen (measured for 'auto' on a CPU)."""
    if cfg.precision != "auto" or device.type != "cpu":
        amp = resolve_precision(cfg.precision, device)
        return amp, f"precision {'bf16' if amp else 'fp32'} ({cfg.precision})"
    z = torch.zeros(1, 1, model.cfg.latent_dim, device=device)
    actions = torch.randn(1, cfg.samples, cfg.horizon, model.cfg.action_block_dim, device=device)
    cost = world_model_cost(model, z, z[:, 0])
    cal = calibrate(lambda: cost(actions), device, ("plan_speed", cfg.samples, cfg.horizon, cfg.history), repeats=2)
    measured = ", ".join(f"{k} {v:.0f} ms" for k, v in cal.ms.items())
    return cal.dtype, f"precision {cal.precision} (auto: one cost call measured, {measured})"


def main(cfg: SpeedConfig) -> None:
    device = resolve_device(cfg.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    iterations = cfg.iterations or (PAPER_ITERATIONS if device.type == "cuda" else 2)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = build_model(cfg, device)
    with torch.inference_mode():
        amp, how = _precision(cfg, model, device)
    rows = build_rows(cfg, model, iterations, device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {device} ({gpu}), {how}, threads {torch.get_num_threads()}; CEM {cfg.samples} samples, "
        f"H={cfg.horizon}, history {cfg.history}, 1 context frame, 224-px frames; best of {cfg.repeats}",
        flush=True,
    )
    header = (
        f"{'row':<40} {'measured':>10} {'ms/iter':>10} {'ms/plan @' + str(cfg.samples) + 'x30':>16} "
        f"{'GFLOP/plan':>11} {'TFLOP/s':>8} {'x ours':>8}"
    )
    print(header)
    print("-" * len(header), flush=True)
    ref = None
    with torch.inference_mode(), autocast(device, amp):
        for name, (run, s, it, envs) in rows.items():
            run()  # warm-up (and compilation)
            gflop = count_gflop(run)
            times = []
            for _ in range(cfg.repeats):
                sync()
                t0 = time.perf_counter()
                run()
                sync()
                times.append(1000 * (time.perf_counter() - t0))
            scale = cfg.samples / s / envs  # linear in samples (only row (c) may run fewer); per env
            per_iter = min(times) / it * scale
            full = per_iter * PAPER_ITERATIONS
            flop = gflop / it * scale * PAPER_ITERATIONS
            ref = ref or full
            extrap = "" if (it == PAPER_ITERATIONS and s == cfg.samples) else "*"
            print(
                f"{name:<40} {f'{s}x{it}':>10} {per_iter:>10.1f} {f'{full:.0f}{extrap}':>16} {flop:>11.0f} "
                f"{flop / full:>8.2f} {full / ref:>8.1f}",
                flush=True,
            )
    print("* extrapolated linearly from the measured samples x iterations to the paper's 300 x 30 (per sample count)")
    print("rows (d), (d0): per env, the call's time divided by the envs it planned")


if __name__ == "__main__":
    main(tyro.cli(SpeedConfig))
