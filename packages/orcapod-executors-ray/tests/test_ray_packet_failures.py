"""A packet's failure stays the packet's on Ray: ``SystemExit``, ``KeyboardInterrupt``
and other ``BaseException``s raised by the function are caught on the worker,
recorded, and re-raised on the driver as themselves, the worker and the event loop
unharmed; tracebacks and messages are bounded; the capture's metadata is recorded."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from typing import Any

import pytest

from orcapod.executors.ray import RayExecutor, RemoteExceptionError
from orcapod.protocols.testing import RecordingLogger

pytestmark = pytest.mark.usefixtures("ray_cluster")

MARKER = re.compile(r"\[\.\.\. (\d+) bytes truncated \.\.\.\]")


class StopTheWorld(BaseException):
    """A user's own BaseException (not an Exception)."""


class UnpicklableStop(BaseException):
    """A BaseException that cannot be pickled to come back."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        import threading

        self.lock = threading.Lock()


def exits(x: int) -> int:
    print(f"exiting on {x}")
    sys.exit(3)


def interrupts(x: int) -> int:
    print(f"interrupting on {x}")
    raise KeyboardInterrupt(f"stop at {x}")


def stops(x: int) -> int:
    print(f"stopping on {x}")
    raise StopTheWorld(f"world stopped at {x}")


def stops_unpicklably(x: int) -> int:
    raise UnpicklableStop(f"locked at {x}")


def doubles(x: int) -> int:
    print(f"doubling {x}")
    return 2 * x


def raises_a_huge_message(x: int) -> int:
    print(f"printed before the huge error {x}")
    raise ValueError("E" * 50_000_000)


def prints_a_lot(x: int) -> int:
    os.write(1, b"o" * 5000)
    import logging

    for i in range(30):
        logging.getLogger("orcapod.tests.ray.failures").warning("record %d", i)
    return x


def logger() -> RecordingLogger:
    return RecordingLogger("node", {}, {})


def worker_is_alive(record: dict[str, Any]) -> bool:
    """Whether the worker process that ran the call still exists (a local cluster)."""
    try:
        os.kill(int(record["extra"]["worker_pid"]), 0)
    except ProcessLookupError:
        return False
    return True


FAILURES = [
    (exits, SystemExit, "SystemExit: 3", "exiting on 1"),
    (interrupts, KeyboardInterrupt, "KeyboardInterrupt: stop at 1", "interrupting on 1"),
    (stops, StopTheWorld, "StopTheWorld: world stopped at 1", "stopping on 1"),
]


# -- item 6: the sync path -----------------------------------------------------------------


@pytest.mark.parametrize(("fn", "kind", "last_line", "printed"), FAILURES)
def test_a_base_exception_is_recorded_and_reraised_as_itself_and_the_worker_lives(
    fn: Any, kind: type[BaseException], last_line: str, printed: str
) -> None:
    log = logger()

    with pytest.raises(kind) as caught:
        RayExecutor().execute_callable(fn, {"x": 1}, logger=log)

    assert type(caught.value) is kind
    (record,) = log.records
    assert record["success"] is False
    assert record["traceback"].rstrip("\n").endswith(last_line)
    assert fn.__name__ in record["traceback"]
    assert printed in record["stdout"]
    assert record["capture_error"] is None
    assert worker_is_alive(record)


def test_sys_exit_codes_come_back_unchanged() -> None:
    with pytest.raises(SystemExit) as caught:
        RayExecutor().execute_callable(exits, {"x": 1}, logger=logger())
    assert caught.value.code == 3


def test_without_a_logger_a_base_exception_still_comes_back_as_itself() -> None:
    with pytest.raises(KeyboardInterrupt, match="stop at 2"):
        RayExecutor().execute_callable(interrupts, {"x": 2})


def test_a_base_exception_that_cannot_be_pickled_becomes_a_clear_error_naming_it() -> None:
    log = logger()
    with pytest.raises(RemoteExceptionError, match="UnpicklableStop: locked at 4"):
        RayExecutor().execute_callable(stops_unpicklably, {"x": 4}, logger=log)
    assert "UnpicklableStop" in log.records[0]["traceback"]


def test_a_base_exception_is_not_retried_even_when_every_exception_is(tmp_path: Any) -> None:
    log = logger()
    with pytest.raises(SystemExit):
        RayExecutor(max_retries=2, retry_exceptions=True).execute_callable(
            exits, {"x": 1}, logger=log
        )
    assert [r["attempt"] for r in log.records] == [1]


# -- item 6: the async path ----------------------------------------------------------------


def test_async_base_exceptions_fail_only_their_packets_and_the_loop_runs_on() -> None:
    executor = RayExecutor()
    logs = {name: logger() for name in ("exits", "interrupts", "stops", "a", "b")}

    async def packet(name: str, fn: Any, x: int) -> Any:
        # What a node does: whatever the executor raises is this packet's outcome.
        try:
            return await executor.async_execute_callable(fn, {"x": x}, logger=logs[name])
        except BaseException as error:
            return error

    async def run() -> list[Any]:
        outcomes = await asyncio.gather(
            packet("exits", exits, 1),
            packet("a", doubles, 10),
            packet("interrupts", interrupts, 1),
            packet("stops", stops, 1),
            packet("b", doubles, 20),
        )
        # The loop is still usable after the failures: one more call on it.
        outcomes.append(await executor.async_execute_callable(doubles, {"x": 30}))
        return outcomes

    outcomes = asyncio.run(run())

    assert [type(o).__name__ for o in outcomes] == [
        "SystemExit",
        "int",
        "KeyboardInterrupt",
        "StopTheWorld",
        "int",
        "int",
    ]
    assert (outcomes[1], outcomes[4]) == (20, 40)
    assert outcomes[-1] == 60
    for name, printed in [
        ("exits", "exiting on 1"),
        ("interrupts", "interrupting on 1"),
        ("stops", "stopping on 1"),
    ]:
        (record,) = logs[name].records
        assert record["success"] is False
        assert printed in record["stdout"]
        assert worker_is_alive(record)
    assert [r["success"] for r in logs["a"].records] == [True]


def test_async_base_exceptions_under_max_in_flight_release_their_slot() -> None:
    executor = RayExecutor(max_in_flight=1)

    async def run() -> list[str]:
        names = []
        for fn in (exits, interrupts, doubles):
            try:
                await executor.async_execute_callable(fn, {"x": 1}, logger=logger())
                names.append("ok")
            except BaseException as error:
                names.append(type(error).__name__)
        return names

    assert asyncio.run(asyncio.wait_for(run(), timeout=60)) == [
        "SystemExit",
        "KeyboardInterrupt",
        "ok",
    ]


# -- item 7: bounded tracebacks and messages -------------------------------------------


@pytest.mark.parametrize("path", ["sync", "async"])
def test_the_traceback_of_a_50_mb_message_is_stored_within_about_max_bytes(path: str) -> None:
    max_bytes = 64 * 1024
    executor = RayExecutor(max_bytes=max_bytes)
    log = logger()

    def call() -> Any:
        kwargs = {"x": 1}
        if path == "sync":
            return executor.execute_callable(raises_a_huge_message, kwargs, logger=log)
        return asyncio.run(
            executor.async_execute_callable(raises_a_huge_message, kwargs, logger=log)
        )

    with pytest.raises(ValueError, match=r"^EEEE") as caught:
        call()

    (record,) = log.records
    traceback = record["traceback"]
    assert max_bytes <= len(traceback.encode()) <= max_bytes + 100
    assert "raises_a_huge_message" in traceback
    found = MARKER.search(traceback)
    assert found is not None
    assert int(found.group(1)) > 50_000_000 - max_bytes
    assert "printed before the huge error 1" in record["stdout"]
    # The worker's traceback noted on the re-raised error is the bounded one.
    notes = "".join(caught.value.__notes__)
    assert len(notes.encode()) <= max_bytes + 200


def test_an_unsendable_exceptions_description_is_bounded() -> None:
    class HugeAndUnpicklable(Exception):
        def __init__(self) -> None:
            super().__init__("L" * 5_000_000)
            import threading

            self.lock = threading.Lock()

    def raises_it() -> None:
        raise HugeAndUnpicklable

    max_bytes = 10_000
    with pytest.raises(RemoteExceptionError) as caught:
        RayExecutor(max_bytes=max_bytes).execute_callable(raises_it, {}, logger=logger())
    assert len(str(caught.value).encode()) <= max_bytes + 100
    assert MARKER.search(str(caught.value)) is not None


# -- item 8: the capture's metadata ----------------------------------------------------


def test_byte_counts_truncation_and_dropped_records_are_recorded() -> None:
    log = logger()

    RayExecutor(max_bytes=1000, max_records=10).execute_callable(prints_a_lot, {"x": 1}, logger=log)

    (record,) = log.records
    assert record["stdout_bytes"] == 5000
    assert record["stdout_truncated"] is True
    # (the worker's logging handler may print the records to stderr: a few hundred bytes)
    assert record["stderr_bytes"] == len(record["stderr"].encode())
    assert record["stderr_truncated"] is False
    assert record["python_logs_dropped"] == 20
    assert record["capture_error"] is None


def test_a_dead_workers_record_says_capture_failed_and_counts_what_was_recovered() -> None:
    from orcapod.executors.ray import WorkerDiedError

    def dies_after_printing() -> None:
        os.write(1, b"p" * 3000)
        os._exit(1)

    log = logger()
    # Without pass-through, descriptor 1 is the spool file itself: nothing in flight.
    executor = RayExecutor(max_bytes=1000, passthrough=False)
    with pytest.raises(WorkerDiedError):
        executor.execute_callable(dies_after_printing, {}, logger=log)

    (record,) = log.records
    assert "the worker died" in record["capture_error"]
    assert record["stdout"].startswith("ppp")  # recovered from its spool: a local cluster
    assert record["stdout_bytes"] == 3000
    assert record["stdout_truncated"] is True


# -- item 6, end to end: a run on Ray goes on ------------------------------------------


def _exits_on_two(x: int) -> int:
    print(f"packet {x}")
    if x == 2:
        sys.exit(4)
    if x == 3:
        raise KeyboardInterrupt("user code interrupted itself")
    return 10 * x


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_run_on_ray_under_continue_fails_only_the_exiting_packets(
    orchestrator: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from orcapod.core import DictSource, Pipeline, function_pod
    from orcapod.protocols.testing import RecordingObserver

    pod = function_pod(output_keys="y")(_exits_on_two)
    source = DictSource([{"id": f"r{x}", "x": x} for x in (1, 2, 3, 4)], tag_columns=["id"])
    pipeline = Pipeline(f"exits_{orchestrator}", database="memory://")
    with pipeline:
        pod.pod(source, label="exits")
    observer = RecordingObserver()

    result = pipeline.run(
        orchestrator=orchestrator,
        executor=RayExecutor(),
        observer=observer,
        error_policy="continue",
    )

    assert (result.nodes["exits"].computed, result.nodes["exits"].failed) == (2, 2)
    assert sorted((f.tag["id"], f.error_type) for f in result.failures) == [
        ("r2", "SystemExit"),
        ("r3", "KeyboardInterrupt"),
    ]
    assert sorted(event[7] for event in observer.of("on_packet_crash")) == [
        "KeyboardInterrupt",
        "SystemExit",
    ]
    records = {lg.tag["id"]: lg.records for lg in observer.loggers if lg.label == "exits"}
    assert [r["success"] for r in records["r2"]] == [False]
    assert "packet 2" in records["r2"][0]["stdout"]
    assert "Task was destroyed but it is pending" not in capfd.readouterr().err


def _retried_then_exits(x: int) -> int:
    if x == 2:
        sys.exit(3)
    if x % 2 == 0:
        raise ValueError("flaky")
    return x


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_under_fail_fast_a_sys_exit_ends_the_run_as_itself_and_leaves_asyncio_clean(
    orchestrator: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # The SystemExit crosses the run's asyncio tasks (both orchestrators keep several
    # Ray packets in flight through them): carried as an Exception inside the event
    # loop and raised as itself outside it, so no task is left pending or unretrieved.
    import gc

    from orcapod.core import DictSource, Pipeline, function_pod

    pod = function_pod(output_keys="y", retries=2, retry_on=(ValueError,))(_retried_then_exits)
    source = DictSource([{"id": x, "x": x} for x in range(8)], tag_columns=["id"])
    pipeline = Pipeline(f"fail_fast_exit_{orchestrator}", database="memory://")
    with pipeline:
        pod.pod(source, label="exits")

    with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(SystemExit) as caught:
        pipeline.run(orchestrator=orchestrator, executor=RayExecutor(), error_policy="fail_fast")
    gc.collect()  # an unretrieved task exception is reported when the task is collected

    assert caught.value.code == 3
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    err = capfd.readouterr().err
    assert "Task exception was never retrieved" not in err
    assert "Task was destroyed but it is pending" not in err
