"""A pipeline's picture: its DAG as Mermaid, DOT and self-contained SVG, coloured by state.

- :class:`PipelineGraph` and :class:`GraphNode`: the graph (nodes in
  topological order, edges from inputs to consumers, each node's state);
  ``.mermaid``, ``.dot`` and ``.svg()`` render it;
- :func:`render_svg`: the SVG, with states a caller supplies;
- :data:`STATE_COLOURS` (:class:`StateStyle`) and :func:`legend`: how each
  state is drawn;
- :func:`recorded_graph` (:class:`RecordedGraph`): the graph of a run read
  from the store alone, from the records named in
  :mod:`orcapod.protocols.graph.records`.

It lives here, beside :mod:`orcapod.protocols.text` and
:mod:`orcapod.protocols.notebook`, because plugins may not import
orcapod-core: ``Pipeline.graph()`` (core) and ``orcapod report`` (the
observers) draw the same picture with the same code. The layout is orcapod's
own (``_layout``), with no dependency beyond the standard library.
"""

from __future__ import annotations

from orcapod.protocols.graph._picture import (
    STATE_COLOURS,
    GraphNode,
    PipelineGraph,
    StateStyle,
    legend,
    render_svg,
)
from orcapod.protocols.graph._recorded import RecordedGraph, recorded_graph

__all__ = [
    "STATE_COLOURS",
    "GraphNode",
    "PipelineGraph",
    "RecordedGraph",
    "StateStyle",
    "legend",
    "recorded_graph",
    "render_svg",
]
