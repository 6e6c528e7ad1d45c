"""Opening SQLite and PostgreSQL engines, write transactions, and bulk inserts."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from orcapod.db.sql._catalog import CATALOG_TABLE
from orcapod.db.sql._types import POSTGRESQL, SQLITE
from orcapod.protocols.errors import (
    DatabaseError,
    NotAvailableError,
    StoreCorruptedError,
    StoreNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "BUSY_TIMEOUT_S",
    "POSTGRESQL",
    "SQLITE",
    "BulkWriter",
    "advisory_lock",
    "open_engine",
    "write_transaction",
]

BUSY_TIMEOUT_S = 60.0
"""How long a SQLite writer waits for another process's transaction before failing."""

_WRITE_OPTION = "orcapod_write"
_SQLITE_MMAP_BYTES = 256 * 1024 * 1024
_POSTGRES_INSTALL = "pip install 'orcapod-db-sql[postgres]'"


def open_engine(
    url: str, schema: str | None, *, create: bool = True
) -> tuple[sa.Engine, str, str | None]:
    """The engine for ``url``, its dialect name and the PostgreSQL schema to use.

    With ``create=False`` a SQLite file must exist already (and its directory
    is not created).

    Raises:
        DatabaseError: the URL is malformed or names an unsupported database or driver.
        StoreNotFoundError: ``create`` is false and the SQLite file does not exist.
        NotAvailableError: a PostgreSQL URL without psycopg installed.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str such as 'sqlite:///results.db', got {url!r}")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as error:
        raise DatabaseError(
            f"{url!r} is not a database URL; use 'sqlite:///path.db' or "
            "'postgresql://user@host/dbname'"
        ) from error
    url_schema = parsed.query.get("schema")
    if url_schema is not None:
        parsed = parsed.difference_update_query(["schema"])
        if isinstance(url_schema, tuple) or (schema is not None and schema != url_schema):
            raise DatabaseError(f"{url!r} names the schema {url_schema!r} and schema={schema!r}")
        schema = url_schema
    backend = parsed.get_backend_name()
    if backend == SQLITE:
        if schema is not None:
            raise DatabaseError(
                f"schema={schema!r} is for PostgreSQL; a SQLite database keeps its tables in "
                "its file, so use another file instead"
            )
        return _sqlite_engine(parsed, url, create), SQLITE, None
    if backend == POSTGRESQL:
        if schema is not None and (not schema or "\x00" in schema or len(schema.encode()) > 63):
            raise DatabaseError(
                f"schema {schema!r} is not a usable PostgreSQL schema name (1-63 bytes, no NUL)"
            )
        return _postgres_engine(parsed, url), POSTGRESQL, schema
    raise DatabaseError(
        f"{url!r} is a {backend} URL; SQLDatabase supports 'sqlite:///path.db' and "
        "'postgresql://user@host/dbname' (or 'postgresql+psycopg://...')"
    )


def _sqlite_engine(parsed: sa.URL, url: str, create: bool) -> sa.Engine:
    if parsed.get_driver_name() not in ("pysqlite", ""):
        raise DatabaseError(
            f"{url!r} asks for the SQLite driver {parsed.get_driver_name()!r}; use "
            "'sqlite:///path.db' (Python's sqlite3)"
        )
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise DatabaseError(
            f"{url!r} names no database file; SQLDatabase keeps records in a file: use "
            "'sqlite:///relative/path.db' or 'sqlite:////absolute/path.db' (and 'memory://' "
            "for records kept in memory)"
        )
    file = Path(database).expanduser()
    if create:
        file.parent.mkdir(parents=True, exist_ok=True)
    elif not file.is_file():
        problem = "is not a file" if file.exists() else "does not exist"
        raise StoreNotFoundError(
            f"there is no SQLite store at {url!r}: {str(file.absolute())!r} {problem}, and "
            "it was opened to read, so nothing was created; check the path (three slashes "
            "for a path relative to the working directory, four for an absolute one) or "
            "run the pipeline that writes the store first"
        )
    else:
        _require_sqlite_store(file, url)
    engine = sa.create_engine(
        parsed, connect_args={"timeout": BUSY_TIMEOUT_S}, hide_parameters=True
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _require_sqlite_store(file: Path, url: str) -> None:
    """Check, without writing to it, that an existing file is a SQLite orcapod store.

    Read through a read-only connection: the engine's own connections set the
    journal mode, which rewrites the header of a file that is not a store yet.

    Raises:
        StoreNotFoundError: the file is a SQLite database without orcapod's catalog.
        StoreCorruptedError: the file is not a SQLite database.
    """
    import sqlite3
    from urllib.parse import quote

    location = f"file:{quote(str(file.absolute()))}?mode=ro"
    try:
        connection = sqlite3.connect(location, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CATALOG_TABLE,)
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise StoreCorruptedError(
            f"{url!r} cannot be read as a SQLite database ({error}): the file was "
            "overwritten or damaged; restore it from a backup, or move it away so that the "
            "next run makes a new store there and computes the results again"
        ) from error
    if found is None:
        raise StoreNotFoundError(
            f"{url!r} is a SQLite database but holds no orcapod store (no {CATALOG_TABLE!r} "
            "table), and it was opened to read, so nothing was changed; check the path, or "
            "run the pipeline that writes the store first"
        )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun explicitly (see _begin_sqlite), not by the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # Reads through memory-mapped pages skip a read() call per page: lookups of
        # many ids by primary key touch many pages.
        cursor.execute(f"PRAGMA mmap_size = {_SQLITE_MMAP_BYTES}")
    finally:
        cursor.close()


def _begin_sqlite(connection: sa.Connection) -> None:
    # A writer takes the write lock at BEGIN, so two writers queue (busy_timeout)
    # instead of both reading and then failing to upgrade their locks.
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_engine(parsed: sa.URL, url: str) -> sa.Engine:
    driver = parsed.get_driver_name()
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif driver != "psycopg":
        raise DatabaseError(
            f"{url!r} asks for the PostgreSQL driver {driver!r}; SQLDatabase uses psycopg 3: "
            "write 'postgresql://...' or 'postgresql+psycopg://...'"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError as error:
        raise NotAvailableError(
            f"opening {parsed.render_as_string(hide_password=True)!r} needs psycopg 3, "
            f"which is not installed: {_POSTGRES_INSTALL}"
        ) from error
    return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


@contextmanager
def write_transaction(
    engine: sa.Engine, dialect: str, lock_key: str | None = None
) -> Iterator[sa.Connection]:
    """A connection inside a write transaction, committed at the end (rolled back on error).

    SQLite takes its write lock at the start; PostgreSQL, given ``lock_key``,
    first takes that transaction-scoped advisory lock (for DDL two processes
    might run at once).
    """
    with engine.connect() as conn:
        if dialect == SQLITE:
            conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            if dialect == POSTGRESQL and lock_key is not None:
                advisory_lock(conn, lock_key)
            yield conn


def advisory_lock(conn: sa.Connection, name: str) -> None:
    """Take PostgreSQL's transaction-scoped advisory lock named by ``name`` (waits for it)."""
    import hashlib

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


