"""Reading back what observers recorded about a pipeline's runs, as Arrow tables.

The layout is pinned in ``docs/observability.md``: for a pipeline ``P``, log
rows live at ``(P, "_logs", label, hash)``, status events at
``(P, "_status", label, hash)`` and run records at ``(P, "_runs")``. The
reader finds everything from ``P`` alone, through ``list_paths``, so it works
on any :class:`~orcapod.protocols.database.ArrowDatabase`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.observers._layout import (
    HEARTBEATS_BRANCH,
    INPUT_HASH,
    LOG_COLUMNS,
    LOGS_BRANCH,
    OUTPUT_HASH,
    PROVENANCE,
    RESULT_RUN_ID,
    RESULTS_BRANCH,
    RUN_SCHEMA,
    RUNS_BRANCH,
    STATUS_BRANCH,
    STATUS_COLUMNS,
    UTC_TIME,
)
from orcapod.observers._liveness import Liveness, Process, liveness
from orcapod.observers.errors import (
    ObservabilityError,
    TagTypeConflictError,
    UnknownNodeError,
    UnknownPipelineError,
    UnknownRunError,
)
from orcapod.protocols.database import (
    DEFAULT_BATCH_ROWS,
    check_batch_rows,
    iter_records,
    validate_record_path,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.values import RecordPath

__all__ = [
    "FINISHED_RUN_STATES",
    "LOGS_BRANCH",
    "LOG_SCHEMA",
    "RUNS_BRANCH",
    "RUNS_SCHEMA",
    "RUN_SCHEMA",
    "RUN_STATES",
    "STALE_AFTER_AT_LEAST_S",
    "STALE_AFTER_INTERVALS",
    "STATES",
    "STATUS_BRANCH",
    "STATUS_SCHEMA",
    "SUMMARY_SCHEMA",
    "ObservabilityReader",
    "list_pipelines",
]

_BRANCHES = (RUNS_BRANCH, LOGS_BRANCH, STATUS_BRANCH)

LOG_ID = "__log_id"
STATUS_ID = "__status_id"
RECORD_ID = "__record_id"
RUN_ID = "__run_id"
NODE_LABEL = "__node_label"
NODE_HASH = "__node_hash"
PACKET_KEY = "__packet_key"
TIMESTAMP = "__timestamp"
ATTEMPT = "__attempt"
STATE = "__state"
SUCCESS = "__success"
STARTED_AT = "__started_at"
ENDED_AT = "__ended_at"
ERROR = "__error"
HEARTBEAT_AT = "__heartbeat_at"

STATES = ("RUNNING", "SUCCESS", "FAILED", "CACHED", "CANCELLED", "LOST")
"""Packet states as the reader gives them, in the order of a packet's life.

``LOST`` is never written: the reader shows it for a packet whose latest
event is ``RUNNING`` in a run that is over (ended, or ``CRASHED``). In a
packet's current state (across runs), its result outranks the attempts that
never finished (``LOST``, ``CANCELLED``) of runs that overlapped the run
that stored it: see :meth:`ObservabilityReader.status`.
"""

RUN_STATES = ("RUNNING", "SUCCESS", "PARTIAL", "FAILED", "INTERRUPTED", "CRASHED")
"""Run states as :meth:`ObservabilityReader.runs` gives them; ``CRASHED`` is never written."""

FINISHED_RUN_STATES = ("SUCCESS", "PARTIAL", "FAILED", "INTERRUPTED")
"""Run states with an end record: the runs :meth:`ObservabilityReader.results` reads by default."""

STALE_AFTER_INTERVALS = 12
"""A run's heartbeat is stale after this many of the intervals its writer promised..."""
STALE_AFTER_AT_LEAST_S = 120.0
"""...and never sooner than this many seconds.

Twelve missed checkpoints is no hiccup, and two minutes cover what delays a
live writer's heartbeat without it being dead: a slow store's flush (the
heartbeat is made durable by the same flush as the rows), a long pause of the
process (swapping, a suspended laptop), and clocks of two hosts that
disagree. Only a reader on another host (or another container or boot) needs
the heartbeat; on the writer's own host, the writer's pid says at once.
"""

DEFAULT_INTERVAL_S = 2.0
"""The interval assumed where a heartbeat names none: the run's default ``flush_interval``."""

_STR = pa.large_string()  # what the observers write

LOG_SCHEMA = LOG_COLUMNS
"""The documented columns of :meth:`ObservabilityReader.logs`; tag columns follow them."""

STATUS_SCHEMA = STATUS_COLUMNS
"""The documented columns of :meth:`ObservabilityReader.status`; tag columns follow them."""

SUMMARY_SCHEMA = pa.schema(
    [
        (NODE_LABEL, _STR),
        (RUN_ID, _STR),
        ("__n_running", pa.int64()),
        ("__n_success", pa.int64()),
        ("__n_failed", pa.int64()),
        ("__n_cached", pa.int64()),
        ("__n_cancelled", pa.int64()),
        ("__n_lost", pa.int64()),
        ("__n_total", pa.int64()),
    ]
)
"""The columns of :meth:`ObservabilityReader.summary`: packets per state, and all of them."""

RUNS_SCHEMA = pa.schema([*RUN_SCHEMA, (HEARTBEAT_AT, UTC_TIME)])
"""The columns of :meth:`ObservabilityReader.runs`: a run record's, then its latest heartbeat."""

_RANK = "__reader_state_rank"
_ROW = "__reader_row"
_RECENT_RUNS_NAMED = 5
_GAVE_RESULT = ("SUCCESS", "CACHED")
"""Latest states of a packet in a run whose result is the packet's row of that run."""
_UNFINISHED = ("LOST", "CANCELLED")
"""States of attempts that did not finish: no word against a result an overlapping run stored."""
_UNSETTLED = ("RUNNING", "CANCELLED")
"""Written latest states that may be attempts a stored result outranks (RUNNING, once LOST)."""
_NEVER_BEFORE = -(2**62)
_NEVER_AFTER = 2**62
"""Microseconds before and after any run's time: a run's start unknown, its end missing."""
_SEPARATOR = "\x1f"
"""Between node label, node hash and packet key in one packet's identity (none holds it)."""
_PROBE = 16
"""Node records tried against every results table to find the one holding their results."""
_SOURCE_RUN_ID = "__source_run_id"
_PATH_NUMBER = "__reader_path_number"
_EXPECTED_RUN = "__reader_expected_run"


def list_pipelines(database: ArrowDatabase) -> list[str]:
    """The names of the pipelines with observability records in ``database``, sorted.

    A pipeline counts when it has any of the ``_runs``, ``_logs`` or
    ``_status`` branches.
    """
    return sorted({path[0] for path in database.list_paths() if _is_observer_branch(path)})


