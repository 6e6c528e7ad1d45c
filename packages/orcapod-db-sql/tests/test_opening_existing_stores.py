"""``create=False``: a SQL store opened to read must exist, and opening one creates nothing."""

from __future__ import annotations

import sqlite3
import uuid
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.sql import SQLDatabase
from orcapod.db.sql._plugin import open_sql_database
from orcapod.protocols.database import creating_no_stores
from orcapod.protocols.errors import (
    DatabaseError,
    StoreNotCreatableError,
    StoreNotFoundError,
)
from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from orcapod.protocols.testing.postgres import PostgresServer

_RECORDS = pa.table({"id": ["r1"], "value": pa.array([1], pa.int64())})


def _files_under(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*"))


def test_a_missing_sqlite_file_opened_to_read_is_an_error_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/nope/nope.db"
    with pytest.raises(StoreNotFoundError) as caught:
        open_sql_database(url, create=False)
    message = str(caught.value)
    assert url in message
    assert str(tmp_path / "nope" / "nope.db") in message
    assert "does not exist" in message
    assert "nothing was created" in message
    assert _files_under(tmp_path) == [], "opening to read created files"


def test_a_sqlite_path_that_is_a_directory_is_not_a_store(tmp_path: Path) -> None:
    """Nor could a run make one there: StoreNotCreatableError (a StoreNotFoundError)."""
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreNotCreatableError, match="is not a file"):
        SQLDatabase(f"sqlite:///{tmp_path}/dir.db", create=False)


def _unrelated_sqlite_file(tmp_path: Path) -> Path:
    """A SQLite file holding one table that is not orcapod's."""
    file = tmp_path / "other.db"
    with sqlite3.connect(file) as connection:
        connection.execute("CREATE TABLE unrelated (x INTEGER)")
    connection.close()
    return file


def test_a_sqlite_file_without_orcapod_catalog_is_not_a_store_and_is_left_unchanged(
    tmp_path: Path,
) -> None:
    file = _unrelated_sqlite_file(tmp_path)
    before = file.read_bytes()
    with pytest.raises(StoreNotFoundError, match="orcapod_paths"):
        SQLDatabase(f"sqlite:///{file}", create=False)
    assert file.read_bytes() == before
    with sqlite3.connect(file) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
    connection.close()
    assert tables == ["unrelated"]


@pytest.mark.parametrize("opened", ["create=False", "within creating_no_stores"])
def test_an_existing_sqlite_store_opens_to_read_and_its_records_are_there(
    tmp_path: Path, opened: str
) -> None:
    """Opened with ``create=False``, or constructed while a command creates no store
    (then the file is left as it was: not even the write check opening to write makes)."""
    url = f"sqlite:///{tmp_path}/store.db"
    with SQLDatabase(url) as database:
        database.add_records(("a",), _RECORDS, "id")
    before = (tmp_path / "store.db").read_bytes()
    if opened == "create=False":
        again = SQLDatabase(url, create=False)
    else:
        with creating_no_stores():
            again = SQLDatabase(url)
    with again:
        assert "kept in memory" not in repr(again)
        stored = again.get_record_by_id(("a",), "r1")
    assert stored is not None
    assert stored.to_pylist() == [{"value": 1}]
    assert (tmp_path / "store.db").read_bytes() == before


def test_an_empty_sqlite_store_still_opens_to_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    SQLDatabase(url).close()
    with SQLDatabase(url, create=False) as again:
        assert again.list_paths() == []


def test_creating_is_still_the_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new/dir/store.db"
    open_sql_database(url).close()
    assert (tmp_path / "new" / "dir" / "store.db").is_file()


# -- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with temporary_database(postgres_server()) as server:
        yield server


@pytest.mark.postgres
@pytest.mark.parametrize("create", [True, False])
def test_a_missing_postgres_database_is_named_without_its_password(create: bool) -> None:
    server = postgres_server()
    name = f"orcapod_missing_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://{server.user}:hunter2secret@{server.host}:{server.port}/{name}"
    with pytest.raises(StoreNotCreatableError) as caught:  # a run does not create it either
        open_sql_database(url, create=create)
    message = str(caught.value)
    assert "hunter2secret" not in message
    assert name in message
    assert f"{server.host}:{server.port}/{name}" in message
    assert "createdb" in message


