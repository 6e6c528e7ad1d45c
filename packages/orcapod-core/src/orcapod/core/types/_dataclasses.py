"""Frozen dataclasses as logical types: Arrow structs that read back as instances of the class.

A frozen dataclass whose fields all have supported types (scalars, lists,
dicts, ``T | None``, ``File``, ``numpy.ndarray``, other frozen dataclasses...)
is stored as a struct with one child field per dataclass field, in
declaration order, each the field :func:`arrow_field` gives its type (so a
``File`` field keeps its own ``orcapod.logical_type`` and ``orcapod.identity``
metadata, and hashes by its digest). The column's metadata names the class,
``dataclass:<module>.<qualname>``; reading a table, that name is resolved to
the class again (importing its module when it is not imported yet).

Refused at declaration, naming the class and the fix: dataclasses that are
not frozen (a value must not change after it is hashed), dataclasses with no
fields, a field of an unsupported type, an aware ``datetime`` field (a struct
field has one zone, so the value's own zone would be lost; use
``NaiveDatetime`` or a ``str``), a dataclass that contains itself, and
``InitVar`` parameters without defaults (the class could not be rebuilt).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import sys
import threading
import typing
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from orcapod.core.errors import TypeMismatchError, UnsupportedTypeError
from orcapod.core.types._logical import LogicalType, logical_type_of

__all__ = ["PREFIX", "dataclass_name", "field_types", "resolve", "resolve_name"]

PREFIX = "dataclass:"
"""Logical type names of dataclasses: ``"dataclass:<module>.<qualname>"``."""

_LOCK = threading.RLock()
_TYPES: dict[type, LogicalType] = {}
_FIELDS: dict[type, dict[str, Any]] = {}  # the normalised field types of each resolved class
_NAMED: dict[str, type] = {}  # the class last resolved under each name, in this process
_BUILDING: list[type] = []  # the classes being built, outermost first (to catch self-reference)


def dataclass_name(cls: type) -> str:
    """The logical type name of a dataclass: ``"dataclass:<module>.<qualname>"``."""
    return f"{PREFIX}{cls.__module__}.{cls.__qualname__}"


def resolve(tp: Any) -> LogicalType | None:
    """The logical type of a frozen dataclass, or ``None`` for anything else.

    Raises:
        UnsupportedTypeError: ``tp`` is a dataclass that cannot be stored (not
            frozen, a field of an unsupported type...); the message says why and the fix.
    """
    if not isinstance(tp, type) or not dataclasses.is_dataclass(tp):
        return None
    found = _TYPES.get(tp)
    if found is not None:
        return found
    with _LOCK:
        found = _TYPES.get(tp)
        if found is None:
            found, _FIELDS[tp] = _build(tp)
            _TYPES[tp] = found
            _NAMED[found.name] = tp
    return found


def resolve_name(name: str) -> LogicalType | None:
    """The logical type of a stored dataclass name, importing the class's module if needed.

    Raises:
        UnsupportedTypeError: the class cannot be found, or is not a storable dataclass.
    """
    if not name.startswith(PREFIX):
        return None
    cls = _NAMED.get(name) or _locate(name.removeprefix(PREFIX))
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        raise UnsupportedTypeError(
            f"the logical type {name!r} names {cls!r}, which is not a dataclass; the code "
            "that wrote the column defined a frozen dataclass there: restore it, or read "
            "the column with the type of its Arrow schema"
        )
    return resolve(cls)


def _locate(dotted: str) -> Any:
    """The object at ``module.qualname``: the longest importable prefix is the module."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name is not None and not module_name.startswith(error.name):
                    raise _not_found(dotted, f"importing {module_name} failed: {error}") from None
                continue
            except Exception as error:
                raise _not_found(dotted, f"importing {module_name} failed: {error!r}") from None
        found: Any = module
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
            if found is None:
                break
        if found is not None:
            return found
        if "<locals>" in parts:
            hint = "it was defined inside a function; define it at the top level of a module"
        elif module_name == "__main__":
            hint = "it was defined in a script run as __main__; define it in an importable module"
        else:
            hint = "was it renamed or moved?"
        raise _not_found(dotted, f"module {module_name} has no {'.'.join(parts[cut:])} ({hint})")
    raise _not_found(dotted, "no prefix of it is an importable module")


def _not_found(dotted: str, why: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"the column holds values of the frozen dataclass {dotted}, which cannot be found: "
        f"{why}. Make the module that defines it importable (install it, or put it on "
        "sys.path) before reading the column"
    )


def field_types(cls: type) -> dict[str, Any]:
    """The normalised types of a storable frozen dataclass's fields, in declaration order.

    Raises:
        UnsupportedTypeError: ``cls`` is not a dataclass orcapod can store.
    """
    if resolve(cls) is None:
        raise UnsupportedTypeError(f"{cls!r} is not a dataclass")
    return dict(_FIELDS[cls])


