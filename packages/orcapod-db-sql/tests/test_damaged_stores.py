"""A SQL store changed behind orcapod's back: reads and flushes raise StoreCorruptedError.

The damage is real and made with the databases' own clients: a SQLite file
overwritten, a JSON value edited to invalid JSON, a table dropped; on
PostgreSQL (``postgres``) a table removed and a column's type changed. The
error names the table (or file) and the repair, never dumps bound
parameters, and a failed flush keeps its records pending.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.sql import SQLDatabase
from orcapod.protocols.errors import DatabaseError, StoreCorruptedError
from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from orcapod.protocols.testing.postgres import PostgresServer

_PATH = ("pipeline", "node")
_LABELS = pa.map_(pa.large_string(), pa.large_string())


def _records(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.large_string()),
            "value": pa.array(range(len(ids)), pa.int64()),
            "labels": pa.array([{"k": i} for i in ids], _LABELS),
        }
    )


READS: dict[str, Callable[[SQLDatabase], object]] = {
    "get_all_records": lambda db: db.get_all_records(_PATH),
    "get_record_by_id": lambda db: db.get_record_by_id(_PATH, "a"),
    "get_records_by_ids": lambda db: db.get_records_by_ids(_PATH, ["a", "b"]),
    "get_records_with_column_value": lambda db: db.get_records_with_column_value(
        _PATH, {"value": 0}
    ),
}

USES: dict[str, Callable[[SQLDatabase], object]] = {
    **READS,
    "add_records": lambda db: db.add_records(_PATH, _records(["d"]), "id"),
}


def _assert_clear(error: DatabaseError, *names: str) -> None:
    message = str(error)
    for name in names:
        assert name in message, f"the error should name {name!r}: {message}"
    assert "[SQL" not in message, f"the error shows SQL text: {message}"
    assert "parameters" not in message, f"the error shows bound parameters: {message}"
    assert len(message) < 1000, f"the message is {len(message)} characters long"


# -- SQLite -----------------------------------------------------------------------------


def _sqlite_store(tmp_path: Path) -> tuple[str, Path, str]:
    """A store holding records a, b, c at ``_PATH``: its URL, its file and that path's table."""
    file = tmp_path / "store.db"
    url = f"sqlite:///{file}"
    with SQLDatabase(url) as database:
        database.add_records(_PATH, _records(["a", "b", "c"]), "id")
    connection = sqlite3.connect(file)
    (table,) = connection.execute("SELECT table_name FROM orcapod_paths").fetchone()
    connection.close()
    return url, file, table


def _sqlite(file: Path, *statements: str) -> None:
    connection = sqlite3.connect(file)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


@pytest.mark.parametrize("when", ["before-opening", "after-opening"])
def test_a_sqlite_file_overwritten_with_garbage_is_a_corrupted_store(
    tmp_path: Path, when: str
) -> None:
    url, file, _ = _sqlite_store(tmp_path)
    if when == "after-opening":
        database = SQLDatabase(url)
        file.write_bytes(b"this is not a database, it was overwritten " * 200)
        with pytest.raises(StoreCorruptedError) as caught:
            database.get_all_records(_PATH)
    else:
        file.write_bytes(b"this is not a database, it was overwritten " * 200)
        with pytest.raises(StoreCorruptedError) as caught:
            SQLDatabase(url)
    _assert_clear(caught.value, str(file))
    assert "restore" in str(caught.value)


def test_a_sqlite_file_overwritten_with_garbage_opened_to_read_is_a_corrupted_store(
    tmp_path: Path,
) -> None:
    url, file, _ = _sqlite_store(tmp_path)
    file.write_bytes(b"\x00" * 4096)
    with pytest.raises(StoreCorruptedError) as caught:
        SQLDatabase(url, create=False)
    _assert_clear(caught.value, url)


@pytest.mark.parametrize("read", list(READS))
def test_invalid_json_in_a_sqlite_map_column_names_the_column_table_and_the_rows_query(
    tmp_path: Path, read: str
) -> None:
    url, file, table = _sqlite_store(tmp_path)
    _sqlite(file, f"UPDATE {table} SET labels = '{{\"k\": broken' WHERE _record_id = 'a'")
    with SQLDatabase(url) as database, pytest.raises(StoreCorruptedError) as caught:
        READS[read](database)
    _assert_clear(caught.value, "'labels'", table, "json_valid")


@pytest.mark.parametrize("read", list(USES))
def test_a_sqlite_table_dropped_behind_the_catalog_is_named_with_its_repair(
    tmp_path: Path, read: str
) -> None:
    url, file, table = _sqlite_store(tmp_path)
    _sqlite(file, f"DROP TABLE {table}")
    with SQLDatabase(url) as database, pytest.raises(StoreCorruptedError) as caught:
        USES[read](database)
    _assert_clear(caught.value, table, "DELETE FROM orcapod_paths")


