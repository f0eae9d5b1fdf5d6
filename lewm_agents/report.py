"""The report of one benchmark cell ``results/<env>/<scale>/``: ``report.md``, PNG plots and a static ``index.html``.

``write_report(results, cell)`` takes the benchmark's results dict (results.json, schema 2 below) and writes into
``cell``: ``report.md`` (results table, protocol card, data, per-method settings), ``plots/*.png`` (success with 95%
intervals, time per decision, training time, parameters, training curves; only where matplotlib is installed) and
``index.html``: one page that opens from disk, with inline CSS, images and videos by relative path, no script and
nothing fetched. ``lewm report CELL [CELL ...]`` (or ``python -m lewm_agents.report``) rebuilds cells from their
results.json.

This module renders Markdown and writes the files; the rest lives by concept: report_results.py (the schema below,
its conversion, the results table, the protocol card), report_plots.py (the PNGs) and report_html.py (index.html).

Schema 2 (paths relative to the cell; every key but ``methods`` may be missing, unknown keys are ignored)::

    {"schema": 2, "env": "pusht", "env_id": "lewm/PushT-v1", "scale": "smoke", "device": "...", "created": "...",
     "protocol": {"name": "dataset-goal" | "fixed-target" | "ogbench-tasks", "env_id", "env_kwargs", "episodes",
                  "goal_offset", "budget", "seed", "starts_from_training_episodes", "success_rule", "plan": {"solver",
                  "num_samples", "iterations", "topk", "horizon", ...}, "plan_precision", "rendering"},
     "dataset": {"path", "episodes", "frames", "size_mb", "policy", "collect_s"},
     "methods": {"lewm": {"label", "acts": "plan" | "policy" | "random", "success_rate", "successes", "episodes",
                          "ci95": [lo, hi], "plan_ms", "train_s", "eval_s", "steps", "parameters", "checkpoint",
                          "metrics_file", "videos": [...], "hparams": {...}},
                 "tdmpc@native": {..., "trained_as": "tdmpc", "plan": {"solver": "mppi", ...}}, ...},
     "figures": [...], "tables": [...]}

A row ``<method>@<variant>`` is one method's run evaluated another way (the benchmark's ``@native`` rows: the
method's own planner, ``plan``); ``trained_as`` names the row whose run it shares, so its training curves, time and
parameters are drawn once, with that row.

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

import sys
from pathlib import Path
from typing import Any

from lewm_agents.report_html import render_html
from lewm_agents.report_plots import PLOT_TITLES, write_plots
from lewm_agents.report_results import (
    COLORS,
    COLUMNS,
    LABELS,
    NA,
    NUMERIC,
    PROTOCOLS,
    SCHEMA,
    _check,
    _entry_title,
    _link,
    _metric_names,
    _sections,
    _value,
    _video_caption,
    color,
    label,
    load_results,
    method_settings,
    protocol_card,
    read_metrics_file,
    results_table,
    shares_training,
    upgrade_results,
)

__all__ = [
    "COLORS",
    "COLUMNS",
    "LABELS",
    "NA",
    "NUMERIC",
    "PLOT_TITLES",
    "PROTOCOLS",
    "SCHEMA",
    "color",
    "label",
    "load_results",
    "main",
    "method_settings",
    "protocol_card",
    "read_metrics_file",
    "render_html",
    "render_markdown",
    "render_summary",
    "results_table",
    "shares_training",
    "upgrade_results",
    "write_plots",
    "write_report",
]


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


def render_summary(results: dict[str, Any]) -> str:
    """The results table and the protocol card as Markdown (what `lewm benchmark` prints)."""
    results = upgrade_results(results)
    _check(results)
    lines = [f"# {results.get('env', '?')} / {results.get('scale', '?')}", ""]
    lines += _md_table(list(COLUMNS), results_table(results), NUMERIC)
    return "\n".join([*lines, "", *(f"- {k}: {v}" for k, v in protocol_card(results))]) + "\n"


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
        if m.get("metrics_file") and not shares_training(name, results)  # a shared run's curves are drawn once
    }
    plots = {f"plots/{k}": p for k, p in write_plots(results, cell, curves).items()}
    kept = cell / "plots" / "training_curves.png"
    if not any(curves.values()) and kept.exists():  # a published copy of a cell (runs/ left out) keeps its curves
        plots["plots/training_curves.png"] = kept
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
