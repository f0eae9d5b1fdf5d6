"""Env versions of recorded datasets: data recorded under an older env is refused, or, when the user asks for it,
mapped to the current env plus the legacy options that reproduce the old one.

A dataset records the Gymnasium id and the ``gymnasium.make`` kwargs of the env it was collected in. When an env's
behaviour changes (physics, rules, rendering), its id gets a new version (``lewm/PushT-v0`` -> ``lewm/PushT-v1``) and
its module declares how to rebuild each old version from the current class::

    LEGACY_VERSIONS = {0: ({"pusher": "dynamic", ...}, "what differs, one sentence")}

Kwargs of ``None`` mean the old version differs in a way no option restores (its data must be re-collected).

:func:`check_recorded_env` is what training and evaluation call on a dataset's record. It returns the id and kwargs
to make the env with: unchanged for a current id (or any id that is not ours), and for an old id either a ValueError
that names the differences and both fixes, or, with ``legacy=True``, the current id plus the legacy kwargs.

Example:
    >>> check_recorded_env("lewm/TwoRoom-v1", {"image_size": 64})
    ('lewm/TwoRoom-v1', {'image_size': 64})
    >>> env_id, kwargs = check_recorded_env("lewm/TwoRoom-v0", {"image_size": 64}, legacy=True)
    >>> env_id, kwargs["door_rule"], kwargs["image_size"]
    ('lewm/TwoRoom-v1', 'disc', 64)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

_ID = re.compile(r"^(?P<base>.+)-v(?P<version>\d+)$")


def split_version(env_id: str) -> tuple[str, int] | None:
    """``"lewm/PushT-v1"`` -> ``("lewm/PushT", 1)``; None for an id without a ``-vN`` suffix."""
    match = _ID.match(env_id)
    return (match["base"], int(match["version"])) if match else None


def current_env_id(env_id: str) -> str | None:
    """The current id of the suite's env that ``env_id`` names in any version, or None if it is not one of ours."""
    from lewm_envs import ENVS

    parts = split_version(env_id)
    if parts is None:
        return None
    for entry in ENVS:
        current = split_version(entry.env_id)
        if current is not None and current[0] == parts[0]:
            return entry.env_id
    return None


def legacy_versions(env_id: str) -> dict[int, tuple[dict[str, Any] | None, str]]:
    """The ``LEGACY_VERSIONS`` of the module behind ``env_id`` (any version of one of our envs); {} if it has none."""
    from lewm_envs import ENVS

    current = current_env_id(env_id)
    entry = next((e for e in ENVS if e.env_id == current), None)
    if entry is None:
        return {}
    module = importlib.import_module(entry.entry_point.partition(":")[0])
    return dict(getattr(module, "LEGACY_VERSIONS", {}))


def legacy_env(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Maps an old version's record to the current id plus the kwargs that reproduce the old behaviour.

    The recorded kwargs are kept (they override the legacy defaults, e.g. an explicit ``render_target``); a module may
    rename old kwargs with a ``translate_legacy_kwargs(version, kwargs)`` function.

    Args:
        env_id: The recorded id, e.g. ``"lewm/PushT-v0"``.
        env_kwargs: The recorded ``gymnasium.make`` kwargs.

    Returns:
        ``(current_id, kwargs)``.

    Raises:
        ValueError: ``env_id`` is not an old version of one of our envs, or its module cannot rebuild that version.
    """
    current = current_env_id(env_id)
    parts = split_version(env_id)
    if current is None or parts is None or current == env_id:
        raise ValueError(f"{env_id!r} is not an old version of a lewm env; there is nothing to map.")
    version = parts[1]
    legacy = legacy_versions(env_id)
    if version not in legacy:
        raise ValueError(
            f"{env_id!r} cannot be rebuilt: {current} declares no legacy options for v{version} (known: "
            f"{sorted(legacy) or 'none'}). Re-collect the dataset with {current}."
        )
    if legacy[version][0] is None:
        raise ValueError(f"{env_id!r} cannot be rebuilt by options: {legacy[version][1]}.")
    kwargs = dict(env_kwargs)
    module = importlib.import_module(_entry_point(current).partition(":")[0])
    translate = getattr(module, "translate_legacy_kwargs", None)
    if callable(translate):
        kwargs = dict(translate(version, kwargs))
    return current, {**legacy[version][0], **kwargs}


def check_recorded_env(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None, *, legacy: bool = False
) -> tuple[str, dict[str, Any]]:
    """Checks a dataset's recorded env and returns the id and kwargs to make it with.

    Training and evaluation call this on ``(reader.env_id, reader.env_kwargs)`` before building an env or trusting
    the data. ``legacy`` is the user's explicit choice (e.g. a ``--legacy-env`` flag) to rebuild an old version.

    Args:
        env_id: The dataset's recorded Gymnasium id.
        env_kwargs: Its recorded ``gymnasium.make`` kwargs.
        legacy: Rebuild an old version with the current env and its legacy options instead of refusing it.

    Returns:
        ``(env_id, env_kwargs)``: unchanged for a current id or an id that is not ours; for an old id with
        ``legacy=True``, the current id plus the legacy kwargs.

    Raises:
        ValueError: ``env_id`` is an old version and ``legacy`` is False. The message names what differs and both
            fixes: re-collect with the current id, or pass the legacy switch (with the exact kwargs it will use).
    """
    kwargs = dict(env_kwargs or {})
    current = current_env_id(env_id)
    if current is None or current == env_id:
        return env_id, kwargs
    if legacy:
        return legacy_env(env_id, kwargs)
    version = split_version(env_id)[1]
    known = legacy_versions(env_id).get(version)
    if known is None:
        raise ValueError(
            f"This dataset was recorded with {env_id}, an old version of {current} that can no longer be rebuilt "
            f"(no legacy options for v{version}). Re-collect it with {current} (lewm collect)."
        )
    legacy_kwargs, what = known
    if legacy_kwargs is None:
        raise ValueError(
            f"This dataset was recorded with {env_id}, not the current {current}: {what}. No option restores that "
            f"behaviour, so the data must be re-collected with {current} (lewm collect)."
        )
    raise ValueError(
        f"This dataset was recorded with {env_id}, not the current {current}: {what}. A model trained on it would "
        f"be evaluated (or extended) in an env that behaves differently. Fix: re-collect the dataset with {current} "
        f"(lewm collect), or rebuild the old behaviour explicitly with the legacy switch (check_recorded_env(..., "
        f"legacy=True), e.g. --legacy-env), which makes {current} with {legacy_kwargs}."
    )


def _entry_point(env_id: str) -> str:
    from lewm_envs import ENVS

    return next(e.entry_point for e in ENVS if e.env_id == env_id)
