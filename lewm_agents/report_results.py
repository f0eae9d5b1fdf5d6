"""The results of one benchmark cell as its report reads them: the results.json schema (documented in
lewm_agents/report.py), the conversion of schema 1, and what every rendering shares: value formatting, method
labels and colours, the results table, the protocol card, method settings and the extra sections.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

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
_PLAN_SUMMARY = ("solver", "num_samples", "iterations", "topk", "horizon", "receding_horizon", "temperature")
"""The planner fields a row with its own planner shows in its settings."""
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
    """A row's colour: its method's; a variant row ``<method>@<variant>`` (tdmpc@native) a lighter shade of it."""
    if name in COLORS:
        return COLORS[name]
    base = name.partition("@")[0]
    if base != name and base in COLORS:
        rgb = [int(COLORS[base][i : i + 2], 16) for i in (1, 3, 5)]
        return "#" + "".join(f"{round(c + 0.45 * (255 - c)):02x}" for c in rgb)  # 45% of the way to white
    return _MORE_COLORS[index % len(_MORE_COLORS)]


def shares_training(name: str, results: dict[str, Any]) -> bool:
    """Whether row ``name`` reuses another reported row's run (a ``<method>@native`` row: ``trained_as``), so its
    training time, parameters and curves are that row's and are drawn once."""
    trained_as = results["methods"][name].get("trained_as")
    return isinstance(trained_as, str) and trained_as != name and trained_as in results["methods"]


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
        own = [
            n for n, m in results.get("methods", {}).items() if isinstance(m, dict) and isinstance(m.get("plan"), dict)
        ]
        note = f"; {', '.join(own)} plan with their method's own planner (in their settings)" if own else ""
        card.append(("planner", main + (f" ({', '.join(rest)})" if rest else "") + note))
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


def method_settings(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs of one method: how it acts, its checkpoint and run, then its hyper-parameters."""
    out = [(k, str(m[k])) for k in ("acts", "checkpoint", "metrics_file") if m.get(k)]
    if m.get("trained_as"):
        out.append(("run", f"{m['trained_as']}'s (the same weights, evaluated with the planner below)"))
    plan = m.get("plan")
    if isinstance(plan, dict) and plan:
        out.append(("planner", ", ".join(f"{k} {_value(v)}" for k, v in plan.items() if k in _PLAN_SUMMARY)))
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
