"""Property tests: every supported type and value survives Python → Arrow → Python exactly."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcapod.core.types import (
    NaiveDatetime,
    Schema,
    arrow_field,
    normalize_type,
    python_type,
    rows_to_table,
    table_to_columns,
    table_to_rows,
    to_arrow_table,
)

SCALARS: list[Any] = [int, float, bool, str, bytes, datetime, NaiveDatetime, date, Path]
ZONES: list[tzinfo] = [
    UTC,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Australia/Lord_Howe"),
    timezone(timedelta(hours=5, minutes=45)),
    timezone(-timedelta(hours=3, minutes=30)),
]


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        inner.map(lambda t: Optional[t]),  # noqa: UP045 - the typing spelling is under test too
        inner.map(lambda t: t | None),
    )


types_ = st.recursive(st.sampled_from(SCALARS), _containers, max_leaves=4)


def values_of(tp: Any, zone: tzinfo) -> st.SearchStrategy[Any]:
    """Values of annotation ``tp``; aware datetimes all in ``zone``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is __import__("types").UnionType:
        present = next(arg for arg in args if arg is not type(None))
        return st.none() | values_of(present, zone)
    if origin is list:
        return st.lists(values_of(args[0], zone), max_size=3)
    if origin is dict:
        return st.dictionaries(
            st.text(st.characters(codec="utf-8"), max_size=4), values_of(args[1], zone), max_size=3
        )
    return _scalar_values(tp, zone)


def _scalar_values(tp: Any, zone: tzinfo) -> st.SearchStrategy[Any]:
    if tp is datetime:
        return st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.just(zone),
            allow_imaginary=False,
        )
    strategies: dict[Any, st.SearchStrategy[Any]] = {
        int: st.integers(-(2**63), 2**63 - 1),
        float: st.floats(allow_nan=False),
        bool: st.booleans(),
        str: st.text(st.characters(codec="utf-8")),
        bytes: st.binary(),
        NaiveDatetime: st.datetimes(),
        date: st.dates(),
        Path: st.builds(
            Path, st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
        ),
    }
    return strategies[tp]


@st.composite
def typed_columns(draw: st.DrawFn, max_rows: int = 6) -> tuple[Any, list[Any]]:
    tp = draw(types_)
    zone = draw(st.sampled_from(ZONES))
    return tp, draw(st.lists(values_of(tp, zone), max_size=max_rows))


def assert_identical(actual: Any, expected: Any, where: str = "value") -> None:
    """Equal, of the same Python type, containers in the same order, datetimes in the same zone."""
    assert type(actual) is type(expected), f"{where}: {actual!r} is not {expected!r}"
    if isinstance(expected, list):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(a, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), where
        for key in expected:
            assert_identical(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, datetime):
        assert actual == expected, where
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), f"{where}: wall time"
        assert actual.utcoffset() == expected.utcoffset(), f"{where}: offset"
        if isinstance(expected.tzinfo, ZoneInfo):
            assert isinstance(actual.tzinfo, ZoneInfo), where
            assert actual.tzinfo.key == expected.tzinfo.key, where
        else:
            assert actual.tzinfo == expected.tzinfo, where
    else:
        assert actual == expected, where


@given(types_)
def test_every_type_round_trips_through_its_arrow_field(tp: Any) -> None:
    expected = normalize_type(tp)
    assert python_type(arrow_field("c", tp)) == expected
    schema = Schema(c=tp)
    assert Schema.from_arrow(schema.to_arrow()) == schema
    assert schema["c"] == expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(typed_columns())
def test_every_value_round_trips_through_an_arrow_table(column: tuple[Any, list[Any]]) -> None:
    tp, values = column
    schema = Schema(c=tp)
    table = to_arrow_table({"c": values}, schema)
    assert table.num_rows == len(values)
    assert Schema.from_arrow(table.schema) == schema
    assert_identical(table_to_columns(table)["c"], values)
    assert_identical(table_to_columns(table, schema)["c"], values)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(typed_columns())
def test_values_round_trip_through_arrow_ipc_storage(column: tuple[Any, list[Any]]) -> None:
    tp, values = column
    table = to_arrow_table({"c": values}, Schema(c=tp))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    stored = pa.ipc.open_stream(sink.getvalue()).read_all()
    assert Schema.from_arrow(stored.schema) == Schema(c=tp)
    assert_identical(table_to_columns(stored)["c"], values)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(typed_columns(max_rows=0), min_size=1, max_size=4), st.data())
def test_rows_of_many_columns_round_trip(columns: list[tuple[Any, list[Any]]], data: Any) -> None:
    schema = Schema({f"c{i}": tp for i, (tp, _) in enumerate(columns)})
    zone = data.draw(st.sampled_from(ZONES))
    row_strategy = st.fixed_dictionaries({name: values_of(tp, zone) for name, tp in schema.items()})
    rows = data.draw(st.lists(row_strategy, max_size=5))
    table = rows_to_table(rows, schema)
    in_schema_order = [{name: row[name] for name in schema} for row in rows]
    assert_identical(table_to_rows(table, schema), in_schema_order)
    assert_identical(table_to_rows(table), in_schema_order)
