"""The ``reset(options=...)`` checks every env of the suite shares: known keys only, and MuJoCo states as
``concat(qpos, qvel)``.

Dimension letters: Q = nq + nv, the length of a physics state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def reset_options(options: Mapping[str, Any] | None, allowed: Iterable[str], usage: str) -> dict[str, Any]:
    """``options`` as a dict (empty when None); an unknown key raises ValueError ending with ``usage``.

    Example:
        >>> reset_options(None, {"state", "goal_state"}, "")
        {}
        >>> reset_options({"goal": 1}, {"state"}, "MyEnv.reset accepts options={'state': s}.")
        Traceback (most recent call last):
        ...
        ValueError: Unknown reset option(s) ['goal']; MyEnv.reset accepts options={'state': s}.
    """
    options = {} if options is None else dict(options)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown reset option(s) {unknown}; {usage}")
    return options


def physics_state(value: Any, name: str, nq: int, nv: int, layout: str = "") -> np.ndarray | None:
    """``options[name]`` as a float64 (Q,) state ``concat(qpos, qvel)``, or None when missing.

    ``layout`` is appended to the error (e.g. where the interesting coordinates are).

    Example:
        >>> physics_state([0.1, 0.2, 0.0, 0.0], "state", nq=2, nv=2)
        array([0.1, 0.2, 0. , 0. ])
    """
    if value is None:
        return None
    size = nq + nv
    try:
        state = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"options[{name!r}] must be concat(qpos, qvel), {size} numbers, got {value!r}.") from err
    if state.shape != (size,) or not np.all(np.isfinite(state)):
        raise ValueError(
            f"options[{name!r}] must be {size} finite numbers concat(qpos ({nq}), qvel ({nv})) as in info['state']"
            f"{layout}, got shape {state.shape}."
        )
    return state


def float_vector(action: Any, *, keep_float: bool = False) -> np.ndarray:
    """``action`` as a flat float array (float64, or its own float dtype with ``keep_float``); an empty array when it
    holds something other than numbers (strings, objects), so the caller's shape check refuses it with its own
    message instead of numpy's "could not convert string to float".

    Example:
        >>> float_vector([1, 2]), float_vector(["a", "b"]).shape
        (array([1., 2.]), (0,))
    """
    try:
        arr = np.asarray(action)
        if arr.dtype.kind not in "biuf":
            return np.empty(0)
        return arr.reshape(-1) if keep_float and arr.dtype.kind == "f" else arr.astype(np.float64).reshape(-1)
    except (TypeError, ValueError):  # ragged sequences
        return np.empty(0)
