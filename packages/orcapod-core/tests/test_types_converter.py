"""The converter's type mapping, Arrow reading and every error of value conversion."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from orcapod.core.types import (
    LOGICAL_TYPE_KEY,
    NaiveDatetime,
    Schema,
    TypeMismatchError,
    UnsupportedTypeError,
    _to_arrow,
    arrow_field,
    arrow_type,
    python_type,
    table_to_columns,
    to_arrow_array,
    to_arrow_table,
    to_pylist,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("tp", "expected"),
    [
        (int, pa.int64()),
        (float, pa.float64()),
        (bool, pa.bool_()),
        (str, pa.large_string()),
        (bytes, pa.large_binary()),
        (datetime, pa.timestamp("us", tz="UTC")),
        (NaiveDatetime, pa.timestamp("us")),
        (date, pa.date32()),
        (Path, pa.large_string()),
        (int | None, pa.int64()),
        (list[int], pa.large_list(pa.field("item", pa.int64(), nullable=False))),
        (list[int | None], pa.large_list(pa.field("item", pa.int64(), nullable=True))),
        (
            dict[str, float],
            pa.map_(
                pa.field("key", pa.large_string(), nullable=False),
                pa.field("value", pa.float64(), nullable=False),
            ),
        ),
    ],
)
def test_each_type_has_its_canonical_arrow_type(tp: Any, expected: pa.DataType) -> None:
    assert arrow_type(tp) == expected


def test_a_path_column_is_a_large_string_marked_by_field_metadata() -> None:
    field = arrow_field("p", Path)
    assert field.type == pa.large_string()
    assert field.metadata == {LOGICAL_TYPE_KEY: b"path"}
    assert python_type(field) is Path
    assert python_type(arrow_field("s", str)) is str


def test_nullability_follows_optional_at_every_level() -> None:
    assert not arrow_field("x", int).nullable
    assert arrow_field("x", Optional[int]).nullable  # noqa: UP045 - the typing spelling
    item = arrow_field("x", list[str | None]).type.value_field
    assert item.nullable
    assert not arrow_field("x", list[str]).type.value_field.nullable
    assert not arrow_field("x", dict[str, int]).type.key_field.nullable


def test_arrow_type_uses_the_given_zone_for_aware_datetimes() -> None:
    assert arrow_type(list[datetime], zone="Asia/Tokyo").value_type == pa.timestamp(
        "us", "Asia/Tokyo"
    )


@pytest.mark.parametrize(
    ("arrow", "expected"),
    [
        (pa.string(), str),
        (pa.large_string(), str),
        (pa.binary(), bytes),
        (pa.large_binary(), bytes),
        (pa.binary(4), bytes),
        *[(t, int) for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64())],
        *[(t, int) for t in (pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())],
        (pa.float16(), float),
        (pa.float32(), float),
        (pa.float64(), float),
        (pa.bool_(), bool),
        (pa.timestamp("ns", tz="Europe/Berlin"), datetime),
        (pa.timestamp("s"), NaiveDatetime),
        (pa.date32(), date),
        (pa.date64(), date),
        (pa.list_(pa.string()), list[str | None]),
        (pa.large_list(pa.field("item", pa.int8(), nullable=False)), list[int]),
        (pa.map_(pa.string(), pa.int32()), dict[str, int | None]),
    ],
)
def test_arrow_types_map_back_to_python_types(arrow: pa.DataType, expected: Any) -> None:
    assert python_type(arrow) == expected


def test_a_nullable_field_maps_to_optional() -> None:
    assert python_type(pa.field("x", pa.int32())) == int | None
    assert python_type(pa.field("x", pa.int32(), nullable=False)) is int


@pytest.mark.parametrize(
    "arrow",
    [
        pa.struct([("a", pa.int64())]),
        pa.map_(pa.int64(), pa.string()),
        pa.decimal128(10, 2),
        pa.duration("s"),
        pa.null(),
    ],
)
def test_arrow_types_without_a_python_equivalent_are_rejected(arrow: pa.DataType) -> None:
    with pytest.raises(UnsupportedTypeError, match="no orcapod equivalent"):
        python_type(arrow)


def test_schema_from_arrow_names_the_unsupported_column() -> None:
    with pytest.raises(UnsupportedTypeError, match="column 'money'"):
        Schema.from_arrow(pa.schema([("ok", pa.int64()), ("money", pa.decimal128(5, 2))]))


def test_non_canonical_arrow_columns_read_back_as_plain_python_values() -> None:
    table = pa.table(
        {
            "small": pa.array([1, -2], pa.int8()),
            "half": pa.array([1.5, 2.0], pa.float32()),
            "day": pa.array([date(2024, 1, 2), date(1999, 12, 31)], pa.date64()),
            "ns": pa.array([datetime(2024, 1, 1, 12)] * 2, pa.timestamp("ns", tz="Europe/Berlin")),
            "names": pa.array([["a"], []], pa.list_(pa.string())),
            "tags": pa.array([[{"k": "v"}], [{}]], pa.list_(pa.map_(pa.string(), pa.string()))),
        }
    )
    columns = table_to_columns(table)
    assert columns["small"] == [1, -2]
    assert columns["half"] == [1.5, 2.0]
    assert all(type(v) is float for v in columns["half"])
    assert columns["day"] == [date(2024, 1, 2), date(1999, 12, 31)]
    assert columns["ns"][0] == datetime(2024, 1, 1, 13, tzinfo=BERLIN)
    assert columns["ns"][0].tzinfo == BERLIN
    assert columns["names"] == [["a"], []]
    assert columns["tags"] == [[{"k": "v"}], [{}]]
    assert type(columns["tags"][1][0]) is dict


def test_to_pylist_reads_an_array_by_its_own_type() -> None:
    maps = pa.array([{"a": [1]}, None], pa.map_(pa.string(), pa.list_(pa.int64())))
    assert to_pylist(maps) == [{"a": [1]}, None]
    paths = to_arrow_array([Path("/x"), Path("y")], Path)
    assert to_pylist(paths, Path) == [Path("/x"), Path("y")]
    assert to_pylist(paths) == ["/x", "y"]


def test_float_columns_accept_ints_and_give_back_floats() -> None:
    table = to_arrow_table({"x": [1, 2.5, None]}, Schema(x=float | None))
    values = table_to_columns(table)["x"]
    assert values == [1.0, 2.5, None]
    assert type(values[0]) is float


def test_empty_and_all_none_columns_keep_their_declared_type() -> None:
    schema = Schema(a=dict[str, str], b=list[int] | None, c=str | None, d=datetime | None)
    table = to_arrow_table({"a": [{}], "b": [None], "c": [None], "d": [None]}, schema)
    assert Schema.from_arrow(table.schema) == schema
    assert table_to_columns(table) == {"a": [{}], "b": [None], "c": [None], "d": [None]}
    empty = to_arrow_table({name: [] for name in schema}, schema)
    assert empty.num_rows == 0
    assert Schema.from_arrow(empty.schema) == schema


def test_a_datetime_column_is_stored_in_the_zone_of_its_values() -> None:
    values = [datetime(2024, 7, 1, 9, tzinfo=BERLIN), datetime(2024, 1, 1, 9, tzinfo=BERLIN)]
    table = to_arrow_table({"t": values}, Schema(t=datetime))
    assert table.schema.field("t").type == pa.timestamp("us", tz="Europe/Berlin")
    back = table_to_columns(table)["t"]
    assert [v.utcoffset() for v in back] == [timedelta(hours=2), timedelta(hours=1)]
    assert [v.hour for v in back] == [9, 9]


@pytest.mark.parametrize(
    ("zone", "arrow_zone", "back"),
    [
        (UTC, "UTC", UTC),
        (ZoneInfo("UTC"), "UTC", UTC),
        (
            timezone(timedelta(hours=5, minutes=45)),
            "+05:45",
            timezone(timedelta(hours=5, minutes=45)),
        ),
        (timezone(-timedelta(hours=3)), "-03:00", timezone(-timedelta(hours=3))),
    ],
)
def test_utc_and_fixed_offsets_are_stored_by_name_and_come_back_equal(
    zone: tzinfo, arrow_zone: str, back: tzinfo
) -> None:
    value = datetime(2024, 5, 5, 5, 5, 5, 5, tzinfo=zone)
    table = to_arrow_table({"t": [value]}, Schema(t=datetime))
    assert table.schema.field("t").type.tz == arrow_zone
    [result] = table_to_columns(table)["t"]
    assert result == value
    assert result.tzinfo == back
    assert result.replace(tzinfo=None) == value.replace(tzinfo=None)


def test_a_naive_datetime_stays_naive() -> None:
    value = datetime(2024, 5, 5, 5, 5)
    table = to_arrow_table({"t": [value]}, Schema(t=NaiveDatetime))
    assert table.schema.field("t").type == pa.timestamp("us")
    assert table_to_columns(table)["t"] == [value]
    assert table_to_columns(table)["t"][0].tzinfo is None


def test_simple_columns_convert_without_a_per_value_python_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("per-value check called for a simple column")

    monkeypatch.setattr(_to_arrow, "_check_value", fail)
    n = 10_000
    columns: dict[str, list[Any]] = {
        "i": list(range(n)),
        "f": [0.5] * n,
        "s": ["x"] * n,
        "b": [True] * n,
    }
    table = to_arrow_table(columns, Schema(i=int, f=float, s=str, b=bool))
    assert table.num_rows == n
    assert table.column("s").type == pa.large_string()


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "values", "row", "fragment"),
    [
        (int, [1, True], 1, "expected int, got bool True"),
        (int, [1, 2, 1.5], 2, "expected int, got float 1.5"),
        (int, [1, "2"], 1, "expected int, got str '2'"),
        (int, [2**63], 0, "does not fit in 64 bits"),
        (float, [1.0, True], 1, "expected float, got bool"),
        (float, [1.0, "x"], 1, "expected float, got str"),
        (bool, [True, 0], 1, "expected bool, got int 0"),
        (str, ["a", b"b"], 1, "expected str, got bytes"),
        (bytes, [b"a", "b"], 1, "expected bytes, got str"),
        (str, ["a", None], 1, "expected str, got None"),
        (date, [date(2024, 1, 1), datetime(2024, 1, 1)], 1, "expected date, got datetime"),
        (Path, ["/not/a/path/object"], 0, "expected Path, got str"),
        (list[int], [[1], [2, None]], 1, r"\[1\]: expected int, got None"),
        (list[int], [(1, 2)], 0, "expected list\\[int\\], got tuple"),
        (dict[str, int], [{"a": "b"}], 0, r"\['a'\]: expected int, got str"),
        (
            datetime,
            [datetime(2024, 1, 1)],
            0,
            "it is naive; attach a tzinfo or declare NaiveDatetime",
        ),
        (NaiveDatetime, [datetime(2024, 1, 1, tzinfo=UTC)], 0, "it has a timezone"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_column_row_and_value(
    tp: Any, values: list[Any], row: int, fragment: str
) -> None:
    with pytest.raises(TypeMismatchError, match=rf"column 'col' row {row}.*{fragment}"):
        to_arrow_table({"col": values}, Schema(col=tp))


def test_a_dict_with_a_non_str_key_is_rejected() -> None:
    with pytest.raises(
        TypeMismatchError, match=r"column 'm' row 0: key 1 of type int is not a str"
    ):
        to_arrow_table({"m": [{1: "a"}]}, Schema(m=dict[str, str]))


def test_datetimes_of_one_column_in_different_zones_are_rejected_naming_both_rows() -> None:
    values = [[datetime(2024, 1, 1, tzinfo=BERLIN)], [datetime(2024, 1, 1, tzinfo=UTC)]]
    with pytest.raises(
        TypeMismatchError, match=r"column 't' row 1\[0\].*'UTC'.*row 0\[0\].*'Europe/Berlin'"
    ):
        to_arrow_table({"t": values}, Schema(t=list[datetime]))


def test_a_tzinfo_without_a_storable_name_is_rejected() -> None:
    class Custom(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta:
            return timedelta(hours=1)

        def dst(self, dt: datetime | None) -> timedelta:
            return timedelta(0)

        def tzname(self, dt: datetime | None) -> str:
            return "CUSTOM"

    with pytest.raises(TypeMismatchError, match=r"use a zoneinfo\.ZoneInfo zone"):
        to_arrow_table({"t": [datetime(2024, 1, 1, tzinfo=Custom())]}, Schema(t=datetime))


def test_an_unsupported_annotation_is_rejected_by_the_converter() -> None:
    with pytest.raises(UnsupportedTypeError, match="column 'x'"):
        to_arrow_array([1], set[int], column="x")


@pytest.mark.parametrize(
    ("tp", "values"),
    [
        (str, ["ok", "bad \udcff"]),
        (Path, [Path("ok"), Path("bad \udcff")]),
        (list[str], [["ok"], ["bad \udcff"]]),
    ],
)
def test_text_that_is_not_valid_utf8_is_rejected_naming_the_row(tp: Any, values: list[Any]) -> None:
    with pytest.raises(
        TypeMismatchError, match=r"column 'c' row 1: .* \(text must be valid UTF-8\)"
    ):
        to_arrow_table({"c": values}, Schema(c=tp))


def test_list_subclasses_and_other_mappings_are_accepted_as_lists_and_dicts() -> None:
    class Trials(list[int]):
        pass

    schema = Schema(trials=list[int], labels=dict[str, list[int]])
    columns: dict[str, list[Any]] = {
        "trials": [Trials([1, 2])],
        "labels": [OrderedDict(a=Trials([3]))],
    }
    table = to_arrow_table(columns, schema)
    back = table_to_columns(table)
    assert back == {"trials": [[1, 2]], "labels": [{"a": [3]}]}
    assert type(back["labels"][0]) is dict


def test_reading_an_array_as_an_incompatible_type_names_both_types() -> None:
    strings = pa.array(["not a number"], pa.string())
    with pytest.raises(TypeMismatchError, match=r"type string cannot be read as int"):
        to_pylist(strings, int)


def test_zoned_and_naive_timestamps_are_not_read_as_each_other() -> None:
    naive = pa.array([datetime(2024, 1, 1)], pa.timestamp("us"))
    with pytest.raises(TypeMismatchError, match="one has a timezone and the other has none"):
        to_pylist(naive, datetime)
    zoned = pa.array([[datetime(2024, 1, 1, tzinfo=UTC)]], pa.list_(pa.timestamp("ms", tz="UTC")))
    with pytest.raises(TypeMismatchError, match=r"cannot be read as list\[NaiveDatetime\]"):
        to_pylist(zoned, list[NaiveDatetime])
