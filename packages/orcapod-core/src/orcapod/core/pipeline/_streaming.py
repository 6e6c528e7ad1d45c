"""Streaming a compiled pipeline: nodes hand each other tables bounded in rows and bytes.

One *pass* over the graph (a run, or a read of a node's results) gives each
node a *task*. Sources produce batches; every batch a node emits is pushed
at once into the nodes that read it, so a pipeline holds the batches in
flight, not its packets. A node whose operator needs all of its input (a
join, a group-by) keeps its input's batches until the last one arrives, and
only that node holds them.

Each task emits at least one table, empty if it has no rows, so that a node
downstream always learns the columns (and their Arrow types) of its input.

The sync orchestrator and a node's reads (``as_table``, ``iter_batches``)
drive a pass with :func:`drive`; the async orchestrator drives the same tasks
through channels.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.core._walks import inputs_first
from orcapod.core.hashing import hash_table_rows
from orcapod.core.pipeline._durability import asyncio_checkpoints
from orcapod.core.pipeline._nodes import (
    RECORD_ID,
    FunctionNode,
    FunctionNodeRun,
    Node,
    OperatorNode,
    SourceNode,
    _Batch,
    tell_inputs,
    tell_progress,
    uncarried,
)
from orcapod.core.streams import BatchSize, schemas_of, split

if TYPE_CHECKING:
    from collections.abc import Coroutine, Generator, Iterable, Iterator, Sequence
    from typing import Any

    from orcapod.core.pipeline._run import RunContext
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.observability import ExecutionObserver

    # What a step of drive() yields: a node's output, or a step to run to its end first.
    _Step = tuple[Node, pa.Table] | Generator["_Step", None, None]

__all__ = [
    "RowCounts",
    "Task",
    "drive",
    "read_tasks",
    "run_task",
]

_FIRST_PIECE_ROWS = 16
"""Rows a function node computes first, before it knows how large its outputs are."""


@dataclass
class RowCounts:
    """What a pass knows of each node's output rows, for the input counts nodes are told.

    A source's count is known before it sends anything (where its stream says);
    an operator that needs all its input knows its output before it sends it;
    a function node sends a row per input row that does not fail, so until it
    ends, its input count stands for its output's (corrected when packets fail:
    ``on_node_inputs`` is told again).
    """

    whole: dict[str, int] = field(default_factory=dict)
    """Output rows of the nodes that have sent all of them."""
    expected: dict[str, int | None] = field(default_factory=dict)
    """The most rows each node still sending will send (``None``: not known)."""

    def of(self, label: str) -> int | None:
        """The rows node ``label`` sends: exact once it ended, else the most expected."""
        if label in self.whole:
            return self.whole[label]
        return self.expected.get(label)


class Task:
    """One node's part in one pass: what it does with each input table it is handed.

    The driver calls :meth:`start` before the first :meth:`push` or
    :meth:`close`, :meth:`push` for each table of each input (``index``: the
    input's position), :meth:`close` once per input when it has sent all of its
    tables, and :meth:`end` once, however the pass ends. A source's task
    :meth:`produce`\\ s its tables instead. What :meth:`push` and :meth:`close`
    yield is the node's output, sent on at once.

    In a run (``ctx`` given) the node's observer hears of its start, its input
    count and its end; a read (``ctx=None``) tells nobody and stores nothing.
    """

    counts_rows = True
    """Whether :meth:`emit` counts the run's output rows of the node (else the node does)."""

    def __init__(
        self, node: Node, size: BatchSize, counts: RowCounts, ctx: RunContext | None = None
    ) -> None:
        self.node = node
        self.label = node.label
        self.size = size
        self.counts = counts
        self.ctx = ctx
        self.observer: ExecutionObserver | None = None if ctx is None else node._observer(ctx)
        self.inputs = len(node.upstreams)
        self.closed = 0
        self.received = 0  # input rows
        self.sent = 0  # output rows
        self.started = False  # the observer was told of the node's start
        self.begun = False
        self.told: int | None = None
        self._template: pa.Table | None = None  # the last empty output, in case none other

    def begin(self) -> None:
        """Start the node, once: before its first :meth:`push` or :meth:`close`, or before
        it produces."""
        if not self.begun:
            self.begun = True
            self.start()

    def start(self) -> None:
        """The node's start (see :meth:`begin`)."""
        self.started = True
        if self.observer is not None:
            self.observer.on_node_start(
                self.label, self.node.node_hash, self.node.output_schema()[0]
            )

    def produce(self) -> Iterator[pa.Table]:
        """A source's output tables."""
        raise NotImplementedError(f"{self.node!r} has inputs; it is pushed to")

    def push(self, index: int, table: pa.Table) -> Iterator[pa.Table]:
        """Take a table of input ``index``; yield the output it makes now."""
        raise NotImplementedError(f"{self.node!r} has no inputs")

    def close(self, index: int) -> Iterator[pa.Table]:
        """Input ``index`` has sent everything; yield the output that completes."""
        self.closed += 1
        if self.closed == self.inputs:
            yield from self.finish()

    def finish(self) -> Iterator[pa.Table]:
        """Every input has sent everything: ``counts`` knows the node's output; the last
        output (downstream, started by it, is told the exact count)."""
        self.counts.whole[self.label] = self.sent
        if self.sent == 0 and self._template is not None:
            yield self._template  # no rows: downstream still learns the columns

    def end(self) -> None:
        """The node's end: called once, after :meth:`start`, however the pass ends.

        In a run, the results computed so far are made durable first: nodes
        downstream have computed packets by now, and an observer may write their
        successes at any node's end (DESIGN §11: never before their results). If
        they cannot be, the observer is not told, and the database's error goes on up.
        """
        if self.started and self.observer is not None:
            assert self.ctx is not None
            self.ctx.checkpoints.results_durable()
            self.observer.on_node_end(self.label, self.node.node_hash)

    def tell(self, count: int | None) -> None:
        """Tell the observer how many input rows the node has (``None``: not known)."""
        self.told = count
        if self.observer is not None:
            tell_inputs(self.observer, self.label, count)

    def correct(self) -> None:
        """Tell the observer the node's input count again if what it was told was not it."""
        if self.told != self.received:
            self.tell(self.received)

    def emit(self, table: pa.Table) -> Iterator[pa.Table]:
        """``table`` in batches of the pass's size (an empty table is kept as the template)."""
        if table.num_rows == 0:
            if self.sent == 0:
                self._template = table
            return
        self.sent += table.num_rows
        if self.ctx is not None and self.counts_rows:
            self.ctx.counts_of(self.label).rows += table.num_rows
        yield from split(table, self.size)


class _SourceTask(Task):
    def produce(self) -> Iterator[pa.Table]:
        stream = self.node.stream
        counter = getattr(stream, "row_count", None)
        self.counts.expected[self.label] = counter() if counter is not None else None
        for table in stream_batches(self.node, self.size):
            if self.ctx is not None:
                self.ctx.interruption.check()  # a signal: stop before the next batch
            yield from self.emit(table)
        yield from self.finish()


class _OperatorTask(Task):
    """An operator's task: computes each batch alone where the operator streams, else
    keeps its inputs' batches and computes once all have arrived. In a run, its
    output rows are stored batch by batch; an operator that needs all its input
    starts (for its observer) once it has it, and is told its exact input count."""

    def __init__(
        self, node: Node, size: BatchSize, counts: RowCounts, ctx: RunContext | None = None
    ) -> None:
        super().__init__(node, size, counts, ctx)
        assert isinstance(node, OperatorNode)
        self.operator = node.stream.operator
        self.streams = self.inputs == 1 and self.operator.streams
        self.schemas = [schemas_of(stream) for stream in node.stream.inputs]
        self.parts: list[list[pa.Table]] = [[] for _ in range(self.inputs)]

    def start(self) -> None:
        if self.streams:
            super().start()
            # Row-preserving or not, it sends at most the rows it is sent.
            expected = self.counts.of(self.node.upstreams[0].label)
            self.counts.expected[self.label] = expected
            self.tell(expected)

    def push(self, index: int, table: pa.Table) -> Iterator[pa.Table]:
        self.received += table.num_rows
        if self.streams:
            yield from self.output(self.operator.compute([table], self.schemas), table.num_rows)
        else:
            self.parts[index].append(table)

    def finish(self) -> Iterator[pa.Table]:
        if self.streams:
            self.correct()
        else:
            super().start()
            self.tell(self.received)
            tables = [pa.concat_tables(parts) for parts in self.parts]
            self.parts = []
            output = self.operator.compute(tables, self.schemas)
            del tables
            self.counts.expected[self.label] = output.num_rows
            yield from self.output(output, self.received)
        yield from super().finish()

    def output(self, table: pa.Table, done: int) -> Iterator[pa.Table]:
        """Store and send ``table``, the output of ``done`` input rows, which the
        observer is told are done (it hears of no packets)."""
        table = self.node._select(table, True)
        if self.ctx is not None:
            self.ctx.checkpoints.wrote(self.node.written_paths())
            store_rows(self.node.database, self.node.pipeline_path, table)
            tell_progress(self.observer, self.label, done)
        yield from self.emit(table)


class _Pieces(Task):
    """A function node's input, cut in pieces sized for the batch bound.

    A piece is as many rows as the bound allows for the larger of an input row
    and an output row. The outputs' size is learnt from the first
    :data:`_FIRST_PIECE_ROWS` rows (then 8 times as many, until some output is
    seen) and relearnt from each piece, so a function returning large values
    (arrays) never holds much more than a batch of them.
    """

    output_row_bytes: float | None = None
    probe = _FIRST_PIECE_ROWS

    def pieces(self, table: pa.Table) -> Iterator[pa.Table]:
        start, rows = 0, table.num_rows
        input_row_bytes = table.nbytes / rows if rows else 0.0
        while start < rows:
            if self.output_row_bytes is None:
                count = min(self.probe, self.size.rows_for(input_row_bytes))
                self.probe *= 8
            else:
                count = self.size.rows_for(max(input_row_bytes, self.output_row_bytes))
            yield table.slice(start, count)
            start += count

    def learn(self, output: pa.Table) -> None:
        """Learn the size of an output row from a piece's output."""
        if output.num_rows:
            self.output_row_bytes = output.nbytes / output.num_rows


class FunctionRunTask(_Pieces):
    """A function node's task in a run: its packets looked up or computed, a piece at a time."""

    counts_rows = False  # FunctionNodeRun counts them

    def __init__(
        self,
        node: Node,
        size: BatchSize,
        counts: RowCounts,
        ctx: RunContext,
        *,
        workers: int | None = None,
    ) -> None:
        super().__init__(node, size, counts)
        assert isinstance(node, FunctionNode)
        self.run = FunctionNodeRun(node, ctx)
        self.ctx, self.observer = ctx, self.run.observer  # the run's, contextualized once
        concurrency = getattr(self.run.executor, "concurrency", 1)
        self.concurrent = type(concurrency) is int and concurrency > 1
        # Packets in flight: the async orchestrator's setting, else what the executor can run.
        self.workers = workers if workers is not None else concurrency if self.concurrent else 1
        self.upstream = node.upstreams[0].label
        self.input_template: pa.Table | None = None

    def start(self) -> None:
        self.run.start()
        self.started = True
        expected = self.counts.of(self.upstream)
        self.counts.expected[self.label] = expected
        self.tell(expected)

    def tell(self, count: int | None) -> None:
        self.told = count
        self.run.tell_inputs(count)

    def push(self, index: int, table: pa.Table) -> Iterator[pa.Table]:
        self.received += table.num_rows
        if table.num_rows == 0:
            self.input_template = table
            return
        for rows in self.pieces(table):
            yield from self.emit(self.compute(rows))

    def look_up(self, rows: pa.Table) -> _Batch:
        """A piece's lookups (see ``FunctionNodeRun.begin``), after the upstream's
        count is checked: when its packets failed, the input count is told again."""
        whole = self.counts.whole.get(self.upstream)
        if whole is not None and whole != self.told:
            self.tell(whole)
        return self.run.begin(rows)

    def compute(self, rows: pa.Table) -> pa.Table:
        """One piece's packets, looked up or computed, stored; its output rows."""
        if self.concurrent:
            return run_coroutine(self._checkpointed(rows))
        run = self.run
        batch = self.look_up(rows)
        try:
            for row in batch.pending:
                run.compute(batch, row)
        except BaseException:
            run.finish(batch)  # keep what was computed before the failure
            raise
        output = run.finish(batch)
        self.learn(output)
        return output

    async def _checkpointed(self, rows: pa.Table) -> pa.Table:
        with asyncio_checkpoints(self.run.ctx):
            return await self.compute_async(rows)

    async def compute_async(self, rows: pa.Table) -> pa.Table:
        """As :meth:`compute`, up to :attr:`workers` packets at a time through the async
        path (on an event loop that takes the run's checkpoints)."""
        run = self.run
        batch = self.look_up(rows)
        try:
            await run.compute_pending_async(batch, self.workers)
        except BaseException:
            run.finish(batch)  # keep what was computed before the failure
            raise
        output = run.finish(batch)
        self.learn(output)
        return output

    def finish(self) -> Iterator[pa.Table]:
        self.correct()
        if self.sent == 0 and self._template is None and self.input_template is not None:
            self._template = self.run.empty_output(self.input_template)
        yield from super().finish()

    def end(self) -> None:
        if self.started:
            self.run.end()


def run_task(node: Node, size: BatchSize, counts: RowCounts, ctx: RunContext) -> Task:
    """The task of ``node`` in a run."""
    if isinstance(node, FunctionNode):
        return FunctionRunTask(node, size, counts, ctx)
    if isinstance(node, OperatorNode):
        return _OperatorTask(node, size, counts, ctx)
    if isinstance(node, SourceNode):
        return _SourceTask(node, size, counts, ctx)
    raise TypeError(f"cannot run node {node!r}")  # pragma: no cover - one of the three


# -- reads ---------------------------------------------------------------------


class _FunctionRead(_Pieces):
    """A function node's stored results for its current inputs, looked up a piece at a time.

    With ``limit``, lookups stop once that many rows were found; the input rows
    are still counted (:attr:`received`).
    """

    def __init__(
        self, node: Node, size: BatchSize, counts: RowCounts, limit: int | None = None
    ) -> None:
        super().__init__(node, size, counts)
        assert isinstance(node, FunctionNode)
        self.function_node = node
        self.limit = limit

    def push(self, index: int, table: pa.Table) -> Iterator[pa.Table]:
        self.received += table.num_rows
        if self.limit is not None and self.sent >= self.limit:
            return
        for rows in self.pieces(table) if table.num_rows else [table]:
            found = self.node._select(self.function_node.stored_results(rows), True)
            self.learn(found)
            yield from self.emit(found)
            if self.limit is not None and self.sent >= self.limit:
                return


def read_tasks(
    target: Node, size: BatchSize, *, limit: int | None = None
) -> tuple[list[Node], dict[Node, Task]]:
    """The nodes a read of ``target`` passes through (its ancestors, then it), in an order
    where each comes after its inputs, and each one's read task (``limit``: see
    :class:`_FunctionRead`, for ``target``)."""
    order = inputs_first([target], lambda node: node.upstreams)
    counts = RowCounts()
    tasks: dict[Node, Task] = {}
    for node in order:
        if isinstance(node, FunctionNode):
            tasks[node] = _FunctionRead(node, size, counts, limit if node is target else None)
        elif isinstance(node, OperatorNode):
            tasks[node] = _OperatorTask(node, size, counts)
        else:
            tasks[node] = _SourceTask(node, size, counts)
    return order, tasks


# -- the sync driver ------------------------------------------------------------


def drive(nodes: Sequence[Node], tasks: dict[Node, Task]) -> Iterator[tuple[Node, pa.Table]]:
    """Pass every source's tables through the graph, depth first; yield each node's output.

    ``nodes`` come in an order where each follows its inputs. Every task that
    started is ended, in the order they started, however the pass ends (the
    first error of an ending is raised after the others ended, unless the pass
    itself failed).

    A table a node sends goes through every node downstream before the node
    makes its next one. That is a walk as deep as the graph: its steps (``send``,
    ``done``) hand each other on as generators run by :func:`_run_steps`, which
    keeps them on a stack of its own, not as Python frames (a pipeline thousands
    of nodes deep would exceed the recursion limit).
    """
    readers: dict[Node, list[tuple[Node, int]]] = {node: [] for node in nodes}
    for node in nodes:
        for index, upstream in enumerate(node.upstreams):
            readers[upstream].append((node, index))
    waiting = {node: len(node.upstreams) for node in nodes}
    started: dict[Node, Task] = {}  # in the order they started
    ended: set[Node] = set()

    def begin(node: Node) -> Task:
        task = tasks[node]
        if node not in started:
            started[node] = task
            task.begin()
        return task

    def send(node: Node, table: pa.Table) -> Generator[_Step, None, None]:
        """``node`` sends ``table``: its readers take it and send on what it makes."""
        yield node, table
        for reader, index in readers[node]:
            for output in begin(reader).push(index, table):
                yield send(reader, output)

    def done(node: Node) -> Generator[_Step, None, None]:
        """``node`` has sent everything: end it, and close its readers' inputs."""
        ended.add(node)
        tasks[node].end()
        for reader, index in readers[node]:
            for output in begin(reader).close(index):
                yield send(reader, output)
            waiting[reader] -= 1
            if waiting[reader] == 0:
                yield done(reader)

    def sources() -> Generator[_Step, None, None]:
        for node in nodes:
            if node.upstreams:
                continue
            for output in begin(node).produce():
                yield send(node, output)
            yield done(node)

    failed = False
    try:
        yield from _run_steps(sources())
    except BaseException:
        failed = True
        raise
    finally:
        _end_all([t for n, t in started.items() if n not in ended], raise_first=not failed)


def _run_steps(first: Generator[_Step, None, None]) -> Iterator[tuple[Node, pa.Table]]:
    """Run a step: yield the (node, table) outputs it yields, and run each step it
    yields to its end before it goes on, as ``yield from`` would, without recursion.

    However the run ends (an error, or the caller closing it), the steps still
    unfinished are closed, the innermost first.
    """
    stack = [first]
    try:
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
            elif isinstance(step, tuple):
                yield step
            else:
                stack.append(step)
    finally:
        while stack:
            stack.pop().close()


def _end_all(tasks: Sequence[Task], *, raise_first: bool) -> None:
    """End each task; the first error is raised once all ended (if ``raise_first``)."""
    error: BaseException | None = None
    for task in tasks:
        try:
            task.end()
        except BaseException as caught:
            error = error or caught
    if error is not None and raise_first:
        raise error


def stream_batches(node: Node, size: BatchSize) -> Iterator[pa.Table]:
    """A source node's tables with system columns, each within ``size``; at least one."""
    stream = node.stream
    reader = getattr(stream, "iter_batches", None)
    if reader is not None:
        tables: Iterable[pa.Table] = reader(
            include_system_columns=True, max_rows=size.rows, max_bytes=size.bytes
        )
    else:  # a stream of the protocol only
        tables = split(stream.as_table(include_system_columns=True), size)
    empty = None
    for table in tables:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows:
            empty = False
            yield table
        elif empty is None:
            empty = table
    if empty is not False:
        yield stream.as_table(include_system_columns=True).slice(0, 0) if empty is None else empty


def run_coroutine(coroutine: Coroutine[Any, Any, pa.Table]) -> pa.Table:
    """Run ``coroutine`` to its end from synchronous code, even inside a running event loop.

    Inside one (a notebook, an async caller of the sync orchestrator) it runs
    in an event loop of its own on a helper thread.
    """
    with uncarried():
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        with ThreadPoolExecutor(1, thread_name_prefix="orcapod-node") as thread:
            return thread.submit(asyncio.run, coroutine).result()


def store_rows(database: ArrowDatabase, path: tuple[str, ...], table: pa.Table) -> None:
    """Store an operator's output rows, each once (its id: the hash of all its columns)."""
    if table.num_rows == 0:
        return
    ids = pa.array(hash_table_rows(table), pa.large_string())
    database.add_records(path, table.append_column(RECORD_ID, ids), RECORD_ID, skip_duplicates=True)
