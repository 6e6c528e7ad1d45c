"""RayExecutor on a real local Ray cluster: capture on the worker, failures, retries,
dead workers, the async path, executor data and the connection's lifecycle."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.executors.ray import (
    RayExecutor,
    RemoteExceptionError,
    WorkerDiedError,
)
from orcapod.protocols.testing import RecordingLogger

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.usefixtures("ray_cluster")


# -- functions run on the workers ----------------------------------------------------


class CalibrationError(Exception):
    """The user's own exception type."""


class HoldsALock(Exception):
    """An exception that cannot be pickled to come back from the worker."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        import threading

        self.lock = threading.Lock()


def all_kinds_of_output(x: int) -> int:
    """Writes through every channel a worker has: Python, raw descriptors, C stdio, children."""
    print(f"python print {x}")
    print(f"python stderr {x}", file=sys.stderr)
    os.write(1, f"fd one {x}\n".encode())
    os.write(2, f"fd two {x}\n".encode())
    ctypes.CDLL(None).printf(b"c printf %d\n", ctypes.c_int(x))
    subprocess.run(["echo", f"child echo {x}"], check=True)
    subprocess.run(["sh", "-c", f"echo child stderr {x} >&2"], check=True)
    logging.getLogger("orcapod.tests.ray").warning("watch out for %d", x)
    return x + 1


def fails_after_printing(x: int) -> int:
    print(f"about to fail on {x}")
    os.write(2, b"raw stderr before the error\n")
    raise CalibrationError(f"no calibration for {x}")


def fails_unpicklably(x: int) -> int:
    print("about to raise something that cannot travel")
    raise HoldsALock(f"lock held for {x}")


class Unsendable:
    """A value that refuses to be pickled."""

    def __reduce__(self) -> Any:
        raise TypeError("Unsendable values stay where they are")


def returns_unsendable(x: int) -> Unsendable:
    print(f"making an unsendable value from {x}")
    return Unsendable()


def attempt_number(marker: str) -> int:
    """Counts a call's attempts in a file: 1 on the first, 2 on the second, ..."""
    path = Path(marker)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


def flaky(x: int, marker: str) -> int:
    """Fails with CalibrationError on the first attempt, succeeds after."""
    attempt = attempt_number(marker)
    print(f"attempt {attempt} for {x}")
    if attempt == 1:
        raise CalibrationError(f"first attempt at {x} fails")
    return x * 10


def always_fails(x: int, marker: str) -> int:
    attempt = attempt_number(marker)
    print(f"attempt {attempt} for {x}")
    raise CalibrationError(f"attempt {attempt} at {x} fails")


def dies_once(x: int, marker: str) -> int:
    """Kills its worker process on the first attempt, succeeds after."""
    if attempt_number(marker) == 1:
        os._exit(1)
    return x * 10


def reverse(values: list[int]) -> list[int]:
    return values[::-1]


def dies(x: int) -> int:
    print(f"dying on {x}", flush=True)
    os._exit(1)


def dies_after_a_while(x: int) -> int:
    print(f"dying on {x}", flush=True)
    os.write(2, b"last words\n")
    time.sleep(0.3)  # the pass-through pump copies what is in the pipe
    os._exit(1)


def interval(x: int, seconds: float) -> tuple[float, float]:
    """When this call ran on its worker: (start, end), wall clock."""
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def meet(me: str, other: str, folder: str) -> bool:
    """Says it is running, and waits (up to 30 s) to see the other call running too."""
    (Path(folder) / me).touch()
    deadline = time.monotonic() + 30
    while not (Path(folder) / other).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def wait_for_free_cpus(cpus: float) -> None:
    import ray

    deadline = time.monotonic() + 20
    available: Callable[[], dict[str, float]] = ray.available_resources
    while available().get("CPU", 0) < cpus and time.monotonic() < deadline:
        time.sleep(0.1)


def logger() -> RecordingLogger:
    return RecordingLogger("node", {}, {})


# -- capture ---------------------------------------------------------------------------


def test_python_fd_c_level_and_child_process_output_is_captured_on_the_worker() -> None:
    log = logger()
    assert RayExecutor().execute_callable(all_kinds_of_output, {"x": 7}, logger=log) == 8
    (record,) = log.records
    for line in ("python print 7", "fd one 7", "c printf 7", "child echo 7"):
        assert line in record["stdout"]
    for line in ("python stderr 7", "fd two 7", "child stderr 7"):
        assert line in record["stderr"]
    assert record["stdout_bytes"] == len(record["stdout"].encode())
    assert record["success"] is True
    assert record["traceback"] is None
    assert record["executor_type"] == "ray"
    assert record["capture_level"] == "fd"
    assert record["attempt"] == 1
    assert record["extra"]["worker_pid"] != str(os.getpid())  # it ran elsewhere


