"""Arrow types to SQL columns and back, exactly, for SQLite and PostgreSQL.

Each stored column gets a :class:`ColumnCodec`: the SQL type of its column, a
vectorised-where-possible encoder from an Arrow column to the Python values the
driver binds, and a decoder from fetched values back to an Arrow array of the
original type. The Arrow schema itself is kept in the catalog, so decoding is
always driven by the exact type that was stored.

Encodings that differ from the obvious column (each one reversible):

- PostgreSQL ``text`` and ``jsonb`` cannot hold NUL. A string containing NUL,
  or starting with :data:`ESCAPE_MARK`, is stored as the mark followed by the
  string with ``\\`` written ``\\\\`` and NUL written ``\\0``; every other
  string is stored as it is. Equality queries encode their value the same way.
- SQLite turns NaN into NULL and ``-0.0`` into ``0``: in SQLite float columns
  these two are stored as the texts ``'NaN'`` and ``'NegativeZero'``. (Not
  ``'-0.0'``: a float column converts text that reads as a number to a
  number, and that number is ``0``.)
- Maps, lists and structs are JSON (SQLite ``TEXT``, PostgreSQL ``jsonb``).
  Maps with string keys are JSON objects, other maps lists of ``[key, value]``
  pairs; non-finite and negative-zero floats are the strings ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"`` and ``"-0.0"``; binary is base64; timestamps,
  dates, times and durations are their integer Arrow values.
- SQLite has no date or timestamp type: dates, timestamps, times and durations
  are their integer Arrow values. PostgreSQL uses ``date``, ``timestamp`` and
  ``timestamptz`` for dates and timestamps down to microseconds (nanosecond
  timestamps, times and durations are ``bigint``).
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from orcapod.protocols.errors import DatabaseError, RecordSchemaError

__all__ = [
    "ESCAPE_MARK",
    "SQLITE_NEGATIVE_ZERO",
    "ColumnCodec",
    "column_codec",
    "decode_text",
    "encode_text",
    "python_values",
    "text_needs_escape",
]

ESCAPE_MARK = "\x01"
"""Starts every PostgreSQL string stored escaped (it held NUL or started with this mark)."""

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

Encoder = Callable[[pa.ChunkedArray], list[Any]]
Decoder = Callable[[list[Any]], pa.Array]
JsonConverter = Callable[[Any], Any]


@dataclass(frozen=True)
class ColumnCodec:
    """How one Arrow column is stored in one SQL dialect."""

    arrow_type: pa.DataType
    sql_type: sa.types.TypeEngine[Any]
    encode: Encoder
    decode: Decoder
    is_json: bool = False
    """Stored as JSON text (maps, lists, structs), which matches None (SQL NULL) only."""


# -- strings ---------------------------------------------------------------------------


def encode_text(value: str) -> str:
    """``value`` as PostgreSQL stores it: escaped when it holds NUL or starts with the mark."""
    if "\x00" in value or value.startswith(ESCAPE_MARK):
        return ESCAPE_MARK + value.replace("\\", "\\\\").replace("\x00", "\\0")
    return value


def decode_text(value: str) -> str:
    """The string :func:`encode_text` stored as ``value``."""
    if not value.startswith(ESCAPE_MARK):
        return value
    out: list[str] = []
    chars = iter(value[1:])
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\x00" if following == "0" else following)
        else:
            out.append(char)
    return "".join(out)


def text_needs_escape(array: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any string of ``array`` must be escaped for PostgreSQL (checked in C)."""
    if len(array) == 0 or array.null_count == len(array):
        return False
    has_nul = pc.any(pc.match_substring(array, "\x00")).as_py()
    marked = pc.any(pc.starts_with(array, ESCAPE_MARK)).as_py()
    return bool(has_nul or marked)


def _encode_strings(column: pa.ChunkedArray) -> list[Any]:
    values: list[Any] = column.to_pylist()
    if not text_needs_escape(column):
        return values
    return [None if v is None else encode_text(v) for v in values]


