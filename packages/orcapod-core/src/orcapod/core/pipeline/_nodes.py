"""Nodes: the pods, operators and sources of a compiled pipeline, and how each runs.

A node wraps one stream recorded in the pipeline, fixes its inputs (its
upstream nodes), and knows where its results live: ``pipeline_path`` =
``(pipeline name, label, pipeline hash)``. Editing a function changes its
pipeline hash, so its results go to a new table and the old one is kept.
"""

from __future__ import annotations

import asyncio
import os
import signal
import warnings
from contextlib import contextmanager
from pathlib import Path
from time import monotonic, perf_counter
from traceback import format_exception
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.capture import bound_text
from orcapod.core.datagrams import Packet, PythonRowBlock, RowBlock, Tag
from orcapod.core.errors import (
    FileChangedError,
    FileStoreWarning,
    PathIdentityWarning,
    ResultNotStoredError,
    ReturnValueError,
    RunInterrupted,
)
from orcapod.core.function_pods import INPUT_HASH, OUTPUT_HASH, canonical_outputs
from orcapod.core.function_pods._file_outputs import FileInputs
from orcapod.core.function_pods._result_cache import COMPUTED_AT, RUN_ID
from orcapod.core.hashing import hash_table_rows
from orcapod.core.pipeline._durability import HeldRecords
from orcapod.core.pipeline._records import (
    computed_path,
    computed_records,
    identities_path,
    identity_record,
    node_run_record,
    node_runs_path,
)
from orcapod.core.pipeline._run import PacketFailure
from orcapod.core.streams import schemas_of, side_by_side
from orcapod.core.streams._batches import BATCH_BYTES, BATCH_ROWS, BatchSize
from orcapod.core.system_columns import PROVENANCE, PROVENANCE_TYPE, is_system_column
from orcapod.core.types import Schema, value_checker
from orcapod.core.types._annotations import leaf_type
from orcapod.protocols.errors import PacketCancelled
from orcapod.protocols.isolation import DISCARD, PacketHooks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime

    from orcapod.core.function_pods import FunctionPodStream, ResultCache
    from orcapod.core.operators import OperatorStream
    from orcapod.core.pipeline._run import NodeCounts, RunContext
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor, PythonFunctionExecutor
    from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.streams import Stream
    from orcapod.protocols.values import RecordPath

__all__ = ["FunctionNode", "Node", "OperatorNode", "SourceNode", "record_runs"]

RECORD_ID = "__record_id"
_FOUND = ("found", None)
"""The outcome of a row whose result was found in the cache (at its own row of the lookup)."""
_NO_OUTCOME = ("", None)
"""A row that has no outcome: it never ran (the run stopped first), or it was cancelled."""
MAX_FAILURE_MESSAGE = 10_000
"""Characters of a failed packet's error message kept in ``RunResult.failures``."""


class Node:
    """One element of a compiled pipeline.

    Attributes:
        label: unique within the pipeline.
        stream: the stream recorded for it (its pod or operator and inputs).
        upstreams: the nodes whose outputs are its inputs, in input order.
        node_hash: the stream's pipeline hash.
        pipeline_path: where its records live in the pipeline's database.
    """

    kind = "node"
    latest_run: tuple[str, NodeCounts] | None = None
    """The id and counts of the latest run of this node in this process (``None``: none)."""

    def __init__(
        self,
        label: str,
        stream: Stream,
        upstreams: Sequence[Node],
        *,
        pipeline_name: str,
        database: ArrowDatabase,
        result_cache: ResultCache,
    ) -> None:
        self.label = label
        self.stream = stream
        self.upstreams = tuple(upstreams)
        self.node_hash = stream.pipeline_hash()
        self.pipeline_path = (pipeline_name, label, self.node_hash.replace(":", "-"))
        self.database = database
        self.result_cache = result_cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    def _repr_html_(self) -> str:
        """A notebook's view: label, kind, counts of its latest run, its first rows."""
        from orcapod.core.pipeline._display import node_html

        return node_html(self)

    def written_paths(self) -> tuple[RecordPath, ...]:
        """The database paths a run of this node writes (what a run's checkpoint flushes)."""
        return (self.pipeline_path,)

    def results_paths(self) -> tuple[RecordPath, ...]:
        """Those of :meth:`written_paths` holding results that the node's records name
        (a checkpoint flushes them after every node's records)."""
        return ()

    def output_schema(self) -> tuple[Schema, Schema]:
        """(tag schema, packet schema) of this node's output."""
        tags, packets = self.stream.output_schema()
        return Schema.of(tags), Schema.of(packets)

    def keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        tags, packets = self.output_schema()
        return tags.keys(), packets.keys()

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """What this node gives for its current inputs, read from the store, never computed.

        One row per row of the node's current inputs that has its result stored:
        tag columns, packet columns (then system columns). Results of earlier
        inputs or of other code are not in it (see ``FunctionNode.history``); a
        packet not computed yet, or whose function failed, is left out. For
        results larger than memory, read :meth:`iter_batches`.
        """

        tables = list(self._read_tables(BatchSize()))
        return self._select(pa.concat_tables(tables), include_system_columns)

    def iter_batches(
        self,
        *,
        include_system_columns: bool = False,
        max_rows: int = BATCH_ROWS,
        max_bytes: int = BATCH_BYTES,
    ) -> Iterator[pa.RecordBatch]:
        """:meth:`as_table`'s rows as Arrow record batches, read as they are needed.

        The node's inputs are read a batch at a time too (sources, stored
        results, operators that stream), so memory holds about a batch per
        node, not the node's results: only an operator that needs all its input
        (a join, a group-by) holds its inputs while it computes.

        Args:
            include_system_columns: also the ``__provenance`` column.
            max_rows: most rows per batch.
            max_bytes: most bytes (Arrow's ``nbytes``) per batch, unless one row
                is larger: it is a batch of its own.

        Raises:
            ValueError: a bound is not a whole number of at least 1.
        """

        size = BatchSize.of(
            max_rows, max_bytes, ("max_rows", "max_bytes")
        )  # checked now, not at the first batch
        return self._iter_batches(size, include_system_columns)

    def _iter_batches(
        self, size: BatchSize, include_system_columns: bool
    ) -> Iterator[pa.RecordBatch]:
        for table in self._read_tables(size):
            if table.num_rows:
                selected = self._select(table, include_system_columns)
                yield from selected.combine_chunks().to_batches()

    def _read_tables(self, size: BatchSize, limit: int | None = None) -> Iterator[pa.Table]:
        """The node's output tables in a read of its graph (at least one, maybe empty)."""
        from orcapod.core.pipeline._streaming import drive, read_tasks

        order, tasks = read_tasks(self, size, limit=limit)
        for node, table in drive(order, tasks):
            if node is self:
                yield table

    def _observer(self, ctx: RunContext) -> ExecutionObserver:
        return ctx.observer.contextualize(*self.pipeline_path)

    def _select(self, table: pa.Table, include_system_columns: bool) -> pa.Table:
        tags, packets = self.keys()
        names = [*tags, *packets]
        if include_system_columns:
            names += [name for name in table.column_names if name == PROVENANCE]
        return table.select(names)

    def _empty(self) -> pa.Table:
        tags, packets = self.output_schema()
        fields = [*tags.to_arrow(), *packets.to_arrow()]
        return pa.schema([*fields, pa.field(PROVENANCE, PROVENANCE_TYPE, False)]).empty_table()


