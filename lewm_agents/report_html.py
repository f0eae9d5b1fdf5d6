"""``index.html`` of a benchmark cell: one page that opens from disk, with inline CSS, images and videos by relative
path, no script and nothing fetched.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lewm_agents.report_plots import PLOT_TITLES
from lewm_agents.report_results import (
    COLUMNS,
    NUMERIC,
    _ci,
    _entry_title,
    _episode,
    _link,
    _metric_names,
    _num,
    _sections,
    _value,
    _video_caption,
    color,
    label,
    method_settings,
    protocol_card,
    results_table,
)

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
        short = row[1].split(" (")[0]  # the full label is the tooltip and in the Methods cards: the table fits
        cells[1] = f'<td title="{e(row[1])}"><span class="sw" style="--c:{color(name, i)}"></span>{e(short)}</td>'
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
