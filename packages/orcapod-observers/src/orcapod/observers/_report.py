"""``orcapod report``: one self-contained HTML page of a pipeline's run, read from its store.

The page has the DAG coloured by the run's node states, per node its packets'
outcomes and a histogram of their durations, the pipeline's runs, the run's
failed packets (what each printed, logged and raised; collapsed) and its
execution context. It is summarised, never a list of every packet, so a run
of 100,000 packets gives a page of the same size as one of ten; failed
packets are listed up to a bound, with the count of the rest.

What is read: the observers' run records, status events and log rows
(:class:`ObservabilityReader`), and the run's ``_graph`` record, which
``Pipeline.run`` stores at the start of every run (older stores: the function
nodes of ``_identities``), read and drawn by :mod:`orcapod.protocols.graph`,
so a report needs no orcapod-core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.observers._reader import ObservabilityReader
from orcapod.observers._report_html import render_report
from orcapod.protocols.graph import (
    GraphNode,
    PipelineGraph,
    RecordedGraph,
    legend,
    recorded_graph,
    render_svg,
)

if TYPE_CHECKING:
    from orcapod.protocols.database import ArrowDatabase

__all__ = [
    "FAILURES_SHOWN",
    "HISTOGRAM_BINS",
    "RUNS_SHOWN",
    "TEXT_CHARS",
    "Durations",
    "FailedPacket",
    "NodeReport",
    "RunReport",
    "build_report",
    "write_report",
]

FAILURES_SHOWN = 200
"""Failed packets listed in a report (oldest first); the rest are counted."""
RUNS_SHOWN = 50
"""Runs listed in a report (newest first); the rest are counted."""
TEXT_CHARS = 10_000
"""Characters of one captured output (stdout, stderr, traceback) shown: its start and end."""
HISTOGRAM_BINS = 24
"""Bars of a node's duration histogram."""

_RENAMED = {"python_version": "python"}
_LOG_FIELDS = (
    "__attempt",
    "__timestamp",
    "__duration_s",
    "__stdout",
    "__stderr",
    "__python_logs",
    "__traceback",
    "__executor_type",
    "__capture_level",
    "__stdout_truncated",
    "__stderr_truncated",
    "__python_logs_dropped",
    "__capture_error",
)


@dataclass(frozen=True)
class Durations:
    """How long a node's attempts took: a summary and a histogram of equal-width bins."""

    count: int
    total_s: float
    low_s: float
    median_s: float
    p95_s: float
    high_s: float
    bins: tuple[int, ...]


@dataclass
class NodeReport:
    """One node's part of the run: its packets per state and its attempts' durations."""

    label: str
    kind: str
    detail: str = ""
    state: str | None = None
    observed: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    durations: Durations | None = None
    executors: tuple[str, ...] = ()
    capture_levels: tuple[str, ...] = ()

    @property
    def rows(self) -> int | None:
        """Packets that gave a row (computed or found stored); None where not observed."""
        if not self.observed:
            return None
        return self.counts.get("SUCCESS", 0) + self.counts.get("CACHED", 0)


@dataclass(frozen=True)
class FailedPacket:
    """A failed packet of the run: its tags, its error, and each attempt's log row."""

    node: str
    tags: tuple[tuple[str, Any], ...]
    timestamp: datetime | None
    attempt: int | None
    error: str
    attempts: tuple[dict[str, Any], ...]


@dataclass
class RunReport:
    """Everything a report shows, read from the store."""

    pipeline: str
    uri: str
    run: dict[str, Any]
    runs: list[dict[str, Any]]
    n_runs: int
    nodes: list[NodeReport]
    failures: list[FailedPacket]
    n_failed: int
    graph_svg: str
    graph_note: str
    legend: list[tuple[str, str, str, str]]
    context: list[tuple[str, str, str]]
    generated_at: datetime
    failures_shown: int = FAILURES_SHOWN

    @property
    def run_id(self) -> str:
        return str(self.run["__run_id"])


def write_report(
    database: ArrowDatabase,
    pipeline: str,
    output: str | Path,
    run_id: str | None = None,
    *,
    uri: str = "",
    failures_shown: int = FAILURES_SHOWN,
) -> Path:
    """Write the HTML report of run ``run_id`` (default: the latest) of ``pipeline`` to ``output``.

    Returns:
        The path written.

    Raises:
        UnknownPipelineError: the database has no observability records of the pipeline.
        UnknownRunError: no such run of the pipeline.
        ObservabilityError: the pipeline has no run records.
    """
    report = build_report(database, pipeline, run_id, uri=uri, failures_shown=failures_shown)
    path = Path(output)
    path.write_bytes(render_report(report).encode("utf-8", errors="replace"))
    return path


