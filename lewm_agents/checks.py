"""Validation of configs' numeric fields, with one-sentence errors that name the field, its flag, the valid range and
the value that failed (issue 10: ``--lr nan`` used to reach torch's bare "Invalid learning rate: nan").

`check_range` is called from a config's ``__post_init__`` for each number with a range; `check_finite` walks a
config (and the configs nested in it, e.g. a method's config inside ``TrainConfig``) and refuses every float field
that is NaN or infinite, so a method added later is covered without code of its own.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def flag(name: str, prefix: str = "") -> str:
    """The command-line flag of a config field, e.g. ``--model.std-coeff``."""
    return f"--{prefix}{name.replace('_', '-')}"


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "finite"


def check_range(
    cfg: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    prefix: str = "",
    what: str = "",
) -> None:
    """Refuse ``cfg.<name>`` unless it is a finite number within the bounds (None: no bound; ``*_open``: the bound
    itself is excluded). ``prefix`` is the flag's group (``"model."`` for a method's config); ``what`` says what the
    field is. None values pass (optional fields)."""
    value = getattr(cfg, name)
    if value is None:
        return
    bad = not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
    if not bad:
        bad = (low is not None and (value < low or (low_open and value == low))) or (
            high is not None and (value > high or (high_open and value == high))
        )
    if bad:
        rng = _interval(low, high, low_open, high_open)
        where = f"{type(cfg).__name__}.{name} ({flag(name, prefix)}{', ' + what if what else ''})"
        if rng == "finite":
            raise ValueError(f"{where} must be a finite number but is {value!r}; pass a finite value.")
        raise ValueError(f"{where} must be a finite number {rng} but is {value!r}; pass a value in that range.")


def check_finite(cfg: Any, prefix: str = "") -> None:
    """Refuse NaN or infinite values in every float field of a dataclass config, and of the dataclass configs in its
    fields (their flags get the field's name as prefix: ``--model.lam``)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            check_range(cfg, f.name, prefix=prefix)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_finite(value, f"{prefix}{f.name}.")