def _decode_strings(values: list[Any]) -> list[Any]:
    if any(v is not None and v.startswith(ESCAPE_MARK) for v in values):
        return [None if v is None else decode_text(v) for v in values]
    return values


# -- floats ----------------------------------------------------------------------------

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0.0": -0.0}

SQLITE_NEGATIVE_ZERO = "NegativeZero"
"""How a SQLite float column stores ``-0.0``: text the column's affinity leaves as text."""

_SQLITE_FLOATS = {"NaN": math.nan, SQLITE_NEGATIVE_ZERO: -0.0}


def _float_to_json(value: float) -> float | str:
    if math.isfinite(value):
        return "-0.0" if value == 0.0 and math.copysign(1.0, value) < 0 else value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float_from_json(value: Any) -> float:
    if isinstance(value, str):
        return _SPECIAL_FLOATS[value]
    return float(value)


def _sqlite_float(value: float | None) -> float | str | None:
    if value is None:
        return None
    if value != value:
        return "NaN"
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return SQLITE_NEGATIVE_ZERO
    return value


def _encode_sqlite_floats(column: pa.ChunkedArray) -> list[Any]:
    values: list[Any] = column.to_pylist()
    special = pc.or_(pc.is_nan(column), pc.and_(pc.equal(column, 0.0), _sign_negative(column)))
    if not pc.any(special).as_py():
        return values
    return [_sqlite_float(v) for v in values]


def _sign_negative(column: pa.ChunkedArray) -> Any:
    """True where a float is negative or negative zero (1/x is -inf for -0.0)."""
    with_inverse = pc.divide(pa.scalar(1.0, column.type), column)
    return pc.less(with_inverse, 0.0)


def _decode_sqlite_floats(values: list[Any]) -> list[Any]:
    if any(isinstance(v, str) for v in values):
        return [_sqlite_float_text(v) if isinstance(v, str) else v for v in values]
    return values


def _sqlite_float_text(text: str) -> float:
    try:
        return _SQLITE_FLOATS[text]
    except KeyError:
        raise DatabaseError(
            f"a SQLite float column holds the text {text!r}, which orcapod never stores there "
            "(only 'NaN' and 'NegativeZero'); another program wrote it: set that cell to a "
            "number or NULL with sqlite3, or delete the row so that it is computed again"
        ) from None


# -- JSON for maps, lists and structs -----------------------------------------------------


