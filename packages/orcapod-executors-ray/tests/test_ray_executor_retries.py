"""RayExecutor's own retries (``max_retries``) on a real local Ray cluster: every attempt
it makes reaches the packet logger, numbered, each one followed by another marked
``retried=True`` and the last ``retried=False``; Ray itself never retries unseen.

Each function counts its executions in a file (workers are other processes), so
a test can tell the attempts that ran from the attempts that were recorded.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from orcapod.core import DictSource, Pipeline, function_pod
from orcapod.executors.ray import RayExecutor, WorkerDiedError
from orcapod.protocols.testing import RecordingLogger, RecordingObserver

pytestmark = pytest.mark.usefixtures("ray_cluster")

PATHS = ["sync", "async"]


class CalibrationError(Exception):
    """The user's own transient error."""


# -- functions run on the workers ----------------------------------------------------


def _execution(marker: str) -> int:
    """This execution's number (1, 2, ...), counted in ``marker``."""
    path = Path(marker)
    number = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(number))
    return number


def raises_twice(x: int, marker: str) -> int:
    number = _execution(marker)
    print(f"execution {number} of {x}")
    if number <= 2:
        raise CalibrationError(f"execution {number} of {x} failed")
    return 10 * x


def always_raises(x: int, marker: str) -> int:
    number = _execution(marker)
    print(f"execution {number} of {x}")
    raise CalibrationError(f"execution {number} of {x} failed")


def dies_twice(x: int, marker: str) -> int:
    """Kills its worker on the first two executions, returns on the third."""
    number = _execution(marker)
    print(f"execution {number} of {x}", flush=True)
    if number <= 2:
        os._exit(1)
    return 10 * x


def always_dies(x: int, marker: str) -> int:
    _execution(marker)
    os._exit(1)


def dies_then_raises(x: int, marker: str) -> int:
    """A dead worker, then the function's own error, then a value."""
    number = _execution(marker)
    if number == 1:
        os._exit(1)
    if number == 2:
        raise CalibrationError(f"execution {number} of {x} failed")
    return 10 * x


# -- helpers ---------------------------------------------------------------------------


def _call(path: str, executor: RayExecutor, fn: Any, kwargs: dict[str, Any]) -> Any:
    """``fn(**kwargs)`` through the executor's sync or async path."""
    log = RecordingLogger("node", {}, {})
    if path == "sync":
        try:
            return executor.execute_callable(fn, kwargs, logger=log), log.records
        except BaseException as error:
            return error, log.records
    try:
        value = asyncio.run(executor.async_execute_callable(fn, kwargs, logger=log))
    except BaseException as error:
        return error, log.records
    return value, log.records


def _attempts(records: list[dict[str, Any]]) -> list[tuple[int, bool, bool]]:
    """(attempt, success, retried) of each record; a record without ``retried`` fails."""
    return [(r["attempt"], r["success"], r["retried"]) for r in records]


def _executions(marker: Path) -> int:
    return int(marker.read_text()) if marker.exists() else 0


# -- the function's exceptions ----------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_each_attempt_retried_on_an_exception_is_recorded_marked_retried(
    path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    executor = RayExecutor(max_retries=3, retry_exceptions=True)

    value, records = _call(path, executor, raises_twice, {"x": 4, "marker": str(marker)})

    assert value == 40
    assert _attempts(records) == [(1, False, True), (2, False, True), (3, True, False)]
    assert _executions(marker) == 3  # one record per execution
    for number, record in enumerate(records, 1):
        assert f"execution {number} of 4" in record["stdout"]
        assert (record["executor_type"], record["capture_level"]) == ("ray", "fd")
    assert "CalibrationError: execution 2 of 4 failed" in records[1]["traceback"]


