"""orcapod.protocols.graph on graphs built by hand and stores written by hand (no core).

The golden Mermaid and DOT texts of real pipelines are pinned in orcapod-core's
tests, which build them; here: ordering, refusals, escaping, the legend, and
reading a graph back from the records a store holds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orcapod.protocols.graph import (
    STATE_COLOURS,
    GraphNode,
    PipelineGraph,
    legend,
    recorded_graph,
    records,
    render_svg,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.values import RecordPath

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Store:
    """The reads ``recorded_graph`` makes of an ArrowDatabase, over tables given by path."""

    def __init__(self, tables: Mapping[RecordPath, pa.Table]) -> None:
        self.tables = dict(tables)

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        return [path for path in self.tables if path[: len(prefix)] == prefix]

    def get_all_records(self, path: RecordPath) -> pa.Table | None:
        return self.tables.get(path)

    def get_record_by_id(self, path: RecordPath, record_id: str) -> pa.Table | None:
        found = self.get_records_with_column_value(path, {records.RUN_ID: record_id})
        return None if found is None or found.num_rows == 0 else found

    def get_records_with_column_value(
        self, path: RecordPath, values: Mapping[str, Any]
    ) -> pa.Table | None:
        table = self.tables.get(path)
        for name, value in values.items():
            table = None if table is None else table.filter(pc.equal(table[name], value))
        return table


def graph_rows(*runs: tuple[str, list[tuple[str, str, str, str, list[str]]]]) -> pa.Table:
    """``_graph`` records: per run, its nodes as (label, kind, detail, executor, inputs)."""
    rows = [
        {
            records.RUN_ID: run,
            "__recorded_at": T0 + timedelta(minutes=number),
            "__nodes": [
                dict(zip(("label", "kind", "detail", "executor", "inputs"), node, strict=True))
                for node in nodes
            ],
            "__context": [{"node": "", "name": "host", "value": f"host-{run}"}],
        }
        for number, (run, nodes) in enumerate(runs)
    ]
    return pa.Table.from_pylist(rows, schema=records.GRAPH_SCHEMA)


TWO_RUNS = graph_rows(
    ("r1", [("src", "source", "DictSource", "", []), ("f", "function", "f", "local", ["src"])]),
    (
        "r2",
        [
            ("src", "source", "DictSource", "", []),
            ("f", "function", "f", "ray", ["src"]),
            ("g", "function", "g", "ray", ["f"]),
        ],
    ),
)


def identity(label: str, version: str, function: str, inputs: list[str], minute: int) -> dict:
    """An ``_identities`` row: the columns ``recorded_graph`` reads of it."""
    return {
        records.NODE_LABEL: label,
        records.NODE_HASH: version,
        "__function": function,
        "__upstream_labels": inputs,
        "__recorded_at": T0 + timedelta(minutes=minute),
    }


def nodes_by_label(svg: str) -> dict[str, ET.Element]:
    return {
        g.attrib["data-label"]: g
        for g in ET.fromstring(svg).iter(f"{SVG}g")
        if "orcapod-node" in g.attrib.get("class", "").split()
    }


def test_from_nodes_orders_nodes_after_their_inputs_and_refuses_bad_graphs() -> None:
    """Nodes given in any order come out topologically, the given order kept where free;
    a repeated label, an unknown input or a cycle is refused."""
    graph = PipelineGraph.from_nodes(
        "p",
        [
            (GraphNode("join", "operator", "Join"), ["b", "a"]),
            (GraphNode("a", "source"), []),
            (GraphNode("b", "function"), ["a"]),
        ],
    )
    assert [node.label for node in graph.nodes] == ["a", "b", "join"]
    assert graph.edges == (("a", "b"), ("b", "join"), ("a", "join"))
    with pytest.raises(ValueError, match="names a node twice"):
        PipelineGraph.from_nodes("p", [(GraphNode("a", "source"), []), (GraphNode("a", "x"), [])])
    with pytest.raises(ValueError, match="reads unknown nodes"):
        PipelineGraph.from_nodes("p", [(GraphNode("a", "function"), ["ghost"])])
    with pytest.raises(ValueError, match="cycle through node"):
        PipelineGraph.from_nodes(
            "p", [(GraphNode("a", "function"), ["b"]), (GraphNode("b", "function"), ["a"])]
        )


def test_from_nodes_orders_a_chain_thousands_deep_listed_last_first() -> None:
    """The ordering keeps a stack of its own: no recursion limit on a graph's depth
    (a store may give a ``_graph`` record's nodes back in any order)."""
    count = 3000
    chain = [(GraphNode(f"n{i}", "function"), [f"n{i - 1}"] if i else []) for i in range(count)]

    graph = PipelineGraph.from_nodes("p", reversed(chain))

    assert [node.label for node in graph.nodes] == [f"n{i}" for i in range(count)]
    assert graph.edges == tuple((f"n{i - 1}", f"n{i}") for i in range(1, count))
    cycle = [*chain, (GraphNode("loop", "function"), [f"n{count - 1}", "loop"])]
    with pytest.raises(ValueError, match="cycle through node 'loop'"):
        PipelineGraph.from_nodes("p", reversed(cycle))


def test_labels_are_escaped_in_every_format() -> None:
    """A label with markup characters (a graph a report builds from stored names) cannot
    break the Mermaid, DOT or SVG around it."""
    hostile = 'a<b>&"c#d'
    graph = PipelineGraph(
        "esc", (GraphNode("src", "source"), GraphNode(hostile, "function")), (("src", hostile),)
    )
    assert '("function pod<br/>a#lt;b#gt;#amp;#quot;c#35;d")' in graph.mermaid
    assert '[label="function pod\\na<b>&\\"c#d"' in graph.dot
    assert hostile in nodes_by_label(graph.svg())


def test_render_svg_colours_by_the_states_given_and_refuses_unknown_ones() -> None:
    """States a caller supplies replace the graph's own; an unknown state or label is
    refused; the legend lists the states shown in STATE_COLOURS order."""
    graph = PipelineGraph(
        "p", (GraphNode("a", "source"), GraphNode("b", "function")), (("a", "b"),)
    )
    drawn = nodes_by_label(render_svg(graph.with_states({"a": "cached"}), {"b": "failed"}))
    assert drawn["b"].attrib["data-state"] == "failed"
    assert drawn["a"].attrib["data-state"] == "none"
    rect = drawn["b"].find(f"{SVG}rect")
    assert rect is not None
    assert rect.attrib["fill"] == STATE_COLOURS["failed"].fill
    with pytest.raises(ValueError, match="unknown node state 'weird'"):
        render_svg(graph, {"b": "weird"})
    with pytest.raises(ValueError, match="no node 'ghost'"):
        render_svg(graph, {"ghost": "failed"})
    assert [state for state, _ in legend(["failed", "computed", "failed"])] == [
        "computed",
        "failed",
    ]


def test_a_runs_graph_record_is_read_back_with_its_executors_and_context() -> None:
    """The run asked for gives its own record; none asked for gives the newest."""
    store = Store({records.graph_path("p"): TWO_RUNS})

    first = recorded_graph(store, "p", "r1")  # type: ignore[arg-type]
    assert first is not None
    assert (first.origin, first.recorded_run) == ("run", "r1")
    assert [node.label for node in first.graph.nodes] == ["src", "f"]
    assert first.graph.nodes[0] == GraphNode("src", "source", "DictSource")
    assert first.graph.edges == (("src", "f"),)
    assert first.executors == {"f": "local"}
    assert first.context == (("", "host", "host-r1"),)

    latest = recorded_graph(store, "p")  # type: ignore[arg-type]
    assert latest is not None
    assert (latest.origin, latest.recorded_run) == ("run", "r2")
    assert latest.graph.edges == (("src", "f"), ("f", "g"))


def test_a_run_older_than_the_graph_records_gets_the_latest_record() -> None:
    recorded = recorded_graph(Store({records.graph_path("p"): TWO_RUNS}), "p", "r0")  # type: ignore[arg-type]
    assert recorded is not None
    assert (recorded.origin, recorded.recorded_run) == ("latest", "r2")


def test_a_store_without_graph_records_gives_the_function_nodes_of_its_identities() -> None:
    """The run's version of each function node (by ``_node_runs``), the inputs they name
    (of unknown kind), and no executor or context; a store with neither gives None."""
    identities = pa.Table.from_pylist(
        [
            identity("f", "h1", "f", ["src"], minute=0),
            identity("f", "h2", "f2", ["src"], minute=1),
            identity("g", "h3", "g", ["f"], minute=2),
        ]
    )
    node_runs = pa.Table.from_pylist(
        [{records.RUN_ID: "old", records.NODE_LABEL: "f", records.NODE_HASH: "h1"}]
    )
    store = Store(
        {records.identities_path("p"): identities, records.node_runs_path("p"): node_runs}
    )

    old = recorded_graph(store, "p", "old")  # type: ignore[arg-type]
    assert old is not None
    assert (old.origin, old.recorded_run, old.executors, old.context) == (
        "identities",
        None,
        {},
        (),
    )
    assert old.graph.nodes == (
        GraphNode("src", "input"),
        GraphNode("f", "function", "f"),
        GraphNode("g", "function", "g"),
    )
    assert old.graph.edges == (("src", "f"), ("f", "g"))
    latest = recorded_graph(store, "p")  # type: ignore[arg-type]
    assert latest is not None
    assert latest.graph.nodes[1] == GraphNode("f", "function", "f2")
    assert recorded_graph(Store({}), "p") is None  # type: ignore[arg-type]
