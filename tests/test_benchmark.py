"""The benchmark engine runs every method on the same data and protocol, writes results.json (schema 2) and its
report, reuses finished stages on a rerun (a crashed stage reruns alone), and finds a pre-methods cell's run."""

import dataclasses
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from lewm_agents.benchmark import BENCHMARKS, SCALE_NAMES, BenchmarkConfig, run_benchmark
from lewm_agents.methods import METHODS
from lewm_agents.methods.tdmpc import NATIVE_PLAN

NATIVE = tuple(f"{m}@native" for m in METHODS if METHODS[m].native_plan is not None)
ALL = (*(r for m in METHODS for r in (m, f"{m}@native") if r in METHODS or r in NATIVE), "random")


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def test_benchmark_writes_reports_and_reuses_stages(tmp_path, monkeypatch):
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=1)
    assert cfg.methods == ALL  # every registered method, the native-planner rows and the random row, by default
    assert NATIVE == ("tdmpc@native",) and ALL.index("tdmpc@native") == ALL.index("tdmpc") + 1
    first = run_benchmark(cfg)
    cell = tmp_path / "tworoom" / "ci"
    for name in ("results.json", "report.md", "dataset.h5", *(f"eval_{m}.json" for m in ALL)):
        assert (cell / name).exists(), name
    results = json.loads((cell / "results.json").read_text())
    assert results["schema"] == 2 and results["env"] == "tworoom" and results["scale"] == "ci"
    assert list(results["methods"]) == list(ALL)
    spec = BENCHMARKS["tworoom"]["ci"]
    protocol = results["protocol"]
    assert protocol["name"] == "dataset-goal" and protocol["seed"] == spec.seed and protocol["episodes"] == 4
    for method in ALL:
        m = results["methods"][method]
        assert 0 <= m["success_rate"] <= 1 and m["episodes"] == 4
        assert {"label", "acts", "success_rate", "ci95", "episodes", "plan_ms", "train_s", "parameters"} <= set(m)
        for rel in m["videos"] + [m["checkpoint"], m["metrics_file"]] * (method != "random"):
            assert not Path(rel).is_absolute() and (cell / rel).exists(), rel  # paths relative to the cell
    for method in METHODS:  # same steps, parameters within 2x of LeWM's, training curves written
        m = results["methods"][method]
        assert m["steps"] == results["methods"]["lewm"]["steps"] == spec.train.max_steps and m["train_s"] > 0
        assert 0.5 <= m["parameters"] / results["methods"]["lewm"]["parameters"] <= 2.0, method
        assert m["acts"] == METHODS[method].acts and m["plan_ms"] > 0
    random = results["methods"]["random"]
    assert random["acts"] == "random" and random["parameters"] is None and random["plan_ms"] is None
    assert results["methods"]["lewm"]["hparams"]["lam"] == spec.train.model.lam
    for k, v in spec.method_overrides["pldm"].items():  # the cell's setting of a baseline, reported with it
        assert results["methods"]["pldm"]["hparams"][k] == v == getattr(spec.recipe("pldm").model, k)
    report = (cell / "report.md").read_text()
    assert all(f"(`{m}`)" in report for m in ALL) and "PLDM-style" in report

    # TD-MPC-style's native planner: an extra row over the same run, its own evaluation, cache key and videos
    native, common = results["methods"]["tdmpc@native"], results["methods"]["tdmpc"]
    assert native["label"] == "TD-MPC-style, native MPPI (512x6, H=3)"
    assert native["trained_as"] == "tdmpc" and native["checkpoint"] == common["checkpoint"]
    assert native["steps"] == common["steps"] and native["parameters"] == common["parameters"]
    assert sorted(p.name for p in (cell / "runs").iterdir()) == sorted(METHODS)  # no run of its own
    keys = {r: json.loads((cell / f"eval_{r}.json").read_text())["cache_key"] for r in ("tdmpc", "tdmpc@native")}
    assert keys["tdmpc@native"]["plan"] == dataclasses.asdict(NATIVE_PLAN) == native["plan"]
    assert keys["tdmpc"]["plan"] == dataclasses.asdict(spec.plan) != keys["tdmpc@native"]["plan"]
    assert keys["tdmpc"]["weights_sha256"] == keys["tdmpc@native"]["weights_sha256"]
    assert native["videos"] and all(Path(v).name.startswith("tdmpc@native_ep") for v in native["videos"])
    assert all(Path(v).name.startswith("tdmpc_ep") for v in common["videos"])
    html = (cell / "index.html").read_text()
    assert 'data-method="tdmpc@native"' in html and "native MPPI (512x6" in report

    mtimes = {m: _mtime(cell / "runs" / m / "checkpoints") for m in METHODS}
    data_mtime = _mtime(cell / "dataset.h5")
    second = run_benchmark(cfg)
    assert second["dataset"]["reused"] and _mtime(cell / "dataset.h5") == data_mtime
    for m in ALL:
        assert second["methods"][m]["cached"] == {"train": m != "random", "eval": True}, m
        assert second["methods"][m]["success_rate"] == first["methods"][m]["success_rate"]
    assert {m: _mtime(cell / "runs" / m / "checkpoints") for m in METHODS} == mtimes

    # a crashed stage reruns alone: an evaluation and a training that never finished
    sha_gcbc = json.loads((cell / "eval_gcbc.json").read_text())["cache_key"]["weights_sha256"]
    (cell / "eval_pldm.json").unlink()
    shutil.rmtree(cell / "runs" / "gcbc")
    third = run_benchmark(cfg)
    cached = {m: third["methods"][m]["cached"] for m in ALL}
    assert cached["lewm"] == {"train": True, "eval": True} and cached["random"]["eval"]
    assert cached["pldm"] == {"train": True, "eval": False} and not cached["gcbc"]["train"]
    # evaluations are keyed by the weights: gcbc's is reused only if retraining reproduced them bit for bit
    same = json.loads((cell / "eval_gcbc.json").read_text())["cache_key"]["weights_sha256"] == sha_gcbc
    assert cached["gcbc"]["eval"] == same
    assert _mtime(cell / "runs" / "lewm" / "checkpoints") == mtimes["lewm"]

    # a finished run trained under another recipe is never reported as this cell's: refused, then --redo all retrains
    changed = replace(spec, train=replace(spec.train, lr=spec.train.lr / 2))
    monkeypatch.setitem(BENCHMARKS["tworoom"], "ci", changed)
    with pytest.raises(ValueError, match=r"other settings .*'lr'.*--redo all"):
        run_benchmark(cfg)
    fourth = run_benchmark(replace(cfg, redo="all", methods=("lewm", "random")))
    assert not fourth["methods"]["lewm"]["cached"]["train"] and fourth["dataset"]["reused"]


