"""How a record path's Arrow schema is laid out as Delta columns, and read back exactly.

Delta cannot say everything Arrow can: it has no ``large_string``, keeps one
time zone (UTC) for every timestamp, and some column names (a NUL, a
backtick) break its readers or its SQL expressions. So each table stores, in
its Delta ``description``, the Arrow schema its records were added with and
the Delta (physical) name of every column. Reads rename the Delta columns
back and cast to that schema, so exactly the schema that was added comes back.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.protocols.errors import DatabaseError, RecordSchemaError

if TYPE_CHECKING:
    from orcapod.protocols.values import RecordPath

__all__ = [
    "ID_COLUMN",
    "ID_FIELD",
    "TableLayout",
    "layout_for",
    "read_layout",
]

ID_COLUMN = "__orcapod_record_id"
"""The Delta column holding record ids (first in every table)."""

ID_FIELD = pa.field(ID_COLUMN, pa.large_string(), nullable=False)

LAYOUT_FORMAT = "orcapod-arrow-schema-v1"
"""Marks a Delta description written by DeltaTableDatabase; bump it if the layout changes."""

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_RESERVED_PREFIX = "__orcapod"
_UNSAFE_NESTED = re.compile(r"[\x00-\x1f\x7f`]")


@dataclass(frozen=True)
class TableLayout:
    """The Arrow schema of a path's records and the Delta name of each of its columns.

    Attributes:
        data_schema: the schema the records were added with (ids not included).
        physical_names: the Delta column of each data column, in order.
    """

    data_schema: pa.Schema
    physical_names: tuple[str, ...]

    def physical_schema(self) -> pa.Schema:
        """The Arrow schema written to Delta: the id column, then the renamed data columns."""
        fields = [ID_FIELD]
        fields += [
            field.with_name(name).with_type(storable_type(field.type))
            for field, name in zip(self.data_schema, self.physical_names, strict=True)
        ]
        return pa.schema(fields)

    @cached_property
    def rows_schema(self) -> pa.Schema:
        """The schema of records as they are read: the id column, then the data columns."""
        return pa.schema([ID_FIELD, *self.data_schema])

    def to_physical(self, rows: pa.Table) -> pa.Table:
        """Records (ids first) as they are written to Delta: Delta names, UTC timestamps."""
        renamed = rows.rename_columns([ID_COLUMN, *self.physical_names])
        return renamed.cast(self.physical_schema())

    def from_physical(self, table: pa.Table) -> pa.Table:
        """Rows read from Delta as records: the id column first, then the data columns.

        Columns are renamed to the names they were added with and cast to the
        types they were added with (large types, maps, time zones, nullability).
        """
        expected = [ID_COLUMN, *self.physical_names]
        target = self.rows_schema
        try:
            if table.column_names != expected:
                table = table.select(expected)
            return table.rename_columns(target.names).cast(target)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise DatabaseError(
                f"the Delta table's columns cannot be read back as the schema they were "
                f"added with ({error}); was the table changed by another tool?"
            ) from error

    def describe(self) -> str:
        """The Delta ``description`` recording this layout."""
        encoded = base64.b64encode(self.data_schema.serialize().to_pybytes()).decode("ascii")
        return json.dumps(
            {
                "format": LAYOUT_FORMAT,
                "note": "records of an orcapod DeltaTableDatabase; do not edit",
                "columns": list(self.physical_names),
                "arrow_schema": encoded,
            }
        )


def layout_for(path: RecordPath, data_schema: pa.Schema) -> TableLayout:
    """The layout a new path's first records fix, checked to be storable in Delta.

    Column names that are plain identifiers keep their name in Delta; any
    other name (quotes, separators, NUL, unicode, very long) is stored under a
    generated name, so no name ever reaches a file name or an expression.

    The column names are distinct (``BaseArrowDatabase`` checks that first).

    Raises:
        RecordSchemaError: a nested field name Delta cannot hold, or a type
            Delta cannot store; naming the path and column.
    """
    physical: list[str] = []
    taken: set[str] = set()  # Delta compares column names ignoring case
    for index, name in enumerate(data_schema.names):
        plain = _PLAIN_NAME.fullmatch(name) and not name.startswith(_RESERVED_PREFIX)
        if not plain or name.lower() in taken:
            name = f"{_RESERVED_PREFIX}_column_{index}"
        physical.append(name)
        taken.add(name.lower())
    for field in data_schema:
        _check_nested_names(path, field.name, field.type)
    layout = TableLayout(data_schema.remove_metadata(), tuple(physical))
    _check_delta_can_store(path, layout)
    return layout


def storable_type(arrow: pa.DataType) -> pa.DataType:
    """``arrow`` as Delta stores it: every time zone becomes UTC (the same instants)."""
    if pa.types.is_timestamp(arrow) and arrow.tz is not None:
        return pa.timestamp(arrow.unit, "UTC")
    if pa.types.is_struct(arrow):
        return pa.struct(
            [
                arrow.field(i).with_type(storable_type(arrow.field(i).type))
                for i in range(arrow.num_fields)
            ]
        )
    if pa.types.is_map(arrow):
        item = arrow.item_field
        return pa.map_(arrow.key_field, item.with_type(storable_type(item.type)))
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        value = arrow.value_field.with_type(storable_type(arrow.value_type))
        return pa.list_(value) if pa.types.is_list(arrow) else pa.large_list(value)
    return arrow


def _check_nested_names(path: RecordPath, column: str, arrow: pa.DataType) -> None:
    """Refuse struct field names inside ``column`` that Delta's readers mangle."""
    if pa.types.is_struct(arrow):
        for index in range(arrow.num_fields):
            field = arrow.field(index)
            if _UNSAFE_NESTED.search(field.name) or not field.name:
                raise RecordSchemaError(
                    f"records for path {path!r}: column {column!r} has a struct field named "
                    f"{field.name!r}; Delta cannot store an empty field name or one with "
                    "control characters or backticks, so rename that field"
                )
            _check_nested_names(path, column, field.type)
    elif pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        _check_nested_names(path, column, arrow.value_type)
    elif pa.types.is_map(arrow):
        _check_nested_names(path, column, arrow.key_type)
        _check_nested_names(path, column, arrow.item_type)


