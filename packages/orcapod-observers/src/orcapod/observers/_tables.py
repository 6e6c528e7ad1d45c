"""What the logging and status observers share: buffered tables, run records, node contexts.

The layout of every table is pinned in docs/observability.md.
"""

from __future__ import annotations

import itertools
import platform
import threading
import time
import weakref
from functools import partial
from importlib import metadata
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.observers._discard import DISCARD
from orcapod.observers._layout import (
    HEARTBEAT_SCHEMA,
    HEARTBEATS_BRANCH,
    RUN_SCHEMA,
    RUNS_BRANCH,
)
from orcapod.observers._liveness import Process, this_process
from orcapod.protocols.database import add_new_records, flush_paths

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.values import RecordPath, RunInfo, RunOutcome

__all__ = [
    "QuietHooks",
    "NodeContext",
    "PacketLogger",
    "QuietPacketLogger",
    "TableObserver",
    "add_heartbeat",
    "heartbeat_interval",
    "tag_values",
    "packet_key",
    "write_run_end",
    "write_run_start",
]

PROVENANCE = "__provenance"


def branch(pipeline_path: Sequence[str], name: str) -> RecordPath:
    """``(P, label, hash)`` → ``(P, name, label, hash)``: a node's path under a branch."""
    return (pipeline_path[0], name, *pipeline_path[1:])


def packet_key(tag: Tag) -> str:
    """What identifies a packet within a node: its provenance (else its tags' content hash)."""
    provenance = tag.system_tags().get(PROVENANCE)
    if provenance:
        return ";".join(provenance)
    return tag.content_hash()


_last_tag: tuple[Any, str, dict[str, Any]] = (None, "", {})


def tag_values(tag: Tag) -> tuple[str, dict[str, Any]]:
    """A packet's key and tag values, read once for the several rows made of one tag.

    The hooks of one packet (its start, its logger, its end, in every observer of
    a composite) receive the same Tag object one after another, so the last one
    read is kept, process-wide. (Replacing the tuple is atomic; a thread that
    finds another tag there simply reads its own.)
    """
    global _last_tag
    last = _last_tag
    if last[0] is tag:
        return last[1], last[2]
    key, values = packet_key(tag), tag.as_dict()
    _last_tag = (tag, key, values)
    return key, values


CONSTANT_COLUMNS = ("__run_id", "__node_label", "__node_hash")
"""Columns of a node's rows that hold one value per run: written once per flush."""


_NOTHING = pa.scalar("", pa.large_string())

CHUNK_ROWS = 1024
"""Rows a sink holds as Python values before it turns them into one Arrow table."""

_OFFSETS = pa.array(range(4 * CHUNK_ROWS), pa.int64())
"""0, 1, 2, ...: a chunk's running numbers are these plus its first."""


_NO_TABLE: tuple[pa.Table | None, bool] = (None, False)
_NO_REF: tuple[Any, tuple[Any, int]] = (None, (None, -1))


