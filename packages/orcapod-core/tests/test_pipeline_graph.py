"""``pipeline.graph()``: the DAG as Mermaid, DOT and SVG, coloured by the state of a run.

The picture's value types and rendering are orcapod.protocols.graph's (tested in
orcapod-protocols on graphs built by hand); these tests draw real pipelines.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.core.errors import GraphError
from orcapod.core.operators import Join
from orcapod.core.pipeline import STATE_COLOURS, render_svg

GOLDEN = Path(__file__).parent / "golden"
SVG = "{http://www.w3.org/2000/svg}"


@function_pod(output_keys="y")
def double(x: int) -> int:
    if x == 3:
        raise ValueError("three is not doubled")
    return 2 * x


@function_pod(output_keys="z")
def refuse(y: int) -> int:
    raise RuntimeError(f"refused {y}")


def small_pipeline(database: InMemoryArrowDatabase | None = None) -> Pipeline:
    """A source, a function pod, a second source and an operator joining them."""
    trials = DictSource(
        [{"id": i, "x": i} for i in range(5)], tag_columns=["id"], source_id="trials"
    )
    names = DictSource(
        [{"id": i, "name": f"n{i}"} for i in range(5)], tag_columns=["id"], source_id="names"
    )
    pipeline = Pipeline("small", database=database or InMemoryArrowDatabase())
    with pipeline:
        doubled = double.pod(trials, label="double")
        Join()(doubled, names, label="joined")
    return pipeline


def node_elements(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {
        g.attrib["data-label"]: g
        for g in root.iter(f"{SVG}g")
        if "orcapod-node" in g.attrib.get("class", "").split()
    }


def test_mermaid_of_a_small_pipeline_is_the_golden_text() -> None:
    """The Mermaid text (kinds, labels, shapes, edges from inputs to consumers) is pinned."""
    assert small_pipeline().graph().mermaid == (GOLDEN / "small_pipeline.mmd").read_text()


def test_dot_of_a_small_pipeline_is_the_golden_text() -> None:
    """The DOT text (labels, shapes, tooltips, edges) is pinned."""
    assert small_pipeline().graph().dot == (GOLDEN / "small_pipeline.dot").read_text()


def test_mermaid_after_a_run_with_a_failure_is_the_golden_text() -> None:
    """A run's states become Mermaid classes with their colours (pinned)."""
    pipeline = small_pipeline()
    pipeline.run(run_id="run-1")
    graph = pipeline.graph()
    assert graph.mermaid == (GOLDEN / "small_pipeline_run.mmd").read_text()


def test_svg_has_one_node_element_per_node_and_makes_no_request() -> None:
    """The SVG parses, each node is found by class and data-label, and it links nothing
    but its namespace."""
    pipeline = small_pipeline()
    svg = pipeline.graph().svg()

    nodes = node_elements(svg)
    assert sorted(nodes) == sorted(pipeline.nodes)
    assert {nodes[label].attrib["data-kind"] for label in nodes} == {
        "source",
        "function",
        "operator",
    }
    ids = [g.attrib["id"] for g in nodes.values()]
    assert len(set(ids)) == len(ids)
    assert svg.count("http") == 1
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "<style" not in svg
    assert "href" not in svg
    assert "@import" not in svg


def test_a_failing_packet_marks_its_node_in_the_picture() -> None:
    """After a real run, the node whose packet failed is coloured partial, one whose every
    packet failed is failed, and the others by what they did."""
    database = InMemoryArrowDatabase()
    pipeline = small_pipeline(database)
    with pipeline:
        refuse.pod(pipeline.nodes["double"].stream, label="refuse")
    pipeline.run()

    graph = pipeline.graph()
    states = {node.label: node.state for node in graph.nodes}
    assert states == {
        "trials": None,
        "double": "partial",
        "names": None,
        "joined": None,
        "refuse": "failed",
    }
    nodes = node_elements(graph.svg())
    assert nodes["double"].attrib["data-state"] == "partial"
    assert nodes["refuse"].attrib["data-state"] == "failed"
    rect = nodes["refuse"].find(f"{SVG}rect")
    assert rect is not None
    assert rect.attrib["fill"] == STATE_COLOURS["failed"].fill
    assert "1 failed" in (nodes["double"].findtext(f"{SVG}title") or "")


def test_a_second_run_shows_cached_and_a_new_node_not_run() -> None:
    """States are the latest run's: cached where everything was stored; a node the run
    did not run (added since) is not_run; an earlier run is shown when asked for."""
    database = InMemoryArrowDatabase()
    first = small_pipeline(database)
    first.run(run_id="first")
    small_pipeline(database).run(run_id="second")
    grown = small_pipeline(database)
    with grown:
        refuse.pod(grown.nodes["double"].stream, label="refuse")

    latest = {node.label: node.state for node in grown.graph().nodes}
    assert grown.graph().run_id == "second"
    assert latest["double"] == "partial"  # the failed packet is tried again, and fails again
    assert latest["refuse"] == "not_run"

    earlier = grown.graph(run_id="first")
    assert earlier.run_id == "first"
    with pytest.raises(GraphError, match=r"'nope' is not recorded.*first, second"):
        grown.graph(run_id="nope")


