"""BlobStore: records in one SQLite file, each flushed batch stored as an Arrow IPC blob.

The engine of a store, and nothing else: ``BaseArrowDatabase`` (the store
toolkit of orcapod-protocols) checks every argument, schema and duplicate id,
presents the record-id column, holds the lock and writes every error message
of the database contract. Replace this engine with yours and keep the tests.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    RecordSchemaError,
    StoreCorruptedError,
    StoreNotFoundError,
)
from orcapod.protocols.store import BaseArrowDatabase, check_schema, duplicates_message

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Collection, Iterable, Set

    from orcapod.protocols.store import NewRecords
    from orcapod.protocols.values import RecordPath

__all__ = ["BlobStore"]

TABLES = """
CREATE TABLE IF NOT EXISTS paths (path TEXT PRIMARY KEY, schema BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY, path TEXT NOT NULL, rows BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS ids (
    path TEXT NOT NULL, id TEXT NOT NULL, batch INTEGER NOT NULL, row INTEGER NOT NULL,
    PRIMARY KEY (path, id)
) WITHOUT ROWID;
"""
LOOKUP_CHUNK = 500
"""Ids asked of SQLite per query (its limit on parameters is 32766 or, in old builds, 999)."""
KEPT_BATCHES = 64
"""Flushed batches kept in memory once read, the most recently used."""
T = TypeVar("T")


class BlobStore(BaseArrowDatabase):
    """An ArrowDatabase in one SQLite file.

    Added records are pending (in memory, visible to reads) until a flush
    writes each path's pending rows as one Arrow IPC blob, and their ids into
    an indexed table, in one SQLite transaction: a crash leaves a flush whole
    or absent. A lookup finds its ids through the index and reads only the
    batches holding them (the most recently read are kept). Several stores,
    in several processes, may write one file: SQLite makes their flushes take
    turns, and each flush checks its ids and schemas against what the others
    committed meanwhile.

    Args:
        file: the SQLite file; created with its parent directory if missing.
        create: open to write, creating the file if missing (the default);
            with ``create=False`` the store must exist, and is only read.

    Raises:
        StoreNotFoundError: ``create`` is false and there is no store at ``file``.
        DatabaseError: the file cannot be opened, or is not a blob store.
    """

    def __init__(self, file: str | os.PathLike[str], *, create: bool = True) -> None:
        super().__init__()
        self.file = Path(file).expanduser().absolute()
        self._writable = create
        if not create and not self.file.is_file():
            raise StoreNotFoundError(
                f"there is no blob store at {str(self.file)!r}: it is not a file; check the "
                "path, or run the pipeline that writes the store first"
            )
        try:
            if create:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                self._sql = sqlite3.connect(self.file, check_same_thread=False, timeout=60)
                self._sql.executescript(TABLES)
            else:  # read-only: nothing in the file can change, not even its tables
                read_only = f"{self.file.as_uri()}?mode=ro"
                self._sql = sqlite3.connect(read_only, uri=True, check_same_thread=False)
                self._check_tables()
        except (OSError, sqlite3.Error) as error:
            if hasattr(self, "_sql"):
                self._sql.close()
            raise DatabaseError(
                f"cannot open a blob store at {str(self.file)!r}: {error}; give the path of "
                "a blob store file (created if missing when opened to write)"
            ) from error
        self._schemas: dict[RecordPath, pa.Schema] = {}
        self._pending: dict[RecordPath, list[tuple[pa.Table, bool]]] = {}
        """Per path, each batch added (ids first) and whether it skips duplicates."""
        self._pending_rows: dict[RecordPath, dict[str, tuple[int, int]]] = {}
        self._batches: OrderedDict[int, pa.Table] = OrderedDict()

    def __repr__(self) -> str:
        return f"BlobStore({str(self.file)!r})"

    @property
    def uri(self) -> str:
        """``blobstore:///absolute/file``: opens this store again (pipelines record it)."""
        return f"blobstore://{self.file}"

    @property
    def files_location(self) -> str:
        """Where pipelines keep the output files of this store's results: beside it."""
        return f"{self.file}.files"

    # -- the engine ----------------------------------------------------------------------

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        if path not in self._schemas:
            row = self._query("SELECT schema FROM paths WHERE path = ?", [_key(path)])
            if not row:
                return None
            self._schemas[path] = self._decoded(
                path, lambda: pa.ipc.read_schema(pa.py_buffer(row[0][0]))
            )
        return self._schemas[path]

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        pending = self._pending_rows.get(path, {}).keys() & ids
        return pending | {found for found, _, _ in self._stored(path, ids)}

    def _check_writable(self, path: RecordPath) -> None:
        if not self._writable:
            raise DatabaseError(
                f"cannot add records to path {path!r}: {self!r} was opened to read "
                "(create=False); nothing was added. Open it with create=True to write"
            )

    def _keep(self, records: NewRecords) -> None:
        if records.new_path:
            self._schemas[records.path] = records.data.schema
        tables = self._pending.setdefault(records.path, [])
        where = self._pending_rows.setdefault(records.path, {})
        where.update((record_id, (len(tables), row)) for row, record_id in enumerate(records.ids))
        tables.append((records.rows(), records.skip_duplicates))

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        stored: dict[int, list[int]] = {}
        found = set()
        for record_id, batch, row in self._stored(path, ids):
            stored.setdefault(batch, []).append(row)
            found.add(record_id)  # stored (perhaps by another store): not read from pending
        pending: dict[int, list[int]] = {}
        pending_rows = self._pending_rows.get(path, {})
        for record_id in ids:
            where = None if record_id in found else pending_rows.get(record_id)
            if where is not None:
                pending.setdefault(where[0], []).append(where[1])
        tables = self._pending.get(path, [])
        parts = [self._batch(path, batch).take(rows) for batch, rows in stored.items()]
        parts += [tables[index][0].take(rows) for index, rows in pending.items()]
        return pa.concat_tables(parts) if parts else None

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        found = self._query("SELECT batch FROM batches WHERE path = ? ORDER BY batch", [_key(path)])
        tables = [self._batch(path, batch) for (batch,) in found]
        if self._pending.get(path):
            stored = [found for found, _, _ in self._stored(path, self._pending_rows[path])]
            tables += [_without(table, stored) for table, _ in self._pending[path]]
        return pa.concat_tables(tables) if tables else None

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        stored = self._query("SELECT path FROM paths", [])
        return [*self._pending, *(tuple(text.split("/")) for (text,) in stored)]

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        flushing = [p for p in self._pending if paths is None or p in paths]
        try:
            with self._sql:  # one transaction: committed whole, or rolled back
                self._sql.execute("BEGIN IMMEDIATE")  # other writers wait until it ends
                refused = [error for path in flushing if (error := self._write(path))]
        except sqlite3.Error as error:
            raise DatabaseError(
                f"could not write to the blob store {str(self.file)!r}: {error}; the records "
                "are still pending, fix the cause and flush again"
            ) from error
        for path in flushing:
            del self._pending[path], self._pending_rows[path]
        if len(refused) == 1:
            raise refused[0]
        if refused:
            raise DatabaseError(" | ".join(str(error) for error in refused))

    def _close(self) -> None:
        if self._writable:
            self._flush(None)
        self._sql.close()

    # -- SQLite --------------------------------------------------------------------------

    def _write(self, path: RecordPath) -> DatabaseError | None:
        """Store the path's pending batches; the error of those that can never be stored.

        Another store may have committed to the file since these rows were
        checked: a path created with another schema refuses them all, and an
        id stored meanwhile drops its row (``skip_duplicates``) or refuses its
        batch. Refused rows are dropped from pending; the rest are stored.
        """
        schema = self._schemas[path]
        row = self._query("SELECT schema FROM paths WHERE path = ?", [_key(path)])
        if row:
            try:
                check_schema(path, pa.ipc.read_schema(pa.py_buffer(row[0][0])), schema)
            except RecordSchemaError as error:
                return error
        pending = self._pending[path]
        stored = {found for found, _, _ in self._stored(path, self._pending_rows[path])}
        keep, refused = [], None
        for table, skip_duplicates in pending:
            if stored and skip_duplicates:
                table = _without(table, stored)
            elif stored and not stored.isdisjoint(ids := table.column(0).to_pylist()):
                refused = DuplicateRecordError(duplicates_message(path, ids, stored))
                continue
            keep.append(table)
        rows = pa.concat_tables(keep) if keep else None
        if rows is not None and rows.num_rows:
            self._sql.execute(
                "INSERT OR IGNORE INTO paths VALUES (?, ?)",
                [_key(path), schema.serialize().to_pybytes()],
            )
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, rows.schema) as writer:
                writer.write_table(rows)
            insert = "INSERT INTO batches (path, rows) VALUES (?, ?)"
            cursor = self._sql.execute(insert, [_key(path), sink.getvalue().to_pybytes()])
            numbered = enumerate(rows.column(0).to_pylist())
            ids = [(_key(path), record_id, cursor.lastrowid, row) for row, record_id in numbered]
            self._sql.executemany("INSERT INTO ids VALUES (?, ?, ?, ?)", ids)
        return refused

    def _stored(self, path: RecordPath, ids: Iterable[str]) -> list[tuple[str, int, int]]:
        """(id, batch, row) of those of ``ids`` flushed at ``path``."""
        wanted, found = list(ids), []
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT id, batch, row FROM ids WHERE path = ? AND id IN ({marks})"
            found += self._query(query, [_key(path), *chunk])
        return found

    def _batch(self, path: RecordPath, batch: int) -> pa.Table:
        """One flushed batch, read once and kept among the last ``KEPT_BATCHES`` read."""
        if batch in self._batches:
            self._batches.move_to_end(batch)
        else:
            (blob,) = self._query("SELECT rows FROM batches WHERE batch = ?", [batch])[0]
            table = self._decoded(path, lambda: pa.ipc.open_stream(pa.py_buffer(blob)).read_all())
            self._batches[batch] = table
            if len(self._batches) > KEPT_BATCHES:
                self._batches.popitem(last=False)
        return self._batches[batch]

    def _decoded(self, path: RecordPath, decode: Callable[[], T]) -> T:
        """What ``decode()`` reads from a blob, or StoreCorruptedError naming the file."""
        try:
            return decode()
        except (pa.ArrowException, ValueError) as error:
            raise StoreCorruptedError(
                f"the blob store {str(self.file)!r} is damaged: the records of path {path!r} "
                f"cannot be read ({error}); restore the file from a backup, or move it away "
                "so that the results are computed again"
            ) from error

    def _query(self, sql: str, parameters: list[object]) -> list[tuple[Any, ...]]:
        try:
            return self._sql.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            where = str(self.file)
            raise DatabaseError(f"could not read the blob store {where!r}: {error}") from error

    def _check_tables(self) -> None:
        found = {name for (name,) in self._sql.execute("SELECT name FROM sqlite_master")}
        if not {"paths", "batches", "ids"} <= found:
            raise sqlite3.DatabaseError("the file is an SQLite database, but not a blob store")


def _without(table: pa.Table, ids: Collection[str]) -> pa.Table:
    """``table`` (ids first) without the rows of ``ids``."""
    if not ids:
        return table
    return table.filter(
        pc.invert(pc.is_in(table.column(0), pa.array(list(ids), pa.large_string())))
    )


def _key(path: RecordPath) -> str:
    """A path as text: components never hold ``/`` (see ``validate_record_path``)."""
    return "/".join(path)
