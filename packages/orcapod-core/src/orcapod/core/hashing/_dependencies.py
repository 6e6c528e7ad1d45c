"""What a function's code depends on beyond its own body, found from its code objects.

Nothing is executed: the names a function reads are taken from its byte code
(and that of the functions, lambdas and comprehensions nested in it), its
imports, its closure cells and its default values, and each value is classified:

- plain data (None, bool, int, float, complex, str, bytes, enums, dates, paths,
  and tuples, lists, dicts, sets or frozen dataclasses of these): by content;
- functions, classes and modules of the user's own code: by their normalised
  source, and what *they* read, in turn;
- modules and objects of installed distributions: by distribution name and version;
- the standard library: by module name;
- anything else is refused (:class:`HashingError`) naming the variable, its
  type and the ways out: ``dependencies=`` to declare its version, ``ignore=``
  to leave it out on purpose, or ``code_identity=`` for the whole function.

docs/identity.md specifies the walk and the bytes of each digest.
"""

from __future__ import annotations

import ast
import collections
import copy
import dataclasses
import datetime
import decimal
import dis
import enum
import fractions
import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import linecache
import logging
import math
import operator
import os
import re
import reprlib
import site
import struct
import sys
import sysconfig
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
_WRAPPED_ATTRIBUTES = ("__wrapped__", "pyfunc", "py_func")
"""Where a callable object keeps the function it wraps: ``functools.wraps``
(and ``lru_cache``), ``numpy.vectorize``, numba's dispatchers."""
_MODULE_ATTRIBUTES = frozenset({"__name__", "__file__", "__spec__", "__package__", "__doc__"})
"""Globals that say where a module is (``__main__`` or not, which checkout), not what it does."""
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
    type(typing.List[int]),  # noqa: UP006  # typing's own alias types
    type(typing.Union[int, str]),  # noqa: UP007
    typing.TypeVar,
)
"""Type expressions (``list[int]``, ``int | None``): identified by their parts."""


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
            ``logger``, ``inert`` (a lock, an event, a standard stream), ``location``
            (``__name__``, ``__file__``).
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
        helper's module has run to its end.

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
    try:
        return _value_hash(value, [])
    except _NotData as error:
        raise HashingError(f"{_short(value)} is not plain data: {error}") from None


def class_source_hash(cls: type) -> str:
    """The hash of a class's normalised source: docstrings, comments, formatting and name ignored.

    Raises:
        HashingError: the source cannot be found.
    """
    from orcapod.core.hashing._functions import drop_docstrings, write_node

    definition = _class_definition(cls)
    if definition is None:
        raise HashingError(f"cannot find the source of class {cls.__qualname__!r}")
    definition = copy.deepcopy(definition)
    definition.name = ""
    drop_docstrings(definition)
    out = bytearray(domain("class-source"))
    write_node(definition, out)
    return render(bytes(out))


# -- the walk ----------------------------------------------------------------------------


