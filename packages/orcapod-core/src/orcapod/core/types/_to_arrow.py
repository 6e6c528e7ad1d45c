"""Python values of a declared type → Arrow arrays, checked strictly and vectorised where possible.

See ``_converter`` for the canonical representation and the rules on
nullability and datetimes.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path, PurePath
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import TypeMismatchError
from orcapod.core.files._digests import prefetch_digests
from orcapod.core.files._values import File
from orcapod.core.types._annotations import (
    NaiveDatetime,
    is_optional,
    normalize_type,
    strip_optional,
    type_name,
)
from orcapod.core.types._converter import (
    DEFAULT_ZONE,
    SIMPLE_ARROW_TYPES,
    arrow_field_of,
    arrow_type_of,
)
from orcapod.core.types._logical import LogicalType, logical_type_of

__all__ = ["column_to_arrow", "to_arrow_array", "value_checker"]

# The exact Python classes a simple column may hold without a per-value check.
_EXACT_KINDS: dict[Any, set[type]] = {
    int: {int, type(None)},
    float: {float, int, type(None)},
    bool: {bool, type(None)},
    str: {str, type(None)},
    bytes: {bytes, type(None)},
}


def to_arrow_array(values: Sequence[Any], tp: Any, *, column: str = "values") -> pa.Array:
    """Convert Python values of a declared type to an Arrow array of its canonical type.

    Args:
        values: The values of one column.
        tp: Their declared type.
        column: The column name, for error messages.

    Raises:
        UnsupportedTypeError: ``tp`` is not supported.
        TypeMismatchError: a value does not match ``tp``; the message names the
            column, the row and the value.
    """
    return column_to_arrow(values, tp, column=column)[0]


def value_checker(tp: Any) -> typing.Callable[[Any], bool]:
    """A test of one value against ``tp``: True if it converts exactly as a value of ``tp``.

    For checking values one at a time as they are produced (a function's
    outputs, say) before converting many at once. Values of the exact simple
    classes pass without a call; anything else gets the full check.

    Raises:
        UnsupportedTypeError: ``tp`` is not supported.
    """
    tp = normalize_type(tp)
    bare = strip_optional(tp)

    def full(value: Any) -> bool:
        try:
            _check_value(value, tp, _ZoneOfColumn("value"), "value", 0, "")
        except TypeMismatchError:
            return False
        return True

    simple = next((kinds for kind, kinds in _EXACT_KINDS.items() if bare is kind), None)
    if simple is None:
        return full
    exact = frozenset(simple if is_optional(tp) else simple - {type(None)})
    if bare is int:  # an int must also fit in 64 bits
        low, high = -(2**63), 2**63
        return lambda value: (type(value) is int and low <= value < high) or full(value)
    return lambda value: type(value) in exact or full(value)


def column_to_arrow(
    values: Sequence[Any], tp: Any, *, column: str
) -> tuple[pa.Array | pa.ChunkedArray, pa.Field]:
    """Convert one column of Python values to an Arrow array and the field describing it.

    Raises:
        UnsupportedTypeError: ``tp`` is not supported.
        TypeMismatchError: a value does not match ``tp``.
    """
    tp = normalize_type(tp, where=f"column {column!r}")
    bare = strip_optional(tp)
    if any(bare is simple for simple in _EXACT_KINDS):
        array = _simple_column(values, tp, column)
        zone = DEFAULT_ZONE
    else:
        if bare is File:
            prefetch_digests(values)
        checked, zone = _checked_values(values, tp, column)
        array = _to_array(checked, arrow_type_of(tp, zone), tp, column)
    return array, arrow_field_of(column, tp, zone)


def _checked_values(values: Sequence[Any], tp: Any, column: str) -> tuple[list[Any], str]:
    """The values checked against ``tp`` and normalised for ``pa.array``, and their zone.

    A checker compiled for the type runs first; only when it rejects a value
    does the slower checker run, which names the row and position (or accepts
    what the fast one is too strict for, such as a subclass of ``list``).
    """
    zones = _ZoneOfColumn(column)
    check = _fast_checker(tp, zones)
    try:
        if isinstance(check, frozenset):
            if not set(map(type, values)) <= check:
                raise _Rejected
            checked = list(values)
        else:
            checked = [check(value) for value in values]
    except (_Rejected, TypeMismatchError):
        zones = _ZoneOfColumn(column)
        checked = [
            _check_value(value, tp, zones, column, row, "") for row, value in enumerate(values)
        ]
    return checked, zones.zone or DEFAULT_ZONE


class _Rejected(Exception):
    """A fast checker found a value it does not accept as it is."""


_NONE_TYPE = type(None)
_LEAF_KINDS: dict[Any, frozenset[type]] = {
    int: frozenset({int}),
    float: frozenset({float, int}),
    bool: frozenset({bool}),
    str: frozenset({str}),
    bytes: frozenset({bytes}),
    date: frozenset({date}),
}
_STR_KEYS = frozenset({str})

_Checker = typing.Callable[[Any], Any] | frozenset[type]


def _fast_checker(tp: Any, zones: _ZoneOfColumn) -> _Checker:
    """A function accepting (and normalising) exactly-typed values of ``tp``, else raising.

    Returns the set of exact classes instead when values of ``tp`` need no
    normalisation, so containers of them are checked in C with ``set(map(type, ...))``.
    """
    bare = strip_optional(tp)
    inner = _fast_checker_of_bare(bare, zones)
    if not is_optional(tp):
        return inner
    if isinstance(inner, frozenset):
        return inner | {_NONE_TYPE}
    return lambda value: None if value is None else inner(value)


def _fast_checker_of_bare(bare: Any, zones: _ZoneOfColumn) -> _Checker:
    for leaf, kinds in _LEAF_KINDS.items():
        if bare is leaf:
            return kinds
    origin = typing.get_origin(bare)
    if origin is list:
        return _fast_list_checker(_fast_checker(typing.get_args(bare)[0], zones))
    if origin is dict:
        return _fast_dict_checker(_fast_checker(typing.get_args(bare)[1], zones))
    if bare is Path:
        return lambda value: str(value) if type(value) is type(_A_PATH) else _reject()
    if bare is NaiveDatetime:
        return lambda value: (
            value if type(value) is datetime and value.tzinfo is None else _reject()
        )
    logical = logical_type_of(bare) if isinstance(bare, type) and bare is not datetime else None
    if logical is not None:
        return _fast_logical_checker(logical)

    def check_aware(value: Any) -> Any:
        if type(value) is not datetime or value.tzinfo is None or value.utcoffset() is None:
            raise _Rejected
        zones.see(value, 0, "")
        return value

    return check_aware


def _fast_logical_checker(logical: LogicalType) -> typing.Callable[[Any], Any]:
    kind, to_storage = logical.python_class, logical.to_storage

    def check_logical(value: Any) -> Any:
        if type(value) is not kind:
            raise _Rejected
        try:
            return to_storage(value)
        except (TypeError, ValueError, OSError) as error:
            raise _Rejected from error

    return check_logical


def _fast_list_checker(item: _Checker) -> typing.Callable[[Any], Any]:
    if isinstance(item, frozenset):

        def check_list_of_leaves(value: Any) -> Any:
            if type(value) is not list or not set(map(type, value)) <= item:
                raise _Rejected
            return value

        return check_list_of_leaves

    def check_list(value: Any) -> Any:
        if type(value) is not list:
            raise _Rejected
        return [item(v) for v in value]

    return check_list


def _fast_dict_checker(item: _Checker) -> typing.Callable[[Any], Any]:
    if isinstance(item, frozenset):

        def check_dict_of_leaves(value: Any) -> Any:
            if (
                type(value) is not dict
                or not set(map(type, value)) <= _STR_KEYS
                or not set(map(type, value.values())) <= item
            ):
                raise _Rejected
            return value

        return check_dict_of_leaves

    def check_dict(value: Any) -> Any:
        if type(value) is not dict or not set(map(type, value)) <= _STR_KEYS:
            raise _Rejected
        return {k: item(v) for k, v in value.items()}

    return check_dict


def _reject() -> typing.NoReturn:
    raise _Rejected


_A_PATH = Path()


_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError)


def _to_array(values: Sequence[Any], arrow: pa.DataType, tp: Any, column: str) -> pa.Array:
    """``pa.array(values, type=arrow)`` of checked values; a failure names the first bad row."""
    try:
        return pa.array(values, type=arrow, from_pandas=False)
    except _CONVERSION_ERRORS as error:
        row = next(row for row, value in enumerate(values) if not _converts(value, arrow))
        why = "text must be valid UTF-8" if isinstance(error, UnicodeEncodeError) else str(error)
        raise TypeMismatchError(
            f"column {column!r} row {row}: {values[row]!r} cannot be stored as "
            f"{type_name(tp)} ({why}). Fix the value."
        ) from error


def _converts(value: Any, arrow: pa.DataType) -> bool:
    try:
        pa.array([value], type=arrow, from_pandas=False)
    except _CONVERSION_ERRORS:
        return False
    return True


def _simple_column(values: Sequence[Any], tp: Any, column: str) -> pa.Array | pa.ChunkedArray:
    bare = strip_optional(tp)
    # set(map(type, ...)) runs in C; only an unexpected kind costs a Python scan.
    if not set(map(type, values)) <= _EXACT_KINDS[bare]:
        _check_each(values, tp, column)
    try:
        array = pa.array(values, type=SIMPLE_ARROW_TYPES[bare], from_pandas=False)
    except _CONVERSION_ERRORS:
        _check_each(values, tp, column)
        array = _to_array(values, SIMPLE_ARROW_TYPES[bare], tp, column)
    if array.null_count and not is_optional(tp):
        row = pc.index(array.is_null(), True).as_py()
        raise _mismatch(column, row, "", None, tp)
    return array


def _check_each(values: Sequence[Any], tp: Any, column: str) -> None:
    zones = _ZoneOfColumn(column)
    for row, value in enumerate(values):
        _check_value(value, tp, zones, column, row, "")


class _ZoneOfColumn:
    """The one timezone shared by the aware datetimes of a column."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.zone: str | None = None
        self.first: tuple[int, str, datetime] | None = None

    def see(self, value: datetime, row: int, where: str) -> None:
        zone = _zone_name(value, self.column, row, where)
        if self.zone is None:
            self.zone = zone
            self.first = (row, where, value)
        elif zone != self.zone and self.first is not None:
            first_row, first_where, first_value = self.first
            raise TypeMismatchError(
                f"column {self.column!r} row {row}{where}: datetime {value!r} is in zone "
                f"{zone!r} but row {first_row}{first_where} ({first_value!r}) is in zone "
                f"{self.zone!r}; an Arrow timestamp column has one zone. Convert the values "
                f"to one zone first, e.g. value.astimezone(ZoneInfo({self.zone!r}))."
            )


