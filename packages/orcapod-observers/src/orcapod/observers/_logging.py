"""LoggingObserver: one row per executed packet attempt, with what it printed, logged and raised."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.observers._layout import LOG_COLUMNS, LOGS_BRANCH
from orcapod.observers._tables import NodeContext, TableObserver, now

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["LoggingObserver"]


class LoggingObserver(TableObserver):
    """Stores one log row per executed packet attempt, under the pipeline's ``_logs`` branch.

    A row holds what the attempt printed to stdout and stderr, its Python log
    records (structured: time, level, logger, message, source location), its
    traceback when it failed, how it was captured, and the packet's tag columns
    in their own types. Cache hits run nothing, so they have no row. The run's
    start and end are recorded too (``_runs``).

    Args:
        database: where rows go (often the pipeline's own).
        flush_every: rows buffered before they are written.
        flush_interval: seconds after which buffered rows are written.
    """

    context_class: type[NodeContext]


class _LoggingContext(NodeContext):
    branch = LOGS_BRANCH
    fixed = LOG_COLUMNS

    def create_packet_logger(self, tag: Tag, packet: Packet) -> _PacketLogger:
        return _PacketLogger(self, tag)


LoggingObserver.context_class = _LoggingContext


class _PacketLogger:
    """Turns each ``record(**fields)`` of one packet's attempts into a log row."""

    __slots__ = ("context", "tag")

    def __init__(self, context: _LoggingContext, tag: Tag) -> None:
        self.context = context
        self.tag = tag

    def record(self, **fields: Any) -> None:
        self.record_fields(fields)

    def record_fields(self, fields: Mapping[str, Any]) -> None:
        """:meth:`record`, given the fields as one mapping (a fan-out logger's way)."""
        context = self.context
        context.parent.add(
            context.sink,
            (
                now(),
                fields.get("duration_s"),
                fields.get("stdout", ""),
                fields.get("stderr", ""),
                _python_logs(fields.get("python_logs", ())),
                fields.get("traceback"),
                bool(fields.get("success", False)),
                int(fields.get("attempt", 1)),
                str(fields.get("executor_type", "unknown")),
                fields.get("capture_level"),
                self.tag,
            ),
        )


def _python_logs(records: Any) -> list[dict[str, Any]]:
    if not records:
        return []
    return [
        {
            "time": record.get("time"),
            "level": record.get("level"),
            "logger": record.get("logger"),
            "message": record.get("message"),
            "pathname": record.get("pathname"),
            "lineno": record.get("lineno"),
        }
        for record in records
    ]


if TYPE_CHECKING:
    _satisfies_the_protocol: ExecutionObserver = LoggingObserver(...)  # type: ignore[arg-type]
