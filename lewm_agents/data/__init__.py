"""Data layer: the HDF5 episode format, the recording wrapper, collection, and the training dataset.

``ActionStats``, ``ClipDataset``, ``compute_action_stats`` and ``split_episodes`` are imported on first use, so
collecting or inspecting data does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lewm_agents.data.collect import CollectConfig, collect, resolve_env_id
from lewm_agents.data.format import FORMAT_VERSION, DatasetError, DatasetReader, Episode, EpisodeWriter
from lewm_agents.data.policies import Policy, RandomPolicy, make_policy, resolve_policy_name
from lewm_agents.data.recorder import RecordEpisodes, resize_frame

if TYPE_CHECKING:
    from lewm_agents.data.dataset import ActionStats, ClipDataset, compute_action_stats, split_episodes

_TORCH_NAMES = ("ActionStats", "ClipDataset", "compute_action_stats", "split_episodes")

__all__ = [
    "FORMAT_VERSION",
    "ActionStats",
    "ClipDataset",
    "CollectConfig",
    "DatasetError",
    "DatasetReader",
    "Episode",
    "EpisodeWriter",
    "Policy",
    "RandomPolicy",
    "RecordEpisodes",
    "collect",
    "compute_action_stats",
    "make_policy",
    "resize_frame",
    "resolve_env_id",
    "resolve_policy_name",
    "split_episodes",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module("lewm_agents.data.dataset"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
