"""A plugin's SourceTable (rows and how to identify them) is read as an ArrowTableSource
wherever core takes a stream: function pods, operators, pipelines; one that offers
``arrow_batches`` is read a batch at a time, never through ``as_arrow``, with the same
hashes, rows and record ids."""

from __future__ import annotations

import gc
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core import ArrowTableSource, DictSource, Join, Pipeline, as_stream, function_pod
from orcapod.core.errors import SchemaError, SourceError
from orcapod.core.sources import BatchedSourceTableSource, SourceTableSource
from orcapod.core.sources._batched import CHECK_ROWS
from orcapod.core.sources._source_table import _READ, _READING, SourceTableReads
from orcapod.core.streams import BATCH_ROWS
from orcapod.protocols import errors as protocol_errors
from orcapod.protocols.streams import SourceTable

ROWS = pa.table({"subject": ["s1", "s2", "s3"], "x": [1, 2, 3]})


class Trials:
    """A SourceTable as a plugin writes one, with no base class from orcapod."""

    def __init__(
        self,
        rows: Any = ROWS,
        *,
        source_id: Any = "trials",
        tag_columns: tuple[str, ...] = ("subject",),
        record_id_column: str | None = None,
    ) -> None:
        self.source_id = source_id
        self.tag_columns = tag_columns
        self.record_id_column = record_id_column
        self.rows = rows
        self.reads = 0

    def as_arrow(self) -> Any:
        self.reads += 1
        return self.rows


class SlottedTrials:
    """A SourceTable that cannot be weakly referenced."""

    __slots__ = ()
    source_id = "trials"
    tag_columns = ("subject",)
    record_id_column = None

    def as_arrow(self) -> pa.Table:
        return ROWS


@function_pod(output_keys="doubled")
def double(x: int) -> int:
    return 2 * x


def test_a_source_table_is_read_as_the_arrow_table_source_of_its_rows() -> None:
    trials = Trials(record_id_column="subject")
    assert isinstance(trials, SourceTable)
    source = as_stream(trials)
    assert isinstance(source, SourceTableSource)
    assert isinstance(source, ArrowTableSource)
    same = ArrowTableSource(ROWS, ["subject"], source_id="trials", record_id_column="subject")
    assert source.content_hash() == same.content_hash()
    assert source.pipeline_hash() == same.pipeline_hash()
    assert source.as_table(include_system_columns=True).equals(
        same.as_table(include_system_columns=True)
    )


def test_a_stream_is_itself() -> None:
    source = DictSource([{"a": 1}], tag_columns=["a"])
    assert as_stream(source) is source


def test_each_source_table_is_read_once_and_forgotten_with_it() -> None:
    trials = Trials()
    assert as_stream(trials) is as_stream(trials)
    assert double.pod(trials).input_stream is as_stream(trials)
    assert trials.reads == 1
    assert as_stream(Trials()) is not as_stream(trials)
    key = id(trials)
    assert key in _READ
    del trials
    gc.collect()
    assert key not in _READ


def test_a_source_table_without_weak_references_is_read_at_each_use() -> None:
    trials = SlottedTrials()
    first, second = as_stream(trials), as_stream(trials)
    assert first is not second
    assert first.content_hash() == second.content_hash()


def test_function_pods_operators_and_pipelines_take_a_source_table() -> None:
    trials = Trials()
    pipeline = Pipeline("plugin_source", "memory://")
    with pipeline:
        doubled = double.pod(trials, label="double")
        Join()(trials, doubled, label="both")
    assert sorted(pipeline.nodes) == ["both", "double", "trials"]
    assert pipeline.nodes["trials"].stream is as_stream(trials)
    assert pipeline.run("sync").ok
    both = pipeline.nodes["both"].as_table().sort_by("subject")
    assert both.to_pylist() == [
        {"subject": "s1", "x": 1, "doubled": 2},
        {"subject": "s2", "x": 2, "doubled": 4},
        {"subject": "s3", "x": 3, "doubled": 6},
    ]
    assert trials.reads == 1


