"""The conformance suite every :class:`~orcapod.protocols.ExecutionObserver` passes.

An observer plugin subclasses :class:`ObserverContract`, sets ``__test__ = True``
and supplies :meth:`~ObserverContract.make_observer`; every inherited test then
drives a fresh observer through hook sequences a run makes (no pipeline runs:
the tags, packets and schemas are small doubles)::

    from orcapod.protocols.testing import ObserverContract

    class TestMyObserver(ObserverContract):
        __test__ = True

        def make_observer(self):
            return MyObserver()

        # optional: what it recorded, one mapping per row, each with a "run_id"
        def recorded_rows(self, observer):
            return [{"run_id": row.run_id} for row in observer.rows]

The sequences are those of the sequential orchestrator (one node after the
other) and of the concurrent one (several node contexts interleaved, packets
from threads while the run flushes), with cache hits, failures, cancelled
packets (:class:`~orcapod.protocols.errors.PacketCancelled`), retried attempts
and flushes between hooks; two runs one after the other on the same observer;
a run that failed; the optional ``on_node_inputs`` hook with known, corrected
and unknown counts, and the optional ``on_node_progress`` of an operator node
(an observer without them passes too). The observer must never raise
from a hook. Without ``recorded_rows`` the tests that read rows back are
skipped.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pytest

from orcapod.protocols.errors import PacketCancelled
from orcapod.protocols.isolation import isolate
from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
from orcapod.protocols.testing.observers import FirstReleaseObserver
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["ObserverContract"]

PIPELINE = "observer_contract"
"""The pipeline name of every run the suite makes."""

_ARROW = {int: pa.int64(), float: pa.float64(), str: pa.large_string(), bool: pa.bool_()}


class _Schema:
    """A schema double: an ordered ``{name: Python type}`` with its Arrow schema."""

    def __init__(self, types: Mapping[str, type]) -> None:
        self._types = dict(types)

    def __getitem__(self, name: str) -> Any:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self._types.items())

    def to_arrow(self) -> pa.Schema:
        return pa.schema([(name, _ARROW[kind]) for name, kind in self._types.items()])


class _Row:
    """A Tag and Packet double: an immutable row of plain values (no system tags)."""

    def __init__(self, **values: Any) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        return f"_Row({self._values!r})"

    def keys(self) -> tuple[str, ...]:
        return tuple(self._values)

    def schema(self) -> _Schema:
        return _Schema({name: type(value) for name, value in self._values.items()})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        return pa.Table.from_pylist([self._values], schema=self.schema().to_arrow())

    def content_hash(self) -> str:
        text = repr(sorted(self._values.items())).encode()
        return f"sha256:{hashlib.sha256(text).hexdigest()}"

    def system_tags(self) -> dict[str, Any]:
        return {}


_TAG_SCHEMA = _Schema({"id": int, "group": str})


def _tag(number: int) -> _Row:
    return _Row(id=number, group=f"g{number % 2}")


def _packet(number: int) -> _Row:
    return _Row(x=float(number))


class _Node:
    """One node of the synthetic pipeline: its label, hash and path."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.hash = "sha256:" + hashlib.sha256(label.encode()).hexdigest()[:16]
        self.path = (PIPELINE, label, self.hash.replace(":", "-"))


NODES = (_Node("double"), _Node("inverse"), _Node("summary"))
"""The nodes of every run, in order."""


