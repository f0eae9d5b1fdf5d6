"""The env table of `lewm_envs`: registration, short names and collection policies."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import pytest

import lewm_envs
from lewm_envs import (
    COLLECTION_POLICIES,
    DEFAULT_POLICY,
    ENV_ALIASES,
    load_policy_class,
    resolve_env_id,
)
from lewm_envs.two_room import TwoRoomHeuristicPolicy


@pytest.mark.parametrize("name", ["tworoom", "TwoRoom", " TWOROOM "])
def test_alias_resolves_case_insensitively(name: str) -> None:
    assert resolve_env_id(name) == "lewm/TwoRoom-v1"


@pytest.mark.parametrize("env_id", ["lewm/TwoRoom-v1", "CartPole-v1"])
def test_registered_ids_pass_through(env_id: str) -> None:
    assert resolve_env_id(env_id) == env_id


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown environment 'tworooms'") as err:
        resolve_env_id("tworooms")
    message = str(err.value)
    assert "'tworoom'" in message and "lewm/TwoRoom-v1" in message and "CartPole-v1" in message
    assert "\n" not in message


def test_tables_are_consistent_and_registered() -> None:
    for alias, env_id in ENV_ALIASES.items():
        assert alias == alias.lower()
        assert env_id in gym.registry
        assert DEFAULT_POLICY[env_id] in COLLECTION_POLICIES[env_id]
    assert gym.registry["lewm/TwoRoom-v1"].max_episode_steps == 100
    assert gym.registry["lewm/TwoRoom-v1"].kwargs == {"image_size": 64}


def test_registration_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is overridden
        importlib.reload(lewm_envs)
        lewm_envs.register_envs()
    assert "lewm/TwoRoom-v1" in gym.registry


def test_load_policy_class() -> None:
    assert load_policy_class("lewm/TwoRoom-v1", "heuristic") is TwoRoomHeuristicPolicy
    assert load_policy_class("tworoom", DEFAULT_POLICY["lewm/TwoRoom-v1"]) is TwoRoomHeuristicPolicy


def test_load_policy_class_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown policy 'expert' for 'lewm/TwoRoom-v1'.*\['heuristic'\]"):
        load_policy_class("lewm/TwoRoom-v1", "expert")
    with pytest.raises(ValueError, match=r"No collection policies are defined for 'CartPole-v1'.*lewm/TwoRoom-v1"):
        load_policy_class("CartPole-v1", "heuristic")


def test_every_env_is_at_version_1() -> None:
    # v1: PushT and TwoRoom follow the paper's reference envs; datasets from v0 are refused (see test_versions.py).
    assert all(entry.env_id.endswith("-v1") for entry in lewm_envs.ENVS)
