"""The report of one benchmark cell ``results/<env>/<scale>/``: ``report.md``, PNG plots and a static ``index.html``.

``write_report(results, cell)`` takes the benchmark's results dict (results.json, schema 2 below) and writes into
``cell``: ``report.md`` (results table, protocol card, data, per-method settings), ``plots/*.png`` (success with 95%
intervals, time per decision, training time, parameters, training curves; only where matplotlib is installed) and
``index.html``: one page that opens from disk, with inline CSS, images and videos by relative path, no script and
nothing fetched. ``python -m lewm_agents.report CELL [CELL ...]`` rebuilds cells from their results.json.

Schema 2 (paths relative to the cell; every key but ``methods`` may be missing, unknown keys are ignored)::

    {"schema": 2, "env": "pusht", "env_id": "lewm/PushT-v1", "scale": "smoke", "device": "...", "created": "...",
     "protocol": {"name": "dataset-goal" | "fixed-target" | "ogbench-tasks", "env_id", "env_kwargs", "episodes",
                  "goal_offset", "budget", "seed", "starts_from_training_episodes", "success_rule", "plan": {"solver",
                  "num_samples", "iterations", "topk", "horizon", ...}, "plan_precision", "rendering"},
     "dataset": {"path", "episodes", "frames", "size_mb", "policy", "collect_s"},
     "methods": {"lewm": {"label", "acts": "plan" | "policy" | "random", "success_rate", "successes", "episodes",
                          "ci95": [lo, hi], "plan_ms", "train_s", "eval_s", "steps", "parameters", "checkpoint",
                          "metrics_file", "videos": [...], "hparams": {...}}, ...},
     "figures": [...], "tables": [...]}

Schema 1 (written before the ``schema`` key existed: LeWM and random only, paths relative to the working directory,
one ``train`` and ``parameters`` entry for LeWM) is converted on read by ``upgrade_results``.

Extra sections, so that later parts (diagnostics, latent analyses, the planning frontier) add to the page without
touching this file: two optional lists, each entry placed under its ``section`` heading (default "More"), sections in
order of first appearance, after the built-in ones::

    results["figures"] = [{"title": "Latent map", "path": "analyses/lewm_latent_map.png",   # path: cell-relative
                           "caption": "PCA of ...", "section": "Latent analyses", "method": "lewm"}]
    results["tables"] = [{"title": "Planners", "columns": ["planner", "ms / decision", "success"],
                          "rows": [["cem 300x30", 274.0, "62%"]], "caption": "...", "section": "Planning frontier"}]

``method`` (optional) puts that method's label before the title. Issue 13's diagnostics (section "Diagnostics"),
issue 14's analyses (one figure per method and analysis) and issue 15's Pareto frontier (a figure and a table) take
this shape. A missing image or video file is named on the page instead of showing a broken element.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
from pathlib import Path, PurePath, PurePosixPath
from typing import Any
from urllib.parse import quote

from lewm_agents.eval_protocols import PROTOCOLS as EVAL_PROTOCOLS

SCHEMA = 2
NA = "–"
LABELS = {"lewm": "LeWM", "pldm": "PLDM-style", "dreamer": "Dreamer-style", "tdmpc": "TD-MPC-style", "gcbc": "GCBC"}
COLORS = {"lewm": "#1f77b4", "pldm": "#ff7f0e", "dreamer": "#2ca02c", "tdmpc": "#d62728", "gcbc": "#9467bd",
          "random": "#8c8c8c"}  # fmt: skip
_MORE_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#17becf")
PROTOCOLS = {name: p.description for name, p in EVAL_PROTOCOLS.items()}
COLUMNS = ("method", "label", "acts", "success", "95% CI", "parameters", "training time", "ms / decision", "steps")
"""Columns of the results table (report.md and index.html)."""
NUMERIC = frozenset({5, 6, 7, 8})
"""Right-aligned columns of the results table."""
_VIDEO_NAME = re.compile(r"_ep(\d+)_(success|fail)\.\w+$")


def _num(x: Any) -> float | None:
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    return float(x) if ok else None


def _seconds(s: Any) -> str:
    s = _num(s)
    if not s:  # None or 0: nothing trained
        return NA
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _ms(ms: Any) -> str:
    ms = _num(ms)
    if ms is None:
        return NA
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"


def _count(x: Any) -> str:
    x = _num(x)
    return f"{int(x):,}" if x else NA


def _value(v: Any) -> str:
    """A table cell or setting from any JSON value."""
    if v is None:
        return NA
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(", ", ": "))
    return str(v)


def _ci(m: dict[str, Any]) -> tuple[float, float] | None:
    ci = m.get("ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_num(c) is not None for c in ci):
        return float(ci[0]), float(ci[1])
    return None


def label(name: str, m: dict[str, Any]) -> str:
    return str(m.get("label") or LABELS.get(name, name))


def color(name: str, index: int) -> str:
    return COLORS.get(name, _MORE_COLORS[index % len(_MORE_COLORS)])


# ---------------------------------------------------------------------------------------------------------- reading
def _cell_relative(path: str, env: str, scale: str) -> str:
    """A schema-1 path (relative to the working directory, or absolute) made relative to its ``<env>/<scale>`` cell."""
    parts = PurePath(path).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == env and parts[i + 1] == scale:
            return str(PurePosixPath(*parts[i + 2 :]))
    return path


def upgrade_results(results: dict[str, Any]) -> dict[str, Any]:
    """The results in schema 2: a schema-1 dict (no ``"schema"`` key) is converted, schema 2 is returned as is."""
    version = results.get("schema", 1)
    if version == SCHEMA:
        return results
    if version != 1:
        raise ValueError(
            f"results.json has schema {version!r}, which this version of lewm_agents.report cannot read (it reads "
            f"schemas 1 and {SCHEMA}). Upgrade lewm-agents, or rebuild the cell with the `lewm benchmark` that "
            "wrote it."
        )
    env, scale = str(results.get("env", "")), str(results.get("scale", ""))
    train = results.get("train") or {}
    total = (results.get("parameters") or {}).get("total")
    methods = {}
    for name, m in (results.get("methods") or {}).items():
        trained = name == "lewm" and bool(train.get("checkpoint"))
        ckpt = _cell_relative(train["checkpoint"], env, scale) if trained else None
        methods[name] = {
            **m,
            "label": LABELS.get(name, name),
            "acts": {"lewm": "plan", "random": "random"}.get(name),
            "plan_ms": m.get("plan_ms") or None,  # schema 1 wrote 0.0 where nothing planned
            "steps": train.get("steps") if trained else 0,
            "parameters": total if trained else None,
            "checkpoint": ckpt,
            # schema 1's run directory is <cell>/run with checkpoints/step_* below it
            "metrics_file": str(PurePosixPath(ckpt).parent.parent / "metrics.jsonl") if ckpt else None,
            "videos": [_cell_relative(v, env, scale) for v in m.get("videos") or []],
            "hparams": {},
        }
    # Schema 1 always drew its pairs from the training dataset with the env's own success rule.
    protocol = {"name": "dataset-goal", "starts_from_training_episodes": True, **(results.get("protocol") or {})}
    dataset = dict(results.get("dataset") or {})
    if dataset.get("path"):
        dataset["path"] = _cell_relative(dataset["path"], env, scale)
    return {**results, "schema": SCHEMA, "upgraded_from": 1, "protocol": protocol, "dataset": dataset,
            "methods": methods}  # fmt: skip


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results.json (either schema) as a schema-2 dict."""
    return upgrade_results(json.loads(Path(path).read_text()))


