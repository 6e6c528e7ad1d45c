"""Live pass-through for fd-level capture: what arrives in a capture pipe is
copied to its spool file and to the original descriptor while the call runs.

On Linux one daemon thread per process watches every capture pipe with
``epoll``, which takes registrations from other threads while it waits. The
capturing thread stops the watch itself at the end of the call and drains the
rest, so a quiet call never wakes the pump: starting a thread per call, or even
handing over to one, costs more than the whole fd-mode budget. Elsewhere a
reader thread per pipe does the copying.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Protocol

from orcapod.capture._spool import close_quietly, write_all

__all__ = ["Channel", "Pump", "forget_pump", "pump"]

CHUNK = 1 << 16


class Channel:
    """One capture pipe: its read end, and where what is read goes.

    ``spool`` and ``terminal`` belong to the capture, which closes them, unless
    it handed them over (:meth:`hand_over`) because the channel outlived it.
    """

    __slots__ = (
        "_done",
        "_lock",
        "error",
        "finished",
        "owns_targets",
        "source",
        "spool",
        "spool_ok",
        "terminal",
        "terminal_ok",
        "watched",
    )

    def __init__(self, source: int, spool: int, terminal: int) -> None:
        self.source = source
        self.spool = spool
        self.terminal = terminal
        self.spool_ok = True
        self.terminal_ok = True
        self.watched = False
        """A pump is copying the channel (only then may it read or close it)."""
        self.finished = False
        """The last write end is closed and everything was copied."""
        self.owns_targets = False
        self.error: tuple[str, BaseException] | None = None
        self._lock = threading.Lock()
        self._done = threading.Lock()  # held until the channel is finished and closed
        self._done.acquire()

    def copy(self, *, by_pump: bool) -> bool:
        """Copy what can be read without blocking; True once the channel is finished.

        The pump copies one chunk per wake-up (so one busy pipe cannot starve
        the others); the capturing thread copies until the pipe is empty.
        """
        with self._lock:
            if by_pump and not self.watched:
                return False  # a stale wake-up for a channel the capture took back
            while not self.finished:
                try:
                    chunk = os.read(self.source, CHUNK)
                except BlockingIOError:
                    return False
                except OSError as error:
                    self.note("reading the capture pipe", error)
                    chunk = b""
                if not chunk:
                    self.finished = True
                    break
                self._deliver(chunk)
                if by_pump:
                    return False
            return True

    def close(self) -> None:
        """Close the read end (and the targets, if handed over); the channel is done."""
        with self._lock:
            if self.source < 0:
                return
            self.finished = True
            close_quietly(self.source)
            if self.owns_targets:
                close_quietly(self.spool, self.terminal)
            self.source = -1
        self._done.release()

    def wait(self, timeout: float) -> bool:
        """Wait until the channel is closed; False on timeout."""
        if self._done.acquire(timeout=max(0.0, timeout)):
            self._done.release()
            return True
        return False

    def hand_over(self) -> bool:
        """Give ``spool`` and ``terminal`` to the channel if it is still open.

        Returns True if handed over: whoever closes the channel closes them,
        and the capture must not touch them again.
        """
        with self._lock:
            if self.source < 0:
                return False
            self.owns_targets = True
            return True

    def note(self, what: str, error: BaseException) -> None:
        """Remember the first thing that went wrong."""
        if self.error is None:
            self.error = (what, error)

    def _deliver(self, chunk: bytes) -> None:
        # A failed spool loses captured output and a failed terminal the live
        # copy; either way the pipe keeps being drained so writers never block.
        if self.spool_ok:
            try:
                write_all(self.spool, chunk)
            except OSError as error:
                self.spool_ok = False
                self.note("writing the spool file", error)
        if self.terminal_ok:
            try:
                write_all(self.terminal, chunk)
            except OSError as error:
                self.terminal_ok = False
                self.note("passing output through", error)


class Pump(Protocol):
    """Copies channels in the background."""

    def watch(self, channel: Channel) -> None:
        """Start copying ``channel``; it closes the channel when the pipe ends."""
        ...

    def unwatch(self, channel: Channel) -> bool:
        """Stop copying ``channel`` if possible; True if the caller now owns it."""
        ...


class EpollPump:
    """One daemon thread copying every watched channel (Linux)."""

    def __init__(self) -> None:
        import select

        self.pid = os.getpid()
        self._events = select.EPOLLIN
        self._epoll = select.epoll()
        self._channels: dict[int, Channel] = {}
        threading.Thread(target=self._run, name="orcapod-capture-pump", daemon=True).start()

    def watch(self, channel: Channel) -> None:
        os.set_blocking(channel.source, False)
        channel.watched = True
        self._channels[channel.source] = channel
        self._epoll.register(channel.source, self._events)

    def unwatch(self, channel: Channel) -> bool:
        with channel._lock:
            if channel.source < 0:
                return True  # the pump already finished and closed it
            channel.watched = False
            self._forget(channel)
        return True

    def close(self) -> None:
        """Close this process's copy of the epoll descriptor (in a forked child)."""
        with contextlib.suppress(OSError):
            self._epoll.close()

    def _forget(self, channel: Channel) -> None:
        with contextlib.suppress(OSError):
            self._epoll.unregister(channel.source)
        if self._channels.get(channel.source) is channel:
            del self._channels[channel.source]

    def _run(self) -> None:
        while True:
            for fd, _ in self._epoll.poll():
                channel = self._channels.get(fd)
                if channel is None:
                    continue
                try:
                    finished = channel.copy(by_pump=True)
                except Exception as error:  # a dead pump would block every writer: carry on
                    channel.note("passing output through", error)
                    finished = True
                if finished:
                    with channel._lock:
                        if not channel.watched:
                            continue
                        channel.watched = False
                        self._forget(channel)
                    channel.close()


class ThreadPump:
    """A reader thread per channel (where there is no ``epoll``)."""

    def __init__(self) -> None:
        self.pid = os.getpid()

    def watch(self, channel: Channel) -> None:
        os.set_blocking(channel.source, False)
        channel.watched = True
        threading.Thread(
            target=self._copy_until_closed,
            args=(channel,),
            name="orcapod-capture-reader",
            daemon=True,
        ).start()

    def unwatch(self, channel: Channel) -> bool:
        return False  # the reader is the only one to read: it finishes the channel

    @staticmethod
    def _copy_until_closed(channel: Channel) -> None:
        import select

        try:
            while True:
                select.select([channel.source], [], [])
                if channel.copy(by_pump=True):
                    break
        except Exception as error:
            channel.note("passing output through", error)
        channel.close()


_pump: EpollPump | ThreadPump | None = None
_pump_lock = threading.Lock()


def pump() -> Pump:
    """The process's pump, started on first use (and again in a forked child)."""
    global _pump
    current = _pump
    if current is None or current.pid != os.getpid():
        with _pump_lock:
            if _pump is None or _pump.pid != os.getpid():
                _pump = EpollPump() if _has_epoll() else ThreadPump()
            current = _pump
    return current


def _has_epoll() -> bool:
    import select

    return hasattr(select, "epoll")


def forget_pump() -> None:
    """After ``fork``: the parent's pump thread does not exist in the child."""
    global _pump, _pump_lock
    if isinstance(_pump, EpollPump):
        _pump.close()
    _pump = None
    _pump_lock = threading.Lock()


def set_pump(new: EpollPump | ThreadPump | None) -> EpollPump | ThreadPump | None:
    """Replace the process's pump (tests use it to run the fallback); returns the old one."""
    global _pump
    old, _pump = _pump, new
    return old
