"""A pool of worker processes, each running one task at a time over its own pipe.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers dies,
it cannot say which task that worker was running, marks every task in flight
broken and terminates the other workers mid-task. ``multiprocessing.Pool``
replaces a dead worker but never finishes the task it held (its caller waits
for ever). Here each worker has its own pipe, so the pool knows which task
each one runs: a worker that dies fails only its own task (with its exit code
or signal), is replaced at the next task, and the other workers go on.

One thread of the pool (the *collector*) sends tasks to idle workers, reads
their answers and notices their deaths, waiting on all their pipes and
process sentinels at once; callers only queue tasks and wait on futures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import weakref
from collections import deque
from concurrent.futures import Future, InvalidStateError
from multiprocessing import get_context
from multiprocessing.connection import wait
from time import perf_counter
from typing import TYPE_CHECKING, Any, NamedTuple

from orcapod.capture import recover_spooled_output
from orcapod.core.errors import ProcessExecutorError
from orcapod.core.executors._process_worker import READY, STOP, serve

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

__all__ = ["Answer", "PoolTask", "WorkerExit", "WorkerPool"]

STOP_WAIT_S = 5.0
"""How long a worker told to stop has before it is killed."""

FORKSERVER_PRELOAD = ("orcapod.core.executors._process_worker", "orcapod.core.function_pods")
"""Imported once by the fork server, so that each worker forked from it starts with
them (and pyarrow) loaded: what every module of packet functions imports."""

SHM = "/dev/shm"
SHM_SPOOL_FREE = 1 << 30
"""Free bytes ``/dev/shm`` must have to hold the spool files (a container's default
64 MiB could be filled by one verbose packet, failing its writes)."""

MAX_START_FAILURES = 3
"""Workers in a row that may die before they are ready before queued tasks fail."""


class Answer(NamedTuple):
    """A task's answer from the worker that ran it."""

    reply: bytes
    pid: int


class WorkerExit(NamedTuple):
    """A task whose worker died while running it."""

    pid: int
    exitcode: int | None
    """The process's exit code; negative: killed by that signal; None: unknown."""
    duration_s: float
    """From the task's sending to the worker's death."""


class PoolTask:
    """One task: its payload, its future (an :class:`Answer` or a :class:`WorkerExit`)."""

    __slots__ = ("cancelled", "future", "payload", "sent_at", "spool", "worker")

    def __init__(self, payload: bytes, spool: str | None) -> None:
        self.payload = payload
        self.spool = spool
        self.future: Future[Answer | WorkerExit] = Future()
        self.cancelled = False
        self.sent_at = 0.0
        self.worker: _Worker | None = None


class _Worker:
    __slots__ = ("conn", "pid", "process", "ready", "task")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid  # type: ignore[assignment]  # started
        self.ready = False
        self.task: PoolTask | None = None


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_exit_hook_registered = False


