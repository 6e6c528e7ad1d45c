"""The conformance suite every :class:`~orcapod.protocols.executors.PythonFunctionExecutor` passes.

An executor plugin subclasses :class:`ExecutorContract`, sets ``__test__ = True``
and supplies :meth:`~ExecutorContract.make_executor`; every inherited test then
calls plain functions through a fresh executor the way runs call them (no
pipeline runs: a packet is the keyword arguments of one call, its packet logger
a recording double)::

    from orcapod.protocols.testing import ExecutorContract

    class TestMyExecutor(ExecutorContract):
        __test__ = True

        def make_executor(self):
            return MyExecutor()  # one that does not retry calls by itself

Most checks run on both paths a run takes: ``execute_callable``, one packet
after another (the sequential orchestrator), and ``async_execute_callable``
with many packets in flight (the concurrent orchestrator, and any node whose
executor declares a ``concurrency`` above 1). They cover the results; what the
function printed and logged, recorded once per call with the fields of
``ExecutionRecordFields``; an exception of the function, ``SystemExit``,
``KeyboardInterrupt`` and other ``BaseException`` included, re-raised as itself
as that packet's failure while the other packets go on; that an executor
declaring ``concurrency`` really runs calls at the same time; and that its
executor data fits the stored execution context (:data:`EXECUTION_CONTEXT_SCHEMA`).

The functions it runs live in ``orcapod.protocols.testing._executor_calls``
(standard library only), so an executor running them in another process needs
only orcapod-protocols there. The concurrency check meets in a temporary
directory, so the calls must run on this machine (a local cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pyarrow as pa
import pytest

from orcapod.protocols.executors import PythonFunctionExecutor
from orcapod.protocols.observability import DiscardingPacketLogger
from orcapod.protocols.testing import _executor_calls as user
from orcapod.protocols.testing.observers import RecordingLogger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from orcapod.protocols.observability import PacketExecutionLogger

__all__ = ["ASYNC_IN_FLIGHT", "EXECUTION_CONTEXT_SCHEMA", "ExecutorContract"]

CallPath = Literal["sync", "async"]
PATHS = pytest.mark.parametrize("path", ["sync", "async"])

ASYNC_IN_FLIGHT = 16
"""Packets the concurrent orchestrator keeps in flight per node by default (its
``max_concurrency``), for an executor that declares no ``concurrency`` of its own."""

_STR_MAP = pa.map_(pa.large_string(), pa.large_string())

EXECUTION_CONTEXT_SCHEMA = pa.schema(
    [
        pa.field("executor_type", pa.large_string(), nullable=False),
        pa.field("executor_info", _STR_MAP, nullable=False),
        pa.field("python_version", pa.large_string(), nullable=False),
        pa.field("extra_info", _STR_MAP, nullable=False),
    ]
)
"""The execution context stored with every result (native Arrow map columns);
``executor_info`` is the executor's ``get_executor_data()``."""

_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "stdout": (str,),
    "stderr": (str,),
    "stdout_bytes": (int,),
    "stderr_bytes": (int,),
    "stdout_truncated": (bool,),
    "stderr_truncated": (bool,),
    "python_logs": (list,),
    "python_logs_dropped": (int,),
    "traceback": (str, type(None)),
    "success": (bool,),
    "duration_s": (int, float),
    "attempt": (int,),
    "executor_type": (str,),
    "capture_level": (str,),
    "capture_error": (str, type(None)),
    "extra": (dict,),
}
"""The types of ``ExecutionRecordFields``."""

_REQUIRED = (
    "stdout",
    "stderr",
    "python_logs",
    "traceback",
    "success",
    "executor_type",
    "capture_level",
)
"""Fields every record has: what observers show of a call and how it was captured."""

_LOG_TYPES: dict[str, type] = {
    "time": datetime,
    "level": str,
    "logger": str,
    "message": str,
    "pathname": str,
    "lineno": int,
    "func": str,
}
"""The fields of ``PythonLogRecord``."""

