"""The method registry: every method the toolkit trains, plans or acts with, and compares in the benchmark.

A method is one file here (its config dataclass, model, objective and a ``METHOD = Method(...)`` record) plus one
entry in `METHODS` below. Everything else (the training loop, DDP, checkpoints, `load_agent`, evaluation, the
benchmark and its report) goes through the record and the interfaces of lewm_agents/protocols.py:

* ``lewm``: LeWM, the paper's method (prediction MSE + lambda * SIGReg), planned with CEM.
* ``pldm``: PLDM-style, the same backbone with PLDM's VICReg-family objective, planned with the same solver.
* ``gcbc``: goal-conditioned behaviour cloning on hindsight goals, acting without a planner.
* ``dreamer``: Dreamer-style, an RSSM world model (DreamerV3's categorical latents, KL balancing and free bits)
  trained with pixel reconstruction, planned with the same solver.
* ``tdmpc``: TD-MPC-style, TD-MPC2's world model with goal-conditioned reward and value heads (hindsight TD), MPPI.

Example:
    >>> sorted(METHODS)
    ['dreamer', 'gcbc', 'lewm', 'pldm', 'tdmpc']
    >>> get_method("pldm").acts
    'plan'
"""

from __future__ import annotations

from lewm_agents.methods import dreamer, gcbc, lewm, pldm, tdmpc
from lewm_agents.methods.method import SCALES, Method, config_from_dict

METHODS: dict[str, Method] = {m.name: m for m in (lewm.METHOD, pldm.METHOD, gcbc.METHOD, dreamer.METHOD, tdmpc.METHOD)}
"""Registered methods by name, in the order reports list them."""


def get_method(name: str) -> Method:
    """The registered method called ``name``; an unknown name is refused with the valid ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; registered methods: {', '.join(METHODS)} (lewm_agents/methods/).")
    return METHODS[name]


__all__ = ["METHODS", "SCALES", "Method", "config_from_dict", "get_method"]
