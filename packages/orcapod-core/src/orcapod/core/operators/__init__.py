"""Operators: change which rows, which columns, and how rows of streams combine.

Every operator is configured once and called on streams like a function pod:
``Join()(a, b)``, ``MapTags({"subject": "animal"})(stream)``. Schemas are
checked at once; the output is a lazy stream.
"""

from __future__ import annotations

from orcapod.core.operators._base import Operator, OperatorStream
from orcapod.core.operators._columns import (
    DropPacketColumns,
    DropTagColumns,
    MapPackets,
    MapTags,
    SelectPacketColumns,
    SelectTagColumns,
)
from orcapod.core.operators._joins import Join, MergeJoin, SemiJoin
from orcapod.core.operators._rows import Batch, Filter, GroupBy

__all__ = [
    "Batch",
    "DropPacketColumns",
    "DropTagColumns",
    "Filter",
    "GroupBy",
    "Join",
    "MapPackets",
    "MapTags",
    "MergeJoin",
    "Operator",
    "OperatorStream",
    "SelectPacketColumns",
    "SelectTagColumns",
    "SemiJoin",
]