class _Walker:
    """One walk from a function through everything it reads, breadth first."""

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
        self.keep: list[object] = []  # what ``seen`` refers to, alive for the walk
        self.taken: dict[str, int] = {}
        self.queue: collections.deque[tuple[types.FunctionType, str]] = collections.deque()
        self.complete = True

    def walk_root(self, fn: Callable[..., object]) -> None:
        chain: list[Any] = [fn]
        while (inner := _wrapped(chain[-1])) is not None and len(chain) < _MAX_WRAPPERS:
            if any(inner is layer for layer in chain):
                break
            chain.append(inner)
        for layer in chain:
            self.mark(layer)
        for layer in chain[:-1]:
            if isinstance(layer, types.FunctionType):
                name = self.unique(self.code_name(layer))
                self.add(name, "wrapper", _function_source_hash(layer, self.label), "body")
                self.queue.append((layer, name))
            else:  # a wrapper object (functools.lru_cache, ...): identified by its type
                kind = type(layer)
                self.reference(self.object_name(kind), kind, "global")
        root = chain[-1]
        if isinstance(root, types.FunctionType):
            self.queue.append((root, ""))
        while self.queue:
            function, prefix = self.queue.popleft()
            self.walk_function(function, prefix)

    # -- functions -----------------------------------------------------------------

    def walk_function(self, fn: types.FunctionType, prefix: str) -> None:
        """The closure cells, default values, imports and global reads of ``fn``."""
        code = fn.__code__
        scope = f"{prefix}." if prefix else ""
        for var, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # empty: the enclosing function assigns it later
                self.complete = False
                continue
            self.reference(f"{scope}{var}", value, "closure")
        for param, value in _defaults(fn):
            if _lambda_within(value, fn):  # its source is part of fn's: walk what it reads
                if self.mark(value):
                    self.queue.append((value, f"{scope}{param}"))  # type: ignore[arg-type]
            else:
                self.reference(f"{scope}{param}", value, "default")
        namespace = fn.__globals__
        builtins = namespace.get("__builtins__", {})
        if isinstance(builtins, types.ModuleType):
            builtins = vars(builtins)
        module = namespace.get("__name__")
        initializing = _initializing(module)
        for name, attributes in _global_reads(code):
            self.read_global(name, attributes, namespace, builtins, module, initializing)
        for name, names in _imports(code, namespace.get("__package__") or None):
            self.read_import(name, names)

    def read_global(
        self,
        name: str,
        attributes: tuple[str, ...],
        namespace: dict[str, Any],
        builtins: Mapping[str, Any],
        module: str | None,
        initializing: bool,
    ) -> None:
        qualified = self.global_name(name, module)
        if name not in namespace:
            # Not defined yet: a helper further down the module. A builtin's name
            # read while the module is still running may yet be defined there too.
            if name not in builtins or initializing:
                self.complete = False
            return
        if name in _MODULE_ATTRIBUTES:
            if not self.skipped(qualified):
                self.add(qualified, "location", value_hash(name), name)
            return
        value = namespace[name]
        # ``utils.normalize``: follow attributes while they are modules of the user's
        # own code (a module of the standard library or a distribution is identified whole).
        for attribute in attributes:
            if (
                not isinstance(value, types.ModuleType)
                or _module_origin(value.__name__).kind != "user"
                or attribute not in vars(value)
            ):
                break
            if self.skipped(qualified):
                return
            value = vars(value)[attribute]
            qualified = f"{qualified}.{attribute}"
        self.reference(qualified, value, "global")

    def read_import(self, name: str, names: tuple[str, ...]) -> None:
        """``import name`` or ``from name import names`` inside a function body."""
        module = sys.modules.get(name)
        if module is None:
            self.unimported_module(name)
            return
        if not names:
            self.reference(self.global_name(name, None), module, "global")
            return
        for attribute in names:
            if attribute == "*":
                self.reference(self.global_name(name, None), module, "global")
            elif attribute in vars(module):
                self.reference(f"{name}.{attribute}", vars(module)[attribute], "global")
            else:  # a submodule not imported yet
                self.read_import(f"{name}.{attribute}", ())

    def unimported_module(self, name: str) -> None:
        """A module imported by a function body that has not run yet: found, not run."""
        origin_file = _find_module_file(name)
        if origin_file is None:
            self.complete = False  # nowhere to be found now; it may be made later
            return
        origin = _origin(name, None if origin_file in ("built-in", "frozen") else origin_file)
        if origin.kind != "user":
            self.add_origin(origin)
            return
        if self.skipped(name):
            return
        with open(origin_file, encoding="utf-8") as file:
            text = file.read()
        self.add(self.global_name(name, None), "module", _module_source_hash(text, name), "body")

    # -- one value -------------------------------------------------------------------

    def reference(self, name: str, value: object, kind: str) -> None:
        """Classify ``value``, reached as ``name``, and add what identifies it."""
        if self.skipped(name):
            return
        if name in self.declared:
            self.matched.add(name)
            self.add(name, "declared", value_hash(self.declared[name]), self.declared[name])
            return
        inner: list[tuple[str, object]] = []
        try:
            digest = _value_hash(value, inner)
        except _NotData:
            pass
        else:
            self.add(name, kind, digest, _short(value))
            for where, part in inner:  # classes of values, functions held in data
                self.reference(f"{name}{where}", part, kind)
            return
        if not self.mark(value):
            return
        if isinstance(value, types.ModuleType):
            self.module_dependency(value)
        elif isinstance(value, types.FunctionType):
            self.function_dependency(value, name)
        elif isinstance(value, type):
            self.class_dependency(value, name)
        elif isinstance(value, functools.partial):
            self.reference(f"{name}.func", value.func, kind)
            for index, argument in enumerate(value.args):
                self.reference(f"{name}.args[{index}]", argument, kind)
            for key, argument in value.keywords.items():
                self.reference(f"{name}.{key}", argument, kind)
        elif isinstance(value, logging.Logger | logging.LoggerAdapter):
            logger = value.logger if isinstance(value, logging.LoggerAdapter) else value
            # Logging does not change what a function computes; the logger's name
            # (the module's, "__main__" when run as a script) is only shown.
            self.add(name, "logger", value_hash("logger"), f"logger {logger.name!r}")
        elif isinstance(value, _INERT_TYPES) or _standard_stream(value):
            self.add(name, "inert", value_hash("inert"), type(value).__qualname__)
        elif isinstance(value, _ALIAS_TYPES):
            self.add(name, kind, value_hash(self.alias_text(value, name)), repr(value))
        elif (wrapped := _wrapped(value)) is not None:
            self.reference(self.object_name(type(value)), type(value), "global")
            self.reference(name, wrapped, kind)
        elif _is_routine(value):
            self.foreign(value, name, kind)
        else:
            self.refuse(name, value, kind)

    def function_dependency(self, fn: types.FunctionType, reached_as: str) -> None:
        origin = _function_origin(fn)
        wrapped = _wrapped(fn)
        if origin.kind != "user":
            self.add_origin(origin)  # a library's wrapper: what it wraps may be the user's
            name = reached_as
        elif fn.__name__ == "<lambda>":
            raise HashingError(
                f"{self.label} reads the lambda {reached_as!r}, whose source orcapod cannot "
                "separate from the line around it: define it with def, or "
                + _FIX.format(name=reached_as)
            )
        else:
            name = self.unique(self.code_name(fn))
            kind = "function" if wrapped is None else "wrapper"
            self.add(name, kind, _function_source_hash(fn, self.label), "body")
            self.queue.append((fn, name))
        if wrapped is not None:
            self.reference(f"{name}.__wrapped__", wrapped, "closure")
        registry = vars(fn).get("registry")  # functools.singledispatch: every overload
        if isinstance(registry, types.MappingProxyType | dict):
            overloads = sorted(registry.items(), key=lambda item: _type_label(item[0]))
            for registered, overload in overloads:
                if overload is not wrapped:
                    label = f"{name}.register[{_type_label(registered)}]"
                    self.reference(label, overload, "closure")

    def class_dependency(self, cls: type, reached_as: str) -> None:
        origin = _module_origin(cls.__module__)
        if origin.kind != "user":
            self.add_origin(origin)
            return
        name = self.unique(self.object_name(cls))
        definition = _class_definition(cls)
        if definition is not None:
            self.add(name, "class", class_source_hash(cls), "body")
        elif issubclass(cls, tuple) and hasattr(cls, "_fields"):  # collections.namedtuple
            fields = (tuple(cls._fields), tuple(getattr(cls, "_field_defaults", {}).items()))
            self.add(name, "class", self.data_digest(f"{name}._fields", fields), "fields")
        elif issubclass(cls, enum.Enum):  # Enum("Colour", "RED GREEN")
            members = tuple((member.name, member.value) for member in cls)
            self.add(name, "class", self.data_digest(f"{name}.members", members), "members")
        else:
            raise HashingError(
                f"{self.label} reads the class {reached_as!r}, whose source cannot be found "
                "(made by a function, or by exec): " + _FIX.format(name=reached_as)
            )
        for attribute, member in vars(cls).items():
            if _internal(attribute, member):
                continue
            function = _method_function(member)
            if function is None:
                # Data or code set in the class body; other objects (descriptors such as
                # a namedtuple's fields) are what the class source says they are.
                if definition is not None and _identifiable(member):
                    self.reference(f"{name}.{attribute}", member, "global")
            elif _generated(function):
                continue
            elif function.__qualname__.startswith(f"{cls.__qualname__}."):
                if self.mark(function):  # written in the class: its source is the class's
                    self.queue.append((function, f"{name}.{attribute}"))
            else:  # a function assigned in the class body: identified by its own source
                self.reference(f"{name}.{attribute}", function, "global")
        for base in cls.__bases__:
            if base is not object:
                self.reference(self.object_name(base), base, "global")

    def module_dependency(self, module: types.ModuleType) -> None:
        origin = _module_origin(module.__name__)
        if origin.kind != "user":
            self.add_origin(origin)
            return
        try:
            text = inspect.getsource(module)
        except (OSError, TypeError) as error:
            raise HashingError(
                f"{self.label} uses module {module.__name__!r}, whose source cannot be read "
                f"({error}): " + _FIX.format(name=module.__name__)
            ) from None
        name = self.global_name(module.__name__, None)
        self.add(name, "module", _module_source_hash(text, module.__name__), "body")

    def foreign(self, value: object, name: str, kind: str) -> None:
        """A builtin function, a C function or a callable object of some module."""
        module = getattr(value, "__module__", None)
        if module is None and hasattr(value, "__self__"):
            module = getattr(type(value.__self__), "__module__", None)  # bound builtin method
        if not isinstance(module, str):
            self.refuse(name, value, kind)
            return
        origin = _module_origin(module)
        if origin.kind == "user":
            self.refuse(name, value, kind)
        else:
            self.add_origin(origin)

    def alias_text(self, value: object, name: str) -> str:
        """A type expression spelled with its classes' names, each class a dependency."""
        if value is None or value is type(None):
            return "None"
        if value is Ellipsis:
            return "..."
        if isinstance(value, typing.TypeVar):
            return f"~{value.__name__}"
        if isinstance(value, type):
            self.reference(self.object_name(value), value, "global")
            return self.object_name(value)
        origin, arguments = typing.get_origin(value), typing.get_args(value)
        if origin is None:
            if isinstance(value, _ALIAS_TYPES) or type(value).__module__ == "typing":
                return repr(value)  # a special form: typing.Any, typing.Union
            return f"<{self.data_digest(name, value)}>"  # Annotated's metadata
        parts = ", ".join(self.alias_text(argument, name) for argument in arguments)
        return f"{self.alias_text(origin, name)}[{parts}]"

    def data_digest(self, name: str, value: object) -> str:
        inner: list[tuple[str, object]] = []
        try:
            digest = _value_hash(value, inner)
        except _NotData:
            self.refuse(name, value, "global")
            raise  # pragma: no cover - refuse raises
        for where, part in inner:
            self.reference(f"{name}{where}", part, "global")
        return digest

    def refuse(self, name: str, value: object, kind: str) -> None:
        what = {"closure": "closure variable", "default": "default value"}.get(kind, kind)
        detail = ""
        problem = _first_non_data(value)
        if problem is not None and problem[0]:
            detail = f" holding at {problem[0]} a {_type_name(problem[1])},"
        else:
            try:
                _value_hash(value, [])
            except _NotData as error:
                if isinstance(value, _BUILTIN_DATA):  # data, but not hashable as such
                    detail = f" ({error}),"
        raise HashingError(
            f"{self.label} reads the {what} {name!r}, a {_type_name(value)},{detail} which "
            "orcapod cannot identify by its content (only plain data, code and installed "
            "distributions can be): " + _FIX.format(name=name)
        )

    # -- bookkeeping -------------------------------------------------------------------

    def mark(self, value: object) -> bool:
        """Note ``value`` as walked; False if it already was."""
        if id(value) in self.seen:
            return False
        self.seen.add(id(value))
        self.keep.append(value)
        return True

    def skipped(self, name: str) -> bool:
        self.read.add(name)
        if name in self.ignore:
            self.matched.add(name)
            return True
        return False

    def unique(self, name: str) -> str:
        """``name``, or ``name#2``, ``name#3``... for other objects of the same name
        (two closures of one factory, a decorator used twice)."""
        count = self.taken.get(name, 0) + 1
        self.taken[name] = count
        return name if count == 1 else f"{name}#{count}"

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
        return self.global_name(qualname, fn.__globals__.get("__name__", fn.__module__))

    def object_name(self, value: Any) -> str:
        qualname = str(getattr(value, "__qualname__", getattr(value, "__name__", "?")))
        return self.global_name(qualname.replace("<locals>.", ""), value.__module__)


