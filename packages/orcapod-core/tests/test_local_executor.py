"""LocalExecutor: runs packet functions in this process, capturing what they print and log."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from orcapod.capture import DEFAULT_MAX_RECORDS, CaptureOptionError
from orcapod.core.datagrams import Packet
from orcapod.core.executors import LocalExecutor
from orcapod.core.function_pods import FunctionPod, PythonPacketFunction, function_pod
from orcapod.core.sources import DictSource

LOG = logging.getLogger("orcapod.tests.local_executor")


class RecordingLogger:
    """A packet logger that keeps every ``record(**fields)`` call."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> None:
        self.records.append(fields)


def noisy(x: int) -> int:
    print(f"computing {x}")
    print(f"careful with {x}", file=sys.stderr)
    LOG.warning("x is %d", x)
    return x + 1


def failing(x: int) -> int:
    print("about to fail")
    LOG.error("giving up on %d", x)
    raise ValueError(f"bad input {x}")


@function_pod(output_keys="y")
def noisy_pod(x: int) -> int:
    print(f"pod computing {x}")
    return x * 3


# sys mode -------------------------------------------------------------------


def test_sys_mode_records_stdout_stderr_and_logs_of_a_successful_call() -> None:
    executor = LocalExecutor(passthrough=False)
    logger = RecordingLogger()

    assert executor.execute_callable(noisy, {"x": 41}, logger=logger) == 42

    (record,) = logger.records
    assert record["stdout"] == "computing 41\n"
    assert record["stderr"] == "careful with 41\n"
    logs = [(log["level"], log["message"]) for log in record["python_logs"]]
    assert logs == [("WARNING", "x is 41")]
    assert record["python_logs"][0]["logger"] == LOG.name
    assert record["success"] is True
    assert record["traceback"] is None
    assert record["capture_level"] == "sys"
    assert record["executor_type"] == "local"
    assert record["attempt"] == 1
    assert record["duration_s"] >= 0


def test_failure_is_recorded_and_the_original_exception_is_reraised() -> None:
    raised: list[BaseException] = []

    def fail_and_remember(x: int) -> int:
        print("partial output")
        error = ValueError(f"bad input {x}")
        raised.append(error)
        raise error

    logger = RecordingLogger()
    with pytest.raises(ValueError, match="bad input 7") as info:
        LocalExecutor(passthrough=False).execute_callable(
            fail_and_remember, {"x": 7}, logger=logger
        )

    assert info.value is raised[0]
    (record,) = logger.records
    assert record["success"] is False
    assert record["stdout"] == "partial output\n"
    assert "ValueError: bad input 7" in record["traceback"]
    assert "fail_and_remember" in record["traceback"]
    assert record["executor_type"] == "local"


def test_failure_keeps_logs_written_before_the_error() -> None:
    logger = RecordingLogger()
    with pytest.raises(ValueError, match="bad input 3"):
        LocalExecutor(passthrough=False).execute_callable(failing, {"x": 3}, logger=logger)
    (record,) = logger.records
    assert record["stdout"] == "about to fail\n"
    assert [(log["level"], log["message"]) for log in record["python_logs"]] == [
        ("ERROR", "giving up on 3")
    ]


