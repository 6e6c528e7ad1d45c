"""Opening SQLite and PostgreSQL engines, write transactions, and bulk inserts."""

from __future__ import annotations

import errno
import itertools
import os
import sqlite3
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event

from orcapod.db.sql._catalog import CATALOG_TABLE, COMMIT_COLUMN, ID_COLUMN
from orcapod.db.sql._types import POSTGRESQL, SQLITE
from orcapod.protocols.errors import (
    DatabaseError,
    NotAvailableError,
    StoreCorruptedError,
    StoreNotCreatableError,
    StoreNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "BUSY_TIMEOUT_S",
    "POSTGRESQL",
    "SQLITE",
    "PG_SNAPSHOT",
    "BulkWriter",
    "OpenedEngine",
    "add_commit_column",
    "advisory_lock",
    "has_column",
    "is_sqlite_access_error",
    "memory_engine",
    "open_engine",
    "sqlite_cannot_open",
    "sqlite_cannot_write",
    "sqlite_file",
    "sqlite_file_uri",
    "write_transaction",
]

BUSY_TIMEOUT_S = 60.0
"""How long a SQLite writer waits for another process's transaction before failing."""

_WRITE_OPTION = "orcapod_write"
_SQLITE_MMAP_BYTES = 256 * 1024 * 1024
_POSTGRES_INSTALL = "pip install 'orcapod-db-sql[postgres]'"


class OpenedEngine(NamedTuple):
    """What :func:`open_engine` opened."""

    engine: sa.Engine
    dialect: str
    schema: str | None
    """The PostgreSQL schema to use, or None."""
    read_only: str | None
    """Why a SQLite store could only be opened to read (it then refuses writes), or None."""


