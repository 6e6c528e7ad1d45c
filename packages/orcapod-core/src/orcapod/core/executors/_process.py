"""ProcessExecutor: runs packet functions in worker processes of this machine, captured there."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import traceback
import uuid
import weakref
from time import perf_counter
from typing import TYPE_CHECKING, Any, Self

from orcapod.capture import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RECORDS,
    bound_text,
    recover_spooled_output,
)
from orcapod.core.errors import FunctionNotSendableError, ProcessExecutorError, WorkerDiedError
from orcapod.core.executors._common import (
    changed_options,
    check_capture_options,
    checked_capture,
    hand_on,
)
from orcapod.core.executors._process_pickling import (
    describe_function,
    function_reference,
    remember_unsendable,
)
from orcapod.core.executors._process_pool import (
    PoolTask,
    WorkerExit,
    WorkerPool,
    describe_exit,
)
from orcapod.core.executors._process_worker import PICKLE_PROTOCOL, CallSettings, Reply
from orcapod.protocols.executors import StringSchema

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.core.executors._process_pool import Answer
    from orcapod.protocols.executors import PythonFunctionExecutor
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.pods import PacketFunction
    from orcapod.protocols.values import CaptureLevel

__all__ = ["ProcessExecutor", "default_start_method"]

_EXECUTOR_DATA_SCHEMA = StringSchema(
    ("capture", "max_bytes", "max_records", "max_workers", "start_method", "pid")
)

_OPTIONS = ("max_workers", "capture", "start_method", "max_bytes", "max_records", "passthrough")

MAX_TRACEBACK_NOTE = 16 * 1024
"""Bytes of a worker's traceback noted on the exception it sent back."""


def default_start_method() -> str:
    """``forkserver`` on Linux, ``spawn`` elsewhere: never ``fork``, which copies this
    process with its threads' locks held (the run's own threads, a database's)."""
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