def test_a_cell_from_before_methods_keeps_its_run(tmp_path):
    """results/<env>/<scale>/run (LeWM's run before the per-method layout) is moved to runs/lewm and reused."""
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=0,
                          methods=("lewm",))  # fmt: skip
    run_benchmark(cfg)
    cell = tmp_path / "tworoom" / "ci"
    os.replace(cell / "runs" / "lewm", cell / "run")  # the old layout
    shutil.rmtree(cell / "runs")
    again = run_benchmark(cfg)
    assert not (cell / "run").exists() and (cell / "runs" / "lewm" / "checkpoints").is_dir()
    assert again["methods"]["lewm"]["cached"] == {"train": True, "eval": True}  # found: not retrained, not re-evaluated
    assert any("moved" in n and "runs/lewm" in n for n in again["notes"])


def test_the_evaluation_seed_is_the_specs(tmp_path, monkeypatch):
    spec = BENCHMARKS["tworoom"]["ci"]
    monkeypatch.setitem(BENCHMARKS["tworoom"], "ci", replace(spec, seed=7))
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=0,
                          methods=("random",))  # fmt: skip
    results = run_benchmark(cfg)
    evaluation = json.loads((tmp_path / "tworoom" / "ci" / "eval_random.json").read_text())
    assert results["protocol"]["seed"] == 7 and evaluation["protocol"]["seed"] == 7


def test_methods_accept_commas_and_refuse_unknown_names():
    assert BenchmarkConfig(methods=("lewm,pldm", "random")).methods == ("lewm", "pldm", "random")
    assert BenchmarkConfig(methods=("tdmpc@native",)).methods == ("tdmpc@native",)
    with pytest.raises(ValueError, match="unknown methods"):
        BenchmarkConfig(methods=("dreamerv3",))
    with pytest.raises(ValueError, match=r"unknown methods \['lewm@native'\]"):  # LeWM declares no planner of its own
        BenchmarkConfig(methods=("lewm@native",))


