"""BlobStore: records in one SQLite file, each flushed batch stored as an Arrow IPC blob.

The engine of a store, and nothing else: ``BaseArrowDatabase`` (the store
toolkit of orcapod-protocols) checks every argument, schema and duplicate id,
presents the record-id column, holds the lock and writes every error message
of the database contract. Replace this engine with yours and keep the tests.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.protocols.errors import DatabaseError
from orcapod.protocols.store import BaseArrowDatabase

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Set

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


class BlobStore(BaseArrowDatabase):
    """An ArrowDatabase in one SQLite file.

    Added records are pending (in memory, visible to reads) until a flush
    writes each path's pending rows as one Arrow IPC blob, and their ids into
    an indexed table, in one SQLite transaction: a crash leaves a flush whole
    or absent. A lookup finds its ids through the index and reads only the
    batches holding them (kept once read). One process writes a file at a time.

    Args:
        file: the SQLite file; created with its parent directory if missing.
    """

    def __init__(self, file: str | os.PathLike[str]) -> None:
        super().__init__()
        self.file = Path(file)
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self._sql = sqlite3.connect(self.file, check_same_thread=False)
            self._sql.executescript(TABLES)
        except (OSError, sqlite3.Error) as error:
            raise DatabaseError(
                f"cannot open a blob store at {str(self.file)!r}: {error}; give the path of "
                "a writable file (created if missing)"
            ) from error
        self._schemas: dict[RecordPath, pa.Schema] = {}
        self._pending: dict[RecordPath, list[pa.Table]] = {}
        self._pending_ids: dict[RecordPath, set[str]] = {}
        self._batches: dict[int, pa.Table] = {}

    def __repr__(self) -> str:
        return f"BlobStore({str(self.file)!r})"

    # -- the engine ----------------------------------------------------------------------

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        if path not in self._schemas:
            row = self._query("SELECT schema FROM paths WHERE path = ?", [_key(path)])
            if not row:
                return None
            self._schemas[path] = pa.ipc.read_schema(pa.py_buffer(row[0][0]))
        return self._schemas[path]

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        pending = self._pending_ids.get(path, set()) & ids
        return pending | {found for found, _, _ in self._stored(path, ids)}

    def _keep(self, records: NewRecords) -> None:
        if records.new_path:
            self._schemas[records.path] = records.data.schema
        self._pending.setdefault(records.path, []).append(records.rows())
        self._pending_ids.setdefault(records.path, set()).update(records.ids)

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        rows_of: dict[int, list[int]] = {}
        for _, batch, row in self._stored(path, ids):
            rows_of.setdefault(batch, []).append(row)
        parts = [self._batch(batch).take(rows) for batch, rows in sorted(rows_of.items())]
        wanted = pa.array(ids, pa.large_string())
        pending = [t.filter(pc.is_in(t.column(0), wanted)) for t in self._pending.get(path, [])]
        return pa.concat_tables([*parts, *pending]) if parts or pending else None

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        found = self._query("SELECT batch FROM batches WHERE path = ? ORDER BY batch", [_key(path)])
        tables = [self._batch(batch) for (batch,) in found] + self._pending.get(path, [])
        return pa.concat_tables(tables) if tables else None

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        stored = self._query("SELECT path FROM paths", [])
        return [*self._pending, *(tuple(text.split("/")) for (text,) in stored)]

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        flushing = [p for p in self._pending if paths is None or p in paths]
        try:
            with self._sql:  # one transaction: committed whole, or rolled back
                for path in flushing:
                    self._write(path, pa.concat_tables(self._pending[path]))
        except sqlite3.Error as error:
            raise DatabaseError(
                f"could not write to the blob store {str(self.file)!r}: {error}; the records "
                "are still pending, fix the cause and flush again"
            ) from error
        for path in flushing:
            del self._pending[path], self._pending_ids[path]

    def _close(self) -> None:
        self._flush(None)
        self._sql.close()

    # -- SQLite --------------------------------------------------------------------------

    def _write(self, path: RecordPath, rows: pa.Table) -> None:
        schema = self._schemas[path].serialize().to_pybytes()
        self._sql.execute("INSERT OR IGNORE INTO paths VALUES (?, ?)", [_key(path), schema])
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, rows.schema) as writer:
            writer.write_table(rows)
        blob = sink.getvalue().to_pybytes()
        cursor = self._sql.execute(
            "INSERT INTO batches (path, rows) VALUES (?, ?)", [_key(path), blob]
        )
        numbered = enumerate(rows.column(0).to_pylist())
        ids = [(_key(path), record_id, cursor.lastrowid, row) for row, record_id in numbered]
        self._sql.executemany("INSERT INTO ids VALUES (?, ?, ?, ?)", ids)

    def _stored(self, path: RecordPath, ids: Iterable[str]) -> list[tuple[str, int, int]]:
        """(id, batch, row) of those of ``ids`` flushed at ``path``."""
        wanted, found = list(ids), []
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT id, batch, row FROM ids WHERE path = ? AND id IN ({marks})"
            found += self._query(query, [_key(path), *chunk])
        return found

    def _batch(self, batch: int) -> pa.Table:
        if batch not in self._batches:
            (blob,) = self._query("SELECT rows FROM batches WHERE batch = ?", [batch])[0]
            self._batches[batch] = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
        return self._batches[batch]

    def _query(self, sql: str, parameters: list[object]) -> list[tuple]:  # type: ignore[type-arg]
        try:
            return self._sql.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise DatabaseError(
                f"could not read the blob store {str(self.file)!r}: {error}"
            ) from error


def _key(path: RecordPath) -> str:
    """A path as text: components never hold ``/`` (see ``validate_record_path``)."""
    return "/".join(path)
