"""Streams: immutable, lazy sequences of (Tag, Packet) pairs."""

from __future__ import annotations

from orcapod.core.streams._base import (
    StreamBase,
    schema_pipeline_hash,
    schemas_of,
    side_by_side,
)

__all__ = ["StreamBase", "schema_pipeline_hash", "schemas_of", "side_by_side"]
