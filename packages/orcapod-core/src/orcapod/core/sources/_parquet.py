"""A source over a Parquet file, read a row group at a time, never held whole."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orcapod.core.datagrams import Packet, RowBlock, Tag
from orcapod.core.errors import SourceError, TypeMismatchError
from orcapod.core.hashing import combine_hashes, hash_label, hash_table_batches
from orcapod.core.sources._csv import file_source_id
from orcapod.core.sources._table_source import (
    _check_columns,
    _readable_type,
    _schema_of,
    _tight_type,
    check_record_id_column,
    tag_column_list,
)
from orcapod.core.streams import (
    BATCH_BYTES,
    BATCH_ROWS,
    BatchSize,
    StreamBase,
    schema_pipeline_hash,
    split,
)
from orcapod.core.system_columns import (
    PROVENANCE,
    PROVENANCE_TYPE,
    check_source_id,
    provenance_array,
    row_numbers,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from orcapod.core.types import Schema

__all__ = ["ParquetReads", "ParquetSource"]

_CHECK_ROWS = 65_536
"""Rows per batch of the passes over single columns made when the source is made."""
_IDS_PER_PASS = 1 << 21
"""Most record ids whose fingerprints one pass of the uniqueness check holds (8 bytes each)."""
_MIX = 0x9E3779B97F4A7C15


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


@dataclass(frozen=True)
class _Stamp:
    """What identifies the file as it was when the source was made."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> _Stamp:
        status = os.stat(path)
        return cls(status.st_size, status.st_mtime_ns, status.st_ino)


