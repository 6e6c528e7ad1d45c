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
import dis
import enum
import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import linecache
import logging
import os
import sys
import textwrap
import threading
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import domain, render, u64
from orcapod.core.hashing._origins import (
    _STDLIB,
    _function_origin,
    _module_origin,
    _Origin,
    _origin,
)
from orcapod.core.hashing._plain_data import (
    _BUILTIN_DATA,
    _first_non_data,
    _NotData,
    _object_state,
    _short,
    _type_name,
    _value_hash,
    value_hash,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping

__all__ = ["Dependency", "class_source_hash", "code_dependencies"]

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
        self.modules: set[str] = set()
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
            if isinstance(layer, types.FunctionType) and _function_origin(layer).kind == "user":
                name = self.unique(self.code_name(layer))
                self.add(name, "wrapper", self.source_hash(layer, name), "body")
                self.queue.append((layer, name))
            elif isinstance(layer, types.FunctionType):  # a library's (np.errstate)
                self.function_dependency(layer, self.code_name(layer))
            else:  # a wrapper object (functools.lru_cache, np.vectorize)
                self.wrapper_object(self.object_name(type(layer)), layer, "global")
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
        """``import name`` or ``from name import names`` inside a function body: the
        modules, by source (whether or not something imported them already)."""
        self.module_by_name(name, required=True)
        for attribute in names:
            if attribute != "*":
                self.module_by_name(f"{name}.{attribute}", required=False)  # a submodule?

    def module_by_name(self, name: str, *, required: bool) -> None:
        """A module by its source and the user modules it imports, in turn; a library's
        by its distribution or the standard library. Found without being run."""
        if name in self.modules:
            return
        self.modules.add(name)
        module = sys.modules.get(name)
        if isinstance(module, types.ModuleType):
            file = getattr(module, "__file__", None)
        else:
            file = _find_module_file(name)
            if file is None:
                self.complete = self.complete and not required  # not there (yet)
                return
        origin = _origin(name, None if file in (None, "built-in", "frozen") else file)
        if origin.kind != "user":
            self.add_origin(origin)
            return
        if file is None or not file.endswith(".py") or self.skipped(name):
            return  # a namespace package: nothing of its own to run
        try:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise HashingError(
                f"{self.label} uses module {name!r}, whose source cannot be read ({error}): "
                + _FIX.format(name=name)
            ) from None
        package = name if os.path.basename(file) == "__init__.py" else name.rpartition(".")[0]
        digest, imports = _module_facts(text, name, package)
        self.add(self.global_name(name, None), "module", digest, "body")
        for imported, required in imports:
            self.module_by_name(imported, required=required)

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
        except HashingError as error:  # data that cannot be encoded (a lone surrogate)
            message = f"{self.label} reads {name!r}: {error}; " + _FIX.format(name=name)
            raise HashingError(message) from None
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
        elif _bound(value):  # a method bound to an object: the object is part of it
            self.reference(f"{name}.__self__", value.__self__, kind)  # type: ignore[attr-defined]
            function = getattr(value, "__func__", None)
            if isinstance(function, types.FunctionType):
                self.reference(f"{name}.__func__", function, kind)
            else:
                self.foreign(value, name, kind)
        elif _wrapped(value) is not None:
            self.wrapper_object(name, value, kind)
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
            cells = zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True)
            for var, cell in cells:  # its arguments (np.errstate(divide="ignore"))
                try:
                    value = cell.cell_contents
                except ValueError:
                    continue
                if value is not wrapped:
                    self.library_state(f"{name}.{var}", value)
        else:
            name = self.unique(self.code_name(fn) if fn.__name__ != "<lambda>" else reached_as)
            kind = "function" if wrapped is None else "wrapper"
            self.add(name, kind, self.source_hash(fn, reached_as), "body")
            self.queue.append((fn, name))
        if wrapped is not None:
            self.reference(f"{name}.__wrapped__", wrapped, "closure")
        registry = vars(fn).get("registry")  # functools.singledispatch: every overload
        if isinstance(registry, types.MappingProxyType | dict):
            overloads = sorted(registry.items(), key=lambda item: self.object_name(item[0]))
            for registered, overload in overloads:
                if overload is not wrapped:
                    label = f"{name}.register[{self.object_name(registered)}]"
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
            function = _method_function(member)
            if function is None:
                if _internal(attribute):
                    continue
                if (
                    _identifiable(member)
                    or _wrapped(member) is not None
                    or isinstance(member, functools.partial)
                    or _bound(member)
                ):
                    self.reference(f"{name}.{attribute}", member, "global")
                elif _library_object(member):
                    continue  # the class machinery (_abc_impl, a namedtuple's field getters)
                else:
                    self.reference(f"{name}.{attribute}", member, "global")  # refused
            elif _generated(function) or _function_origin(function).kind in _STDLIB:
                continue  # made by a decorator of the standard library (dataclass, namedtuple)
            elif _written_in(function, cls) and _wrapped(function) is None:
                if self.mark(function):  # its source is the class's: walk what it reads
                    self.queue.append((function, f"{name}.{attribute}"))
            else:  # a wrapped method, or a function assigned in the class body
                self.reference(f"{name}.{attribute}", function, "global")
        for field in getattr(cls, "__dataclass_fields__", {}).values():
            factory = getattr(field, "default_factory", dataclasses.MISSING)
            if factory is not dataclasses.MISSING:
                self.reference(f"{name}.{field.name}.default_factory", factory, "global")
        if type(cls) is not type:
            self.reference(self.object_name(type(cls)), type(cls), "global")  # its metaclass
        for base in cls.__bases__:
            if base is not object:
                self.reference(self.object_name(base), base, "global")

    def module_dependency(self, module: types.ModuleType) -> None:
        self.module_by_name(module.__name__, required=True)

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

    def wrapper_object(self, name: str, value: object, kind: str) -> None:
        """A callable object wrapping a function (``lru_cache``, ``np.vectorize``): its
        class, the function, and its own settings (``otypes``), which must be data."""
        wrapped = _wrapped(value)
        self.reference(self.object_name(type(value)), type(value), "global")
        self.reference(name, wrapped, kind)
        self.library_state(f"{name}.__dict__", value, skip=wrapped)

    def library_state(self, name: str, value: object, skip: object = None) -> None:
        """An object a library's wrapper holds: data, code, or an object whose own
        attributes (not its dunder ones) are data or code; anything else is refused."""
        inner: list[tuple[str, object]] = []
        try:
            digest = _value_hash(value, inner)
        except _NotData:
            state = _object_state(value)
            try:
                if state is None:
                    raise _NotData
                kept = {k: v for k, v in state.items() if v is not skip and not _dunder(k)}
                digest = _value_hash((self.object_name(type(value)), kept), inner)
            except _NotData:
                self.refuse(name, value, "closure")
        self.add(name, "closure", digest, _short(value))
        for where, part in inner:
            self.reference(f"{name}{where}", part, "closure")

    def source_hash(self, fn: types.FunctionType, reached_as: str) -> str:
        """The normalised source of a user function, or of a lambda (its own expression)."""
        try:
            source = inspect.getsource(fn.__code__)
        except (OSError, TypeError) as error:
            raise HashingError(
                f"{self.label} depends on {reached_as!r}, whose source cannot be read "
                f"({error}): define it in a .py file, or " + _FIX.format(name=reached_as)
            ) from None
        if fn.__name__ == "<lambda>":
            return _lambda_source_hash(source, fn, self.label, reached_as)
        from orcapod.core.hashing._functions import source_code_hash

        return source_code_hash(source, label=reached_as)

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
        key = (name, kind)
        count = 1
        while key in self.found and self.found[key].digest != digest:
            count += 1  # another object reached under the same name (two partials of a set)
            key = (f"{name}#{count}", kind)
        self.found[key] = Dependency(key[0], kind, digest, shown)

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
    elif isinstance(member, functools.cached_property | functools.singledispatchmethod):
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


