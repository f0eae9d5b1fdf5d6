"""The benchmark report: the table it renders from a results dict, schema-1 conversion, extra sections, and the page
in a real headless Chromium (skipped where none is installed).

The browser is driven over the Chrome DevTools protocol on ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-separated JSON): the standard library suffices, so the test needs no driver binary and no Python package.
"""

from __future__ import annotations

import base64
import html
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lewm_agents.report import COLUMNS, load_results, results_table, upgrade_results, write_report

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--mute-audio")  # fmt: skip


def results_v2(**methods_extra: Any) -> dict[str, Any]:
    """A schema-2 results dict like the benchmark's: LeWM that plans, a policy method, and the random row."""
    methods = {
        "lewm": {
            "label": "LeWM", "acts": "plan", "success_rate": 0.62, "successes": 31, "episodes": 50,
            "ci95": [0.4817, 0.7403], "plan_ms": 274.0, "train_s": 109.0, "eval_s": 30.0, "steps": 3000,
            "parameters": 390000, "checkpoint": "runs/lewm/checkpoints/step_00003000",
            "metrics_file": "runs/lewm/metrics.jsonl", "videos": ["videos/lewm_ep000_success.mp4"],
            "hparams": {"lam": 0.09, "num_proj": 1024}, "some_future_key": {"ignored": True},
        },
        "gcbc": {
            "label": "GCBC <b>&</b>", "acts": "policy", "success_rate": 0.3, "successes": 15, "episodes": 50,
            "ci95": [0.191, 0.438], "plan_ms": 0.42, "train_s": 4000.0, "steps": 12000, "parameters": 1234567,
            "metrics_file": "runs/gcbc/metrics.jsonl", "videos": ["videos/gcbc_ep000_fail.mp4"], "hparams": {},
        },
        "random": {
            "label": "random", "acts": "random", "success_rate": 0.04, "successes": 2, "episodes": 50,
            "ci95": [0.011, 0.135], "plan_ms": None, "train_s": 0, "eval_s": 3.0, "steps": 0, "parameters": None,
            "videos": ["videos/random_ep000_fail.mp4"], "hparams": {},
        },
    }  # fmt: skip
    for name, extra in methods_extra.items():
        methods.setdefault(name, {}).update(extra)
    return {
        "schema": 2, "env": "pusht", "env_id": "lewm/PushT-v1", "scale": "smoke", "device": "cpu (test, 1 threads)",
        "created": "2026-11-30T12:00:00+00:00",
        "protocol": {
            "name": "dataset-goal", "episodes": 50, "goal_offset": 25, "budget": 50, "seed": 42,
            "starts_from_training_episodes": True,
            "success_rule": "(agent, block) xy error < 20 and angle error < pi/9",
            "plan": {"solver": "cem", "num_samples": 300, "iterations": 30, "topk": 30, "horizon": 5, "init_std": 1.0},
            "plan_precision": "bf16",
        },
        "dataset": {"path": "dataset.h5", "episodes": 200, "frames": 60000, "size_mb": 1.0, "policy": "pusher",
                    "collect_s": 12.0},
        "methods": methods,
    }  # fmt: skip


