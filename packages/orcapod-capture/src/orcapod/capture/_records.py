"""Captured ``logging`` records: conversion, bounding and rendering as text."""

from __future__ import annotations

import os
import threading
import traceback
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, TypeAlias

from orcapod.capture._buffer import bound_text
from orcapod.capture.errors import CaptureOptionError

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable

    from orcapod.protocols.values import PythonLogRecord

__all__ = ["LogStyle", "RecordBuffer", "format_log_records", "to_python_log_record"]

LogStyle: TypeAlias = Literal["debug", "short"]
"""``debug``: time | level | logger | file:line | message; ``short``: time | level | message."""

DEFAULT_MESSAGE_BYTES = 1 << 20
"""Bytes kept of one log record's message (head and tail), unless a capture says otherwise."""

DROPPED_RECORDS_LOGGER = "orcapod.capture"
"""The logger name of the marker record that stands where records were dropped."""


def to_python_log_record(
    record: logging.LogRecord, max_bytes: int = DEFAULT_MESSAGE_BYTES
) -> PythonLogRecord:
    """The structured, storable form of a ``logging`` record.

    The message is formatted now (later its arguments may have changed); an
    attached exception or stack is appended to it as ``logging`` would print it.
    A message over ``max_bytes`` keeps its head and tail, as a stream does.
    """
    try:
        message = record.getMessage()
    except Exception as exc:  # the user's format string and arguments do not match
        message = f"{record.msg!r} % {record.args!r} (formatting failed: {exc!r})"
    if record.exc_info and record.exc_info[1] is not None:
        _, error, tb = record.exc_info
        message += "\n" + "".join(traceback.format_exception(type(error), error, tb)).rstrip()
    if record.stack_info:
        message += "\n" + record.stack_info
    if len(message) > max_bytes // 4:  # may not fit: bounded (a no-op when it does)
        message = bound_text(message, max_bytes)
    return {
        "time": datetime.fromtimestamp(record.created, UTC),
        "level": record.levelname,
        "logger": record.name,
        "message": message,
        "pathname": record.pathname,
        "lineno": record.lineno,
        "func": record.funcName or "",
    }


class RecordBuffer:
    """The first and last log records of a call, at most ``max_records`` in all."""

    __slots__ = ("_dropped", "_first_dropped_at", "_head", "_head_cap", "_lock", "_tail")

    def __init__(self, max_records: int) -> None:
        self._head_cap = max_records // 2
        self._head: list[PythonLogRecord] = []
        self._tail: deque[PythonLogRecord] = deque(maxlen=max_records - self._head_cap)
        self._dropped = 0
        self._first_dropped_at: datetime | None = None
        self._lock = threading.Lock()

    def append(self, record: PythonLogRecord) -> None:
        """Keep ``record``, dropping the oldest record past the head if full."""
        with self._lock:
            if len(self._head) < self._head_cap:
                self._head.append(record)
                return
            tail = self._tail
            if len(tail) == tail.maxlen:
                evicted = tail[0] if tail else record
                self._dropped += 1
                if self._first_dropped_at is None:
                    self._first_dropped_at = evicted["time"]
                if not tail:  # max_records == 0: nothing is kept
                    return
            tail.append(record)

    def records(self) -> tuple[tuple[PythonLogRecord, ...], int]:
        """The kept records, with a marker record where some were dropped, and the drop count."""
        with self._lock:
            if not self._dropped:
                return (*self._head, *self._tail), 0
            marker: PythonLogRecord = {
                "time": self._first_dropped_at or datetime.now(UTC),
                "level": "WARNING",
                "logger": DROPPED_RECORDS_LOGGER,
                "message": f"[... {self._dropped} log records dropped ...]",
                "pathname": "",
                "lineno": 0,
                "func": "",
            }
            return (*self._head, marker, *self._tail), self._dropped


def format_log_records(records: Iterable[PythonLogRecord], style: LogStyle = "debug") -> str:
    """Render captured log records as text, one record per line.

    Args:
        records: records as captured (``CaptureResult.python_logs``).
        style: ``"debug"`` gives ``time | level | logger | file:line | message``;
            ``"short"`` gives ``time | level | message``.

    Raises:
        CaptureOptionError: ``style`` is neither ``"debug"`` nor ``"short"``.
    """
    if style == "debug":
        return "\n".join(_debug_line(record) for record in records)
    if style == "short":
        return "\n".join(_short_line(record) for record in records)
    raise CaptureOptionError(
        f"format_log_records got style={style!r}; use style='debug' or style='short'"
    )


def _time(record: PythonLogRecord) -> str:
    return record["time"].isoformat(timespec="milliseconds")


def _debug_line(record: PythonLogRecord) -> str:
    where = f"{os.path.basename(record['pathname'])}:{record['lineno']}"
    return (
        f"{_time(record)} | {record['level']:<8} | {record['logger']} | {where} | "
        f"{record['message']}"
    )


def _short_line(record: PythonLogRecord) -> str:
    return f"{_time(record)} | {record['level']:<8} | {record['message']}"
