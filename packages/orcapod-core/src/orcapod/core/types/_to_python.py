"""Arrow arrays → Python values, exactly: maps as dicts, paths as Paths, datetimes in their zone."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from orcapod.core.errors import TypeMismatchError
from orcapod.core.types._annotations import (
    NaiveDatetime,
    leaf_type,
    normalize_type,
    optional,
    strip_optional,
    type_name,
)
from orcapod.core.types._converter import DEFAULT_ZONE, arrow_type_of, python_type
from orcapod.core.types._logical import logical_type_of

__all__ = ["to_pylist"]


def to_pylist(array: pa.Array | pa.ChunkedArray, tp: Any | None = None) -> list[Any]:
    """Convert an Arrow array to Python values of its (or the given) type, exactly.

    Maps become ``dict`` (also nested), ``Path`` columns ``Path`` objects,
    aware timestamps datetimes in the column's own zone.

    Args:
        array: The array.
        tp: The Python type of the values; by default the type of ``array``'s
            data type (pass it for ``Path`` columns, whose marker is on the field).

    Raises:
        UnsupportedTypeError: the array's type has no orcapod equivalent.
        TypeMismatchError: the array cannot be read as ``tp``.
    """
    if tp is None:
        tp = python_type(array.type)
        tp = optional(tp) if array.null_count else tp
    tp = normalize_type(tp)
    zone = _leaf_zone(array.type)
    _check_awareness(array.type, tp)
    target = arrow_type_of(tp, zone or DEFAULT_ZONE)
    if not array.type.equals(target):
        try:
            array = array.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise TypeMismatchError(
                f"Arrow values of type {array.type} cannot be read as {type_name(tp)}: {error}. "
                "Read them with the type of their Arrow schema (Schema.from_arrow)."
            ) from error
    values: list[Any] = array.to_pylist(maps_as_pydicts="strict")
    leaf = leaf_type(tp)
    if leaf is Path or leaf is datetime or _is_logical(leaf):
        tz = _tzinfo(zone or DEFAULT_ZONE)
        return [_restore(value, tp, tz) for value in values]
    return values


def _leaf_arrow_type(arrow: pa.DataType) -> pa.DataType:
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return _leaf_arrow_type(arrow.value_type)
    if pa.types.is_map(arrow):
        return _leaf_arrow_type(arrow.item_type)
    return arrow


def _leaf_zone(arrow: pa.DataType) -> str | None:
    leaf = _leaf_arrow_type(arrow)
    return typing.cast("str | None", leaf.tz) if pa.types.is_timestamp(leaf) else None


def _check_awareness(arrow: pa.DataType, tp: Any) -> None:
    """Refuse to read zoned timestamps as naive ones or the reverse (a cast would shift them)."""
    leaf = _leaf_arrow_type(arrow)
    wanted = leaf_type(tp)
    if not pa.types.is_timestamp(leaf) or (wanted is not datetime and wanted is not NaiveDatetime):
        return
    if (leaf.tz is None) == (wanted is NaiveDatetime):
        return
    raise TypeMismatchError(
        f"Arrow timestamps of type {arrow} cannot be read as {type_name(tp)}: one has a "
        "timezone and the other has none. Declare datetime for timestamps with a zone and "
        "NaiveDatetime for timestamps without."
    )


def _tzinfo(zone: str) -> tzinfo:
    if zone == "UTC":
        return UTC
    if zone[:1] in "+-" and len(zone) == 6 and zone[3] == ":":
        sign = -1 if zone[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return ZoneInfo(zone)


def _restore(value: Any, tp: Any, tz: tzinfo) -> Any:
    if value is None:
        return None
    bare = strip_optional(tp)
    origin = typing.get_origin(bare)
    if origin is list:
        item = typing.get_args(bare)[0]
        return [_restore(v, item, tz) for v in value]
    if origin is dict:
        item = typing.get_args(bare)[1]
        return {k: _restore(v, item, tz) for k, v in value.items()}
    if bare is Path:
        return Path(value)
    if bare is datetime:
        return value.astimezone(tz)
    logical = logical_type_of(bare) if isinstance(bare, type) else None
    if logical is not None:
        return logical.from_storage(value)
    return value


def _is_logical(tp: Any) -> bool:
    return isinstance(tp, type) and tp is not datetime and logical_type_of(tp) is not None