class ParquetSource(StreamBase):
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
    the same source id. ``as_table()`` reads the whole file.

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
        SourceError: the file is missing or not Parquet (names it and Arrow's reason),
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
        self._stamp = _Stamp.of(self.path)
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

    @property
    def source_id(self) -> str:
        """The name of this source in the provenance of every row it yields."""
        return self._source_id

    def output_schema(self) -> tuple[Schema, Schema]:
        return self._tag_schema, self._packet_schema

    def pipeline_hash(self) -> str:
        """Schemas only: sources of the same columns share a pipeline identity."""
        return schema_pipeline_hash("source", self._tag_schema, self._packet_schema)

    def content_hash(self) -> str:
        """The source id, schemas, and every row with its provenance, in order; read a batch
        at a time (the digest of ``source_content_hash`` over the whole table)."""
        if self._content_hash is None:
            schema = self._schema.append(pa.field(PROVENANCE, PROVENANCE_TYPE, False))
            rows = hash_table_batches(
                schema, self.row_count(), self.iter_batches(include_system_columns=True)
            )
            self._content_hash = combine_hashes(
                "source-content",
                hash_label("source-id", self.source_id),
                self.pipeline_hash(),
                rows,
            )
        return self._content_hash

    def row_count(self) -> int:
        """The file's rows, from its footer."""
        return int(self._metadata.num_rows)

    def system_columns(self) -> tuple[str, ...]:
        return (PROVENANCE,)

    def iter_batches(
        self,
        *,
        include_system_columns: bool = False,
        max_rows: int = BATCH_ROWS,
        max_bytes: int = BATCH_BYTES,
    ) -> Iterator[pa.Table]:
        """As ``StreamBase.iter_batches``, reading the file a row group at a time and, within
        a row group, ``max_rows`` rows at a time; each batch's provenance is made alone.

        Raises:
            SourceError: the file changed since the source was made.
        """
        size = BatchSize.of(max_rows, max_bytes, ("max_rows", "max_bytes"))
        return self._batches(size, include_system_columns)

    def _batches(self, size: BatchSize, provenance: bool) -> Iterator[pa.Table]:
        file = self._open()
        extra = 8 + len(self.source_id) + 16 if provenance else 0  # a provenance entry's bytes
        first = 0
        for group in range(self._metadata.num_row_groups):
            meta = self._metadata.row_group(group)
            rows = size.rows_for(meta.total_byte_size / max(meta.num_rows, 1) + extra)
            if group:
                self._check_unchanged()
            self.reads.row_groups += 1
            for batch in self._read_group(file, group, rows):
                table = self._conform(pa.Table.from_batches([batch]))
                if provenance:
                    table = self._with_provenance(table, first)
                first += table.num_rows
                self.reads.batches += 1
                yield from split(table, size)
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

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """Every row as one table (reads the whole file; :meth:`iter_batches` does not)."""
        file = self._open()
        self.reads.whole += 1
        try:
            table = self._conform(file.read(columns=self._names, use_threads=True))
        except (OSError, pa.ArrowException) as error:
            self._check_unchanged()
            raise SourceError(f"{self._where}: cannot read it: {error}") from None
        self._check_unchanged()
        return self._with_provenance(table, 0) if include_system_columns else table

    def _compute_table(self) -> pa.Table:
        return self.as_table(include_system_columns=True)

    def _full_table(self) -> pa.Table:  # read afresh: the source holds no table
        return self._compute_table()

    def iter_packets(self) -> Iterator[tuple[Tag, Packet]]:
        """Each row as a (Tag, Packet) pair, in order, read a batch at a time."""
        tag_names = [*self._tag_schema.keys(), PROVENANCE]
        packet_names = list(self._packet_schema.keys())
        for table in self.iter_batches(include_system_columns=True):
            tags = RowBlock(table.select(tag_names), self._tag_schema)
            packets = RowBlock(table.select(packet_names), self._packet_schema)
            for row in range(table.num_rows):
                yield Tag(tags, row), Packet(packets, row)

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
        try:
            stamp = _Stamp.of(self.path)
        except FileNotFoundError:
            raise self._changed("it is gone") from None
        if stamp != self._stamp:
            raise self._changed(
                f"size {self._stamp.size} -> {stamp.size} bytes, modified at "
                f"{self._stamp.mtime_ns} -> {stamp.mtime_ns} ns"
            )

    def _changed(self, how: str) -> SourceError:
        return SourceError(
            f"{self._where}: the file changed after the source was made ({how}); its "
            "schema, checks and content hash are those of the file as it was. Make a new "
            f"ParquetSource({str(self.path)!r}, ...) to read the file as it is now."
        )

    def _conform(self, table: pa.Table) -> pa.Table:
        """``table``'s columns in the source's order, with its (checked) nullability."""
        table = table.select(self._names)
        if table.schema.equals(self._schema):
            return table
        columns = [
            column if column.type == field.type else column.cast(field.type)
            for column, field in zip(table.columns, self._schema, strict=True)
        ]
        return pa.Table.from_arrays(columns, schema=self._schema)

    def _with_provenance(self, table: pa.Table, first: int) -> pa.Table:
        if self._record_id_column is None:
            ids: pa.Array | pa.ChunkedArray = pc.add(row_numbers(table.num_rows), first)
        else:
            ids = table.column(self._record_id_column)
        provenance = provenance_array(self.source_id, ids)
        return table.append_column(pa.field(PROVENANCE, provenance.type, False), provenance)

    def _column_batches(self, file: pq.ParquetFile, columns: list[str]) -> Iterator[pa.Table]:
        self.reads.column_passes += 1
        for batch in file.iter_batches(batch_size=_CHECK_ROWS, columns=columns):
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
        tight: pa.DataType | None = None
        nullable = False
        for table in self._column_batches(file, [name]):
            column = table.column(0)
            if exact != field.type:
                try:
                    column.cast(exact, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                    raise TypeMismatchError(
                        f"{self._where}: column {name!r} of type {field.type} holds values "
                        f"orcapod cannot read exactly as {exact} ({error}); convert the column "
                        "first (round timestamps to microseconds, keep integers below 2**63)."
                    ) from None
            part = _tight_type(field.type, column.chunks)
            tight = part if tight is None else _loosest(tight, part)
            nullable |= column.null_count > 0
        if tight is None:  # no rows: no nulls at any level
            tight = _tight_type(field.type, [])
        return pa.field(name, tight, field.nullable and nullable, field.metadata)

    def _check_record_ids(self, file: pq.ParquetFile, column: str) -> None:
        """Refuse null or repeated record ids, holding at most ``_IDS_PER_PASS`` fingerprints:
        each pass keeps the ids of one share of the fingerprints (8 bytes each); repeated
        fingerprints are then confirmed (or found to be a collision) on the ids themselves."""
        where = f"{self._where}: record_id_column {column!r}"
        nulls = _null_count(self._metadata, column)
        if nulls is None:
            nulls = sum(
                table.column(0).null_count for table in self._column_batches(file, [column])
            )
        if nulls:
            raise SourceError(f"{where} has {nulls} null values; every row needs an id.")
        shares = 1
        while shares * _IDS_PER_PASS < self.row_count():
            shares *= 2
        repeated: list[pa.Array] = []
        for share in range(shares):
            kept = []
            for table in self._column_batches(file, [column]):
                prints = _fingerprints(table.column(0).combine_chunks())
                if shares > 1:
                    mine = pc.equal(
                        pc.bit_wise_and(prints, pa.scalar(shares - 1, pa.uint64())),
                        pa.scalar(share, pa.uint64()),
                    )
                    prints = prints.filter(mine)
                kept.append(prints)
            prints = pa.concat_arrays(kept) if kept else pa.array([], pa.uint64())
            if pc.count_distinct(prints).as_py() != len(prints):
                counts = pc.value_counts(prints)
                repeated.append(counts.filter(pc.greater(counts.field("counts"), 1)).field(0))
        if not repeated:
            return
        suspects = pa.concat_arrays(repeated)
        ids = [
            table.column(0).filter(pc.is_in(_fingerprints(table.column(0)), suspects))
            for table in self._column_batches(file, [column])
        ]
        counts = pc.value_counts(pa.chunked_array(ids).combine_chunks())
        twice = counts.filter(pc.greater(counts.field("counts"), 1))
        if len(twice):
            raise SourceError(
                f"{where} has the value {twice[0]['values'].as_py()!r} more than once; "
                "record ids must be unique."
            )


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


def _loosest(first: pa.DataType, second: pa.DataType) -> pa.DataType:
    """Two tightened types of one column's parts: nullable at each level where either is."""
    if pa.types.is_map(first):
        item = _loosest_field(first.item_field, second.item_field)
        return pa.map_(first.key_field, item)
    if pa.types.is_list(first) or pa.types.is_large_list(first):
        field = _loosest_field(first.value_field, second.value_field)
        return pa.list_(field) if pa.types.is_list(first) else pa.large_list(field)
    return first


def _loosest_field(first: pa.Field, second: pa.Field) -> pa.Field:
    return first.with_type(_loosest(first.type, second.type)).with_nullable(
        first.nullable or second.nullable
    )


def _fingerprints(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A 64-bit fingerprint (``uint64``) of each record id: an int id's own bits; a str id's
    UTF-8 bytes mixed 8 at a time (equal ids have equal fingerprints; others rarely do)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if pa.types.is_integer(ids.type):
        return ids.cast(pa.int64(), safe=False).cast(pa.uint64(), safe=False)
    data = ids.cast(pa.large_binary()).fill_null(b"")
    lengths = pc.binary_length(data)
    state = lengths.cast(pa.uint64())
    zeros = pa.scalar(b"\0" * 8, pa.large_binary())
    empty = pa.scalar(b"", pa.large_binary())
    mix = pa.scalar(_MIX, pa.uint64())
    for start in range(0, pc.max(lengths).as_py() or 0, 8):
        word = pc.binary_slice(data, start, start + 8)
        word = pc.binary_slice(pc.binary_join_element_wise(word, zeros, empty), 0, 8)
        fixed = word.cast(pa.binary(8))
        words = pa.Array.from_buffers(
            pa.uint64(), len(fixed), [None, fixed.buffers()[1]], 0, fixed.offset
        )
        state = pc.multiply(pc.bit_wise_xor(state, words), mix)
    state = pc.bit_wise_xor(state, pc.shift_right(state, pa.scalar(29, pa.uint64())))
    return pc.multiply(state, mix)
