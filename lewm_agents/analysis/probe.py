"""Physical probing (reference/lewm.md §6.4, the paper's Table 1): how much of the simulator state a frozen encoder's
latent of one frame holds, read out by a linear and by an MLP probe, beside the same architecture at random
initialisation (the floor a probe reaches from the pixels' structure alone).

Targets are what each env declares in its module's ``PROBE_TARGETS`` (envs/*.py: PushT agent xy, block xy, block angle;
TwoRoom agent xy; Reacher joint angles; Cube cube position, end-effector position and arm joints), read from the
dataset's ``state`` (or ``proprio``) column. Angles are probed as (sin, cos). A dataset of an env without a declaration
probes every state dimension.

The probe recipe (the paper does not give one; this one is fixed so that numbers compare across methods and runs):

* data: frames of the dataset's episodes, split **by episode** 80/20 into probe-train and probe-test (seed 0); at
  most ``max_frames`` frames drawn uniformly from each side (seed 0 and 1).
* standardisation: latents and targets are z-scored with the probe-train mean and std; MSE is reported in these
  standardised target units (the paper's scale: a probe that predicts the mean scores 1).
* linear probe: ridge regression in closed form, weight ``ridge * N`` on the squared weights (default 1e-3).
* MLP probe: D -> 256 -> 256 -> targets, ReLU, AdamW (lr 1e-3, weight decay 1e-4), batch 256, 100 epochs, no
  early stopping, initialised and shuffled from seed 0, float32 on the CPU.
* metrics on probe-test frames: MSE (mean, and the std over frames of the per-frame MSE, as the paper's ``±``) and
  Pearson r between prediction and target, averaged over the property's target dimensions.

Dimension letters: N frames, D latent, K target dimensions of one property.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lewm_agents.analysis.trajectories import encode_frames, load_model, random_init_model, sample_frames


@dataclass(frozen=True)
class ProbeRecipe:
    """The fixed probe recipe (module docstring); every field is reported with the results."""

    max_frames: int = 4000
    """Frames drawn from each side of the episode split (probe-train, probe-test)."""
    test_fraction: float = 0.2
    """Fraction of episodes held out for probe-test."""
    ridge: float = 1e-3
    """Linear probe: ridge weight per frame."""
    hidden: int = 256
    """MLP probe: width of its two hidden layers."""
    epochs: int = 100
    """MLP probe: passes over the probe-train frames."""
    lr: float = 1e-3
    """MLP probe: AdamW learning rate."""
    weight_decay: float = 1e-4
    """MLP probe: AdamW weight decay."""
    batch_size: int = 256
    """MLP probe: frames per step."""
    seed: int = 0
    """Seed of the split, the frame draw, the MLP's initialisation and its shuffling."""

    def __post_init__(self) -> None:
        if self.max_frames < 10 or not 0 < self.test_fraction < 1 or self.epochs < 1 or self.hidden < 1:
            raise ValueError("ProbeRecipe needs max_frames >= 10, 0 < test_fraction < 1, epochs >= 1, hidden >= 1.")


Target = tuple[str, tuple[int, ...], str]
"""A probed property: (dataset column, indices into it, "linear" or "angle")."""


def probe_targets(env_id: str, state_dim: int) -> dict[str, Target]:
    """``{property: (column, indices, "linear" | "angle")}`` declared by the env's module as ``PROBE_TARGETS``;
    without a declaration, every state dimension as its own linear property ``state[i]``."""
    try:
        import gymnasium

        import lewm_envs  # noqa: F401  (registers the lewm/* ids)

        module = importlib.import_module(gymnasium.spec(env_id).entry_point.split(":")[0])
        declared = getattr(module, "PROBE_TARGETS", None)
    except (ImportError, gymnasium.error.Error):  # an env this install cannot make: probe the raw state
        declared = None
    if declared:
        return {k: (col, tuple(int(i) for i in idx), kind) for k, (col, idx, kind) in declared.items()}
    return {f"state[{i}]": ("state", (i,), "linear") for i in range(state_dim)}


