"""Canonical encoding of logical types, and the schema hash."""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import domain, encode_str, render, u8, u64
from orcapod.protocols.logical_types import IDENTITY_KEY, LOGICAL_TYPE_KEY

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["IDENTITY_KEY", "LOGICAL_TYPE_KEY", "hash_schema", "row_type_digest", "sorted_fields"]


def sorted_fields(fields: Sequence[pa.Field]) -> list[pa.Field]:
    """The fields ordered by the UTF-8 bytes of their names.

    Raises:
        HashingError: two fields share a name.
    """
    for field in fields:
        encode_str(field.name)  # raises on a name that is not valid Unicode
    ordered = sorted(fields, key=lambda field: field.name.encode("utf-8"))
    for before, after in itertools.pairwise(ordered):
        if before.name == after.name:
            raise HashingError(
                f"cannot hash columns with a duplicate name {before.name!r}; rename one of them"
            )
    return ordered


def hash_schema(schema: pa.Schema) -> str:
    """The identity of a schema: column names, logical types and nullability.

    Column order does not matter; struct field order does.

    Raises:
        HashingError: a column has a type with no logical meaning in orcapod.
    """
    fields = sorted_fields(list(schema))
    body = [domain("schema"), u64(len(fields))]
    for field in fields:
        body.append(encode_str(field.name))
        body.append(_field_bytes(field, with_nullability=True))
    return render(b"".join(body))


def row_type_digest(fields: Sequence[pa.Field]) -> bytes:
    """The raw SHA-256 of the names and logical types (without nullability) of sorted ``fields``."""
    body = [domain("row-type"), u64(len(fields))]
    for field in fields:
        body.append(encode_str(field.name))
        body.append(_field_bytes(field, with_nullability=False))
    return hashlib.sha256(b"".join(body)).digest()


def _field_bytes(field: pa.Field, *, with_nullability: bool) -> bytes:
    annotation = (field.metadata or {}).get(LOGICAL_TYPE_KEY)
    encoded = _type_bytes(field.type, with_nullability=with_nullability, where=field.name)
    if annotation is not None:
        try:
            name = annotation.decode("utf-8")
        except UnicodeDecodeError:
            raise HashingError(
                f"column {field.name!r} has a logical type annotation {annotation!r} "
                "that is not UTF-8"
            ) from None
        encoded = encode_str("annotated") + encode_str(name) + encoded
    if with_nullability:
        encoded += u8(1 if field.nullable else 0)
    return encoded


def _type_bytes(dtype: pa.DataType, *, with_nullability: bool, where: str) -> bytes:
    name = logical_type_name(dtype, where=where)
    if name == "datetime":
        zone = dtype.tz
        return encode_str(name) + (u8(0) if zone is None else u8(1) + encode_str(zone))
    if name == "list":
        return encode_str(name) + _field_bytes(dtype.value_field, with_nullability=with_nullability)
    if name == "map":
        return (
            encode_str(name)
            + _field_bytes(dtype.key_field, with_nullability=with_nullability)
            + _field_bytes(dtype.item_field, with_nullability=with_nullability)
        )
    if name == "struct":
        parts = [encode_str(name), u64(dtype.num_fields)]
        for index in range(dtype.num_fields):
            child = dtype.field(index)
            parts.append(encode_str(child.name))
            parts.append(_field_bytes(child, with_nullability=with_nullability))
        return b"".join(parts)
    if name == "dictionary":
        return _type_bytes(dtype.value_type, with_nullability=with_nullability, where=where)
    return encode_str(name)


def logical_type_name(dtype: pa.DataType, *, where: str) -> str:
    """The logical type an Arrow storage type stands for: ``"int"``, ``"str"``, ``"list"``...

    Raises:
        HashingError: the Arrow type has no logical meaning in orcapod.
    """
    types = pa.types
    checks = (
        ("null", types.is_null),
        ("bool", types.is_boolean),
        ("int", types.is_integer),
        ("float", types.is_floating),
        ("str", _is_string),
        ("bytes", _is_binary),
        ("date", types.is_date),
        ("datetime", types.is_timestamp),
        ("map", types.is_map),
        ("list", _is_list),
        ("struct", types.is_struct),
        ("dictionary", types.is_dictionary),
    )
    for name, check in checks:
        if check(dtype):
            return name
    raise HashingError(
        f"cannot hash column {where!r} of Arrow type {dtype}: orcapod gives no logical meaning "
        "to it; convert it to int, float, bool, str, bytes, date, timestamp, list, map or struct"
    )


def _is_string(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _is_binary(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_binary_view(dtype)
        or pa.types.is_fixed_size_binary(dtype)
    )


def _is_list(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    )