@pytest.mark.postgres
def test_a_postgres_schema_without_a_store_opened_to_read_is_not_created(
    postgres: PostgresServer,
) -> None:
    import psycopg

    url = f"{postgres.url()}?schema=not_there"
    with pytest.raises(StoreNotFoundError, match="not_there"):
        open_sql_database(url, create=False)
    with psycopg.connect(**postgres.connect_kwargs()) as connection:
        found = connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'not_there'"
        ).fetchone()
    assert found == (0,)


@pytest.mark.postgres
def test_an_existing_postgres_store_opens_to_read(postgres: PostgresServer) -> None:
    url = f"{postgres.url()}?schema=present"
    with SQLDatabase(url) as database:
        database.add_records(("a",), _RECORDS, "id")
    with SQLDatabase(url, create=False) as again:
        assert again.list_paths() == [("a",)]


def test_store_not_found_is_a_database_error() -> None:
    assert issubclass(StoreNotFoundError, DatabaseError)


def test_opening_a_store_again_does_not_break_this_process_for_a_readers_close(
    tmp_path: Path,
) -> None:
    """Opening a store must not open its file outside SQLite: closing that descriptor
    would drop the locks this process's open connections hold, and another process's
    reader, closing, would take itself for the last connection and delete the -shm
    file they use (a pipeline then failed with "disk I/O error" after `orcapod verify`)."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = SQLDatabase(url)
    record = pa.table({"id": ["1"], "x": pa.array([1], pa.int64())})
    writer.add_records(("p",), record, "id", flush=True)
    again = SQLDatabase(url)  # what every new Pipeline(...) of the same store does
    reader = (
        "import sys\n"
        "from orcapod.db.sql import SQLDatabase\n"
        "store = SQLDatabase(sys.argv[1], create=False)\n"
        "print(store.get_all_records(('p',)).num_rows)\n"
        "store.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", reader, url], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"
    assert (tmp_path / "store.db-shm").exists()
    more = pa.table({"id": ["2"], "x": pa.array([2], pa.int64())})
    writer.add_records(("p",), more, "id", flush=True)  # once "disk I/O error"
    found = again.get_all_records(("p",))
    assert found is not None
    assert found.num_rows == 2
    writer.close()
    again.close()


# -- creating_no_stores(): a command that only reads (orcapod graph) --------------------------


def test_a_sqlite_store_constructed_while_creating_no_stores_creates_no_file(
    tmp_path: Path,
) -> None:
    """``SQLDatabase(url)`` in a pipeline file drawn by ``orcapod graph``: neither the file
    nor its directory is made; an empty database in memory stands in, and keeps what it
    is given."""
    with creating_no_stores():
        database = SQLDatabase(f"sqlite:///{tmp_path}/new/store.db")
    assert "not created: kept in memory" in repr(database)
    assert database.list_paths() == []
    database.add_records(("a",), _RECORDS, "id", flush=True)
    stored = database.get_record_by_id(("a",), "r1")
    assert stored is not None
    assert stored.to_pylist() == [{"value": 1}]
    database.close()
    assert _files_under(tmp_path) == [], "a store was created while creating no stores"


def test_a_sqlite_file_without_catalog_constructed_while_creating_no_stores_is_left_alone(
    tmp_path: Path,
) -> None:
    file = _unrelated_sqlite_file(tmp_path)
    before = file.read_bytes()
    with creating_no_stores():
        database = SQLDatabase(f"sqlite:///{file}")
    assert database.list_paths() == []
    database.close()
    assert file.read_bytes() == before


def test_create_false_still_needs_the_sqlite_store_while_creating_no_stores(
    tmp_path: Path,
) -> None:
    with creating_no_stores(), pytest.raises(StoreNotFoundError, match="does not exist"):
        SQLDatabase(f"sqlite:///{tmp_path}/store.db", create=False)
    assert _files_under(tmp_path) == []