class _Cells(HTMLParser):
    """Rows of text cells of the table with a given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.tags = table_id, False, [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.rows and self.rows[-1] and self.tags and self.tags[-1] != "tr":
            self.rows[-1][-1] += data


def page_table(page: Path, table_id: str = "results") -> tuple[list[list[str]], list[str]]:
    parser = _Cells(table_id)
    parser.feed(page.read_text(encoding="utf-8"))
    return [r for r in parser.rows if r], parser.tags


def write_metrics(path: Path, steps: int, names: tuple[str, ...] = ("loss", "pred_loss")) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"step": s, **{k: 1.0 / s + 0.01 * i for i, k in enumerate(names)}} for s in range(1, steps + 1)]
    rows[-1]["val_loss"] = 0.2
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 99, "lo')  # a torn last line


def test_table_cells_escaping_and_unknown_keys(tmp_path):
    written = write_report(results_v2(), tmp_path)
    assert {"report.md", "index.html"} <= set(written)
    rows, tags = page_table(tmp_path / "index.html")
    assert [r[0] for r in rows] == ["lewm", "gcbc", "random"]
    assert all(len(r) == len(COLUMNS) for r in rows)
    lewm, gcbc, rnd = rows
    assert lewm[3:] == ["62.0% (31/50)", "[48.2, 74.0]", "390,000", "1 min 49 s", "274 ms", "3,000"]
    assert gcbc[1] == "GCBC <b>&</b>"  # the label is text on the page ...
    assert gcbc[5:8] == ["1,234,567", "1 h 06 min", "0.42 ms"]
    assert rnd[5:] == ["–", "–", "–", "–"]  # nothing trained, nothing planned
    assert "b" not in tags  # ... and no tag of the page
    assert "GCBC &lt;b&gt;&amp;&lt;/b&gt;" in (tmp_path / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "|---|---|---|---|---|---:|---:|---:|---:|" in md
    assert "| lewm | LeWM | plan | 62.0% (31/50) | [48.2, 74.0] | 390,000 | 1 min 49 s | 274 ms | 3,000 |" in md
    assert "some_future_key" not in md
    assert "angle error < pi/9" in md and "- lam: 0.09" in md


def test_missing_optional_fields(tmp_path):
    results = {"schema": 2, "methods": {"m": {"success_rate": 0.5}, "bare": {}}}
    write_report(results, tmp_path)
    rows, _ = page_table(tmp_path / "index.html")
    assert rows[0][:4] == ["m", "m", "–", "50.0%"] and rows[0][4:] == ["–"] * 5
    assert rows[1][3:] == ["–"] * 6
    with pytest.raises(ValueError, match="no 'methods' mapping"):
        write_report({"schema": 2, "env": "x"}, tmp_path)


def test_plots_and_training_curves(tmp_path):
    pytest.importorskip("matplotlib")
    write_metrics(tmp_path / "runs/lewm/metrics.jsonl", 50, ("loss", "pred_loss", "sigreg_loss"))
    write_metrics(tmp_path / "runs/gcbc/metrics.jsonl", 20, ("loss", "bc_loss"))
    written = write_report(results_v2(), tmp_path)
    names = {"success", "decision_ms", "train_time", "parameters", "training_curves"}
    assert {f"plots/{n}.png" for n in names} <= set(written)
    for n in names:
        assert (tmp_path / f"plots/{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.count('src="plots/') == len(names)
    assert "<code>bc_loss</code>" in page and "<code>sigreg_loss</code>" in page


def test_published_cell_without_runs_keeps_its_training_curves(tmp_path):
    pytest.importorskip("matplotlib")
    write_metrics(tmp_path / "runs/lewm/metrics.jsonl", 50, ("loss", "pred_loss", "sigreg_loss"))
    write_report(results_v2(), tmp_path)
    curves = (tmp_path / "plots/training_curves.png").read_bytes()
    shutil.rmtree(tmp_path / "runs")  # results/<env>/<scale>/ in git: runs/ is left out, the PNG is kept
    written = write_report(results_v2(), tmp_path)
    assert "plots/training_curves.png" in written
    assert (tmp_path / "plots/training_curves.png").read_bytes() == curves
    assert 'src="plots/training_curves.png"' in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_table_shows_the_short_label_with_the_full_one_as_tooltip(tmp_path):
    long = "PLDM-style (VICReg-family objective on the LeWM backbone)"
    write_report(results_v2(gcbc={"label": long}), tmp_path)
    rows, _ = page_table(tmp_path / "index.html")
    assert rows[1][1] == "PLDM-style"
    assert f'title="{long}"' in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_without_matplotlib_the_md_and_html_are_written(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    written = write_report(results_v2(), tmp_path)
    assert set(written) == {"report.md", "index.html"}
    assert not (tmp_path / "plots").exists()
    assert len(page_table(tmp_path / "index.html")[0]) == 3


def test_extra_sections_and_missing_files(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "analyses").mkdir()
    shutil.copy(write_report(results_v2(), tmp_path)["plots/success.png"], tmp_path / "analyses/lewm_map.png")
    results = results_v2()
    results["figures"] = [
        {"title": "Latent map", "path": "analyses/lewm_map.png", "section": "Latent analyses", "method": "lewm"},
        {"title": "Frontier <x>", "path": "pareto/frontier.png", "section": "Planning frontier", "caption": "a & b"},
    ]
    results["tables"] = [
        {"title": "Planners", "columns": ["planner", "ms", "success"], "section": "Planning frontier",
         "rows": [["cem 300x30", 274.0, "62%"], ["policy", 0.5, None]]},
    ]  # fmt: skip
    write_report(results, tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.index("<h2>Latent analyses</h2>") < page.index("<h2>Planning frontier</h2>")
    assert "LeWM: Latent map" in page and 'src="analyses/lewm_map.png"' in page
    assert "image not found: <code>pareto/frontier.png</code>" in page and "Frontier &lt;x&gt;" in page
    assert "video not found: <code>videos/lewm_ep000_success.mp4</code>" in page
    assert "<td>cem 300x30</td><td class=num>274</td><td>62%</td>" in page  # numbers right-aligned
    assert "<td>policy</td><td class=num>0.5</td><td>–</td>" in page
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| cem 300x30 | 274 | 62% |" in md and "| policy | 0.5 | – |" in md
    results["tables"][0]["rows"].append(["too", "short"])
    with pytest.raises(ValueError, match=r"rows \[2\]"):
        write_report(results, tmp_path)


def test_schema_1_results_on_main_convert(tmp_path):
    old = json.loads((REPO / "tests/fixtures/results_schema1_tworoom_small_v0.json").read_text())  # as committed on v0
    new = upgrade_results(old)
    lewm, rnd = new["methods"]["lewm"], new["methods"]["random"]
    assert lewm["videos"][0] == "videos/lewm_ep000_success.mp4"
    assert lewm["metrics_file"] == "run/metrics.jsonl" and lewm["parameters"] == 386734 and lewm["steps"] == 10000
    assert rnd["plan_ms"] is None and rnd["parameters"] is None
    assert new["dataset"]["path"] == "dataset.h5" and new["protocol"]["starts_from_training_episodes"] is True
    assert upgrade_results(new) is new
    before = json.dumps(old)
    write_report(old, tmp_path)
    assert json.dumps(old) == before  # the caller's dict is not changed
    rows, _ = page_table(tmp_path / "index.html")
    assert rows[0][3:] == ["72.0% (36/50)", "[58.3, 82.5]", "386,734", "5 min 39 s", "278 ms", "10,000"]
    # a schema-1 cell as it was committed (results/pusht/smoke before issue 13 re-ran it)
    assert results_table(load_results(REPO / "tests/fixtures/results_schema1_pusht_smoke.json"))[0][3] == "4.0% (2/50)"
    with pytest.raises(ValueError, match="schema 7"):
        upgrade_results({"schema": 7, "methods": {}})


# ---------------------------------------------------------------------------------------------------------- browser
class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4 of the child)."""

    def __init__(self, exe: str, timeout: float = 30.0) -> None:
        self.timeout, self.next_id, self.buffer, self.events = timeout, 0, b"", []
        self.profile = tempfile.mkdtemp(prefix="lewm-chromium-")
        to_child, from_child = os.pipe(), os.pipe()

        def fds_3_and_4() -> None:  # in the child, before exec: the pipe ends where Chromium expects them
            read_end, write_end = os.dup(to_child[0]), os.dup(from_child[1])
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds_3_and_4, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child[0])
        os.close(from_child[1])
        self.write_fd, self.read_fd = to_child[1], from_child[0]

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if not select.select([self.read_fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))

    def open(self, url: str, width: int = 1280, height: int = 900) -> str:
        """A new tab showing ``url`` after its load event; returns the session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)  # fmt: skip
        self.send("Page.navigate", session, url=url)
        self.wait_event("Page.loadEventFired")
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", session, expression=expression, awaitPromise=True, returnByValue=True,
                          userGesture=True)  # fmt: skip
        if "exceptionDetails" in reply:
            raise RuntimeError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, session: str, path: Path) -> None:
        """A PNG of the whole page (the viewport is stretched to the page's height)."""
        size = self.send("Page.getLayoutMetrics", session)["cssContentSize"]
        self.send("Emulation.setDeviceMetricsOverride", session, width=int(size["width"]),
                  height=int(size["height"]), deviceScaleFactor=1, mobile=False)  # fmt: skip
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", session, format="png")["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass  # already gone: the kill below is a no-op
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.write_fd, self.read_fd):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