def _check(results: dict[str, Any]) -> None:
    if not isinstance(results.get("methods"), dict):
        raise ValueError(
            "the results dict has no 'methods' mapping (method name -> its results), so there is nothing to report. "
            "Pass the dict the benchmark writes to results.json (schema in lewm_agents/report.py's docstring)."
        )
    bad = [name for name, m in results["methods"].items() if not isinstance(m, dict)]
    if bad:
        raise ValueError(f"results['methods'] entries {bad} are not dicts; each method maps to a dict of its results.")
    for key, need in (("figures", ("title", "path")), ("tables", ("title", "columns", "rows"))):
        entries = results.get(key, [])
        if not isinstance(entries, list):
            raise ValueError(f"results[{key!r}] must be a list of dicts (see lewm_agents/report.py's docstring).")
        for i, entry in enumerate(entries):
            missing = [k for k in need if not isinstance(entry, dict) or k not in entry]
            if missing:
                raise ValueError(
                    f"results[{key!r}][{i}] lacks {missing}: each entry needs {list(need)} (see "
                    "lewm_agents/report.py's docstring). Fix the code that adds this entry."
                )
            if key == "tables":
                bad = [j for j, row in enumerate(entry["rows"]) if len(row) != len(entry["columns"])]
                if bad:
                    raise ValueError(
                        f"results['tables'][{i}] ({entry['title']!r}) has rows {bad} whose length differs from its "
                        f"{len(entry['columns'])} columns; give every row one value per column (None for a blank)."
                    )


