"""The executor contract, shown able to fail: each kind of unsound executor fails the
check that protects the behaviour it lacks, and passes the others."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import traceback
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.protocols import testing
from orcapod.protocols.executors import StringSchema
from orcapod.protocols.testing import ExecutorContract
from orcapod.protocols.testing import _executor_calls as user

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from orcapod.protocols.observability import PacketExecutionLogger


class _Plain:
    """Calls the function in this process, recording each call without its output."""

    executor_type = "plain"

    def supports(self, packet_function: Any) -> bool:
        return True

    def with_options(self, **options: Any) -> _Plain:
        if options:
            raise TypeError(f"{type(self).__name__} has no option {sorted(options)[0]!r}")
        return type(self)()

    def get_executor_data(self) -> dict[str, Any]:
        return {"kind": "plain"}

    def get_executor_data_schema(self) -> StringSchema:
        return StringSchema(("kind",))

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        try:
            value = fn(**kwargs)
        except BaseException as error:
            self._record(
                logger, success=False, traceback="".join(traceback.format_exception(error))
            )
            raise
        self._record(logger, success=True, traceback=None)
        return value

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        return await asyncio.to_thread(self.execute_callable, fn, kwargs, logger=logger)

    def _record(self, logger: PacketExecutionLogger | None, **fields: Any) -> None:
        if logger is not None:
            fields = {"stdout": "", "stderr": "", "python_logs": [], **fields}
            logger.record(executor_type="plain", capture_level="sys", **fields)


class _Wrapping(_Plain):
    """Replaces the function's exception with its own."""

    def execute_callable(self, fn: Callable[..., Any], kwargs: Any, *, logger: Any = None) -> Any:
        try:
            return super().execute_callable(fn, kwargs, logger=logger)
        except BaseException as error:
            raise RuntimeError(f"the call failed: {error}") from error


class _SwallowingBaseExceptions(_Plain):
    """Turns a SystemExit or KeyboardInterrupt of the function into a None result."""

    def execute_callable(self, fn: Callable[..., Any], kwargs: Any, *, logger: Any = None) -> Any:
        try:
            return super().execute_callable(fn, kwargs, logger=logger)
        except Exception:
            raise
        except BaseException:
            return None


class _SharedBuffer(_Plain):
    """Captures stdout into one buffer for all calls: each record holds earlier calls' output."""

    _buffer = io.StringIO()
    _lock = threading.Lock()

    def execute_callable(self, fn: Callable[..., Any], kwargs: Any, *, logger: Any = None) -> Any:
        with self._lock, contextlib.redirect_stdout(self._buffer):
            value = fn(**kwargs)
        if logger is not None:
            logger.record(
                stdout=self._buffer.getvalue(),
                stderr="",
                python_logs=[],
                traceback=None,
                success=True,
                executor_type="plain",
                capture_level="sys",
            )
        return value


class _SerialButDeclared(_Plain):
    """Declares four calls in flight, and runs one at a time."""

    concurrency = 4
    _lock = threading.Lock()

    def execute_callable(self, fn: Callable[..., Any], kwargs: Any, *, logger: Any = None) -> Any:
        with self._lock:
            return super().execute_callable(fn, kwargs, logger=logger)


class _RecordingTwice(_Plain):
    def _record(self, logger: PacketExecutionLogger | None, **fields: Any) -> None:
        super()._record(logger, **fields)
        super()._record(logger, **fields)


class _WrongFieldTypes(_Plain):
    def _record(self, logger: PacketExecutionLogger | None, **fields: Any) -> None:
        if logger is not None:
            logger.record(**{**fields, "stdout": b"", "stderr": "", "python_logs": []})


class _NumbersInData(_Plain):
    def get_executor_data(self) -> dict[str, Any]:
        return {"kind": "plain", "workers": 4}

    def get_executor_data_schema(self) -> StringSchema:
        return StringSchema(("kind", "workers"))


class _UndeclaredKey(_Plain):
    def get_executor_data(self) -> dict[str, Any]:
        return {"kind": "plain", "host": "here"}


def _contract(executor: type[_Plain]) -> ExecutorContract:
    class Contract(ExecutorContract):
        meeting_wait_s = 0.5  # the calls never meet: only how soon the check gives up

        def make_executor(self) -> Any:
            return executor()

    return Contract()


def _fails(executor: type[_Plain], check: str, *args: Any, match: str | None = None) -> None:
    with pytest.raises(AssertionError, match=match):
        getattr(_contract(executor), check)(*args)


