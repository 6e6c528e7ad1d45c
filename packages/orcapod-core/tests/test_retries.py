"""Retries declared on a function pod: each attempt recorded, only ``retry_on`` errors retried."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.datagrams import Packet
from orcapod.core.errors import FunctionDeclarationError, RunInterrupted
from orcapod.core.executors import LocalExecutor
from orcapod.core.function_pods import PythonPacketFunction, function_pod
from orcapod.core.pipeline import Pipeline
from orcapod.core.sources import DictSource
from orcapod.core.types import Schema
from orcapod.protocols.testing import RecordingLogger, RecordingObserver

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet as PacketProtocol
    from orcapod.protocols.data import Tag


class InstrumentBusy(Exception):
    """A transient failure of the user's instrument: worth another try."""


CALLS: dict[int, int] = {}
"""Calls per value of x in this test, counted by the functions below."""

FAILS_FOR: dict[int, int] = {}
"""How many first attempts fail, per value of x (absent: none)."""


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    CALLS.clear()
    FAILS_FOR.clear()


def _attempt(x: int) -> int:
    CALLS[x] = CALLS.get(x, 0) + 1
    return CALLS[x]


@function_pod(output_keys="y", retries=2, retry_on=(InstrumentBusy,))
def measure(x: int) -> int:
    attempt = _attempt(x)
    print(f"attempt {attempt} for {x}")
    if attempt <= FAILS_FOR.get(x, 0):
        raise InstrumentBusy(f"busy on attempt {attempt} for {x}")
    return 10 * x


@function_pod(output_keys="y", retries=3, retry_on=(InstrumentBusy,))
def wrong_input(x: int) -> int:
    _attempt(x)
    raise ValueError(f"no calibration for {x}")


@function_pod(output_keys="y", retries=2)
def exits(x: int) -> int:
    _attempt(x)
    sys.exit(3)


@function_pod(output_keys="y", retries=2, retry_on=(SystemExit,))
def exits_then_works(x: int) -> int:
    if _attempt(x) == 1:
        sys.exit(3)
    return x


def _source(*xs: int) -> DictSource:
    return DictSource([{"k": f"k{x}", "x": x} for x in xs], tag_columns=["k"])


def _pipeline(pod: Any, *xs: int, database: InMemoryArrowDatabase | None = None) -> Pipeline:
    pipeline = Pipeline("lab", InMemoryArrowDatabase() if database is None else database)
    with pipeline:
        pod.pod(_source(*xs), label="node")
    return pipeline


def _records(observer: RecordingObserver) -> dict[int, list[dict[str, Any]]]:
    """Each packet's records (by its x), in the order they were handed on."""
    return {int(logger.packet["x"]): logger.records for logger in observer.loggers}


