"""Contracts of streams and sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from orcapod.protocols.data import ContentIdentifiable, PipelineIdentifiable

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import pyarrow as pa

    from orcapod.protocols.data import Packet, Schema, Tag

__all__ = ["Source", "SourceTable", "Stream"]


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


@runtime_checkable
class SourceTable(Protocol):
    """Rows that make a source: how a plugin provides one without importing orcapod-core.

    orcapod-core takes an object of this shape wherever it takes a stream (a
    function pod's or an operator's input) and reads it as one of its own
    sources, exactly as ``ArrowTableSource(as_arrow(), tag_columns,
    source_id=source_id, record_id_column=record_id_column)``: the same
    checks, the same content hash, the same record ids. It does so once per
    object, so a table used twice in a pipeline is one source node, read and
    hashed once. ``DeltaTableSource`` of orcapod-db-delta is one.

    The object should not change once made: read the data when it is
    created (or pin what it reads, such as a table version), and give back
    the same rows every time.

    A table too large for memory may also offer an **optional** method,
    not part of this protocol's checked members (so ``isinstance`` holds
    with or without it)::

        def arrow_batches(self, max_rows: int) -> pyarrow.RecordBatchReader: ...

    giving the rows ``as_arrow()`` would give, in the same order, with the
    same schema (the reader's, also when there are no rows), in record
    batches of at most ``max_rows`` rows, read as they are asked for. Each
    call is a new pass over the rows, and every pass must give the same
    rows. When it is there, orcapod-core never calls ``as_arrow()``: it
    checks, hashes and reads the table a batch at a time (a pass or two
    when it is first used, one for its content hash, one per read), with
    the same content hash, rows and record ids as through ``as_arrow()``.
    ``pyarrow.RecordBatchReader.from_batches(schema, batches)`` makes a
    reader of any iterable of batches.
    """

    @property
    def source_id(self) -> str:
        """Names the source in the provenance of every row: letters, digits, ``_ . -``,
        starting with a letter or digit, and stable across runs for the same data."""
        ...

    @property
    def tag_columns(self) -> Sequence[str]:
        """The columns that identify a row; every other column is the packet."""
        ...

    @property
    def record_id_column(self) -> str | None:
        """A column of unique, non-null ``int`` or ``str`` ids of the rows, or ``None``
        for the row positions (then the row order must be stable for the same data)."""
        ...

    def as_arrow(self) -> pa.Table:
        """The rows: column names may not start with ``__`` (orcapod's system columns)."""
        ...