# Waits for every video's data, plays them all, and reports what the page shows.
PAGE_CHECK = """(async () => {
  const rows = [...document.querySelectorAll("table#results tbody tr")].map(
      tr => [...tr.cells].map(td => td.innerText.trim()));
  const images = [...document.images].map(i => ({src: i.getAttribute("src"), width: i.naturalWidth}));
  const videos = [...document.querySelectorAll("video")];
  await Promise.all(videos.map(v => new Promise(done => {
    if (v.readyState >= 2 || v.error) return done();
    v.addEventListener("loadeddata", done, {once: true});
    v.addEventListener("error", done, {once: true});
    setTimeout(done, 15000);
  })));
  const before = videos.map(v => ({src: v.getAttribute("src"), readyState: v.readyState,
      duration: isFinite(v.duration) ? v.duration : -1, error: v.error ? v.error.code : null, start: v.currentTime}));
  const played = await Promise.all(videos.map(v => v.play().then(() => null, e => String(e))));
  await new Promise(done => setTimeout(done, 600));
  videos.forEach((v, i) => { before[i].advanced = v.currentTime - before[i].start; before[i].playError = played[i];
                             v.pause(); });
  return {rows, images, videos: before};
})()"""


def write_fixture_cell(cell: Path) -> dict[str, Any]:
    """A cell with real tiny MP4s (written by the evaluation's own writer), training metrics and results_v2."""
    from lewm_agents.evaluate import _write_video

    results = results_v2()
    rng = np.random.default_rng(0)
    for i, m in enumerate(results["methods"].values()):
        frames = []
        for t in range(12):  # a square moving right on the left half; the goal on the right half
            f = np.full((32, 64, 3), 235, np.uint8)
            f[10:18, 2 + 2 * t : 10 + 2 * t] = (40 * i, 90, 200)
            f[10:18, 52:60] = (0, 160, 0)
            frames.append(f + rng.integers(0, 8, f.shape, dtype=np.uint8))
        (cell / "videos").mkdir(parents=True, exist_ok=True)
        _write_video(cell / m["videos"][0], frames)
    write_metrics(cell / "runs/lewm/metrics.jsonl", 300, ("loss", "pred_loss", "sigreg_loss"))
    write_metrics(cell / "runs/gcbc/metrics.jsonl", 200, ("loss", "bc_loss"))
    return results


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_page_in_headless_chromium(tmp_path):
    results = write_fixture_cell(tmp_path)
    results["methods"]["gcbc"]["videos"] = [str(tmp_path / "videos/gcbc_ep000_fail.mp4")]  # absolute, in the cell
    write_report(results, tmp_path)
    assert 'src="videos/gcbc_ep000_fail.mp4"' in (tmp_path / "index.html").read_text(encoding="utf-8")
    browser = Chromium(CHROMIUM)
    try:
        session = browser.open((tmp_path / "index.html").as_uri())
        seen = browser.evaluate(session, PAGE_CHECK)
        browser.screenshot(session, tmp_path / "index.png")
    finally:
        browser.close()
    expected = results_table(results)
    assert [r[0] for r in seen["rows"]] == list(results["methods"])
    assert [r[3:] for r in seen["rows"]] == [r[3:] for r in expected], "the table's numbers as rendered"
    assert seen["rows"][1][1] == html.unescape("GCBC <b>&</b>")
    broken = [i["src"] for i in seen["images"] if i["width"] == 0]
    assert not broken, f"images that did not load: {broken}"
    assert len(seen["images"]) == (5 if _has_matplotlib() else 0)
    assert len(seen["videos"]) == len(results["methods"])
    for v in seen["videos"]:
        assert v["error"] is None and v["readyState"] >= 2 and v["duration"] > 0, f"video did not load: {v}"
        assert v["playError"] is None and v["advanced"] > 0, f"video did not play: {v}"
    assert (tmp_path / "index.png").read_bytes()[:4] == b"\x89PNG"


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_plot_axis_labels_drop_the_parenthesised_part_of_long_method_labels():
    from lewm_agents.report_plots import _tick

    assert _tick("pldm", {"label": "PLDM-style (VICReg-family objective on the LeWM backbone)"}) == "PLDM-style"
    assert _tick("x", {"label": "cost $5"}) == r"cost \$5"


