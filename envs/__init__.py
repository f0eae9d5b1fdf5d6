"""lewm_envs: the goal-conditioned pixel environments of the LeWorldModel suite, registered with Gymnasium.

Importing this package registers every env in ``ENVS`` with ``gymnasium`` (idempotently), so
``gymnasium.make("lewm/TwoRoom-v1", image_size=224)`` works after ``import lewm_envs``.

Goal-conditioned interface shared by every env of the suite (the evaluation in ``lewm_agents`` relies on it):

* Observation: an RGB frame, uint8 (S, S, 3), S = ``image_size``. ``render()`` returns the same frame.
* ``reset(*, seed=None, options=None)``: ``options={"state": ..., "goal_state": ...}``, each optional, puts the
  agent / the target exactly at the given state; a missing one is sampled from ``env.np_random``.
* ``info`` (from ``reset`` and ``step``): ``"proprio"`` and ``"state"`` (float32), ``"goal_state"`` (float32),
  ``"goal"`` (the goal image, uint8 (S, S, 3)), ``"is_success"`` (bool) and ``"distance"`` (float).
* ``render_goal()`` returns the goal image; ``is_success(state, goal_state)`` is the success rule.
* ``step`` returns the Gymnasium 5-tuple; ``terminated`` is True on success; time limits come from the registered
  ``max_episode_steps`` (``truncated``).
* Defaults are the paper's reference envs, step for step (physics, rules, seeding, rendering); each deviation we keep
  is a constructor option, off by default. An env's module lists, in ``LEGACY_VERSIONS``, what changed since each
  older version of its id.
* ``lewm/Cube-v1`` also starts OGBench's 5 evaluation tasks: ``reset(seed=s, options={"task": k})``, k in 1..5
  (``lewm_envs.cube.OGBENCH_TASKS``). ``lewm/DMC-v1`` gives any DeepMind Control task the interface above, with the
  paper's ``qpos_match`` rule (``success_threshold=None`` makes it reward-only).

Each env also names scripted collection policies (``COLLECTION_POLICIES``), built as
``policy_cls(action_space=..., seed=...)`` and called as ``policy(obs, info) -> action``; they read only ``info``.
Short names (``ENV_ALIASES``) are what the CLI and the Makefile accept.

Versions: an id's ``-vN`` changes whenever the env's behaviour does (v1: PushT and TwoRoom follow the paper's reference
envs step for step). Datasets record their env id; :func:`check_recorded_env` (``lewm_envs.versions``) refuses data
from an old version, or maps it to the current env plus the legacy options in the env module's ``LEGACY_VERSIONS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium

__all__ = [
    "COLLECTION_POLICIES",
    "DEFAULT_POLICY",
    "ENVS",
    "ENV_ALIASES",
    "EnvEntry",
    "check_recorded_env",
    "load_policy_class",
    "register_envs",
    "resolve_env_id",
]


@dataclass(frozen=True)
class EnvEntry:
    """One environment of the suite: its Gymnasium registration, short name and collection policies."""

    env_id: str
    """Gymnasium id, ``namespace/Name-vN``."""
    entry_point: str
    """``"module:Class"`` of the env, imported only by ``gymnasium.make`` (optional dependencies stay lazy)."""
    alias: str
    """Lower-case short name for the CLI and the Makefile."""
    max_episode_steps: int
    """Time limit applied by ``gymnasium.make`` (TimeLimit truncation)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Default constructor kwargs; ``gymnasium.make(id, **kw)`` overrides them."""
    policies: dict[str, str] = field(default_factory=dict)
    """Collection policies by name, each a ``"module:Class"`` string."""
    default_policy: str = ""
    """Name of the policy used when none is requested; one of ``policies``."""

    def __post_init__(self) -> None:
        if self.alias != self.alias.lower():
            raise ValueError(f"EnvEntry alias must be lower case (lookups are case-insensitive), got {self.alias!r}.")
        if self.policies and self.default_policy not in self.policies:
            raise ValueError(
                f"EnvEntry {self.env_id!r}: default_policy={self.default_policy!r} is not one of its policies "
                f"{sorted(self.policies)}; set default_policy to one of them."
            )


ENVS: tuple[EnvEntry, ...] = (
    EnvEntry(
        env_id="lewm/TwoRoom-v1",
        entry_point="lewm_envs.two_room:TwoRoomEnv",
        alias="tworoom",
        max_episode_steps=100,
        kwargs={"image_size": 64},
        policies={"heuristic": "lewm_envs.two_room:TwoRoomHeuristicPolicy"},
        default_policy="heuristic",
    ),
    EnvEntry(
        env_id="lewm/PushT-v1",
        entry_point="lewm_envs.pusht:PushTEnv",
        alias="pusht",
        max_episode_steps=300,
        kwargs={"image_size": 64},
        policies={
            "pusher": "lewm_envs.pusht:PushTPusherPolicy",
            "expert": "lewm_envs.pusht_expert:PushTExpertPolicy",
            "expert-slow": "lewm_envs.pusht_expert:PushTSlowExpertPolicy",
            "random-arena": "lewm_envs.pusht_expert:PushTArenaRandomPolicy",
        },
        default_policy="pusher",
    ),
    EnvEntry(
        env_id="lewm/Reacher-v1",
        entry_point="lewm_envs.reacher:ReacherEnv",
        alias="reacher",
        max_episode_steps=200,
        kwargs={"image_size": 64},
        policies={"noise": "lewm_envs.reacher:ReacherNoisePolicy", "sac": "lewm_envs.reacher:ReacherSACPolicy"},
        default_policy="noise",
    ),
    EnvEntry(
        env_id="lewm/Cube-v1",
        entry_point="lewm_envs.cube:CubeEnv",
        alias="cube",
        max_episode_steps=200,
        kwargs={"image_size": 64},
        policies={"pickplace": "lewm_envs.cube:CubePickPlacePolicy"},
        default_policy="pickplace",
    ),
    EnvEntry(
        env_id="lewm/DMC-v1",
        entry_point="lewm_envs.dmc:DMCEnv",
        alias="dmc",
        max_episode_steps=1000,
        kwargs={"image_size": 64},
        policies={"noise": "lewm_envs.noise:ColoredNoisePolicy"},
        default_policy="noise",
    ),
)
"""The suite. Add an env here (PushT, Reacher, Cube, ...) and the tables below follow."""

ENV_ALIASES: dict[str, str] = {entry.alias: entry.env_id for entry in ENVS}
"""Short name -> Gymnasium id, e.g. ``"tworoom" -> "lewm/TwoRoom-v1"``."""
COLLECTION_POLICIES: dict[str, dict[str, str]] = {entry.env_id: dict(entry.policies) for entry in ENVS}
"""Gymnasium id -> {policy name -> ``"module:Class"``}."""
DEFAULT_POLICY: dict[str, str] = {entry.env_id: entry.default_policy for entry in ENVS if entry.policies}
"""Gymnasium id -> name of its default collection policy."""


def register_envs() -> None:
    """Registers every env in ``ENVS`` with Gymnasium; ids already registered are left alone (idempotent)."""
    for entry in ENVS:
        if entry.env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=entry.env_id,
            entry_point=entry.entry_point,
            max_episode_steps=entry.max_episode_steps,
            kwargs=dict(entry.kwargs),
        )


def resolve_env_id(name: str) -> str:
    """Maps a short name or a Gymnasium id to the full Gymnasium id.

    Args:
        name: A short name from ``ENV_ALIASES`` (case-insensitive, e.g. ``"tworoom"``) or any id registered with
            Gymnasium (e.g. ``"lewm/TwoRoom-v1"`` or ``"CartPole-v1"``).

    Returns:
        The Gymnasium id.

    Raises:
        ValueError: ``name`` is neither a short name nor a registered Gymnasium id.

    Example:
        >>> resolve_env_id("TwoRoom")
        'lewm/TwoRoom-v1'
    """
    alias = name.strip().lower()
    if alias in ENV_ALIASES:
        return ENV_ALIASES[alias]
    if name in gymnasium.registry:
        return name
    short = ", ".join(f"{a!r} ({env_id})" for a, env_id in sorted(ENV_ALIASES.items()))
    raise ValueError(
        f"Unknown environment {name!r}. Valid short names are: {short}. Any id registered with gymnasium also works, "
        "e.g. 'CartPole-v1' or 'lewm/TwoRoom-v1' (import the package that registers it first)."
    )


def load_policy_class(env_id: str, name: str) -> type:
    """Imports a collection policy class of an env.

    Args:
        env_id: Gymnasium id (or short name) of the env, e.g. ``"lewm/TwoRoom-v1"``.
        name: Policy name, a key of ``COLLECTION_POLICIES[env_id]``, e.g. ``"heuristic"``.

    Returns:
        The policy class, to be built as ``cls(action_space=..., seed=...)``.

    Raises:
        ValueError: The env has no collection policies, or none called ``name``.

    Example:
        >>> load_policy_class("lewm/TwoRoom-v1", "heuristic").__name__
        'TwoRoomHeuristicPolicy'
    """
    env_id = ENV_ALIASES.get(env_id.strip().lower(), env_id)
    if env_id not in COLLECTION_POLICIES:
        raise ValueError(
            f"No collection policies are defined for {env_id!r}. Envs with policies: {sorted(COLLECTION_POLICIES)}; "
            "for another env, collect with a random policy instead."
        )
    policies = COLLECTION_POLICIES[env_id]
    if name not in policies:
        raise ValueError(f"Unknown policy {name!r} for {env_id!r}. Valid policies: {sorted(policies)}.")
    module_name, _, class_name = policies[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


register_envs()

from lewm_envs.versions import check_recorded_env  # noqa: E402  (needs ENVS above)