class SourceNode(Node):
    """A source (or any stream made outside the pipeline) feeding the pipeline."""

    kind = "source"

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        return self.stream.as_table(include_system_columns=include_system_columns)

    def written_paths(self) -> tuple[RecordPath, ...]:
        return ()  # a source is read, never stored


class OperatorNode(Node):
    """An operator of the pipeline; its output rows are stored at its pipeline path."""

    kind = "operator"
    stream: OperatorStream


class FunctionNode(Node):
    """A function pod of the pipeline.

    Each packet's result is looked up in the pipeline's result cache first;
    the function runs (through :attr:`executor`) only for packets not found,
    and what it returns is stored there. Every row that got a result is also
    recorded at the node's pipeline path: its tags, provenance, and the hashes
    of its input and output packets.

    Attributes:
        executor: where this node's packets run (``None``: called directly,
            uncaptured). Set at compile time to a ``LocalExecutor`` if the pod had none.
        max_concurrency: packets in flight at once under the async orchestrator
            (``None``: the orchestrator's default).
    """

    kind = "function"
    stream: FunctionPodStream

    def __init__(self, label: str, stream: Stream, upstreams: Sequence[Node], **where: Any) -> None:
        super().__init__(label, stream, upstreams, **where)
        self.function = self.stream.pod.packet_function
        pipeline = self.pipeline_path[0]
        self.identities_path = identities_path(pipeline)
        self.node_runs_path = node_runs_path(pipeline)
        self.computed_path = computed_path(pipeline, label, self.node_hash)
        self._executor: PacketFunctionExecutor | None = self.stream.pod.executor
        self.max_concurrency: int | None = None

    @property
    def executor(self) -> PacketFunctionExecutor | None:
        return self._executor

    @executor.setter
    def executor(self, executor: PacketFunctionExecutor | None) -> None:
        if executor is not None and not executor.supports(self.function):
            raise TypeError(
                f"node {self.label!r}: executor {executor!r} cannot run Python function "
                f"{self.function.name!r}"
            )
        self._executor = executor

    def written_paths(self) -> tuple[RecordPath, ...]:
        """Its records, what explains its runs, then its results tables (last)."""
        return (
            self.pipeline_path,
            self.computed_path,
            self.node_runs_path,
            self.identities_path,
            *self.results_paths(),
        )

    def results_paths(self) -> tuple[RecordPath, ...]:
        """The results tables its records name: the function's repairs and results."""
        return (
            self.result_cache.repairs_path_for(self.function),
            self.result_cache.path_for(self.function),
        )

    def identity_record(self) -> pa.Table:
        """This node version's ``_identities`` record: its identity and components."""
        _, packet_schema = schemas_of(self.stream.input_stream)
        return identity_record(
            label=self.label,
            node_hash=self.node_hash,
            function=self.function,
            input_columns=list(packet_schema),
            upstreams=[(upstream.label, upstream.node_hash) for upstream in self.upstreams],
        )

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """The stored results of the node's current input packets, one row per input row.

        The inputs are what the upstream nodes give now (their own ``as_table``);
        each packet's result is looked up by its content and the function's
        current identity, as a run would, batch by batch. Rows whose packet has
        no stored result (not computed yet, or failed, or naming an output file
        that is missing or altered in the file store) are left out, and so are
        rows whose input files changed since their source read them.
        """
        return super().as_table(include_system_columns=include_system_columns)

    def stored_results(self, rows: pa.Table) -> pa.Table:
        """:meth:`as_table`'s rows (with every column) for these input rows (one piece)."""
        tag_schema, packet_schema = schemas_of(self.stream.input_stream)
        arrow = Schema.of(self.function.output_schema()).to_arrow()
        system = [name for name in rows.column_names if is_system_column(name)]
        tags = rows.select([*tag_schema, *system])
        if rows.num_rows == 0:
            return side_by_side(tags, arrow.empty_table())
        files = self.result_cache.file_outputs(self.function)
        present = [name for name in self.function.input_schema() if name in packet_schema]
        inputs = FileInputs.of(self.function.input_schema(), present)
        packets = RowBlock(rows.select(list(packet_schema)), packet_schema)
        found = self.result_cache.lookup_hashes(
            self.function, packets.content_hashes(), files=files
        )
        if inputs is not None:  # an input file changed since its source read it
            columns = {name: packets.values(name) for name in inputs.columns}
            for row in inputs.changed(columns, range(rows.num_rows)):
                found.hits[row] = False
        hits = pa.array(found.hits, pa.bool_())
        return side_by_side(tags.filter(hits), found.outputs.filter(hits).cast(arrow))

    def preview(self, limit: int) -> tuple[pa.Table, int]:
        """The first ``limit`` rows of :meth:`as_table` and the node's input row count,
        looking up only the pieces of input needed to find them."""
        from orcapod.core.pipeline._streaming import _FunctionRead, drive, read_tasks

        order, tasks = read_tasks(self, BatchSize(), limit=limit)
        parts = [table for node, table in drive(order, tasks) if node is self]
        task = tasks[self]
        assert isinstance(task, _FunctionRead)
        return self._select(pa.concat_tables(parts), False).slice(0, limit), task.received

    def history(self) -> pa.Table:
        """Every result this node has stored, in any run, for any input it was given.

        One row per tag and result (its tags and provenance, with the result's
        input hash) and the result: its output columns, the run that computed it
        (``__run_id``) and when (``__computed_at``), oldest first. Unlike
        :meth:`as_table`, rows of inputs the node no longer has (a source row
        since edited or removed) are kept; results of an earlier version of the
        function live in another table and are not in it. A run records its rows
        with the results it stores, before them, so after a crash this holds
        every row :meth:`as_table` shows but those whose result another node
        stored for a packet this node's runs have not reached.
        """
        tags, outputs = self.keys()
        records = self.database.get_all_records(self.pipeline_path)
        stored = None
        if records is not None and records.num_rows:
            stored = self.database.get_records_by_ids(
                self.result_cache.path_for(self.function),
                records.column(INPUT_HASH).unique().to_pylist(),
                record_id_column=INPUT_HASH,
            )
        if records is None or stored is None:
            empty = self._empty()
            schema = pa.schema(
                [
                    *(empty.schema.field(name) for name in [*tags, *outputs, PROVENANCE]),
                    pa.field(INPUT_HASH, pa.large_string()),
                    pa.field(RUN_ID, pa.large_string()),
                    pa.field(COMPUTED_AT, pa.timestamp("us", "UTC")),
                ]
            )
            return schema.empty_table()
        # A tag recorded again with its result unchanged (its provenance changed when
        # another row of its source was edited) is one result: the first record is kept.
        keys = zip(
            hash_table_rows(records.select(tags)),
            records.column(INPUT_HASH).to_pylist(),
            strict=True,
        )
        first: dict[tuple[str, str], int] = {}
        for row, key in enumerate(keys):
            first.setdefault(key, row)
        if len(first) < records.num_rows:
            records = records.take(pa.array(sorted(first.values()), pa.int64()))
        # Rows matched by position (Arrow's joins refuse list and map columns as payload).
        wanted = records.column(INPUT_HASH).cast(pa.large_string())
        positions = pc.index_in(wanted, value_set=stored.column(INPUT_HASH).cast(pa.large_string()))
        found = positions.is_valid()
        kept = records.filter(found)
        taken = stored.take(positions.filter(found))
        arrow = Schema.of(self.function.output_schema()).to_arrow()
        empty = self._empty()
        table = pa.Table.from_arrays(
            [
                *(kept.column(name) for name in tags),
                *(taken.column(field.name).cast(field.type) for field in arrow),
                kept.column(PROVENANCE),
                kept.column(INPUT_HASH).cast(pa.large_string()),
                taken.column(RUN_ID).cast(pa.large_string()),
                taken.column(COMPUTED_AT),
            ],
            # the declared fields (Path, File, array... metadata), as as_table() has them
            schema=pa.schema(
                [
                    *(empty.schema.field(name) for name in tags),
                    *arrow,
                    pa.field(PROVENANCE, kept.column(PROVENANCE).type),
                    pa.field(INPUT_HASH, pa.large_string()),
                    pa.field(RUN_ID, pa.large_string()),
                    pa.field(COMPUTED_AT, taken.column(COMPUTED_AT).type),
                ]
            ),
        )
        return table.sort_by([(COMPUTED_AT, "ascending"), (INPUT_HASH, "ascending")])


