"""What a run is told (RunContext) and what it reports (RunResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orcapod.core.streams._batches import BatchSize
from orcapod.protocols.values import RunState

if TYPE_CHECKING:
    from datetime import datetime

    from orcapod.core.function_pods import ResultCache
    from orcapod.core.pipeline._durability import Checkpoints, Interruption
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import ExecutionObserver
    from orcapod.protocols.values import ErrorPolicy

__all__ = ["NodeCounts", "PacketFailure", "RunContext", "RunResult"]


@dataclass
class NodeCounts:
    """What one node did in a run.

    Attributes:
        computed: packets whose function ran and succeeded.
        cached: packets whose result was already stored (or computed earlier in
            this run for an identical packet).
        failed: packets whose function (or its executor) failed, or returned a
            value that does not fit the outputs.
        rows: rows the node passed on.
    """

    computed: int = 0
    cached: int = 0
    failed: int = 0
    rows: int = 0


@dataclass(frozen=True)
class PacketFailure:
    """One packet that failed: where, for which tag, and why."""

    node: str
    tag: dict[str, Any]
    error_type: str
    message: str


@dataclass
class RunResult:
    """What a pipeline run did.

    Attributes:
        run_id: the run's id, stored with every result it computed.
        pipeline: the pipeline's name.
        state: ``SUCCESS``, ``PARTIAL`` (some packets failed, the rest went on),
            ``FAILED`` (the run stopped early) or ``INTERRUPTED`` (a signal stopped
            it; what finished was stored).
        nodes: per node label, its counts.
        failures: every failed packet.
        started_at: when the run began (UTC).
        duration_s: how long it took.
    """

    run_id: str
    pipeline: str
    state: RunState
    nodes: dict[str, NodeCounts]
    failures: list[PacketFailure]
    started_at: datetime
    duration_s: float

    @property
    def ok(self) -> bool:
        """Whether every packet of every node was computed or cached."""
        return self.state is RunState.SUCCESS

    @property
    def n_computed(self) -> int:
        return sum(counts.computed for counts in self.nodes.values())

    @property
    def n_cached(self) -> int:
        return sum(counts.cached for counts in self.nodes.values())

    @property
    def n_failed(self) -> int:
        return sum(counts.failed for counts in self.nodes.values())

    def _repr_html_(self) -> str:
        """A notebook's view: state, counts and duration, a row per node, the first failures."""
        from orcapod.protocols.notebook import html_summary, html_table

        nodes = html_table(
            ["node", "computed", "cached", "failed", "rows"],
            ([label, c.computed, c.cached, c.failed, c.rows] for label, c in self.nodes.items()),
            total=len(self.nodes),
        )
        sections = [(f"{len(self.nodes)} nodes", nodes)]
        if self.failures:
            failures = html_table(
                ["node", "tag", "error", "message"],
                ([f.node, f.tag, f.error_type, f.message] for f in self.failures),
                total=len(self.failures),
            )
            sections.append((f"{len(self.failures)} failed packets", failures))
        return html_summary(
            f"run {self.run_id} of pipeline {self.pipeline!r}",
            [
                ("state", self.state),
                ("computed", self.n_computed),
                ("cached", self.n_cached),
                ("failed", self.n_failed),
                ("started", self.started_at.isoformat(timespec="seconds")),
                ("duration", f"{self.duration_s:.3f} s"),
            ],
            sections,
        )

    def __str__(self) -> str:
        lines = [
            f"run {self.run_id} of pipeline {self.pipeline!r}: {self.state} in "
            f"{self.duration_s:.3f} s"
        ]
        for label, counts in self.nodes.items():
            lines.append(
                f"  {label}: {counts.computed} computed, {counts.cached} cached, "
                f"{counts.failed} failed, {counts.rows} rows"
            )
        lines.extend(
            f"  failed: {f.node} {f.tag}: {f.error_type}: {f.message}" for f in self.failures
        )
        return "\n".join(lines)


@dataclass
class RunContext:
    """Everything a node needs during one run, handed down by the orchestrator."""

    run_id: str
    database: ArrowDatabase
    result_cache: ResultCache
    observer: ExecutionObserver
    error_policy: ErrorPolicy
    checkpoints: Checkpoints
    """When and how finished work becomes durable."""
    interruption: Interruption
    """The signal that stopped the run, if one did, and how to stop it."""
    executor: PacketFunctionExecutor | None = None
    """Replaces every function node's executor for this run, when set."""
    batch: BatchSize = field(default_factory=BatchSize)
    """How large the tables nodes hand each other may be."""
    counts: dict[str, NodeCounts] = field(default_factory=dict)
    failures: list[PacketFailure] = field(default_factory=list)

    def counts_of(self, label: str) -> NodeCounts:
        return self.counts.setdefault(label, NodeCounts())

    @property
    def fail_fast(self) -> bool:
        return self.error_policy == "fail_fast"
