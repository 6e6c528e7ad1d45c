"""When a run makes its finished work durable, and how a signal ends it cleanly.

Two promises rest on this module (docs/pipelines.md, "Durability"):

- **Bounded loss.** Finished work (results, node records, log rows, status
  events) becomes durable at a *checkpoint*, taken every ``flush_every``
  finished packets and every ``flush_interval`` seconds, whichever comes
  first. A ``kill -9`` loses at most the packets in flight and what finished
  since the last checkpoint.
- **Status is never ahead of the data.** A checkpoint stores the results
  computed so far, flushes the pipeline's database, and only then asks the
  observer to flush: a ``SUCCESS`` row is never durable before its result.
- **Records before results.** A checkpoint stores the node records of every
  result it stores (those of a batch still in progress too), and flushes every
  node's records before the results tables they name (:func:`flush_order`): a
  kill between two paths' commits leaves records whose results are missing
  (read as absent, computed again by the next run), never a stored result its
  node's records lack, so a fresh process's ``node.history()`` holds every row
  ``node.as_table()`` shows.

The clock is checked at every finished packet on the thread that runs the
nodes. A packet that runs longer than ``flush_interval`` on that thread (the
sync orchestrator calls functions on it) would stop the clock, so a timer
thread takes the checkpoint instead, and only while the run's thread is inside
the user's call: that thread holds :attr:`Checkpoints.lock` at every other
moment. Under asyncio a ticker task on the event loop does the same.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from contextlib import contextmanager
from time import monotonic
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import RunInterrupted
from orcapod.protocols.database import flush_paths

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
    from types import FrameType

    from orcapod.core.pipeline._nodes import FunctionNodeRun, Node
    from orcapod.core.pipeline._run import RunContext
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.isolation import Isolation
    from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.values import RecordPath

__all__ = [
    "DEFAULT_FLUSH_EVERY",
    "DEFAULT_FLUSH_INTERVAL",
    "Checkpoints",
    "HeldRecords",
    "Interruption",
    "asyncio_checkpoints",
    "check_flush_options",
    "flush_order",
]

DEFAULT_FLUSH_INTERVAL = 2.0
"""Seconds between checkpoints: a kill loses at most this much finished work."""

DEFAULT_FLUSH_EVERY = 65_536
"""Finished packets between checkpoints: bounds what observers hold in memory. Each
checkpoint is a commit per path written; on Delta a commit costs more as its log grows,
so at 8,192 commits made most of a cheap packet's cost and grew with the packets run."""

MAX_PENDING_BYTES = 64 * 1024 * 1024
"""Bytes of results stored but not yet durable that make a checkpoint due: a store that
buffers its writes until a flush (Delta) holds no more than about this many."""


def check_flush_options(flush_interval: float, flush_every: int) -> None:
    """Refuse a ``flush_interval`` or ``flush_every`` a run cannot keep.

    Raises:
        ValueError: naming the argument, its value and what to pass.
    """
    if (
        isinstance(flush_interval, bool)
        or not isinstance(flush_interval, int | float)
        or not 0 < flush_interval < float("inf")
    ):
        raise ValueError(
            f"flush_interval={flush_interval!r}: pass a number of seconds > 0, e.g. 2.0"
        )
    if type(flush_every) is not int or flush_every < 1:
        raise ValueError(f"flush_every={flush_every!r}: pass a whole number of packets >= 1")


def flush_order(nodes: Iterable[Node]) -> list[RecordPath]:
    """Every path the nodes write, each once, in the order a checkpoint flushes them:
    every node's records (node rows, ``_computed``, ``_node_runs``, ``_identities``)
    first, then the results tables they name (``Node.results_paths``).

    A store committing path by path (Delta) may be killed between two commits.
    Results first, a node sharing a results table with an earlier node (the same
    function) could have results durable whose records are not: ``as_table()``
    would show rows ``history()`` lacks. Records first, a kill leaves records
    naming results not stored, which every reader skips and the next run computes.
    """
    nodes = list(nodes)
    results = {path for node in nodes for path in node.results_paths()}
    # Each once: the function nodes share their pipeline's _identities and _node_runs.
    paths = dict.fromkeys(path for node in nodes for path in node.written_paths())
    return [path for path in paths if path not in results] + [p for p in paths if p in results]


