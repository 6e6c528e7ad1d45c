"""Schema: an immutable ordered mapping of column name to Python type."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.core.errors import SchemaError, UnsupportedTypeError
from orcapod.core.types._annotations import normalize_type, type_name
from orcapod.core.types._converter import arrow_field_of, python_type_of_field

if TYPE_CHECKING:
    from orcapod.protocols import data

__all__ = ["Schema"]


class Schema:
    """An immutable, ordered mapping of column name to Python type.

    Types are validated and normalised at construction (``Optional[int]`` and
    ``int | None`` are the same type). Two schemas are equal when they have
    the same columns with the same types in the same order.

    Args:
        columns: A mapping or (name, type) pairs, in column order.
        **more: Further columns, after ``columns``.

    Raises:
        SchemaError: a column name is not a non-empty str, or is given twice.
        UnsupportedTypeError: a type is not supported; the message names the column.
    """

    __slots__ = ("_columns", "_hash")
    _columns: dict[str, Any]
    _hash: int

    def __init__(
        self, columns: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **more: Any
    ) -> None:
        pairs = list(columns.items() if isinstance(columns, Mapping) else columns)
        pairs.extend(more.items())
        checked: dict[str, Any] = {}
        for name, tp in pairs:
            if not isinstance(name, str) or not name:
                raise SchemaError(
                    f"column name {name!r} is not a non-empty str; rename the column."
                )
            if name in checked:
                raise SchemaError(f"column {name!r} is given twice; give each column once.")
            checked[name] = normalize_type(tp, where=f"column {name!r}")
        object.__setattr__(self, "_columns", checked)
        object.__setattr__(self, "_hash", hash(tuple(checked.items())))

    @classmethod
    def of(cls, schema: Schema | data.Schema | Mapping[str, Any]) -> Schema:
        """``schema`` as a Schema: itself if it is one, else built from its ``items()``.

        Accepts any object of the ``orcapod.protocols`` Schema contract, or a mapping.
        """
        return schema if isinstance(schema, Schema) else cls(list(schema.items()))

    @classmethod
    def from_arrow(cls, schema: pa.Schema) -> Schema:
        """The schema of an Arrow schema's columns (nullable fields become ``T | None``).

        Raises:
            UnsupportedTypeError: a column's Arrow type has no orcapod equivalent.
        """
        pairs = []
        for field in schema:
            try:
                pairs.append((field.name, python_type_of_field(field)))
            except UnsupportedTypeError as error:
                raise UnsupportedTypeError(f"column {field.name!r}: {error}") from error
        return cls(pairs)

    def to_arrow(self) -> pa.Schema:
        """The canonical Arrow schema of these columns (aware timestamps in ``"UTC"``)."""
        return pa.schema([arrow_field_of(name, tp, "UTC") for name, tp in self._columns.items()])

    def __getitem__(self, name: str) -> Any:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; the columns are {list(self._columns)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, Python type) pairs in column order."""
        return iter(self._columns.items())

    def keys(self) -> tuple[str, ...]:
        """The column names in order."""
        return tuple(self._columns)

    def types(self) -> tuple[Any, ...]:
        """The column types in order."""
        return tuple(self._columns.values())

    def get(self, name: str, default: Any = None) -> Any:
        """The type of column ``name``, or ``default`` when there is no such column."""
        return self._columns.get(name, default)

    def select(self, names: Iterable[str]) -> Schema:
        """A schema of the named columns, in the given order.

        Raises:
            SchemaError: a name is not a column of this schema.
        """
        names = list(names)
        missing = [name for name in names if name not in self._columns]
        if missing:
            raise SchemaError(
                f"cannot select columns {missing}: not in the schema; the columns are "
                f"{list(self._columns)}."
            )
        return Schema([(name, self._columns[name]) for name in names])

    def drop(self, names: Iterable[str]) -> Schema:
        """A schema without the named columns.

        Raises:
            SchemaError: a name is not a column of this schema.
        """
        dropped = set(names)
        missing = sorted(dropped - set(self._columns))
        if missing:
            raise SchemaError(
                f"cannot drop columns {missing}: not in the schema; the columns are "
                f"{list(self._columns)}."
            )
        return Schema([(n, tp) for n, tp in self._columns.items() if n not in dropped])

    def merge(self, other: Schema) -> Schema:
        """This schema's columns followed by the columns of ``other`` it does not have.

        Raises:
            SchemaError: a column is in both with different types; names each.
        """
        conflicts = [
            f"{name!r} ({type_name(self._columns[name])} vs {type_name(tp)})"
            for name, tp in other.items()
            if name in self._columns and self._columns[name] != tp
        ]
        if conflicts:
            raise SchemaError(
                f"cannot merge schemas: columns {', '.join(conflicts)} have different types "
                "in each; rename or convert one of them."
            )
        return Schema(
            [*self._columns.items(), *((n, t) for n, t in other.items() if n not in self)]
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return list(self._columns.items()) == list(other._columns.items())

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        columns = ", ".join(f"{name!r}: {type_name(tp)}" for name, tp in self._columns.items())
        return f"Schema({{{columns}}})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Schema is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Schema is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Schema, (list(self._columns.items()),))


if TYPE_CHECKING:
    _satisfies_the_protocol: data.Schema = Schema()
