"""Orchestrators: run a compiled pipeline's nodes, node by node or all at once."""

from __future__ import annotations

import asyncio
import signal
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.core.errors import OrcapodError, RunInterrupted
from orcapod.core.pipeline._durability import (
    DEFAULT_FLUSH_EVERY,
    DEFAULT_FLUSH_INTERVAL,
    Checkpoints,
    Interruption,
    asyncio_checkpoints,
)
from orcapod.core.pipeline._nodes import (
    FunctionNode,
    FunctionNodeRun,
    Node,
    OperatorNode,
    SourceNode,
    batches,
    carried,
    first_error,
    record_runs,
    uncarried,
)
from orcapod.core.pipeline._run import RunContext, RunResult
from orcapod.protocols.isolation import isolate
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
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
    ) -> RunResult:
        """Run every node of ``pipeline`` once and say what happened.

        ``observer.on_run_start`` is called before any node runs and
        ``on_run_end`` always, however the run ends. Finished work becomes
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
            ValueError: a bad ``flush_interval`` or ``flush_every``.
        """
        observer = isolate(observer)  # an observer's failure never fails the run
        checkpoints = Checkpoints(
            pipeline.database,
            observer,
            # Each once: the function nodes share their pipeline's _identities and _node_runs.
            paths=list(
                dict.fromkeys(
                    path for node in pipeline.nodes.values() for path in node.written_paths()
                )
            ),
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
    """Runs the nodes one after another, in topological order, each over all its rows."""

    def _execute(self, pipeline: Pipeline, ctx: RunContext) -> None:
        outputs: dict[str, pa.Table] = {}
        readers = _readers(pipeline)
        for node in pipeline.nodes.values():
            ctx.interruption.check()  # a signal during the node before: stop here
            inputs = [outputs[upstream.label] for upstream in node.upstreams]
            outputs[node.label] = node.execute(inputs, ctx)
            for upstream in node.upstreams:  # let go of tables nobody will read again
                readers[upstream.label] -= 1
                if readers[upstream.label] == 0:
                    del outputs[upstream.label]


class AsyncPipelineOrchestrator(Orchestrator):
    """Runs every node at once as an asyncio task, joined by bounded channels.

    Rows flow between nodes in batches through channels of ``channel_size``
    batches each; a full channel makes its producer wait (backpressure). A
    function node computes up to ``max_concurrency`` packets at a time (a
    node's own ``max_concurrency`` overrides it) through its executor's async
    path (``LocalExecutor`` runs each call in a worker thread). Operator nodes
    read all their inputs before they compute.

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
        counts = _RowCounts()
        try:
            with asyncio_checkpoints(ctx):
                async with asyncio.TaskGroup() as group:
                    for node in pipeline.nodes.values():
                        group.create_task(
                            self._run_node(
                                node, inputs[node.label], channels[node.label], ctx, counts
                            )
                        )
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None

    async def _run_node(
        self,
        node: Node,
        inputs: list[asyncio.Queue[pa.Table | None]],
        outputs: list[asyncio.Queue[pa.Table | None]],
        ctx: RunContext,
        counts: _RowCounts,
    ) -> None:
        with carried():
            if isinstance(node, FunctionNode):
                await self._run_function(node, inputs[0], outputs, ctx, counts)
            elif isinstance(node, OperatorNode | SourceNode):
                tables = await asyncio.gather(*(_drain(channel) for channel in inputs))
                table = node.execute(list(tables), ctx)
                counts.whole[node.label] = table.num_rows
                await _emit(table, outputs)
            else:  # pragma: no cover - every node is one of the three
                raise TypeError(f"cannot run node {node!r}")

    async def _run_function(
        self,
        node: FunctionNode,
        source: asyncio.Queue[pa.Table | None],
        outputs: list[asyncio.Queue[pa.Table | None]],
        ctx: RunContext,
        counts: _RowCounts,
    ) -> None:
        run = FunctionNodeRun(node, ctx)
        workers = self._concurrency(node)
        upstream = node.upstreams[0].label
        run.start()
        try:
            rows = await source.get()
            told = counts.of(upstream)
            told = 0 if told is None and rows is None else told
            run.tell_inputs(told)
            if told is not None:
                counts.expected[node.label] = told
            sent = 0
            while rows is not None:
                if counts.whole.get(upstream, told) != told:  # the upstream's packets failed
                    told = counts.whole[upstream]
                    run.tell_inputs(told)
                batch = run.begin(rows)
                try:
                    await run.compute_pending_async(batch, workers)
                except BaseException:
                    run.finish(batch)  # keep what was computed before the failure
                    raise
                table = run.finish(batch)
                sent += table.num_rows
                for queue in outputs:
                    await queue.put(table)
                rows = await source.get()
            if counts.whole.get(upstream, told) != told:
                run.tell_inputs(counts.whole[upstream])
            counts.whole[node.label] = sent
        finally:
            run.end()
        for queue in outputs:
            await queue.put(None)

    def _concurrency(self, node: Node) -> int:
        own = getattr(node, "max_concurrency", None)
        return own if own is not None else self.max_concurrency


@dataclass
class _RowCounts:
    """What the async orchestrator knows of each node's output rows, for input counts.

    A source's or an operator's output is whole before its first batch is sent,
    so its count is set before that batch arrives anywhere. A function node
    streams: it sends a row per input row that does not fail, so until it has
    ended its own input count stands for its output's (exact unless packets fail,
    and then corrected: ``on_node_inputs`` is told again).
    """

    whole: dict[str, int] = field(default_factory=dict)
    """Output rows of the nodes that have sent all of them."""
    expected: dict[str, int] = field(default_factory=dict)
    """Input rows of the function nodes running: the most they will send."""

    def of(self, label: str) -> int | None:
        """The rows node ``label`` sends: exact where whole, else the most expected."""
        return self.whole.get(label, self.expected.get(label))


def _readers(pipeline: Pipeline) -> dict[str, int]:
    readers = dict.fromkeys(pipeline.nodes, 0)
    for node in pipeline.nodes.values():
        for upstream in node.upstreams:
            readers[upstream.label] += 1
    return readers


async def _drain(channel: asyncio.Queue[pa.Table | None]) -> pa.Table:
    parts = []
    while (table := await channel.get()) is not None:
        parts.append(table)
    return pa.concat_tables(parts)


async def _emit(table: pa.Table, outputs: list[asyncio.Queue[pa.Table | None]]) -> None:
    """Send ``table`` down every channel in batches (at least one, maybe empty), then the end."""
    parts = batches(table) or [table]
    for queue in outputs:
        for part in parts:
            await queue.put(part)
        await queue.put(None)


MAX_RUN_ERROR = 10_000
"""Characters of the error that stopped a run kept in its record."""


def _summary(error: BaseException) -> str:
    """``Type: message`` of the error that stopped a run, at most ``MAX_RUN_ERROR`` characters."""
    text = f"{type(error).__name__}: {error}"
    if len(text) > MAX_RUN_ERROR:
        text = f"{text[:MAX_RUN_ERROR]}[... {len(text)} characters in all]"
    return text