class Checkpoints:
    """The run's clock of checkpoints, and the checkpoint itself.

    Attributes:
        lock: held by the run's thread except while it is inside a user's call;
            the timer thread takes a checkpoint only when it can take the lock.
        finished: packets finished since the last checkpoint.
        deadline: the ``monotonic()`` time by which the next checkpoint is due.
        nodes: the function node runs whose computed results a checkpoint stores.
        paths: where the run's nodes write (results, node records): what
            checkpoints flush, in this order (:func:`flush_order`: records
            before results). Other writers of the database (observers)
            flush their own, so that records one of them cannot store never
            fail the run's checkpoint.
        written: those of :attr:`paths` the run stored records at since its
            last flush (:meth:`wrote`): what the next checkpoint flushes, none
            if none. Every node's end takes a checkpoint; naming every path at
            each, a pipeline of thousands of nodes paid for all its paths at
            each node's end.
    """

    def __init__(
        self,
        database: ArrowDatabase,
        observer: ExecutionObserver,
        *,
        paths: Collection[RecordPath] = (),
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_every: int = DEFAULT_FLUSH_EVERY,
    ) -> None:
        check_flush_options(flush_interval, flush_every)
        self.database = database
        self.paths = tuple(paths)
        # An observer written before ``flush`` joined the protocol writes at node and run ends.
        self.flush_observer: Callable[[], None] = getattr(observer, "flush", _nothing)
        self.interval = float(flush_interval)
        self.every = flush_every
        self.lock = threading.Lock()
        self.finished = 0
        self.deadline = monotonic() + self.interval
        self.pending_bytes = 0  # results stored since the last checkpoint (Arrow's nbytes)
        self.max_pending_bytes = MAX_PENDING_BYTES
        self.nodes: list[FunctionNodeRun] = []
        self.written = set(self.paths)  # the run's start records which nodes it runs
        self._order = {path: number for number, path in enumerate(self.paths)}
        self.failure: BaseException | None = None
        self._stopped = threading.Event()
        self._timer: threading.Thread | None = None

    def packets_finished(self, count: int = 1) -> None:
        """Count finished packets; take a checkpoint when one is due."""
        self.finished += count
        if self.finished >= self.every or monotonic() >= self.deadline:
            self.checkpoint()

    def wrote(self, paths: Iterable[RecordPath]) -> None:
        """Records are stored at ``paths`` now: the next checkpoint flushes them (those
        among :attr:`paths`). Told before the write: one that fails may leave some pending."""
        self.written.update(path for path in paths if path in self._order)

    def checkpoint(self) -> None:
        """Make everything finished so far durable: results first, then the observers' rows.

        Raises:
            BaseException: the database's error (the rows stay pending), or the
                error of a checkpoint the timer took, raised on the run's thread.
        """
        self.results_durable()
        self.flush_observer()
        self.finished = 0
        self.deadline = monotonic() + self.interval

    def results_durable(self) -> None:
        """A checkpoint's first half: store every node's computed results, flush the database
        (the paths the run stored records at since its last flush).

        Raises:
            BaseException: the database's error (or that of the timer's
                checkpoint). On the run's thread, each node first reports the
                packets whose results are not durable as failed
                (``FunctionNodeRun.results_lost``).
        """
        failure, self.failure = self.failure, None
        written: set[RecordPath] = set()
        try:
            if failure is not None:
                raise failure
            for node in self.nodes:
                node.store_progress()
            # What was stored before the last flush is durable already.
            written, self.written = self.written, set()
            if written:
                flush_paths(self.database, sorted(written, key=self._order.__getitem__))
            self.pending_bytes = 0
        except BaseException as error:
            self.written |= written  # what is pending stays so
            if threading.current_thread() is not self._timer:  # the observer hears it here
                for node in self.nodes:
                    node.results_lost(error)
            raise
        if written:
            for node in self.nodes:
                node.results_flushed()

    # -- the timer, for a packet running long on the run's thread --------------

    def start_timer(self) -> None:
        """Start the timer thread (the run's thread must hold :attr:`lock`)."""
        self._timer = threading.Thread(target=self._watch, name="orcapod-checkpoints", daemon=True)
        self._timer.start()

    def stop_timer(self) -> None:
        """Stop the timer thread and wait for a checkpoint it is taking."""
        self._stopped.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None

    def _watch(self) -> None:
        tick = min(self.interval / 4, 1.0)
        while not self._stopped.wait(tick):
            if monotonic() < self.deadline or not self.lock.acquire(blocking=False):
                continue
            try:
                if monotonic() >= self.deadline and not self._stopped.is_set():
                    self.checkpoint()
            except BaseException as error:  # the run's thread raises it at its next packet
                self.failure = error
                self.deadline = float("-inf")
                return
            finally:
                self.lock.release()

    async def tick(self) -> None:
        """The timer of an asyncio run: a task taking checkpoints on the event loop.

        A failed checkpoint is kept and raised by the next packet to finish.
        """
        while True:
            await asyncio.sleep(max(self.deadline - monotonic(), 0.0) + 0.001)
            if monotonic() >= self.deadline:
                try:
                    self.checkpoint()
                except Exception as error:
                    self.failure = error
                    self.deadline = float("-inf")
                    return


