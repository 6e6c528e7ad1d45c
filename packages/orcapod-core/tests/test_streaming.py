"""Streaming between nodes: tables bounded in rows and bytes, batches in flight, not packets.

What is protected:
- ``split`` cuts a table into slices within both bounds, in order, losing nothing;
- a run never hands a node a table over its byte budget, under either orchestrator,
  even when a function's outputs are many times larger than its inputs;
- a source's batches go through the nodes downstream before the source's next batch
  (the sync orchestrator holds a batch per node, not a node's output);
- ``node.iter_batches()`` gives ``as_table()``'s rows within its bounds, for every
  kind of node, and reads its inputs a batch at a time too;
- results stored but not durable are bounded in bytes (a checkpoint is taken).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import hypothesis.strategies as st
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.function_pods import function_pod
from orcapod.core.operators import Filter, Join, MapPackets, Operator
from orcapod.core.pipeline import Pipeline, _durability
from orcapod.core.sources import ArrowTableSource, DictSource
from orcapod.core.streams import BatchSize, split

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orcapod.core.types import Schema

ORCHESTRATORS = ("sync", "async")
KB = 1024


class Watch(Operator):
    """A streaming operator that passes its input on unchanged and records each table
    it is handed (rows, bytes) and the order of events across the pipeline."""

    streams = True

    def __init__(self, seen: list[tuple[int, int]], events: list[str]) -> None:
        super().__init__()
        self.seen = seen
        self.events = events

    def parameters(self) -> dict[str, Any]:
        return {}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        return schemas[0]

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        [table] = tables
        self.seen.append((table.num_rows, table.nbytes))
        self.events.append(f"batch of {table.num_rows}")
        return table


EVENTS: list[str] = []


@function_pod(output_keys="blob")
def inflate(x: int) -> bytes:
    """Each output is 16 KB: a batch of 8192 inputs would make 128 MB of outputs."""
    EVENTS.append("inflate")
    return bytes([x % 256]) * (16 * KB)


@function_pod(output_keys="size")
def measure(blob: bytes) -> int:
    return len(blob) + blob[0]


@function_pod(output_keys="y")
def double(x: int) -> int:
    EVENTS.append("double")
    return 2 * x


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    EVENTS.clear()


def _source(n: int) -> ArrowTableSource:
    return ArrowTableSource(
        pa.table({"i": pa.array(range(n), pa.int64()), "x": pa.array(range(n), pa.int64())}),
        tag_columns=["i"],
        source_id="numbers",
    )


# -- split -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), max_size=60),
    rows=st.integers(1, 20),
    budget=st.integers(1, 4000),
)
def test_split_keeps_every_row_in_order_within_both_bounds(
    sizes: list[int], rows: int, budget: int
) -> None:
    table = pa.table({"i": range(len(sizes)), "s": ["a" * n for n in sizes]})
    pieces = list(split(table, BatchSize(rows, budget)))
    assert pa.concat_tables([table.slice(0, 0), *pieces]).equals(table)
    for piece in pieces:
        assert 1 <= piece.num_rows <= rows
        assert piece.num_rows == 1 or piece.nbytes <= budget


def test_a_batch_size_refuses_what_is_not_a_whole_number_of_at_least_one() -> None:
    with pytest.raises(ValueError, match=r"batch_bytes=0; pass a whole number >= 1"):
        BatchSize(10, 0)
    with pytest.raises(ValueError, match=r"batch_rows=2.5"):
        BatchSize(2.5, 10)  # type: ignore[arg-type]
    pipeline = Pipeline("refused", InMemoryArrowDatabase())
    with pipeline:
        double.pod(_source(3), label="double")
    with pytest.raises(ValueError, match=r"batch_bytes=-1"):
        pipeline.run(batch_bytes=-1)
    assert pipeline.database.list_paths(()) == []  # refused before anything was recorded


# -- runs --------------------------------------------------------------------------


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_no_table_handed_between_nodes_exceeds_the_byte_budget(orchestrator: str) -> None:
    """Outputs are 16 KB per row against 16 bytes of input: the function node cuts its
    input so that its outputs stay within the budget, and the run's results are whole."""
    budget = 256 * KB
    seen: list[tuple[int, int]] = []
    pipeline = Pipeline("inflating", InMemoryArrowDatabase())
    with pipeline:
        blobs = inflate.pod(_source(300), label="inflate")
        watched = Watch(seen, EVENTS)(blobs, label="watch")
        measure.pod(watched, label="measure")
    result = pipeline.run(orchestrator, batch_bytes=budget)
    done = result.nodes["measure"]
    assert (done.computed, done.cached, done.failed) == (256, 44, 0)  # 256 distinct blobs
    assert sum(rows for rows, _ in seen) == 300
    assert max(nbytes for _, nbytes in seen) <= budget
    assert len(seen) >= 300 * 16 * KB // budget  # it was cut, not handed whole
    sizes = pipeline.nodes["measure"].as_table().sort_by("i").column("size").to_pylist()
    assert sizes == [16 * KB + i % 256 for i in range(300)]


