"""Reading a plugin's ``SourceTable`` (rows and how to identify them) as a core source."""

from __future__ import annotations

import reprlib
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.core.errors import SourceError
from orcapod.core.sources._batched import CHECK_ROWS, BatchedSource, ColumnScan, check_unique_ids
from orcapod.core.sources._table_source import (
    ArrowTableSource,
    TableSource,
    _check_columns,
    _schema_of,
    check_record_id_column,
    tag_column_list,
    without_false_nullability,
)
from orcapod.core.streams import StreamBase
from orcapod.core.system_columns import check_source_id
from orcapod.protocols.streams import SourceTable, Stream

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from orcapod.core.streams import BatchSize

__all__ = ["BatchedSourceTableSource", "SourceTableReads", "SourceTableSource", "as_stream"]

_READ: dict[int, SourceTableSource] = {}
"""The source each live ``SourceTable`` was read as, by the table's ``id``."""
_READING: dict[int, weakref.ref[BatchedSourceTableSource]] = {}
"""The source each ``SourceTable`` read in batches was read as, while that source lives."""


class SourceTableSource(ArrowTableSource):
    """The :class:`ArrowTableSource` of a ``SourceTable``'s rows (a plugin's source).

    Its checks, content hash, source id and record ids are those of
    ``ArrowTableSource(table.as_arrow(), table.tag_columns,
    source_id=table.source_id, record_id_column=table.record_id_column)``;
    only its messages name the table's class (``DeltaTableSource 'delta-trials':
    ...``). Made by :func:`as_stream`, once per table.

    Raises:
        SourceError: ``as_arrow()`` did not give a ``pyarrow.Table``, the source id
            is not valid, or the record ids are not unique (naming the table's class).
        SchemaError: a tag column is missing, a column name is reserved or repeated.
        UnsupportedTypeError: a column's type has no orcapod equivalent.
    """

    def __init__(self, table: SourceTable) -> None:
        kind = type(table).__name__
        try:
            source_id = check_source_id(table.source_id)
        except SourceError as error:
            raise SourceError(f"{kind}: {error}") from None
        rows = table.as_arrow()
        if not isinstance(rows, pa.Table):
            raise SourceError(
                f"{kind} {source_id!r}: as_arrow() gave a {type(rows).__name__}, not a "
                "pyarrow.Table; a SourceTable gives its rows as one pyarrow.Table."
            )
        TableSource.__init__(
            self,
            without_false_nullability(rows),
            table.tag_columns,
            source_id=source_id,
            record_id_column=table.record_id_column,
            kind=kind,
        )


@dataclass
class SourceTableReads:
    """What a :class:`BatchedSourceTableSource` has read of its table (for tests).

    Attributes:
        passes: calls of the table's ``arrow_batches`` (each a pass over its rows).
        batches: record batches those passes gave.
        most_rows: the most rows of one of those batches.
    """

    passes: int = 0
    batches: int = 0
    most_rows: int = 0


