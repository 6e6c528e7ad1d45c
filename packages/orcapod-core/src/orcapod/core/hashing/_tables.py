"""Content hashes of rows and tables."""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import (
    HASH_METHOD,
    domain,
    render,
    u64,
)
from orcapod.core.hashing._types import row_type_digest, sorted_fields
from orcapod.core.hashing._values import binary_scalar, encode_column, join_rows

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

__all__ = [
    "TableHasher",
    "hash_row",
    "hash_table",
    "hash_table_batches",
    "hash_table_rows",
    "hash_table_unordered",
]

_BATCH_ROWS = 65_536


def hash_table_rows(table: pa.Table, columns: Sequence[str] | None = None) -> list[str]:
    """The content hash of every row of ``table`` (of ``columns`` only, if given), in row order.

    A row's hash covers its column names, their logical types and its values;
    column order and the physical layout (chunks, offsets, large or small
    types) do not affect it.

    Raises:
        HashingError: a column is missing, duplicated, or of a type orcapod cannot hash.
    """
    prefix = f"{HASH_METHOD}:"
    sha256 = hashlib.sha256
    hashes: list[str] = []
    for rows in _encoded_rows(table, columns):
        hashes.extend([prefix + sha256(row).hexdigest() for row in _row_bytes(rows)])
    return hashes


def hash_table(table: pa.Table, columns: Sequence[str] | None = None) -> str:
    """The content hash of ``table`` as a sequence: row order matters.

    Raises:
        HashingError: as for :func:`hash_table_rows`.
    """
    digests = _row_digests(table, columns)
    return render(
        b"".join(
            [domain("table"), _type_digest(table.schema, columns), u64(len(digests)), *digests]
        )
    )


class TableHasher:
    """:func:`hash_table` of a table given a batch at a time, never held whole.

    The rows' count must be known first (it precedes the rows in the hashed
    message); the digest equals ``hash_table`` of the batches' concatenation.

    Args:
        schema: the table's columns (the batches may differ in physical types, such
            as ``string`` and ``large_string``, but not in logical ones).
        num_rows: how many rows the batches hold together.
        columns: hash these columns only, as ``hash_table``'s ``columns``.

    Raises:
        HashingError: as for :func:`hash_table_rows`; from :meth:`update`, a batch of
            other columns or logical types; from :meth:`hexdigest`, another row count.
    """

    def __init__(
        self, schema: pa.Schema, num_rows: int, columns: Sequence[str] | None = None
    ) -> None:
        self._columns = None if columns is None else list(columns)
        self._type = row_type_digest(_selected_fields(schema, self._columns))
        self._expected = num_rows
        self._seen = 0
        self._sha = hashlib.sha256(domain("table") + self._type + u64(num_rows))

    def update(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Hash the next rows, in order."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if _type_digest(table.schema, self._columns) != self._type:
            raise HashingError(
                "cannot hash a table in batches of other columns or types: a batch has "
                f"columns {table.schema}"
            )
        update = self._sha.update
        sha256 = hashlib.sha256
        for rows in _encoded_rows(table, self._columns):
            for row in _row_bytes(rows):
                update(sha256(row).digest())
        self._seen += table.num_rows

    def hexdigest(self) -> str:
        """The rendered hash of every row given (``"orcapod-v1-sha256:<hex>"``)."""
        if self._seen != self._expected:
            raise HashingError(
                f"cannot hash a table of {self._expected} rows from batches of {self._seen} "
                "rows in all"
            )
        return f"{HASH_METHOD}:{self._sha.hexdigest()}"


def hash_table_batches(
    schema: pa.Schema,
    num_rows: int,
    batches: Iterable[pa.Table | pa.RecordBatch],
    columns: Sequence[str] | None = None,
) -> str:
    """:func:`hash_table` of the concatenation of ``batches`` (of ``num_rows`` rows in all),
    reading one batch at a time (see :class:`TableHasher`).

    Raises:
        HashingError: as for :class:`TableHasher`.
    """
    hasher = TableHasher(schema, num_rows, columns)
    for batch in batches:
        hasher.update(batch)
    return hasher.hexdigest()


def hash_table_unordered(table: pa.Table, columns: Sequence[str] | None = None) -> str:
    """The content hash of ``table`` as a multiset of rows: row order does not matter.

    Raises:
        HashingError: as for :func:`hash_table_rows`.
    """
    digests = sorted(_row_digests(table, columns))
    return render(
        b"".join(
            [
                domain("table-unordered"),
                _type_digest(table.schema, columns),
                u64(len(digests)),
                *digests,
            ]
        )
    )


def hash_row(values: Mapping[str, object], schema: pa.Schema) -> str:
    """The content hash of one row given as Python values with their Arrow schema.

    Equal to the :func:`hash_table_rows` hash of the same row in a table.

    Raises:
        HashingError: ``values`` and ``schema`` name different columns, or a value does
            not fit its type.
    """
    if set(values) != set(schema.names) or len(values) != len(schema.names):
        raise HashingError(
            f"cannot hash row with columns {sorted(values)}: the schema has columns "
            f"{sorted(schema.names)}"
        )
    try:
        table = pa.Table.from_pylist([dict(values)], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as error:
        raise HashingError(f"cannot hash row {dict(values)!r}: {error}") from None
    return hash_table_rows(table)[0]


def _row_digests(table: pa.Table, columns: Sequence[str] | None) -> list[bytes]:
    sha256 = hashlib.sha256
    digests: list[bytes] = []
    for rows in _encoded_rows(table, columns):
        digests.extend([sha256(row).digest() for row in _row_bytes(rows)])
    return digests


def _selected_fields(schema: pa.Schema, columns: Sequence[str] | None) -> list[pa.Field]:
    if columns is None:
        return sorted_fields(list(schema))  # raises on a duplicate name
    missing = [name for name in columns if name not in schema.names]
    if missing:
        raise HashingError(f"cannot hash columns {missing}: the table has columns {schema.names}")
    duplicated = sorted({name for name in columns if schema.names.count(name) > 1})
    if duplicated:
        raise HashingError(
            f"cannot hash column {duplicated[0]!r}: the table has more than one column of that "
            "duplicate name; rename one of them"
        )
    return sorted_fields([schema.field(name) for name in columns])


def _type_digest(schema: pa.Schema, columns: Sequence[str] | None) -> bytes:
    return row_type_digest(_selected_fields(schema, columns))


def _encoded_rows(table: pa.Table, columns: Sequence[str] | None) -> Iterator[pa.Array]:
    """Yield, batch by batch, one ``large_binary`` per row holding its whole hashed message."""
    fields = _selected_fields(table.schema, columns)
    prefix = binary_scalar(domain("row") + row_type_digest(fields))
    if not fields:
        if table.num_rows > 0:
            yield pa.repeat(prefix, table.num_rows)
        return
    selected = table.select([field.name for field in fields])
    for batch in selected.to_batches(max_chunksize=_BATCH_ROWS):
        if batch.num_rows > 0:
            encoded = [encode_column(batch.column(i), field) for i, field in enumerate(fields)]
            yield join_rows(prefix, *encoded)


def _row_bytes(rows: pa.Array) -> Iterator[memoryview]:
    """Each value of a ``large_binary`` array as a memoryview into its buffer (no copies)."""
    _, offsets_buffer, data_buffer = rows.buffers()
    offsets = memoryview(offsets_buffer).cast("q")[rows.offset : rows.offset + len(rows) + 1]
    data = memoryview(data_buffer) if data_buffer is not None else memoryview(b"")
    return (data[start:end] for start, end in itertools.pairwise(offsets))