def test_python_log_records_come_back_structured() -> None:
    log = logger()
    RayExecutor().execute_callable(all_kinds_of_output, {"x": 3}, logger=log)
    (entry,) = log.records[0]["python_logs"]
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "WARNING",
        "orcapod.tests.ray",
        "watch out for 3",
    )
    assert entry["func"] == "all_kinds_of_output"


def test_output_is_bounded_as_asked() -> None:
    log = logger()
    RayExecutor(max_bytes=16).execute_callable(all_kinds_of_output, {"x": 1}, logger=log)
    record = log.records[0]
    assert record["stdout_truncated"] is True
    assert "truncated" in record["stdout"]
    assert record["stdout_bytes"] > 16


def test_without_a_logger_the_call_runs_uncaptured_and_returns_its_value() -> None:
    assert RayExecutor().execute_callable(all_kinds_of_output, {"x": 1}) == 2


def test_large_arguments_and_values_travel_through_the_object_store() -> None:
    payload = list(range(200_000))
    result = RayExecutor().execute_callable(reverse, {"values": payload}, logger=logger())
    assert result == payload[::-1]


# -- the function's own failures --------------------------------------------------------


def test_a_users_exception_is_reraised_as_its_own_type_after_its_output_is_recorded() -> None:
    log = logger()
    with pytest.raises(CalibrationError, match="no calibration for 4") as caught:
        RayExecutor().execute_callable(fails_after_printing, {"x": 4}, logger=log)
    assert not type(caught.value).__name__.startswith("Ray")
    (record,) = log.records
    assert record["success"] is False
    assert "about to fail on 4" in record["stdout"]
    assert "raw stderr before the error" in record["stderr"]
    assert "CalibrationError: no calibration for 4" in record["traceback"]
    assert "fails_after_printing" in record["traceback"]
    assert any("worker's traceback" in note for note in caught.value.__notes__)


def test_a_users_exception_without_a_logger_is_still_its_own_type() -> None:
    with pytest.raises(CalibrationError, match="no calibration for 5"):
        RayExecutor().execute_callable(fails_after_printing, {"x": 5})


def test_an_exception_that_cannot_be_pickled_becomes_a_clear_error_naming_its_type() -> None:
    log = logger()
    with pytest.raises(RemoteExceptionError, match="HoldsALock: lock held for 2") as caught:
        RayExecutor().execute_callable(fails_unpicklably, {"x": 2}, logger=log)
    assert isinstance(caught.value, RuntimeError)
    assert "fails_unpicklably" in str(caught.value)
    (record,) = log.records
    assert "about to raise something that cannot travel" in record["stdout"]
    assert "HoldsALock" in record["traceback"]


def test_a_function_that_cannot_be_sent_to_ray_is_recorded_and_its_error_raised() -> None:
    import threading

    lock = threading.Lock()

    def uses_a_lock(x: int) -> int:  # a closure over a lock: pickled by value, and fails
        with lock:
            return x

    log = logger()
    with pytest.raises(TypeError, match="serialize") as caught:
        RayExecutor().execute_callable(uses_a_lock, {"x": 1}, logger=log)
    assert any("could not be sent to a Ray worker" in note for note in caught.value.__notes__)
    (record,) = log.records
    assert (record["success"], record["attempt"]) == (False, 1)
    assert "not sent to Ray" in record["capture_error"]
    assert "TypeError" in record["traceback"]


def test_a_value_that_cannot_come_back_fails_the_call_with_rays_explanation() -> None:
    log = logger()
    with pytest.raises(TypeError, match="Unsendable values stay where they are"):
        RayExecutor().execute_callable(returns_unsendable, {"x": 1}, logger=log)
    (record,) = log.records
    assert record["success"] is False
    assert "Unsendable values stay where they are" in record["traceback"]
    assert "Ray said" in record["traceback"]


# -- retries ---------------------------------------------------------------------------


def test_a_retried_exception_is_recorded_once_per_attempt_and_succeeds_on_the_second(
    tmp_path: Path,
) -> None:
    log = logger()
    executor = RayExecutor(max_retries=2, retry_exceptions=True)
    marker = str(tmp_path / "flaky")
    assert executor.execute_callable(flaky, {"x": 4, "marker": marker}, logger=log) == 40
    assert [r["attempt"] for r in log.records] == [1, 2]
    assert [r["success"] for r in log.records] == [False, True]
    assert "attempt 1 for 4" in log.records[0]["stdout"]
    assert "first attempt at 4 fails" in log.records[0]["traceback"]
    assert "attempt 2 for 4" in log.records[1]["stdout"]


