"""SQLDatabase on SQLite: the conformance kit, and what only the SQLite backend promises."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pyarrow as pa
import pytest

from orcapod.db.sql import SQLDatabase
from orcapod.protocols.errors import DatabaseError
from orcapod.protocols.testing import load_distribution_plugins
from orcapod.protocols.testing.database import DurableArrowDatabaseContract

if TYPE_CHECKING:
    from types import ModuleType

    from orcapod.protocols.database import ArrowDatabase


def _load_checks() -> ModuleType:
    """tests/sql_checks.py, shared with the PostgreSQL tests (tests/ is not a package)."""
    name = "orcapod_db_sql_test_checks"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("sql_checks.py")
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


checks = _load_checks()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


class TestSQLiteDatabaseContract(DurableArrowDatabaseContract):
    """Every behaviour of the ArrowDatabase contract, on a SQLite file."""

    __test__: ClassVar[bool] = True

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        return SQLDatabase(sqlite_url(tmp_path))

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> ArrowDatabase:
        return SQLDatabase(sqlite_url(tmp_path))

    def database_opener(self, tmp_path: Path) -> tuple[str, str]:
        return ("orcapod.db.sql._plugin:open_sql_database", sqlite_url(tmp_path))


class TestSQLiteDatabase(checks.SQLDatabaseChecks):  # type: ignore[misc]
    """SQLDatabase's own promises, on a SQLite file."""

    __test__: ClassVar[bool] = True

    def open_store(self, tmp_path: Path) -> SQLDatabase:
        return SQLDatabase(sqlite_url(tmp_path))


def test_sqlite_files_are_in_wal_mode_so_readers_do_not_block_the_writer(tmp_path: Path) -> None:
    with SQLDatabase(sqlite_url(tmp_path)) as database:
        database.add_records(("p",), pa.table({"id": ["a"], "x": [1]}), "id", flush=True)
    with sqlite3.connect(tmp_path / "store.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_reader_holding_a_transaction_does_not_stop_a_flush(tmp_path: Path) -> None:
    with SQLDatabase(sqlite_url(tmp_path)) as database:
        database.add_records(("p",), pa.table({"id": ["a"], "x": [1]}), "id", flush=True)
        reader = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM orcapod_paths").fetchone() == (1,)
        database.add_records(("p",), pa.table({"id": ["b"], "x": [2]}), "id", flush=True)
        reader.execute("COMMIT")
        reader.close()
        assert database.get_records_by_ids(("p",), ["a", "b"]) is not None


def test_a_writer_waits_for_another_processes_transaction_instead_of_failing(
    tmp_path: Path,
) -> None:
    import threading

    with SQLDatabase(sqlite_url(tmp_path)) as database:
        database.add_records(("p",), pa.table({"id": ["a"], "x": [1]}), "id", flush=True)
        blocker = sqlite3.connect(
            tmp_path / "store.db", isolation_level=None, check_same_thread=False
        )
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.5, lambda: blocker.execute("COMMIT"))
        release.start()
        database.add_records(("p",), pa.table({"id": ["b"], "x": [2]}), "id", flush=True)
        release.join()
        blocker.close()
        table = database.get_all_records(("p",), record_id_column="id")
        assert table is not None
        assert sorted(table["id"].to_pylist()) == ["a", "b"]


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_sqlite_uris_open_through_the_plugin_and_keep_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = "sqlite:///data/results.db" if relative else f"sqlite:///{tmp_path}/abs/results.db"
    assert uri.startswith("sqlite:////") is not relative
    factory = load_distribution_plugins("orcapod-db-sql")["database"]["sqlite"]
    database = factory(uri)
    assert isinstance(database, SQLDatabase)
    database.add_records(("p",), pa.table({"id": ["a"], "x": [1]}), "id")
    database.close()
    path = tmp_path / ("data" if relative else "abs") / "results.db"
    assert path.is_file()
    with factory(uri) as again:
        assert again.get_record_by_id(("p",), "a") is not None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sqlite://", "names no database file"),
        ("sqlite:///:memory:", "names no database file"),
        ("mysql://u@h/db", "is a mysql URL"),
        ("not a url", "is not a database URL"),
        ("postgresql+asyncpg://u@h/db", "asyncpg"),
    ],
)
def test_unusable_urls_are_refused_saying_what_to_write(uri: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        SQLDatabase(uri)


def test_a_schema_is_refused_for_sqlite(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="schema='ns' is for PostgreSQL"):
        SQLDatabase(sqlite_url(tmp_path), schema="ns")


def test_the_uri_of_a_database_opens_the_same_store_through_the_plugin(tmp_path: Path) -> None:
    from orcapod.db.sql._plugin import open_sql_database

    database = SQLDatabase(f"sqlite:///{tmp_path}/store.db")
    database.add_record(("p",), "r1", pa.table({"x": [1]}), flush=True)

    assert database.uri == f"sqlite:///{tmp_path}/store.db"
    again = open_sql_database(database.uri)
    assert again.get_record_by_id(("p",), "r1") is not None
    again.close()
    database.close()


def test_a_database_dropped_without_close_closes_its_connections(tmp_path: Path) -> None:
    """Garbage-collected unclosed, its pooled sqlite3 connections are closed, not leaked.

    (Python 3.13 reports a leaked one as a ResourceWarning in the user's program.)
    """
    import gc

    database = SQLDatabase(f"sqlite:///{tmp_path / 'store.db'}")
    database.add_record(("a",), "x", pa.table({"v": [1]}), flush=True)
    assert database.get_all_records(("a",)) is not None
    pool = database._engine.pool
    assert pool.checkedin() == 1
    del database
    gc.collect()
    assert pool.checkedin() == 0
