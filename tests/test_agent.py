"""MPCAgent in a plain gym loop, in vector envs (gymnasium's and SB3's), and its per-env plan bookkeeping."""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from lewm_agents.agent import MPCAgent
from lewm_agents.planning import PlanConfig
from lewm_agents.wrappers import GoalConditioned

TINY_PLAN = PlanConfig(num_samples=16, iterations=2, topk=4, horizon=3, receding_horizon=2)


@pytest.fixture
def agent_env(tiny_run):
    env = gym.make("lewm/TwoRoom-v1", image_size=64)
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


def _goal_env(seed_offset: int = 0, max_steps: int = 15):
    def make():
        env = GoalConditioned(gym.make("lewm/TwoRoom-v1", image_size=64, max_episode_steps=max_steps))
        env.reset(seed=seed_offset)
        return env

    return make


def test_agent_in_sb3_evaluate_policy_with_per_env_goals(agent_env):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    agent, _ = agent_env  # no set_goal: each env's goal image arrives in its observation
    venv = DummyVecEnv([_goal_env(), _goal_env()])
    venv.seed(3)  # SB3 seeds env i with 3 + i: two different goals
    rewards, lengths = evaluate_policy(agent, venv, n_eval_episodes=2, warn=False, return_episode_rewards=True)
    assert len(rewards) == 2 and all(0 < n <= 15 for n in lengths)
    assert agent.plan_batch_sizes[0] == 2  # both envs planned in one call
    goals = agent._last_goals
    assert goals[0] is not None and not np.array_equal(goals[0], goals[1])  # each env planned toward its own goal
    venv.close()


def test_agent_in_sb3_evaluate_policy_with_a_shared_goal(agent_env):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    agent, env = agent_env
    _, info = env.reset(seed=0)
    agent.set_goal(info["goal"])  # plain frame observations: one goal image for both envs
    venv = DummyVecEnv([lambda: gym.make("lewm/TwoRoom-v1", image_size=64, max_episode_steps=15)] * 2)
    rewards, lengths = evaluate_policy(agent, venv, n_eval_episodes=2, warn=False, return_episode_rewards=True)
    assert len(rewards) == 2 and all(0 < n <= 15 for n in lengths)
    venv.close()


def test_agent_in_a_gymnasium_vector_loop(agent_env):
    agent, _ = agent_env
    # 7-step episodes: both envs autoreset (NEXT_STEP) with new goals while their 10-action plans are unfinished
    venv = gym.vector.SyncVectorEnv([_goal_env(max_steps=7), _goal_env(max_steps=7)])
    obs, _ = venv.reset(seed=[0, 1])
    assert obs["pixels"].shape == (2, 64, 64, 3) and obs["goal"].shape == (2, 64, 64, 3)
    for _ in range(9):
        actions, _ = agent.predict(obs)
        assert actions.shape == (2, 2) and venv.action_space.contains(actions)
        obs, *_ = venv.step(actions)
    # step 0 plans both; the 7th step's truncation resets both (step 8), and their new goals trigger one new plan
    assert agent.plan_batch_sizes == [2, 2]
    venv.close()


def test_new_goal_replans_only_that_env(agent_env):
    agent, env = agent_env
    obs, info = env.reset(seed=0)
    _, info2 = env.reset(seed=5)
    batch = {"pixels": np.stack([obs, obs]), "goal": np.stack([info["goal"], info["goal"]])}
    agent.predict(batch)
    agent.predict(batch)  # plans are kept: no new plan
    batch["goal"][1] = info2["goal"]
    agent.predict(batch)
    assert agent.plan_batch_sizes == [2, 1]


def test_time_budget_reduces_the_iterations_of_the_agent(tiny_run):
    env = gym.make("lewm/TwoRoom-v1", image_size=64)
    slow = replace(TINY_PLAN, iterations=10_000, time_budget_ms=150.0)
    agent = MPCAgent.from_checkpoint(tiny_run, action_space=env.action_space, config=slow, device="cpu")
    obs, info = env.reset(seed=0)
    agent.set_goal(info["goal"])
    agent.act(obs)
    assert agent.plan_budget_hits == [True] and 1 <= agent.plan_iterations[0] < 10_000
    assert agent.plan_times_ms[0] < 2_000  # the cap bounds the call (loose: the machine may be loaded)
    env.close()


@pytest.mark.parametrize("solver", ["mppi", "gradient"])
def test_agent_plans_with_every_solver(tiny_run, solver):
    env = gym.make("lewm/TwoRoom-v1", image_size=64)
    cfg = replace(TINY_PLAN, solver=solver)
    agent = MPCAgent.from_checkpoint(tiny_run, action_space=env.action_space, config=cfg, device="cpu")
    obs, info = env.reset(seed=0)
    agent.set_goal(info["goal"])
    action = agent.act(obs)
    assert env.action_space.contains(action) and agent.plan_iterations == [2]
    env.close()


def test_clamped_planning_scores_only_executable_actions(agent_env):
    agent, env = agent_env
    seen = []
    rollout = agent.model.rollout

    def spy(z, actions, context_actions=None):
        seen.append(actions.detach().clone())
        return rollout(z, actions, context_actions)

    agent.model.rollout = spy
    obs, info = env.reset(seed=0)
    agent.set_goal(info["goal"])
    agent.act(obs)
    lo, hi = agent._bounds
    cands = torch.cat([a.reshape(-1, a.shape[-1]) for a in seen])  # (M, F)
    assert (cands >= lo - 1e-6).all() and (cands <= hi + 1e-6).all()
    assert (cands == hi).any() or (cands == lo).any()  # init_std 1 reaches the bounds: clamping did happen


@pytest.mark.slow
def test_compiled_rollout_plans_like_the_eager_one(tiny_run):
    env = gym.make("lewm/TwoRoom-v1", image_size=64)
    obs, info = env.reset(seed=0)
    actions = []
    for compile_ in (False, True):
        cfg = replace(TINY_PLAN, compile=compile_)
        agent = MPCAgent.from_checkpoint(tiny_run, action_space=env.action_space, config=cfg, device="cpu")
        agent.set_goal(info["goal"])
        actions.append(agent.act(obs))
    np.testing.assert_allclose(actions[0], actions[1], atol=1e-4)
    env.close()
