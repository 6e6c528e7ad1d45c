"""Tag and Packet: immutable, Arrow-backed, dict-like rows.

A datagram is a view of one row of a :class:`RowBlock`, a batch of rows that
many datagrams share. The block converts a column to Python values, and hashes
its rows, once for the whole batch, the first time any of its datagrams asks;
so iterating a stream costs two small objects per row and no per-row Arrow
call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Self

from orcapod.core.errors import SchemaError
from orcapod.core.hashing import hash_table_rows
from orcapod.core.system_columns import check_user_columns, is_system_column
from orcapod.core.types import Schema, infer_schema, rows_to_table, to_arrow_table, to_pylist

if TYPE_CHECKING:
    import pyarrow as pa

    from orcapod.protocols import data

__all__ = ["Datagram", "Packet", "PythonRowBlock", "RowBlock", "Tag"]


class RowBlock:
    """A batch of rows: user columns of a schema, plus system columns, in one Arrow table.

    Args:
        table: every column the datagrams of this block see.
        schema: the Python types of the user columns (the table's other columns must
            be system columns).

    Raises:
        SchemaError: the table lacks a column of the schema, or has a user column
            the schema does not name.
    """

    __slots__ = ("_columns", "_hashes", "_system_names", "schema", "table")

    def __init__(self, table: pa.Table, schema: Schema) -> None:
        missing = [name for name in schema if name not in table.column_names]
        extra = [n for n in table.column_names if n not in schema and not is_system_column(n)]
        if missing or extra:
            raise SchemaError(
                f"a row block needs the schema's columns and no other user columns: "
                f"missing {missing}, extra {extra}"
            )
        self.table = table
        self.schema = schema
        self._system_names = tuple(n for n in table.column_names if n not in schema)
        self._columns: dict[str, list[Any]] = {}
        self._hashes: list[str] | None = None

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def values(self, name: str) -> list[Any]:
        """The Python values of column ``name`` (user or system), converted once."""
        values = self._columns.get(name)
        if values is None:
            values = to_pylist(self.table.column(name), self.schema.get(name))
            self._columns[name] = values
        return values

    def content_hashes(self) -> list[str]:
        """The content hash of each row's user columns, computed once for the block."""
        if self._hashes is None:
            self._hashes = hash_table_rows(self.table, self.schema.keys())
        return self._hashes

    def system_names(self) -> tuple[str, ...]:
        return self._system_names


