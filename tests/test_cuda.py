"""CUDA checks (marked ``gpu``; skipped without a GPU): planning on the device matches the CPU, the CUDA-graph
rollout matches the eager one, and the goal policy acts on the device. `benchmarks/gpu_check.sh` runs them."""

from dataclasses import replace

import gymnasium as gym
import pytest
import torch

from lewm_agents.agent import MPCAgent
from lewm_agents.model import MODEL_PRESETS, LeWM
from lewm_agents.planning import PlanConfig, world_model_cost

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _model(history: int = 3) -> LeWM:
    torch.manual_seed(0)
    model = LeWM(replace(MODEL_PRESETS["smoke"], history=history, action_dim=2)).eval()
    for p in model.predictor.parameters():  # AdaLN-zero blocks are the identity at init; give them work
        p.data += 0.02 * torch.randn_like(p)
    return model


def test_cuda_cost_matches_the_cpu_cost():
    model = _model()
    z, goal = torch.randn(2, 1, model.latent_dim), torch.randn(2, model.latent_dim)
    actions = torch.randn(2, 64, 5, model.cfg.action_block_dim)
    with torch.no_grad():
        cpu = world_model_cost(model, z, goal)(actions)
        gpu = world_model_cost(model.cuda(), z.cuda(), goal.cuda(), chunk_rows=32)(actions.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)


def test_cuda_graph_rollout_matches_eager():
    model = _model().cuda()
    z, actions = torch.randn(1, 1, model.latent_dim, device="cuda"), torch.randn(1, 32, 5, 10, device="cuda")
    compiled = torch.compile(model.rollout, mode="reduce-overhead", dynamic=False)
    with torch.no_grad():
        eager = model.rollout(z, actions)
        for _ in range(3):  # recorded, then replayed
            graphed = compiled(z, actions).clone()
    torch.testing.assert_close(graphed, eager, rtol=1e-3, atol=1e-3)


def test_agent_plans_on_cuda_in_bf16():
    import lewm_envs  # noqa: F401
    from lewm_agents.data import ActionStats

    env = gym.make("lewm/TwoRoom-v1", image_size=64)
    model = _model(history=1)
    stats = ActionStats(mean=(0.0, 0.0), std=(1.0, 1.0))
    plan = PlanConfig(num_samples=64, iterations=3, topk=8)
    agent = MPCAgent(model, action_space=env.action_space, action_stats=stats, config=plan, device="cuda")
    obs, info = env.reset(seed=0)
    agent.set_goal(info["goal"])
    assert env.action_space.contains(agent.act(obs)) and agent.precision_used == "bf16"
    env.close()