def read_metrics_file(path: Path) -> list[dict[str, Any]]:
    """The entries of a metrics.jsonl, skipping a torn last line (kept here so the report never imports torch)."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return [r for r in rows if isinstance(r, dict)]


# --------------------------------------------------------------------------------------------------- shared content
def results_table(results: dict[str, Any]) -> list[list[str]]:
    """One row of strings per method, in COLUMNS order."""
    rows = []
    for name, m in results["methods"].items():
        rate, ci = _num(m.get("success_rate")), _ci(m)
        success = NA if rate is None else f"{100 * rate:.1f}%"
        if rate is not None and isinstance(m.get("successes"), int) and isinstance(m.get("episodes"), int):
            success += f" ({m['successes']}/{m['episodes']})"
        rows.append([
            name, label(name, m), str(m.get("acts") or NA), success,
            NA if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]",
            _count(m.get("parameters")), _seconds(m.get("train_s")), _ms(m.get("plan_ms")), _count(m.get("steps")),
        ])  # fmt: skip
    return rows


def protocol_card(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs saying how the numbers were produced; missing entries are left out."""
    p, d = results.get("protocol") or {}, results.get("dataset") or {}
    card: list[tuple[str, str]] = []
    if p.get("name"):
        card.append(("protocol", f"{p['name']}: {PROTOCOLS[p['name']]}" if p["name"] in PROTOCOLS else p["name"]))
    for key, name, unit in (("episodes", "episodes", ""), ("goal_offset", "goal offset", " env steps"),
                            ("budget", "budget", " env steps per episode"), ("seed", "seed", "")):  # fmt: skip
        if p.get(key) is not None:
            card.append((name, f"{p[key]}{unit}"))
    if p.get("plan_precision"):
        card.append(("precision", str(p["plan_precision"])))
    starts = p.get("starts_from_training_episodes")
    if starts is not None:
        card.append(("starts from training episodes", "yes" if starts else "no (held-out episodes)"))
    plan = p.get("plan") or {}
    if plan:
        main = f"{plan.get('solver', '?')}"
        if plan.get("num_samples") and plan.get("iterations"):
            main += f", {plan['num_samples']} samples × {plan['iterations']} iterations"
        main += "".join(f", {k} {plan[k]}" for k in ("topk", "horizon") if plan.get(k) is not None)
        rest = [f"{k} {_value(v)}" for k, v in plan.items() if k not in ("solver", "num_samples", "iterations",
                                                                          "topk", "horizon")]  # fmt: skip
        card.append(("planner", main + (f" ({', '.join(rest)})" if rest else "")))
    if "success_rule" in p or p.get("name") == "dataset-goal":
        card.append(("success rule", p.get("success_rule") or "the env's own (terminated with info['is_success'])"))
    if p.get("rendering"):
        card.append(("rendering", str(p["rendering"])))
    if isinstance(p.get("env_kwargs"), dict):
        kwargs = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in p["env_kwargs"].items())
        card.append(("env kwargs", kwargs or "none"))
    if d:
        data = ", ".join(s for s in (
            f"{d['episodes']:,} episodes" if _num(d.get("episodes")) else "",
            f"{d['frames']:,} frames" if _num(d.get("frames")) else "",
            f"{d['size_mb']:.1f} MB" if _num(d.get("size_mb")) else "",
            f"policy {d['policy']}" if d.get("policy") else "",
            f"collected in {_seconds(d['collect_s'])}" if _num(d.get("collect_s")) else "",
        ) if s)  # fmt: skip
        card.append(("data", data or NA))
    for key in ("env_id", "device", "created"):
        if results.get(key):
            card.append((key.replace("_", " "), str(results[key])))
    return card


