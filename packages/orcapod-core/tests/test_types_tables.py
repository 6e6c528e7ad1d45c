"""Whole tables: columns and rows of a Schema to Arrow and back, and their shape errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from orcapod.core.types import (
    Schema,
    SchemaError,
    rows_to_table,
    table_to_columns,
    table_to_rows,
    to_arrow_table,
)

SCHEMA = Schema(id=str, day=date, files=list[Path], meta=dict[str, str] | None)
ROWS = [
    {"id": "a", "day": date(2024, 1, 1), "files": [Path("/x.tif")], "meta": {"k": "v"}},
    {"id": "b", "day": date(2024, 1, 2), "files": [], "meta": None},
]


def test_rows_become_a_table_in_schema_column_order_and_come_back_equal() -> None:
    shuffled = [dict(reversed(row.items())) for row in ROWS]
    table = rows_to_table(shuffled, SCHEMA)
    assert table.column_names == ["id", "day", "files", "meta"]
    assert table.schema == SCHEMA.to_arrow()
    assert table_to_rows(table) == ROWS
    assert table_to_columns(table, SCHEMA)["files"] == [[Path("/x.tif")], []]


def test_a_row_missing_or_adding_a_column_is_named() -> None:
    missing = [ROWS[0], {k: v for k, v in ROWS[1].items() if k != "day"}]
    with pytest.raises(SchemaError, match=r"row 1 does not have .* missing \['day'\], extra \[\]"):
        rows_to_table(missing, SCHEMA)
    extra = [ROWS[0], {**ROWS[1], "note": "x"}]
    with pytest.raises(SchemaError, match=r"row 1 does not have .* missing \[\], extra \['note'\]"):
        rows_to_table(extra, SCHEMA)


def test_columns_must_match_the_schema_and_have_one_length() -> None:
    with pytest.raises(SchemaError, match=r"missing \['b'\], extra \['c'\]"):
        to_arrow_table({"a": [1], "c": [2]}, Schema(a=int, b=int))
    with pytest.raises(SchemaError, match=r"different lengths \{'a': 1, 'b': 2\}"):
        to_arrow_table({"a": [1], "b": [1, 2]}, Schema(a=int, b=int))


def test_reading_a_table_with_another_schema_names_the_difference() -> None:
    table = to_arrow_table({"a": [1]}, Schema(a=int))
    with pytest.raises(SchemaError, match=r"missing \['b'\], extra \[\]"):
        table_to_columns(table, Schema(a=int, b=int))


def test_a_table_without_columns_keeps_its_row_count() -> None:
    table = pa.table({"a": [1, 2]}).drop_columns(["a"])
    assert table_to_rows(table) == [{}, {}]
