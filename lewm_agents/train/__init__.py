"""Training: the recipe (config.py), one optimizer step (learner.py), the loop (loop.py) and the one entry point of
``lewm train`` and ``torchrun -m lewm_agents.train`` (entry.py).

    >>> from lewm_agents.train import train_preset
    >>> train_preset("gcbc", "smoke").model.blocks
    1
"""

from __future__ import annotations

from lewm_agents.schedule import StepBatches, lr_at
from lewm_agents.train.config import (
    RUNTIME_ONLY,
    TRAIN_PRESETS,
    TrainConfig,
    config_from_args,
    recipe_diff,
    train_preset,
    upgrade_train_dict,
)
from lewm_agents.train.learner import Learner, recalibrate_batchnorm, validate
from lewm_agents.train.loop import describe, make_loader, schedule_steps, train

__all__ = [
    "RUNTIME_ONLY",
    "TRAIN_PRESETS",
    "Learner",
    "StepBatches",
    "TrainConfig",
    "config_from_args",
    "describe",
    "lr_at",
    "make_loader",
    "recalibrate_batchnorm",
    "recipe_diff",
    "schedule_steps",
    "train",
    "train_preset",
    "upgrade_train_dict",
    "validate",
]
