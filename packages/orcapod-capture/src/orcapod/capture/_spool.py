"""Spool files and raw descriptor helpers for fd-level capture."""

from __future__ import annotations

import contextlib
import errno
import os

__all__ = [
    "close_quietly",
    "give_back_spool",
    "open_named_spool",
    "open_spool",
    "spool_paths",
    "take_spool",
    "write_all",
]

MAX_SPARE_SPOOLS = 4
"""Emptied spool files kept for reuse: opening and closing two files per call
is a third of the fd-mode budget."""

_spare: list[int] = []


def open_spool() -> int:
    """A new anonymous file (gone when closed) in the temporary directory.

    Raises:
        OSError: the temporary directory is missing or not writable.
    """
    import tempfile

    directory = tempfile.gettempdir()
    if hasattr(os, "O_TMPFILE"):
        try:
            return os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError as error:  # a file system without O_TMPFILE: fall back below
            if error.errno not in (errno.EISDIR, errno.EOPNOTSUPP, errno.EINVAL):
                raise
    fd, path = tempfile.mkstemp(prefix="orcapod-capture-", dir=directory)
    os.unlink(path)
    return fd


def spool_paths(spool_to: str) -> tuple[str, str]:
    """The files a named spool of ``spool_to`` writes stdout and stderr to."""
    return f"{spool_to}.stdout", f"{spool_to}.stderr"


def open_named_spool(path: str) -> tuple[int, bool]:
    """A new spool file at ``path`` that another process can read while this one runs.

    Returns:
        The descriptor, and whether it is the named file: where ``path`` cannot
        be created (no such directory, a file already there), an anonymous spool
        is used instead, so capture goes on and only recovery is lost.
    """
    try:
        return os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600), True
    except OSError:
        return open_spool(), False


def take_spool() -> int:
    """An empty spool file: a spare one if there is one, else a new one.

    Only for spools that no descriptor outside this process can reach (those
    fed by the pass-through pump), so no child process can still write to a
    spare.
    """
    try:
        return _spare.pop()
    except IndexError:
        return open_spool()


def give_back_spool(fd: int) -> None:
    """Empty ``fd`` and keep it for :func:`take_spool`, or close it."""
    if len(_spare) < MAX_SPARE_SPOOLS:
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
        except OSError:
            pass
        else:
            _spare.append(fd)
            return
    close_quietly(fd)


def forget_spares() -> None:
    """Drop the spares (after ``fork``: the parent's spool files are the parent's)."""
    spares = _spare[:]
    _spare.clear()
    close_quietly(*spares)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def close_quietly(*fds: int) -> None:
    """Close each descriptor that is not ``-1``, ignoring errors."""
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
