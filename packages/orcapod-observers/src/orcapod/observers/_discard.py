"""The packet logger of observers that keep no records."""

from __future__ import annotations

from typing import Any

__all__ = ["DISCARD"]


class _Discard:
    """Keeps nothing; says so, so that nodes skip capturing calls nobody keeps."""

    keeps_records = False

    def record(self, **fields: Any) -> None:
        """Discard ``fields``."""


DISCARD = _Discard()
