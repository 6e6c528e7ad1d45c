"""What every stream shares: reading its rows as (Tag, Packet) pairs and as tables."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from orcapod.core._walks import inputs_first
from orcapod.core.datagrams import Packet, RowBlock, Tag
from orcapod.core.errors import MissingDependencyError
from orcapod.core.hashing import combine_hashes, hash_schema
from orcapod.core.streams._batches import BATCH_BYTES, BATCH_ROWS, BatchSize, split
from orcapod.core.system_columns import is_system_column
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from orcapod.protocols.streams import Stream

__all__ = [
    "DerivedStream",
    "StreamBase",
    "schema_pipeline_hash",
    "schemas_of",
    "side_by_side",
    "upstream_first",
]

_ITER_BATCH_ROWS = 65_536

T = TypeVar("T")


class StreamBase(ABC):
    """An immutable, lazy sequence of (Tag, Packet) pairs backed by one Arrow table.

    A subclass says what its schemas are (known without computing anything),
    how to build its whole table (``_compute_table``, called at most once, on
    first use) and what its identities are. Everything else (iteration,
    tables, data frames) is shared here.
    """

    _table_cache: pa.Table | None = None

    @abstractmethod
    def output_schema(self) -> tuple[Schema, Schema]:
        """(tag schema, packet schema), known without computing anything."""

    @abstractmethod
    def _compute_table(self) -> pa.Table:
        """Every column of the stream: tag, packet and system columns, in any order."""

    @abstractmethod
    def content_hash(self) -> str:
        """The identity of this stream and its data, chained to its sources'."""

    @abstractmethod
    def pipeline_hash(self) -> str:
        """The identity of this stream's schema and topology only."""

    def _full_table(self) -> pa.Table:
        if self._table_cache is None:
            self._table_cache = self._compute_table()
        return self._table_cache

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(tag column names, packet column names)."""
        tag_schema, packet_schema = self.output_schema()
        return tag_schema.keys(), packet_schema.keys()

    def system_columns(self) -> tuple[str, ...]:
        """The names of the stream's ``__`` system columns (computes the stream)."""
        return tuple(name for name in self._full_table().column_names if is_system_column(name))

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """Every row as one Arrow table: tag columns, then packet columns, then system columns.

        Selecting columns never copies data.
        """
        tag_names, packet_names = self.keys()
        names = [*tag_names, *packet_names]
        if include_system_columns:
            names += self.system_columns()
        return self._full_table().select(names)

    def iter_batches(
        self,
        *,
        include_system_columns: bool = False,
        max_rows: int = BATCH_ROWS,
        max_bytes: int = BATCH_BYTES,
    ) -> Iterator[pa.Table]:
        """:meth:`as_table`'s rows in tables of at most ``max_rows`` rows and ``max_bytes``
        bytes (a row larger than that alone), in order; none if the stream is empty.

        A pipeline reads a source this way. Here the stream is computed whole and
        sliced (nothing is copied); a source that can read its rows in parts
        gives them a part at a time.
        """
        size = BatchSize.of(max_rows, max_bytes, ("max_rows", "max_bytes"))
        yield from split(self.as_table(include_system_columns=include_system_columns), size)

    def row_count(self) -> int | None:
        """How many rows the stream has, if known without reading them (computes the stream)."""
        return int(self._full_table().num_rows)

    def iter_packets(self) -> Iterator[tuple[Tag, Packet]]:
        """Each row as a (Tag, Packet) pair, in order.

        Rows are converted to Python values a batch at a time, and only the
        columns that are read.
        """
        tag_schema, packet_schema = self.output_schema()
        tag_names = [*tag_schema.keys(), *self.system_columns()]
        packet_names = list(packet_schema.keys())
        for batch in self._full_table().to_batches(max_chunksize=_ITER_BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            tags = RowBlock(table.select(tag_names), tag_schema)
            packets = RowBlock(table.select(packet_names), packet_schema)
            for row in range(batch.num_rows):
                yield Tag(tags, row), Packet(packets, row)

    def __iter__(self) -> Iterator[tuple[Tag, Packet]]:
        return self.iter_packets()

    def to_polars(self, *, include_system_columns: bool = False) -> Any:
        """The stream as a ``polars.DataFrame`` (polars is imported only now)."""
        polars = _optional_import("polars", "to_polars()")
        return polars.from_arrow(self.as_table(include_system_columns=include_system_columns))

    def to_pandas(self, *, include_system_columns: bool = False) -> Any:
        """The stream as a ``pandas.DataFrame`` (pandas is imported only now)."""
        _optional_import("pandas", "to_pandas()")
        return self.as_table(include_system_columns=include_system_columns).to_pandas()

    def __repr__(self) -> str:
        tag_schema, packet_schema = self.output_schema()
        return f"{type(self).__name__}(tags={tag_schema!r}, packets={packet_schema!r})"


class DerivedStream(StreamBase):
    """A stream computed from other streams: a function pod's or an operator's output.

    Its table and its identities are computed from its inputs' once, at first
    use, and kept: the stream is immutable. Asked for recursively, each would
    recurse as deep as the graph (Python frames per stream: a chain of a
    thousand streams exceeds the recursion limit). So the streams upstream
    that have not kept a value yet compute it first, in topological order
    (:func:`upstream_first`); then each stream's own computation finds its
    inputs' values kept, and recurses no deeper than its inputs.

    A subclass says what its inputs are (:attr:`upstreams`) and how its table
    and identities follow from theirs (``_compute_table``,
    ``_chained_content_hash``, ``_chained_pipeline_hash``).
    """

    _content_hash: str | None = None
    _pipeline_hash: str | None = None

    @property
    @abstractmethod
    def upstreams(self) -> tuple[Stream, ...]:
        """The streams this one is computed from, in input order."""

    @abstractmethod
    def _chained_content_hash(self) -> str:
        """The content hash, from the inputs' (each kept by now, or a source's)."""

    @abstractmethod
    def _chained_pipeline_hash(self) -> str:
        """The pipeline hash, from the inputs' (each kept by now, or a source's)."""

    def content_hash(self) -> str:
        """Its pod's or operator's identity chained to its inputs' content hashes."""
        return self._kept("_content_hash", lambda stream: stream._chained_content_hash())

    def pipeline_hash(self) -> str:
        """Its pod's or operator's identity chained to its inputs' pipeline hashes."""
        return self._kept("_pipeline_hash", lambda stream: stream._chained_pipeline_hash())

    def _full_table(self) -> pa.Table:
        return self._kept("_table_cache", lambda stream: stream._compute_table())

    def _kept(self, attribute: str, compute: Callable[[DerivedStream], T]) -> T:
        """The value this stream keeps at ``attribute`` (``None``: not computed yet).

        Computed (``compute``) first for each stream upstream that has not kept
        its own, inputs first, and kept there: each computation then finds its
        inputs' values kept.
        """
        value: T | None = getattr(self, attribute)
        if value is None:
            for stream in upstream_first(self, lambda s: getattr(s, attribute) is not None):
                value = compute(stream)  # this stream's comes last
                setattr(stream, attribute, value)
        assert value is not None
        return value


def upstream_first(
    stream: DerivedStream, kept: Callable[[DerivedStream], bool]
) -> list[DerivedStream]:
    """``stream`` and the derived streams upstream of it, each after the streams it reads.

    Streams for which ``kept`` is true (they hold the value being computed) are
    left out and not walked past: their value was computed from their inputs'
    already. Sources are left out too: theirs are computed from nothing. So
    computing a value in this order computes it once per stream, and each
    stream finds its inputs' values kept.
    """
    return inputs_first([stream], _derived_inputs, done=kept)


def _derived_inputs(stream: DerivedStream) -> list[DerivedStream]:
    return [upstream for upstream in stream.upstreams if isinstance(upstream, DerivedStream)]


def schema_pipeline_hash(kind: str, tag_schema: Schema, packet_schema: Schema) -> str:
    """The pipeline hash of an element known by its kind and its two schemas alone."""
    return combine_hashes(
        kind, hash_schema(tag_schema.to_arrow()), hash_schema(packet_schema.to_arrow())
    )


def schemas_of(stream: Stream) -> tuple[Schema, Schema]:
    """(tag schema, packet schema) of any stream, as orcapod.core Schemas."""
    tags, packets = stream.output_schema()
    return Schema.of(tags), Schema.of(packets)


def side_by_side(left: pa.Table, right: pa.Table) -> pa.Table:
    """The columns of ``left`` then those of ``right`` (equally long), without a copy."""
    return pa.Table.from_arrays(
        [*left.columns, *right.columns], schema=pa.schema([*left.schema, *right.schema])
    )


def _optional_import(name: str, what: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs {name}, which is not installed; pip install {name}"
        ) from None