_BASE_EXCEPTIONS = pytest.mark.parametrize(
    ("fn", "kind"),
    [
        (user.exits, SystemExit),
        (user.interrupts, KeyboardInterrupt),
        (user.stops, user.ContractStop),
    ],
    ids=["SystemExit", "KeyboardInterrupt", "BaseException"],
)

_Outcome = tuple[Any, BaseException | None]
_Call = tuple["Callable[..., Any]", "Mapping[str, Any]", "PacketExecutionLogger | None"]


class _Calls:
    """Calls functions through an executor as runs do, on one of its two paths.

    Every outcome is ``(value, None)`` or ``(None, error)``: whatever a call
    raised is that packet's, as a node treats it.
    """

    def __init__(self, executor: PythonFunctionExecutor, path: CallPath, in_flight: int) -> None:
        self.executor = executor
        self.path = path
        self.in_flight = in_flight

    def one(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        logger: PacketExecutionLogger | None = None,
    ) -> _Outcome:
        return self.many([(fn, kwargs, logger)])[0]

    def many(self, calls: Sequence[_Call]) -> list[_Outcome]:
        if self.path == "sync":
            return [self._sync(*call) for call in calls]
        return asyncio.run(self._gathered(calls))

    def _sync(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        logger: PacketExecutionLogger | None,
    ) -> _Outcome:
        try:
            return self.executor.execute_callable(fn, kwargs, logger=logger), None
        except BaseException as error:  # the packet's failure, whatever it is
            return None, error

    async def _gathered(self, calls: Sequence[_Call]) -> list[_Outcome]:
        gate = asyncio.Semaphore(self.in_flight)

        async def call(
            fn: Callable[..., Any],
            kwargs: Mapping[str, Any],
            logger: PacketExecutionLogger | None,
        ) -> _Outcome:
            async with gate:
                try:
                    value = await self.executor.async_execute_callable(fn, kwargs, logger=logger)
                except BaseException as error:
                    # Caught inside the task: asyncio re-raises a SystemExit or a
                    # KeyboardInterrupt that leaves a task into the event loop.
                    return None, error
                return value, None

        return list(await asyncio.gather(*(call(*one) for one in calls)))


def _logger(x: int) -> RecordingLogger:
    return RecordingLogger("executor_contract", {"packet": x}, {"x": x})


def _value(outcome: _Outcome) -> Any:
    value, error = outcome
    if error is not None:
        raise AssertionError(
            f"the call raised {type(error).__name__}: {error}; the function returned normally"
        ) from error
    return value


def _error(outcome: _Outcome, kind: type[BaseException]) -> BaseException:
    value, error = outcome
    assert error is not None, f"the call returned {value!r}; the function raised {kind.__name__}"
    assert type(error) is kind, (
        f"the function raised {kind.__name__}, the executor raised {type(error).__name__}: "
        f"{error}; a packet's error must come back as itself, not wrapped or replaced"
    )
    return error


def _the_record(logger: RecordingLogger, executor: PythonFunctionExecutor) -> dict[str, Any]:
    """The one record of a call, checked against ``ExecutionRecordFields``."""
    assert len(logger.records) == 1, (
        f"logger.record was called {len(logger.records)} times for one call; once per "
        "attempt (does the executor retry by itself? make_executor must not)"
    )
    (record,) = logger.records
    missing = [name for name in _REQUIRED if name not in record]
    assert not missing, f"the record lacks {missing}; it has {sorted(record)}"
    for name, kinds in _RECORD_TYPES.items():
        if name in record:
            wanted = " or ".join(kind.__name__ for kind in kinds)
            assert isinstance(record[name], kinds), (
                f"record[{name!r}] is {record[name]!r}, not {wanted}"
            )
    assert record["executor_type"] == executor.executor_type, (
        f"record['executor_type'] is {record['executor_type']!r}, the executor's is "
        f"{executor.executor_type!r}"
    )
    assert record["capture_level"] in ("sys", "fd"), record["capture_level"]
    assert record.get("attempt", 1) == 1, f"one call recorded attempt {record['attempt']}"
    assert record.get("duration_s", 0) >= 0, record["duration_s"]
    for stream in ("stdout", "stderr"):
        if f"{stream}_bytes" in record and not record.get(f"{stream}_truncated"):
            assert record[f"{stream}_bytes"] == len(record[stream].encode()), (
                f"{stream}_bytes is {record[f'{stream}_bytes']}, its text has "
                f"{len(record[stream].encode())} bytes and is not truncated"
            )
    for entry in record["python_logs"]:
        for name, kind in _LOG_TYPES.items():
            assert isinstance(entry.get(name), kind), (
                f"a python_logs entry's {name!r} is {entry.get(name)!r}, not {kind.__name__}"
            )
    return record