def build_report(
    database: ArrowDatabase,
    pipeline: str,
    run_id: str | None = None,
    *,
    uri: str = "",
    failures_shown: int = FAILURES_SHOWN,
) -> RunReport:
    """Read what a report of run ``run_id`` (default: the latest) of ``pipeline`` shows.

    Raises:
        as :func:`write_report`.
    """
    from orcapod.observers.errors import ObservabilityError, UnknownRunError

    reader = ObservabilityReader(database, pipeline)
    runs = reader.runs()
    if runs.num_rows == 0:
        raise ObservabilityError(
            f"pipeline {pipeline!r} has no run records: run it with a LoggingObserver or "
            "StatusObserver first"
        )
    chosen = runs if run_id is None else runs.filter(pc.equal(runs["__run_id"], run_id))
    if chosen.num_rows == 0:
        recent = ", ".join(runs["__run_id"].to_pylist()[:5])
        raise UnknownRunError(f"pipeline {pipeline!r} has no run {run_id!r}; recent runs: {recent}")
    run = chosen.slice(0, 1).to_pylist()[0]
    graph = recorded_graph(database, pipeline, run["__run_id"])
    nodes, failures = _node_reports(reader, run, graph, failures_shown)
    n_failed = sum(node.counts.get("FAILED", 0) for node in nodes)
    svg, note, keys = _picture(graph, nodes, run)
    return RunReport(
        pipeline=pipeline,
        uri=uri or str(run.get("__pipeline_uri") or ""),
        run=run,
        runs=runs.slice(0, RUNS_SHOWN).to_pylist(),
        n_runs=runs.num_rows,
        nodes=nodes,
        failures=failures,
        n_failed=n_failed,
        graph_svg=svg,
        graph_note=note,
        legend=keys,
        context=_context(run, graph, nodes),
        generated_at=datetime.now(UTC),
        failures_shown=failures_shown,
    )


def _node_reports(
    reader: ObservabilityReader, run: dict[str, Any], graph: RecordedGraph | None, limit: int
) -> tuple[list[NodeReport], list[FailedPacket]]:
    """A report per node: the graph's nodes (in order), then any other node with records;
    and the run's failed packets, oldest first per node, up to ``limit``.

    Nodes are read one at a time, and of each only its summary and the failed
    packets listed are kept, so a report holds one node's records at most."""
    observed = reader.nodes()
    nodes: dict[str, NodeReport] = {}
    if graph is not None:
        for node in graph.graph.nodes:
            nodes[node.label] = NodeReport(node.label, node.kind, node.detail)
    for label in observed:
        nodes.setdefault(label, NodeReport(label, "function"))
    failures: list[FailedPacket] = []
    for label in observed:
        failures += _read_node(reader, run, nodes[label], limit - len(failures))
    return list(nodes.values()), failures


def _read_node(
    reader: ObservabilityReader, run: dict[str, Any], node: NodeReport, limit: int
) -> list[FailedPacket]:
    """Fill ``node`` with its packets' latest states and its attempts' durations in the run;
    return its first ``limit`` failed packets (oldest first) with their failed attempts."""
    run_id = run["__run_id"]
    status = reader.status(node=node.label, run_id=run_id)
    node.observed = True
    if status.num_rows:
        counted = pc.value_counts(status["__state"].combine_chunks()).to_pylist()
        node.counts = {str(item["values"]): int(item["counts"]) for item in counted}
    failed = status.filter(pc.equal(status["__state"], "FAILED"))
    failed = failed.sort_by([("__timestamp", "ascending")]).slice(0, max(limit, 0))
    del status
    logs = reader.logs(node=node.label, run_id=run_id)
    if logs.num_rows:
        node.durations = _durations(logs["__duration_s"])
        node.executors = _distinct(logs["__executor_type"])
        node.capture_levels = _distinct(logs["__capture_level"])
    node.state = _node_state(node.counts, run.get("__state"), bool(node.counts or logs.num_rows))
    attempts = _attempts_of(logs, failed["__packet_key"])
    tag_names = [name for name in failed.column_names if not name.startswith("__")]
    return [
        FailedPacket(
            node=node.label,
            tags=tuple((name, row[name]) for name in tag_names),
            timestamp=row["__timestamp"],
            attempt=row["__attempt"],
            error=row.get("__error_summary") or "",
            attempts=tuple(attempts.get(row["__packet_key"], ())),
        )
        for row in failed.to_pylist()
    ]


def _node_state(counts: dict[str, int], run_state: str | None, any_record: bool) -> str:
    """The key of ``orcapod.protocols.graph.STATE_COLOURS`` a node is drawn with."""
    given = counts.get("SUCCESS", 0) + counts.get("CACHED", 0)
    bad = counts.get("FAILED", 0) + counts.get("LOST", 0) + counts.get("CANCELLED", 0)
    if counts.get("RUNNING", 0) and run_state == "RUNNING":
        return "running"
    if bad:
        return "partial" if given else "failed"
    if counts.get("SUCCESS", 0):
        return "computed"
    if counts.get("CACHED", 0):
        return "cached"
    return "empty" if any_record else "not_run"


