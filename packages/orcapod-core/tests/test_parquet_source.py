"""ParquetSource: a Parquet file read a row group at a time, equal to its in-memory source.

What is protected:
- the rows, schemas, provenance, content hash and pipeline results of a
  ParquetSource equal those of ArrowTableSource over the same table (same source id);
- it reads in batches within the bounds, a row group at a time, and a pipeline run
  never reads the whole file (counted in ``source.reads``);
- checks at construction read only the columns they need; record ids are checked
  unique in passes of bounded memory (repeats across passes, fingerprint collisions);
- a missing file, a missing tag column, repeated or null ids, unreadable values and a
  file changed after the source was made are clear errors naming the file.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core import ParquetSource as ExportedParquetSource
from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.errors import SchemaError, SourceError, TypeMismatchError
from orcapod.core.function_pods import function_pod
from orcapod.core.pipeline import Pipeline
from orcapod.core.sources import ArrowTableSource, ParquetSource, _batched, _parquet
from orcapod.core.system_columns import PROVENANCE

PATH_FIELD = pa.field("file", pa.large_string(), metadata={b"orcapod.logical_type": b"path"})


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([f"cell-{i:05d}" for i in range(rows)]),
            "subject": [f"m{i % 3}" for i in range(rows)],
            "x": pa.array(range(rows), pa.int64()),
            "dose": [None if i % 5 == 0 else i / 2 for i in range(rows)],
            "spikes": [[i, None] if i % 4 == 0 else [i] for i in range(rows)],
            "meta": pa.array([[("k", i)] for i in range(rows)], pa.map_(pa.string(), pa.int64())),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(i) for i in range(rows)],
                pa.timestamp("us", "UTC"),
            ),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(i) for i in range(rows)]),
            "file": pa.array([f"/data/{i}.tif" for i in range(rows)], PATH_FIELD.type),
        },
        schema=pa.schema([*pa.table({"id": ["a"]}).schema, *_SCHEMA_REST]),
    )


_SCHEMA_REST = [
    pa.field("subject", pa.string()),
    pa.field("x", pa.int64()),
    pa.field("dose", pa.float64()),
    pa.field("spikes", pa.list_(pa.int64())),
    pa.field("meta", pa.map_(pa.string(), pa.int64())),
    pa.field("at", pa.timestamp("us", "UTC")),
    pa.field("day", pa.date32()),
    PATH_FIELD,
]


def _write(path: Path, table: pa.Table, row_group_size: int = 64) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def _pair(
    path: Path, tags: list[str], record_id_column: str | None = None
) -> tuple[ParquetSource, ArrowTableSource]:
    parquet = ParquetSource(path, tags, source_id="cells", record_id_column=record_id_column)
    memory = ArrowTableSource(
        pq.read_table(path), tags, source_id="cells", record_id_column=record_id_column
    )
    return parquet, memory


def _rows(source: Any) -> list[dict[str, Any]]:
    return [{**tag.as_dict(), **packet.as_dict()} for tag, packet in source.iter_packets()]


# Equality with the in-memory source ------------------------------------------


@pytest.mark.parametrize("record_id_column", [None, "id", "x"])
def test_a_parquet_source_equals_the_arrow_table_source_of_its_file(
    tmp_path: Path, record_id_column: str | None
) -> None:
    path = _write(tmp_path / "cells.parquet", _table(300))
    parquet, memory = _pair(path, ["subject", "x"], record_id_column)
    assert parquet.output_schema() == memory.output_schema()
    assert parquet.output_schema()[1]["dose"] == float | None
    assert parquet.output_schema()[1]["spikes"] == list[int | None]
    assert parquet.output_schema()[1]["file"] == Path
    assert parquet.row_count() == 300
    assert parquet.as_table().equals(memory.as_table())
    whole = memory.as_table(include_system_columns=True)
    assert parquet.as_table(include_system_columns=True).equals(whole)
    batches = list(parquet.iter_batches(include_system_columns=True, max_rows=50))
    assert pa.concat_tables(batches).equals(whole)
    assert _rows(parquet) == _rows(memory)
    assert parquet.content_hash() == memory.content_hash()
    assert parquet.pipeline_hash() == memory.pipeline_hash()
    assert parquet.system_columns() == memory.system_columns() == (PROVENANCE,)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(-(2**40), 2**40),
            st.none() | st.text(max_size=6),
            st.lists(st.none() | st.floats(allow_nan=False), max_size=3),
        ),
        max_size=60,
    ),
    st.integers(1, 70),
    st.integers(1, 70),
)
def test_any_table_and_row_group_size_read_as_the_in_memory_source(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[Any, Any, Any]],
    row_group_size: int,
    max_rows: int,
) -> None:
    path = tmp_path_factory.mktemp("p") / "t.parquet"
    table = pa.table(
        {
            "n": pa.array(range(len(rows)), pa.int64()),
            "i": pa.array([r[0] for r in rows], pa.int64()),
            "s": pa.array([r[1] for r in rows], pa.string()),
            "f": pa.array([r[2] for r in rows], pa.list_(pa.float64())),
        }
    )
    _write(path, table, row_group_size)
    parquet, memory = _pair(path, ["n"])
    assert parquet.output_schema() == memory.output_schema()
    assert parquet.content_hash() == memory.content_hash()
    batches = list(parquet.iter_batches(include_system_columns=True, max_rows=max_rows))
    assert all(0 < batch.num_rows <= max_rows for batch in batches)
    whole = memory.as_table(include_system_columns=True)
    assert (pa.concat_tables(batches) if batches else whole.slice(0, 0)).equals(whole)


def test_default_source_id_is_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "my cells.v2.parquet", _table(3))
    assert ParquetSource(path, "x").source_id == "my_cells.v2"
    assert ParquetSource(_write(tmp_path / "_x.parquet", _table(3)), "x").source_id == "parquet_x"
    assert ExportedParquetSource is ParquetSource


# Bounded reading ---------------------------------------------------------------


def test_batches_are_within_the_bounds_and_each_row_group_is_read_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "cells.parquet", _table(1000), row_group_size=100)
    source = ParquetSource(path, ["x"])
    assert source.reads.row_groups == source.reads.whole == 0
    budget = 4096
    batches = list(source.iter_batches(include_system_columns=True, max_bytes=budget))
    assert all(batch.num_rows == 1 or batch.nbytes <= budget for batch in batches)
    assert sum(batch.num_rows for batch in batches) == 1000
    assert len(batches) > 10
    assert source.reads.row_groups == 10  # the file's row groups, each read once
    assert source.reads.whole == 0


def test_row_count_and_schema_come_from_the_footer_without_reading_rows(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array(range(500), pa.int64()), "s": ["a"] * 500})
    source = ParquetSource(_write(tmp_path / "t.parquet", table), "x")
    assert source.row_count() == 500
    assert source.output_schema()[1]["s"] is str
    # flat columns with statistics need no pass; no row group is read
    assert source.reads == _parquet.ParquetReads()


def test_checks_read_only_the_columns_they_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "cells.parquet", _table(200))
    passes: list[list[str]] = []
    column_batches = ParquetSource._column_batches

    def spy(self: ParquetSource, file: pq.ParquetFile, columns: list[str]) -> Any:
        passes.append(columns)
        return column_batches(self, file, columns)

    monkeypatch.setattr(ParquetSource, "_column_batches", spy)
    ParquetSource(path, ["x"], record_id_column="id")
    # the nested columns (whose inner nulls statistics do not tell) and the id column
    assert sorted(map(tuple, passes)) == [("id",), ("meta",), ("spikes",)]


@function_pod(output_keys="y")
def double(x: int) -> int:
    return 2 * x


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_pipeline_reads_the_file_in_batches_never_whole_with_the_in_memory_results(
    tmp_path: Path, orchestrator: str
) -> None:
    path = _write(tmp_path / "cells.parquet", _table(600), row_group_size=100)
    results = {}
    for kind, source in zip(("parquet", "memory"), _pair(path, ["id"], "id"), strict=True):
        pipeline = Pipeline(f"p_{kind}", InMemoryArrowDatabase())
        with pipeline:
            double.pod(source, label="double")
        result = pipeline.run(orchestrator, batch_rows=64)
        assert result.ok, result
        results[kind] = pipeline.nodes["double"].as_table(include_system_columns=True)
        if kind == "parquet":
            assert isinstance(source, ParquetSource)
            assert source.reads.whole == 0
            # the content hash reads the row groups once, the run once more
            assert source.reads.row_groups == 2 * 6
    parquet, memory = (
        table.sort_by("id").drop_columns(
            [name for name in table.column_names if name.startswith("__run")]
        )
        for table in (results["parquet"], results["memory"])
    )
    assert parquet.select(["id", "y"]).equals(memory.select(["id", "y"]))
    assert parquet.column(PROVENANCE).equals(memory.column(PROVENANCE))
    assert parquet.column("y").to_pylist() == [2 * i for i in range(600)]


# Files of no rows --------------------------------------------------------------


@pytest.mark.parametrize("row_groups", [0, 1])
@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_file_of_no_rows_is_an_empty_source_of_its_schema_and_no_row_is_read(
    tmp_path: Path, row_groups: int, orchestrator: str
) -> None:
    """The footer gives the schema and says there are no rows: the source is the empty
    in-memory source of that schema (a CSV file of no rows is too, where its columns'
    types are declared), and neither its checks, its reads, its hash nor a run reads a
    row group or a column."""
    path = tmp_path / "cells.parquet"
    if row_groups:
        _write(path, _table(0))  # one row group of no rows
    else:
        pq.ParquetWriter(path, _table(0).schema).close()
    assert pq.ParquetFile(path).metadata.num_row_groups == row_groups
    parquet, memory = _pair(path, ["id"], "id")
    assert parquet.row_count() == 0
    assert parquet.output_schema() == memory.output_schema()
    assert parquet.as_table(include_system_columns=True).equals(
        memory.as_table(include_system_columns=True)
    )
    assert list(parquet.iter_batches()) == []
    assert _rows(parquet) == []
    assert parquet.content_hash() == memory.content_hash()
    pipeline = Pipeline("empty", InMemoryArrowDatabase())
    with pipeline:
        double.pod(parquet, label="double")
    result = pipeline.run(orchestrator)
    assert result.ok, result
    assert pipeline.nodes["double"].as_table().num_rows == 0
    assert parquet.reads == _parquet.ParquetReads()


def test_row_groups_of_no_rows_are_skipped(tmp_path: Path) -> None:
    table = _table(20)
    path = tmp_path / "cells.parquet"
    with pq.ParquetWriter(path, table.schema) as writer:
        for part in (table.slice(0, 10), table.slice(0, 0), table.slice(10)):
            writer.write_table(part)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    parquet, memory = _pair(path, ["id"], "id")
    batches = list(parquet.iter_batches(include_system_columns=True))
    assert pa.concat_tables(batches).equals(memory.as_table(include_system_columns=True))
    assert parquet.reads.row_groups == 2


# Record ids -------------------------------------------------------------------


@pytest.mark.parametrize("per_pass", [1 << 21, 7])
@pytest.mark.parametrize(
    ("ids", "repeated"),
    [
        (pa.array([5, 9, 1, 9, 3, 5], pa.int64()), 5),
        (pa.array(["b", "a", "c", "a", "b"]), "b"),
        (pa.array([f"id-{i}" for i in range(100)] + ["id-42"]), "id-42"),
    ],
)
def test_repeated_record_ids_name_the_first_repeated_value_like_the_in_memory_source(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    per_pass: int,
    ids: pa.Array,
    repeated: object,
) -> None:
    monkeypatch.setattr(_batched, "_IDS_PER_PASS", per_pass)  # 7: ids checked in many passes
    table = pa.table({"n": range(len(ids)), "id": ids})
    path = _write(tmp_path / "t.parquet", table, row_group_size=3)
    with pytest.raises(SourceError, match=f"value {repeated!r} more than once") as error:
        ParquetSource(path, "n", record_id_column="id")
    assert str(path) in str(error.value)
    with pytest.raises(SourceError, match=f"value {repeated!r} more than once"):
        ArrowTableSource(table, "n", record_id_column="id")


def test_unique_ids_pass_in_many_passes_and_despite_fingerprint_collisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = pa.table({"n": range(300), "id": [f"r{i * 7919 % 1000}" for i in range(300)]})
    path = _write(tmp_path / "t.parquet", table, row_group_size=50)
    monkeypatch.setattr(_batched, "_IDS_PER_PASS", 40)
    source = ParquetSource(path, "n", record_id_column="id")
    assert source.reads.column_passes == 8  # 300 ids in passes of at most 40 fingerprints
    # fingerprints that collide for every id of one length: the ids themselves decide
    monkeypatch.setattr(_batched, "_fingerprints", lambda ids: pc.binary_length(ids).cast("uint64"))
    ParquetSource(path, "n", record_id_column="id")
    bad = pa.table({"n": range(4), "id": ["ab", "cd", "ef", "cd"]})
    with pytest.raises(SourceError, match="value 'cd' more than once"):
        ParquetSource(_write(tmp_path / "bad.parquet", bad), "n", record_id_column="id")


def test_null_and_mistyped_record_ids_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.parquet", pa.table({"n": [1, 2], "id": ["a", None], "f": [1.0, 2.0]})
    )
    with pytest.raises(SourceError, match="'id' has 1 null values"):
        ParquetSource(path, "n", record_id_column="id")
    with pytest.raises(SourceError, match="'f' is of type double; record ids must be int or str"):
        ParquetSource(path, "n", record_id_column="f")
    with pytest.raises(SourceError, match="'nope' is not a column"):
        ParquetSource(path, "n", record_id_column="nope")


# Bad inputs -------------------------------------------------------------------


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"'.*missing.parquet': no such file; check the path"):
        ParquetSource(tmp_path / "missing.parquet", "x")
    text = tmp_path / "text.parquet"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match=r"text\.parquet': cannot read it as Parquet"):
        ParquetSource(text, "a")
    with pytest.raises(SourceError, match="is a directory; a ParquetSource reads one Parquet file"):
        ParquetSource(tmp_path, "a")


def test_a_missing_tag_column_or_a_reserved_name_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.parquet", pa.table({"x": [1], "y": [2]}))
    with pytest.raises(SchemaError, match=r"tag column 'z' is not a column.*\['x', 'y'\]"):
        ParquetSource(path, "z")
    reserved = _write(tmp_path / "r.parquet", pa.table({"x": [1], "__y": [2]}))
    with pytest.raises(SchemaError, match="__y"):
        ParquetSource(reserved, "x")


def test_values_orcapod_cannot_read_exactly_are_refused_reading_only_their_column(
    tmp_path: Path,
) -> None:
    nanos = pa.array([1_000_000_001], pa.timestamp("ns"))
    path = _write(tmp_path / "t.parquet", pa.table({"x": [1], "t": nanos}))
    with pytest.raises(TypeMismatchError, match="column 't' of type timestamp"):
        ParquetSource(path, "x")
    big = _write(tmp_path / "u.parquet", pa.table({"x": [1], "u": pa.array([2**63], pa.uint64())}))
    with pytest.raises(TypeMismatchError, match="column 'u' of type uint64"):
        ParquetSource(big, "x")
    fine = pa.table({"x": [1], "u": pa.array([7], pa.uint64())})
    assert ParquetSource(_write(tmp_path / "f.parquet", fine), "x").as_table()["u"][0].as_py() == 7


def _changed(path: Path) -> None:
    _write(path, _table(30).slice(0, 20))


@pytest.mark.parametrize(
    "read",
    [
        lambda source: list(source.iter_batches()),
        lambda source: source.as_table(),
        lambda source: source.content_hash(),
        lambda source: list(source.iter_packets()),
    ],
)
@pytest.mark.parametrize("change", ["rewrite", "touch", "delete"])
def test_a_file_changed_after_the_source_was_made_is_an_error_when_read(
    tmp_path: Path, read: Any, change: str
) -> None:
    path = _write(tmp_path / "cells.parquet", _table(30))
    source = ParquetSource(path, "x")
    if change == "rewrite":
        _changed(path)
    elif change == "touch":
        status = os.stat(path)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    else:
        path.unlink()
    with pytest.raises(SourceError, match="the file changed after the source was made") as error:
        read(source)
    message = str(error.value)
    assert str(path) in message
    assert "Make a new ParquetSource" in message


def test_a_file_changed_while_it_is_read_is_an_error_at_the_end(tmp_path: Path) -> None:
    path = _write(tmp_path / "cells.parquet", _table(300), row_group_size=100)
    source = ParquetSource(path, "x")
    batches = source.iter_batches(max_rows=100)
    next(batches)
    _changed(path)
    with pytest.raises(SourceError, match="changed after the source was made"):
        list(batches)
