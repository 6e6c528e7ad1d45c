"""A live pipeline's graph: built from its nodes, coloured by what core records of its runs.

:meth:`Pipeline.graph` gives a :class:`~orcapod.protocols.graph.PipelineGraph`
(the value type and its Mermaid, DOT and SVG rendering live in
:mod:`orcapod.protocols.graph`, so that plugins draw the same picture without
core): a node per pipeline node (its kind and label), an edge from each input
to the node consuming it, and, where the store records runs of the pipeline,
each function node's state in the latest run (or a given one), read from what
core itself records (``_records``): the node's run at ``(P, "_node_runs")``
and its packets' outcomes at ``(P, "_computed", label, hash)``. Sources and
operators record no run of their own, so they carry no state.

At the start of every run, :func:`graph_record_of` makes the run's ``_graph``
record (the DAG and the run's execution context), which
:func:`orcapod.protocols.graph.recorded_graph` reads back from the store alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import GraphError
from orcapod.core.pipeline._records import (
    NODE_HASH,
    NODE_LABEL,
    OUTCOME,
    RUN_ID,
    STARTED_AT,
    computed_packets,
    computed_path,
    graph_record,
    node_runs_path,
)
from orcapod.protocols.graph import GraphNode, PipelineGraph

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.core.pipeline._pipeline import Pipeline
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor

__all__ = [
    "graph_of",
    "graph_record_of",
    "pipeline_graph",
    "recorded_states",
    "summary_html",
]


def pipeline_graph(pipeline: Pipeline) -> PipelineGraph:
    """``pipeline``'s graph, uncoloured: its nodes (kind, label) and edges, nothing read."""
    from orcapod.core.pipeline._nodes import FunctionNode, OperatorNode

    nodes = []
    for node in pipeline.nodes.values():
        if isinstance(node, FunctionNode):
            detail = str(node.function.name)
        elif isinstance(node, OperatorNode):
            detail = str(node.stream.operator.kind)
        else:
            detail = type(node.stream).__name__
        nodes.append(GraphNode(node.label, node.kind, detail))
    edges = tuple(
        (upstream.label, node.label)
        for node in pipeline.nodes.values()
        for upstream in node.upstreams
    )
    return PipelineGraph(pipeline.name, tuple(nodes), edges)


def graph_of(
    pipeline: Pipeline, database: ArrowDatabase | None = None, run_id: str | None = None
) -> PipelineGraph:
    """``pipeline``'s graph, coloured by run ``run_id`` (default: the latest) as
    ``database`` (default: the pipeline's own) records it; uncoloured where it records none.

    Raises:
        GraphError: ``run_id`` is given and the store records no such run of the pipeline.
    """
    from orcapod.core.pipeline._nodes import FunctionNode

    graph = pipeline_graph(pipeline)
    functions = {
        label: node.node_hash
        for label, node in pipeline.nodes.items()
        if isinstance(node, FunctionNode)
    }
    store = pipeline.database if database is None else database
    run, states = recorded_states(store, pipeline.name, functions, run_id)
    if run is None:
        return graph
    nodes = tuple(
        replace(node, state=states[node.label][0], note=states[node.label][1])
        if node.label in states
        else node
        for node in graph.nodes
    )
    return replace(graph, nodes=nodes, run_id=run)


def recorded_states(
    database: ArrowDatabase,
    pipeline: str,
    functions: Mapping[str, str],
    run_id: str | None = None,
) -> tuple[str | None, dict[str, tuple[str, str]]]:
    """The state of each function node in run ``run_id`` (default: the latest) of
    ``pipeline``, as core records it, with a note of its counts.

    Args:
        database: the store.
        pipeline: the pipeline's name.
        functions: the function nodes to read, label -> their current pipeline hash.
        run_id: the run; the latest recorded one by default.

    Returns:
        (the run read, label -> (state, note)); ``(None, {})`` when the store
        records no run of the pipeline (and ``run_id`` is not given).

    Raises:
        GraphError: ``run_id`` is given and not recorded (naming the latest runs).
    """
    runs = database.get_all_records(node_runs_path(pipeline))
    if runs is None or runs.num_rows == 0:
        if run_id is not None:
            raise GraphError(
                f"run {run_id!r}: the store records no run of pipeline {pipeline!r}; run it "
                "first, or leave the run out for an uncoloured graph"
            )
        return None, {}
    run = _chosen_run(runs, pipeline, run_id)
    ran = runs.filter(pc.equal(runs.column(RUN_ID), pa.scalar(run, runs.schema.field(RUN_ID).type)))
    versions = dict(
        zip(ran.column(NODE_LABEL).to_pylist(), ran.column(NODE_HASH).to_pylist(), strict=True)
    )
    states: dict[str, tuple[str, str]] = {}
    for label, current in functions.items():
        version = versions.get(label)
        if version is None:
            states[label] = ("not_run", f"run {run} did not run this node")
            continue
        counts = _outcomes(database, pipeline, label, version, run)
        changed = "" if version == current else "; the node's code or inputs changed since"
        states[label] = (_state_of(counts), _counts_note(run, counts) + changed)
    return run, states


def _chosen_run(runs: pa.Table, pipeline: str, run_id: str | None) -> str:
    """The run asked for, or the latest (by its nodes' start) where none is."""
    starts = runs.column(STARTED_AT).cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_pylist()
    ids = runs.column(RUN_ID).to_pylist()
    first: dict[str, int] = {}
    for run, start in zip(ids, starts, strict=True):
        first[run] = min(first.get(run, start), start)
    ordered = sorted(first, key=lambda run: (first[run], run))
    if run_id is None:
        return ordered[-1]
    if run_id in first:
        return run_id
    shown = ", ".join(ordered[-5:])
    raise GraphError(
        f"run {run_id!r} is not recorded for pipeline {pipeline!r}; its latest runs, oldest "
        f"first: {shown} (leave the run out for the latest)"
    )


