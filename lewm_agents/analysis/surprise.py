"""Violation of expectation (reference/lewm.md §6.5, PAPER-v3 §5.2): does the world model's prediction error spike when
an object teleports (a physically impossible event) and not, or less, when it only changes colour?

* `surprise(model, pixels, actions)`: the per-step surprise of any trajectory, the squared error (mean over the latent
  dimensions) between the latent the model predicts for frame t+1 (from up to ``history`` frames ending at t and the
  action block between them) and the encoded frame t+1. A plausibility score for your own data: high values mark
  transitions the model finds implausible.
* `surprise_test(run, ...)`: paired trajectories rendered by the env itself from the same start and the same actions
  (replayed from dataset episodes): unperturbed, physically perturbed (the agent teleported, in PushT the agent and the
  block) and visually perturbed (the agent's colour changed, in PushT the agent's and the block's) at the same step;
  the three mean curves with 95% bands, and a paired t-test at the perturbation step for each perturbation. The
  perturbations are the envs' ``perturb`` hooks (envs/two_room.py, envs/pusht.py).

The paper gives no formula for surprise; the squared latent prediction error is what its figures plot. The paper uses
one trajectory per condition repeated over episodes; here every pair starts from a held-out dataset episode.

Only world models (methods that plan, `lewm_agents.protocols.WorldModel`) predict, so only they get a surprise.

Dimension letters: B trajectories, T frames, D latent, F = frameskip x A action block, h / w frame side.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents.analysis.trajectories import encode_frames, heldout_episodes, load_model, read_paths

PERTURBATIONS = ("none", "physical", "visual")
"""The three conditions of a pair, in plotting order."""


@torch.no_grad()
def surprise(model: Any, pixels: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Per-step surprise of trajectories: frames ``(B, T, h, w, 3)`` uint8 and the normalised action blocks between
    them ``(B, T - 1, F)`` -> ``(B, T - 1)``, entry t the error of predicting frame t+1's latent.

    Example (a plausibility score of your own trajectory; actions are env actions, ``frameskip`` per frame step):
        >>> model, ckpt = load_model("results/tworoom/smoke/runs/lewm")  # doctest: +SKIP
        >>> blocks = ckpt.action_stats.normalize(env_actions).reshape(T - 1, -1)  # (T-1, F)  # doctest: +SKIP
        >>> s = surprise(model, torch.from_numpy(frames)[None], torch.from_numpy(blocks)[None])  # doctest: +SKIP
    """
    if not hasattr(model, "rollout"):
        raise ValueError(
            f"{type(model).__name__} has no rollout: surprise needs a world model (a method that plans), not a policy."
        )
    device = next(model.parameters()).device
    z = model.encode(pixels.to(device)).float()  # (B, T, D)
    return latent_surprise(model, z, actions.to(device).float())


