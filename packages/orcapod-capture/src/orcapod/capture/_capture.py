"""A capture of one call, and its in-process (``sys``) implementation."""

from __future__ import annotations

import contextlib
import threading
import traceback
import warnings
from abc import ABC, abstractmethod
from time import perf_counter
from typing import TYPE_CHECKING, Any, ClassVar, Self

from orcapod.capture._buffer import BoundedBuffer, bound_text, render
from orcapod.capture._records import RecordBuffer, to_python_log_record
from orcapod.capture._result import CaptureResult
from orcapod.capture._streams import ACTIVE, ensure_installed
from orcapod.capture.errors import CaptureError, CaptureWarning

if TYPE_CHECKING:
    import logging
    from contextvars import Token
    from types import TracebackType

    from orcapod.capture._streams import Target
    from orcapod.protocols.values import CaptureLevel

__all__ = ["Capture", "SysCapture", "format_bounded_traceback"]

# Buffers are made at the first write, so a call that prints nothing allocates
# none; this lock only settles a race between threads sharing one capture.
_lazy_lock = threading.Lock()

_ENTERED_TWICE = "a Capture can be entered only once; call capture() again for each call"

# ACTIVE's methods bound once: on CPython 3.11, `ACTIVE.set(...)` makes a new
# bound-method object at every call (about 0.1 µs per capture for the three).
_get_active = ACTIVE.get
_set_active = ACTIVE.set
_reset_active = ACTIVE.reset

_Parts = tuple[bytes, bytes, int]
_new = object.__new__

# The fields of a call that printed, logged and raised nothing (all but two).
_QUIET: dict[str, object] = {
    "stdout": "",
    "stderr": "",
    "python_logs": (),
    "traceback": None,
    "success": True,
    "stdout_bytes": 0,
    "stderr_bytes": 0,
    "stdout_truncated": False,
    "stderr_truncated": False,
    "python_logs_dropped": 0,
    "capture_level": "sys",
    "capture_error": None,
    "duration_s": 0.0,
}


def _quiet_result(level: CaptureLevel, duration_s: float) -> CaptureResult:
    """The result of a call that printed, logged and raised nothing.

    Like ``CaptureResult._fast``, without the frozen ``__init__``. Filling the
    new instance's own ``__dict__`` takes about a quarter less time than
    copying ``_QUIET`` and setting ``__dict__`` to the copy (CPython 3.11).
    """
    result = _new(CaptureResult)
    fields = result.__dict__
    fields.update(_QUIET)
    fields["capture_level"] = level
    fields["duration_s"] = duration_s
    return result


def format_bounded_traceback(exc: BaseException, tb: TracebackType | None, max_bytes: int) -> str:
    """``exc`` formatted as ``traceback.format_exception`` does, kept within ``max_bytes``.

    Head and tail are kept as for a stream (``[... N bytes truncated ...]``
    between them); the text is bounded piece by piece as it is formatted, so
    an exception with a message of many megabytes is never copied whole.
    """
    buffer = BoundedBuffer(max_bytes)
    for piece in traceback.TracebackException(type(exc), exc, tb, compact=True).format():
        buffer.write_text(piece)
    return buffer.getvalue()


