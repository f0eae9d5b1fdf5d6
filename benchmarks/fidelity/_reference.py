"""Shared helpers of the reference recorders (run only inside the reference virtual environments, never by the tests).

stable-worldmodel imports torchvision eagerly, and the PyPI torchvision wheel is a CUDA build that fails to import
next to the CPU torch wheel (``operator torchvision::nms does not exist``). The envs recorded here never touch
torchvision, so :func:`import_stable_worldmodel` puts stand-in modules in ``sys.modules`` first. Recording only:
nothing of lewm-agents imports this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from types import ModuleType
from typing import Any
from unittest import mock

_TORCHVISION_MODULES = (
    "torchvision",
    "torchvision.tv_tensors",
    "torchvision.io",
    "torchvision.transforms",
    "torchvision.transforms.v2",
    "torchvision.transforms.v2.functional",
    "torchvision.transforms.functional",
    "torchvision.models",
    "torchvision.ops",
    "torchvision.utils",
    "torchvision.datasets",
)


def import_stable_worldmodel() -> ModuleType:
    """``import stable_worldmodel`` with torchvision stubbed out (it registers the ``swm/...`` gymnasium ids)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    for name in _TORCHVISION_MODULES:
        sys.modules.setdefault(name, mock.MagicMock(name=name))
    warnings.filterwarnings("ignore")
    import stable_worldmodel

    return stable_worldmodel


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` (recorded in the fixture so a regenerated one can be traced)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def git_commit() -> str:
    """The commit of the repository the recorder runs from (recorded in the fixture's metadata)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def meta(**fields: Any) -> str:
    """JSON metadata string stored as ``meta`` in a fixture."""
    import json

    return json.dumps(fields, sort_keys=True)
