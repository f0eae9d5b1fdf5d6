"""The `Method` record: everything the toolkit needs to train, save, load, evaluate and report one method.

Dimension letters: none (configs and builders only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, get_type_hints

import torch
from torch import nn

from lewm_agents.data.batch import ClipSpec
from lewm_agents.planning import PlanConfig

C = TypeVar("C")
"""A method's config: a frozen dataclass with the `lewm_agents.protocols.MethodConfig` fields."""

SCALES = ("smoke", "small", "gpu", "paper")
"""The preset names every method provides (the training presets of `lewm train --preset`)."""


@dataclass(frozen=True)
class Method(Generic[C]):
    """One registered method (lewm_agents/methods/__init__.py lists them).

    Adding a method is one file in lewm_agents/methods/ that defines its config dataclass, model, objective and a
    ``METHOD = Method(...)``, plus one entry in the registry tuple. The training loop, checkpoints, agents,
    evaluation and the benchmark then handle it with no other change.

    Example:
        >>> from lewm_agents.methods import get_method
        >>> m = get_method("lewm")
        >>> m.label, m.acts, m.clips(m.presets["smoke"]).frames
        ('LeWM', 'plan', 4)
    """

    name: str
    """Registry key, used on the command line (``--method NAME``), in checkpoints and in results.json."""
    label: str
    """Display name in reports, e.g. "PLDM-style (VICReg-family objective on the LeWM backbone)"."""
    config: type[C]
    """The config dataclass (frozen): architecture + loss weights, each field documented; the CLI shows its fields
    as ``--model.<field>``."""
    presets: Mapping[str, C]
    """The config per training preset (every name in `SCALES`)."""
    build: Callable[[C], nn.Module]
    """``build(cfg)`` -> the model, with ``cfg`` kept as its ``.cfg`` (saved in checkpoints). A
    `lewm_agents.protocols.WorldModel` when ``acts == "plan"``, a `lewm_agents.protocols.Policy` when ``"policy"``."""
    objective: Callable[[nn.Module, C, torch.Generator | None], nn.Module]
    """``objective(model, cfg, generator)`` -> a `lewm_agents.protocols.Objective` over that model; the generator
    (identical on every DDP rank, saved for exact resume) is the objective's only source of randomness."""
    acts: Literal["plan", "policy"]
    """'plan': a planner searches through the world model (`MPCAgent`, the shared solvers and budget); 'policy':
    the model acts directly (`PolicyAgent`)."""
    clips: Callable[[C], ClipSpec]
    """``clips(cfg)`` -> what a training clip holds: frames, extra columns, hindsight goals."""
    hparams: Callable[[C], dict[str, Any]] = lambda cfg: {}
    """``hparams(cfg)`` -> the loss hyper-parameters reported with results (e.g. LeWM's lambda)."""
    train_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Training-loop fields that differ from the shared presets, per preset name (e.g. a learning rate)."""
    collapse_hint: str = ""
    """What the collapse warning advises for this method, e.g. "Raise --lam (the SIGReg weight)"."""
    collapse_std: float = 0.05
    """What "collapsed" means for this method's latents, part 1: a mean per-dimension std (the objective's
    ``emb_std``) below this. The default is LeWM's: SIGReg aims at unit std, so 0.05 is far below any healthy run.
    A method whose latents are small by construction sets its own (TD-MPC-style's SimNorm latents live on simplices
    of 8 and train to stds ~5e-4 while still encoding the state). Used by the collapse warning
    (`lewm_agents.monitor.Monitor`) and tune-lambda's collapse guard; ``--collapse-std`` overrides it for one run."""
    collapse_rank: float = 0.02
    """... or part 2: an effective rank (the objective's ``eff_rank``) below this fraction of D (0: no rank test,
    for latents whose healthy rank is low by nature). ``--collapse-rank`` overrides it for one run. Methods whose
    objective reports no ``emb_std`` / ``eff_rank`` (GCBC) are never tested."""
    native_plan: PlanConfig | None = None
    """The planner the method's own paper uses, when it differs from the benchmark's common one (TD-MPC-style:
    TD-MPC2's MPPI). The benchmark then evaluates the method a second time with it, as an extra row
    ``<name>@native`` that shares the training run; the main row keeps the common budget. None: no extra row."""

    def __post_init__(self) -> None:
        if not (self.collapse_std >= 0 and 0 <= self.collapse_rank <= 1):
            raise ValueError(
                f"Method {self.name!r}: collapse_std must be >= 0 and collapse_rank in [0, 1] (a fraction of D); got "
                f"{self.collapse_std} and {self.collapse_rank}. Fix its METHOD record in lewm_agents/methods/."
            )
        if "@" in self.name:
            raise ValueError(f"Method name {self.name!r} may not contain '@' (it marks a native-planner row).")

    def config_from_dict(self, d: Mapping[str, Any]) -> C:
        """The config from its `to_dict` form (checkpoints, run.json); unknown fields are refused."""
        return config_from_dict(self.config, d)


def config_from_dict(cls: type[C], d: Mapping[str, Any]) -> C:
    """Build the dataclass ``cls`` from a (JSON) dict, nested dataclass fields included; unknown keys are refused.

    Example:
        >>> from lewm_agents.data.batch import ClipSpec, HindsightGoals
        >>> config_from_dict(ClipSpec, {"frames": 2, "goals": {"max_offset": 9}}).goals.max_offset
        9
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; written by a newer lewm-agents?")
    hints = get_type_hints(cls)
    kwargs = {}
    for k, v in d.items():
        inner = _dataclass_in(hints[k])
        kwargs[k] = config_from_dict(inner, v) if inner is not None and isinstance(v, Mapping) else v
    return cls(**kwargs)


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass in a type hint (``X`` or ``X | None``), or None."""
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in getattr(tp, "__args__", ()):
        if dataclasses.is_dataclass(arg):
            return arg
    return None
