"""Where a pipeline's graph is recorded in its store, and the layout of that record.

orcapod-core writes these records as a pipeline runs; anyone holding only the
store reads them back (:func:`orcapod.protocols.graph.recorded_graph`, and
through it ``orcapod report``). They are named here, once, so that the writer
and every reader agree:

- ``(P, "_graph")``: one row per run of pipeline ``P``, written when it
  starts (:data:`GRAPH_SCHEMA`): the pipeline's nodes in topological order
  (kind, label, what they are, their inputs, a function node's executor) and
  the run's execution context (Python, host, git state).
- ``(P, "_identities")``: one row per version of each function node (label
  and pipeline hash), with the labels of its inputs; what a store written
  before ``_graph`` records has of the graph.
- ``(P, "_node_runs")``: one row per run of each function node, at its start;
  which version of a node a run ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from orcapod.protocols.values import RecordPath

__all__ = [
    "CONTEXT_TYPE",
    "GRAPH_BRANCH",
    "GRAPH_NODE_TYPE",
    "GRAPH_SCHEMA",
    "IDENTITIES_BRANCH",
    "NODE_HASH",
    "NODE_LABEL",
    "NODE_RUNS_BRANCH",
    "RUN_ID",
    "graph_path",
    "identities_path",
    "node_runs_path",
]

GRAPH_BRANCH = "_graph"
"""The branch of a pipeline holding a row per run: its nodes and its execution context."""
IDENTITIES_BRANCH = "_identities"
"""The branch of a pipeline holding a row per function node version."""
NODE_RUNS_BRANCH = "_node_runs"
"""The branch of a pipeline holding a row per run of each function node."""

RUN_ID = "__run_id"
"""The run a record belongs to."""
NODE_LABEL = "__node_label"
"""A node's label (unique in its pipeline)."""
NODE_HASH = "__node_hash"
"""A node's pipeline hash: which version of the node."""

_STR = pa.large_string()
GRAPH_NODE_TYPE = pa.struct(
    [
        pa.field("label", _STR),
        pa.field("kind", _STR),
        pa.field("detail", _STR),
        pa.field("executor", _STR),
        pa.field("inputs", pa.list_(_STR)),
    ]
)
"""One node of a ``_graph`` record; ``executor`` is empty but for function nodes."""
CONTEXT_TYPE = pa.struct([pa.field(name, _STR) for name in ("node", "name", "value")])
"""One fact of a run's execution context: ``node`` is empty for the whole run's."""
GRAPH_SCHEMA = pa.schema(
    [
        pa.field(RUN_ID, _STR, False),
        pa.field("__recorded_at", pa.timestamp("us", "UTC"), False),
        pa.field("__nodes", pa.list_(GRAPH_NODE_TYPE)),
        pa.field("__context", pa.list_(CONTEXT_TYPE)),
    ]
)
"""A run's ``_graph`` record: the pipeline's nodes in topological order, and its context."""


def graph_path(pipeline: str) -> RecordPath:
    """Where ``pipeline``'s ``_graph`` records are."""
    return (pipeline, GRAPH_BRANCH)


def identities_path(pipeline: str) -> RecordPath:
    """Where ``pipeline``'s ``_identities`` records are."""
    return (pipeline, IDENTITIES_BRANCH)


def node_runs_path(pipeline: str) -> RecordPath:
    """Where ``pipeline``'s ``_node_runs`` records are."""
    return (pipeline, NODE_RUNS_BRANCH)