class BulkWriter:
    """Bulk inserts inside one transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""

    def __init__(self, conn: sa.Connection, dialect: str) -> None:
        self._conn = conn
        self._dialect = dialect
        self._stages = itertools.count()

    def insert(
        self, table: sa.Table, rows: list[tuple[Any, ...]], *, skip_duplicates: bool
    ) -> None:
        """Insert ``rows`` (values in ``table``'s column order) into ``table``.

        With ``skip_duplicates``, rows whose primary key is already stored
        (including by another process, committed meanwhile) are left out;
        without it, such a row fails the transaction with an IntegrityError.
        """
        if self._dialect == SQLITE:
            statement = sa.insert(table)
            if skip_duplicates:
                statement = statement.prefix_with("OR IGNORE")
            sql = str(statement.compile(dialect=self._conn.dialect))
            self._conn.exec_driver_sql(sql, rows)
        elif skip_duplicates:
            self._copy_if_absent(table, rows)
        else:
            self._copy(self._quoted(table), table, rows)

    def _quoted(self, table: sa.Table) -> str:
        return self._conn.dialect.identifier_preparer.format_table(table)

    def _column_list(self, table: sa.Table) -> str:
        quote = self._conn.dialect.identifier_preparer.quote
        return ", ".join(quote(column.name) for column in table.c)

    def _copy(self, target: str, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        import psycopg

        raw = self._conn.connection.driver_connection
        assert raw is not None
        statement = f"COPY {target} ({self._column_list(table)}) FROM STDIN"
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as error:
            # the driver's error, raised as SQLAlchemy raises it for every other statement
            raise sa.exc.DBAPIError.instance(
                statement, None, error, psycopg.Error, dialect=self._conn.dialect
            ) from error

    def _copy_if_absent(self, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        """COPY into a temporary table, then insert the rows whose key is absent, in key order."""
        preparer = self._conn.dialect.identifier_preparer
        stage = preparer.quote(f"orcapod_stage_{next(self._stages)}")
        target = self._quoted(table)
        key = preparer.quote(next(iter(table.primary_key.columns)).name)
        columns = self._column_list(table)
        self._conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} (LIKE {target}) ON COMMIT DROP")
        self._copy(stage, table, rows)
        # Inserting in key order: two writers of overlapping ids wait for each other
        # instead of deadlocking.
        self._conn.exec_driver_sql(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage} "
            f"ORDER BY {key} ON CONFLICT ({key}) DO NOTHING"
        )
        self._conn.exec_driver_sql(f"DROP TABLE {stage}")
