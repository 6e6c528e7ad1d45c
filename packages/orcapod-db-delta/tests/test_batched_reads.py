"""Reads in batches (``iter_all_records``) read one row group at a time, never the table.

The store counts the files, row groups and rows that reads in batches read
(``_scan_reads``), as each is read; the tests assert on those counts, never
on times or memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.delta import DeltaTableDatabase, _database

if TYPE_CHECKING:
    from pathlib import Path

PATH = ("pipeline", "results")
GROUP = 500
"""Rows per row group in these tests (the store's default is larger)."""
ROWS = 10_000


@pytest.fixture(autouse=True)
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_database, "ROW_GROUP_ROWS", GROUP)


def records(start: int, stop: int) -> pa.Table:
    return pa.table(
        {
            "id": [f"r{n:06d}" for n in range(start, stop)],
            "n": pa.array(range(start, stop), pa.int64()),
            "values": [[n, n + 1] for n in range(start, stop)],
        }
    )


def stored(tmp_path: Path, *, flushes: int = 4) -> DeltaTableDatabase:
    """A store holding ROWS records at PATH, written in ``flushes`` commits."""
    step = ROWS // flushes
    with DeltaTableDatabase(tmp_path) as database:
        for start in range(0, ROWS, step):
            database.add_records(PATH, records(start, start + step), "id", flush=True)
    return DeltaTableDatabase(tmp_path)


def test_each_batch_reads_only_the_row_groups_it_holds(tmp_path: Path) -> None:
    database = stored(tmp_path)
    reads = database._scan_reads
    batches = database.iter_all_records(PATH, batch_rows=GROUP)
    assert (reads.files, reads.row_groups, reads.rows) == (0, 0, 0), "nothing read at the call"
    first = next(batches)
    assert first.num_rows == GROUP
    assert (reads.files, reads.row_groups, reads.rows) == (1, 1, GROUP)
    for taken, batch in enumerate(batches, start=2):
        assert batch.num_rows == GROUP
        assert reads.rows == taken * GROUP < ROWS + GROUP, "read ahead of the batches taken"
        assert reads.row_groups == taken
    assert reads.rows == ROWS
    assert reads.files == 4
    database.close()


def test_small_batches_read_a_row_group_in_pieces(tmp_path: Path) -> None:
    database = stored(tmp_path)
    batches = database.iter_all_records(PATH, batch_rows=100, record_id_column="id")
    first = next(batches)
    assert first.num_rows == 100
    assert database._scan_reads.row_groups == 1
    assert database._scan_reads.rows <= GROUP
    rest = pa.Table.from_batches([first, *batches])
    assert sorted(rest.column("n").to_pylist()) == list(range(ROWS))
    database.close()


def test_pending_rows_come_after_the_stored_ones_and_a_flush_meanwhile_repeats_none(
    tmp_path: Path,
) -> None:
    database = stored(tmp_path)
    database.add_records(PATH, records(ROWS, ROWS + 300), "id")  # pending
    batches = database.iter_all_records(PATH, batch_rows=1000, record_id_column="id")
    first = next(batches)
    database.flush()  # the pending rows are committed while the read goes on
    ids = [*first.column("id").to_pylist()]
    ids += [i for batch in batches for i in batch.column("id").to_pylist()]
    assert sorted(ids) == [f"r{n:06d}" for n in range(ROWS + 300)]
    whole = database.get_all_records(PATH, record_id_column="id")
    assert whole is not None
    assert whole.num_rows == ROWS + 300
    database.close()


def test_the_schema_of_every_batch_is_the_records_schema(tmp_path: Path) -> None:
    database = stored(tmp_path)
    whole = database.get_all_records(PATH, record_id_column="id")
    assert whole is not None
    for batch in database.iter_all_records(PATH, batch_rows=3000, record_id_column="id"):
        assert batch.schema.equals(whole.schema)
    database.close()
