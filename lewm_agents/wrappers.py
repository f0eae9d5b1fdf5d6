"""Gymnasium wrappers that let a goal-image agent drop into plain gym loops, vector envs and stable-baselines3.

Frames are uint8 ``(height, width, 3)``; vector envs batch them to ``(N, height, width, 3)``.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np


class GoalConditioned(gym.Wrapper[dict[str, np.ndarray], Any, np.ndarray, Any], gym.utils.RecordConstructorArgs):
    """Puts the goal image into the observation: ``{"pixels": frame, "goal": goal_frame}``.

    The goal comes from ``info["goal"]`` (every ``lewm/*`` env reports it), else from ``env.unwrapped.render_goal()``
    at reset. With it the agent needs no ``set_goal`` call: each env of a vector env (gymnasium's or SB3's) carries its
    own goal, and a new episode's goal reaches the agent with its first observation.

    Args:
        env: a goal-conditioned env whose observations are RGB frames (a ``Box`` of uint8 ``(h, w, 3)``).

    Example:
        >>> import lewm_envs
        >>> env = GoalConditioned(gym.make("lewm/TwoRoom-v1", image_size=32))
        >>> obs, info = env.reset(seed=0)
        >>> sorted(obs), obs["goal"].shape, bool((obs["goal"] == info["goal"]).all())
        (['goal', 'pixels'], (32, 32, 3), True)
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # lets env.spec re-make the stack (the render check does)
        gym.Wrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 3 or space.shape[-1] != 3:
            raise ValueError(
                f"GoalConditioned needs an env whose observations are RGB frames (a Box of shape (h, w, 3)), but "
                f"{env.spec.id if env.spec else env} observes {space}. Wrap a pixel env (e.g. lewm/TwoRoom-v1; the "
                f"MuJoCo envs with obs_type='pixels', their default), or render frames first "
                f"(gymnasium.wrappers.AddRenderObservation(env, render_only=True))."
            )
        self.observation_space = gym.spaces.Dict({"pixels": space, "goal": space})
        self._goal: np.ndarray | None = None

    def _goal_from(self, info: dict[str, Any]) -> np.ndarray:
        if "goal" in info:
            return np.asarray(info["goal"])
        render_goal = getattr(self.env.unwrapped, "render_goal", None)
        if render_goal is None:
            raise ValueError(
                f"GoalConditioned found no goal image: {self.env.unwrapped.__class__.__name__} reports no "
                f"info['goal'] and has no render_goal() method, so it is not goal-conditioned (a reward-only env). "
                f"Wrap an env that provides one of them (every lewm/* env does, lewm/DMC-v1 for any DeepMind "
                f"Control task included), or use this env without GoalConditioned."
            )
        return np.asarray(render_goal())

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Resets the env and reads the new episode's goal image."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._goal = self._goal_from(info)
        return {"pixels": obs, "goal": self._goal}, info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        """Steps the env; the goal image is the one of the episode (or ``info["goal"]`` when the env moves it)."""
        if self._goal is None:
            raise RuntimeError("GoalConditioned.step() was called before reset(); call env.reset(seed=...) first.")
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "goal" in info:
            self._goal = np.asarray(info["goal"])
        return {"pixels": obs, "goal": self._goal}, reward, terminated, truncated, info
