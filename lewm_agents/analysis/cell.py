"""Every analysis for every method of a finished benchmark cell (``make analyses ENV=x SCALE=y``, ``lewm analyses
CELL``): probes (one table, methods side by side), surprise (world models), straightness (one plot of all runs) and
latent maps, written to ``<cell>/analyses/`` (PNGs and analyses.json) and linked from the cell's report through its
``figures`` / ``tables`` keys (section "Latent analyses").

Dimension letters: none (orchestration only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lewm_agents.analysis.latent_map import latent_map
from lewm_agents.analysis.probe import ProbeRecipe, probe_run, probe_table
from lewm_agents.analysis.straightness import checkpoint_straightness, plot_straightness
from lewm_agents.analysis.surprise import surprise_test

SECTION = "Latent analyses"
ANALYSES = ("probe", "surprise", "straightness", "latent-map")


def cell_runs(cell: Path) -> dict[str, Path]:
    """``{method: run directory}`` of the finished-or-not runs under ``<cell>/runs/``, in registry order."""
    from lewm_agents.checkpoint import list_checkpoints
    from lewm_agents.methods import METHODS

    runs = {m: cell / "runs" / m for m in METHODS if list_checkpoints(cell / "runs" / m)}
    if not runs:
        raise ValueError(f"{cell} has no trained run under runs/<method>/; run `lewm benchmark` for this cell first.")
    return runs


def analyse_cell(
    cell: str | os.PathLike,
    *,
    methods: tuple[str, ...] = (),
    analyses: tuple[str, ...] = ANALYSES,
    pairs: int = 50,
    recipe: ProbeRecipe | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Run ``analyses`` on each method's run of ``cell`` (all runs when ``methods`` is empty); returns
    ``{"probe", "surprise", "straightness", "latent_map", "figures", "tables"}`` (paths cell-relative), also written to
    ``<cell>/analyses/analyses.json``; a results.json there gets the figures and tables, and its report is rebuilt."""
    cell = Path(cell)
    runs = cell_runs(cell)
    if methods:
        missing = [m for m in methods if m not in runs]
        if missing:
            raise ValueError(f"{cell} has no run of {missing}; it has runs of {sorted(runs)}.")
        runs = {m: runs[m] for m in methods}
    out = cell / "analyses"
    out.mkdir(parents=True, exist_ok=True)
    data = cell / "dataset.h5"
    data_arg = data if data.exists() else None
    result: dict[str, Any] = {"runs": {m: str(r) for m, r in runs.items()}, "figures": [], "tables": []}

    def fig(entry: dict[str, str], method: str | None) -> dict[str, str]:
        rel = os.path.relpath(entry["path"], cell)
        return {**entry, "path": rel, "section": SECTION, **({"method": method} if method else {})}

    if "probe" in analyses:
        probes = {m: probe_run(r, data_arg, recipe=recipe or ProbeRecipe(), device=device) for m, r in runs.items()}
        table = {**probe_table(probes), "section": SECTION}
        result["probe"], result["tables"] = probes, [*result["tables"], table]
        _write_table(table, out / "probe")
    if "surprise" in analyses:
        result["surprise"] = {}
        rows = []
        for m, r in runs.items():
            try:
                s = surprise_test(r, data_arg, pairs=pairs, device=device, figure=out / f"{m}_surprise.png")
            except ValueError as e:  # a policy method predicts nothing
                result["surprise"][m] = {"skipped": str(e)}
                continue
            result["surprise"][m] = s
            result["figures"] += [fig(f, m) for f in s["figures"]]
            for cond, t in s["tests"].items():
                rows.append([m, cond, s["pairs"], f"{t['mean_diff']:.4g}", f"{t['t']:.2f}", f"{t['p']:.2g}"])
        if rows:
            result["tables"].append(
                {
                    "title": "Violation of expectation: paired t-test at the perturbation step",
                    "columns": ["model", "perturbation", "pairs", "mean surprise increase", "t", "p"],
                    "rows": rows,
                    "section": SECTION,
                }
            )
    if "straightness" in analyses:
        st = {m: checkpoint_straightness(r, data_arg, device=device) for m, r in runs.items()}
        result["straightness"] = st
        result["figures"] += [fig(f, None) for f in plot_straightness(st, out / "straightness.png")]
        result["tables"].append(
            {
                "title": "Temporal straightness (last checkpoint, held-out paths)",
                "columns": ["model", "step", "straightness", "logged at the end of training"],
                "rows": [
                    [
                        m,
                        s["checkpoints"][-1]["step"],
                        f"{s['final']:.3f}",
                        f"{s['logged'][-1]['straightness']:.3f}" if s["logged"] else "–",
                    ]
                    for m, s in st.items()
                ],
                "section": SECTION,
            }
        )
    if "latent-map" in analyses:
        result["latent_map"] = {}
        for m, r in runs.items():
            lm = latent_map(r, device=device, figure=out / f"{m}_latent_map.png")
            result["latent_map"][m] = lm
            result["figures"] += [fig(f, m) for f in lm["figures"]]
    (out / "analyses.json").write_text(json.dumps(result, indent=2, default=str))
    _link_report(cell, result)
    return result


def _write_table(table: dict[str, Any], stem: Path) -> None:
    """A table as Markdown, CSV and JSON beside each other."""
    import csv

    cols, rows = table["columns"], table["rows"]
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] + [
        "| " + " | ".join(map(str, r)) + " |" for r in rows
    ]
    stem.with_suffix(".md").write_text(f"{table['title']}\n\n" + "\n".join(md) + f"\n\n{table.get('caption', '')}\n")
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)
    stem.with_suffix(".json").write_text(json.dumps(table, indent=2))


def _link_report(cell: Path, result: dict[str, Any]) -> None:
    """Put the analyses' figures and tables into ``<cell>/results.json`` (replacing earlier ones of this section) and
    rebuild the report; a cell without results.json (no evaluation yet) is left alone."""
    path = cell / "results.json"
    if not path.exists():
        return
    from lewm_agents.report import load_results, write_report

    results = json.loads(path.read_text())
    for key in ("figures", "tables"):
        kept = [e for e in results.get(key, []) if e.get("section") != SECTION]
        results[key] = kept + result[key]
    path.write_text(json.dumps(results, indent=2))
    write_report(load_results(path), cell)
