"""LocalExecutor: runs packet functions in this process, capturing what they print and log."""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Any, Self

from orcapod.capture import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS, record_call
from orcapod.core.executors._common import (
    changed_options,
    check_capture_options,
    checked_capture,
    hand_on,
)
from orcapod.core.executors._threads import WorkerThreads
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.protocols.executors import PythonFunctionExecutor
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.pods import PacketFunction
    from orcapod.protocols.values import CaptureLevel

__all__ = ["LocalExecutor"]

_EXECUTOR_DATA_SCHEMA = Schema(capture=str, max_bytes=str, max_records=str, pid=str)
_WORKERS = WorkerThreads()
"""The threads every LocalExecutor's async path runs calls in."""


class LocalExecutor:
    """Runs Python packet functions in this process under ``orcapod.capture``.

    When a packet logger is given, the call runs under capture, ``logger.record``
    receives what it printed, logged and raised (on success and on failure), and
    then the user's exception, if any, is re-raised unchanged. Without a logger
    nothing would keep the capture, so the function is called directly.

    Args:
        capture: ``"sys"`` (Python-level output of the calling thread or task; calls
            may run concurrently) or ``"fd"`` (file descriptors 1 and 2, so C
            extensions and child processes too; one call at a time per process).
        max_bytes: bytes of stdout and of stderr kept per call (head and tail).
        max_records: log records kept per call.
        passthrough: also show the output live on the terminal.

    Raises:
        ValueError: ``capture`` is neither ``"sys"`` nor ``"fd"``.
        orcapod.capture.CaptureOptionError: ``max_bytes`` or ``max_records`` is invalid.
    """

    executor_type = "local"

    def __init__(
        self,
        capture: CaptureLevel = "sys",
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_records: int = DEFAULT_MAX_RECORDS,
        passthrough: bool = True,
    ) -> None:
        self.capture: CaptureLevel = checked_capture("LocalExecutor", capture)
        check_capture_options(max_bytes, max_records)
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.passthrough = passthrough

    def __repr__(self) -> str:
        return (
            f"LocalExecutor(capture={self.capture!r}, max_bytes={self.max_bytes}, "
            f"max_records={self.max_records}, passthrough={self.passthrough})"
        )

    def supports(self, packet_function: PacketFunction) -> bool:
        """Whether ``packet_function`` is a Python function (it has a callable to run)."""
        return callable(getattr(packet_function, "function", None))

    def with_options(self, **options: Any) -> Self:
        """A new LocalExecutor with ``options`` (``capture``, ``max_bytes``, ...) changed.

        Raises:
            TypeError: an option LocalExecutor does not have, naming it.
        """
        current = {
            "capture": self.capture,
            "max_bytes": self.max_bytes,
            "max_records": self.max_records,
            "passthrough": self.passthrough,
        }
        return type(self)(**changed_options("LocalExecutor", current, options))

    def get_executor_data(self) -> dict[str, str]:
        """How calls ran: the capture level and bounds, and this process's id."""
        return {
            "capture": self.capture,
            "max_bytes": str(self.max_bytes),
            "max_records": str(self.max_records),
            "pid": str(os.getpid()),
        }

    def get_executor_data_schema(self) -> Schema:
        """Every key of :meth:`get_executor_data`, each a ``str``."""
        return _EXECUTOR_DATA_SCHEMA

    def setup(self) -> None:
        """Nothing to acquire: capture hooks install themselves on first use."""

    def teardown(self) -> None:
        """Nothing to release."""

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """Call ``fn(**kwargs)``; with a logger, under capture, recording the attempt.

        Returns:
            What ``fn`` returned.

        Raises:
            BaseException: whatever ``fn`` raised, unchanged, after it was recorded.
        """
        if logger is None:
            return fn(**kwargs)
        fields, value, error = record_call(
            fn,
            kwargs,
            level=self.capture,
            max_bytes=self.max_bytes,
            max_records=self.max_records,
            passthrough=self.passthrough,
        )
        fields["attempt"] = 1  # a new dict, the logger's to keep
        fields["executor_type"] = "local"
        hand_on(logger, fields)
        if error is not None:
            raise error
        return value

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """As :meth:`execute_callable`, in a worker thread so the event loop keeps running.

        In ``sys`` mode calls run concurrently, each capturing its own output; in
        ``fd`` mode they take turns (orcapod.capture holds a process-wide lock),
        since file descriptors are shared by the whole process.
        """
        return await _WORKERS.run(partial(self.execute_callable, fn, kwargs, logger=logger))


if TYPE_CHECKING:
    _satisfies_the_protocol: PythonFunctionExecutor = LocalExecutor()
