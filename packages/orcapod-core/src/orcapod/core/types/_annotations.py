"""The supported Python type annotations: validation, normal form and names."""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from pathlib import Path
from typing import Any, NewType, Union

from orcapod.core.errors import UnsupportedTypeError

__all__ = [
    "SUPPORTED_TYPES",
    "NaiveDatetime",
    "is_optional",
    "leaf_type",
    "normalize_type",
    "optional",
    "strip_optional",
    "type_name",
]

_UNION: Any = Union
NaiveDatetime = NewType("NaiveDatetime", datetime)
"""Annotation for a datetime *without* a timezone (a wall-clock time).

A plain ``datetime`` annotation means a timezone-aware datetime; values of a
``NaiveDatetime`` column are ordinary ``datetime`` objects whose ``tzinfo``
is ``None``.
"""

SCALAR_TYPES: tuple[Any, ...] = (int, float, bool, str, bytes, datetime, NaiveDatetime, date, Path)

SUPPORTED_TYPES = (
    "int, float, bool, str, bytes, datetime.datetime (timezone-aware), "
    "orcapod.core.types.NaiveDatetime (no timezone), datetime.date, pathlib.Path, "
    "orcapod.core.File, orcapod.core.Directory, numpy.ndarray, frozen dataclasses of these, "
    "list[T], dict[str, T], T | None (Optional[T]) and their nested combinations"
)

_NAMES: dict[Any, str] = {
    int: "int",
    float: "float",
    bool: "bool",
    str: "str",
    bytes: "bytes",
    datetime: "datetime",
    NaiveDatetime: "NaiveDatetime",
    date: "date",
    Path: "Path",
}


def _is_scalar(tp: Any) -> bool:
    return any(tp is scalar for scalar in SCALAR_TYPES)


def normalize_type(tp: Any, *, where: str = "") -> Any:
    """Validate an annotation and return its normal form.

    ``Optional[T]``, ``Union[T, None]`` and ``T | None`` all become
    ``typing.Optional[T]``; ``typing.List``/``typing.Dict`` become ``list``/``dict``.

    Args:
        tp: The annotation.
        where: What is being declared, for the error message (e.g. ``"column 'x'"``).

    Raises:
        UnsupportedTypeError: ``tp`` (or a type nested in it) is not supported.
    """
    return _normalize(tp, tp, where)


def _normalize(tp: Any, whole: Any, where: str) -> Any:
    if _is_scalar(tp):
        return tp
    logical = _logical_class(tp)
    if logical is not None:
        return logical
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        present = [arg for arg in args if arg is not type(None)]
        if len(present) == 1 and len(present) < len(args):
            return optional(_normalize(present[0], whole, where))
    elif origin is list and len(args) == 1:
        return list[_normalize(args[0], whole, where)]  # type: ignore[misc]
    elif origin is dict and len(args) == 2 and args[0] is str:
        return dict[str, _normalize(args[1], whole, where)]  # type: ignore[misc]
    raise _unsupported(tp, whole, where)


def _logical_class(tp: Any) -> Any:
    """The class of the logical type ``tp`` stands for (``File``, ``numpy.ndarray``...)."""
    from orcapod.core.types._logical import logical_type_of

    logical = logical_type_of(tp)
    return None if logical is None else logical.python_class


def optional(tp: Any) -> Any:
    """``T | None`` of a normalised type ``T``, in normal form."""
    return _UNION[tp, None]


def _unsupported(tp: Any, whole: Any, where: str) -> UnsupportedTypeError:
    inside = "" if tp is whole else f" (inside {_describe(whole)})"
    subject = f" for {where}" if where else ""
    hint = ""
    if typing.get_origin(tp) is dict:
        hint = " Dictionary keys must be str."
    elif tp is list or tp is dict:
        hint = " Give the item type, e.g. list[int] or dict[str, int]."
    elif typing.get_origin(tp) in (Union, types.UnionType):
        hint = " A union may only combine one type with None."
    return UnsupportedTypeError(
        f"{_describe(tp)}{inside} is not a supported type{subject}.{hint} "
        f"Supported types: {SUPPORTED_TYPES}."
    )


def _describe(tp: Any) -> str:
    try:
        return type_name(tp)
    except UnsupportedTypeError:
        pass
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return repr(tp).removeprefix("typing.")


def is_optional(tp: Any) -> bool:
    """Whether a normalised type is ``T | None``."""
    return typing.get_origin(tp) is Union


def strip_optional(tp: Any) -> Any:
    """``T`` for a normalised ``T | None``, else the type itself."""
    return typing.get_args(tp)[0] if is_optional(tp) else tp


def leaf_type(tp: Any) -> Any:
    """The scalar at the bottom of a normalised type, e.g. ``int`` for ``list[int]``."""
    tp = strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return leaf_type(typing.get_args(tp)[0])
    if origin is dict:
        return leaf_type(typing.get_args(tp)[1])
    return tp


def type_name(tp: Any) -> str:
    """A readable name of a normalised type, e.g. ``"dict[str, list[int | None]]"``.

    Raises:
        UnsupportedTypeError: ``tp`` is not a normalised supported type.
    """
    for scalar, name in _NAMES.items():
        if tp is scalar:
            return name
    if isinstance(tp, type):
        from orcapod.core.types._logical import logical_type_of

        if logical_type_of(tp) is not None:
            return tp.__name__
    args = typing.get_args(tp)
    if is_optional(tp):
        return f"{type_name(args[0])} | None"
    origin = typing.get_origin(tp)
    if origin is list and len(args) == 1:
        return f"list[{type_name(args[0])}]"
    if origin is dict and len(args) == 2 and args[0] is str:
        return f"dict[str, {type_name(args[1])}]"
    raise UnsupportedTypeError(
        f"{tp!r} is not a supported type. Supported types: {SUPPORTED_TYPES}."
    )
