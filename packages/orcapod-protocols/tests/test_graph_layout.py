"""The layered layout of the pipeline picture (``render_svg``) on any DAG (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.protocols.graph._layout import layered_layout


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]], dict[str, float]]:
    """Random DAGs: edges only from an earlier node to a later one (in a shuffled naming)."""
    count = draw(st.integers(min_value=0, max_value=30))
    names = draw(st.permutations([f"node{i}" for i in range(count)]))
    pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=60)) if pairs else []
    widths = {name: draw(st.floats(min_value=20, max_value=300)) for name in names}
    return names, [(names[i], names[j]) for i, j in chosen], widths


@settings(max_examples=150, deadline=None)
@given(dags())
def test_every_node_is_placed_once_without_overlap_and_edges_go_down(
    dag: tuple[list[str], list[tuple[str, str]], dict[str, float]],
) -> None:
    """Each node gets one box, no two boxes overlap, and every edge goes from a lower
    layer to a higher one, its route never climbing."""
    names, edges, widths = dag
    layout = layered_layout(names, edges, widths)

    assert sorted(layout.boxes) == sorted(names)
    for name, box in layout.boxes.items():
        assert box.width == widths[name]
    boxes = list(layout.boxes.values())
    for at, one in enumerate(boxes):
        assert one.x >= 0
        assert one.x + one.width <= layout.width + 1e-6
        for other in boxes[at + 1 :]:
            apart = (
                one.x + one.width <= other.x + 1e-6
                or other.x + other.width <= one.x + 1e-6
                or one.y + one.height <= other.y
                or other.y + other.height <= one.y
            )
            assert apart, (one, other)
    assert len(layout.routes) == len(edges)
    for route, (source, target) in zip(layout.routes, edges, strict=True):
        assert (route.source, route.target) == (source, target)
        assert layout.boxes[source].layer < layout.boxes[target].layer
        ys = [y for _, y in route.points]
        assert ys == sorted(ys)
        assert ys[0] == layout.boxes[source].y + layout.boxes[source].height
        assert ys[-1] == layout.boxes[target].y


def test_the_same_dag_gives_the_same_layout() -> None:
    """Deterministic: no randomness, no dependence on set or dict iteration of hashes."""
    names = [f"n{i}" for i in range(12)]
    edges = [(names[i], names[j]) for i in range(12) for j in range(i + 1, 12) if (i * j) % 5 == 1]
    assert layered_layout(names, edges) == layered_layout(names, edges)


def test_a_cycle_an_unknown_node_or_a_repeated_node_is_refused() -> None:
    """A layout needs a DAG whose edges name its nodes, each once."""
    with pytest.raises(ValueError, match="cycle"):
        layered_layout(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="unknown node 'c'"):
        layered_layout(["a", "b"], [("a", "c")])
    with pytest.raises(ValueError, match="'a' is given twice"):
        layered_layout(["a", "a"], [])


def test_crossings_are_removed_where_an_order_without_them_exists() -> None:
    """Two chains given crosswise are uncrossed by the barycentre sweeps."""
    layout = layered_layout(["a", "b", "c", "d"], [("a", "d"), ("b", "c")])
    boxes = layout.boxes
    assert (boxes["a"].x < boxes["b"].x) == (boxes["d"].x < boxes["c"].x)