def test_the_sync_orchestrator_passes_each_batch_downstream_before_the_next() -> None:
    """A source of 40 rows in batches of 10: the function node computes the first
    batch's packets before the second batch reaches the operator. Run node by node,
    every batch would pass the operator first."""
    seen: list[tuple[int, int]] = []
    pipeline = Pipeline("interleaved", InMemoryArrowDatabase())
    with pipeline:
        double.pod(Watch(seen, EVENTS)(_source(40), label="watch"), label="double")
    pipeline.run("sync", batch_rows=10)
    assert [rows for rows, _ in seen] == [10, 10, 10, 10]
    first_double = EVENTS.index("double")
    assert EVENTS.index("batch of 10", 0) < first_double < EVENTS.index("batch of 10", 1) + 1
    assert EVENTS[1] == "double"  # right after the first batch


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_an_operator_needing_all_its_input_still_gets_every_row(orchestrator: str) -> None:
    """A join after a function node and a streaming filter, in batches of 7 rows: the
    join waits for both inputs whole; the result equals a run in one batch."""

    def build(name: str) -> Pipeline:
        weights = DictSource(
            [{"i": i, "w": float(i % 5)} for i in range(60)], tag_columns=["i"], source_id="w"
        )
        pipeline = Pipeline(name, InMemoryArrowDatabase())
        with pipeline:
            doubled = double.pod(_source(60), label="double")
            kept = Filter(pc.field("w") >= 1.0)(weights, label="kept")
            joined = Join()(doubled, kept, label="join")
            MapPackets({"y": "z"})(joined, label="renamed")
        return pipeline

    small, whole = build("small"), build("whole")
    small.run(orchestrator, batch_rows=7)
    whole.run(orchestrator)
    for label in ("double", "kept", "join", "renamed"):
        ours = small.nodes[label].as_table().sort_by("i")
        assert ours.equals(whole.nodes[label].as_table().sort_by("i")), label
    assert small.nodes["renamed"].as_table().num_rows == 48


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_an_empty_source_gives_empty_tables_with_every_column(orchestrator: str) -> None:
    empty = ArrowTableSource(
        pa.table({"i": pa.array([], pa.int64()), "x": pa.array([], pa.int64())}),
        tag_columns=["i"],
        source_id="empty",
    )
    pipeline = Pipeline("empty", InMemoryArrowDatabase())
    with pipeline:
        Join()(double.pod(empty, label="double"), _source(3), label="join")
    result = pipeline.run(orchestrator)
    assert result.nodes["double"].computed == 0
    assert pipeline.nodes["join"].as_table().column_names == ["i", "y", "x"]
    assert pipeline.nodes["join"].as_table().num_rows == 0