def _same(actual: Any, expected: Any, what: str) -> None:
    assert actual == expected, f"{what} {actual!r}, expected {expected!r}"


def _holds(record: Mapping[str, Any], field: str, text: str) -> None:
    assert text in (record[field] or ""), f"record[{field!r}] lacks {text!r}: {record[field]!r}"


def _succeeded(record: Mapping[str, Any], success: bool) -> None:
    """The record says whether the call succeeded, with a traceback only on failure."""
    assert record["success"] is success, f"record['success'] is {record['success']!r}"
    if success:
        assert record["traceback"] is None, f"a successful call's traceback: {record['traceback']}"
    else:
        assert record["traceback"], "a failed call's record has no traceback"


def _user_logs(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (entry["level"], entry["message"])
        for entry in record["python_logs"]
        if entry["logger"] == user.USER_LOGGER
    ]


def _markers(text: str, numbers: range) -> list[int]:
    return [x for x in numbers if user.marker(x) in text]


class ExecutorContract:
    """Behaviour every PythonFunctionExecutor must have; subclass it and supply the factory.

    Set ``__test__ = True`` in the subclass and override :meth:`make_executor`.
    Override :meth:`calls_in_flight` to hold the executor to a concurrency it
    does not declare.
    """

    __test__: ClassVar[bool] = False

    many_packets: ClassVar[int] = 40
    """How many packets the tests of many packets send."""

    meeting_wait_s: ClassVar[float] = 60.0
    """How long a call of the concurrency check waits for the other before it
    gives up (the check then fails); it bounds a failure, it measures nothing."""

    def make_executor(self) -> PythonFunctionExecutor:
        """A new executor that runs each call once (no retries of its own)."""
        raise NotImplementedError("subclass ExecutorContract and override make_executor()")

    def calls_in_flight(self, executor: PythonFunctionExecutor) -> int:
        """How many calls ``executor`` runs at the same time on its async path.

        By default what it declares, as runs read it: an integer ``concurrency``
        attribute above 1, else 1 (and the concurrency check is skipped).
        """
        declared = getattr(executor, "concurrency", 1)
        return declared if type(declared) is int and declared > 1 else 1

    @contextlib.contextmanager
    def _executor(self) -> Iterator[PythonFunctionExecutor]:
        executor = self.make_executor()
        executor.setup()
        try:
            yield executor
        finally:
            executor.teardown()

    @contextlib.contextmanager
    def _calls(self, path: CallPath) -> Iterator[_Calls]:
        with self._executor() as executor:
            declared = self.calls_in_flight(executor)
            yield _Calls(executor, path, declared if declared > 1 else ASYNC_IN_FLIGHT)

    # -- results ---------------------------------------------------------------

    @PATHS
    def test_a_call_returns_the_function_s_value(self, path: CallPath) -> None:
        """The function's return value comes back, its arguments passed by name."""
        with self._calls(path) as calls:
            outcome = calls.one(user.combine, {"label": "p", "factor": 7, "x": 3}, _logger(3))
        _same(_value(outcome), (21, "p-3"), "combine(x=3, factor=7, label='p') returned")

    @PATHS
    def test_values_of_every_kind_come_back_equal(self, path: CallPath) -> None:
        """None, numbers, text, bytes and nested containers come back equal to what was returned."""
        values = [None, 0, -1.5, "text é", b"\x00\xff", (1, "a"), [1, [2, 3]], {"a": {"b": None}}]
        with self._calls(path) as calls:
            outcomes = calls.many(
                [(user.echo, {"value": v}, _logger(i)) for i, v in enumerate(values)]
            )
        _same([_value(outcome) for outcome in outcomes], values, "echo(value) returned")

    @PATHS
    def test_many_packets_each_get_their_own_result_and_output(self, path: CallPath) -> None:
        """Every packet of many gets its own value and a record of only its own output
        (concurrent calls never mix their output)."""
        numbers = range(self.many_packets)
        loggers = [_logger(x) for x in numbers]
        with self._calls(path) as calls:
            outcomes = calls.many([(user.noisy, {"x": x}, loggers[x]) for x in numbers])
            executor = calls.executor
        values = [_value(outcome) for outcome in outcomes]
        _same(values, [x + 1 for x in numbers], "noisy(x) for every packet returned")
        records = [_the_record(logger, executor) for logger in loggers]
        for stream in ("stdout", "stderr"):
            for x, record in enumerate(records):
                holds = _markers(record[stream], numbers)
                assert holds == [x], (
                    f"packet {x}'s {stream} holds the output of packets {holds}: {record[stream]!r}"
                )
        for x, record in enumerate(records):
            _same(
                _user_logs(record), [("WARNING", f"warning {user.marker(x)}")], f"packet {x} logged"
            )

    # -- captured output -------------------------------------------------------

    @PATHS
    def test_printed_output_and_log_records_are_recorded(self, path: CallPath) -> None:
        """What the function printed to stdout and stderr, and logged, is recorded once,
        as a successful call's record with the protocol's fields."""
        logger = _logger(41)
        with self._calls(path) as calls:
            assert _value(calls.one(user.noisy, {"x": 41}, logger)) == 42
            record = _the_record(logger, calls.executor)
        _holds(record, "stdout", f"stdout {user.marker(41)}\n")
        _holds(record, "stderr", f"stderr {user.marker(41)}\n")
        assert _user_logs(record) == [("WARNING", f"warning {user.marker(41)}")], (
            f"the log record is not in python_logs: {record['python_logs']!r}"
        )
        (entry,) = (e for e in record["python_logs"] if e["logger"] == user.USER_LOGGER)
        assert entry["func"] == "noisy", entry
        _succeeded(record, True)

    @PATHS
    def test_a_failed_call_keeps_what_it_printed_and_logged_before_the_error(
        self, path: CallPath
    ) -> None:
        """A failed call's record keeps its output and logs, with its traceback."""
        logger = _logger(7)
        with self._calls(path) as calls:
            _error(calls.one(user.fails, {"x": 7}, logger), user.ContractError)
            record = _the_record(logger, calls.executor)
        _holds(record, "stdout", f"before the error {user.marker(7)}\n")
        _same(_user_logs(record), [("ERROR", f"giving up on {user.marker(7)}")], "it logged")
        _succeeded(record, False)
        _holds(record, "traceback", "ContractError: bad input 7")
        assert "fails" in record["traceback"], "the traceback does not name the function"

    @PATHS
    def test_without_a_logger_a_call_still_returns_and_raises(self, path: CallPath) -> None:
        """With no logger, or one that keeps nothing, calls still return and raise as themselves."""
        discarding = DiscardingPacketLogger()
        with self._calls(path) as calls:
            outcomes = calls.many(
                [
                    (user.noisy, {"x": 1}, None),
                    (user.noisy, {"x": 2}, discarding),
                    (user.fails, {"x": 3}, None),
                    (user.fails, {"x": 4}, discarding),
                ]
            )
        assert [_value(outcome) for outcome in outcomes[:2]] == [2, 3]
        for outcome, x in zip(outcomes[2:], (3, 4), strict=True):
            assert str(_error(outcome, user.ContractError)) == f"bad input {x}"

    # -- failures are packet failures ------------------------------------------

    @PATHS
    def test_an_exception_comes_back_as_itself(self, path: CallPath) -> None:
        """The function's exception is re-raised with its own type and message, after
        its record says the call failed."""
        logger = _logger(5)
        with self._calls(path) as calls:
            error = _error(calls.one(user.fails, {"x": 5}, logger), user.ContractError)
            record = _the_record(logger, calls.executor)
        _same(str(error), "bad input 5", "the exception's message")
        _succeeded(record, False)

    @PATHS
    def test_a_failed_packet_leaves_the_other_packets_running(self, path: CallPath) -> None:
        """Packets failing among many fail alone: each with its own error and record,
        the others computed, and the executor serves calls afterwards."""
        numbers = range(self.many_packets)
        loggers = [_logger(x) for x in numbers]
        with self._calls(path) as calls:
            outcomes = calls.many(
                [(user.fails_on_multiples_of_three, {"x": x}, loggers[x]) for x in numbers]
            )
            after = calls.one(user.combine, {"x": 2, "factor": 5, "label": "after"})
            executor = calls.executor
        for x in numbers:
            record = _the_record(loggers[x], executor)
            _succeeded(record, x % 3 != 0)
            if x % 3:
                _same(_value(outcomes[x]), x * x, f"packet {x} returned")
            else:
                _same(str(_error(outcomes[x], user.ContractError)), f"bad input {x}", "message")
        _same(_value(after), (10, "after-2"), "a call after the failures returned")

    # -- BaseException from user code ------------------------------------------

    @PATHS
    @_BASE_EXCEPTIONS
    def test_a_base_exception_from_user_code_is_the_packet_s_failure(
        self, path: CallPath, fn: Callable[[int], int], kind: type[BaseException]
    ) -> None:
        """SystemExit, KeyboardInterrupt or another BaseException raised by the function
        is recorded as a failed call and re-raised as itself (the packet's failure);
        the executor, its workers and its event loop keep serving."""
        logger = _logger(1)
        with self._calls(path) as calls:
            error = _error(calls.one(fn, {"x": 1}, logger), kind)
            after = calls.one(user.noisy, {"x": 2}, _logger(2))
            record = _the_record(logger, calls.executor)
        if kind is SystemExit:
            assert error.args == (3,), f"sys.exit(3) came back as {error!r}"
        _succeeded(record, False)
        _holds(record, "traceback", kind.__name__)
        _holds(record, "stdout", user.marker(1))
        _same(_value(after), 3, f"a call after the {kind.__name__} returned")

    @PATHS
    def test_base_exceptions_among_many_packets_leave_the_others_running(
        self, path: CallPath
    ) -> None:
        """Packets raising BaseExceptions among ordinary ones: each fails alone, with its
        own exception, and every other packet gets its value."""
        failing = [(user.exits, SystemExit), (user.interrupts, KeyboardInterrupt)]
        failing.append((user.stops, user.ContractStop))
        calls_made: list[_Call] = []
        for x in range(12):
            fn = failing[x // 4][0] if x % 4 == 0 else user.noisy
            calls_made.append((fn, {"x": x}, _logger(x)))
        with self._calls(path) as calls:
            outcomes = calls.many(calls_made)
        for x, outcome in enumerate(outcomes):
            if x % 4 == 0:
                _error(outcome, failing[x // 4][1])
            else:
                _same(_value(outcome), x + 1, f"packet {x} returned")

    # -- concurrency -----------------------------------------------------------

    def test_declared_concurrency_is_real(self, tmp_path: Path) -> None:
        """An executor declaring that it runs calls concurrently has two calls running
        at the same time (each waits until the other has started), both recorded."""
        with self._executor() as executor:
            if self.calls_in_flight(executor) < 2:
                pytest.skip("the executor declares no concurrency (no concurrency above 1)")
            loggers = [_logger(x) for x in (0, 1)]
            kwargs = {"directory": str(tmp_path), "expected": 2, "wait_s": self.meeting_wait_s}
            calls = _Calls(executor, "async", 2)
            outcomes = calls.many(
                [(user.meets_the_others, {"x": x, **kwargs}, loggers[x]) for x in (0, 1)]
            )
            met = [_value(outcome) for outcome in outcomes]
            assert met == [True, True], (
                f"calls that met the other: {met}; {executor!r} declares "
                f"{self.calls_in_flight(executor)} calls in flight, but ran them one at a time"
            )
            for logger in loggers:
                _succeeded(_the_record(logger, executor), True)

    # -- the execution context -------------------------------------------------

    def test_executor_data_has_the_declared_keys_every_value_a_str(self) -> None:
        """get_executor_data() is a str-to-str mapping with exactly the keys its declared
        schema names, each declared str (before and after a call)."""
        with self._executor() as executor:
            before = executor.get_executor_data()
            _value(_Calls(executor, "sync", 1).one(user.noisy, {"x": 1}, _logger(1)))
            after = executor.get_executor_data()
            schema = executor.get_executor_data_schema()
        declared = dict(schema.items())
        for data in (before, after):
            assert isinstance(data, dict), f"get_executor_data() returned {type(data).__name__}"
            wrong = {
                k: v for k, v in data.items() if not (isinstance(k, str) and isinstance(v, str))
            }
            assert not wrong, f"executor data must map str to str: {wrong!r}"
            assert set(data) == set(declared), (
                f"executor data keys {sorted(data)} differ from the declared {sorted(declared)}"
            )
        assert all(kind is str for kind in declared.values()), f"declared types: {declared}"
        _same(list(schema), list(declared), "iterating the declared schema gave")
        _same(len(schema), len(declared), "len() of the declared schema is")
        for name in declared:
            assert name in schema, f"{name!r} in the declared schema is False"
            assert schema[name] is str, f"the declared schema[{name!r}] is {schema[name]!r}"
        for field in schema.to_arrow():
            assert field.type in (pa.large_string(), pa.string()), field

    def test_the_execution_context_fits_the_stored_columns(self) -> None:
        """The executor's type and data fill the stored execution context (Arrow map
        columns) and read back unchanged."""
        with self._executor() as executor:
            _value(_Calls(executor, "sync", 1).one(user.noisy, {"x": 1}, _logger(1)))
            data = executor.get_executor_data()
            kind = executor.executor_type
        assert isinstance(kind, str), f"executor_type is {kind!r}, not a str"
        assert kind, "executor_type is empty"
        assert not any(c.isspace() for c in kind), f"executor_type {kind!r} has white space"
        row = {
            "executor_type": kind,
            "executor_info": list(data.items()),
            "python_version": "CPython 3",
            "extra_info": [("host", "contract")],
        }
        table = pa.Table.from_pylist([row], schema=EXECUTION_CONTEXT_SCHEMA)
        (stored,) = table.to_pylist()
        _same(stored["executor_type"], kind, "executor_type read back")
        _same(dict(stored["executor_info"]), data, "executor_info read back")

    # -- the protocol and the lifecycle ----------------------------------------

    def test_it_is_a_python_function_executor(self) -> None:
        """The executor has every member of the protocol; its async path is a coroutine."""
        executor = self.make_executor()
        assert isinstance(executor, PythonFunctionExecutor), (
            f"{executor!r} lacks members of PythonFunctionExecutor"
        )
        assert inspect.iscoroutinefunction(executor.async_execute_callable), (
            "async_execute_callable must be a coroutine function (async def)"
        )

    def test_setup_and_teardown_are_idempotent(self) -> None:
        """setup() and teardown() may be called twice, and an executor set up again
        after teardown() serves calls."""
        executor = self.make_executor()
        executor.setup()
        executor.setup()
        try:
            _same(executor.execute_callable(user.echo, {"value": 1}), 1, "after setup() twice")
        finally:
            executor.teardown()
            executor.teardown()
        executor.setup()
        try:
            _same(executor.execute_callable(user.echo, {"value": 2}), 2, "set up after teardown()")
        finally:
            executor.teardown()

    def test_with_options_gives_a_new_executor_and_names_an_unknown_option(self) -> None:
        """with_options() returns a new executor of the same kind (this one untouched),
        and an unknown option is a TypeError naming it."""
        executor = self.make_executor()
        copy = executor.with_options()
        assert copy is not executor, "with_options() must return a new executor"
        _same(type(copy), type(executor), "with_options() returned a")
        _same(copy.executor_type, executor.executor_type, "the copy's executor_type")
        copy.setup()
        try:
            _same(copy.execute_callable(user.echo, {"value": "copy"}), "copy", "the copy returned")
        finally:
            copy.teardown()
        with pytest.raises(TypeError, match="contract_no_such_option"):
            executor.with_options(contract_no_such_option=1)
