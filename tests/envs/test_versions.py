"""Datasets know their env version: `check_recorded_env` refuses old ids or maps them to v1 + legacy kwargs."""

from __future__ import annotations

import doctest

import gymnasium as gym
import pytest

import lewm_envs
from lewm_envs import check_recorded_env, versions
from lewm_envs.two_room import LEGACY_VERSIONS as TWOROOM_LEGACY


@pytest.mark.parametrize("env_id", ["lewm/TwoRoom-v1", "lewm/PushT-v1", "CartPole-v1", "dmc:cheetah-run", "Pusher"])
def test_current_and_foreign_ids_pass_unchanged(env_id: str) -> None:
    kwargs = {"image_size": 64, "render_mode": "rgb_array"}
    assert check_recorded_env(env_id, kwargs) == (env_id, kwargs)


@pytest.mark.parametrize(
    ("env_id", "fragments"),
    [
        ("lewm/PushT-v0", ["dynamic pusher of mass 20", "lewm/PushT-v1", "re-collect", "'pusher': 'dynamic'"]),
        ("lewm/TwoRoom-v0", ["whole agent disc through a 28-unit door", "re-collect", "'door_rule': 'disc'"]),
    ],
)
def test_old_ids_are_refused_with_the_difference_and_both_fixes(env_id: str, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        check_recorded_env(env_id, {"image_size": 64})
    message = str(err.value)
    assert f"recorded with {env_id}" in message and "legacy=True" in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


def test_legacy_maps_an_old_record_to_v1_plus_its_options() -> None:
    env_id, kwargs = check_recorded_env("lewm/TwoRoom-v0", {"image_size": 32, "max_speed": 4.0}, legacy=True)
    assert env_id == "lewm/TwoRoom-v1"
    assert kwargs == {**TWOROOM_LEGACY[0][0], "image_size": 32, "max_speed": 4.0}
    env = gym.make(env_id, **kwargs)
    assert env.unwrapped.door_rule == "disc" and env.unwrapped.render_style == "v0"


def test_legacy_renames_pushts_render_target() -> None:
    pytest.importorskip("pymunk")
    _, kwargs = check_recorded_env("lewm/PushT-v0", {"image_size": 32, "render_target": True}, legacy=True)
    assert kwargs["goal_marker"] == "episode" and "render_target" not in kwargs
    _, kwargs = check_recorded_env("lewm/PushT-v0", {"image_size": 32}, legacy=True)
    assert kwargs["goal_marker"] == "none" and kwargs["pusher"] == "dynamic"
    gym.make("lewm/PushT-v1", **kwargs).reset(seed=0)


def test_unknown_old_versions_say_to_recollect() -> None:
    with pytest.raises(
        ValueError, match=r"lewm/TwoRoom-v7.*no legacy options for v7.*Re-collect it with lewm/TwoRoom-v1"
    ):
        check_recorded_env("lewm/TwoRoom-v7", {})
    with pytest.raises(ValueError, match=r"declares no legacy options for v7"):
        check_recorded_env("lewm/TwoRoom-v7", {}, legacy=True)


def test_every_old_version_of_ours_names_kwargs_its_env_accepts() -> None:
    for entry in lewm_envs.ENVS:
        for version, (kwargs, what) in versions.legacy_versions(entry.env_id).items():
            assert version < versions.split_version(entry.env_id)[1] and what
            if kwargs is None:  # no option restores that version: refused both ways, re-collect
                old = f"{versions.split_version(entry.env_id)[0]}-v{version}"
                for legacy in (False, True):
                    with pytest.raises(ValueError, match=r"re-collect"):
                        check_recorded_env(old, {}, legacy=legacy)
                continue
            required = {"domain": "reacher", "task": "easy"} if entry.alias == "dmc" else {}  # DMC-v1 needs a task
            try:
                env = gym.make(entry.env_id, image_size=16, **required, **kwargs)
            except ImportError:  # an optional extra (pymunk, dm-control, ogbench) is missing
                continue
            env.close()


@pytest.mark.filterwarnings("ignore:.*out of date")
def test_v0_ids_are_no_longer_registered() -> None:
    with pytest.raises(gym.error.DeprecatedEnv, match=r"lewm/TwoRoom-v1"):
        gym.make("lewm/TwoRoom-v0")


def test_docstring_examples_run() -> None:
    result = doctest.testmod(versions, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
