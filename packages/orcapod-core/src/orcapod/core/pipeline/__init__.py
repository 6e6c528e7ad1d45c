"""Pipelines: recorded graphs of sources, pods and operators, run incrementally."""

from __future__ import annotations

from orcapod.core.pipeline._explain import Explanation, explain
from orcapod.core.pipeline._graph import (
    STATE_COLOURS,
    GraphNode,
    PipelineGraph,
    RecordedGraph,
    recorded_graph,
    render_svg,
)
from orcapod.core.pipeline._nodes import FunctionNode, Node, OperatorNode, SourceNode
from orcapod.core.pipeline._orchestrators import (
    AsyncPipelineOrchestrator,
    Orchestrator,
    SyncPipelineOrchestrator,
)
from orcapod.core.pipeline._pipeline import Pipeline
from orcapod.core.pipeline._run import NodeCounts, PacketFailure, RunResult

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