def test_exhausted_retries_raise_the_last_attempts_exception(tmp_path: Path) -> None:
    log = logger()
    executor = RayExecutor(max_retries=2, retry_exceptions=[CalibrationError])
    with pytest.raises(CalibrationError, match="attempt 3 at 1 fails"):
        executor.execute_callable(always_fails, {"x": 1, "marker": str(tmp_path / "m")}, logger=log)
    assert [r["attempt"] for r in log.records] == [1, 2, 3]
    assert [f"attempt {n} for 1" in r["stdout"] for n, r in enumerate(log.records, 1)] == [True] * 3


def test_user_exceptions_are_not_retried_by_default(tmp_path: Path) -> None:
    log = logger()
    with pytest.raises(CalibrationError):
        RayExecutor(max_retries=3).execute_callable(
            always_fails, {"x": 1, "marker": str(tmp_path / "m")}, logger=log
        )
    assert [r["attempt"] for r in log.records] == [1]


def test_only_the_listed_exception_types_are_retried(tmp_path: Path) -> None:
    log = logger()
    executor = RayExecutor(max_retries=3, retry_exceptions=(KeyError, TimeoutError))
    with pytest.raises(CalibrationError):
        executor.execute_callable(always_fails, {"x": 1, "marker": str(tmp_path / "m")}, logger=log)
    assert len(log.records) == 1


# -- dead workers ------------------------------------------------------------------------


def test_a_dead_worker_fails_its_call_with_worker_died_error_naming_the_function() -> None:
    log = logger()
    with pytest.raises(WorkerDiedError, match=r"dies\b.*died") as caught:
        RayExecutor().execute_callable(dies, {"x": 1}, logger=log)
    assert isinstance(caught.value, RuntimeError)
    assert "WorkerCrashedError" in str(caught.value)  # Ray's own words are kept
    (record,) = log.records
    assert record["success"] is False
    assert record["attempt"] == 1
    assert record["executor_type"] == "ray"
    assert "WorkerDiedError" in record["traceback"]
    assert record["extra"]["worker_died"] == "true"
    assert "worker died" in record["capture_error"]


@pytest.mark.parametrize(
    ("passthrough", "function"), [(False, dies), (True, dies_after_a_while)], ids=["spool", "pump"]
)
def test_what_a_dead_worker_printed_is_recovered_from_its_spool_on_a_local_cluster(
    passthrough: bool, function: Any
) -> None:
    log = logger()
    with pytest.raises(WorkerDiedError):
        RayExecutor(passthrough=passthrough).execute_callable(function, {"x": 7}, logger=log)
    (record,) = log.records
    assert record["stdout"] == "dying on 7\n"
    assert record["stderr"] == ("last words\n" if passthrough else "")
    assert "read from its spool files" in record["capture_error"]
    spools = Path(tempfile.gettempdir()) / "orcapod-ray-spools"
    assert list(spools.iterdir()) == []  # read, then removed


def test_calls_that_end_leave_no_spool_files_behind() -> None:
    RayExecutor().execute_callable(all_kinds_of_output, {"x": 1}, logger=logger())
    spools = Path(tempfile.gettempdir()) / "orcapod-ray-spools"
    assert list(spools.iterdir()) == []


def test_a_dead_worker_is_retried_as_a_system_failure(tmp_path: Path) -> None:
    log = logger()
    executor = RayExecutor(max_retries=1)  # retry_exceptions=False: system failures only
    result = executor.execute_callable(
        dies_once, {"x": 3, "marker": str(tmp_path / "m")}, logger=log
    )
    assert result == 30
    assert [(r["attempt"], r["success"]) for r in log.records] == [(1, False), (2, True)]
    assert "WorkerDiedError" in log.records[0]["traceback"]