# -- reading code ------------------------------------------------------------------------


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


def _imports(code: types.CodeType, package: str | None) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The modules ``code`` (and the code nested in it) imports: absolute name and the
    names taken from it (``from m import a, b``), none for ``import m``."""
    instructions = list(dis.get_instructions(code))
    for index, instruction in enumerate(instructions):
        if instruction.opname != "IMPORT_NAME" or index < 2:
            continue
        level, fromlist = instructions[index - 2].argval, instructions[index - 1].argval
        name = str(instruction.argval)
        if isinstance(level, int) and level > 0:
            try:
                name = importlib.util.resolve_name("." * level + name, package)
            except (ImportError, ValueError):
                continue  # a relative import outside a package fails when it runs
        yield name, tuple(fromlist or ())
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _imports(constant, package)


def _find_module_file(name: str) -> str | None:
    """Where the module ``name`` would be imported from, without importing it (or its
    parents): its file, ``"built-in"`` / ``"frozen"``, or None if it is not found."""
    if name in sys.builtin_module_names:
        return "built-in"
    path: list[str] | None = None
    spec = None
    parts = name.split(".")
    for depth in range(len(parts)):
        parent = sys.modules.get(".".join(parts[:depth]))
        if depth and parent is not None:
            path = list(getattr(parent, "__path__", []) or [])
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: depth + 1]), path)
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
    return None if spec is None else spec.origin


def _defaults(fn: types.FunctionType) -> Iterator[tuple[str, object]]:
    code = fn.__code__
    positional = code.co_varnames[: code.co_argcount]
    yield from zip(reversed(positional), reversed(fn.__defaults__ or ()), strict=False)
    yield from (fn.__kwdefaults__ or {}).items()


def _lambda_within(value: object, fn: types.FunctionType) -> bool:
    """Whether ``value`` is a lambda written in ``fn``'s own source (a default value)."""
    if not (isinstance(value, types.FunctionType) and value.__name__ == "<lambda>"):
        return False
    code, outer = value.__code__, fn.__code__
    if code.co_filename != outer.co_filename:
        return False
    last = max((line for _, _, line in outer.co_lines() if line is not None), default=0)
    return outer.co_firstlineno <= code.co_firstlineno <= last