class BatchedSourceTableSource(BatchedSource):
    """A ``SourceTable`` that offers ``arrow_batches(max_rows)``, read a batch at a time.

    Its rows, checks, content hash, source id and record ids are those of
    :class:`SourceTableSource` (the ``ArrowTableSource`` of ``as_arrow()``), but
    it never calls ``as_arrow()`` and holds no table: when it is made, it reads
    the rows once to check them (and, with a ``record_id_column``, the ids in
    passes of bounded memory); its content hash reads them once more, and so
    does each read of a pipeline. Each pass is a call of ``arrow_batches``.
    Made by :func:`as_stream`.

    Attributes:
        reads: what it has read (:class:`SourceTableReads`).

    Raises:
        SourceError: ``arrow_batches()`` did not give a ``pyarrow.RecordBatchReader``,
            the source id is not valid, the record ids are not unique, or a later pass
            gives other columns or another number of rows (naming the table's class).
        SchemaError: a tag column is missing, a column name is reserved or repeated.
        UnsupportedTypeError: a column's type has no orcapod equivalent.
        TypeMismatchError: a column holds values orcapod cannot read exactly.
    """

    def __init__(self, table: SourceTable) -> None:
        kind = type(table).__name__
        try:
            self._source_id = check_source_id(table.source_id)
        except SourceError as error:
            raise SourceError(f"{kind}: {error}") from None
        self._where = f"{kind} {self._source_id!r}"
        self._table = table
        self.reads = SourceTableReads()
        reader = self._reader(CHECK_ROWS)
        stored = reader.schema
        self._stored = stored
        tags = tag_column_list(table.tag_columns, stored.names, where=self._where)
        _check_columns(stored.names, self._where)
        _schema_of(stored.empty_table(), self._where)  # every type has an orcapod equivalent
        record_id_column = table.record_id_column
        if record_id_column is not None:
            check_record_id_column(record_id_column, stored, self._where)
        scan = ColumnScan(stored, self._where)
        for part in self._pass(reader):
            scan.update(part)
        self._rows = scan.rows
        packets = [name for name in stored.names if name not in tags]
        self._schema = pa.schema([scan.field(name) for name in [*tags, *packets]], stored.metadata)
        schema = _schema_of(self._schema.empty_table(), self._where)
        self._tag_schema = schema.select(tags)
        self._packet_schema = schema.select(packets)
        self._record_id_column = record_id_column
        if record_id_column is not None:
            column = record_id_column

            def passes() -> Iterator[pa.ChunkedArray]:
                return (part.column(column) for part in self._pass(self._reader(CHECK_ROWS)))

            check_unique_ids(column, passes, self._rows, scan.nulls[column], self._where)
        self._content_hash: str | None = None

    def row_count(self) -> int:
        """The rows, counted when the source was made."""
        return self._rows

    def _read(self, size: BatchSize, provenance: bool) -> Iterator[pa.Table]:
        return self._pass(self._reader(size.rows), check=True)

    def _reader(self, max_rows: int) -> pa.RecordBatchReader:
        """A new pass over the table's rows: ``arrow_batches(max_rows)``, checked."""
        arrow_batches: Callable[[int], Any] = self._table.arrow_batches  # type: ignore[attr-defined]
        reader = arrow_batches(max_rows)
        if not isinstance(reader, pa.RecordBatchReader):
            raise SourceError(
                f"{self._where}: arrow_batches() gave a {type(reader).__name__}, not a "
                "pyarrow.RecordBatchReader; a SourceTable gives its rows in batches as one "
                "(pyarrow.RecordBatchReader.from_batches(schema, batches))."
            )
        self.reads.passes += 1
        return reader

    def _pass(self, reader: pa.RecordBatchReader, *, check: bool = False) -> Iterator[pa.Table]:
        """The reader's batches as tables; with ``check``, refuses other columns than the
        source was made from, or another number of rows in all (the table changed)."""
        if check and not reader.schema.equals(self._stored):
            raise self._changed(f"its columns are now {reader.schema}")
        rows = 0
        for batch in reader:
            self.reads.batches += 1
            self.reads.most_rows = max(self.reads.most_rows, batch.num_rows)
            rows += batch.num_rows
            yield pa.Table.from_batches([batch], reader.schema)
        if check and rows != self._rows:
            raise self._changed(f"{rows} rows, not {self._rows}")

    def _changed(self, how: str) -> SourceError:
        return SourceError(
            f"{self._where}: arrow_batches() gave other rows than when the source was made "
            f"({how}); a SourceTable must give the same rows every time."
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source_id={self.source_id!r}, tags={self._tag_schema!r}, "
            f"packets={self._packet_schema!r}, rows={self._rows})"
        )


def as_stream(value: Any, *, where: str = "input") -> Stream:
    """The stream orcapod reads ``value`` as, where it takes a stream.

    A stream (a source, or the output of a pod or operator) is itself. A
    ``SourceTable`` (``orcapod.protocols.streams.SourceTable``, a plugin's
    source such as orcapod-db-delta's ``DeltaTableSource``) is read as a
    :class:`SourceTableSource`, once: the same table gives the same source
    every time, so it is one node of a pipeline, read and hashed once. A
    ``SourceTable`` with ``arrow_batches`` is read in batches, as a
    :class:`BatchedSourceTableSource`; that source holds the table, so the
    same table gives the same source while the source is in use (a pipeline's
    node, a pod's input), and is read afresh after that.

    Args:
        value: a stream or a ``SourceTable``.
        where: names the taker in the error message (``"function pod 'double'"``).

    Raises:
        SourceError: ``value`` is neither; names it, and what to pass instead.
    """
    if isinstance(value, StreamBase | Stream):
        return value
    if isinstance(value, SourceTable):
        return _read_once(value)
    raise SourceError(
        f"{where}: {reprlib.repr(value)} (a {type(value).__name__}) is not a stream; pass "
        "a source (DictSource(rows, tag_columns=[...]), ArrowTableSource(table, "
        "tag_columns=[...]), ...), the output of a function pod or operator, or a plugin's "
        "SourceTable (source_id, tag_columns, record_id_column and as_arrow())."
    )


def _read_once(table: SourceTable) -> StreamBase:
    if callable(getattr(table, "arrow_batches", None)):
        return _read_in_batches(table)
    known = _READ.get(id(table))
    if known is not None:
        return known
    source = SourceTableSource(table)
    try:  # forgotten with the table (the source keeps no reference to it)
        weakref.finalize(table, _READ.pop, id(table), None)
    except TypeError:  # a table without weak references is read at each use
        return source
    _READ[id(table)] = source
    return source


def _read_in_batches(table: SourceTable) -> BatchedSourceTableSource:
    """The table's source while that source lives: it holds the table, so a table-keyed
    entry could never be forgotten; the entry goes with the source instead."""
    key = id(table)
    alive = _READING.get(key)
    known = alive() if alive is not None else None
    if known is not None and known._table is table:
        return known
    source = BatchedSourceTableSource(table)

    def forget(ref: weakref.ref[BatchedSourceTableSource]) -> None:
        if _READING.get(key) is ref:
            del _READING[key]

    _READING[key] = weakref.ref(source, forget)
    return source
