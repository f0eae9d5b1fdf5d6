"""Data layer: the HDF5 episode format, the recording wrapper, collection, and the training dataset.

``ActionStats``, ``ClipDataset``, ``compute_action_stats`` and ``split_episodes`` are imported on first use, so
collecting or inspecting data does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lewm_agents.data.actions import action_space_from_description, decode_action, describe_action_space, encode_action
from lewm_agents.data.collect import CollectConfig, collect
from lewm_agents.data.format import FORMAT_VERSION, DatasetError, DatasetReader, Episode, EpisodeWriter
from lewm_agents.data.merge import merge_datasets
from lewm_agents.data.policies import Policy, RandomPolicy, SB3Policy, make_policy, resolve_policy_name
from lewm_agents.data.preview import contact_sheet, write_video
from lewm_agents.data.recorder import EpisodeBuffer, RecordEpisodes, resize_frame
from lewm_agents.data.sources import EnvSource, RenderFrames, resolve_env_id, resolve_source

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
    "EnvSource",
    "Episode",
    "EpisodeBuffer",
    "EpisodeWriter",
    "Policy",
    "RandomPolicy",
    "RecordEpisodes",
    "RenderFrames",
    "SB3Policy",
    "action_space_from_description",
    "collect",
    "compute_action_stats",
    "contact_sheet",
    "decode_action",
    "describe_action_space",
    "encode_action",
    "make_policy",
    "merge_datasets",
    "resize_frame",
    "resolve_env_id",
    "resolve_policy_name",
    "resolve_source",
    "split_episodes",
    "write_video",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module("lewm_agents.data.dataset"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
