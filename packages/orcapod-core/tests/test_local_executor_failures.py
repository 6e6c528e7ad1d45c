"""A packet's failure stays the packet's on the local executors: ``SystemExit``,
``KeyboardInterrupt`` and other ``BaseException``s of the function are recorded
(once, with what was printed before) and re-raised unchanged, on the calling
thread and through the worker threads of the async path; tracebacks are bounded;
the capture's metadata reaches the logger."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from functools import partial
from typing import Any

import pytest

from orcapod.core.executors import LocalExecutor
from orcapod.core.executors._threads import WorkerThreads

MARKER = re.compile(r"\[\.\.\. (\d+) bytes truncated \.\.\.\]")

METADATA = {
    "stdout_bytes",
    "stderr_bytes",
    "stdout_truncated",
    "stderr_truncated",
    "python_logs_dropped",
    "capture_error",
}


class RecordingLogger:
    """A packet logger that keeps every ``record(**fields)`` call."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> None:
        self.records.append(fields)


class StopTheWorld(BaseException):
    """A user's own BaseException (not an Exception)."""


def exits(x: int) -> int:
    print(f"exiting on {x}")
    sys.exit(3)


def interrupts(x: int) -> int:
    print(f"interrupting on {x}")
    raise KeyboardInterrupt(f"stop at {x}")


def stops(x: int) -> int:
    print(f"stopping on {x}")
    raise StopTheWorld(f"world stopped at {x}")


def doubles(x: int) -> int:
    return 2 * x


FAILURES = [
    (exits, SystemExit, "SystemExit: 3", "exiting on 1\n"),
    (interrupts, KeyboardInterrupt, "KeyboardInterrupt: stop at 1", "interrupting on 1\n"),
    (stops, StopTheWorld, "StopTheWorld: world stopped at 1", "stopping on 1\n"),
]

LEVELS = pytest.mark.parametrize("level", ["sys", "fd"])


@LEVELS
@pytest.mark.parametrize(("fn", "kind", "last_line", "printed"), FAILURES)
def test_a_base_exception_is_recorded_once_and_reraised_unchanged(
    level: str, fn: Any, kind: type[BaseException], last_line: str, printed: str
) -> None:
    logger = RecordingLogger()

    with pytest.raises(kind) as caught:
        LocalExecutor(level, passthrough=False).execute_callable(fn, {"x": 1}, logger=logger)  # type: ignore[arg-type]

    assert type(caught.value) is kind
    (record,) = logger.records
    assert record["success"] is False
    assert record["stdout"] == printed
    assert record["traceback"].rstrip("\n").endswith(last_line)
    assert fn.__name__ in record["traceback"]
    assert record["executor_type"] == "local"
    assert record["capture_error"] is None


@LEVELS
@pytest.mark.parametrize(("fn", "kind", "last_line", "printed"), FAILURES)
def test_the_async_path_hands_a_base_exception_to_the_awaiting_coroutine(
    level: str, fn: Any, kind: type[BaseException], last_line: str, printed: str
) -> None:
    executor = LocalExecutor(level, passthrough=False)  # type: ignore[arg-type]
    logger = RecordingLogger()

    async def packet() -> BaseException | None:
        try:
            await executor.async_execute_callable(fn, {"x": 1}, logger=logger)
        except BaseException as error:  # what a node does with its packet's failure
            return error
        return None

    error = asyncio.run(packet())

    assert type(error) is kind
    (record,) = logger.records
    assert record["success"] is False
    assert record["stdout"] == printed
    assert record["traceback"].rstrip("\n").endswith(last_line)


def test_base_exceptions_in_worker_threads_leave_the_loop_serving() -> None:
    executor = LocalExecutor(passthrough=False)

    async def packet(fn: Any, x: int) -> Any:
        try:
            return await executor.async_execute_callable(fn, {"x": x}, logger=RecordingLogger())
        except BaseException as error:
            return error

    async def run() -> list[Any]:
        first = await asyncio.gather(*(packet(fn, 1) for fn, *_ in FAILURES * 4))
        after = await asyncio.gather(*(packet(doubles, x) for x in range(20)))
        return [*first, *after]

    outcomes = asyncio.run(run())

    kinds = [type(o) for o in outcomes[:12]]
    assert kinds == [SystemExit, KeyboardInterrupt, StopTheWorld] * 4
    assert outcomes[12:] == [2 * x for x in range(20)]


