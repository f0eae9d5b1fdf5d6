"""Collection policies: anything that maps (observation, info) to an action for one env.

Dimension letters: A action dim.

A policy sees only what the env returns (``obs`` and ``info``), so the same policy runs inside ``lewm collect`` and
on its own. It returns an element of the env's action space (a Box array, or an int for Discrete). Policies by name
(:func:`make_policy`): ``random``; ``noise`` or ``noise:BETA`` (coloured noise, ``lewm_envs.noise``);
``sb3:PATH.zip`` (a saved stable-baselines3 model); and the env-specific scripted policies of ``lewm_envs``, which
take precedence over the generic names.
"""

from __future__ import annotations

import pathlib
import zipfile
from typing import Any, Protocol, runtime_checkable

import gymnasium
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """A data-collection policy."""

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; a seed makes the episode's actions reproducible."""
        ...

    def __call__(self, obs: Any, info: dict[str, Any]) -> Any:
        """Return the action for the current observation and info (an element of the env's action space)."""
        ...


class RandomPolicy:
    """Uniform random actions in a bounded Box action space, or uniform over a Discrete space.

    Args:
        action_space: The env's Box action space (every bound must be finite) or Discrete action space.
        seed: Seed of the policy's own generator.

    Example:
        >>> policy = RandomPolicy(action_space=gymnasium.spaces.Box(-1.0, 1.0, (2,)), seed=0)
        >>> policy(None, {}).shape
        (2,)
    """

    def __init__(self, *, action_space: gymnasium.Space, seed: int | None = None) -> None:
        self.action_space = action_space
        self._rng = np.random.default_rng(seed)
        if isinstance(action_space, gymnasium.spaces.Discrete):
            return
        if not isinstance(action_space, gymnasium.spaces.Box):
            raise TypeError(f"RandomPolicy needs a Box or Discrete action space, got {action_space}.")
        if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            raise ValueError(
                f"RandomPolicy samples uniformly, so the action space needs finite bounds; got {action_space}. "
                "Wrap the env in gymnasium.wrappers.RescaleAction or use a scripted policy."
            )
        self._low = action_space.low.astype(np.float32)  # (A,)
        self._high = action_space.high.astype(np.float32)  # (A,)

    def reset(self, seed: int | None = None) -> None:
        """Reseed the generator when a seed is given (otherwise keep drawing from the current stream)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def __call__(self, obs: Any, info: dict[str, Any]) -> Any:
        """Draw one action uniformly in [low, high] (Box) or among the n actions (Discrete)."""
        space = self.action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            return int(self._rng.integers(space.n)) + int(space.start)
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


def make_policy(
    env_id: str,
    name: str,
    *,
    action_space: gymnasium.Space,
    seed: int | None = None,
    observation_space: gymnasium.Space | None = None,
) -> Policy:
    """Build a collection policy by name.

    Args:
        env_id: Gymnasium id of the env the policy will drive.
        name: ``"random"``; ``"default"`` (the env's default policy from ``lewm_envs.DEFAULT_POLICY``, else random);
            the name of a scripted policy registered in ``lewm_envs.COLLECTION_POLICIES`` for this env;
            ``"noise"`` or ``"noise:BETA"`` (coloured noise, beta 1 by default); or ``"sb3:PATH.zip"``.
        action_space: The env's action space.
        seed: Seed of the policy's generator.
        observation_space: The env's observation space (checked against an SB3 model's).

    Returns:
        The policy.

    Raises:
        ValueError: ``name`` is not a policy known for ``env_id``, or an SB3 model does not fit the env.
    """
    resolved = resolve_policy_name(env_id, name)
    if resolved == "random":
        return RandomPolicy(action_space=action_space, seed=seed)
    if resolved.startswith("sb3:"):
        return SB3Policy(resolved[4:], action_space=action_space, observation_space=observation_space, seed=seed)
    try:
        import lewm_envs
    except ImportError as exc:
        raise ValueError(
            f"Policy {resolved!r} for {env_id} needs the lewm_envs package, which failed to import ({exc}). "
            "Reinstall lewm-agents, or use --policy random."
        ) from exc
    known = getattr(lewm_envs, "COLLECTION_POLICIES", {}).get(env_id, {})
    if resolved in known:  # an env's own policy wins over a generic one of the same name
        return lewm_envs.load_policy_class(env_id, resolved)(action_space=action_space, seed=seed)
    if resolved == "noise" or resolved.startswith("noise:"):
        from lewm_envs.noise import ColoredNoisePolicy

        beta_text = resolved.partition(":")[2] or "1.0"
        try:
            beta = float(beta_text)
        except ValueError:
            raise ValueError(f"Policy {resolved!r}: the noise exponent must be a number, e.g. noise:2.") from None
        return ColoredNoisePolicy(action_space=action_space, seed=seed, beta=beta)
    choices = ", ".join(sorted({"random", "default", "noise", "noise:BETA", "sb3:PATH.zip", *known}))
    raise ValueError(f"Unknown collection policy {resolved!r} for {env_id}; choose one of: {choices}.")


# Algorithms tried when loading an SB3 zip: the policy module in its metadata names the likely ones first.
_SB3_ALGORITHMS = ("SAC", "TD3", "PPO", "A2C", "DDPG", "DQN")
_SB3_BY_POLICY_MODULE = {"sac": ("SAC",), "td3": ("TD3", "DDPG"), "dqn": ("DQN",), "common": ("PPO", "A2C")}


def _sb3_candidates(path: pathlib.Path) -> list[str]:
    """Algorithm class names to try for ``path``, the ones its metadata suggests first."""
    import json

    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"{path} is not a stable-baselines3 model archive ({exc}); pass a .zip written by model.save(...)."
        ) from exc
    module = str(data.get("policy_class", {}).get("__module__", ""))  # e.g. stable_baselines3.sac.policies
    parts = module.split(".")
    likely = _SB3_BY_POLICY_MODULE.get(parts[1], ()) if len(parts) > 2 and parts[0] == "stable_baselines3" else ()
    if likely == ("PPO", "A2C") and "clip_range" not in data:
        likely = ("A2C", "PPO")
    return [*likely, *(name for name in _SB3_ALGORITHMS if name not in likely)]


def _fits(space: gymnasium.Space, x: Any) -> bool:
    """Whether ``x`` has the structure and shape of one observation of ``space`` (SB3 transposes HWC images)."""
    if isinstance(space, gymnasium.spaces.Dict):
        return isinstance(x, dict) and set(x) == set(space.spaces) and all(_fits(space[k], x[k]) for k in space.spaces)
    if x is None or isinstance(x, dict):
        return False
    shape = np.shape(x)
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(np.prod(shape, dtype=np.int64)) == 1
    want = tuple(space.shape or ())
    return shape == want or (len(want) == 3 and shape == (want[1], want[2], want[0]))


class SB3Policy:
    """A saved stable-baselines3 model as a collection policy: ``model.predict(x, deterministic=False)``.

    ``x`` is the env observation when it fits the model's observation space, else ``info["state"]``, else
    ``info["observation"]`` (so a model trained on an env's state can drive a pixel env that exposes the state).
    Sampling is reproducible: every call draws a torch seed from the policy's own generator and samples under
    ``torch.random.fork_rng``, so the global torch RNG is left untouched.

    Args:
        path: A ``.zip`` written by ``model.save``. The algorithm class is read from its metadata, or found by trying
            SAC, TD3, PPO, A2C, DDPG and DQN.
        action_space: The env's action space; the model's must have the same shape (Box) or size (Discrete).
        observation_space: The env's observation space (only used in error messages).
        seed: Seed of the per-step sampling seeds.
        device: Torch device the model runs on.

    Example::

        policy = SB3Policy("sac_pendulum.zip", action_space=env.action_space, seed=0)
        action = policy(obs, info)
    """

    def __init__(
        self,
        path: str | pathlib.Path,
        *,
        action_space: gymnasium.Space,
        observation_space: gymnasium.Space | None = None,
        seed: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise ValueError(f"SB3 model {self.path} does not exist; pass --policy sb3:PATH.zip with a saved model.")
        self.model, self.algorithm = self._load(device)
        theirs = self.model.action_space
        same = (
            isinstance(action_space, gymnasium.spaces.Discrete)
            and isinstance(theirs, gymnasium.spaces.Discrete)
            and theirs.n == action_space.n
        ) or (
            isinstance(action_space, gymnasium.spaces.Box)
            and isinstance(theirs, gymnasium.spaces.Box)
            and theirs.shape == action_space.shape
        )
        if not same:
            raise ValueError(
                f"SB3 model {self.path} ({self.algorithm}) acts in {theirs}, but the env's action space is "
                f"{action_space}; use a model trained on this env."
            )
        self.action_space = action_space
        self.observation_space = observation_space
        self._rng = np.random.default_rng(seed)

    def _load(self, device: str) -> tuple[Any, str]:
        try:
            import stable_baselines3
        except ImportError as exc:
            raise ValueError(
                "--policy sb3:PATH needs stable-baselines3: pip install stable-baselines3 (a core dependency of "
                f"lewm-agents; reinstall it with `pip install lewm-agents`). ({exc})"
            ) from exc
        failures = []
        for name in _sb3_candidates(self.path):
            try:
                return getattr(stable_baselines3, name).load(self.path, device=device), name
            except Exception as exc:  # any failure means "not this algorithm": try the next, report them all below
                failures.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        raise ValueError(
            f"Could not load {self.path} with any stable-baselines3 algorithm ({'; '.join(failures)}). Save the model "
            "with model.save(...) from SAC, TD3, PPO, A2C, DDPG or DQN."
        )

    def reset(self, seed: int | None = None) -> None:
        """Reseed the per-step sampling seeds (the model itself keeps no episode state)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def __call__(self, obs: Any, info: dict[str, Any]) -> Any:
        """Sample the model's action for the observation (or the state in ``info``) that fits its input."""
        import torch

        space = self.model.observation_space
        candidates = (("the observation", obs), ("info['state']", info.get("state")))
        candidates += (("info['observation']", info.get("observation")),)
        x = next((value for _, value in candidates if _fits(space, value)), None)
        if x is None:
            seen = ", ".join(
                f"{label} {np.shape(v) if not isinstance(v, dict) else sorted(v)}" for label, v in candidates
            )
            raise ValueError(
                f"SB3 model {self.path} ({self.algorithm}) expects observations of {space}, but none of what the env "
                f"gives fits ({seen}). Use a model trained on this env's observation or on its info['state']."
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self._rng.integers(2**62)))
            action, _ = self.model.predict(x, deterministic=False)
        if isinstance(self.action_space, gymnasium.spaces.Discrete):
            return int(np.asarray(action).reshape(-1)[0])
        space_a = self.action_space
        return np.clip(np.asarray(action, np.float32).reshape(space_a.shape), space_a.low, space_a.high)
