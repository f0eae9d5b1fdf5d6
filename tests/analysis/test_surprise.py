import math

import numpy as np
import pytest
import torch
from torch import nn

from lewm_agents.analysis.surprise import latent_surprise, paired_t_test, render_pairs, surprise, surprise_test
from lewm_agents.data import DatasetReader

FRAMESKIP = 5
PX_PER_UNIT = 64 / 224  # TwoRoom at 64 px


class AgentTracker(nn.Module):
    """A deterministic toy world model of TwoRoom: the latent is the agent's pixel centroid (the red dot), and the
    prediction moves it by the actions (5 units per unit action per env step, walls ignored)."""

    history, frameskip, action_dim, latent_dim, image_size = 1, FRAMESKIP, 2, 2, 64

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        p = pixels.float()
        w = (p[..., 0] - p[..., 1]).clamp(min=0)  # (B, T, h, w): red minus green, 0 on white floor and black walls
        ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        mass = w.sum((-2, -1)).clamp(min=1e-6)
        return torch.stack([(w * xs).sum((-2, -1)) / mass, (w * ys).sum((-2, -1)) / mass], dim=-1)  # (B, T, 2)

    def rollout(self, z, actions, context_actions=None):
        move = actions.reshape(*actions.shape[:3], FRAMESKIP, 2).clamp(-1, 1).sum(3) * 5.0 * PX_PER_UNIT
        return z[:, -1, None, None] + move.cumsum(2)  # (B, S, H, 2)


def _pairs(tworoom_data, n=6, frames=5):
    from lewm_agents.analysis.trajectories import read_paths

    with DatasetReader(tworoom_data) as r:
        p = read_paths(r, np.arange(r.num_episodes), frameskip=FRAMESKIP, frames=frames, max_paths=n)
        kwargs = {**r.env_kwargs, "image_size": r.image_size}
    return p, kwargs


def test_teleport_surprises_a_deterministic_toy_model_more_than_nothing(tworoom_data):
    p, kwargs = _pairs(tworoom_data)
    rendered = render_pairs("lewm/TwoRoom-v1", kwargs, p.state[:, 0], p.actions, frameskip=FRAMESKIP, perturb_step=2)
    assert set(rendered) == {"none", "physical", "visual"}
    model, acts = AgentTracker(), torch.from_numpy(p.actions)
    s = {c: surprise(model, torch.from_numpy(x), acts) for c, x in rendered.items()}  # (B, T-1) each
    assert s["none"].shape == (len(p.episodes), 4)
    assert (s["physical"][:, 1] > s["none"][:, 1] + 10).all()  # the teleport step: tens of pixels squared
    assert torch.allclose(s["physical"][:, 0], s["none"][:, 0])  # the same before it
    assert torch.allclose(s["visual"][:, 0], s["none"][:, 0])
    assert not torch.allclose(s["visual"][:, 1], s["none"][:, 1])  # the recoloured frame is another frame


def test_policies_have_no_surprise():
    class Policy(nn.Module):
        def encode(self, pixels):
            return torch.zeros(*pixels.shape[:2], 3)

    with pytest.raises(ValueError, match="world model"):
        surprise(Policy(), torch.zeros(1, 3, 8, 8, 3, dtype=torch.uint8), torch.zeros(1, 2, 4))


def test_latent_surprise_is_zero_for_a_perfect_predictor():
    class Line(nn.Module):
        history = 2

        def rollout(self, z, actions, context_actions=None):
            return (z[:, -1] + actions[:, :, 0])[:, :, None]  # (B, S, 1, D)

    z = torch.arange(6.0).reshape(1, 6, 1).repeat(1, 1, 3)  # (1, T, 3), +1 per step
    assert latent_surprise(Line(), z, torch.ones(1, 5, 3)).abs().max() == 0


@pytest.mark.parametrize("t", [0.5, 2.0, 3.873, -5.0])
def test_paired_t_test_matches_the_closed_form_student_t(t):
    # df = 3: P(|T| > t) = 1 - (2/pi) (atan(t/sqrt3) + (t/sqrt3) / (1 + t^2/3))
    d = np.array([-1.0, 0.0, 1.0, 0.0]) * 1.0  # sd = sqrt(2/3), n = 4
    shift = t * d.std(ddof=1) / 2.0
    r = paired_t_test(d + shift, np.zeros(4))
    x = abs(t) / math.sqrt(3)
    expected = 1 - (2 / math.pi) * (math.atan(x) + x / (1 + x * x))
    assert r["t"] == pytest.approx(t) and r["df"] == 3
    assert r["p"] == pytest.approx(expected, rel=1e-9)


def test_surprise_command_writes_three_curves_and_p_values(tiny_run, tmp_path):
    from lewm_agents.cli import main

    assert main(["surprise", str(tiny_run), "--pairs", "4", "--frames", "4", "--perturb-step", "2",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    import json

    r = json.loads((tmp_path / "lewm_surprise.json").read_text())
    assert set(r["curves"]) == {"none", "physical", "visual"}
    assert all(len(c["mean"]) == 3 for c in r["curves"].values())
    assert all(0.0 <= r["tests"][c]["p"] <= 1.0 for c in ("physical", "visual"))
    assert (tmp_path / "lewm_surprise.png").stat().st_size > 0


def test_surprise_test_refuses_a_bad_perturbation_step(tiny_run):
    with pytest.raises(ValueError, match="perturb_step"):
        surprise_test(tiny_run, frames=4, perturb_step=4)