def test_what_is_neither_a_stream_nor_a_source_table_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match=r"function pod 'double': \{'x': 1\} \(a dict\) is not a"):
        double.pod({"x": 1})
    with pytest.raises(SourceError, match=r"Join input 2: 'rows' \(a str\) is not a stream.*"):
        Join()(as_stream(Trials()), "rows")
    with pytest.raises(SourceError, match=r"SourceTable \(source_id, .* as_arrow\(\)\)"):
        as_stream(object())


def test_a_source_table_that_breaks_its_contract_is_named_in_the_error() -> None:
    with pytest.raises(SourceError, match=r"Trials 'trials': as_arrow\(\) gave a list, not a"):
        as_stream(Trials([{"subject": "s1"}]))
    with pytest.raises(SourceError, match=r"Trials: source_id None is not valid"):
        as_stream(Trials(source_id=None))
    with pytest.raises(SchemaError, match=r"Trials 'trials': tag column 'nope' is not a column"):
        as_stream(Trials(tag_columns=("nope",)))
    with pytest.raises(SourceError, match=r"Trials 'trials': record_id_column 'x' has the value"):
        as_stream(Trials(pa.table({"subject": ["a", "b"], "x": [1, 1]}), record_id_column="x"))


def test_core_source_error_is_the_one_plugins_raise() -> None:
    assert SourceError is protocol_errors.SourceError


# A SourceTable read in batches (arrow_batches) -------------------------------------


class BatchedTrials(Trials):
    """A SourceTable that offers ``arrow_batches``: core must never call ``as_arrow``."""

    def __init__(self, rows: Any = ROWS, **kwargs: Any) -> None:
        super().__init__(rows, **kwargs)
        self.asked: list[int] = []

    def as_arrow(self) -> Any:
        raise AssertionError("as_arrow() called on a table that offers arrow_batches")

    def arrow_batches(self, max_rows: int) -> Any:
        self.asked.append(max_rows)
        return pa.RecordBatchReader.from_batches(
            self.rows.schema, self.rows.to_batches(max_chunksize=max_rows)
        )


def _in_memory(table: BatchedTrials) -> ArrowTableSource:
    return ArrowTableSource(
        table.rows,
        list(table.tag_columns),
        source_id=table.source_id,
        record_id_column=table.record_id_column,
    )


NESTED = pa.table(
    {
        "id": pa.array([f"r{n:03d}" for n in range(300)]),
        "subject": [f"s{n % 7}" for n in range(300)],
        "x": pa.array(range(300), pa.int64()),
        "dose": [None if n % 11 == 0 else n / 3 for n in range(300)],
        "spikes": [[n, None] if n == 250 else [n] for n in range(300)],
        "meta": pa.array([[("k", n)] for n in range(300)], pa.map_(pa.string(), pa.int64())),
        "at": pa.array([n * 1000 for n in range(300)], pa.timestamp("ns")),
    }
)


@pytest.mark.parametrize("record_id_column", [None, "id", "x"])
def test_a_source_table_read_in_batches_equals_its_in_memory_source(
    record_id_column: str | None,
) -> None:
    batched = BatchedTrials(NESTED, record_id_column=record_id_column)
    source = as_stream(batched)
    assert isinstance(source, BatchedSourceTableSource)
    same = _in_memory(batched)
    assert source.output_schema() == same.output_schema()
    assert source.output_schema()[1]["spikes"] == list[int | None]  # the null is in row 250
    assert source.output_schema()[1]["dose"] == float | None
    assert source.row_count() == 300
    assert source.content_hash() == same.content_hash()
    assert source.pipeline_hash() == same.pipeline_hash()
    whole = same.as_table(include_system_columns=True)
    assert source.as_table(include_system_columns=True).equals(whole)
    assert source.as_table().equals(same.as_table())
    parts = list(source.iter_batches(include_system_columns=True, max_rows=64))
    assert pa.concat_tables(parts).equals(whole)
    assert [dict(tag) for tag, _ in source.iter_packets()] == [
        dict(tag) for tag, _ in same.iter_packets()
    ]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.none() | st.integers(-(2**40), 2**40), st.none() | st.text(max_size=5)),
        max_size=40,
    ),
    st.integers(1, 50),
)
def test_any_rows_read_in_batches_hash_as_in_memory(
    rows: list[tuple[Any, Any]], max_rows: int
) -> None:
    table = pa.table(
        {
            "n": pa.array(range(len(rows)), pa.int64()),
            "i": pa.array([row[0] for row in rows], pa.int64()),
            "s": pa.array([row[1] for row in rows], pa.string()),
        }
    )
    batched = BatchedTrials(table, tag_columns=("n",), record_id_column="n")
    source = BatchedSourceTableSource(batched)
    same = _in_memory(batched)
    assert source.output_schema() == same.output_schema()
    assert source.content_hash() == same.content_hash()
    parts = list(source.iter_batches(include_system_columns=True, max_rows=max_rows))
    assert all(0 < part.num_rows <= max_rows for part in parts)
    whole = same.as_table(include_system_columns=True)
    assert (pa.concat_tables(parts) if parts else whole.slice(0, 0)).equals(whole)