def _cpu_count() -> int:
    """The CPUs this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ProcessExecutor:
    """Runs Python packet functions in worker processes of this machine, one packet
    at a time per worker, capturing what they print and log in the worker.

    Each call runs under ``orcapod.capture`` in a worker process, at file
    descriptor level by default (Python prints, ``os.write`` to 1 and 2, C
    extensions and child processes), and ``logger.record(...)`` receives the
    same fields as from :class:`LocalExecutor`, with ``executor_type="processes"``
    and the worker's pid in ``extra["worker_pid"]``; then the function's own
    exception, if any, is re-raised as itself. Results, their identities and
    their cache are those of a local run: only where the call ran differs.

    A worker that dies during a call (``os._exit``, a segmentation fault, a
    kill) fails that packet alone, with what it printed before (read from its
    spool files) and a :class:`WorkerDiedError` naming the exit code or signal;
    the worker is replaced and the other packets go on. The function's
    ``retries`` apply as for any failure.

    Functions are sent by reference (module and name): a lambda, a function
    defined inside another or in an interactive session cannot be, and is
    refused with :class:`FunctionNotSendableError` (at :meth:`supports`, when
    a node or a run is given this executor, else at the packet), never a hang.
    A script run as the main program must run its pipelines under ``if __name__
    == '__main__':``: a worker runs the script to find its functions, and a
    pipeline run meanwhile is refused (each packet fails saying so).

    The workers start at the first packet (or :meth:`setup`) and stop at
    :meth:`teardown`, when the executor is garbage-collected, or at exit.

    Args:
        max_workers: worker processes at most; by default the CPUs this process
            may use.
        capture: ``"fd"`` (file descriptors 1 and 2: C extensions and child
            processes too; what a dying worker printed is recovered) or
            ``"sys"`` (Python-level output only).
        start_method: how workers start: ``"forkserver"`` (the default on Linux),
            ``"spawn"`` (elsewhere) or ``"fork"`` (fast, but unsafe in a process
            with threads).
        max_bytes: bytes of stdout and of stderr kept per call (head and tail).
        max_records: log records kept per call.
        passthrough: also show the workers' output live on this terminal.

    Raises:
        ValueError: an option has a value it cannot take; the message names
            the option, the value and the fix.
        orcapod.capture.CaptureOptionError: ``max_bytes`` or ``max_records`` is invalid.
    """

    executor_type = "processes"

    def __init__(
        self,
        max_workers: int | None = None,
        capture: CaptureLevel = "fd",
        *,
        start_method: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_records: int = DEFAULT_MAX_RECORDS,
        passthrough: bool = True,
    ) -> None:
        self.max_workers: int = _checked_max_workers(max_workers)
        self.capture: CaptureLevel = checked_capture("ProcessExecutor", capture)
        check_capture_options(max_bytes, max_records)
        self.start_method: str = _checked_start_method(start_method)
        if not isinstance(passthrough, bool):
            raise ValueError(
                f"ProcessExecutor got passthrough={passthrough!r}; pass True (show the "
                "workers' output live too) or False"
            )
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.passthrough = passthrough
        self._lock = threading.Lock()
        self._pool: WorkerPool | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return (
            f"ProcessExecutor(max_workers={self.max_workers}, capture={self.capture!r}, "
            f"start_method={self.start_method!r}, max_bytes={self.max_bytes}, "
            f"max_records={self.max_records}, passthrough={self.passthrough})"
        )

    # -- the executor contract -------------------------------------------------------

    def supports(self, packet_function: PacketFunction) -> bool:
        """Whether ``packet_function`` is a Python function this executor can send to
        its workers.

        Raises:
            FunctionNotSendableError: it is a Python function no worker could load (a
                lambda, a nested function, one of an interactive session); the message
                names it and the fix.
        """
        fn = getattr(packet_function, "function", None)
        if not callable(fn):
            return False
        function_reference(fn)
        return True

    def with_options(self, **options: Any) -> Self:
        """A new ProcessExecutor (with workers of its own) with ``options`` changed.

        Raises:
            TypeError: an option ProcessExecutor does not have, naming it.
        """
        current = {name: getattr(self, name) for name in _OPTIONS}
        return type(self)(**changed_options("ProcessExecutor", current, options))

    def get_executor_data(self) -> dict[str, str]:
        """How calls ran: capture level and bounds, the pool's size and start method,
        and this (the run's) process id; each worker's id is in its records."""
        return {
            "capture": self.capture,
            "max_bytes": str(self.max_bytes),
            "max_records": str(self.max_records),
            "max_workers": str(self.max_workers),
            "start_method": self.start_method,
            "pid": str(os.getpid()),
        }

    def get_executor_data_schema(self) -> StringSchema:
        """Every key of :meth:`get_executor_data`, each a ``str``."""
        return _EXECUTOR_DATA_SCHEMA

    def setup(self) -> None:
        """Start the worker processes now rather than at the first packet. Idempotent."""
        self._pool_in_use().warm()

    def teardown(self) -> None:
        """Stop the worker processes (a packet still running is abandoned). Idempotent;
        a later call starts new workers."""
        with self._lock:
            pool, self._pool = self._pool, None
            finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if pool is not None:
            pool.close()

    @property
    def concurrency(self) -> int:
        """Packets a node keeps in flight: twice the workers, so that a worker that
        finishes finds its next packet already waiting."""
        return 2 * self.max_workers

    # -- running calls ---------------------------------------------------------------

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """Run ``fn(**kwargs)`` in a worker process and wait for it; record the attempt.

        Returns:
            What ``fn`` returned.

        Raises:
            BaseException: the function's exception, as itself, after it was recorded.
            WorkerDiedError: the worker died during the call.
            FunctionNotSendableError: ``fn`` cannot be sent to, or loaded in, a worker.
            ProcessExecutorError: the arguments, value or exception could not cross
                between the processes, or no worker could be started.
        """
        started = perf_counter()
        pool, task = self._submit(fn, kwargs, logger, started)
        try:
            outcome = task.future.result()
        except ProcessExecutorError as error:
            self._record_failure(logger, error, started, "the packet did not run")
            raise
        except BaseException:  # interrupted while waiting: stop its worker too
            pool.cancel(task)
            raise
        return self._conclude(fn, outcome, task, logger)

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """As :meth:`execute_callable`, awaiting the worker without blocking the event
        loop. A cancelled call stops its worker (replaced at the next packet)."""
        started = perf_counter()
        pool, task = self._submit(fn, kwargs, logger, started)
        try:
            outcome = await asyncio.wrap_future(task.future)
        except ProcessExecutorError as error:
            self._record_failure(logger, error, started, "the packet did not run")
            raise
        except BaseException:  # cancelled (the run stopped) or interrupted
            pool.cancel(task)
            raise
        return self._conclude(fn, outcome, task, logger)

    # -- helpers ---------------------------------------------------------------------

    def _pool_in_use(self) -> WorkerPool:
        pool = self._pool
        if pool is not None and pool.usable:
            return pool
        with self._lock:
            pool = self._pool
            if pool is None or not pool.usable:
                if self._finalizer is not None:
                    self._finalizer.detach()
                pool = self._pool = WorkerPool(self.max_workers, self.start_method)
                # The pool never refers to its executor, so an executor nobody holds
                # is collected, and its workers stop with it.
                self._finalizer = weakref.finalize(self, pool.close)
        return pool

    def _submit(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        logger: PacketExecutionLogger | None,
        started: float,
    ) -> tuple[WorkerPool, PoolTask]:
        """Queue one call for the workers; a call that cannot be sent is recorded and raised."""
        try:
            reference = function_reference(fn)
        except FunctionNotSendableError as error:
            self._record_failure(
                logger, error, started, "the function was not sent: it did not run"
            )
            raise
        try:
            arguments = pickle.dumps(dict(kwargs), PICKLE_PROTOCOL)
        except Exception as unsent:
            refused = ProcessExecutorError(
                f"the arguments of {describe_function(fn)} cannot be sent to a worker process: "
                f"{type(unsent).__name__}: {unsent}. Run it with LocalExecutor(), which "
                "needs no pickling"
            )
            self._record_failure(logger, refused, started, "the call was not sent: it did not run")
            raise refused from unsent
        pool = self._pool_in_use()
        level = None if logger is None else self.capture
        spool = None
        if level == "fd":
            spool = os.path.join(pool.spool_directory(), uuid.uuid4().hex)
        settings = CallSettings(
            level, self.max_bytes, self.max_records, self.passthrough, logging.root.level
        )
        payload = pickle.dumps((reference, arguments, tuple(settings), spool), PICKLE_PROTOCOL)
        return pool, pool.submit(payload, spool)

    def _conclude(
        self,
        fn: Callable[..., Any],
        outcome: Answer | WorkerExit,
        task: PoolTask,
        logger: PacketExecutionLogger | None,
    ) -> Any:
        """Record the attempt; return its value or raise its error."""
        if isinstance(outcome, WorkerExit):
            error: BaseException = _died(fn, outcome)
            if logger is not None:
                hand_on(logger, self._death_fields(error, outcome, task.spool))
            raise error
        reply = Reply(*pickle.loads(outcome.reply))
        if reply.unloaded is not None:
            error = _unloaded(fn, reply, outcome.pid)
            if logger is not None:
                fields = self._failure_fields(error, 0.0, "the call did not run")
                fields["traceback"] = reply.traceback
                fields["extra"] = {"worker_pid": str(outcome.pid)}
                hand_on(logger, fields)
            raise error
        value, raised = _value_or_error(fn, reply, outcome.pid, self.max_bytes)
        if logger is not None and reply.fields is not None:
            fields = reply.fields
            if raised is not None and fields["success"]:  # the value did not come back
                fields["success"] = False
                fields["traceback"] = bound_text(
                    "".join(traceback.format_exception(raised)), self.max_bytes
                )
            fields["attempt"] = 1
            fields["executor_type"] = "processes"
            fields["extra"] = {"worker_pid": str(outcome.pid)}
            hand_on(logger, fields)
        if raised is not None:
            raise raised
        return value

    def _death_fields(
        self, error: BaseException, death: WorkerExit, spool: str | None
    ) -> dict[str, Any]:
        """The record of an attempt whose worker died: what it spooled before, if anything."""
        if spool is None:
            lost = "the worker process died before sending its capture back; what it printed "
            lost += "is lost (capture='sys' keeps output in the worker; capture='fd' spools it)"
            fields = self._failure_fields(error, death.duration_s, lost)
        else:
            lost = "the worker process died before sending its capture back; what it printed "
            lost += "before is read from its spool files (its log records are lost)"
            fields = self._failure_fields(error, death.duration_s, lost)
            fields.update(_spooled(spool, self.max_bytes))
        fields["extra"] = {
            "worker_pid": str(death.pid),
            "worker_exit": describe_exit(death.exitcode),
        }
        return fields

    def _failure_fields(self, error: BaseException, duration_s: float, why: str) -> dict[str, Any]:
        """The record of an attempt that brought no capture back (``why`` says so)."""
        text = f"{type(error).__module__}.{type(error).__qualname__}: {error}\n"
        return {
            "stdout": "",
            "stderr": "",
            "stdout_bytes": 0,
            "stderr_bytes": 0,
            "stdout_truncated": False,
            "stderr_truncated": False,
            "python_logs": [],
            "python_logs_dropped": 0,
            "traceback": bound_text(text, self.max_bytes),
            "success": False,
            "duration_s": duration_s,
            "capture_level": self.capture,
            "capture_error": why,
            "attempt": 1,
            "executor_type": "processes",
        }

    def _record_failure(
        self,
        logger: PacketExecutionLogger | None,
        error: BaseException,
        started: float,
        why: str,
    ) -> None:
        if logger is not None:
            hand_on(logger, self._failure_fields(error, perf_counter() - started, why))


def _spooled(spool: str, max_bytes: int) -> dict[str, Any]:
    """What a dead worker had written to its spool files (removed after reading), within
    ``max_bytes`` per stream, with the full byte counts."""
    sizes = []
    for stream in ("stdout", "stderr"):  # capture(spool_to=) writes <spool_to>.<stream>
        try:
            sizes.append(os.stat(f"{spool}.{stream}").st_size)
        except OSError:
            sizes.append(0)
    found = recover_spooled_output(spool, max_bytes=max_bytes)
    stdout, stderr = found or ("", "")
    return {
        "stdout": stdout,
        "stderr": stderr,
        "stdout_bytes": sizes[0],
        "stderr_bytes": sizes[1],
        "stdout_truncated": sizes[0] > max_bytes,
        "stderr_truncated": sizes[1] > max_bytes,
    }


def _died(fn: Callable[..., Any], death: WorkerExit) -> WorkerDiedError:
    how = describe_exit(death.exitcode)
    why = "" if death.exitcode is None else _EXIT_HINTS.get(death.exitcode, "")
    return WorkerDiedError(
        f"the worker process (pid {death.pid}) running {describe_function(fn)} {how} before "
        f"the function returned{why}",
        pid=death.pid,
        exitcode=death.exitcode,
    )


_EXIT_HINTS = {
    -11: ": a segmentation fault, a crash in C code (an extension module, ctypes)",
    -9: ": killed from outside (kill -9, or the out-of-memory killer)",
    -6: ": abort(), a failed assertion in C code",
    -7: ": a bus error, a crash in C code",
}


def _unloaded(fn: Callable[..., Any], reply: Reply, pid: int) -> ProcessExecutorError:
    """The error of a task the worker could not load: the fix depends on what failed."""
    assert reply.unloaded is not None
    what, kind, message = reply.unloaded
    name = describe_function(fn)
    said = f"{kind}: {message}"
    if what != "function":
        return ProcessExecutorError(
            f"the {what} of {name} could not be loaded in the worker process (pid {pid}): "
            f"{said}. Run it with LocalExecutor(), which needs no pickling"
        )
    if kind == _NOT_SENDABLE:  # the main script runs a pipeline when imported: as said
        refused = FunctionNotSendableError(message)
        remember_unsendable(fn, message)  # its other packets are refused here
        return refused
    if kind in _NOT_FOUND:
        return FunctionNotSendableError(
            f"{name} could not be loaded in the worker process (pid {pid}): {said}. A worker "
            "imports the function's module by name: make it importable there (install it, or "
            "put its directory on sys.path before the run starts), or run it with LocalExecutor()"
        )
    return FunctionNotSendableError(
        f"{name} could not be loaded in the worker process (pid {pid}): importing its module "
        f"there raised {said}. A worker imports the module as this process did: make the "
        "import work in a new process too, or run it with LocalExecutor()"
    )


_NOT_SENDABLE = f"{FunctionNotSendableError.__module__}.{FunctionNotSendableError.__qualname__}"

_NOT_FOUND = frozenset(
    {"builtins.ImportError", "builtins.ModuleNotFoundError", "builtins.AttributeError"}
)


def _value_or_error(
    fn: Callable[..., Any], reply: Reply, pid: int, max_bytes: int
) -> tuple[Any, BaseException | None]:
    """The call's value, or the exception to raise: the function's own as itself."""
    if reply.value is not None:
        try:
            return pickle.loads(reply.value), None
        except Exception as why:
            return None, ProcessExecutorError(
                f"{describe_function(fn)} returned a value in the worker process (pid {pid}) "
                f"that cannot be read back here: {type(why).__name__}: {why}"
            )
    name = describe_function(fn)
    if reply.error is None:  # the exception, or the value, could not be pickled there
        return None, ProcessExecutorError(
            bound_text(
                f"{name} failed in the worker process (pid {pid}): {reply.error_text}", max_bytes
            )
        )
    try:
        error: BaseException = pickle.loads(reply.error)
    except Exception as why:
        return None, ProcessExecutorError(
            bound_text(
                f"{name} raised {reply.error_text} in the worker process (pid {pid}), and it "
                f"cannot be unpickled here: {type(why).__name__}: {why}",
                max_bytes,
            )
        )
    if reply.traceback:
        error.add_note(
            f"Raised in worker process {pid}; its traceback:\n"
            + bound_text(reply.traceback, MAX_TRACEBACK_NOTE)
        )
    return None, error


def _checked_max_workers(max_workers: int | None) -> int:
    if max_workers is None:
        return _cpu_count()
    if type(max_workers) is not int or max_workers < 1:
        raise ValueError(
            f"ProcessExecutor got max_workers={max_workers!r}; pass a whole number >= 1 (how "
            f"many worker processes), or None for one per CPU ({_cpu_count()} here)"
        )
    return max_workers


def _checked_start_method(start_method: str | None) -> str:
    if start_method is None:
        return default_start_method()
    methods = multiprocessing.get_all_start_methods()
    if start_method not in methods:
        raise ValueError(
            f"ProcessExecutor got start_method={start_method!r}; this system offers "
            f"{methods}. Leave it out for the safe default ({default_start_method()!r})"
        )
    return start_method


if TYPE_CHECKING:
    _satisfies_the_protocol: PythonFunctionExecutor = ProcessExecutor()
