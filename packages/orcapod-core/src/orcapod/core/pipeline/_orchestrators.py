"""Orchestrators: run a compiled pipeline's nodes, node by node or all at once."""

from __future__ import annotations

import asyncio
import signal
import uuid
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING

from orcapod.core.errors import OrcapodError, RunInterrupted
from orcapod.core.pipeline._durability import (
    DEFAULT_FLUSH_EVERY,
    DEFAULT_FLUSH_INTERVAL,
    Checkpoints,
    Interruption,
    asyncio_checkpoints,
    flush_order,
)
from orcapod.core.pipeline._memory import prefer_jemalloc
from orcapod.core.pipeline._nodes import (
    FunctionNode,
    Node,
    carried,
    first_error,
    record_runs,
    uncarried,
)
from orcapod.core.pipeline._run import RunContext, RunResult
from orcapod.core.pipeline._streaming import (
    FunctionRunTask,
    RowCounts,
    Task,
    drive,
    run_task,
)
from orcapod.core.streams._batches import BATCH_BYTES, BATCH_ROWS, BatchSize
from orcapod.protocols.isolation import isolate
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
    import pyarrow as pa

    from orcapod.core.pipeline._pipeline import Pipeline
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import ExecutionObserver
    from orcapod.protocols.values import ErrorPolicy

__all__ = ["AsyncPipelineOrchestrator", "Orchestrator", "SyncPipelineOrchestrator"]


class Orchestrator(ABC):
    """Runs a compiled pipeline: the run's bookkeeping here, the order of nodes in subclasses."""

    def run(
        self,
        pipeline: Pipeline,
        *,
        observer: ExecutionObserver,
        executor: PacketFunctionExecutor | None = None,
        error_policy: ErrorPolicy = "continue",
        run_id: str | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_every: int = DEFAULT_FLUSH_EVERY,
        batch_rows: int = BATCH_ROWS,
        batch_bytes: int = BATCH_BYTES,
    ) -> RunResult:
        """Run every node of ``pipeline`` once and say what happened.

        ``observer.on_run_start`` is called before any node runs and
        ``on_run_end`` always, however the run ends. Nodes hand each other
        tables of at most ``batch_rows`` rows and ``batch_bytes`` bytes (a row
        larger than that travels alone). Finished work becomes
        durable at checkpoints, every ``flush_interval`` seconds and every
        ``flush_every`` finished packets, results before the observer's rows
        (see ``_durability``). SIGTERM, SIGINT and SIGHUP stop the run cleanly:
        it stores what finished, records ``INTERRUPTED``, puts the previous
        handlers back and delivers the signal to them (a default handler then
        ends the process as the signal does; if the program's own handler
        returns, so does this, with state ``INTERRUPTED``).

        Raises:
            BaseException: with ``error_policy="fail_fast"``, the first packet's error,
                unchanged; any error outside a packet.
            ValueError: a bad ``flush_interval``, ``flush_every``, ``batch_rows`` or
                ``batch_bytes``.
        """
        size = BatchSize(batch_rows, batch_bytes)
        prefer_jemalloc()
        observer = isolate(observer)  # an observer's failure never fails the run
        checkpoints = Checkpoints(
            pipeline.database,
            observer,
            paths=flush_order(pipeline.nodes.values()),
            flush_interval=flush_interval,
            flush_every=flush_every,
        )
        interruption = Interruption()
        ctx = RunContext(
            run_id=run_id or uuid.uuid4().hex,
            database=pipeline.database,
            result_cache=pipeline.result_cache,
            observer=observer,
            error_policy=error_policy,
            checkpoints=checkpoints,
            interruption=interruption,
            executor=executor,
            batch=size,
        )
        for node in pipeline.nodes.values():  # what a node shows in a notebook
            node.latest_run = (ctx.run_id, ctx.counts_of(node.label))
        started = datetime.now(UTC)
        clock = perf_counter()
        function_nodes = [n for n in pipeline.nodes.values() if isinstance(n, FunctionNode)]
        record_runs(function_nodes, ctx.run_id, started)
        info = RunInfo(ctx.run_id, pipeline.name, pipeline.uri, started, checkpoints.interval)
        observer.on_run_start(info)
        state, error = RunState.FAILED, None
        interruption.install()
        checkpoints.lock.acquire()  # let go only inside users' calls (see _durability)
        try:
            checkpoints.start_timer()
            try:
                self._execute(pipeline, ctx)
                state = RunState.PARTIAL if ctx.failures else RunState.SUCCESS
            except BaseException as caught:
                stopped_by_signal = interruption.signum is not None and isinstance(
                    caught, RunInterrupted | asyncio.CancelledError
                )
                if not stopped_by_signal:
                    error = _summary(caught)
                    raise
                state = RunState.INTERRUPTED
                error = f"interrupted by {signal.Signals(interruption.signum).name}"  # type: ignore[arg-type]
            finally:
                checkpoints.stop_timer()
                try:
                    checkpoints.results_durable()
                except BaseException as caught:  # the run's results are not all stored
                    state, error = RunState.FAILED, _summary(caught)
                    raise
                finally:
                    totals = [ctx.counts_of(node.label) for node in pipeline.nodes.values()]
                    outcome = RunOutcome(
                        state=state,
                        ended_at=datetime.now(UTC),
                        n_success=sum(c.computed for c in totals),
                        n_failed=sum(c.failed for c in totals),
                        n_cached=sum(c.cached for c in totals),
                        error=error,
                    )
                    observer.on_run_end(info, outcome)
        finally:
            checkpoints.lock.release()
            interruption.restore()
        interruption.redeliver()  # when a signal arrived: its previous handler's turn
        return RunResult(
            run_id=ctx.run_id,
            pipeline=pipeline.name,
            state=state,
            nodes={label: ctx.counts_of(label) for label in pipeline.nodes},
            failures=list(ctx.failures),
            started_at=started,
            duration_s=perf_counter() - clock,
        )

    @abstractmethod
    def _execute(self, pipeline: Pipeline, ctx: RunContext) -> None:
        """Run every node, each once, inputs before the nodes that read them."""


