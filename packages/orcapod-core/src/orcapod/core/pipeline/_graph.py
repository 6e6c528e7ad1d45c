"""The pipeline's picture: its DAG as Mermaid, DOT and self-contained SVG, coloured by state.

:meth:`Pipeline.graph` gives a :class:`PipelineGraph`: a node per pipeline
node (its kind and label), an edge from each input to the node consuming it,
and, where the store records runs of the pipeline, each function node's
state in the latest run (or a given one), read from what core itself records
(``_records``): the node's run at ``(P, "_node_runs")`` and its packets'
outcomes at ``(P, "_computed", label, hash)``. Sources and operators record
no run of their own, so they carry no state.

:func:`render_svg` draws any graph with states its caller supplies (the run
report reads them from the observers' status records): the SVG has inline
presentation attributes only, no stylesheet, font or link, so it can be
embedded in an HTML page that makes no request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import GraphError
from orcapod.core.pipeline._layout import layered_layout
from orcapod.core.pipeline._records import (
    NODE_HASH,
    NODE_LABEL,
    OUTCOME,
    RUN_ID,
    STARTED_AT,
    computed_packets,
    computed_path,
    graph_path,
    graph_record,
    identities_path,
    node_runs_path,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from orcapod.core.pipeline._layout import Box, Route
    from orcapod.core.pipeline._pipeline import Pipeline
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor

__all__ = [
    "STATE_COLOURS",
    "GraphNode",
    "PipelineGraph",
    "RecordedGraph",
    "graph_of",
    "graph_record_of",
    "pipeline_graph",
    "recorded_graph",
    "recorded_states",
    "render_svg",
    "summary_html",
]

KIND_NAMES = {"source": "source", "function": "function pod", "operator": "operator"}
"""How each kind of node is called in the picture."""


@dataclass(frozen=True)
class StateStyle:
    """How a state is drawn: fill, border and text colours, and what it means."""

    fill: str
    stroke: str
    text: str
    meaning: str


STATE_COLOURS: Mapping[str, StateStyle] = {
    "computed": StateStyle("#d7f0dc", "#2e7d32", "#1b3d20", "computed, none failed"),
    "success": StateStyle("#d7f0dc", "#2e7d32", "#1b3d20", "succeeded"),
    "cached": StateStyle("#dbeafb", "#1565c0", "#0d2f57", "every packet found stored"),
    "running": StateStyle("#d9f3f7", "#00838f", "#003c42", "running"),
    "partial": StateStyle("#fff0c7", "#b26a00", "#4d2e00", "some packets failed"),
    "failed": StateStyle("#fbd9dc", "#c62828", "#5a1010", "every packet computed failed"),
    "empty": StateStyle("#f2f2f2", "#8a8a8a", "#333333", "ran, recorded no packet"),
    "not_run": StateStyle("#ffffff", "#9e9e9e", "#757575", "not run in this run"),
}
"""The states a node is coloured by, in the order a legend lists them."""
_NO_STATE = StateStyle("#ffffff", "#455a64", "#1f2a30", "")
_FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
_FONT_SIZE = 12
_CHAR_WIDTH = 7.3
"""Width of a character of the monospace font at 12 px (a little more than most)."""
_MAX_CHARS = 36
"""Characters of a line shown in a box; a longer label is cut (the tooltip has it whole)."""


@dataclass(frozen=True)
class GraphNode:
    """One node of the picture.

    Attributes:
        label: the node's label (unique in the graph).
        kind: ``"source"``, ``"function"``, ``"operator"``, or another word.
        detail: what kind of source or operator (``"DictSource"``, ``"Join"``),
            or the function's name; shown in the tooltip, and beside the kind
            for sources and operators.
        state: a key of :data:`STATE_COLOURS`, or ``None`` (not coloured).
        note: a line for the tooltip (the run's counts, say).
    """

    label: str
    kind: str
    detail: str = ""
    state: str | None = None
    note: str = ""

    @property
    def kind_line(self) -> str:
        """The first line of the node's box: its kind, with the source's or operator's type."""
        name = KIND_NAMES.get(self.kind, self.kind)
        if self.detail and self.kind in ("source", "operator"):
            return f"{name}: {self.detail}"
        return name


@dataclass(frozen=True)
class PipelineGraph:
    """A pipeline's DAG: nodes in topological order, edges from inputs to consumers.

    ``str(graph)`` and :attr:`mermaid` give Mermaid text, :attr:`dot` Graphviz
    DOT, :meth:`svg` a self-contained SVG picture. In Jupyter it shows as that
    picture.

    Attributes:
        pipeline: the pipeline's name.
        nodes: every node, in topological order.
        edges: (input label, consumer label) pairs.
        run_id: the run whose states colour the nodes, or ``None``.
    """

    pipeline: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    run_id: str | None = None

    def __str__(self) -> str:
        return self.mermaid

    @classmethod
    def from_nodes(
        cls, pipeline: str, nodes: Iterable[tuple[GraphNode, Sequence[str]]]
    ) -> PipelineGraph:
        """The graph of ``nodes``, each given with the labels of its inputs (as a
        ``_graph`` record holds them), in topological order whatever their order.

        Raises:
            ValueError: two nodes of one label, an input that is no node, or a cycle.
        """
        listed = list(nodes)
        labels = [node.label for node, _ in listed]
        if len(set(labels)) != len(labels):
            raise ValueError(f"the graph of {pipeline!r} names a node twice: {labels}")
        inputs = {node.label: list(upstreams) for node, upstreams in listed}
        for label, upstreams in inputs.items():
            unknown = [name for name in upstreams if name not in inputs]
            if unknown:
                raise ValueError(f"node {label!r} of {pipeline!r} reads unknown nodes {unknown}")
        order = _topological(labels, inputs)
        by_label = {node.label: node for node, _ in listed}
        edges = tuple((upstream, label) for label in order for upstream in inputs[label])
        return cls(pipeline, tuple(by_label[label] for label in order), edges)

    def with_states(
        self, states: Mapping[str, str | None], run_id: str | None = None
    ) -> PipelineGraph:
        """This graph coloured by ``states`` (label -> state); nodes not named keep none.

        Raises:
            ValueError: a state that is not one of :data:`STATE_COLOURS`, or an unknown label.
        """
        labels = {node.label for node in self.nodes}
        for label, state in states.items():
            if label not in labels:
                raise ValueError(f"no node {label!r} in the graph of {self.pipeline!r}")
            _check_state(state)
        nodes = tuple(replace(node, state=states.get(node.label)) for node in self.nodes)
        return replace(self, nodes=nodes, run_id=run_id)

    @property
    def mermaid(self) -> str:
        """The graph as a Mermaid flowchart, top to bottom; states as classes."""
        ids = self._ids()
        lines = ["flowchart TD", f"    %% pipeline {self.pipeline}" + _run_note(self.run_id)]
        for node in self.nodes:
            text = f"{_mermaid_text(node.kind_line)}<br/>{_mermaid_text(node.label)}"
            opening, closing = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
            lines.append(f"    {ids[node.label]}{opening}{text}{closing}")
        lines += [f"    {ids[source]} --> {ids[target]}" for source, target in self.edges]
        for state, members in self._by_state(ids).items():
            style = STATE_COLOURS[state]
            lines.append(
                f"    classDef {state} fill:{style.fill},stroke:{style.stroke},color:{style.text}"
            )
            lines.append(f"    class {','.join(members)} {state}")
        return "\n".join(lines) + "\n"

    @property
    def dot(self) -> str:
        """The graph in Graphviz's DOT language, top to bottom; states as fill colours."""
        ids = self._ids()
        lines = [
            f"digraph {_dot_string(self.pipeline)} {{",
            f"    // pipeline {self.pipeline}" + _run_note(self.run_id),
            "    rankdir=TB;",
            f'    node [fontname="monospace", fontsize=10, style="filled", '
            f'fillcolor="{_NO_STATE.fill}", color="{_NO_STATE.stroke}"];',
        ]
        for node in self.nodes:
            attributes = [
                f"label={_dot_string(node.kind_line + chr(10) + node.label)}",
                f"shape={_DOT_SHAPES.get(node.kind, 'box')}",
            ]
            if node.kind == "function":
                attributes.append('style="rounded,filled"')
            if node.state is not None:
                style = STATE_COLOURS[node.state]
                attributes += [f'fillcolor="{style.fill}"', f'color="{style.stroke}"']
            attributes.append(f"tooltip={_dot_string(_tooltip(node))}")
            lines.append(f"    {ids[node.label]} [{', '.join(attributes)}];")
        lines += [f"    {ids[source]} -> {ids[target]};" for source, target in self.edges]
        return "\n".join([*lines, "}"]) + "\n"

    def svg(self) -> str:
        """The graph as a self-contained SVG picture (see :func:`render_svg`)."""
        return render_svg(self)

    def _repr_svg_(self) -> str:
        return self.svg()

    def _ids(self) -> dict[str, str]:
        """Each node's id in Mermaid and DOT: ``n0``, ``n1``, ... in topological order
        (labels may hold characters neither language takes in an id)."""
        return {node.label: f"n{number}" for number, node in enumerate(self.nodes)}

    def _by_state(self, ids: Mapping[str, str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for node in self.nodes:
            if node.state is not None:
                found.setdefault(node.state, []).append(ids[node.label])
        return {state: found[state] for state in STATE_COLOURS if state in found}


_MERMAID_SHAPES = {"source": ('[("', '")]'), "function": ('("', '")'), "operator": ('{{"', '"}}')}
_DOT_SHAPES = {"source": "cylinder", "function": "box", "operator": "hexagon"}


def _check_state(state: str | None) -> None:
    if state is not None and state not in STATE_COLOURS:
        raise ValueError(f"unknown node state {state!r}; use one of {', '.join(STATE_COLOURS)}")


def _run_note(run_id: str | None) -> str:
    return "" if run_id is None else f", coloured by run {run_id}"


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes, angle brackets, ``&``, ``#`` as entity codes."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}
    return "".join(codes.get(char, char) for char in text if char.isprintable())


def _dot_string(text: str) -> str:
    """A DOT double-quoted string (newlines as ``\\n``)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + "".join(char for char in text if char.isprintable()) + '"'


def _tooltip(node: GraphNode) -> str:
    lines = [f"{node.kind_line}: {node.label}"]
    if node.detail and node.kind == "function":
        lines.append(f"function {node.detail}")
    if node.state is not None:
        lines.append(f"state: {node.state} ({STATE_COLOURS[node.state].meaning})")
    if node.note:
        lines.append(node.note)
    return "\n".join(lines)


# -- SVG ---------------------------------------------------------------------------


def render_svg(graph: PipelineGraph, states: Mapping[str, str | None] | None = None) -> str:
    """A self-contained SVG picture of ``graph``, laid out in layers top-down.

    Each node is a ``<g class="orcapod-node ...">`` with ``id="orcapod-node-N"``
    (N: its place in ``graph.nodes``) and ``data-label``, ``data-kind`` and
    ``data-state`` attributes; each edge a ``<g class="orcapod-edge">`` with
    ``data-from`` and ``data-to``. Colours and fonts are presentation attributes
    (no stylesheet, no external font, no link), so the picture can be inlined
    in any HTML page.

    Args:
        graph: what to draw.
        states: label -> state (a key of :data:`STATE_COLOURS`), replacing the
            graph's own states (e.g. read by a report from status records).
    """
    if states is not None:
        graph = graph.with_states(states, run_id=graph.run_id)
    lines_of = {node.label: (_cut(node.kind_line), _cut(node.label)) for node in graph.nodes}
    widths = {
        label: max(len(line) for line in lines) * _CHAR_WIDTH + 24
        for label, lines in lines_of.items()
    }
    layout = layered_layout([node.label for node in graph.nodes], graph.edges, widths)
    title = f"pipeline {graph.pipeline}" + _run_note(graph.run_id)
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{_n(layout.width)}" height="{_n(layout.height)}" '
        f'viewBox="0 0 {_n(layout.width)} {_n(layout.height)}" role="img" '
        f'class="orcapod-graph" aria-label={quoteattr(title)} '
        f'font-family="{_FONT}" font-size="{_FONT_SIZE}">',
        f"<title>{escape(title)}</title>",
    ]
    parts += [_svg_edge(route) for route in layout.routes]
    for number, node in enumerate(graph.nodes):
        parts.append(_svg_node(number, node, layout.boxes[node.label], lines_of[node.label]))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _svg_edge(route: Route) -> str:
    points = " ".join(f"{_n(x)},{_n(y)}" for x, y in route.points)
    (x, y), (px, py) = route.points[-1], route.points[-2]
    # The arrowhead along the last segment, its tip on the target's top.
    length = max(((x - px) ** 2 + (y - py) ** 2) ** 0.5, 1e-9)
    ux, uy = (x - px) / length, (y - py) / length
    back_x, back_y = x - 8 * ux, y - 8 * uy
    head = [(x, y), (back_x - 4 * uy, back_y + 4 * ux), (back_x + 4 * uy, back_y - 4 * ux)]
    return (
        f'<g class="orcapod-edge" data-from={quoteattr(route.source)} '
        f"data-to={quoteattr(route.target)}>"
        f'<polyline points="{points}" fill="none" stroke="#78909c" stroke-width="1.4"/>'
        f'<polygon points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in head)}" fill="#78909c"/>'
        "</g>"
    )


def _svg_node(number: int, node: GraphNode, box: Box, lines: tuple[str, str]) -> str:
    style = _NO_STATE if node.state is None else STATE_COLOURS[node.state]
    state = node.state or "none"
    dashed = ' stroke-dasharray="4 3"' if node.state == "not_run" else ""
    radius = {"function": 10, "source": 3}.get(node.kind, 0)
    width = 2.4 if node.state in ("failed", "partial") else 1.4
    middle = box.x + box.width / 2
    kind_line, label_line = (escape(line) for line in lines)
    return (
        f'<g class="orcapod-node orcapod-{_word(node.kind)} orcapod-state-{state}" '
        f'id="orcapod-node-{number}" data-label={quoteattr(node.label)} '
        f"data-kind={quoteattr(node.kind)} data-state={quoteattr(state)}>"
        f"<title>{escape(_tooltip(node))}</title>"
        f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.width)}" '
        f'height="{_n(box.height)}" rx="{radius}" fill="{style.fill}" stroke="{style.stroke}" '
        f'stroke-width="{width}"{dashed}/>'
        f'<text x="{_n(middle)}" y="{_n(box.y + 17)}" text-anchor="middle" '
        f'font-size="10" fill="{style.text}" fill-opacity="0.75">{kind_line}</text>'
        f'<text x="{_n(middle)}" y="{_n(box.y + 34)}" text-anchor="middle" '
        f'font-weight="bold" fill="{style.text}">{label_line}</text>'
        "</g>"
    )


def _cut(text: str) -> str:
    text = "".join(char if char.isprintable() else "?" for char in text)
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _word(text: str) -> str:
    """``text`` as a class name: letters, digits and ``-`` only."""
    return "".join(char if char.isalnum() else "-" for char in text.lower())


def _n(value: float) -> str:
    """A coordinate, to a tenth of a pixel (the same graph gives the same text)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


# -- from a pipeline and its store ----------------------------------------------------


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


def _topological(labels: Sequence[str], inputs: Mapping[str, Sequence[str]]) -> list[str]:
    """``labels`` in an order where each follows its inputs, keeping the given order
    where it is free."""
    order: list[str] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(label: str) -> None:
        if label in placed:
            return
        if label in visiting:
            raise ValueError(f"the graph has a cycle through node {label!r}")
        visiting.add(label)
        for upstream in inputs[label]:
            place(upstream)
        visiting.discard(label)
        placed.add(label)
        order.append(label)

    for label in labels:
        place(label)
    return order


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


def legend(states: Iterable[str]) -> list[tuple[str, StateStyle]]:
    """The styles of ``states``, in :data:`STATE_COLOURS` order (for a report's legend)."""
    wanted = set(states)
    return [(state, style) for state, style in STATE_COLOURS.items() if state in wanted]


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