def _wrapped(value: object) -> Any:
    """The function a wrapper keeps (read from its own attributes, never computed)."""
    try:
        attributes = vars(value)
    except TypeError:
        return None
    for attribute in _WRAPPED_ATTRIBUTES:
        inner = attributes.get(attribute)
        if inner is not None and inner is not value and callable(inner):
            return inner
    return None


def _method_function(member: object) -> types.FunctionType | None:
    """The function behind a class attribute: a method, static or class method,
    property getter, ``cached_property`` or wrapped method; None for anything else."""
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    elif isinstance(member, property):
        member = member.fget
    elif isinstance(member, functools.cached_property):
        member = member.func
    while not isinstance(member, types.FunctionType) and (inner := _wrapped(member)) is not None:
        member = inner
    return member if isinstance(member, types.FunctionType) else None


_CLASS_MACHINERY = frozenset(
    {
        "__annotations__",
        "__dataclass_fields__",
        "__dataclass_params__",
        "__dict__",
        "__doc__",
        "__firstlineno__",
        "__hash__",
        "__match_args__",
        "__module__",
        "__orig_bases__",
        "__parameters__",
        "__qualname__",
        "__slots__",
        "__static_attributes__",
        "__weakref__",
    }
)


def _internal(attribute: str, member: object) -> bool:
    """Class machinery (``__dict__``, an enum's ``_member_map_``), not behaviour written
    in the class; dunder *methods* (``__call__``) are behaviour."""
    if attribute in _CLASS_MACHINERY:
        return True
    if attribute.startswith("__") and attribute.endswith("__"):
        return _method_function(member) is None
    return len(attribute) > 2 and attribute[0] == attribute[-1] == "_"


