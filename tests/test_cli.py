"""Every `lewm` subcommand, run as a subprocess the way users run it."""

import json
import subprocess
import sys

import pytest


def lewm(*args, cwd=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "lewm_agents", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"lewm {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_lists_commands():
    out = lewm("--help").stdout
    for cmd in ("collect", "train", "eval", "benchmark", "info"):
        assert cmd in out
    for cmd in ("collect", "train", "eval", "benchmark", "info"):
        assert "--help" in lewm(cmd, "--help").stdout or "usage" in lewm(cmd, "--help").stdout


def test_unknown_command_and_env():
    assert lewm("fly", check=False).returncode == 2
    proc = lewm("collect", "nowhere", "--episodes", "1", "--out", "x.h5", check=False)
    assert proc.returncode == 1 and "tworoom" in proc.stderr and "Traceback" not in proc.stderr


def test_collect_info_train_eval(tmp_path):
    data = tmp_path / "d.h5"
    lewm("collect", "tworoom", "--episodes", "6", "--out", data, "--no-progress")
    info = json.loads(lewm("info", data, "--json").stdout)
    assert info["episodes"] == 6 and info["env_id"] == "lewm/TwoRoom-v1"
    run = tmp_path / "run"
    lewm(
        "train",
        data,
        "--preset",
        "smoke",
        "--out",
        run,
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--model.history",
        "1",
        "--num-proj",
        "16",
        "--no-progress",
        "--device",
        "cpu",
    )
    assert "params/total" in lewm("info", run).stdout
    out = lewm(
        "eval",
        run,
        "--episodes",
        "2",
        "--plan.num-samples",
        "8",
        "--plan.iterations",
        "1",
        "--plan.topk",
        "2",
        "--videos",
        "0",
        "--no-progress",
        "--device",
        "cpu",
    ).stdout
    assert "success_rate" in out and "plan_ms_per_env" in out
    assert "random" in lewm("eval", "--policy", "random", "--data", data, "--episodes", "2", "--no-progress").stdout


def test_train_dry_run_paper_preset():
    out = lewm("train", "--preset", "paper", "--dry-run").stdout
    assert "18,034,478" in out


def test_bad_input_gives_one_paragraph_errors(tmp_path):
    proc = lewm("info", tmp_path / "missing.h5", check=False)
    assert proc.returncode == 1 and "lewm collect" in proc.stderr and "Traceback" not in proc.stderr
    proc = lewm("eval", tmp_path, "--episodes", "1", check=False)
    assert proc.returncode == 1 and "lewm train" in proc.stderr
    proc = lewm("train", "--preset", "huge", check=False)
    assert proc.returncode == 1 and "smoke" in proc.stderr


@pytest.mark.parametrize("scale", ["ci"])
def test_benchmark_ci_scale(tmp_path, scale):
    out = lewm(
        "benchmark",
        "--env",
        "tworoom",
        "--scale",
        scale,
        "--out",
        tmp_path,
        "--no-progress",
        "--device",
        "cpu",
        "--methods",
        "lewm,random",
    ).stdout
    assert "| lewm | LeWM |" in out and "| random |" in out and "index.html" in out  # the summary, then the page
    results = json.loads((tmp_path / "tworoom" / scale / "results.json").read_text())
    assert set(results["methods"]) == {"lewm", "random"}
