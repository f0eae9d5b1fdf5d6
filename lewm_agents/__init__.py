"""lewm-agents: LeWorldModel agents for Gymnasium.

Collect reward-free pixel data (`lewm_agents.data`), train a LeWorldModel (`model`, `loss`, `train`), plan toward a
goal image in its latent space (`planning`, `agent`), and evaluate or benchmark it (`evaluate`, `benchmark`).

Importing the package registers the `lewm/*` environments with Gymnasium when `lewm_envs` is installed (the
package and its model, training and planning modules work without it). Methods (LeWM, PLDM-style, GCBC, ...) are
registered in `lewm_agents.methods`. The heavier names load on first use:

    >>> import lewm_agents
    >>> lewm_agents.LeWM.__name__
    'LeWM'
"""

from __future__ import annotations

import importlib
from typing import Any

try:
    import lewm_envs  # noqa: F401  (registers lewm/TwoRoom-v1 and the rest of the suite)
except ModuleNotFoundError as e:  # the env suite is optional: models, training and planning do not need it
    if not (e.name or "").startswith("lewm_envs"):
        raise

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
    "PolicyAgent": "lewm_agents.agent",
    "load_agent": "lewm_agents.agent",
    "METHODS": "lewm_agents.methods",
    "get_method": "lewm_agents.methods",
    "Batch": "lewm_agents.data.batch",
    "WorldModel": "lewm_agents.protocols",
    "Policy": "lewm_agents.protocols",
    "Objective": "lewm_agents.protocols",
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