def render_summary(results: dict[str, Any]) -> str:
    """The results table and the protocol card as Markdown (what `lewm benchmark` prints)."""
    results = upgrade_results(results)
    _check(results)
    lines = [f"# {results.get('env', '?')} / {results.get('scale', '?')}", ""]
    lines += _md_table(list(COLUMNS), results_table(results), NUMERIC)
    return "\n".join([*lines, "", *(f"- {k}: {v}" for k, v in protocol_card(results))]) + "\n"


def _episode(path: str) -> int | None:
    m = _VIDEO_NAME.search(path)
    return int(m.group(1)) if m else None


def _link(path: str, cell: Path) -> str:
    """A path for a link from the cell: relative as given; absolute made relative when inside the cell."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(cell.resolve()).as_posix()
    except ValueError:
        return p.as_uri()


def _video_caption(path: str) -> str:
    m = _VIDEO_NAME.search(path)
    return f"episode {int(m.group(1))}, {m.group(2)}" if m else PurePosixPath(path).name


def _metric_names(rows: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(k for k in r if k != "step"))
    return list(names)


# ------------------------------------------------------------------------------------------------------------ plots
def _figure(width: float, height: float) -> Any:
    # Figure without pyplot: no global backend switch, no figure manager to close (PNG through Agg).
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=120, layout="constrained")


def _tex_safe(text: str) -> str:
    return text.replace("$", r"\$")  # matplotlib reads $...$ as math


def _barh(results: dict[str, Any], key: str, path: Path, xlabel: str, fmt: Any, log: bool = False) -> Path | None:
    """Horizontal bars of ``methods[*][key]``, one per method with a positive value; the others are named above."""
    from matplotlib.ticker import EngFormatter

    items = [(n, m, _num(m.get(key))) for n, m in results["methods"].items()]
    shown = [(i, n, m, v) for i, (n, m, v) in enumerate(items) if v]
    if not shown:
        return None
    values = [v for *_, v in shown]
    divisor, unit = 1.0, ""
    if key == "train_s":  # seconds, minutes or hours, whichever reads best
        divisor, unit = next(
            (d, u) for d, u in ((3600.0, "h"), (60.0, "min"), (1.0, "s")) if max(values) >= 5 * d or d == 1
        )
        xlabel = f"{xlabel} ({unit})"
    fig = _figure(4.6, 0.75 + 0.3 * len(shown))
    ax = fig.subplots()
    ys = list(range(len(shown)))
    ax.barh(ys, [v / divisor for v in values], color=[color(n, i) for i, n, _, _ in shown], height=0.6)
    for y, v in zip(ys, values):
        ax.annotate(fmt(v), (v / divisor, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(ys, [_tex_safe(label(n, m)) for _, n, m, _ in shown])
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    elif key == "parameters":
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.margins(x=0.3)
    ax.set_xlabel(xlabel)
    left_out = [label(n, m) for n, m, v in items if not v]
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
    fig = _figure(4.6, 0.75 + 0.3 * len(items))
    ax = fig.subplots()
    ys = list(range(len(items)))
    rates = [r for *_, r in items]
    cis = [_ci(m) or (r, r) for _, _, m, r in items]
    err = [[r - lo for r, (lo, _) in zip(rates, cis)], [hi - r for r, (_, hi) in zip(rates, cis)]]
    ax.barh(ys, rates, xerr=err, capsize=3, color=[color(n, i) for i, n, _, _ in items], height=0.6,
            error_kw={"elinewidth": 1, "ecolor": "0.2"})  # fmt: skip
    for y, r, (_, hi) in zip(ys, rates, cis):
        ax.annotate(f"{100 * r:.0f}%", (hi, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(ys, [_tex_safe(label(n, m)) for _, n, m, _ in items])
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


def method_settings(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs of one method: how it acts, its checkpoint and run, then its hyper-parameters."""
    out = [(k, str(m[k])) for k in ("acts", "checkpoint", "metrics_file") if m.get(k)]
    if _num(m.get("eval_s")) is not None:
        out.append(("evaluation time", _seconds(m["eval_s"]) if m["eval_s"] else "0 s"))
    hp = m.get("hparams")
    return out + ([(str(k), _value(v)) for k, v in hp.items()] if isinstance(hp, dict) else [])


