"""What runs on a Ray worker: the user's function under fd-level capture.

Imports only the standard library and ``orcapod.capture`` (never orcapod-core),
and returns plain data: the capture's record fields, the value, and the
exception pickled here, so that an exception that does not pickle cannot take
the captured output down with it.
"""

from __future__ import annotations

import os
import pickle
import socket
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple

from orcapod.capture import bound_text, pickled_exception, run_captured

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["CaptureSettings", "TaskOutcome", "bound_task", "run_task"]


class CaptureSettings(NamedTuple):
    """How a task captures its output (sent with every task, so kept small)."""

    capture: bool
    """False when nobody keeps the record: the function is called directly."""
    max_bytes: int
    max_records: int
    passthrough: bool


class TaskOutcome(NamedTuple):
    """What a task sends back to the driver."""

    fields: dict[str, Any] | None
    """The capture's ``ExecutionRecordFields``, or None when not captured."""
    value: Any
    error: bytes | None
    """The function's exception, pickled on the worker; None on success or when it
    could not be pickled (then ``error_text`` says what it was)."""
    error_text: str | None
    """``module.Type: message`` of the function's exception, and why it did not pickle."""
    remote_traceback: str | None


_WHERE: dict[str, str] = {}


def _where() -> dict[str, str]:
    """The worker's host and pid, for the record's ``extra`` (looked up once per process)."""
    if not _WHERE or _WHERE.get("worker_pid") != str(os.getpid()):
        _WHERE.update(worker_host=socket.gethostname(), worker_pid=str(os.getpid()))
    return _WHERE


def run_task(
    fn: Callable[..., Any],
    kwargs: Mapping[str, Any],
    settings: CaptureSettings,
    spool_to: str | None = None,
) -> TaskOutcome:
    """Call ``fn(**kwargs)`` on this worker, under fd capture if asked; never raises.

    Whatever the function raises, ``SystemExit`` and ``KeyboardInterrupt``
    included, is caught here and sent back as the call's outcome: the worker
    lives on, and the driver re-raises it as the packet's error.

    ``spool_to``: where the capture spools while the call runs (a path the
    driver can read if this worker dies), or None.

    Returns:
        The record fields, and the value or the pickled exception.
    """
    if not settings.capture:
        try:
            value = fn(**kwargs)
        except BaseException as error:
            text = bound_text("".join(traceback.format_exception(error)), settings.max_bytes)
            return TaskOutcome(
                None, None, *pickled_exception(error, settings.max_bytes, dumps=_dumps), text
            )
        return TaskOutcome(None, value, None, None, None)
    call = run_captured(
        fn,
        (),
        kwargs,
        level="fd",
        max_bytes=settings.max_bytes,
        max_records=settings.max_records,
        passthrough=settings.passthrough,
        spool_to=spool_to,
    )
    fields: dict[str, Any] = dict(call.result.as_record_fields())
    fields["extra"] = dict(_where())
    if call.error is None:
        return TaskOutcome(fields, call.value, None, None, None)
    packed = pickled_exception(call.error, settings.max_bytes, dumps=_dumps)
    return TaskOutcome(fields, None, *packed, call.result.traceback)


def bound_task(
    fn: Callable[..., Any], settings: CaptureSettings
) -> Callable[[Mapping[str, Any]], TaskOutcome]:
    """``run_task`` with ``fn`` and ``settings`` bound: the body of one Ray remote
    function per packet function.

    Ray pickles a remote function once and each worker loads it once, so a
    task then carries only its ``kwargs``; sending ``fn`` with every task would
    pickle it every time (by value, for a function of ``__main__``).
    """

    def task(kwargs: Mapping[str, Any], spool_to: str | None = None) -> TaskOutcome:
        return run_task(fn, kwargs, settings, spool_to)

    # Ray names tasks (in its logs and dashboard) after the remote function.
    task.__name__ = task.__qualname__ = str(getattr(fn, "__name__", "task"))
    return task


def _dumps(obj: Any) -> bytes:
    """Pickle with Ray's cloudpickle when there is one (classes defined in
    ``__main__`` or a notebook), else the standard pickle."""
    try:
        from ray import cloudpickle
    except ImportError:  # pragma: no cover - this module runs on Ray workers
        return pickle.dumps(obj)
    dumps: Callable[[Any], bytes] = cloudpickle.dumps
    return dumps(obj)
