"""isolate(observer): an observer that fails is reported once, then skipped for the rest
of the run (its node contexts and packet loggers too), and given another chance by the
next run; a KeyboardInterrupt is never swallowed."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from orcapod.protocols import ExecutionObserver, PacketExecutionLogger
from orcapod.protocols.isolation import IsolatedObserver, Isolation, isolate
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

RUN = RunInfo("run-1", "pipe", "memory://", datetime(2026, 1, 1, tzinfo=UTC))
OUTCOME = RunOutcome(RunState.SUCCESS, datetime(2026, 1, 1, tzinfo=UTC), 1, 0, 0)
TAG: Any = {"k": 1}
PACKET: Any = {"x": 1}


class Calls:
    """Every hook call made on an observer and its node contexts and loggers, and the
    hook that raises (shared by all of them)."""

    def __init__(self, fails_in: str | None) -> None:
        self.made: list[str] = []
        self.fails_in = fails_in


class Observer:
    """An observer recording its calls, raising ``failure`` from the hook ``fails_in``."""

    def __init__(
        self,
        fails_in: str | None = None,
        failure: BaseException | None = None,
        calls: Calls | None = None,
    ) -> None:
        self.failure = failure or RuntimeError("the observer's own bug")
        self.calls = calls or Calls(fails_in)

    @property
    def fails_in(self) -> str | None:
        return self.calls.fails_in

    @fails_in.setter
    def fails_in(self, hook: str | None) -> None:
        self.calls.fails_in = hook

    def __repr__(self) -> str:
        return f"Observer(fails_in={self.fails_in!r})"

    def _hook(self, name: str) -> None:
        self.calls.made.append(name)
        if name == self.fails_in:
            raise self.failure

    def on_run_start(self, run: RunInfo) -> None:
        self._hook("on_run_start")

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        self._hook("on_run_end")

    def flush(self) -> None:
        self._hook("flush")

    def contextualize(self, *pipeline_path: str) -> Observer:
        self._hook("contextualize")
        return Observer(self.fails_in, self.failure, self.calls)

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Any) -> None:
        self._hook("on_node_start")

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._hook("on_node_end")

    def on_packet_start(self, node_label: str, tag: Any, packet: Any) -> None:
        self._hook("on_packet_start")

    def on_packet_end(
        self,
        node_label: str,
        tag: Any,
        input_packet: Any,
        output_packet: Any,
        *,
        cached: bool,
        source_run_id: str | None = None,
    ) -> None:
        self._hook("on_packet_end")

    def on_packet_crash(self, node_label: str, tag: Any, packet: Any, error: BaseException) -> None:
        self._hook("on_packet_crash")

    def create_packet_logger(self, tag: Any, packet: Any) -> PacketExecutionLogger:
        self._hook("create_packet_logger")
        return Logger(self)


class Logger:
    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.records: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> None:
        self.observer._hook("record")
        self.records.append(fields)


def one_run(observer: ExecutionObserver, packets: int = 3) -> None:
    """Every hook, as a run of one node of ``packets`` packets calls them."""
    observer.on_run_start(RUN)
    node = observer.contextualize("pipe", "node", "hash")
    node.on_node_start("node", "hash", {})
    for _ in range(packets):
        node.on_packet_start("node", TAG, PACKET)
        node.create_packet_logger(TAG, PACKET).record(success=True)
        node.on_packet_end("node", TAG, PACKET, PACKET, cached=False)
        observer.flush()
    node.on_node_end("node", "hash")
    observer.on_run_end(RUN, OUTCOME)


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


EVERY_HOOK = [
    "on_run_start",
    "contextualize",
    "on_node_start",
    "on_packet_start",
    "create_packet_logger",
    "record",
    "on_packet_end",
    "flush",
    "on_node_end",
    "on_run_end",
]


def test_isolate_wraps_an_observer_once_and_the_result_is_an_observer() -> None:
    isolated = isolate(Observer())

    assert isinstance(isolated, IsolatedObserver)
    assert isinstance(isolated, ExecutionObserver)
    assert isolate(isolated) is isolated


def test_an_observer_that_isolates_its_own_failures_is_not_wrapped() -> None:
    class SelfIsolating(Observer):
        isolates_failures = True

    observer = SelfIsolating()
    assert isolate(observer) is observer


def test_a_working_observer_hears_every_hook_and_every_record() -> None:
    observer = Observer()
    one_run(isolate(observer), packets=2)

    assert observer.calls.made == [
        "on_run_start",
        "contextualize",
        "on_node_start",
        *["on_packet_start", "create_packet_logger", "record", "on_packet_end", "flush"] * 2,
        "on_node_end",
        "on_run_end",
    ]


@pytest.mark.parametrize("hook", EVERY_HOOK)
def test_a_failing_hook_is_reported_once_and_the_observer_skipped_for_the_rest_of_the_run(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    observer = Observer(fails_in=hook)

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        one_run(isolate(observer), packets=5)  # never raises

    (report,) = errors(caplog)
    message = report.getMessage()
    assert f"Observer(fails_in={hook!r})" in message
    assert f"failed in {hook}" in message
    assert "RuntimeError: the observer's own bug" in message
    assert "skipped for the rest of this run" in message
    assert report.exc_info is not None
    assert report.exc_info[1] is observer.failure  # the traceback is logged with it
    # Called up to its first failure; after it, only the run's end reaches it.
    first = observer.calls.made.index(hook)
    assert observer.calls.made[first + 1 :] in ([], ["on_run_end"])
    assert observer.calls.made.count(hook) == 1


def test_a_node_contexts_failure_skips_the_observer_and_all_its_contexts() -> None:
    observer = Observer()
    isolated = isolate(observer)
    isolated.on_run_start(RUN)
    first = isolated.contextualize("pipe", "a", "h")
    second = isolated.contextualize("pipe", "b", "h")
    observer.fails_in = "on_node_start"

    first.on_node_start("a", "h", {})
    observer.fails_in = None  # it would work now, but it is skipped until the next run
    second.on_node_start("b", "h", {})
    second.on_packet_start("b", TAG, PACKET)
    isolated.flush()

    assert observer.calls.made == [
        "on_run_start",
        "contextualize",
        "contextualize",
        "on_node_start",
    ]
    assert (
        isolated.contextualize("pipe", "c", "h").create_packet_logger(TAG, PACKET).keeps_records
        is False
    )  # type: ignore[attr-defined]


def test_after_its_logger_fails_the_observer_asks_for_no_capture() -> None:
    observer = Observer(fails_in="record")
    node = isolate(observer).contextualize("pipe", "node", "hash")

    node.create_packet_logger(TAG, PACKET).record(success=True)
    logger = node.create_packet_logger(TAG, PACKET)

    assert getattr(logger, "keeps_records", True) is False
    logger.record(success=True)
    assert observer.calls.made.count("record") == 1


def test_the_next_run_gives_a_failed_observer_another_chance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observer = Observer(fails_in="on_packet_end")
    isolated = isolate(observer)

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        one_run(isolated)
        observer.fails_in = None
        observer.calls.made.clear()
        one_run(isolated, packets=2)

    assert len(errors(caplog)) == 1
    assert observer.calls.made.count("on_packet_end") == 2
    assert observer.calls.made[-1] == "on_run_end"


def test_a_second_failing_run_is_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    isolated = isolate(Observer(fails_in="on_packet_start"))

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        one_run(isolated)
        one_run(isolated)

    assert len(errors(caplog)) == 2


def test_a_keyboard_interrupt_in_a_hook_is_not_swallowed() -> None:
    isolated = isolate(Observer(fails_in="on_packet_start", failure=KeyboardInterrupt()))
    isolated.on_run_start(RUN)
    node = isolated.contextualize("pipe", "node", "hash")

    with pytest.raises(KeyboardInterrupt):
        node.on_packet_start("node", TAG, PACKET)


def test_a_failing_contextualize_gives_a_node_observer_that_does_nothing() -> None:
    observer = Observer(fails_in="contextualize")
    isolated = isolate(observer)

    node = isolated.contextualize("pipe", "node", "hash")
    one_run(node)

    assert observer.calls.made == ["contextualize"]
    assert getattr(node.create_packet_logger(TAG, PACKET), "keeps_records", True) is False


def test_an_observer_written_before_flush_is_flushed_as_a_no_op(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Older(Observer):
        flush = None  # type: ignore[assignment]  # as if it had no flush

    observer = Older()
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        one_run(isolate(observer))

    assert errors(caplog) == []
    assert "flush" not in observer.calls.made


def test_a_logger_that_keeps_nothing_still_says_so_and_is_isolated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Discarding:
        keeps_records = False

        def record(self, **fields: Any) -> None:
            raise RuntimeError("a quiet logger's bug")

    class Quiet(Observer):
        def create_packet_logger(self, tag: Any, packet: Any) -> PacketExecutionLogger:
            return Discarding()

    logger = isolate(Quiet()).create_packet_logger(TAG, PACKET)

    assert getattr(logger, "keeps_records", True) is False  # so nobody captures for it
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        logger.record(success=True)  # handed a record anyway: its failure is isolated
    assert "a quiet logger's bug" in errors(caplog)[0].getMessage()


def test_a_logger_taking_a_mapping_gets_the_fields_without_repacking() -> None:
    received: list[Any] = []

    class MappingLogger:
        def record(self, **fields: Any) -> None:
            raise AssertionError("record_fields is used when there is one")

        def record_fields(self, fields: Any) -> None:
            received.append(fields)

    class WithMappingLogger(Observer):
        def create_packet_logger(self, tag: Any, packet: Any) -> PacketExecutionLogger:
            return MappingLogger()

    logger = isolate(WithMappingLogger()).create_packet_logger(TAG, PACKET)
    logger.record(success=True, attempt=1)

    assert received == [{"success": True, "attempt": 1}]


def test_concurrent_failures_are_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    isolation = Isolation(Observer())
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        isolation.fail("record", RuntimeError("from a worker thread"))

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        threads = [threading.Thread(target=fail) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(errors(caplog)) == 1
    assert isolation.failed


def test_an_observer_whose_repr_fails_is_still_named_by_its_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Unprintable(Observer):
        def __repr__(self) -> str:
            raise ValueError("no repr")

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        one_run(isolate(Unprintable(fails_in="on_node_start")))

    (report,) = errors(caplog)
    assert "Unprintable" in report.getMessage()