def _refused_type(arrow: pa.DataType) -> pa.DataType | None:
    """A type inside ``arrow`` that Delta cannot store exactly (signed only, no views)."""
    if pa.types.is_unsigned_integer(arrow) or arrow.id in _VIEW_TYPE_IDS:
        return arrow
    if pa.types.is_struct(arrow):
        children = [arrow.field(i).type for i in range(arrow.num_fields)]
    elif pa.types.is_map(arrow):
        children = [arrow.key_type, arrow.item_type]
    elif (
        pa.types.is_list(arrow)
        or pa.types.is_large_list(arrow)
        or pa.types.is_fixed_size_list(arrow)
    ):
        children = [arrow.value_type]
    else:
        children = []
    for child in children:
        refused = _refused_type(child)
        if refused is not None:
            return refused
    return None


_VIEW_TYPE_IDS = {
    pa.string_view().id,
    pa.binary_view().id,
    pa.list_view(pa.int8()).id,
    pa.large_list_view(pa.int8()).id,
}


def _check_delta_can_store(path: RecordPath, layout: TableLayout) -> None:
    from deltalake import Schema as DeltaSchema

    for field, name in zip(layout.data_schema, layout.physical_names, strict=True):
        refused = _refused_type(field.type)
        if refused is not None:
            raise RecordSchemaError(
                f"records for path {path!r}: column {field.name!r} is {field.type}; a Delta "
                f"table cannot store {refused} exactly, so cast the column (unsigned to "
                "int64, views to large_string, large_binary or list) before adding it"
            )
        try:
            DeltaSchema.from_arrow(
                pa.schema([field.with_name(name).with_type(storable_type(field.type))])
            )
        except Exception as error:  # deltalake raises several unrelated types here
            raise RecordSchemaError(
                f"records for path {path!r}: column {field.name!r} has type {field.type}, "
                f"which a Delta table cannot store ({error}); cast it to a type orcapod "
                "uses (int64, float64, bool, large_string, large_binary, timestamp[us], "
                "date32, list, map, struct)"
            ) from error


def read_layout(location: str, description: str | None) -> TableLayout:
    """The layout recorded in a Delta table's description.

    Raises:
        DatabaseError: the table was not written by DeltaTableDatabase.
    """
    try:
        recorded: Any = json.loads(description or "")
        if recorded.get("format") != LAYOUT_FORMAT:
            raise ValueError(f"format is {recorded.get('format')!r}, not {LAYOUT_FORMAT!r}")
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(recorded["arrow_schema"])))
        names = tuple(str(name) for name in recorded["columns"])
        if len(names) != len(schema):
            raise ValueError("the column names do not match the schema")
    except (ValueError, KeyError, TypeError, AttributeError, pa.ArrowInvalid) as error:
        raise DatabaseError(
            f"the Delta table at {location} was not written by DeltaTableDatabase (its "
            f"description holds no orcapod schema: {error}); point the database at a "
            "directory of its own, or read the table with DeltaTableSource"
        ) from error
    return TableLayout(schema, names)
