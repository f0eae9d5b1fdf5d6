"""`lewm info` summaries of datasets: counts, size, action space and statistics."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from lewm_agents.data.format import Episode, EpisodeWriter
from lewm_agents.data.merge import merge_datasets
from lewm_agents.info import summarize


def write(path: pathlib.Path, actions: list[np.ndarray], action_space: dict) -> None:
    with EpisodeWriter(path, env_id="Toy-v0", image_size=8, action_dim=actions[0].shape[1], policy="random",
                       action_space=action_space, env_kwargs={"render_mode": "rgb_array"}) as writer:  # fmt: skip
        for action in actions:
            pixels = np.zeros((len(action), 8, 8, 3), np.uint8)
            writer.write_episode(Episode(pixels=pixels, action=action))


def test_dataset_summary_counts_and_box_statistics(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "box.h5"
    box = {"type": "Box", "shape": [2], "low": [-1.0, -2.0], "high": [1.0, 2.0], "dtype": "float32"}
    a = np.array([[0.5, -1.0], [0.25, 2.0], [np.nan, np.nan]], np.float32)
    b = np.array([[-0.5, 0.0], [np.nan, np.nan]], np.float32)
    write(path, [a, b], box)
    s = summarize(path)
    assert (s["episodes"], s["frames"], s["env_id"], s["image_size"], s["action_dim"]) == (2, 5, "Toy-v0", 8, 2)
    assert s["episode_steps"] == "mean 1.5, min 1, max 2" and s["size_mb"] > 0
    assert s["action_space"] == "Box(2,) [-2, 2]" and s["env_kwargs"] == {"render_mode": "rgb_array"}
    valid = np.concatenate([a[:-1], b[:-1]])  # the NaN rows ending each episode are not actions
    np.testing.assert_allclose(s["action_mean"], valid.mean(0).round(4))
    np.testing.assert_allclose(s["action_std"], valid.std(0).round(4))
    assert s["action_min"] == [-0.5, -1.0] and s["action_max"] == [0.5, 2.0]
    assert s["action_mean"] == [round(float(x), 4) for x in valid.mean(0)]  # plain floats, no float32 noise


def test_discrete_and_merged_datasets(tmp_path: pathlib.Path) -> None:
    path, other, merged = tmp_path / "d.h5", tmp_path / "e.h5", tmp_path / "m.h5"
    one_hot = np.array([[1, 0], [0, 1], [0, 1], [np.nan, np.nan]], np.float32)
    discrete = {"type": "Discrete", "n": 2, "start": 0}
    write(path, [one_hot], discrete)
    write(other, [one_hot], discrete)
    s = summarize(path)
    assert s["action_space"] == "Discrete(2), stored one-hot"
    assert s["action_mean"] == pytest.approx([1 / 3, 2 / 3], abs=1e-4)  # the frequency of each action
    assert "merged_from" not in s
    merge_datasets(merged, [path, other])
    assert summarize(merged)["merged_from"] == 2 and summarize(merged)["episodes"] == 2
