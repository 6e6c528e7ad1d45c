"""The two ways to capture a call: a context manager and a run-and-record helper."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, TypeVar

from orcapod.capture._buffer import read_bounded, render
from orcapod.capture._capture import Capture, SysCapture
from orcapod.capture._fd import FdCapture
from orcapod.capture._result import CapturedCall
from orcapod.capture._spool import spool_paths
from orcapod.capture.errors import CaptureOptionError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.protocols.values import CaptureLevel, ExecutionRecordFields

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RECORDS",
    "capture",
    "record_call",
    "recover_spooled_output",
    "run_captured",
]

T = TypeVar("T")

_new_call = tuple.__new__  # CapturedCall(...) through its generated __new__ is 3x slower

DEFAULT_MAX_BYTES = 1 << 20
"""Bytes kept per stream (stdout, stderr): 1 MiB, half head and half tail."""

DEFAULT_MAX_RECORDS = 1000
"""Log records kept per call, half the first and half the last."""


def capture(
    level: CaptureLevel = "sys",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_records: int = DEFAULT_MAX_RECORDS,
    passthrough: bool = True,
    spool_to: str | None = None,
) -> Capture:
    """A context manager that captures what its body prints, logs and raises.

    ``with capture() as cap: ...`` then ``cap.result``. The body's exception,
    if any, propagates unchanged after the result is recorded; a failure of
    capture itself never does (see ``CaptureResult.capture_error``).

    Args:
        level: ``"sys"`` captures Python-level output of this thread or task;
            ``"fd"`` captures file descriptors 1 and 2 of the whole process (C
            extensions and child processes too), one capture at a time.
        max_bytes: bytes kept per stream; beyond it the head and tail are kept
            around a ``[... N bytes truncated ...]`` line.
        max_records: log records kept; beyond it the first and last half are kept.
        passthrough: also show the output live where it would have gone.
        spool_to: ``"fd"`` only: spool the output to ``<spool_to>.stdout`` and
            ``<spool_to>.stderr`` while the body runs (removed after it), so that if
            this process dies meanwhile another can read what was written with
            :func:`recover_spooled_output`. Where those files cannot be made, the
            capture goes on without them.

    Raises:
        CaptureOptionError: an option is out of range.
    """
    # The defaults are valid: an identity test skips the checks for them.
    if max_bytes is not DEFAULT_MAX_BYTES and (type(max_bytes) is not int or max_bytes < 0):
        raise CaptureOptionError(
            f"capture got max_bytes={max_bytes!r}; pass a whole number of bytes >= 0"
        )
    if max_records is not DEFAULT_MAX_RECORDS and (type(max_records) is not int or max_records < 0):
        raise CaptureOptionError(
            f"capture got max_records={max_records!r}; pass a whole number of records >= 0"
        )
    if level == "sys" and spool_to is None:
        return SysCapture(max_bytes, max_records, passthrough)
    if level == "sys":
        raise CaptureOptionError(
            f"capture got spool_to={spool_to!r} with level='sys'; only level='fd' spools to files"
        )
    if level == "fd":
        return FdCapture(max_bytes, max_records, passthrough, spool_to)
    raise CaptureOptionError(f"capture got level={level!r}; use level='sys' or level='fd'")


def run_captured(
    fn: Callable[..., T],
    /,
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    level: CaptureLevel = "sys",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_records: int = DEFAULT_MAX_RECORDS,
    passthrough: bool = True,
    spool_to: str | None = None,
) -> CapturedCall[T]:
    """Call ``fn(*args, **kwargs)`` under :func:`capture` and return what happened.

    Nothing is raised: the returned :class:`CapturedCall` holds the result and
    either the value or the exception, whatever it was (``KeyboardInterrupt``
    and ``SystemExit`` included, so that an interrupted call is recorded too).
    Record ``.result``, then call ``.unwrap()`` to return the value or re-raise
    the exception unchanged.

    Raises:
        CaptureOptionError: an option is out of range (before ``fn`` is called).
    """
    cap = capture(
        level,
        max_bytes=max_bytes,
        max_records=max_records,
        passthrough=passthrough,
        spool_to=spool_to,
    )
    cap._skip_frames = 1
    # `with cap:` spelled out: CPython 3.11 inlines these calls of __enter__ and
    # __exit__, but not the with statement's (about 0.1 µs per call).
    cap.__enter__()  # if interrupted while setting up, fn never runs
    try:
        try:
            value = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as error:
            cap.__exit__(type(error), error, error.__traceback__)
            raise
        cap.__exit__(None, None, None)
    except BaseException as error:
        if cap._result is None:  # interrupted before the result was recorded
            raise
        return CapturedCall(cap._result, None, error)
    # Set, since __exit__ returned; read without the property's check.
    return _new_call(CapturedCall, (cap._result, value, None))


def record_call(
    fn: Callable[..., T],
    /,
    kwargs: Mapping[str, Any],
    *,
    level: CaptureLevel = "sys",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_records: int = DEFAULT_MAX_RECORDS,
    passthrough: bool = True,
) -> tuple[ExecutionRecordFields, T | None, BaseException | None]:
    """Call ``fn(**kwargs)`` under :func:`capture`: what an executor records of an attempt.

    As :func:`run_captured`, followed by ``CaptureResult.as_record_fields``,
    but a quiet call (nothing printed, logged or raised) of the ``sys`` level
    makes no ``CaptureResult``: an executor that only hands the fields to a
    packet logger is spared building it (a third of capture's cost per call).

    Returns:
        The record fields (a new dict, the caller's to keep), what the call
        returned (``None`` if it raised) and what it raised (any
        ``BaseException``, or ``None``). Nothing is raised: re-raise the
        exception once the fields are recorded.

    Raises:
        CaptureOptionError: an option is out of range (before ``fn`` is called).
    """
    if level != "sys":  # run_captured's steps, in this frame (a warning names the caller)
        cap = capture(level, max_bytes=max_bytes, max_records=max_records, passthrough=passthrough)
        cap._skip_frames = 1
        cap.__enter__()  # if interrupted while setting up, fn never runs
        raised: BaseException | None = None
        try:
            try:
                value = fn(**kwargs)
            except BaseException as error:
                raised, value = error, None
                cap.__exit__(type(error), error, error.__traceback__)
            else:
                cap.__exit__(None, None, None)
        except BaseException as error:
            if cap._result is None:  # interrupted before the result was recorded
                raise
            raised, value = error, None
        return cap.result.as_record_fields(), value, raised
    if max_bytes is not DEFAULT_MAX_BYTES or max_records is not DEFAULT_MAX_RECORDS:
        capture("sys", max_bytes=max_bytes, max_records=max_records)  # checks them
    cap = SysCapture(max_bytes, max_records, passthrough)
    cap._skip_frames = 1
    cap.__enter__()  # if interrupted while setting up, fn never runs
    try:
        value = fn(**kwargs)
    except BaseException as error:
        fields = cap._record(error, error.__traceback__)
        return fields, None, error  # type: ignore[return-value]  # the declared fields
    return cap._record(None, None), value, None  # type: ignore[return-value]


def recover_spooled_output(
    spool_to: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, str] | None:
    """What a process that died during ``capture("fd", spool_to=...)`` had written.

    Reads ``<spool_to>.stdout`` and ``<spool_to>.stderr`` (head and tail within
    ``max_bytes`` each, as a capture keeps them), then removes them.

    Returns:
        (stdout, stderr), or None when neither file exists (the capture ended
        normally, or the files were on a machine this one cannot see).
    """
    texts: list[str] = []
    found = False
    for path in spool_paths(spool_to):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            texts.append("")
            continue
        found = True
        try:
            texts.append(render(*read_bounded(fd, max_bytes)))
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
    return (texts[0], texts[1]) if found else None
