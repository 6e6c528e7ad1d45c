"""A layered layout of a DAG: where each node's box goes and what points each edge passes.

Why orcapod lays its pictures out itself, instead of depending on a graph
drawing package: the ones that lay out well need a system binary or a C
library (``graphviz`` and ``pydot`` run Graphviz's ``dot``; ``pygraphviz``
builds against libgraphviz and has no wheels), and the pure-Python or wheel
ones either lay out no layered DAGs (``rustworkx``, ``networkx``), bring a
large compiled library in for one picture (``igraph``), or have had no
release for years (``grandalf``). The picture is drawn by orcapod-protocols
(core and plugins alike draw it), whose dependencies are pyarrow and pluggy
alone, and a pipeline has tens to a few hundred nodes, so the classic layered
(Sugiyama) method, short and dependency-free, fits:

1. **layers** by longest path: a node sits one layer below its lowest input,
   so every edge points down;
2. edges spanning several layers pass through **virtual points**, one per
   layer crossed, so they bend around boxes instead of cutting through them;
3. **ordering**: alternate down and up sweeps sort each layer by the
   barycentre of its neighbours in the layer before, keeping the order with
   the fewest crossings (counted exactly, by inversions);
4. **x positions**: each node is pulled towards its neighbours' mean, and
   the least-squares positions that keep the order and the gaps are found
   exactly (isotonic regression, pool-adjacent-violators), down and up;
5. edges leave a box's bottom and enter the next box's top, spread along
   the side when a node has several, through their virtual points.

Everything is deterministic: the same graph gives the same layout.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["Box", "Layout", "Route", "layered_layout"]

NODE_HEIGHT = 44.0
LAYER_GAP = 48.0
"""Vertical space between two layers' boxes (where edges run)."""
NODE_GAP = 28.0
"""Horizontal space between two boxes of a layer."""
VIRTUAL_GAP = 12.0
"""Horizontal space kept around an edge passing a layer."""
MARGIN = 16.0
SWEEPS = 8
"""Ordering sweeps (down, up, ...) at most; fewer when no crossing is left."""
PLACEMENT_PASSES = 6
PORT_SPREAD = 14.0
"""Distance between the ends of edges that share a box's side."""