def test_a_damaged_sqlite_catalog_row_is_a_corrupted_store(tmp_path: Path) -> None:
    url, file, _ = _sqlite_store(tmp_path)
    _sqlite(file, "UPDATE orcapod_paths SET arrow_schema = X'00FF00'")
    with SQLDatabase(url) as database, pytest.raises(StoreCorruptedError) as caught:
        database.get_all_records(_PATH)
    _assert_clear(caught.value, "orcapod_paths", repr(_PATH))


def test_a_sqlite_flush_into_a_dropped_table_keeps_its_records_pending(tmp_path: Path) -> None:
    url, file, table = _sqlite_store(tmp_path)
    connection = sqlite3.connect(file)
    (definition,) = connection.execute(
        "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
    ).fetchone()
    connection.close()
    database = SQLDatabase(url)
    database.add_records(_PATH, _records(["d", "e"]), "id")  # pending
    _sqlite(file, f"DROP TABLE {table}")
    with pytest.raises(StoreCorruptedError) as caught:
        database.flush()
    _assert_clear(caught.value, table, "still pending")
    with pytest.raises(StoreCorruptedError):
        database.close()  # the final flush fails too: the database stays open

    _sqlite(file, definition)  # the table restored (empty, as from an old backup)
    database.close()
    with SQLDatabase(url) as again:
        stored = again.get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("id").to_pylist()) == ["d", "e"]


def test_a_failed_flush_does_not_dump_its_bound_parameters(tmp_path: Path) -> None:
    url, file, table = _sqlite_store(tmp_path)
    database = SQLDatabase(url)
    secret = "parameter-value-that-must-not-be-printed"
    many = pa.table(
        {
            "id": pa.array([f"{secret}-{n}" for n in range(2000)], pa.large_string()),
            "value": pa.array(range(2000), pa.int64()),
            "labels": pa.array([{"k": secret}] * 2000, _LABELS),
        }
    )
    database.add_records(_PATH, many, "id")
    _sqlite(file, f"DROP TABLE {table}")
    with pytest.raises(DatabaseError) as caught:
        database.flush()
    assert secret not in str(caught.value)
    assert len(str(caught.value)) < 1000
    assert database.get_records_by_ids(("other",), ["x"]) is None  # still usable


# -- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with temporary_database(postgres_server()) as server:
        yield server


def _postgres_store(postgres: PostgresServer) -> tuple[str, str]:
    url = postgres.url()
    with SQLDatabase(url) as database:
        database.add_records(_PATH, _records(["a", "b", "c"]), "id")
    import psycopg

    with psycopg.connect(**postgres.connect_kwargs()) as connection:
        row = connection.execute("SELECT table_name FROM orcapod_paths").fetchone()
    assert row is not None
    return url, row[0]


def _psql(postgres: PostgresServer, statement: str) -> None:
    import psycopg

    with psycopg.connect(**postgres.connect_kwargs(), autocommit=True) as connection:
        connection.execute(statement)  # type: ignore[arg-type]


@pytest.mark.postgres
@pytest.mark.parametrize("read", list(USES))
def test_a_postgres_table_gone_behind_the_catalog_is_named_with_its_repair(
    postgres: PostgresServer, read: str
) -> None:
    url, table = _postgres_store(postgres)
    _psql(postgres, f'DROP TABLE "{table}"')
    with SQLDatabase(url) as database, pytest.raises(StoreCorruptedError) as caught:
        USES[read](database)
    _assert_clear(caught.value, table, "DELETE FROM orcapod_paths")


@pytest.mark.postgres
@pytest.mark.parametrize("read", list(READS))
def test_a_postgres_column_of_another_type_is_a_corrupted_store(
    postgres: PostgresServer, read: str
) -> None:
    url, table = _postgres_store(postgres)
    _psql(postgres, f'ALTER TABLE "{table}" ALTER COLUMN value TYPE text USING value::text')
    with SQLDatabase(url) as database, pytest.raises(StoreCorruptedError) as caught:
        READS[read](database)
    _assert_clear(caught.value, table)


@pytest.mark.postgres
def test_a_postgres_flush_into_a_missing_table_keeps_its_records_pending(
    postgres: PostgresServer,
) -> None:
    url, table = _postgres_store(postgres)
    database = SQLDatabase(url)
    database.add_records(_PATH, _records(["d", "e"]), "id")
    _psql(postgres, f'ALTER TABLE "{table}" RENAME TO moved_away')
    with pytest.raises(StoreCorruptedError) as caught:
        database.flush()
    _assert_clear(caught.value, table, "still pending")

    _psql(postgres, f'ALTER TABLE moved_away RENAME TO "{table}"')  # restored
    database.close()
    with SQLDatabase(url) as again:
        stored = again.get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("id").to_pylist()) == ["a", "b", "c", "d", "e"]
