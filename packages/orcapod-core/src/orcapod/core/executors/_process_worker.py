"""What runs in a ProcessExecutor's worker process: one packet at a time, under capture.

A worker serves one connection to the run's process: it reads a task (the
function's reference, the pickled arguments, how to capture, where to spool),
runs it, and answers with plain data (the capture's record fields, the value or
the exception, each pickled on their own), so that a value or an exception that
does not pickle never takes the captured output down with it.

Imports only the standard library and ``orcapod.capture`` (never the rest of
orcapod-core), so a worker is ready as soon as its process starts; the user's
function brings its own imports when it is first loaded.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import pickle
import signal
import sys
import traceback
import types
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple

from orcapod.capture import bound_text, pickled_exception, run_captured

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from multiprocessing.connection import Connection

    from orcapod.protocols.values import CaptureLevel

__all__ = [
    "LOADING_MAIN",
    "READY",
    "STOP",
    "CallSettings",
    "Reply",
    "load_function",
    "run_task",
    "serve",
    "unguarded_script_message",
]

READY = b"ready"
"""What a worker sends once it can take tasks."""

STOP = b""
"""What the pool sends a worker to make it exit."""

PICKLE_PROTOCOL = 5

_dumps = functools.partial(pickle.dumps, protocol=PICKLE_PROTOCOL)

MAX_LOADED_FUNCTIONS = 256
"""Functions a worker keeps loaded, by reference (a new set once it is full)."""


class CallSettings(NamedTuple):
    """How one task is run (sent with every task, so kept small)."""

    capture: CaptureLevel | None
    """``"fd"`` or ``"sys"``; None when nobody keeps the record: called directly."""
    max_bytes: int
    max_records: int
    passthrough: bool
    log_level: int
    """The level of the run's root logger, so that the worker logs (and captures)
    the records the run's process would."""


class Reply(NamedTuple):
    """A worker's answer to one task."""

    fields: dict[str, Any] | None
    """The capture's ``ExecutionRecordFields``; None when not captured, or when the
    task could not be loaded (then ``unloaded`` says why)."""
    value: bytes | None
    """What the function returned, pickled; None when it raised or could not be sent."""
    error: bytes | None
    """The function's exception, pickled (checked to unpickle here), or None."""
    error_text: str | None
    """``module.Type: message`` of the function's failure, and why its exception or
    value could not be sent back, when it could not."""
    traceback: str | None
    unloaded: tuple[str, str, str] | None
    """Why the task could not be loaded in this process (the call did not run): what
    (``"function"``, ``"arguments"`` or ``"task"``), the error's ``module.Type`` and
    its message."""


def serve(conn: Connection) -> None:
    """Run the tasks read from ``conn`` until the pool says stop or goes away."""
    # The run's process decides what a Ctrl-C stops (it ends the worker if need be).
    # A Python handler, not SIG_IGN: the user's child processes get the default.
    signal.signal(signal.SIGINT, _ignore_signal)
    _end_with_parent()
    loaded: dict[bytes, Callable[..., Any]] = {}
    try:
        conn.send_bytes(READY)
    except OSError:  # the pool closed before this worker was ready
        return
    while True:
        try:
            task = conn.recv_bytes()
        except (EOFError, OSError):  # the run's process is gone
            return
        if task == STOP:
            return
        answer = pickle.dumps(run_task(task, loaded), PICKLE_PROTOCOL)
        try:
            conn.send_bytes(answer)
        except OSError:
            return


def _ignore_signal(signum: int, frame: Any) -> None:
    """A SIGINT meant for the run's process (a Ctrl-C reaches the whole process group)."""


def _end_with_parent() -> None:
    """End this worker as soon as the process that runs the pipeline ends, even in the
    middle of a packet: a run killed outright leaves no worker computing for nobody.

    A thread waits on the parent's sentinel (ready only once the parent is gone); it
    costs nothing meanwhile.
    """
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])
        os._exit(ORPHANED)

    threading.Thread(target=watch, name="orcapod-parent-watch", daemon=True).start()


ORPHANED = 75
"""A worker's exit code when it ends because the run's process ended."""


