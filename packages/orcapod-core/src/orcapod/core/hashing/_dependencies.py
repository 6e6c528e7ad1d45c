"""What a function's code depends on beyond its own body, found from its code objects.

Nothing is executed: the names a function reads are taken from its byte code
(and that of the functions, lambdas and comprehensions nested in it), its
closure cells and its default values, and each value is classified:

- plain data (None, bool, int, float, complex, str, bytes, enums, paths, and
  tuples, lists, dicts, sets or frozen dataclasses of these): by content;
- functions, classes and modules of the user's own code: by their normalised
  source, and what *they* read, recursively;
- modules and objects of installed distributions: by distribution name and version;
- the standard library: by module name;
- anything else is refused (:class:`HashingError`) naming the variable, its
  type and the ways out: ``dependencies=`` to declare its version, ``ignore=``
  to leave it out on purpose, or ``code_identity=`` for the whole function.

docs/identity.md specifies the bytes of each digest.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import decimal
import dis
import enum
import fractions
import functools
import importlib.metadata
import inspect
import logging
import math
import os
import re
import reprlib
import site
import struct
import sys
import sysconfig
import textwrap
import threading
import types
import typing
import uuid
from dataclasses import dataclass
from pathlib import PurePath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import domain, encode_str, render, u8, u64

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping

__all__ = ["Dependency", "class_source_hash", "code_dependencies", "value_hash"]

_FIX = (
    "declare its version with function_pod(..., dependencies={{{name!r}: '<a version you "
    "change when it changes>'}}), leave it out on purpose with function_pod(..., "
    "ignore=[{name!r}]), or name the whole code with function_pod(..., code_identity='...')"
)
_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})
_ATTRIBUTE_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_MAX_WRAPPERS = 100
_INERT_TYPES: tuple[type, ...] = (
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Event,
    threading.Condition,
    threading.Semaphore,
)
"""Objects that synchronise threads and cannot change what a function computes."""
_ALIAS_TYPES: tuple[type, ...] = (
    types.GenericAlias,
    types.UnionType,
    type(typing.List[int]),  # noqa: UP006  # typing's own alias type
    typing.TypeVar,
)
"""Type expressions (``list[int]``, ``int | None``): identified by their text."""


@dataclass(frozen=True, order=True)
class Dependency:
    """One thing a function's identity covers beyond its own body.

    Attributes:
        name: how it is reached: ``K`` (a global of the function's own module),
            ``utils.K`` (of another module), ``k`` (a closure variable of the
            function), ``scale.wrapper.k`` (of another function), ``helper`` or
            ``utils.normalize`` (a function), ``numpy`` (a distribution).
        kind: ``global``, ``closure`` or ``default`` (a data value); ``function``,
            ``wrapper``, ``class`` or ``module`` (user code, by its source);
            ``distribution``, ``stdlib``; ``declared`` (named in ``dependencies=``);
            ``logger``, ``inert`` (a lock or event).
        digest: its rendered hash.
        shown: a short printable form: the value, ``numpy 1.26.4``, ``body``.
    """

    name: str
    kind: str
    digest: str
    shown: str


def code_dependencies(
    fn: Callable[..., object],
    *,
    ignore: Collection[str] = (),
    declared: Mapping[str, str] | None = None,
) -> tuple[tuple[Dependency, ...], bool]:
    """What ``fn`` depends on beyond its own body, sorted by name and kind.

    Args:
        fn: the function, as given to ``@function_pod`` (wrappers included).
        ignore: names left out of the identity on purpose.
        declared: names whose identity is the given version string instead of
            their value (for objects orcapod cannot hash).

    Returns:
        The dependencies, and whether every name ``fn`` reads was defined: a
        function declared before a helper it calls is complete only once the
        helper's module has run to its end, so its caller may try again later.

    Raises:
        HashingError: a value cannot be identified (naming it, its type and the
            fixes), or ``ignore`` / ``declared`` names something ``fn`` does not read.
    """
    walker = _Walker(fn, frozenset(ignore), dict(declared or {}))
    walker.walk_root(fn)
    unused = sorted((set(walker.ignore) | set(walker.declared)) - walker.matched)
    if unused and walker.complete:
        names = ", ".join(repr(name) for name in unused)
        read = ", ".join(sorted(walker.read)) or "nothing"
        raise HashingError(
            f"{walker.label}: ignore= or dependencies= names {names}, which it does not read; "
            f"the names it reads are: {read}"
        )
    found = sorted(walker.found.values(), key=lambda d: (d.name, d.kind))
    return tuple(found), walker.complete


def value_hash(value: object) -> str:
    """The content hash of a plain data value (see docs/identity.md).

    Raises:
        HashingError: ``value`` is not plain data.
    """
    out = bytearray(domain("value"))
    _encode(value, out, set())
    return render(bytes(out))


def class_source_hash(cls: type) -> str:
    """The hash of a class's normalised source: docstrings, comments, formatting and name ignored.

    Raises:
        HashingError: the source cannot be read.
    """
    from orcapod.core.hashing._functions import drop_docstrings, write_node

    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError) as error:
        raise HashingError(
            f"cannot read the source of class {cls.__qualname__!r} ({error})"
        ) from None
    tree = ast.parse(textwrap.dedent(source))
    definition = tree.body[0]
    if not isinstance(definition, ast.ClassDef):  # pragma: no cover - getsource gives the class
        raise HashingError(f"the source of {cls.__qualname__!r} is not a class statement")
    definition.name = ""
    drop_docstrings(definition)
    out = bytearray(domain("class-source"))
    write_node(definition, out)
    return render(bytes(out))


# -- the walk ----------------------------------------------------------------------------


class _Walker:
    """One walk from a function through everything it reads."""

    def __init__(self, fn: Callable[..., object], ignore: frozenset[str], declared: dict[str, str]):
        root = inspect.unwrap(fn)
        self.label = f"function {getattr(root, '__qualname__', repr(root))!r}"
        self.module = getattr(root, "__module__", None)
        self.ignore = ignore
        self.declared = declared
        self.matched: set[str] = set()
        self.read: set[str] = set()
        self.found: dict[tuple[str, str], Dependency] = {}
        self.seen: set[int] = set()
        self.complete = True

    def walk_root(self, fn: Callable[..., object]) -> None:
        chain: list[Any] = [fn]
        while hasattr(chain[-1], "__wrapped__") and len(chain) < _MAX_WRAPPERS:
            chain.append(chain[-1].__wrapped__)
        self.seen.update(id(layer) for layer in chain)
        for layer in chain[:-1]:
            if isinstance(layer, types.FunctionType):
                name = self.code_name(layer)
                self.add(name, "wrapper", _function_source_hash(layer, self.label), "body")
                self.walk_function(layer, name)
            else:  # a wrapper object (functools.lru_cache, ...): identified by its type
                self.reference(f"{type(layer).__qualname__}", type(layer), "wrapper")
        root = chain[-1]
        if isinstance(root, types.FunctionType):
            self.walk_function(root, "")

    # -- functions and classes -------------------------------------------------

    def walk_function(self, fn: types.FunctionType, prefix: str) -> None:
        """The closure cells, default values and global reads of ``fn``."""
        code = fn.__code__
        scope = f"{prefix}." if prefix else ""
        for var, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell: the enclosing function assigns it later
                continue
            self.reference(f"{scope}{var}", value, "closure")
        for param, value in _defaults(fn):
            self.reference(f"{scope}{param}", value, "default")
        namespace = fn.__globals__
        builtins = namespace.get("__builtins__", {})
        if isinstance(builtins, types.ModuleType):
            builtins = vars(builtins)
        module = namespace.get("__name__")
        for name, attributes in _global_reads(code):
            self.read_global(name, attributes, namespace, builtins, module)

    def read_global(
        self,
        name: str,
        attributes: tuple[str, ...],
        namespace: dict[str, Any],
        builtins: Mapping[str, Any],
        module: str | None,
    ) -> None:
        qualified = self.global_name(name, module)
        if name not in namespace:
            if name not in builtins:
                self.complete = False  # not defined (yet): a helper declared further down
            return
        value = namespace[name]
        # ``utils.normalize``: follow attributes while they are modules of the user's
        # own code (a module of the standard library or a distribution is identified whole).
        for attribute in attributes:
            if (
                not isinstance(value, types.ModuleType)
                or _origin(value.__name__).kind != "user"
                or not hasattr(value, attribute)
            ):
                break
            if self.skipped(qualified):
                return
            value = getattr(value, attribute)
            qualified = f"{qualified}.{attribute}"
        self.reference(qualified, value, "global")

    def walk_class(self, cls: type, name: str) -> None:
        self.add(name, "class", class_source_hash(cls), "body")
        for member in vars(cls).values():
            function = member
            if isinstance(member, staticmethod | classmethod):
                function = member.__func__
            elif isinstance(member, property):
                function = member.fget
            if (
                isinstance(function, types.FunctionType)
                and id(function) not in self.seen
                # made by exec (dataclasses' __init__, __repr__): the class source says it all
                and not _generated(function)
            ):
                self.seen.add(id(function))
                self.walk_function(function, self.code_name(function))
        for base in cls.__bases__:
            if base is not object:
                self.reference(self.object_name(base), base, "global")

    # -- one value ---------------------------------------------------------------

    def reference(self, name: str, value: object, kind: str) -> None:
        """Classify ``value``, reached as ``name``, and add what identifies it."""
        if self.skipped(name):
            return
        if name in self.declared:
            self.matched.add(name)
            self.add(name, "declared", value_hash(self.declared[name]), self.declared[name])
            return
        try:
            digest = value_hash(value)
        except _NotData:
            pass
        else:
            self.add(name, kind, digest, _short(value))
            if isinstance(value, enum.Enum) or _frozen_dataclass(value):
                self.reference(self.object_name(type(value)), type(value), "global")  # methods
            return
        if id(value) in self.seen:
            return
        if isinstance(value, types.ModuleType):
            self.seen.add(id(value))
            self.module_dependency(value)
        elif isinstance(value, types.FunctionType):
            self.seen.add(id(value))
            self.function_dependency(value, name)
        elif isinstance(value, type):
            self.seen.add(id(value))
            self.class_dependency(value)
        elif isinstance(value, functools.partial):
            self.seen.add(id(value))
            self.reference(f"{name}.func", value.func, kind)
            for index, argument in enumerate(value.args):
                self.reference(f"{name}.args[{index}]", argument, kind)
            for key, argument in value.keywords.items():
                self.reference(f"{name}.{key}", argument, kind)
        elif isinstance(value, logging.Logger | logging.LoggerAdapter):
            logger = value.logger if isinstance(value, logging.LoggerAdapter) else value
            # Logging does not change what a function computes; the logger's name
            # (the module's, which is "__main__" when run as a script) is only shown.
            self.add(name, "logger", value_hash("logger"), f"logger {logger.name!r}")
        elif isinstance(value, _INERT_TYPES):
            self.add(name, "inert", value_hash("inert"), type(value).__qualname__)
        elif isinstance(value, re.Pattern):
            self.add(name, kind, value_hash((value.pattern, value.flags)), _short(value))
        elif isinstance(value, _ALIAS_TYPES):
            self.add(name, kind, value_hash(repr(value)), repr(value))
        elif hasattr(value, "__wrapped__") and callable(value):
            self.seen.add(id(value))  # a wrapper object around a function (lru_cache)
            self.reference(name, type(value), kind)
            self.reference(name, value.__wrapped__, kind)
        elif _is_routine(value):
            self.seen.add(id(value))
            self.foreign(value, name, kind)
        else:
            self.refuse(name, value, kind)

    def function_dependency(self, fn: types.FunctionType, reached_as: str) -> None:
        origin = _origin(fn.__module__)
        if origin.kind != "user":
            self.add_origin(origin)
            return
        name = self.code_name(fn)
        if fn.__name__ == "<lambda>":
            raise HashingError(
                f"{self.label} reads the lambda {reached_as!r}, whose source orcapod cannot separate "
                f"from the line around it: define it with def, or "
                + _FIX.format(name=reached_as)
            )
        kind = "wrapper" if hasattr(fn, "__wrapped__") else "function"
        self.add(name, kind, _function_source_hash(fn, self.label), "body")
        self.walk_function(fn, name)
        if hasattr(fn, "__wrapped__"):
            self.reference(name, fn.__wrapped__, "closure")

    def class_dependency(self, cls: type) -> None:
        origin = _origin(cls.__module__)
        if origin.kind == "user":
            self.walk_class(cls, self.object_name(cls))
        else:
            self.add_origin(origin)

    def module_dependency(self, module: types.ModuleType) -> None:
        origin = _origin(module.__name__)
        if origin.kind != "user":
            self.add_origin(origin)
            return
        self.add(self.global_name(module.__name__, None), "module", _module_hash(module), "body")

    def foreign(self, value: object, name: str, kind: str) -> None:
        """A builtin function, a C function or callable object of some module."""
        module = getattr(value, "__module__", None)
        if module is None and hasattr(value, "__self__"):
            module = getattr(type(value.__self__), "__module__", None)  # bound builtin method
        if not isinstance(module, str):
            self.refuse(name, value, kind)
            return
        origin = _origin(module)
        if origin.kind == "user":
            self.refuse(name, value, kind)
        else:
            self.add_origin(origin)

    def refuse(self, name: str, value: object, kind: str) -> None:
        what = {"closure": "closure variable", "default": "default value of"}.get(kind, kind)
        type_name = f"{type(value).__module__}.{type(value).__qualname__}"
        raise HashingError(
            f"{self.label} reads the {what} {name!r}, a {type_name}, "
            "which orcapod cannot identify by its content (only plain data, code and installed "
            "distributions can be): " + _FIX.format(name=name)
        )

    # -- bookkeeping -------------------------------------------------------------

    def skipped(self, name: str) -> bool:
        self.read.add(name)
        if name in self.ignore:
            self.matched.add(name)
            return True
        return False

    def add(self, name: str, kind: str, digest: str, shown: str) -> None:
        self.found[(name, kind)] = Dependency(name, kind, digest, shown)

    def add_origin(self, origin: _Origin) -> None:
        if origin.kind == "builtins":
            return
        self.add(origin.name, origin.kind, value_hash((origin.name, origin.version)), origin.shown)

    def global_name(self, name: str, module: str | None) -> str:
        """``name`` as read in ``module``: bare in the function's own module."""
        return name if module is None or module == self.module else f"{module}.{name}"

    def code_name(self, fn: types.FunctionType) -> str:
        """A function by its code's own qualified name (``functools.wraps`` does not change it)."""
        qualname = fn.__code__.co_qualname.replace("<locals>.", "")
        return self.global_name(qualname, fn.__module__)

    def object_name(self, value: Any) -> str:
        qualname = str(getattr(value, "__qualname__", getattr(value, "__name__", "?")))
        return self.global_name(qualname.replace("<locals>.", ""), value.__module__)


def _global_reads(code: types.CodeType) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The global names ``code`` and the code nested in it read, each with the
    attributes read from it right away (``np.linalg.norm``: ``np``, ``(linalg, norm)``)."""
    instructions = list(dis.get_instructions(code))
    for index, instruction in enumerate(instructions):
        if instruction.opname not in _GLOBAL_LOADS:
            continue
        attributes = []
        for following in instructions[index + 1 :]:
            if following.opname not in _ATTRIBUTE_LOADS:
                break
            attributes.append(str(following.argval))
        yield str(instruction.argval), tuple(attributes)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _global_reads(constant)


def _defaults(fn: types.FunctionType) -> Iterator[tuple[str, object]]:
    code = fn.__code__
    positional = code.co_varnames[: code.co_argcount]
    yield from zip(reversed(positional), reversed(fn.__defaults__ or ()), strict=False)
    yield from (fn.__kwdefaults__ or {}).items()


def _generated(fn: types.FunctionType) -> bool:
    """Made by ``exec`` (dataclasses' ``__init__``, ``__repr__``), possibly wrapped."""
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    return code is not None and code.co_filename.startswith("<")


def _is_routine(value: object) -> bool:
    return callable(value) and (
        inspect.isroutine(value) or (hasattr(value, "__module__") and hasattr(value, "__name__"))
    )


def _function_source_hash(fn: types.FunctionType, label: str) -> str:
    from orcapod.core.hashing._functions import source_code_hash

    try:
        source = inspect.getsource(fn.__code__)
    except (OSError, TypeError) as error:
        raise HashingError(
            f"{label} depends on {fn.__qualname__!r}, whose source cannot be read ({error}): "
            "define it in a .py file, or " + _FIX.format(name=fn.__qualname__)
        ) from None
    return source_code_hash(source, label=fn.__qualname__)


def _module_hash(module: types.ModuleType) -> str:
    """A user module used as a whole: its normalised source (comments, docstrings ignored)."""
    from orcapod.core.hashing._functions import drop_docstrings, write_node

    try:
        source = inspect.getsource(module)
    except (OSError, TypeError) as error:
        raise HashingError(
            f"cannot read the source of module {module.__name__!r} ({error}): "
            + _FIX.format(name=module.__name__)
        ) from None
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            drop_docstrings(node)
    out = bytearray(domain("module-source"))
    write_node(tree, out)
    return render(bytes(out))


def _short(value: object) -> str:
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlevel = 3


# -- where code comes from -----------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    kind: str  # "user", "stdlib", "distribution", "builtins"
    name: str
    version: str = ""

    @property
    def shown(self) -> str:
        return f"{self.name} {self.version}".strip()


@functools.cache
def _origin(module_name: str) -> _Origin:
    """Whether a module is the user's own code, the standard library or an installed
    distribution (by file location: an editable install is the user's own code)."""
    top = module_name.partition(".")[0]
    if top == "builtins":
        return _Origin("builtins", top)
    if top == "orcapod":
        return _orcapod_origin(module_name)
    if top in sys.stdlib_module_names:
        return _Origin("stdlib", top)
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if file is None or not _installed(file):
        return _Origin("user", module_name)
    names = sorted(importlib.metadata.packages_distributions().get(top, ()))
    if not names:
        return _Origin("distribution", top, "unknown version")
    return _Origin("distribution", names[0], importlib.metadata.version(names[0]))


def _orcapod_origin(module_name: str) -> _Origin:
    """orcapod's own packages, by distribution even where installed editable (here)."""
    parts = module_name.split(".")
    for size in (3, 2):
        name = "-".join(parts[:size])
        try:
            return _Origin("distribution", name, importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return _Origin("distribution", "orcapod", "unknown version")


@functools.cache
def _install_roots() -> tuple[str, ...]:
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots if root))


def _installed(file: str) -> bool:
    real = os.path.realpath(file)
    return any(real.startswith(root) for root in _install_roots())


# -- plain data ------------------------------------------------------------------------------


_REPR_DATA: tuple[type, ...] = (
    datetime.date,  # and datetime.datetime
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,  # timezone, zoneinfo.ZoneInfo
    decimal.Decimal,
    fractions.Fraction,
    uuid.UUID,
)
"""Standard library value types whose ``repr`` spells out their whole value."""


class _NotData(Exception):
    """The value is not plain data."""


def _encode(value: object, out: bytearray, active: set[int]) -> None:
    """``value``'s canonical bytes (docs/identity.md, "Dependencies"); ``_NotData`` if it is
    not plain data."""
    if value is None:
        out += u8(0)
    elif isinstance(value, enum.Enum):
        out += u8(10) + encode_str(type(value).__qualname__) + encode_str(value.name)
        _encode(value.value, out, active)
    elif isinstance(value, bool):
        out += u8(1) + u8(int(value))
    elif isinstance(value, int):
        out += u8(2) + encode_str(str(int(value)))
    elif isinstance(value, float):
        number = float(value)
        if math.isnan(number):
            number = math.nan  # every NaN is one value
        out += u8(3) + struct.pack("<d", 0.0 if number == 0 else number)
    elif isinstance(value, complex):
        out += u8(4) + struct.pack("<dd", value.real, value.imag)
    elif isinstance(value, str):
        out += u8(5) + encode_str(str(value))
    elif isinstance(value, bytes | bytearray):
        out += u8(6) + u64(len(value)) + bytes(value)
    elif isinstance(value, _REPR_DATA):
        name = f"{type(value).__module__}.{type(value).__qualname__}"
        out += u8(15) + encode_str(name) + encode_str(repr(value))
    elif isinstance(value, PurePath):
        flavour = "windows" if isinstance(value, PureWindowsPath) else "posix"
        out += u8(14) + encode_str(flavour) + encode_str(str(value))
    elif isinstance(value, tuple | list | set | frozenset | dict) or _frozen_dataclass(value):
        if id(value) in active:
            raise HashingError(f"cannot hash a value that contains itself: {_short(value)}")
        active.add(id(value))
        try:
            _encode_container(value, out, active)
        finally:
            active.discard(id(value))
    else:
        raise _NotData


def _encode_container(value: Any, out: bytearray, active: set[int]) -> None:
    if isinstance(value, tuple | list):
        out += u8(7 if isinstance(value, tuple) else 8) + u64(len(value))
        for item in value:
            _encode(item, out, active)
    elif isinstance(value, set | frozenset):
        out += u8(9 if isinstance(value, set) else 12) + u64(len(value))
        for item in sorted(_encoded(item, active) for item in value):
            out += item
    elif isinstance(value, dict):
        out += u8(11) + u64(len(value))
        entries = (_encoded(key, active) + _encoded(item, active) for key, item in value.items())
        for entry in sorted(entries):
            out += entry
    else:
        fields = dataclasses.fields(value)
        out += u8(13) + encode_str(type(value).__qualname__) + u64(len(fields))
        for field in fields:
            out += encode_str(field.name)
            _encode(getattr(value, field.name), out, active)


def _encoded(value: object, active: set[int]) -> bytes:
    out = bytearray()
    _encode(value, out, active)
    return bytes(out)


def _frozen_dataclass(value: object) -> bool:
    return (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and bool(getattr(getattr(value, "__dataclass_params__", None), "frozen", False))
    )