def _build(cls: type) -> tuple[LogicalType, dict[str, Any]]:
    from orcapod.core.types._annotations import normalize_type

    what = f"dataclass {cls.__module__}.{cls.__qualname__}"
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise UnsupportedTypeError(
            f"{what} is not frozen; declare it @dataclass(frozen=True) so that its values "
            "cannot change after orcapod has hashed and stored them"
        )
    if cls in _BUILDING:
        raise UnsupportedTypeError(
            f"{what} contains itself (through its fields); a stored value must have a fixed "
            "shape, so give the nested value a dataclass of its own or store it as a list"
        )
    fields = dataclasses.fields(cls)
    if not fields:
        raise UnsupportedTypeError(
            f"{what} has no fields, and an empty struct cannot be stored; give it a field"
        )
    _BUILDING.append(cls)
    try:
        hints = _type_hints(cls, what)
        types = {
            field.name: normalize_type(hints[field.name], where=f"field {field.name!r} of {what}")
            for field in fields
        }
    finally:
        _BUILDING.pop()
    for name, tp in types.items():
        if _holds_aware_datetime(tp):
            raise UnsupportedTypeError(
                f"field {name!r} of {what} is a timezone-aware datetime, whose zone a stored "
                "struct cannot keep per value; declare it NaiveDatetime (e.g. in UTC) or "
                "store the datetime as a column of its own"
            )
    _check_rebuildable(cls, what, fields)
    not_init = {field.name for field in fields if not field.init}
    return _logical_type(cls, types, not_init), types


def _type_hints(cls: type, what: str) -> dict[str, Any]:
    """The evaluated field annotations of ``cls``.

    String annotations (``from __future__ import annotations``) are evaluated
    in the class's module. A class defined in a namespace that is not its
    module's (code run by ``exec``, as some notebooks and runners do) is
    evaluated in the namespace of a calling frame that holds the class under
    its name, when there is one.
    """
    try:
        return typing.get_type_hints(cls)
    except Exception as error:
        failure = error
    frame = sys._getframe(1) if isinstance(failure, NameError) else None
    while frame is not None:
        if frame.f_globals.get(cls.__name__) is cls:
            with contextlib.suppress(Exception):  # try the next frame, then report the first error
                return typing.get_type_hints(cls, globalns=frame.f_globals)
        frame = frame.f_back
    raise UnsupportedTypeError(
        f"the field annotations of {what} cannot be evaluated ({failure}); make every name "
        "they use importable from the dataclass's module"
    ) from failure


def _holds_aware_datetime(tp: Any) -> bool:
    from orcapod.core.types._annotations import strip_optional

    bare = strip_optional(tp)
    origin = typing.get_origin(bare)
    if origin is list:
        return _holds_aware_datetime(typing.get_args(bare)[0])
    if origin is dict:
        return _holds_aware_datetime(typing.get_args(bare)[1])
    return bare is datetime


def _check_rebuildable(cls: type, what: str, fields: tuple[dataclasses.Field[Any], ...]) -> None:
    """Refuse ``__init__`` parameters that are not fields and have no default (``InitVar``)."""
    init_fields = {field.name for field in fields if field.init}
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a dataclass always has a signature
        return
    extra = [
        p.name
        for p in parameters
        if p.name not in init_fields
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if extra:
        raise UnsupportedTypeError(
            f"{what} needs the constructor arguments {extra}, which are not fields "
            "(InitVar), so a stored value could not be rebuilt; give them defaults or make "
            "them fields"
        )


def _logical_type(cls: type, types: dict[str, Any], not_init: set[str]) -> LogicalType:
    from orcapod.core.types._annotations import type_name
    from orcapod.core.types._converter import DEFAULT_ZONE, arrow_field_of
    from orcapod.core.types._to_arrow import _check_value, _ZoneOfColumn
    from orcapod.core.types._to_python import _restore

    storage = pa.struct([arrow_field_of(name, tp, DEFAULT_ZONE) for name, tp in types.items()])
    names = list(types)
    # per field: its type, and the logical type of its bare type (stored directly, so
    # that a nested dataclass's or array's own reason for refusing a value is kept)
    plan = [(name, tp, _bare_logical(tp)) for name, tp in types.items()]

    def to_storage(value: Any) -> dict[str, Any]:
        if type(value) is not cls:
            raise TypeError(
                f"{type(value).__qualname__} is a subclass of {cls.__qualname__}, whose own "
                "fields would be lost; declare the subclass as the type"
            )
        stored: dict[str, Any] = {}
        for name, tp, logical in plan:
            item = getattr(value, name)
            if logical is not None and type(item) is logical.python_class:
                try:
                    stored[name] = logical.to_storage(item)
                except (TypeError, ValueError) as error:
                    raise TypeError(f"field {name!r}: {error}") from None
                continue
            try:
                stored[name] = _check_value(item, tp, _ZoneOfColumn(name), name, 0, "")
            except TypeMismatchError:
                got = "None" if item is None else f"{type(item).__name__} {item!r}"
                raise TypeError(f"field {name!r} must be {type_name(tp)}, got {got}") from None
        return stored

    def from_storage(stored: dict[str, Any]) -> Any:
        values = {name: _restore(stored[name], types[name], UTC) for name in names}
        instance = cls(**{name: v for name, v in values.items() if name not in not_init})
        for name in not_init:
            object.__setattr__(instance, name, values[name])
        return instance

    return LogicalType(
        name=dataclass_name(cls),
        python_class=cls,
        storage_type=storage,
        to_storage=to_storage,
        from_storage=from_storage,
        description=f"the frozen dataclass {cls.__module__}.{cls.__qualname__}",
    )


def _bare_logical(tp: Any) -> LogicalType | None:
    """The logical type of ``tp`` without ``| None`` (``File``, an array, a dataclass), if any."""
    from orcapod.core.types._annotations import strip_optional

    bare = strip_optional(tp)
    if not isinstance(bare, type) or bare is datetime:
        return None
    return logical_type_of(bare)
