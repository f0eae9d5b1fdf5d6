"""The file attributes of a lewm dataset: written here (:func:`metadata_attrs`) and read and checked here
(:func:`read_metadata`), nowhere else.

Attributes (on the root group)::

    format              "lewm-dataset"
    format_version      1
    env_id              gymnasium id
    image_size          H == W
    action_dim          A
    env_kwargs          JSON object: the gymnasium.make keyword arguments (required: "{}" when there are none)
    action_space        JSON object (optional; absent in files written before it was recorded)
    collection          JSON object (optional): how the episodes were collected, or merged
    policy, seed, created, lewm_agents_version    metadata

Reading checks every attribute's type and, for the JSON ones, their structure, so a foreign or damaged value is a
:class:`DatasetError` naming the file, the attribute and the fix, never a ``KeyError`` or ``AttributeError`` later.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lewm_agents.data.errors import COLLECT_HINT, DatasetError

FORMAT_NAME = "lewm-dataset"
FORMAT_VERSION: int = 1


@dataclass(frozen=True)
class Metadata:
    """The checked attributes of a dataset file."""

    env_id: str
    image_size: int
    action_dim: int
    env_kwargs: dict[str, Any]
    action_space: dict[str, Any] | None
    collection: dict[str, Any]
    policy: str
    seed: int | None
    created: str


def json_text(value: dict[str, Any] | None) -> str:
    """A dict as JSON; values JSON cannot hold are stored as their repr (metadata, never read back as code)."""
    return json.dumps(value or {}, sort_keys=True, default=repr)


def _package_version() -> str:
    try:
        return importlib.metadata.version("lewm-agents")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def metadata_attrs(
    *,
    env_id: str,
    image_size: int,
    action_dim: int,
    policy: str,
    seed: int | None,
    env_kwargs: dict[str, Any] | None,
    action_space: dict[str, Any] | None,
    collection: dict[str, Any] | None,
) -> dict[str, Any]:
    """The attributes a new file gets."""
    attrs: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "env_id": env_id,
        "image_size": image_size,
        "action_dim": action_dim,
        "policy": str(policy),
        "env_kwargs": json_text(env_kwargs),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "lewm_agents_version": _package_version(),
    }
    if seed is not None:
        attrs["seed"] = int(seed)
    if action_space is not None:
        attrs["action_space"] = json.dumps(action_space, sort_keys=True)
    if collection:
        attrs["collection"] = json_text(collection)
    return attrs


class _Reader:
    """Reads one file's attributes, each checked, with errors that name the file, the attribute and the fix."""

    def __init__(self, attrs: Mapping[str, Any], path: pathlib.Path) -> None:
        self.attrs, self.path = attrs, path

    def fail(self, name: str, want: str, value: Any) -> DatasetError:
        found = "it is missing" if value is None else f"found {_short(value)}"
        return DatasetError(
            f"{self.path} has a bad {name!r} attribute: expected {want}, {found}. The file was damaged or written by "
            f"another tool; if you know the right value, set it with h5py (f.attrs[{name!r}] = ...) and retry, "
            f"otherwise re-collect it with {COLLECT_HINT}."
        )

    def text(self, name: str, *, default: str | None = None) -> str:
        value = self.attrs.get(name)
        if value is None and default is not None:
            return default
        text = _decoded(value)
        if text is None or (default is None and not text):
            raise self.fail(name, "a text value", value)
        return text

    def integer(self, name: str, *, minimum: int = 0) -> int:
        value = self.attrs.get(name)
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise self.fail(name, f"an integer >= {minimum}", value)
        return int(value)

    def json_object(self, name: str, *, optional: bool) -> dict[str, Any] | None:
        value = self.attrs.get(name)
        if value is None and optional:
            return None
        text = _decoded(value)
        if text is None:
            raise self.fail(name, "a JSON object", value)
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise self.fail(name, f"a JSON object (it does not parse: {exc})", value) from None
        if not isinstance(parsed, dict):
            raise self.fail(name, "a JSON object", value)
        return parsed


def _decoded(value: Any) -> str | None:
    """An attribute as text: h5py returns str for variable-length strings and bytes for fixed-length ones."""
    if isinstance(value, bytes):  # np.bytes_ too
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_action_space(reader: _Reader, space: dict[str, Any] | None, action_dim: int) -> None:
    """A stored action space must be a Box or Discrete description whose size is the file's action_dim."""
    if space is None:
        return
    want = f"a Box or Discrete description of {action_dim} action dims (see lewm_agents.data.actions)"
    try:
        if space["type"] == "Discrete":
            ok = int(space["n"]) == action_dim
        elif space["type"] == "Box":
            size = int(np.prod([int(s) for s in space["shape"]], dtype=np.int64))
            ok = size == action_dim and len(space["low"]) == size and len(space["high"]) == size
        else:
            ok = False
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise reader.fail("action_space", want, reader.attrs.get("action_space"))


def read_metadata(attrs: Mapping[str, Any], path: pathlib.Path) -> Metadata:
    """Check and return a file's attributes.

    Raises:
        DatasetError: The file is not a lewm dataset, has another format version, or an attribute is missing or
            foreign (wrong type, not JSON, or JSON of the wrong structure).
    """
    r = _Reader(attrs, path)
    kind = attrs.get("format")
    if _decoded(kind) != FORMAT_NAME:
        raise DatasetError(
            f"{path} is an HDF5 file but not a lewm dataset (attribute 'format' is {_short(kind)}, expected "
            f"{FORMAT_NAME!r}): another kind of HDF5 file, or a damaged one. Convert it, or collect a dataset with "
            f"{COLLECT_HINT}."
        )
    version = r.integer("format_version")
    if version != FORMAT_VERSION:
        fix = "upgrade lewm-agents" if version > FORMAT_VERSION else f"re-collect it with {COLLECT_HINT}"
        raise DatasetError(
            f"{path} uses lewm dataset format version {version}, but this lewm-agents reads version "
            f"{FORMAT_VERSION}; {fix}."
        )
    action_dim = r.integer("action_dim", minimum=1)
    action_space = r.json_object("action_space", optional=True)
    _check_action_space(r, action_space, action_dim)
    return Metadata(
        env_id=r.text("env_id"),
        image_size=r.integer("image_size", minimum=1),
        action_dim=action_dim,
        env_kwargs=r.json_object("env_kwargs", optional=False) or {},
        action_space=action_space,
        collection=r.json_object("collection", optional=True) or {},
        policy=r.text("policy", default="unknown"),
        seed=None if attrs.get("seed") is None else r.integer("seed", minimum=-(2**63)),
        created=r.text("created", default=""),
    )
