"""DeltaTableSource: an existing Delta table as an orcapod source, and as a pipeline's input.

orcapod-db-delta makes it without orcapod-core (a ``SourceTable`` with
``arrow_batches``); core reads it in batches wherever it takes a stream, with the
hashes and rows of the ``ArrowTableSource`` of its rows. Reading the table itself
is tested in ``packages/orcapod-db-delta/tests/test_delta_source.py``.

The pipelines here store their results (and an observer's logs and status) in a
DeltaTableDatabase, so the whole chain runs on real Delta tables.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from deltalake import WriterProperties, write_deltalake

from orcapod.core import (
    ArrowTableSource,
    DictSource,
    Join,
    Pipeline,
    as_stream,
    function_pod,
    open_database,
)
from orcapod.core.errors import SchemaError, SourceError
from orcapod.core.sources import BatchedSourceTableSource, SourceTableReads
from orcapod.core.sources._source_table import SourceTableSource
from orcapod.db.delta import DeltaTableDatabase, DeltaTableSource
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    StatusObserver,
)

if TYPE_CHECKING:
    from pathlib import Path


@function_pod(output_keys="doubled")
def double(x: int) -> int:
    return 2 * x


@function_pod(output_keys="ratio")
def ratio(a: int, b: int) -> float:
    print(f"dividing {a} by {b}")
    return a / b


def _trials(rows: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "subject": pa.array([f"s{n}" for n in range(start, start + rows)], pa.large_string()),
            "x": pa.array(list(range(start, start + rows)), pa.int64()),
        }
    )


def test_a_delta_table_reads_as_a_source_with_its_tags_and_packets(tmp_path: Path) -> None:
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(3))
    trials = DeltaTableSource(table_dir, tag_columns=["subject"])
    source = as_stream(trials)
    assert isinstance(source, BatchedSourceTableSource)
    assert as_stream(trials) is source
    assert source.source_id == trials.source_id == "delta-trials"
    tags, packets = source.output_schema()
    assert list(tags) == ["subject"]
    assert list(packets) == ["x"]
    assert source.as_table().sort_by("subject").column("x").to_pylist() == [0, 1, 2]
    assert trials.version == 0


def test_the_hashes_of_a_delta_source_are_pinned(tmp_path: Path) -> None:
    """Golden vectors: a Delta table's source hashes as an ArrowTableSource of its rows.

    Recorded when DeltaTableSource was itself an ArrowTableSource; reading it
    through the SourceTable protocol must give the very same identities.
    """
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(3))
    write_deltalake(str(table_dir), _trials(1, start=3), mode="append")
    latest = as_stream(DeltaTableSource(table_dir, tag_columns=["subject"]))
    assert latest.content_hash() == (
        "orcapod-v1-sha256:f64be120d6c5d24c49a6ba9da9e468c89eb743d54a103a663fa62ee553550f61"
    )
    assert latest.pipeline_hash() == (
        "orcapod-v1-sha256:011f75666bd9b6a10ccb2b8fd3a3373c500635d53892a78d372787b6e5d1f07e"
    )
    first = as_stream(DeltaTableSource(table_dir, tag_columns=["subject"], version=0))
    assert first.content_hash() == (
        "orcapod-v1-sha256:a13c84ebe76b9e3c7d330880e8e75b0ea6cbb556c85a5f36f41afe92501a26c3"
    )
    by_subject = DeltaTableSource(
        table_dir, "subject", record_id_column="subject", source_id="mine"
    )
    assert as_stream(by_subject).content_hash() == (
        "orcapod-v1-sha256:e8d7ae47886b5780c553d7be1fd00f03db37bef588a864d5fa0b2abc5a7b91db"
    )
    doubled = double.pod(DeltaTableSource(table_dir, tag_columns=["subject"]))
    assert (doubled.content_hash(), doubled.pipeline_hash()) == (
        "orcapod-v1-sha256:185fa0bd8df612682bb0bcc7d289a6ac8a128b413f1dc2fcaa0ecd5b7dcbc51d",
        "orcapod-v1-sha256:cf8fc257786a24229542edfa3d51725acee8fc5bc6689d995b2e3461af9fcd89",
    )
    assert latest.as_table(include_system_columns=True).column("__provenance").to_pylist() == [
        [f"delta-trials:{row}"] for row in range(4)
    ]


def test_a_table_written_by_the_database_keeps_its_types_and_hash_as_a_source(
    tmp_path: Path,
) -> None:
    records = pa.table(
        {
            "id": pa.array(["r1", "r2"], pa.large_string()),
            "subject": pa.array(["a", "b"], pa.large_string()),
            "odd name; --": pa.array([1, 2], pa.int64()),
            "at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")),
            "labels": pa.array([{"k": "v"}, {}], pa.map_(pa.large_string(), pa.large_string())),
        }
    )
    with DeltaTableDatabase(tmp_path / "store") as database:
        database.add_records(("lab", "trials"), records, "id")
    source = as_stream(
        DeltaTableSource(tmp_path / "store" / "lab" / "trials" / "@delta", "subject")
    )
    assert source.content_hash() == (
        "orcapod-v1-sha256:21cf6098eff48daf8b7a152e400cdd83bc7a3d6d5003e3d007fb2eb84b3a2228"
    )
    read, written = source.as_table().schema, records.drop_columns(["id"]).schema
    assert [(f.name, str(f.type)) for f in read] == [(f.name, str(f.type)) for f in written]


def test_the_content_hash_changes_when_the_table_data_changes(tmp_path: Path) -> None:
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(2))
    before = as_stream(DeltaTableSource(table_dir, tag_columns="subject"))
    write_deltalake(str(table_dir), _trials(1, start=10), mode="append")
    after = as_stream(DeltaTableSource(table_dir, tag_columns="subject"))
    assert before.source_id == after.source_id
    assert before.content_hash() != after.content_hash()
    assert before.pipeline_hash() == after.pipeline_hash()
    old = as_stream(DeltaTableSource(table_dir, tag_columns="subject", version=0))
    assert old.content_hash() == before.content_hash()


def test_the_tag_columns_of_a_delta_source_are_checked_where_it_is_used(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "trials"), _trials(2))
    trials = DeltaTableSource(tmp_path / "trials", tag_columns="subjct")
    with pytest.raises(SchemaError, match="DeltaTableSource 'delta-trials': tag column 'subjct'"):
        double.pod(trials)


def test_a_missing_delta_table_is_a_source_error_of_orcapod_core(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no Delta table"):
        DeltaTableSource(tmp_path / "nothing", tag_columns="subject")


def test_a_delta_source_used_twice_is_one_source_node(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "trials"), _trials(3))
    trials = DeltaTableSource(tmp_path / "trials", tag_columns="subject")
    pipeline = Pipeline("lab", "memory://")
    with pipeline:
        double.pod(trials, label="double")
        Join()(trials, double.pod(trials, label="again"), label="both")
    assert sorted(pipeline.nodes) == ["again", "both", "delta-trials", "double"]
    result = pipeline.run("sync")
    assert result.ok
    joined = pipeline.nodes["both"].as_table().sort_by("subject")
    assert joined.column("doubled").to_pylist() == [0, 2, 4]


def test_a_delta_source_feeds_a_pipeline_whose_results_are_stored_in_delta(
    tmp_path: Path,
) -> None:
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(4))
    database = DeltaTableDatabase(tmp_path / "store")
    pipeline = Pipeline("lab", database)
    with pipeline:
        double.pod(DeltaTableSource(table_dir, tag_columns="subject"), label="double")
    first = pipeline.run("sync")
    assert first.ok
    assert first.nodes["double"].computed == 4
    result = pipeline.nodes["double"].as_table().sort_by("subject")
    assert result.column("doubled").to_pylist() == [0, 2, 4, 6]
    database.close()

    # a new row in the table: a new pipeline over a reopened store computes only that row
    write_deltalake(str(table_dir), _trials(1, start=4), mode="append")
    reopened = DeltaTableDatabase(tmp_path / "store")
    again = Pipeline("lab", reopened)
    with again:
        double.pod(DeltaTableSource(table_dir, tag_columns="subject"), label="double")
    second = again.run("sync")
    assert second.nodes["double"].computed == 1
    assert second.nodes["double"].cached == 4
    assert again.nodes["double"].as_table().num_rows == 5
    reopened.close()


def test_an_observed_run_on_a_delta_store_is_found_again_after_reopening(tmp_path: Path) -> None:
    """Results, log rows (lists of structs) and status events survive in Delta tables."""
    uri = f"delta://{tmp_path / 'store'}"
    rows = [{"pair": i, "a": i, "b": i - 2} for i in range(5)]  # pair 2 divides by zero
    database = open_database(uri)
    pipeline = Pipeline("lab", database)
    with pipeline:
        ratio.pod(DictSource(rows, tag_columns=["pair"]), label="ratio")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    first = pipeline.run("sync", observer=observer)
    assert (first.nodes["ratio"].computed, first.nodes["ratio"].failed) == (4, 1)
    database.close()

    reopened = open_database(uri)
    reader = ObservabilityReader(reopened, pipeline="lab")
    runs = reader.runs()
    assert runs.column("__n_success").to_pylist() == [4]
    assert runs.column("__n_failed").to_pylist() == [1]
    failed = reader.logs(failed_only=True)
    assert failed.num_rows == 1
    assert "ZeroDivisionError" in failed.column("__traceback")[0].as_py()
    assert failed.column("__stdout")[0].as_py() == "dividing 2 by 0\n"
    again = Pipeline("lab", reopened)
    with again:
        ratio.pod(DictSource(rows, tag_columns=["pair"]), label="ratio")
    second = again.run("async", observer=StatusObserver(reopened))
    assert (second.nodes["ratio"].cached, second.nodes["ratio"].computed) == (4, 0)
    assert again.nodes["ratio"].as_table().num_rows == 4
    reopened.close()


class WholeOnly:
    """The same table without ``arrow_batches``: core reads it through ``as_arrow()``."""

    def __init__(self, table: DeltaTableSource) -> None:
        self.table = table
        self.source_id = table.source_id
        self.tag_columns = table.tag_columns
        self.record_id_column = table.record_id_column

    def as_arrow(self) -> pa.Table:
        return self.table.as_arrow()


def _several_files(table_dir: Path) -> None:
    """Four appends (four files), each in row groups of 25 rows."""
    for start in range(0, 400, 100):
        write_deltalake(
            str(table_dir),
            _trials(100, start),
            mode="append",
            writer_properties=WriterProperties(max_row_group_size=25),
        )


def _partitioned(table_dir: Path) -> None:
    for start in range(0, 90, 30):
        rows = _trials(30, start).append_column(
            "site", pa.array([("north", "south", "east")[n % 3] for n in range(30)])
        )
        write_deltalake(str(table_dir), rows, mode="append", partition_by=["site"])


def _from_database(table_dir: Path) -> Path:
    records = pa.table(
        {
            "id": pa.array([f"r{n}" for n in range(50)], pa.large_string()),
            "subject": pa.array([f"s{n}" for n in range(50)], pa.large_string()),
            "x": pa.array(range(50), pa.int64()),
            "labels": pa.array(
                [{"k": str(n)} for n in range(50)], pa.map_(pa.large_string(), pa.large_string())
            ),
        }
    )
    with DeltaTableDatabase(table_dir) as database:
        database.add_records(("lab", "trials"), records, "id")
    return table_dir / "lab" / "trials" / "@delta"


@pytest.mark.parametrize("record_id_column", [None, "x"])
@pytest.mark.parametrize("kind", ["several files", "partitioned", "database"])
def test_a_delta_source_read_in_batches_equals_it_read_whole(
    tmp_path: Path, kind: str, record_id_column: str | None
) -> None:
    table_dir = tmp_path / "trials"
    if kind == "several files":
        _several_files(table_dir)
    elif kind == "partitioned":
        _partitioned(table_dir)
    else:
        table_dir = _from_database(table_dir)
    trials = DeltaTableSource(table_dir, "subject", record_id_column=record_id_column)
    batched, whole = as_stream(trials), as_stream(WholeOnly(trials))
    assert isinstance(batched, BatchedSourceTableSource)
    memory = ArrowTableSource(
        trials.as_arrow(), "subject", source_id=trials.source_id, record_id_column=record_id_column
    )
    for other in (whole, memory):
        assert batched.output_schema() == other.output_schema()
        assert batched.content_hash() == other.content_hash()
        assert batched.pipeline_hash() == other.pipeline_hash()
        assert batched.as_table(include_system_columns=True).equals(
            other.as_table(include_system_columns=True)
        )
    parts = list(batched.iter_batches(include_system_columns=True, max_rows=16))
    assert max(part.num_rows for part in parts) <= 16
    assert (
        pa.concat_tables(parts)
        .column("__provenance")
        .equals(memory.as_table(include_system_columns=True).column("__provenance"))
    )


def test_a_pipeline_reads_a_delta_source_in_batches_never_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table_dir = tmp_path / "trials"
    _several_files(table_dir)
    trials = DeltaTableSource(table_dir, tag_columns="subject")

    def refused(self: DeltaTableSource) -> pa.Table:
        raise AssertionError("as_arrow() read the whole table")

    monkeypatch.setattr(DeltaTableSource, "as_arrow", refused)
    pipeline = Pipeline("lab", "memory://")
    with pipeline:
        double.pod(trials, label="double")
    source = pipeline.nodes["delta-trials"].stream
    assert isinstance(source, BatchedSourceTableSource)
    assert source.row_count() == 400
    source.reads = SourceTableReads()
    assert pipeline.run("sync", batch_rows=20).ok
    # one pass over the table, a record batch of at most 20 rows at a time
    assert source.reads.passes == 1
    assert source.reads.batches >= 20
    assert source.reads.most_rows == 20
    doubled = pipeline.nodes["double"].as_table().column("doubled").to_pylist()
    assert sorted(doubled) == [2 * n for n in range(400)]
    # a source made before rows were appended keeps the rows of its version
    write_deltalake(str(table_dir), _trials(5, 400), mode="append")
    assert source.as_table().num_rows == 400
    assert as_stream(trials) is source


READ_AND_EXIT = """
import sys
from orcapod.db.delta import DeltaTableDatabase, DeltaTableSource