def _outcomes(
    database: ArrowDatabase, pipeline: str, label: str, version: str, run: str
) -> Counter[str]:
    """How many of the run's packets of the node were computed, failed, cached."""
    path = computed_path(pipeline, label, version)
    if not database.list_paths(path):
        return Counter()
    records = computed_packets(database.get_records_with_column_value(path, {RUN_ID: run}))
    if records is None or records.num_rows == 0:
        return Counter()
    counted = pc.value_counts(records.column(OUTCOME).combine_chunks())
    return Counter({str(item["values"]): int(item["counts"]) for item in counted.to_pylist()})


def _state_of(counts: Counter[str]) -> str:
    computed, failed, cached = counts["computed"], counts["failed"], counts["cached"]
    if failed:
        return "partial" if computed or cached else "failed"
    if computed:
        return "computed"
    return "cached" if cached else "empty"


def _counts_note(run: str, counts: Counter[str]) -> str:
    return (
        f"run {run}: {counts['computed']} computed, {counts['cached']} cached, "
        f"{counts['failed']} failed"
    )


def summary_html(graph: PipelineGraph, uri: str, *, note: str = "") -> str:
    """A compact HTML summary of a pipeline (for Jupyter): its name, store, nodes and picture.

    Args:
        graph: the pipeline's graph, coloured or not.
        uri: where the pipeline is stored.
        note: a line said under the picture (why it is not coloured, say).
    """
    cell = 'style="padding:1px 10px 1px 0;text-align:left"'
    rows = "".join(
        f"<tr><td {cell}><code>{escape(node.label)}</code></td><td {cell}>"
        f"{escape(node.kind_line)}</td><td {cell}>{escape(node.state or '')}</td></tr>"
        for node in graph.nodes
    )
    coloured = (
        "" if graph.run_id is None else f" &#183; states of run <code>{escape(graph.run_id)}</code>"
    )
    said = f'<div style="color:#8a5a00">{escape(note)}</div>' if note else ""
    return (
        '<div class="orcapod-pipeline" style="font-family:sans-serif;font-size:13px">'
        f"<div><b>Pipeline</b> <code>{escape(graph.pipeline)}</code> &#183; store "
        f"<code>{escape(uri)}</code> &#183; {len(graph.nodes)} nodes{coloured}</div>"
        '<div style="display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap">'
        f'<table style="border-collapse:collapse;margin-top:6px"><tr><th {cell}>node</th>'
        f"<th {cell}>kind</th><th {cell}>state</th></tr>{rows}</table>"
        f'<div style="overflow:auto;max-width:100%">{graph.svg()}</div></div>{said}</div>'
    )


# -- the graph recorded in the store --------------------------------------------------


def graph_record_of(
    pipeline: Pipeline, run_id: str, executor: PacketFunctionExecutor | None = None
) -> pa.Table:
    """The ``_graph`` record of run ``run_id`` of ``pipeline``: its nodes and its context.

    Args:
        pipeline: the pipeline about to run.
        run_id: the run.
        executor: the executor the run gives every function node, if any.
    """
    from orcapod.core.pipeline._nodes import FunctionNode

    graph = pipeline_graph(pipeline)
    inputs: dict[str, list[str]] = {node.label: [] for node in graph.nodes}
    for source, target in graph.edges:
        inputs[target].append(source)
    executors = {
        label: executor or node.executor
        for label, node in pipeline.nodes.items()
        if isinstance(node, FunctionNode)
    }
    nodes = [
        {
            "label": node.label,
            "kind": node.kind,
            "detail": node.detail,
            "executor": _executor_type(executors[node.label]) if node.label in executors else "",
            "inputs": inputs[node.label],
        }
        for node in graph.nodes
    ]
    return graph_record(run_id, nodes, _run_context(pipeline, executors))


def _executor_type(executor: PacketFunctionExecutor | None) -> str:
    return "direct" if executor is None else str(executor.executor_type)


def _run_context(
    pipeline: Pipeline, executors: Mapping[str, PacketFunctionExecutor | None]
) -> list[tuple[str, str, str]]:
    """What a run's results will record of where they were computed, known at its start:
    Python, host, platform, and each function's executor and git state (said once for the
    run where every function shares it)."""
    import platform
    import socket

    from orcapod.core.function_pods._execution_context import python_version

    facts = [
        ("", "python_version", python_version()),
        ("", "host", socket.gethostname()),
        ("", "platform", platform.platform()),
    ]
    shared: dict[str, str] | None = None
    for label, executor in executors.items():
        function = pipeline.nodes[label].function  # type: ignore[attr-defined]
        try:
            data = (
                function.execution_data(executor)
                if hasattr(function, "execution_data")
                else function.get_execution_data()
            )
        except Exception:  # a context that cannot be told is left out, never a failed run
            continue
        for key, value in sorted((data.get("executor_info") or {}).items()):
            facts.append((label, f"executor_info.{key}", str(value)))
        code = {k: str(v) for k, v in (data.get("extra_info") or {}).items() if k != "host"}
        if shared is None:
            shared = code
            facts += [("", key, value) for key, value in code.items()]
        elif code != shared:
            facts += [(label, key, value) for key, value in code.items()]
    return facts
