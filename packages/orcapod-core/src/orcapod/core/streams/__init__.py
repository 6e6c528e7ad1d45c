"""Streams: immutable, lazy sequences of (Tag, Packet) pairs."""

from __future__ import annotations

from orcapod.core.streams._base import (
    DerivedStream,
    StreamBase,
    schema_pipeline_hash,
    schemas_of,
    side_by_side,
)
from orcapod.core.streams._batches import BATCH_BYTES, BATCH_ROWS, BatchSize, split

__all__ = [
    "BATCH_BYTES",
    "BATCH_ROWS",
    "BatchSize",
    "DerivedStream",
    "StreamBase",
    "schema_pipeline_hash",
    "schemas_of",
    "side_by_side",
    "split",
]