def _record_fields(attempt: int, *, success: bool, retried: bool = False) -> dict[str, Any]:
    """Every field of ``ExecutionRecordFields``, and fields no observer knows."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    fields: dict[str, Any] = {
        "stdout": f"attempt {attempt}\n",
        "stderr": "" if success else "warning: about to fail\n",
        "stdout_bytes": 10,
        "stderr_bytes": 0 if success else 23,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "python_logs": [
            {
                "time": at,
                "level": "INFO",
                "logger": "user.code",
                "message": f"attempt {attempt}",
                "pathname": "/pipeline/functions.py",
                "lineno": 12,
                "func": "invert",
            }
        ],
        "python_logs_dropped": 0,
        "traceback": None
        if success
        else "Traceback (most recent call last):\nZeroDivisionError: float division by zero",
        "success": success,
        "duration_s": 0.25,
        "attempt": attempt,
        "executor_type": "contract",
        "capture_level": "sys",
        "capture_error": None,
        "extra": {"worker": "w1"},
        # not in ExecutionRecordFields: kept or ignored, never refused
        "contract_unknown_field": [1, 2, 3],
    }
    if retried:
        fields["retried"] = True
    return fields


class _Driver:
    """Calls hooks, turning an observer's exception into a test failure naming the hook."""

    def __init__(self, observer: ExecutionObserver) -> None:
        self.observer = observer
        self.lock = threading.Lock()
        self.counts = {"success": 0, "failed": 0, "cached": 0}

    def call(self, target: Any, hook: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(target, hook)(*args, **kwargs)
        except (Exception, PacketCancelled) as error:
            pytest.fail(
                f"{type(target).__name__}.{hook} raised {type(error).__name__}: {error}; "
                "an observer must never raise into the run"
            )

    def count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1

    # -- pieces of a run -------------------------------------------------------

    def start_run(self, run_id: str, started_at: datetime) -> RunInfo:
        run = RunInfo(run_id, PIPELINE, "memory://observer-contract", started_at, 60.0)
        self.call(self.observer, "on_run_start", run)
        return run

    def end_run(
        self, run: RunInfo, state: RunState = RunState.SUCCESS, error: str | None = None
    ) -> None:
        outcome = RunOutcome(
            state,
            run.started_at + timedelta(seconds=5),
            self.counts["success"],
            self.counts["failed"],
            self.counts["cached"],
            error,
        )
        self.call(self.observer, "on_run_end", run, outcome)

    def flush(self) -> None:
        self.call(self.observer, "flush")

    def node(self, node: _Node, inputs: int | None = None) -> ExecutionObserver:
        """A node's context, started and told its input count (``None``: not known)."""
        context = self.call(self.observer, "contextualize", *node.path)
        assert isinstance(context, ExecutionObserver), (
            f"contextualize returned {context!r}, not an ExecutionObserver"
        )
        self.call(context, "on_node_start", node.label, node.hash, _TAG_SCHEMA)
        if hasattr(context, "on_node_inputs"):  # optional: observers before it lack it
            self.call(context, "on_node_inputs", node.label, inputs)
        return context

    def end_node(self, context: ExecutionObserver, node: _Node) -> None:
        self.call(context, "on_node_end", node.label, node.hash)

    def logger(self, context: ExecutionObserver, number: int) -> PacketExecutionLogger:
        logger = self.call(context, "create_packet_logger", _tag(number), _packet(number))
        assert isinstance(logger, PacketExecutionLogger), (
            f"create_packet_logger returned {logger!r}, not a PacketExecutionLogger"
        )
        return logger

    def record(self, logger: PacketExecutionLogger, **fields: Any) -> None:
        self.call(logger, "record", **fields)

    def cached(self, context: ExecutionObserver, node: _Node, number: int) -> None:
        self.call(
            context,
            "on_packet_end",
            node.label,
            _tag(number),
            _packet(number),
            _packet(number * 2),
            cached=True,
            source_run_id="an-earlier-run",
        )
        self.count("cached")

    def computed(self, context: ExecutionObserver, node: _Node, number: int) -> None:
        """A packet computed on its first attempt."""
        tag, packet = _tag(number), _packet(number)
        self.call(context, "on_packet_start", node.label, tag, packet)
        logger = self.logger(context, number)
        self.record(logger, **_record_fields(1, success=True))
        self.call(
            context, "on_packet_end", node.label, tag, packet, _packet(number * 2), cached=False
        )
        self.count("success")

    def retried(self, context: ExecutionObserver, node: _Node, number: int) -> None:
        """A packet whose first attempt failed and whose second succeeded."""
        tag, packet = _tag(number), _packet(number)
        self.call(context, "on_packet_start", node.label, tag, packet)
        logger = self.logger(context, number)
        self.record(logger, **_record_fields(1, success=False, retried=True))
        self.record(logger, **_record_fields(2, success=True))
        self.call(context, "on_packet_end", node.label, tag, packet, None, cached=False)
        self.count("success")

    def crashed(
        self, context: ExecutionObserver, node: _Node, number: int, error: BaseException
    ) -> None:
        tag, packet = _tag(number), _packet(number)
        self.call(context, "on_packet_start", node.label, tag, packet)
        logger = self.logger(context, number)
        self.record(logger, **_record_fields(1, success=False))
        self.call(context, "on_packet_crash", node.label, tag, packet, error)
        self.count("failed")

    def packets(self, context: ExecutionObserver, node: _Node, numbers: Sequence[int]) -> None:
        """A mix: a cache hit, computed, retried, failed and cancelled packets."""
        for number in numbers:
            kind = number % 5
            if kind == 0:
                self.cached(context, node, number)
            elif kind == 1:
                self.computed(context, node, number)
            elif kind == 2:
                self.retried(context, node, number)
            elif kind == 3:
                self.crashed(context, node, number, ZeroDivisionError("float division by zero"))
            else:
                self.crashed(context, node, number, PacketCancelled("the run stopped"))

    # -- whole runs ------------------------------------------------------------

    def sequential_run(
        self, run_id: str, started_at: datetime, state: RunState = RunState.PARTIAL
    ) -> None:
        """Nodes one after another, as the sequential orchestrator runs them."""
        run = self.start_run(run_id, started_at)
        for node in NODES:
            context = self.node(node, inputs=8)
            self.packets(context, node, range(5))
            self.flush()
            self.packets(context, node, range(5, 8))
            self.end_node(context, node)
        self.end_run(run, state)

    def concurrent_run(self, run_id: str, started_at: datetime) -> None:
        """Node contexts interleaved, as the concurrent orchestrator runs them."""
        run = self.start_run(run_id, started_at)
        first, second, third = NODES
        a = self.node(first)  # its input streams in: the count is not known
        b = self.node(second, inputs=2)
        self.call(a, "on_packet_start", first.label, _tag(1), _packet(1))
        self.call(b, "on_packet_start", second.label, _tag(1), _packet(1))
        logger_a = self.logger(a, 1)
        self.cached(b, second, 0)
        logger_b = self.logger(b, 1)
        self.flush()
        self.record(logger_b, **_record_fields(1, success=False))
        self.record(logger_a, **_record_fields(1, success=True))
        self.call(b, "on_packet_crash", second.label, _tag(1), _packet(1), ValueError("bad"))
        c = self.node(third, inputs=4)  # a node starting while others run
        self.cached(c, third, 0)
        self.call(a, "on_packet_end", first.label, _tag(1), _packet(1), _packet(2), cached=False)
        self.counts["success"] += 1
        self.counts["failed"] += 1
        self.packets(a, first, range(2, 5))
        self.flush()
        self.end_node(a, first)
        self.packets(c, third, range(1, 4))
        self.crashed(b, second, 2, PacketCancelled("fail_fast: another packet failed"))
        self.end_node(b, second)
        self.end_node(c, third)
        self.end_run(run, RunState.FAILED, "ValueError: bad")

    def operator_run(self, run_id: str, started_at: datetime) -> None:
        """A function node, then operators reporting the input rows they are done with
        (the optional ``on_node_progress``) instead of packets: one a batch at a time,
        one all at once, one the run stops inside."""
        run = self.start_run(run_id, started_at)
        first, second, third = NODES
        context = self.node(first, inputs=3)
        self.packets(context, first, range(3))
        self.end_node(context, first)
        for node, inputs, batches in ((second, 8, (5, 3)), (third, 8, (8,)), (second, 9, (4,))):
            context = self.node(node, inputs=inputs)
            for rows in batches:
                if hasattr(context, "on_node_progress"):  # optional: observers before it lack it
                    self.call(context, "on_node_progress", node.label, rows)
            self.end_node(context, node)
        self.end_run(run, RunState.FAILED, "RuntimeError: stopped")

    def threaded_run(self, run_id: str, started_at: datetime) -> None:
        """Packets from worker threads while the run flushes from its own."""
        run = self.start_run(run_id, started_at)
        contexts = [(self.node(node, inputs=15), node) for node in NODES]
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [
                pool.submit(self.packets, context, node, range(start, start + 5))
                for context, node in contexts
                for start in (0, 5, 10)
            ]
            for _ in range(5):
                self.flush()
            for future in futures:
                future.result()
        for context, node in contexts:
            self.end_node(context, node)
        self.end_run(run, RunState.PARTIAL)


_START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Spy:
    """Passes every call to an observer (or logger), writing it down (shared by its children)."""

    def __init__(self, target: Any, calls: list[str] | None = None, path: tuple[str, ...] = ()):
        self.target = target
        self.calls: list[str] = [] if calls is None else calls
        self.path = path

    def _pass(self, hook: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(f"{hook} {'/'.join(self.path)}")
        return getattr(self.target, hook)(*args, **kwargs)


class _SpyObserver(_Spy):
    """A spy with the observer protocol's hooks spelled out (``isinstance`` checks need them)."""

    def on_run_start(self, run: RunInfo) -> None:
        self._pass("on_run_start", run)

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        self._pass("on_run_end", run, outcome)

    def flush(self) -> None:
        self._pass("flush")

    def contextualize(self, *pipeline_path: str) -> _SpyObserver:
        child = self._pass("contextualize", *pipeline_path)
        return _SpyObserver(child, self.calls, tuple(pipeline_path))

    def on_node_start(self, *args: Any) -> None:
        self._pass("on_node_start", *args)

    def on_node_inputs(self, *args: Any) -> None:
        # Optional: the observer under test may lack it (the call is still written down).
        if hasattr(self.target, "on_node_inputs"):
            self._pass("on_node_inputs", *args)
        else:
            self.calls.append(f"on_node_inputs {'/'.join(self.path)}")

    def on_node_progress(self, *args: Any) -> None:
        # Optional: the observer under test may lack it (the call is still written down).
        if hasattr(self.target, "on_node_progress"):
            self._pass("on_node_progress", *args)
        else:
            self.calls.append(f"on_node_progress {'/'.join(self.path)}")

    def on_node_end(self, *args: Any) -> None:
        self._pass("on_node_end", *args)

    def on_packet_start(self, *args: Any) -> None:
        self._pass("on_packet_start", *args)

    def on_packet_end(self, *args: Any, **kwargs: Any) -> None:
        self._pass("on_packet_end", *args, **kwargs)

    def on_packet_crash(self, *args: Any) -> None:
        self._pass("on_packet_crash", *args)

    def create_packet_logger(self, tag: Any, packet: Any) -> _SpyLogger:
        logger = self._pass("create_packet_logger", tag, packet)
        return _SpyLogger(logger, self.calls, (*self.path, "logger"))


class _SpyLogger(_Spy):
    keeps_records = True

    def record(self, **fields: Any) -> None:
        self._pass("record", **fields)


class ObserverContract:
    """Behaviour every ExecutionObserver must have; subclass it and supply the factory.

    Set ``__test__ = True`` in the subclass and override :meth:`make_observer`;
    override :meth:`recorded_rows` too to have the rows an observer wrote
    checked (else those tests are skipped).
    """

    __test__: ClassVar[bool] = False

    def make_observer(self) -> ExecutionObserver:
        """A new observer, with nothing recorded yet (a fresh store, if it writes to one)."""
        raise NotImplementedError("subclass ObserverContract and override make_observer()")

    def recorded_rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]] | None:
        """Every row ``observer`` recorded durably so far, each with its run's id as
        ``"run_id"``; None (the default) skips the tests that read rows back."""
        return None

    def _rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]]:
        rows = self.recorded_rows(observer)
        if rows is None:
            pytest.skip("recorded_rows() is not provided: the rows are not read back")
        return rows

    # -- the hook sequences of runs --------------------------------------------

    def test_sequential_run(self) -> None:
        _Driver(self.make_observer()).sequential_run("contract-sequential", _START)

    def test_concurrent_run_interleaving_node_contexts(self) -> None:
        _Driver(self.make_observer()).concurrent_run("contract-concurrent", _START)

    def test_packets_from_threads_while_the_run_flushes(self) -> None:
        _Driver(self.make_observer()).threaded_run("contract-threaded", _START)

    def test_operator_nodes_telling_the_rows_they_are_done_with(self) -> None:
        _Driver(self.make_observer()).operator_run("contract-operators", _START)

    def test_a_node_without_packets(self) -> None:
        driver = _Driver(self.make_observer())
        run = driver.start_run("contract-empty", _START)
        node = NODES[0]
        driver.end_node(driver.node(node, inputs=0), node)
        driver.end_run(run)

    def test_node_input_counts_known_unknown_and_wrong(self) -> None:
        """The optional ``on_node_inputs`` hook (skipped for an observer without it):
        a count (told, then corrected while the node runs), ``None`` (not known),
        and a count the run stops far short of."""
        driver = _Driver(self.make_observer())
        run = driver.start_run("contract-inputs", _START)
        first, second, third = NODES
        known = driver.node(first, inputs=3)
        driver.packets(known, first, range(1))
        if hasattr(known, "on_node_inputs"):  # corrected while the node runs
            driver.call(known, "on_node_inputs", first.label, 2)
        driver.packets(known, first, range(1, 2))
        driver.end_node(known, first)
        unknown = driver.node(second, inputs=None)
        driver.packets(unknown, second, range(4))
        driver.end_node(unknown, second)
        stopped = driver.node(third, inputs=1_000_000)
        driver.computed(stopped, third, 1)  # the run stops long before the count
        driver.end_node(stopped, third)
        driver.end_run(run, RunState.FAILED, "RuntimeError: stopped")

    def test_a_run_without_nodes(self) -> None:
        driver = _Driver(self.make_observer())
        driver.end_run(driver.start_run("contract-no-nodes", _START))

    def test_a_failed_run_still_ends(self) -> None:
        driver = _Driver(self.make_observer())
        run = driver.start_run("contract-failed", _START)
        node = NODES[0]
        context = driver.node(node)
        driver.crashed(context, node, 1, RuntimeError("boom"))
        driver.crashed(context, node, 2, PacketCancelled("fail_fast: another packet failed"))
        # the run stopped inside the node: its end and the run's end still come
        driver.end_node(context, node)
        driver.end_run(run, RunState.FAILED, "RuntimeError: boom")

    def test_a_run_failing_outside_any_node_still_ends(self) -> None:
        driver = _Driver(self.make_observer())
        run = driver.start_run("contract-failed-early", _START)
        driver.end_run(run, RunState.FAILED, "TypeError: not a pipeline")

    def test_an_interrupted_run_ends_with_packets_in_flight(self) -> None:
        driver = _Driver(self.make_observer())
        run = driver.start_run("contract-interrupted", _START)
        node = NODES[1]
        context = driver.node(node)
        driver.computed(context, node, 1)
        driver.call(context, "on_packet_start", node.label, _tag(2), _packet(2))
        driver.logger(context, 2)  # no record: the packet never finished an attempt
        driver.end_run(run, RunState.INTERRUPTED, "KeyboardInterrupt: ")

    # -- flushes and runs one after another ------------------------------------

    def test_flush_before_any_run_and_twice_in_a_row(self) -> None:
        observer = self.make_observer()
        driver = _Driver(observer)
        driver.flush()
        driver.flush()
        run = driver.start_run("contract-flushes", _START)
        driver.flush()
        driver.flush()
        node = NODES[0]
        context = driver.node(node)
        driver.flush()
        driver.computed(context, node, 1)
        driver.flush()
        driver.flush()
        driver.end_node(context, node)
        driver.end_run(run)
        driver.flush()
        driver.flush()

    def test_two_runs_one_after_another(self) -> None:
        observer = self.make_observer()
        _Driver(observer).sequential_run("contract-first", _START)
        _Driver(observer).concurrent_run("contract-second", _START + timedelta(minutes=1))
        _Driver(observer).sequential_run("contract-third", _START + timedelta(minutes=2))

    def test_each_run_s_rows_carry_its_own_run_id(self) -> None:
        observer = self.make_observer()
        self._rows(observer)  # skip before running anything
        _Driver(observer).sequential_run("contract-first", _START)
        first = [row["run_id"] for row in self._rows(observer)]
        assert first, "the first run recorded no rows"
        assert set(first) == {"contract-first"}, f"rows of other runs: {set(first)}"
        _Driver(observer).sequential_run("contract-second", _START + timedelta(minutes=1))
        both = [row["run_id"] for row in self._rows(observer)]
        assert set(both) == {"contract-first", "contract-second"}, set(both)
        assert both.count("contract-first") == len(first), (
            "the second run's rows were attributed to the first run"
        )

    def test_rows_are_durable_at_the_run_s_end(self) -> None:
        observer = self.make_observer()
        self._rows(observer)
        _Driver(observer).sequential_run("contract-durable", _START)
        assert self._rows(observer), "nothing was recorded by the end of the run"

    # -- what hooks return -----------------------------------------------------

    def test_contextualize_gives_observers_and_their_loggers_accept_any_field(self) -> None:
        driver = _Driver(self.make_observer())
        run = driver.start_run("contract-loggers", _START)
        for node in NODES:
            context = driver.node(node)
            nested = driver.call(context, "contextualize", *node.path)
            assert isinstance(nested, ExecutionObserver)
            tag, packet = _tag(1), _packet(1)
            driver.call(context, "on_packet_start", node.label, tag, packet)
            logger = driver.logger(context, 1)
            driver.record(logger)  # no field at all
            driver.record(logger, attempt=1, success=True, only_this_observer_knows="x")
            driver.record(logger, **_record_fields(2, success=True))
            driver.call(context, "on_packet_end", node.label, tag, packet, packet, cached=False)
            driver.end_node(context, node)
        driver.end_run(run)

    # -- isolation -------------------------------------------------------------

    def test_isolation_passes_every_hook_through(self) -> None:
        expected = _SpyObserver(FirstReleaseObserver())
        _Driver(expected).sequential_run("contract-isolated", _START)
        _Driver(expected).concurrent_run("contract-isolated-2", _START + timedelta(minutes=1))
        _Driver(expected).operator_run("contract-isolated-3", _START + timedelta(minutes=2))

        spy = _SpyObserver(self.make_observer())
        isolated = isolate(spy)
        assert isolated is not spy, "isolate() must wrap an observer that may fail"
        _Driver(isolated).sequential_run("contract-isolated", _START)
        _Driver(isolated).concurrent_run("contract-isolated-2", _START + timedelta(minutes=1))
        _Driver(isolated).operator_run("contract-isolated-3", _START + timedelta(minutes=2))
        mismatch = next(
            (i for i, (a, b) in enumerate(zip(spy.calls, expected.calls, strict=False)) if a != b),
            min(len(spy.calls), len(expected.calls)),
        )
        last = spy.calls[mismatch - 1] if mismatch else "nothing"
        assert spy.calls == expected.calls, (
            f"through isolate(), call {mismatch} was {spy.calls[mismatch : mismatch + 1]}, "
            f"expected {expected.calls[mismatch : mismatch + 1]}: the observer failed in "
            f"{last!r} (isolate() then skips it; see the ERROR logged by orcapod.observers)"
        )
