"""Whole tables: Python columns or rows of a Schema ↔ Arrow tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.core.errors import SchemaError
from orcapod.core.types._schema import Schema
from orcapod.core.types._to_arrow import column_to_arrow
from orcapod.core.types._to_python import to_pylist

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["rows_to_table", "table_to_columns", "table_to_rows", "to_arrow_table"]


def to_arrow_table(columns: Mapping[str, Sequence[Any]], schema: Schema) -> pa.Table:
    """Convert Python columns of a schema to an Arrow table of its canonical types.

    Args:
        columns: Column name → values; exactly the schema's columns, of equal length.
        schema: The declared types; its column order is the table's.

    Raises:
        SchemaError: a column is missing or extra, or the lengths differ.
        TypeMismatchError: a value does not match its column's type.
    """
    _check_names(set(columns), schema)
    lengths = {name: len(columns[name]) for name in schema}
    if len(set(lengths.values())) > 1:
        raise SchemaError(
            f"columns have different lengths {lengths}; give every column one value per row."
        )
    arrays, fields = [], []
    for name, tp in schema.items():
        array, field = column_to_arrow(columns[name], tp, column=name)
        arrays.append(array)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def rows_to_table(rows: Sequence[Mapping[str, Any]], schema: Schema) -> pa.Table:
    """Convert rows (mappings of column name → value) to an Arrow table of a schema.

    Raises:
        SchemaError: a row's keys are not exactly the schema's columns; names the row.
        TypeMismatchError: a value does not match its column's type.
    """
    names = set(schema)
    for row, values in enumerate(rows):
        if values.keys() != names:
            _check_names(set(values), schema, f"row {row}")
    columns = {name: [values[name] for values in rows] for name in schema}
    return to_arrow_table(columns, schema)


def table_to_columns(table: pa.Table, schema: Schema | None = None) -> dict[str, list[Any]]:
    """Convert an Arrow table to Python columns, exactly (maps as dicts, paths as Paths).

    Args:
        table: The table.
        schema: The Python types of its columns; by default ``Schema.from_arrow(table.schema)``.

    Raises:
        UnsupportedTypeError: a column's Arrow type has no orcapod equivalent.
        SchemaError: ``schema``'s columns are not the table's.
    """
    schema = Schema.from_arrow(table.schema) if schema is None else schema
    _check_names(set(table.column_names), schema)
    return {name: to_pylist(table.column(name), tp) for name, tp in schema.items()}


def table_to_rows(table: pa.Table, schema: Schema | None = None) -> list[dict[str, Any]]:
    """Convert an Arrow table to a list of rows (dicts of column name → value), exactly.

    Raises:
        UnsupportedTypeError: a column's Arrow type has no orcapod equivalent.
        SchemaError: ``schema``'s columns are not the table's.
    """
    columns = table_to_columns(table, schema)
    names = list(columns)
    if not names:
        return [{} for _ in range(table.num_rows)]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _check_names(given: set[str], schema: Schema, where: str = "the data") -> None:
    declared = set(schema)
    if given == declared:
        return
    missing = [name for name in schema if name not in given]
    extra = sorted(given - declared)
    raise SchemaError(
        f"{where} does not have the schema's columns: missing {missing}, extra {extra}; "
        f"the schema is {schema!r}."
    )
