"""MPCAgent in a plain gym loop, in SB3's evaluate_policy, and its per-env plan bookkeeping."""

import gymnasium as gym
import numpy as np
import pytest

from lewm_agents.agent import MPCAgent
from lewm_agents.planning import PlanConfig

TINY_PLAN = PlanConfig(num_samples=16, iterations=2, topk=4, horizon=3, receding_horizon=2)


@pytest.fixture
def agent_env(tiny_run):
    env = gym.make("lewm/TwoRoom-v0", image_size=64)
    agent = MPCAgent.from_checkpoint(tiny_run, action_space=env.action_space, config=TINY_PLAN, device="cpu")
    yield agent, env
    env.close()


def test_agent_in_a_plain_gym_loop(agent_env):
    agent, env = agent_env
    obs, info = env.reset(seed=0)
    agent.set_goal(info["goal"])
    for _ in range(25):
        action = agent.act(obs)
        assert action.shape == (2,) and action.dtype == np.float32
        assert env.action_space.contains(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    # 2 blocks x frameskip 5 = 10 env steps per plan
    assert len(agent.plan_times_ms) == 3 and all(t > 0 for t in agent.plan_times_ms)


def test_agent_needs_a_goal(agent_env):
    agent, env = agent_env
    obs, _ = env.reset(seed=0)
    with pytest.raises(RuntimeError, match="set_goal"):
        agent.act(obs)
    with pytest.raises(ValueError, match="tuple"):
        agent.predict(env.reset(seed=0))


def test_predict_accepts_goal_dicts_and_batches(agent_env):
    agent, env = agent_env
    obs, info = env.reset(seed=1)
    batch = {"pixels": np.stack([obs, obs, obs]), "goal": np.stack([info["goal"]] * 3)}
    actions, state = agent.predict(batch, episode_start=np.ones(3, dtype=bool))
    assert actions.shape == (3, 2) and state is None
    assert len(agent.plan_batch_sizes) == 1 and agent.plan_batch_sizes[0] == 3  # one batched plan for all envs


def test_episode_start_clears_only_that_env(agent_env):
    agent, env = agent_env
    obs, info = env.reset(seed=2)
    agent.set_goal(info["goal"])
    frames = np.stack([obs, obs])
    agent.predict(frames, episode_start=np.array([True, True]))
    assert agent.plan_batch_sizes == [2]
    agent.predict(frames, episode_start=np.array([False, True]))  # env 1 restarts: only it replans
    assert agent.plan_batch_sizes == [2, 1]
    for _ in range(8):  # env 0 has now used all 10 actions of its plan; env 1 has one left
        agent.predict(frames, episode_start=np.array([False, False]))
    assert agent.plan_batch_sizes == [2, 1]
    agent.predict(frames, episode_start=np.array([False, False]))  # only env 0 replans
    assert agent.plan_batch_sizes == [2, 1, 1]


def test_action_space_must_match_the_model(tiny_run):
    with pytest.raises(ValueError, match="action space"):
        MPCAgent.from_checkpoint(tiny_run, action_space=gym.spaces.Box(-1, 1, (3,)), device="cpu")


def test_agent_in_sb3_evaluate_policy(agent_env):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    agent, env = agent_env
    _, info = env.reset(seed=0)
    agent.set_goal(info["goal"])  # one goal image for both envs
    venv = DummyVecEnv([lambda: gym.make("lewm/TwoRoom-v0", image_size=64, max_episode_steps=15)] * 2)
    rewards, lengths = evaluate_policy(agent, venv, n_eval_episodes=2, warn=False, return_episode_rewards=True)
    assert len(rewards) == 2 and all(0 < n <= 15 for n in lengths)
    venv.close()
