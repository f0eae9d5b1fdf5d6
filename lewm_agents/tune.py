"""``lewm tune-lambda``: search the SIGReg weight lambda, the one effective hyper-parameter (reference/lewm.md §3.4).

Criterion. Each candidate lambda gets a short training run; its score is how well the latents of **held-out
episodes** linearly encode the simulator state: a ridge probe fitted on frames of the training episodes, R^2 on the
held-out ones (relative to the state variance of the fit frames, averaged over state dimensions). A run whose
latents collapse (mean per-dimension std below ``collapse_std``, or effective rank below ``collapse_rank * D``;
by default the run's method's criterion, `lewm_agents.methods.Method.collapse_std` / ``collapse_rank``) scores
-inf: lambda too small. Too large a lambda makes the latents Gaussian noise that predicts and encodes the state
worse, so the score rises, peaks and falls with log lambda. A dataset without a state column falls back to proprio /
observation, and without any of them to minus the validation prediction loss (still with the collapse guard, which
the prediction loss alone would reward).

Search. Golden-section search over ``grid`` log-spaced candidates in [lam_min, lam_max], assuming that shape
(-inf on a prefix, then unimodal): O(log n) runs instead of n. Runs are kept in ``out/runs/lam_*`` and reused, so
an interrupted search continues where it stopped. Writes ``out/lambda_search.json`` (every run, the choice) and
``out/lambda_search.png`` (the curve).

Dimension letters: M probe frames, D latent, S state dimensions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents.checkpoint import load_checkpoint
from lewm_agents.checks import check_range
from lewm_agents.data import DatasetReader, split_episodes
from lewm_agents.diagnostics import effective_rank
from lewm_agents.methods import get_method
from lewm_agents.model import LeWM
from lewm_agents.runtime import resolve_device
from lewm_agents.train.config import TRAIN_PRESETS

PROBE_COLUMNS = ("state", "proprio", "observation")


@dataclass(frozen=True)
class TuneConfig:
    """Search lambda with short training runs scored by a linear state probe on held-out episodes."""

    data: Path
    """HDF5 dataset written by `lewm collect`."""
    out: Path = Path("runs/tune-lambda")
    """Directory for the runs (runs/lam_*), lambda_search.json and lambda_search.png."""
    preset: str = "small"
    """LeWM training preset of every run (architecture, batch, lr); lambda and the step count are set here."""
    history: int | None = None
    """Frames of context of the model (None: the preset's; the paper uses 1 for TwoRoom)."""
    steps: int = 500
    """Optimizer steps per run (the cosine schedule is fitted to them)."""
    lam_min: float = 1e-3
    """Smallest candidate lambda."""
    lam_max: float = 10.0
    """Largest candidate lambda."""
    grid: int = 13
    """Number of log-spaced candidates n; the search trains O(log n) of them (about 7 of 13)."""
    val_fraction: float = 0.2
    """Episodes held out for validation and for scoring the probe."""
    probe_frames: int = 4000
    """Frames (at most) used to fit the probe and to score it."""
    collapse_std: float | None = None
    """A run whose latents have a mean per-dimension std below this counts as collapsed (None: the run's method's
    `Method.collapse_std`, 0.05 for LeWM) ..."""
    collapse_rank: float | None = None
    """... or an effective rank below this fraction of D (None: the method's `Method.collapse_rank`, 0.02)."""
    device: str = "auto"
    """Torch device for the runs."""
    seed: int = 3072
    """Seed of every run (the same data order and initial weights for every lambda)."""
    progress: bool = True
    """Show a progress bar per run."""

    def __post_init__(self) -> None:
        if self.preset not in TRAIN_PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; valid: {', '.join(TRAIN_PRESETS)}.")
        if not 0 < self.lam_min < self.lam_max:
            raise ValueError(f"need 0 < lam_min < lam_max, got {self.lam_min} and {self.lam_max}.")
        if self.grid < 2 or self.steps < 1 or self.probe_frames < 10:
            raise ValueError("need grid >= 2, steps >= 1 and probe_frames >= 10.")
        check_range(self, "collapse_std", low=0, what="a per-dimension std")
        check_range(self, "collapse_rank", low=0, high=1, what="a fraction of the latent size")

    def candidates(self) -> list[float]:
        """The n log-spaced candidate lambdas, increasing."""
        return [float(x) for x in np.geomspace(self.lam_min, self.lam_max, self.grid)]


def golden_section_argmax(score: Callable[[int], float], n: int) -> tuple[int, dict[int, float]]:
    """Index of the maximum of ``score`` over ``range(n)``, for a score that is -inf on a prefix and unimodal after
    it, with O(log n) evaluations (each index is evaluated at most once).

    Returns:
        The best index and every evaluated ``{index: score}``.

    Example:
        >>> best, seen = golden_section_argmax(lambda i: -((i - 20) ** 2), 50)
        >>> best, len(seen) < 15
        (20, True)
    """
    seen: dict[int, float] = {}

    def f(i: int) -> float:
        if i not in seen:
            seen[i] = score(i)
        return seen[i]

    lo, hi = 0, n - 1
    while hi - lo >= 3:
        step = round((hi - lo) * (3 - math.sqrt(5)) / 2)  # golden section: earlier probes are mostly reused
        c, d = lo + step, max(hi - step, lo + step + 1)
        fc, fd = f(c), f(d)
        if fc == fd == -math.inf:  # collapsed at d: so is everything below it (the -inf prefix)
            lo = d + 1
        elif fc < fd:  # the maximum lies above c
            lo = c + 1
        elif fc > fd:  # the maximum lies below d
            hi = d - 1
        else:  # equal finite values: the maximum lies between them
            lo, hi = c, d
    for i in range(lo, hi + 1):
        f(i)
    best = max(seen, key=lambda i: (seen[i], -i))  # ties: the smaller lambda
    return best, seen


def _probe_target(reader: DatasetReader) -> str | None:
    return next((c for c in PROBE_COLUMNS if c in reader.columns), None)


def _rows(reader: DatasetReader, episodes: np.ndarray, limit: int, seed: int) -> np.ndarray:
    rows = np.concatenate([np.arange(reader.ep_offset[e], reader.ep_offset[e] + reader.ep_len[e]) for e in episodes])
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    return rows  # (M,)


@torch.no_grad()
def _latents(model: LeWM, reader: DatasetReader, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    out = []
    for chunk in np.array_split(rows, max(1, math.ceil(len(rows) / 256))):
        frames = torch.from_numpy(reader.frames(chunk)).unsqueeze(1)  # (m, 1, h, w, 3)
        out.append(model.encode(frames.to(device)).squeeze(1).float().cpu())  # (m, D)
    return torch.cat(out)  # (M, D)


def ridge_probe_r2(z_fit: torch.Tensor, y_fit: torch.Tensor, z_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Held-out R^2 of a ridge regression of y on z: 1 - MSE on (z_test, y_test) / variance of y_fit, averaged over
    the target dimensions (the variance comes from the fit set, so a held-out set of a few episodes, whose state
    varies little, does not blow the score up).

    The ridge strength is chosen among 1e-4 .. 1e2 times the mean feature variance by the exact leave-one-out error
    on the fit set (closed form from one SVD), so the score depends neither on the latent scale nor on a guess.

    Example:
        >>> z = torch.randn(200, 4)
        >>> round(ridge_probe_r2(z[:100], 2 * z[:100, :2], z[100:], 2 * z[100:, :2]), 3)
        1.0
    """
    z_mean, y_mean = z_fit.mean(0), y_fit.mean(0)
    zc, yc = (z_fit - z_mean).double(), (y_fit - y_mean).double()  # (M, D), (M, S)
    u, sv, vh = torch.linalg.svd(zc, full_matrices=False)  # (M, R), (R,), (R, D)
    uy = u.T @ yc  # (R, S)
    scale = float((sv**2).mean()) + 1e-12
    best = (math.inf, 0.0)
    for alpha in scale * np.logspace(-4, 2, 13):
        shrink = sv**2 / (sv**2 + alpha)  # (R,)
        resid = yc - u @ (shrink[:, None] * uy)  # (M, S)
        hat = (u**2 @ shrink).clamp_max(1 - 1e-9)  # (M,) leverages
        loo = float(((resid / (1 - hat)[:, None]) ** 2).mean())
        best = min(best, (loo, float(alpha)))
    alpha = best[1]
    w = vh.T @ ((sv / (sv**2 + alpha))[:, None] * uy)  # (D, S)
    pred = (z_test - z_mean).double() @ w + y_mean.double()  # (M', S)
    mse = ((pred - y_test.double()) ** 2).mean(0)  # (S,)
    var = yc.pow(2).mean(0).clamp_min(1e-12)  # (S,)
    return float((1 - mse / var).mean())


def evaluate_run(run_dir: Path, cfg: TuneConfig, device: torch.device) -> dict[str, Any]:
    """Score a finished run: probe R^2 on held-out episodes, latent statistics, validation losses."""
    ckpt = load_checkpoint(run_dir, device=device)
    metrics = ckpt.meta.get("metrics", {})
    with DatasetReader(cfg.data) as reader:
        train_eps, val_eps = split_episodes(reader.num_episodes, cfg.val_fraction, cfg.seed)
        fit_rows = _rows(reader, train_eps, cfg.probe_frames, cfg.seed)
        test_rows = _rows(reader, val_eps if len(val_eps) else train_eps, cfg.probe_frames, cfg.seed + 1)
        z_fit, z_test = _latents(ckpt.model, reader, fit_rows, device), _latents(ckpt.model, reader, test_rows, device)
        target = _probe_target(reader)
        r2 = None
        if target is not None:
            col = torch.from_numpy(reader.column(target).astype(np.float32))  # (N, S)
            r2 = ridge_probe_r2(z_fit, col[fit_rows], z_test, col[test_rows])
    std = float(z_test.std(0).mean())
    rank = effective_rank(z_test)
    method = get_method(ckpt.method)  # the criterion is the method's (Method.collapse_std)
    std_floor = method.collapse_std if cfg.collapse_std is None else cfg.collapse_std
    rank_frac = method.collapse_rank if cfg.collapse_rank is None else cfg.collapse_rank
    collapsed = std < std_floor or rank < rank_frac * z_test.shape[1]
    val_pred = metrics.get("val_pred_loss", metrics.get("pred_loss", math.nan))
    score = -math.inf if collapsed else (r2 if r2 is not None else -val_pred)
    return {
        "probe_target": target,
        "probe_r2": r2,
        "emb_std": std,
        "eff_rank": rank,
        "collapsed": collapsed,
        "val_pred_loss": val_pred,
        "val_sigreg_loss": metrics.get("val_sigreg_loss", math.nan),
        "score": score,
    }


def tune_lambda(cfg: TuneConfig) -> dict[str, Any]:
    """Run the search; returns (and writes to ``out/lambda_search.json``) the chosen lambda and every run."""
    from lewm_agents.train import train

    device = resolve_device(cfg.device)
    lams = cfg.candidates()
    out = Path(cfg.out)
    base = TRAIN_PRESETS[cfg.preset]
    runs: dict[int, dict[str, Any]] = {}

    def score(i: int) -> float:
        run_dir = out / "runs" / f"lam_{lams[i]:.4g}"
        train_cfg = replace(
            base,
            model=replace(base.model, history=cfg.history or base.model.history, lam=lams[i]),
            data=cfg.data,
            out=run_dir,
            max_steps=cfg.steps,
            val_fraction=cfg.val_fraction,
            seed=cfg.seed,
            device=str(device),
            ckpt_every=cfg.steps,
            keep_last=1,
            bn_recalibration=min(base.bn_recalibration, 10),
            resume=True,  # a finished run is reused, an interrupted one continues
            progress=cfg.progress,
            collapse_patience=10**9,  # collapse is what the search probes for: no warnings
        )
        summary = train(train_cfg)
        runs[i] = {"lam": lams[i], "steps": summary["steps"], **evaluate_run(run_dir, cfg, device)}
        return runs[i]["score"]

    best, _ = golden_section_argmax(score, len(lams))
    ordered = [runs[i] for i in sorted(runs)]
    ok = [r["lam"] for r in ordered if not r["collapsed"]]
    result = {
        "chosen_lambda": lams[best],
        "criterion": "probe_r2" if ordered[0]["probe_target"] else "-val_pred_loss",
        "probe_target": ordered[0]["probe_target"],
        "smallest_stable_lambda_seen": min(ok) if ok else None,
        "candidates": lams,
        "runs_trained": len(ordered),
        "runs": ordered,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in cfg.__dict__.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "lambda_search.json").write_text(json.dumps(result, indent=2, default=_json_default))
    plot_search(result, out / "lambda_search.png")
    return result


def _json_default(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else str(x)


def plot_search(result: dict[str, Any], path: Path) -> None:
    """The score of every trained lambda (collapsed runs marked) and its validation prediction loss, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("the lambda-search plot needs matplotlib: pip install lewm-agents[dev]") from e
    runs = result["runs"]
    lam = [r["lam"] for r in runs]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    good = [(r["lam"], r["score"]) for r in runs if math.isfinite(r["score"])]
    if good:
        ax.plot(*zip(*good), "o-", color="C0", label=result["criterion"])
    for r in runs:
        if r["collapsed"]:
            ax.axvline(r["lam"], color="C3", alpha=0.3, lw=4)
    ax.axvline(result["chosen_lambda"], color="k", ls="--", label=f"chosen {result['chosen_lambda']:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("lambda (SIGReg weight)")
    ax.set_ylabel(result["criterion"])
    ax2 = ax.twinx()
    ax2.plot(lam, [r["val_pred_loss"] for r in runs], "s:", color="C1", alpha=0.7, label="val pred loss")
    ax2.set_ylabel("val pred loss")
    ax.set_title("lambda search (red bands: collapsed)")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
