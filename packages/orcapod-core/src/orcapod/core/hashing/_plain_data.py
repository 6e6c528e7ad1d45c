"""Plain data values and their canonical bytes: ``value_hash`` (docs/identity.md,
"Dependencies", plain data)."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import math
import operator
import re
import reprlib
import struct
import sys
import types
import uuid
import zoneinfo
from pathlib import PurePath, PureWindowsPath
from typing import Any

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import domain, encode_str, render, u8, u64


def value_hash(value: object) -> str:
    """The content hash of a plain data value (see docs/identity.md).

    Raises:
        HashingError: ``value`` is not plain data.
    """
    try:
        return _value_hash(value, [])
    except _NotData as error:
        raise HashingError(f"{_short(value)} is not plain data: {error}") from None


def _object_state(value: object) -> dict[str, object] | None:
    """An object's own attributes: its ``__dict__`` and its ``__slots__``; None if it
    keeps its state where Python cannot see (a C type)."""
    state: dict[str, object] = dict(getattr(value, "__dict__", {}))
    slots = [
        slot
        for kind in type(value).__mro__
        for slot in (
            [kind.__dict__["__slots__"]]
            if isinstance(kind.__dict__.get("__slots__"), str)
            else kind.__dict__.get("__slots__", ())
        )
    ]
    for slot in slots:
        if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
            state[slot] = getattr(value, slot)
    if not state and not hasattr(value, "__dict__") and not slots:
        return None
    return state


def _stateless(value: object) -> bool:
    """An object with no state at all, of classes written in Python (a C type may keep
    state Python cannot see)."""
    if callable(value) or _object_state(value) != {}:
        return False  # a callable's behaviour is code (a C type may look stateless)
    for kind in type(value).__mro__[:-1]:
        module = sys.modules.get(kind.__module__)
        if not (kind.__flags__ & _HEAP_TYPE) or not str(
            getattr(module, "__file__", "") or ""
        ).endswith(".py"):
            return False
    return True


_HEAP_TYPE = 1 << 9
"""``Py_TPFLAGS_HEAPTYPE``: set on every class a class statement makes, not on the
static types of C code (``functools.partial``), which a .py module may export."""


def _short(value: object) -> str:
    text = _REPR.repr(value)
    return _ADDRESS.sub("", text)


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _type_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlevel = 3


_REPR_DATA: tuple[type, ...] = (
    datetime.date,  # and datetime.datetime
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,  # timezone, zoneinfo.ZoneInfo
    decimal.Decimal,
    fractions.Fraction,
    uuid.UUID,
    range,
    slice,
    operator.itemgetter,
    operator.attrgetter,
    operator.methodcaller,
    types.EllipsisType,
)
"""Standard library value types whose ``repr`` spells out their whole value."""
_REPR_EXACT = frozenset({*_REPR_DATA, datetime.datetime, datetime.timezone, zoneinfo.ZoneInfo})
"""The standard library's own types of ``_REPR_DATA`` (a subclass brings its class)."""
_BUILTIN_DATA: tuple[type, ...] = (
    bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset,
)  # fmt: skip


class _NotData(Exception):
    """The value is not plain data; the message says which part."""


def _value_hash(value: object, inner: list[tuple[str, object]]) -> str:
    """``value_hash``, collecting in ``inner`` the classes of its values (an enum's, a
    dataclass's) and the functions and classes it holds, each with where it is."""
    out = bytearray(domain("value"))
    _encode(value, out, set(), inner, "")
    return render(bytes(out))


