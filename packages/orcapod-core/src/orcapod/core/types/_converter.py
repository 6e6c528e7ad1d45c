"""The one converter between Python types/values and Arrow types/arrays.

Canonical Arrow representation of each supported type:

=========================  ==================================================
Python                     Arrow
=========================  ==================================================
``int``                    ``int64``
``float``                  ``float64`` (int values are accepted and widened)
``bool``                   ``bool_`` (never mixed with ``int``)
``str``                    ``large_string``
``bytes``                  ``large_binary``
``datetime``               ``timestamp("us", tz=ZONE)``: timezone-aware
``NaiveDatetime``          ``timestamp("us")``: no timezone
``date``                   ``date32``
``pathlib.Path``           ``large_string`` whose field carries the metadata
                           ``{b"orcapod.logical_type": b"path"}``
``File``, ``Directory``    ``struct<path: large_string, digest: large_string>``
                           with the metadata ``{b"orcapod.logical_type":
                           b"file"}`` (or ``b"directory"``) and
                           ``{b"orcapod.identity": b"digest"}``: only the
                           digest identifies the value
other logical types        their ``storage_type``, named in the metadata
                           (see ``_logical``)
``list[T]``                ``large_list(T)``, item field named ``item``
``dict[str, T]``           ``map_(large_string, T)``: non-null keys, value
                           field named ``value``
``T | None``               the field of ``T``, marked nullable
=========================  ==================================================

Nullability: a plain ``T`` is a non-nullable field, ``T | None`` a nullable
one, at every level: ``list[int]`` has a non-nullable item field and
``list[int | None]`` a nullable one, so nested optionality round-trips too.
A ``None`` where the type does not allow it is a :class:`TypeMismatchError`.

Datetimes: a bare ``datetime`` annotation means *timezone-aware*; naive
datetimes need the :data:`NaiveDatetime` annotation (inference picks it for
naive values). An Arrow timestamp column has one zone, so a column's zone is
taken from its values: all aware datetimes of one column must share one zone
(a ``zoneinfo.ZoneInfo`` key such as ``"Europe/Berlin"``, ``datetime.UTC``
stored as ``"UTC"``, or a fixed ``datetime.timezone`` offset stored as
``"+01:00"``); mixing zones in a column is an error, because the round trip
would not give the values back in their own zones. A column with no values
uses ``"UTC"``, as does :meth:`Schema.to_arrow`. Reading back, ``"UTC"``
becomes ``datetime.UTC``, ``"+HH:MM"`` a ``datetime.timezone`` and any other
zone name a ``ZoneInfo`` (so ``ZoneInfo("UTC")`` comes back as the equal
``datetime.UTC``). Nonexistent local times (in a DST gap) are stored as the
instant their UTC offset gives.

Reading Arrow, the non-canonical relatives map to the same Python types:
``string``/``large_string``/``string_view`` → ``str``, ``binary``/
``large_binary``/``binary_view``/``fixed_size_binary`` → ``bytes``, every
signed or unsigned integer → ``int``, ``float16/32/64`` → ``float``,
``list``/``large_list`` → ``list[T]``, ``map`` with string keys →
``dict[str, T]``, any timestamp → ``datetime`` (with zone) or
``NaiveDatetime`` (without), ``date32``/``date64`` → ``date``. Such columns
are cast to the canonical type before their values are read.

Simple columns (``int``, ``float``, ``bool``, ``str``, ``bytes``) convert
without a per-value Python loop: the set of the values' classes is taken in
C (``set(map(type, values))``), checked against the declared type, and the
values go to ``pa.array(values, type=...)`` in one call. Only when a value's
class is unexpected are the values scanned in Python, to name the first
offending row (Arrow's own typed conversion would silently turn ``1.5`` into
``1`` or ``True`` into ``1.0``). Other columns are checked and normalised
value by value (``Path`` → ``str``, zone collection for datetimes).
"""

from __future__ import annotations

import typing
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from orcapod.core.errors import UnsupportedTypeError
from orcapod.core.types._annotations import (
    NaiveDatetime,
    is_optional,
    normalize_type,
    optional,
    strip_optional,
)
from orcapod.core.types._logical import logical_type_named, logical_type_of
from orcapod.protocols.logical_types import LOGICAL_TYPE_KEY

__all__ = [
    "DEFAULT_ZONE",
    "LOGICAL_TYPE_KEY",
    "PATH_LOGICAL_TYPE",
    "SIMPLE_ARROW_TYPES",
    "arrow_field",
    "arrow_field_of",
    "arrow_type",
    "arrow_type_of",
    "python_type",
    "python_type_of_field",
]

PATH_LOGICAL_TYPE = b"path"
_PATH_METADATA = {LOGICAL_TYPE_KEY: PATH_LOGICAL_TYPE}
DEFAULT_ZONE = "UTC"