def test_a_fully_cached_node_is_cached() -> None:
    """Every packet found stored: cached, not computed."""

    @function_pod(output_keys="w")
    def triple(x: int) -> int:
        return 3 * x

    database = InMemoryArrowDatabase()
    source = DictSource([{"id": 1, "x": 1}], tag_columns=["id"], source_id="one")
    for run in ("a", "b"):
        pipeline = Pipeline("cache", database=database)
        with pipeline:
            triple.pod(source, label="triple")
        pipeline.run(run_id=run)
        expected = "computed" if run == "a" else "cached"
        assert pipeline.graph().nodes[1].state == expected


def test_a_store_without_runs_gives_an_uncoloured_graph_and_refuses_a_run_id() -> None:
    """Nothing recorded: no state; asking for a run names the fix."""
    pipeline = small_pipeline()
    graph = pipeline.graph()
    assert graph.run_id is None
    assert all(node.state is None for node in graph.nodes)
    with pytest.raises(GraphError, match="records no run of pipeline 'small'; run it first"):
        pipeline.graph(run_id="r")


def test_the_same_graph_gives_the_same_svg_and_edges_point_downstream() -> None:
    """Layout is deterministic, and every edge ends on its consumer's top, below its input."""
    first = small_pipeline().graph().svg()
    assert first == small_pipeline().graph().svg()
    root = ET.fromstring(first)
    boxes = {label: element.find(f"{SVG}rect") for label, element in node_elements(first).items()}
    edges = [g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "orcapod-edge"]
    assert len(edges) == 3
    for edge in edges:
        line = edge.find(f"{SVG}polyline")
        assert line is not None
        points = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
        source, target = boxes[edge.attrib["data-from"]], boxes[edge.attrib["data-to"]]
        assert source is not None
        assert target is not None
        assert points[0][1] == float(source.attrib["y"]) + float(source.attrib["height"])
        assert points[-1][1] == float(target.attrib["y"])
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(points))


def test_render_svg_takes_states_a_report_supplies() -> None:
    """A caller colours the picture with its own states; an unknown state or label is refused."""
    graph = small_pipeline().graph()
    svg = render_svg(graph, {"double": "running", "joined": "success"})
    nodes = node_elements(svg)
    assert nodes["double"].attrib["data-state"] == "running"
    assert nodes["joined"].attrib["data-state"] == "success"
    assert nodes["trials"].attrib["data-state"] == "none"
    with pytest.raises(ValueError, match="unknown node state 'weird'"):
        render_svg(graph, {"double": "weird"})
    with pytest.raises(ValueError, match="no node 'ghost'"):
        render_svg(graph, {"ghost": "failed"})


def test_notebook_display_shows_name_store_nodes_and_the_picture() -> None:
    """``_repr_html_``: the pipeline's name, store URI, each node, and the SVG inline."""
    pipeline = Pipeline("shown", database="memory://")
    source = DictSource([{"id": 1, "x": 3}], tag_columns=["id"], source_id="one")
    with pipeline:
        double.pod(source, label="double")
    pipeline.run(run_id="r1")

    html = pipeline._repr_html_()
    assert "<code>shown</code>" in html
    assert "<code>memory://</code>" in html
    assert "<code>double</code>" in html
    assert "<code>one</code>" in html
    assert "states of run <code>r1</code>" in html
    svg = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    assert node_elements(svg)["double"].attrib["data-state"] == "failed"


def test_the_graph_record_of_a_run_reads_back_as_the_pipelines_graph() -> None:
    """What ``Pipeline.run`` records (core) is what ``recorded_graph`` reads (protocols):
    the same nodes, in the same order, and the same edges; core's names are the
    protocols' own objects."""
    import orcapod.core.pipeline as core_pipeline
    import orcapod.protocols.graph as protocols_graph

    for name in ("STATE_COLOURS", "GraphNode", "PipelineGraph", "RecordedGraph", "render_svg"):
        assert getattr(core_pipeline, name) is getattr(protocols_graph, name)
    database = InMemoryArrowDatabase()
    pipeline = small_pipeline(database)
    pipeline.run(run_id="r1")

    recorded = core_pipeline.recorded_graph(database, "small", "r1")
    assert recorded is not None
    assert recorded.origin == "run"
    assert recorded.recorded_run == "r1"
    drawn = pipeline.graph()
    assert recorded.graph.nodes == tuple(replace(n, state=None, note="") for n in drawn.nodes)
    assert recorded.graph.edges == drawn.edges
    assert recorded.executors == {"double": "local"}
