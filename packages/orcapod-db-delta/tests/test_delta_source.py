"""DeltaTableSource on its own: a SourceTable read from a Delta table, without orcapod-core:
whole (``as_arrow``) and in batches (``arrow_batches``), the same rows in the same order.

How orcapod-core reads it (hashes, pipelines) is tested in
``tests-integration/test_delta_source.py``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from deltalake import DeltaTable, WriterProperties, write_deltalake

from orcapod.db.delta import DeltaTableDatabase, DeltaTableSource
from orcapod.protocols.errors import OrcapodError, SourceError
from orcapod.protocols.streams import SourceTable

if TYPE_CHECKING:
    from pathlib import Path


def _trials(rows: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "subject": pa.array([f"s{n}" for n in range(start, start + rows)], pa.large_string()),
            "x": pa.array(list(range(start, start + rows)), pa.int64()),
        }
    )


def test_a_delta_table_is_a_source_table_of_its_rows(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "trials"), _trials(3))
    source = DeltaTableSource(tmp_path / "trials", tag_columns="subject", record_id_column="x")
    assert isinstance(source, SourceTable)
    assert (source.source_id, source.tag_columns, source.record_id_column) == (
        "delta-trials",
        ("subject",),
        "x",
    )
    assert source.as_arrow().to_pylist() == _trials(3).to_pylist()
    assert source.as_arrow() is source.as_arrow()
    assert (source.path, source.version) == ((tmp_path / "trials").resolve(), 0)
    assert repr(source).startswith(f"DeltaTableSource({str(source.path)!r}, tag_columns=")


def test_the_default_source_id_is_stable_and_names_the_table(tmp_path: Path) -> None:
    table_dir = tmp_path / "trials 2024!"
    write_deltalake(str(table_dir), _trials(2))
    first = DeltaTableSource(table_dir, tag_columns="subject")
    second = DeltaTableSource(str(table_dir), tag_columns=["subject"])
    assert first.source_id == second.source_id == "delta-trials_2024"
    assert DeltaTableSource(table_dir, "subject", source_id="mine").source_id == "mine"


def test_a_version_is_read_as_it_was(tmp_path: Path) -> None:
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(2))
    write_deltalake(str(table_dir), _trials(1, start=10), mode="append")
    assert DeltaTableSource(table_dir, "subject").version == 1
    old = DeltaTableSource(table_dir, "subject", version=0)
    assert (old.version, old.as_arrow().num_rows) == (0, 2)


def test_a_table_written_by_the_database_comes_back_with_its_names_and_types(
    tmp_path: Path,
) -> None:
    written = pa.table(
        {
            "key": pa.array(["k1", "k2", "k3"], pa.large_string()),
            "mouse": pa.array(["m1", "m2", "m3"], pa.large_string()),
            "weight (g); --": pa.array([20.5, 21.0, None], pa.float64()),
            "seen": pa.array([datetime(2024, 5, 1, 12, tzinfo=UTC)] * 3, pa.timestamp("us", "UTC")),
            "notes": pa.array([{"a": 1}, {}, {"b": 2}], pa.map_(pa.large_string(), pa.int64())),
        }
    )
    with DeltaTableDatabase(tmp_path / "store") as database:
        database.add_records(("lab", "weights"), written, "key")
    source = DeltaTableSource(tmp_path / "store" / "lab" / "weights" / "@delta", "mouse")
    assert source.source_id == "delta-lab.weights"
    read = source.as_arrow().sort_by("mouse")
    assert read.schema == written.drop_columns(["key"]).schema
    assert read.to_pylist(maps_as_pydicts="strict") == written.drop_columns(["key"]).to_pylist(
        maps_as_pydicts="strict"
    )


def test_a_partitioned_table_keeps_its_partition_column_and_row_positions(
    tmp_path: Path,
) -> None:
    table_dir = tmp_path / "trials"
    first = _trials(2).append_column("site", pa.array(["north", "south"], pa.large_string()))
    later = _trials(1, start=2).append_column("site", pa.array(["north"], pa.large_string()))
    write_deltalake(str(table_dir), first, partition_by=["site"])
    tags = ["subject", "site"]
    before = DeltaTableSource(table_dir, tag_columns=tags).as_arrow().select(tags).to_pylist()
    write_deltalake(str(table_dir), later, mode="append")
    after = DeltaTableSource(table_dir, tag_columns=tags).as_arrow().select(tags).to_pylist()
    assert sorted(before, key=str) == [
        {"subject": "s0", "site": "north"},
        {"subject": "s1", "site": "south"},
    ]
    assert after == [*before, {"subject": "s2", "site": "north"}]


def test_rows_keep_their_positions_when_rows_are_appended(tmp_path: Path) -> None:
    """Row positions are the default record ids: appends must not reorder earlier rows."""
    table_dir = tmp_path / "trials"
    for start in range(5):
        write_deltalake(str(table_dir), _trials(1, start=start), mode="append")
    source = DeltaTableSource(table_dir, tag_columns="subject")
    assert source.as_arrow().column("subject").to_pylist() == ["s0", "s1", "s2", "s3", "s4"]


@pytest.mark.parametrize(("version", "wanted"), [(None, "Delta table"), (3, "version 3 of")])
def test_a_directory_without_a_delta_table_is_a_clear_error(
    tmp_path: Path, version: int | None, wanted: str
) -> None:
    if version is not None:
        write_deltalake(str(tmp_path / "nothing"), _trials(1))
    with pytest.raises(SourceError, match=f"(?s)holds no {wanted}.*_delta_log") as raised:
        DeltaTableSource(tmp_path / "nothing", tag_columns="subject", version=version)
    assert isinstance(raised.value, OrcapodError)
    assert isinstance(raised.value, ValueError)


def test_the_source_is_read_without_orcapod_core(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "trials"), _trials(2))
    code = (
        "import sys; sys.modules['orcapod.core'] = None\n"
        "from orcapod.db.delta import DeltaTableSource\n"
        f"source = DeltaTableSource({str(tmp_path / 'trials')!r}, tag_columns=['subject'])\n"
        "print(source.source_id, source.as_arrow().num_rows)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "delta-trials 2"


# Reading in batches (arrow_batches) ----------------------------------------------


def _batches(source: DeltaTableSource, max_rows: int) -> list[pa.RecordBatch]:
    reader = source.arrow_batches(max_rows)
    assert isinstance(reader, pa.RecordBatchReader)
    batches = list(reader)
    assert all(0 < batch.num_rows <= max_rows for batch in batches)
    assert all(batch.schema == reader.schema for batch in batches)
    return batches


def _several_files(table_dir: Path) -> pa.Table:
    """Five appends (five files) of 120 rows, each file in row groups of 50 rows."""
    small_groups = WriterProperties(max_row_group_size=50)
    for start in range(0, 600, 120):
        write_deltalake(
            str(table_dir), _trials(120, start), mode="append", writer_properties=small_groups
        )
    return _trials(600)


@pytest.mark.parametrize("max_rows", [1, 7, 50, 1000])
def test_batches_are_the_rows_of_as_arrow_in_its_order(tmp_path: Path, max_rows: int) -> None:
    written = _several_files(tmp_path / "trials")
    source = DeltaTableSource(tmp_path / "trials", "subject")
    batches = _batches(source, max_rows)
    assert len(batches) >= 600 // max_rows
    read = pa.Table.from_batches(batches)
    assert read.equals(source.as_arrow())
    assert read.to_pylist() == written.to_pylist()  # oldest file first, rows in order


def test_batches_of_a_partitioned_table_keep_its_partition_column_and_order(
    tmp_path: Path,
) -> None:
    table_dir = tmp_path / "trials"
    sites = ["north", "south", "east"]
    for start in range(0, 90, 30):
        rows = _trials(30, start).append_column(
            "site", pa.array([sites[n % 3] for n in range(30)], pa.large_string())
        )
        write_deltalake(str(table_dir), rows, mode="append", partition_by=["site"])
    source = DeltaTableSource(table_dir, ["subject", "site"])
    read = pa.Table.from_batches(_batches(source, 8), source.arrow_batches(8).schema)
    assert read.equals(source.as_arrow())
    pairs = list(zip(read.column("x").to_pylist(), read.column("site").to_pylist(), strict=True))
    assert sorted(pairs) == [(n, sites[n % 30 % 3]) for n in range(90)]
    commits = [n // 30 for n, _ in pairs]
    assert commits == sorted(commits)  # each append's rows after the earlier ones


def test_batches_of_a_database_table_have_its_names_and_types(tmp_path: Path) -> None:
    written = pa.table(
        {
            "key": pa.array([f"k{n}" for n in range(40)], pa.large_string()),
            "mouse": pa.array([f"m{n}" for n in range(40)], pa.large_string()),
            "weight (g)": pa.array([n / 2 for n in range(40)], pa.float64()),
            "notes": pa.array(
                [{"n": n} for n in range(40)], pa.map_(pa.large_string(), pa.int64())
            ),
        }
    )
    with DeltaTableDatabase(tmp_path / "store") as database:
        database.add_records(("lab", "weights"), written, "key")
    source = DeltaTableSource(tmp_path / "store" / "lab" / "weights" / "@delta", "mouse")
    reader = source.arrow_batches(16)
    assert reader.schema == written.drop_columns(["key"]).schema
    read = pa.Table.from_batches(_batches(source, 16), reader.schema)
    assert read.equals(source.as_arrow())
    assert sorted(read.column("mouse").to_pylist()) == sorted(f"m{n}" for n in range(40))


def test_rows_committed_after_the_source_was_made_are_not_read(tmp_path: Path) -> None:
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(3))
    source = DeltaTableSource(table_dir, "subject")
    write_deltalake(str(table_dir), _trials(2, start=3), mode="append")
    write_deltalake(str(table_dir), _trials(1, start=9), mode="overwrite")
    assert source.version == 0
    assert pa.Table.from_batches(_batches(source, 2)).to_pylist() == _trials(3).to_pylist()
    assert source.as_arrow().to_pylist() == _trials(3).to_pylist()


def test_files_vacuumed_after_the_source_was_made_are_a_clear_error(tmp_path: Path) -> None:
    table_dir = tmp_path / "trials"
    write_deltalake(str(table_dir), _trials(3))
    source = DeltaTableSource(table_dir, "subject")
    write_deltalake(str(table_dir), _trials(1, start=9), mode="overwrite")
    DeltaTable(str(table_dir)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    with pytest.raises(SourceError, match=r"cannot read version 0 .*vacuum"):
        list(source.arrow_batches(2))
    with pytest.raises(SourceError, match=r"cannot read version 0"):
        source.as_arrow()