def open_engine(url: str, schema: str | None, *, create: bool = True) -> OpenedEngine:
    """The engine for ``url``, its dialect name and the PostgreSQL schema to use.

    With ``create=False`` a SQLite file must exist already (and its directory
    is not created); if this user may read it but not write beside it (a
    read-only directory or file system), it is opened read-only
    (``mode=ro``, or ``immutable=1`` where SQLite cannot even create its
    ``-shm`` file) and ``read_only`` says why.

    Raises:
        DatabaseError: the URL is malformed or names an unsupported database or
            driver; or the SQLite file cannot be read (permission denied), or
            its directory cannot be created.
        StoreNotFoundError: ``create`` is false and the SQLite file does not exist.
        StoreCorruptedError: ``create`` is false and the file is not a SQLite database.
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
        engine, read_only = _sqlite_engine(parsed, url, create)
        return OpenedEngine(engine, SQLITE, None, read_only)
    if backend == POSTGRESQL:
        if schema is not None and (not schema or "\x00" in schema or len(schema.encode()) > 63):
            raise DatabaseError(
                f"schema {schema!r} is not a usable PostgreSQL schema name (1-63 bytes, no NUL)"
            )
        return OpenedEngine(_postgres_engine(parsed, url), POSTGRESQL, schema, None)
    raise DatabaseError(
        f"{url!r} is a {backend} URL; SQLDatabase supports 'sqlite:///path.db' and "
        "'postgresql://user@host/dbname' (or 'postgresql+psycopg://...')"
    )


def memory_engine() -> OpenedEngine:
    """An empty SQLite database in memory, one connection shared by every thread (the
    store's lock keeps their transactions apart): a store that must not be created
    (``orcapod graph``) keeps what it is given there."""
    engine = sa.create_engine(
        "sqlite://",
        poolclass=sa.pool.StaticPool,
        connect_args={"check_same_thread": False},
        hide_parameters=True,
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return OpenedEngine(engine, SQLITE, None, None)


def sqlite_file(url: sa.URL) -> Path:
    """The file a SQLite URL names, as an absolute path."""
    return Path(url.database or "").expanduser().absolute()


def sqlite_file_uri(file: Path, *, immutable: bool = False) -> str:
    """The SQLite URI opening ``file`` read-only (``immutable=1``: without locks or -shm)."""
    location = f"file:{quote(str(file.absolute()))}?mode=ro"
    return location + "&immutable=1" if immutable else location


def _sqlite_engine(parsed: sa.URL, url: str, create: bool) -> tuple[sa.Engine, str | None]:
    """The engine of a SQLite URL, and why it is read-only (None: it may write)."""
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
    access = _READ_WRITE
    if create:
        _make_directory(file, url)
        if _exists(file, url):
            _require_readable(file, url)
    else:
        if not _exists(file, url) or not file.is_file():
            taken = file.exists()  # by a directory: no run could make the store there
            problem = "is not a file" if taken else "does not exist"
            raise (StoreNotCreatableError if taken else StoreNotFoundError)(
                f"there is no SQLite store at {url!r}: {str(file.absolute())!r} {problem}, and "
                "it was opened to read, so nothing was created; check the path (three slashes "
                "for a path relative to the working directory, four for an absolute one) or "
                "run the pipeline that writes the store first"
            )
        _require_readable(file, url)
        access = _require_sqlite_store(file, url)
    if access == _READ_WRITE:
        engine = sa.create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT_S}, hide_parameters=True
        )
        event.listen(engine, "connect", _configure_sqlite)
        # Opened to read, a store SQLite can read but this user may not write (a
        # read-only file: SQLite then opens it read-only by itself) refuses adds up
        # front rather than at the flush; opened to write, the write check says it.
        read_only = None if create else _write_problems(file.absolute(), exists=True)[0]
    else:
        # The URL stays the user's (for .uri and messages); the connections are read-only.
        creator = partial(
            sqlite3.connect,
            sqlite_file_uri(file, immutable=access == _IMMUTABLE),
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            check_same_thread=False,
        )
        engine = sa.create_engine(parsed, creator=creator, hide_parameters=True)
        event.listen(engine, "connect", _configure_sqlite_read_only)
        read_only = _write_problem(file.absolute(), exists=True)[0]
    event.listen(engine, "begin", _begin_sqlite)
    return engine, read_only


_READ_WRITE = "read-write"
_READ_ONLY = "mode=ro"
_IMMUTABLE = "immutable"

_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN = 3, 8, 14
_ACCESS_CODES = {_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN}
_ACCESS_TEXTS = ("unable to open database file", "readonly database", "access permission denied")


def is_sqlite_access_error(error: BaseException | None) -> bool:
    """Whether a sqlite3 error says the file cannot be opened or written, not that it is damaged.

    SQLITE_CANTOPEN, SQLITE_READONLY (with its extended codes, such as
    SQLITE_READONLY_DIRECTORY: no journal, -wal or -shm file can be created
    beside the database) and SQLITE_PERM.
    """
    if not isinstance(error, sqlite3.Error):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _ACCESS_CODES
    return any(text in str(error) for text in _ACCESS_TEXTS)


def _exists(file: Path, url: str) -> bool:
    """Whether ``file`` exists; a directory on its way that cannot be entered is an error."""
    try:
        return file.exists()
    except OSError as error:
        raise sqlite_cannot_open(url, file, error) from error


def _make_directory(file: Path, url: str) -> None:
    directory = file.absolute().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(
            f"cannot open the SQLite store {url!r} to write: its directory "
            f"{str(directory)!r} does not exist and cannot be created "
            f"({_reason(error)}); create it yourself, or use a store in a directory you "
            "may write"
        ) from error


def _require_readable(file: Path, url: str) -> None:
    """An existing ``file`` this user may not read is a DatabaseError naming it and why."""
    failure = _read_failure(file)
    if failure is not None:
        raise sqlite_cannot_open(url, file, failure) from failure


def _read_failure(file: Path) -> OSError | None:
    """Why ``file`` cannot be opened to read; None if it can, is missing or is a directory.

    Asked with ``os.access``, never by opening the file: closing a descriptor of
    the database drops every POSIX lock this process's own SQLite connections
    hold on it, and another process closing its last connection would then take
    itself for the last one and delete the -shm file those connections use
    ("disk I/O error" at their next read).
    """
    try:
        if file.is_dir() or os.access(file, os.R_OK):
            return None
    except OSError as error:
        return error
    if not file.exists():
        return None
    return PermissionError(errno.EACCES, "Permission denied", str(file))


def sqlite_cannot_open(url: str, file: Path, cause: BaseException) -> DatabaseError:
    """The error of a SQLite store this user may not read: not damage, a permission."""
    file = file.absolute()
    directory = file.parent
    if isinstance(cause, OSError):
        reason = _reason(cause)
    else:
        reason = f"SQLite says: {str(cause).strip() or type(cause).__name__}"
    if _can_enter(directory):
        fix = (
            f"ask its owner to let you read it (chmod a+r {_quoted(file)}), or run the "
            "command as a user who may"
        )
    else:
        fix = (
            f"the directory {str(directory)!r} (or one above it) may not be entered: ask "
            f"its owner to let you (chmod a+x {_quoted(directory)}), or run the command as a "
            "user who may"
        )
    return DatabaseError(
        f"cannot open the SQLite store {url!r}: {str(file)!r} cannot be read ({reason}); "
        f"this user may not read it, nothing is wrong with the store itself: {fix}"
    )


def sqlite_cannot_write(url: str, file: Path, cause: BaseException | None) -> DatabaseError:
    """The error of a SQLite store opened to write in a read-only place: not damage."""
    file = file.absolute()
    failure = _read_failure(file)
    if failure is not None:
        return sqlite_cannot_open(url, file, failure)
    if file.is_dir():
        return DatabaseError(
            f"cannot open the SQLite store {url!r}: {str(file)!r} is a directory; name the "
            "store's file (sqlite:///path/to/store.db)"
        )
    exists = file.exists()
    problem, fix = _write_problem(file, exists=exists)
    said = "" if cause is None else f" (SQLite: {str(cause).strip()})"
    if exists:
        after = (
            "Nothing is wrong with the store itself. To only read it, open it with create=False "
            "(open_database(uri, create=False), as orcapod runs, status, logs, results and "
            "verify do)"
        )
    else:
        after = "Nothing was created"
    return DatabaseError(
        f"cannot open the SQLite store {url!r} to write: {problem}, so a pipeline cannot "
        f"store its results there{said}. {fix}, or use a store in a directory you may "
        f"write. {after}"
    )


def _write_problem(file: Path, *, exists: bool) -> tuple[str, str]:
    """Why this user cannot write the SQLite store ``file`` (or create it), and the fix."""
    problem, paths = _write_problems(file, exists=exists)
    if problem is None:
        return (
            f"SQLite cannot write {str(file)!r} or the {file.name}-wal and {file.name}-shm "
            "files beside it",
            "Check the permissions of the store, its directory and those files",
        )
    if not paths:
        return problem, "Copy the store to a writable file system"
    chmod = " ".join(_quoted(path) for path in paths)
    return problem, f"Ask the owner to let you write there (chmod u+w {chmod}, if yours)"


def _write_problems(file: Path, *, exists: bool) -> tuple[str | None, list[Path]]:
    """What stops this user writing ``file`` as the file system says (None: nothing found).

    Also the paths whose mode is the problem (none for a read-only file system).
    """
    directory = file.parent
    if _read_only_file_system(directory):
        return f"{str(directory)!r} is on a read-only file system", []
    problems: list[str] = []
    paths: list[Path] = []
    if exists and not os.access(file, os.W_OK):
        problems.append(f"{str(file)!r} is read-only for this user")
        paths.append(file)
    if not os.access(directory, os.W_OK):
        made = (
            f"SQLite must create {file.name}-wal and {file.name}-shm beside the store"
            if exists
            else f"the store {file.name} would be created there"
        )
        problems.append(f"its directory {str(directory)!r} is read-only for this user, and {made}")
        paths.append(directory)
    for beside in (_wal_file(file), file.with_name(file.name + "-shm")):
        if beside.exists() and not (beside.is_file() and os.access(beside, os.W_OK)):
            problems.append(f"{str(beside)!r} cannot be written by this user")
            paths.append(beside)
    return ("; ".join(problems) if problems else None), paths


def _wal_file(file: Path) -> Path:
    return file.with_name(file.name + "-wal")


def _can_enter(directory: Path) -> bool:
    try:
        return os.access(directory, os.X_OK) and directory.is_dir()
    except OSError:
        return False


def _read_only_file_system(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _reason(error: OSError) -> str:
    """``permission denied``: an OSError's reason, without its file name."""
    return (error.strerror or type(error).__name__).lower()


def _quoted(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def _require_sqlite_store(file: Path, url: str) -> str:
    """Check, without writing to it, that an existing file is a SQLite orcapod store.

    Read through a read-only connection first: the engine's own connections
    set the journal mode, which rewrites the header of a file that is not a
    store yet. Returns how the engine may open it: read-write when SQLite can
    (even if the file itself is read-only: SQLite then reads only), ``mode=ro``
    otherwise, or ``immutable=1`` when SQLite cannot create the ``-shm`` file a
    WAL database needs beside it (a read-only directory or file system).

    Raises:
        StoreNotFoundError: the file is a SQLite database without orcapod's catalog.
        StoreCorruptedError: the file is not a SQLite database.
        DatabaseError: the file cannot be opened even read-only (a permission,
            not damage), or its latest changes are in a -wal file that cannot
            be read here.
    """
    access = _READ_ONLY
    try:
        found = _has_catalog(sqlite_file_uri(file))
    except sqlite3.DatabaseError as error:
        if not is_sqlite_access_error(error):
            raise _not_a_database(url, error) from error
        access = _IMMUTABLE
        try:
            found = _has_catalog(sqlite_file_uri(file, immutable=True))
        except sqlite3.DatabaseError as again:
            if is_sqlite_access_error(again):
                raise sqlite_cannot_open(url, file, again) from again
            raise _not_a_database(url, again) from again
    if not found:
        raise StoreNotFoundError(
            f"{url!r} is a SQLite database but holds no orcapod store (no {CATALOG_TABLE!r} "
            "table), and it was opened to read, so nothing was changed; check the path, or "
            "run the pipeline that writes the store first"
        )
    if access == _IMMUTABLE:
        _require_no_wal(file, url)
        return _IMMUTABLE
    try:
        _has_catalog(str(file.absolute()), uri=False)
    except sqlite3.DatabaseError as error:
        if is_sqlite_access_error(error):
            return _READ_ONLY
        raise _not_a_database(url, error) from error
    return _READ_WRITE


def _has_catalog(location: str, *, uri: bool = True) -> bool:
    connection = sqlite3.connect(location, uri=uri, timeout=BUSY_TIMEOUT_S)
    try:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CATALOG_TABLE,)
        ).fetchone()
    finally:
        connection.close()
    return found is not None