def test_a_native_row_alone_trains_its_method_once_and_reuses_every_stage(tmp_path):
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=0,
                          methods=("tdmpc@native",))  # fmt: skip
    first = run_benchmark(cfg)
    cell = tmp_path / "tworoom" / "ci"
    assert list(first["methods"]) == ["tdmpc@native"] and (cell / "runs" / "tdmpc" / "checkpoints").is_dir()
    assert first["methods"]["tdmpc@native"]["cached"] == {"train": False, "eval": False}
    assert not (cell / "eval_tdmpc.json").exists() and (cell / "eval_tdmpc@native.json").exists()
    both = run_benchmark(replace(cfg, methods=("tdmpc", "tdmpc@native")))
    assert both["methods"]["tdmpc@native"]["cached"] == {"train": True, "eval": True}
    assert both["methods"]["tdmpc"]["cached"] == {"train": True, "eval": False}  # its own evaluation, its own planner
    rows = [r for r in (cell / "report.md").read_text().splitlines() if r.startswith("| tdmpc")]
    assert [r.split(" | ")[0] for r in rows] == ["| tdmpc", "| tdmpc@native"]


def test_every_method_is_within_2x_of_lewms_parameters_in_every_cell():
    import torch

    for env, cells in BENCHMARKS.items():
        for scale, spec in cells.items():
            counts = {}
            for method in METHODS:
                recipe = spec.recipe(method)
                with torch.device("meta"):
                    model = METHODS[method].build(recipe.model)
                counts[method] = sum(p.numel() for p in model.parameters())
                assert recipe.max_steps == spec.train.max_steps and recipe.batch_size == spec.train.batch_size
            for method, n in counts.items():
                assert 0.5 <= n / counts["lewm"] <= 2.0, (env, scale, method, n, counts["lewm"])


def test_makefile_lists_the_engines_names():
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    envs = next(line for line in makefile.splitlines() if line.startswith("VALID_ENVS")).split(":=")[1].split()
    scales = next(line for line in makefile.splitlines() if line.startswith("VALID_SCALES")).split(":=")[1].split()
    assert set(envs) == set(BENCHMARKS)
    assert set(scales) <= set(SCALE_NAMES) and set(scales) == set(SCALE_NAMES) - {"ci"}


def test_time_limit_stops_between_stages_and_a_rerun_continues(tmp_path):
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=0,
                          time_limit=0.5, methods=("lewm", "random"))  # fmt: skip
    first = run_benchmark(cfg)
    # collection fits, but under a minute is left: training is not started, nothing is evaluated
    assert first["unfinished"] == "train lewm" and first["dataset"]["finished"]
    assert not (tmp_path / "tworoom" / "ci" / "results.json").exists()
    second = run_benchmark(replace(cfg, time_limit=None))
    assert second["dataset"]["reused"] and set(second["methods"]) == {"lewm", "random"}


def test_a_cell_set_in_epochs_gives_every_method_the_same_gradient_steps(tmp_path, monkeypatch):
    spec = BENCHMARKS["tworoom"]["ci"]
    in_epochs = replace(spec, train=replace(spec.train, max_steps=None, epochs=0.4))
    monkeypatch.setitem(BENCHMARKS["tworoom"], "ci", in_epochs)
    cfg = BenchmarkConfig(env="tworoom", scale="ci", out=tmp_path, device="cpu", progress=False, videos=0,
                          methods=("lewm", "gcbc"))  # fmt: skip
    results = run_benchmark(cfg)
    steps = {m: results["methods"][m]["steps"] for m in ("lewm", "gcbc")}
    assert steps["gcbc"] == steps["lewm"] > 0  # GCBC's 1-frame clips are more per epoch: it gets LeWM's steps


def test_a_benchmark_rerun_keeps_the_sections_other_commands_attached(tmp_path):
    from lewm_agents.benchmark import _extra_entries

    (tmp_path / "analyses").mkdir()
    (tmp_path / "analyses" / "probe.png").write_bytes(b"png")
    old = {
        "figures": [
            {"title": "probe", "path": "analyses/probe.png", "section": "Latent analyses"},
            {"title": "gone", "path": "analyses/deleted.png", "section": "Latent analyses"},
            {"title": "stale", "path": "analyses/probe.png", "section": "Diagnostics"},
        ],
        "tables": [{"title": "frontier", "columns": ["a"], "rows": [[1]], "section": "Planning frontier"}],
    }
    (tmp_path / "results.json").write_text(json.dumps(old))
    extra = _extra_entries(tmp_path, tmp_path)
    assert [f["title"] for f in extra["figures"]] == ["probe"]  # missing files and old diagnostics are dropped
    assert [t["title"] for t in extra["tables"]] == ["frontier"]
    (tmp_path / "results.json").write_text("{not json")
    assert _extra_entries(tmp_path, tmp_path) == {"figures": [], "tables": []}
