"""`lewm benchmark --protocol`: another protocol evaluates the cell's data and runs into <cell>/<protocol>/."""

import json
from pathlib import Path

import pytest

from lewm_agents.benchmark import BenchmarkConfig, run_benchmark


def test_a_protocol_that_does_not_apply_to_the_cell_is_refused():
    with pytest.raises(ValueError, match=r"applies only to lewm/PushT.*Valid protocols for lewm/TwoRoom-v1"):
        BenchmarkConfig(env="tworoom", scale="ci", protocol="fixed-target")


def test_fixed_target_cell_reports_in_its_own_directory(tmp_path):
    pytest.importorskip("pymunk")
    cfg = BenchmarkConfig(env="pusht", scale="ci", out=tmp_path, methods=("random",), protocol="fixed-target",
                          device="cpu", progress=False, videos=1)  # fmt: skip
    run_benchmark(cfg)
    cell = tmp_path / "pusht" / "ci"
    out = cell / "fixed-target"
    results = json.loads((out / "results.json").read_text())
    assert (cell / "dataset.h5").exists() and not (cell / "results.json").exists()
    p = results["protocol"]
    assert p["name"] == "fixed-target" and p["budget"] == 300 and p["goal_offset"] is None
    assert p["env_kwargs"]["success"] == "coverage" and p["starts_from_training_episodes"] is False
    assert results["dataset"]["path"] == "../dataset.h5"
    video = results["methods"]["random"]["videos"][0]
    assert not Path(video).is_absolute() and (out / video).exists()
    for name in ("report.md", "index.html"):
        assert "fixed-target" in (out / name).read_text(encoding="utf-8")
    assert json.loads((out / "eval_random.json").read_text())["cache_key"]["protocol"] == "fixed-target"