class Capture(ABC):
    """The capture of one call; made by :func:`capture`, used as a context manager.

    On exit, :attr:`result` holds what the body printed, logged and raised; an
    exception raised by the body propagates unchanged. A capture is used once.
    """

    level: ClassVar[CaptureLevel]
    """How this kind of capture works; a result may say ``sys`` if ``fd`` failed."""

    _warn_depth: ClassVar[int] = 4
    """Frames from warnings.warn in :meth:`_warn` up to the ``with`` block's code:
    ``_warn``, ``_finish``, ``__exit__``, then the block's."""

    __slots__ = (
        "_closed",
        "_err",
        "_error",
        "_logs",
        "_max_bytes",
        "_max_records",
        "_out",
        "_parent",
        "_passthrough",
        "_result",
        "_skip_frames",
        "_start",
        "_token",
    )

    def __init__(self, max_bytes: int, max_records: int, passthrough: bool, /) -> None:
        self._max_bytes = max_bytes
        self._max_records = max_records
        self._passthrough = passthrough
        self._parent: Target | None = None
        self._token: Token[Target | None] | None = None
        self._start = 0.0
        self._out: BoundedBuffer | None = None
        self._err: BoundedBuffer | None = None
        self._logs: RecordBuffer | None = None
        self._error: str | None = None
        self._closed = False
        self._result: CaptureResult | None = None
        self._skip_frames = 0

    @property
    def result(self) -> CaptureResult:
        """What the captured body printed, logged and raised.

        Raises:
            CaptureError: the ``with`` block has not ended yet.
        """
        if self._result is None:
            raise CaptureError(
                "Capture.result is available once the `with capture(...)` block has ended; "
                "read it after the block"
            )
        return self._result

    @abstractmethod
    def __enter__(self) -> Self:
        """Start capturing in the current context."""

    @abstractmethod
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop capturing and fill :attr:`result`; never suppresses the body's exception."""

    # -- shared by both levels -------------------------------------------------

    def _begin(self) -> None:
        """Become the current context's capture (hooks installed on first use)."""
        if self._token is not None or self._closed:
            raise CaptureError(_ENTERED_TWICE)
        try:
            ensure_installed()
        except Exception as error:
            self._fail("installing the stream and logging hooks", error)
        self._parent = _get_active()
        self._token = _set_active(self)

    def _end(self) -> None:
        """Stop being the current capture; later output goes down the chain."""
        self._closed = True
        try:
            _reset_active(self._token)  # type: ignore[arg-type]  # set by _begin
        except ValueError as error:  # left in another context than it was entered in
            self._fail("leaving the capture context", error)

    def _fail(self, what: str, error: BaseException) -> None:
        """Note that capture itself failed; the first failure is the one reported."""
        if self._error is None:
            self._error = bound_text(f"{what} failed: {type(error).__name__}: {error}", 4096)

    def _take_output(self, fd: int, data: bytes) -> bool:
        if self._closed:
            return True
        try:
            buffer = self._out if fd == 1 else self._err
            if buffer is None:
                buffer = self._new_buffer(fd)
            buffer.write(data)
        except Exception as error:
            self._fail("capturing output", error)
        return self._passthrough

    def _new_buffer(self, fd: int) -> BoundedBuffer:
        with _lazy_lock:
            buffer = self._out if fd == 1 else self._err
            if buffer is None:
                buffer = BoundedBuffer(self._max_bytes)
                if fd == 1:
                    self._out = buffer
                else:
                    self._err = buffer
            return buffer

    def _take_log(self, record: logging.LogRecord) -> bool:
        if self._closed:
            return False
        try:
            logs = self._logs
            if logs is None:
                with _lazy_lock:
                    logs = self._logs
                    if logs is None:
                        logs = self._logs = RecordBuffer(self._max_records)
            logs.append(to_python_log_record(record, self._max_bytes))
        except Exception as error:
            self._fail("capturing a log record", error)
        return True

    def _finish(
        self,
        level: CaptureLevel,
        duration_s: float,
        exc: BaseException | None,
        tb: TracebackType | None,
        out: _Parts | None = None,
        err: _Parts | None = None,
    ) -> None:
        """Build the result (from ``out``/``err`` if given, else the buffers) and warn."""
        if out is None and self._out is not None:
            out = self._out.parts()
        if err is None and self._err is not None:
            err = self._err.parts()
        quiet = out is None and err is None and self._logs is None
        if quiet and exc is None and self._error is None:  # the common case, kept short
            self._result = _quiet_result(level, duration_s)
            return
        logs, dropped = ((), 0) if self._logs is None else self._logs.records()
        self._result = CaptureResult._fast(
            {
                "stdout": "" if out is None else render(*out),
                "stderr": "" if err is None else render(*err),
                "python_logs": logs,
                "traceback": None if exc is None else self._format_traceback(exc, tb),
                "success": exc is None,
                "stdout_bytes": 0 if out is None else out[2],
                "stderr_bytes": 0 if err is None else err[2],
                "stdout_truncated": out is not None and out[2] > len(out[0]) + len(out[1]),
                "stderr_truncated": err is not None and err[2] > len(err[0]) + len(err[1]),
                "python_logs_dropped": dropped,
                "capture_level": level,
                "capture_error": self._error,
                "duration_s": duration_s,
            }
        )
        if self._error is not None:
            self._warn(self._error)

    def _format_traceback(self, exc: BaseException, tb: TracebackType | None) -> str:
        for _ in range(self._skip_frames):  # run_captured's own frame is not the user's
            if tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
        return format_bounded_traceback(exc, tb, self._max_bytes)

    def _warn(self, message: str) -> None:
        # Warnings turned into errors must not break the call either.
        with contextlib.suppress(Exception):
            warnings.warn(
                f"orcapod.capture: {message}; the call ran, but what it printed or "
                "logged may be missing from its record",
                CaptureWarning,
                stacklevel=self._warn_depth + self._skip_frames,
            )


