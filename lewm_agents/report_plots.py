"""The PNG plots of a benchmark cell's report (only where matplotlib is installed): success with 95% intervals, time
per decision, training time, parameters and training curves, under ``cell/plots``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lewm_agents.report_results import _ci, _count, _ms, _num, _seconds, color, label, shares_training


def _figure(width: float, height: float) -> Any:
    # Figure without pyplot: no global backend switch, no figure manager to close (PNG through Agg).
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=120, layout="constrained")


def _tex_safe(text: str) -> str:
    return text.replace("$", r"\$")  # matplotlib reads $...$ as math


def _tick(name: str, m: dict[str, Any]) -> str:
    """A method's axis label: its display label up to the first parenthesis ("PLDM-style (VICReg-family ...)" ->
    "PLDM-style"); the full label is in the report's table. Long labels would squeeze the plot area to nothing."""
    return _tex_safe(label(name, m).split(" (")[0])


def _width(ticks: list[str]) -> float:
    """Figure width in inches: 4.6, plus room for tick labels longer than the method names ("TD-MPC-style, native
    MPPI"), so that the plot area keeps its size."""
    return 4.6 + 0.07 * max(0, max(map(len, ticks), default=0) - 14)


def _barh(results: dict[str, Any], key: str, path: Path, xlabel: str, fmt: Any, log: bool = False) -> Path | None:
    """Horizontal bars of ``methods[*][key]``, one per method with a positive value; the others are named above."""
    from matplotlib.ticker import EngFormatter

    shared = key in ("train_s", "parameters")  # a row that reuses another row's run would repeat its bar
    items = [(n, m, _num(m.get(key))) for n, m in results["methods"].items()
             if not (shared and shares_training(n, results))]  # fmt: skip
    index = {n: i for i, n in enumerate(results["methods"])}
    shown = [(index[n], n, m, v) for n, m, v in items if v]
    if not shown:
        return None
    values = [v for *_, v in shown]
    divisor, unit = 1.0, ""
    if key == "train_s":  # seconds, minutes or hours, whichever reads best
        divisor, unit = next(
            (d, u) for d, u in ((3600.0, "h"), (60.0, "min"), (1.0, "s")) if max(values) >= 5 * d or d == 1
        )
        xlabel = f"{xlabel} ({unit})"
    ticks = [_tick(n, m) for _, n, m, _ in shown]
    fig = _figure(_width(ticks), 0.75 + 0.3 * len(shown))
    ax = fig.subplots()
    ys = list(range(len(shown)))
    ax.barh(ys, [v / divisor for v in values], color=[color(n, i) for i, n, _, _ in shown], height=0.6)
    for y, v in zip(ys, values):
        ax.annotate(fmt(v), (v / divisor, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(ys, ticks)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    elif key == "parameters":
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.margins(x=0.3)
    ax.set_xlabel(xlabel)
    left_out = [label(n, m).split(" (")[0] for n, m, v in items if not v]
    if left_out:
        ax.set_title(_tex_safe("not applicable: " + ", ".join(left_out)), fontsize=8, loc="left", color="0.4")
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path)
    return path


def _success_plot(results: dict[str, Any], path: Path) -> Path | None:
    items = [(i, n, m, _num(m.get("success_rate"))) for i, (n, m) in enumerate(results["methods"].items())]
    items = [t for t in items if t[3] is not None]
    if not items:
        return None
    ticks = [_tick(n, m) for _, n, m, _ in items]
    fig = _figure(_width(ticks), 0.75 + 0.3 * len(items))
    ax = fig.subplots()
    ys = list(range(len(items)))
    rates = [r for *_, r in items]
    cis = [_ci(m) or (r, r) for _, _, m, r in items]
    err = [[r - lo for r, (lo, _) in zip(rates, cis)], [hi - r for r, (_, hi) in zip(rates, cis)]]
    ax.barh(ys, rates, xerr=err, capsize=3, color=[color(n, i) for i, n, _, _ in items], height=0.6,
            error_kw={"elinewidth": 1, "ecolor": "0.2"})  # fmt: skip
    for y, r, (_, hi) in zip(ys, rates, cis):
        ax.annotate(f"{100 * r:.0f}%", (hi, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(ys, ticks)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("success rate (bars: 95% interval)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path)
    return path


def _curves_plot(curves: dict[str, list[dict[str, Any]]], results: dict[str, Any], path: Path) -> Path | None:
    """One panel per method: per-step ``loss`` (light), its running mean, and ``val_loss`` where logged."""
    names = [n for n in results["methods"] if any(_num(r.get("loss")) is not None for r in curves.get(n, []))]
    if not names:
        return None
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure(4.2 * cols, 2.7 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        m, i = results["methods"][name], list(results["methods"]).index(name)
        pts = [(r.get("step", j + 1), _num(r.get("loss"))) for j, r in enumerate(curves[name])]
        steps, loss = zip(*[(s, v) for s, v in pts if v is not None])
        win = max(1, len(loss) // 40)
        mean = [
            sum(loss[max(0, j - win + 1) : j + 1]) / len(loss[max(0, j - win + 1) : j + 1]) for j in range(len(loss))
        ]
        ax.plot(steps, loss, color=color(name, i), alpha=0.25, lw=0.8)
        ax.plot(steps, mean, color=color(name, i), lw=1.6, label="loss" + (f" (mean of {win})" if win > 1 else ""))
        val = [(r.get("step"), _num(r.get("val_loss"))) for r in curves[name] if _num(r.get("val_loss")) is not None]
        if val:
            ax.plot(*zip(*val), "o--", color="0.25", ms=3, lw=1, label="val_loss")
        if min(loss) > 0 and (not val or min(v for _, v in val) > 0):
            ax.set_yscale("log")
        ax.set_title(_tex_safe(label(name, m)), fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.savefig(path)
    return path


def write_plots(results: dict[str, Any], cell: Path, curves: dict[str, list[dict[str, Any]]]) -> dict[str, Path]:
    """The PNGs under ``cell/plots`` (an empty dict where matplotlib is not installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # plots are optional: pip install lewm-agents[all] or [dev]
        return {}
    out = cell / "plots"
    out.mkdir(parents=True, exist_ok=True)
    made = {
        "success.png": _success_plot(results, out / "success.png"),
        "decision_ms.png": _barh(
            results, "plan_ms", out / "decision_ms.png", "ms per decision per env (log)", _ms, log=True
        ),
        "train_time.png": _barh(results, "train_s", out / "train_time.png", "training time", _seconds),
        "parameters.png": _barh(results, "parameters", out / "parameters.png", "trainable parameters", _count),
        "training_curves.png": _curves_plot(curves, results, out / "training_curves.png"),
    }
    return {k: v for k, v in made.items() if v is not None}


PLOT_TITLES = {
    "success.png": "Success rate",
    "decision_ms.png": "Time per decision",
    "train_time.png": "Training time",
    "parameters.png": "Parameters",
}
