"""LoggingObserver: one row per executed packet attempt, with what it printed, logged and raised."""

from __future__ import annotations

import logging
import threading
from operator import itemgetter
from time import time_ns as _time_ns
from typing import TYPE_CHECKING, Any

from orcapod.observers._layout import EARLIER_LOG_LAYOUTS, LOG_COLUMNS, LOGS_BRANCH
from orcapod.observers._tables import NodeContext, PacketLogger, TableObserver
from orcapod.protocols.database import add_new_records, flush_paths
from orcapod.protocols.errors import RecordSchemaError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    import pyarrow as pa

    from orcapod.observers._tables import Sink
    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.observability import ExecutionObserver
    from orcapod.protocols.values import RecordPath

__all__ = ["LoggingObserver"]


class LoggingObserver(TableObserver):
    """Stores one log row per executed packet attempt, under the pipeline's ``_logs`` branch.

    A row holds what the attempt printed to stdout and stderr, its Python log
    records (structured: time, level, logger, message, source location), its
    traceback when it failed, how it was captured (the level, the byte counts,
    whether output was truncated, log records dropped, and why capture failed
    if it did), and the packet's tag columns in their own types. Cache hits run
    nothing, so they have no row. The run's start and end are recorded too
    (``_runs``).

    A ``_logs`` table written by a release before the capture metadata
    columns keeps its schema: rows added to it leave those columns out, and a
    WARNING says so once per table (move the old table aside to store them).

    Args:
        database: where rows go (often the pipeline's own).
    """

    context_class: type[NodeContext]

    def sink(
        self,
        path: RecordPath,
        fixed: pa.Schema,
        tags: pa.Schema,
        label: str,
        node_hash: str,
        tail: int = 0,
    ) -> Sink:
        """The buffer of the log table at ``path``, writing through :class:`_LogTables`."""
        sink = super().sink(path, fixed, tags, label, node_hash, tail)
        if not isinstance(sink.database, _LogTables):
            sink.database = _LogTables(sink.database)
        return sink


_SIZES = (
    "stdout_bytes",
    "stderr_bytes",
    "stdout_truncated",
    "stderr_truncated",
    "python_logs_dropped",
)

_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("stdout", ""),
    ("stderr", ""),
    ("python_logs", None),
    ("traceback", None),
    ("success", False),
    ("attempt", 1),
    ("executor_type", "unknown"),
    ("capture_level", None),
    *((name, None) for name in _SIZES),
    ("capture_error", None),
)
"""The fields of a log row's tail that a record gives, and the value of one it lacks."""

_READ_TAIL = itemgetter(*(name for name, _ in _DEFAULTS))
"""The fields every executor of orcapod records, but the duration, read in one call."""


def _tail(read: tuple[Any, ...], setup_output: Any, setup_failed: Any) -> tuple[Any, ...]:
    """A log row's tail: the values of ``_DEFAULTS``' fields (``read``) in their
    columns' types, then the set-up fields."""
    stdout, stderr, logs, traceback, success, attempt, executor, level, *rest = read
    return (
        stdout,
        stderr,
        _python_logs(logs) if logs else (),  # none: a tuple, which the gc does not track
        traceback,
        success if success is True or success is False else bool(success),
        attempt if type(attempt) is int else int(attempt),
        executor if type(executor) is str else str(executor),
        level,
        *rest,  # stdout and stderr bytes and truncated, log records dropped, capture error
        setup_output,
        setup_failed,
    )


_TAIL_FIELDS = (*(name for name, _ in _DEFAULTS), "setup_output", "setup_failed")
"""The fields a log row holds in its tail, in their columns' order."""