def test_results_not_yet_durable_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store buffering writes is flushed once the results stored since the last
    checkpoint pass the byte bound, not only every ``flush_every`` packets or
    ``flush_interval`` seconds."""

    class Counting(InMemoryArrowDatabase):
        def __init__(self) -> None:
            super().__init__()
            self.flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    def flushes() -> int:
        database = Counting()
        pipeline = Pipeline("pending", database)
        with pipeline:
            inflate.pod(_source(200), label="inflate")
        pipeline.run(flush_every=100_000, flush_interval=3600, batch_rows=8)
        return database.flushes

    unbounded = flushes()
    monkeypatch.setattr(_durability, "MAX_PENDING_BYTES", 64 * KB)  # 4 results of 16 KB
    assert flushes() >= 200 // 8 > unbounded


# -- reads -------------------------------------------------------------------------


def _read_pipeline() -> Pipeline:
    pipeline = Pipeline("reads", InMemoryArrowDatabase())
    with pipeline:
        doubled = double.pod(_source(1000), label="double")
        Filter(pc.field("y") >= 100)(doubled, label="kept")
    pipeline.run()
    return pipeline


@pytest.mark.parametrize("label", ["numbers", "double", "kept"])
@pytest.mark.parametrize("system", [False, True])
def test_iter_batches_equals_as_table_within_its_bounds(label: str, system: bool) -> None:
    pipeline = _read_pipeline()
    node = pipeline.nodes[label]
    batches = list(node.iter_batches(include_system_columns=system, max_rows=64))
    assert all(isinstance(batch, pa.RecordBatch) for batch in batches)
    assert all(batch.num_rows <= 64 for batch in batches)
    table = node.as_table(include_system_columns=system)
    assert pa.Table.from_batches(batches, schema=table.schema).equals(table)
    small = list(node.iter_batches(max_bytes=2 * KB))
    assert all(batch.num_rows == 1 or batch.nbytes <= 2 * KB for batch in small)
    assert sum(batch.num_rows for batch in small) == table.num_rows


def test_iter_batches_reads_its_inputs_a_batch_at_a_time() -> None:
    """Reading a function node looks up its results a batch of input at a time, as the
    batches are taken: after the first batch, the rest of the source is not read."""
    seen: list[tuple[int, int]] = []
    pipeline = Pipeline("lazy", InMemoryArrowDatabase())
    with pipeline:
        double.pod(Watch(seen, EVENTS)(_source(1000), label="watch"), label="double")
    pipeline.run(batch_rows=100)
    seen.clear()
    batches = pipeline.nodes["double"].iter_batches(max_rows=100)
    first = next(batches)
    assert first.num_rows <= 100
    assert sum(rows for rows, _ in seen) <= 100  # one batch of the source, not 1000 rows
    assert sum(batch.num_rows for batch in batches) + first.num_rows == 1000


def test_iter_batches_refuses_bad_bounds_at_once() -> None:
    pipeline = _read_pipeline()
    with pytest.raises(ValueError, match=r"max_rows=0; pass a whole number >= 1"):
        pipeline.nodes["double"].iter_batches(max_rows=0)


# -- found by hostile testing ---------------------------------------------------------


@function_pod(output_keys="y")
def fragile(x: int) -> int:
    EVENTS.append(f"fragile {x}")
    if x == 3:
        raise ValueError("no calibration for 3")
    return x


@pytest.mark.parametrize("batch_rows", [8192, 16, 1])
def test_a_packet_that_failed_is_not_called_again_in_a_later_batch(batch_rows: int) -> None:
    """70 rows repeating 7 packets, one failing: it is called once in the run, however
    the rows are cut, and each of its 10 rows is reported failed with its error."""
    pipeline = Pipeline("fragile", InMemoryArrowDatabase())
    with pipeline:
        rows = [{"id": i, "x": i % 7} for i in range(70)]
        fragile.pod(DictSource(rows, tag_columns=["id"], source_id="s"), label="f")
    result = pipeline.run(batch_rows=batch_rows)
    assert EVENTS.count("fragile 3") == 1
    assert result.nodes["f"].failed == 10
    assert {(f.error_type, f.message) for f in result.failures} == {
        ("ValueError", "no calibration for 3")
    }


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_node_after_one_that_sends_no_rows_is_told_zero_once(orchestrator: str) -> None:
    """A filter keeping nothing: the function node after it is told 0 inputs, once,
    under both orchestrators (not its upper bound first)."""
    from orcapod.protocols.testing import RecordingObserver

    pipeline = Pipeline("nothing", InMemoryArrowDatabase())
    with pipeline:
        doubled = double.pod(_source(1), label="double")
        kept = Filter(pc.field("y") > 1000)(doubled, label="kept")
        double.pod(MapPackets({"y": "x"})(kept, label="named"), label="after")
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    assert [n for n in observer.node_inputs if n[0] == "after"] == [("after", 0)]


def test_bounds_beyond_any_table_and_numpy_integers_are_taken() -> None:
    np = pytest.importorskip("numpy")
    pipeline = Pipeline("bounds", InMemoryArrowDatabase())
    with pipeline:
        double.pod(_source(5), label="double")
    result = pipeline.run(batch_rows=10**30, batch_bytes=10**30)
    assert result.nodes["double"].computed == 5
    assert pipeline.run(batch_rows=np.int64(2)).nodes["double"].cached == 5
    batches = list(pipeline.nodes["double"].iter_batches(max_rows=10**30, max_bytes=10**30))
    assert sum(batch.num_rows for batch in batches) == 5
