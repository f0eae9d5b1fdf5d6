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


class ToyWorld(torch.nn.Module):
    """A `WorldModel` with nothing but the protocol (no ``cfg``): the latent is the colour of the top-left pixel's
    first two channels, each action block moves it by 0.1 x its mean action, the cost is the final distance."""

    action_dim, frameskip, image_size, history, latent_dim = 2, 5, 8, 1, 2

    def encode(self, pixels):  # (B, T, h, w, 3) -> (B, T, 2)
        return pixels[..., 0, 0, :2].float() / 255

    def rollout(self, z, actions, context_actions=None):  # (B, 1, D), (B, S, H, F) -> (B, S, H, D)
        step = 0.1 * actions.unflatten(-1, (self.frameskip, self.action_dim)).mean(-2)  # (B, S, H, 2)
        return z[:, -1, None, None] + step.cumsum(2)

    def goal_cost(self, z_hat, z_goal, actions):  # -> (B, S)
        return (z_hat[:, :, -1] - z_goal[:, None]).pow(2).sum(-1)


class ToyPolicy(torch.nn.Module):
    """A `Policy` with nothing but the protocol: act toward the goal latent, one block of 5 equal steps."""

    action_dim, frameskip, image_size, latent_dim = 2, 5, 8, 2

    def encode(self, pixels):
        return pixels[..., 0, 0, :2].float() / 255

    def act(self, z, z_goal):  # (B, D), (B, D) -> (B, 1, F)
        return (z_goal - z).repeat(1, self.frameskip)[:, None]


def _frame(r, g):
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[0, 0, :2] = r, g
    return frame


def test_mpc_agent_needs_only_the_world_model_interface():
    from lewm_agents.data import ActionStats

    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    stats = ActionStats(mean=(0.0, 0.0), std=(1.0, 1.0))
    plan = PlanConfig(num_samples=64, iterations=5, topk=8, horizon=3)
    agent = MPCAgent(ToyWorld(), action_space=space, action_stats=stats, config=plan, device="cpu")
    agent.set_goal(_frame(200, 50))  # latent (0.78, 0.2): 0.3 reachable on each axis in 3 blocks
    first = agent.act(_frame(0, 0))
    assert space.contains(first) and first[0] > 0.3 and first[1] > 0  # toward the goal, the far axis harder
    assert agent.plan_iterations == [5] and len(agent.plan_times_ms) == 1


def test_policy_agent_acts_with_the_policy_interface_and_keeps_the_agent_api():
    from lewm_agents.agent import PolicyAgent
    from lewm_agents.data import ActionStats

    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    stats = ActionStats(mean=(0.5, 0.0), std=(2.0, 1.0))
    agent = PolicyAgent(ToyPolicy(), action_space=space, action_stats=stats, device="cpu")
    obs = {"pixels": np.stack([_frame(0, 0), _frame(51, 0)]), "goal": np.stack([_frame(51, 102), _frame(51, 0)])}
    actions, _ = agent.predict(obs, episode_start=np.ones(2, dtype=bool))
    # z-scored (0.2, 0.4) and (0, 0), un-normalised (x * std + mean) and clipped to the box
    np.testing.assert_allclose(actions, [[0.9, 0.4], [0.5, 0.0]], atol=1e-6)
    assert agent.plan_batch_sizes == [2] and agent.plan_iterations == [1] and agent.plan_budget_hits == [False]
    for _ in range(4):  # one block = 5 env steps per query
        agent.predict(obs)
    assert agent.plan_batch_sizes == [2]
    agent.predict(obs, episode_start=np.array([False, True]))  # both envs are out of actions: one query for both
    assert agent.plan_batch_sizes == [2, 2]
    with pytest.raises(RuntimeError, match="set_goal"):
        PolicyAgent(ToyPolicy(), action_space=space, action_stats=stats, device="cpu").act(_frame(0, 0))


def test_agents_refuse_a_checkpoint_of_the_other_kind(tmp_path):
    from lewm_agents.agent import PolicyAgent
    from lewm_agents.checkpoint import save_checkpoint
    from lewm_agents.data import ActionStats
    from lewm_agents.methods import get_method

    stats = ActionStats(mean=(0.0, 0.0), std=(1.0, 1.0))
    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    for name, agent_cls in (("gcbc", MPCAgent), ("lewm", PolicyAgent)):
        torch.manual_seed(0)
        model = get_method(name).build(get_method(name).presets["smoke"])
        save_checkpoint(tmp_path / name, model, method=name, action_stats=stats)
        with pytest.raises(ValueError, match="load_agent"):
            agent_cls.from_checkpoint(tmp_path / name, action_space=space, device="cpu")


# --- every observation is checked, planned actions queued or not (issue 10, defect 3) ---------------------------