def test_without_a_logger_the_function_is_simply_called(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = LocalExecutor(passthrough=False).execute_callable(noisy, {"x": 1})
    assert result == 2
    out, err = capsys.readouterr()
    assert "computing 1" in out
    assert "careful with 1" in err


def test_without_a_logger_the_exception_propagates_unchanged() -> None:
    with pytest.raises(ValueError, match="bad input 5"):
        LocalExecutor().execute_callable(failing, {"x": 5})


def test_each_call_records_only_its_own_output() -> None:
    executor = LocalExecutor(passthrough=False)
    first, second = RecordingLogger(), RecordingLogger()
    executor.execute_callable(noisy, {"x": 1}, logger=first)
    executor.execute_callable(noisy, {"x": 2}, logger=second)
    assert first.records[0]["stdout"] == "computing 1\n"
    assert second.records[0]["stdout"] == "computing 2\n"


# fd mode --------------------------------------------------------------------


def test_fd_mode_captures_raw_writes_and_child_processes() -> None:
    def low_level(x: int) -> int:
        os.write(1, b"written to fd 1\n")
        os.write(2, b"written to fd 2\n")
        subprocess.run(["echo", "from a child process"], check=True)
        return x

    logger = RecordingLogger()
    executor = LocalExecutor(capture="fd", passthrough=False)
    assert executor.execute_callable(low_level, {"x": 9}, logger=logger) == 9

    (record,) = logger.records
    assert "written to fd 1" in record["stdout"]
    assert "from a child process" in record["stdout"]
    assert "written to fd 2" in record["stderr"]
    assert "written to fd 2" not in record["stdout"]
    assert record["capture_level"] == "fd"
    assert record["success"] is True


def test_fd_mode_records_a_failure_and_reraises_it() -> None:
    raised: list[BaseException] = []

    def fail(x: int) -> int:
        os.write(1, b"before failing\n")
        raised.append(RuntimeError("fd boom"))
        raise raised[0]

    logger = RecordingLogger()
    with pytest.raises(RuntimeError) as info:
        LocalExecutor(capture="fd", passthrough=False).execute_callable(
            fail, {"x": 1}, logger=logger
        )
    assert info.value is raised[0]
    (record,) = logger.records
    assert record["success"] is False
    assert "before failing" in record["stdout"]
    assert "RuntimeError: fd boom" in record["traceback"]


# async ----------------------------------------------------------------------


def test_async_calls_in_sys_mode_each_capture_only_their_own_output() -> None:
    def chatty(task: int) -> int:
        for step in range(3):
            print(f"task {task} step {step}")
            LOG.warning("task %d warned", task)
            time.sleep(0.002)
        return task * 10

    executor = LocalExecutor(passthrough=False)
    loggers = [RecordingLogger() for _ in range(20)]

    async def run_all() -> list[Any]:
        return await asyncio.gather(
            *(
                executor.async_execute_callable(chatty, {"task": i}, logger=logger)
                for i, logger in enumerate(loggers)
            )
        )

    results = asyncio.run(run_all())

    assert results == [i * 10 for i in range(20)]
    for i, logger in enumerate(loggers):
        (record,) = logger.records
        assert record["stdout"] == "".join(f"task {i} step {s}\n" for s in range(3))
        assert [log["message"] for log in record["python_logs"]] == [f"task {i} warned"] * 3
        assert record["success"] is True


def test_async_calls_in_fd_mode_take_turns_and_capture_their_own_output() -> None:
    def raw(task: int) -> int:
        for step in range(3):
            os.write(1, f"task {task} step {step}\n".encode())
            time.sleep(0.002)
        return task

    executor = LocalExecutor(capture="fd", passthrough=False)
    loggers = [RecordingLogger() for _ in range(5)]

    async def run_all() -> list[Any]:
        return await asyncio.gather(
            *(
                executor.async_execute_callable(raw, {"task": i}, logger=logger)
                for i, logger in enumerate(loggers)
            )
        )

    assert asyncio.run(run_all()) == list(range(5))
    for i, logger in enumerate(loggers):
        (record,) = logger.records
        assert record["stdout"] == "".join(f"task {i} step {s}\n" for s in range(3))
        assert record["capture_level"] == "fd"


def test_async_call_reraises_the_original_exception() -> None:
    logger = RecordingLogger()

    async def run() -> Any:
        return await LocalExecutor(passthrough=False).async_execute_callable(
            failing, {"x": 8}, logger=logger
        )

    with pytest.raises(ValueError, match="bad input 8"):
        asyncio.run(run())
    assert logger.records[0]["success"] is False


# options and executor data --------------------------------------------------


def test_with_options_returns_a_new_executor_and_leaves_the_old_one() -> None:
    executor = LocalExecutor(max_bytes=1000, passthrough=False)
    changed = executor.with_options(capture="fd", max_records=7)

    assert changed is not executor
    assert isinstance(changed, LocalExecutor)
    assert (changed.capture, changed.max_bytes, changed.max_records, changed.passthrough) == (
        "fd",
        1000,
        7,
        False,
    )
    assert (executor.capture, executor.max_bytes, executor.max_records) == (
        "sys",
        1000,
        DEFAULT_MAX_RECORDS,
    )


def test_with_options_refuses_an_unknown_option_naming_it() -> None:
    with pytest.raises(TypeError, match=r"no option 'num_gpus'"):
        LocalExecutor().with_options(num_gpus=1)


@pytest.mark.parametrize("capture", ["thread", "FD", ""])
def test_invalid_capture_level_is_a_value_error(capture: str) -> None:
    with pytest.raises(ValueError, match=rf"capture={capture!r}"):
        LocalExecutor(capture=capture)  # type: ignore[arg-type]


def test_invalid_capture_bounds_are_refused_at_construction() -> None:
    with pytest.raises(CaptureOptionError, match=r"max_bytes=-1"):
        LocalExecutor(max_bytes=-1)
    with pytest.raises(CaptureOptionError, match=r"max_records=-5"):
        LocalExecutor().with_options(max_records=-5)


def test_with_options_validates_the_new_capture_level() -> None:
    with pytest.raises(ValueError, match=r"capture='bogus'"):
        LocalExecutor().with_options(capture="bogus")


def test_executor_data_matches_its_schema_and_is_all_strings() -> None:
    executor = LocalExecutor(capture="fd", max_bytes=2048, max_records=9)
    data = executor.get_executor_data()
    schema = executor.get_executor_data_schema()
    assert list(data) == list(schema)
    assert all(isinstance(value, str) for value in data.values())
    assert all(tp is str for _, tp in schema.items())
    assert data["capture"] == "fd"
    assert data["max_bytes"] == "2048"
    assert data["max_records"] == "9"
    assert data["pid"] == str(os.getpid())


def test_executor_supports_python_packet_functions() -> None:
    function = PythonPacketFunction(noisy, "y")
    assert LocalExecutor().supports(function)
    assert LocalExecutor.executor_type == "local"


# packet functions and pods with an executor --------------------------------


def test_packet_function_warns_when_given_a_logger_but_no_executor() -> None:
    function = PythonPacketFunction(noisy, "y")
    logger = RecordingLogger()
    with pytest.warns(UserWarning, match=r"function 'noisy', which has no executor"):
        out = function.call(Packet.from_dict({"x": 4}), logger=logger)
    assert out.as_dict() == {"y": 5}
    assert logger.records == []


def test_packet_function_without_logger_or_executor_does_not_warn(
    recwarn: pytest.WarningsRecorder,
) -> None:
    function = PythonPacketFunction(noisy, "y")
    assert function.call(Packet.from_dict({"x": 4})).as_dict() == {"y": 5}
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_pod_with_local_executor_records_through_the_logger() -> None:
    pod = FunctionPod(noisy_pod.pod.packet_function)
    pod.executor = LocalExecutor(passthrough=False)
    try:
        logger = RecordingLogger()
        out = pod.packet_function.call(Packet.from_dict({"x": 5}), logger=logger)
        assert out.as_dict() == {"y": 15}
        (record,) = logger.records
        assert record["stdout"] == "pod computing 5\n"
        assert record["executor_type"] == "local"
        assert record["success"] is True
    finally:
        pod.executor = None


def test_process_packet_passes_the_logger_down_to_the_executor() -> None:
    pod = FunctionPod(noisy_pod.pod.packet_function)
    pod.executor = LocalExecutor(passthrough=False)
    try:
        tag, packet = next(iter(DictSource([{"id": "r1", "x": 2}], tag_columns="id")))
        logger = RecordingLogger()
        out_tag, out = pod.process_packet(tag, packet, logger=logger)
        assert out_tag["id"] == "r1"
        assert out.as_dict() == {"y": 6}
        assert logger.records[0]["stdout"] == "pod computing 2\n"
    finally:
        pod.executor = None


def test_async_call_of_a_packet_function_goes_through_the_executor() -> None:
    function = PythonPacketFunction(noisy, "y")
    function.executor = LocalExecutor(passthrough=False)
    logger = RecordingLogger()
    out = asyncio.run(function.async_call(Packet.from_dict({"x": 10}), logger=logger))
    assert out.as_dict() == {"y": 11}
    assert logger.records[0]["stdout"] == "computing 10\n"


def test_an_executor_that_cannot_run_the_function_is_refused() -> None:
    class NotForPython:
        executor_type = "other"

        def supports(self, packet_function: Any) -> bool:
            return False

    function = PythonPacketFunction(noisy, "y")
    with pytest.raises(TypeError, match=r"cannot run Python function 'noisy'"):
        function.executor = NotForPython()  # type: ignore[assignment]
    assert function.executor is None