class Sink:
    """Rows bound for one node's table in one run, held until the run's next checkpoint.

    A row is a few values held one after another in one flat list,
    :attr:`values`: those of the varying columns that differ from row to row
    (a time, a state), then one tuple of the rest of them (the row's *tail*:
    what it printed, its attempt...), then the two values :meth:`ref` keeps
    of the row's Tag. An appender adds a row's values with one
    ``values += (...)``: atomic, and no object per row is left for the
    garbage collector to track (a held tuple per row made a young-generation
    collection every few hundred packets). Most rows of a run share one tail
    object (nothing printed, first attempt), so a chunk whose rows share one
    tail turns it into repeated Arrow values with no per-row work. Every
    ``CHUNK_ROWS`` rows are turned into one Arrow table (the id column, the
    run id and a running number; the constant columns, ``CONSTANT_COLUMNS``;
    the tag columns), so that a checkpoint's thousands of rows are not
    thousands of Python objects. The database sees them only at the flush.

    Args:
        database: where the rows go.
        path: the table's path.
        fixed: the observer's own columns: the id column, ``CONSTANT_COLUMNS``,
            the varying columns in the order of each row's values (its tail's
            after its own), ``__packet_key`` last.
        tags: the tag columns, in their own Arrow types.
        constants: the value of each of ``CONSTANT_COLUMNS``.
        lock: held while rows are converted and written (the observer's own).
        tail: how many of the varying columns, the last ones, each row holds in its tail.
    """

    def __init__(
        self,
        database: ArrowDatabase,
        path: RecordPath,
        fixed: pa.Schema,
        tags: pa.Schema,
        constants: Sequence[Any],
        lock: threading.RLock | None = None,
        tail: int = 0,
    ) -> None:
        assert tuple(fixed.names[1:4]) == CONSTANT_COLUMNS
        self.lock = threading.RLock() if lock is None else lock
        self.database = database
        self.path = path
        own_tags = [field for field in tags if field.name not in fixed.names]
        self.schema = pa.schema([*fixed, *own_tags])
        self.tag_names = [field.name for field in own_tags]
        self.constants = list(constants)
        # each row's own values, its tail, then ref(tag)'s two, one row after another
        self.values: list[Any] = []
        self.chunks: list[pa.Table] = []  # rows turned into Arrow, not written yet
        self.numbered = 0  # rows given an id so far: the running number of the next id
        self.new_ids = False  # whether the ids are new by construction (they hold a run id)
        self._paths = [_holds_paths(field.type, field) for field in self.schema]
        varying = len(fixed) - 1 - len(CONSTANT_COLUMNS) - 1  # no id, constants, packet key
        fields = list(fixed)[1 + len(CONSTANT_COLUMNS) :][:varying]
        self._own = fields[: varying - tail]
        self.stride = len(self._own) + 3  # values per row
        self.full = CHUNK_ROWS * self.stride  # values held when a chunk is due
        self._own_paths = [_holds_paths(field.type, field) for field in self._own]
        self._tail = fields[varying - tail :]
        self._tail_paths = [_holds_paths(field.type, field) for field in self._tail]
        # the arrays of the last tail that a whole chunk shared: (tail, rows, arrays)
        self._repeated: tuple[Any, int, list[pa.Array]] = ((), 0, [])
        self._id_prefix = pa.scalar(f"{self.constants[0]}:", pa.large_string())
        self._constants = [
            pa.scalar(value, field.type)
            for value, field in zip(self.constants, list(fixed)[1:], strict=False)
        ]
        # the constant columns of the last chunk converted: Arrow arrays never change, so
        # every chunk of as many rows holds these (no new buffers: a run's id, node
        # label and node hash are not copied into memory again for every 1,024 rows)
        self._constant_arrays: list[pa.Array] = []
        # the last table ref() looked at, and whether its rows can be read from it
        self._last_table: tuple[pa.Table | None, bool] = _NO_TABLE
        # the last tag ref() was asked about, and its answer
        self._last_ref: tuple[Any, tuple[Any, int]] = _NO_REF

    def ref(self, tag: Tag) -> tuple[Any, int]:
        """What a row keeps of its packet's ``tag``, as its last two values: the Arrow
        table the tag is a row of, and the row, when every row of that table can be
        read from it (each has a provenance, and the table has this sink's tag
        columns); else the Tag itself, and -1.

        Why: rows held until the next conversion then keep no Tag (a tracked
        object, with its own references) alive for the garbage collector to
        move to its oldest generation. Held Tags made full collections
        frequent: about 1 µs per packet with a LoggingObserver and a
        StatusObserver. Any thread may call this.
        """
        last_tag, kept = self._last_ref  # a packet's start and end ask for its tag twice
        if last_tag is tag:
            return kept
        try:
            at: tuple[pa.Table, int] = tag.arrow_row()  # type: ignore[attr-defined]
        except AttributeError:  # a tag of another kind: read value by value
            return tag, -1
        last, readable = self._last_table
        if at[0] is not last:
            readable = self._readable(at[0])
            self._last_table = (at[0], readable)  # one assignment: atomic
        kept = at if readable else (tag, -1)
        self._last_ref = (tag, kept)  # one assignment: atomic
        return kept

    def _readable(self, table: pa.Table) -> bool:
        """Whether every row of ``table`` has its packet key and tag values in it."""
        names = table.column_names
        if PROVENANCE not in names or any(name not in names for name in self.tag_names):
            return False
        provenance = table.column(PROVENANCE)
        kind = provenance.type
        if provenance.null_count or not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
            return False
        return not len(provenance) or pc.min(pc.list_value_length(provenance)).as_py() > 0

    def add(self, row: tuple[Any, ...]) -> None:
        """Hold one row, given as its :attr:`stride` values; any thread may call this.

        The extend takes no lock: ``list += tuple`` is atomic, and a conversion
        (under :attr:`lock`) takes the rows held when it starts and leaves any
        added meanwhile in the list.
        """
        values = self.values
        values += row
        if len(values) >= self.full:
            with self.lock:
                self.convert()

    def convert_held(self) -> None:
        """:meth:`convert` under :attr:`lock`: what an appender of :attr:`values` calls once
        it holds :attr:`full` values (the list is never replaced, so it may be kept)."""
        with self.lock:
            self.convert()

    def convert(self) -> None:
        """Turn the rows held into one Arrow table, held until the flush (the caller
        holds :attr:`lock`)."""
        held, stride = self.values, self.stride
        taken = len(held)  # whole rows: each was added in one extend
        count = taken // stride
        if not count:
            return
        first = self.numbered
        # the ids, "<run id>:<n>", and the constant columns, made by Arrow
        if count <= len(_OFFSETS):  # a third of the time of converting a Python range
            numbers = pc.add(_OFFSETS.slice(0, count), pa.scalar(first, pa.int64()))
        else:
            numbers = pa.array(range(first, first + count), pa.int64())
        numbers = numbers.cast(pa.large_string())
        arrays: list[pa.Array | pa.ChunkedArray] = [
            pc.binary_join_element_wise(self._id_prefix, numbers, _NOTHING)
        ]
        repeated = self._constant_arrays  # one chunk's; chunks of its length share them
        if not repeated or len(repeated[0]) != count:
            repeated = self._constant_arrays = [
                pa.repeat(value, count) for value in self._constants
            ]
        arrays += repeated
        # each column's values: every stride-th one, sliced in C
        *own, tails, owners, at_rows = (held[at:taken:stride] for at in range(stride))
        arrays += [
            _array(column, field, paths)
            for column, field, paths in zip(own, self._own, self._own_paths, strict=True)
        ]
        arrays += self._tail_arrays(tails)
        arrays += self._tag_arrays(owners, at_rows)
        self.chunks.append(pa.Table.from_arrays(arrays, schema=self.schema))
        del held[:taken]  # rows added meanwhile stay held
        self.numbered += count

    def flush(self) -> None:
        """Add the rows held (if any) to the database, then forget them.

        Raises:
            Exception: whatever the database raised; the rows not added stay held.
        """
        # what ref() remembers of the last tag and table is not kept past a checkpoint
        # (nor past the run: its end flushes)
        self._last_ref = _NO_REF
        self._last_table = _NO_TABLE
        self.convert()
        while self.chunks:
            chunk, id_column = self.chunks[0], self.schema.names[0]
            if self.new_ids:
                # the run id and a running number: new by construction, so the store
                # looks for no duplicates (it reads no stored id)
                add_new_records(self.database, self.path, chunk, id_column)
            else:
                self.database.add_records(self.path, chunk, id_column)
            del self.chunks[0]

    def _tail_arrays(self, tails: list[tuple[Any, ...]]) -> list[pa.Array]:
        """The columns of the rows' ``tails``: repeated values when every row holds one
        tail (compared by identity first, in C; the arrays are kept for the next chunk
        of that tail), else converted column by column."""
        count = len(tails)
        first = tails[0]
        if tails.count(first) != count:
            return [
                _array(list(column), field, paths)
                for column, field, paths in zip(
                    zip(*tails, strict=True), self._tail, self._tail_paths, strict=True
                )
            ]
        tail, rows, arrays = self._repeated
        if tail is not first or rows != count:
            arrays = [
                _repeated(value, count, field, paths)
                for value, field, paths in zip(first, self._tail, self._tail_paths, strict=True)
            ]
            self._repeated = (first, count, arrays)
        return arrays

    def _rows_of_one(
        self, owner: pa.Table, rows: list[int], fields: list[pa.Field]
    ) -> list[pa.Array | pa.ChunkedArray]:
        """The ``__packet_key`` column, then the tag columns, of ``rows`` of ``owner``:
        the keys taken from those of every row of ``owner`` (:func:`_keys_of`, made
        once for all the sinks whose rows it holds), a slice when ``rows`` are
        consecutive."""
        columns = [_keys_of(owner), *(owner.column(field.name) for field in fields)]
        first, count = rows[0], len(rows)
        if rows[-1] - first == count - 1 and rows == list(range(first, first + count)):
            columns = [column.slice(first, count) for column in columns]
        else:
            at = pa.array(rows, pa.int64())
            columns = [column.take(at) for column in columns]
        return [
            column if column.type == field.type else column.cast(field.type)
            for column, field in zip(columns, [_PACKET_KEY, *fields], strict=True)
        ]

    def _tag_arrays(self, owners: list[Any], rows: list[int]) -> list[pa.Array | pa.ChunkedArray]:
        """The ``__packet_key`` column, then the tag columns, of the buffered rows.

        ``owners`` and ``rows`` are what :meth:`ref` kept of each row's tag.
        Rows kept as a table and a row are read column by column from those
        tables (every row of them has a provenance, its packet key). Rows kept
        as Tags (row -1) are read from the Arrow rows they are views of too, when
        every one is (their values in the tables' own Arrow form: a datetime or
        an array tag column is not rebuilt from Python values), the key of a row
        without provenance being its tag's content hash; else one by one.
        """
        fields = [self.schema.field(name) for name in self.tag_names]
        parts: list[pa.Table] | None = None
        as_tags = -1 in rows  # some rows kept as Tags
        if not as_tags:
            # the usual case: runs of rows of one table each (a chunk's rows come from
            # one batch, or two; tables compared by identity: == compares contents),
            # each read as one slice or take
            identities = list(map(id, owners))
            runs = [len(list(run)) for _, run in itertools.groupby(identities)]
            starts = list(itertools.accumulate(runs, initial=0))
            if all(owners[start].num_rows <= KEYED_ROWS for start in starts[:-1]):
                pieces = [
                    self._rows_of_one(owners[start], rows[start : start + count], fields)
                    for start, count in zip(starts, runs, strict=False)
                ]
                if len(pieces) == 1:
                    return pieces[0]
                return [
                    _joined([piece[column] for piece in pieces], field.type)
                    for column, field in enumerate([_PACKET_KEY, *fields])
                ]
            if len(runs) == 1:
                parts = [_rows_of(owners[0], rows)]
        if parts is None:
            kept = list(zip(owners, rows, strict=True))
            located: list[tuple[Any, int]] | None = kept
            if as_tags:
                try:
                    located = [
                        (owner, row) if row >= 0 else owner.arrow_row() for owner, row in kept
                    ]
                except AttributeError:  # a tag of another kind: values one by one
                    located = None
            if located is not None:
                parts = [
                    _rows_of(group[0][0], [row for _, row in group])
                    for group in (
                        list(run) for _, run in itertools.groupby(located, key=_table_identity)
                    )
                ]
        if parts is not None and all(
            name in part.column_names for part in parts for name in self.tag_names
        ):
            keys = _joined([_packet_keys(part) for part in parts], pa.large_string())
            arrays: list[pa.Array | pa.ChunkedArray] = [
                _joined([part.column(f.name) for part in parts], f.type) for f in fields
            ]
            if as_tags and keys.null_count:  # rows without provenance: their tags'
                keys = pa.array(  # content hashes (only rows kept as Tags have none)
                    [
                        key if key is not None else packet_key(owner)
                        for key, owner in zip(keys.to_pylist(), owners, strict=True)
                    ],
                    pa.large_string(),
                )
            return [keys, *arrays]
        read = [_ref_values(owner, row) for owner, row in zip(owners, rows, strict=True)]
        keys = pa.array([key for key, _ in read], pa.large_string())
        arrays = [
            _array([values.get(f.name) for _, values in read], f, _holds_paths(f.type, f))
            for f in fields
        ]
        return [keys, *arrays]


