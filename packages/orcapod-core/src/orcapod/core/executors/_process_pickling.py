"""Sending functions to worker processes: by reference, checked once per function.

A worker imports a function by its module and name, as ``pickle`` does, with
two additions: the directory the module was imported from here (the worker
adds it to ``sys.path`` if it cannot find the module otherwise, e.g. a module
beside a notebook), and the module's file, run as that module where its name
cannot be imported (a file run by ``orcapod run``, a test module imported by
path). What has no name a worker can find (a lambda, a function defined inside
another, one defined in an interactive session) is refused here, at once, with
the fix.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import weakref
from types import FunctionType
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import FunctionNotSendableError
from orcapod.core.executors._process_worker import PICKLE_PROTOCOL, load_function

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["describe_function", "dumps", "function_reference", "remember_unsendable"]

_FIX = (
    "Define it with `def` at the top level of a module (a .py file you import), or run it "
    "with LocalExecutor(), which calls it in this process"
)

_references: weakref.WeakKeyDictionary[Callable[..., Any], bytes | str] = (
    weakref.WeakKeyDictionary()
)
"""Each plain function's pickled reference, or why it has none (the message of a
new error each time, so that no traceback grows packet by packet): checked once."""


def describe_function(fn: Any) -> str:
    """``module.qualname`` of ``fn``, as messages name it."""
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module else str(name)


def function_reference(fn: Callable[..., Any]) -> bytes:
    """What a worker loads ``fn`` from: its reference pickled (a plain function's is
    made once and kept).

    Raises:
        FunctionNotSendableError: a worker could not find ``fn`` (or something it
            holds); the message names it and the fix.
    """
    if type(fn) is FunctionType:
        known = _references.get(fn)
        if known is None:
            try:
                known = dumps(fn)
            except FunctionNotSendableError as refused:
                known = str(refused)
            _references[fn] = known
        if isinstance(known, str):
            raise FunctionNotSendableError(known)
        return known
    return dumps(fn)  # a callable object (a function wrapped): its parts by reference


def remember_unsendable(fn: Callable[..., Any], message: str) -> None:
    """Refuse ``fn`` from now on with ``message`` (a worker found it cannot load it)."""
    if type(fn) is FunctionType:
        _references[fn] = message


def dumps(obj: Any) -> bytes:
    """``obj`` pickled with every plain function in it sent by reference.

    Raises:
        FunctionNotSendableError: a function in it has no name a worker can find,
            or something in it does not pickle.
    """
    buffer = io.BytesIO()
    try:
        _Pickler(buffer).dump(obj)
    except FunctionNotSendableError:
        raise
    except Exception as error:
        raise FunctionNotSendableError(
            f"{describe_function(obj)} cannot be sent to a worker process: it does not pickle "
            f"({type(error).__name__}: {error}). {_FIX}."
        ) from error
    return buffer.getvalue()


class _Pickler(pickle.Pickler):
    """A pickler sending plain functions as :func:`load_function` references."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, PICKLE_PROTOCOL)

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is FunctionType and obj is not load_function:
            return load_function, _reference_of(obj)
        return NotImplemented


def _reference_of(fn: FunctionType) -> tuple[Any, ...]:
    """``load_function``'s arguments for ``fn``: module, qualified name, the directory
    its module was imported from and its file (and the module name of a main script
    run with ``python -m``).

    Raises:
        FunctionNotSendableError: a worker could not find ``fn`` by name.
    """
    module, qualname, name = fn.__module__, fn.__qualname__, describe_function(fn)
    if "<lambda>" in qualname:
        raise FunctionNotSendableError(
            f"{name} is a lambda, which a worker process cannot import by name. {_FIX}."
        )
    if "<locals>" in qualname:
        raise FunctionNotSendableError(
            f"{name} is defined inside another function, so a worker process cannot import "
            f"it by name. {_FIX}."
        )
    namespace = fn.__globals__
    if _resolve(namespace, qualname) is not fn:
        raise FunctionNotSendableError(
            f"{name} is not what its module names {qualname!r} (the name was redefined or "
            f"bound to another object since), so a worker process would import another "
            f"function. Give the function its own name at the top level of its module, or "
            "run it with LocalExecutor()"
        )
    file = namespace.get("__file__")
    if module == "__main__":
        main = sys.modules.get("__main__")
        if file is None or main is None or main.__dict__ is not namespace:
            raise FunctionNotSendableError(
                f"{name} is defined in an interactive session (a notebook, a REPL, "
                "`python -c`), which a worker process cannot import. Move it to a module (a "
                ".py file beside the notebook, imported with `from mymodule import "
                f"{qualname.split('.')[0]}`), or run it with LocalExecutor()"
            )
        # Workers are started without the main script (it would run in each at start):
        # they run it themselves to find the function, with running pipelines refused.
        name_run = getattr(main.__spec__, "name", None)  # python -m name_run
        if name_run is None:
            return module, qualname, None, os.path.abspath(file)
        root = _import_root(name_run, file)
        return module, qualname, root, os.path.abspath(file), name_run
    if not isinstance(file, str):
        present = sys.modules.get(module)
        if present is None or present.__dict__ is not namespace:
            raise FunctionNotSendableError(
                f"{name} belongs to no module a worker process can import (module {module!r} "
                f"is not importable and has no file). {_FIX}."
            )
        return module, qualname, None, None
    return module, qualname, _import_root(module, file), os.path.abspath(file)


def _resolve(namespace: dict[str, Any], qualname: str) -> Any:
    head, *rest = qualname.split(".")
    found = namespace.get(head)
    for part in rest:
        found = getattr(found, part, None)
    return found


def _import_root(module: str, file: str) -> str | None:
    """The directory on ``sys.path`` that ``module`` (in ``file``) is imported from."""
    parts = module.split(".")
    root = os.path.dirname(os.path.abspath(file))
    depth = len(parts) if os.path.basename(file).startswith("__init__.") else len(parts) - 1
    for _ in range(depth):
        root = os.path.dirname(root)
    return root
