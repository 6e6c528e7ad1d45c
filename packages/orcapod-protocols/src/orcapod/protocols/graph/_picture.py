"""The picture of a pipeline's DAG: its value types, and Mermaid, DOT and self-contained SVG.

A :class:`PipelineGraph` is a node per pipeline node (its kind and label),
an edge from each input to the node consuming it, and optionally each node's
state in a run (a key of :data:`STATE_COLOURS`). Nothing here knows how a
graph was found: orcapod-core builds one from a live pipeline
(``Pipeline.graph()``), :func:`~orcapod.protocols.graph.recorded_graph` from a
store alone.

:func:`render_svg` draws any graph with states its caller supplies (the run
report reads them from the observers' status records): the SVG has inline
presentation attributes only, no stylesheet, font or link, so it can be
embedded in an HTML page that makes no request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from orcapod.protocols.graph._layout import layered_layout

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from orcapod.protocols.graph._layout import Box, Route

__all__ = [
    "STATE_COLOURS",
    "GraphNode",
    "PipelineGraph",
    "StateStyle",
    "legend",
    "render_svg",
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


def _topological(labels: Sequence[str], inputs: Mapping[str, Sequence[str]]) -> list[str]:
    """``labels`` in an order where each follows its inputs, keeping the given order
    where it is free.

    Depth first from each label in turn, with a stack of its own: a graph thousands of
    nodes deep, listed in any order, needs no recursion.
    """
    order: list[str] = []
    placed: set[str] = set()
    for root in labels:
        if root in placed:
            continue
        visiting = {root}  # the labels on the stack, whose inputs are being placed
        stack = [(root, iter(inputs[root]))]
        while stack:
            label, upstreams = stack[-1]
            upstream = next((name for name in upstreams if name not in placed), None)
            if upstream is None:  # its inputs are placed: place it
                stack.pop()
                visiting.discard(label)
                placed.add(label)
                order.append(label)
            elif upstream in visiting:
                raise ValueError(f"the graph has a cycle through node {upstream!r}")
            else:
                visiting.add(upstream)
                stack.append((upstream, iter(inputs[upstream])))
    return order


def legend(states: Iterable[str]) -> list[tuple[str, StateStyle]]:
    """The styles of ``states``, in :data:`STATE_COLOURS` order (for a report's legend)."""
    wanted = set(states)
    return [(state, style) for state, style in STATE_COLOURS.items() if state in wanted]