class ObservabilityReader:
    """Runs, packet states and logs of one pipeline, read from the database observers wrote to.

    Every method returns a pyarrow table. Tag columns keep the Arrow types
    they were stored with; when records of several nodes are read together,
    their tag columns are merged (a node without a tag has nulls in it).
    Reads happen at each call, so one reader sees runs made after it was built.

    Args:
        database: the database the observers wrote to (any ArrowDatabase).
        pipeline: the pipeline's name, as given to ``Pipeline(name, ...)``.

    Raises:
        InvalidRecordPathError: ``pipeline`` cannot be a pipeline name.
    """

    def __init__(self, database: ArrowDatabase, pipeline: str) -> None:
        validate_record_path((pipeline,))
        self._database = database
        self._pipeline = pipeline

    def __repr__(self) -> str:
        return f"ObservabilityReader({self._database!r}, pipeline={self._pipeline!r})"

    def _repr_html_(self) -> str:
        """A notebook's view: the runs and the latest run's packet states, bounded."""
        from orcapod.observers._display import reader_html

        return reader_html(self)

    @property
    def pipeline(self) -> str:
        """The name of the pipeline read."""
        return self._pipeline

    @property
    def database(self) -> ArrowDatabase:
        """The database read from."""
        return self._database

    def nodes(self) -> list[str]:
        """Labels of the nodes with log rows or status events, sorted.

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
        """
        layout = self._layout()
        return sorted({path[2] for path in layout.logs + layout.status})

    def runs(self) -> pa.Table:
        """One row per run, newest first (by ``__started_at``), with the columns of RUNS_SCHEMA.

        A run's row is its end record where there is one, else its start
        record (``__ended_at`` null). A run without an end is ``CRASHED``
        (derived here, never written; ``__error`` says why) when its process
        is gone (checked on the host that ran it) or its heartbeat is stale
        (older than ``STALE_AFTER_INTERVALS`` of the interval its writer
        promised, and at least ``STALE_AFTER_AT_LEAST_S``); else ``RUNNING``.
        ``__heartbeat_at`` is the latest heartbeat of a run without an end
        (null for runs that ended, and for runs written before heartbeats,
        whose start then stands for their last sign of life).

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
        """
        return self._runs(self._layout())

    def status(
        self, node: str | None = None, run_id: str | None = None, latest: bool = True
    ) -> pa.Table:
        """Status events: the columns of STATUS_SCHEMA, then the tag columns.

        Args:
            node: only this node (its label).
            run_id: only events of this run.
            latest: keep only the latest event of each packet (per node label
                and ``__packet_key``): its current state, or its state at the
                end of ``run_id``. Latest is by ``__timestamp``, then
                ``__attempt``, then ``RUNNING`` before the terminal states.
                A latest event ``RUNNING`` of a run that is over (ended, or
                ``CRASHED``) is shown ``LOST``. Without ``run_id`` (the
                current state, across runs), a packet's result outranks a
                run that overlapped the one that stored it: an attempt that did not
                finish (``LOST``, ``CANCELLED``) of a run that started
                before a run with a ``SUCCESS`` or ``CACHED`` of the packet
                (same node version, ``__node_hash``) ended, or while that run
                has no end, is passed over, and the packet shows its latest
                other event (the result, unless something later). A run that
                started after the result's run ended, and still computed the
                packet, found no result: its ``LOST`` stands. With
                ``run_id``, that run's own view: a run that lost the packet
                says so. With ``latest=False``, every event as written.

        Returns:
            Rows sorted by node label, then time.

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
            UnknownNodeError: no node of the pipeline has that label.
            UnknownRunError: the pipeline has no run of that id.
            TagTypeConflictError: two nodes read together have a tag of one
                name and two types; read one node at a time.
        """
        layout = self._layout()
        filters = self._filters(layout, node, run_id)
        parts = self._read(layout.status, STATUS_ID, node, filters)
        events = _combine(parts, STATUS_SCHEMA)
        if latest:
            events = self._current(layout, events, across_runs=run_id is None)
        return _sort_chronologically(events)

    def logs(
        self, node: str | None = None, run_id: str | None = None, failed_only: bool = False
    ) -> pa.Table:
        """Log rows, one per executed attempt: the columns of LOG_SCHEMA, then the tag columns.

        Args:
            node: only this node (its label).
            run_id: only attempts of this run.
            failed_only: only attempts that failed (``__success`` false).

        Returns:
            Rows sorted by node label, then time.

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
            UnknownNodeError: no node of the pipeline has that label.
            UnknownRunError: the pipeline has no run of that id.
            TagTypeConflictError: two nodes read together have a tag of one
                name and two types; read one node at a time.
        """
        layout = self._layout()
        filters = self._filters(layout, node, run_id)
        if failed_only:
            filters[SUCCESS] = False
        parts = self._read(layout.logs, LOG_ID, node, filters)
        return _sort_chronologically(_combine(parts, LOG_SCHEMA))

    def iter_batches(
        self,
        table: Literal["logs", "status"],
        node: str | None = None,
        run_id: str | None = None,
        *,
        failed_only: bool = False,
        latest: bool = True,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """The rows of :meth:`logs` or :meth:`status`, as record batches read from the store
        a batch at a time, for tables larger than memory.

        ``table`` names the method; the other arguments are its own. The
        rows are the method's, in the order the store gives them (the methods
        sort; sort batches yourself where order matters). Every batch has one
        schema: the documented columns (LOG_SCHEMA or STATUS_SCHEMA), then the
        tag columns of every node read, merged as the method merges them; a
        node none of whose rows match ``run_id`` (or ``failed_only``) still
        adds its tag columns, null, where the method leaves them out. At most
        ``batch_rows`` rows a batch, none empty; nothing when nothing matches.

        Memory holds about one batch of the store, whatever the number of
        rows: ``logs`` and ``status(latest=False)`` filter each batch as it is
        read. ``status`` with ``latest`` (its default) reads the store twice:
        first the columns that decide a packet's current state (ids, run,
        node, packet key, time, attempt, state) of every event, which it
        keeps, then the chosen events, whole, a batch at a time.

        Raises:
            ValueError: ``table`` is not ``"logs"`` or ``"status"``, or ``batch_rows``
                is not a whole number, 1 or more.
            UnknownPipelineError: as the method raises it, at the call.
            UnknownNodeError: as the method raises it, at the call.
            UnknownRunError: as the method raises it, at the call.
            TagTypeConflictError: as the method raises it, at the call.
        """
        if table not in ("logs", "status"):
            raise ValueError(
                f"iter_batches reads the rows of 'logs' or 'status', got table={table!r}"
            )
        check_batch_rows(batch_rows)
        layout = self._layout()
        filters = self._filters(layout, node, run_id)
        if table == "logs":
            paths, id_column, schema = layout.logs, LOG_ID, LOG_SCHEMA
            if failed_only:
                filters[SUCCESS] = False
        else:
            paths, id_column, schema = layout.status, STATUS_ID, STATUS_SCHEMA
        paths = [path for path in paths if node is None or path[2] == node]
        merged = self._merged_schema(paths, id_column, schema)
        if merged is None:
            return iter(())
        if table == "status" and latest:
            chosen = self._chosen_events(layout, paths, filters, batch_rows, run_id is None)
            return self._batches(paths, id_column, {}, merged, batch_rows, chosen)
        return self._batches(paths, id_column, filters, merged, batch_rows, None)

    def _merged_schema(
        self, paths: Sequence[RecordPath], id_column: str, schema: pa.Schema
    ) -> pa.Schema | None:
        """The schema of the records of ``paths`` read together (as :func:`_combine` merges
        them), from a one-row read of each; None when none holds a record."""
        parts = []
        for path in paths:
            first = next(
                iter_records(self._database, path, batch_rows=1, record_id_column=id_column), None
            )
            if first is not None:
                parts.append((path, pa.Table.from_batches([first]).slice(0, 0)))
        if not parts:
            return None
        return _combine(parts, schema).schema

    def _batches(
        self,
        paths: Sequence[RecordPath],
        id_column: str,
        filters: Mapping[str, Any],
        schema: pa.Schema,
        batch_rows: int,
        chosen: dict[RecordPath, tuple[pa.Array, pa.Array]] | None,
    ) -> Iterator[pa.RecordBatch]:
        """The records of ``paths`` matching ``filters`` (or, given ``chosen``, the events
        chosen per path, with the state judged), in ``schema``, a store batch at a time."""
        for path in paths:
            wanted = None if chosen is None else chosen.get(path)
            if chosen is not None and wanted is None:
                continue
            read = iter_records(
                self._database, path, batch_rows=batch_rows, record_id_column=id_column
            )
            for batch in read:
                rows = pa.Table.from_batches([batch])
                if wanted is not None:
                    at = pc.index_in(rows[id_column], value_set=wanted[0])
                    rows = rows.filter(pc.is_valid(at))
                    at = at.filter(pc.is_valid(at))
                    states = wanted[1].take(at).cast(rows[STATE].type)
                    rows = rows.set_column(rows.schema.get_field_index(STATE), STATE, states)
                for name, value in filters.items():
                    rows = rows.filter(_equal(rows[name], value))
                if rows.num_rows:
                    yield from _conformed(rows, schema).to_batches()

    def _chosen_events(
        self,
        layout: _Layout,
        paths: Sequence[RecordPath],
        filters: Mapping[str, Any],
        batch_rows: int,
        across_runs: bool,
    ) -> dict[RecordPath, tuple[pa.Array, pa.Array]]:
        """Per path, the ids of the events :meth:`status` keeps (the latest of each
        packet) and their states as it shows them, from the deciding columns only."""
        keys = [STATUS_ID, RUN_ID, NODE_LABEL, NODE_HASH, PACKET_KEY, TIMESTAMP, ATTEMPT, STATE]
        parts = []
        for number, path in enumerate(paths):
            pieces = []
            for batch in iter_records(
                self._database, path, batch_rows=batch_rows, record_id_column=STATUS_ID
            ):
                rows = pa.Table.from_batches([batch])
                for name, value in filters.items():
                    rows = rows.filter(_equal(rows[name], value))
                present = [name for name in keys if name in rows.column_names]
                pieces.append(rows.select(present))
            if pieces:
                events = pa.concat_tables(pieces)
                events = events.append_column(_PATH_NUMBER, pa.repeat(number, events.num_rows))
                parts.append((path, events))
        if not parts:
            return {}
        events = _combine(parts, STATUS_SCHEMA).select([*keys, _PATH_NUMBER])
        current = self._current(layout, events, across_runs=across_runs)
        chosen = {}
        for number, path in enumerate(paths):
            mine = current.filter(pc.equal(current[_PATH_NUMBER], number))
            if mine.num_rows:
                chosen[path] = (
                    mine[STATUS_ID].combine_chunks(),
                    mine[STATE].combine_chunks(),
                )
        return chosen

    def summary(self) -> pa.Table:
        """Per node, how many packets ended in each state in the latest run (SUMMARY_SCHEMA).

        One row per node with status events, sorted by label; a node the
        latest run did not reach has zero counts. A packet counts in the
        state of its latest event in that run, as :meth:`status` gives it:
        ``__n_running`` counts packets computing now, ``__n_lost`` those
        left ``RUNNING`` by a run that is over (crashed, or ended). Empty
        when the pipeline has no runs or no status events.

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
        """
        layout = self._layout()
        runs = self._runs(layout)
        if runs.num_rows == 0 or not layout.status:
            return SUMMARY_SCHEMA.empty_table()
        latest_run = runs[RUN_ID][0].as_py()
        parts = self._read(layout.status, STATUS_ID, None, {RUN_ID: latest_run})
        # Only the columns counted: tag columns of different nodes need not agree.
        keys = [RUN_ID, NODE_LABEL, PACKET_KEY, TIMESTAMP, ATTEMPT, STATE]
        events = _latest_events(_combine([(p, t.select(keys)) for p, t in parts], STATUS_SCHEMA))
        events = _lost_in(events, runs)
        labels = sorted({path[2] for path in layout.status})
        return _count_states(events, labels, latest_run)

    def latest_finished_run(self) -> str | None:
        """The id of the newest run that has an end (FINISHED_RUN_STATES); None if none has.

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
        """
        return _latest_finished(self._runs(self._layout()))

    def results(self, node: str, run_id: str | None = None) -> pa.Table:
        """The rows function node ``node`` had in a run, read from the store alone.

        One row per packet whose latest status event in the run is ``SUCCESS``
        or ``CACHED``: its tag columns (their stored Arrow types), then its
        output columns as stored in the function's results table; sorted by
        the tags where they can be. Failed, cancelled and lost packets have no
        row, nor have results of inputs the run did not have. It is what
        ``pipeline.nodes[node].as_table()`` gave right after that run, for a
        reader without the pipeline's code.

        Args:
            node: the label of a function node whose runs a ``StatusObserver`` recorded.
            run_id: the run; by default the newest run with an end (``SUCCESS``,
                ``PARTIAL``, ``FAILED`` or ``INTERRUPTED``; never one still
                running or ``CRASHED``).

        Raises:
            UnknownPipelineError: the database has no records of the pipeline.
            UnknownRunError: the pipeline has no run of that id.
            UnknownNodeError: the pipeline has no stored node of that label.
            ObservabilityError: the rows cannot be told from the store: no
                finished run, an operator node, no status events of the node in
                the run, or node records that match no stored result.
        """
        layout = self._layout()
        runs = self._runs(layout)
        run = self._results_run(runs, run_id)
        ended = bool(
            pc.any(pc.and_(pc.equal(runs[RUN_ID], run), pc.is_valid(runs[ENDED_AT]))).as_py()
        )
        paths = [path for path in layout.status if path[2] == node and len(path) == 4]
        if not paths:
            raise self._no_status_of(node)
        parts = []
        for path in paths:  # one per version of the node; a run has one
            events = self._database.get_records_with_column_value(
                path, {RUN_ID: run}, record_id_column=STATUS_ID
            )
            if events is not None and events.num_rows:
                records_path = (self._pipeline, node, path[3])
                rows = self._results_at(records_path, events, _RunRead(run, ended))
                parts.append((records_path, rows))
        if not parts:
            raise self._not_in_run(layout, node, run)
        if len(parts) == 1:
            return parts[0][1]
        return _combine(parts, pa.schema([]))

    def _results_run(self, runs: pa.Table, run_id: str | None) -> str:
        """``run_id`` checked, or the newest finished run."""
        if run_id is not None:
            if not pc.any(pc.equal(runs[RUN_ID], run_id)).as_py():
                raise UnknownRunError(self._unknown_run_message(run_id, runs))
            return run_id
        latest = _latest_finished(runs)
        if latest is None:
            recent = [
                f"{row[RUN_ID]} ({row[STATE]})" for row in runs.to_pylist()[:_RECENT_RUNS_NAMED]
            ]
            raise ObservabilityError(
                f"pipeline {self._pipeline!r} has no finished run (one with an end: "
                f"{', '.join(FINISHED_RUN_STATES)}) to read results of; its runs: "
                f"{', '.join(recent) or 'none'}; name one with run_id= (--run)"
            )
        return latest

    def _results_at(self, path: RecordPath, events: pa.Table, run: _RunRead) -> pa.Table:
        """The rows of one version of a node (records at ``path``) for ``events`` of ``run``."""
        latest = _latest_events(events)
        done = latest.filter(pc.is_in(latest[STATE], value_set=pa.array(_GAVE_RESULT, _STR)))
        records = self._database.get_all_records(path)
        if records is None:
            if done.num_rows:
                raise ObservabilityError(run.missing(path, done.num_rows))
            return done.select(_tag_columns(done))  # no row: the tags' types are all there is
        for column in (PROVENANCE, INPUT_HASH, OUTPUT_HASH):
            if column not in records.column_names:
                raise ObservabilityError(
                    f"the node records at {path!r} have no {column!r} column: they were not "
                    "written by orcapod's function node; results cannot read them"
                )
        expected = _expected_runs(done, run.run_id)
        keys = _provenance_keys(records[PROVENANCE])
        wanted = pc.is_in(keys, value_set=expected[PACKET_KEY])
        candidates = records.filter(wanted).append_column(PACKET_KEY, keys.filter(wanted))
        candidates = _with_expected_run(candidates, expected)
        results_path = self._results_table(path, candidates if candidates.num_rows else records)
        stored = None
        if candidates.num_rows:
            stored = self._database.get_records_by_ids(
                results_path,
                pc.unique(candidates[INPUT_HASH]).to_pylist(),
                record_id_column=INPUT_HASH,
            )
        if stored is None or stored.num_rows == 0:
            if done.num_rows:
                raise ObservabilityError(run.missing(path, done.num_rows))
            # No packet gave a result: no row, with the columns of a result of another run.
            candidates = records.slice(0, 0).append_column(_EXPECTED_RUN, pa.array([], _STR))
            stored = self._database.get_records_by_ids(
                results_path,
                records[INPUT_HASH].slice(0, 1).to_pylist(),
                record_id_column=INPUT_HASH,
            )
            if stored is None:
                return records.select(_tag_columns(records)).slice(0, 0)
            rows, taken = candidates, stored.slice(0, 0)
        else:
            rows, taken = _match(candidates, stored, expected, path, run)
        tags = _tag_columns(records)
        outputs = _tag_columns(stored)
        table = pa.Table.from_arrays(
            [*(rows[name] for name in tags), *(taken[name] for name in outputs)],
            names=[*tags, *outputs],
        )
        return _sorted_by(table, tags)

    def _results_table(self, path: RecordPath, records: pa.Table) -> RecordPath:
        """The results table holding the results the node records at ``path`` name.

        A few records' (input hash, output hash) pairs are looked up in every
        table under ``("_results",)``, one vectorised read each; the table
        holding most of them wins (then the one whose results were computed in
        the runs the status events name: another version of the function may
        have stored the same outputs for the same inputs).
        """
        sample = records.slice(0, _PROBE)
        inputs = sample[INPUT_HASH].cast(_STR)
        outputs = sample[OUTPUT_HASH].cast(_STR)
        runs = sample[_EXPECTED_RUN] if _EXPECTED_RUN in sample.column_names else None
        best: tuple[int, int, RecordPath] | None = None
        for candidate in sorted(self._database.list_paths((RESULTS_BRANCH,))):
            if len(candidate) != 3:
                continue
            found = self._database.get_records_by_ids(
                candidate, pc.unique(inputs).to_pylist(), record_id_column=INPUT_HASH
            )
            if found is None or found.num_rows == 0 or OUTPUT_HASH not in found.column_names:
                continue
            at = pc.index_in(inputs, value_set=found[INPUT_HASH].cast(_STR))
            same = pc.fill_null(pc.equal(found[OUTPUT_HASH].cast(_STR).take(at), outputs), False)
            score = pc.sum(same.cast(pa.int64())).as_py() or 0
            agree = 0
            if runs is not None and RESULT_RUN_ID in found.column_names:
                ran = pc.equal(found[RESULT_RUN_ID].cast(_STR).take(at), runs.cast(_STR))
                agree = (
                    pc.sum(pc.and_(same, pc.fill_null(ran, False)).cast(pa.int64())).as_py() or 0
                )
            if score and (best is None or (score, agree) > best[:2]):
                best = (score, agree, candidate)
        if best is None:
            raise ObservabilityError(
                f"no results table under {(RESULTS_BRANCH,)!r} holds the results the node records "
                f"at {path!r} name (by input and output hash): the results were deleted or moved; "
                "run the pipeline again to compute them"
            )
        return best[2]

    def _no_status_of(self, node: str) -> ObservabilityError:
        """Why ``node`` has no status events: unknown, an operator, or never observed."""
        pipeline = self._pipeline
        stored = sorted(
            {
                path[1]
                for path in self._database.list_paths((pipeline,))
                if len(path) == 3 and not path[1].startswith("_")
            }
        )
        if node not in stored:
            return UnknownNodeError(
                f"pipeline {pipeline!r} has no stored node {node!r}; nodes with stored records: "
                f"{_listing(stored)} (a source's rows are not stored: read them with its code)"
            )
        paths = [path for path in self._database.list_paths((pipeline, node)) if len(path) == 3]
        records = self._database.get_all_records(paths[0])
        if records is not None and INPUT_HASH not in records.column_names:
            return ObservabilityError(
                f"node {node!r} of pipeline {pipeline!r} is an operator: its rows are stored "
                "as computed, with no record of the run that gave them, so the store cannot "
                f"tell one run's rows; with the pipeline's code, pipeline.nodes[{node!r}]"
                ".as_table() computes them from its inputs' stored results"
            )
        return ObservabilityError(
            f"node {node!r} of pipeline {pipeline!r} has no status events: no run of it was "
            "observed by a StatusObserver, so which of its stored results a run gave cannot be "
            "told from the store; run the pipeline with a StatusObserver (e.g. "
            "CompositeObserver(LoggingObserver(db), StatusObserver(db))), or, with the "
            f"pipeline's code, read pipeline.nodes[{node!r}].as_table()"
        )

    def _not_in_run(self, layout: _Layout, node: str, run: str) -> ObservabilityError:
        """Why run ``run`` has no status events of ``node``."""
        observed = any(
            (table := self._database.get_records_with_column_value(path, {RUN_ID: run})) is not None
            and table.num_rows
            for path in layout.status
        )
        why = (
            "it did not reach the node, or the node had no input packets"
            if observed
            else "it ran without a StatusObserver"
        )
        return ObservabilityError(
            f"run {run!r} of pipeline {self._pipeline!r} recorded no status events of node "
            f"{node!r} ({why}), so its rows cannot be told from the store; name a run that "
            f"did (run_id=, --run; runs() lists them), or, with the pipeline's code, read "
            f"pipeline.nodes[{node!r}].as_table()"
        )

    def _layout(self) -> _Layout:
        """Where the pipeline's records are, listed once for one query."""
        database, pipeline = self._database, self._pipeline
        layout = _Layout(
            has_runs=bool(database.list_paths((pipeline, RUNS_BRANCH))),
            has_heartbeats=bool(database.list_paths((pipeline, HEARTBEATS_BRANCH))),
            logs=_node_paths(database.list_paths((pipeline, LOGS_BRANCH))),
            status=_node_paths(database.list_paths((pipeline, STATUS_BRANCH))),
        )
        if not (layout.has_runs or layout.logs or layout.status):
            raise UnknownPipelineError(_unknown_pipeline_message(database, pipeline))
        return layout

    def _runs(self, layout: _Layout) -> pa.Table:
        if not layout.has_runs:
            return RUNS_SCHEMA.empty_table()
        records = self._database.get_all_records(
            (self._pipeline, RUNS_BRANCH), record_id_column=RECORD_ID
        )
        if records is None:
            return RUNS_SCHEMA.empty_table()
        return self._judged(layout, _one_row_per_run(records))

    def _judged(self, layout: _Layout, runs: pa.Table) -> pa.Table:
        """``runs`` with ``__heartbeat_at``, and ``CRASHED`` (and why) for runs found dead."""
        rows = runs.to_pylist()
        now = datetime.now(UTC)
        for row in rows:
            row[HEARTBEAT_AT] = None
            if row[ENDED_AT] is not None or row[STATE] != "RUNNING":
                continue
            beat = self._latest_heartbeat(layout, row[RUN_ID])
            row[STATE], reason = _judge(row, beat, now)
            row[ERROR] = row[ERROR] or reason
            row[HEARTBEAT_AT] = None if beat is None else beat[TIMESTAMP]
        if not rows:
            return RUNS_SCHEMA.empty_table()
        schema = pa.schema([*runs.schema, RUNS_SCHEMA.field(HEARTBEAT_AT)])
        return pa.Table.from_pylist(rows, schema=schema)

    def _latest_heartbeat(self, layout: _Layout, run_id: str) -> dict[str, Any] | None:
        """The latest heartbeat of a run, as a dict of HEARTBEAT_SCHEMA's columns; None if none."""
        if not layout.has_heartbeats:
            return None
        beats = self._database.get_records_with_column_value(
            (self._pipeline, HEARTBEATS_BRANCH), {RUN_ID: run_id}
        )
        if beats is None or beats.num_rows == 0:
            return None
        newest = pc.index(beats[TIMESTAMP], pc.max(beats[TIMESTAMP])).as_py()
        latest: dict[str, Any] = beats.slice(newest, 1).to_pylist()[0]
        return latest

    def _current(self, layout: _Layout, events: pa.Table, *, across_runs: bool) -> pa.Table:
        """The latest event of each packet, ``LOST`` where its run is over.

        ``across_runs``: the events of every run, so a packet's result (a
        ``SUCCESS`` or ``CACHED`` of its node version) outranks its later
        attempts that did not finish (``LOST``, ``CANCELLED``) in runs that
        started before the result's run ended (see :func:`_superseded`).
        """
        latest = _latest_events(events)
        unsettled = pa.array(_UNSETTLED, latest[STATE].type) if latest.num_rows else None
        if (
            not across_runs
            or unsettled is None
            or not pc.any(pc.is_in(latest[STATE], unsettled)).as_py()
        ):
            return self._with_lost(layout, latest)
        # Some packet's latest event is RUNNING or CANCELLED: judge every RUNNING (an
        # earlier one may come out on top), pass over unfinished attempts a result
        # outranks, and take the latest again; vectorised, whatever the number of packets.
        runs = self._runs(layout)
        judged = _lost_in(events, runs)
        superseded = _superseded(judged, runs)
        if not pc.any(superseded).as_py():
            return _lost_in(latest, runs)  # as judging first would give: LOST ranks as RUNNING
        return _latest_events(judged.filter(pc.invert(superseded)))

    def _with_lost(self, layout: _Layout, events: pa.Table) -> pa.Table:
        """``events`` with ``LOST`` for each ``RUNNING`` one of a run that is over."""
        if events.num_rows == 0 or not pc.any(pc.equal(events[STATE], "RUNNING")).as_py():
            return events  # nothing to judge: the runs need not be read
        return _lost_in(events, self._runs(layout))

    def _filters(self, layout: _Layout, node: str | None, run_id: str | None) -> dict[str, Any]:
        """Check ``node`` and ``run_id`` name something, and turn them into column filters."""
        if node is not None:
            labels = {path[2] for path in layout.logs + layout.status}
            if node not in labels:
                raise UnknownNodeError(
                    f"pipeline {self._pipeline!r} has no records of a node {node!r}; "
                    f"nodes with records: {_listing(sorted(labels))}"
                )
        filters: dict[str, Any] = {}
        if run_id is not None:
            runs = self._runs(layout)
            if not pc.any(pc.equal(runs[RUN_ID], run_id)).as_py():
                raise UnknownRunError(self._unknown_run_message(run_id, runs))
            filters[RUN_ID] = run_id
        return filters

    def _unknown_run_message(self, run_id: str, runs: pa.Table) -> str:
        recent = runs[RUN_ID].to_pylist()[:_RECENT_RUNS_NAMED]
        if not recent:
            return f"pipeline {self._pipeline!r} has no run {run_id!r}: it has no run records"
        more = " (runs() lists them all)" if runs.num_rows > len(recent) else ""
        return (
            f"pipeline {self._pipeline!r} has no run {run_id!r}; "
            f"its most recent runs: {_listing(recent)}{more}"
        )

    def _read(
        self,
        paths: Sequence[RecordPath],
        id_column: str,
        node: str | None,
        filters: Mapping[str, Any],
    ) -> list[tuple[RecordPath, pa.Table]]:
        """The records at ``paths`` (of ``node`` only, if given) matching ``filters``."""
        database = self._database
        parts = []
        for path in paths:
            if node is not None and path[2] != node:
                continue
            if filters:
                table = database.get_records_with_column_value(
                    path, filters, record_id_column=id_column
                )
            else:
                table = database.get_all_records(path, record_id_column=id_column)
            if table is not None and table.num_rows:
                parts.append((path, table))
        return parts


@dataclass(frozen=True, slots=True)
class _Layout:
    """The paths of one pipeline's observer branches."""

    has_runs: bool
    has_heartbeats: bool
    logs: list[RecordPath]
    status: list[RecordPath]


def _is_observer_branch(path: RecordPath) -> bool:
    return len(path) >= 2 and path[1] in _BRANCHES


def _node_paths(paths: Iterable[RecordPath]) -> list[RecordPath]:
    """Paths ``(P, branch, label, ...)``; anything shorter is not a node's."""
    return [path for path in paths if len(path) >= 3]


def _listing(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names) if names else "none"


def _unknown_pipeline_message(database: ArrowDatabase, pipeline: str) -> str:
    known = list_pipelines(database)
    found = (
        f"pipelines with records: {_listing(known)}"
        if known
        else "no pipeline has records there yet; run one with a LoggingObserver or StatusObserver"
    )
    return f"the database has no observability records of a pipeline {pipeline!r}; {found}"


def _one_row_per_run(records: pa.Table) -> pa.Table:
    """The end record of each run where there is one, else its start; newest run first."""
    is_end = pc.fill_null(pc.ends_with(records[RECORD_ID], ":end"), False)
    ends = records.filter(is_end)
    ended = pc.is_in(records[RUN_ID], value_set=ends[RUN_ID].combine_chunks())
    starts = records.filter(pc.invert(pc.or_(is_end, pc.fill_null(ended, False))))
    runs = pa.concat_tables([ends, starts]).drop_columns([RECORD_ID])
    runs = runs.sort_by([(STARTED_AT, "descending"), (RUN_ID, "descending")])
    return _documented_first(runs, RUN_SCHEMA)


def _judge(
    run: Mapping[str, Any],
    beat: Mapping[str, Any] | None,
    now: datetime,
    stale_after_s: float | None = None,
) -> tuple[str, str | None]:
    """``RUNNING`` or ``CRASHED`` (and why) for a run without an end record.

    Args:
        run: the run's start record.
        beat: its latest heartbeat, if it has any.
        now: the time of the reading.
        stale_after_s: seconds of silence after which the heartbeat is stale;
            by default ``STALE_AFTER_INTERVALS`` of the writer's interval, at
            least ``STALE_AFTER_AT_LEAST_S``.
    """
    source = beat if beat is not None else run
    host, pid = source["__host"], source["__pid"]
    process = (
        None if host is None or pid is None else Process(host, pid, source.get("__process_key"))
    )
    alive = Liveness.UNKNOWN if process is None else liveness(process)
    if alive is Liveness.GONE:
        return "CRASHED", f"process {pid} on {host} is gone"
    if alive is Liveness.ALIVE or (alive is Liveness.EXISTS and beat is None):
        return "RUNNING", None
    last: datetime | None = run[STARTED_AT] if beat is None else beat[TIMESTAMP]
    if last is None:  # nothing says when it last lived: nothing says it died
        return "RUNNING", None
    interval = (beat or {}).get("__interval_s") or DEFAULT_INTERVAL_S
    allowed = (
        max(STALE_AFTER_INTERVALS * interval, STALE_AFTER_AT_LEAST_S)
        if stale_after_s is None
        else stale_after_s
    )
    silent = now - last
    if silent <= timedelta(seconds=allowed):
        return "RUNNING", None
    since = "since" if beat is not None else "since its start at"
    return "CRASHED", (
        f"no heartbeat {since} {last:%Y-%m-%d %H:%M:%S} UTC "
        f"({_duration(silent)} ago, stale after {allowed:.0f}s)"
    )


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _lost_in(events: pa.Table, runs: pa.Table) -> pa.Table:
    """``events`` with ``LOST`` for each ``RUNNING`` one whose run (in ``runs``) is over."""
    if events.num_rows == 0:
        return events
    over = runs.filter(pc.not_equal(runs[STATE], "RUNNING"))[RUN_ID].combine_chunks()
    states = events[STATE]
    lost = pc.and_(
        pc.fill_null(pc.equal(states, "RUNNING"), False),
        pc.fill_null(pc.is_in(events[RUN_ID], value_set=over.cast(events[RUN_ID].type)), False),
    )
    marked = pc.if_else(lost, pa.scalar("LOST", states.type), states)
    return events.set_column(events.schema.get_field_index(STATE), STATE, marked)


def _equal(column: pa.ChunkedArray, value: Any) -> pa.ChunkedArray:
    """Where ``column`` equals ``value`` (as a store's match by value: null never equals)."""
    return pc.fill_null(pc.equal(column, pa.scalar(value, column.type)), False)


def _conformed(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` in ``schema``: its columns in its order and types, null where ``rows``
    lacks one (a node without that tag, a table of an earlier layout)."""
    columns = []
    for field in schema:
        if field.name in rows.column_names:
            column = rows[field.name]
            columns.append(column if column.type == field.type else column.cast(field.type))
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _combine(parts: Sequence[tuple[RecordPath, pa.Table]], schema: pa.Schema) -> pa.Table:
    """One table of the records of several nodes: documented columns first, then tags."""
    if not parts:
        return schema.empty_table()
    try:
        combined = pa.concat_tables([table for _, table in parts], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as error:
        raise TagTypeConflictError(_conflict_message(parts, error)) from error
    return _documented_first(combined, schema)


def _conflict_message(parts: Sequence[tuple[RecordPath, pa.Table]], error: Exception) -> str:
    """Name a column stored with two types, and a node of each type."""
    seen: dict[str, tuple[pa.DataType, str]] = {}
    for path, table in parts:
        for field in table.schema:
            first = seen.setdefault(field.name, (field.type, path[2]))
            if first[0] != field.type:
                return (
                    f"column {field.name!r} is {first[0]} in node {first[1]!r} and "
                    f"{field.type} in node {path[2]!r}, so their records cannot share one "
                    "table; read one node at a time (node=...)"
                )
    return f"records of several nodes cannot share one table ({error}); read one node at a time"


def _documented_first(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``schema``'s columns first (null where a table of an earlier layout lacks them),
    then the others (tags)."""
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    others = [name for name in table.column_names if name not in schema.names]
    return table.select(schema.names + others)


def _state_rank(states: pa.ChunkedArray) -> pa.ChunkedArray:
    """0 for RUNNING (and LOST, a RUNNING judged), 1 for the terminal states: at one instant,
    the terminal event is later."""
    started = pc.is_in(states, value_set=pa.array(["RUNNING", "LOST"], states.type))
    return pc.if_else(pc.fill_null(started, False), 0, 1)


def _superseded(events: pa.Table, runs: pa.Table) -> pa.Array | pa.ChunkedArray:
    """Per event: an attempt a result outranks in a packet's current state.

    That is an attempt that did not finish (``LOST``, ``CANCELLED``) in a run
    that started before a run with a result of the packet (``SUCCESS``,
    ``CACHED``, same node version) ended, or while that run has no end. Such
    a run could miss the result (a node looks its batch up before computing
    it, and a result is durable at a checkpoint of its run, at the latest its
    end): it says nothing against it. A run that started after the result's
    run ended found no result if it computed the packet (the result was
    deleted, or the store altered; a node computes a stored result only then),
    so its loss stands.
    """
    states = events[STATE]
    unfinished = pc.fill_null(pc.is_in(states, value_set=pa.array(_UNFINISHED, states.type)), False)
    if not pc.any(unfinished).as_py():
        return unfinished
    gave = pc.fill_null(pc.is_in(states, value_set=pa.array(_GAVE_RESULT, states.type)), False)
    packets = _packet_identities(events)
    # A run's times in microseconds; an unknown start is long ago, a missing end never.
    started = _run_times(events[RUN_ID], runs, STARTED_AT, _NEVER_BEFORE)
    ended = _run_times(events[RUN_ID], runs, ENDED_AT, _NEVER_AFTER)
    results = (
        pa.table({PACKET_KEY: packets.filter(gave), ENDED_AT: ended.filter(gave)})
        .group_by(PACKET_KEY)
        .aggregate([(ENDED_AT, "max")])
    )
    at = pc.index_in(packets, value_set=results[PACKET_KEY].combine_chunks())
    result_open_until = results[f"{ENDED_AT}_max"].take(at)  # null: the packet has no result
    outranked = pc.fill_null(pc.greater(result_open_until, started), False)
    return pc.and_(unfinished, outranked)


def _run_times(
    run_ids: pa.ChunkedArray, runs: pa.Table, column: str, missing: int
) -> pa.ChunkedArray:
    """Each event's run's ``column`` (a UTC time) in microseconds; ``missing`` where none."""
    at = pc.index_in(run_ids.cast(_STR), value_set=runs[RUN_ID].cast(_STR).combine_chunks())
    micros = runs[column].cast(UTC_TIME).cast(pa.int64()).take(at)
    return pc.fill_null(micros, pa.scalar(missing, pa.int64()))


def _packet_identities(events: pa.Table) -> pa.ChunkedArray:
    """Each event's packet as one string: node label, node hash, packet key."""
    parts = []
    for name in (NODE_LABEL, NODE_HASH, PACKET_KEY):
        column = events[name] if name in events.column_names else pa.nulls(events.num_rows)
        parts.append(pc.fill_null(column.cast(_STR), pa.scalar("", _STR)))
    return pc.binary_join_element_wise(*parts, pa.scalar(_SEPARATOR, _STR))


def _latest_events(events: pa.Table) -> pa.Table:
    """The latest event of each (node label, packet key)."""
    if events.num_rows == 0:
        return events
    ranked = events.append_column(_RANK, _state_rank(events[STATE]))
    order = pc.sort_indices(
        ranked,
        sort_keys=[
            (NODE_LABEL, "ascending"),
            (PACKET_KEY, "ascending"),
            (TIMESTAMP, "ascending"),
            (ATTEMPT, "ascending"),
            (_RANK, "ascending"),
        ],
    )
    keyed = pa.table(
        {
            NODE_LABEL: ranked[NODE_LABEL].take(order),
            PACKET_KEY: ranked[PACKET_KEY].take(order),
            _ROW: order,
        }
    )
    # Ordered aggregation ("last") needs a single thread; the table is small.
    last = keyed.group_by([NODE_LABEL, PACKET_KEY], use_threads=False).aggregate([(_ROW, "last")])
    return events.take(last[f"{_ROW}_last"])


def _sort_chronologically(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    keys = [(NODE_LABEL, "ascending"), (TIMESTAMP, "ascending")]
    if ATTEMPT in table.column_names:
        keys.append((ATTEMPT, "ascending"))
    if STATE in table.column_names:
        ranked = table.append_column(_RANK, _state_rank(table[STATE]))
        return ranked.sort_by([*keys, (_RANK, "ascending")]).drop_columns([_RANK])
    return table.sort_by(keys)


def _count_states(events: pa.Table, labels: list[str], run_id: str) -> pa.Table:
    """Packets per state and node, with a row (of zeros, maybe) for every label."""
    nodes = pa.table({NODE_LABEL: pa.array(labels, _STR)})
    counts = (
        events.select([NODE_LABEL, STATE])
        .cast(pa.schema([(NODE_LABEL, _STR), (STATE, _STR)]))
        .group_by([NODE_LABEL, STATE])
        .aggregate([([], "count_all")])
    )
    columns: dict[str, Any] = {NODE_LABEL: nodes[NODE_LABEL]}
    for state in STATES:
        per_node = counts.filter(pc.equal(counts[STATE], state)).select([NODE_LABEL, "count_all"])
        joined = nodes.join(per_node, NODE_LABEL, join_type="left outer").sort_by(NODE_LABEL)
        columns[f"__n_{state.lower()}"] = pc.fill_null(joined["count_all"], 0)
    totals = counts.group_by(NODE_LABEL).aggregate([("count_all", "sum")])
    joined = nodes.join(totals, NODE_LABEL, join_type="left outer").sort_by(NODE_LABEL)
    columns["__n_total"] = pc.fill_null(joined["count_all_sum"], 0)
    columns[RUN_ID] = pa.array([run_id] * len(labels), _STR)
    return pa.table(columns).select(SUMMARY_SCHEMA.names).cast(SUMMARY_SCHEMA)


# -- results of a run ------------------------------------------------------------------


def _latest_finished(runs: pa.Table) -> str | None:
    """The newest run (``runs`` is newest first) with an end record."""
    finished = runs.filter(
        pc.and_(
            pc.fill_null(pc.is_in(runs[STATE], value_set=pa.array(FINISHED_RUN_STATES)), False),
            pc.is_valid(runs[ENDED_AT]),
        )
    )
    return None if finished.num_rows == 0 else str(finished[RUN_ID][0].as_py())


def _tag_columns(table: pa.Table) -> list[str]:
    return [name for name in table.column_names if not name.startswith("__")]


def _provenance_keys(provenance: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each node record's provenance joined by ``;``: a status event's ``__packet_key``."""
    # Arrow joins strings of ``list`` but not of ``large_list`` arrays.
    references = provenance.cast(pa.list_(pa.large_string()))
    return pc.binary_join(references, pa.scalar(";", pa.large_string()))


def _expected_runs(done: pa.Table, run: str) -> pa.Table:
    """Per packet key, the run its result was computed in: ``run``, or a ``CACHED``
    event's ``__source_run_id``."""
    cached = pc.fill_null(pc.equal(done[STATE], "CACHED"), False)
    sources = done[_SOURCE_RUN_ID].cast(_STR) if _SOURCE_RUN_ID in done.column_names else None
    if sources is None:
        sources = pa.nulls(done.num_rows, _STR)
    expected = pc.if_else(cached, sources, pa.scalar(run, _STR))
    return pa.table({PACKET_KEY: done[PACKET_KEY].cast(_STR), _EXPECTED_RUN: expected})


def _with_expected_run(candidates: pa.Table, expected: pa.Table) -> pa.Table:
    at = pc.index_in(candidates[PACKET_KEY], value_set=expected[PACKET_KEY].combine_chunks())
    return candidates.append_column(_EXPECTED_RUN, expected[_EXPECTED_RUN].take(at))


def _match(
    candidates: pa.Table, stored: pa.Table, expected: pa.Table, path: RecordPath, run: _RunRead
) -> tuple[pa.Table, pa.Table]:
    """The one node record of each packet key, and its stored result, aligned.

    A record counts when its result is stored with the output hash it names.
    A key recorded with several inputs (a source whose id is fixed, edited
    between runs) keeps the record whose result was computed in the run the
    status event names.

    Raises:
        ObservabilityError: a packet has no such record, or several.
    """
    at = pc.index_in(candidates[INPUT_HASH].cast(_STR), value_set=stored[INPUT_HASH].cast(_STR))
    taken = stored.take(at)
    same = pc.fill_null(
        pc.equal(taken[OUTPUT_HASH].cast(_STR), candidates[OUTPUT_HASH].cast(_STR)), False
    )
    ran_in = taken[RESULT_RUN_ID].cast(_STR) if RESULT_RUN_ID in taken.column_names else None
    if ran_in is None:
        ran_in = pa.nulls(candidates.num_rows, _STR)
    wanted_run = candidates[_EXPECTED_RUN]
    ran = pc.or_(
        pc.fill_null(pc.equal(ran_in, wanted_run), False),
        pc.and_(pc.is_null(ran_in), pc.is_null(wanted_run)),
    )
    keys = candidates[PACKET_KEY]
    counts = pc.value_counts(keys.filter(same))
    per_key = counts.field("counts").take(pc.index_in(keys, value_set=counts.field("values")))
    keep = pc.and_(same, pc.or_(pc.equal(pc.fill_null(per_key, 0), 1), ran))
    rows, taken = candidates.filter(keep), taken.filter(keep)
    kept = rows[PACKET_KEY]
    if pc.count_distinct(kept).as_py() != rows.num_rows:
        duplicated = pc.value_counts(kept).filter(
            pc.greater(pc.value_counts(kept).field("counts"), 1)
        )
        raise ObservabilityError(
            f"packet {duplicated.field('values')[0].as_py()!r} of run {run.run_id!r} has "
            f"several node records at {path!r} with stored results, and none tells which the "
            "run gave; "
            "read the node with the pipeline's code (pipeline.nodes[...].as_table())"
        )
    missing = expected.num_rows - rows.num_rows
    if missing:
        raise ObservabilityError(run.missing(path, missing))
    return rows, taken


@dataclass(frozen=True, slots=True)
class _RunRead:
    """The run whose results are read, and whether it has an end record."""

    run_id: str
    ended: bool

    def missing(self, path: RecordPath, count: int) -> str:
        """Why ``count`` packets that gave a result have no row to show."""
        found = (
            f"{count} packet(s) of run {self.run_id!r} ended SUCCESS or CACHED, but the node "
            f"records at {path!r} name no stored result for them"
        )
        if not self.ended:
            return (
                f"{found}: the run has no end (it crashed, or is running); a run records a "
                "node's rows with the results it stores, but one of an earlier orcapod recorded "
                "them at the end of each batch, so its rows cannot be told; read a finished "
                "run (the default), or run the pipeline again: what this run computed is stored "
                "and will be reused"
            )
        return (
            f"{found}: the store was altered or damaged; `orcapod verify URI` checks the "
            "stored results, and running the pipeline again records them again"
        )


def _sorted_by(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``table`` sorted by ``columns``, or as it is where their types cannot be sorted."""
    if not columns or table.num_rows < 2:
        return table
    try:
        return table.sort_by([(name, "ascending") for name in columns])
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid):
        return table