class WorkerPool:
    """Up to ``max_workers`` worker processes started with ``start_method``.

    Workers start when tasks wait for them (or at :meth:`warm`) and stop at
    :meth:`close`, at interpreter exit, and when the pool is garbage-collected
    (its owner's finaliser closes it).
    """

    def __init__(self, max_workers: int, start_method: str) -> None:
        self.max_workers = max_workers
        self.start_method = start_method
        self._context: Any = get_context(start_method)  # its Process and Pipe
        if start_method == "forkserver":
            _preload_in_forkserver(FORKSERVER_PRELOAD)
        self._lock = threading.RLock()  # a finaliser may close the pool from any thread
        self._queue: deque[PoolTask] = deque()
        self._workers: list[_Worker] = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._closing = False
        self._released = False
        self._closed = threading.Event()
        self._warm = False
        self._start_failures = 0
        self._pid = os.getpid()
        self._spools: str | None = None
        self._fault: str | None = None
        _POOLS.add(self)
        _register_exit_hook()

    # -- the callers' side -------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Whether tasks can be submitted (not closed, and this is the process that made it)."""
        return not self._closing and self._pid == os.getpid()

    def spool_directory(self) -> str:
        """A private directory for the tasks' spool files, made at first use (see
        :func:`spool_parent`)."""
        if self._spools is None:
            with self._lock:
                if self._spools is None:
                    self._spools = tempfile.mkdtemp(prefix="orcapod-processes-", dir=spool_parent())
        return self._spools

    def submit(self, payload: bytes, spool: str | None = None) -> PoolTask:
        """Queue ``payload`` for the next idle worker.

        Raises:
            ProcessExecutorError: the pool is closed.
        """
        task = PoolTask(payload, spool)
        with self._lock:
            if not self.usable:
                raise ProcessExecutorError(
                    "this ProcessExecutor's workers were shut down (teardown()); call "
                    "setup() or make a new ProcessExecutor to run more packets"
                )
            self._queue.append(task)
            self._start_thread()
        self._wake()
        return task

    def cancel(self, task: PoolTask) -> None:
        """Give up ``task``: dropped if still queued, its worker killed at once if it runs
        (so that a run stopped by a signal leaves no packet running after it)."""
        task.cancelled = True
        task.future.cancel()
        with self._lock:
            worker = task.worker
            if worker is not None and worker.task is task and worker in self._workers:
                _kill(worker.process)  # not reaped yet (reaping removes it first): its pid
        self._wake()

    def warm(self) -> None:
        """Start every worker now rather than when tasks come."""
        with self._lock:
            if not self.usable:
                return
            self._warm = True
            self._start_thread()
        self._wake()

    def close(self) -> None:
        """Stop the workers (a task still running is abandoned) and the collector. Idempotent."""
        if self._pid != os.getpid():  # a forked copy: the workers are the parent's
            return
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is None:
            self._release()
            return
        self._wake()
        if thread is not threading.current_thread():
            self._closed.wait()

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and diagnostics)."""
        return [worker.pid for worker in list(self._workers)]

    def _start_thread(self) -> None:
        if self._thread is None:  # under the lock
            self._thread = threading.Thread(
                target=self._collect, name="orcapod-process-pool", daemon=True
            )
            self._thread.start()

    def _wake(self) -> None:
        with self._lock:  # never after _release closed the pipe (its number may be reused)
            if self._wake_w >= 0:
                with contextlib.suppress(OSError):  # full: already woken
                    os.write(self._wake_w, b"w")

    # -- the collector thread ----------------------------------------------------------

    def _collect(self) -> None:
        try:
            self._serve()
        except BaseException as error:  # a fault of the pool itself: fail what waits, loudly
            self._fault = f"{type(error).__name__}: {error}"
            raise
        finally:
            self._release()

    def _serve(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
            self._kill_cancelled()
            self._dispatch()
            workers = list(self._workers)
            waited: list[Any] = [self._wake_r]
            waited += [worker.conn for worker in workers]
            waited += [worker.process.sentinel for worker in workers]
            ready = set(wait(waited))
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            for worker in workers:
                if worker.conn in ready or worker.process.sentinel in ready:
                    self._hear(worker)

    def _dispatch(self) -> None:
        """Send queued tasks to idle workers; start workers for the tasks still waiting."""
        while True:
            with self._lock:
                if not self._queue:
                    break
                idle = next((w for w in self._workers if w.ready and w.task is None), None)
                if idle is None:
                    break
                task = self._queue.popleft()
            if task.cancelled or task.future.cancelled():
                self._discard(task)
                continue
            self._send(idle, task)
        with self._lock:
            starting = sum(1 for worker in self._workers if not worker.ready)
            wanted = self.max_workers if self._warm else len(self._queue) - starting
            missing = min(wanted, self.max_workers - len(self._workers))
        for _ in range(max(missing, 0)):
            if not self._start_worker():
                break

    def _send(self, worker: _Worker, task: PoolTask) -> None:
        with self._lock:
            worker.task, task.worker = task, worker
        task.sent_at = perf_counter()
        try:
            worker.conn.send_bytes(task.payload)
        except OSError:  # the worker died while idle: not this task's fault
            worker.task = None
            with self._lock:
                self._queue.appendleft(task)
            self._died(worker)

    def _start_worker(self) -> bool:
        """Start one worker; False (and the queued tasks failed) if none can be started."""
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=serve, args=(child_end,), name="orcapod-worker", daemon=False
        )
        try:
            with _without_main_script():
                process.start()
        except Exception as error:
            parent_end.close()
            child_end.close()
            if not self._workers:
                self._fail_queued(
                    f"ProcessExecutor could not start a worker process (start method "
                    f"{self.start_method!r}): {type(error).__name__}: {error}"
                )
            return False
        child_end.close()
        with self._lock:
            self._workers.append(_Worker(process, parent_end))
        return True

    def _hear(self, worker: _Worker) -> None:
        """Read what ``worker`` sent, or notice that it died."""
        try:
            if not worker.conn.poll():  # only its sentinel is ready: it ended
                self._died(worker)
                return
            message = worker.conn.recv_bytes()
        except (EOFError, OSError):  # its end of the pipe closed: it ended
            self._died(worker)
            return
        if not worker.ready:
            if message == READY:
                worker.ready = True
                self._start_failures = 0
            return
        task, worker.task = worker.task, None
        if task is not None:
            self._settle(task, Answer(message, worker.pid))

    def _died(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.conn.close()
        exitcode = _reap(worker.process)
        task, worker.task = worker.task, None
        if not worker.ready:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                self._fail_queued(_start_failure(self.start_method, worker.pid, exitcode))
        if task is not None:
            self._settle(task, WorkerExit(worker.pid, exitcode, perf_counter() - task.sent_at))

    def _kill_cancelled(self) -> None:
        for worker in list(self._workers):
            task = worker.task
            if task is not None and task.cancelled:
                _kill(worker.process)

    def _settle(self, task: PoolTask, outcome: Answer | WorkerExit) -> None:
        if task.cancelled:
            self._discard(task)
            return
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
            task.future.set_result(outcome)

    def _discard(self, task: PoolTask) -> None:
        """Forget a cancelled task, removing what it spooled."""
        if task.spool is not None:
            recover_spooled_output(task.spool, max_bytes=0)

    def _fail_queued(self, message: str) -> None:
        """Fail every queued task, each with its own error (one raised many times would
        grow its traceback at each raise)."""
        with self._lock:
            queued, self._queue = list(self._queue), deque()
        for task in queued:
            with contextlib.suppress(InvalidStateError):
                task.future.set_exception(ProcessExecutorError(message))

    def _release(self) -> None:
        """Fail what waits, stop every worker, free the pipes and spools (at the end, once)."""
        with self._lock:
            if self._released:
                return
            self._released = self._closing = True
            workers, self._workers = list(self._workers), []
        why = "was torn down" if self._fault is None else f"failed ({self._fault})"
        self._fail_queued(f"the ProcessExecutor {why} before the packet ran")
        for worker in workers:
            if worker.task is not None:  # abandoned: nobody waits for it past teardown
                _kill(worker.process)
                with contextlib.suppress(InvalidStateError):
                    worker.task.future.set_exception(
                        ProcessExecutorError(f"the ProcessExecutor {why} while the packet ran")
                    )
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send_bytes(STOP)
        for worker in workers:
            worker.conn.close()
            _reap(worker.process, STOP_WAIT_S)
        with self._lock:
            fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), -1, -1
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._spools is not None:
            shutil.rmtree(self._spools, ignore_errors=True)
        self._closed.set()


def spool_parent() -> str:
    """Where the workers' spool files go: ``/dev/shm`` (memory) where it exists with
    ``SHM_SPOOL_FREE`` bytes free, else the temporary directory.

    Each packet's two spool files are made and removed around its call, and on a
    disk that costs 100-500 µs per packet (more while other programs write);
    in memory, about 20 µs. A packet's output lives there only while it runs.
    """
    try:
        found = os.statvfs(SHM)
    except (OSError, AttributeError):
        return tempfile.gettempdir()
    if found.f_bavail * found.f_frsize >= SHM_SPOOL_FREE and os.access(SHM, os.W_OK | os.X_OK):
        return SHM
    return tempfile.gettempdir()


def _reap(process: BaseProcess, wait_s: float = 10.0) -> int | None:
    """Wait for ``process`` to end (killing it after ``wait_s``); its exit code."""
    process.join(wait_s)
    if process.exitcode is None:
        _kill(process)
        process.join(wait_s)
    exitcode = process.exitcode
    with contextlib.suppress(ValueError):  # still running: left to the system
        process.close()
    return exitcode


def _kill(process: BaseProcess) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        process.kill()


def _start_failure(start_method: str, pid: int, exitcode: int | None) -> str:
    how = describe_exit(exitcode)
    return (
        f"ProcessExecutor's worker processes die while starting (the last, pid {pid}, {how}); "
        "what they printed is on this process's stderr. With the start method "
        f"{start_method!r} a worker imports the main module of this program again: guard "
        "the code that runs the pipeline with `if __name__ == '__main__':`"
    )


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words: its exit code or the signal that killed it."""
    if exitcode is None:
        return "ended with an unknown status"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    return f"was killed by {name} (signal {-exitcode})"


