"""A function pod's own retries on a real local Ray cluster: the run retries, Ray runs each
attempt once, every attempt is recorded with what the worker printed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from orcapod.core import DictSource, Pipeline, function_pod
from orcapod.executors.ray import RayExecutor, WorkerDiedError
from orcapod.protocols.testing import RecordingObserver

pytestmark = pytest.mark.usefixtures("ray_cluster")

ORCHESTRATORS = ["sync", "async"]


class CalibrationError(Exception):
    """The user's own transient error."""


def _attempt(folder: str, x: int) -> int:
    """This call's attempt at ``x``, counted in a file (workers are other processes)."""
    path = Path(folder) / str(x)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    return attempt


@function_pod(output_keys="y", retries=2, retry_on=(CalibrationError,))
def calibrate(x: int, folder: str) -> int:
    attempt = _attempt(folder, x)
    print(f"attempt {attempt} of {x} in pid {os.getpid()}")
    if attempt <= x:  # x = 0 works at once, 1 on the second attempt, 5 never
        raise CalibrationError(f"attempt {attempt} of {x} failed")
    return 10 * x


@function_pod(output_keys="y", retries=1, retry_on=(WorkerDiedError,))
def dies_once(x: int, folder: str) -> int:
    if _attempt(folder, x) == 1:
        os._exit(1)
    return 10 * x


@function_pod(output_keys="y", retries=3, retry_on=(CalibrationError,))
def refuses(x: int, folder: str) -> int:
    _attempt(folder, x)
    raise ValueError(f"{x} is out of range")


def _run(
    pod: Any, xs: tuple[int, ...], folder: Path, orchestrator: str, executor: RayExecutor
) -> tuple[Any, dict[int, list[dict[str, Any]]]]:
    source = DictSource([{"id": x, "x": x, "folder": str(folder)} for x in xs], tag_columns=["id"])
    pipeline = Pipeline("pod_retries", database="memory://")
    with pipeline:
        pod.pod(source, label="node")
    observer = RecordingObserver()
    result = pipeline.run(orchestrator=orchestrator, executor=executor, observer=observer)
    return result, {logger.tag["id"]: logger.records for logger in observer.loggers}


def _calls(folder: Path) -> dict[int, int]:
    return {int(path.name): int(path.read_text()) for path in folder.iterdir()}


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_pods_retries_run_each_attempt_as_one_ray_task_recorded_with_its_output(
    orchestrator: str, tmp_path: Path
) -> None:
    result, records = _run(calibrate, (0, 1, 5), tmp_path, orchestrator, RayExecutor())

    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (2, 1)
    assert _calls(tmp_path) == {0: 1, 1: 2, 5: 3}  # retries=2: at most 3 attempts
    outcomes = {
        x: [(r["attempt"], r["success"], r.get("retried", False)) for r in rows]
        for x, rows in records.items()
    }
    assert outcomes == {
        0: [(1, True, False)],
        1: [(1, False, True), (2, True, False)],
        5: [(1, False, True), (2, False, True), (3, False, False)],
    }
    for x, rows in records.items():
        for number, row in enumerate(rows, 1):
            assert row["stdout"].startswith(f"attempt {number} of {x} in pid ")
            assert str(os.getpid()) not in row["stdout"]  # printed by a worker
            assert (row["executor_type"], row["capture_level"]) == ("ray", "fd")
    assert "CalibrationError: attempt 3 of 5 failed" in records[5][2]["traceback"]
    [failure] = result.failures
    assert (failure.error_type, failure.message) == ("CalibrationError", "attempt 3 of 5 failed")


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_dead_worker_is_retried_by_the_pod_when_listed_in_retry_on(
    orchestrator: str, tmp_path: Path
) -> None:
    result, records = _run(dies_once, (2,), tmp_path, orchestrator, RayExecutor())

    assert result.ok
    assert _calls(tmp_path) == {2: 2}
    first, second = records[2]
    assert (first["attempt"], first["success"], first["retried"]) == (1, False, True)
    assert first["extra"]["worker_died"] == "true"
    assert "(attempt" not in first["traceback"]  # the executor made one attempt of its own
    assert (second["attempt"], second["success"]) == (2, True)


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_an_error_outside_retry_on_is_not_retried_on_ray(orchestrator: str, tmp_path: Path) -> None:
    result, records = _run(refuses, (3,), tmp_path, orchestrator, RayExecutor())

    assert result.nodes["node"].failed == 1
    assert _calls(tmp_path) == {3: 1}
    assert [(r["attempt"], r["success"]) for r in records[3]] == [(1, False)]


def test_retries_declared_by_both_the_pod_and_the_executor_are_refused_before_any_call(
    tmp_path: Path,
) -> None:
    executor = RayExecutor(max_retries=2, retry_exceptions=True)

    with pytest.raises(ValueError, match=r"node 'node'.*retries=2.*max_retries=2.*one place"):
        _run(calibrate, (1,), tmp_path, "sync", executor)

    assert _calls(tmp_path) == {}