def _zone_name(value: datetime, column: str, row: int, where: str) -> str:
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key is not None:
        return tz.key
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        if offset == timedelta(0):
            return "UTC"
        minutes, rest = divmod(offset, timedelta(minutes=1))
        if not rest:
            sign = "+" if minutes >= 0 else "-"
            hours, minutes = divmod(abs(minutes), 60)
            return f"{sign}{hours:02d}:{minutes:02d}"
    raise TypeMismatchError(
        f"column {column!r} row {row}{where}: datetime {value!r} has tzinfo {tz!r}, which "
        "cannot be stored; use a zoneinfo.ZoneInfo zone or a datetime.timezone with a "
        "whole-minute offset."
    )


def _check_value(
    value: Any, tp: Any, zones: _ZoneOfColumn, column: str, row: int, where: str
) -> Any:
    """Check one value against its type and return it in the form ``pa.array`` expects."""
    if value is None:
        if is_optional(tp):
            return None
        raise _mismatch(column, row, where, value, tp)
    bare = strip_optional(tp)
    origin = typing.get_origin(bare)
    if origin is list:
        if not isinstance(value, list):
            raise _mismatch(column, row, where, value, tp)
        item = typing.get_args(bare)[0]
        return [
            _check_value(v, item, zones, column, row, f"{where}[{i}]") for i, v in enumerate(value)
        ]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _mismatch(column, row, where, value, tp)
        item = typing.get_args(bare)[1]
        checked: dict[str, Any] = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeMismatchError(
                    f"column {column!r} row {row}{where}: key {key!r} of type "
                    f"{type(key).__name__} is not a str; {type_name(bare)} needs str keys."
                )
            checked[key] = _check_value(v, item, zones, column, row, f"{where}[{key!r}]")
        return checked
    return _check_scalar(value, bare, zones, column, row, where)