def test_a_worker_thread_survives_a_base_exception_and_serves_the_next_call() -> None:
    workers = WorkerThreads(limit=1)  # one thread: if it died, the next call would hang

    def raise_it(kind: type[BaseException]) -> None:
        raise kind("from the call")

    async def outcome(kind: type[BaseException]) -> str:
        # Caught inside the coroutine: asyncio re-raises a KeyboardInterrupt or a
        # SystemExit that leaves a task (wait_for makes one) into the event loop.
        try:
            await workers.run(partial(raise_it, kind))
        except BaseException as error:
            return type(error).__name__
        return "returned"

    async def run() -> list[str]:
        names = [
            await asyncio.wait_for(outcome(kind), timeout=10)
            for kind in (SystemExit, KeyboardInterrupt, StopTheWorld)
        ]
        names.append((await asyncio.wait_for(workers.run(threading.current_thread), 10)).name)
        return names

    assert asyncio.run(run()) == [
        "SystemExit",
        "KeyboardInterrupt",
        "StopTheWorld",
        "orcapod-worker",
    ]


def test_without_a_logger_a_base_exception_propagates_unchanged() -> None:
    with pytest.raises(SystemExit) as caught:
        LocalExecutor().execute_callable(exits, {"x": 1})
    assert caught.value.code == 3


# -- bounded tracebacks -----------------------------------------------------------------


def raises_a_huge_message() -> None:
    raise ValueError("E" * 50_000_000)


@LEVELS
def test_the_traceback_of_a_50_mb_message_is_about_max_bytes(level: str) -> None:
    max_bytes = 64 * 1024
    logger = RecordingLogger()
    executor = LocalExecutor(level, max_bytes=max_bytes, passthrough=False)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"^EEEE"):
        executor.execute_callable(raises_a_huge_message, {}, logger=logger)

    traceback = logger.records[0]["traceback"]
    assert max_bytes <= len(traceback.encode()) <= max_bytes + 100
    found = MARKER.search(traceback)
    assert found is not None
    assert int(found.group(1)) > 50_000_000 - max_bytes
    assert "raises_a_huge_message" in traceback


def test_the_async_path_bounds_the_traceback_too() -> None:
    max_bytes = 4096
    logger = RecordingLogger()
    executor = LocalExecutor(max_bytes=max_bytes, passthrough=False)

    async def packet() -> None:
        with pytest.raises(ValueError, match=r"^EEEE"):
            await executor.async_execute_callable(raises_a_huge_message, {}, logger=logger)

    asyncio.run(packet())
    assert len(logger.records[0]["traceback"].encode()) <= max_bytes + 100


# -- the capture's metadata -------------------------------------------------------------


def prints_a_lot() -> None:
    import logging

    print("o" * 5000, end="")
    for i in range(30):
        logging.getLogger("orcapod.tests.local.failures").warning("record %d", i)


@LEVELS
def test_byte_counts_truncation_and_dropped_records_reach_the_logger(level: str) -> None:
    logger = RecordingLogger()
    executor = LocalExecutor(level, max_bytes=1000, max_records=10, passthrough=False)  # type: ignore[arg-type]

    executor.execute_callable(prints_a_lot, {}, logger=logger)

    (record,) = logger.records
    assert set(record) >= METADATA
    assert record["stdout_bytes"] == 5000
    assert record["stdout_truncated"] is True
    assert record["stderr_truncated"] is False
    assert record["python_logs_dropped"] == 20
    assert record["capture_error"] is None


def test_a_quiet_call_records_zero_bytes_and_no_capture_error() -> None:
    logger = RecordingLogger()
    LocalExecutor().execute_callable(doubles, {"x": 1}, logger=logger)
    (record,) = logger.records
    assert {name: record[name] for name in METADATA} == {
        "stdout_bytes": 0,
        "stderr_bytes": 0,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "python_logs_dropped": 0,
        "capture_error": None,
    }


class MappingLogger:
    """A logger taking the fields as one mapping (as the observers' own loggers do)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> None:
        raise AssertionError("record_fields is used when the logger has it")

    def record_fields(self, fields: dict[str, Any]) -> None:
        self.received.append(fields)


@LEVELS
def test_a_logger_taking_a_mapping_gets_every_field_of_a_failed_call(level: str) -> None:
    logger = MappingLogger()

    with pytest.raises(SystemExit):
        LocalExecutor(level, passthrough=False).execute_callable(exits, {"x": 1}, logger=logger)  # type: ignore[arg-type]

    (fields,) = logger.received
    assert set(fields) >= METADATA | {"stdout", "traceback", "success", "attempt", "executor_type"}
    assert (fields["attempt"], fields["executor_type"], fields["success"]) == (1, "local", False)
    assert fields["stdout"] == "exiting on 1\n"
