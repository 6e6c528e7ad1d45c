"""DeltaTableDatabase.compact: few files, a checkpoint, old files deleted by retention,
every record kept, and readers in other processes reading throughout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.delta._layout import table_directory
from orcapod.protocols.database import Compaction
from orcapod.protocols.errors import DatabaseError

if TYPE_CHECKING:
    from pathlib import Path

PATH = ("pipe", "results")
OTHER = ("pipe", "_logs", "node")
ID = "id"


def _rows(first: int, count: int) -> pa.Table:
    numbers = range(first, first + count)
    return pa.table({ID: [f"r{n:06d}" for n in numbers], "x": list(numbers)})


def _store_in_commits(root: Path, commits: int, rows_each: int = 5) -> None:
    """``commits`` small commits at PATH, and two at OTHER."""
    database = DeltaTableDatabase(root)
    for commit in range(commits):
        database.add_records(PATH, _rows(commit * rows_each, rows_each), ID, flush=True)
    database.add_records(OTHER, _rows(0, 3), ID, flush=True)
    database.add_records(OTHER, _rows(3, 3), ID, flush=True)
    database.close()


def _flush_wide_and_narrow(
    database: DeltaTableDatabase, flushes: int, rows: int, value: object
) -> tuple[str, ...]:
    """``flushes`` flushes of ``rows`` rows of ``value`` at PATH, then as many flushes of 5
    narrow rows at another path: that path."""
    for flush in range(flushes):
        ids = [f"{flush}-{n}" for n in range(rows)]
        database.add_records(PATH, pa.table({ID: ids, "v": [value] * rows}), ID, flush=True)
    narrow = ("pipe", "small")
    for flush in range(flushes):
        database.add_records(narrow, _rows(flush * 5, 5), ID, flush=True)
    return narrow


def _files_on_disk(root: Path, path: tuple[str, ...]) -> int:
    return len(list(table_directory(root.resolve(), path).glob("*.parquet")))


def test_compact_leaves_few_files_a_checkpoint_and_every_record(tmp_path: Path) -> None:
    """Each table is rewritten into one file and checkpointed; reads give the same rows;
    with the default retention (a week) no file of a recent version is deleted."""
    _store_in_commits(tmp_path, commits=40)
    database = DeltaTableDatabase(tmp_path)
    before = database.get_all_records(PATH, record_id_column=ID)
    assert before is not None
    on_disk = _files_on_disk(tmp_path, PATH)

    done = database.compact()

    assert [item.path for item in done] == sorted([PATH, OTHER])
    by_path = {item.path: item for item in done}
    assert by_path[PATH].files_before > 1
    assert by_path[PATH].files_after == 1
    assert all(item.files_deleted == 0 for item in done)
    assert _files_on_disk(tmp_path, PATH) == on_disk + 1  # the new file; the old ones kept
    log = table_directory(tmp_path.resolve(), PATH) / "_delta_log"
    assert (log / "_last_checkpoint").exists()
    after = database.get_all_records(PATH, record_id_column=ID)
    assert after is not None
    assert after.sort_by(ID).equals(before.sort_by(ID))
    database.add_records(PATH, _rows(10_000, 2), ID, flush=True)  # the store goes on
    assert database.get_all_records(PATH).num_rows == before.num_rows + 2  # type: ignore[union-attr]
    database.close()


def test_retention_zero_deletes_the_files_no_current_version_uses(tmp_path: Path) -> None:
    _store_in_commits(tmp_path, commits=20)
    database = DeltaTableDatabase(tmp_path)
    (first,) = [item for item in database.compact(retention_hours=0) if item.path == PATH]
    assert first.files_deleted > 0
    assert _files_on_disk(tmp_path, PATH) == first.files_after == 1
    table = DeltaTable(str(table_directory(tmp_path.resolve(), PATH)))
    assert table.to_pyarrow_table().num_rows == 100
    assert database.compact(retention_hours=0)[-1] == Compaction(PATH, 1, 1, 0)  # again: nothing
    database.close()


def test_pending_records_are_committed_before_compacting(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    database.add_records(PATH, _rows(0, 3), ID)  # pending
    (done,) = database.compact()
    assert done.path == PATH
    database.close()
    again = DeltaTableDatabase(tmp_path)
    assert again.get_all_records(PATH).num_rows == 3  # type: ignore[union-attr]
    again.close()


@pytest.mark.parametrize("hours", [-1, 1.5, "24", True])
def test_a_retention_that_is_not_whole_hours_is_refused_naming_it(
    tmp_path: Path, hours: object
) -> None:
    database = DeltaTableDatabase(tmp_path)
    with pytest.raises(ValueError, match=repr(hours).replace("(", r"\(")):
        database.compact(retention_hours=hours)  # type: ignore[arg-type]
    database.close()


def test_a_closed_store_refuses_to_compact(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    database.close()
    with pytest.raises(DatabaseError, match="closed"):
        database.compact()


_READER = textwrap.dedent(
    """
    import sys, time
    from orcapod.db.delta import DeltaTableDatabase

    root, expected, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    database = DeltaTableDatabase(root, create=False)
    reads, fresh = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rows = database.get_all_records(("pipe", "results"), record_id_column="id")
        assert rows is not None and rows.num_rows == expected, rows
        assert sorted(rows.column("id").to_pylist())[-1] == f"r{expected - 1:06d}"
        again = DeltaTableDatabase(root, create=False)  # a new reader, from the log
        assert again.get_all_records(("pipe", "results")).num_rows == expected
        again.close()
        reads, fresh = reads + 1, fresh + 1
    print(reads)
    """
)


def test_readers_in_other_processes_read_every_record_throughout(tmp_path: Path) -> None:
    """Protects: compaction is safe while others read. Two reader processes (one
    instance kept across reads, one new instance per read) check every read while
    this process compacts the store again and again."""
    _store_in_commits(tmp_path, commits=60)
    expected = 60 * 5
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", _READER, str(tmp_path), str(expected), "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.5)  # the readers are reading
    database = DeltaTableDatabase(tmp_path)
    compactions = 0
    while any(reader.poll() is None for reader in readers):
        database.compact()
        compactions += 1
    database.close()
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        assert int(out) > 0
    assert compactions >= 1


_COMPACTOR = textwrap.dedent(
    """
    import sys, time
    from orcapod.db.delta import DeltaTableDatabase

    root, start = sys.argv[1], float(sys.argv[2])
    database = DeltaTableDatabase(root, create=False)
    while time.time() < start:
        pass
    database.compact()
    database.close()
    """
)


def test_two_processes_compacting_at_once_store_each_row_once(tmp_path: Path) -> None:
    """Protects: deltalake lets two optimize commits that read the same version both
    succeed, each adding the rows it rewrote (every row then stored twice). Two
    processes compacting the same store at the same instant, three times over: every
    id is stored once."""
    for attempt in range(3):
        root = tmp_path / f"store{attempt}"
        database = DeltaTableDatabase(root)
        for commit in range(12):  # fewer than the automatic compaction's threshold
            database.add_records(PATH, _rows(commit * 5, 5), ID, flush=True)
        database.close()
        start = time.time() + 1.5
        compactors = [
            subprocess.Popen(
                [sys.executable, "-c", _COMPACTOR, str(root), str(start)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for compactor in compactors:
            _, err = compactor.communicate(timeout=120)
            assert compactor.returncode == 0, err
        reader = DeltaTableDatabase(root, create=False)
        stored = reader.get_all_records(PATH, record_id_column=ID)
        reader.close()
        assert stored is not None
        ids = stored.column(ID).to_pylist()
        assert len(ids) == len(set(ids)) == 60, f"attempt {attempt}: rows stored twice"


def test_compaction_bins_by_rows_in_memory_not_bytes_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrays of repeated values: each flush is 10 MB of rows in memory but a few KB on
    disk. Binned by size on disk, one compaction would merge every file, holding all
    their rows at once; binned by rows in memory (4 MB here), no file is small enough
    to merge. Rows that stay small in memory are still packed together."""
    from orcapod.db.delta import _database

    monkeypatch.setattr(_database, "COMPACT_AFTER_FILES", 4)
    monkeypatch.setattr(_database, "COMPACT_TARGET_BYTES", 4 * 1024 * 1024)
    with DeltaTableDatabase(tmp_path) as database:
        small = _flush_wide_and_narrow(database, 12, 40, bytes(256 * 1024))
        after = {done.path: done.files_after for done in database.compact()}
    assert after == {PATH: 12, small: 1}  # each file of PATH already holds 10 MB of rows
    stored = DeltaTableDatabase(tmp_path).get_all_records(PATH)
    assert stored is not None
    assert stored.num_rows == 480
    assert len(DeltaTable(str(table_directory(tmp_path, PATH))).file_uris()) == 12


