import json

import numpy as np
import pytest
import torch

from lewm_agents.analysis.straightness import StraightnessProbe, checkpoint_straightness, straightness
from lewm_agents.analysis.trajectories import load_model


def test_straight_path_scores_one():
    t = torch.linspace(0, 1, 10)[None, :, None]  # (1, T, 1)
    direction = torch.randn(3, 1, 16)
    z = torch.randn(3, 1, 16) + t * direction  # (B, T, D): three straight lines at different speeds and offsets
    assert straightness(z) == pytest.approx(1.0, abs=1e-5)


def test_random_walk_scores_near_zero():
    steps = torch.randn(64, 50, 32, generator=torch.Generator().manual_seed(0))
    assert abs(straightness(steps.cumsum(dim=1))) < 0.03


def test_reversing_path_scores_minus_one():
    z = torch.tensor([[[0.0], [1.0], [0.0], [1.0]]])  # back and forth
    assert straightness(z) == pytest.approx(-1.0)


def test_too_short_paths_are_refused():
    with pytest.raises(ValueError, match="T >= 3"):
        straightness(torch.zeros(2, 2, 4))


def test_training_logs_straightness(tiny_run):
    entries = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    logged = [e["straightness"] for e in entries if "straightness" in e]
    assert logged and all(-1.0 <= s <= 1.0 for s in logged)


def test_probe_leaves_the_model_mode_and_rng_alone(tiny_run, tworoom_data):
    model, _ = load_model(tiny_run)
    model.train()
    probe = StraightnessProbe(tworoom_data, np.arange(4), frameskip=model.frameskip, frames=4, paths=2)
    state = torch.get_rng_state()
    s = probe(model)
    assert model.training and torch.equal(state, torch.get_rng_state())
    assert -1.0 <= s <= 1.0


def test_checkpoint_straightness_plots_the_run(tiny_run, tmp_path):
    r = checkpoint_straightness(tiny_run, paths=4, frames=4, figure=tmp_path / "s.png")
    assert r["checkpoints"] and r["final"] == r["checkpoints"][-1]["straightness"]
    assert r["logged"], "the curve logged during training is read back"
    assert (tmp_path / "s.png").stat().st_size > 0
