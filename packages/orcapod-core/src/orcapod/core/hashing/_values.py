"""Vectorised canonical encoding of Arrow values: one ``large_binary`` value per row.

Everything runs in Arrow compute kernels; Python touches each column, never
each value. docs/identity.md specifies the bytes produced here.
"""

from __future__ import annotations

import struct
import sys

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import HashingError
from orcapod.core.hashing._types import IDENTITY_KEY, logical_type_name

__all__ = ["BYTES", "EMPTY", "binary_scalar", "encode_column", "join_rows"]

BYTES = pa.large_binary()


def binary_scalar(value: bytes) -> pa.Scalar:
    """A ``large_binary`` scalar, built from buffers.

    ``pa.scalar`` would make pyarrow import pandas (when installed) to check
    the value's type: hundreds of milliseconds that importing orcapod must not cost.
    """
    offsets = pa.py_buffer(struct.pack("<2q", 0, len(value)))
    return pa.Array.from_buffers(BYTES, 1, [None, offsets, pa.py_buffer(value)])[0]


def _float_scalar(bits: int) -> pa.Scalar:
    """A ``float64`` scalar of the given IEEE 754 bits (built from buffers, as above)."""
    return pa.Array.from_buffers(pa.float64(), 1, [None, pa.py_buffer(struct.pack("<Q", bits))])[0]


EMPTY = binary_scalar(b"")
_PRESENT = binary_scalar(b"\x01")
_ABSENT = binary_scalar(b"\x00")
# The quiet NaN 0x7FF8000000000000, built from its bits rather than trusting float("nan").
_CANONICAL_NAN = _float_scalar(0x7FF8000000000000)
_ZERO = _float_scalar(0)
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_MS_PER_DAY = 86_400_000


def join_rows(*columns: pa.Array | pa.Scalar) -> pa.Array:
    """Concatenate the bytes of each row across ``columns`` (nulls count as empty)."""
    return pc.binary_join_element_wise(
        *columns, EMPTY, null_handling="replace", null_replacement=""
    )


def encode_column(array: pa.Array, field: pa.Field) -> pa.Array:
    """The canonical encoding of every value of ``array``: ``0x00`` for null, ``0x01 || payload``.

    Raises:
        HashingError: a type orcapod cannot hash, or an unsigned integer above 2**63 - 1.
    """
    if sys.byteorder != "little":  # pragma: no cover - no big-endian CI machine
        raise HashingError("orcapod hashing needs a little-endian machine for Arrow buffers")
    name = logical_type_name(array.type, where=field.name)
    if name == "null":
        return pa.repeat(_ABSENT, len(array))
    if name == "dictionary":
        decoded = array.dictionary_decode()
        return encode_column(decoded, field.with_type(decoded.type))
    payload = _PAYLOADS[name](array, field)
    if array.null_count == 0:
        return join_rows(_PRESENT, payload)
    return pc.if_else(array.is_valid(), join_rows(_PRESENT, payload), _ABSENT)


def _as(array: pa.Array, dtype: pa.DataType) -> pa.Array:
    """``array`` cast to ``dtype``, without a kernel call when it already is one."""
    return array if array.type == dtype else array.cast(dtype)


def _filled(array: pa.Array, value: object) -> pa.Array:
    """``array`` with nulls replaced by ``value``, without a kernel call when it has none."""
    return array if array.null_count == 0 else array.fill_null(value)


def _fixed_bytes(array: pa.Array, width: int) -> pa.Array:
    """Reinterpret a null-free fixed-width array's buffer as one ``width``-byte value per row.

    Only the array's own bytes are viewed: the cast to binary copies everything from
    the buffer's start, so a slice far into a large array would cost its whole prefix.
    """
    data = array.buffers()[1].slice(array.offset * width, len(array) * width)
    view = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(array), [None, data])
    return view.cast(BYTES)


def _int_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    try:
        values = _as(array, pa.int64())
    except pa.ArrowInvalid:
        raise HashingError(
            f"cannot hash column {field.name!r}: an unsigned integer exceeds 2**63 - 1, "
            "the largest orcapod int"
        ) from None
    return _fixed_bytes(_filled(values, 0), 8)


