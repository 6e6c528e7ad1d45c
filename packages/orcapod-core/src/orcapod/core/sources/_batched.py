"""Sources that hold no table: their identity, and reading their rows a batch at a time.

:class:`SourceBase` is the identity of a source whose id and schemas are fixed
when it is made (``GlobSource``). :class:`BatchedSource` adds reading in
batches, never holding the rows whole (``ParquetSource``, and a plugin's
``SourceTable`` that offers ``arrow_batches``): its content hash, reads and
provenance are computed a batch at a time, and equal those of the
``ArrowTableSource`` of the same rows. :class:`ColumnScan` and
:func:`check_unique_ids` are the checks such a source makes when it is made,
in passes of bounded memory.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.datagrams import Packet, RowBlock, Tag
from orcapod.core.errors import SourceError, TypeMismatchError
from orcapod.core.hashing import combine_hashes, hash_label, hash_table_batches
from orcapod.core.sources._table_source import _readable_type, _tight_type
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
    provenance_array,
    row_numbers,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    from orcapod.core.types import Schema

__all__ = ["BatchedSource", "ColumnScan", "SourceBase", "check_unique_ids"]

CHECK_ROWS = 65_536
"""Rows per batch of the passes a source makes over its rows when it is made (its checks)."""
_IDS_PER_PASS = 1 << 21
"""Most record ids whose fingerprints one pass of the uniqueness check holds (8 bytes each)."""
_MIX = 0x9E3779B97F4A7C15


class SourceBase(StreamBase):
    """The identity of a source whose id and schemas are set when it is made.

    A subclass sets ``_source_id``, ``_tag_schema`` and ``_packet_schema``.
    """

    _source_id: str
    _tag_schema: Schema
    _packet_schema: Schema

    @property
    def source_id(self) -> str:
        """The name of this source in the provenance of every row it yields."""
        return self._source_id

    def output_schema(self) -> tuple[Schema, Schema]:
        return self._tag_schema, self._packet_schema

    def pipeline_hash(self) -> str:
        """Schemas only: sources of the same columns share a pipeline identity."""
        return schema_pipeline_hash("source", self._tag_schema, self._packet_schema)


class BatchedSource(SourceBase):
    """A source whose rows are read in batches: it never holds them whole.

    A subclass checks its rows when it is made (:class:`ColumnScan`,
    :func:`check_unique_ids`) and sets, besides :class:`SourceBase`'s:
    ``_schema`` (the Arrow schema of its rows as read: tag columns first,
    fields without nulls non-nullable), ``_record_id_column`` (or ``None`` for
    the row positions) and ``_content_hash = None``; it reads its rows in
    :meth:`_read` and counts them in :meth:`row_count`.

    Its rows, provenance and content hash are those of the
    ``ArrowTableSource`` of the same rows with the same source id; only
    :meth:`as_table` (and what needs the whole table) reads them all at once.
    """

    _schema: pa.Schema
    _record_id_column: str | None
    _content_hash: str | None

    @abstractmethod
    def _read(self, size: BatchSize, provenance: bool) -> Iterator[pa.Table]:
        """The rows in order, in tables of about ``size`` (with ``provenance`` to be added)
        holding at least the source's columns; read as they are asked for."""

    @abstractmethod
    def row_count(self) -> int:
        """How many rows the source has (known without reading them again)."""

    def _read_whole(self) -> pa.Table:
        """Every row as one table (:meth:`as_table`); by default the batches joined."""
        return pa.concat_tables(
            [self._conform(table) for table in self._read(BatchSize(), False)]
            or [self._schema.empty_table()]
        )

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

    def system_columns(self) -> tuple[str, ...]:
        return (PROVENANCE,)

    def iter_batches(
        self,
        *,
        include_system_columns: bool = False,
        max_rows: int = BATCH_ROWS,
        max_bytes: int = BATCH_BYTES,
    ) -> Iterator[pa.Table]:
        """As ``StreamBase.iter_batches``, reading the rows a batch at a time; each batch's
        provenance is made alone."""
        size = BatchSize.of(max_rows, max_bytes, ("max_rows", "max_bytes"))
        return self._batches(size, include_system_columns)

    def _batches(self, size: BatchSize, provenance: bool) -> Iterator[pa.Table]:
        first = 0
        for read in self._read(size, provenance):
            table = self._conform(read)
            if provenance:
                table = self._with_provenance(table, first)
            first += table.num_rows
            yield from split(table, size)

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """Every row as one table (reads them all; :meth:`iter_batches` does not)."""
        table = self._read_whole()
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

    def _conform(self, table: pa.Table) -> pa.Table:
        """``table``'s columns in the source's order, with its (checked) nullability."""
        table = table.select(self._schema.names)
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