def _require_no_wal(file: Path, url: str) -> None:
    """Refuse to read ``file`` immutably while its -wal file may hold committed changes.

    ``immutable=1`` reads the database file alone: changes still in the -wal
    file (left by a writer that has not finished, or was killed) would be
    missing from what is read, without a word.
    """
    wal = _wal_file(file)
    reason = ""
    try:
        if not wal.is_file() or wal.stat().st_size == 0:
            return  # no changes waiting (a directory of that name holds none either)
    except OSError as error:
        reason = f" ({_reason(error)})"
    directory = file.absolute().parent
    where = _write_problem(file.absolute(), exists=True)[0]
    raise DatabaseError(
        f"cannot open the SQLite store {url!r} read-only: its latest changes are still in "
        f"{str(wal.absolute())!r}{reason}, and reading them needs "
        f"{file.name}-shm beside it, which cannot be created: {where}. Nothing is wrong "
        "with the store itself. Have a user who may write the directory open it once (any orcapod "
        f"command, such as orcapod runs, folds those changes into {file.name}), or copy "
        f"{file.name} and {wal.name} from {str(directory)!r} to a directory you may write "
        "and open the copy"
    )


def _not_a_database(url: str, error: sqlite3.DatabaseError) -> StoreCorruptedError:
    return StoreCorruptedError(
        f"{url!r} cannot be read as a SQLite database ({error}): the file was "
        "overwritten or damaged; restore it from a backup, or move it away so that the "
        "next run makes a new store there and computes the results again"
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    _set_pragmas(dbapi_connection, "journal_mode = WAL")


def _configure_sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    # A store opened read-only (mode=ro or immutable=1): the journal mode is left as
    # stored, and query_only refuses any write with SQLite's own error.
    _set_pragmas(dbapi_connection, "query_only = ON")


def _set_pragmas(dbapi_connection: Any, mode: str) -> None:
    """A new connection's settings: the busy timeout, ``mode``, memory-mapped reads."""
    # Transactions are begun explicitly (see _begin_sqlite), not by the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute(f"PRAGMA {mode}")
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
    might run at once). PostgreSQL writes at READ COMMITTED whatever the
    server's default: each statement then sees what committed before it, so
    a flush that waited for another's lock on a table reads that writer's
    rows (at REPEATABLE READ its snapshot would be taken by the lock's
    statement, before the wait).
    """
    with engine.connect() as conn:
        if dialect == SQLITE:
            conn.execution_options(**{_WRITE_OPTION: True})
        else:
            conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            if dialect == POSTGRESQL and lock_key is not None:
                advisory_lock(conn, lock_key)
            yield conn


class _Snapshot(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``pg_snapshot`` (given and read as its text, ``xmin:xmax:xip,...``)."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "pg_snapshot"


PG_SNAPSHOT = _Snapshot()


def add_commit_column(conn: sa.Connection, table: sa.Table) -> None:
    """PostgreSQL: give the new ``table`` its indexed column of each row's transaction id."""
    preparer = conn.dialect.identifier_preparer
    target = preparer.format_table(table)
    column = preparer.quote(COMMIT_COLUMN)
    index = preparer.quote(f"{table.name}_x")  # table names are at most 59 bytes
    conn.exec_driver_sql(  # one round trip
        f"ALTER TABLE {target} ADD COLUMN {column} xid8 DEFAULT pg_current_xact_id(); "
        f"CREATE INDEX {index} ON {target} ({column})"
    )