def test_a_pipeline_reads_a_batched_source_table_in_bounded_batches() -> None:
    batched = BatchedTrials(NESTED, record_id_column="id")
    pipeline = Pipeline("batched_source", "memory://")
    with pipeline:
        double.pod(batched, label="double")
    source = pipeline.nodes[batched.source_id].stream
    assert isinstance(source, BatchedSourceTableSource)
    # made: one pass for the checks, one for the record ids, in batches of CHECK_ROWS rows
    assert batched.asked == [CHECK_ROWS, CHECK_ROWS]
    source.reads = SourceTableReads()
    assert pipeline.run("sync", batch_rows=32).ok
    # the run: one pass, asking for the run's batches, and none larger came
    assert batched.asked[2:] == [32]
    assert source.reads == SourceTableReads(passes=1, batches=10, most_rows=32)
    assert source.content_hash() == _in_memory(batched).content_hash()
    assert batched.asked[3:] == [BATCH_ROWS]  # the hash: one more pass
    doubled = pipeline.nodes["double"].as_table().column("doubled").to_pylist()
    assert sorted(doubled) == [2 * n for n in range(300)]


def test_a_batched_source_table_is_one_source_while_it_is_used() -> None:
    batched = BatchedTrials()
    source = as_stream(batched)
    assert as_stream(batched) is source
    assert double.pod(batched).input_stream is source
    key = id(batched)
    del source
    gc.collect()
    assert key not in _READING  # forgotten with its source; read afresh if used again
    assert isinstance(as_stream(batched), BatchedSourceTableSource)


def test_a_source_table_without_arrow_batches_is_still_read_whole() -> None:
    trials = Trials(NESTED, record_id_column="id")
    source = as_stream(trials)
    assert isinstance(source, SourceTableSource)
    assert trials.reads == 1
    batched = as_stream(BatchedTrials(NESTED, record_id_column="id"))
    assert source.content_hash() == batched.content_hash()
    assert source.as_table(include_system_columns=True).equals(
        batched.as_table(include_system_columns=True)
    )


def test_a_batched_source_table_that_breaks_its_contract_is_named_in_the_error() -> None:
    class NotAReader(BatchedTrials):
        def arrow_batches(self, max_rows: int) -> Any:
            return self.rows.to_batches(max_chunksize=max_rows)

    with pytest.raises(SourceError, match=r"NotAReader 'trials': arrow_batches\(\) gave a list"):
        as_stream(NotAReader())
    with pytest.raises(SchemaError, match=r"BatchedTrials 'trials': tag column 'nope' is not"):
        as_stream(BatchedTrials(tag_columns=("nope",)))
    repeated = pa.table({"subject": ["a", "b", "c"], "x": [1, 2, 1]})
    with pytest.raises(SourceError) as batched_error:
        as_stream(BatchedTrials(repeated, record_id_column="x"))
    with pytest.raises(SourceError) as whole_error:
        as_stream(Trials(repeated, record_id_column="x"))
    assert str(batched_error.value).replace("BatchedTrials", "Trials") == str(whole_error.value)
    with pytest.raises(SourceError, match=r"has 1 null values"):
        as_stream(
            BatchedTrials(pa.table({"subject": ["a", "b"], "x": [1, None]}), record_id_column="x")
        )


def test_a_batched_source_table_whose_rows_change_is_an_error_when_read() -> None:
    batched = BatchedTrials()
    source = as_stream(batched)
    batched.rows = ROWS.slice(0, 2)
    with pytest.raises(SourceError, match=r"gave other rows than when the source was made"):
        list(source.iter_batches())