class QuietHooks:
    """Hooks that record nothing: what an observer or node context does not override."""

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        pass

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        pass

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        pass

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        pass

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
        pass

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        pass

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        return DISCARD


class TableObserver(QuietHooks):
    """An observer writing rows to a database, buffered, and the run records.

    Rows are buffered and written when the run says its results are durable
    (:meth:`flush`, at the run's checkpoints; a node's end; the run's end), never
    on the observer's own schedule: so a row claiming success is never durable
    before the result it reports. How often is the run's choice
    (``Pipeline.run(flush_interval=..., flush_every=...)``).

    Args:
        database: where rows go (often the pipeline's own).
    """

    def __init__(self, database: ArrowDatabase) -> None:
        self.database = database
        self.run: RunInfo | None = None
        self._sinks: dict[RecordPath, Sink] = {}
        # Loggers record from executor threads; the run's timer flushes from its own.
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.database!r})"

    # -- the run ---------------------------------------------------------------

    def on_run_start(self, run: RunInfo) -> None:
        """Remember the run, forget any state of an earlier one, and record the start durably.

        Raises:
            ValueError: the store already records another run with this run id
                (its rows would collide with that run's): nothing is written for
                this run, its end included.
        """
        with self._lock:
            self._sinks.clear()
        _writers.release(self)
        self.run = None
        _refuse_reused_run_id(self.database, run)
        self.run = run
        write_run_start(self.database, run, interval=heartbeat_interval(run))
        _beats.written(self.database, run.run_id)

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """Write every buffered row and the run's end (nothing for a run it refused).

        Raises:
            Exception: a write failed; the error is the database's.
        """
        if self.run is None or self.run.run_id != run.run_id:
            return  # its start was refused (a reused run id): it records nothing of it
        try:
            self.flush()
        finally:
            _writers.release(self)
            _beats.forget(self.database, run.run_id)
            write_run_end(self.database, run, outcome)
            self.run = None

    def flush(self) -> None:
        """Write every buffered row now, table by table, and a heartbeat; make them durable.

        The heartbeat (one row at ``(pipeline, "_heartbeats")``, see
        :func:`add_heartbeat`) says the run's process lived at this checkpoint;
        it is made durable by the same database flush as the rows.

        Raises:
            Exception: a write failed; rows not written stay buffered.
        """
        with self._lock:
            for sink in self._sinks.values():
                sink.flush()
            paths = list(self._sinks)
        run = self.run
        if run is not None:
            if _beats.due(self.database, run.run_id):
                add_heartbeat(
                    self.database, run.pipeline_name, run.run_id, interval=heartbeat_interval(run)
                )
            paths += run_paths(run.pipeline_name)
        # Only this observer's rows: records another writer of the database cannot
        # store (a result the store refuses) must not fail the observer's flush.
        flush_paths(self.database, paths)

    def contextualize(self, *pipeline_path: str) -> NodeContext:
        """An observer of the node at ``pipeline_path``."""
        return self.context_class(self, pipeline_path)

    context_class: type[NodeContext]

    # -- rows ------------------------------------------------------------------

    def sink(
        self,
        path: RecordPath,
        fixed: pa.Schema,
        tags: pa.Schema,
        label: str,
        node_hash: str,
        tail: int = 0,
    ) -> Sink:
        """The buffer of the table at ``path`` in this run (made on first use; ``tail``
        as :class:`Sink` takes it).

        Its rows' ids, ``<run id>:<n>``, are new by construction, so the store
        looks for no duplicates when they are added: the first observer of a
        run to write ``path`` in a database is its only writer there.

        Raises:
            ValueError: another observer writes ``path`` of this database in this run.
        """
        with self._lock:
            sink = self._sinks.get(path)
            if sink is None:
                run_id = self.run_id()
                if run_id:
                    _writers.claim(self, path)
                constants = (run_id, label, node_hash)
                sink = Sink(self.database, path, fixed, tags, constants, self._lock, tail)
                sink.new_ids = bool(run_id)
                self._sinks[path] = sink
            return sink

    def run_id(self) -> str:
        return "" if self.run is None else self.run.run_id


