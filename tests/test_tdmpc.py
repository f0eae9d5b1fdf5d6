"""TD-MPC-style (lewm_agents/methods/tdmpc.py): SimNorm, the hindsight reward and goals, the TD target's target
network, the planning cost, the checkpoint round trip of the target, and planning with TD-MPC2's MPPI in a gym loop.
The registry-wide tests (tests/test_methods.py) cover a few steps lowering the loss and save -> load predictions."""

import pathlib
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from lewm_agents.agent import MPCAgent
from lewm_agents.checkpoint import load_checkpoint, save_checkpoint
from lewm_agents.data import ActionStats, ClipDataset, Episode, EpisodeWriter
from lewm_agents.data.batch import Batch
from lewm_agents.methods import get_method
from lewm_agents.methods.tdmpc import (
    NATIVE_PLAN,
    PRESETS,
    TDMPC,
    SimNorm,
    TDMPCObjective,
    hindsight_rewards,
    soft_ce,
    two_hot,
)

CFG = replace(PRESETS["smoke"], mlp_dim=32, enc_channels=8)
STATS = ActionStats(mean=(0.0, 0.0), std=(1.0, 1.0))


def _batch(cfg=CFG, B=6, offsets=(1, 4, 6, 11, 15, 40), seed=0):
    g = torch.Generator().manual_seed(seed)
    px = torch.randint(0, 256, (B, cfg.horizon + 1, 64, 64, 3), dtype=torch.uint8, generator=g)  # (B, T, h, w, 3)
    goal = torch.randint(0, 256, (B, 64, 64, 3), dtype=torch.uint8, generator=g)  # (B, h, w, 3)
    acts = torch.randn(B, cfg.horizon + 1, cfg.action_block_dim, generator=g)  # (B, T, F)
    return Batch(px, acts, goal_pixels=goal, goal_offset=torch.tensor(offsets[:B]))


def _perturbed(cfg=CFG) -> TDMPC:
    torch.manual_seed(0)
    model = TDMPC(cfg)
    with torch.no_grad():
        for p in model.parameters():  # the heads start at zero: make every path matter
            p += 0.1 * torch.randn_like(p)
    return model


