"""Contracts of streams and sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from orcapod.protocols.data import ContentIdentifiable, PipelineIdentifiable

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

    from orcapod.protocols.data import Packet, Schema, Tag

__all__ = ["Source", "Stream"]


@runtime_checkable
class Stream(ContentIdentifiable, PipelineIdentifiable, Protocol):
    """An immutable, lazy sequence of (Tag, Packet) pairs.

    Nothing is computed until the stream is iterated or materialised.
    """

    def output_schema(self) -> tuple[Schema, Schema]:
        """(tag schema, packet schema), known without computing anything."""
        ...

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(tag column names, packet column names)."""
        ...

    def iter_packets(self) -> Iterator[tuple[Tag, Packet]]:
        """Each row as a (Tag, Packet) pair."""
        ...

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """Every row as one Arrow table: tag columns, then packet columns."""
        ...


@runtime_checkable
class Source(Stream, Protocol):
    """A stream that originates data rather than deriving it."""

    @property
    def source_id(self) -> str:
        """A name for this source, recorded in the provenance of every row it yields."""
        ...
