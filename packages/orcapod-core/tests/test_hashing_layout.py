"""Equal logical values hash equally in every physical layout; different values differently."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orcapod.core.hashing import hash_table, hash_table_rows, hash_table_unordered

PATH = pa.field("p", pa.large_string(), metadata={b"orcapod.logical_type": b"path"})

rows = st.lists(
    st.fixed_dictionaries(
        {
            "i": st.none() | st.integers(-(2**31), 2**31 - 1),
            "f": st.none() | st.floats(allow_nan=True, width=32),
            "s": st.none() | st.text(max_size=12),
            "l": st.none() | st.lists(st.none() | st.integers(-100, 100), max_size=4),
            "m": st.none()
            | st.dictionaries(st.text(max_size=4), st.integers(-9, 9), max_size=4).map(
                lambda d: list(d.items())
            ),
            "st": st.none()
            | st.fixed_dictionaries(
                {"a": st.none() | st.integers(-5, 5), "b": st.text(max_size=3)}
            ),
            "t": st.none()
            | st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1)),
        }
    ),
    min_size=1,
    max_size=30,
)

SMALL = pa.schema(
    [
        ("i", pa.int32()),
        ("f", pa.float32()),
        ("s", pa.string()),
        ("l", pa.list_(pa.int16())),
        ("m", pa.map_(pa.string(), pa.int8())),
        ("st", pa.struct([("a", pa.int8()), ("b", pa.string())])),
        ("t", pa.timestamp("us")),
    ]
)
LARGE = pa.schema(
    [
        ("t", pa.timestamp("ns")),
        ("m", pa.map_(pa.large_string(), pa.int64())),
        ("st", pa.struct([("a", pa.int64()), ("b", pa.large_string())])),
        ("l", pa.large_list(pa.int64())),
        ("s", pa.large_string()),
        ("f", pa.float64()),
        ("i", pa.int64()),
    ]
)


def chunked(table: pa.Table, cuts: list[int]) -> pa.Table:
    """``table`` split at ``cuts`` into separate chunks (each a slice with its own offset)."""
    bounds = sorted({0, table.num_rows, *(c % (table.num_rows + 1) for c in cuts)})
    pieces = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    return pa.concat_tables(pieces)


@settings(max_examples=100, deadline=None)
@given(rows, st.lists(st.integers(0, 40), max_size=5))
def test_chunking_small_or_large_types_and_column_order_do_not_change_row_hashes(
    data: list[dict[str, Any]], cuts: list[int]
) -> None:
    small = pa.Table.from_pylist(data, schema=SMALL)
    large = pa.Table.from_pylist(data, schema=LARGE)
    split = chunked(small, cuts)
    assert split.num_rows == small.num_rows
    expected = hash_table_rows(small)
    assert hash_table_rows(large) == expected
    assert hash_table_rows(split) == expected
    assert hash_table(split) == hash_table(large) == hash_table(small)


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(0, 29), st.integers(0, 29))
def test_a_slice_hashes_its_rows_like_a_fresh_table_of_them(
    data: list[dict[str, Any]], start: int, length: int
) -> None:
    table = pa.Table.from_pylist(data, schema=LARGE)
    sliced = table.slice(start, length)
    fresh = pa.Table.from_pylist(sliced.to_pylist(), schema=LARGE)
    assert hash_table_rows(sliced) == hash_table_rows(fresh)


@settings(max_examples=60, deadline=None)
@given(rows, st.randoms(use_true_random=False))
def test_unordered_table_hash_ignores_row_order_and_ordered_hash_does_not(
    data: list[dict[str, Any]], random: Any
) -> None:
    shuffled = list(data)
    random.shuffle(shuffled)
    a = pa.Table.from_pylist(data, schema=LARGE)
    b = pa.Table.from_pylist(shuffled, schema=LARGE)
    assert hash_table_unordered(a) == hash_table_unordered(b)
    if hash_table_rows(a) != hash_table_rows(b):
        assert hash_table(a) != hash_table(b)


def logically_equal(a: Any, b: Any) -> bool:
    """Equality as the encoding sees it: NaN equals NaN, -0.0 equals 0.0, maps are unordered."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        if (a and isinstance(a[0], tuple)) or (b and isinstance(b[0], tuple)):
            return sorted(a) == sorted(b)
        return len(a) == len(b) and all(logically_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    return bool(a == b)


@settings(max_examples=200, deadline=None)
@given(rows.filter(lambda r: len(r) >= 2))
def test_rows_with_different_values_hash_differently(data: list[dict[str, Any]]) -> None:
    first, second = data[0], data[1]
    assume(not all(logically_equal(first[k], second[k]) for k in first))
    hashes = hash_table_rows(pa.Table.from_pylist([first, second], schema=LARGE))
    assert hashes[0] != hashes[1]


def single(value: Any, field: pa.Field) -> str:
    return hash_table_rows(pa.table([pa.array([value], field.type)], schema=pa.schema([field])))[0]


@pytest.mark.parametrize(
    ("value", "arrow_type", "other", "other_type"),
    [
        (None, pa.large_string(), "", pa.large_string()),
        (None, pa.int64(), 0, pa.int64()),
        (None, pa.float64(), 0.0, pa.float64()),
        (None, pa.large_list(pa.int64()), [], pa.large_list(pa.int64())),
        ([], pa.large_list(pa.int64()), [None], pa.large_list(pa.int64())),
        (None, pa.map_(pa.large_string(), pa.int64()), [], pa.map_(pa.large_string(), pa.int64())),
        ("", pa.large_string(), b"", pa.large_binary()),
        (1, pa.int64(), 1.0, pa.float64()),
        (1, pa.int64(), True, pa.bool_()),
        ("1", pa.large_string(), 1, pa.int64()),
        (["ab"], pa.large_list(pa.large_string()), ["a", "b"], pa.large_list(pa.large_string())),
        (
            dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            pa.timestamp("us", tz="UTC"),
            dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            pa.timestamp("us", tz="Europe/Paris"),
        ),
        (
            dt.datetime(2024, 1, 1),
            pa.timestamp("us"),
            dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            pa.timestamp("us", tz="UTC"),
        ),
        (dt.date(2024, 1, 1), pa.date32(), dt.datetime(2024, 1, 1), pa.timestamp("s")),
    ],
)
def test_values_that_differ_in_kind_hash_differently(
    value: Any, arrow_type: pa.DataType, other: Any, other_type: pa.DataType
) -> None:
    assert single(value, pa.field("c", arrow_type)) != single(other, pa.field("c", other_type))


def test_a_path_hashes_differently_from_the_same_string() -> None:
    assert single("data/a.csv", PATH) != single("data/a.csv", pa.field("p", pa.large_string()))


def test_physical_variants_of_one_logical_type_hash_the_same() -> None:
    instant = dt.datetime(2021, 6, 1, 12, 30, 15, 250_000, tzinfo=dt.UTC)
    variants = [
        [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()],
        [pa.string(), pa.large_string(), pa.string_view()],
        [pa.binary(), pa.large_binary(), pa.binary_view(), pa.binary(2)],
        [pa.date32(), pa.date64()],
        [pa.timestamp(unit, tz="UTC") for unit in ("ms", "us", "ns")],
        [pa.list_(pa.int32()), pa.large_list(pa.int64()), pa.list_(pa.int64(), 2)],
    ]
    values: list[Any] = [7, "é", b"\x00\xff", dt.date(1969, 12, 31), instant, [1, 2]]
    for value, types in zip(values, variants, strict=True):
        hashes = {single(value, pa.field("c", t)) for t in types}
        assert len(hashes) == 1, (value, types)


def test_timestamps_before_the_epoch_hash_the_same_instant_in_every_unit() -> None:
    instant = dt.datetime(1901, 3, 4, 5, 6, 7, 123_000)
    assert single(instant, pa.field("t", pa.timestamp("ms"))) == single(
        instant, pa.field("t", pa.timestamp("ns"))
    )
    assert single(instant, pa.field("t", pa.timestamp("ms"))) != single(
        instant.replace(microsecond=124_000), pa.field("t", pa.timestamp("ms"))
    )


def test_dictionary_encoded_strings_hash_like_plain_strings() -> None:
    plain = pa.array(["a", None, "b", "a"], pa.large_string())
    table = pa.table({"c": plain})
    assert hash_table_rows(pa.table({"c": plain.dictionary_encode()})) == hash_table_rows(table)


def test_negative_zero_and_every_nan_hash_like_zero_and_nan() -> None:
    nan_bits = pa.array([0x7FF8000000000001, 0xFFF8000000000000], pa.uint64())
    odd_nans = pa.Array.from_buffers(pa.float64(), 2, nan_bits.buffers())
    canonical = hash_table_rows(pa.table({"f": [float("nan")] * 2}))
    assert hash_table_rows(pa.table({"f": odd_nans})) == canonical
    assert single(-0.0, pa.field("f", pa.float64())) == single(0.0, pa.field("f", pa.float64()))
