"""A plugin's SourceTable (rows and how to identify them) is read as an ArrowTableSource
wherever core takes a stream: function pods, operators, pipelines."""

from __future__ import annotations

import gc
from typing import Any

import pyarrow as pa
import pytest

from orcapod.core import ArrowTableSource, DictSource, Join, Pipeline, as_stream, function_pod
from orcapod.core.errors import SchemaError, SourceError
from orcapod.core.sources import SourceTableSource
from orcapod.core.sources._source_table import _READ
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
