"""CompositeObserver isolates its children as isolate() isolates an observer: a child
that fails is reported once per run (not once per packet) and skipped for the rest
of it, the others carry on; flush() reaches every child that has one."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    StatusObserver,
)
from orcapod.protocols import ExecutionObserver
from orcapod.protocols.isolation import isolate
from orcapod.protocols.testing import FirstReleaseObserver

PACKETS = 8


@function_pod(output_keys="y")
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@function_pod(output_keys="y", retries=1)
def square_retried(x: int) -> int:
    print(f"squaring {x}")
    return x * x


def _pipeline(database: InMemoryArrowDatabase) -> Pipeline:
    source = DictSource([{"k": i, "x": i} for i in range(PACKETS)], tag_columns=["k"])
    pipeline = Pipeline("iso", database)
    with pipeline:
        square.pod(source, label="square")
    return pipeline


class Counting:
    """An observer counting each hook call (node contexts share the counts); raises
    from ``fails_in`` while ``failing``."""

    def __init__(self, fails_in: str | None = None, counts: dict[str, int] | None = None) -> None:
        self.fails_in = fails_in
        self.counts: dict[str, int] = counts if counts is not None else {}
        self.failing = True

    def __repr__(self) -> str:
        return f"Counting(fails_in={self.fails_in!r})"

    def _hook(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == self.fails_in and self.failing:
            raise RuntimeError(f"counting observer broke in {name}")

    def on_run_start(self, run: Any) -> None:
        self._hook("on_run_start")

    def on_run_end(self, run: Any, outcome: Any) -> None:
        self._hook("on_run_end")

    def flush(self) -> None:
        self._hook("flush")

    def contextualize(self, *pipeline_path: str) -> Counting:
        self._hook("contextualize")
        child = Counting(self.fails_in, self.counts)
        child.failing = self.failing
        return child

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Any) -> None:
        self._hook("on_node_start")

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._hook("on_node_end")

    def on_packet_start(self, node_label: str, tag: Any, packet: Any) -> None:
        self._hook("on_packet_start")

    def on_packet_end(self, node_label: str, tag: Any, *args: Any, **kwargs: Any) -> None:
        self._hook("on_packet_end")

    def on_packet_crash(self, node_label: str, tag: Any, packet: Any, error: Any) -> None:
        self._hook("on_packet_crash")

    def create_packet_logger(self, tag: Any, packet: Any) -> Any:
        self._hook("create_packet_logger")
        return _CountingLogger(self)


class _CountingLogger:
    def __init__(self, observer: Counting) -> None:
        self.observer = observer

    def record(self, **fields: Any) -> None:
        self.observer._hook("record")


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "hook", ["on_packet_start", "create_packet_logger", "record", "on_packet_end", "flush"]
)
def test_a_child_failing_per_packet_is_reported_once_and_skipped_while_others_record(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    broken = Counting(fails_in=hook)
    composite = CompositeObserver(broken, StatusObserver(database), LoggingObserver(database))

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(observer=composite, flush_every=1)

    assert result.n_computed == PACKETS
    (report,) = _errors(caplog)  # not one per packet
    assert f"Counting(fails_in={hook!r}) failed in {hook}" in report.getMessage()
    assert report.exc_info is not None
    assert broken.counts[hook] == 1
    # Skipped for the rest of the run; only the run's end still reaches it.
    assert broken.counts["on_run_end"] == 1
    name, label, node_hash = pipeline.nodes["square"].pipeline_path
    logs = database.get_all_records((name, "_logs", label, node_hash))
    status = database.get_all_records((name, "_status", label, node_hash))
    assert logs is not None
    assert logs.num_rows == PACKETS
    assert status is not None
    assert status.num_rows == 2 * PACKETS


def test_the_next_run_gives_a_failed_child_another_chance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = InMemoryArrowDatabase()
    broken = Counting(fails_in="on_packet_start")
    composite = CompositeObserver(broken)

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        _pipeline(database).run(observer=composite)
        broken.failing = False
        broken.counts.clear()
        _pipeline(InMemoryArrowDatabase()).run(observer=composite)

    assert len(_errors(caplog)) == 1
    assert broken.counts["on_packet_start"] == PACKETS
    assert broken.counts["on_run_end"] == 1


def test_flush_reaches_every_child_that_has_one() -> None:
    with_flush = Counting()

    class WithoutFlush:
        """An observer written before flush was part of the contract."""

        def __getattr__(self, name: str) -> Any:
            if name == "flush":
                raise AttributeError(name)
            return lambda *args, **kwargs: None

    composite = CompositeObserver(with_flush, WithoutFlush())  # type: ignore[arg-type]
    composite.flush()
    composite.flush()

    assert with_flush.counts["flush"] == 2


def test_a_composite_is_its_own_isolation_and_satisfies_the_protocol() -> None:
    composite = CompositeObserver(Counting())  # type: ignore[arg-type]

    assert isolate(composite) is composite
    assert isinstance(composite, ExecutionObserver)
    assert isinstance(composite.contextualize("p", "n", "h"), ExecutionObserver)


def test_a_child_failing_in_contextualize_is_left_out_of_every_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = InMemoryArrowDatabase()
    broken = Counting(fails_in="contextualize")
    composite = CompositeObserver(broken, LoggingObserver(database))  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        _pipeline(database).run(observer=composite)

    assert len(_errors(caplog)) == 1
    assert broken.counts.get("on_packet_start", 0) == 0


def test_a_raising_observer_passed_alone_and_isolated_does_not_abort_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    broken = Counting(fails_in="on_packet_end")

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(observer=isolate(broken))  # type: ignore[arg-type]

    assert result.n_computed == PACKETS
    assert len(_errors(caplog)) == 1
    assert broken.counts["on_packet_end"] == 1


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize(
    "hook", ["on_packet_start", "create_packet_logger", "record", "on_packet_end", "flush"]
)
def test_an_observer_passed_directly_failing_per_packet_is_reported_once_and_skipped(
    hook: str, retries: int, orchestrator: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The run calls a plain observer's per-packet hooks without isolate()'s wrappers
    # (PacketHooks): it must catch and report their failures as isolate() does, on
    # both orchestrators and on the retrying path.
    database = InMemoryArrowDatabase()
    source = DictSource([{"k": i, "x": i} for i in range(PACKETS)], tag_columns=["k"])
    pipeline = Pipeline("direct", database)
    pod = square_retried if retries else square
    with pipeline:
        pod.pod(source, label="square")
    broken = Counting(fails_in=hook)

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(orchestrator, observer=broken, flush_every=1)  # type: ignore[arg-type]

    assert result.n_computed == PACKETS
    assert result.failures == []
    (report,) = _errors(caplog)
    assert f"Counting(fails_in={hook!r}) failed in {hook}" in report.getMessage()
    assert broken.counts[hook] == 1
    # Skipped for the rest of the run; only the run's end still reaches it.
    assert broken.counts["on_run_end"] == 1
    assert broken.counts.get("on_packet_end", 0) <= 1


class _FailsOnPacket(StatusObserver):
    """A StatusObserver whose node contexts fail in on_packet_end for packet k=2."""

    def contextualize(self, *pipeline_path: str) -> Any:
        context = super().contextualize(*pipeline_path)
        end = context.on_packet_end

        def on_packet_end(label: str, tag: Any, *args: Any, **kwargs: Any) -> None:
            if tag.as_dict()["k"] == 2:
                raise ValueError("observer bug on packet 2")
            end(label, tag, *args, **kwargs)

        context.on_packet_end = on_packet_end  # type: ignore[method-assign]
        return context


@pytest.mark.parametrize("composite", [False, True])
@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_an_observer_that_failed_during_the_run_still_records_its_end(
    orchestrator: str, composite: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Skipped after its failure, but told of the run's end: without its end record
    # readers would call the run, which succeeded, CRASHED once its process is gone.
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    broken = _FailsOnPacket(database)
    observer: Any = CompositeObserver(broken) if composite else broken

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(orchestrator, observer=observer)

    assert result.n_computed == PACKETS
    assert len(_errors(caplog)) == 1
    (run,) = ObservabilityReader(database, "iso").runs().to_pylist()
    assert run["__state"] == "SUCCESS"
    assert run["__ended_at"] is not None


class _ExplodingLogger:
    @property
    def keeps_records(self) -> bool:
        raise RuntimeError("keeps_records exploded")

    def record(self, **fields: Any) -> None:
        pass


class _ExplodingLoggers(Counting):
    def contextualize(self, *pipeline_path: str) -> _ExplodingLoggers:
        self._hook("contextualize")
        return _ExplodingLoggers(self.fails_in, self.counts)

    def create_packet_logger(self, tag: Any, packet: Any) -> Any:
        self._hook("create_packet_logger")
        return _ExplodingLogger()


@pytest.mark.parametrize("composite", [False, True])
@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_logger_failing_to_say_whether_it_keeps_records_is_its_observers_failure(
    orchestrator: str, composite: bool, caplog: pytest.LogCaptureFixture
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    broken = _ExplodingLoggers()
    observer: Any = (
        CompositeObserver(broken, StatusObserver(database), LoggingObserver(database))
        if composite
        else broken
    )

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(orchestrator, observer=observer)

    assert result.n_computed == PACKETS
    (report,) = _errors(caplog)
    # The child is named (its repr), not the composite.
    assert report.getMessage().startswith("observer Counting(fails_in=None) failed in ")
    assert "create_packet_logger: RuntimeError: keeps_records exploded" in report.getMessage()
    if composite:  # its siblings record every packet
        name, label, node_hash = pipeline.nodes["square"].pipeline_path
        logs = database.get_all_records((name, "_logs", label, node_hash))
        status = database.get_all_records((name, "_status", label, node_hash))
        assert logs is not None
        assert logs.num_rows == PACKETS
        assert status is not None
        assert status.num_rows == 2 * PACKETS


class _CountsInputs(FirstReleaseObserver):
    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, int | None]] = []

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        self.told.append((node_label, count))


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_the_input_count_reaches_the_children_that_have_the_hook_only(
    orchestrator: str, caplog: pytest.LogCaptureFixture
) -> None:
    counting = _CountsInputs()
    first_release = FirstReleaseObserver()
    composite = CompositeObserver(first_release, counting)
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = _pipeline(InMemoryArrowDatabase()).run(orchestrator, observer=composite)
    assert result.n_computed == PACKETS
    assert [count for _, count in counting.told] == [PACKETS]
    assert first_release.calls["on_packet_end"] == PACKETS
    assert caplog.records == []  # the child without it is not told, and not failed


def test_a_child_failing_in_the_input_count_hook_is_reported_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(_CountsInputs):
        def on_node_inputs(self, node_label: str, count: int | None) -> None:
            raise RuntimeError("bad count")

    failing, counting = Failing(), _CountsInputs()
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = _pipeline(InMemoryArrowDatabase()).run(
            observer=CompositeObserver(failing, counting)
        )
    assert result.n_computed == PACKETS
    assert counting.told
    assert "on_node_inputs" in caplog.text


class _CountsProgress(FirstReleaseObserver):
    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, int]] = []

    def on_node_progress(self, node_label: str, rows: int) -> None:
        self.told.append((node_label, rows))


def test_operator_progress_reaches_the_children_that_have_the_hook_a_failing_one_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(_CountsProgress):
        def on_node_progress(self, node_label: str, rows: int) -> None:
            raise RuntimeError("bad progress")

    first_release, failing, counting = FirstReleaseObserver(), Failing(), _CountsProgress()
    composite = CompositeObserver(first_release, failing, counting)
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        node = composite.contextualize("pipe", "joined", "hash")
        node.on_node_progress("joined", 4)
        node.on_node_progress("joined", 2)
    assert counting.told == [("joined", 4), ("joined", 2)]
    (report,) = _errors(caplog)
    assert "on_node_progress: RuntimeError: bad progress" in report.getMessage()
    assert [isolation.failed for isolation in composite._isolations] == [False, True, False]