def _float_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    values = _as(array, pa.float64())
    values = pc.if_else(pc.equal(values, _ZERO), _ZERO, values)  # -0.0 -> 0.0
    values = pc.if_else(pc.is_nan(values), _CANONICAL_NAN, values)
    return _fixed_bytes(_filled(values, 0.0), 8)


def _bool_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    return _fixed_bytes(_filled(array.cast(pa.uint8()), 0), 1)


def _bytes_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    values = _as(array, BYTES)
    lengths = _filled(pc.binary_length(values), 0)
    return join_rows(_fixed_bytes(lengths, 8), values)


def _date_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    if pa.types.is_date32(array.type):
        days = array.cast(pa.int32()).cast(pa.int64())
    else:
        days, _ = _floor_divmod(array.cast(pa.int64()), _MS_PER_DAY)
    return _fixed_bytes(_filled(days, 0), 8)


def _datetime_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    per_second = _UNITS_PER_SECOND[array.type.unit]
    seconds, fraction = _floor_divmod(_filled(array.cast(pa.int64()), 0), per_second)
    nanoseconds = pc.multiply(fraction, 1_000_000_000 // per_second).cast(pa.uint32())
    return join_rows(_fixed_bytes(seconds, 8), _fixed_bytes(nanoseconds, 4))


def _floor_divmod(values: pa.Array, divisor: int) -> tuple[pa.Array, pa.Array]:
    """Floor division and the non-negative remainder (Arrow's integer divide truncates)."""
    quotient = pc.divide(values, divisor)
    remainder = pc.subtract(values, pc.multiply(quotient, divisor))
    negative = pc.less(remainder, 0)
    quotient = pc.if_else(negative, pc.subtract(quotient, 1), quotient)
    remainder = pc.if_else(negative, pc.add(remainder, divisor), remainder)
    return quotient, remainder


def _list_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    elements = encode_column(array.flatten(), array.type.value_field)
    return _join_lists(array, elements)


def _map_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    key_field, item_field = array.type.key_field, array.type.item_field
    entry_type = pa.struct([key_field, item_field])
    as_list = array.cast(pa.large_list(pa.field("entries", entry_type, nullable=False)))
    entries = as_list.flatten()
    encoded = join_rows(
        encode_column(entries.field(0), key_field), encode_column(entries.field(1), item_field)
    )
    return _join_lists(as_list, encoded, sort_entries=True)


def _join_lists(array: pa.Array, elements: pa.Array, *, sort_entries: bool = False) -> pa.Array:
    """``u64(count) || element encodings`` per row; entries sorted bytewise for maps."""
    counts = _filled(_as(pc.list_value_length(array), pa.int64()), 0)
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(counts)])
    lists = pa.LargeListArray.from_arrays(offsets, elements)
    if sort_entries and len(elements) > 0:
        order = pc.sort_indices(
            pa.table({"row": pc.list_parent_indices(lists), "entry": elements}),
            sort_keys=[("row", "ascending"), ("entry", "ascending")],
        )
        lists = pa.LargeListArray.from_arrays(offsets, elements.take(order))
    return join_rows(_fixed_bytes(counts, 8), pc.binary_join(lists, EMPTY))


def _struct_payload(array: pa.Array, field: pa.Field) -> pa.Array:
    indices: list[int] | range = range(array.type.num_fields)
    identity = (field.metadata or {}).get(IDENTITY_KEY)
    if identity is not None:  # a logical type identified by some of its fields (a File's digest)
        names = identity.decode("utf-8", errors="replace").split(",")
        indices = [array.type.get_field_index(name) for name in names]
        if any(index < 0 for index in indices):
            raise HashingError(
                f"cannot hash column {field.name!r}: its identity fields {names} are not all "
                f"fields of {array.type}"
            )
    children = [encode_column(array.field(index), array.type.field(index)) for index in indices]
    if not children:
        return pa.repeat(EMPTY, len(array))
    return join_rows(*children)


_PAYLOADS = {
    "bool": _bool_payload,
    "int": _int_payload,
    "float": _float_payload,
    "str": _bytes_payload,
    "bytes": _bytes_payload,
    "date": _date_payload,
    "datetime": _datetime_payload,
    "list": _list_payload,
    "map": _map_payload,
    "struct": _struct_payload,
}
