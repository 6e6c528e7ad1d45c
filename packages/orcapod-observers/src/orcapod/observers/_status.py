"""StatusObserver: an append-only log of every packet's states."""

from __future__ import annotations

import re
from time import time_ns as _time_ns
from typing import TYPE_CHECKING, Any

from orcapod.observers._layout import STATUS_BRANCH, STATUS_COLUMNS
from orcapod.observers._tables import (
    NodeContext,
    QuietPacketLogger,
    TableObserver,
    now,
)
from orcapod.protocols.errors import PacketCancelled

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["StatusObserver"]

_MAX_SUMMARY = 500

_FIRST = (1, None, None)
"""The tail of a row of a first attempt: attempt 1, no error summary, no source run."""


class StatusObserver(TableObserver):
    """Stores append-only status events per packet, under the pipeline's ``_status`` branch.

    ``RUNNING`` when a packet starts computing; then ``SUCCESS`` or ``FAILED``
    (with a one-line ``__error_summary``), each retried attempt being
    ``FAILED`` then ``RUNNING`` again with the next ``__attempt``; or ``CACHED`` for a packet whose
    result was stored already, with the id of the run that computed it; or
    ``CANCELLED`` (summary ``"cancelled: ..."``) for a packet stopped in flight
    because the run stopped (``fail_fast``, or a signal). The current state of
    a packet is its latest event; readers show a ``RUNNING`` with no later
    event in a run that is over (ended, or crashed) as ``LOST``. The run's
    start, end and heartbeats are recorded too (``_runs``, ``_heartbeats``).

    Args:
        database: where events go (often the pipeline's own).
    """

    context_class: type[NodeContext]