class NodeContext(QuietHooks):
    """The observer of one node: what its hooks turn into rows.

    Subclasses set :attr:`branch` (``_logs``, ``_status``), :attr:`fixed`, the
    observer's own columns of each row (the id column first), and :attr:`tail`,
    how many of them a row holds in its tail (see :class:`Sink`), and override
    the hooks that make rows.

    Args:
        parent: the observer this context belongs to.
        pipeline_path: the node's ``(pipeline, label, hash)``.
    """

    def __init__(self, parent: TableObserver, pipeline_path: Sequence[str]) -> None:
        self.parent = parent
        self.pipeline_path = tuple(pipeline_path)
        self.tags = pa.schema([])

    branch: str
    fixed: pa.Schema
    tail: int

    def contextualize(self, *pipeline_path: str) -> NodeContext:
        return self.parent.contextualize(*pipeline_path)

    def on_run_start(self, run: RunInfo) -> None:
        self.parent.on_run_start(run)

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        self.parent.on_run_end(run, outcome)

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        self.tags = tag_schema.to_arrow()
        path = branch(self.pipeline_path, self.branch)
        self.sink = self.parent.sink(path, self.fixed, self.tags, node_label, node_hash, self.tail)
        # The hooks called per packet add to the sink's values themselves (Sink.add,
        # written out) and call convert_held when a chunk's worth is held.
        self.values = self.sink.values
        self.full = self.sink.full
        self.ref = self.sink.ref

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        """Write the node's buffered rows (and every other buffered row)."""
        self.parent.flush()

    def flush(self) -> None:
        self.parent.flush()


