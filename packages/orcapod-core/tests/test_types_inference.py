"""Inferring column types from values, and its errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from orcapod.core.types import NaiveDatetime, Schema, TypeInferenceError, infer_schema, infer_type


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2], int),
        ([1.5, 2.0], float),
        ([True, False], bool),
        (["a"], str),
        ([b"a"], bytes),
        ([date(2024, 1, 1)], date),
        ([datetime(2024, 1, 1, tzinfo=UTC)], datetime),
        ([datetime(2024, 1, 1)], NaiveDatetime),
        ([Path("a"), Path("/b")], Path),
        ([1, None], int | None),
        ([[1, 2], [], None], list[int] | None),
        ([[1, None]], list[int | None]),
        ([{"a": "x"}, {}], dict[str, str]),
        ([{"a": [1.5]}, {"b": None}], dict[str, list[float] | None]),
        ([None, [[]], [[b"x"]]], list[list[bytes]] | None),
    ],
)
def test_the_type_of_a_column_is_inferred_from_its_values(values: list[Any], expected: Any) -> None:
    assert infer_type(values, column="c") == expected


def test_ints_mixed_with_floats_are_floats() -> None:
    assert infer_type([1, 2.5, 3], column="c") is float
    assert infer_type([[1], [2.5]], column="c") == list[float]


def test_bool_is_not_int() -> None:
    with pytest.raises(
        TypeInferenceError, match=r"column 'c' row 2: value True is a bool but row 0 was an int"
    ):
        infer_type([1, 2, True], column="c")


def test_mixed_types_name_the_column_and_first_offending_row() -> None:
    with pytest.raises(
        TypeInferenceError, match=r"column 'x' row 3: value 'four' is a str but row 0 was an int"
    ):
        infer_type([1, 2, None, "four", "five"], column="x")


def test_mixed_types_inside_lists_name_the_position() -> None:
    with pytest.raises(
        TypeInferenceError, match=r"row 1\[0\]: value 'a' is a str but row 0\[0\] was an int"
    ):
        infer_type([[1], ["a"]], column="x")


def test_naive_and_aware_datetimes_do_not_mix() -> None:
    with pytest.raises(TypeInferenceError, match="is a NaiveDatetime but row 0 was a datetime"):
        infer_type([datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1)], column="t")


def test_dates_and_datetimes_do_not_mix() -> None:
    with pytest.raises(TypeInferenceError, match=r"row 1: .* is a datetime but row 0 was a date"):
        infer_type([date(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC)], column="t")


def test_a_list_and_a_scalar_do_not_mix() -> None:
    with pytest.raises(TypeInferenceError, match="row 1: value 1 is an int but row 0 was a list"):
        infer_type([[1], 1], column="t")


def test_an_all_none_column_asks_for_a_declared_type() -> None:
    with pytest.raises(
        TypeInferenceError, match=r"column 'empty'.*only None.*Declare the column's type"
    ):
        infer_type([None, None], column="empty")
    with pytest.raises(TypeInferenceError, match="column 'empty'"):
        infer_type([], column="empty")


def test_a_column_of_only_empty_lists_asks_for_a_declared_type() -> None:
    with pytest.raises(TypeInferenceError, match=r"column 'l'.*the items of its lists.*Declare"):
        infer_type([[], None, []], column="l")


def test_a_dict_key_must_be_str() -> None:
    with pytest.raises(TypeInferenceError, match="column 'm' row 0: dict key 1 is of type int"):
        infer_type([{1: "a"}], column="m")


def test_a_value_of_an_unsupported_type_is_named() -> None:
    with pytest.raises(TypeInferenceError, match=r"column 's' row 1: value \{1\} of type set"):
        infer_type([{"a": 1}, {1}], column="s")


def test_infer_type_accepts_any_iterable() -> None:
    assert infer_type((v for v in [1, 2]), column="g") is int


def test_infer_schema_orders_columns_by_first_appearance() -> None:
    rows = [{"id": "a", "x": 1}, {"x": 2.5, "id": "b"}]
    assert infer_schema(rows) == Schema(id=str, x=float)


def test_infer_schema_rejects_a_row_missing_a_column() -> None:
    with pytest.raises(TypeInferenceError, match=r"row 1 has no value for columns \['x'\]"):
        infer_schema([{"id": "a", "x": 1}, {"id": "b"}])