source = DeltaTableSource(sys.argv[1], tag_columns=["subject"])
database = DeltaTableDatabase(sys.argv[2])
stored = database.get_all_records(("lab", "weights"))
print(source.as_arrow().num_rows, stored.num_rows)
database.close()
"""


def test_processes_that_read_delta_tables_exit_cleanly(tmp_path: Path) -> None:
    """Reading through deltalake's pyarrow datasets aborted up to one process in four at
    exit ("terminate called without an active exception", delta-rs #2184); the source
    and the store read the files through Arrow's own file system instead. The abort
    depends on timing, so a regression fails this test often, not every time."""
    write_deltalake(tmp_path / "table", pa.table({"subject": ["a", "b"], "x": [1, 2]}))
    write_deltalake(tmp_path / "table", pa.table({"subject": ["c"], "x": [3]}), mode="append")
    with DeltaTableDatabase(tmp_path / "store") as database:
        database.add_records(("lab", "weights"), pa.table({"id": ["r1"], "w": [1.5]}), "id")
    script = tmp_path / "read.py"
    script.write_text(READ_AND_EXIT)

    runs = [
        subprocess.run(
            [sys.executable, str(script), str(tmp_path / "table"), str(tmp_path / "store")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(8)
    ]

    assert [(run.returncode, run.stdout.strip()) for run in runs] == [(0, "3 1")] * 8, [
        run.stderr for run in runs if run.returncode
    ]


def test_a_record_id_repeated_in_a_later_file_is_refused_as_by_as_arrow(tmp_path: Path) -> None:
    """Read in batches, a record id repeated in a later file is the SourceError the
    as_arrow path gives, not an Arrow error (found by a red-team pass)."""
    path = tmp_path / "t"
    for n in range(5):
        rows = {"k": [2 * n, 2 * n + 1], "v": [f"s{n}", f"t{n}"]}
        write_deltalake(path, pa.table(rows), mode="append")
    write_deltalake(path, pa.table({"k": [100], "v": ["s1"]}), mode="append")
    with pytest.raises(SourceError, match="value 's1' more than once"):
        SourceTableSource(DeltaTableSource(path, "k", record_id_column="v"))
    with pytest.raises(SourceError, match="value 's1' more than once"):
        BatchedSourceTableSource(DeltaTableSource(path, "k", record_id_column="v"))
