"""collect(): episode counts, the render path with resizing, seeding and appending; collection policies."""

from __future__ import annotations

import dataclasses
import pathlib

import gymnasium
import numpy as np
import pytest

from lewm_agents.data.collect import CollectConfig, collect
from lewm_agents.data.format import DatasetError, DatasetReader
from lewm_agents.data.policies import Policy, RandomPolicy, make_policy
from tests.data.test_recorder import VECTOR_ENV_ID  # registers the test env (40x48 rendered frames, 6 steps)


def config(out: pathlib.Path, **overrides: object) -> CollectConfig:
    return CollectConfig(
        **{"env": VECTOR_ENV_ID, "episodes": 3, "out": out, "image_size": 32, "progress": False, **overrides}
    )


def test_collect_writes_the_requested_episodes_through_the_render_path(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "vector.h5"
    stats = collect(config(out))
    assert stats["episodes"] == 3 and stats["total_episodes"] == 3 and stats["frames"] == 3 * 7
    assert stats["frames_per_s"] > 0 and stats["seconds"] > 0
    with DatasetReader(out) as reader:
        assert (reader.env_id, reader.image_size, reader.action_dim, reader.policy) == (VECTOR_ENV_ID, 32, 1, "random")
        assert reader.seed == 0 and reader.env_kwargs["render_mode"] == "rgb_array"
        np.testing.assert_array_equal(reader.ep_len, [7, 7, 7])
        assert reader.column("truncated").sum() == 3 and not reader.column("terminated").any()
        assert reader.column("observation").shape == (21, 3)
        assert reader.frames(np.arange(21)).shape == (21, 32, 32, 3)
        action = reader.column("action")
    assert np.abs(action[~np.isnan(action)]).max() <= 0.5  # RandomPolicy stays in the Box


def test_appending_with_the_same_seed_adds_new_reproducible_episodes(tmp_path: pathlib.Path) -> None:
    out, replay = tmp_path / "a.h5", tmp_path / "b.h5"
    collect(config(out, episodes=2))
    stats = collect(config(out, episodes=2))
    assert stats["episodes"] == 2 and stats["total_episodes"] == 4
    collect(config(replay, episodes=4))  # the same four episodes in one run
    with DatasetReader(out) as a, DatasetReader(replay) as b:
        firsts = a.frames(a.ep_offset)  # (4, H, W, 3): first frame of every episode
        assert len({frame.tobytes() for frame in firsts}) == 4  # episodes 2 and 3 are new, not repeats of 0 and 1
        np.testing.assert_array_equal(a.column("episode_idx"), np.repeat(np.arange(4), 7))
        for name in ("pixels", "action", "observation"):
            np.testing.assert_array_equal(a.column(name), b.column(name))


def test_collect_refuses_an_incompatible_out_file(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "d.h5"
    collect(config(out, episodes=1))
    with pytest.raises(DatasetError, match="image_size=32"):
        collect(config(out, episodes=1, image_size=16))


def test_collect_respects_max_episode_steps(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "d.h5"
    collect(config(out, episodes=2, max_episode_steps=2))
    with DatasetReader(out) as reader:
        np.testing.assert_array_equal(reader.ep_len, [3, 3])


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("episodes", 0, "episodes"), ("image_size", 8, "image_size"), ("max_episode_steps", 0, "max_episode_steps")],
)
def test_config_validation(field: str, value: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CollectConfig(env="Pendulum-v1", **{field: value})


def test_config_is_frozen_and_documented() -> None:
    cfg = CollectConfig(env="Pendulum-v1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.episodes = 3  # type: ignore[misc]
    assert (cfg.episodes, cfg.image_size, cfg.policy, cfg.seed, cfg.progress) == (100, 64, "default", 0, True)


def test_unknown_env_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="Unknown env"):
        collect(config(tmp_path / "d.h5", env="NoSuchEnv-v0"))


def test_make_policy_random_and_default() -> None:
    space = gymnasium.make("Pendulum-v1").action_space
    for name in ("random", "default"):
        policy = make_policy("Pendulum-v1", name, action_space=space, seed=1)
        assert isinstance(policy, RandomPolicy) and isinstance(policy, Policy)
    cartpole_box = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
    policy = make_policy("CartPole-v1", "random", action_space=cartpole_box, seed=1)
    first = [policy(None, {}) for _ in range(3)]
    policy.reset(seed=1)
    np.testing.assert_array_equal(first, [policy(None, {}) for _ in range(3)])
    assert all(space.contains(a) for a in (make_policy("Pendulum-v1", "random", action_space=space)(None, {}),))
    with pytest.raises(ValueError, match="Unknown collection policy"):
        make_policy("Pendulum-v1", "no-such-policy", action_space=space)
    with pytest.raises(ValueError, match="finite bounds"):
        RandomPolicy(action_space=gymnasium.spaces.Box(-np.inf, np.inf, (2,)))


def test_collect_pendulum(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pygame", reason="Pendulum-v1 renders with pygame (gymnasium[classic_control])")
    out = tmp_path / "pendulum.h5"
    cfg = CollectConfig(env="Pendulum-v1", episodes=2, out=out, image_size=32, max_episode_steps=10, progress=False)
    collect(cfg)
    collect(cfg)
    with DatasetReader(out) as reader:
        assert reader.num_episodes == 4 and reader.columns >= {"observation", "reward"}
        firsts = reader.frames(reader.ep_offset)  # (4, 32, 32, 3)
        assert len({frame.tobytes() for frame in firsts}) == 4