def test_a_store_idle_while_another_compacts_and_vacuums_checks_ids_against_the_new_files(
    tmp_path: Path,
) -> None:
    """A second store object, idle (not writing) while another compacts with no retention
    and appends, checks the ids it adds against the table as it is now: its index named
    files the vacuum removed, and the check read them ("the table is damaged")."""
    _store_in_commits(tmp_path, commits=3)
    compacting, idle = DeltaTableDatabase(tmp_path), DeltaTableDatabase(tmp_path)
    assert idle.get_record_by_id(PATH, "r000000") is not None  # its index, with positions
    compacting.compact(retention_hours=0)
    compacting.add_records(PATH, _rows(100, 2), ID, flush=True)
    idle.add_records(PATH, _rows(0, 1), ID, skip_duplicates=True, flush=True)
    idle.add_records(PATH, _rows(200, 1), ID, skip_duplicates=True, flush=True)
    with pytest.raises(DatabaseError, match="r000100"):
        idle.add_records(PATH, _rows(100, 1), ID, flush=True)
    stored = DeltaTableDatabase(tmp_path).get_all_records(PATH, record_id_column=ID)
    assert stored is not None
    assert sorted(stored.column(ID).to_pylist()) == [
        f"r{n:06d}" for n in [*range(15), 100, 101, 200]
    ]
    compacting.close()
    idle.close()


def test_flushes_compact_small_files_and_leave_a_checkpoints_worth_of_rows_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's checkpoint writes tens of thousands of rows per table (18-45 MB in memory):
    rewriting those buys nothing and cost a rewrite of every status event and record. Only
    files under AUTO_COMPACT_TARGET_BYTES of rows are packed after flushes; `compact`
    still packs files up to COMPACT_TARGET_BYTES."""
    from orcapod.db.delta import _database

    monkeypatch.setattr(_database, "COMPACT_AFTER_FILES", 4)
    with DeltaTableDatabase(tmp_path) as database:
        # about 9 MB of rows in memory per flush of 9,000
        small = _flush_wide_and_narrow(database, 8, 9000, "x" * 1000)
        for path in (PATH, small):
            state = database._paths[path]
            assert state.table is not None
            state.table.update_incremental()
        assert len(database._paths[PATH].table.file_uris()) == 8  # never rewritten
        assert len(database._paths[small].table.file_uris()) <= 2  # packed at the 4th, 8th
        after = {done.path: done.files_after for done in database.compact()}
    assert after == {PATH: 3, small: 1}  # by hand, into files of about 32 MB
    stored = DeltaTableDatabase(tmp_path).get_all_records(PATH)
    assert stored is not None
    assert stored.num_rows == 72_000