def test_after_a_dead_worker_the_other_calls_still_complete() -> None:
    async def run_all() -> list[Any]:
        executor = RayExecutor()
        calls = [
            executor.async_execute_callable(fn, {"x": x}, logger=logger())
            for fn, x in [(all_kinds_of_output, 1), (dies, 2), (all_kinds_of_output, 3)]
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, dead, last = asyncio.run(run_all())
    assert (first, last) == (2, 4)
    assert isinstance(dead, WorkerDiedError)


# -- the async path ------------------------------------------------------------------------


def test_async_calls_run_concurrently_on_the_cluster(tmp_path: Path) -> None:
    executor = RayExecutor()

    async def run_both() -> list[bool]:
        calls = [
            executor.async_execute_callable(
                meet, {"me": me, "other": other, "folder": str(tmp_path)}
            )
            for me, other in (("a", "b"), ("b", "a"))
        ]
        return list(await asyncio.gather(*calls))

    assert asyncio.run(run_both()) == [True, True]  # each saw the other while running


def test_max_in_flight_caps_the_tasks_submitted_at_once() -> None:
    executor = RayExecutor(max_in_flight=1)
    wait_for_free_cpus(2)  # so that only the cap can keep tasks apart

    async def run_all() -> list[tuple[float, float]]:
        return list(
            await asyncio.gather(
                *(
                    executor.async_execute_callable(interval, {"x": x, "seconds": 0.2})
                    for x in range(3)
                )
            )
        )

    assert peak_overlap(asyncio.run(run_all())) == 1
    # A semaphore belongs to one event loop: a second loop gets its own cap.
    assert peak_overlap(asyncio.run(run_all())) == 1


def test_the_async_path_does_not_block_the_event_loop() -> None:
    async def run() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await RayExecutor().async_execute_callable(interval, {"x": 0, "seconds": 0.5})
        ticker.cancel()
        return ticks

    assert asyncio.run(run()) >= 10


def test_the_async_path_records_and_reraises_like_the_sync_path(tmp_path: Path) -> None:
    log = logger()
    executor = RayExecutor(max_retries=1, retry_exceptions=True)
    with pytest.raises(CalibrationError, match="attempt 2 at 9 fails"):
        asyncio.run(
            executor.async_execute_callable(
                always_fails, {"x": 9, "marker": str(tmp_path / "m")}, logger=log
            )
        )
    assert [(r["attempt"], r["success"]) for r in log.records] == [(1, False), (2, False)]
    assert all(r["capture_level"] == "fd" for r in log.records)


def test_concurrency_is_max_in_flight_or_a_multiple_of_the_clusters_cpus() -> None:
    assert RayExecutor(max_in_flight=3).concurrency == 3
    assert RayExecutor().concurrency == 16  # 8 x 2 CPUs, and at least 16


# -- executor data and lifecycle --------------------------------------------------------------


def test_executor_data_names_ray_the_cluster_and_the_task_resources(ray_cluster: Any) -> None:
    executor = RayExecutor(num_cpus=0.5, resources={"scanner": 1}, max_retries=2)
    executor.setup()
    data = executor.get_executor_data()
    assert data["ray_version"] == ray_cluster.__version__
    assert data["address"] == ray_cluster.get_runtime_context().gcs_address
    assert (data["num_cpus"], data["num_gpus"], data["memory"]) == ("0.5", "0", "0")
    assert data["resources"] == '{"scanner": 1}'
    assert (data["max_retries"], data["retry_exceptions"], data["capture"]) == ("2", "false", "fd")
    assert all(isinstance(value, str) for value in data.values())
    assert list(executor.get_executor_data_schema()) == list(data)
    assert all(tp is str for _, tp in executor.get_executor_data_schema().items())


def test_the_executor_data_schema_is_what_core_stores_for_str_columns() -> None:
    from orcapod.core.types import Schema

    schema = RayExecutor().get_executor_data_schema()
    assert schema.to_arrow() == Schema(dict(schema.items())).to_arrow()


def test_teardown_leaves_a_cluster_the_user_started_running(ray_cluster: Any) -> None:
    executor = RayExecutor()
    executor.setup()
    executor.teardown()
    executor.teardown()
    assert ray_cluster.is_initialized()
    assert executor.execute_callable(all_kinds_of_output, {"x": 0}) == 1  # connects again


def test_an_executor_starts_a_local_cluster_lazily_and_teardown_stops_only_its_own() -> None:
    code = (
        "import sys\n"
        "from orcapod.executors.ray import RayExecutor\n"
        "def reverse_text(text): return text[::-1]\n"
        "executor = RayExecutor(num_cpus=1)\n"
        "copy = executor.with_options(max_retries=1)\n"
        "print('ray' in sys.modules)\n"
        "executor.setup()\n"
        "print(copy.execute_callable(reverse_text, {'text': 'abc'}))\n"
        "import ray\n"
        "print(ray.is_initialized())\n"
        "copy.teardown(); print(ray.is_initialized())\n"  # the copy did not start it
        "executor.teardown(); print(ray.is_initialized())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "cba", "True", "True", "False"]


def test_an_executor_connects_to_an_existing_cluster_by_address_and_leaves_it_running(
    ray_cluster: Any,
) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    code = (
        "from orcapod.executors.ray import RayExecutor\n"
        "def reverse_text(text): return text[::-1]\n"
        f"executor = RayExecutor(address={address!r})\n"
        "print(executor.execute_callable(reverse_text, {'text': 'abc'}))\n"
        "print(executor.get_executor_data()['address'])\n"
        "executor.teardown()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cba", address]
    # The other process's teardown disconnected it, and stopped nothing of the cluster.
    assert RayExecutor().execute_callable(reverse, {"values": [1, 2]}) == [2, 1]
