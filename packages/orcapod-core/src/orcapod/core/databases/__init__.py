"""The database orcapod-core provides itself; others come from plugins (e.g. orcapod-db-delta)."""

from __future__ import annotations

from orcapod.core.databases._in_memory import InMemoryArrowDatabase

__all__ = ["InMemoryArrowDatabase"]
