"""Lookups by id read the row groups holding the ids, never the whole table, and keep nothing.

The store counts the row groups (and their rows) that lookups read
(``_lookup_reads``); the tests assert on those counts, never on times.
"""

from __future__ import annotations

import gc
import random
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orcapod.db.delta import DeltaTableDatabase, _database

if TYPE_CHECKING:
    from pathlib import Path

PATH = ("pipeline", "results")
GROUP = 500
"""Rows per row group in these tests (the store's default is larger)."""
ROWS = 20_000


@pytest.fixture(autouse=True)
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_database, "ROW_GROUP_ROWS", GROUP)


def record_id(n: int) -> str:
    return f"{random.Random(n).getrandbits(128):032x}"  # like a content hash: no order


def records(start: int, stop: int) -> pa.Table:
    return pa.table(
        {
            "id": [record_id(n) for n in range(start, stop)],
            "n": pa.array(range(start, stop), pa.int64()),
            "text": [f"value {n}" for n in range(start, stop)],
        }
    )


def stored(tmp_path: Path, *, flushes: int = 4) -> Path:
    """A store holding ROWS records at PATH, written in ``flushes`` commits."""
    step = ROWS // flushes
    with DeltaTableDatabase(tmp_path) as database:
        for start in range(0, ROWS, step):
            database.add_records(PATH, records(start, start + step), "id", flush=True)
    return tmp_path


def numbers(table: pa.Table | None) -> list[int]:
    return [] if table is None else sorted(table.column("n").to_pylist())


def data_files(root: Path) -> list[Path]:
    from deltalake import DeltaTable

    from orcapod.db.delta._database import _local_file

    return [_local_file(uri) for uri in DeltaTable(str(root.joinpath(*PATH, "@delta"))).file_uris()]


def test_files_are_written_in_row_groups(tmp_path: Path) -> None:
    root = stored(tmp_path)
    for file in data_files(root):
        metadata = pq.read_metadata(file)
        assert metadata.num_row_groups == metadata.num_rows // GROUP
        assert max(metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)) == GROUP


@pytest.mark.parametrize("k", [1, 3, 10])
def test_a_lookup_of_k_ids_reads_at_most_k_row_groups(tmp_path: Path, k: int) -> None:
    database = DeltaTableDatabase(stored(tmp_path))
    wanted = random.Random(k).sample(range(ROWS), k)
    found = database.get_records_by_ids(PATH, [record_id(n) for n in wanted])
    assert numbers(found) == sorted(wanted)
    reads = database._lookup_reads
    assert 1 <= reads.row_groups <= k
    assert reads.rows <= k * GROUP < ROWS
    assert database.get_record_by_id(PATH, record_id(wanted[0])) is not None
    assert reads.row_groups <= k + 1
    database.close()


def test_ids_that_are_not_stored_read_no_row_group(tmp_path: Path) -> None:
    database = DeltaTableDatabase(stored(tmp_path))
    absent = [record_id(n) for n in range(ROWS, ROWS + 8192)]
    assert database.get_records_by_ids(PATH, absent) is None
    assert database.get_record_by_id(PATH, absent[0]) is None
    # the duplicate check of new ids, and of the commit, reads no row group either
    database.add_records(PATH, records(ROWS, ROWS + 1000), "id", skip_duplicates=True)
    database.flush()
    assert database._lookup_reads.row_groups == 0
    assert database._lookup_reads.rows == 0
    database.close()


def test_known_ids_read_only_their_row_groups(tmp_path: Path) -> None:
    database = DeltaTableDatabase(stored(tmp_path))
    again = records(GROUP, 2 * GROUP)  # exactly the rows of one row group
    database.add_records(PATH, again, "id", skip_duplicates=True)
    assert database._lookup_reads.row_groups == 1
    assert database.get_all_records(PATH).num_rows == ROWS
    database.close()


def test_a_lookup_of_a_whole_batch_reads_the_row_groups_of_that_batch(tmp_path: Path) -> None:
    """The result cache asks for a batch's ids; rows stored together are read together."""
    database = DeltaTableDatabase(stored(tmp_path))
    batch = list(range(5000, 5000 + 4 * GROUP))
    found = database.get_records_by_ids(PATH, [record_id(n) for n in batch])
    assert numbers(found) == batch
    assert database._lookup_reads.row_groups == 4
    database.close()


def test_no_table_sized_data_is_kept_after_many_lookups(tmp_path: Path) -> None:
    database = DeltaTableDatabase(stored(tmp_path))
    table_bytes = database.get_all_records(PATH).nbytes
    gc.collect()
    before = pa.total_allocated_bytes()
    chooser = random.Random(0)
    for _ in range(50):
        wanted = chooser.sample(range(ROWS), 20)
        assert numbers(database.get_records_by_ids(PATH, [record_id(n) for n in wanted])) == (
            sorted(wanted)
        )
    gc.collect()
    assert pa.total_allocated_bytes() - before < table_bytes / 4
    state = database._paths[PATH]
    assert state.index is not None
    assert state.index.nbytes == 16 * ROWS  # keys and positions, nothing per row in Python
    assert not [value for value in vars(state).values() if isinstance(value, pa.Table)]
    database.close()


