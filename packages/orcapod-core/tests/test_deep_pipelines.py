"""Deep pipelines: graphs thousands of streams deep work without recursion.

Every walk of a graph (identities, a stream's table, compiling, running,
reading a node's results, explaining a run, ordering a recorded graph) keeps
its own stack: a walk that recursed into each element's inputs would exceed
Python's recursion limit (1,000 frames by default) at about a thousand
streams. These graphs are twice that deep, with the limit left as it is.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.function_pods import function_pod
from orcapod.core.hashing import combine_hashes
from orcapod.core.operators import Join
from orcapod.core.pipeline import FunctionNode, Pipeline
from orcapod.core.sources import DictSource
from orcapod.protocols.values import RunState

if TYPE_CHECKING:
    from orcapod.protocols.streams import Stream

CHAIN = 2000  # function pods in a row
DIAMONDS = 700  # 2,100 streams: two function pods and a join per diamond
ROWS = 3
SPACING = 10_000  # between the rows' values: no packet repeats another's anywhere


@function_pod(output_keys="x")
def step(x: int) -> int:
    return x + 1


@function_pod(output_keys="x", name="step", version="v1")
def step_v1(x: int) -> int:
    return x + 1


@function_pod(output_keys="a")
def left(a: int, b: int) -> int:
    return a + 1


@function_pod(output_keys="b")
def right(a: int, b: int) -> int:
    return b + 1


@pytest.fixture(autouse=True)
def _default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 1000, "these graphs are meant to be deeper than the limit"


def chain_source() -> DictSource:
    return DictSource(
        [{"id": i, "x": i * SPACING} for i in range(ROWS)], tag_columns=["id"], source_id="s"
    )


def chain(count: int = CHAIN, first: Stream | None = None) -> list[Stream]:
    """``count`` pods of ``step`` in a row, each reading the one before: every stream."""
    streams: list[Stream] = [chain_source() if first is None else first]
    for _ in range(count):
        streams.append(step.pod(streams[-1]))
    return streams


def diamonds(count: int = DIAMONDS) -> list[Stream]:
    """``count`` chained diamonds: every stream, the source first."""
    stream: Stream = DictSource(
        [{"id": i, "a": i * SPACING, "b": i * SPACING + SPACING // 2} for i in range(ROWS)],
        tag_columns=["id"],
        source_id="d",
    )
    streams = [stream]
    for _ in range(count):
        pair = [left.pod(stream), right.pod(stream)]
        stream = Join()(*pair)
        streams += [*pair, stream]
    return streams


def assert_identities_computed_shallow_first(deep: list[Stream], shallow: list[Stream]) -> None:
    """The identities of ``deep``, asked of its last stream first (everything upstream is
    computed on the way), are those of ``shallow``, the same graph built again and asked
    stream by stream from the source (each step reads what the stream before it kept)."""
    pipeline_hash, content_hash = deep[-1].pipeline_hash(), deep[-1].content_hash()
    for stream in shallow:
        stream.pipeline_hash()
        stream.content_hash()
    assert (shallow[-1].pipeline_hash(), shallow[-1].content_hash()) == (
        pipeline_hash,
        content_hash,
    )
    assert [s.pipeline_hash() for s in deep] == [s.pipeline_hash() for s in shallow]
    assert [s.content_hash() for s in deep] == [s.content_hash() for s in shallow]


def test_the_identities_of_a_chain_of_2000_pods_are_those_computed_shallow_first() -> None:
    deep = chain()

    assert_identities_computed_shallow_first(deep, chain())
    # And the documented Merkle chain, link by link.
    expected = chain_source().pipeline_hash()
    for _ in range(CHAIN):
        expected = combine_hashes("function-pod-stream", step.pod.pipeline_hash(), expected)
    assert deep[-1].pipeline_hash() == expected


def test_the_table_of_a_chain_of_2000_pods_is_computed_without_a_pipeline() -> None:
    last = chain()[-1]

    assert last.as_table().to_pylist() == [{"id": i, "x": i * SPACING + CHAIN} for i in range(ROWS)]


def test_a_pipeline_of_2000_pods_in_a_row_compiles_runs_reruns_and_reads() -> None:
    pipeline = Pipeline("chain", InMemoryArrowDatabase())
    with pipeline:
        chain()

    assert len(pipeline.nodes) == CHAIN + 1
    functions = [node for node in pipeline.nodes.values() if isinstance(node, FunctionNode)]
    assert [node.upstreams for node in functions[1:]] == [(node,) for node in functions[:-1]]

    first = pipeline.run()

    assert first.state is RunState.SUCCESS
    assert {first.nodes[node.label].computed for node in functions} == {ROWS}
    assert sum(first.nodes[node.label].cached for node in functions) == 0

    again = pipeline.run("async")  # the other orchestrator, on the same deep graph

    assert again.state is RunState.SUCCESS
    assert sum(again.nodes[node.label].computed for node in functions) == 0
    assert {again.nodes[node.label].cached for node in functions} == {ROWS}
    expected = [{"id": i, "x": i * SPACING + CHAIN} for i in range(ROWS)]
    assert functions[-1].as_table().to_pylist() == expected


def test_the_identities_of_700_chained_diamonds_are_those_computed_shallow_first() -> None:
    deep = diamonds()

    assert_identities_computed_shallow_first(deep, diamonds())
    assert deep[-1].pipeline_hash() != deep[-1].content_hash()


def test_a_pipeline_of_700_chained_diamonds_compiles_runs_reruns_and_reads() -> None:
    pipeline = Pipeline("diamonds", InMemoryArrowDatabase())
    with pipeline:
        diamonds()

    assert len(pipeline.nodes) == 3 * DIAMONDS + 1
    functions = [node for node in pipeline.nodes.values() if isinstance(node, FunctionNode)]

    first = pipeline.run()

    assert first.state is RunState.SUCCESS
    assert {first.nodes[node.label].computed for node in functions} == {ROWS}

    again = pipeline.run()

    assert again.state is RunState.SUCCESS
    assert sum(again.nodes[node.label].computed for node in functions) == 0
    last = list(pipeline.nodes.values())[-1]
    assert last.as_table().to_pylist() == [
        {"id": i, "a": i * SPACING + DIAMONDS, "b": i * SPACING + SPACING // 2 + DIAMONDS}
        for i in range(ROWS)
    ]


def test_a_chain_moved_by_its_first_pod_explains_the_move_through_every_link() -> None:
    count = 1200
    database = InMemoryArrowDatabase()
    for first in (step, step_v1):
        pipeline = Pipeline("moved", database)
        with pipeline:
            chain(count - 1, first=first.pod(chain_source(), label="first"))
        pipeline.run()

    last = list(pipeline.nodes)[-1]
    [line] = pipeline.explain(last).moved

    assert last == f"step_{count - 1}"
    upstreams = [f"step_{n}" for n in range(count - 2, 1, -1)] + ["step", "first"]
    assert line.split(": ") == [
        *(f"upstream `{label}` changed" for label in upstreams),
        "version v0 → v1",
    ]
