"""The state-input LeWM (``ModelConfig.encoder="state"``): the diagnostic that plans without vision."""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from lewm_agents.agent import load_agent
from lewm_agents.evaluate import EvalConfig, evaluate
from lewm_agents.model import MODEL_PRESETS, LeWM
from lewm_agents.planning import PlanConfig


def _state_model(state_dim: int = 2) -> LeWM:
    return LeWM(replace(MODEL_PRESETS["smoke"], encoder="state", state_dim=state_dim, history=1))


def test_state_encoder_encodes_states_and_refuses_frames():
    model = _state_model().eval()
    assert model.observes == "state" and LeWM(MODEL_PRESETS["smoke"]).observes == "pixels"
    z = model.encode(torch.rand(3, 2, 2) * 224)  # (B, T, S) -> (B, T, D)
    assert z.shape == (3, 2, model.cfg.latent_dim)
    with torch.no_grad():  # the latent depends on where the agent is
        assert not torch.allclose(
            model.encode(torch.tensor([[[20.0, 20.0]]])), model.encode(torch.tensor([[[200.0, 20.0]]]))
        )
    with pytest.raises(ValueError, match="takes states"):
        model.encode(torch.zeros(1, 1, 64, 64, 3, dtype=torch.uint8))


def test_state_encoder_needs_its_width():
    with pytest.raises(ValueError, match="state_dim"):
        LeWM(replace(MODEL_PRESETS["smoke"], encoder="state"))  # state_dim 0: not filled from a dataset


@pytest.fixture(scope="module")
def state_run(tworoom_data, tmp_path_factory):
    from lewm_agents.train import TRAIN_PRESETS, train

    base = TRAIN_PRESETS["smoke"]
    run = tmp_path_factory.mktemp("runs") / "state"
    model = replace(base.model, history=1, num_proj=32, encoder="state")
    cfg = replace(
        base, data=tworoom_data, out=run, model=model, max_steps=12, batch_size=16, progress=False, device="cpu"
    )
    return run, train(cfg)


def test_state_model_trains_on_the_state_column(state_run):
    run, _ = state_run
    agent = load_agent(run, action_space=gym.spaces.Box(-1, 1, (2,), np.float32), device="cpu")
    assert agent.model.cfg.state_dim == 2 and agent.observes == "state"  # filled from the dataset
    actions, _ = agent.predict(
        {"pixels": np.array([60.0, 100.0], np.float32), "goal": np.array([70.0, 100.0], np.float32)}
    )
    assert actions.shape == (2,)


def test_state_model_evaluates_on_states(state_run, tmp_path):
    run, _ = state_run
    plan = PlanConfig(num_samples=16, iterations=2, topk=4)
    r = evaluate(
        EvalConfig(checkpoint=run, episodes=3, plan=plan, videos=1, out=tmp_path, device="cpu", progress=False)
    )
    assert r["episodes"] == 3 and r["num_plan_calls"] == 2 and len(r["videos"]) == 1  # frames still go to videos
