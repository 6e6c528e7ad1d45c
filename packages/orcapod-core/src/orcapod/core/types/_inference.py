"""Inferring column types from Python values (for sources built from plain data).

Rules: ``None`` makes a column ``T | None``; ``bool`` is never ``int``; a
column mixing ``int`` and ``float`` is ``float`` (ints are widened on
conversion, as Python's numeric tower allows); any other mix is an error
naming the column, the first offending row and the row that set the type.
Aware datetimes give ``datetime``, naive ones ``NaiveDatetime``. The items
of lists and the values of dicts are inferred the same way across all rows;
dict keys must be str. A column (or item position) with no non-``None``
value is uninferable: declare its type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any

from orcapod.core.errors import TypeInferenceError
from orcapod.core.types._annotations import NaiveDatetime, optional, type_name
from orcapod.core.types._logical import logical_type_of
from orcapod.core.types._schema import Schema

__all__ = ["infer_schema", "infer_type"]

_SIMPLE: dict[type, Any] = {int: int, float: float, bool: bool, str: str, bytes: bytes, date: date}


class _Shape:
    """What the values seen so far at one position of a column say its type is."""

    __slots__ = ("item", "kind", "nullable", "seen_at")

    def __init__(self) -> None:
        self.kind: Any = None  # a scalar type, list or dict; None until a value is seen
        self.item: _Shape | None = None
        self.nullable = False
        self.seen_at = ""

    def to_type(self, column: str, where: str) -> Any:
        if self.kind is None:
            raise TypeInferenceError(
                f"column {column!r}: cannot infer the type of {where or 'its values'}: there "
                "are only None values or empty containers. Declare the column's type."
            )
        if self.kind is list or self.kind is dict:
            assert self.item is not None
            inner = self.item.to_type(column, f"the items of its {self.kind.__name__}s")
            tp: Any = list[inner] if self.kind is list else dict[str, inner]  # type: ignore[valid-type]
        else:
            tp = self.kind
        return optional(tp) if self.nullable else tp


def _kind_of(value: Any) -> Any:
    simple = _SIMPLE.get(type(value))
    if simple is not None:
        return simple
    if isinstance(value, bool):
        return bool
    if isinstance(value, datetime):
        return datetime if value.tzinfo is not None else NaiveDatetime
    for kind in (int, float, str, bytes, date, list, dict):
        if isinstance(value, kind):
            return kind
    if isinstance(value, PurePath):
        return Path
    if isinstance(value, Mapping):
        return dict
    logical = logical_type_of(type(value))
    return None if logical is None else logical.python_class


def _see(shape: _Shape, value: Any, column: str, where: str) -> None:
    if value is None:
        shape.nullable = True
        return
    kind = _kind_of(value)
    if kind is None:
        raise TypeInferenceError(
            f"column {column!r} {where}: value {value!r} of type {type(value).__name__} is not "
            "of a supported type (int, float, bool, str, bytes, datetime, date, Path, File, "
            "Directory, list, dict with str keys); convert it."
        )
    _unify(shape, kind, value, column, where)
    if kind is list:
        for i, item in enumerate(value):
            _see(shape.item, item, column, f"{where}[{i}]")  # type: ignore[arg-type]
    elif kind is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeInferenceError(
                    f"column {column!r} {where}: dict key {key!r} is of type {type(key).__name__}; "
                    "dict keys must be str."
                )
            _see(shape.item, item, column, f"{where}[{key!r}]")  # type: ignore[arg-type]


def _unify(shape: _Shape, kind: Any, value: Any, column: str, where: str) -> None:
    if shape.kind is None:
        shape.kind = kind
        shape.seen_at = where
        if kind is list or kind is dict:
            shape.item = _Shape()
        return
    if shape.kind is kind:
        return
    if {shape.kind, kind} == {int, float}:
        shape.kind = float
        return
    raise TypeInferenceError(
        f"column {column!r} {where}: value {value!r} is {_kind_name(kind)} but {shape.seen_at} "
        f"was {_kind_name(shape.kind)}; a column holds one type. Convert the values or "
        "declare the column's type."
    )


def _kind_name(kind: Any) -> str:
    name = kind.__name__ if kind is list or kind is dict else type_name(kind)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def infer_type(values: Iterable[Any], *, column: str) -> Any:
    """Infer the type of a column from its values.

    Args:
        values: The column's values.
        column: The column name, for error messages.

    Raises:
        TypeInferenceError: the values mix types, are of an unsupported type,
            or are all ``None`` (or empty containers).
    """
    values = values if isinstance(values, Sequence) else list(values)
    fast = _infer_simple(values)
    if fast is not None:
        return fast
    shape = _Shape()
    for row, value in enumerate(values):
        _see(shape, value, column, f"row {row}")
    return shape.to_type(column, "")


def _infer_simple(values: Sequence[Any]) -> Any:
    """The type of a column of one simple type (plus None), without a per-value branch."""
    kinds = set(map(type, values))
    nullable = type(None) in kinds
    kinds.discard(type(None))
    if kinds == {int, float}:
        kinds = {float}
    if len(kinds) != 1:
        return None
    tp = _SIMPLE.get(kinds.pop())
    if tp is None:
        return None
    return optional(tp) if nullable else tp


def infer_schema(rows: Sequence[Mapping[str, Any]]) -> Schema:
    """Infer a schema from rows (mappings of column name → value).

    Columns are ordered as they first appear. Every row must have every column.

    Raises:
        TypeInferenceError: a column's type cannot be inferred, or a row lacks
            a column; names the column and row.
    """
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    for index, row in enumerate(rows):
        if len(row) != len(names):
            missing = [name for name in names if name not in row]
            raise TypeInferenceError(
                f"row {index} has no value for columns {missing}; give every row every "
                "column (None for a missing value)."
            )
    return Schema([(name, infer_type([row[name] for row in rows], column=name)) for name in names])