def _sections(results: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Extra figures and tables grouped by section, in order of first appearance."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for key in ("figures", "tables"):
        for entry in results.get(key, []):
            out.setdefault(str(entry.get("section") or "More"), {"figures": [], "tables": []})[key].append(entry)
    return out


def _entry_title(entry: dict[str, Any], results: dict[str, Any]) -> str:
    name = entry.get("method")
    if name is None:
        return str(entry["title"])
    return f"{label(name, results['methods'].get(name, {}))}: {entry['title']}"


# --------------------------------------------------------------------------------------------------------- markdown
def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(columns: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> list[str]:
    head = ["| " + " | ".join(_md(c) for c in columns) + " |"]
    head.append("|" + "".join("---:|" if j in numeric else "---|" for j in range(len(columns))))
    return head + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]


def render_markdown(
    results: dict[str, Any], plots: dict[str, Path], curves: dict[str, list[dict[str, Any]]], cell: Path
) -> str:
    """report.md: the results table, the protocol card, plots, training metrics, videos, settings, extra sections."""
    methods = results["methods"]
    lines = [f"# {results.get('env', '?')} / {results.get('scale', '?')}", ""]
    lines += _md_table(list(COLUMNS), results_table(results), NUMERIC)
    lines += ["", "ms / decision: wall time of one planning (or acting) call divided by the envs it served.", ""]
    lines += ["## Protocol", ""] + [f"- **{k}**: {v}" for k, v in protocol_card(results)]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem.replace('_', ' ')}]({k})" for k, p in plots.items()]
    logged = [(n, _metric_names(curves[n])) for n in methods if curves.get(n)]
    if logged:
        lines += ["", "## Training metrics", "", "Logged per step (the plot shows `loss`):", ""]
        lines += [f"- {label(n, methods[n])}: " + ", ".join(f"`{k}`" for k in ks) for n, ks in logged]
    videos = [(n, m["videos"]) for n, m in methods.items() if m.get("videos")]
    if videos:
        lines += ["", "## Videos (agent view | goal)", ""]
        lines += [
            f"- {label(n, methods[n])}: " + ", ".join(f"[{_video_caption(v)}]({_link(v, cell)})" for v in vs)
            for n, vs in videos
        ]
    lines += ["", "## Methods"]
    for name, m in methods.items():
        lines += ["", f"### {label(name, m)} (`{name}`)", ""] + [f"- {k}: {v}" for k, v in method_settings(m)]
    for title, sec in _sections(results).items():
        lines += ["", f"## {title}"]
        for f in sec["figures"]:
            lines += ["", f"![{_md(_entry_title(f, results))}]({_link(str(f['path']), cell)})"] + (
                ["", str(f["caption"])] if f.get("caption") else []
            )
        for t in sec["tables"]:
            lines += ["", f"**{_entry_title(t, results)}**", ""]
            lines += _md_table([str(c) for c in t["columns"]], [[_value(v) for v in r] for r in t["rows"]])
            lines += ["", str(t["caption"])] if t.get("caption") else []
    if results.get("upgraded_from"):
        lines += ["", f"(Converted from results schema {results['upgraded_from']}.)"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------- html
CSS = """
:root { --fg: #1d2330; --muted: #5d6678; --line: #e2e5eb; --bg: #f5f6f8; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); background: var(--bg); }
main { max-width: 1320px; margin: 0 auto; padding: 22px 28px 40px; }
h1 { font-size: 26px; margin: 0; } h1 small { font-size: 15px; font-weight: 400; color: var(--muted); }
.sub { margin: 4px 0 0; color: var(--muted); }
section { margin-top: 26px; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
dl.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); grid-auto-flow: row dense;
        gap: 8px 22px; margin: 0; }
dl.kv dt { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
dl.kv dd { margin: 1px 0 0; overflow-wrap: anywhere; } dl.kv .wide { grid-column: 1 / -1; }
dl.compact { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 14px; }
dl.compact div { display: contents; } dl.compact dt { color: var(--muted); }
dl.compact dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); font-variant-numeric: tabular-nums; }
table.extra { width: auto; min-width: 40%; }
th, td { padding: 7px 11px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); background: #fafbfc; }
.num { text-align: right; } tr.best td { font-weight: 600; }
.bar { display: inline-block; position: relative; width: 84px; height: 9px; margin-right: 8px; vertical-align: middle;
       background: #eceff3; border-radius: 5px; }
.bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--c); border-radius: 5px; }
.bar .ci { position: absolute; top: 4px; height: 1px; background: #000; opacity: .7; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; background: var(--c); margin-right: 6px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(var(--min, 360px), 100%), 1fr)); gap: 14px;
        align-items: start; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
figure img { display: block; width: auto; max-width: 100%; height: auto; margin: 0 auto; }
figure video { display: block; width: 100%; height: auto; }
video { image-rendering: pixelated; background: #111; border-radius: 4px; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; } figcaption strong { color: var(--fg); }
.note { font-size: 13px; color: var(--muted); margin: 6px 0 0; }
.missing { padding: 24px 12px; text-align: center; color: #8a5a00; background: #fff8e6; border-radius: 4px; }
code { font-size: 13px; } a { color: #1f5fa8; }
footer { margin-top: 32px; font-size: 13px; color: var(--muted); }
"""


def _url(path: str, cell: Path) -> str:
    link = _link(path, cell)
    return html.escape(link if link.startswith("file:") else quote(link))


def _img(path: str, alt: str, cell: Path) -> str:
    if not (cell / path).is_file():
        return f'<div class="missing">image not found: <code>{html.escape(path)}</code></div>'
    return f'<img src="{_url(path, cell)}" alt="{html.escape(alt)}" loading="eager">'


def _video(path: str, cell: Path) -> str:
    if not (cell / path).is_file():
        return f'<div class="missing">video not found: <code>{html.escape(path)}</code></div>'
    return f'<video src="{_url(path, cell)}" controls muted loop playsinline preload="auto"></video>'


def _kv(pairs: list[tuple[str, str]], wide: tuple[str, ...] = (), cls: str = "kv") -> str:
    items = "".join(
        f"<div{' class=wide' if k in wide else ''}><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>"
        for k, v in pairs
    )
    return f'<dl class="{cls}">{items}</dl>'


def _extra_table(columns: list[Any], rows: list[list[Any]]) -> str:
    """An extension table; columns whose values are all numbers are right-aligned."""
    numeric = {j for j in range(len(columns)) if all(_num(r[j]) is not None or r[j] is None for r in rows)}
    head = "".join(
        f"<th{' class=num' if j in numeric else ''}>{html.escape(str(c))}</th>" for j, c in enumerate(columns)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if j in numeric else ''}>{html.escape(_value(v))}</td>" for j, v in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table class="extra"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _results_html(results: dict[str, Any]) -> str:
    """The results table, with a swatch per method and a small success bar with its interval."""
    e, methods, numeric = html.escape, results["methods"], NUMERIC
    rates = [_num(m.get("success_rate")) for m in methods.values()]
    best = max((r for r in rates if r is not None), default=None)
    head = "".join(f"<th{' class=num' if j in numeric else ''}>{e(c)}</th>" for j, c in enumerate(COLUMNS))
    body = []
    for i, ((name, m), row, rate) in enumerate(zip(methods.items(), results_table(results), rates)):
        cells = [f"<td{' class=num' if j in numeric else ''}>{e(c)}</td>" for j, c in enumerate(row)]
        cells[1] = f'<td><span class="sw" style="--c:{color(name, i)}"></span>{e(row[1])}</td>'
        if rate is not None:
            lo, hi = _ci(m) or (rate, rate)
            bar = (
                f'<span class="bar" style="--c:{color(name, i)}"><span class="fill" style="width:{100 * rate:.1f}%">'
                f'</span><span class="ci" style="left:{100 * lo:.1f}%;width:{100 * (hi - lo):.1f}%"></span></span>'
            )
            cells[3] = f"<td>{bar}{e(row[3])}</td>"
        best_row = rate is not None and rate == best and len(methods) > 1
        body.append(f'<tr data-method="{e(name)}"{" class=best" if best_row else ""}>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="results"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')  # fmt: skip


def _videos_html(methods: dict[str, Any], cell: Path) -> str:
    """One video per method (its lowest episode, so every method shows the same start and goal), links to the rest."""
    e, vids, shown = html.escape, [], set()
    for i, (name, m) in enumerate(methods.items()):
        paths = [str(v) for v in m.get("videos") or []]
        if not paths:
            continue
        first = min(paths, key=lambda v: math.inf if _episode(v) is None else _episode(v))
        shown.add(_episode(first))
        more = ", ".join(f'<a href="{_url(v, cell)}">{e(_video_caption(v))}</a>' for v in paths if v != first)
        vids.append(
            f'<figure data-method="{e(name)}">{_video(first, cell)}<figcaption><span class="sw" '
            f'style="--c:{color(name, i)}"></span><strong>{e(label(name, m))}</strong>: {e(_video_caption(first))}'
            + (f"<br>more: {more}" if more else "")
            + "</figcaption></figure>"
        )
    if not vids:
        return ""
    note = "agent view | goal"
    if len(vids) > 1 and len(shown) == 1 and None not in shown:
        note += f"; episode {shown.pop()} (the same start and goal) for every method"
    return (f'<section id="videos"><h2>Videos <small>({e(note)})</small></h2><div class="grid">{"".join(vids)}</div>'
            "</section>")  # fmt: skip


def _training_html(
    methods: dict[str, Any], plots: dict[str, Path], curves: dict[str, list[dict[str, Any]]], cell: Path
) -> str:
    """The training-curves figure and the metric names each method logs."""
    e = html.escape
    logged = [(n, _metric_names(curves[n])) for n in methods if curves.get(n)]
    key = next((k for k, p in plots.items() if p.name == "training_curves.png"), None)
    if not (key or logged):
        return ""
    fig = (f"<figure>{_img(key, 'training curves', cell)}</figure><p class=note>Per step: <code>loss</code> (light), "
           "its running mean, and <code>val_loss</code> where logged.</p>") if key else ""  # fmt: skip
    listed = "".join(
        f"<li><strong>{e(label(n, methods[n]))}</strong>: " + ", ".join(f"<code>{e(k)}</code>" for k in ks) + "</li>"
        for n, ks in logged
    )
    return (f'<section id="training"><h2>Training curves</h2>{fig}<p class="note">Metrics each method logs:</p>'
            f"<ul class=note>{listed}</ul></section>")  # fmt: skip


def _extras_html(results: dict[str, Any], cell: Path) -> str:
    """The extension sections: results["figures"] and results["tables"] grouped by their section."""
    e, out = html.escape, []
    for title, sec in _sections(results).items():
        figs = "".join(
            f"<figure>{_img(str(f['path']), _entry_title(f, results), cell)}<figcaption><strong>"
            f"{e(_entry_title(f, results))}</strong>"
            + (f"<br>{e(str(f['caption']))}" if f.get("caption") else "")
            + "</figcaption></figure>"
            for f in sec["figures"]
        )
        tables = "".join(
            f"<h3>{e(_entry_title(t, results))}</h3>"
            + _extra_table(t["columns"], t["rows"])
            + (f'<p class="note">{e(str(t["caption"]))}</p>' if t.get("caption") else "")
            for t in sec["tables"]
        )
        grid = f'<div class="grid">{figs}</div>' if figs else ""
        out.append(f'<section class="extra"><h2>{e(title)}</h2>{grid}{tables}</section>')
    return "".join(out)


def render_html(
    results: dict[str, Any], plots: dict[str, Path], curves: dict[str, list[dict[str, Any]]], cell: Path
) -> str:
    """index.html: header, protocol card, results table, plots, videos, training curves, methods, extra sections."""
    e, methods = html.escape, results["methods"]
    env, scale = results.get("env", "?"), results.get("scale", "?")
    sub = " · ".join(str(results[k]) for k in ("env_id", "device", "created") if results.get(k))
    card = [(k, v) for k, v in protocol_card(results) if k not in ("env id", "device", "created")]  # in the header
    out = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(f'{env} / {scale}')}: lewm-agents benchmark</title><style>{CSS}</style></head><body><main>",
        f"<header><h1>{e(str(env))} / {e(str(scale))} <small>lewm-agents benchmark</small></h1>"
        f'<p class="sub">{e(sub)}</p></header>',
        f'<section id="protocol"><h2>Protocol</h2><div class="card">'
        f"{_kv(card, wide=('protocol', 'planner', 'success rule', 'data', 'env kwargs'))}</div></section>",
        f'<section id="results"><h2>Results</h2>{_results_html(results)}<p class="note">Success over the protocol\'s '
        "episodes with its 95% Wilson interval; ms / decision: wall time of one planning (or acting) call divided by "
        "the envs it served; training time: wall clock of the whole run.</p></section>",
    ]
    bars = [(k, p) for k, p in plots.items() if p.name in PLOT_TITLES]
    if bars:
        figs = "".join(f"<figure>{_img(k, PLOT_TITLES[p.name], cell)}<figcaption><strong>{e(PLOT_TITLES[p.name])}"
                       "</strong></figcaption></figure>" for k, p in bars)  # fmt: skip
        out.append(f'<section id="plots"><h2>Plots</h2><div class="grid" style="--min:440px">{figs}</div></section>')
    out += [_videos_html(methods, cell), _training_html(methods, plots, curves, cell)]
    cards = "".join(
        f'<div class="card"><h3><span class="sw" style="--c:{color(n, i)}"></span>{e(label(n, m))} '
        f"<small><code>{e(n)}</code></small></h3>{_kv(method_settings(m), cls='compact')}</div>"
        for i, (n, m) in enumerate(methods.items())
    )
    out.append(f'<section id="methods"><h2>Methods</h2><div class="grid" style="--min:360px">{cards}</div></section>')
    out.append(_extras_html(results, cell))
    links = [
        f'<a href="{f}">{f}</a>' for f in ("results.json", "report.md") if (cell / f).is_file() or f == "report.md"
    ]
    upgraded = f" Converted from results schema {results['upgraded_from']}." if results.get("upgraded_from") else ""
    out.append(f"<footer>Written by <code>lewm_agents.report</code>. Files: {', '.join(links)}.{upgraded}</footer>")
    return "\n".join(out) + "\n</main></body></html>\n"