def _check_scalar(
    value: Any, tp: Any, zones: _ZoneOfColumn, column: str, row: int, where: str
) -> Any:
    if tp is datetime or tp is NaiveDatetime:
        if not isinstance(value, datetime):
            raise _mismatch(column, row, where, value, tp)
        if tp is NaiveDatetime and value.tzinfo is not None:
            raise _mismatch(column, row, where, value, tp, "it has a timezone; declare datetime")
        if tp is datetime:
            if value.tzinfo is None or value.utcoffset() is None:
                raise _mismatch(
                    column,
                    row,
                    where,
                    value,
                    tp,
                    "it is naive; attach a tzinfo or declare NaiveDatetime",
                )
            zones.see(value, row, where)
        return value
    if tp is Path:
        if not isinstance(value, PurePath):
            raise _mismatch(column, row, where, value, tp)
        return str(value)
    logical = logical_type_of(tp) if isinstance(tp, type) and tp is not datetime else None
    if logical is not None:
        if not isinstance(value, tp):
            hint = ""
            if isinstance(value, str | PurePath) and tp.__name__ in ("File", "Directory"):
                hint = f"wrap the path: {tp.__name__}({str(value)!r})"
            raise _mismatch(column, row, where, value, tp, hint)
        try:
            return logical.to_storage(value)
        except (TypeError, ValueError, OSError) as error:
            raise _mismatch(column, row, where, value, tp, str(error)) from None
    if tp is date:
        ok = isinstance(value, date) and not isinstance(value, datetime)
    elif tp is float:
        ok = isinstance(value, (float, int)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and not -(2**63) <= value < 2**63:
            raise _mismatch(column, row, where, value, tp, "it does not fit in 64 bits")
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise _mismatch(column, row, where, value, tp)
    return value


def _mismatch(
    column: str, row: int, where: str, value: Any, tp: Any, why: str = ""
) -> TypeMismatchError:
    got = "None" if value is None else f"{type(value).__name__} {value!r}"
    reason = f" ({why})" if why else ""
    return TypeMismatchError(
        f"column {column!r} row {row}{where}: expected {type_name(tp)}, got {got}{reason}. "
        "Fix the value or declare the column with a type that allows it."
    )