class PacketLogger:
    """The logger of one packet for a node context that records by ``record_packet(tag,
    fields)``: it hands each record on with the packet's tag.

    A :class:`~orcapod.observers.CompositeObserver` of such contexts calls
    ``record_packet`` itself, from one fan-out logger per packet, and makes
    none of these.
    """

    __slots__ = ("recorder", "tag")
    keeps_records = True

    def __init__(self, recorder: Callable[[Tag, Mapping[str, Any]], None], tag: Tag) -> None:
        self.recorder = recorder
        self.tag = tag

    def record(self, **fields: Any) -> None:
        self.recorder(self.tag, fields)

    def record_fields(self, fields: Mapping[str, Any]) -> None:
        """:meth:`record`, given the fields as one mapping (a fan-out logger's way)."""
        self.recorder(self.tag, fields)


class QuietPacketLogger(PacketLogger):
    """A :class:`PacketLogger` that keeps no records: nothing is captured for it."""

    __slots__ = ()
    keeps_records = False


HEARTBEAT_SPACING = 1.0
"""Seconds: one process writes a run's heartbeats at most this often.

Flushes can come in bursts (a node's end right after a timed checkpoint, the
observers of a composite flushed one after the other): one heartbeat is
enough for all of them.
"""


def heartbeat_interval(run: RunInfo) -> float | None:
    """The seconds between the run's checkpoints, if the run says (its ``flush_interval``).

    A run flushes its observers at least that often, so that is the interval
    its heartbeats promise; None when the run does not say (readers then
    assume the engine's default).
    """
    interval = getattr(run, "flush_interval", None)  # not every RunInfo carries one
    return float(interval) if isinstance(interval, int | float) and interval > 0 else None


