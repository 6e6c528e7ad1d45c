"""System columns: row numbers, provenance lists, source ids and list concatenation."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from orcapod.core.errors import SchemaError, SourceError
from orcapod.core.system_columns import (
    PROVENANCE,
    PROVENANCE_TYPE,
    check_source_id,
    check_user_columns,
    concat_lists,
    concat_new_items,
    is_system_column,
    provenance_array,
    row_numbers,
)

# row_numbers -------------------------------------------------------------------


def test_row_numbers_of_zero_is_an_empty_int64_array() -> None:
    numbers = row_numbers(0)

    assert numbers.type == pa.int64()
    assert len(numbers) == 0


def test_row_numbers_counts_from_zero() -> None:
    numbers = row_numbers(5)

    assert numbers.type == pa.int64()
    assert numbers.to_pylist() == [0, 1, 2, 3, 4]
    assert numbers.null_count == 0


def test_row_numbers_are_right_after_a_longer_or_shorter_call() -> None:
    assert row_numbers(5000).to_pylist() == list(range(5000))
    assert row_numbers(3).to_pylist() == [0, 1, 2]
    assert row_numbers(1).to_pylist() == [0]
    assert row_numbers(10_000)[9_999].as_py() == 9_999


# provenance_array ----------------------------------------------------------------


def test_provenance_array_is_one_source_reference_per_row() -> None:
    provenance = provenance_array("trials-2024", pa.array([0, 1, 2], pa.int64()))

    assert provenance.type == PROVENANCE_TYPE
    assert provenance.to_pylist() == [["trials-2024:0"], ["trials-2024:1"], ["trials-2024:2"]]


def test_provenance_array_reads_str_record_ids_and_chunked_arrays() -> None:
    ids = pa.chunked_array([pa.array(["s1"]), pa.array(["s2", "s3"])])

    provenance = provenance_array("src", ids)

    assert provenance.type == PROVENANCE_TYPE
    assert provenance.to_pylist() == [["src:s1"], ["src:s2"], ["src:s3"]]


def test_provenance_array_of_no_rows_is_empty_with_the_provenance_type() -> None:
    provenance = provenance_array("src", pa.array([], pa.int64()))

    assert provenance.type == PROVENANCE_TYPE
    assert len(provenance) == 0


def test_provenance_type_is_a_list_of_non_null_strings() -> None:
    assert PROVENANCE == "__provenance"
    assert pa.types.is_large_list(PROVENANCE_TYPE)
    assert PROVENANCE_TYPE.value_type == pa.large_string()
    assert not PROVENANCE_TYPE.value_field.nullable


# check_source_id -------------------------------------------------------------------


@pytest.mark.parametrize("source_id", ["a", "7", "trials-2024", "Lab.A_b-1", "x.y.z"])
def test_check_source_id_returns_a_valid_id(source_id: str) -> None:
    assert check_source_id(source_id) == source_id


@pytest.mark.parametrize(
    "source_id",
    ["", "-trials", "_trials", ".trials", "a b", "a:b", "a/b", "trïals", "a\n", 7, None, b"ab"],
)
def test_check_source_id_refuses_an_invalid_id(source_id: Any) -> None:
    with pytest.raises(SourceError, match="source_id") as caught:
        check_source_id(source_id)

    assert repr(source_id) in str(caught.value)


# check_user_columns and is_system_column ----------------------------------------------


def test_names_starting_with_two_underscores_are_system_columns() -> None:
    assert is_system_column("__provenance")
    assert is_system_column("__x")
    assert not is_system_column("_x")
    assert not is_system_column("x__")


def test_check_user_columns_refuses_a_reserved_name_and_names_it() -> None:
    check_user_columns(["a", "_b"], where="test")

    with pytest.raises(SchemaError, match="'__b'") as caught:
        check_user_columns(["a", "__b"], where="DictSource 'trials'")

    assert "DictSource 'trials'" in str(caught.value)


# concat_lists ------------------------------------------------------------------------


def test_concat_lists_joins_the_lists_of_each_row_in_order() -> None:
    first = pa.array([["a"], ["b", "c"], [], []], PROVENANCE_TYPE)
    second = pa.array([["x", "y"], [], ["z"], []], PROVENANCE_TYPE)

    result = concat_lists(first, second)

    assert result.to_pylist() == [["a", "x", "y"], ["b", "c"], ["z"], []]
    assert result.type == PROVENANCE_TYPE


def test_concat_lists_keeps_the_first_inputs_type_when_every_list_is_empty() -> None:
    for rows in (0, 3):
        empty = pa.array([[]] * rows, PROVENANCE_TYPE)

        result = concat_lists(empty, empty)

        assert result.type == PROVENANCE_TYPE
        assert result.to_pylist() == [[]] * rows


def test_concat_lists_reads_list_large_list_and_sliced_inputs() -> None:
    first = pa.array([[9], [1, 2], [3], [9]], pa.list_(pa.int64())).slice(1, 2)
    second = pa.array([[4], [5, 6], [9]], pa.large_list(pa.int64())).slice(0, 2)

    result = concat_lists(first, second)

    assert pa.types.is_large_list(result.type)
    assert result.to_pylist() == [[1, 2, 4], [3, 5, 6]]


def test_concat_lists_reads_chunked_arrays() -> None:
    first = pa.chunked_array(
        [pa.array([["a"]], PROVENANCE_TYPE), pa.array([["b"]], PROVENANCE_TYPE)]
    )
    second = pa.array([["c"], ["d"]], PROVENANCE_TYPE)

    assert concat_lists(first, second).to_pylist() == [["a", "c"], ["b", "d"]]  # type: ignore[arg-type]


def test_concat_lists_refuses_arrays_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 and 1"):
        concat_lists(pa.array([[1], [2]]), pa.array([[3]]))


def test_concat_lists_of_many_rows_matches_python() -> None:
    first_values = [[f"a{i}"] * (i % 3) for i in range(10_000)]
    second_values = [[f"b{i}"] * (i % 2) for i in range(10_000)]

    result = concat_lists(
        pa.array(first_values, PROVENANCE_TYPE), pa.array(second_values, PROVENANCE_TYPE)
    )

    assert result.to_pylist() == [a + b for a, b in zip(first_values, second_values, strict=True)]


# concat_new_items --------------------------------------------------------------------


def test_concat_new_items_adds_only_what_the_row_does_not_hold() -> None:
    first = pa.array([["a", "b"], ["c"], [], ["x"], ["b"]], PROVENANCE_TYPE)
    second = pa.array([["b", "d"], ["c", "c", "e"], ["z"], ["y"], ["a"]], PROVENANCE_TYPE)

    result = concat_new_items(first, second)

    # "a" of the last row is in another row of first, not in its own: it is added.
    assert result.to_pylist() == [["a", "b", "d"], ["c", "e"], ["z"], ["x", "y"], ["b", "a"]]
    assert result.type == PROVENANCE_TYPE


def test_concat_new_items_of_equal_lists_is_the_first() -> None:
    provenance = provenance_array("trials", pa.array(range(5), pa.int64()))

    assert concat_new_items(provenance, provenance).equals(provenance)


def test_concat_new_items_of_other_sources_is_the_concatenation() -> None:
    first = provenance_array("left", pa.array(range(4), pa.int64()))
    second = provenance_array("right", pa.array(range(4), pa.int64()))

    assert concat_new_items(first, second).equals(concat_lists(first, second))


def test_concat_new_items_reads_list_large_list_sliced_and_chunked_arrays() -> None:
    first = pa.array([["q"], ["a", "b"], ["c"], ["q"]], pa.list_(pa.string())).slice(1, 2)
    second = pa.chunked_array([pa.array([["b", "x"], ["c"]], PROVENANCE_TYPE)])

    result = concat_new_items(first, second)

    assert result.to_pylist() == [["a", "b", "x"], ["c"]]
    assert pa.types.is_large_list(result.type)


def test_concat_new_items_refuses_arrays_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 and 1"):
        concat_new_items(pa.array([["a"], ["b"]]), pa.array([["c"]]))


def test_concat_new_items_of_many_rows_matches_python() -> None:
    first_values = [[f"r{(i + k) % 7}" for k in range(i % 3)] for i in range(10_000)]
    second_values = [[f"r{(i * k) % 5}" for k in range(i % 4)] for i in range(10_000)]

    result = concat_new_items(
        pa.array(first_values, PROVENANCE_TYPE), pa.array(second_values, PROVENANCE_TYPE)
    )

    pairs = zip(first_values, second_values, strict=True)
    expected = [a + [x for x in b if x not in a] for a, b in pairs]
    assert result.to_pylist() == expected