def tell_inputs(observer: ExecutionObserver, label: str, count: int | None) -> None:
    """Call the observer's optional ``on_node_inputs`` hook, if it has one.

    ``observer`` is a node's context of the run's observer, which isolates its
    failures (see ``orcapod.protocols.isolation``); one written before the hook
    lacks it and is not told.
    """
    hook = getattr(observer, "on_node_inputs", None)
    if hook is not None:
        hook(label, count)


def tell_progress(observer: ExecutionObserver | None, label: str, rows: int) -> None:
    """Call the observer's optional ``on_node_progress`` hook, if it has one and ``rows``.

    For a node that reports no packets (an operator): ``rows`` more of its
    input rows are done. ``observer`` is None outside a run (nobody to tell).
    """
    hook = None if observer is None or not rows else getattr(observer, "on_node_progress", None)
    if hook is not None:
        hook(label, rows)


class _Batch:
    """One batch of a function node's input rows, and what became of each."""

    __slots__ = (
        "arguments",
        "columns",
        "computed_rows",
        "durable",
        "failed_rows",
        "found",
        "found_hashes",
        "hashes",
        "hits",
        "noted_computed",
        "noted_failed",
        "outcome",
        "outputs",
        "packets",
        "pending",
        "recorded",
        "recorded_computed",
        "recorded_parts",
        "repairs",
        "repeats",
        "rows",
        "stored",
        "stored_hashes",
        "stored_parts",
        "tags",
        "waiting",
    )

    def __init__(self, rows: pa.Table, tags: RowBlock, packets: RowBlock) -> None:
        self.rows = rows
        self.tags = tags
        self.packets = packets
        self.hashes: list[str] = packets.content_hashes()
        self.hits: list[bool] = []  # per row, whether its result was found stored
        self.found: pa.Table | None = None
        self.found_hashes: pa.Array | None = None
        self.arguments: list[tuple[str, list[Any]]] = []
        self.columns: list[list[Any]] = []  # the output values computed, per output key
        self.outputs: PythonRowBlock | None = None
        # row -> _FOUND (its own row of found) | ("new", index into outputs)
        #        | ("failed", error) | ("cancelled", None)
        self.outcome: dict[int, tuple[str, Any]] = {}
        self.computed_rows: list[int] = []  # the row of each computed output row
        self.failed_rows: list[int] = []  # rows whose function failed (after its attempts)
        self.durable = 0  # computed output rows whose results a checkpoint made durable
        self.stored = 0  # computed output rows already stored (by checkpoints)
        self.stored_parts: list[pa.Table] = []  # those rows, in canonical types, as stored
        self.stored_hashes: list[pa.Array] = []  # and their output hashes
        self.pending: list[int] = []  # rows to compute: the first of each distinct packet
        self.waiting: dict[int, int] = {}  # a duplicate row -> the row computing its packet
        self.repairs: dict[int, str] = {}  # a row whose stored result is damaged -> its hash
        # rows whose node records a checkpoint wrote before the batch finished (with their
        # results), how many computed rows those include, and the rows waiting for each
        # computed row (built at the first such checkpoint): FunctionNodeRun._record_progress
        self.recorded: set[int] = set()
        self.recorded_computed = 0
        self.recorded_parts = 0  # of stored_hashes
        self.repeats: dict[int, list[int]] | None = None
        # computed_rows and failed_rows recorded for explain (FunctionNodeRun._note_called)
        self.noted_computed = 0
        self.noted_failed = 0

    def release(self) -> None:
        """Let go of what only the calls and the output needed (the batch is finished)."""
        self.arguments = []
        self.columns = []
        self.outputs = None
        self.found = None
        self.found_hashes = None
        self.stored_parts = []
        self.stored_hashes = []


