"""Action spaces in a dataset: how an env's actions become the float32 ``action`` column, and back.

Dimension letters: A action dim (the width of the ``action`` column), n number of discrete actions.

A Box action space is stored as is, flattened to (A,). A Discrete(n) space is stored one-hot, (n,) float32, so a
world model sees the same kind of continuous action vector for every env; an agent maps a planned vector back with
argmax (:func:`decode_action`). The description written to the file's ``action_space`` attribute (JSON) is enough to
rebuild the space: ``{"type": "Box", "shape": [...], "low": [...], "high": [...], "dtype": "float32"}`` or
``{"type": "Discrete", "n": n, "start": s}``.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

SUPPORTED = "Box (stored as is) and Discrete (stored one-hot)"


def _check_supported(space: gymnasium.Space) -> None:
    if not isinstance(space, (gymnasium.spaces.Box, gymnasium.spaces.Discrete)):
        raise ValueError(
            f"lewm records {SUPPORTED} action spaces, got {space}. Wrap the env in an ActionWrapper that exposes a Box "
            "or a Discrete action space."
        )


def action_dim(space: gymnasium.Space) -> int:
    """Width A of the action column for ``space``: the flattened Box size, or n for Discrete(n).

    Raises:
        ValueError: The space is neither Box nor Discrete.
    """
    _check_supported(space)
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(space.n)
    return int(np.prod(space.shape, dtype=np.int64))


def describe_action_space(space: gymnasium.Space) -> dict[str, Any]:
    """JSON-ready description of a Box or Discrete action space (stored in the file's ``action_space`` attribute).

    Example:
        >>> describe_action_space(gymnasium.spaces.Discrete(2))
        {'type': 'Discrete', 'n': 2, 'start': 0}
    """
    _check_supported(space)
    if isinstance(space, gymnasium.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    return {
        "type": "Box",
        "shape": list(space.shape),
        "low": np.asarray(space.low, np.float64).reshape(-1).tolist(),
        "high": np.asarray(space.high, np.float64).reshape(-1).tolist(),
        "dtype": str(space.dtype),
    }


def action_space_from_description(description: dict[str, Any]) -> gymnasium.Space:
    """Inverse of :func:`describe_action_space`.

    Raises:
        ValueError: The description names an unknown space type or lacks a field.
    """
    kind = description.get("type")
    try:
        if kind == "Discrete":
            return gymnasium.spaces.Discrete(int(description["n"]), start=int(description.get("start", 0)))
        if kind == "Box":
            shape = tuple(int(s) for s in description["shape"])
            low = np.asarray(description["low"], np.float64).reshape(shape)
            high = np.asarray(description["high"], np.float64).reshape(shape)
            return gymnasium.spaces.Box(low, high, shape, np.dtype(description.get("dtype", "float32")))
    except KeyError as exc:
        raise ValueError(f"Action space description {description} lacks the field {exc}.") from exc
    raise ValueError(f"Unknown action space type {kind!r} in {description}; expected 'Box' or 'Discrete'.")


def encode_action(space: gymnasium.Space, action: Any) -> np.ndarray:
    """An env action -> its (A,) float32 row: a flattened Box action, or the one-hot vector of a Discrete action.

    Raises:
        ValueError: A Box action of the wrong size, or a Discrete action outside the space.
    """
    if isinstance(space, gymnasium.spaces.Discrete):
        flat = np.asarray(action).reshape(-1)
        if flat.size != 1 or not space.contains(np.int64(flat[0])):
            raise ValueError(f"Action {action!r} is not an element of {space}; a Discrete action is one integer.")
        row = np.zeros(int(space.n), np.float32)  # (n,)
        row[int(flat[0]) - int(space.start)] = 1.0
        return row
    _check_supported(space)
    row = np.asarray(action, np.float32).reshape(-1)  # (A,)
    if row.size != action_dim(space):
        raise ValueError(f"Action has {row.size} values, the action space {space} needs {action_dim(space)}.")
    return row


def decode_action(space: gymnasium.Space, row: np.ndarray) -> Any:
    """An (A,) row (e.g. planned by a world model) -> an env action: argmax for Discrete, reshape and clip for Box.

    Example:
        >>> decode_action(gymnasium.spaces.Discrete(3), np.array([0.1, 0.7, 0.2]))
        1
    """
    row = np.asarray(row, np.float32).reshape(-1)
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(np.argmax(row)) + int(space.start)
    _check_supported(space)
    return np.clip(row.reshape(space.shape), space.low, space.high).astype(space.dtype)
