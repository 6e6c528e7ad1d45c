"""RunResult and pipeline nodes in a notebook: compact, escaped, bounded HTML (_repr_html_)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.function_pods import function_pod
from orcapod.core.operators import Join
from orcapod.core.pipeline import Pipeline
from orcapod.core.pipeline._run import NodeCounts, PacketFailure, RunResult
from orcapod.core.sources import DictSource
from orcapod.protocols.values import RunState

HOSTILE = "<b>bold</b> & \x00\x1b[2J"


def parse(html: str) -> ET.Element:
    """The HTML as XML: it parses only if every tag is closed and every value escaped."""
    return ET.fromstring(f"<root>{html}</root>")


def rows_of(root: ET.Element) -> int:
    return len(root.findall(".//tbody/tr"))


@function_pod(output_keys="y")
def risky(x: int) -> int:
    if x % 3 == 0:
        raise ValueError(f"<no> & {x}\x00")
    return 2 * x


def _pipeline(count: int) -> Pipeline:
    source = DictSource(
        [{"name": f"{HOSTILE}{i}", "x": i} for i in range(count)], tag_columns=["name"]
    )
    pipeline = Pipeline("notebook", InMemoryArrowDatabase())
    with pipeline:
        risky.pod(source, label="risky")
    return pipeline


def test_a_run_result_shows_its_state_counts_duration_and_a_row_per_node() -> None:
    result = _pipeline(7).run()
    html = result._repr_html_()
    root = parse(html)
    text = "".join(root.itertext())
    assert "PARTIAL" in text
    assert result.run_id in text
    assert "computed: 4" in text
    assert "failed: 3" in text
    assert "duration" in text
    assert "risky" in text
    assert "3 failed packets" in text
    assert "<b>bold" not in html  # the tags' markup is text, never markup
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; \\x00\\x1b[2J" in html


def test_a_run_result_of_100_000_failures_and_nodes_lists_at_most_20_of_each() -> None:
    failures = [
        PacketFailure("node", {"name": f"{HOSTILE}{i}"}, "ValueError", HOSTILE * 10)
        for i in range(100_000)
    ]
    nodes = {f"node{i}": NodeCounts(computed=1, failed=1) for i in range(100_000)}
    result = RunResult(
        "r1", "p", RunState.PARTIAL, nodes, failures, datetime.now(UTC), duration_s=12.5
    )
    started = time.perf_counter()
    html = result._repr_html_()
    assert time.perf_counter() - started < 5
    root = parse(html)
    assert rows_of(root) == 40  # 20 nodes, 20 failures
    assert "20 of 100,000 rows shown" in html
    assert "100000 failed packets" in html
    assert len(html) < 100_000


def test_a_function_node_shows_its_kind_its_latest_run_and_its_first_results() -> None:
    pipeline = _pipeline(7)
    node = pipeline.nodes["risky"]
    before = node._repr_html_()
    assert "none in this process" in before
    parse(before)
    result = pipeline.run()
    html = node._repr_html_()
    text = "".join(parse(html).itertext())
    assert "function node 'risky'" in text
    assert result.run_id in text
    assert "computed: 4" in text
    assert "failed: 3" in text
    assert "7 input rows" in text
    assert rows_of(parse(html)) == 4  # the stored results of the current inputs
    assert "<b>bold" not in html


def test_a_node_of_100_000_rows_shows_20_and_looks_up_only_a_first_batch() -> None:
    pipeline = _pipeline(100_000)
    pipeline.run()
    html = pipeline.nodes["risky"]._repr_html_()
    root = parse(html)
    assert rows_of(root) == 20
    assert "first stored results of its current inputs (100,000 input rows)" in html
    source_html = pipeline.nodes[pipeline.nodes["risky"].upstreams[0].label]._repr_html_()
    assert rows_of(parse(source_html)) == 20
    assert "100,000 rows" in source_html


def test_source_and_operator_nodes_show_their_rows() -> None:
    left = DictSource([{"id": i, "a": i} for i in range(3)], tag_columns=["id"])
    right = DictSource([{"id": i, "b": HOSTILE} for i in range(3)], tag_columns=["id"])
    pipeline = Pipeline("joined", InMemoryArrowDatabase())
    with pipeline:
        Join()(left, right)
    pipeline.run()
    join = next(node for node in pipeline.nodes.values() if node.kind == "operator")
    html = join._repr_html_()
    text = "".join(parse(html).itertext())
    assert "operator node" in text
    assert "3 rows" in text
    assert rows_of(parse(html)) == 3


def test_a_node_whose_rows_cannot_be_read_says_why_and_does_not_raise() -> None:
    pipeline = _pipeline(3)
    node = pipeline.nodes["risky"]

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("store <gone>")

    node.preview = broken  # type: ignore[method-assign]
    html = node._repr_html_()
    assert "not readable: OSError: store &lt;gone&gt;" in html
    parse(html)
