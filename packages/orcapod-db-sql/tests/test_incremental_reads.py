"""SQLDatabase.get_new_records: on SQLite, a range on the rowid; elsewhere the toolkit's default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.sql import SQLDatabase
from orcapod.protocols.database import read_new_records
from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

PATH = ("p", "_logs", "node", "hash")
ID = "log_id"


def numbered(start: int, stop: int, column: str = "n") -> pa.Table:
    return pa.table(
        {ID: [f"n{k:05d}" for k in range(start, stop)], column: list(range(start, stop))}
    )


def ids(table: pa.Table | None) -> list[str]:
    return [] if table is None else sorted(table.column(ID).to_pylist())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], SQLDatabase]]:
    if request.param == "sqlite":
        yield lambda: SQLDatabase(f"sqlite:///{tmp_path / 'store.db'}")
        return
    with temporary_database(postgres_server()) as server:
        yield lambda: SQLDatabase(server.url())


def test_polls_return_each_record_another_writer_flushes_once(
    open_store: Callable[[], SQLDatabase],
) -> None:
    """A follower (one instance) and a writer (another): each poll returns exactly what
    the writer flushed since the last, pending rows of the follower's own included once."""
    writer, follower = open_store(), open_store()
    writer.add_records(PATH, numbered(0, 100), ID, flush=True)
    rows, cursor = read_new_records(follower, PATH, record_id_column=ID)
    assert len(ids(rows)) == 100
    for start in range(100, 160, 10):
        writer.add_records(PATH, numbered(start, start + 10), ID, flush=True)
        rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
        assert ids(rows) == [f"n{k:05d}" for k in range(start, start + 10)]
    follower.add_records(PATH, numbered(500, 502), ID)  # pending here
    rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
    assert ids(rows) == ["n00500", "n00501"]
    follower.flush()
    assert read_new_records(follower, PATH, cursor, record_id_column=ID)[0] is None
    writer.close()
    follower.close()


def test_on_sqlite_a_poll_selects_only_rows_above_the_cursors_rowid(tmp_path: Path) -> None:
    """Native on SQLite: the cursor's position is the largest rowid read, and a column
    named rowid does not hide the table's own (another of its names is used)."""
    database = SQLDatabase(f"sqlite:///{tmp_path / 'store.db'}")
    database.add_records(PATH, numbered(0, 5, column="rowid"), ID, flush=True)
    rows, cursor = read_new_records(database, PATH, record_id_column=ID)
    assert cursor.position == 5
    database.add_records(PATH, numbered(5, 7, column="rowid"), ID, flush=True)
    rows, cursor = read_new_records(database, PATH, cursor, record_id_column=ID)
    assert ids(rows) == ["n00005", "n00006"]
    assert cursor.position == 7
    database.close()
