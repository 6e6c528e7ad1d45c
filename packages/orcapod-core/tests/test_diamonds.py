"""Chained diamonds: work linear in the graph's size, not in its number of paths.

A diamond is one stream read by two function pods whose outputs are joined;
the join feeds the next diamond, so the last of N diamonds is reached from the
source by 2**N paths. Identities, compilation, runs and reads must each visit
an element once: these tests count the work (no timing) and fail at once, by
a budget, where a walk would follow every path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.function_pods import FunctionPodStream, ResultCache, function_pod
from orcapod.core.hashing import combine_hashes
from orcapod.core.operators import Join, OperatorStream
from orcapod.core.pipeline import FunctionNode, OperatorNode, Pipeline
from orcapod.core.sources import DictSource
from orcapod.core.system_columns import PROVENANCE
from orcapod.protocols.values import RunState

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.streams import Stream

DIAMONDS = 30
ROWS = 5
STREAMS = 3 * DIAMONDS  # made by pods and joins: two function pod streams and a join per diamond


@function_pod(output_keys="a")
def left(a: int, b: int) -> int:
    return a + b


@function_pod(output_keys="b")
def right(a: int, b: int) -> int:
    return a - b


def source() -> DictSource:
    return DictSource(
        [{"id": i, "a": i, "b": 2 * i} for i in range(ROWS)], tag_columns=["id"], source_id="s"
    )


def diamonds(count: int, start: Stream) -> Stream:
    stream = start
    for _ in range(count):
        stream = Join()(left.pod(stream), right.pod(stream))
    return stream


class Budget:
    """Wraps a callable, counting its calls; the call past ``limit`` raises at once
    (an exponential walk would otherwise run for hours before any assertion)."""

    def __init__(self, function: Callable[..., Any], limit: int, what: str) -> None:
        self.function, self.limit, self.what, self.calls = function, limit, what, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls > self.limit:
            raise AssertionError(f"{self.what}: more than {self.limit} calls; a walk per path?")
        return self.function(*args, **kwargs)


@pytest.fixture
def hash_budget(monkeypatch: pytest.MonkeyPatch) -> Budget:
    """Counts every identity combined by an operator, a function pod or their streams."""
    budget = Budget(combine_hashes, 2 * STREAMS, "combine_hashes")
    monkeypatch.setattr("orcapod.core.operators._base.combine_hashes", budget)
    monkeypatch.setattr("orcapod.core.function_pods._function_pod.combine_hashes", budget)
    return budget


def test_the_identities_of_30_diamonds_are_computed_once_per_stream(hash_budget: Budget) -> None:
    last = diamonds(DIAMONDS, source())

    pipeline_hash = last.pipeline_hash()
    # Each stream combines twice: its operator's or pod's identity, then its own.
    assert hash_budget.calls == 2 * STREAMS
    assert last.pipeline_hash() == pipeline_hash  # kept: no work the second time
    assert hash_budget.calls == 2 * STREAMS

    hash_budget.calls = 0
    content_hash = last.content_hash()
    assert hash_budget.calls <= 2 * STREAMS
    assert last.content_hash() == content_hash
    assert content_hash != pipeline_hash


def _afresh(stream: Stream, which: str) -> str:
    """The documented Merkle chain of identity ``which`` (``"pipeline_hash"`` or
    ``"content_hash"``), computed afresh at every stream: nothing kept is read."""
    if isinstance(stream, OperatorStream):
        kind, own, inputs = "operator-stream", stream.operator, stream.inputs
    elif isinstance(stream, FunctionPodStream):
        kind, own, inputs = "function-pod-stream", stream.pod, (stream.input_stream,)
    else:
        return str(getattr(stream, which)())
    return combine_hashes(kind, getattr(own, which)(), *(_afresh(s, which) for s in inputs))


def test_kept_identities_are_the_merkle_chain_computed_afresh() -> None:
    last = diamonds(4, source())

    assert last.pipeline_hash() == _afresh(last, "pipeline_hash")
    assert last.content_hash() == _afresh(last, "content_hash")
    # A stream asked first (inside the graph) keeps what its consumers then reuse.
    other = diamonds(4, source())
    middle = other.inputs[0]  # type: ignore[attr-defined]
    assert middle.pipeline_hash() == _afresh(middle, "pipeline_hash")
    assert other.pipeline_hash() == last.pipeline_hash()


def _one_reference_per_row(compute: Callable[..., pa.Table]) -> Callable[..., pa.Table]:
    def checked(self: Join, *args: Any) -> pa.Table:
        table = compute(self, *args)
        widths = pc.list_value_length(table[PROVENANCE])
        assert pc.max(widths).as_py() == 1, "a join's provenance names a source row twice"
        return table

    return checked


def test_a_pipeline_of_30_diamonds_compiles_runs_and_reads_in_linear_work(
    hash_budget: Budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = Pipeline("diamonds", InMemoryArrowDatabase())
    with pipeline:
        diamonds(DIAMONDS, source())

    assert len(pipeline.nodes) == STREAMS + 1
    assert hash_budget.calls == 2 * STREAMS  # every node's hash, each stream's once
    functions = [n for n in pipeline.nodes.values() if isinstance(n, FunctionNode)]
    joins = [n for n in pipeline.nodes.values() if isinstance(n, OperatorNode)]
    assert (len(functions), len(joins)) == (2 * DIAMONDS, DIAMONDS)
    # The two branches of each diamond name the same source row: each join's rows name it
    # once (a list doubled per diamond would hold 2**30 references per row at the end).
    monkeypatch.setattr(Join, "compute", _one_reference_per_row(Join.compute))

    result = pipeline.run()

    assert result.state is RunState.SUCCESS
    # A packet met before by the same function (at another diamond) is found, not computed.
    counts = [result.nodes[n.label] for n in functions]
    assert all(c.computed + c.cached == ROWS and c.failed == 0 for c in counts)
    # Reading the last node reads every node once: a join computes once per join node,
    # a function node looks its results up once per function node.
    computes = Budget(Join.compute, DIAMONDS, "Join.compute")
    monkeypatch.setattr(Join, "compute", lambda self, *a: computes(self, *a))
    lookups = Budget(ResultCache.lookup_hashes, 2 * DIAMONDS, "lookup_hashes")
    monkeypatch.setattr(ResultCache, "lookup_hashes", lambda self, *a, **k: lookups(self, *a, **k))
    last = joins[-1]

    table = last.as_table(include_system_columns=True)

    assert (computes.calls, lookups.calls) == (DIAMONDS, 2 * DIAMONDS)
    assert table[PROVENANCE].to_pylist() == [[f"s:{i}"] for i in range(ROWS)]
    computes.calls = lookups.calls = 0
    assert last.as_table().equals(table.drop_columns([PROVENANCE]))
    assert (computes.calls, lookups.calls) == (DIAMONDS, 2 * DIAMONDS)

    computes.calls = lookups.calls = 0
    html = functions[-1]._repr_html_()  # a notebook's preview reads its inputs once too
    assert f"stored results of its current inputs ({ROWS} input rows)" in html
    # Every node above the last diamond's join, then the function's own lookup.
    assert (computes.calls, lookups.calls) == (DIAMONDS - 1, 2 * (DIAMONDS - 1) + 1)

    graph = pipeline.graph()
    assert len(graph.nodes) == STREAMS + 1
    assert len(graph.edges) == 4 * DIAMONDS
    explanation = pipeline.explain(functions[-1].label)
    assert explanation.computed == result.nodes[functions[-1].label].computed


def test_a_second_run_of_30_diamonds_finds_every_result(
    hash_budget: Budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Join, "compute", _one_reference_per_row(Join.compute))
    pipeline = Pipeline("diamonds", InMemoryArrowDatabase())
    with pipeline:
        diamonds(DIAMONDS, source())
    pipeline.run()

    again = pipeline.run()

    assert again.state is RunState.SUCCESS
    assert sum(counts.computed for counts in again.nodes.values()) == 0
    assert sum(counts.cached for counts in again.nodes.values()) == 2 * DIAMONDS * ROWS


def test_a_join_of_a_stream_with_itself_names_each_source_row_once() -> None:
    stream = source()
    table = Join()(left.pod(stream), right.pod(stream)).as_table(include_system_columns=True)

    assert table[PROVENANCE].to_pylist() == [[f"s:{i}"] for i in range(ROWS)]
    other = DictSource([{"id": i, "c": i} for i in range(ROWS)], tag_columns=["id"], source_id="t")
    joined = Join()(left.pod(stream), other).as_table(include_system_columns=True)
    assert joined[PROVENANCE].to_pylist() == [[f"s:{i}", f"t:{i}"] for i in range(ROWS)]
    assert joined.schema.field(PROVENANCE).type == pa.large_list(
        pa.field("item", pa.large_string(), nullable=False)
    )