def _encode(
    value: object, out: bytearray, active: set[int], inner: list[tuple[str, object]], where: str
) -> None:
    """``value``'s canonical bytes (docs/identity.md, "Dependencies")."""
    kind = type(value)
    if value is None:
        out += u8(0)
    elif isinstance(value, enum.Enum):
        inner.append((f"{where}.__class__", kind))
        out += u8(10) + encode_str(kind.__qualname__) + encode_str(value.name)
        _encode(value.value, out, active, inner, f"{where}.value")
    elif _numpy_value(value):
        numpy = sys.modules["numpy"]
        if isinstance(value, numpy.dtype):
            metadata = dict(value.metadata) if value.metadata else None
            item: object = (value.descr, metadata)
        else:
            item = value.item()  # type: ignore[attr-defined]
        out += u8(18) + encode_str(kind.__qualname__)
        _encode(item, out, active, inner, where)
    elif kind not in _BUILTIN_DATA and isinstance(value, _BUILTIN_DATA):
        # A subclass (a namedtuple, numpy.float64, OrderedDict, a str with methods):
        # its class is part of it, and what it adds (fields, a dict's default).
        inner.append((f"{where}.__class__", kind))
        out += u8(16) + encode_str(kind.__qualname__)
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            out += u64(len(value._fields))
            for field in value._fields:
                out += encode_str(str(field))
                _encode(getattr(value, field), out, active, inner, f"{where}.{field}")
            return
        if isinstance(value, collections.defaultdict) and value.default_factory is not None:
            inner.append((f"{where}.default_factory", value.default_factory))
            out += encode_str(_qualname(value.default_factory))
        base = next(base for base in _BUILTIN_DATA if isinstance(value, base))
        _encode(base(value), out, active, inner, where)
    elif isinstance(value, bool):
        out += u8(1) + u8(int(value))
    elif isinstance(value, int):
        try:
            digits = str(value)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise _NotData(f"an integer of {value.bit_length()} bits is too large") from None
        out += u8(2) + encode_str(digits)
    elif isinstance(value, float):
        number = math.nan if math.isnan(value) else value  # every NaN is one value
        out += u8(3) + struct.pack("<d", 0.0 if number == 0 else number)
    elif isinstance(value, complex):
        out += u8(4) + struct.pack("<dd", value.real, value.imag)
    elif isinstance(value, str):
        out += u8(5) + encode_str(value)
    elif isinstance(value, bytes | bytearray):
        out += u8(6) + u64(len(value)) + bytes(value)
    elif isinstance(value, _REPR_DATA):
        text = repr(value)
        if " at 0x" in text:  # a repr naming a memory address says nothing of the value
            raise _NotData(f"{where or 'it'} is a {_type_name(value)} with no printable value")
        base = next(base for base in kind.__mro__ if base in _REPR_EXACT or base is object)
        if base is not kind:  # a subclass: its class is part of it (its methods)
            inner.append((f"{where}.__class__", kind))
        out += u8(15) + encode_str(f"{base.__module__}.{base.__qualname__}") + encode_str(text)
    elif isinstance(value, re.Pattern):
        out += u8(17) + encode_str(value.pattern if isinstance(value.pattern, str) else "")
        out += u64(value.flags)
        if isinstance(value.pattern, bytes):
            out += u64(len(value.pattern)) + value.pattern
    elif isinstance(value, PurePath):
        flavour = "windows" if isinstance(value, PureWindowsPath) else "posix"
        out += u8(14) + encode_str(flavour) + encode_str(str(value))
    elif (arrow := _arrow_value(value)) is not None:
        out += u8(20) + encode_str(kind.__qualname__)
        _encode(arrow, out, active, inner, where)
    elif isinstance(value, tuple | list | set | frozenset | dict) or _frozen_dataclass(value):
        if id(value) in active:
            raise _NotData(f"it contains itself at {where or 'its top'}")
        active.add(id(value))
        try:
            _encode_container(value, out, active, inner, where)
        finally:
            active.discard(id(value))
    elif where and isinstance(value, functools.partial):
        # A partial held in data: its function as code, its arguments as data.
        inner.append((f"{where}.func", value.func))
        out += u8(22) + encode_str(_qualname(value.func))
        _encode(value.args, out, active, inner, f"{where}.args")
        _encode(dict(value.keywords), out, active, inner, f"{where}.keywords")
    elif where and isinstance(value, types.FunctionType | type | types.BuiltinFunctionType):
        # Code held in data (a table of functions): named here, identified as code.
        inner.append((where, value))
        out += u8(19) + encode_str(_qualname(value))
    elif _stateless(value):  # a sentinel (object(), numpy's _unspecified): its class
        inner.append((f"{where}.__class__", kind))
        out += u8(21) + encode_str(kind.__qualname__)
    else:
        raise _NotData(f"{where or 'it'} is a {_type_name(value)}")