def _nothing() -> None:
    pass


@contextmanager
def asyncio_checkpoints(ctx: RunContext) -> Iterator[None]:
    """While nodes run on this event loop: checkpoints by a ticker task, signals cancel the task.

    Raises:
        RunInterrupted: a signal arrived before the loop could be told of it.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    ctx.interruption.check()
    ticker = loop.create_task(ctx.checkpoints.tick(), name="orcapod-checkpoints")

    def cancel() -> None:  # called by the signal handler, on the main thread
        loop.call_soon_threadsafe(task.cancel)

    ctx.interruption.cancel = cancel
    try:
        yield
    finally:
        ctx.interruption.cancel = None
        ticker.cancel()


class HeldRecords:
    """A packet logger that keeps each record until the run's thread hands it on.

    An executor records a call's outcome before the run's thread stores the
    call's result. The timer's checkpoint may fall between the two, so the
    record (which may claim success) is held, and given to the real logger by
    :meth:`release` once the result is where a checkpoint stores it. A logger
    that fails there is its observer's failure (``isolation``), never the
    packet's.

    The sync orchestrator's packets run one after another, so a node's run
    keeps one and points it at each packet's logger in turn.
    """

    __slots__ = ("isolation", "logger", "records")
    keeps_records = True

    def __init__(self, logger: PacketExecutionLogger, isolation: Isolation) -> None:
        self.logger = logger
        self.isolation = isolation
        self.records: list[Mapping[str, Any]] = []

    def record(self, **fields: Any) -> None:
        self.records.append(fields)

    def record_fields(self, fields: Mapping[str, Any]) -> None:
        """:meth:`record`, given the fields as one mapping (kept as it is: the caller's to give)."""
        self.records.append(fields)

    def release(self, *, cancelled: bool = False) -> None:
        """Hand the held records on (each at most once).

        Args:
            cancelled: the run stopped before the call's result was stored, so a
                record claiming success is handed on as a failure saying so.
        """
        records = self.records
        if not records:
            return
        self.records = []
        isolation = self.isolation
        if isolation.failed:
            return
        logger = self.logger
        try:
            take = getattr(logger, "record_fields", None)
            for fields in records:
                if cancelled and fields.get("success"):
                    fields = {**fields, "success": False, "traceback": CANCELLED_TRACEBACK}
                if take is not None:
                    take(fields)
                else:
                    logger.record(**fields)
        except Exception as error:
            isolation.fail("record", error)


CANCELLED_TRACEBACK = (
    "PacketCancelled: the call returned, but the run stopped (fail_fast, or a signal) "
    "before its result was stored\n"
)


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Interruption:
    """Turns SIGTERM, SIGINT and SIGHUP into a clean end of a run.

    While installed (on the main thread only; signals reach no other thread),
    the first of these signals stops the run: raised at once as
    :class:`RunInterrupted` when the run's thread is inside a user's call,
    otherwise noted and raised at the next packet, so the run's own bookkeeping
    is never cut in half; under asyncio, the run's task is cancelled instead.
    A second signal gives up the clean end: the previous handlers are put back
    and it is delivered to them at once (a second Ctrl-C, or a scheduler's
    repeated SIGTERM, ends a run stuck in a flush). A forked child (a function
    using ``multiprocessing``) inherits the handler, which there acts as the
    previous handler would: the child never runs the parent's end. A signal
    the process ignores (``nohup`` ignores SIGHUP) stays ignored.

    Attributes:
        signum: the signal that stopped the run, once one has.
        in_call: whether the run's thread is inside a user's call now.
        cancel: under asyncio, how to cancel the run's task from the handler.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.in_call = False
        self.cancel: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()
        self._delivered = False

    def install(self) -> None:
        """Take over the signals, when called on the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _SIGNALS:
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Give every signal back its previous handler."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def redeliver(self) -> None:
        """Send the signal that stopped the run again, now to its previous handler.

        With the default handler the process ends as that signal ends it
        (SIGTERM: status 143 in a shell); Python's SIGINT handler raises
        ``KeyboardInterrupt``; a handler of the program's own runs.
        """
        if self.signum is not None and not self._delivered:
            self._delivered = True
            signal.raise_signal(self.signum)

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a signal arrived (called between packets)."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid or self.signum is not None:
            # A forked child's signal, or a second one: the previous handlers' turn, now.
            previous = self._previous.get(signum, signal.SIG_DFL)
            self.restore()
            self._delivered = True
            signal.signal(signum, previous)
            signal.raise_signal(signum)
            return
        self.signum = signum
        if self.cancel is not None:
            self.cancel()
        elif self.in_call:
            raise RunInterrupted(signum)