SIMPLE_ARROW_TYPES: dict[Any, pa.DataType] = {
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    str: pa.large_string(),
    bytes: pa.large_binary(),
    date: pa.date32(),
    Path: pa.large_string(),
    NaiveDatetime: pa.timestamp("us"),
}


def arrow_type(tp: Any, *, zone: str = DEFAULT_ZONE) -> pa.DataType:
    """The canonical Arrow type of a Python type annotation.

    Args:
        tp: A supported annotation (normalised or not).
        zone: The timezone of timestamps of ``datetime`` (timezone-aware) values.

    Raises:
        UnsupportedTypeError: ``tp`` is not supported.
    """
    return arrow_type_of(normalize_type(tp), zone)


def arrow_field(name: str, tp: Any, *, zone: str = DEFAULT_ZONE) -> pa.Field:
    """The Arrow field of a column: canonical type, nullability and ``Path`` metadata.

    Raises:
        UnsupportedTypeError: ``tp`` is not supported.
    """
    return arrow_field_of(name, normalize_type(tp, where=f"column {name!r}"), zone)


def arrow_field_of(name: str, tp: Any, zone: str) -> pa.Field:
    """``arrow_field`` of a normalised type."""
    bare = strip_optional(tp)
    metadata: dict[bytes, bytes] | None = _PATH_METADATA if bare is Path else None
    if metadata is None and isinstance(bare, type):
        logical = logical_type_of(bare)
        if logical is not None:
            metadata = logical.field_metadata()
    return pa.field(name, arrow_type_of(bare, zone), nullable=is_optional(tp), metadata=metadata)


def arrow_type_of(tp: Any, zone: str) -> pa.DataType:
    """``arrow_type`` of a normalised type."""
    tp = strip_optional(tp)
    for scalar, arrow in SIMPLE_ARROW_TYPES.items():
        if tp is scalar:
            return arrow
    if tp is datetime:
        return pa.timestamp("us", tz=zone)
    if isinstance(tp, type):
        logical = logical_type_of(tp)
        if logical is not None:
            return logical.storage_type
    args = typing.get_args(tp)
    if typing.get_origin(tp) is list:
        return pa.large_list(arrow_field_of("item", args[0], zone))
    key = pa.field("key", pa.large_string(), nullable=False)
    return pa.map_(key, arrow_field_of("value", args[1], zone))


def python_type(arrow: pa.Field | pa.DataType) -> Any:
    """The Python type annotation of an Arrow field or type.

    A field gives ``T | None`` when it is nullable and ``Path`` when it carries
    the path metadata; a bare data type has neither, so it gives a plain ``T``.

    Raises:
        UnsupportedTypeError: the Arrow type has no orcapod equivalent.
    """
    if isinstance(arrow, pa.Field):
        return python_type_of_field(arrow)
    return _python_type(arrow, is_path=False)


def python_type_of_field(field: pa.Field) -> Any:
    """``python_type`` of a field."""
    metadata = field.metadata or {}
    name = metadata.get(LOGICAL_TYPE_KEY)
    if name is not None and name != PATH_LOGICAL_TYPE:
        tp = _logical_class_named(name.decode(errors="replace"), field)
    else:
        tp = _python_type(field.type, is_path=name == PATH_LOGICAL_TYPE)
    return optional(tp) if field.nullable else tp


def _logical_class_named(name: str, field: pa.Field) -> Any:
    logical = logical_type_named(name)
    if logical is None:
        raise UnsupportedTypeError(
            f"column {field.name!r} holds values of logical type {name!r}, which no installed "
            "plugin provides; install the distribution that registers it"
        )
    return logical.python_class


def _python_type(arrow: pa.DataType, *, is_path: bool) -> Any:
    types = pa.types
    if types.is_string(arrow) or types.is_large_string(arrow) or types.is_string_view(arrow):
        return Path if is_path else str
    simple: list[tuple[Any, Any]] = [
        (types.is_boolean, bool),
        (types.is_integer, int),
        (types.is_floating, float),
        (types.is_date, date),
        (types.is_binary, bytes),
        (types.is_large_binary, bytes),
        (types.is_binary_view, bytes),
        (types.is_fixed_size_binary, bytes),
    ]
    for test, tp in simple:
        if test(arrow):
            return tp
    if types.is_timestamp(arrow):
        return datetime if arrow.tz is not None else NaiveDatetime
    if types.is_list(arrow) or types.is_large_list(arrow):
        return list[python_type_of_field(arrow.value_field)]  # type: ignore[misc]
    if types.is_map(arrow):
        key = arrow.key_type
        if types.is_string(key) or types.is_large_string(key) or types.is_string_view(key):
            return dict[str, python_type_of_field(arrow.item_field)]  # type: ignore[misc]
    raise UnsupportedTypeError(
        f"Arrow type {arrow} has no orcapod equivalent. Supported Arrow types: strings, "
        "binaries, integers, floats, bool, timestamps, date32/date64, list/large_list "
        "and maps with string keys of these; cast the column to one of them."
    )
