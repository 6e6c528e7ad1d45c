"""Checkpoints and signals: finished work becomes durable in order, on time, and on a signal.

The kills of real processes on real stores are in tests-integration/test_crash_safety.py;
these tests watch the order of writes in one process.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.function_pods import function_pod
from orcapod.core.pipeline import Pipeline
from orcapod.core.sources import DictSource
from orcapod.protocols.testing import RecordingObserver
from orcapod.protocols.values import RunState

if TYPE_CHECKING:
    from collections.abc import Collection

    import pyarrow as pa

    from orcapod.protocols.values import RecordPath

ORCHESTRATORS = ["sync", "async"]
SLOW: dict[str, Any] = {}


class DurableDatabase(InMemoryArrowDatabase):
    """Notes, at each flush, the input hashes of the results made durable by it."""

    def __init__(self) -> None:
        super().__init__()
        self.durable: set[str] = set()
        self.flushes = 0

    def flush(self) -> None:
        super().flush()
        self.flushes += 1
        for path in self.list_paths(("_results",)):
            stored = self.get_all_records(path, record_id_column="__input_packet_hash")
            if stored is not None:
                self.durable.update(stored.column("__input_packet_hash").to_pylist())


class OrderChecking(RecordingObserver):
    """At each flush, every success reported so far must have its result durable."""

    def __init__(self, database: DurableDatabase) -> None:
        super().__init__()
        self.database = database
        self.reported: list[str] = []
        self.checked: list[int] = []

    def contextualize(self, *pipeline_path: str) -> OrderChecking:
        return self  # one shared state for every node

    def on_packet_end(
        self, node_label: str, tag: Any, input_packet: Any, *args: Any, cached: bool, **kwargs: Any
    ) -> None:
        if not cached:
            self.reported.append(input_packet.content_hash())

    def flush(self) -> None:
        missing = [h for h in self.reported if h not in self.database.durable]
        assert not missing, f"{len(missing)} successes would be durable before their results"
        self.checked.append(len(self.reported))

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self.flush()  # an observer writes its rows at a node's end too

    def on_run_end(self, run: Any, outcome: Any) -> None:
        super().on_run_end(run, outcome)
        if outcome.state is not RunState.FAILED:  # a failed run's end says why (see below)
            self.flush()


@function_pod(output_keys="y")
def square(x: int) -> int:
    if x == SLOW.get("x"):
        SLOW["running"] = True
        time.sleep(SLOW["seconds"])
        SLOW["running"] = False
    return x * x


def _pipeline(database: Any, count: int) -> Pipeline:
    source = DictSource([{"id": i, "x": i} for i in range(count)], tag_columns=["id"])
    pipeline = Pipeline("durable", database)
    with pipeline:
        square.pod(source, label="square")
    return pipeline


@pytest.fixture(autouse=True)
def _no_slow_packet() -> None:
    SLOW.clear()


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_every_checkpoint_stores_results_before_the_observer_writes(orchestrator: str) -> None:
    database = DurableDatabase()
    observer = OrderChecking(database)
    _pipeline(database, 50).run(orchestrator, observer=observer, flush_every=7)
    assert len(observer.checked) >= 50 // 7  # checkpoints every 7 finished packets
    assert observer.checked[-1] == 50  # the node's end, then the run's


class PathsNamed(DurableDatabase):
    """Notes the paths each flush names."""

    def __init__(self) -> None:
        super().__init__()
        self.named: list[list[RecordPath]] = []

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:  # type: ignore[override]
        assert paths is not None
        self.named.append(list(paths))
        super().flush()


@function_pod(output_keys="x")
def increment(x: int) -> int:
    return x + 1


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_node_end_flushes_only_what_was_stored_since_the_last_flush(orchestrator: str) -> None:
    """Every node's end makes the results stored so far durable, flushing only the paths
    written since the last flush; none if none (naming every path the run writes, a
    pipeline of thousands of nodes paid for all of them at each node's end)."""
    database = PathsNamed()
    observer = OrderChecking(database)
    pipeline = Pipeline("chain", database)
    with pipeline:
        stream = DictSource([{"id": i, "x": 1000 * i} for i in range(5)], tag_columns=["id"])
        for _ in range(20):
            stream = increment.pod(stream)

    result = pipeline.run(orchestrator, observer=observer)

    assert result.state is RunState.SUCCESS
    assert len(observer.checked) == 22  # every node's end, then the run's: all durable
    assert observer.checked[-1] == 100
    # The graph record's flush, then the first checkpoint: every path the run writes (44).
    one_node = pipeline.nodes["increment"].written_paths()
    assert [len(paths) for paths in database.named[:2]] == [1, 44]
    if orchestrator == "sync":  # every node computed before the first end: nothing after it
        assert len(database.named) == 2
    else:  # each node ends once it has stored its own: its end flushes its few paths only
        assert sum(len(paths) for paths in database.named[2:]) <= 20 * len(one_node)


class CrashImages(InMemoryArrowDatabase):
    """What a fresh process would read after a kill at any moment: at each flush, after
    each path it commits (one by one, in the order named, as Delta does), the records
    durable so far."""

    def __init__(self) -> None:
        super().__init__()
        self.durable: dict[RecordPath, pa.Table] = {}
        self.images: list[dict[RecordPath, pa.Table]] = []

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:  # type: ignore[override]
        super().flush()
        for path in self.list_paths() if paths is None else paths:
            table = self.get_all_records(path, record_id_column="__image_id")
            if table is not None and table.num_rows != len(self.durable.get(path, ())):
                self.durable[path] = table
                self.images.append(dict(self.durable))

    def reopened(self, image: dict[RecordPath, pa.Table]) -> InMemoryArrowDatabase:
        fresh = InMemoryArrowDatabase()
        for path, table in image.items():
            fresh.add_records(path, table, "__image_id")
        return fresh


@function_pod(output_keys="y")
def double(x: int) -> int:
    return 2 * x


def _two_users(database: Any) -> Pipeline:
    """Two nodes of one function (one results table): ``second``'s inputs repeat those of
    ``first``, whose packets each come twice."""
    pipeline = Pipeline("shared", database)
    with pipeline:
        rows = [{"id": i, "x": i // 2} for i in range(40)]
        double.pod(DictSource(rows, tag_columns=["id"]), label="first")
        rows = [{"id": i, "x": i} for i in range(30)]
        double.pod(DictSource(rows, tag_columns=["id"]), label="second")
    return pipeline


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_kill_at_any_commit_leaves_history_and_as_table_agreeing(orchestrator: str) -> None:
    """Killed after any path a checkpoint commits, a fresh process's ``history()`` holds
    the rows ``as_table()`` shows: all of them, but for results the other node stored
    (``as_table()`` finds a result by its packet, whoever stored it; ``history()`` is
    what this node recorded). Checkpoints fall in the middle of batches (every 3
    packets): they stored results without the node records ``history()`` reads, and
    committed the shared results table before the second node's records."""
    database = CrashImages()
    assert _two_users(database).run(orchestrator, flush_every=3).state is RunState.SUCCESS
    assert len(database.images) > 20
    for number, image in enumerate(database.images):
        pipeline = _two_users(database.reopened(image))
        shown = {}  # per node, the x of the rows of its history() and of its as_table()
        for label, x_of in (("first", lambda i: i // 2), ("second", lambda i: i)):
            node = pipeline.nodes[label]
            history = node.history().column("id").to_pylist()
            current = node.as_table().column("id").to_pylist()
            assert len(set(history)) == len(history)
            assert set(history) <= set(current), (number, label)
            extra = {x_of(i) for i in set(current) - set(history)}
            shown[label] = ({x_of(i) for i in history}, extra)
        for label, other in (("first", "second"), ("second", "first")):
            extra, stored_by_other = shown[label][1], shown[other][0]
            assert extra <= stored_by_other, (number, label, sorted(extra - stored_by_other))
    last = _two_users(database.reopened(database.images[-1]))
    for label, count in (("first", 40), ("second", 30)):
        assert sorted(last.nodes[label].history().column("id").to_pylist()) == list(range(count))


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_long_packet_does_not_stop_the_clock(orchestrator: str) -> None:
    SLOW.update(x=5, seconds=1.0)
    database = DurableDatabase()
    seen: list[tuple[bool, int]] = []

    class Watching(OrderChecking):
        def flush(self) -> None:
            super().flush()
            seen.append((SLOW.get("running", False), len(self.reported)))

    observer = Watching(database)
    _pipeline(database, 8).run(orchestrator, observer=observer, flush_interval=0.1)
    during = [reported for running, reported in seen if running]
    assert during, "no checkpoint while the long packet ran"
    # Under sync the five packets before it were durable while it ran; under async
    # (16 in flight) the others finished beside it.
    assert max(during) >= 5


def _signalling_pipeline(database: Any, signum: int, at: int, count: int = 6) -> Pipeline:
    @function_pod(output_keys="y")
    def stop_at(x: int) -> int:
        if x == at:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the signal interrupts this call
        return x * x

    source = DictSource([{"id": i, "x": i} for i in range(count)], tag_columns=["id"])
    pipeline = Pipeline("signalled", database)
    with pipeline:
        stop_at.pod(source, label="stop_at")
    return pipeline


def test_sigterm_ends_the_run_cleanly_then_reaches_the_programs_handler() -> None:
    heard: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
    try:
        database = InMemoryArrowDatabase()
        observer = RecordingObserver()
        started = time.monotonic()
        result = _signalling_pipeline(database, signal.SIGTERM, at=3).run(observer=observer)
        assert time.monotonic() - started < 4  # the packet in flight was stopped
        assert result.state is RunState.INTERRUPTED
        assert result.nodes["stop_at"].computed == 3
        [outcome] = observer.outcomes
        assert outcome.state is RunState.INTERRUPTED
        assert outcome.error == "interrupted by SIGTERM"
        crashes = observer.of("on_packet_crash")
        assert [(crash[2], crash[7]) for crash in crashes] == [({"id": 3}, "PacketCancelled")]
        assert heard == [signal.SIGTERM]  # delivered again, to the handler the program had
        assert sorted(result_rows(database)) == [0, 1, 4]
        assert signal.getsignal(signal.SIGTERM) is not None
        assert signal.getsignal(signal.SIGTERM).__name__ == "<lambda>"  # type: ignore[union-attr]
    finally:
        signal.signal(signal.SIGTERM, previous)


def result_rows(database: InMemoryArrowDatabase) -> list[int]:
    [path] = database.list_paths(("_results",))
    stored = database.get_all_records(path)
    assert stored is not None
    return list(stored.column("y").to_pylist())


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_sigint_stores_what_finished_then_raises_keyboard_interrupt(orchestrator: str) -> None:
    database = InMemoryArrowDatabase()
    observer = RecordingObserver()
    pipeline = _signalling_pipeline(database, signal.SIGINT, at=3)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(orchestrator, observer=observer)
    [outcome] = observer.outcomes
    assert outcome.state is RunState.INTERRUPTED
    assert outcome.error == "interrupted by SIGINT"
    stored = {round(y**0.5) for y in result_rows(database)}
    cancelled = {crash[2]["id"] for crash in observer.of("on_packet_crash")}
    assert 3 in cancelled
    assert 3 not in stored
    if orchestrator == "sync":  # one packet at a time: those before 3 finished, none after began
        assert stored == {0, 1, 2}
    else:  # concurrent packets: under load any may be in flight, but every finished one is stored
        finished = {event[2]["id"] for event in observer.of("on_packet_end")}
        assert finished <= stored
        assert not stored & cancelled
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        result = _signalling_pipeline(InMemoryArrowDatabase(), signal.SIGHUP, at=-1).run()
        assert result.state is RunState.SUCCESS
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_run_off_the_main_thread_leaves_signals_alone() -> None:
    results: list[Any] = []
    handler = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(
        target=lambda: results.append(_pipeline(InMemoryArrowDatabase(), 5).run())
    )
    thread.start()
    thread.join()
    assert results[0].state is RunState.SUCCESS
    assert signal.getsignal(signal.SIGTERM) is handler


def test_a_failing_database_flush_is_raised_and_the_observer_writes_nothing_after() -> None:
    class Failing(DurableDatabase):
        def flush(self) -> None:
            raise OSError("disk full")

    database = Failing()
    observer = OrderChecking(database)
    with pytest.raises(OSError, match="disk full"):
        _pipeline(database, 10).run(observer=observer, flush_every=3)
    # No checkpoint or node end told the observer to write after a failed results flush
    # (the source node ends after its rows went through the function node, so it is told
    # of no end either); the run's end (always called) says the run failed, and why.
    assert observer.checked == []
    assert observer.reported
    [outcome] = observer.outcomes
    assert outcome.state is RunState.FAILED
    assert outcome.error == "OSError: disk full"


def test_an_observer_failing_in_flush_is_skipped_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(RecordingObserver):
        def flush(self) -> None:
            raise RuntimeError("observer disk full")

    result = _pipeline(InMemoryArrowDatabase(), 10).run(observer=Broken(), flush_every=2)
    assert result.state is RunState.SUCCESS
    reports = [r for r in caplog.records if "observer disk full" in r.getMessage()]
    assert len(reports) == 1  # reported once, then skipped


def test_a_second_signal_reaches_the_programs_handler_at_once_and_only_once() -> None:
    # A function swallowing the first signal's RunInterrupted keeps the run from
    # stopping; the second signal gives up the clean end and is delivered at once.
    heard: list[float] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(time.monotonic()))

    @function_pod(output_keys="y")
    def stubborn(x: int) -> int:
        try:
            time.sleep(1.5)
        except BaseException:
            time.sleep(1.5)
        return x

    def send_twice() -> None:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)

    source = DictSource([{"id": 0, "x": 0}, {"id": 1, "x": 1}], tag_columns=["id"])
    pipeline = Pipeline("stubborn", InMemoryArrowDatabase())
    with pipeline:
        stubborn.pod(source, label="stubborn")
    try:
        sender = threading.Thread(target=send_twice)
        started = time.monotonic()
        sender.start()
        result = pipeline.run()
        sender.join()
        assert len(heard) == 1  # delivered once, by the second signal, not again at the end
        assert heard[0] - started < 1.2  # at once, not when the packet ended (about 3 s)
        assert result.state is RunState.INTERRUPTED
        assert result.nodes["stubborn"].computed == 1  # the first packet; none started after
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_forked_child_signalled_ends_as_its_own_handler_says_not_as_the_run() -> None:
    @function_pod(output_keys="status")
    def forking(x: int) -> int:
        child = os.fork()
        if child == 0:  # the child: a SIGTERM must end it, as SIG_DFL does
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except BaseException:
                os._exit(3)  # the run's exception reached the child: wrong
            os._exit(4)
        _, status = os.waitpid(child, 0)
        return status

    source = DictSource([{"id": 0, "x": 0}], tag_columns=["id"])
    pipeline = Pipeline("forking", InMemoryArrowDatabase())
    with pipeline:
        forking.pod(source, label="forking")
    result = pipeline.run(executor=None)
    assert result.state is RunState.SUCCESS
    [status] = pipeline.nodes["forking"].as_table().column("status").to_pylist()
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGTERM
