"""`lewm report CELL` re-renders a cell's report from its results.json; the card shows rendering and env kwargs."""

import json

from lewm_agents.cli import main
from tests.test_report import results_v2


def test_lewm_report_rerenders_a_cell_from_results_json(tmp_path, capsys):
    cell = tmp_path / "cube" / "smoke"
    cell.mkdir(parents=True)
    results = results_v2()
    results["protocol"].update(rendering="fast_render (no MSAA, shadows, reflections or skybox)",
                               env_kwargs={"image_size": 64, "fast_render": True})  # fmt: skip
    (cell / "results.json").write_text(json.dumps(results))
    assert main(["report", str(cell)]) == 0
    assert str(cell / "index.html") in capsys.readouterr().out
    md = (cell / "report.md").read_text(encoding="utf-8")
    assert "- **rendering**: fast_render (no MSAA" in md and "fast_render=true" in md
    page = (cell / "index.html").read_text(encoding="utf-8")
    assert "fast_render (no MSAA" in page and "<table" in page


def test_lewm_report_names_a_cell_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "results.json does not exist" in err and "lewm benchmark" in err