def _encode_container(
    value: Any, out: bytearray, active: set[int], inner: list[tuple[str, object]], where: str
) -> None:
    if isinstance(value, tuple | list):
        out += u8(7 if isinstance(value, tuple) else 8) + u64(len(value))
        for index, item in enumerate(value):
            _encode(item, out, active, inner, f"{where}[{index}]")
    elif isinstance(value, set | frozenset):
        out += u8(9 if isinstance(value, set) else 12) + u64(len(value))
        encoded = []
        for item in value:
            held: list[tuple[str, object]] = []
            encoded.append((_encoded(item, active, held, f"{where}{{...}}"), held))
        encoded.sort(key=lambda pair: pair[0])  # the set's order is the hash seed's
        for item, held in encoded:
            out += item
            inner.extend(held)
    elif isinstance(value, dict):
        out += u8(11) + u64(len(value))  # in order: iterating a dict sees its order
        for key, item in value.items():
            _encode(key, out, active, inner, f"{where}{{key}}")
            _encode(item, out, active, inner, f"{where}[{key!r}]")
    else:
        kind = type(value)
        inner.append((f"{where}.__class__", kind))
        fields = dataclasses.fields(value)
        out += u8(13) + encode_str(kind.__qualname__) + u64(len(fields))
        for field in fields:
            out += encode_str(field.name)
            _encode(getattr(value, field.name), out, active, inner, f"{where}.{field.name}")


def _encoded(value: object, active: set[int], inner: list[tuple[str, object]], where: str) -> bytes:
    out = bytearray()
    _encode(value, out, active, inner, where)
    return bytes(out)


def _qualname(value: object) -> str:
    if isinstance(value, functools.partial):
        return f"partial({_qualname(value.func)})"
    return str(getattr(value, "__qualname__", getattr(value, "__name__", "?")))


def _arrow_value(value: object) -> object:
    """A pyarrow type, field or schema as plain data (its text, names, metadata)."""
    arrow = sys.modules.get("pyarrow")
    if arrow is None:
        return None
    if isinstance(value, arrow.DataType):
        return str(value)
    if isinstance(value, arrow.Field):
        return (value.name, str(value.type), value.nullable, _arrow_metadata(value.metadata))
    if isinstance(value, arrow.Schema):
        fields = tuple(_arrow_value(field) for field in value)
        return (fields, _arrow_metadata(value.metadata))
    return None


def _arrow_metadata(metadata: object) -> object:
    return None if not metadata else sorted(dict(metadata).items())  # type: ignore[call-overload]


def _numpy_value(value: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.generic | numpy.dtype)


def _frozen_dataclass(value: object) -> bool:
    return (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and bool(getattr(getattr(value, "__dataclass_params__", None), "frozen", False))
    )


def _first_non_data(
    value: object, active: frozenset[int] = frozenset()
) -> tuple[str, object] | None:
    """Where in ``value`` the first part that is not plain data is, and that part."""
    if id(value) in active:
        return ("", value)
    active = active | {id(value)}
    try:
        _value_hash(value, [])
    except _NotData:
        pass
    else:
        return None
    if isinstance(value, tuple | list):
        parts: list[tuple[str, object]] = [(f"[{i}]", item) for i, item in enumerate(value)]
    elif isinstance(value, dict):
        parts = [(f"[{key!r}]", item) for key, item in value.items()]
        parts += [(f"key {key!r}", key) for key in value]
    elif isinstance(value, set | frozenset):
        parts = [("an item", item) for item in value]
    elif _frozen_dataclass(value):
        parts = [(f".{f.name}", getattr(value, f.name)) for f in dataclasses.fields(value)]  # type: ignore[arg-type]
    else:
        return ("", value)
    for where, part in parts:
        found = _first_non_data(part, active)
        if found is not None:
            return (f"{where}{found[0]}", found[1])
    return ("", value)