@torch.no_grad()
def latent_surprise(model: Any, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """`surprise` from encoded latents ``(B, T, D)`` and normalised action blocks ``(B, T - 1, F)`` ->
    ``(B, T - 1)``."""
    B, T = z.shape[:2]
    if actions.shape[:2] != (B, T - 1):
        raise ValueError(f"actions must be (B, T - 1, F) = ({B}, {T - 1}, F) for latents {tuple(z.shape)}.")
    W = int(getattr(model, "history", 1))
    out = []
    for t in range(T - 1):
        lo = max(0, t + 1 - W)
        ctx = actions[:, lo:t] if t > lo else None  # (B, T0 - 1, F)
        z_hat = model.rollout(z[:, lo : t + 1], actions[:, t, None, None], ctx)[:, 0, 0].float()  # (B, D)
        out.append(((z_hat - z[:, t + 1]) ** 2).mean(-1))  # (B,)
    return torch.stack(out, dim=1)  # (B, T - 1)


def paired_t_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Paired t-test of ``a - b`` against 0: ``{"t", "p", "df", "mean_diff"}`` with a two-sided p-value.

    Example:
        >>> r = paired_t_test(np.array([2.0, 3.0, 4.0, 5.0]), np.array([1.0, 1.5, 1.0, 2.5]))
        >>> round(r["t"], 3), round(r["p"], 4)
        (4.382, 0.022)
    """
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    n = len(d)
    if n < 2:
        raise ValueError(f"a paired t-test needs at least 2 pairs, got {n}.")
    sd = d.std(ddof=1)
    if sd == 0:
        t = math.copysign(math.inf, d.mean()) if d.mean() else 0.0
        return {"t": t, "p": 0.0 if d.mean() else 1.0, "df": n - 1, "mean_diff": float(d.mean())}
    t = float(d.mean() / (sd / math.sqrt(n)))
    df = n - 1
    p = _betainc(df / 2.0, 0.5, df / (df + t * t))  # two-sided Student-t tail: I_{df/(df+t^2)}(df/2, 1/2)
    return {"t": t, "p": float(p), "df": df, "mean_diff": float(d.mean())}


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (Lentz's continued fraction, Numerical Recipes §6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _betainc(b, a, 1.0 - x)
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(ln_front) * f / a


# ---------------------------------------------------------------------------------------------- the env experiment


def _teleport_target(env_id: str, state: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where a physical perturbation puts the objects: a random position (and block pose) far from the current one."""
    if "TwoRoom" in env_id:  # the agent, anywhere in free space (not in the wall zone), >= 60 units away
        for _ in range(1000):
            xy = rng.uniform(21.0, 203.0, size=2)
            if not 100.0 <= xy[0] <= 124.0 and np.linalg.norm(xy - state[:2]) >= 60.0:
                return xy
    if "PushT" in env_id:  # the agent and the block, from the reference's start distribution, >= 100 units away
        for _ in range(1000):
            agent, block = rng.uniform(50.0, 450.0, size=2), rng.uniform(100.0, 400.0, size=2)
            if np.linalg.norm(agent - state[:2]) >= 100 and np.linalg.norm(block - state[2:4]) >= 100:
                return np.concatenate([agent, block, [rng.uniform(0.0, 2 * np.pi)]])
    raise ValueError(f"no physical perturbation is defined for {env_id}; `lewm surprise` supports TwoRoom and PushT.")


_COLOURS: dict[str, dict[str, tuple[int, int, int]]] = {
    "TwoRoom": {"agent_rgb": (0, 0, 255)},  # red agent -> blue
    "PushT": {"agent_rgb": (220, 20, 60), "block_rgb": (255, 140, 0)},  # royal blue -> crimson, slate grey -> orange
}


def _recolour(env_id: str) -> dict[str, tuple[int, int, int]]:
    for key, colours in _COLOURS.items():
        if key in env_id:
            return colours
    raise ValueError(f"no visual perturbation is defined for {env_id}; `lewm surprise` supports TwoRoom and PushT.")


def render_pairs(
    env_id: str,
    env_kwargs: dict[str, Any],
    starts: np.ndarray,
    actions: np.ndarray,
    *,
    frameskip: int,
    perturb_step: int,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Render the three conditions of every pair with the env itself.

    Args:
        env_id: the env (its ``perturb`` hook is used).
        env_kwargs: its constructor kwargs (the dataset's, so frames look like the training frames).
        starts: start states ``(B, S)`` (``reset(options={"state": ...})``).
        actions: raw env actions ``(B, T - 1, F)``, ``frameskip`` per frame step.
        frameskip: env steps between two frames.
        perturb_step: the perturbation happens just before frame ``perturb_step`` is observed (1 <= k < T).
        seed: seed of the teleport targets.

    Returns:
        ``{condition: frames (B, T, h, w, 3) uint8}`` for the conditions of `PERTURBATIONS`.
    """
    import gymnasium

    import lewm_envs  # noqa: F401  (registers the lewm/* ids)

    env = gymnasium.make(env_id, **env_kwargs).unwrapped
    if not hasattr(env, "perturb"):
        raise ValueError(f"{env_id} has no perturb() hook; `lewm surprise` supports TwoRoom and PushT.")
    B, T1, F = actions.shape
    A = F // frameskip
    rng = np.random.default_rng(seed)
    out = {c: [] for c in PERTURBATIONS}
    for i in range(B):
        target = None
        for cond in PERTURBATIONS:
            obs, _ = env.reset(seed=seed + i, options={"state": starts[i]})
            frames = [obs]
            for t in range(T1):
                for a in actions[i, t].reshape(frameskip, A):
                    obs, *_ = env.step(a)
                if t + 1 == perturb_step and cond != "none":
                    if cond == "physical":
                        if target is None:
                            target = _teleport_target(env_id, np.asarray(env.state, np.float64), rng)
                        obs, _ = env.perturb(state=target)
                    else:
                        obs, _ = env.perturb(**_recolour(env_id))
                frames.append(obs)
            out[cond].append(np.stack(frames))  # (T, h, w, 3)
    env.close()
    return {c: np.stack(v) for c, v in out.items()}


def surprise_test(
    run: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    pairs: int = 50,
    frames: int = 8,
    perturb_step: int = 4,
    seed: int = 0,
    device: str = "cpu",
    figure: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The violation-of-expectation experiment on a run of any world-model method (module docstring).

    Pairs start from the first frame of dataset episodes long enough for ``frames`` frames (held-out ones first) and
    replay their recorded actions.

    Returns:
        ``{"run", "method", "env_id", "pairs", "frames", "perturb_step", "curves": {condition: {"mean", "lo", "hi"}},
        "tests": {"physical": {"t", "p", "df", "mean_diff"}, "visual": {...}}, "figures"}``; curve entry t is the
        surprise of predicting frame t+1, so the perturbation shows at index ``perturb_step - 1``.
    """
    from lewm_agents.data import DatasetReader

    if not 1 <= perturb_step < frames:
        raise ValueError(f"perturb_step must be in [1, frames - 1] = [1, {frames - 1}], got {perturb_step}.")
    model, ckpt = load_model(run, device)
    if not hasattr(model, "rollout"):
        raise ValueError(
            f"{run} is a {ckpt.method} run, which acts as a policy and predicts no latents: surprise needs a world "
            "model (a method that plans)."
        )
    data = Path(data or ckpt.meta.get("dataset", {}).get("path", ""))
    with DatasetReader(data) as reader:
        held = heldout_episodes(ckpt.meta, reader.num_episodes)
        order = np.concatenate([held, np.setdiff1d(np.arange(reader.num_episodes), held)])
        p = read_paths(reader, order, frameskip=model.frameskip, frames=frames, max_paths=pairs)
        env_id, env_kwargs = reader.env_id, dict(reader.env_kwargs)
    if p.state is None or len(p.episodes) < 2:
        raise ValueError(
            f"{data} has {len(p.episodes)} episode(s) of at least {(frames - 1) * model.frameskip + 1} steps with a "
            "state column; pass fewer --frames or a dataset with longer episodes."
        )
    env_kwargs.setdefault("image_size", reader.image_size)
    rendered = render_pairs(
        env_id, env_kwargs, p.state[:, 0], p.actions, frameskip=model.frameskip, perturb_step=perturb_step, seed=seed
    )
    blocks = ckpt.action_stats.normalize(p.actions.reshape(-1, reader.action_dim)).reshape(p.actions.shape)
    blocks_t = torch.from_numpy(np.nan_to_num(blocks).astype(np.float32)).to(device)  # (B, T-1, F)
    curves, values = {}, {}
    for cond, pix in rendered.items():
        z = encode_frames(model, pix, device).to(device)  # (B, T, D)
        s = latent_surprise(model, z, blocks_t).cpu().numpy()  # (B, T-1)
        values[cond] = s
        half = 1.96 * s.std(0, ddof=1) / math.sqrt(len(s))
        curves[cond] = {
            "mean": s.mean(0).tolist(),
            "lo": (s.mean(0) - half).tolist(),
            "hi": (s.mean(0) + half).tolist(),
        }
    k = perturb_step - 1
    tests = {c: paired_t_test(values[c][:, k], values["none"][:, k]) for c in ("physical", "visual")}
    result: dict[str, Any] = {
        "run": str(run),
        "method": ckpt.method,
        "data": str(data),
        "env_id": env_id,
        "pairs": len(p.episodes),
        "frames": frames,
        "frameskip": model.frameskip,
        "perturb_step": perturb_step,
        "curves": curves,
        "tests": tests,
        "figures": [],
    }
    if figure is not None:
        result["figures"] = _plot(result, Path(figure))
    return result


def _plot(result: dict[str, Any], path: Path) -> list[dict[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional (the dev or all extra)
        return []
    fig, ax = plt.subplots(figsize=(5, 3.2))
    colors = {"none": "0.3", "physical": "tab:red", "visual": "tab:blue"}
    for cond, c in result["curves"].items():
        x = np.arange(1, len(c["mean"]) + 1)  # the predicted frame
        label = cond if cond == "none" else f"{cond} (p = {result['tests'][cond]['p']:.2g})"
        ax.plot(x, c["mean"], color=colors[cond], lw=1.5, label=label)
        ax.fill_between(x, c["lo"], c["hi"], color=colors[cond], alpha=0.2)
    ax.axvline(result["perturb_step"], color="0.6", ls="--", lw=0.8)
    ax.set_xlabel(f"predicted frame ({result['frameskip']} env steps each)")
    ax.set_ylabel("surprise (latent MSE)")
    ax.set_title(f"{result['method']}: violation of expectation, {result['pairs']} pairs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    tp, tv = result["tests"]["physical"], result["tests"]["visual"]
    return [
        {
            "title": "Violation of expectation",
            "path": str(path),
            "caption": f"Mean surprise with 95% bands over {result['pairs']} pairs; perturbation before frame "
            f"{result['perturb_step']} (dashed). Paired t-test there: teleport t = {tp['t']:.2f}, p = {tp['p']:.2g}; "
            f"colour t = {tv['t']:.2f}, p = {tv['p']:.2g}.",
        }
    ]
