"""DeltaTableDatabase: the conformance kit, and what only a Delta table store must do."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.delta._database import COMPACT_AFTER_FILES
from orcapod.db.delta._layout import TABLE_DIRECTORY
from orcapod.protocols.database import add_new_records
from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    InvalidRecordPathError,
    RecordSchemaError,
)
from orcapod.protocols.testing import load_distribution_plugins
from orcapod.protocols.testing.database import DurableArrowDatabaseContract

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from orcapod.protocols.database import ArrowDatabase


class TestDeltaTableDatabaseContract(DurableArrowDatabaseContract):
    """Every behaviour the ArrowDatabase protocol promises, on real Delta tables on disk."""

    __test__ = True

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        return DeltaTableDatabase(tmp_path / "store")

    def database_opener(self, tmp_path: Path) -> tuple[str, str]:
        return "orcapod.db.delta._plugin:open_delta_database", f"delta://{tmp_path / 'store'}"

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> ArrowDatabase:
        return DeltaTableDatabase(tmp_path / "store")


# -- what only a Delta store does -------------------------------------------------------------

_PATH = ("pipeline", "node")


def _records(ids: list[str], version: int = 1) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.large_string()),
            "value": pa.array([version] * len(ids), pa.int64()),
        }
    )


def _ids(table: pa.Table | None, column: str = "id") -> set[str]:
    assert table is not None
    return set(table.column(column).to_pylist())


def _table_of(root: Path, path: tuple[str, ...]) -> DeltaTable:
    return DeltaTable(str(root.joinpath(*path, TABLE_DIRECTORY)))


def test_one_flush_of_five_batches_is_one_commit_and_one_file(tmp_path: Path) -> None:
    """Adds are buffered: 5,000 records in 5 batches and one flush make a single transaction."""
    database = DeltaTableDatabase(tmp_path)
    for batch in range(5):
        database.add_records(_PATH, _records([f"r{batch}-{n}" for n in range(1000)]), "id")
    assert not (tmp_path / "pipeline" / "node" / TABLE_DIRECTORY).exists(), "written before flush"
    database.flush()
    table = _table_of(tmp_path, _PATH)
    assert table.version() == 0
    assert len(table.history()) == 1
    assert len(table.file_uris()) == 1
    assert table.to_pyarrow_table().num_rows == 5000
    database.flush()  # nothing pending: no new commit
    assert _table_of(tmp_path, _PATH).version() == 0
    database.close()


def test_each_flush_is_one_commit_per_path(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    for flush in range(3):
        database.add_records(_PATH, _records([f"a{flush}"]), "id")
        database.add_records(("other",), _records([f"b{flush}", f"c{flush}"]), "id")
        database.flush()
    assert _table_of(tmp_path, _PATH).version() == 2
    assert _table_of(tmp_path, ("other",)).version() == 2
    database.close()


def test_a_flush_naming_paths_commits_them_in_the_order_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's checkpoint names its node records before the results they name, so that a
    kill between two commits never leaves a result its records lack; the paths were
    committed in the order they were first written to (the results first)."""
    database = DeltaTableDatabase(tmp_path)
    for path in [("results",), ("records",), ("explains",)]:
        database.add_records(path, _records([path[0]]), "id")
    committed: list[tuple[str, ...]] = []
    commit = database._flush_path

    def noted(path: tuple[str, ...], state: Any) -> None:
        committed.append(path)
        commit(path, state)

    monkeypatch.setattr(database, "_flush_path", noted)
    database.flush(paths=[("records",), ("explains",), ("results",)])
    assert committed == [("records",), ("explains",), ("results",)]
    database.close()