def _identifiable(member: object) -> bool:
    """Whether a class attribute is data or code (what the walk identifies)."""
    try:
        _value_hash(member, [])
    except _NotData:
        return isinstance(member, types.FunctionType | type | types.ModuleType)
    return True


def _generated(fn: types.FunctionType) -> bool:
    """Made by ``exec`` (dataclasses' ``__init__``, ``__repr__``), possibly wrapped."""
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    return code is not None and code.co_filename.startswith("<")


def _initializing(module: str | None) -> bool:
    """Whether ``module`` is still being imported (its later lines have not run)."""
    spec = getattr(sys.modules.get(module or ""), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _is_routine(value: object) -> bool:
    return callable(value) and (
        inspect.isroutine(value) or (hasattr(value, "__module__") and hasattr(value, "__name__"))
    )


def _standard_stream(value: object) -> bool:
    return any(
        value is stream
        for stream in (sys.stdout, sys.stderr, sys.stdin, sys.__stdout__, sys.__stderr__)
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


def _module_source_hash(text: str, name: str) -> str:
    """A user module used as a whole: its normalised source (comments, docstrings ignored)."""
    from orcapod.core.hashing._functions import drop_docstrings, write_node

    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise HashingError(f"cannot parse the source of module {name!r}: {error}") from None
    drop_docstrings(tree)
    out = bytearray(domain("module-source"))
    write_node(tree, out)
    return render(bytes(out))


def _class_definition(cls: type) -> ast.ClassDef | None:
    """The class statement of ``cls`` in its module's source, parsed once per file."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if file is None:  # a module run without registering itself: where its methods are
        files = {
            function.__code__.co_filename
            for function in map(_method_function, vars(cls).values())
            if function is not None and not _generated(function)
        }
        file = files.pop() if len(files) == 1 else None
    if file is None:
        return None
    lines = linecache.getlines(file, getattr(module, "__dict__", None))
    if not lines:
        return None
    candidates = _classes_in("".join(lines)).get(cls.__qualname__, ())
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    # Defined more than once (under an if): the statement holding its methods' code.
    for member in vars(cls).values():
        function = _method_function(member)
        if function is not None and not _generated(function):
            line = function.__code__.co_firstlineno
            for candidate in candidates:
                if candidate.lineno <= line <= (candidate.end_lineno or candidate.lineno):
                    return candidate
    return candidates[-1]


@functools.lru_cache(maxsize=64)
def _classes_in(source: str) -> dict[str, tuple[ast.ClassDef, ...]]:
    """Every class statement of a module's source, by qualified name."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, list[ast.ClassDef]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                found.setdefault(name, []).append(child)
                visit(child, f"{name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, f"{prefix}{child.name}.<locals>.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return {name: tuple(nodes) for name, nodes in found.items()}


def _short(value: object) -> str:
    return _REPR.repr(value)


def _type_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _type_label(kind: object) -> str:
    module = getattr(kind, "__module__", "")
    return f"{module}.{getattr(kind, '__qualname__', repr(kind))}"


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


def _module_origin(module_name: str) -> _Origin:
    return _origin(module_name, getattr(sys.modules.get(module_name), "__file__", None))


def _function_origin(fn: types.FunctionType) -> _Origin:
    """By the module whose globals the function has and the file of its code, which
    ``functools.wraps`` does not change (it copies ``__module__``)."""
    module = fn.__globals__.get("__name__")
    if not isinstance(module, str):
        return _Origin("user", "")
    filename = fn.__code__.co_filename
    return _origin(module, None if filename.startswith("<") else filename)


@functools.cache
def _origin(module_name: str, file: str | None) -> _Origin:
    """Whether a module is the user's own code, the standard library or an installed
    distribution, by where its file is: an editable install is the user's own code,
    and so is a module of the user's named like one of the standard library."""
    top = module_name.partition(".")[0]
    if top == "builtins":
        return _Origin("builtins", top)
    if top == "orcapod":
        return _orcapod_origin(module_name)
    if file is None:  # built into the interpreter, frozen, or made without a file
        stdlib = top in sys.stdlib_module_names or module_name in sys.builtin_module_names
        return _Origin("stdlib", top) if stdlib else _Origin("user", module_name)
    real = os.path.realpath(file)
    if any(real.startswith(root) for root in _install_roots()):
        names = sorted(_packages_distributions().get(top, ()))
        if not names:
            return _Origin("distribution", top, "unknown version")
        return _Origin("distribution", names[0], importlib.metadata.version(names[0]))
    if any(real.startswith(root) for root in _stdlib_roots()):
        return _Origin("stdlib", top)
    return _Origin("user", module_name)


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
def _packages_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def _install_roots() -> tuple[str, ...]:
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots if root))


@functools.cache
def _stdlib_roots() -> tuple[str, ...]:
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots if root))


