"""Pipelines: recorded graphs of sources, pods and operators, run incrementally."""

from __future__ import annotations

from orcapod.core.pipeline._explain import Explanation, explain
from orcapod.core.pipeline._nodes import FunctionNode, Node, OperatorNode, SourceNode
from orcapod.core.pipeline._orchestrators import (
    AsyncPipelineOrchestrator,
    Orchestrator,
    SyncPipelineOrchestrator,
)
from orcapod.core.pipeline._pipeline import Pipeline
from orcapod.core.pipeline._run import NodeCounts, PacketFailure, RunResult

# The picture's types and readers are orcapod.protocols.graph's (plugins draw it
# too); named here as well, where users of Pipeline.graph() find them.
from orcapod.protocols.graph import (
    STATE_COLOURS,
    GraphNode,
    PipelineGraph,
    RecordedGraph,
    recorded_graph,
    render_svg,
)

__all__ = [
    "AsyncPipelineOrchestrator",
    "Explanation",
    "FunctionNode",
    "GraphNode",
    "Node",
    "NodeCounts",
    "OperatorNode",
    "Orchestrator",
    "PacketFailure",
    "Pipeline",
    "PipelineGraph",
    "RecordedGraph",
    "RunResult",
    "STATE_COLOURS",
    "SourceNode",
    "SyncPipelineOrchestrator",
    "explain",
    "recorded_graph",
    "render_svg",
]