def write_run_start(
    database: ArrowDatabase,
    run: RunInfo,
    *,
    interval: float | None = None,
    process: Process | None = None,
) -> None:
    """Record, durably, that ``run`` started, with its first heartbeat (at its start).

    Once per database: the ids repeat, so a second observer of the run adds
    nothing.

    Args:
        database: where the run's records go.
        run: the run.
        interval: the heartbeat interval the writer promises (see :func:`add_heartbeat`).
        process: the process running the run; this process by default.
    """
    process = process or this_process()
    row = _run_row(run, None, "RUNNING", (None, None, None), None, process)
    _add_run_record(database, run, f"{run.run_id}:start", row)
    add_heartbeat(
        database,
        run.pipeline_name,
        run.run_id,
        interval=interval,
        when=run.started_at,
        process=process,
        record_id=f"{run.run_id}:{process.pid}:start",
    )
    flush_paths(database, run_paths(run.pipeline_name))


def write_run_end(
    database: ArrowDatabase, run: RunInfo, outcome: RunOutcome, *, process: Process | None = None
) -> None:
    """Record, durably, how ``run`` ended.

    Args:
        database: where the run's records go.
        run: the run.
        outcome: how it ended.
        process: the process that ran it; this process by default.
    """
    counts = (outcome.n_success, outcome.n_failed, outcome.n_cached)
    row = _run_row(
        run, outcome.ended_at, str(outcome.state), counts, outcome.error, process or this_process()
    )
    _add_run_record(database, run, f"{run.run_id}:end", row)
    flush_paths(database, run_paths(run.pipeline_name))


def _refuse_reused_run_id(database: ArrowDatabase, run: RunInfo) -> None:
    """Refuse ``run`` if the store records another run (another start) with its run id.

    Raises:
        ValueError: naming the run id, the pipeline and the fix.
    """
    earlier = database.get_record_by_id((run.pipeline_name, RUNS_BRANCH), f"{run.run_id}:start")
    if earlier is None:
        return
    started = earlier.column("__started_at")[0].as_py()
    if started == run.started_at:
        return  # this run, recorded by another observer of it
    raise ValueError(
        f"run id {run.run_id!r} is already recorded for pipeline {run.pipeline_name!r} in "
        f"this store (a run started {started.isoformat()}); this run's records would be "
        "mixed with that run's, so none is written. Give each run its own run_id, or "
        "none (Pipeline.run makes a new one)"
    )


def run_paths(pipeline: str) -> list[RecordPath]:
    """Where a pipeline's run records and heartbeats live."""
    return [(pipeline, RUNS_BRANCH), (pipeline, HEARTBEATS_BRANCH)]


def add_heartbeat(
    database: ArrowDatabase,
    pipeline: str,
    run_id: str,
    *,
    interval: float | None = None,
    when: datetime | None = None,
    process: Process | None = None,
    record_id: str | None = None,
) -> None:
    """Add one heartbeat of a run: its process lives. Not flushed: the caller's flush is.

    Args:
        database: where the run's records go.
        pipeline: the run's pipeline.
        run_id: the run.
        interval: the most seconds the writer means to let pass before the
            next heartbeat; None when it cannot say.
        when: the time of the heartbeat; now by default.
        process: the process running the run; this process by default.
        record_id: the heartbeat's id; ``<run id>:<pid>:<microseconds>`` by default.
            A duplicate id is skipped, never an error: observers sharing a
            database may write the same heartbeat.
    """
    process = process or this_process()
    moment = now() if when is None else int(when.timestamp() * 1_000_000)
    row = [run_id, moment, interval, process.host, process.pid, process.key]
    table = pa.Table.from_arrays(
        [pa.array([v], type=f.type) for v, f in zip(row, HEARTBEAT_SCHEMA, strict=True)],
        schema=HEARTBEAT_SCHEMA,
    )
    beat_id = record_id or f"{run_id}:{process.pid}:{moment}"
    database.add_record((pipeline, HEARTBEATS_BRANCH), beat_id, table, skip_duplicates=True)


