"""Which process wrote a run's records, and whether that process still lives.

A run's records name the host and pid that ran it. A reader on the same host
asks the kernel about that pid: gone, or alive. A pid alone can mislead: the
process may have died and its pid been given to another (pid reuse), it may
be a zombie (dead, not yet reaped), the reader may sit in another pid
namespace (a container sharing the host's name), and a process of another
user answers ``EPERM``, which means alive. So on Linux the writer also
records a *process key*, ``<boot id>/<pid namespace>/<start time in clock
ticks>``: the reader checks the pid only when it shares the boot and the pid
namespace, and a live process with that pid is the writer only if it started
at the same tick.
"""

from __future__ import annotations

import enum
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Liveness", "Process", "liveness", "this_process"]

_PROC = Path("/proc")


class Liveness(enum.Enum):
    """What the reader's host can say about a writer's process."""

    ALIVE = "alive"
    """The very process that wrote (its pid, its start tick) runs."""
    GONE = "gone"
    """No such process: it exited, is a zombie, or its pid now belongs to another."""
    EXISTS = "exists"
    """A process with that pid exists, but nothing says it is the writer."""
    UNKNOWN = "unknown"
    """The pid cannot be checked from here (another host, pid namespace or boot)."""


@dataclass(frozen=True, slots=True)
class Process:
    """A process as its records name it.

    Attributes:
        host: ``socket.gethostname()`` of its host.
        pid: its process id.
        key: ``<boot id>/<pid namespace>/<start tick>`` on Linux; None where unknown.
    """

    host: str
    pid: int
    key: str | None = None


_this: Process | None = None


def this_process() -> Process:
    """The calling process (looked up once per process; a forked child looks again)."""
    global _this
    pid = os.getpid()
    if _this is None or _this.pid != pid:
        _this = Process(socket.gethostname(), pid, process_key(pid))
    return _this


def machine_key() -> str | None:
    """``<boot id>/<pid namespace>`` of the calling process; None where not Linux."""
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}" if boot and namespace else None


def process_key(pid: int) -> str | None:
    """The key of process ``pid`` as the calling process sees it; None if unknown."""
    machine = machine_key()
    stat = _stat(pid)
    if machine is None or stat is None:
        return None
    return f"{machine}/{stat[1]}"


def liveness(process: Process) -> Liveness:
    """Whether ``process`` still runs, as far as this host can tell.

    Checked only on the host that ran it (same ``socket.gethostname()``) and,
    when its key is known, in the same boot and pid namespace; elsewhere
    :attr:`Liveness.UNKNOWN`.
    """
    if process.host != socket.gethostname() or process.pid <= 0:
        return Liveness.UNKNOWN
    machine, _, tick = (process.key or "").rpartition("/")
    if process.key is not None and machine != machine_key():
        return Liveness.UNKNOWN  # another container, or another boot: its pids are not ours
    try:
        os.kill(process.pid, 0)  # signal 0: only asks whether the pid exists
    except ProcessLookupError:
        return Liveness.GONE
    except PermissionError:
        pass  # another user's process: it exists
    except (OverflowError, OSError):
        return Liveness.UNKNOWN
    stat = _stat(process.pid)
    if stat is None:  # /proc hides it (hidepid) or there is no /proc
        return Liveness.EXISTS
    state, started = stat
    if state in {"Z", "X"}:  # a zombie, or dead: it exited, its parent has not reaped it
        return Liveness.GONE
    if process.key is None:
        return Liveness.EXISTS
    return Liveness.ALIVE if tick == started else Liveness.GONE  # else: the pid was reused


def _stat(pid: int) -> tuple[str, str] | None:
    """The state letter and the start tick of process ``pid`` from ``/proc``; None if unread."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # "pid (command) state ppid ... starttime ...": the command may hold spaces and ')'.
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]
