"""benchmarks/plan_pareto.py: the Pareto front and its table (the measuring itself is the script's run)."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "plan_pareto.py"


def _module():
    spec = importlib.util.spec_from_file_location("plan_pareto", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["plan_pareto"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _row(name, ms, rate):
    ci = [max(0, rate - 0.1), min(1, rate + 0.1)]
    return {"name": name, "plan_ms": ms, "success_rate": rate, "successes": int(50 * rate), "episodes": 50,
            "ci95": ci, "ms_per_step": ms / 25, "plan_precision": "fp32"}  # fmt: skip


def test_front_keeps_only_unbeaten_rows_and_the_table_compares_with_the_paper_cem():
    m = _module()
    rows = [_row("cem 300x30 (paper)", 1000.0, 0.6), _row("cem 30x3", 10.0, 0.6), _row("policy alone", 1.0, 0.4),
            _row("mppi 100x10", 50.0, 0.5)]  # fmt: skip
    front = m.pareto_front(rows)
    assert front == ["cem 30x3", "policy alone"]  # the paper's CEM is as good and 100x slower; mppi is beaten
    cols, table = m._table(rows, front)
    by_name = {r[0]: dict(zip(cols, r)) for r in table}
    assert by_name["cem 30x3"]["x cheaper than CEM 300x30"] == "100.0x" and by_name["cem 30x3"]["front"] == "yes"
    assert [r[0] for r in table] == ["policy alone", "cem 30x3", "mppi 100x10", "cem 300x30 (paper)"]  # by time


def test_every_grid_starts_with_the_paper_cem_and_is_valid():
    m = _module()
    for grid in m.GRIDS.values():
        first = next(iter(grid.values()))
        assert (first.num_samples, first.iterations, first.solver, first.policy) == (300, 30, "cem", "off")