class _Heartbeats:
    """When this process last wrote a heartbeat of each run, per database object.

    Keyed by ``(id(database), run id)``: run ids are unique, so the id of a
    database object reused for another after the first is gone cannot mislead.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()  # the run may flush from its timer thread

    def due(self, database: ArrowDatabase, run_id: str) -> bool:
        """Whether a heartbeat is due; if it is, it counts as written now."""
        key, clock = (id(database), run_id), time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and clock - last < HEARTBEAT_SPACING:
                return False
            self._last[key] = clock
            return True

    def written(self, database: ArrowDatabase, run_id: str) -> None:
        with self._lock:
            self._last[(id(database), run_id)] = time.monotonic()

    def forget(self, database: ArrowDatabase, run_id: str) -> None:
        with self._lock:
            self._last.pop((id(database), run_id), None)


_beats = _Heartbeats()


class _Writers:
    """Which observer writes each table of a database in a run, process-wide.

    Rows' ids are ``<run id>:<n>``, numbered by their observer: two observers
    writing one table in one run (two LoggingObservers of one database, say)
    would give the same ids, which the store, told they are new, would not
    look for. So the second is refused when it would start writing. Claims
    hold the database and the observer weakly: a claim of an observer that is
    gone (it never saw its run's end) is taken over.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: weakref.WeakKeyDictionary[
            object, dict[tuple[str, RecordPath], weakref.ref[TableObserver]]
        ] = weakref.WeakKeyDictionary()

    def claim(self, observer: TableObserver, path: RecordPath) -> None:
        """Make ``observer`` the writer of ``path`` in its run, or raise ValueError."""
        run_id = observer.run_id()
        with self._lock:
            try:
                claims = self._tables.setdefault(observer.database, {})
            except TypeError:  # a database that cannot be referenced weakly: not guarded
                return
            owner = claims.get((run_id, path))
            writer = None if owner is None else owner()
            if writer is None or writer is observer:
                claims[(run_id, path)] = weakref.ref(observer)
                return
        raise ValueError(
            f"another observer of run {run_id!r} already writes the table at {path!r} of "
            f"{observer.database!r}; its rows would have the same ids as this one's, so "
            f"this {type(observer).__name__} writes none. Give each observer of a kind its "
            "own database"
        )

    def release(self, observer: TableObserver) -> None:
        """Forget the tables ``observer`` writes (its run is over)."""
        with self._lock:
            try:
                claims = self._tables.get(observer.database)
            except TypeError:
                return
            if claims:
                for key in [key for key, owner in claims.items() if owner() is observer]:
                    del claims[key]


_writers = _Writers()


def _add_run_record(database: ArrowDatabase, run: RunInfo, record_id: str, row: list[Any]) -> None:
    table = pa.Table.from_arrays(
        [pa.array([value], type=field.type) for value, field in zip(row, RUN_SCHEMA, strict=True)],
        schema=RUN_SCHEMA,
    )
    database.add_record((run.pipeline_name, RUNS_BRANCH), record_id, table, skip_duplicates=True)


def _run_row(
    run: RunInfo,
    ended_at: datetime | None,
    state: str,
    counts: tuple[int | None, int | None, int | None],
    error: str | None,
    process: Process,
) -> list[Any]:
    return [
        run.run_id,
        run.pipeline_name,
        run.pipeline_uri,
        run.started_at,
        ended_at,
        state,
        *counts,
        error,
        process.host,
        process.pid,
        _orcapod_version(),
        platform.python_version(),
    ]


