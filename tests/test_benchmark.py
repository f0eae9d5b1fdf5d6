"""The benchmark engine writes its reports and reuses finished stages on a rerun."""

import json
from dataclasses import replace

import pytest

from lewm_agents.benchmark import BENCHMARKS, SCALE_NAMES, BenchmarkConfig, run_benchmark


def test_benchmark_writes_reports_and_reuses_stages(tmp_path, monkeypatch):
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=1)
    first = run_benchmark(cfg)
    cell = tmp_path / "tworoom" / "ci"
    for name in ("results.json", "report.md", "dataset.h5", "eval_lewm.json", "eval_random.json"):
        assert (cell / name).exists(), name
    results = json.loads((cell / "results.json").read_text())
    assert results["env"] == "tworoom" and results["scale"] == "ci"
    for method in ("lewm", "random"):
        m = results["methods"][method]
        assert 0 <= m["success_rate"] <= 1 and m["episodes"] == 4
        assert {"success_rate", "ci95", "episodes", "plan_ms", "train_s"} <= set(m)
    assert results["methods"]["lewm"]["plan_ms"] > 0 and results["methods"]["lewm"]["train_s"] > 0
    assert "| lewm |" in (cell / "report.md").read_text()
    ckpt_mtime = (cell / "run" / "checkpoints").stat().st_mtime_ns
    data_mtime = (cell / "dataset.h5").stat().st_mtime_ns

    second = run_benchmark(cfg)
    assert second["dataset"]["reused"] and second["train"]["reused"]
    assert (cell / "dataset.h5").stat().st_mtime_ns == data_mtime
    assert (cell / "run" / "checkpoints").stat().st_mtime_ns == ckpt_mtime
    assert second["methods"]["lewm"]["success_rate"] == first["methods"]["lewm"]["success_rate"]

    # a finished run trained under another recipe is never reported as this cell's: refused, then --redo all retrains
    spec = BENCHMARKS["tworoom"]["ci"]
    changed = replace(spec, train=replace(spec.train, lr=spec.train.lr / 2))
    monkeypatch.setitem(BENCHMARKS["tworoom"], "ci", changed)
    with pytest.raises(ValueError, match=r"other settings .*'lr'.*--redo all"):
        run_benchmark(cfg)
    third = run_benchmark(replace(cfg, redo="all"))
    assert not third["train"]["reused"] and third["dataset"]["reused"]


def test_makefile_lists_the_engines_names():
    from pathlib import Path

    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    envs = next(line for line in makefile.splitlines() if line.startswith("VALID_ENVS")).split(":=")[1].split()
    scales = next(line for line in makefile.splitlines() if line.startswith("VALID_SCALES")).split(":=")[1].split()
    assert set(envs) == set(BENCHMARKS)
    assert set(scales) <= set(SCALE_NAMES) and set(scales) == set(SCALE_NAMES) - {"ci"}


def test_time_limit_stops_between_stages_and_a_rerun_continues(tmp_path):
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=0,
                          time_limit=0.5)  # fmt: skip
    first = run_benchmark(cfg)
    # collection fits, but under a minute is left: training is not started, nothing is evaluated
    assert first["unfinished"] == "train" and first["dataset"]["finished"]
    assert not (tmp_path / "tworoom" / "ci" / "results.json").exists()
    second = run_benchmark(replace(cfg, time_limit=None))
    assert second["dataset"]["reused"] and set(second["methods"]) == {"lewm", "random"}