PASSED_BY_PLAIN = [
    ("test_a_call_returns_the_function_s_value", "sync"),
    ("test_a_call_returns_the_function_s_value", "async"),
    ("test_values_of_every_kind_come_back_equal", "async"),
    ("test_without_a_logger_a_call_still_returns_and_raises", "async"),
    ("test_an_exception_comes_back_as_itself", "sync"),
    ("test_a_failed_packet_leaves_the_other_packets_running", "async"),
    ("test_base_exceptions_among_many_packets_leave_the_others_running", "async"),
    ("test_executor_data_has_the_declared_keys_every_value_a_str",),
    ("test_the_execution_context_fits_the_stored_columns",),
    ("test_it_is_a_python_function_executor",),
    ("test_setup_and_teardown_are_idempotent",),
    ("test_with_options_gives_a_new_executor_and_names_an_unknown_option",),
]


@pytest.mark.parametrize("check", PASSED_BY_PLAIN, ids=lambda check: "-".join(map(str, check[:2])))
def test_an_executor_that_does_not_capture_passes_what_does_not_read_output(
    check: tuple[Any, ...],
) -> None:
    name, *args = check
    getattr(_contract(_Plain), name)(*args)


@pytest.mark.parametrize("path", ["sync", "async"])
def test_the_contract_fails_an_executor_that_does_not_capture(path: str) -> None:
    _fails(_Plain, "test_printed_output_and_log_records_are_recorded", path)
    _fails(_Plain, "test_a_failed_call_keeps_what_it_printed_and_logged_before_the_error", path)


@pytest.mark.parametrize("path", ["sync", "async"])
def test_the_contract_fails_an_executor_replacing_the_function_s_exception(path: str) -> None:
    _fails(_Wrapping, "test_an_exception_comes_back_as_itself", path, match="RuntimeError")
    _fails(
        _Wrapping,
        "test_a_base_exception_from_user_code_is_the_packet_s_failure",
        path,
        user.interrupts,
        KeyboardInterrupt,
        match="must come back as itself",
    )


@pytest.mark.parametrize("path", ["sync", "async"])
def test_the_contract_fails_an_executor_swallowing_a_base_exception(path: str) -> None:
    _fails(
        _SwallowingBaseExceptions,
        "test_a_base_exception_from_user_code_is_the_packet_s_failure",
        path,
        user.exits,
        SystemExit,
        match="returned None",
    )
    _fails(
        _SwallowingBaseExceptions,
        "test_base_exceptions_among_many_packets_leave_the_others_running",
        path,
    )


def test_the_contract_fails_an_executor_whose_records_mix_packets_output() -> None:
    _fails(
        _SharedBuffer,
        "test_many_packets_each_get_their_own_result_and_output",
        "sync",
        match="holds the output of packets",
    )


def test_the_contract_fails_an_executor_declaring_concurrency_it_does_not_have(
    tmp_path: Path,
) -> None:
    _fails(_SerialButDeclared, "test_declared_concurrency_is_real", tmp_path, match="one at a time")


def test_the_concurrency_check_is_skipped_for_an_executor_declaring_none(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception):
        _contract(_Plain).test_declared_concurrency_is_real(tmp_path)


def test_the_contract_fails_an_executor_recording_a_call_twice() -> None:
    _fails(_RecordingTwice, "test_an_exception_comes_back_as_itself", "sync", match="2 times")


def test_the_contract_fails_a_record_field_of_the_wrong_type() -> None:
    _fails(_WrongFieldTypes, "test_an_exception_comes_back_as_itself", "sync", match="stdout")


def test_the_contract_fails_executor_data_that_is_not_str_to_str() -> None:
    _fails(_NumbersInData, "test_executor_data_has_the_declared_keys_every_value_a_str")
    with pytest.raises(pa.ArrowException):
        _contract(_NumbersInData).test_the_execution_context_fits_the_stored_columns()


def test_the_contract_fails_executor_data_with_an_undeclared_key() -> None:
    _fails(
        _UndeclaredKey,
        "test_executor_data_has_the_declared_keys_every_value_a_str",
        match="differ from the declared",
    )


def test_the_contract_class_itself_is_not_collected_and_is_exported() -> None:
    assert ExecutorContract.__test__ is False
    with pytest.raises(NotImplementedError):
        ExecutorContract().make_executor()
    assert "ExecutorContract" in testing.__all__