def _orcapod_version() -> str:
    for distribution in ("orcapod-core", "orcapod-observers"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def now() -> int:
    """The time now, in microseconds since the epoch: what a UTC timestamp column stores.

    An int costs a tenth of a ``datetime``; Arrow reads it as the timestamp itself.
    """
    return time.time_ns() // 1000


def _joined(parts: list[pa.Array | pa.ChunkedArray], arrow: pa.DataType) -> pa.ChunkedArray:
    """``parts`` as one chunked array of type ``arrow``, without copying their values."""
    chunks: list[pa.Array] = []
    for part in parts:
        chunks += part.chunks if isinstance(part, pa.ChunkedArray) else [part]
    return pa.chunked_array(chunks, chunks[0].type if chunks else arrow).cast(arrow)


def _rows_of(table: pa.Table, rows: list[int]) -> pa.Table:
    """Rows ``rows`` of ``table``: a slice when they are consecutive (the usual case)."""
    first = rows[0]
    if rows[-1] - first == len(rows) - 1 and rows == list(range(first, first + len(rows))):
        return table.slice(first, len(rows))
    return table.take(pa.array(rows, pa.int64()))


def _table_identity(located: tuple[Any, int]) -> int:
    return id(located[0])


def _ref_values(owner: Any, row: int) -> tuple[str, dict[str, Any]]:
    """A row's packet key and tag values, from what :meth:`Sink.ref` kept of its tag."""
    if row < 0:
        return tag_values(owner)
    values = owner.slice(row, 1).to_pylist()[0]
    return ";".join(values[PROVENANCE]), values


KEYED_ROWS = 1 << 16
"""Tables of at most this many rows (a batch) have the packet keys of all their rows
made at once, for every chunk of held rows of theirs; the rows of a larger one have
theirs made chunk by chunk (never all of a source's rows at once)."""

_PACKET_KEY = pa.field("__packet_key", pa.large_string())

_KEYS: dict[int, tuple[weakref.ref[pa.Table], pa.Array | pa.ChunkedArray]] = {}
"""id(table) -> the table, weakly, and its rows' packet keys (see _keys_of)."""


def _keys_of(table: pa.Table) -> pa.Array | pa.ChunkedArray:
    """:func:`_packet_keys` of every row of ``table``, made once while it lives.

    A log row and two status rows hold each packet's tag, a row of its batch's
    table, and each of their sinks reads its chunk's keys from here: the keys of
    a batch are joined once, not three times. An entry goes with its table.
    Any thread may call this (two making one table's keys at once both store them).
    """
    key = id(table)
    found = _KEYS.get(key)
    if found is not None and found[0]() is table:
        return found[1]
    keys = _packet_keys(table)
    _KEYS[key] = (weakref.ref(table, partial(_forget_keys, key)), keys)
    return keys


def _forget_keys(key: int, _: weakref.ref[pa.Table]) -> None:
    """Drop the entry of a table that is gone (a weakref's callback)."""
    _KEYS.pop(key, None)


def _packet_keys(rows: pa.Table) -> pa.Array | pa.ChunkedArray:
    """Each row's :func:`packet_key` from its provenance; null where it has none."""
    if PROVENANCE not in rows.column_names:
        return pa.nulls(rows.num_rows, pa.large_string())
    provenance = rows.column(PROVENANCE)
    # Arrow joins strings of ``list`` but not of ``large_list`` arrays.
    joined = pc.binary_join(
        provenance.cast(pa.list_(pa.large_string())), pa.scalar(";", pa.large_string())
    )
    empty = pc.equal(pc.list_value_length(provenance), 0)
    return pc.if_else(empty, pa.scalar(None, pa.large_string()), joined)


def _array(values: list[Any], field: pa.Field, paths: bool) -> pa.Array:
    """The Arrow array of one buffered column.

    Many columns hold one value throughout (the run id, the node, a state, no
    log records): those are repeated by Arrow instead of converted value by
    value (``count`` compares in C, several times faster than converting), or,
    for nested values (which Arrow repeats slowly), converted from one value.
    Timestamps, buffered as integer microseconds, are read as integers.
    """
    first = values[0]
    if values.count(first) == len(values):
        return _repeated(first, len(values), field, paths)
    if pa.types.is_timestamp(field.type):
        return pa.array(values, pa.int64()).cast(field.type)
    return pa.array(_without_paths(values) if paths else values, type=field.type)


def _repeated(value: Any, count: int, field: pa.Field, paths: bool) -> pa.Array:
    """``value`` ``count`` times, as a column of ``field``."""
    if value is None:
        return pa.nulls(count, field.type)
    if paths:
        return pa.array([_plain(value)] * count, type=field.type)
    return pa.repeat(pa.scalar(value, type=field.type), count)


def _holds_paths(arrow: pa.DataType, field: pa.Field) -> bool:
    """Whether a column's values may be ``Path`` objects (marked by orcapod's field metadata)."""
    return bool(field.metadata) or pa.types.is_nested(arrow)


def _without_paths(values: list[Any]) -> list[Any]:
    return [_plain(value) for value in values]


def _plain(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
