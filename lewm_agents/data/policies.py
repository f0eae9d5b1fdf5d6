"""Collection policies: anything that maps (observation, info) to an action for one env.

Dimension letters: A action dim.

A policy sees only what the env returns (``obs`` and ``info``), so the same policy runs inside ``lewm collect`` and
on its own. Env-specific scripted policies live in ``lewm_envs`` and are looked up by name.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """A data-collection policy."""

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; a seed makes the episode's actions reproducible."""
        ...

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Return the action (A,) for the current observation and info."""
        ...


class RandomPolicy:
    """Uniform random actions in a bounded Box action space.

    Args:
        action_space: The env's Box action space; every bound must be finite.
        seed: Seed of the policy's own generator.

    Example:
        >>> policy = RandomPolicy(action_space=gymnasium.spaces.Box(-1.0, 1.0, (2,)), seed=0)
        >>> policy(None, {}).shape
        (2,)
    """

    def __init__(self, *, action_space: gymnasium.spaces.Box, seed: int | None = None) -> None:
        if not isinstance(action_space, gymnasium.spaces.Box):
            raise TypeError(f"RandomPolicy needs a Box action space, got {action_space}.")
        if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            raise ValueError(
                f"RandomPolicy samples uniformly, so the action space needs finite bounds; got {action_space}. "
                "Wrap the env in gymnasium.wrappers.RescaleAction or use a scripted policy."
            )
        self.action_space = action_space
        self._low = action_space.low.astype(np.float32)  # (A,)
        self._high = action_space.high.astype(np.float32)  # (A,)
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseed the generator when a seed is given (otherwise keep drawing from the current stream)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Draw one action uniformly in [low, high]."""
        return self._rng.uniform(self._low, self._high).astype(np.float32)  # (A,)


def resolve_policy_name(env_id: str, name: str) -> str:
    """Turn ``"default"`` into the env's default collection policy (``"random"`` when it has none).

    Args:
        env_id: Gymnasium id of the env.
        name: A policy name or ``"default"``.

    Returns:
        The concrete policy name.
    """
    if name != "default":
        return name
    try:
        import lewm_envs
    except ImportError:  # lewm_envs is part of this distribution, but plain gymnasium envs need nothing from it
        return "random"
    return getattr(lewm_envs, "DEFAULT_POLICY", {}).get(env_id, "random")


def make_policy(env_id: str, name: str, *, action_space: gymnasium.spaces.Box, seed: int | None = None) -> Policy:
    """Build a collection policy by name.

    Args:
        env_id: Gymnasium id of the env the policy will drive.
        name: ``"random"``, ``"default"`` (the env's default policy from ``lewm_envs.DEFAULT_POLICY``, else random)
            or the name of a scripted policy registered in ``lewm_envs.COLLECTION_POLICIES`` for this env.
        action_space: The env's action space.
        seed: Seed of the policy's generator.

    Returns:
        The policy.

    Raises:
        ValueError: ``name`` is not a policy known for ``env_id``.
    """
    resolved = resolve_policy_name(env_id, name)
    if resolved == "random":
        return RandomPolicy(action_space=action_space, seed=seed)
    try:
        import lewm_envs
    except ImportError as exc:
        raise ValueError(
            f"Policy {resolved!r} for {env_id} needs the lewm_envs package, which failed to import ({exc}). "
            "Reinstall lewm-agents, or use --policy random."
        ) from exc
    known = getattr(lewm_envs, "COLLECTION_POLICIES", {}).get(env_id, {})
    if resolved not in known:
        choices = ", ".join(sorted({"random", "default", *known}))
        raise ValueError(f"Unknown collection policy {resolved!r} for {env_id}; choose one of: {choices}.")
    return lewm_envs.load_policy_class(env_id, resolved)(action_space=action_space, seed=seed)
