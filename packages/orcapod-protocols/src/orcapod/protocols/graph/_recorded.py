"""A pipeline's graph read back from its store alone, without the pipeline's code.

:func:`recorded_graph` reads the run's ``_graph`` record (see
:mod:`orcapod.protocols.graph.records`), which ``Pipeline.run`` stores before
any node runs; for a run that predates those records, the latest one; and for
a store that has none, the function nodes of its ``_identities`` records and
the inputs they name. It needs nothing but an :class:`ArrowDatabase`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from orcapod.protocols.graph._picture import GraphNode, PipelineGraph
from orcapod.protocols.graph.records import (
    NODE_HASH,
    NODE_LABEL,
    RUN_ID,
    graph_path,
    identities_path,
    node_runs_path,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from orcapod.protocols.database import ArrowDatabase

__all__ = ["RecordedGraph", "recorded_graph"]


@dataclass(frozen=True)
class RecordedGraph:
    """A pipeline's graph as its store records it, for a reader without its code.

    Attributes:
        graph: the nodes and edges (uncoloured).
        origin: ``"run"`` (the run's own ``_graph`` record), ``"latest"`` (the
            latest record of another run: the run asked for predates them),
            or ``"identities"`` (a store without ``_graph`` records: only the
            function nodes, from ``_identities``, and the inputs they name,
            whose kind is unknown: ``"input"``).
        recorded_run: the run whose record it is (``None`` for identities).
        executors: function node label -> its executor's type, where recorded.
        context: (node label or ``""`` for the whole run, name, value) facts.
    """

    graph: PipelineGraph
    origin: str
    recorded_run: str | None
    executors: Mapping[str, str]
    context: tuple[tuple[str, str, str], ...]


def recorded_graph(
    database: ArrowDatabase, pipeline: str, run_id: str | None = None
) -> RecordedGraph | None:
    """The graph of run ``run_id`` (default: the latest recorded) of ``pipeline``,
    from its ``_graph`` records, else from its ``_identities``; ``None`` if neither.
    """
    path = graph_path(pipeline)
    if database.list_paths(path):
        row = database.get_record_by_id(path, run_id) if run_id is not None else None
        origin = "run"
        if row is None or row.num_rows == 0:
            records = database.get_all_records(path)
            if records is not None and records.num_rows:
                newest = pc.index(records["__recorded_at"], pc.max(records["__recorded_at"]))
                row = records.slice(newest.as_py(), 1)
                origin = "run" if run_id is None else "latest"
        if row is not None and row.num_rows:
            return _from_graph_record(pipeline, row.to_pylist()[0], origin)
    return _from_identities(database, pipeline, run_id)


def _from_graph_record(pipeline: str, row: Mapping[str, object], origin: str) -> RecordedGraph:
    nodes = row["__nodes"] or []
    context = row["__context"] or []
    assert isinstance(nodes, list)
    assert isinstance(context, list)
    graph = PipelineGraph.from_nodes(
        pipeline,
        ((GraphNode(n["label"], n["kind"], n["detail"] or ""), n["inputs"] or []) for n in nodes),
    )
    return RecordedGraph(
        graph=graph,
        origin=origin,
        recorded_run=str(row[RUN_ID]),
        executors={n["label"]: n["executor"] for n in nodes if n["executor"]},
        context=tuple((c["node"] or "", c["name"], c["value"] or "") for c in context),
    )


def _from_identities(
    database: ArrowDatabase, pipeline: str, run_id: str | None
) -> RecordedGraph | None:
    """The function nodes of run ``run_id`` (default: each label's latest version), and
    the inputs they name, from the ``_identities`` records of a store older than ``_graph``."""
    identities = database.get_all_records(identities_path(pipeline))
    if identities is None or identities.num_rows == 0:
        return None
    rows = sorted(identities.to_pylist(), key=lambda r: r["__recorded_at"])
    ran: set[tuple[str, str]] = set()
    if run_id is not None and database.list_paths(node_runs_path(pipeline)):
        found = database.get_records_with_column_value(node_runs_path(pipeline), {RUN_ID: run_id})
        if found is not None:
            ran = set(zip(found[NODE_LABEL].to_pylist(), found[NODE_HASH].to_pylist(), strict=True))
    chosen: dict[str, dict[str, object]] = {}
    for row in rows:  # the run's version of each node, else its latest
        label = str(row[NODE_LABEL])
        if (label, row[NODE_HASH]) in ran or not any(version[0] == label for version in ran):
            chosen[label] = row
    nodes: list[tuple[GraphNode, Sequence[str]]] = []
    named: set[str] = set(chosen)
    for row in chosen.values():
        for upstream in row["__upstream_labels"] or []:  # type: ignore[attr-defined]
            if upstream not in named:
                named.add(upstream)
                nodes.append((GraphNode(upstream, "input"), []))
    nodes += [
        (GraphNode(label, "function", str(row["__function"])), list(row["__upstream_labels"] or []))  # type: ignore[call-overload]
        for label, row in chosen.items()
    ]
    return RecordedGraph(
        graph=PipelineGraph.from_nodes(pipeline, nodes),
        origin="identities",
        recorded_run=None,
        executors={},
        context=(),
    )