@dataclass(frozen=True)
class Box:
    """Where a node is drawn: its top-left corner, size and layer (0 at the top)."""

    x: float
    y: float
    width: float
    height: float
    layer: int

    @property
    def centre(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Route:
    """An edge as the points it passes, from its source's bottom to its target's top."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Layout:
    """Every node's box and every edge's route, in a ``width`` x ``height`` picture."""

    boxes: Mapping[str, Box]
    routes: tuple[Route, ...]
    width: float
    height: float


def layered_layout(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    widths: Mapping[str, float] | None = None,
    *,
    height: float = NODE_HEIGHT,
) -> Layout:
    """Lay out a DAG top-down in layers (see the module's docstring for how).

    Args:
        nodes: the node names, each once; their order breaks ties.
        edges: (from, to) pairs; repeats are drawn as separate edges.
        widths: each node's box width (default 120).
        height: every box's height.

    Raises:
        ValueError: a repeated node, an edge naming an unknown node, or a cycle.
    """
    graph = _Graph(nodes, edges)
    ordering = _ordering(graph)
    size = [(widths or {}).get(name, 120.0) for name in nodes] + [0.0] * graph.virtuals
    centres = _placement(graph, ordering, size)
    return _layout(graph, ordering, size, centres, height)


class _Graph:
    """The DAG with its layers, and every long edge split into one segment per layer.

    Vertices ``0..n-1`` are the nodes; ``n..`` are the virtual points.
    """

    def __init__(self, nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> None:
        index = {name: i for i, name in enumerate(nodes)}
        if len(index) != len(nodes):
            repeated = next(name for name in nodes if list(nodes).count(name) > 1)
            raise ValueError(f"node {repeated!r} is given twice; name each node once")
        for start, end in edges:
            for name in (start, end):
                if name not in index:
                    raise ValueError(f"edge {start!r} -> {end!r} names an unknown node {name!r}")
        self.names = list(nodes)
        self.edges = [(index[s], index[t]) for s, t in edges]
        count = len(nodes)
        self.layer = _longest_path_layers(count, self.edges, self.names)
        self.chains: list[list[int]] = []
        """Each edge as the vertices it passes, its ends included."""
        vertex_layer = list(self.layer)
        for source, target in self.edges:
            chain = [source]
            for layer in range(self.layer[source] + 1, self.layer[target]):
                vertex_layer.append(layer)
                chain.append(len(vertex_layer) - 1)
            chain.append(target)
            self.chains.append(chain)
        self.vertex_layer = vertex_layer
        self.virtuals = len(vertex_layer) - count
        self.depth = max(vertex_layer, default=-1) + 1
        self.up: list[list[int]] = [[] for _ in vertex_layer]
        self.down: list[list[int]] = [[] for _ in vertex_layer]
        for chain in self.chains:
            for upper, lower in itertools.pairwise(chain):
                self.down[upper].append(lower)
                self.up[lower].append(upper)


def _longest_path_layers(count: int, edges: list[tuple[int, int]], names: list[str]) -> list[int]:
    """Each node's layer: 0 without inputs, else one below its lowest input.

    Raises:
        ValueError: the edges make a cycle (naming a node on it).
    """
    inputs = [0] * count
    outputs: list[list[int]] = [[] for _ in range(count)]
    for source, target in edges:
        inputs[target] += 1
        outputs[source].append(target)
    ready = [node for node in range(count) if inputs[node] == 0]
    heapq.heapify(ready)
    layer = [0] * count
    done = 0
    while ready:
        node = heapq.heappop(ready)
        done += 1
        for target in outputs[node]:
            layer[target] = max(layer[target], layer[node] + 1)
            inputs[target] -= 1
            if inputs[target] == 0:
                heapq.heappush(ready, target)
    if done < count:
        stuck = next(names[node] for node in range(count) if inputs[node] > 0)
        raise ValueError(f"the edges make a cycle through node {stuck!r}; a pipeline is acyclic")
    return layer


# -- ordering within layers -----------------------------------------------------------


def _ordering(graph: _Graph) -> list[list[int]]:
    """Each layer's vertices, left to right, with few crossings."""
    layers: list[list[int]] = [[] for _ in range(graph.depth)]
    # First order: nodes as given, each chain's virtual points after its source's.
    for node in range(len(graph.names)):
        layers[graph.layer[node]].append(node)
    for chain in graph.chains:
        for vertex in chain[1:-1]:
            layers[graph.vertex_layer[vertex]].append(vertex)
    best = [list(layer) for layer in layers]
    fewest = _crossings(graph, best)
    for sweep in range(SWEEPS):
        if fewest == 0:
            break
        if sweep % 2 == 0:
            for at in range(1, graph.depth):
                _sort_by_barycentre(layers[at], layers[at - 1], graph.up)
        else:
            for at in range(graph.depth - 2, -1, -1):
                _sort_by_barycentre(layers[at], layers[at + 1], graph.down)
        count = _crossings(graph, layers)
        if count < fewest:
            fewest, best = count, [list(layer) for layer in layers]
    return best


def _sort_by_barycentre(layer: list[int], fixed: list[int], neighbours: list[list[int]]) -> None:
    """Sort ``layer`` in place by the mean position of each vertex's neighbours in
    ``fixed``; a vertex with none keeps its place."""
    position = {vertex: at for at, vertex in enumerate(fixed)}

    def key(item: tuple[int, int]) -> tuple[float, int]:
        at, vertex = item
        around = [position[n] for n in neighbours[vertex] if n in position]
        return (sum(around) / len(around) if around else float(at), at)

    layer[:] = [vertex for _, vertex in sorted(enumerate(layer), key=key)]


def _crossings(graph: _Graph, layers: list[list[int]]) -> int:
    """How many pairs of segments cross, over every two adjacent layers."""
    total = 0
    for upper, lower in itertools.pairwise(layers):
        below = {vertex: at for at, vertex in enumerate(lower)}
        ends = sorted(
            (at, below[target]) for at, vertex in enumerate(upper) for target in graph.down[vertex]
        )
        total += _inversions([end for _, end in ends], len(lower))
    return total


def _inversions(values: list[int], bound: int) -> int:
    """Pairs ``i < j`` with ``values[i] > values[j]`` (a Fenwick tree over ``0..bound-1``)."""
    tree = [0] * (bound + 1)
    count = 0
    for seen, value in enumerate(values):
        at, not_greater = value + 1, 0
        while at > 0:
            not_greater += tree[at]
            at -= at & -at
        count += seen - not_greater
        at = value + 1
        while at <= bound:
            tree[at] += 1
            at += at & -at
    return count


# -- x positions -----------------------------------------------------------------------


def _placement(graph: _Graph, layers: list[list[int]], size: list[float]) -> list[float]:
    """Each vertex's centre x: near its neighbours, in order, with the gaps kept."""
    centres = [0.0] * len(size)
    for layer in layers:
        _place(layer, [0.0] * len(layer), size, centres, graph.names)
    for number in range(PLACEMENT_PASSES):
        going_down = number % 2 == 0
        order = layers[1:] if going_down else layers[-2::-1]
        neighbours = graph.up if going_down else graph.down
        for layer in order:
            wanted = [
                sum(centres[n] for n in neighbours[v]) / len(neighbours[v])
                if neighbours[v]
                else centres[v]
                for v in layer
            ]
            _place(layer, wanted, size, centres, graph.names)
    return centres


def _place(
    layer: list[int], wanted: list[float], size: list[float], centres: list[float], names: list[str]
) -> None:
    """Centres for ``layer`` as close as can be (least squares) to ``wanted``, in order and
    apart by at least the gap: isotonic regression of ``wanted`` less each vertex's
    least offset from the first."""
    offsets, offset = [], 0.0
    for at, vertex in enumerate(layer):
        if at:
            offset += (size[layer[at - 1]] + size[vertex]) / 2 + _gap(layer[at - 1], vertex, names)
        offsets.append(offset)
    fitted = _isotonic([w - o for w, o in zip(wanted, offsets, strict=True)])
    for vertex, value, off in zip(layer, fitted, offsets, strict=True):
        centres[vertex] = value + off


def _gap(left: int, right: int, names: list[str]) -> float:
    real = len(names)
    return NODE_GAP if left < real and right < real else VIRTUAL_GAP


def _isotonic(values: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    fitted: list[float] = []
    for total, count in blocks:
        fitted += [total / count] * int(count)
    return fitted


# -- the boxes and routes -------------------------------------------------------------


def _layout(
    graph: _Graph, layers: list[list[int]], size: list[float], centres: list[float], height: float
) -> Layout:
    real = len(graph.names)
    left = min((centres[v] - size[v] / 2 for v in range(len(size))), default=0.0)
    shift = MARGIN - left
    tops = [MARGIN + layer * (height + LAYER_GAP) for layer in range(graph.depth)]
    boxes = {
        graph.names[node]: Box(
            x=centres[node] - size[node] / 2 + shift,
            y=tops[graph.layer[node]],
            width=size[node],
            height=height,
            layer=graph.layer[node],
        )
        for node in range(real)
    }
    starts = _ports(graph, centres, size, outgoing=True)
    ends = _ports(graph, centres, size, outgoing=False)
    routes = []
    for number, chain in enumerate(graph.chains):
        source, target = chain[0], chain[-1]
        points = [(starts[number] + shift, tops[graph.layer[source]] + height)]
        for vertex in chain[1:-1]:
            top = tops[graph.vertex_layer[vertex]]
            points += [(centres[vertex] + shift, top), (centres[vertex] + shift, top + height)]
        points.append((ends[number] + shift, tops[graph.layer[target]]))
        routes.append(Route(graph.names[source], graph.names[target], tuple(points)))
    right = max((centres[v] + size[v] / 2 + shift for v in range(len(size))), default=0.0)
    return Layout(
        boxes=boxes,
        routes=tuple(routes),
        width=right + MARGIN,
        height=(tops[-1] + height + MARGIN) if tops else 2 * MARGIN,
    )


def _ports(
    graph: _Graph, centres: list[float], size: list[float], *, outgoing: bool
) -> list[float]:
    """Where each edge leaves its source (``outgoing``) or enters its target: along the
    box's side, spread in the order of the vertices at the other end."""
    sides: dict[int, list[int]] = {}
    for number, chain in enumerate(graph.chains):
        sides.setdefault(chain[0] if outgoing else chain[-1], []).append(number)
    ports = [0.0] * len(graph.chains)
    for vertex, numbers in sides.items():
        numbers.sort(key=lambda n: (centres[graph.chains[n][1 if outgoing else -2]], n))
        step = min(PORT_SPREAD, size[vertex] / (len(numbers) + 1))
        for at, number in enumerate(numbers):
            ports[number] = centres[vertex] + (at - (len(numbers) - 1) / 2) * step
    return ports
