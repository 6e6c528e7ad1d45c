"""node.as_table() gives the current inputs' results; node.history() every stored result."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.function_pods import function_pod
from orcapod.core.operators import Join
from orcapod.core.pipeline import Pipeline
from orcapod.core.sources import DictSource

ORCHESTRATORS = ["sync", "async"]


@function_pod(output_keys="y")
def square(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x


@function_pod(output_keys="label")
def named(y: int) -> str:
    return f"y={y}"


def _pipeline(database: Any, xs: dict[int, int]) -> Pipeline:
    source = DictSource([{"id": i, "x": x} for i, x in xs.items()], tag_columns=["id"])
    pipeline = Pipeline("current", database)
    with pipeline:
        squared = square.pod(source, label="square")
        named.pod(squared, label="named")
    return pipeline


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda row: tuple(str(v) for v in row.values()))


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_as_table_after_a_source_changed_has_one_current_row_per_tag(orchestrator: str) -> None:
    database = InMemoryArrowDatabase()
    _pipeline(database, {0: 1, 1: 2}).run(orchestrator)
    edited = _pipeline(database, {0: 5, 1: 2})  # id 0: x 1 -> 5, in a pipeline built anew
    edited.run(orchestrator)
    assert _rows(edited.nodes["square"].as_table()) == [{"id": 0, "y": 25}, {"id": 1, "y": 4}]
    assert _rows(edited.nodes["named"].as_table()) == [
        {"id": 0, "label": "y=25"},
        {"id": 1, "label": "y=4"},
    ]


def test_history_keeps_every_stored_result_with_its_run_and_time() -> None:
    database = InMemoryArrowDatabase()
    first = _pipeline(database, {0: 1, 1: 2}).run()
    edited = _pipeline(database, {0: 5, 1: 2})
    second = edited.run()
    history = edited.nodes["square"].history()
    rows = [(row["id"], row["y"], row["__run_id"]) for row in history.to_pylist()]
    assert sorted(rows) == sorted(
        [(0, 1, first.run_id), (1, 4, first.run_id), (0, 25, second.run_id)]
    )
    times = history.column("__computed_at").to_pylist()
    assert times == sorted(times)  # oldest first
    assert history.schema.field("__computed_at").type == pa.timestamp("us", "UTC")
    assert history.schema.field("y").type == pa.int64()
    assert "__provenance" in history.column_names


def test_as_table_reads_only_and_leaves_out_what_was_not_computed() -> None:
    database = InMemoryArrowDatabase()
    _pipeline(database, {0: 1, 1: -1}).run()  # id 1 fails
    grown = _pipeline(database, {0: 1, 1: -1, 2: 3})  # id 2 is new and not run yet
    stored_before = {path: database.get_all_records(path) for path in database.list_paths()}
    assert _rows(grown.nodes["square"].as_table()) == [{"id": 0, "y": 1}]
    assert _rows(grown.nodes["named"].as_table()) == [{"id": 0, "label": "y=1"}]
    after = {path: database.get_all_records(path) for path in database.list_paths()}
    assert after.keys() == stored_before.keys()  # nothing computed, nothing stored
    assert all(after[path].equals(stored_before[path]) for path in after)  # type: ignore[union-attr]


def test_as_table_of_a_node_never_run_is_empty_with_its_schema() -> None:
    pipeline = _pipeline(InMemoryArrowDatabase(), {0: 1})
    table = pipeline.nodes["square"].as_table(include_system_columns=True)
    assert table.num_rows == 0
    assert table.column_names == ["id", "y", "__provenance"]
    history = pipeline.nodes["square"].history()
    assert history.num_rows == 0
    assert history.column_names == [
        "id",
        "y",
        "__provenance",
        "__input_packet_hash",
        "__run_id",
        "__computed_at",
    ]


def test_as_table_of_an_operator_follows_its_current_inputs() -> None:
    database = InMemoryArrowDatabase()

    def build(xs: dict[int, int]) -> Pipeline:
        source = DictSource([{"id": i, "x": x} for i, x in xs.items()], tag_columns=["id"])
        names = DictSource([{"id": i, "name": f"n{i}"} for i in xs], tag_columns=["id"])
        pipeline = Pipeline("joined", database)
        with pipeline:
            squared = square.pod(source, label="square")
            Join()(squared, names, label="join")
        return pipeline

    build({0: 1, 1: 2}).run()
    edited = build({0: 3})
    edited.run()
    assert _rows(edited.nodes["join"].as_table()) == [{"id": 0, "name": "n0", "y": 9}]


def test_duplicate_input_rows_each_keep_their_row() -> None:
    database = InMemoryArrowDatabase()
    source = DictSource([{"id": 0, "x": 2}, {"id": 1, "x": 2}], tag_columns=["id"])
    pipeline = Pipeline("dups", database)
    with pipeline:
        square.pod(source, label="square")
    pipeline.run()
    assert _rows(pipeline.nodes["square"].as_table()) == [{"id": 0, "y": 4}, {"id": 1, "y": 4}]
    assert pipeline.nodes["square"].history().num_rows == 2