def _storage_type(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` with temporal leaves replaced by the integers Arrow stores them as."""
    if pa.types.is_timestamp(arrow_type) or pa.types.is_duration(arrow_type):
        return pa.int64()
    if pa.types.is_date32(arrow_type) or pa.types.is_time32(arrow_type):
        return pa.int32()
    if pa.types.is_date64(arrow_type) or pa.types.is_time64(arrow_type):
        return pa.int64()
    if pa.types.is_map(arrow_type):
        return pa.map_(_storage_field(arrow_type.key_field), _storage_field(arrow_type.item_field))
    if pa.types.is_list(arrow_type):
        return pa.list_(_storage_field(arrow_type.value_field))
    if pa.types.is_large_list(arrow_type):
        return pa.large_list(_storage_field(arrow_type.value_field))
    if pa.types.is_fixed_size_list(arrow_type):
        return pa.list_(_storage_field(arrow_type.value_field), arrow_type.list_size)
    if pa.types.is_struct(arrow_type):
        return pa.struct([_storage_field(field) for field in arrow_type])
    return arrow_type


def _storage_field(field: pa.Field) -> pa.Field:
    return field.with_type(_storage_type(field.type))


def _is_string(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


def _is_binary(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
        or pa.types.is_binary_view(arrow_type)
        or pa.types.is_fixed_size_binary(arrow_type)
    )


def _is_list(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )


def _identity(value: Any) -> Any:
    return value


def _to_json(arrow_type: pa.DataType, escape_text: bool) -> JsonConverter:
    """A converter from a ``to_pylist`` value of (storage) ``arrow_type`` to JSON-able data."""
    if _is_string(arrow_type):
        return encode_text if escape_text else _identity
    if pa.types.is_floating(arrow_type):
        return _float_to_json
    if _is_binary(arrow_type):
        return lambda value: base64.b64encode(value).decode("ascii")
    if pa.types.is_map(arrow_type):
        return _map_to_json(arrow_type, escape_text)
    if _is_list(arrow_type):
        item = _nullable(_to_json(arrow_type.value_type, escape_text))
        return lambda value: [item(v) for v in value]
    if pa.types.is_struct(arrow_type):
        fields = [(f.name, _nullable(_to_json(f.type, escape_text))) for f in arrow_type]
        return lambda value: {name: convert(value[name]) for name, convert in fields}
    return _identity


def _map_to_json(arrow_type: pa.MapType, escape_text: bool) -> JsonConverter:
    key = _to_json(arrow_type.key_type, escape_text)
    item = _nullable(_to_json(arrow_type.item_type, escape_text))
    if not _is_string(arrow_type.key_type):
        return lambda pairs: [[key(k), item(v)] for k, v in pairs]

    def as_object(value: list[tuple[Any, Any]] | dict[str, Any]) -> dict[str, Any]:
        pairs = list(value.items()) if isinstance(value, dict) else value
        converted = {key(k): item(v) for k, v in pairs}
        if len(converted) != len(pairs):
            counts = Counter(k for k, _ in pairs)
            repeated = sorted(k for k, count in counts.items() if count > 1)
            raise RecordSchemaError(
                f"a map holds the key(s) {repeated!r} more than once; a stored map keeps "
                "one value per key, so remove the repeated keys before adding the records"
            )
        return converted

    return as_object


def _needs_walk(arrow_type: pa.DataType) -> bool:
    """Whether JSON of ``arrow_type`` (a storage type) needs converting value by value.

    Strings, integers, booleans and string-keyed maps of them go through
    ``json`` as they are; floats (NaN, infinities, -0.0), binary (base64) and
    maps with other keys (pairs) need the converters.
    """
    if pa.types.is_map(arrow_type):
        return (
            not _is_string(arrow_type.key_type)
            or _needs_walk(arrow_type.key_type)
            or _needs_walk(arrow_type.item_type)
        )
    if _is_list(arrow_type):
        return _needs_walk(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return any(_needs_walk(field.type) for field in arrow_type)
    return pa.types.is_floating(arrow_type) or _is_binary(arrow_type)


def _from_json(arrow_type: pa.DataType, escape_text: bool) -> JsonConverter:
    """The inverse of :func:`_to_json`: JSON data to what ``pa.array`` takes for the type."""
    if _is_string(arrow_type):
        return decode_text if escape_text else _identity
    if pa.types.is_floating(arrow_type):
        return _float_from_json
    if _is_binary(arrow_type):
        return base64.b64decode
    if pa.types.is_integer(arrow_type):
        return int
    if pa.types.is_map(arrow_type):
        key = _nullable(_from_json(arrow_type.key_type, escape_text))
        item = _nullable(_from_json(arrow_type.item_type, escape_text))

        def pairs(value: Any) -> list[tuple[Any, Any]]:
            entries = value.items() if isinstance(value, dict) else value
            return [(key(k), item(v)) for k, v in entries]

        return pairs
    if _is_list(arrow_type):
        element = _nullable(_from_json(arrow_type.value_type, escape_text))
        return lambda value: [element(v) for v in value]
    if pa.types.is_struct(arrow_type):
        fields = [(f.name, _nullable(_from_json(f.type, escape_text))) for f in arrow_type]
        return lambda value: {name: convert(value.get(name)) for name, convert in fields}
    return _identity


def _nullable(convert: JsonConverter) -> JsonConverter:
    if convert is _identity:
        return convert
    return lambda value: None if value is None else convert(value)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON; built once (``json.dumps`` with options builds an encoder per call)."""

_ESCAPED_IN_JSON = ("\\u0000", "\\u0001")
"""NUL and the escape mark as ``json.dumps`` writes them: such values need escaping."""


def python_values(array: pa.Array) -> list[Any]:
    """``array.to_pylist()``, built level by level instead of value by value (much faster).

    Maps with string keys become dicts, other maps lists of ``(key, value)``
    pairs, structs dicts, lists lists.

    Raises:
        RecordSchemaError: a map with string keys holds a key twice.
    """
    arrow_type = array.type
    if (
        pa.types.is_map(arrow_type)
        or pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
    ):
        offsets = array.offsets.to_pylist()
        valid = array.is_valid().to_pylist()
        if pa.types.is_map(arrow_type):
            keys = python_values(array.keys)
            items = python_values(array.items)
            if _is_string(arrow_type.key_type):
                return _dicts(keys, items, offsets, valid)
            pairs = list(zip(keys, items, strict=True))
            return [
                pairs[offsets[n] : offsets[n + 1]] if ok else None for n, ok in enumerate(valid)
            ]
        values = python_values(array.values)
        return [values[offsets[n] : offsets[n + 1]] if ok else None for n, ok in enumerate(valid)]
    if pa.types.is_struct(arrow_type):
        names = [field.name for field in arrow_type]
        columns = [python_values(array.field(n)) for n in range(len(names))]
        valid = array.is_valid().to_pylist()
        rows = zip(*columns, strict=True) if columns else ([] for _ in valid)
        return [
            dict(zip(names, row, strict=True)) if ok else None
            for row, ok in zip(rows, valid, strict=False)
        ]
    leaves: list[Any] = array.to_pylist()
    return leaves


def _dicts(keys: list[Any], items: list[Any], offsets: list[int], valid: list[bool]) -> list[Any]:
    result: list[Any] = []
    for n, ok in enumerate(valid):
        if not ok:
            result.append(None)
            continue
        start, end = offsets[n], offsets[n + 1]
        entry = dict(zip(keys[start:end], items[start:end], strict=True))
        if len(entry) != end - start:
            repeated = sorted(k for k, c in Counter(keys[start:end]).items() if c > 1)
            raise RecordSchemaError(
                f"a map holds the key(s) {repeated!r} more than once; a stored map keeps "
                "one value per key, so remove the repeated keys before adding the records"
            )
        result.append(entry)
    return result


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    values: list[Any] = []
    for chunk in column.chunks:
        values += python_values(chunk)
    return values


def _json_codec(arrow_type: pa.DataType, dialect: str) -> tuple[Encoder, Decoder]:
    """JSON text (SQLite ``TEXT``, PostgreSQL ``jsonb`` read back as text) for nested types."""
    storage = _storage_type(arrow_type)
    escape_text = dialect == POSTGRESQL
    walk = _needs_walk(storage)
    to_json = _nullable(_to_json(storage, escape_text))
    from_json = _nullable(_from_json(storage, escape_text))
    empty_list = None
    if pa.types.is_list(storage) or pa.types.is_large_list(storage):
        empty_list = _dumps(to_json([])) if walk else _dumps([])

    def encode(column: pa.ChunkedArray) -> list[Any]:
        if storage != arrow_type:
            column = column.cast(storage)
        if empty_list is not None and all(len(c.flatten()) == 0 for c in column.chunks):
            # only empty lists (and nulls), such as log rows' Python log records mostly
            # are: one text for all, not one JSON encoding each
            return [empty_list if valid else None for valid in column.is_valid().to_pylist()]
        values = _column_values(column)
        if walk:
            return [None if v is None else _dumps(to_json(v)) for v in values]
        texts: list[Any] = []
        for value in values:
            if value is None:
                texts.append(None)
                continue
            text = _dumps(value)
            if escape_text and any(mark in text for mark in _ESCAPED_IN_JSON):
                text = _dumps(to_json(value))
            texts.append(text)
        return texts

    def decode(values: list[Any]) -> pa.Array:
        joined = "[" + ",".join("null" if v is None else v for v in values) + "]"
        parsed = json.loads(joined)
        if walk or (escape_text and _ESCAPED_IN_JSON[1] in joined):
            parsed = [from_json(value) for value in parsed]
        array = pa.array(parsed, storage)
        return array if storage == arrow_type else array.cast(arrow_type)

    return encode, decode


# -- the codecs ----------------------------------------------------------------------------


def column_codec(name: str, arrow_type: pa.DataType, dialect: str) -> ColumnCodec:
    """The codec of a column ``name`` of ``arrow_type`` in ``dialect`` (sqlite, postgresql).

    Raises:
        RecordSchemaError: the type cannot be stored, naming the column and a cast.
    """
    _check_supported(name, arrow_type)
    if pa.types.is_map(arrow_type) or _is_list(arrow_type) or pa.types.is_struct(arrow_type):
        encode, decode = _json_codec(arrow_type, dialect)
        json_type: sa.types.TypeEngine[Any] = (
            postgresql.JSONB() if dialect == POSTGRESQL else sa.Text()
        )
        return ColumnCodec(arrow_type, json_type, encode, decode, is_json=True)
    sql_type, encode, decode = _scalar_codec(arrow_type, dialect)
    return ColumnCodec(arrow_type, sql_type, encode, decode)


def _plain(arrow_type: pa.DataType) -> Decoder:
    return lambda values: pa.array(values, arrow_type)


def _to_pylist(column: pa.ChunkedArray) -> list[Any]:
    values: list[Any] = column.to_pylist()
    return values


def _scalar_codec(
    arrow_type: pa.DataType, dialect: str
) -> tuple[sa.types.TypeEngine[Any], Encoder, Decoder]:
    postgres = dialect == POSTGRESQL
    if pa.types.is_boolean(arrow_type):
        return sa.Boolean(create_constraint=False), _to_pylist, _plain(arrow_type)
    if pa.types.is_null(arrow_type):
        return sa.Text(), _to_pylist, _plain(arrow_type)
    if pa.types.is_uint64(arrow_type):
        if postgres:
            return sa.Numeric(20, 0), _encode_decimals, _decode_numeric(arrow_type)
        # SQLite integers are signed 64-bit: keep the bits, read them back as unsigned.
        return (
            sa.BigInteger(),
            lambda column: column.combine_chunks().view(pa.int64()).to_pylist(),
            lambda values: pa.array(values, pa.int64()).view(arrow_type),
        )
    if pa.types.is_integer(arrow_type):
        return _integer_type(arrow_type), _to_pylist, _plain(arrow_type)
    if pa.types.is_floating(arrow_type):
        sql_float: sa.types.TypeEngine[Any] = (
            sa.Double() if arrow_type.bit_width == 64 else sa.REAL()
        )
        if postgres:
            return sql_float, _to_pylist, _plain(arrow_type)
        return (
            sql_float,
            _encode_sqlite_floats,
            lambda v: pa.array(_decode_sqlite_floats(v), arrow_type),
        )
    if _is_string(arrow_type):
        if postgres:
            return (
                sa.Text(),
                _encode_strings,
                lambda values: pa.array(_decode_strings(values), arrow_type),
            )
        return sa.Text(), _to_pylist, _plain(arrow_type)
    if _is_binary(arrow_type):
        return sa.LargeBinary(), _to_pylist, _decode_binary(arrow_type)
    return _temporal_codec(arrow_type, postgres)


def _integer_type(arrow_type: pa.DataType) -> sa.types.TypeEngine[Any]:
    signed_bits = arrow_type.bit_width - (0 if pa.types.is_signed_integer(arrow_type) else -1)
    if signed_bits <= 16:
        return sa.SmallInteger()
    if signed_bits <= 32:
        return sa.Integer()
    return sa.BigInteger()


def _encode_decimals(column: pa.ChunkedArray) -> list[Any]:
    # Decimal, not int: SQLAlchemy binds a Python int compared with NUMERIC as BIGINT
    return [None if v is None else Decimal(v) for v in column.to_pylist()]


def _decode_numeric(arrow_type: pa.DataType) -> Decoder:
    return lambda values: pa.array([None if v is None else int(v) for v in values], arrow_type)


def _decode_binary(arrow_type: pa.DataType) -> Decoder:
    # drivers may hand back memoryview (psycopg) or bytes (sqlite3)
    return lambda values: pa.array(
        [v if v is None or isinstance(v, bytes) else bytes(v) for v in values], arrow_type
    )


def _temporal_codec(
    arrow_type: pa.DataType, postgres: bool
) -> tuple[sa.types.TypeEngine[Any], Encoder, Decoder]:
    storage = _storage_type(arrow_type)

    def as_integers(column: pa.ChunkedArray) -> list[Any]:
        values: list[Any] = column.cast(storage).to_pylist()
        return values

    def from_integers(values: list[Any]) -> pa.Array:
        return pa.array(values, storage).cast(arrow_type)

    integer_type = sa.BigInteger() if storage == pa.int64() else sa.Integer()
    if not postgres:
        return integer_type, as_integers, from_integers
    if pa.types.is_date32(arrow_type):
        return sa.Date(), _to_pylist, _plain(arrow_type)
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit != "ns":
        with_zone = arrow_type.tz is not None
        microseconds = pa.timestamp("us", tz=arrow_type.tz)
        origin = _EPOCH_UTC if with_zone else _EPOCH

        def encode(column: pa.ChunkedArray) -> list[Any]:
            # Made from the integers: Arrow makes a zone-aware datetime five times
            # slower (a log or status row has one). The instant is what is stored.
            counts = column.cast(microseconds).cast(pa.int64()).to_pylist()
            return [None if n is None else origin + timedelta(microseconds=n) for n in counts]

        def decode(values: list[Any]) -> pa.Array:
            array = pa.array(values, microseconds)
            return array if microseconds == arrow_type else array.cast(arrow_type)

        return sa.DateTime(timezone=with_zone), encode, decode
    return integer_type, as_integers, from_integers


_EPOCH = datetime(1970, 1, 1)  # naive timestamps stay naive
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def _check_supported(name: str, arrow_type: pa.DataType) -> None:
    """Refuse types this backend cannot store exactly, naming the column and a cast."""
    problem = _unsupported(arrow_type)
    if problem is not None:
        raise RecordSchemaError(
            f"column {name!r} is {arrow_type}, and {problem} cannot be stored in a SQL "
            "database by orcapod; cast it first (e.g. decimals to float64 or large_string, "
            "dictionaries to their value type)"
        )


def _unsupported(arrow_type: pa.DataType) -> pa.DataType | None:
    """The first part of ``arrow_type`` that cannot be stored, or None."""
    if pa.types.is_map(arrow_type):
        return _unsupported(arrow_type.key_type) or _unsupported(arrow_type.item_type)
    if _is_list(arrow_type):
        return _unsupported(arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        for field in arrow_type:
            problem = _unsupported(field.type)
            if problem is not None:
                return problem
        return None
    if pa.types.is_float16(arrow_type):
        return arrow_type
    scalar_kinds = (
        pa.types.is_boolean,
        pa.types.is_null,
        pa.types.is_integer,
        pa.types.is_floating,
        _is_string,
        _is_binary,
        pa.types.is_temporal,
    )
    if any(is_kind(arrow_type) for is_kind in scalar_kinds) and not pa.types.is_interval(
        arrow_type
    ):
        return None
    return arrow_type