class FunctionNodeRun:
    """One run of a function node: the hooks, the executor, and the batches' bookkeeping.

    Both orchestrators drive it the same way: ``start``; per batch ``begin``,
    ``compute`` (or ``compute_async``) for each pending row, ``finish``; ``end``.
    So both call the same hooks with the same values and get the same results.
    """

    MAX_RETRIED_TRACEBACK = 64 * 1024
    """Bytes of traceback kept (head and tail) when the run itself records a retried attempt."""

    def __init__(self, node: FunctionNode, ctx: RunContext) -> None:
        self.node = node
        self.ctx = ctx
        self.label = node.label
        self.function = node.function
        self.observer = node._observer(ctx)
        # The hooks called per packet, called here without isolate()'s wrappers:
        # their failures are caught here and reported through ``isolation``.
        hooks = PacketHooks(self.observer)
        self.isolation = hooks.isolation
        self._on_packet_start = hooks.on_packet_start
        self._on_packet_end = hooks.on_packet_end
        self._create_packet_logger = hooks.create_packet_logger
        self.held = HeldRecords(DISCARD, self.isolation)  # the sync path's, one packet at a time
        self.counts: NodeCounts = ctx.counts_of(node.label)
        self.checkpoints = ctx.checkpoints
        self.written_paths = node.written_paths()  # what it writes, for checkpoints to flush
        self.interruption = ctx.interruption
        self.batch: _Batch | None = None  # the batch in progress, whose results checkpoints store
        self.unflushed: list[_Batch] = []  # batches whose computed results are not all durable
        executor = ctx.executor if ctx.executor is not None else node.executor
        self.executor: PythonFunctionExecutor | None = executor  # type: ignore[assignment]
        self.retries: int = getattr(self.function, "retries", 0)
        if self.retries:
            self._check_single_retry(executor)
        if ctx.executor is not None and executor is not None:
            # The run's executor, never checked against this node's function: one it
            # cannot send (a lambda to worker processes) is refused here, not per packet.
            supports = getattr(executor, "supports", None)
            if supports is not None:
                supports(self.function)
        self.tag_schema, self.packet_schema = schemas_of(node.stream.input_stream)
        self.output_schema = self.function.output_schema()
        self.keys = self.function.output_keys
        self.fn = self.function.function
        self.checks: list[Callable[[Any], bool]] = [
            value_checker(tp) for tp in self.output_schema.types()
        ]
        # The one output's check, when there is one output: values need no splitting.
        self.check = self.checks[0] if len(self.keys) == 1 else None
        self.parameters = [
            name for name in self.function.input_schema() if name in self.packet_schema
        ]
        self.defaults = {
            name: value
            for name, value in self.function.defaults.items()
            if name not in self.packet_schema
        }
        self.calls_noted = 0  # packets recorded for explain: numbers their records' ids
        # packets whose function failed in this run (after its attempts): a repeat in a
        # later batch fails with the same error, not called again (as within a batch)
        self.failed_packets: dict[str, BaseException] = {}
        # File/Directory outputs: kept in the file store, checked when found stored;
        # File/Directory inputs: checked against their digests before anything else
        self.files = node.result_cache.file_outputs(self.function)
        self.file_inputs = FileInputs.of(self.function.input_schema(), self.parameters)
        if self.files is not None and self.files.store is not None:
            self.files.store.sweep_scratch()  # what a killed run left, even if nothing runs
        self.path_parameters = [
            name
            for name in self.parameters
            if leaf_type(self.function.input_schema()[name]) is Path
        ]

    # -- the node --------------------------------------------------------------

    def start(self) -> None:
        self.observer.on_node_start(self.label, self.node.node_hash, self.tag_schema)
        self.checkpoints.nodes.append(self)

    def tell_inputs(self, count: int | None) -> None:
        """Tell the observer how many input rows the node has (``None``: not known);
        after :meth:`start`, before the first batch."""
        tell_inputs(self.observer, self.label, count)

    def end(self) -> None:
        """The node's end: its results are made durable before the observer hears of it.

        If they cannot be (the database failed), the observer is not told of
        the node's end, and hears of each packet whose result is not stored as
        that packet's failure (:meth:`results_lost`); the database's error goes
        on up.
        """
        self.checkpoints.results_durable()
        self.checkpoints.nodes.remove(self)
        self.observer.on_node_end(self.label, self.node.node_hash)

    def empty_output(self, table: pa.Table) -> pa.Table:
        tag_names = [*self.tag_schema, *(n for n in table.column_names if is_system_column(n))]
        return side_by_side(table.select(tag_names), self.output_schema.to_arrow().empty_table())

    # -- a batch ---------------------------------------------------------------

    def begin(self, rows: pa.Table) -> _Batch:
        """Hash and look up a batch; report its cached rows; say which rows to compute."""
        self.interruption.check()  # a signal since the last batch: stop before this one
        system = [name for name in rows.column_names if is_system_column(name)]
        tags = RowBlock(rows.select([*self.tag_schema, *system]), self.tag_schema)
        packets = RowBlock(rows.select(list(self.packet_schema)), self.packet_schema)
        batch = _Batch(rows, tags, packets)
        batch.outputs = PythonRowBlock({key: [] for key in self.keys}, self.output_schema)
        batch.columns = list(batch.outputs._columns.values())
        self.unflushed.append(batch)
        lookup = self.node.result_cache.lookup_hashes(self.function, batch.hashes, files=self.files)
        if lookup.damaged:
            batch.repairs = lookup.damaged
            self._warn_damaged(len(lookup.damaged))
        changed: dict[int, str] = {}
        if self.file_inputs is not None:
            columns = {name: packets.values(name) for name in self.file_inputs.columns}
            changed = self.file_inputs.changed(columns, range(len(batch.hashes)))
            for row in changed:
                lookup.hits[row] = False
        found = RowBlock(lookup.outputs, self.output_schema) if any(lookup.hits) else None
        batch.found = lookup.outputs
        batch.hits = lookup.hits
        batch.found_hashes = lookup.output_hashes
        first: dict[str, int] = {}
        repeats: list[int] = []  # rows repeating a packet that failed in an earlier batch
        failed_packets = self.failed_packets
        # Once per row, so written with locals: a cached row is reported and marked.
        outcome, pending, waiting = batch.outcome, batch.pending, batch.waiting
        on_packet_end, label, run_ids = self.observer.on_packet_end, self.label, lookup.run_ids
        for row, (hit, input_hash) in enumerate(zip(lookup.hits, batch.hashes, strict=True)):
            if changed and row in changed:
                continue
            if hit:
                outcome[row] = _FOUND
                on_packet_end(
                    label,
                    Tag(tags, row),
                    Packet(packets, row),
                    Packet(found, row),  # type: ignore[arg-type]  # found exists: a hit
                    cached=True,
                    source_run_id=run_ids[row],
                )
            elif input_hash in first:
                waiting[row] = first[input_hash]
            elif failed_packets and input_hash in failed_packets:
                repeats.append(row)
            else:
                first[input_hash] = row
                pending.append(row)
        for row, message in changed.items():
            batch.failed_rows.append(row)
            self._failed(
                batch, row, Tag(tags, row), Packet(packets, row), FileChangedError(message)
            )
        for row in repeats:
            error = failed_packets[batch.hashes[row]]
            self._failed(batch, row, Tag(tags, row), Packet(packets, row), error)
        hits = lookup.hits.count(True)
        self.counts.cached += hits
        if batch.pending:  # the arguments' values, read from Arrow only when needed
            batch.arguments = [(name, packets.values(name)) for name in self.parameters]
            if self.path_parameters:
                self._warn_path_names(batch)
        self.batch = batch
        if hits or changed or repeats:
            self.checkpoints.packets_finished(hits + len(changed) + len(repeats))
        return batch

    def compute(self, batch: _Batch, row: int) -> None:
        """Run the function on one row's packet, through the executor, and report it.

        The steps of :meth:`compute_async` (``_prepare``, ``_checked``,
        ``_succeeded``) written out in one function: this runs once per packet,
        and each Python call saved is a measurable part of the per-packet budget.
        The run's thread lets go of the checkpoint lock only inside the call, so
        the checkpoint timer may store finished work while a packet runs long.

        Raises:
            BaseException: the packet's error under ``fail_fast``;
                :class:`RunInterrupted` when a signal stops the run.
        """
        interruption = self.interruption
        if interruption.signum is not None:
            interruption.check()  # a signal arrived between packets: stop before this one
        label, isolation = self.label, self.isolation
        tag, packet = Tag(batch.tags, row), Packet(batch.packets, row)
        logger: PacketExecutionLogger = DISCARD
        held: HeldRecords | None = None
        if not isolation.failed:  # _packet_logger, written out
            hook = "on_packet_start"
            try:
                self._on_packet_start(label, tag, packet)
                hook = "create_packet_logger"
                logger = self._create_packet_logger(tag, packet)
                if getattr(logger, "keeps_records", True):
                    held = self.held
                    held.logger = logger
            except Exception as error:
                isolation.fail(hook, error)
                logger, held = DISCARD, None
        kwargs = {name: column[row] for name, column in batch.arguments}
        if self.defaults:
            kwargs.update(self.defaults)
        fn, executor, checkpoints = self.fn, self.executor, self.checkpoints
        lock = checkpoints.lock
        files, scratch = self.files, None
        if files is not None:
            fn, scratch = files.wrap(fn)
        try:
            if self.retries:
                value = self._call_with_retries(fn, kwargs, logger, held)
            else:
                lock.release()
                try:
                    interruption.in_call = True
                    value = (
                        fn(**kwargs)
                        if executor is None
                        else executor.execute_callable(fn, kwargs, logger=held)
                    )
                finally:
                    interruption.in_call = False
                    lock.acquire()
            if held is not None:
                held.release()
            if files is not None:  # kept first: its one read of each file gives the digest
                value = files.keep_returned(value, self.function)
            if self.check is not None and self.check(value):  # one output key: the common case
                values: tuple[Any, ...] = (value,)
            else:
                values = self._checked(value, tag)
        except BaseException as error:
            self._stopped(batch, row, tag, packet, error, held)
            return
        finally:
            if scratch is not None:
                files.discard(scratch)  # type: ignore[union-attr]
        columns = batch.columns
        index = len(columns[0])
        for column, item in zip(columns, values, strict=True):
            column.append(item)
        batch.computed_rows.append(row)
        batch.outcome[row] = ("new", index)
        self.counts.computed += 1
        if not isolation.failed:
            try:
                self._on_packet_end(label, tag, packet, Packet(batch.outputs, index), cached=False)  # type: ignore[arg-type]
            except Exception as error:
                isolation.fail("on_packet_end", error)
        checkpoints.finished += 1
        if checkpoints.finished >= checkpoints.every or monotonic() >= checkpoints.deadline:
            checkpoints.checkpoint()

    async def compute_async(self, batch: _Batch, row: int) -> None:
        """As :meth:`compute`, through the executor's async path."""
        tag, packet, kwargs, logger, held = self._prepare(batch, row)
        fn, files, scratch = self.fn, self.files, None
        if files is not None:
            fn, scratch = files.wrap(fn)
        try:
            if self.retries:
                value = await self._call_with_retries_async(fn, kwargs, logger, held)
            elif self.executor is None:
                value = fn(**kwargs)
            else:
                value = await self.executor.async_execute_callable(fn, kwargs, logger=held)
            if held is not None:
                held.release()
            if files is not None:
                value = files.keep_returned(value, self.function)
            values = self._checked(value, tag)
        except BaseException as error:
            self._stopped(batch, row, tag, packet, error, held)
            return
        finally:
            if scratch is not None:
                files.discard(scratch)  # type: ignore[union-attr]
        self._succeeded(batch, row, tag, packet, values)

    async def compute_pending_async(self, batch: _Batch, workers: int) -> None:
        """:meth:`compute_async` every pending row of ``batch``, at most ``workers`` at a time.

        Raises:
            BaseException: the first packet's error (``fail_fast``, or not an
                ``Exception``), unchanged; the other packets in flight are cancelled.
        """
        pending = iter(batch.pending)

        async def work() -> None:
            # Each worker takes the next row until none is left: at most
            # ``workers`` packets in flight, with no task per packet.
            with carried():
                for row in pending:
                    await self.compute_async(batch, row)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(workers, len(batch.pending))):
                    group.create_task(work())
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None

    def finish(self, batch: _Batch) -> pa.Table:
        """Settle duplicates, store new results and records; the batch's output rows.

        What the batch held for its calls (arguments, computed values, the
        results found) is let go; until its results are durable it keeps only its
        input rows, to report them should the results be lost. When what the run
        holds until its next checkpoint (results stored, input rows of batches
        kept) passes ``Checkpoints.max_pending_bytes`` (large values, such as
        arrays), a checkpoint is taken now.
        """
        self._settle_duplicates(batch)
        self._store_computed(batch)
        self._note_called(batch, final=True)
        self.batch = None
        if batch.stored_parts:
            computed = pa.concat_tables(batch.stored_parts)
            computed_hashes = pa.concat_arrays(batch.stored_hashes)
        else:
            computed = self.output_schema.to_arrow().empty_table()
            computed_hashes = pa.array([], pa.large_string())
        outcome = batch.outcome
        kept = [
            row
            for row in range(batch.rows.num_rows)
            if outcome.get(row, _NO_OUTCOME)[0] in ("found", "new")
        ]
        output_columns, output_hashes = self._outputs(batch, kept, computed, computed_hashes)
        table = side_by_side(batch.tags.table.take(pa.array(kept, pa.int64())), output_columns)
        if batch.recorded:  # a checkpoint recorded some already, with their results
            fresh = [at for at, row in enumerate(kept) if row not in batch.recorded]
            taken = pa.array(fresh, pa.int64())
            rows = [kept[at] for at in fresh]
            self._record(batch, rows, table.take(taken), output_hashes.take(taken))
        else:
            self._record(batch, kept, table, output_hashes)
        self.counts.rows += len(kept)
        batch.release()
        checkpoints = self.checkpoints
        if not batch.computed_rows and self.unflushed and self.unflushed[-1] is batch:
            self.unflushed.pop()  # nothing of it to make durable, or to report lost
        else:
            checkpoints.pending_bytes += batch.rows.nbytes
        if checkpoints.pending_bytes >= checkpoints.max_pending_bytes:
            checkpoints.checkpoint()
        return table

    def store_progress(self) -> None:
        """Store the results computed so far in the batch in progress, and the node
        records of its rows that have one (a checkpoint's start)."""
        if self.batch is not None:
            self._store_computed(self.batch)
            self._note_called(self.batch)
            self._record_progress(self.batch)

    def results_flushed(self) -> None:
        """A checkpoint made the results stored so far durable."""
        for batch in self.unflushed:
            batch.durable = batch.stored
        self.unflushed = [batch for batch in self.unflushed if batch is self.batch]

    def results_lost(self, error: BaseException) -> None:
        """The results computed since the last checkpoint could not be made durable.

        Each of their packets is reported failed (``ResultNotStoredError``),
        after the success it was reported with: its status is not left saying
        ``SUCCESS`` for a result the store does not hold.
        """
        lost, self.unflushed = self.unflushed, []
        reason = ResultNotStoredError(
            "the function returned, but its result could not be stored: "
            f"{type(error).__name__}: {error}"
        )
        for batch in lost:
            for row, (what, index) in list(batch.outcome.items()):
                if what == "new" and index >= batch.durable:
                    batch.outcome[row] = ("failed", reason)
                    if row in batch.waiting:  # a repeat of a computed packet, counted cached
                        self.counts.cached -= 1
                    else:
                        self.counts.computed -= 1
                    tag, packet = Tag(batch.tags, row), Packet(batch.packets, row)
                    self._failed(batch, row, tag, packet, reason)

    def _store_computed(self, batch: _Batch) -> None:
        """Store the batch's computed results not stored yet, in the order they were computed."""
        columns = batch.columns
        start, end = batch.stored, len(columns[0])
        if start == end:
            return
        outputs = batch.outputs
        assert outputs is not None
        part = canonical_outputs(
            {key: column[start:end] for key, column in zip(self.keys, columns, strict=True)},
            self.output_schema,
        )
        hashes = pa.array(hash_table_rows(part), pa.large_string())
        rows = batch.computed_rows[start:end]
        self.checkpoints.wrote(self.written_paths)
        self.node.result_cache.store(
            self.function,
            [batch.hashes[row] for row in rows],
            part,
            run_id=self.ctx.run_id,
            execution_data=self.function.execution_data(self.executor),
            output_hashes=hashes,
            repairs=[batch.repairs.get(row) for row in rows] if batch.repairs else None,
        )
        batch.stored_parts.append(part)
        batch.stored_hashes.append(hashes)
        batch.stored = end
        self.checkpoints.pending_bytes += part.nbytes

    def _note_called(self, batch: _Batch, *, final: bool = False) -> None:
        """Record what became of the batch's packets since the last time, in one write,
        beside their results: those the function was called for (computed, or failed
        after its attempts) and, once the batch is done (``final``), those found
        stored or repeating a packet of the same run (``cached``), so that ``explain``
        knows every tag's input in every run. Cancelled packets are not recorded.
        A computed row is recorded once its result is stored (``_store_computed``).
        """
        computed = batch.computed_rows[batch.noted_computed : batch.stored]
        failed = batch.failed_rows[batch.noted_failed :]
        tag_names = list(self.tag_schema)
        if final and not computed and not failed and not batch.pending and all(batch.hits):
            # Every packet found stored (a re-run): the batch as it is, nothing taken.
            self._write_noted(
                batch.tags.table.select(tag_names),
                None,
                pa.array(batch.hashes, pa.large_string()),
                (0, 0, len(batch.hashes)),
            )
            return
        cached: list[int] = []
        if final:
            cached = [row for row, hit in enumerate(batch.hits) if hit]
            cached += [row for row in batch.waiting if row in batch.outcome]
            cached = [row for row in cached if batch.outcome.get(row, _NO_OUTCOME)[0] != "failed"]
        if not computed and not failed and not cached:
            return
        batch.noted_computed += len(computed)
        batch.noted_failed += len(failed)
        called = computed + failed
        rows = called + cached
        taken = pa.array(rows, pa.int64())
        packet_names = list(self.packet_schema)
        several = len(packet_names) > 1 and called
        self._write_noted(
            batch.tags.table.select(tag_names).take(taken),
            batch.packets.table.select(packet_names).take(taken[: len(called)])
            if several
            else None,
            pa.array([batch.hashes[row] for row in rows], pa.large_string()),
            (len(computed), len(failed), len(cached)),
        )

    def _write_noted(
        self,
        tags: pa.Table,
        packets: pa.Table | None,
        hashes: pa.Array,
        counts: tuple[int, int, int],
    ) -> None:
        """One ``_computed`` record of these packets (see ``computed_records``)."""
        records = computed_records(
            tags, packets, hashes, counts, run_id=self.ctx.run_id, first=self.calls_noted
        )
        self.calls_noted += len(hashes)
        self.checkpoints.wrote(self.written_paths)
        self.node.database.add_records(
            self.node.computed_path, records, RECORD_ID, skip_duplicates=True
        )

    # -- helpers ---------------------------------------------------------------

    def _prepare(
        self, batch: _Batch, row: int
    ) -> tuple[Tag, Packet, dict[str, Any], PacketExecutionLogger, HeldRecords | None]:
        """Report a packet's start; its tag, packet, arguments, logger and the logger the
        executor records through (``None``: no capture).

        The executor records through a :class:`HeldRecords`, handed on once the
        call's result is where a checkpoint stores it.
        """
        tag, packet = Tag(batch.tags, row), Packet(batch.packets, row)
        logger = self._packet_logger(tag, packet)
        held = HeldRecords(logger, self.isolation) if self._keeps_records(logger) else None
        kwargs = {name: column[row] for name, column in batch.arguments}
        if self.defaults:
            kwargs.update(self.defaults)
        return tag, packet, kwargs, logger, held

    def _keeps_records(self, logger: PacketExecutionLogger) -> bool:
        """Whether ``logger`` keeps records (so the call is captured for it); a logger
        failing to say is its observer's failure, and keeps nothing."""
        try:
            return bool(getattr(logger, "keeps_records", True))
        except Exception as error:
            self.isolation.fail("create_packet_logger", error)
            return False

    def _packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """Report a packet's start; the observer's logger for it (``DISCARD`` once the
        observer failed: a failure here is the observer's, reported once)."""
        isolation = self.isolation
        if isolation.failed:
            return DISCARD
        hook = "on_packet_start"
        try:
            self._on_packet_start(self.label, tag, packet)
            hook = "create_packet_logger"
            return self._create_packet_logger(tag, packet)  # type: ignore[no-any-return]
        except Exception as error:
            isolation.fail(hook, error)
            return DISCARD

    def _call_with_retries(
        self,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        logger: PacketExecutionLogger,
        held: HeldRecords | None,
    ) -> Any:
        """Call the function until an attempt succeeds or its error is not retried.

        As :meth:`compute`'s call, the checkpoint lock is let go only inside each
        attempt. A retried attempt is reported at once (:meth:`_retrying`); the
        last attempt's records stay held, numbered, for the caller to hand on.

        Raises:
            BaseException: the last attempt's error, unchanged.
        """
        executor, interruption = self.executor, self.interruption
        lock = self.checkpoints.lock
        attempt = 0
        while True:
            attempt += 1
            start = perf_counter()
            lock.release()
            try:
                interruption.in_call = True
                if executor is None:
                    return fn(**kwargs)
                return executor.execute_callable(fn, kwargs, logger=held)
            except BaseException as error:
                failure = error
            finally:
                interruption.in_call = False
                lock.acquire()
                if held is not None:  # the records held are this attempt's
                    held.records = [{**fields, "attempt": attempt} for fields in held.records]
            if not self.function.retried(failure, attempt):
                raise failure
            self._retrying(logger, held, attempt, failure, perf_counter() - start)
            if interruption.signum is not None:
                interruption.check()  # a signal arrived during the attempt: no other

    async def _call_with_retries_async(
        self,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        logger: PacketExecutionLogger,
        held: HeldRecords | None,
    ) -> Any:
        """As :meth:`_call_with_retries`, through the executor's async path."""
        executor = self.executor
        attempt = 0
        while True:
            attempt += 1
            start = perf_counter()
            try:
                if executor is None:
                    return fn(**kwargs)
                return await executor.async_execute_callable(fn, kwargs, logger=held)
            except BaseException as error:
                failure = error
            finally:
                if held is not None:  # the records held are this attempt's
                    held.records = [{**fields, "attempt": attempt} for fields in held.records]
            if not self.function.retried(failure, attempt):
                raise failure
            self._retrying(logger, held, attempt, failure, perf_counter() - start)

    def _retrying(
        self,
        logger: PacketExecutionLogger,
        held: HeldRecords | None,
        attempt: int,
        error: BaseException,
        duration_s: float,
    ) -> None:
        """Hand on the records of a failed attempt that is retried, marked ``retried=True``.

        They claim no success, so they need not wait for a result. An attempt
        nobody recorded (the logger keeps no records, so it was not captured; or
        the executor records nothing) is recorded here, without its output, so
        that an observer such as StatusObserver hears of every retried attempt.
        """
        if held is not None and held.records:
            held.records = [{**fields, "retried": True} for fields in held.records]
            held.release()
            return
        executor, isolation = self.executor, self.isolation
        if isolation.failed:
            return
        try:
            logger.record(
                attempt=attempt,
                success=False,
                retried=True,
                traceback=bound_text("".join(format_exception(error)), self.MAX_RETRIED_TRACEBACK),
                duration_s=duration_s,
                executor_type="direct" if executor is None else executor.executor_type,
            )
        except Exception as failure:  # an observer's failure never fails the packet
            isolation.fail("record", failure)

    def _warn_damaged(self, count: int) -> None:
        warnings.warn(
            f"node {self.label!r}: {count} stored result(s) of function {self.function.name!r} "
            f"name output files that are missing or altered in the file store at "
            f"{str(self.node.result_cache.files.root)!r}; computing them again",
            FileStoreWarning,
            stacklevel=2,
        )

    def _warn_path_names(self, batch: _Batch) -> None:
        """Warn once per node and run when a ``Path`` parameter names an existing file."""
        for name, values in batch.arguments:
            if name not in self.path_parameters:
                continue
            for row in batch.pending:
                value = values[row]
                if value is not None and os.path.exists(value):
                    self.path_parameters = []
                    warnings.warn(
                        f"node {self.label!r}: parameter {name!r} of function "
                        f"{self.function.name!r} is a Path, and {str(value)!r} names an existing "
                        f"{'directory' if os.path.isdir(value) else 'file'}: it is hashed by its "
                        "name, so editing it will not recompute; annotate File or Directory to "
                        "identify it by content",
                        PathIdentityWarning,
                        stacklevel=2,
                    )
                    return

    def _check_single_retry(self, executor: object) -> None:
        """Refuse retries declared twice: by the function, and by an executor retrying
        on its own (attempts would multiply).

        Raises:
            ValueError: naming the node, both settings and the two ways out.
        """
        own = getattr(executor, "max_retries", 0)
        if type(own) is int and own > 0:
            raise ValueError(
                f"node {self.label!r}: function {self.function.name!r} declares retries="
                f"{self.retries} and its executor {executor!r} retries on its own "
                f"(max_retries={own}); attempts would multiply. Declare retries in one "
                "place: the executor with max_retries=0 (list the errors it retried, such "
                "as WorkerDiedError, in the function's retry_on), or the function with retries=0"
            )

    def _checked(self, value: Any, tag: Tag) -> tuple[Any, ...]:
        """The values of each output key, or ReturnValueError naming the tag."""
        try:
            values = self.function.split_outputs(value)
        except ReturnValueError as error:
            raise ReturnValueError(f"{error} (tag {tag.as_dict()})") from None
        for check, item in zip(self.checks, values, strict=True):
            if not check(item):
                wrong = self.function.value_error(dict(zip(self.keys, values, strict=True)))
                raise ReturnValueError(f"{wrong} (tag {tag.as_dict()})")
        return values

    def _succeeded(
        self, batch: _Batch, row: int, tag: Tag, packet: Packet, values: tuple[Any, ...]
    ) -> None:
        outputs = batch.outputs
        assert outputs is not None
        columns = batch.columns
        index = len(columns[0])
        for column, item in zip(columns, values, strict=True):
            column.append(item)
        batch.computed_rows.append(row)
        batch.outcome[row] = ("new", index)
        self.counts.computed += 1
        isolation = self.isolation
        if not isolation.failed:
            try:
                self._on_packet_end(self.label, tag, packet, Packet(outputs, index), cached=False)
            except Exception as error:
                isolation.fail("on_packet_end", error)
        self.checkpoints.packets_finished()

    def _stopped(
        self,
        batch: _Batch,
        row: int,
        tag: Tag,
        packet: Packet,
        error: BaseException,
        held: HeldRecords | None,
    ) -> None:
        """A packet ended without a result: cancelled, or failed.

        Any error of the user's code is the packet's failure, ``SystemExit`` and
        ``KeyboardInterrupt`` included. Only the run stopping (a signal's
        :class:`RunInterrupted`, or the cancellation of the packet's task)
        cancels the packet, and goes on up.

        Raises:
            BaseException: ``error`` when it stops the run: a cancellation, or
                the packet's failure under ``fail_fast``.
        """
        cancelled = isinstance(error, RunInterrupted | asyncio.CancelledError)
        if held is not None:
            held.release(cancelled=cancelled)
        if cancelled:
            batch.outcome[row] = ("cancelled", None)
            signum = self.interruption.signum
            why = (
                f"the run was interrupted by {signal.Signals(signum).name}"
                if signum is not None
                else "another packet failed the run (fail_fast)"
            )
            self.observer.on_packet_crash(self.label, tag, packet, PacketCancelled(why))
            raise error
        batch.failed_rows.append(row)
        self.failed_packets[batch.hashes[row]] = error
        self._failed(batch, row, tag, packet, error)
        self.checkpoints.packets_finished()
        if self.ctx.fail_fast:
            raise error

    def _failed(
        self, batch: _Batch, row: int, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        batch.outcome[row] = ("failed", error)
        self.counts.failed += 1
        message = str(error)
        if len(message) > MAX_FAILURE_MESSAGE:
            message = f"{message[:MAX_FAILURE_MESSAGE]}[... {len(message)} characters in all]"
        self.ctx.failures.append(
            PacketFailure(self.label, tag.as_dict(), type(error).__name__, message)
        )
        self.observer.on_packet_crash(self.label, tag, packet, error)

    def _settle_duplicates(self, batch: _Batch) -> None:
        """Rows repeating an earlier row's packet share its result (or its failure)."""
        for row, first in batch.waiting.items():
            outcome = batch.outcome.get(first, _NO_OUTCOME)
            if outcome[0] not in ("new", "failed"):
                continue  # its packet never ran, or was cancelled: neither has this row
            tag, packet = Tag(batch.tags, row), Packet(batch.packets, row)
            if outcome[0] == "new":
                batch.outcome[row] = outcome
                self.counts.cached += 1
                self.observer.on_packet_end(
                    self.label,
                    tag,
                    packet,
                    Packet(batch.outputs, outcome[1]),  # type: ignore[arg-type]
                    cached=True,
                    source_run_id=self.ctx.run_id,
                )
            else:
                error = outcome[1] or RuntimeError("the identical packet before it failed")
                self._failed(batch, row, tag, packet, error)

    def _outputs(
        self, batch: _Batch, kept: list[int], computed: pa.Table, computed_hashes: pa.Array
    ) -> tuple[pa.Table, pa.Array]:
        """The output columns of the kept rows and their output packet hashes.

        Each comes from the cache or from this run's ``computed`` rows.
        """
        found, found_hashes = batch.found, batch.found_hashes
        assert found is not None
        assert found_hashes is not None
        index = []
        for row in kept:
            where, position = batch.outcome[row]
            index.append(row if where == "found" else found.num_rows + position)
        rows = pa.array(index, pa.int64())
        combined = pa.concat_tables([found, computed.cast(found.schema)])
        hashes = pa.concat_arrays([found_hashes, computed_hashes]).take(rows)
        return combined.take(rows).cast(self.output_schema.to_arrow()), hashes

    def _record_progress(self, batch: _Batch) -> None:
        """Record the rows of the batch in progress that have a result now and no record
        yet: those found stored (at the batch's first checkpoint), and each computed
        row whose result is stored, with the rows repeating its packet.

        A checkpoint in the middle of a batch makes the results computed so far
        durable; their rows are recorded in the same checkpoint (whose flush
        writes records before results), so that after a kill ``history()`` holds
        every row ``as_table()`` shows. :meth:`finish` records the others. Only
        the rows new since the last checkpoint are looked at (the found ones and
        the repeats once per batch).
        """
        found_hashes = batch.found_hashes
        assert found_hashes is not None
        rows: list[int] = []
        hashes: list[pa.Array] = []
        if batch.repeats is None:  # the batch's first checkpoint
            batch.repeats = {}
            for row, first in batch.waiting.items():
                batch.repeats.setdefault(first, []).append(row)
            rows = [row for row, outcome in batch.outcome.items() if outcome is _FOUND]
            hashes.append(found_hashes.take(pa.array(rows, pa.int64())))
        computed = batch.computed_rows[batch.recorded_computed : batch.stored]
        if computed:
            # The output hashes stored since the last time: of computed rows
            # recorded_computed..stored, in the order they were computed.
            stored = pa.concat_arrays(batch.stored_hashes[batch.recorded_parts :])
            positions: list[int] = []
            start, outcome, repeats = batch.recorded_computed, batch.outcome, batch.repeats
            for row in computed:
                position = outcome[row][1] - start
                for each in (row, *repeats.get(row, ())):
                    rows.append(each)
                    positions.append(position)
            hashes.append(stored.take(pa.array(positions, pa.int64())))
            batch.recorded_computed = batch.stored
            batch.recorded_parts = len(batch.stored_hashes)
        if not rows:
            return
        batch.recorded.update(rows)
        tags = batch.tags.table.take(pa.array(rows, pa.int64()))
        self._record(batch, rows, tags, pa.concat_arrays(hashes))

    def _record(self, batch: _Batch, kept: list[int], table: pa.Table, outputs: pa.Array) -> None:
        """Store a pipeline record per kept row: tags, provenance, input and output hashes.

        ``table`` holds the kept rows' tag (and system) columns, ``outputs`` their
        output packets' hashes. A record's id is its provenance and input hash,
        so a row recorded by an earlier run is not recorded again.
        """
        if not kept:
            return
        tag_names = [name for name in [*self.tag_schema, PROVENANCE] if name in table.column_names]
        records = table.select(tag_names)
        inputs = pa.array([batch.hashes[row] for row in kept], pa.large_string())
        if PROVENANCE in table.column_names:
            # Arrow joins strings of ``list`` but not of ``large_list`` arrays.
            references = table.column(PROVENANCE).cast(pa.list_(pa.large_string()))
            origin = pc.binary_join(references, pa.scalar(";", pa.large_string()))
            ids = pc.binary_join_element_wise(origin, inputs, pa.scalar("|", pa.large_string()))
        else:
            ids = inputs
        records = records.append_column(INPUT_HASH, inputs)
        records = records.append_column(OUTPUT_HASH, outputs)
        records = records.append_column(RECORD_ID, ids)
        self.checkpoints.wrote(self.written_paths)
        self.node.database.add_records(
            self.node.pipeline_path, records, RECORD_ID, skip_duplicates=True
        )


class Carried(Exception):
    """A ``BaseException`` that is not an ``Exception`` (``SystemExit``,
    ``KeyboardInterrupt`` raised by a function under ``fail_fast``; a signal's
    :class:`RunInterrupted`), carried out of asyncio tasks as an ``Exception``.

    asyncio lets such an error escape its event loop from whichever task raised
    it, abandoning the other tasks ("Task was destroyed but it is pending!",
    "Task exception was never retrieved"). Carried, it ends the task group as
    any failure does; :func:`uncarried` raises the error itself once outside
    the event loop.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


@contextmanager
def carried() -> Iterator[None]:
    """Inside an asyncio task: raise a ``BaseException`` other than a cancellation as
    :class:`Carried`."""
    try:
        yield
    except (Exception, asyncio.CancelledError):
        raise
    except BaseException as error:
        raise Carried(error) from None


@contextmanager
def uncarried() -> Iterator[None]:
    """Around an event loop's run: raise a :class:`Carried` error as itself."""
    try:
        yield
    except Carried as carrier:
        raise carrier.error from None


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The first error of a task group that is not a cancellation caused by another."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return first_error(error)
        if not isinstance(error, asyncio.CancelledError):
            return error
    return group.exceptions[0]


def record_runs(nodes: Sequence[FunctionNode], run_id: str, started_at: datetime) -> None:
    """Record that run ``run_id`` runs these function nodes, for ``explain``: each
    version's identity (once) and each node's run, in one write per table for the
    whole run (a write per node would be a commit per node on a store like Delta).
    They become durable at the run's first checkpoint."""
    if not nodes:
        return
    database = nodes[0].database
    identities = pa.concat_tables([node.identity_record() for node in nodes])
    database.add_records(nodes[0].identities_path, identities, RECORD_ID, skip_duplicates=True)
    runs = pa.concat_tables(
        [node_run_record(run_id, node.label, node.node_hash, started_at) for node in nodes]
    )
    database.add_records(nodes[0].node_runs_path, runs, RECORD_ID, skip_duplicates=True)