def run_task(task: bytes, loaded: dict[bytes, Callable[..., Any]]) -> Reply:
    """Load and run one task; never raises.

    Whatever the function raises, ``SystemExit`` and ``KeyboardInterrupt``
    included, is the task's outcome: the worker lives on.
    """
    try:
        reference, arguments, settings, spool = pickle.loads(task)
    except Exception as error:  # the pool's own data: never expected
        return _unloaded("task", error)
    try:
        fn = loaded.get(reference)
        if fn is None:
            fn = pickle.loads(reference)
            if len(loaded) >= MAX_LOADED_FUNCTIONS:
                loaded.clear()
            loaded[reference] = fn
    except BaseException as error:
        return _unloaded("function", error)
    try:
        kwargs = pickle.loads(arguments)
    except BaseException as error:
        return _unloaded("arguments", error)
    settings = CallSettings(*settings)
    if logging.root.level != settings.log_level:
        logging.root.setLevel(settings.log_level)
    if settings.capture is None:
        return _run_plain(fn, kwargs, settings.max_bytes)
    call = run_captured(
        fn,
        (),
        kwargs,
        level=settings.capture,
        max_bytes=settings.max_bytes,
        max_records=settings.max_records,
        passthrough=settings.passthrough,
        spool_to=spool,
    )
    fields: dict[str, Any] = dict(call.result.as_record_fields())
    if call.error is not None:
        return Reply(
            fields,
            None,
            *pickled_exception(call.error, settings.max_bytes, dumps=_dumps),
            fields["traceback"],
            None,
        )
    return _with_value(fields, call.value, settings.max_bytes)


def _run_plain(fn: Callable[..., Any], kwargs: dict[str, Any], max_bytes: int) -> Reply:
    try:
        value = fn(**kwargs)
    except BaseException as error:
        text = bound_text("".join(traceback.format_exception(error)), max_bytes)
        return Reply(None, None, *pickled_exception(error, max_bytes, dumps=_dumps), text, None)
    return _with_value(None, value, max_bytes)


def _with_value(fields: dict[str, Any] | None, value: Any, max_bytes: int) -> Reply:
    """The reply of a call that returned ``value``; a failure if it cannot be sent back."""
    try:
        return Reply(fields, pickle.dumps(value, PICKLE_PROTOCOL), None, None, None, None)
    except Exception as why:
        text = bound_text(
            f"the function returned a value that cannot be sent back from the worker process: "
            f"{type(value).__module__}.{type(value).__qualname__} does not pickle "
            f"({type(why).__name__}: {bound_text(str(why), 4096)})",
            max_bytes,
        )
        if fields is not None:
            fields["success"] = False
            fields["traceback"] = bound_text("".join(traceback.format_exception(why)), max_bytes)
        return Reply(fields, None, None, text, text, None)


def _unloaded(what: str, error: BaseException) -> Reply:
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    text = bound_text("".join(traceback.format_exception(error)), 64 * 1024)
    return Reply(None, None, None, None, text, (what, kind, bound_text(str(error), 4096)))


# -- loading the user's function by reference ---------------------------------------

LOADING_MAIN: ContextVar[tuple[str, str] | None] = ContextVar("orcapod_loading_main", default=None)
"""``(script, function)`` while a worker runs the run's main script to find a function
in it: running a pipeline then is refused (:func:`unguarded_script_message`)."""


def unguarded_script_message(script: str, function: str) -> str:
    """Why a pipeline may not run while a worker imports the main script."""
    return (
        f"{script} runs a pipeline when it is imported. Put the code that runs pipelines "
        f"under `if __name__ == '__main__':` — ProcessExecutor's worker processes import "
        f"your script to find `{function}`, and would run the pipeline again in each one "
        "(see docs/processes.md)"
    )