def test_simnorm_sums_to_one_per_group_and_the_encoder_ends_with_it():
    x = torch.randn(4, 5, 64) * 10
    y = SimNorm(8)(x)
    torch.testing.assert_close(y.view(4, 5, 8, 8).sum(-1), torch.ones(4, 5, 8))
    assert (y >= 0).all() and not torch.allclose(y, torch.full_like(y, 1 / 8))
    z = _perturbed().encode(torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8))  # (B, T, D)
    torch.testing.assert_close(z.view(2, 3, -1, 8).sum(-1), torch.ones(2, 3, CFG.latent_dim // 8))


def test_two_hot_round_trips_through_the_bins():
    model = TDMPC(CFG)
    x = torch.tensor([-9.5, -3.0, -1.0, -0.2, 0.0, 2.5])
    t = two_hot(x, CFG.vmin, CFG.vmax, CFG.num_bins)  # (6, K)
    torch.testing.assert_close(t.sum(-1), torch.ones(6))
    assert ((t > 0).sum(-1) <= 2).all()
    torch.testing.assert_close(model.decode(torch.log(t.clamp_min(1e-12))), x, atol=1e-4, rtol=1e-4)
    assert soft_ce(torch.log(t.clamp_min(1e-12)), x, CFG).mean() < soft_ce(torch.zeros(6, CFG.num_bins), x, CFG).mean()


def test_hindsight_reward_is_zero_in_the_goal_frames_block_and_ends_the_episode_there():
    # frameskip 5, H 3: offsets 1..5 lie in block 0, 6..10 in block 1, 11..15 in block 2, later goals beyond the clip
    reward, valid = hindsight_rewards(torch.tensor([1, 5, 6, 15, 16, 10**12]), horizon=3, frameskip=5)
    expected_r = [[0, -1, -1], [0, -1, -1], [-1, 0, -1], [-1, -1, 0], [-1, -1, -1], [-1, -1, -1]]
    expected_v = [[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]]
    np.testing.assert_array_equal(reward.numpy(), np.array(expected_r, dtype=np.float32))
    np.testing.assert_array_equal(valid.numpy(), np.array(expected_v, dtype=np.float32))


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> pathlib.Path:
    """4 episodes whose frames carry (episode, frame index) in their first pixel."""
    path = tmp_path_factory.mktemp("toy") / "toy.h5"
    with EpisodeWriter(path, env_id="Toy-v0", image_size=64, action_dim=2) as writer:
        for ep, length in enumerate((21, 30, 40, 60)):
            pixels = np.zeros((length, 64, 64, 3), np.uint8)
            pixels[:, 0, 0, 0], pixels[:, 0, 0, 1] = ep, np.arange(length)
            action = np.concatenate([np.ones((length - 1, 2), np.float32), np.full((1, 2), np.nan, np.float32)])
            writer.write_episode(Episode(pixels=pixels, action=action))
    return path


def test_hindsight_goals_are_future_frames_of_the_same_episode(toy_data):
    spec = get_method("tdmpc").clips(CFG)
    assert spec.frames == CFG.horizon + 1 and spec.goals == CFG.goals
    ds = ClipDataset(toy_data, num_steps=spec.frames, frameskip=CFG.frameskip, action_stats=STATS, goals=spec.goals)
    lengths = (21, 30, 40, 60)
    offsets = []
    for i in range(0, len(ds), 3):
        for draw in range(4):
            item = ds[(i, draw)]
            ep, first = int(item.pixels[0, 0, 0, 0]), int(item.pixels[0, 0, 0, 1])
            goal_ep, goal_t = int(item.goal_pixels[0, 0, 0]), int(item.goal_pixels[0, 0, 1])
            assert goal_ep == ep and goal_t == first + int(item.goal_offset)  # same episode, goal_offset later
            assert 1 <= int(item.goal_offset) <= lengths[ep] - 1 - first  # strictly in the future, inside it
            offsets.append(int(item.goal_offset))
    assert len(set(offsets)) > 5


def test_the_td_target_uses_the_target_network_and_the_ema_moves_it_by_tau():
    model = _perturbed()
    objective = TDMPCObjective(model, CFG, torch.Generator().manual_seed(0))
    batch = _batch()
    model.eval()  # no EMA update: compare losses at fixed weights
    with torch.no_grad():
        base = objective(batch)[1]["value_loss"]
        for b in model.target_values.buffers():
            b.add_(0.2 * torch.randn_like(b))
        moved = objective(batch)[1]["value_loss"]
    assert not torch.isclose(base, moved)  # the target heads enter the loss ...
    loss, _ = objective(batch)
    loss.backward()
    assert all(b.grad is None and not b.requires_grad for b in model.target_values.buffers())  # ... without gradient
    assert all(p.grad is not None for p in model.values.parameters())
    before = [b.clone() for b in model.target_values.buffers()]
    online = [p.detach().clone() for p in model.values.parameters()]
    model.train()
    objective(batch)  # a training forward moves the target: target <- (1 - tau) target + tau online
    for b, b0, p in zip(model.target_values.buffers(), before, online):
        torch.testing.assert_close(b, (1 - CFG.tau) * b0 + CFG.tau * p)
    with torch.no_grad():  # validation / BatchNorm recalibration (no gradients) leave it
        after = [b.clone() for b in model.target_values.buffers()]
        objective(batch)
    assert all(torch.equal(a, b) for a, b in zip(after, model.target_values.buffers()))


def test_target_heads_are_buffers_saved_with_the_checkpoint(tmp_path):
    model = _perturbed().eval()
    with torch.no_grad():
        for b in model.target_values.buffers():
            b.add_(1.0)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("target_values"))
    save_checkpoint(tmp_path / "checkpoints" / "step_00000001", model, method="tdmpc", action_stats=STATS)
    loaded = load_checkpoint(tmp_path).model
    for a, b in zip(model.target_values.buffers(), loaded.target_values.buffers()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_goal_cost_is_minus_discounted_return_plus_terminal_value():
    model = _perturbed().eval()
    z = model.encode(torch.randint(0, 256, (2, 2, 64, 64, 3), dtype=torch.uint8))  # (B, 2, D)
    actions = torch.randn(2, 5, 3, CFG.action_block_dim)  # (B, S, H, F)
    with torch.no_grad():
        z_hat = model.rollout(z[:, :1], actions)  # (B, S, H, D)
        cost = model.goal_cost(z_hat, z[:, 1], actions)  # (B, S)
        g = z[:, 1, None].expand(2, 5, -1)  # (B, S, D)
        ret = sum(
            CFG.discount**t * model.decode(model.reward(torch.cat([z_hat[:, :, t], g], -1))) for t in range(3)
        )  # (B, S)
        value = model.decode(model.value(z_hat[:, :, -1], g)).mean(0)  # (B, S)
    torch.testing.assert_close(cost, -(ret + CFG.discount**3 * value))
    assert cost.std() > 0


def test_it_plans_with_td_mpc2s_mppi_in_a_gym_loop():
    from lewm_agents.wrappers import GoalConditioned

    env = GoalConditioned(gym.make("lewm/TwoRoom-v1", image_size=64, max_episode_steps=20))
    plan = replace(NATIVE_PLAN, num_samples=64, topk=8, iterations=2)
    agent = MPCAgent(_perturbed(), action_space=env.action_space, action_stats=STATS, config=plan, device="cpu")
    obs, _ = env.reset(seed=0)
    steps, done = 0, False
    while not done:
        action, _ = agent.predict(obs, deterministic=True)
        assert env.action_space.contains(action.astype(env.action_space.dtype))
        obs, _, term, trunc, _ = env.step(action)
        steps, done = steps + 1, term or trunc
    env.close()
    assert NATIVE_PLAN.executed_blocks == 1  # TD-MPC2 replans at every step: here every block of 5 env steps
    assert steps >= 1 and len(agent.plan_times_ms) == -(-steps // 5)


def test_parameters_within_2x_of_lewms_at_every_preset():
    lewm, tdmpc = get_method("lewm"), get_method("tdmpc")
    for name in PRESETS:
        with torch.device("meta"):
            a = sum(p.numel() for p in lewm.build(lewm.presets[name]).parameters())
            b = sum(p.numel() for p in tdmpc.build(tdmpc.presets[name]).parameters())
        assert 0.5 < b / a < 2, (name, a, b)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="multiple of simnorm_dim"):
        replace(CFG, latent_dim=60)
    with pytest.raises(ValueError, match="discount"):
        replace(CFG, discount=1.0)
    with pytest.raises(ValueError, match="hindsight goals"):
        TDMPCObjective(TDMPC(CFG), CFG, None)(Batch(*_batch()[:2]))


def _grads(model: TDMPC) -> dict:
    named = dict(model.named_parameters())
    keys = ("encoder.out.0.weight", "dynamics.0.0.weight", "reward.2.weight", "values.1.2.weight")
    return {k: named[k].grad.clone() for k in keys}


def _ddp_rank_worker() -> dict:
    from lewm_agents import distributed

    env, _, owns = distributed.setup("cpu")
    try:
        model = _perturbed().eval()  # eval: no EMA step, so both runs bootstrap from the same target
        ddp = torch.nn.parallel.DistributedDataParallel(TDMPCObjective(model, CFG, None))
        n = 6 // env.world
        share = Batch(*(None if t is None else t[env.rank * n : (env.rank + 1) * n] for t in _batch()))
        loss, _ = ddp(share)
        loss.backward()
        return _grads(model)
    finally:
        if owns:
            distributed.teardown()


def test_ddp_gradients_equal_the_single_process_ones():
    """Two gloo processes with 3 clips each, whose goals leave 4 and 9 valid (clip, block) pairs: after DDP's
    averaging the gradients are the single-process ones (the masked means are normalised over the global batch)."""
    from lewm_agents.distributed import launch

    model = _perturbed().eval()
    loss, _ = TDMPCObjective(model, CFG, None)(_batch())
    loss.backward()
    got = launch(_ddp_rank_worker, (), 2)
    for k, ref in _grads(model).items():
        torch.testing.assert_close(got[k], ref, rtol=1e-4, atol=1e-7, msg=k)


def test_small_simnorm_latents_are_not_called_collapsed_but_constant_ones_are():
    """TD-MPC-style's collapse criterion (its METHOD record): SimNorm latents whose std across frames is ~5e-4, as
    trained runs reach (benchmarks/collapse_criteria.py), pass; LeWM's floor of 0.05 would flag them; a constant
    latent (std 0, rank 1) is flagged."""
    from lewm_agents.diagnostics import effective_rank

    m = get_method("tdmpc")
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 64, generator=g)  # (1, D): one point on the simplices ...
    small = SimNorm(8)(logits + 0.004 * torch.randn(256, 64, generator=g))  # (M, D): ... and small moves around it
    constant = SimNorm(8)(logits.expand(256, 64))  # (M, D)

    def collapsed(z, std_floor, rank_frac):
        return float(z.std(0).mean()) < std_floor or effective_rank(z) < rank_frac * z.shape[1]

    assert 1e-4 < float(small.std(0).mean()) < 1e-3
    assert not collapsed(small, m.collapse_std, m.collapse_rank) and collapsed(small, 0.05, 0.02)
    assert float(constant.std(0).mean()) == 0 and collapsed(constant, m.collapse_std, m.collapse_rank)
