"""GoalConditioned: the goal image in a Dict observation, through the checkers, vector envs and RecordVideo."""

import gymnasium as gym
import numpy as np
import pytest

from lewm_agents.wrappers import GoalConditioned


def make(size: int = 32, **kw) -> gym.Env:
    return GoalConditioned(gym.make("lewm/TwoRoom-v1", image_size=size, **kw))


def test_observation_holds_frame_and_goal():
    env = make()
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs["goal"], info["goal"])
    np.testing.assert_array_equal(obs["goal"], env.unwrapped.render_goal())
    assert not np.array_equal(obs["pixels"], obs["goal"])
    obs2, *_ = env.step(np.ones(2, dtype=np.float32))
    np.testing.assert_array_equal(obs2["goal"], obs["goal"])  # same episode, same goal
    assert not np.array_equal(obs2["pixels"], obs["pixels"])  # the agent moved
    new, _ = env.reset(seed=1)
    assert not np.array_equal(new["goal"], obs["goal"])  # a new episode brings its goal


def test_passes_the_gymnasium_and_sb3_checkers():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with pytest.warns(UserWarning, match="different from the unwrapped"):  # the checker prefers raw envs
        check_env(make())
    sb3_check_env(make(64), warn=True)


class _NoInfoGoal(gym.Wrapper):
    """An env that reports no info['goal'] (the wrapper must fall back to render_goal())."""

    def reset(self, **kw):
        obs, info = self.env.reset(**kw)
        return obs, {k: v for k, v in info.items() if k != "goal"}

    def step(self, action):
        obs, r, te, tr, info = self.env.step(action)
        return obs, r, te, tr, {k: v for k, v in info.items() if k != "goal"}


def test_goal_falls_back_to_render_goal():
    env = GoalConditioned(_NoInfoGoal(gym.make("lewm/TwoRoom-v1", image_size=32)))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["goal"], env.unwrapped.render_goal())


class _RewardOnly(gym.Env):
    """A pixel env with no goal at all (no info['goal'], no render_goal())."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        return np.zeros((8, 8, 3), np.uint8), {}


def test_reward_only_env_is_named_at_reset():
    with pytest.raises(ValueError, match=r"_RewardOnly reports no info\['goal'\] .* not goal-conditioned"):
        GoalConditioned(_RewardOnly()).reset(seed=0)


def test_clear_errors():
    with pytest.raises(ValueError, match="RGB frames"):
        GoalConditioned(gym.make("CartPole-v1"))
    with pytest.raises(RuntimeError, match="before reset"):
        make().step(np.zeros(2, dtype=np.float32))


def test_in_a_gymnasium_vector_env():
    venv = gym.vector.SyncVectorEnv([make, make])
    obs, infos = venv.reset(seed=[0, 1])
    assert obs["pixels"].shape == obs["goal"].shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(obs["goal"], infos["goal"])
    assert not np.array_equal(obs["goal"][0], obs["goal"][1])  # per-env goals
    venv.close()


def test_record_video_works_around_it(tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo writes through moviepy: pip install lewm-agents[dev]")
    env = gym.wrappers.RecordVideo(
        make(64), str(tmp_path / "videos"), episode_trigger=lambda ep: True, disable_logger=True
    )
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"pixels", "goal"}
    for _ in range(5):
        env.step(np.ones(2, dtype=np.float32))
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
