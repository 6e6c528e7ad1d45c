"""A source over a Parquet file, read a row group at a time, never held whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from orcapod.core.errors import SourceError
from orcapod.core.sources._batched import (
    CHECK_ROWS,
    BatchedSource,
    ColumnScan,
    FileStamp,
    check_unique_ids,
)
from orcapod.core.sources._csv import file_source_id
from orcapod.core.sources._table_source import (
    _check_columns,
    _readable_type,
    _schema_of,
    _tight_type,
    check_record_id_column,
    tag_column_list,
)
from orcapod.core.system_columns import check_source_id

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from orcapod.core.streams import BatchSize

__all__ = ["ParquetReads", "ParquetSource"]


@dataclass
class ParquetReads:
    """What a :class:`ParquetSource` has read of its file (for tests and benchmarks).

    Attributes:
        row_groups: row groups read by :meth:`ParquetSource.iter_batches`.
        batches: tables those reads yielded.
        whole: reads of the whole file (``as_table``, ``iter_packets``).
        column_passes: passes over some columns only, when the source was made
            (the checks) or hashed.
    """

    row_groups: int = 0
    batches: int = 0
    whole: int = 0
    column_passes: int = 0


class ParquetSource(BatchedSource):
    """A source over a Parquet file, read in batches: the file is never held whole.

    Its schema and row count come from the file's footer. When it is made, it
    checks the tag columns, the column names and types, and reads only the
    columns a check needs: those whose nulls the footer's statistics do not
    settle (a column without nulls is ``T``, not ``T | None``, as in
    :class:`ArrowTableSource`), those whose values might not read back
    exactly (nanosecond timestamps, ``uint64``), and the record id column
    (non-null and unique, checked in passes of bounded memory). A pipeline
    reads it a row group at a time, in batches within its bounds, each with
    its provenance; ``content_hash()`` is computed the same way, and equals
    that of ``ArrowTableSource(pyarrow.parquet.read_table(path), ...)`` with
    the same source id. ``as_table()`` reads the whole file. Row groups of no
    rows are never read, so a file of no rows is an empty source of the
    footer's schema, of which nothing but the footer is read.

    A file changed after the source was made (its size, modification time or
    footer) is an error when the source reads it.

    Args:
        path: the file.
        tag_columns: the columns that identify a row; the others are the packet.
        source_id: names this source in provenance; by default the file's name
            without its suffix (other characters than letters, digits, ``_``,
            ``.``, ``-`` replaced by ``_``).
        record_id_column: a column of unique ``int`` or ``str`` row ids; by default
            the row's position in the file.

    Attributes:
        path: the file.
        reads: counts of what the source has read (:class:`ParquetReads`).

    Raises:
        SourceError: the file is missing, a directory or not Parquet (names it and why),
            ``source_id`` is invalid, or the record ids are null or repeated.
        SchemaError: a tag column is missing, a column name is reserved or repeated.
        UnsupportedTypeError: a column's type has no orcapod equivalent; names it.
        TypeMismatchError: a column holds values orcapod cannot read exactly.
    """

    def __init__(
        self,
        path: str | Path,
        tag_columns: str | Sequence[str],
        *,
        source_id: str | None = None,
        record_id_column: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.reads = ParquetReads()
        self._where = f"ParquetSource {str(self.path)!r}"
        self._source_id = check_source_id(
            file_source_id(self.path, "parquet") if source_id is None else source_id
        )
        file = self._open_first()
        self._stamp = FileStamp.of(self.path)
        self._metadata = file.metadata
        stored = file.schema_arrow
        tags = tag_column_list(tag_columns, stored.names, where=self._where)
        _check_columns(stored.names, self._where)
        _schema_of(stored.empty_table(), self._where)  # every type has an orcapod equivalent
        packets = [name for name in stored.names if name not in tags]
        self._names = [*tags, *packets]
        self._schema = pa.schema(
            [field for name in self._names for field in [self._checked(file, name)]],
            stored.metadata,
        )
        schema = _schema_of(self._schema.empty_table(), self._where)
        self._tag_schema = schema.select(tags)
        self._packet_schema = schema.select(packets)
        self._record_id_column = record_id_column
        if record_id_column is not None:
            check_record_id_column(record_id_column, stored, self._where)
            self._check_record_ids(file, record_id_column)
        self._content_hash: str | None = None

    def row_count(self) -> int:
        """The file's rows, from its footer."""
        return int(self._metadata.num_rows)

    def _read(self, size: BatchSize, provenance: bool) -> Iterator[pa.Table]:
        """The file a row group at a time and, within a row group, ``size.rows`` rows at a
        time (fewer where its rows are large).

        Raises:
            SourceError: the file changed since the source was made.
        """
        file = self._open()
        extra = 8 + len(self.source_id) + 16 if provenance else 0  # a provenance entry's bytes
        for group in range(self._metadata.num_row_groups):
            meta = self._metadata.row_group(group)
            if meta.num_rows == 0:  # the footer says so: nothing to read
                continue
            rows = size.rows_for(meta.total_byte_size / meta.num_rows + extra)
            if group:
                self._check_unchanged()
            self.reads.row_groups += 1
            for batch in self._read_group(file, group, rows):
                self.reads.batches += 1
                yield pa.Table.from_batches([batch])
        self._check_unchanged()

    def _read_group(self, file: pq.ParquetFile, group: int, rows: int) -> Iterator[pa.RecordBatch]:
        """Row group ``group``'s batches of ``rows`` rows.

        Raises:
            SourceError: the file changed meanwhile, or cannot be read (names the group).
        """
        try:
            yield from file.iter_batches(
                batch_size=rows, row_groups=[group], columns=self._names, use_threads=False
            )
        except (OSError, pa.ArrowException) as error:
            self._check_unchanged()
            raise SourceError(f"{self._where}: cannot read row group {group}: {error}") from None

    def _read_whole(self) -> pa.Table:
        file = self._open()
        if self.row_count() == 0:  # the footer's schema is the whole table
            return self._schema.empty_table()
        self.reads.whole += 1
        try:
            table = self._conform(file.read(columns=self._names, use_threads=True))
        except (OSError, pa.ArrowException) as error:
            self._check_unchanged()
            raise SourceError(f"{self._where}: cannot read it: {error}") from None
        self._check_unchanged()
        return table

    def __repr__(self) -> str:
        return (
            f"ParquetSource({str(self.path)!r}, source_id={self.source_id!r}, "
            f"tags={self._tag_schema!r}, packets={self._packet_schema!r}, "
            f"rows={self.row_count()})"
        )

    # Reading -------------------------------------------------------------

    def _open_first(self) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.path)
        except FileNotFoundError:
            raise SourceError(f"{self._where}: no such file; check the path.") from None
        except (pa.ArrowInvalid, OSError) as error:
            if self.path.is_dir():
                raise SourceError(
                    f"{self._where}: is a directory; a ParquetSource reads one Parquet file: "
                    "give the path of a file in it."
                ) from None
            raise SourceError(f"{self._where}: cannot read it as Parquet: {error}") from None

    def _open(self) -> pq.ParquetFile:
        """The file, as it was when the source was made.

        Raises:
            SourceError: it changed since (or is gone).
        """
        self._check_unchanged()
        file = pq.ParquetFile(self.path)
        if not file.metadata.equals(self._metadata):
            raise self._changed("its footer differs")
        return file

    def _check_unchanged(self) -> None:
        self._stamp.check(self.path, self._changed)

    def _changed(self, how: str) -> SourceError:
        return SourceError(
            f"{self._where}: the file changed after the source was made ({how}); its "
            "schema, checks and content hash are those of the file as it was. Make a new "
            f"ParquetSource({str(self.path)!r}, ...) to read the file as it is now."
        )

    def _column_batches(self, file: pq.ParquetFile, columns: list[str]) -> Iterator[pa.Table]:
        self.reads.column_passes += 1
        for batch in file.iter_batches(batch_size=CHECK_ROWS, columns=columns):
            yield pa.Table.from_batches([batch])

    # Checks --------------------------------------------------------------

    def _checked(self, file: pq.ParquetFile, name: str) -> pa.Field:
        """Column ``name``'s field, non-nullable where it holds no null (at every level), once
        its values are checked to read back exactly; reads the column only if needed."""
        field = file.schema_arrow.field(name)
        exact = _readable_type(field.type)
        nulls = _null_count(self._metadata, name) if field.type == _tight_type_of(field) else None
        if exact == field.type and (nulls is not None or not field.nullable):
            return field.with_nullable(field.nullable and bool(nulls))
        scan = ColumnScan([field], self._where)
        if self.row_count():  # no rows: no values to check, no nulls
            for table in self._column_batches(file, [name]):
                scan.update(table)
        return scan.field(name)

    def _check_record_ids(self, file: pq.ParquetFile, column: str) -> None:
        """Refuse null or repeated record ids (:func:`check_unique_ids`, a column pass each)."""
        if self.row_count() == 0:
            return
        nulls = _null_count(self._metadata, column)
        if nulls is None:
            nulls = sum(
                table.column(0).null_count for table in self._column_batches(file, [column])
            )

        def passes() -> Iterator[pa.ChunkedArray]:
            return (table.column(0) for table in self._column_batches(file, [column]))

        check_unique_ids(column, passes, self.row_count(), nulls, self._where)


def _null_count(metadata: pq.FileMetaData, name: str) -> int | None:
    """Nulls in top-level column ``name`` by the footer's statistics; None if they do not say."""
    schema = metadata.schema
    leaves = [index for index in range(len(schema)) if schema.column(index).path == name]
    if len(leaves) != 1:
        return None
    total = 0
    for group in range(metadata.num_row_groups):
        statistics = metadata.row_group(group).column(leaves[0]).statistics
        if statistics is None or not statistics.has_null_count:
            return None
        total += statistics.null_count
    return total


def _tight_type_of(field: pa.Field) -> pa.DataType:
    """``field``'s type as :func:`_tight_type` leaves a column of it without nested values."""
    return _tight_type(field.type, [])