def load_function(
    module: str,
    qualname: str,
    import_root: str | None,
    file: str | None,
    main_name: str | None = None,
) -> Callable[..., Any]:
    """The function ``module.qualname``, imported in this process.

    Args:
        import_root: the directory ``module`` is imported from in the run's
            process; put on ``sys.path`` when the module is not found otherwise.
        file: the module's file; where the module cannot be imported by name (a
            file run by ``orcapod run``, a test module imported by path), the file
            is run as that module, once per process, as an import would.
        main_name: the module name of the run's main script (``python -m name``),
            run by that name (its relative imports then work).

    Raises:
        ImportError, AttributeError: the function cannot be found here.
    """
    if main_name is not None and import_root is not None and import_root not in sys.path:
        sys.path.append(import_root)  # where the run's process found the main's package
    found: Any = _main_module(file, qualname, main_name) if module == "__main__" else None
    if found is None:
        found = _module(module, import_root, file)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found  # type: ignore[no-any-return]


def _module(name: str, import_root: str | None, file: str | None) -> types.ModuleType:
    present = sys.modules.get(name)
    if present is not None and _same_file(present, file):
        return present
    try:
        module = _imported(name, import_root)
    except ImportError:
        if file is None:
            raise
    else:
        if _same_file(module, file):
            return module
    if file is None:
        raise ImportError(f"module {name!r} here is not the one the function was defined in")
    return _run_file_as(name, file)


def _main_module(file: str | None, function: str, main_name: str | None) -> types.ModuleType:
    """The run's main script, as this process knows it: the very one (a forked worker),
    or the script run here once as ``__mp_main__`` (as ``multiprocessing`` does), with
    running a pipeline refused meanwhile (:data:`LOADING_MAIN`)."""
    for name in ("__main__", "__mp_main__"):
        present = sys.modules.get(name)
        if present is not None and file is not None and _has_file(present, file):
            return present
    if file is None:
        raise ImportError("the main script of the run has no file a worker can run")
    return _run_file_as("__mp_main__", file, main=function, main_name=main_name)


def _has_file(module: types.ModuleType, file: str) -> bool:
    return getattr(module, "__file__", None) is not None and _same_file(module, file)


def _imported(name: str, import_root: str | None) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        if import_root is None or import_root in sys.path:
            raise
    sys.path.append(import_root)  # where the run's process found it
    return importlib.import_module(name)


def _same_file(module: types.ModuleType, file: str | None) -> bool:
    here: str | None = getattr(module, "__file__", None)
    if file is None or here is None:
        return True
    try:
        return os.path.samefile(here, file)
    except OSError:  # either is gone: compare the names
        return os.path.realpath(here) == os.path.realpath(file)


def _run_file_as(
    name: str, file: str, *, main: str | None = None, main_name: str | None = None
) -> types.ModuleType:
    """Run ``file`` as the module ``name`` (registered first, as an import does).

    Args:
        main: the run's main script is run to find this function: it is registered
            as ``__main__`` too, and may not run pipelines meanwhile.
        main_name: the main script's module name (``python -m``): run by that name.
    """
    import runpy

    with open(file, "rb") as source:
        code = compile(source.read(), file, "exec")
    module = types.ModuleType(name)
    module.__file__ = file
    names = (name, "__main__") if main is not None else (name,)
    before = {each: sys.modules.get(each) for each in names}
    for each in names:
        sys.modules[each] = module
    directory = os.path.dirname(os.path.abspath(file))
    if directory not in sys.path:  # its own imports of modules beside it
        sys.path.append(directory)
    token = LOADING_MAIN.set((file, main)) if main is not None else None
    try:
        with _stores_in_memory():
            if main_name is None:
                exec(code, module.__dict__)
            else:  # as multiprocessing runs a ``-m`` main: in its package
                found = runpy.run_module(main_name, run_name=name, alter_sys=True)
                module.__dict__.update(found)
    except BaseException:
        for each, was in before.items():
            if was is None:
                sys.modules.pop(each, None)
            else:
                sys.modules[each] = was
        raise
    finally:
        if token is not None:
            LOADING_MAIN.reset(token)
    return module


@contextlib.contextmanager
def _stores_in_memory() -> Iterator[None]:
    """Pipelines made meanwhile keep their records in memory: a worker runs a pipeline
    file for its functions, never to open (or create) the stores it names."""
    from orcapod.core.databases import InMemoryArrowDatabase
    from orcapod.core.pipeline._pipeline import COLLECTOR

    token = COLLECTOR.set(([], InMemoryArrowDatabase()))
    try:
        yield
    finally:
        COLLECTOR.reset(token)
