"""Sources over an Arrow table: the base every built-in source is made from."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import SchemaError, SourceError, TypeMismatchError, UnsupportedTypeError
from orcapod.core.hashing import combine_hashes, hash_label, hash_table
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
    check_source_id,
    check_user_columns,
    provenance_array,
    row_numbers,
)
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "ArrowTableSource",
    "TableSource",
    "check_record_id_column",
    "source_content_hash",
    "tag_column_list",
    "without_false_nullability",
]


class TableSource(StreamBase):
    """A source whose rows are an Arrow table, validated when the source is made.

    Subclasses turn their input (rows, a file, a data frame) into a table and
    hand it to this constructor. The table is kept as it is (no copy): only
    columns are reordered (tags first) and fields without nulls are marked
    non-nullable, so a column with no ``None`` is ``T``, not ``T | None``.

    Args:
        table: the rows.
        tag_columns: the columns that identify a row; the others are the packet.
        source_id: names this source in the provenance of its rows; by default
            derived from the data (``"<kind>-<16 hex digits of its content hash>"``).
        record_id_column: a column of unique, non-null ``int`` or ``str`` values
            that identify each row across versions of the data; by default the
            row's position.
        kind: what the source is, for messages and default ids.

    Raises:
        SchemaError: a tag column is missing, a column name is reserved or repeated.
        UnsupportedTypeError: a column's type has no orcapod equivalent; names it.
        SourceError: ``source_id`` is invalid, or the record ids are not unique.
    """

    def __init__(
        self,
        table: pa.Table,
        tag_columns: str | Sequence[str],
        *,
        source_id: str | None = None,
        record_id_column: str | None = None,
        kind: str = "source",
    ) -> None:
        self._kind = kind
        where = f"{kind} {source_id!r}" if source_id is not None else kind
        self._source_id = None if source_id is None else check_source_id(source_id)
        tags = tag_column_list(tag_columns, table.column_names, where=where)
        _check_columns(table.column_names, where)
        _check_readable(table, where)
        schema = _schema_of(table, where)
        packets = [name for name in table.column_names if name not in tags]
        self._tag_schema = schema.select(tags)
        self._packet_schema = schema.select(packets)
        self._table = table.select([*tags, *packets])
        self._record_ids = _record_ids(self._table, record_id_column, where)
        self._content_hash: str | None = None

    @property
    def source_id(self) -> str:
        """The name of this source in the provenance of every row it yields."""
        if self._source_id is None:
            digest = hash_table(self._table).split(":", 1)[1]
            self._source_id = f"{self._kind}-{digest[:16]}"
        return self._source_id

    def output_schema(self) -> tuple[Schema, Schema]:
        return self._tag_schema, self._packet_schema

    def _compute_table(self) -> pa.Table:
        provenance = provenance_array(self.source_id, self._record_ids)
        return self._table.append_column(pa.field(PROVENANCE, provenance.type, False), provenance)

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        if include_system_columns:
            return super().as_table(include_system_columns=True)
        return self._table  # zero-copy: the validated input itself

    def iter_batches(
        self,
        *,
        include_system_columns: bool = False,
        max_rows: int = BATCH_ROWS,
        max_bytes: int = BATCH_BYTES,
    ) -> Iterator[pa.Table]:
        """As ``StreamBase.iter_batches``; the provenance column is made a batch at a time
        (the whole stream is never built: the source holds only its input table)."""
        if not include_system_columns or self._table_cache is not None:
            yield from super().iter_batches(
                include_system_columns=include_system_columns,
                max_rows=max_rows,
                max_bytes=max_bytes,
            )
            return
        size = BatchSize.of(max_rows, max_bytes, ("max_rows", "max_bytes"))
        source_id = self.source_id
        # The rows' share of the provenance column (a list of one id each) in the bound.
        provenance_bytes = provenance_array(source_id, self._record_ids[:1]).nbytes
        rows = size.rows_for(self._table.nbytes / max(self._table.num_rows, 1) + provenance_bytes)
        for start in range(0, self._table.num_rows, rows):
            part = self._table.slice(start, rows)
            provenance = provenance_array(source_id, self._record_ids[start : start + rows])
            table = part.append_column(pa.field(PROVENANCE, provenance.type, False), provenance)
            yield from split(table, size)

    def row_count(self) -> int:
        return int(self._table.num_rows)

    def pipeline_hash(self) -> str:
        """Schemas only: sources of the same columns share a pipeline identity."""
        return schema_pipeline_hash("source", self._tag_schema, self._packet_schema)

    def content_hash(self) -> str:
        """The source id, schemas, and every row with its provenance, in order."""
        if self._content_hash is None:
            self._content_hash = source_content_hash(self)
        return self._content_hash

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source_id={self.source_id!r}, tags={self._tag_schema!r}, "
            f"packets={self._packet_schema!r}, rows={self._table.num_rows})"
        )


class ArrowTableSource(TableSource):
    """A source over a ``pyarrow.Table`` (no copy: ``as_table()`` gives its columns back).

    A column without nulls is read as ``T`` even if its field is nullable.

    Args:
        table: the rows.
        tag_columns: the columns that identify a row; the others are the packet.
        source_id: names this source in provenance; derived from the data by default.
        record_id_column: a column of unique ``int`` or ``str`` row ids; by default
            the row's position.

    Attributes:
        source_kind: what the source is called in messages and default source ids
            (``"<kind>-<hash>"``); a subclass that reads another format into a
            table sets its own.
    """

    source_kind: ClassVar[str] = "arrow"

    def __init__(
        self,
        table: pa.Table,
        tag_columns: str | Sequence[str],
        *,
        source_id: str | None = None,
        record_id_column: str | None = None,
    ) -> None:
        if not isinstance(table, pa.Table):
            raise SourceError(
                f"ArrowTableSource needs a pyarrow.Table, got {type(table).__name__}; use "
                "DictSource for rows, DataFrameSource for a data frame."
            )
        super().__init__(
            without_false_nullability(table),
            tag_columns,
            source_id=source_id,
            record_id_column=record_id_column,
            kind=self.source_kind,
        )


def source_content_hash(source: StreamBase) -> str:
    """A source's content hash: its id, its pipeline hash (schemas), and every row with its
    provenance, in order (what every source here is identified by)."""
    return combine_hashes(
        "source-content",
        hash_label("source-id", source.source_id),  # type: ignore[attr-defined]
        source.pipeline_hash(),
        hash_table(source._full_table()),
    )


def tag_column_list(
    tag_columns: str | Sequence[str], columns: Sequence[str], *, where: str
) -> list[str]:
    """The tag columns as a list, checked against the available ``columns``.

    Raises:
        SchemaError: a tag column is not among ``columns``, or is named twice.
    """
    tags = [tag_columns] if isinstance(tag_columns, str) else list(tag_columns)
    for name in tags:
        if not isinstance(name, str):
            raise SchemaError(f"{where}: tag column {name!r} is not a str; name it by a str.")
    repeated = [name for name, count in Counter(tags).items() if count > 1]
    if repeated:
        raise SchemaError(f"{where}: tag column {repeated[0]!r} is named twice; name it once.")
    missing = [name for name in tags if name not in columns]
    if missing:
        raise SchemaError(
            f"{where}: tag column {missing[0]!r} is not a column of the data; the columns "
            f"are {list(columns)}."
        )
    return tags


def _check_columns(names: Sequence[str], where: str) -> None:
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise SchemaError(f"{where}: column {repeated[0]!r} appears twice; rename one of them.")
    check_user_columns(names, where=where)


def _check_readable(table: pa.Table, where: str) -> None:
    """Refuse columns whose values orcapod could not read back exactly, when the source is made.

    Nanosecond timestamps are read as microseconds, ``uint64`` as ``int64`` and
    ``date64`` as ``date32``; a value that does not fit is refused now, naming the
    column, rather than on some later read.

    Raises:
        TypeMismatchError: names the column and Arrow's reason.
    """
    for field, column in zip(table.schema, table.columns, strict=True):
        exact = _readable_type(field.type)
        if exact == field.type:
            continue
        try:
            column.cast(exact, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise TypeMismatchError(
                f"{where}: column {field.name!r} of type {field.type} holds values orcapod "
                f"cannot read exactly as {exact} ({error}); convert the column first (round "
                "timestamps to microseconds, keep integers below 2**63)."
            ) from None


def _readable_type(arrow: pa.DataType) -> pa.DataType:
    """The type orcapod reads ``arrow`` as, where that may lose values; else ``arrow``."""
    if pa.types.is_timestamp(arrow) and arrow.unit == "ns":
        return pa.timestamp("us", arrow.tz)
    if pa.types.is_uint64(arrow):
        return pa.int64()
    if pa.types.is_date64(arrow):
        return pa.date32()
    if pa.types.is_map(arrow):
        item = arrow.item_field
        return pa.map_(arrow.key_field, item.with_type(_readable_type(item.type)))
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        field = arrow.value_field.with_type(_readable_type(arrow.value_type))
        return pa.list_(field) if pa.types.is_list(arrow) else pa.large_list(field)
    return arrow


def _schema_of(table: pa.Table, where: str) -> Schema:
    try:
        return Schema.from_arrow(table.schema)
    except UnsupportedTypeError as error:
        raise UnsupportedTypeError(f"{where}: {error}") from None


def without_false_nullability(table: pa.Table) -> pa.Table:
    """``table`` with every field that holds no null (at any nesting level) made non-nullable.

    Arrow, pandas, polars and CSV readers mark every field nullable, whatever it
    holds; this reads a column without nulls as ``T`` rather than ``T | None``.
    No data is copied: only the schema, and the types of nested columns, change.
    """
    fields, columns, changed = [], [], False
    for field, column in zip(table.schema, table.columns, strict=True):
        tight = _tight_type(field.type, column.chunks)
        nullable = field.nullable and column.null_count > 0
        if tight != field.type:
            column = column.cast(tight)
        changed |= tight != field.type or nullable != field.nullable
        fields.append(pa.field(field.name, tight, nullable, field.metadata))
        columns.append(column)
    if not changed:
        return table
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, table.schema.metadata))


def _tight_type(arrow: pa.DataType, chunks: list[pa.Array]) -> pa.DataType:
    """``arrow`` with the item and value fields of lists and maps non-nullable where no null is."""
    if pa.types.is_map(arrow):
        item = _tight_field(arrow.item_field, [_map_values(chunk) for chunk in chunks])
        return pa.map_(arrow.key_field, item)
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        items = [pc.list_flatten(chunk) for chunk in chunks]
        field = _tight_field(arrow.value_field, items)
        return pa.list_(field) if pa.types.is_list(arrow) else pa.large_list(field)
    return arrow


def _map_values(chunk: pa.MapArray) -> pa.Array:
    """The values of the entries of a map array, honouring its slice offset."""
    offsets = chunk.offsets
    start = offsets[0].as_py() if len(offsets) else 0
    end = offsets[-1].as_py() if len(offsets) else 0
    return chunk.items.slice(start, end - start)


def _tight_field(field: pa.Field, chunks: list[pa.Array]) -> pa.Field:
    nullable = field.nullable and any(chunk.null_count for chunk in chunks)
    return field.with_type(_tight_type(field.type, chunks)).with_nullable(nullable)


def check_record_id_column(column: str, schema: pa.Schema, where: str) -> None:
    """Refuse a ``record_id_column`` that is not a column of ``schema``, or not of int or str.

    Raises:
        SourceError: names the column, and the columns or its type.
    """
    if column not in schema.names:
        raise SourceError(
            f"{where}: record_id_column {column!r} is not a column; the columns are {schema.names}."
        )
    dtype = schema.field(column).type
    if not (pa.types.is_integer(dtype) or pa.types.is_string(dtype)) and not (
        pa.types.is_large_string(dtype)
    ):
        raise SourceError(
            f"{where}: record_id_column {column!r} is of type {dtype}; record ids must be "
            "int or str."
        )


def _record_ids(table: pa.Table, column: str | None, where: str) -> pa.Array | pa.ChunkedArray:
    """The id of every row: the values of ``column``, or the row positions."""
    if column is None:
        return row_numbers(table.num_rows)
    check_record_id_column(column, table.schema, where)
    ids = table.column(column)
    if ids.null_count:
        raise SourceError(
            f"{where}: record_id_column {column!r} has {ids.null_count} null values; every "
            "row needs an id."
        )
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise SourceError(
            f"{where}: record_id_column {column!r} has the value {repeated!r} more than once; "
            "record ids must be unique."
        )
    return ids