def has_column(conn: sa.Connection, table: sa.Table, column: str, type_name: str) -> bool:
    """Whether ``table`` has orcapod's own ``column``, of type ``type_name`` (PostgreSQL's
    name of it; on SQLite, SEQ_COLUMN as the table's primary key).

    Tables made before such a column may hold a user's data column of the same
    name: never of type ``xid8``, and always nullable (SEQ_COLUMN is not).
    """
    if conn.dialect.name == SQLITE:
        # SEQ_COLUMN is the INTEGER PRIMARY KEY (a user's column never is: pk = 0)
        pragma = sa.text("SELECT 1 FROM pragma_table_info(:table) WHERE name = :column AND pk = 1")
        return conn.execute(pragma, {"table": table.name, "column": column}).first() is not None
    query = sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = "
        "coalesce(:schema, current_schema()) AND table_name = :table AND column_name = :column "
        "AND udt_name = :type AND (:type = 'xid8' OR is_nullable = 'NO')"
    )
    found = conn.execute(
        query, {"schema": table.schema, "table": table.name, "column": column, "type": type_name}
    )
    return found.first() is not None


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
        self,
        table: sa.Table,
        rows: list[tuple[Any, ...]],
        *,
        skip_duplicates: bool,
        extra_columns: tuple[str, ...] = (),
    ) -> None:
        """Insert ``rows`` (values in ``table``'s column order, then ``extra_columns``')
        into ``table``.

        With ``skip_duplicates``, rows whose primary key is already stored
        (including by another process, committed meanwhile) are left out;
        without it, such a row fails the transaction with an IntegrityError.
        """
        if extra_columns and self._dialect == POSTGRESQL:
            assert not skip_duplicates
            self._copy(self._quoted(table), table, rows, extra_columns)
        elif extra_columns:
            assert not skip_duplicates
            marks = ", ".join("?" * (len(table.c) + len(extra_columns)))
            sql = f"INSERT INTO {self._quoted(table)} ({self._column_list(table, extra_columns)}) "
            self._conn.exec_driver_sql(sql + f"VALUES ({marks})", rows)
        elif self._dialect == SQLITE:
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

    def _column_list(self, table: sa.Table, extra_columns: tuple[str, ...] = ()) -> str:
        quote = self._conn.dialect.identifier_preparer.quote
        return ", ".join(quote(name) for name in [*(c.name for c in table.c), *extra_columns])

    def _copy(
        self,
        target: str,
        table: sa.Table,
        rows: list[tuple[Any, ...]],
        extra_columns: tuple[str, ...] = (),
    ) -> None:
        import psycopg

        raw = self._conn.connection.driver_connection
        assert raw is not None
        statement = f"COPY {target} ({self._column_list(table, extra_columns)}) FROM STDIN"
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
        key = preparer.quote(ID_COLUMN)  # the primary key of tables made before _record_seq
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
