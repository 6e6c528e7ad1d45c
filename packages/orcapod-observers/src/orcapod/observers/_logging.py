"""LoggingObserver: one row per executed packet attempt, with what it printed, logged and raised."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.observers._tables import UTC_TIME, NodeContext, TableObserver, now

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["LOG_COLUMNS", "LoggingObserver"]

PYTHON_LOG = pa.struct(
    [
        ("time", UTC_TIME),
        ("level", pa.large_string()),
        ("logger", pa.large_string()),
        ("message", pa.large_string()),
        ("pathname", pa.large_string()),
        ("lineno", pa.int64()),
    ]
)
LOG_COLUMNS = pa.schema(
    [
        ("__log_id", pa.large_string()),
        ("__run_id", pa.large_string()),
        ("__node_label", pa.large_string()),
        ("__node_hash", pa.large_string()),
        ("__timestamp", UTC_TIME),
        ("__duration_s", pa.float64()),
        ("__stdout", pa.large_string()),
        ("__stderr", pa.large_string()),
        ("__python_logs", pa.large_list(PYTHON_LOG)),
        ("__traceback", pa.large_string()),
        ("__success", pa.bool_()),
        ("__attempt", pa.int64()),
        ("__executor_type", pa.large_string()),
        ("__capture_level", pa.large_string()),
        ("__packet_key", pa.large_string()),
    ]
)
"""The observer's own columns of a log row (docs/observability.md); tag columns follow."""


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
    branch = "_logs"
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
            ),
            self.tag,
        )


def _python_logs(records: Any) -> list[dict[str, Any]]:
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
