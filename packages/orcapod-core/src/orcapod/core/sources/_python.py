"""Sources built from Python values: rows of dicts, or a list of values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import SchemaError, SourceError
from orcapod.core.sources._table_source import TableSource, tag_column_list
from orcapod.core.system_columns import check_user_columns
from orcapod.core.types import Schema, infer_type, rows_to_table, to_arrow_table

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DictSource", "ListSource"]


class DictSource(TableSource):
    """A source of rows given as dicts of column name → value.

    Column types are inferred from the values (see ``orcapod.core.types.infer_type``)
    unless declared in ``schema``, which may name some columns or all of them.

    Args:
        rows: one mapping per row; every row has the same columns.
        tag_columns: the columns that identify a row; the others are the packet.
        schema: declared Python types of some or all columns (needed for a column
            whose values are all ``None``, or when there are no rows).
        source_id: names this source in provenance; derived from the data by default.
        record_id_column: a column of unique ``int`` or ``str`` row ids; by default
            the row's position.

    Raises:
        SourceError: a row is not a mapping.
        SchemaError: a tag column is missing, a name is reserved, rows have different
            columns (names the row and the columns).
        TypeInferenceError: a column mixes types or has only ``None``; names column and row.
        TypeMismatchError: a value does not match its declared type.
    """

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        tag_columns: str | Sequence[str],
        *,
        schema: Mapping[str, Any] | None = None,
        source_id: str | None = None,
        record_id_column: str | None = None,
    ) -> None:
        where = "DictSource" if source_id is None else f"DictSource {source_id!r}"
        if isinstance(rows, Mapping | str | bytes):
            raise SourceError(
                f"{where} takes a list of rows (one dict per row), got a "
                f"{type(rows).__name__}; for columns of values use "
                "ArrowTableSource(pyarrow.table(columns), ...)."
            )
        rows = list(rows)
        declared = Schema(schema or {})
        names = _column_names(rows, declared, where)
        check_user_columns(names, where=where)
        tag_column_list(tag_columns, names, where=where)
        undeclared = [name for name in declared if name not in names]
        if undeclared:
            raise SchemaError(
                f"{where}: schema declares column {undeclared[0]!r}, which the rows do not "
                f"have; the columns are {names}."
            )
        full = Schema(
            (name, declared[name] if name in declared else _inferred(rows, name)) for name in names
        )
        super().__init__(
            rows_to_table(rows, full),
            tag_columns,
            source_id=source_id,
            record_id_column=record_id_column,
            kind="dict",
        )


class ListSource(TableSource):
    """A source of one packet column of values, tagged by their position in the list.

    ``ListSource([1.5, 2.5], packet_column="dose")`` has rows
    ``{index: 0, dose: 1.5}`` and ``{index: 1, dose: 2.5}``.

    Args:
        values: the packet values, in order.
        packet_column: the name of the packet column.
        tag_column: the name of the int tag column holding each value's position.
        value_type: the declared Python type of the values; inferred by default.
        source_id: names this source in provenance; derived from the data by default.

    Raises:
        SchemaError: a column name is reserved, or both columns have the same name.
        TypeInferenceError: the values mix types, or are all ``None``.
        TypeMismatchError: a value does not match ``value_type``.
    """

    def __init__(
        self,
        values: Sequence[Any],
        packet_column: str = "value",
        *,
        tag_column: str = "index",
        value_type: Any = None,
        source_id: str | None = None,
    ) -> None:
        where = "ListSource" if source_id is None else f"ListSource {source_id!r}"
        if isinstance(values, Mapping | str | bytes):
            raise SourceError(f"{where} takes a list of values, got a {type(values).__name__}.")
        values = list(values)
        if packet_column == tag_column:
            raise SchemaError(
                f"{where}: packet_column and tag_column are both {tag_column!r}; give them "
                "different names."
            )
        check_user_columns([tag_column, packet_column], where=where)
        if value_type is None:
            value_type = infer_type(values, column=packet_column)
        schema = Schema([(tag_column, int), (packet_column, value_type)])
        columns = {tag_column: range(len(values)), packet_column: values}
        table = to_arrow_table(columns, schema)
        super().__init__(table, [tag_column], source_id=source_id, kind="list")


def _column_names(rows: list[Any], declared: Schema, where: str) -> list[str]:
    """The columns of the rows, in first-row order, refusing ragged rows and non-mappings."""
    if not rows:
        if not declared:
            raise SchemaError(
                f"{where} has no rows, so no column types can be inferred; declare them with "
                "schema={...}."
            )
        return list(declared)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SourceError(
                f"{where}: row {index} is a {type(row).__name__}, not a dict of column → value."
            )
    names = list(rows[0])
    expected = set(names)
    for index, row in enumerate(rows):
        if row.keys() != expected:
            missing = [name for name in names if name not in row]
            extra = [name for name in row if name not in expected]
            raise SchemaError(
                f"{where}: row {index} has different columns from row 0: missing {missing}, "
                f"extra {extra}; give every row every column (None for a missing value)."
            )
    return names


def _inferred(rows: list[Mapping[str, Any]], name: str) -> Any:
    return infer_type([row[name] for row in rows], column=name)
