"""DeltaTableDatabase.get_new_records: a follower reads only the files appended since its cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.delta._database import COMPACT_AFTER_FILES
from orcapod.protocols.database import read_new_records

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

PATH = ("p", "_logs", "node", "hash")
ID = "log_id"


def numbered(start: int, stop: int) -> pa.Table:
    return pa.table({ID: [f"n{k:05d}" for k in range(start, stop)], "n": list(range(start, stop))})


def ids(table: pa.Table | None) -> list[str]:
    return [] if table is None else sorted(table.column(ID).to_pylist())


def test_polls_return_each_record_another_writer_flushes_once_compactions_included(
    tmp_path: Path,
) -> None:
    """A follower (one instance) and a writer (another): every poll between the writer's
    flushes returns exactly what that flush stored, also across the compactions that
    rewrite the table's files (their files hold rows already returned)."""
    writer, follower = DeltaTableDatabase(tmp_path), DeltaTableDatabase(tmp_path)
    writer.add_records(PATH, numbered(0, 100), ID, flush=True)
    rows, cursor = read_new_records(follower, PATH, record_id_column=ID)
    assert len(ids(rows)) == 100
    for start in range(100, 100 + 10 * (COMPACT_AFTER_FILES + 4), 10):
        writer.add_records(PATH, numbered(start, start + 10), ID, flush=True)
        rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
        assert ids(rows) == [f"n{k:05d}" for k in range(start, start + 10)]
    assert read_new_records(follower, PATH, cursor, record_id_column=ID)[0] is None
    writer.close()
    follower.close()


def test_a_poll_reads_only_the_files_added_since_its_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Native, not the default: a poll after one small commit reads that commit's file,
    never the whole table (nor keeps the table's rows in memory)."""
    writer, follower = DeltaTableDatabase(tmp_path), DeltaTableDatabase(tmp_path)
    writer.add_records(PATH, numbered(0, 1000), ID, flush=True)
    _, cursor = read_new_records(follower, PATH, record_id_column=ID)
    writer.add_records(PATH, numbered(1000, 1010), ID, flush=True)
    import pyarrow.parquet as pq

    read = []
    real = pq.read_table

    def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        table = real(source, *args, **kwargs)
        read.append(table.num_rows)
        return table

    monkeypatch.setattr(pq, "read_table", counting)
    rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
    assert len(ids(rows)) == 10
    assert read == [10]
    writer.close()
    follower.close()