def target_values(columns: dict[str, np.ndarray], target: Target) -> np.ndarray:
    """Dataset columns ``{name: (N, S)}`` -> a property's targets ``(N, K)``: the indexed entries, angles as
    (sin, cos) pairs."""
    col, indices, kind = target
    x = columns[col][:, list(indices)].astype(np.float64)  # (N, k)
    if kind == "angle":
        return np.concatenate([np.sin(x), np.cos(x)], axis=1)  # (N, 2k)
    return x


def _standardise(fit: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = fit.mean(0), fit.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return [(a - mu) / sd for a in (fit, *others)]


def _pearson(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean over target dimensions of Pearson r (a constant dimension counts as 0)."""
    rs = []
    for k in range(y.shape[1]):
        p, t = pred[:, k] - pred[:, k].mean(), y[:, k] - y[:, k].mean()
        den = np.sqrt((p * p).sum() * (t * t).sum())
        rs.append(float((p * t).sum() / den) if den > 0 else 0.0)
    return float(np.mean(rs))


def _scores(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    per_frame = ((pred - y) ** 2).mean(1)  # (N,)
    return {"mse": float(per_frame.mean()), "mse_std": float(per_frame.std()), "r": _pearson(pred, y)}


def fit_linear(z_fit: np.ndarray, y_fit: np.ndarray, z_test: np.ndarray, ridge: float) -> np.ndarray:
    """Closed-form ridge regression with a bias on standardised inputs; returns test predictions ``(N_test, K)``."""
    X = np.concatenate([z_fit, np.ones((len(z_fit), 1))], axis=1)  # (N, D+1)
    reg = ridge * len(X) * np.eye(X.shape[1])
    reg[-1, -1] = 0.0  # the bias is not shrunk
    W = np.linalg.solve(X.T @ X + reg, X.T @ y_fit)  # (D+1, K)
    return np.concatenate([z_test, np.ones((len(z_test), 1))], axis=1) @ W


def fit_mlp(z_fit: np.ndarray, y_fit: np.ndarray, z_test: np.ndarray, recipe: ProbeRecipe) -> np.ndarray:
    """The MLP probe of the recipe; returns test predictions ``(N_test, K)``."""
    gen = torch.Generator().manual_seed(recipe.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(z_fit.shape[1], recipe.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(recipe.hidden, recipe.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(recipe.hidden, y_fit.shape[1]),
        )
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    X, Y = torch.as_tensor(z_fit, dtype=torch.float32), torch.as_tensor(y_fit, dtype=torch.float32)
    for _ in range(recipe.epochs):
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            loss = torch.nn.functional.mse_loss(net(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return net(torch.as_tensor(z_test, dtype=torch.float32)).numpy().astype(np.float64)


def probe_latents(
    z_fit: np.ndarray,
    cols_fit: dict[str, np.ndarray],
    z_test: np.ndarray,
    cols_test: dict[str, np.ndarray],
    targets: dict[str, Target],
    recipe: ProbeRecipe | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Linear and MLP probes of every property from latents ``(N, D)`` to dataset columns ``{name: (N, S)}``.

    Returns:
        ``{property: {"linear": {"mse", "mse_std", "r"}, "mlp": {...}}}`` on the test frames.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(0, 1, (400, 2)); z = np.concatenate([s, rng.normal(size=(400, 6))], 1)
        >>> xy = {"xy": ("state", (0, 1), "linear")}
        >>> out = probe_latents(z[:300], {"state": s[:300]}, z[300:], {"state": s[300:]}, xy, ProbeRecipe(epochs=2))
        >>> out["xy"]["linear"]["r"] > 0.99
        True
    """
    recipe = recipe or ProbeRecipe()
    zf, zt = _standardise(z_fit, z_test)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, target in targets.items():
        yf, yt = _standardise(target_values(cols_fit, target), target_values(cols_test, target))
        out[name] = {
            "linear": _scores(fit_linear(zf, yf, zt, recipe.ridge), yt),
            "mlp": _scores(fit_mlp(zf, yf, zt, recipe), yt),
        }
    return out


def probe_run(
    run: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    recipe: ProbeRecipe | None = None,
    device: str = "cpu",
    floor: bool = True,
) -> dict[str, Any]:
    """Probe the frozen encoder of ``run`` (a run directory or checkpoint of any method) on ``data`` (default: the
    run's dataset), and the same architecture at random initialisation as the floor.

    Returns:
        ``{"run", "method", "data", "env_id", "frames": {"fit", "test"}, "recipe", "trained": {property: ...},
        "random_init": {...}}`` (see `probe_latents`).
    """
    from lewm_agents.data import DatasetReader, split_episodes

    recipe = recipe or ProbeRecipe()
    model, ckpt = load_model(run, device)
    data = Path(data or ckpt.meta.get("dataset", {}).get("path", ""))
    with DatasetReader(data) as reader:
        if reader.image_size != model.image_size:
            raise ValueError(
                f"{data} holds {reader.image_size}-px frames but the model of {run} takes {model.image_size}-px ones; "
                "probe it on a dataset of its env collected at its image size."
            )
        fit_eps, test_eps = split_episodes(reader.num_episodes, recipe.test_fraction, recipe.seed)
        if not len(test_eps):
            raise ValueError(f"{data} has {reader.num_episodes} episode(s); probing needs >= 2 (split by episode).")
        rows_f, _, state_f = sample_frames(reader, fit_eps, recipe.max_frames, recipe.seed)
        rows_t, _, state_t = sample_frames(reader, test_eps, recipe.max_frames, recipe.seed + 1)
        frames_f, frames_t = reader.frames(rows_f), reader.frames(rows_t)  # (N, h, w, 3)
        env_id = reader.env_id
        targets = probe_targets(env_id, state_f.shape[1])
        cols_f, cols_t = {"state": state_f}, {"state": state_t}
        for col in {t[0] for t in targets.values()} - {"state"}:
            values = reader.column(col)
            cols_f[col], cols_t[col] = values[rows_f], values[rows_t]
    result: dict[str, Any] = {
        "run": str(run),
        "method": ckpt.method,
        "step": int(ckpt.meta.get("step", 0)),
        "data": str(data),
        "env_id": env_id,
        "frames": {"fit": len(rows_f), "test": len(rows_t)},
        "recipe": asdict(recipe),
        "targets": {k: {"column": c, "indices": list(i), "kind": kind} for k, (c, i, kind) in targets.items()},
    }
    encoders = {"trained": model}
    if floor:
        encoders["random_init"] = random_init_model(ckpt, seed=recipe.seed, device=device)
    for key, enc in encoders.items():
        zf = encode_frames(enc, frames_f, device).numpy().astype(np.float64)  # (N, D)
        zt = encode_frames(enc, frames_t, device).numpy().astype(np.float64)
        result[key] = probe_latents(zf, cols_f, zt, cols_t, targets, recipe)
    return result


def probe_table(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One table of several runs' probe results ``{label: probe_run(...)}``, methods side by side per property
    (the shape of the report's ``tables`` entries: title, columns, rows)."""
    rows = []
    for label, r in results.items():
        for prop, by in r["trained"].items():
            floor = r.get("random_init", {}).get(prop)
            row = [prop, label]
            for kind in ("linear", "mlp"):
                s = by[kind]
                row += [f"{s['mse']:.3f} ± {s['mse_std']:.3f}", f"{s['r']:.3f}"]
                row.append(f"{floor[kind]['mse']:.3f} / {floor[kind]['r']:.3f}" if floor else "–")
            rows.append(row)
    rows.sort(key=lambda row: row[0])  # properties together, methods side by side
    return {
        "title": "Physical probes (held-out episodes; MSE in standardised units, Pearson r)",
        "columns": [
            "property",
            "model",
            "linear MSE",
            "linear r",
            "linear floor MSE / r",
            "MLP MSE",
            "MLP r",
            "MLP floor MSE / r",
        ],
        "rows": rows,
        "caption": "Floor: the same encoder at random initialisation. Recipe in lewm_agents/analysis/probe.py.",
    }