def test_many_small_flushes_are_compacted_into_few_files(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    for flush in range(COMPACT_AFTER_FILES + 2):
        database.add_records(_PATH, _records([f"r{flush}-{n}" for n in range(10)]), "id")
        database.flush()
    table = _table_of(tmp_path, _PATH)
    operations = [entry["operation"] for entry in table.history()]
    assert "OPTIMIZE" in operations
    assert len(table.file_uris()) < COMPACT_AFTER_FILES
    assert table.to_pyarrow_table().num_rows == 10 * (COMPACT_AFTER_FILES + 2)
    # the database's own view is still right after compacting, and so is a fresh one
    assert len(_ids(database.get_all_records(_PATH, record_id_column="id"))) == 180
    database.close()
    again = DeltaTableDatabase(tmp_path)
    assert len(_ids(again.get_all_records(_PATH, record_id_column="id"))) == 180
    again.close()


def test_pending_records_are_readable_here_but_not_stored_until_flushed(tmp_path: Path) -> None:
    writer = DeltaTableDatabase(tmp_path)
    reader = DeltaTableDatabase(tmp_path)
    writer.add_records(_PATH, _records(["r1", "r2"]), "id")
    assert _ids(writer.get_records_by_ids(_PATH, ["r1", "r2"], record_id_column="id")) == {
        "r1",
        "r2",
    }
    assert reader.get_all_records(_PATH) is None
    assert reader.list_paths() == []
    writer.flush()
    assert _ids(reader.get_all_records(_PATH, record_id_column="id")) == {"r1", "r2"}
    assert reader.list_paths() == [_PATH]
    writer.close()
    reader.close()


def test_reads_see_records_another_instance_committed_after_the_first_read(
    tmp_path: Path,
) -> None:
    """A read checks the table version and reloads what others committed; no reopen needed."""
    first = DeltaTableDatabase(tmp_path)
    second = DeltaTableDatabase(tmp_path)
    first.add_records(_PATH, _records(["r1"]), "id", flush=True)
    assert _ids(second.get_all_records(_PATH, record_id_column="id")) == {"r1"}
    first.add_records(_PATH, _records(["r2", "r3"]), "id", flush=True)
    assert _ids(second.get_all_records(_PATH, record_id_column="id")) == {"r1", "r2", "r3"}
    assert _ids(second.get_records_by_ids(_PATH, ["r3"], record_id_column="id")) == {"r3"}
    with pytest.raises(DuplicateRecordError):
        second.add_record(_PATH, "r2", _records(["x"]).drop_columns(["id"]))
    first.close()
    second.close()


def test_other_writers_appends_are_read_from_their_new_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Following another writer costs what it wrote, not a reread of everything stored."""
    first = DeltaTableDatabase(tmp_path)
    second = DeltaTableDatabase(tmp_path)
    first.add_records(_PATH, _records([f"old-{n}" for n in range(100)]), "id", flush=True)
    assert len(_ids(second.get_all_records(_PATH, record_id_column="id"))) == 100
    assert second.get_records_by_ids(_PATH, ["old-1", "old-2"]) is not None  # builds the index
    # the writer reads its id index once, now, so every later read counted is the reader's
    first.add_records(_PATH, _records(["old-0"]), "id", skip_duplicates=True)
    whole_reads: list[str] = []
    full_read = DeltaTable.to_pyarrow_dataset

    def counted(table: DeltaTable, *args: Any, **kwargs: Any) -> Any:
        whole_reads.append(table.table_uri)
        return full_read(table, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "to_pyarrow_dataset", counted)
    for flush in range(COMPACT_AFTER_FILES + 1):  # the last flushes compact the table too
        first.add_records(_PATH, _records([f"new-{flush}"], version=2), "id", flush=True)
    operations = [entry["operation"] for entry in _table_of(tmp_path, _PATH).history()]
    assert "OPTIMIZE" in operations
    got = second.get_all_records(_PATH, record_id_column="id")
    assert _ids(got) == {f"old-{n}" for n in range(100)} | {
        f"new-{n}" for n in range(COMPACT_AFTER_FILES + 1)
    }
    one = second.get_record_by_id(_PATH, "new-3", record_id_column="id")
    assert one is not None
    assert one.to_pylist() == [{"id": "new-3", "value": 2}]
    with pytest.raises(DuplicateRecordError):
        second.add_record(_PATH, "new-5", _records(["x"]).drop_columns(["id"]))
    assert whole_reads == []
    first.close()
    second.close()


def test_rows_another_instance_appended_come_back_with_exactly_their_types(
    tmp_path: Path,
) -> None:
    labels = pa.map_(pa.large_string(), pa.large_string())
    schema = pa.schema(
        [
            ("at", pa.timestamp("us", tz="Europe/Berlin")),
            ("naive", pa.timestamp("us")),
            ("labels", labels),
            ("values", pa.large_list(pa.field("v", pa.int64(), nullable=False))),
            ("sample", pa.struct([("name", pa.large_string()), ("tags", labels)])),
            ("blob", pa.large_binary(), False),
        ]
    )
    when = datetime(2024, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    row = {
        "at": when,
        "naive": datetime(2024, 3, 31, 2, 30),
        "labels": {"k": "v", "empty": ""},
        "values": [1, 2],
        "sample": {"name": "s", "tags": {}},
        "blob": b"\x00\xff",
    }
    reader = DeltaTableDatabase(tmp_path)
    writer = DeltaTableDatabase(tmp_path)
    writer.add_record(_PATH, "r1", pa.Table.from_pylist([row], schema=schema), flush=True)
    assert reader.get_all_records(_PATH) is not None  # the reader now holds the rows
    writer.add_record(_PATH, "r2", pa.Table.from_pylist([row], schema=schema), flush=True)
    got = reader.get_record_by_id(_PATH, "r2")  # read from the writer's new file only
    assert got is not None
    assert got.schema == schema
    assert got.to_pylist(maps_as_pydicts="strict") == [row]
    writer.close()
    reader.close()


def test_ids_another_instance_committed_first_are_skipped_at_commit(tmp_path: Path) -> None:
    """Insert-if-absent at commit: the first committed record of an id wins, the rest is stored."""
    first = DeltaTableDatabase(tmp_path)
    second = DeltaTableDatabase(tmp_path)
    first.add_records(_PATH, _records(["base"]), "id", flush=True)
    second.add_records(_PATH, _records(["shared", "second-only"], version=2), "id")
    first.add_records(_PATH, _records(["shared", "first-only"], version=1), "id", flush=True)
    second.flush()  # its table version is stale: the commit is retried after reloading the ids
    third = DeltaTableDatabase(tmp_path)
    stored = third.get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("id").to_pylist()) == [
        "base",
        "first-only",
        "second-only",
        "shared",
    ]
    values = dict(
        zip(stored.column("id").to_pylist(), stored.column("value").to_pylist(), strict=True)
    )
    assert values["shared"] == 1
    assert values["second-only"] == 2
    for database in (first, second, third):
        database.close()


def test_rows_added_as_new_are_indexed_only_when_read_and_then_at_their_own_rows(
    tmp_path: Path,
) -> None:
    """Rows vouched new are kept without indexing their ids (a log's rows are committed
    unread); the first read that needs them finds each at its own row, batches of
    either kind interleaved, and a checked add sees them."""
    database = DeltaTableDatabase(tmp_path)
    add_new_records(database, _PATH, _records(["n0", "n1"], version=0), "id")
    state = database._paths[_PATH]
    assert state._unindexed, "the ids are kept unindexed"
    assert not state._row_of, "nothing indexed before a read"
    database.add_records(_PATH, _records(["c2"], version=2), "id")
    add_new_records(database, _PATH, _records(["n3", "n4", "n5"], version=3), "id")
    with pytest.raises(DuplicateRecordError, match="n4"):
        database.add_records(_PATH, _records(["n4", "c6"]), "id")
    database.add_records(_PATH, _records(["n1", "c6"], version=6), "id", skip_duplicates=True)
    found = database.get_records_by_ids(
        _PATH, ["c6", "n5", "n0", "c2", "n3"], record_id_column="id"
    )
    assert found is not None
    assert dict(
        zip(found.column("id").to_pylist(), found.column("value").to_pylist(), strict=True)
    ) == {"c6": 6, "n5": 3, "n0": 0, "c2": 2, "n3": 3}
    database.close()
    stored = DeltaTableDatabase(tmp_path).get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("id").to_pylist()) == ["c2", "c6", "n0", "n1", "n3", "n4", "n5"]


def test_columns_of_empty_strings_are_written_plain_and_still_found_by_filters(
    tmp_path: Path,
) -> None:
    """Columns whose values are all "" (a log's stdout when nothing printed) are written
    without a dictionary (deltalake writes them six times slower otherwise): they read
    back as "" (not null), nulls stay null, and their statistics are kept, so an outside
    reader's filter on them finds their rows (without statistics, deltalake's pyarrow
    dataset skipped every such file)."""
    rows = pa.table(
        {
            "id": pa.array(["a", "b", "c"], pa.large_string()),
            "stdout": pa.array(["", "", ""], pa.large_string()),
            "stderr": pa.array(["", None, ""], pa.string()),
            "blob": pa.array([b"", b"", b""], pa.binary()),
            "said": pa.array(["", "hello", ""], pa.large_string()),
        }
    )
    database = DeltaTableDatabase(tmp_path)
    database.add_records(_PATH, rows, "id", flush=True)
    later = rows.set_column(0, "id", pa.array(["d", "e", "f"], pa.large_string()))
    stdout = pa.array(["x", "", ""], pa.large_string())
    database.add_records(_PATH, later.set_column(1, "stdout", stdout), "id")
    database.close()
    stored = DeltaTableDatabase(tmp_path).get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    got = {row["id"]: row for row in stored.to_pylist()}
    assert [got[i]["stdout"] for i in "abcdef"] == ["", "", "", "x", "", ""]
    assert [got[i]["stderr"] for i in "abc"] == ["", None, ""]
    assert [got[i]["blob"] for i in "abc"] == [b"", b"", b""]
    assert [got[i]["said"] for i in "abc"] == ["", "hello", ""]
    (first,) = [
        file
        for file in tmp_path.rglob("*.parquet")
        if pq.read_table(file).column(0).to_pylist() == ["a", "b", "c"]
    ]
    chunks = pq.ParquetFile(first).metadata.row_group(0)
    dictionary = {
        chunks.column(k).path_in_schema: any("DICTIONARY" in e for e in chunks.column(k).encodings)
        for k in range(chunks.num_columns)
    }
    assert sum(dictionary.values()) == 1, f"a dictionary for 'said' only: {dictionary}"
    assert all(chunks.column(k).is_stats_set for k in range(chunks.num_columns))
    (table_directory,) = {file.parent for file in tmp_path.rglob("*.parquet")}
    dataset = DeltaTable(str(table_directory)).to_pyarrow_dataset()
    names = dataset.schema.names  # the physical names, in the order added
    found = dataset.to_table(filter=pads.field(names[1]) == "").column(0).to_pylist()
    assert sorted(found) == ["a", "b", "c", "e", "f"]
    nulls = dataset.to_table(filter=pads.field(names[2]).is_null()).column(0).to_pylist()
    assert sorted(nulls) == ["b", "e"]


def test_two_instances_creating_the_same_table_store_each_id_once(tmp_path: Path) -> None:
    first = DeltaTableDatabase(tmp_path)
    second = DeltaTableDatabase(tmp_path)
    first.add_records(_PATH, _records(["a", "b"]), "id")
    second.add_records(_PATH, _records(["b", "c"], version=2), "id")
    first.flush()
    second.flush()
    stored = DeltaTableDatabase(tmp_path).get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("id").to_pylist()) == ["a", "b", "c"]


def test_threads_sharing_one_instance_store_each_id_once(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)

    def work(offset: int) -> None:
        for start in range(0, 200, 20):
            ids = [f"r{n}" for n in range(offset + start, offset + start + 20)]
            database.add_records(_PATH, _records(ids), "id", skip_duplicates=True)
            if start % 60 == 0:
                database.flush()

    threads = [threading.Thread(target=work, args=(offset,)) for offset in (0, 50, 100, 150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database.close()
    stored = DeltaTableDatabase(tmp_path).get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    ids = stored.column("id").to_pylist()
    assert sorted(ids) == sorted(f"r{n}" for n in range(350))


def test_a_flush_refused_for_another_schema_keeps_the_records_pending(tmp_path: Path) -> None:
    first = DeltaTableDatabase(tmp_path)
    second = DeltaTableDatabase(tmp_path)
    second.add_records(_PATH, _records(["mine"]), "id")
    other = pa.table({"id": ["theirs"], "text": pa.array(["x"], pa.large_string())})
    first.add_records(_PATH, other, "id", flush=True)
    with pytest.raises(RecordSchemaError, match="value"):
        second.flush()
    assert _ids(second.get_records_by_ids(_PATH, ["mine"], record_id_column="id")) == {"mine"}
    with pytest.raises(RecordSchemaError):
        second.close()
    assert second.get_record_by_id(_PATH, "mine") is not None, "close must not drop the records"
    first.close()


def test_the_stored_delta_table_is_readable_by_deltalake_itself(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    when = datetime(2024, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    record = pa.table(
        {
            "subject": pa.array(["mouse"], pa.large_string()),
            "at": pa.array([when], pa.timestamp("us", tz="Europe/Berlin")),
        }
    )
    database.add_record(_PATH, "r1", record, flush=True)
    read = _table_of(tmp_path, _PATH).to_pyarrow_table()
    assert read.column("subject").to_pylist() == ["mouse"]
    assert read.column("at")[0].as_py() == when  # the same instant, stored in UTC
    got = database.get_record_by_id(_PATH, "r1")
    assert got is not None
    assert got.schema == record.schema
    database.close()


# -- hostile names --------------------------------------------------------------------------

_HOSTILE_NAMES = [
    'x"; DROP TABLE t; --',
    "../../etc",
    "/etc/passwd",
    "a/b",
    "it's",
    "a;b",
    "nul\x00byte",
    "`tick`",
    "ünïcødé ✓ 🧪",
    "y" * 500,
    "",
    "__orcapod_record_id",
    "__orcapod_column_0",
]


def _files_under(directory: Path) -> set[Path]:
    return {path for path in directory.rglob("*")}


def test_column_names_differing_only_in_case_are_stored_apart(tmp_path: Path) -> None:
    """Delta compares names ignoring case; Arrow (and orcapod) do not."""
    database = DeltaTableDatabase(tmp_path)
    record = pa.table({"Score": [1], "score": [2], "SCORE": [3]})
    database.add_record(_PATH, "r1", record, flush=True)
    database.close()
    got = DeltaTableDatabase(tmp_path).get_record_by_id(_PATH, "r1")
    assert got is not None
    assert got.to_pylist() == [{"Score": 1, "score": 2, "SCORE": 3}]


def test_hostile_column_names_round_trip_and_never_become_file_names(tmp_path: Path) -> None:
    root = tmp_path / "store"
    outside_before = _files_under(tmp_path)
    database = DeltaTableDatabase(root)
    columns = {name: pa.array([n], pa.int64()) for n, name in enumerate(_HOSTILE_NAMES)}
    record = pa.table(columns)
    database.add_record(_PATH, "r1", record, flush=True)
    database.close()
    again = DeltaTableDatabase(root)
    got = again.get_record_by_id(_PATH, "r1")
    assert got is not None
    assert got.schema == record.schema
    assert got.to_pylist() == record.to_pylist()
    assert _ids(
        again.get_records_with_column_value(
            _PATH, {'x"; DROP TABLE t; --': 0}, record_id_column="rid"
        ),
        "rid",
    ) == {"r1"}
    again.close()
    created = _files_under(tmp_path) - outside_before
    assert all(path.is_relative_to(root) for path in created)
    names = {path.name for path in created}
    assert not any(name in names for name in ("etc", "passwd", "b", "tick"))


@pytest.mark.parametrize(
    "bad", ['x"; DROP TABLE t; --', "../../etc", "..", "a/b", "nul\x00", "ü" * 3, "z" * 500]
)
def test_hostile_path_names_are_refused_and_create_nothing(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "store"
    database = DeltaTableDatabase(root)
    with pytest.raises(InvalidRecordPathError):
        database.add_records(("pipeline", bad), _records(["r1"]), "id")
    with pytest.raises(InvalidRecordPathError):
        database.get_all_records((bad,))
    database.close()
    assert list(tmp_path.iterdir()) == [root]
    assert list(root.iterdir()) == []


def test_a_symbolic_link_under_the_root_cannot_lead_a_path_outside(tmp_path: Path) -> None:
    root = tmp_path / "store"
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    database = DeltaTableDatabase(root)
    with pytest.raises(InvalidRecordPathError, match="outside the database root"):
        database.add_records(("escape", "node"), _records(["r1"]), "id")
    database.close()
    assert list(outside.iterdir()) == []


def test_a_struct_field_name_delta_cannot_hold_is_refused_when_added(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    nested = pa.table({"sample": pa.array([{"a\x00b": 1}], pa.struct([("a\x00b", pa.int64())]))})
    with pytest.raises(RecordSchemaError, match="sample"):
        database.add_record(_PATH, "r1", nested)
    assert database.list_paths() == []
    database.close()


@pytest.mark.parametrize(
    "column",
    [
        pa.array([5], pa.duration("s")),
        pa.array([2**64 - 1], pa.uint64()),
        pa.array(["x"], pa.string_view()),
        pa.array([[1]], pa.list_(pa.uint32())),
    ],
    ids=["duration", "uint64", "string_view", "list-of-uint32"],
)
def test_a_type_delta_cannot_store_is_refused_when_added_naming_the_column(
    tmp_path: Path, column: pa.Array
) -> None:
    """Refused at add time, not at a later flush when the caller has moved on."""
    database = DeltaTableDatabase(tmp_path)
    record = pa.table({"ok": [1], "unstorable": column})
    with pytest.raises(RecordSchemaError, match="unstorable"):
        database.add_record(_PATH, "r1", record)
    assert database.list_paths() == []
    database.close()


# -- layout and lifecycle ---------------------------------------------------------------------


def test_nested_paths_keep_separate_tables_in_their_own_directories(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    database.add_records(("a",), _records(["r1"]), "id")
    database.add_records(("a", "b"), _records(["r2"]), "id")
    database.close()
    assert DeltaTable(str(tmp_path / "a" / TABLE_DIRECTORY)).to_pyarrow_table().num_rows == 1
    assert DeltaTable(str(tmp_path / "a" / "b" / TABLE_DIRECTORY)).to_pyarrow_table().num_rows == 1


def test_a_delta_table_not_written_by_the_database_is_a_clear_error(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "foreign" / TABLE_DIRECTORY), pa.table({"x": [1]}))
    database = DeltaTableDatabase(tmp_path)
    with pytest.raises(DatabaseError, match="not written by DeltaTableDatabase"):
        database.get_all_records(("foreign",))
    database.close()


def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DatabaseError, match="not a directory"):
        DeltaTableDatabase(tmp_path / "file")


_CLOSED_USES: dict[str, Callable[[DeltaTableDatabase], object]] = {
    "add_record": lambda db: db.add_record(_PATH, "r9", _records(["x"]).drop_columns(["id"])),
    "add_records": lambda db: db.add_records(_PATH, _records(["r9"]), "id"),
    "get_record_by_id": lambda db: db.get_record_by_id(_PATH, "r1"),
    "get_records_by_ids": lambda db: db.get_records_by_ids(_PATH, ["r1"]),
    "get_all_records": lambda db: db.get_all_records(_PATH),
    "get_records_with_column_value": lambda db: db.get_records_with_column_value(_PATH, {}),
    "list_paths": lambda db: db.list_paths(),
    "flush": lambda db: db.flush(),
}


@pytest.mark.parametrize("method", list(_CLOSED_USES))
def test_a_closed_database_refuses_every_use_but_close(tmp_path: Path, method: str) -> None:
    database = DeltaTableDatabase(tmp_path)
    database.add_records(_PATH, _records(["r1"]), "id")
    database.close()
    with pytest.raises(DatabaseError, match="closed"):
        _CLOSED_USES[method](database)
    database.close()
    assert _ids(DeltaTableDatabase(tmp_path).get_all_records(_PATH, record_id_column="id")) == {
        "r1"
    }


def test_the_database_is_a_context_manager_that_flushes_on_exit(tmp_path: Path) -> None:
    with DeltaTableDatabase(tmp_path) as database:
        database.add_records(_PATH, _records(["r1"]), "id")
    assert _table_of(tmp_path, _PATH).to_pyarrow_table().num_rows == 1


# -- URIs -------------------------------------------------------------------------------------


def _delta_factory() -> Callable[[str], Any]:
    return load_distribution_plugins("orcapod-db-delta")["database"]["delta"]


def test_an_absolute_delta_uri_opens_the_database_through_the_plugin(tmp_path: Path) -> None:
    database = _delta_factory()(f"delta://{tmp_path / 'store'}")
    assert isinstance(database, DeltaTableDatabase)
    assert database.root == tmp_path / "store"
    database.add_records(_PATH, _records(["r1"]), "id")
    database.close()
    assert (tmp_path / "store" / "pipeline" / "node" / TABLE_DIRECTORY).is_dir()


def test_a_relative_delta_uri_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    database = _delta_factory()("delta://data/store")
    assert isinstance(database, DeltaTableDatabase)
    assert database.root == tmp_path / "data" / "store"
    database.close()


@pytest.mark.parametrize(
    "uri",
    [
        "delta://",
        "delta:///",
        "delta:/x",
        "delta:x",
        "sqlite:///x.db",
        "/plain/path",
        "delta://a\x00b",
    ],
)
def test_a_malformed_delta_uri_is_a_clear_error(uri: str) -> None:
    with pytest.raises(DatabaseError, match="delta:///absolute/path"):
        _delta_factory()(uri)


def test_importing_the_package_imports_neither_deltalake_nor_orcapod_core() -> None:
    code = (
        "import sys, orcapod.db.delta as d; "
        "print('deltalake' in sys.modules, 'orcapod.core' in sys.modules, sorted(d.__all__))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False False ['DeltaTableDatabase', 'DeltaTableSource']"


def test_the_uri_of_a_database_opens_the_same_store_through_the_plugin(tmp_path: Path) -> None:
    from orcapod.db.delta._plugin import open_delta_database

    database = DeltaTableDatabase(tmp_path / "store")
    database.add_record(("p",), "r1", pa.table({"x": [1]}), flush=True)

    assert database.uri == f"delta://{(tmp_path / 'store').resolve().as_posix()}"
    again = open_delta_database(database.uri)
    assert again.get_record_by_id(("p",), "r1") is not None
    again.close()
    database.close()