@pytest.mark.parametrize("path", PATHS)
def test_the_last_attempt_of_exhausted_retries_is_not_marked_retried(
    path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    executor = RayExecutor(max_retries=2, retry_exceptions=[CalibrationError])

    error, records = _call(path, executor, always_raises, {"x": 1, "marker": str(marker)})

    assert isinstance(error, CalibrationError)
    assert str(error) == "execution 3 of 1 failed"
    assert _attempts(records) == [(1, False, True), (2, False, True), (3, False, False)]
    assert _executions(marker) == 3
    assert "execution 3 of 1 failed" in records[-1]["traceback"]


@pytest.mark.parametrize("path", PATHS)
def test_an_error_the_executor_does_not_retry_is_recorded_not_retried(
    path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    executor = RayExecutor(max_retries=3)  # retry_exceptions=False: system failures only

    error, records = _call(path, executor, always_raises, {"x": 2, "marker": str(marker)})

    assert isinstance(error, CalibrationError)
    assert _attempts(records) == [(1, False, False)]
    assert _executions(marker) == 1


# -- dead workers: Ray's task retries are off, the executor retries and records -----------


@pytest.mark.parametrize("path", PATHS)
def test_each_dead_worker_retried_is_recorded_marked_retried_and_ray_retries_nothing_unseen(
    path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    executor = RayExecutor(max_retries=2)

    value, records = _call(path, executor, dies_twice, {"x": 3, "marker": str(marker)})

    assert value == 30
    assert _attempts(records) == [(1, False, True), (2, False, True), (3, True, False)]
    # Every execution on a worker is a recorded attempt: Ray retried none on its own.
    assert _executions(marker) == 3
    for number, died in enumerate(records[:2], 1):
        assert died["extra"]["worker_died"] == "true"
        assert f"(attempt {number} of 3)" in died["traceback"]
    assert records[2]["stdout"] == "execution 3 of 3\n"


@pytest.mark.parametrize("path", PATHS)
def test_a_worker_dying_on_every_attempt_fails_on_the_last_recorded_not_retried(
    path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    executor = RayExecutor(max_retries=1)

    error, records = _call(path, executor, always_dies, {"x": 5, "marker": str(marker)})

    assert isinstance(error, WorkerDiedError)
    assert "(attempt 2 of 2)" in str(error)
    assert _attempts(records) == [(1, False, True), (2, False, False)]
    assert [r["extra"]["worker_died"] for r in records] == ["true", "true"]
    assert _executions(marker) == 2


@pytest.mark.parametrize("path", PATHS)
def test_a_dead_worker_then_a_retried_exception_then_a_value_are_three_records(
    path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    executor = RayExecutor(max_retries=2, retry_exceptions=[CalibrationError])

    value, records = _call(path, executor, dies_then_raises, {"x": 6, "marker": str(marker)})

    assert value == 60
    assert _attempts(records) == [(1, False, True), (2, False, True), (3, True, False)]
    assert records[0]["extra"]["worker_died"] == "true"
    assert "CalibrationError: execution 2 of 6 failed" in records[1]["traceback"]
    assert _executions(marker) == 3


def test_a_call_that_cannot_be_sent_is_recorded_once_not_retried() -> None:
    import threading

    lock = threading.Lock()

    def uses_a_lock(x: int) -> int:  # a closure over a lock: pickled by value, and fails
        with lock:
            return x

    error, records = _call("sync", RayExecutor(max_retries=2), uses_a_lock, {"x": 1})

    assert isinstance(error, TypeError)
    assert _attempts(records) == [(1, False, False)]


# -- through a pipeline: the packet's logger hears every attempt -------------------------


@function_pod(output_keys="y")
def fragile(x: int, folder: str) -> int:
    number = _execution(str(Path(folder) / str(x)))
    print(f"execution {number} of {x}", flush=True)
    if number == 1:
        os._exit(1)
    if number <= x:
        raise CalibrationError(f"execution {number} of {x} failed")
    return 10 * x


def _fragile_pipeline(folder: Path, database: Any = "memory://") -> Pipeline:
    source = DictSource(
        [{"id": x, "x": x, "folder": str(folder)} for x in (1, 2, 9)], tag_columns=["id"]
    )
    pipeline = Pipeline("executor_retries", database=database)
    with pipeline:
        fragile.pod(source, label="node")
    return pipeline


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_runs_packet_loggers_hear_the_executors_attempts_marked_retried(
    orchestrator: str, tmp_path: Path
) -> None:
    pipeline = _fragile_pipeline(tmp_path)
    observer = RecordingObserver()
    executor = RayExecutor(max_retries=2, retry_exceptions=[CalibrationError])

    result = pipeline.run(orchestrator=orchestrator, executor=executor, observer=observer)

    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (2, 1)
    records = {logger.tag["id"]: logger.records for logger in observer.loggers}
    assert {x: _attempts(rows) for x, rows in records.items()} == {
        1: [(1, False, True), (2, True, False)],
        2: [(1, False, True), (2, False, True), (3, True, False)],
        9: [(1, False, True), (2, False, True), (3, False, False)],
    }
    executions = {int(p.name): int(p.read_text()) for p in tmp_path.iterdir()}
    assert executions == {1: 2, 2: 3, 9: 3}
    [failure] = result.failures
    assert (failure.error_type, failure.message) == ("CalibrationError", "execution 3 of 9 failed")