def _preload_in_forkserver(modules: tuple[str, ...]) -> None:
    """Add ``modules`` to what the fork server imports when it starts (no effect on one
    already running; the modules already asked for are kept, but not ``__main__``: the
    main script is never run there, see :func:`_without_main_script`)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    asked = list(getattr(server, "_preload_modules", None) or ["__main__"])
    wanted = [name for name in asked if name != "__main__"]
    wanted += [name for name in modules if name not in wanted]
    if wanted != asked:
        forkserver.set_forkserver_preload(wanted)


_starting = threading.local()


@contextlib.contextmanager
def _without_main_script() -> Iterator[None]:
    """Processes started meanwhile by this thread do not run the main script.

    ``multiprocessing`` (spawn, forkserver) has each new process run this program's
    main script (as ``__mp_main__``) before anything else, so that what it defines
    can be unpickled: a script that runs its pipeline outside ``if __name__ ==
    '__main__':`` would run it again in every worker. A worker instead runs the
    script itself when it needs a function of it, with running pipelines refused
    (``_process_worker.load_function``).
    """
    _filter_preparation_data()
    _starting.active = True
    try:
        yield
    finally:
        _starting.active = False


def _filter_preparation_data() -> None:
    """Wrap ``multiprocessing.spawn.get_preparation_data`` (once) to leave out the main
    script for processes started under :func:`_without_main_script`."""
    from multiprocessing import spawn

    original = spawn.get_preparation_data
    if getattr(original, "_orcapod_filtered", False):
        return

    def get_preparation_data(name: str) -> dict[str, Any]:
        data: dict[str, Any] = original(name)
        if getattr(_starting, "active", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            data.pop("main_path", None)  # what a fork server started meanwhile preloads
        return data

    get_preparation_data._orcapod_filtered = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


def _register_exit_hook() -> None:
    """Close every pool when the interpreter exits, before ``multiprocessing`` joins
    its children (which would wait for ever for workers waiting for tasks)."""
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    _exit_hook_registered = True
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(_close_all)  # runs before non-daemon threads are joined
        else:  # pragma: no cover - every supported Python has it
            import atexit

            atexit.register(_close_all)
    except RuntimeError:  # the interpreter is already shutting down
        pass


def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()
