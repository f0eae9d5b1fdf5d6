import json
import shutil

from lewm_agents.analysis.cell import SECTION, analyse_cell
from lewm_agents.analysis.probe import ProbeRecipe


def test_analyses_link_their_figures_and_tables_into_the_cell_report(tiny_run, tworoom_data, tmp_path):
    cell = tmp_path / "tworoom" / "ci"
    shutil.copytree(tiny_run, cell / "runs" / "lewm")
    shutil.copy(tworoom_data, cell / "dataset.h5")
    results = {"schema": 2, "env": "tworoom", "scale": "ci", "figures": [{"title": "kept", "path": "x.png"}],
               "methods": {"lewm": {"label": "LeWM", "acts": "plan", "success_rate": 0.5, "successes": 1,
                                    "episodes": 2, "ci95": [0.1, 0.9]}}}  # fmt: skip
    (cell / "results.json").write_text(json.dumps(results))
    r = analyse_cell(cell, analyses=("probe", "straightness"), recipe=ProbeRecipe(max_frames=100, epochs=1))
    assert {t["title"].split(" (")[0] for t in r["tables"]} == {"Physical probes", "Temporal straightness"}
    assert (cell / "analyses" / "probe.md").exists() and (cell / "analyses" / "straightness.png").exists()
    linked = json.loads((cell / "results.json").read_text())
    assert [f["title"] for f in linked["figures"]] == ["kept", "Temporal straightness"]
    assert all(t["section"] == SECTION for t in linked["tables"])
    report = (cell / "report.md").read_text()
    assert "## Latent analyses" in report and "analyses/straightness.png" in report
    analyse_cell(cell, analyses=("straightness",))  # a rerun replaces this section's entries, not others'
    assert len(json.loads((cell / "results.json").read_text())["figures"]) == 2