# -------------------------------------------------------------------------------------------------------------- api
def write_report(results: dict[str, Any], cell: str | Path) -> dict[str, Path]:
    """Write report.md, plots/*.png (with matplotlib) and index.html into ``cell``; returns {cell-relative name: path}.

    Args:
        results: the results dict (schema 2, or schema 1 which is converted); paths in it are relative to ``cell``.
        cell: the benchmark cell directory, ``results/<env>/<scale>/``.
    """
    results = upgrade_results(results)
    _check(results)
    cell = Path(cell)
    cell.mkdir(parents=True, exist_ok=True)
    curves = {
        name: read_metrics_file(cell / str(m["metrics_file"]))
        for name, m in results["methods"].items()
        if m.get("metrics_file")
    }
    plots = {f"plots/{k}": p for k, p in write_plots(results, cell, curves).items()}
    written = {"report.md": cell / "report.md", "index.html": cell / "index.html"}
    written["report.md"].write_text(render_markdown(results, plots, curves, cell), encoding="utf-8")
    written["index.html"].write_text(render_html(results, plots, curves, cell), encoding="utf-8")
    return {**written, **plots}


def main(argv: list[str] | None = None) -> int:
    """``python -m lewm_agents.report CELL [CELL ...]``: rebuild each cell's report from its results.json."""
    cells = sys.argv[1:] if argv is None else argv
    if not cells or any(c.startswith("-") for c in cells):
        print("usage: python -m lewm_agents.report CELL [CELL ...]   (CELL: a results/<env>/<scale>/ directory "
              "holding results.json)", file=sys.stderr)  # fmt: skip
        return 2
    for c in cells:
        written = write_report(load_results(Path(c) / "results.json"), Path(c))
        print(f"{c}: wrote {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