def test_a_row_that_shares_a_run_is_reported_with_its_planner_and_its_run_drawn_once(tmp_path):
    """The benchmark's ``tdmpc@native`` row: its own success, time per decision, videos and planner; the training
    run, curves, time and parameters are its method's, drawn once."""
    from lewm_agents.report_results import color, shares_training

    shared = {"train_s": 109.0, "steps": 3000, "parameters": 390000, "checkpoint": "runs/lewm/checkpoints/step_3000",
              "metrics_file": "runs/lewm/metrics.jsonl"}  # fmt: skip
    results = results_v2(**{"lewm@native": {
        "label": "LeWM, native MPPI (512x6, H=3)", "acts": "plan", "success_rate": 0.5, "successes": 25,
        "episodes": 50, "ci95": [0.366, 0.634], "plan_ms": 80.0, "eval_s": 12.0, **shared,
        "videos": ["videos/lewm@native_ep000_success.mp4"], "trained_as": "lewm",
        "plan": {"solver": "mppi", "num_samples": 512, "iterations": 6, "horizon": 3, "receding_horizon": 1},
    }})  # fmt: skip
    write_metrics(tmp_path / "runs/lewm/metrics.jsonl", 20, ("loss", "pred_loss"))
    write_report(results, tmp_path)
    rows, _ = page_table(tmp_path / "index.html")
    native = next(r for r in rows if r[0] == "lewm@native")
    assert native[3] == "50.0% (25/50)" and native[7] == "80.0 ms"
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert sum(line.startswith("- LeWM") and "`pred_loss`" in line for line in md.splitlines()) == 1  # curves once
    assert "(videos/lewm@native_ep000_success.mp4)" in md and "- run: lewm's" in md
    assert "- planner: solver mppi, num_samples 512, iterations 6" in md and "lewm@native plan with their" in md
    assert 'data-method="lewm@native"' in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert shares_training("lewm@native", results) and not shares_training("lewm", results)
    del results["methods"]["lewm"]  # alone, the row is its run's only report: drawn as any other
    assert not shares_training("lewm@native", results)
    assert color("lewm@native", 5) not in (color("lewm", 0), color("gcbc", 1)) and color("lewm@native", 5)[0] == "#"
