"""Contracts of observers: what a run tells the outside world as it goes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["BaseObserver", "DiscardingPacketLogger", "ExecutionObserver", "PacketExecutionLogger"]


@runtime_checkable
class PacketExecutionLogger(Protocol):
    """Receives what one execution attempt of one packet printed, logged and raised.

    Created per packet by :meth:`ExecutionObserver.create_packet_logger` and
    handed down to the executor, which calls :meth:`record` once per attempt.

    A logger that keeps nothing may say so with a class attribute
    ``keeps_records = False``; callers then skip capturing for it (read it with
    ``getattr(logger, "keeps_records", True)``: loggers without it keep records).
    """

    def record(self, **fields: Any) -> None:
        """Record one attempt. Known fields are listed by ``ExecutionRecordFields``;
        unknown ones are kept or ignored at the observer's discretion."""
        ...


@runtime_checkable
class ExecutionObserver(Protocol):
    """Hooks called by orchestrators and nodes as a pipeline runs.

    Hooks receive only plain values and protocol types, never concrete node
    classes. Call order, per run::

        on_run_start
          ctx = contextualize(*pipeline_path)           # per node
          ctx.on_node_start
            ctx.on_node_inputs                          # optional hook, see below
            ctx.on_packet_end(cached=True)              # cache hit, or:
            ctx.on_packet_start; ctx.create_packet_logger
            ctx.on_packet_end(cached=False) | ctx.on_packet_crash
            ctx.on_node_progress                        # optional; operators, not packets
          ctx.on_node_end
        on_run_end                                      # always, in finally

    and ``flush`` at the run's checkpoints, between any of these.

    **Optional hooks.** ``on_node_inputs(node_label, count)`` (see
    :meth:`BaseObserver.on_node_inputs`) tells a node's input count, for each
    node with inputs, after ``on_node_start`` and before the node's first packet
    hook (and again if the count is corrected). ``on_node_progress(node_label,
    rows)`` (see :meth:`BaseObserver.on_node_progress`) tells, for a node that
    reports no packets (an operator), how many more of its input rows it is
    done with. They are not members of this protocol, so an observer written
    before them still is an ``ExecutionObserver``: callers look them up with
    ``getattr`` and skip an observer that lacks them.

    **Durability.** An observer buffers its rows and writes them durably only
    when the run calls :meth:`flush`, :meth:`on_node_end` or
    :meth:`on_run_end`: the run calls them only after the results of every
    packet reported so far are durable, so a ``SUCCESS`` is never durable
    before its result. An observer must not write rows on its own schedule.

    An observer must not raise into the run for its own failures; the run
    isolates observers that do (reports the first failure, then skips them).
    """

    def on_run_start(self, run: RunInfo) -> None:
        """A run begins; called before any node runs."""
        ...

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """A run ended, however it ended; always called."""
        ...

    def flush(self) -> None:
        """Make every row buffered so far durable (and refresh the run's heartbeat).

        Called by the run at least every ``flush_interval`` seconds while it
        runs, possibly from a timer thread while a packet runs on the main
        thread, so an observer that buffers guards its buffers with a lock.
        Called on the top-level observer only; a node's observer (from
        :meth:`contextualize`) shares its parent's buffers.
        """
        ...

    def contextualize(self, *pipeline_path: str) -> ExecutionObserver:
        """An observer for one node, bound to the node's pipeline path.

        The path says where the node's records live; observers mirror it
        under their own branches (``_logs``, ``_status``).
        """
        ...

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        """A node begins; ``tag_schema`` is the schema of every tag it will report."""
        ...

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        """A node finished all its packets (or the run stopped inside it)."""
        ...

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        """A packet is about to be computed (not called for cache hits)."""
        ...

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
        """A packet has its result.

        Args:
            cached: the result came from the store, not from running the function.
            source_run_id: for a cached result, the run that computed it, if known.
        """
        ...

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        """Computing a packet failed with ``error`` (after its attempts were recorded).

        ``error`` is a :class:`~orcapod.protocols.errors.PacketCancelled` when the
        packet did not fail but was stopped in flight because the run stopped
        (``fail_fast`` after another packet failed, or a signal): its state is
        ``CANCELLED``.
        """
        ...

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """A logger for the execution attempts of one packet of this node."""
        ...


class DiscardingPacketLogger:
    """A packet logger that keeps nothing (``keeps_records = False``: no capture is done for it)."""

    keeps_records = False

    def record(self, **fields: Any) -> None:
        """Discard ``fields``."""


_DISCARDING = DiscardingPacketLogger()


class BaseObserver:
    """An :class:`ExecutionObserver` whose every hook does nothing: subclass it and
    override only the hooks you need.

    :meth:`contextualize` returns the observer itself and
    :meth:`create_packet_logger` a :class:`DiscardingPacketLogger`; override
    them to keep per-node state or the packets' captured output. A subclass is
    isolated by the run like any observer (its first failure is reported, then
    it is skipped): set ``isolates_failures = True`` only if it never raises.

    Example::

        class CountFailures(BaseObserver):
            def __init__(self) -> None:
                self.failed = 0

            def on_packet_crash(self, node_label, tag, packet, error) -> None:
                self.failed += 1
    """

    def on_run_start(self, run: RunInfo) -> None:
        """Nothing to do at the start of a run."""

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """Nothing to do at the end of a run."""

    def flush(self) -> None:
        """Nothing is buffered: nothing to write."""

    def contextualize(self, *pipeline_path: str) -> Self:
        """This observer itself: no per-node state to bind."""
        return self

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        """Nothing to do at the start of a node."""

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        """Nothing to do with a node's input count.

        An optional hook (not a member of :class:`ExecutionObserver`): told for
        each node that reads inputs, after :meth:`on_node_start` and before the
        node's first packet hook. It may be told again, later, with a corrected
        count: the asynchronous orchestrator tells a node fed by a function node
        still running that node's input count (it sends a row per input row
        that does not fail), then the exact count once it has ended, where it
        differs.

        Args:
            count: the rows the node reads from its inputs (all together); a
                function node reports one packet per row (its result, a cache
                hit or a failure) unless the run stops first, and an operator
                node reports them done (:meth:`on_node_progress`). ``None`` when
                the count is not known before the node's rows arrive.
        """

    def on_node_progress(self, node_label: str, rows: int) -> None:
        """Nothing to do with the input rows an operator node is done with.

        An optional hook (not a member of :class:`ExecutionObserver`), for the
        nodes that report no packets, operators: ``rows`` more of the node's
        input rows are done, its output made of them and stored. Told after
        :meth:`on_node_inputs` and before :meth:`on_node_end`, once per input
        batch for an operator that streams, once with all its input for one
        that needs it all (a join, a group-by); what it is told adds up to the
        node's input count unless the run stops first.
        """

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        """Nothing to do at the end of a node."""

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        """Nothing to do before a packet is computed."""

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
        """Nothing to do with a packet's result."""

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        """Nothing to do with a packet's failure."""

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """A logger that discards every record."""
        return _DISCARDING