class _StatusContext(NodeContext):
    branch = STATUS_BRANCH
    fixed = STATUS_COLUMNS
    tail = 3  # a row: (state, time, (attempt, error summary, source run id), *ref(tag))
    record_keeps = False  # nothing is captured for it: it only hears of retried attempts

    def __init__(self, parent: TableObserver, pipeline_path: Sequence[str]) -> None:
        super().__init__(parent, pipeline_path)
        self.attempts: dict[int, _AttemptLogger] = {}  # id(tag) -> its packet's logger
        # id(tag) -> the attempts of a packet whose records said more than "attempt 1
        # succeeded" (each holds its tag, so the id is not reused while it is here)
        self.loggers: dict[int, _AttemptLogger] = {}
        self.cached_tail: tuple[int, None, str | None] = _FIRST

    def _event(
        self,
        tag: Tag,
        state: str,
        error: str | None = None,
        source_run_id: str | None = None,
        attempt: int = 1,
        when: int | None = None,
    ) -> None:
        table, at = self.ref(tag)
        when = now() if when is None else when
        self.sink.add((state, when, (attempt, error, source_run_id), table, at))

    # The hooks called per packet add their rows themselves: they run a hundred
    # thousand times.

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        values = self.values
        table, at = self.ref(tag)
        values += ("RUNNING", _time_ns() // 1000, _FIRST, table, at)
        if len(values) >= self.full:
            self.sink.convert_held()

    def create_packet_logger(self, tag: Tag, packet: Packet) -> QuietPacketLogger:
        return QuietPacketLogger(self.record_packet, tag)

    def record_packet(self, tag: Tag, fields: Mapping[str, Any]) -> None:
        """Follow the attempts of the packet of ``tag`` through its records (see
        :class:`_AttemptLogger`); a first attempt that succeeded says nothing new."""
        logger = self.loggers.get(id(tag)) if self.loggers else None
        if logger is None:
            attempt = fields.get("attempt", 1)
            if fields.get("success", False) and (attempt == 1 or int(attempt) <= 1):
                return  # the common case: the packet's end says it all
            logger = self.loggers[id(tag)] = _AttemptLogger(self, tag)
        logger.record_fields(fields)

    def on_packet_end(
        self,
        node_label: str,
        tag: Tag,
        input_packet: Packet,
        output_packet: Packet | None,
        *,
        cached: bool,
        source_run_id: str | None = None,
    ) -> None:
        values = self.values
        table, at = self.ref(tag)
        if cached:
            tail = self.cached_tail
            if tail[2] != source_run_id:  # a run's cached rows share one tail
                tail = self.cached_tail = (1, None, source_run_id)
            values += ("CACHED", _time_ns() // 1000, tail, table, at)
        else:
            attempt = self._last_attempt(tag) if self.loggers or self.attempts else 1
            tail = _FIRST if attempt == 1 else (attempt, None, None)
            values += ("SUCCESS", _time_ns() // 1000, tail, table, at)
        if len(values) >= self.full:
            self.sink.convert_held()

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        attempt = self._last_attempt(tag)
        if isinstance(error, PacketCancelled):
            self._event(tag, "CANCELLED", error=cancelled_summary(error), attempt=attempt)
        else:
            self._event(tag, "FAILED", error=summary(error), attempt=attempt)

    def _last_attempt(self, tag: Tag) -> int:
        """The packet's last attempt: 1 unless its logger heard of a retry; its logger
        is forgotten (the packet is over)."""
        if self.loggers:
            self.loggers.pop(id(tag), None)
        if not self.attempts:  # the common case: nothing was retried
            return 1
        logger = self.attempts.pop(id(tag), None)
        return 1 if logger is None else logger.attempt

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self.loggers.clear()
        self.attempts.clear()
        super().on_node_end(node_label, node_hash)


class _AttemptLogger:
    """Turns retries into status events: each retried attempt ``FAILED``, the next ``RUNNING``.

    A record marked ``retried=True`` (the pipeline engine marks the records of
    a failed attempt it tries again, and records such an attempt itself when
    nothing else did) gives both events at once. An executor retrying on its
    own (``RayExecutor(max_retries=...)``) marks its retried attempts too; one
    that marks nothing is still followed: a record of a later ``attempt``
    after a failed one gives the events, timed at that failure.

    Keeps no records itself, so a run observed by a StatusObserver alone is not
    captured for it; it still hears of every retried attempt from the engine.
    """

    __slots__ = ("attempt", "context", "failed", "tag")
    keeps_records = False

    def __init__(self, context: _StatusContext, tag: Tag) -> None:
        self.context = context
        self.tag = tag
        self.attempt = 1  # the attempt running, as far as this logger knows
        self.failed: tuple[int, str | None] | None = None  # when, and why, the last attempt failed

    def record(self, **fields: Any) -> None:
        self.record_fields(fields)

    def record_fields(self, fields: Mapping[str, Any]) -> None:
        """:meth:`record`, given the fields as one mapping (a fan-out logger's way)."""
        attempt = int(fields.get("attempt", 1))
        if attempt > self.attempt and self.failed is not None:  # retried, unannounced
            when, error = self.failed
            self._retried(self.attempt, error, attempt, when)
        self.attempt = max(attempt, self.attempt)
        if fields.get("success", False):
            self.failed = None
        elif fields.get("retried", False):
            self.failed = None
            self._retried(attempt, _last_line(fields.get("traceback")), attempt + 1, now())
            self.attempt = attempt + 1
        else:
            self.failed = (now(), _last_line(fields.get("traceback")))

    def _retried(self, attempt: int, error: str | None, following: int, when: int) -> None:
        """``attempt`` failed with ``error`` and ``following`` started, at ``when``."""
        context = self.context
        context._event(self.tag, "FAILED", error=error, attempt=attempt, when=when)
        context._event(self.tag, "RUNNING", attempt=following, when=when)
        context.attempts[id(self.tag)] = self  # the packet's end names the last attempt


def summary(error: BaseException) -> str:
    """``Type: message``, its first line, at most ``_MAX_SUMMARY`` characters."""
    return f"{type(error).__name__}: {error}".splitlines()[0][:_MAX_SUMMARY]


def cancelled_summary(error: PacketCancelled) -> str:
    """``cancelled: why`` (the first line of why), at most ``_MAX_SUMMARY`` characters."""
    lines = str(error).strip().splitlines()
    return (f"cancelled: {lines[0]}" if lines else "cancelled")[:_MAX_SUMMARY]


def _last_line(traceback: Any) -> str | None:
    """A traceback's last line as :func:`summary` gives an error: ``Type: message``
    (a ``module.Type`` named by its class name alone)."""
    if not traceback:
        return None
    lines = [line for line in str(traceback).splitlines() if line.strip()]
    if not lines:
        return None
    return _QUALIFIED.sub(r"\1", lines[-1])[:_MAX_SUMMARY]


_QUALIFIED = re.compile(r"^[^\s:]+\.([A-Za-z_]\w*)(?=:|$)")
"""The module path before an exception's class name at the start of a traceback's last line."""


StatusObserver.context_class = _StatusContext


if TYPE_CHECKING:
    _satisfies_the_protocol: ExecutionObserver = StatusObserver(...)  # type: ignore[arg-type]
