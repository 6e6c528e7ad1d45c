"""The public surface of orcapod.core.hashing: names, schema and combination rules, errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import orcapod.core.hashing
from orcapod.core.errors import OrcapodError
from orcapod.core.hashing import (
    HASH_METHOD,
    LOGICAL_TYPE_KEY,
    HashingError,
    combine_hashes,
    hash_label,
    hash_row,
    hash_schema,
    hash_table,
    hash_table_rows,
    hash_table_unordered,
)

PATH = {LOGICAL_TYPE_KEY: b"path"}


def test_the_exported_names_are_exactly_the_public_api() -> None:
    assert set(orcapod.core.hashing.__all__) == {
        "HASH_METHOD",
        "LOGICAL_TYPE_KEY",
        "Dependency",
        "HashingError",
        "TableHasher",
        "class_source_hash",
        "code_dependencies",
        "code_identity_hash",
        "combine_hashes",
        "function_identity_hash",
        "function_source_hash",
        "hash_label",
        "hash_row",
        "hash_schema",
        "hash_table",
        "hash_table_batches",
        "hash_table_rows",
        "hash_table_unordered",
        "source_code_hash",
        "value_hash",
    }
    public = {name for name in dir(orcapod.core.hashing) if not name.startswith("_")}
    assert public - {"annotations"} == set(orcapod.core.hashing.__all__)


def test_hashing_errors_are_orcapod_errors() -> None:
    assert issubclass(HashingError, OrcapodError)


def test_every_hash_is_rendered_with_the_versioned_method() -> None:
    schema_hash = hash_schema(pa.schema([("a", pa.int64())]))
    method, _, digest = schema_hash.partition(":")
    assert method == HASH_METHOD == "orcapod-v1-sha256"
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def schema_of(*fields: pa.Field) -> str:
    return hash_schema(pa.schema(list(fields)))


def test_schema_hash_ignores_column_order_and_physical_types() -> None:
    a = schema_of(pa.field("x", pa.int64()), pa.field("s", pa.large_string()))
    b = schema_of(pa.field("s", pa.string()), pa.field("x", pa.int32()))
    assert a == b


def test_schema_hash_distinguishes_names_types_nullability_paths_zones_and_field_order() -> None:
    base = schema_of(pa.field("x", pa.int64()))
    struct_ab = pa.struct([("a", pa.int64()), ("b", pa.int64())])
    struct_ba = pa.struct([("b", pa.int64()), ("a", pa.int64())])
    variants = [
        base,
        schema_of(pa.field("y", pa.int64())),
        schema_of(pa.field("x", pa.float64())),
        schema_of(pa.field("x", pa.int64(), nullable=False)),
        schema_of(pa.field("x", pa.large_string())),
        schema_of(pa.field("x", pa.large_string(), metadata=PATH)),
        schema_of(pa.field("x", pa.timestamp("us"))),
        schema_of(pa.field("x", pa.timestamp("us", tz="UTC"))),
        schema_of(pa.field("x", pa.timestamp("us", tz="Europe/Paris"))),
        schema_of(pa.field("x", struct_ab)),
        schema_of(pa.field("x", struct_ba)),
        schema_of(pa.field("x", pa.large_list(pa.int64()))),
        schema_of(pa.field("x", pa.large_list(pa.field("item", pa.int64(), nullable=False)))),
        schema_of(pa.field("x", pa.map_(pa.large_string(), pa.int64()))),
        schema_of(pa.field("x", pa.int64()), pa.field("y", pa.int64())),
    ]
    assert len(set(variants)) == len(variants)


def test_row_hashes_ignore_nullability_but_not_logical_types() -> None:
    nullable = pa.table({"x": pa.array([1, 2])})
    required = nullable.cast(pa.schema([pa.field("x", pa.int64(), nullable=False)]))
    assert hash_table_rows(nullable) == hash_table_rows(required)
    path = nullable.cast(pa.schema([pa.field("x", pa.int64(), metadata=PATH)]))
    assert hash_table_rows(path) != hash_table_rows(nullable)


def test_row_hashes_include_column_names() -> None:
    assert hash_table_rows(pa.table({"a": [1]})) != hash_table_rows(pa.table({"b": [1]}))


def test_columns_selects_the_hashed_columns_in_any_order() -> None:
    table = pa.table({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 0.25]})
    assert hash_table_rows(table, ["c", "a"]) == hash_table_rows(table.select(["a", "c"]))
    assert hash_table_rows(table, ["a"]) != hash_table_rows(table, ["a", "b"])
    assert hash_table(table, ["b"]) == hash_table(table.select(["b"]))


def test_hash_row_equals_the_row_hash_of_the_same_row_in_a_table() -> None:
    schema = pa.schema(
        [
            ("subject", pa.large_string()),
            ("when", pa.timestamp("us", tz="UTC")),
            ("labels", pa.map_(pa.large_string(), pa.large_string())),
            ("scores", pa.large_list(pa.float64())),
        ]
    )
    row = {
        "subject": "m1",
        "when": dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        "labels": [("lab", "north"), ("species", "mouse")],
        "scores": [0.5, None],
    }
    table = pa.Table.from_pylist([{"subject": "other"}, row], schema=schema)
    assert hash_row(row, schema) == hash_table_rows(table)[1]


def test_hash_row_refuses_values_that_do_not_match_the_schema() -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.large_string())])
    with pytest.raises(HashingError, match=r"columns \['a'\]: the schema has columns \['a', 'b'\]"):
        hash_row({"a": 1}, schema)
    with pytest.raises(HashingError, match="cannot hash row"):
        hash_row({"a": "not a number", "b": "x"}, schema)


def test_an_empty_table_and_a_table_without_columns_have_hashes() -> None:
    empty = pa.table({"a": pa.array([], pa.int64())})
    assert hash_table_rows(empty) == []
    assert hash_table(empty) != hash_table(pa.table({"b": pa.array([], pa.int64())}))
    no_columns = pa.table({"a": [1, 2]}).select([])
    assert len(set(hash_table_rows(no_columns))) == 1
    assert len(hash_table_rows(no_columns)) == 2


def test_ordered_and_unordered_table_hashes_differ_from_each_other() -> None:
    table = pa.table({"a": [1, 2]})
    assert hash_table(table) != hash_table_unordered(table)
    assert hash_table(table) != hash_table(pa.table({"a": [2, 1]}))
    assert hash_table_unordered(table) == hash_table_unordered(pa.table({"a": [2, 1]}))
    assert hash_table_unordered(table) != hash_table_unordered(pa.table({"a": [2, 2]}))


def test_combine_hashes_is_order_sensitive_and_separated_by_kind() -> None:
    a = hash_schema(pa.schema([("a", pa.int64())]))
    b = hash_schema(pa.schema([("b", pa.int64())]))
    assert combine_hashes("node", a, b) != combine_hashes("node", b, a)
    assert combine_hashes("node", a, b) != combine_hashes("operator", a, b)
    assert combine_hashes("node", a) != a
    assert combine_hashes("node", a, b) == combine_hashes("node", a, b)
    # Lengths are encoded: moving a boundary between kind and parts changes the hash.
    assert combine_hashes("node", a) != combine_hashes("nod", a)


def test_hash_label_separates_kind_from_text_and_is_a_valid_part() -> None:
    assert hash_label("source-id", "trials") != hash_label("source-idt", "rials")
    assert hash_label("source-id", "a") != hash_label("node-label", "a")
    assert combine_hashes("node", hash_label("source-id", "a")).startswith(HASH_METHOD + ":")
    with pytest.raises(HashingError, match="non-empty kind"):
        hash_label("", "a")


def test_combine_hashes_refuses_an_empty_kind_and_parts_that_are_not_hashes() -> None:
    a = hash_schema(pa.schema([]))
    with pytest.raises(HashingError, match="non-empty kind"):
        combine_hashes("", a)
    with pytest.raises(HashingError, match=r"part 1 of combine_hashes\('node'\)"):
        combine_hashes("node", a, "ABC")


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pa.array([1], pa.time64("us")), "of Arrow type time64"),
        (pa.array([1], pa.decimal128(5, 2)), "decimal"),
        (pa.array([dt.timedelta(1)], pa.duration("s")), "duration"),
    ],
)
def test_types_without_an_orcapod_meaning_are_refused_by_name(
    column: pa.Array, message: str
) -> None:
    with pytest.raises(HashingError, match=f"column 'c'.*{message}"):
        hash_table_rows(pa.table({"c": column}))
    with pytest.raises(HashingError, match="column 'c'"):
        hash_schema(pa.schema([("c", column.type)]))


def test_an_unsigned_integer_above_the_int64_range_is_refused() -> None:
    assert hash_table_rows(pa.table({"u": pa.array([2**63 - 1], pa.uint64())})) == (
        hash_table_rows(pa.table({"u": pa.array([2**63 - 1], pa.int64())}))
    )
    with pytest.raises(HashingError, match=r"column 'u'.*exceeds 2\*\*63 - 1"):
        hash_table_rows(pa.table({"u": pa.array([2**63], pa.uint64())}))


def test_missing_and_duplicate_columns_are_refused() -> None:
    table = pa.table({"a": [1]})
    with pytest.raises(HashingError, match=r"columns \['z'\]: the table has columns \['a'\]"):
        hash_table_rows(table, ["z"])
    twice = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(HashingError, match="duplicate name 'a'"):
        hash_table_rows(twice)
    with pytest.raises(HashingError, match="duplicate name 'a'"):
        hash_schema(twice.schema)
