"""The vectorised row hashes agree with a plain-Python reading of docs/identity.md.

``reference_row_hash`` reimplements the documented encoding value by value,
as someone porting it to another language would; hypothesis generates the rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core.hashing import (
    combine_hashes,
    function_identity_hash,
    hash_schema,
    hash_table_rows,
)

UTC = dt.UTC


def s(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def ref_type(dtype: pa.DataType) -> bytes:
    """The documented content-mode type encoding (nullability excluded)."""
    if pa.types.is_integer(dtype):
        return s("int")
    if pa.types.is_floating(dtype):
        return s("float")
    if pa.types.is_boolean(dtype):
        return s("bool")
    if pa.types.is_large_string(dtype) or pa.types.is_string(dtype):
        return s("str")
    if pa.types.is_large_binary(dtype) or pa.types.is_binary(dtype):
        return s("bytes")
    if pa.types.is_date(dtype):
        return s("date")
    if pa.types.is_timestamp(dtype):
        return s("datetime") + (b"\x00" if dtype.tz is None else b"\x01" + s(dtype.tz))
    if pa.types.is_map(dtype):
        return s("map") + ref_type(dtype.key_type) + ref_type(dtype.item_type)
    if pa.types.is_large_list(dtype) or pa.types.is_list(dtype):
        return s("list") + ref_type(dtype.value_type)
    if pa.types.is_struct(dtype):
        fields = [dtype.field(i) for i in range(dtype.num_fields)]
        return (
            s("struct")
            + struct.pack("<Q", len(fields))
            + b"".join(s(f.name) + ref_type(f.type) for f in fields)
        )
    raise AssertionError(dtype)


def ref_value(value: Any, dtype: pa.DataType) -> bytes:
    """The documented value encoding of one Python value of Arrow type ``dtype``."""
    if value is None:
        return b"\x00"
    return b"\x01" + ref_payload(value, dtype)


def ref_payload(value: Any, dtype: pa.DataType) -> bytes:
    if pa.types.is_boolean(dtype):
        return bytes([int(value)])
    if pa.types.is_integer(dtype):
        return struct.pack("<q", value)
    if pa.types.is_floating(dtype):
        number = 0.0 if value == 0 else value
        packed = struct.pack("<d", number)
        return struct.pack("<Q", 0x7FF8000000000000) if math.isnan(number) else packed
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return struct.pack("<Q", len(value)) + value
    if isinstance(value, dt.datetime):
        delta = value - dt.datetime(1970, 1, 1, tzinfo=value.tzinfo)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        seconds, fraction = divmod(micros, 1_000_000)
        return struct.pack("<qI", seconds, fraction * 1_000)
    if isinstance(value, dt.date):
        return struct.pack("<q", (value - dt.date(1970, 1, 1)).days)
    if pa.types.is_map(dtype):
        entries = sorted(
            ref_value(k, dtype.key_type) + ref_value(v, dtype.item_type) for k, v in value
        )
        return struct.pack("<Q", len(entries)) + b"".join(entries)
    if pa.types.is_large_list(dtype) or pa.types.is_list(dtype):
        items = [ref_value(item, dtype.value_type) for item in value]
        return struct.pack("<Q", len(items)) + b"".join(items)
    if pa.types.is_struct(dtype):
        fields = [dtype.field(i) for i in range(dtype.num_fields)]
        return b"".join(ref_value(value[f.name], f.type) for f in fields)
    raise AssertionError(dtype)


def reference_row_hash(row: dict[str, Any], schema: pa.Schema) -> str:
    fields = sorted(schema, key=lambda f: f.name.encode())
    row_type = s("orcapod-v1:row-type") + struct.pack("<Q", len(fields))
    row_type += b"".join(s(f.name) + ref_type(f.type) for f in fields)
    message = s("orcapod-v1:row") + hashlib.sha256(row_type).digest()
    message += b"".join(ref_value(row[f.name], f.type) for f in fields)
    return "orcapod-v1-sha256:" + hashlib.sha256(message).hexdigest()


SCALARS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float": (pa.float64(), st.floats(allow_nan=True)),
    "bool": (pa.bool_(), st.booleans()),
    "str": (pa.large_string(), st.text(max_size=20)),
    "bytes": (pa.large_binary(), st.binary(max_size=20)),
    "date": (pa.date32(), st.dates()),
    "datetime": (
        pa.timestamp("us", tz="UTC"),
        st.datetimes(
            min_value=dt.datetime(1700, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.just(UTC),
        ),
    ),
}


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[pa.DataType, st.SearchStrategy[Any]]:
    dtype, values = SCALARS[draw(st.sampled_from(sorted(SCALARS)))]
    nesting = draw(st.sampled_from(["plain", "list", "map", "struct"]))
    nullable = st.none() | values
    if nesting == "list":
        return pa.large_list(dtype), st.lists(nullable, max_size=4)
    if nesting == "map":
        entries = st.dictionaries(st.text(max_size=5), nullable, max_size=4)
        return pa.map_(pa.large_string(), dtype), entries.map(lambda d: list(d.items()))
    if nesting == "struct":
        both = st.fixed_dictionaries({"x": nullable, "y": st.none() | st.integers(-5, 5)})
        return pa.struct([("x", dtype), ("y", pa.int64())]), both
    return dtype, values


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Schema, list[dict[str, Any]]]:
    names = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4, unique=True))
    columns = {name: draw(typed_values()) for name in names}
    schema = pa.schema([(name, dtype) for name, (dtype, _) in columns.items()])
    row = st.fixed_dictionaries({name: st.none() | v for name, (_, v) in columns.items()})
    return schema, draw(st.lists(row, min_size=1, max_size=8))


@settings(max_examples=150, deadline=None)
@given(tables())
def test_row_hashes_match_the_documented_encoding_computed_value_by_value(
    case: tuple[pa.Schema, list[dict[str, Any]]],
) -> None:
    schema, rows = case
    table = pa.Table.from_pylist(rows, schema=schema)
    assert hash_table_rows(table) == [reference_row_hash(row, schema) for row in rows]


def ref_schema_field(field: pa.Field) -> bytes:
    """The documented schema-mode ``F(field) || u8(nullable)``, nested levels included."""
    dtype = field.type
    if pa.types.is_large_list(dtype):
        encoded = s("list") + ref_schema_field(dtype.value_field)
    elif pa.types.is_map(dtype):
        encoded = s("map") + ref_schema_field(dtype.key_field) + ref_schema_field(dtype.item_field)
    elif pa.types.is_struct(dtype):
        children = [dtype.field(i) for i in range(dtype.num_fields)]
        encoded = s("struct") + struct.pack("<Q", len(children))
        encoded += b"".join(s(c.name) + ref_schema_field(c) for c in children)
    else:
        encoded = ref_type(dtype)
    annotation = (field.metadata or {}).get(b"orcapod.logical_type")
    if annotation is not None:
        encoded = s("annotated") + s(annotation.decode()) + encoded
    return encoded + bytes([field.nullable])


def test_schema_hash_matches_the_documented_encoding() -> None:
    schema = pa.schema(
        [
            pa.field("when", pa.timestamp("ns", tz="Europe/Paris"), nullable=False),
            pa.field(
                "files",
                pa.large_list(
                    pa.field("item", pa.large_string(), metadata={b"orcapod.logical_type": b"path"})
                ),
            ),
            pa.field("labels", pa.map_(pa.large_string(), pa.float64())),
            pa.field(
                "point", pa.struct([pa.field("y", pa.int64(), nullable=False), ("x", pa.bool_())])
            ),
        ]
    )
    fields = sorted(schema, key=lambda f: f.name.encode())
    message = s("orcapod-v1:schema") + struct.pack("<Q", len(fields))
    message += b"".join(s(f.name) + ref_schema_field(f) for f in fields)
    assert hash_schema(schema) == "orcapod-v1-sha256:" + hashlib.sha256(message).hexdigest()


def test_combination_and_function_identity_match_the_documented_encoding() -> None:
    part_a = hash_schema(pa.schema([("a", pa.int64())]))
    part_b = hash_schema(pa.schema([("b", pa.int64())]))
    message = s("orcapod-v1:combine") + s("node") + struct.pack("<Q", 2) + s(part_a) + s(part_b)
    expected = "orcapod-v1-sha256:" + hashlib.sha256(message).hexdigest()
    assert combine_hashes("node", part_a, part_b) == expected

    code = s("orcapod-v1:code-identity") + s("builtins.len")
    code_hash = "orcapod-v1-sha256:" + hashlib.sha256(code).hexdigest()
    message = s("orcapod-v1:function") + s("len") + s("1.0") + s(code_hash)
    message += s(part_a) + s(part_b)
    assert function_identity_hash(
        len,
        name="len",
        version="1.0",
        input_schema_hash=part_a,
        output_schema_hash=part_b,
        code_identity="builtins.len",
    ) == ("orcapod-v1-sha256:" + hashlib.sha256(message).hexdigest())