class SyncPipelineOrchestrator(Orchestrator):
    """Runs the nodes in one thread, each batch through every node that reads it.

    Each batch a source gives goes through the nodes downstream before the
    next: the run holds a batch or so per node, not a node's whole output
    (only an operator that needs all its input, such as a join, holds it).
    """

    def _execute(self, pipeline: Pipeline, ctx: RunContext) -> None:
        counts = RowCounts()
        nodes = list(pipeline.nodes.values())
        tasks = {node: run_task(node, ctx.batch, counts, ctx) for node in nodes}
        for _ in drive(nodes, tasks):
            pass


class AsyncPipelineOrchestrator(Orchestrator):
    """Runs every node at once as an asyncio task, joined by bounded channels.

    Rows flow between nodes in batches through channels of ``channel_size``
    batches each; a full channel makes its producer wait (backpressure). A
    function node computes up to ``max_concurrency`` packets at a time (a
    node's own ``max_concurrency`` overrides it) through its executor's async
    path (``LocalExecutor`` runs each call in a worker thread). An operator
    that streams (column changes, a filter) computes each batch as it
    arrives; one that needs all its input (a join, a group-by) reads all of it
    first.

    Args:
        max_concurrency: packets in flight per function node.
        channel_size: batches a channel holds before its producer waits.

    Raises:
        ValueError: an argument is not a whole number of at least 1.
    """

    def __init__(self, *, max_concurrency: int = 16, channel_size: int = 4) -> None:
        for name, value in (("max_concurrency", max_concurrency), ("channel_size", channel_size)):
            if type(value) is not int or value < 1:
                raise ValueError(f"AsyncPipelineOrchestrator got {name}={value!r}; use >= 1")
        self.max_concurrency = max_concurrency
        self.channel_size = channel_size

    def _execute(self, pipeline: Pipeline, ctx: RunContext) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise OrcapodError(
                "AsyncPipelineOrchestrator.run was called inside a running event loop; "
                "from async code, await orchestrator.execute_async(pipeline, ctx) instead, or "
                "run the pipeline from a thread"
            )
        with uncarried():
            asyncio.run(self.execute_async(pipeline, ctx))

    async def execute_async(self, pipeline: Pipeline, ctx: RunContext) -> None:
        """Run every node of ``pipeline`` as a task of the running event loop.

        Raises:
            Carried: a ``BaseException`` that is not an ``Exception`` (a
                function's ``SystemExit`` under ``fail_fast``, a signal's
                ``RunInterrupted``), as ``.error``: raised as itself it would
                escape the event loop from its task. :meth:`run` raises the error
                itself.
        """
        channels: dict[str, list[asyncio.Queue[pa.Table | None]]] = {
            label: [] for label in pipeline.nodes
        }
        inputs: dict[str, list[asyncio.Queue[pa.Table | None]]] = {}
        for node in pipeline.nodes.values():
            inputs[node.label] = []
            for upstream in node.upstreams:
                channel: asyncio.Queue[pa.Table | None] = asyncio.Queue(self.channel_size)
                channels[upstream.label].append(channel)
                inputs[node.label].append(channel)
        counts = RowCounts()
        try:
            with asyncio_checkpoints(ctx):
                async with asyncio.TaskGroup() as group:
                    for node in pipeline.nodes.values():
                        task = self._task(node, ctx, counts)
                        group.create_task(
                            self._run_node(task, inputs[node.label], channels[node.label])
                        )
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None

    def _task(self, node: Node, ctx: RunContext, counts: RowCounts) -> Task:
        if isinstance(node, FunctionNode):
            own = node.max_concurrency
            workers = own if own is not None else self.max_concurrency
            return FunctionRunTask(node, ctx.batch, counts, ctx, workers=workers)
        return run_task(node, ctx.batch, counts, ctx)

    async def _run_node(
        self,
        task: Task,
        inputs: list[asyncio.Queue[pa.Table | None]],
        outputs: list[asyncio.Queue[pa.Table | None]],
    ) -> None:
        with carried():
            try:
                if not inputs:
                    task.begin()
                    for table in task.produce():
                        await _send(table, outputs)
                elif isinstance(task, FunctionRunTask):
                    await self._run_function(task, inputs[0], outputs)
                else:
                    await asyncio.gather(
                        *(self._take(task, n, channel, outputs) for n, channel in enumerate(inputs))
                    )
                    task.begin()
                    for index in range(len(inputs)):
                        for table in task.close(index):
                            await _send(table, outputs)
            finally:
                task.end()
        for queue in outputs:
            await queue.put(None)

    @staticmethod
    async def _take(
        task: Task,
        index: int,
        channel: asyncio.Queue[pa.Table | None],
        outputs: list[asyncio.Queue[pa.Table | None]],
    ) -> None:
        """Push every table of input ``index`` into ``task``; send on what it gives."""
        while (table := await channel.get()) is not None:
            task.begin()  # on its first table, as the sync orchestrator starts it
            for output in list(task.push(index, table)):
                await _send(output, outputs)

    @staticmethod
    async def _run_function(
        task: FunctionRunTask,
        source: asyncio.Queue[pa.Table | None],
        outputs: list[asyncio.Queue[pa.Table | None]],
    ) -> None:
        """As :meth:`FunctionRunTask.push`, with its packets in flight on the event loop."""
        while (table := await source.get()) is not None:
            task.begin()  # on its first table, as the sync orchestrator starts it
            task.received += table.num_rows
            if table.num_rows == 0:
                task.input_template = table
                continue
            for rows in task.pieces(table):
                for output in list(task.emit(await task.compute_async(rows))):
                    await _send(output, outputs)
        task.begin()
        for output in task.close(0):
            await _send(output, outputs)


async def _send(table: pa.Table, outputs: list[asyncio.Queue[pa.Table | None]]) -> None:
    for queue in outputs:
        await queue.put(table)


MAX_RUN_ERROR = 10_000
"""Characters of the error that stopped a run kept in its record."""


def _summary(error: BaseException) -> str:
    """``Type: message`` of the error that stopped a run, at most ``MAX_RUN_ERROR`` characters."""
    text = f"{type(error).__name__}: {error}"
    if len(text) > MAX_RUN_ERROR:
        text = f"{text[:MAX_RUN_ERROR]}[... {len(text)} characters in all]"
    return text