class SysCapture(Capture):
    """Captures Python-level output of the current thread or task (``level="sys"``).

    ``sys.stdout``/``sys.stderr`` writes and ``logging`` records made in the
    context that entered the capture (and tasks created from it) are kept;
    other threads and tasks are not affected. Output of C extensions and child
    processes, which bypasses ``sys.stdout``, is not captured: use ``fd``.
    """

    level: ClassVar[CaptureLevel] = "sys"
    _warn_depth: ClassVar[int] = 5  # _finish is called from _stop

    __slots__ = ()

    # __enter__ and __exit__ are _begin, _end and _finish's quiet branch written
    # out (keep them in step): they run around every captured call, and on
    # CPython 3.11 each Python-level call costs about 40 ns of the 3 µs budget.

    def __enter__(self) -> Self:
        if self._token is not None or self._closed:
            raise CaptureError(_ENTERED_TWICE)
        try:
            ensure_installed()
        except Exception as error:
            self._fail("installing the stream and logging hooks", error)
        self._parent = _get_active()
        self._token = _set_active(self)
        self._start = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration_s = self._stop(exc, tb)
        if duration_s is not None:  # quiet
            self._result = result = _new(CaptureResult)  # _quiet_result("sys", ...)
            fields = result.__dict__
            fields.update(_QUIET)
            fields["duration_s"] = duration_s

    def _record(self, exc: BaseException | None, tb: TracebackType | None) -> dict[str, Any]:
        """:meth:`__exit__` for :func:`~orcapod.capture.record_call`: the record fields
        (``CaptureResult.as_record_fields``), with no result object made for a quiet call."""
        duration_s = self._stop(exc, tb)
        if duration_s is None:
            return self.result.as_record_fields()  # type: ignore[return-value]
        fields = _QUIET.copy()
        fields["python_logs"] = []
        fields["duration_s"] = duration_s
        return fields

    def _stop(self, exc: BaseException | None, tb: TracebackType | None) -> float | None:
        """Stop capturing. A quiet call (nothing printed, logged or raised, and capture
        itself sound) gives its duration, for the caller to record; any other has its
        result built, and gives None."""
        duration_s = perf_counter() - self._start
        self._closed = True
        try:
            _reset_active(self._token)  # type: ignore[arg-type]  # set by __enter__
        except ValueError as error:  # left in another context than it was entered in
            self._fail("leaving the capture context", error)
        if (
            exc is None
            and self._out is None
            and self._err is None
            and self._logs is None
            and self._error is None
        ):
            return duration_s
        self._finish("sys", duration_s, exc, tb)
        return None