class ColumnScan:
    """One pass over some columns of a source's rows, a batch at a time (:meth:`update`).

    It refuses values orcapod could not read back exactly (as ``ArrowTableSource``
    does), and finds each column's field as ``without_false_nullability`` of the
    whole column would make it (non-nullable where no null is, at every level),
    its nulls, and the rows.

    Args:
        fields: the columns scanned, as the rows' schema gives them.
        where: names the source in messages.

    Attributes:
        nulls: each column's nulls so far.
        rows: the rows so far.
    """

    def __init__(self, fields: Iterable[pa.Field], where: str) -> None:
        self._fields = {field.name: field for field in fields}
        self._where = where
        self._tight: dict[str, pa.DataType] = {}
        self.nulls = dict.fromkeys(self._fields, 0)
        self.rows = 0

    def update(self, table: pa.Table) -> None:
        """Scan the next rows (a table holding at least the scanned columns).

        Raises:
            TypeMismatchError: a column holds values orcapod cannot read exactly.
        """
        for name, field in self._fields.items():
            column = table.column(name)
            exact = _readable_type(field.type)
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
            known = self._tight.get(name)
            self._tight[name] = part if known is None else _loosest(known, part)
            self.nulls[name] += column.null_count
        self.rows += table.num_rows

    def field(self, name: str) -> pa.Field:
        """Column ``name``'s field for the rows scanned."""
        field = self._fields[name]
        tight = self._tight.get(name)
        if tight is None:  # no rows: no nulls at any level
            tight = _tight_type(field.type, [])
        return pa.field(name, tight, field.nullable and self.nulls[name] > 0, field.metadata)


def check_unique_ids(
    column: str,
    passes: Callable[[], Iterable[pa.Array | pa.ChunkedArray]],
    rows: int,
    nulls: int,
    where: str,
) -> None:
    """Refuse null or repeated record ids, holding at most ``_IDS_PER_PASS`` fingerprints.

    Each pass keeps the fingerprints (8 bytes each) of one share of the ids;
    repeated fingerprints are then confirmed (or found to be a collision) on the
    ids themselves, in one more pass. The value named is the one
    ``ArrowTableSource`` names: the first, in row order, that is repeated.

    Args:
        column: the record id column (for messages).
        passes: each call reads the column's values afresh, in parts, in row order.
        rows: the rows in all.
        nulls: the column's nulls.
        where: names the source in messages.

    Raises:
        SourceError: an id is null, or repeated; names the column and a repeated value.
    """
    where = f"{where}: record_id_column {column!r}"
    if nulls:
        raise SourceError(f"{where} has {nulls} null values; every row needs an id.")
    shares = 1
    while shares * _IDS_PER_PASS < rows:
        shares *= 2
    repeated: list[pa.Array] = []
    for share in range(shares):
        kept = []
        for ids in passes():
            prints = _fingerprints(
                ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
            )
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
    found = []
    for ids in passes():
        if isinstance(ids, pa.ChunkedArray):  # a filtered one may have no chunk, no type
            ids = ids.combine_chunks()
        found.append(ids.filter(pc.is_in(_fingerprints(ids), suspects)))
    counts = pc.value_counts(pa.concat_arrays(found))
    twice = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(twice):
        raise SourceError(
            f"{where} has the value {twice[0]['values'].as_py()!r} more than once; "
            "record ids must be unique."
        )


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


@dataclass(frozen=True)
class FileStamp:
    """What identifies a file as it was when a source over it was made."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        status = os.stat(path)
        return cls(status.st_size, status.st_mtime_ns, status.st_ino)

    def check(self, path: Path, changed: Callable[[str], SourceError]) -> None:
        """Raise ``changed(how)`` unless ``path`` is still the file this stamp was taken of."""
        try:
            now = FileStamp.of(path)
        except FileNotFoundError:
            raise changed("it is gone") from None
        if now != self:
            raise changed(
                f"size {self.size} -> {now.size} bytes, modified at "
                f"{self.mtime_ns} -> {now.mtime_ns} ns"
            )
