"""The envs' perturb hooks (violation-of-expectation tests, lewm_agents/analysis/surprise.py)."""

import numpy as np
import pytest

from lewm_envs.two_room import TwoRoomEnv


def test_tworoom_teleport_moves_the_agent_and_redraws_it():
    env = TwoRoomEnv(image_size=64)
    env.reset(seed=0, options={"state": [60.0, 100.0], "goal_state": [160.0, 100.0]})
    goal = env.render_goal()
    moved, info = env.perturb(state=[160.0, 150.0])
    assert info["state"].tolist() == [160.0, 150.0]
    ref, _ = TwoRoomEnv(image_size=64).reset(seed=0, options={"state": [160.0, 150.0]})
    assert np.array_equal(moved, ref)  # exactly the frame of an agent that started there
    assert np.array_equal(env.render_goal(), goal)
    obs2, *_ = env.step(np.zeros(2, np.float32))
    assert np.array_equal(obs2, ref)  # and the physics continues from there


def test_tworoom_recolour_lasts_until_reset():
    env = TwoRoomEnv(image_size=64)
    red, _ = env.reset(seed=0, options={"state": [60.0, 100.0]})
    blue, info = env.perturb(agent_rgb=[0, 0, 255])
    assert info["state"].tolist() == [60.0, 100.0]
    assert blue[..., 2].astype(int).sum() > red[..., 2].astype(int).sum()  # more blue
    assert blue[..., 0].astype(int).sum() < red[..., 0].astype(int).sum()  # less red
    assert np.array_equal(env.step(np.zeros(2, np.float32))[0], blue)
    again, _ = env.reset(seed=0, options={"state": [60.0, 100.0]})
    assert np.array_equal(again, red)


def test_tworoom_perturb_checks_its_input():
    env = TwoRoomEnv(image_size=32)
    with pytest.raises(RuntimeError, match="before reset"):
        env.perturb(state=[50.0, 50.0])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="agent_rgb"):
        env.perturb(agent_rgb=[0, 0, 300])


def test_pusht_teleport_and_recolour():
    pytest.importorskip("pymunk")
    from lewm_envs.pusht import PushTEnv

    env = PushTEnv(image_size=64)
    obs, _ = env.reset(seed=0, options={"state": [100.0, 100.0, 300.0, 300.0, 0.5]})
    moved, info = env.perturb(state=[400.0, 400.0, 200.0, 150.0, 1.0])
    assert np.allclose(info["state"][:5], [400.0, 400.0, 200.0, 150.0, 1.0], atol=1e-4)
    assert not np.array_equal(moved, obs)
    recoloured, info2 = env.perturb(agent_rgb=[220, 20, 60], block_rgb=[255, 140, 0])
    assert np.array_equal(info2["state"], info["state"])
    diff = np.abs(recoloured.astype(int) - moved.astype(int)).sum(-1) > 0  # (S, S)
    assert 0 < diff.mean() < 0.2  # only the agent and the block changed colour
    fresh, _ = env.reset(seed=0, options={"state": [100.0, 100.0, 300.0, 300.0, 0.5]})
    assert np.array_equal(fresh, obs)  # reset restores the reference colours