def _toy_agents():
    from lewm_agents.agent import PolicyAgent
    from lewm_agents.data import ActionStats

    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    stats = ActionStats(mean=(0.0, 0.0), std=(1.0, 1.0))
    plan = PlanConfig(num_samples=8, iterations=1, topk=2, horizon=2, receding_horizon=1)
    return [
        MPCAgent(ToyWorld(), action_space=space, action_stats=stats, config=plan, device="cpu"),
        PolicyAgent(ToyPolicy(), action_space=space, action_stats=stats, device="cpu"),
    ]


BAD_OBSERVATIONS = {
    "state-vector": (np.zeros(10), "shape (10,)"),
    "other-size": (np.zeros((4, 4, 3), np.uint8), "shape (4, 4, 3)"),
    "grayscale": (np.zeros((8, 8), np.uint8), "shape (8, 8)"),
    "int64": (np.zeros((8, 8, 3), np.int64), "dtype int64"),
    "nan": (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
    "inf": (np.full((8, 8, 3), np.inf), "NaN or infinite"),
    "float-0-255": (np.full((8, 8, 3), 200.0), "in [0, 1]"),
    "strings": (np.full((8, 8, 3), "a"), "not a numeric array"),
    "empty-batch": (np.zeros((0, 8, 8, 3), np.uint8), "shape (0, 8, 8, 3)"),
}


@pytest.mark.parametrize("kind", ["mpc", "policy"])
@pytest.mark.parametrize("bad", list(BAD_OBSERVATIONS), ids=str)
def test_every_observation_is_checked_while_actions_are_queued(kind, bad):
    agent, twin = (a[kind == "policy"] for a in (_toy_agents(), _toy_agents()))
    for a in (agent, twin):
        a.set_goal(_frame(200, 50))
    assert np.array_equal(agent.act(_frame(0, 0)), twin.act(_frame(0, 0)))  # actions are queued from here
    obs, says = BAD_OBSERVATIONS[bad]
    for call in (agent.act, agent.predict, lambda o: agent.predict({"pixels": o, "goal": _frame(1, 1)})):
        with pytest.raises(ValueError) as e:
            call(obs)
        assert says in str(e.value) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="goal"):
        agent.predict({"pixels": _frame(0, 0), "goal": obs})
    with pytest.raises(ValueError, match="goal"):
        agent.set_goal(obs)
    # a refused call consumed nothing: the agent goes on exactly as one that never saw it
    assert np.array_equal(agent.act(_frame(0, 0)), twin.act(_frame(0, 0)))
    assert agent.plan_batch_sizes == twin.plan_batch_sizes


def test_float_frames_in_0_1_are_accepted():
    for agent in _toy_agents():
        agent.set_goal(_frame(200, 50).astype(np.float32) / 255)
        assert agent.act(_frame(0, 0).astype(np.float32) / 255).shape == (2,)


def test_masks_and_goal_counts_are_checked():
    agent = _toy_agents()[0]
    agent.set_goal(np.stack([_frame(200, 50)] * 2))
    with pytest.raises(ValueError, match="set_goal got 2 goals but predict got 3 envs"):
        agent.predict(np.stack([_frame(0, 0)] * 3))
    with pytest.raises(ValueError, match=r"episode_start must be a boolean array of shape \(2,\)"):
        agent.predict(np.stack([_frame(0, 0)] * 2), episode_start=np.ones(3, bool))
    with pytest.raises(ValueError, match="2 frames but 3 goal frames"):
        agent.predict({"pixels": np.stack([_frame(0, 0)] * 2), "goal": np.stack([_frame(0, 0)] * 3)})


# --- no plan for the final frame of an episode in a gymnasium vector loop ---------------------------------------


def test_no_plan_on_the_final_frame_of_an_autoreset_vector_env():
    """gymnasium's vector envs (autoreset NEXT_STEP) return an episode's final frame, then ignore the next action
    (they reset): with ``episode_end`` the agent plans for neither, and replans on the reset's frame."""
    agent = _toy_agents()[0]  # plans 1 block of 5 env steps at a time (receding_horizon 1)
    agent.set_goal(_frame(200, 50))
    frames = np.stack([_frame(0, 0), _frame(10, 0)])
    agent.predict(frames)  # t = 0: one plan for both envs, 5 actions each
    for _ in range(4):
        agent.predict(frames)
    assert agent.plan_batch_sizes == [2]
    # t = 5: env 1's episode ended at the previous step: its frame is final; env 0 is out of actions and replans
    actions, _ = agent.predict(frames, episode_end=np.array([False, True]))
    assert agent.plan_batch_sizes == [2, 1]
    np.testing.assert_array_equal(actions[1], np.zeros(2, np.float32))  # a placeholder the vector env ignores
    # t = 6: env 1 shows its reset frame: a new plan from it (its old plan was dropped)
    agent.predict(frames)
    assert agent.plan_batch_sizes == [2, 1, 1]