# -- plain data ------------------------------------------------------------------------------

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
)
"""Standard library value types whose ``repr`` spells out their whole value."""
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
        item = value.str if isinstance(value, sys.modules["numpy"].dtype) else value.item()  # type: ignore[attr-defined]
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
            out += encode_str(_type_label(value.default_factory))
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
        out += (
            u8(15) + encode_str(f"{kind.__module__}.{kind.__qualname__}") + encode_str(repr(value))
        )
    elif isinstance(value, re.Pattern):
        out += u8(17) + encode_str(value.pattern if isinstance(value.pattern, str) else "")
        out += u64(value.flags)
        if isinstance(value.pattern, bytes):
            out += u64(len(value.pattern)) + value.pattern
    elif isinstance(value, PurePath):
        flavour = "windows" if isinstance(value, PureWindowsPath) else "posix"
        out += u8(14) + encode_str(flavour) + encode_str(str(value))
    elif isinstance(value, tuple | list | set | frozenset | dict) or _frozen_dataclass(value):
        if id(value) in active:
            raise _NotData(f"it contains itself at {where or 'its top'}")
        active.add(id(value))
        try:
            _encode_container(value, out, active, inner, where)
        finally:
            active.discard(id(value))
    elif where and isinstance(
        value, types.FunctionType | type | types.BuiltinFunctionType | functools.partial
    ):
        # Code held in data (a table of functions): named here, identified as code.
        inner.append((where, value))
        out += u8(19) + encode_str(
            _type_label(value) if isinstance(value, type) else _qualname(value)
        )
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
        items = [_encoded(item, active, inner, f"{where}{{...}}") for item in value]
        for item in sorted(items):
            out += item
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


def _numpy_value(value: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.generic | numpy.dtype)


def _frozen_dataclass(value: object) -> bool:
    return (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and bool(getattr(getattr(value, "__dataclass_params__", None), "frozen", False))
    )


def _first_non_data(value: object) -> tuple[str, object] | None:
    """Where in ``value`` the first part that is not plain data is, and that part."""
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
        found = _first_non_data(part)
        if found is not None:
            return (f"{where}{found[0]}", found[1])
    return ("", value)