def _internal(attribute: str) -> bool:
    """Class machinery that is not a function: dunder data (``__dict__``, ``__slots__``)
    and ``_sunder_`` names (an enum's ``_member_map_``)."""
    if attribute in _CLASS_MACHINERY or _dunder(attribute):
        return True
    return len(attribute) > 2 and attribute[0] == attribute[-1] == "_"


def _identifiable(member: object) -> bool:
    """Whether a class attribute is data or code (what the walk identifies)."""
    try:
        _value_hash(member, [])
    except _NotData:
        return isinstance(member, types.FunctionType | type | types.ModuleType)
    return True


def _bound(value: object) -> bool:
    """A method bound to an object (not a module's builtin function)."""
    if isinstance(value, types.MethodType | types.MethodWrapperType):
        return True
    owner = getattr(value, "__self__", None)
    return (
        isinstance(value, types.BuiltinMethodType)
        and owner is not None
        and not isinstance(owner, types.ModuleType)
    )


def _library_object(value: object) -> bool:
    """An object of a class of the standard library (not code of the user's or a
    distribution's, which would be versioned)."""
    module = getattr(type(value), "__module__", None)
    return isinstance(module, str) and _module_origin(module).kind in _STDLIB


def _written_in(fn: types.FunctionType, cls: type) -> bool:
    """Whether ``fn`` is written in ``cls``'s body (so its source is the class's)."""
    return fn.__code__.co_qualname.startswith(f"{cls.__qualname__}.")


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


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


@functools.lru_cache(maxsize=256)
def _module_facts(text: str, name: str, package: str) -> tuple[str, tuple[tuple[str, bool], ...]]:
    """A user module's normalised source hash (comments, docstrings ignored) and the
    modules it imports anywhere (absolute; ``from m import x`` may name a submodule
    ``m.x``, which is not required to exist)."""
    from orcapod.core.hashing._functions import drop_docstrings, write_node

    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise HashingError(f"cannot parse the source of module {name!r}: {error}") from None
    imports: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend((alias.name, True) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package or None)
                except (ImportError, ValueError):
                    continue
            imports.append((base, True))
            imports.extend((f"{base}.{alias.name}", False) for alias in node.names)
    drop_docstrings(tree)
    out = bytearray(domain("module-source"))
    write_node(tree, out)
    return render(bytes(out)), tuple(dict.fromkeys(imports))


def _lambda_source_hash(source: str, fn: types.FunctionType, label: str, reached_as: str) -> str:
    """A lambda's own expression, found in the lines around it: every lambda on those
    lines with its number of parameters (usually one)."""
    from orcapod.core.hashing._functions import write_node

    text = textwrap.dedent(source).strip()
    tree = None
    for attempt in (text, text.lstrip("@"), f"({text})"):
        try:
            tree = ast.parse(attempt)
            break
        except SyntaxError:
            continue
    arity = fn.__code__.co_argcount + fn.__code__.co_kwonlyargcount
    lambdas = [
        node
        for node in (ast.walk(tree) if tree is not None else ())
        if isinstance(node, ast.Lambda)
        and len(node.args.posonlyargs) + len(node.args.args) + len(node.args.kwonlyargs) == arity
    ]
    if not lambdas:
        raise HashingError(
            f"{label} reads the lambda {reached_as!r}, whose source orcapod cannot separate "
            "from the lines around it: define it with def, or " + _FIX.format(name=reached_as)
        )
    out = bytearray(domain("lambda-source"))
    out += u64(len(lambdas))
    for node in lambdas:
        write_node(node, out)
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
