"""Lambda search: the golden-section search finds the peak in O(log n) evaluations, the probe scores what it should,
collapsed runs are flagged, and `lewm tune-lambda` writes its curve and choice and reuses finished runs."""

import json
import math
import random
from dataclasses import replace

import pytest
import torch

from lewm_agents.checkpoint import save_checkpoint
from lewm_agents.data import ActionStats
from lewm_agents.model import MODEL_PRESETS, LeWM
from lewm_agents.tune import TuneConfig, evaluate_run, golden_section_argmax, ridge_probe_r2


@pytest.mark.parametrize("n, max_evals", [(5, 4), (13, 6), (33, 7), (129, 14)])
def test_golden_section_finds_the_peak_in_logarithmic_evaluations(n, max_evals):
    rng = random.Random(n)
    for _ in range(300):
        collapsed = rng.randint(0, n - 1)  # a -inf prefix: lambda too small
        peak = rng.randint(collapsed, n - 1)
        calls = []

        def score(i, collapsed=collapsed, peak=peak, calls=calls):
            calls.append(i)
            return -math.inf if i < collapsed else -(abs(i - peak) ** 1.5)

        best, seen = golden_section_argmax(score, n)
        assert best == peak
        assert len(calls) == len(seen) <= max_evals  # each candidate trained at most once


def test_ridge_probe_scores_information_not_scale():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 16, generator=g)  # (M, D)
    y = z[:, :2] @ torch.tensor([[1.0, 2.0], [0.5, -1.0]])  # (M, S) linear in z
    assert ridge_probe_r2(z[:300], y[:300], z[300:], y[300:]) > 0.99
    assert ridge_probe_r2(1e-3 * z[:300], y[:300], 1e-3 * z[300:], y[300:]) > 0.99  # scale-free
    noise = torch.randn(400, 16, generator=g)  # latents that know nothing about y
    assert ridge_probe_r2(noise[:300], y[:300], noise[300:], y[300:]) < 0.1


def test_collapsed_run_scores_minus_infinity(tworoom_data, tmp_path):
    torch.manual_seed(0)
    model = LeWM(replace(MODEL_PRESETS["smoke"], history=1))
    torch.nn.init.zeros_(model.projector.net[3].weight)  # every frame maps to the same latent
    torch.nn.init.zeros_(model.projector.net[3].bias)
    save_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000001", model, action_stats=ActionStats((0, 0), (1, 1)))
    r = evaluate_run(tmp_path / "run", TuneConfig(data=tworoom_data, probe_frames=100), torch.device("cpu"))
    assert r["collapsed"] and r["score"] == -math.inf and r["emb_std"] < 1e-6


def test_tune_lambda_cli_writes_curve_and_choice_and_reuses_runs(tworoom_data, tmp_path, capsys):
    from lewm_agents.cli import main

    args = ["tune-lambda", str(tworoom_data), "--out", str(tmp_path / "tune"), "--preset", "smoke", "--history", "1"]
    args += ["--steps", "4", "--grid", "4", "--lam-min", "0.01", "--lam-max", "1", "--device", "cpu"]
    args += ["--probe-frames", "200", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "tune" / "lambda_search.json").read_text())
    assert (tmp_path / "tune" / "lambda_search.png").stat().st_size > 1000
    assert result["candidates"] == pytest.approx([0.01 * 100 ** (k / 3) for k in range(4)])
    assert 2 <= result["runs_trained"] <= 4 and "chosen lambda" in out
    scored = {r["lam"]: r["score"] for r in result["runs"]}
    assert result["chosen_lambda"] == max(scored, key=lambda lam: (scored[lam], -lam))
    assert all(r["steps"] == 4 and r["probe_target"] == "state" for r in result["runs"])
    trained = sorted(p.name for p in (tmp_path / "tune" / "runs").iterdir())
    assert len(trained) == result["runs_trained"]
    assert main(args) == 0  # rerun: every finished run is reused, same answer
    again = json.loads((tmp_path / "tune" / "lambda_search.json").read_text())
    assert again["runs"] == result["runs"] and sorted(p.name for p in (tmp_path / "tune" / "runs").iterdir()) == trained