@pytest.fixture(params=["sync", "async"])
def orchestrator(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sys", "fd"])
def capture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- declaring retries -----------------------------------------------------------------


def test_invalid_retries_are_refused_at_declaration_naming_the_function() -> None:
    for bad in (-1, 1.5, True, "2", None):
        with pytest.raises(FunctionDeclarationError, match=r"'_plain'.*retries=.*whole number"):
            function_pod(output_keys="y", retries=bad)(_plain)  # type: ignore[arg-type]


def test_retry_on_must_be_exception_classes() -> None:
    for bad in ((), (ValueError, "TimeoutError"), ValueError("x"), (int,), "ValueError"):
        with pytest.raises(
            FunctionDeclarationError, match=r"'_plain'.*retry_on=.*exception classes"
        ):
            function_pod(output_keys="y", retries=1, retry_on=bad)(_plain)  # type: ignore[arg-type]
    one = PythonPacketFunction(_plain, "y", retries=1, retry_on=TimeoutError)
    assert one.retry_on == (TimeoutError,)
    assert PythonPacketFunction(_plain, "y", retry_on=[OSError, KeyError]).retry_on == (
        OSError,
        KeyError,
    )


def _plain(x: int) -> int:
    return x


def test_retries_are_not_part_of_the_functions_identity() -> None:
    once = PythonPacketFunction(_plain, "y")
    retried = PythonPacketFunction(_plain, "y", retries=3, retry_on=(TimeoutError,))
    assert (once.retries, once.retry_on) == (0, (Exception,))
    assert (retried.retries, retried.retry_on) == (3, (TimeoutError,))
    assert retried.content_hash() == once.content_hash()


def test_a_stopping_run_is_never_retried_even_when_every_base_exception_is_listed() -> None:
    function = PythonPacketFunction(_plain, "y", retries=5, retry_on=(BaseException,))
    assert function.retried(SystemExit(1), 1)
    assert not function.retried(RunInterrupted(signal.SIGTERM), 1)
    assert not function.retried(asyncio.CancelledError(), 1)
    assert not function.retried(SystemExit(1), 6)  # the attempts are used up


# -- a pipeline retrying -----------------------------------------------------------------


def test_each_attempt_has_its_own_record_with_its_output(orchestrator: str, capture: str) -> None:
    FAILS_FOR.update({2: 1, 3: 2})
    observer = RecordingObserver()
    pipeline = _pipeline(measure, 1, 2, 3)

    result = pipeline.run(orchestrator, executor=LocalExecutor(capture), observer=observer)

    counts = result.nodes["node"]
    assert (counts.computed, counts.failed, counts.cached) == (3, 0, 0)
    assert pipeline.nodes["node"].as_table().sort_by("k").column("y").to_pylist() == [10, 20, 30]
    records = _records(observer)
    attempts = {
        x: [(r["attempt"], r["success"], r.get("retried", False)) for r in rows]
        for x, rows in records.items()
    }
    assert attempts == {
        1: [(1, True, False)],
        2: [(1, False, True), (2, True, False)],
        3: [(1, False, True), (2, False, True), (3, True, False)],
    }
    for rows in records.values():
        for number, row in enumerate(rows, 1):
            assert row["stdout"] == f"attempt {number} for {row['stdout'].split()[-1]}\n"
            assert row["capture_level"] == capture
    assert "InstrumentBusy: busy on attempt 2 for 3" in records[3][1]["traceback"]
    # One start and one end per packet, whatever its attempts.
    assert len(observer.of("on_packet_start")) == 3
    assert len(observer.of("on_packet_end")) == 3
    assert observer.of("on_packet_crash") == []


def test_the_last_attempts_error_fails_the_packet_after_every_attempt_was_recorded(
    orchestrator: str,
) -> None:
    FAILS_FOR.update({2: 5})
    observer = RecordingObserver()

    result = _pipeline(measure, 1, 2).run(orchestrator, observer=observer)

    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (1, 1)
    assert CALLS == {1: 1, 2: 3}
    rows = _records(observer)[2]
    assert [(r["attempt"], r["success"], r.get("retried", False)) for r in rows] == [
        (1, False, True),
        (2, False, True),
        (3, False, False),
    ]
    [failure] = result.failures
    assert (failure.error_type, failure.message) == ("InstrumentBusy", "busy on attempt 3 for 2")
    [crash] = observer.of("on_packet_crash")
    assert crash[7] == "InstrumentBusy"


def test_an_error_not_in_retry_on_fails_at_once(orchestrator: str) -> None:
    observer = RecordingObserver()

    result = _pipeline(wrong_input, 4).run(orchestrator, observer=observer)

    assert result.nodes["node"].failed == 1
    assert CALLS == {4: 1}
    assert [(r["attempt"], r["success"]) for r in _records(observer)[4]] == [(1, False)]


def test_system_exit_is_not_retried_unless_listed(orchestrator: str) -> None:
    observer = RecordingObserver()
    result = _pipeline(exits, 5).run(orchestrator, observer=observer)
    assert (result.nodes["node"].failed, CALLS) == (1, {5: 1})
    assert result.failures[0].error_type == "SystemExit"

    CALLS.clear()
    observer = RecordingObserver()
    result = _pipeline(exits_then_works, 5).run(orchestrator, observer=observer)
    assert (result.nodes["node"].computed, CALLS) == (1, {5: 2})
    assert [(r["attempt"], r["success"]) for r in _records(observer)[5]] == [(1, False), (2, True)]


def test_fail_fast_stops_the_run_only_after_the_last_attempt(orchestrator: str) -> None:
    FAILS_FOR.update({1: 5})

    with pytest.raises(InstrumentBusy, match="busy on attempt 3 for 1"):
        _pipeline(measure, 1).run(orchestrator, error_policy="fail_fast")

    assert CALLS == {1: 3}


def test_a_result_computed_on_a_retry_is_cached_for_the_next_run(orchestrator: str) -> None:
    FAILS_FOR.update({1: 1})
    database = InMemoryArrowDatabase()
    first = _pipeline(measure, 1, 2, database=database).run(orchestrator)
    assert (first.nodes["node"].computed, CALLS) == (2, {1: 2, 2: 1})

    again = _pipeline(measure, 1, 2, database=database).run(orchestrator)

    assert (again.nodes["node"].cached, again.nodes["node"].computed) == (2, 0)
    assert CALLS == {1: 2, 2: 1}  # nothing ran again


class _KeepingNothing(RecordingObserver):
    """An observer whose packet loggers keep no records (as a status observer's):
    calls are not captured for it, yet it hears of every retried attempt."""

    def create_packet_logger(self, tag: Tag, packet: PacketProtocol) -> RecordingLogger:
        logger = super().create_packet_logger(tag, packet)
        logger.keeps_records = False  # type: ignore[attr-defined]
        return logger

    def contextualize(self, *pipeline_path: str) -> _KeepingNothing:
        self._log.paths.append(pipeline_path)
        return _KeepingNothing(pipeline_path, self._log)


def test_a_logger_keeping_no_records_hears_each_retried_attempt_from_the_run(
    orchestrator: str,
) -> None:
    FAILS_FOR.update({1: 2})
    observer = _KeepingNothing()

    result = _pipeline(measure, 1).run(orchestrator, observer=observer)

    assert result.nodes["node"].computed == 1
    rows = _records(observer)[1]
    # Only the retried attempts: the run records them itself, without capture.
    assert [(r["attempt"], r["success"], r["retried"]) for r in rows] == [
        (1, False, True),
        (2, False, True),
    ]
    assert all("stdout" not in r for r in rows)
    assert rows[1]["traceback"].endswith("InstrumentBusy: busy on attempt 2 for 1\n")
    assert rows[0]["executor_type"] == "local"


def test_a_stream_outside_a_pipeline_retries_too() -> None:
    FAILS_FOR.update({7: 2})

    table = measure.pod(_source(7, 8)).as_table()

    assert table.sort_by("k").column("y").to_pylist() == [70, 80]
    assert CALLS == {7: 3, 8: 1}


def test_calling_the_packet_function_numbers_each_attempts_records() -> None:
    FAILS_FOR.update({6: 1})
    function = PythonPacketFunction(measure, "y", retries=1, retry_on=(InstrumentBusy,))
    function.executor = LocalExecutor()
    logger = RecordingLogger("node", {"k": "k6"}, {"x": 6})

    output = function.call(Packet.from_dict({"x": 6}, Schema(x=int)), logger=logger)

    assert output.as_dict() == {"y": 60}
    assert [(r["attempt"], r["success"]) for r in logger.records] == [(1, False), (2, True)]
    assert [r["stdout"] for r in logger.records] == ["attempt 1 for 6\n", "attempt 2 for 6\n"]
