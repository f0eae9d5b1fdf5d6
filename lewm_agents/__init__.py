"""lewm-agents: LeWorldModel agents for Gymnasium.

Collect reward-free pixel data (`lewm_agents.data`), train a LeWorldModel (`model`, `loss`, `train`), plan toward a
goal image in its latent space (`planning`, `agent`), and evaluate or benchmark it (`evaluate`, `benchmark`).

Importing the package registers the `lewm/*` environments with Gymnasium. The heavier names load on first use:

    >>> import lewm_agents
    >>> lewm_agents.LeWM.__name__
    'LeWM'
"""

from __future__ import annotations

import importlib
from typing import Any

import lewm_envs  # noqa: F401  (registers lewm/TwoRoom-v1 and the rest of the suite)

__version__ = "0.1.0"

_LAZY = {
    "LeWM": "lewm_agents.model",
    "ModelConfig": "lewm_agents.model",
    "MODEL_PRESETS": "lewm_agents.model",
    "sigreg": "lewm_agents.loss",
    "lewm_loss": "lewm_agents.loss",
    "PlanConfig": "lewm_agents.planning",
    "cem": "lewm_agents.planning",
    "MPCAgent": "lewm_agents.agent",
    "TrainConfig": "lewm_agents.train",
    "train": "lewm_agents.train",
    "load_checkpoint": "lewm_agents.checkpoint",
    "save_checkpoint": "lewm_agents.checkpoint",
    "EvalConfig": "lewm_agents.evaluate",
    "evaluate": "lewm_agents.evaluate",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lewm_agents' has no attribute {name!r}")
