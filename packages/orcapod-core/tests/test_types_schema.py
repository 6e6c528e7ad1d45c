"""Schema: validation at construction, the protocol, Arrow in both directions, helpers."""

from __future__ import annotations

import pickle
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Union

import pyarrow as pa
import pytest

from orcapod.core.types import NaiveDatetime, Schema, SchemaError, UnsupportedTypeError
from orcapod.protocols import data


def test_a_schema_satisfies_the_schema_protocol() -> None:
    assert isinstance(Schema(x=int), data.Schema)


def test_a_schema_is_an_ordered_mapping_of_name_to_type() -> None:
    schema = Schema({"b": str, "a": list[int]}, c=float)
    assert list(schema) == ["b", "a", "c"]
    assert list(schema.items()) == [("b", str), ("a", list[int]), ("c", float)]
    assert schema.keys() == ("b", "a", "c")
    assert schema.types() == (str, list[int], float)
    assert len(schema) == 3
    assert schema["a"] == list[int]
    assert "a" in schema
    assert "z" not in schema
    assert schema.get("z") is None
    assert Schema([("b", str), ("a", list[int]), ("c", float)]) == schema


def test_optional_spellings_are_one_type() -> None:
    spellings = [Optional[int], Union[int, None], Union[None, int], int | None]  # noqa: UP007,UP045
    schemas = {Schema(x=spelling) for spelling in spellings}
    assert len(schemas) == 1
    assert Schema(x=Optional[list[Optional[str]]]) == Schema(x=list[str | None] | None)  # noqa: UP045


def test_equality_and_hash_depend_on_names_types_and_order() -> None:
    assert Schema(a=int, b=str) == Schema(a=int, b=str)
    assert hash(Schema(a=int, b=str)) == hash(Schema(a=int, b=str))
    assert Schema(a=int, b=str) != Schema(b=str, a=int)
    assert Schema(a=int) != Schema(a=int | None)
    assert Schema(a=int) != {"a": int}


def test_a_schema_is_immutable() -> None:
    schema = Schema(a=int)
    with pytest.raises(AttributeError, match="immutable"):
        schema._columns = {}
    with pytest.raises(TypeError):
        schema["a"] = str  # type: ignore[index]


def test_repr_reads_like_the_declaration() -> None:
    schema = Schema(id=str, when=datetime | None, tags=dict[str, list[Path]], n=NaiveDatetime)
    assert repr(schema) == (
        "Schema({'id': str, 'when': datetime | None, 'tags': dict[str, list[Path]], "
        "'n': NaiveDatetime})"
    )


def test_a_missing_column_names_the_columns_there_are() -> None:
    with pytest.raises(KeyError, match=r"no column 'z'; the columns are \['a'\]"):
        Schema(a=int)["z"]


@pytest.mark.parametrize("name", ["", 3, None])
def test_a_column_name_must_be_a_non_empty_str(name: Any) -> None:
    with pytest.raises(SchemaError, match="is not a non-empty str"):
        Schema([(name, int)])


def test_a_column_given_twice_is_rejected() -> None:
    with pytest.raises(SchemaError, match="column 'a' is given twice"):
        Schema({"a": int}, a=str)


@pytest.mark.parametrize(
    ("tp", "named"),
    [
        (object, "object"),
        (Any, "Any"),
        (type("Sample", (), {}), "Sample"),
        (dict[int, str], r"dict\[int, str\]"),
        (tuple[int], r"tuple\[int\]"),
        (set[int], r"set\[int\]"),
        (list, "list"),
        (dict, "dict"),
        (int | str, "int | str"),
        (list[int | str], r"int \| str \(inside list\[int \| str\]\)"),
        (type(None), "NoneType"),
    ],
)
def test_an_unsupported_type_is_rejected_at_declaration_naming_it(tp: Any, named: str) -> None:
    with pytest.raises(
        UnsupportedTypeError, match=rf"{named}.* for column 'x'.*Supported types: int"
    ):
        Schema(x=tp)


def test_an_unsupported_type_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Schema(x=object)


def test_to_arrow_gives_the_canonical_fields() -> None:
    schema = Schema(id=str, score=float | None, when=datetime, file=Path)
    arrow = schema.to_arrow()
    assert arrow.names == ["id", "score", "when", "file"]
    assert arrow.field("id").type == pa.large_string()
    assert not arrow.field("id").nullable
    assert arrow.field("score").nullable
    assert arrow.field("when").type == pa.timestamp("us", tz="UTC")
    assert arrow.field("file").metadata == {b"orcapod.logical_type": b"path"}
    assert Schema.from_arrow(arrow) == schema


def test_from_arrow_reads_a_foreign_schema_as_nullable_columns() -> None:
    foreign = pa.schema(
        [("name", pa.string()), ("n", pa.int32()), ("tags", pa.map_(pa.string(), pa.string()))]
    )
    assert Schema.from_arrow(foreign) == Schema(
        name=str | None, n=int | None, tags=dict[str, str | None] | None
    )


def test_select_and_drop_keep_order_and_reject_unknown_columns() -> None:
    schema = Schema(a=int, b=str, c=float)
    assert schema.select(["c", "a"]) == Schema(c=float, a=int)
    assert schema.drop(["b"]) == Schema(a=int, c=float)
    with pytest.raises(SchemaError, match=r"cannot select columns \['z'\]"):
        schema.select(["a", "z"])
    with pytest.raises(SchemaError, match=r"cannot drop columns \['z'\]"):
        schema.drop(["z"])


def test_merge_appends_new_columns_and_accepts_equal_ones() -> None:
    merged = Schema(a=int, b=str).merge(Schema(b=str, c=float))
    assert merged == Schema(a=int, b=str, c=float)


def test_merge_names_every_conflicting_column_and_both_types() -> None:
    with pytest.raises(SchemaError, match=r"'a' \(int vs str\), 'b' \(str vs str \| None\)"):
        Schema(a=int, b=str).merge(Schema(a=str, b=str | None))


def test_a_schema_pickles() -> None:
    schema = Schema(a=NaiveDatetime | None, b=dict[str, list[Path]])
    assert pickle.loads(pickle.dumps(schema)) == schema
