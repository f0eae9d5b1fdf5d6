"""The data layer's error type (re-exported by ``format.py``, where users import it from)."""

from __future__ import annotations

COLLECT_HINT = "`lewm collect ENV --episodes N --out PATH`"


class DatasetError(ValueError):
    """A dataset file is missing, unreadable, inconsistent or incompatible; the message names the file and the fix."""