class PythonRowBlock(RowBlock):
    """Rows held as Python columns, which may still grow; converted to Arrow when asked.

    For rows produced one at a time (a function's outputs during a run): a
    datagram of row ``i`` reads its values at once, and the Arrow table (for
    ``as_table``, ``content_hash``) is built on first use and rebuilt only if
    rows were added since.

    Args:
        columns: column name → values, exactly the schema's columns, of equal length;
            the lists are shared, not copied.
        schema: their Python types.
    """

    __slots__ = ("_built",)

    def __init__(self, columns: dict[str, list[Any]], schema: Schema) -> None:
        if list(columns) != list(schema):
            raise SchemaError(f"columns {list(columns)} are not the schema's {list(schema)}")
        self.schema = schema
        self._columns = columns
        self._system_names = ()
        self._hashes = None
        self._built: pa.Table | None = None

    @property
    def num_rows(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    @property
    def table(self) -> pa.Table:
        built = self._built
        if built is None or built.num_rows != self.num_rows:
            built = self._built = to_arrow_table(self._columns, self.schema)
            self._hashes = None
        return built

    def values(self, name: str) -> list[Any]:
        return self._columns[name]

    def content_hashes(self) -> list[str]:
        table = self.table  # first: a rebuild forgets hashes of fewer rows
        if self._hashes is None:
            self._hashes = hash_table_rows(table, self.schema.keys())
        return self._hashes


class Datagram(Mapping[str, Any]):
    """An immutable row of named values; reading is by column name, like a dict.

    ``keys()``, iteration, ``len`` and ``as_dict()`` cover the user columns;
    system columns (``__``-prefixed) are reached through
    ``as_table(include_system_columns=True)`` (and, on tags, ``system_tags()``).
    Two datagrams are equal when they are of the same kind and have the same
    schema and content hash (the same values, each datetime in the same zone).
    There is no way to change one: no item assignment, and ``__slots__`` leave
    no room for new attributes.

    Args:
        block: the batch of rows this datagram is a row of.
        row: the row's position in ``block`` (not checked: the caller owns the block).
    """

    __slots__ = ("_block", "_row")
    _block: RowBlock
    _row: int

    def __init__(self, block: RowBlock, row: int) -> None:
        self._block = block
        self._row = row

    @classmethod
    def from_dict(
        cls,
        values: Mapping[str, Any],
        schema: Schema | Mapping[str, Any] | None = None,
    ) -> Self:
        """A datagram of Python values, their types declared or inferred.

        Raises:
            SchemaError: a column name is reserved, or the values do not have the
                schema's columns.
            TypeInferenceError: a type cannot be inferred (a ``None`` with no schema).
            TypeMismatchError: a value does not match its declared type.
        """
        check_user_columns(values, where=f"{cls.__name__}.from_dict")
        if schema is None:
            schema = infer_schema([values])
        elif not isinstance(schema, Schema):
            schema = Schema(schema)
        return cls(RowBlock(rows_to_table([values], schema), schema), 0)

    def __getitem__(self, name: str) -> Any:
        if name not in self._block.schema:
            raise KeyError(
                f"{type(self).__name__} has no column {name!r}; its columns are {list(self)}"
            )
        return self._block.values(name)[self._row]

    def __iter__(self) -> Iterator[str]:
        return iter(self._block.schema)

    def __len__(self) -> int:
        return len(self._block.schema)

    def __contains__(self, name: object) -> bool:
        return name in self._block.schema

    def keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """The user column names, in order."""
        return self._block.schema.keys()

    def schema(self) -> Schema:
        """The Python types of the user columns."""
        return self._block.schema

    def as_dict(self) -> dict[str, Any]:
        """The user columns as plain Python values (maps as dicts, paths as Paths)."""
        block, row = self._block, self._row
        return {name: block.values(name)[row] for name in block.schema}

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """This row as a one-row Arrow table (system columns last, when included)."""
        table = self._block.table.slice(self._row, 1)
        names = list(self._block.schema)
        if include_system_columns:
            names += self._block.system_names()
        return table.select(names)

    def content_hash(self) -> str:
        """The hash of the user columns' names, logical types and values (docs/identity.md)."""
        return self._block.content_hashes()[self._row]

    def arrow_row(self) -> tuple[pa.Table, int]:
        """The Arrow table this row is a view of (user and system columns), and its index there.

        Lets a reader of many rows (an observer writing them out) take their
        values column by column, with no Python value made per row.
        """
        return self._block.table, self._row

    def __eq__(self, other: object) -> bool:
        # By identity, not by Python ==: an instant in two time zones compares equal
        # as datetimes but is stored, and hashed, as two different values.
        if not isinstance(other, Datagram) or type(other) is not type(self):
            return NotImplemented
        return self.schema() == other.schema() and self.content_hash() == other.content_hash()

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        table = self.as_table(include_system_columns=True)
        return (_rebuild, (type(self), table, list(self._block.schema.items())))


class Tag(Datagram):
    """The columns that identify a row, plus its provenance system tags."""

    __slots__ = ()

    def system_tags(self) -> dict[str, Any]:
        """The ``__`` columns of this row: which source rows it derives from."""
        block, row = self._block, self._row
        return {name: block.values(name)[row] for name in block.system_names()}


class Packet(Datagram):
    """The payload columns of a row: what functions read and return."""

    __slots__ = ()


def _rebuild(kind: type[Datagram], table: pa.Table, columns: list[tuple[str, Any]]) -> Datagram:
    return kind(RowBlock(table, Schema(columns)), 0)


if TYPE_CHECKING:
    _block = RowBlock(pa.table({}), Schema())
    _tag_protocol: data.Tag = Tag(_block, 0)
    _packet_protocol: data.Packet = Packet(_block, 0)