class _LoggingContext(NodeContext):
    branch = LOGS_BRANCH
    fixed = LOG_COLUMNS
    tail = len(_TAIL_FIELDS)  # a row: (time, duration, (stdout, ...), *ref(tag))
    record_keeps = True  # a composite captures calls for record_packet

    # what the last record read (the usual fields, then the set-up's two), and the
    # tail made of it
    usual: tuple[tuple[Any, ...], Any, Any, tuple[Any, ...]] = ((), None, None, ())

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketLogger:
        return PacketLogger(self.record_packet, tag)

    def record_packet(self, tag: Tag, fields: Mapping[str, Any]) -> None:
        """Turn one record of the packet of ``tag`` into a log row.

        Runs once per attempt of every packet: the row is five values (its
        time, its duration, its tail, its tag's reference; see ``Sink``). The fields every
        executor of orcapod gives are read in one call; when they equal those
        of the last record (nothing printed, logged or raised, as a rule), the
        row holds the tail made for that record, so every such row of a run
        shares one tail object.
        """
        get = fields.get
        setup_output, setup_failed = get("setup_output"), get("setup_failed")
        try:
            read = _READ_TAIL(fields)
            duration = fields["duration_s"]
        except KeyError:  # an executor giving fewer: the defaults of the others
            read = tuple(get(name, default) for name, default in _DEFAULTS)
            duration = get("duration_s")
        usual = self.usual  # one read: another thread may replace it
        if read == usual[0] and setup_output == usual[1] and setup_failed == usual[2]:
            tail = usual[3]
        else:
            tail = _tail(read, setup_output, setup_failed)
            self.usual = (read, setup_output, setup_failed, tail)  # one assignment: atomic
        values = self.values
        table, at = self.ref(tag)
        # the time: a UTC timestamp, in microseconds (see now())
        values += (_time_ns() // 1000, duration, tail, table, at)
        if len(values) >= self.full:
            self.sink.convert_held()


LoggingObserver.context_class = _LoggingContext


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


_log = logging.getLogger("orcapod.observers")


class _LogTables:
    """The database, as the log sinks write to it: a ``_logs`` table of an earlier
    layout (made before some of LOG_COLUMNS existed) gets its rows without them.

    Every other method is the database's own.
    """

    def __init__(self, database: ArrowDatabase) -> None:
        self.database = database
        self._lacking: dict[RecordPath, tuple[str, ...]] = {}  # tables of earlier layouts
        self._lock = threading.Lock()

    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
        new_ids: bool = False,
    ) -> None:
        """Add log rows at ``path``, without the columns its table's layout predates.

        ``new_ids`` is handed on where the database takes it (see
        :func:`~orcapod.protocols.database.add_new_records`).

        Raises:
            RecordSchemaError: the table at ``path`` fits neither this layout
                nor an earlier one; the message names the path and the columns.
        """

        def add(rows: pa.Table) -> None:
            if new_ids:
                add_new_records(self.database, path, rows, record_id_column, flush=flush)
            else:
                self.database.add_records(
                    path, rows, record_id_column, skip_duplicates=skip_duplicates, flush=flush
                )

        lacking = self._lacking.get(path)
        if lacking is not None:
            add(records.drop_columns(list(lacking)))
            return
        try:
            add(records)
            return
        except RecordSchemaError as error:
            refused = error
        # A batch that does not fit is refused whole: trying an earlier layout is safe.
        for lacking in EARLIER_LOG_LAYOUTS:
            try:
                add(records.drop_columns(list(lacking)))
            except RecordSchemaError:
                continue
            self._note_earlier(path, lacking)
            return
        raise RecordSchemaError(
            f"the log table at {path!r} has a schema that fits neither the log rows of "
            f"this orcapod-observers nor those of earlier releases (without "
            f"{', '.join(EARLIER_LOG_LAYOUTS[-1])}): {refused}; move it aside (or delete "
            "it) and the next run starts a new one"
        ) from refused

    def _note_earlier(self, path: RecordPath, lacking: tuple[str, ...]) -> None:
        with self._lock:
            if path in self._lacking:
                return
            self._lacking[path] = lacking
        _log.warning(
            "the log table at %r was made by an earlier orcapod-observers, without the "
            "columns %s; its new rows leave them out (they read as null), so what they "
            "would say (whether capture failed, an environment's set-up output) is not "
            "stored. Move the table aside (or delete it) to have them stored from the "
            "next run on",
            path,
            ", ".join(lacking),
        )

    # -- the rest of the database, as it is ------------------------------------------

    @property
    def uri(self) -> str | None:
        return getattr(self.database, "uri", None)

    def add_record(
        self,
        path: RecordPath,
        record_id: str,
        record: pa.Table,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        self.database.add_record(
            path, record_id, record, skip_duplicates=skip_duplicates, flush=flush
        )

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        return self.database.get_record_by_id(path, record_id, record_id_column=record_id_column)

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        return self.database.get_records_by_ids(path, record_ids, record_id_column=record_id_column)

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        return self.database.get_all_records(path, record_id_column=record_id_column)

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        return self.database.get_records_with_column_value(
            path, column_values, record_id_column=record_id_column
        )

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        return self.database.list_paths(prefix)

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:
        if paths is None:
            self.database.flush()
        else:
            flush_paths(self.database, paths)

    def close(self) -> None:
        self.database.close()


if TYPE_CHECKING:
    _satisfies_the_protocol: ExecutionObserver = LoggingObserver(...)  # type: ignore[arg-type]
