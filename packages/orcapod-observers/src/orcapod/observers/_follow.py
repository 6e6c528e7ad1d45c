"""Following a run: what it adds to the store, poll by poll, each record once.

A :class:`RunFollower` keeps one :class:`~orcapod.protocols.database.RecordCursor`
per table it reads (the run records, the heartbeats, each node's log rows and
status events), so every poll reads only what was stored since the last one
where the store can tell (``get_new_records``; Delta by its log, SQLite by
rowid), and never returns a record twice. Each poll reads the run's records
first and its rows after: when a poll finds the run's end, the rows it returns
with it are the run's last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.observers._layout import HEARTBEATS_BRANCH, LOGS_BRANCH, RUNS_BRANCH, STATUS_BRANCH
from orcapod.observers._reader import (
    ATTEMPT,
    LOG_ID,
    NODE_LABEL,
    PACKET_KEY,
    RECORD_ID,
    RUN_ID,
    STATE,
    STATUS_ID,
    TIMESTAMP,
    ObservabilityReader,
    _judge,
)
from orcapod.observers.errors import ObservabilityError, UnknownRunError
from orcapod.protocols.database import RecordCursor, read_new_records

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.values import RecordPath

__all__ = ["FollowedRows", "RunFollower"]

HEARTBEAT_ID = "__heartbeat_id"
_ENDED = ("SUCCESS", "PARTIAL", "FAILED", "INTERRUPTED")


@dataclass
class FollowedRows:
    """What one poll found: new rows, and the run's state after them.

    Attributes:
        logs: new log rows of the run (one dict per row, the reader's columns),
            oldest first.
        status: new status events of the run, oldest first.
        state: the run's state: ``RUNNING``, a written end state, or ``CRASHED``.
        over: whether the run has ended (or was found ``CRASHED``): nothing more will come.
        run: the run's record (its end record once it ended), with ``__error``
            saying why a ``CRASHED`` run is judged so.
        lost: once the run is over, the latest events of packets it left
            ``RUNNING`` (shown ``LOST``), if status events were followed.
    """

    logs: list[dict[str, Any]] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    state: str = "RUNNING"
    over: bool = False
    run: dict[str, Any] = field(default_factory=dict)
    lost: list[dict[str, Any]] = field(default_factory=list)


class RunFollower:
    """Polls a store for what one run of a pipeline adds: log rows, status events, its end.

    Args:
        reader: the reader of the pipeline (its database and name).
        run_id: the run to follow; by default the latest (newest start).
        node: only this node's rows.
        logs: follow log rows.
        status: follow status events.
        stale_after_s: seconds without a heartbeat after which a run not on
            this host (or whose process cannot be checked) is ``CRASHED``; by
            default the reader's rule (12 of its intervals, at least 120 s).
        logs_where, status_where: given a node's label and its new rows of
            the run, the rows to return (``--failed``, ``--tag``). Status
            events left out still count for which packets a crash left ``LOST``.

    Raises:
        UnknownPipelineError: the database has no records of the pipeline.
        UnknownRunError: ``run_id`` names no run of the pipeline.
        ObservabilityError: the pipeline has no runs yet.
    """

    def __init__(
        self,
        reader: ObservabilityReader,
        run_id: str | None = None,
        *,
        node: str | None = None,
        logs: bool = True,
        status: bool = True,
        stale_after_s: float | None = None,
        logs_where: Callable[[str, pa.Table], pa.Table] | None = None,
        status_where: Callable[[str, pa.Table], pa.Table] | None = None,
    ) -> None:
        self._where = {LOGS_BRANCH: logs_where, STATUS_BRANCH: status_where}
        self._reader = reader
        self._database = reader.database
        self._pipeline = reader.pipeline
        self._node = node
        self._follow_logs = logs
        self._follow_status = status
        self._stale_after_s = stale_after_s
        runs = reader.runs()
        if node is not None and node not in reader.nodes():
            reader.logs(node=node)  # raises UnknownNodeError, naming the nodes
        if run_id is None:
            if runs.num_rows == 0:
                raise ObservabilityError(
                    f"pipeline {self._pipeline!r} has no runs to follow yet; start the run "
                    "first (its start is stored before any node runs), or name one with --run"
                )
            run_id = str(runs[RUN_ID][0].as_py())
        matching = runs.filter(pc.equal(runs[RUN_ID], run_id))
        if matching.num_rows == 0:
            reader.logs(run_id=run_id)  # raises UnknownRunError, naming the recent runs
            raise UnknownRunError(f"pipeline {self._pipeline!r} has no run {run_id!r}")
        self.run_id: str = run_id
        self._start: dict[str, Any] = matching.to_pylist()[0]
        self._end: dict[str, Any] | None = None
        self._beat: dict[str, Any] | None = None
        self._cursors: dict[RecordPath, RecordCursor] = {}
        self._running: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def pipeline(self) -> str:
        """The name of the pipeline followed."""
        return self._pipeline

    @property
    def start(self) -> dict[str, Any]:
        """The run's row of :meth:`ObservabilityReader.runs` when following began."""
        return dict(self._start)

    def poll(self) -> FollowedRows:
        """Read what was stored since the last poll (everything of the run at the first)."""
        found = FollowedRows()
        state, run = self._run_state()
        if self._follow_logs:
            found.logs = self._new_rows(LOGS_BRANCH, LOG_ID)
        if self._follow_status:
            found.status = self._new_rows(STATUS_BRANCH, STATUS_ID)
        found.state, found.run = state, run
        found.over = state != "RUNNING"
        if found.over:
            found.lost = [{**event, STATE: "LOST"} for event in self._running.values()]
        return found

    # -- the run -----------------------------------------------------------------------

    def _run_state(self) -> tuple[str, dict[str, Any]]:
        """The run's state now: its end record's, else RUNNING or CRASHED by its liveness."""
        if self._end is None:
            for record in self._new_records((self._pipeline, RUNS_BRANCH), RECORD_ID):
                if record[RUN_ID] == self.run_id and str(record[RECORD_ID]).endswith(":end"):
                    self._end = {k: v for k, v in record.items() if k != RECORD_ID}
        if self._end is not None:
            return str(self._end[STATE]), dict(self._end)
        for beat in self._new_records((self._pipeline, HEARTBEATS_BRANCH), HEARTBEAT_ID):
            if beat[RUN_ID] == self.run_id and (
                self._beat is None or beat[TIMESTAMP] >= self._beat[TIMESTAMP]
            ):
                self._beat = beat
        start = self._start
        state, why = _judge(start, self._beat, datetime.now(UTC), self._stale_after_s)
        return state, {**start, STATE: state, "__error": why}

    def _new_records(self, path: RecordPath, id_column: str) -> list[dict[str, Any]]:
        table = self._read_new(path, id_column)
        return [] if table is None else table.to_pylist()

    # -- rows --------------------------------------------------------------------------

    def _new_rows(self, branch: str, id_column: str) -> list[dict[str, Any]]:
        """New rows of the run under ``branch``, of every node (or the one asked for),
        that the branch's filter keeps; status events all count for :meth:`_track_running`."""
        rows: list[dict[str, Any]] = []
        where = self._where[branch]
        for path in self._database.list_paths((self._pipeline, branch)):
            if len(path) < 3 or (self._node is not None and path[2] != self._node):
                continue
            table = self._read_new(path, id_column)
            if table is None:
                continue
            mine = table.filter(pc.fill_null(pc.equal(table[RUN_ID], self.run_id), False))
            if branch == STATUS_BRANCH:
                self._track_running(sorted(mine.to_pylist(), key=_chronological))
            if where is not None and mine.num_rows:
                mine = where(path[2], mine)
            rows += mine.to_pylist()
        rows.sort(key=_chronological)
        return rows

    def _read_new(self, path: RecordPath, id_column: str) -> pa.Table | None:
        table, self._cursors[path] = read_new_records(
            self._database, path, self._cursors.get(path), record_id_column=id_column
        )
        return table

    def _track_running(self, events: list[dict[str, Any]]) -> None:
        """Keep each packet whose latest event is RUNNING: LOST if the run ends so."""
        for event in events:
            key = (str(event[NODE_LABEL]), str(event.get(PACKET_KEY)))
            if event[STATE] == "RUNNING":
                self._running[key] = event
            else:
                self._running.pop(key, None)


def _chronological(row: dict[str, Any]) -> tuple[Any, ...]:
    """Oldest first; at one instant, a RUNNING before what ended it."""
    moment = row.get(TIMESTAMP) or datetime.min.replace(tzinfo=UTC)
    return (moment, row.get(ATTEMPT) or 0, 0 if row.get(STATE) == "RUNNING" else 1)
