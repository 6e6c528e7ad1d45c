"""An orcapod database plugin: records as Arrow IPC files in a directory (``arrowdir://DIR``)."""

from __future__ import annotations

from arrowdir._database import ArrowDirDatabase

__all__ = ["ArrowDirDatabase"]
