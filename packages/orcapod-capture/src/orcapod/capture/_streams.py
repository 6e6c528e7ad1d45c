"""Process-wide hooks installed once: tee streams over sys.stdout/sys.stderr and a
log-record factory. Both hand what they see to the capture of the current context.

The current capture lives in a ``ContextVar``, so each thread and each asyncio
task writes into its own capture. A capture is a link in a chain: when it
passes output through, the output continues to the capture it is nested in,
and finally to the stream that was there before (the terminal).
"""

from __future__ import annotations

import logging
import sys
import threading
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any, Protocol, TextIO, cast

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["ACTIVE", "Target", "TeeStream", "ensure_installed"]


class Target(Protocol):
    """What a capture offers the hooks. ``fd`` is 1 for stdout, 2 for stderr."""

    @property
    def _parent(self) -> Target | None:
        """The capture this one is nested in, in the same context."""
        ...

    def _take_output(self, fd: int, data: bytes) -> bool:
        """Keep ``data``; return whether it should also go on down the chain."""
        ...

    def _take_log(self, record: logging.LogRecord) -> bool:
        """Keep ``record``; return False if this capture has ended and should be skipped."""
        ...


ACTIVE: ContextVar[Target | None] = ContextVar("orcapod_capture_active", default=None)


class _Reentry(threading.local):
    # While a tee passes a write on to the stream below it, or the factory calls
    # the factory below it, a hook of ours further down must not capture the same
    # thing again (e.g. our tee wrapped by a foreign wrapper wrapped by our tee).
    in_write = False
    in_factory = False


_reentry = _Reentry()


def _route(fd: int, data: bytes) -> bool:
    """Offer ``data`` to the current capture chain; True if it should reach the stream."""
    target = ACTIVE.get()
    while target is not None:
        if not target._take_output(fd, data):
            return False
        target = target._parent
    return True


class TeeStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes go to the current
    context's capture and, unless it says otherwise, to the original stream.

    Anything else (``encoding``, ``fileno()``, ``isatty()``, ...) is the
    original stream's.
    """

    def __init__(self, original: TextIO | None, fd: int) -> None:
        self._original = original
        self._fd = fd
        self._binary: _BinaryTee | None = None

    @property
    def original(self) -> TextIO | None:
        """The stream this tee writes through to."""
        return self._original

    def write(self, s: str) -> int:
        original = self._original
        if ACTIVE.get() is None or _reentry.in_write or not isinstance(s, str):
            return len(s) if original is None else original.write(s)
        if not _route(self._fd, s.encode("utf-8", "backslashreplace")) or original is None:
            return len(s)
        _reentry.in_write = True
        try:
            return original.write(s)
        finally:
            _reentry.in_write = False

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._original is not None:
            self._original.flush()

    @property
    def buffer(self) -> _BinaryTee:
        """The binary layer of the original stream, captured too."""
        if self._binary is None:
            if self._original is None:
                raise AttributeError("buffer")
            self._binary = _BinaryTee(self._original.buffer, self._fd)
        return self._binary

    def __getattr__(self, name: str) -> Any:
        if self._original is None:
            raise AttributeError(name)
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"<orcapod.capture tee of {self._original!r}>"


class _BinaryTee:
    """Stands in for ``sys.stdout.buffer``: bytes written there are captured too."""

    def __init__(self, original: IO[bytes], fd: int) -> None:
        self._original = original
        self._fd = fd

    def write(self, data: bytes) -> int:
        if ACTIVE.get() is None or _reentry.in_write or isinstance(data, str):
            return self._original.write(data)
        if not _route(self._fd, bytes(data)):
            return len(data)
        _reentry.in_write = True
        try:
            return self._original.write(data)
        finally:
            _reentry.in_write = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _chain_record_factory(below: Callable[..., logging.LogRecord]) -> Callable[..., Any]:
    def capture_log_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        if _reentry.in_factory:
            return below(*args, **kwargs)
        _reentry.in_factory = True
        try:
            record = below(*args, **kwargs)
        finally:
            _reentry.in_factory = False
        target = ACTIVE.get()
        while target is not None and not target._take_log(record):
            target = target._parent
        return record

    return capture_log_record


# What we installed last; compared by identity on every capture entry.
_stdout: object = None
_stderr: object = None
_factory: object = None
_install_lock = threading.Lock()


def ensure_installed() -> None:
    """Make sure our tees are sys.stdout/sys.stderr and our factory makes log records.

    Cheap when nothing changed. When something replaced a stream since (pytest's
    capsys, a notebook kernel, ``contextlib.redirect_stdout``), the new stream is
    wrapped in turn; a tee of ours put back by whoever replaced it is adopted
    as it is.
    """
    if (
        sys.stdout is not _stdout
        or sys.stderr is not _stderr
        # What logging.getLogRecordFactory() returns, read without the call:
        # this check runs on every capture entry.
        or logging._logRecordFactory is not _factory  # type: ignore[attr-defined]
    ):
        _install()


def _install() -> None:
    global _stdout, _stderr, _factory
    with _install_lock:
        if not isinstance(sys.stdout, TeeStream):
            sys.stdout = cast("TextIO", TeeStream(sys.stdout, 1))
        if not isinstance(sys.stderr, TeeStream):
            sys.stderr = cast("TextIO", TeeStream(sys.stderr, 2))
        _stdout, _stderr = sys.stdout, sys.stderr
        # Records are taken where they are made, not by a handler on the root
        # logger: a root handler would silence logging's last-resort output and
        # turn logging.basicConfig() into a no-op for the rest of the process.
        current = logging.getLogRecordFactory()
        if current is not _factory:
            _factory = _chain_record_factory(current)
            logging.setLogRecordFactory(_factory)
