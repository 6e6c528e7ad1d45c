"""SQLDatabase.get_new_records: on SQLite, a range on the rowid; on PostgreSQL, the rows
committed since a snapshot."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.sql import SQLDatabase
from orcapod.db.sql._catalog import ID_COLUMN, SEQ_COLUMN
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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with temporary_database(postgres_server()) as server:
        yield server.url()


def _selected_rows(database: SQLDatabase) -> list[int]:
    """Spy on the store's SELECTs: the number of rows each returns, in order."""
    counts: list[int] = []
    select = database._select

    def counting(*args: object, **kwargs: object) -> pa.Table | None:
        found = select(*args, **kwargs)  # type: ignore[arg-type]
        counts.append(0 if found is None else found.num_rows)
        return found

    database._select = counting  # type: ignore[method-assign]
    return counts


@pytest.mark.postgres
def test_on_postgresql_a_poll_selects_only_rows_committed_since_its_snapshot(
    postgres_url: str,
) -> None:
    """Native on PostgreSQL: the cursor's position is a pg_snapshot, and a poll's SELECT
    returns only the rows committed since it (10 of 1,010), not the table."""
    writer, follower = SQLDatabase(postgres_url), SQLDatabase(postgres_url)
    writer.add_records(PATH, numbered(0, 1000), ID, flush=True)
    selected = _selected_rows(follower)
    rows, cursor = read_new_records(follower, PATH, record_id_column=ID)
    assert isinstance(cursor.position, str)
    assert cursor.position.count(":") == 2  # xmin:xmax:xip-list
    writer.add_records(PATH, numbered(1000, 1010), ID, flush=True)
    rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
    assert ids(rows) == [f"n{k:05d}" for k in range(1000, 1010)]
    assert read_new_records(follower, PATH, cursor, record_id_column=ID)[0] is None
    assert selected == [1000, 10, 0]
    writer.close()
    follower.close()


@pytest.mark.postgres
def test_on_postgresql_a_transaction_committing_after_a_later_one_is_not_missed(
    postgres_url: str,
) -> None:
    """Two writers: the first to start commits last. A poll between the commits returns
    the second's row; the next poll returns the first's (a sequence or a largest-id
    mark would skip it: its number is below the mark the earlier poll reached)."""
    store, follower = SQLDatabase(postgres_url), SQLDatabase(postgres_url)
    store.add_records(PATH, numbered(0, 1), ID, flush=True)
    table = store._paths[PATH].table.name
    rows, cursor = read_new_records(follower, PATH, record_id_column=ID)
    assert ids(rows) == ["n00000"]
    # two writers that do not take turns (orcapod's own take turns per table, but
    # a follower must not depend on that)
    insert = f'INSERT INTO "{table}" ({ID_COLUMN}, n, {SEQ_COLUMN}) VALUES (%s, %s, %s)'
    with store.engine.connect() as early, store.engine.connect() as late:
        early.begin()
        early.exec_driver_sql(insert, ("early", 1, 2))
        with late.begin():
            late.exec_driver_sql(insert, ("late", 2, 3))
        rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
        assert ids(rows) == ["late"]
        early.commit()
    rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
    assert ids(rows) == ["early"]
    store.close()
    follower.close()


@pytest.mark.postgres
def test_on_postgresql_a_table_without_the_commit_column_is_read_whole(
    postgres_url: str,
) -> None:
    """A table made before the commit column (dropped here) is still followed correctly,
    by the toolkit's default: each poll reads the table, and returns only what is new."""
    store = SQLDatabase(postgres_url)
    store.add_records(PATH, numbered(0, 5), ID, flush=True)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f'ALTER TABLE "{store._paths[PATH].table.name}" DROP COLUMN _commit_xact'
        )
    store.close()
    writer, follower = SQLDatabase(postgres_url), SQLDatabase(postgres_url)
    rows, cursor = read_new_records(follower, PATH, record_id_column=ID)
    assert cursor.position is None
    writer.add_records(PATH, numbered(5, 7), ID, flush=True)
    rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
    assert ids(rows) == ["n00005", "n00006"]
    writer.close()
    follower.close()


@pytest.mark.postgres
def test_on_postgresql_a_users_column_named_like_the_commit_column_is_not_taken_for_it(
    postgres_url: str,
) -> None:
    """Before the commit column, a data column named ``_commit_xact`` was stored under
    that name. Such a table (made here as that code made it) is followed the default
    way: its column holds the user's values, not transaction ids."""
    store = SQLDatabase(postgres_url)
    store.add_records(PATH, numbered(0, 2, column="_commit_xact"), ID, flush=True)
    stored = store._paths[PATH]
    (user_column,) = stored.sql_columns
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f'ALTER TABLE "{stored.table.name}" DROP COLUMN _commit_xact')
        conn.exec_driver_sql(
            f'ALTER TABLE "{stored.table.name}" RENAME COLUMN "{user_column}" TO _commit_xact'
        )
        conn.exec_driver_sql(
            "UPDATE orcapod_paths SET columns = %s", (json.dumps(["_commit_xact"]),)
        )
    store.close()
    writer, follower = SQLDatabase(postgres_url), SQLDatabase(postgres_url)
    rows, cursor = read_new_records(follower, PATH, record_id_column=ID)
    assert ids(rows) == ["n00000", "n00001"]
    writer.add_records(PATH, numbered(2, 4, column="_commit_xact"), ID, flush=True)
    rows, cursor = read_new_records(follower, PATH, cursor, record_id_column=ID)
    assert rows is not None
    assert rows.sort_by(ID).column("_commit_xact").to_pylist() == [2, 3]
    writer.close()
    follower.close()