def test_rows_committed_here_and_by_other_writers_are_found(tmp_path: Path) -> None:
    root = stored(tmp_path)
    database, other = DeltaTableDatabase(root), DeltaTableDatabase(root)
    assert numbers(database.get_records_by_ids(PATH, [record_id(1)])) == [1]  # builds the index
    database.add_records(PATH, records(ROWS, ROWS + 10), "id", flush=True)
    other.add_records(PATH, records(ROWS + 10, ROWS + 20), "id", flush=True)
    wanted = [3, ROWS + 5, ROWS + 15]
    assert numbers(database.get_records_by_ids(PATH, [record_id(n) for n in wanted])) == wanted
    assert database._paths[PATH].index.num_rows == ROWS + 20  # extended, not rebuilt
    other.add_records(PATH, records(ROWS + 15, ROWS + 30), "id", skip_duplicates=True)
    other.close()
    database.add_records(PATH, records(ROWS + 25, ROWS + 35), "id", skip_duplicates=True)
    database.close()
    everything = DeltaTableDatabase(root).get_all_records(PATH)
    assert numbers(everything) == list(range(ROWS + 35))


def test_lookups_list_the_delta_log_only_when_a_commit_is_new(tmp_path: Path) -> None:
    """Listing the log (``update_incremental``) costs more as commits accumulate; a
    lookup first checks for the next version's log entry, and lists only if it exists:
    a commit by another writer is still seen at the next lookup."""
    root = stored(tmp_path)
    database, other = DeltaTableDatabase(root), DeltaTableDatabase(root)
    assert numbers(database.get_records_by_ids(PATH, [record_id(1)])) == [1]
    table = database._paths[PATH].table
    calls = []
    original = table.update_incremental
    table.update_incremental = lambda: calls.append(1) or original()  # type: ignore[method-assign]
    for n in range(20):
        assert numbers(database.get_records_by_ids(PATH, [record_id(n)])) == [n]
    assert calls == []  # nothing committed: nothing listed
    other.add_records(PATH, records(ROWS, ROWS + 10), "id", flush=True)
    assert numbers(database.get_records_by_ids(PATH, [record_id(ROWS + 3)])) == [ROWS + 3]
    assert len(calls) == 1


@pytest.mark.parametrize("who", ["this instance", "another instance"])
def test_lookups_after_a_compaction_read_the_compacted_files(tmp_path: Path, who: str) -> None:
    root = stored(tmp_path, flushes=8)
    database = DeltaTableDatabase(root)
    assert numbers(database.get_records_by_ids(PATH, [record_id(7)])) == [7]
    compactor = database if who == "this instance" else DeltaTableDatabase(root)
    compactor.compact(retention_hours=0)
    (file,) = data_files(root)
    assert pq.read_metadata(file).num_row_groups == ROWS // GROUP  # compaction keeps them small
    database.add_records(PATH, records(ROWS, ROWS + 10), "id", flush=True)
    reads = database._lookup_reads.row_groups
    wanted = [7, 12_345, ROWS + 3]
    assert numbers(database.get_records_by_ids(PATH, [record_id(n) for n in wanted])) == wanted
    assert database._lookup_reads.row_groups - reads <= 3
    database.close()


def test_flushes_that_trigger_compaction_keep_lookups_right(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path)
    step = 100
    for start in range(0, step * (2 * _database.COMPACT_AFTER_FILES + 3), step):
        database.add_records(PATH, records(start, start + step), "id", flush=True)
        probe = [start // 2, start + step - 1]
        assert numbers(database.get_records_by_ids(PATH, [record_id(n) for n in probe])) == probe
        database.add_records(PATH, records(start, start + 1), "id", skip_duplicates=True)
    database.close()


def test_ids_sharing_an_index_key_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are hashes: whatever a key matches is confirmed against the stored id."""
    root = stored(tmp_path)

    def one_key(ids: object) -> np.ndarray:
        return np.zeros(len(list(ids)), np.uint64)  # type: ignore[call-overload]

    monkeypatch.setattr(_database, "keys_of", one_key)
    database = DeltaTableDatabase(root)
    wanted = [0, 4321, ROWS - 1]
    found = database.get_records_by_ids(PATH, [record_id(n) for n in [*wanted, ROWS + 1]])
    assert numbers(found) == wanted
    database.add_records(PATH, records(ROWS - 2, ROWS + 2), "id", skip_duplicates=True)
    database.close()
    assert numbers(DeltaTableDatabase(root).get_all_records(PATH)) == list(range(ROWS + 2))
