"""File-descriptor-level capture (``level="fd"``): descriptors 1 and 2 go to spool
files for the duration of a call, so C extensions and child processes are
captured too.

Descriptors are process-wide, so one fd capture runs at a time per process (a
lock); another thread asking for one waits its turn.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from time import perf_counter
from typing import TYPE_CHECKING, Any, ClassVar, Self

from orcapod.capture._buffer import read_bounded
from orcapod.capture._capture import Capture
from orcapod.capture._pump import Channel, forget_pump, pump
from orcapod.capture._spool import (
    close_quietly,
    forget_spares,
    give_back_spool,
    open_named_spool,
    open_spool,
    spool_paths,
    take_spool,
    write_all,
)
from orcapod.capture.errors import CaptureError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from orcapod.protocols.values import CaptureLevel

__all__ = ["FdCapture"]

DRAIN_TIMEOUT_S = 1.0
"""How long to wait, after the call, for pass-through pipes to be drained. Only
a child process that outlives the call and keeps its output open makes us wait."""

PIPE_SIZE = 1 << 20
"""Pass-through pipe capacity asked for (Linux). A C extension that writes more
than this while holding the GIL would block on the full pipe."""

_Parts = tuple[bytes, bytes, int]


class FdCapture(Capture):
    """Captures file descriptors 1 and 2 of the whole process (``level="fd"``).

    Everything written to them while the capture is active is kept: ``print``,
    ``os.write(1, ...)``, C-level ``printf`` and child processes, from any
    thread. Python-level writes of the capturing context go straight to the
    descriptors, so their order with C-level writes is kept. ``logging`` records
    are taken from the capturing context, as in ``sys`` mode.

    If the descriptors cannot be redirected (no spool file, nested fd capture in
    the same thread, ...) the call still runs under a ``sys``-level capture and
    the result says why (``capture_level="sys"``, ``capture_error``).

    With ``spool_to``, the spools are the files ``<spool_to>.stdout`` and
    ``<spool_to>.stderr`` while the call runs, removed after it: if this
    process dies during the call, another one can still read what was written
    (:func:`~orcapod.capture.recover_spooled_output`).
    """

    level: ClassVar[CaptureLevel] = "fd"

    __slots__ = ("_redirection", "_spool_to")

    def __init__(
        self, max_bytes: int, max_records: int, passthrough: bool, spool_to: str | None = None, /
    ) -> None:
        super().__init__(max_bytes, max_records, passthrough)
        self._redirection: _Redirection | None = None
        self._spool_to = spool_to

    def __enter__(self) -> Self:
        self._begin()
        try:
            self._redirection = _Redirection.start(
                passthrough=self._passthrough, spool_to=self._spool_to
            )
        except Exception as error:
            self._fail("redirecting file descriptors 1 and 2", error)
        except BaseException:  # interrupted while setting up: the body will not run
            self._end()
            raise
        self._start = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration_s = perf_counter() - self._start
        self._end()
        redirection, self._redirection = self._redirection, None
        out: _Parts | None = None
        err: _Parts | None = None
        try:
            if redirection is not None:
                out, err = redirection.stop(self._max_bytes, self._fail)
        except BaseException as error:
            self._fail("restoring file descriptors 1 and 2", error)
            if not isinstance(error, Exception):
                raise
        finally:
            level: CaptureLevel = "fd" if redirection is not None else "sys"
            self._finish(level, duration_s, exc, tb, out, err)

    def _take_output(self, fd: int, data: bytes) -> bool:
        if self._redirection is None or self._closed:
            return super()._take_output(fd, data)
        try:
            write_all(fd, data)
        except OSError as error:
            self._fail("writing Python output to the redirected descriptor", error)
            return super()._take_output(fd, data)
        return False


# -- the process-wide lock ------------------------------------------------------

_lock = threading.Lock()
_owner: int | None = None


def _acquire() -> None:
    global _owner
    me = threading.get_ident()
    if _owner == me:
        raise CaptureError(
            "an fd-level capture is already active in this thread; fd captures do not "
            "nest (descriptors are process-wide): use level='sys' for the inner one"
        )
    _lock.acquire()
    _owner = me


def _release() -> None:
    global _owner
    _owner = None
    _lock.release()


# -- redirecting the descriptors --------------------------------------------------


class _Redirection:
    """Descriptors 1 and 2 pointed at spool files, directly or through the pump.

    Index 0 is stdout (descriptor 1), index 1 is stderr (descriptor 2).
    """

    def __init__(self, passthrough: bool, spool_to: str | None = None) -> None:
        self._passthrough = passthrough
        self._spool_to = spool_to
        self._named: list[str | None] = [None, None]  # spool files to remove at the end
        self._spools = [-1, -1]
        self._saved = [-1, -1]
        self._write_ends = [-1, -1]
        self._redirected = [False, False]
        self._channels: list[Channel] = []

    @classmethod
    def start(cls, *, passthrough: bool, spool_to: str | None = None) -> _Redirection:
        """Redirect 1 and 2, holding the process-wide lock until :meth:`stop`.

        On any failure (or interrupt) whatever was done is undone, and the
        lock released, before the error propagates.
        """
        _acquire()
        redirection = cls(passthrough, spool_to)
        try:
            redirection._redirect()
        except BaseException:
            try:
                redirection._unwatch()
            finally:
                try:
                    redirection._restore()
                finally:
                    redirection._close()
            raise
        return redirection

    def _redirect(self) -> None:
        _flush_all()
        names = spool_paths(self._spool_to) if self._spool_to is not None else None
        for index in (0, 1):
            if names is not None:
                self._spools[index], named = open_named_spool(names[index])
                self._named[index] = names[index] if named else None
            else:  # spools fed by the pump are never seen by a child process: reusable
                self._spools[index] = take_spool() if self._passthrough else open_spool()
            self._saved[index] = os.dup(index + 1)
            if self._passthrough:
                self._write_ends[index] = self._watch_pipe(index)
        for index in (0, 1):
            target = self._write_ends[index] if self._passthrough else self._spools[index]
            # Marked first: putting back a descriptor that was not moved is harmless,
            # missing one that was (an interrupt between the two lines) is not.
            self._redirected[index] = True
            os.dup2(target, index + 1)
        # 1 and 2 now hold the write ends; ours must go for the end of the call
        # to show as the end of the pipe.
        close_quietly(*self._write_ends)
        self._write_ends = [-1, -1]

    def _watch_pipe(self, index: int) -> int:
        read_end, write_end = os.pipe()
        try:
            _enlarge_pipe(write_end)
            channel = Channel(read_end, self._spools[index], self._saved[index])
        except BaseException:
            close_quietly(read_end, write_end)
            raise
        try:
            pump().watch(channel)
        except BaseException:
            close_quietly(read_end, write_end)
            raise
        self._channels.append(channel)
        return write_end

    def stop(
        self, max_bytes: int, fail: Callable[[str, BaseException], None]
    ) -> tuple[_Parts, _Parts]:
        """Put 1 and 2 back, release the lock, and read the spools back bounded."""
        try:
            try:
                _flush_all()
                self._unwatch()
            finally:
                self._restore()
            self._finish_channels(fail)
            out, err = self._spools
            return read_bounded(out, max_bytes), read_bounded(err, max_bytes)
        finally:
            self._close()

    def _restore(self) -> None:
        # Each step runs in the finally of the one before: an interrupt or a
        # failure part-way still puts everything back and releases the lock.
        try:
            if self._redirected[0]:
                os.dup2(self._saved[0], 1)
        finally:
            try:
                if self._redirected[1]:
                    os.dup2(self._saved[1], 2)
            finally:
                self._redirected = [False, False]
                close_quietly(*self._write_ends)
                self._write_ends = [-1, -1]
                _release()

    def _unwatch(self) -> None:
        # Take the pipes back from the pump before their write ends close, so
        # the end of a quiet call does not wake the pump at all.
        for channel in self._channels:
            pump().unwatch(channel)

    def _finish_channels(self, fail: Callable[[str, BaseException], None]) -> None:
        deadline = perf_counter() + DRAIN_TIMEOUT_S
        for channel in self._channels:
            if not self._finish(channel, deadline):
                fail(
                    "draining pass-through output",
                    TimeoutError(
                        f"output was still arriving {DRAIN_TIMEOUT_S} s after the call "
                        "(a child process holding stdout/stderr open?); what it writes "
                        "later is passed through but not captured"
                    ),
                )
            if channel.error is not None:
                fail(*channel.error)

    @staticmethod
    def _finish(channel: Channel, deadline: float) -> bool:
        """Copy what is left of ``channel`` and close it; False if a writer outlived the call."""
        if not channel.watched:  # the pump let go of it: this thread copies the rest
            if channel.copy(by_pump=False):
                channel.close()
                return True
            pump().watch(channel)  # a writer is still there: let the pump follow it
        return channel.wait(deadline - perf_counter())

    def _close(self) -> None:
        """Close or recycle the spools and saved descriptors the channels do not own."""
        for index in (0, 1):
            named = self._named[index]
            if named is not None:  # the call ended: nobody needs to recover its output
                with contextlib.suppress(OSError):
                    os.unlink(named)
            channel = self._channels[index] if index < len(self._channels) else None
            # After an interrupted stop() or a failed start() nothing finished the
            # channel yet; if it is still open, whoever closes it closes both.
            finished = channel is None or self._finish(channel, perf_counter())
            if channel is not None and not finished and channel.hand_over():
                continue
            close_quietly(self._saved[index])
            spool = self._spools[index]
            if named is not None:  # a named spool is never reused
                close_quietly(spool)
            elif spool >= 0 and self._passthrough and (channel is None or channel.spool_ok):
                give_back_spool(spool)
            else:
                close_quietly(spool)
        self._spools = self._saved = [-1, -1]
        self._named = [None, None]


def _enlarge_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # the default size works; a GIL-holding writer only blocks sooner


_fflush: Callable[[Any], int] | None = None
_fflush_loaded = False


def _flush_all() -> None:
    """Push Python-level and C-level (stdio) buffered output to the descriptors."""
    global _fflush, _fflush_loaded
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.flush()
    if not _fflush_loaded:
        _fflush_loaded = True
        try:
            import ctypes

            _fflush = ctypes.CDLL(None).fflush
        except Exception:  # no C library to speak of, or no ctypes: nothing to flush
            _fflush = None
    if _fflush is not None:
        _fflush(None)


def _after_fork_in_child() -> None:
    # The parent's lock owner, pump thread and spare spools are not the child's.
    global _lock, _owner
    _lock = threading.Lock()
    _owner = None
    forget_pump()
    forget_spares()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