def _distinct(column: pa.ChunkedArray) -> tuple[str, ...]:
    values = pc.unique(pc.drop_null(column.combine_chunks()))
    return tuple(sorted(str(value) for value in values.to_pylist()))


def _durations(column: pa.ChunkedArray) -> Durations | None:
    """The summary and histogram of ``column`` (seconds), computed in Arrow."""
    values = pc.drop_null(column.combine_chunks()).cast(pa.float64())
    if len(values) == 0:
        return None
    low, high = (float(v) for v in pc.min_max(values).values())
    median, p95 = (float(v) for v in pc.quantile(values, q=[0.5, 0.95]).to_pylist())
    bins = [0] * HISTOGRAM_BINS
    if high > low:
        width = (high - low) / HISTOGRAM_BINS
        where = pc.floor(pc.divide(pc.subtract(values, low), width)).cast(pa.int64())
        where = pc.min_element_wise(where, HISTOGRAM_BINS - 1)
        for item in pc.value_counts(where).to_pylist():
            bins[int(item["values"])] = int(item["counts"])
    else:
        bins[0] = len(values)
    total = float(pc.sum(values).as_py() or 0.0)
    return Durations(len(values), total, low, median, p95, high, tuple(bins))


def _attempts_of(logs: pa.Table, keys: pa.ChunkedArray) -> dict[str, list[dict[str, Any]]]:
    """The failed attempts' log rows of these packets, by packet key, in attempt order."""
    if logs.num_rows == 0 or len(keys) == 0:
        return {}
    wanted = logs.filter(
        pc.and_(
            pc.is_in(logs["__packet_key"], value_set=keys.combine_chunks()),
            pc.invert(pc.fill_null(logs["__success"], False)),
        )
    )
    fields = [name for name in (*_LOG_FIELDS, "__packet_key") if name in wanted.column_names]
    found: dict[str, list[dict[str, Any]]] = {}
    for row in wanted.select(fields).to_pylist():
        found.setdefault(row["__packet_key"], []).append(row)
    for rows in found.values():
        rows.sort(key=lambda row: row.get("__attempt") or 0)
    return found


def _picture(
    graph: RecordedGraph | None, nodes: list[NodeReport], run: dict[str, Any]
) -> tuple[str, str, list[tuple[str, str, str, str]]]:
    """The DAG's SVG coloured by the nodes' states, a note on where it came from, its legend."""
    states = {node.label: node.state for node in nodes if node.state is not None}
    if graph is None:
        # No graph recorded: the nodes the observers recorded, without edges.
        drawn = PipelineGraph.from_nodes(
            str(run["__pipeline"] or ""), ((GraphNode(n.label, n.kind), []) for n in nodes)
        )
        note = (
            "The store records no graph of this pipeline: shown are the nodes with "
            "observer records, without their edges."
        )
    else:
        drawn = graph.graph
        note = _graph_note(graph, run["__run_id"])
    labels = {node.label for node in drawn.nodes}
    svg = render_svg(drawn, {k: v for k, v in states.items() if k in labels})
    keys = [
        (state, style.fill, style.stroke, style.meaning) for state, style in legend(states.values())
    ]
    return svg, note, keys


def _graph_note(graph: RecordedGraph, run_id: str) -> str:
    if graph.origin == "run":
        return ""
    if graph.origin == "latest":
        return (
            f"This run predates the store's graph records: the graph shown is the one "
            f"recorded by run {graph.recorded_run}."
        )
    return (
        "This store predates graph records (written by Pipeline.run since orcapod 0.1): "
        "shown are the function nodes recorded in _identities and the inputs they name, "
        "whose kind is not recorded."
    )


def _context(
    run: dict[str, Any], graph: RecordedGraph | None, nodes: list[NodeReport]
) -> list[tuple[str, str, str]]:
    """(scope, name, value) rows of the run's execution context."""
    facts: dict[str, str] = {}
    for name, column in (
        ("store", "__pipeline_uri"),
        ("host", "__host"),
        ("pid", "__pid"),
        ("python", "__python_version"),
        ("orcapod", "__orcapod_version"),
    ):
        if run.get(column) is not None:
            facts[name] = str(run[column])
    recorded = () if graph is None else graph.context
    for scope, name, value in recorded:
        if not scope:  # the graph record's Python names its implementation too
            facts[_RENAMED.get(name, name)] = value
    rows = [("run", name, value) for name, value in facts.items()]
    for node in nodes:
        executor = None if graph is None else graph.executors.get(node.label)
        if executor:
            rows.append((node.label, "executor", executor))
        elif node.executors:
            rows.append((node.label, "executor", ", ".join(node.executors)))
        if node.capture_levels:
            rows.append((node.label, "capture", ", ".join(node.capture_levels)))
        rows += [(node.label, name, value) for n, name, value in recorded if n == node.label]
    return rows
