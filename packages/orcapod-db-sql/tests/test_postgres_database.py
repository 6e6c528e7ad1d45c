"""SQLDatabase on PostgreSQL: the conformance kit and SQLDatabase's own checks (``postgres``).

The module gets one fresh database on the server (dropped afterwards); every
store a test makes lives in a fresh schema of it (``?schema=`` in the URL), so
tests never share tables and the property tests' many stores cost a
``CREATE SCHEMA`` each, not a ``CREATE DATABASE``.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pyarrow as pa
import pytest

from orcapod.protocols.errors import DatabaseError
from orcapod.protocols.testing.database import DurableArrowDatabaseContract
from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

    from orcapod.db.sql import SQLDatabase
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def _load_checks() -> ModuleType:
    """tests/sql_checks.py, shared with the SQLite tests (tests/ is not a package)."""
    name = "orcapod_db_sql_test_checks"
    if name not in sys.modules:
        location = Path(__file__).with_name("sql_checks.py")
        spec = importlib.util.spec_from_file_location(name, location)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


checks = _load_checks()


@pytest.fixture(scope="module")
def server_database() -> Iterator[PostgresServer]:
    """A new database on the server for this module, dropped afterwards."""
    with temporary_database(postgres_server()) as server:
        yield server


class PostgresStores:
    """A URL per ``tmp_path``: the module's database, a schema of its own."""

    server: PostgresServer
    schemas: dict[Path, str]

    @pytest.fixture(autouse=True)
    def _use_server_database(self, server_database: PostgresServer) -> None:
        self.server = server_database
        self.schemas = {}

    def url(self, tmp_path: Path) -> str:
        if tmp_path not in self.schemas:
            self.schemas[tmp_path] = f"store_{uuid.uuid4().hex[:12]}"
        return f"{self.server.url()}?schema={self.schemas[tmp_path]}"


class TestPostgresDatabaseContract(PostgresStores, DurableArrowDatabaseContract):
    """Every behaviour of the ArrowDatabase contract, on PostgreSQL through psycopg 3."""

    __test__: ClassVar[bool] = True
    property_examples: ClassVar[int] = 25
    """Each example is a store: a schema and its catalog table, about 0.1 s each."""

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        from orcapod.db.sql import SQLDatabase

        return SQLDatabase(self.url(tmp_path))

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> ArrowDatabase:
        from orcapod.db.sql import SQLDatabase

        return SQLDatabase(self.url(tmp_path))

    def database_opener(self, tmp_path: Path) -> tuple[str, str]:
        return ("orcapod.db.sql._plugin:open_sql_database", self.url(tmp_path))


class TestPostgresDatabase(PostgresStores, checks.SQLDatabaseChecks):  # type: ignore[misc]
    """SQLDatabase's own promises, on PostgreSQL."""

    __test__: ClassVar[bool] = True

    def open_store(self, tmp_path: Path) -> SQLDatabase:
        from orcapod.db.sql import SQLDatabase

        return SQLDatabase(self.url(tmp_path))


def test_strings_with_nul_are_stored_escaped_and_others_as_they_are(
    server_database: PostgresServer,
) -> None:
    import sqlalchemy as sa

    from orcapod.db.sql import SQLDatabase

    values = ["a\x00b", "plain", "\x01marked", "back\\slash"]
    nested = [["x\x00"], [], None, ["\\0"]]
    table = pa.table(
        {
            "id": ["nul\x00id", "p", "m", "b"],
            "text": values,
            "texts": pa.array(nested, pa.list_(pa.string())),
        }
    )
    with SQLDatabase(server_database.url(), schema="nul_check") as database:
        database.add_records(("p",), table, "id", flush=True)
        with database.engine.connect() as conn:
            query = sa.text(f'SELECT "_record_id", "text" FROM nul_check.{_only_table(database)}')
            stored = {row[0]: row[1] for row in conn.execute(query)}
        assert stored["p"] == "plain"
        assert stored["b"] == "back\\slash"
        assert stored["\x01nul\\0id"] == "\x01a\\0b"
        assert stored["m"] == "\x01\x01marked"
        got = database.get_all_records(("p",), record_id_column="id")
        assert got is not None
        got = got.sort_by("id")
        assert got.to_pylist() == table.sort_by("id").cast(got.schema).to_pylist()
        match = database.get_records_with_column_value(("p",), {"text": "a\x00b"})
        assert match is not None
        assert match["text"].to_pylist() == ["a\x00b"]


def _only_table(database: SQLDatabase) -> str:
    import sqlalchemy as sa

    names = [
        name
        for name in sa.inspect(database.engine).get_table_names(schema=database.schema)
        if name != "orcapod_paths"
    ]
    assert len(names) == 1
    return f'"{names[0]}"'


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg"])
def test_postgresql_uris_open_through_the_plugin(
    server_database: PostgresServer, scheme: str
) -> None:
    from orcapod.db.sql import SQLDatabase
    from orcapod.protocols.testing import load_distribution_plugins

    factory = load_distribution_plugins("orcapod-db-sql")["database"][scheme]
    uri = server_database.url().replace("postgresql+psycopg://", f"{scheme}://")
    uri += f"?schema=plugin_{scheme.replace('+', '_')}"
    with factory(uri) as database:
        assert isinstance(database, SQLDatabase)
        database.add_records(("p",), pa.table({"id": ["a"], "x": [1]}), "id")
    with factory(uri) as again:
        assert again.list_paths() == [("p",)]


def test_a_schema_given_twice_differently_is_refused(server_database: PostgresServer) -> None:
    from orcapod.db.sql import SQLDatabase

    with pytest.raises(DatabaseError, match="names the schema 'one' and schema='two'"):
        SQLDatabase(f"{server_database.url()}?schema=one", schema="two")


def test_the_uri_of_a_database_opens_the_same_store_without_the_driver_or_a_password(
    server_database: PostgresServer,
) -> None:
    from orcapod.db.sql import SQLDatabase
    from orcapod.db.sql._plugin import open_sql_database

    with SQLDatabase(f"{server_database.url()}?schema=by_uri") as database:
        database.add_records(("p",), pa.table({"id": ["a"], "x": [1]}), "id")
        uri = database.uri
    assert uri.startswith("postgresql://")
    assert uri.endswith("?schema=by_uri")
    assert ":***@" not in uri
    with open_sql_database(uri) as again:
        assert again.list_paths() == [("p",)]
