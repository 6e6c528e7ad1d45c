"""ArrowDirDatabase: records as Arrow IPC files, one directory per record path."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.protocols.errors import DatabaseError
from orcapod.protocols.store import BaseArrowDatabase

if TYPE_CHECKING:
    from collections.abc import Iterable, Set

    from orcapod.protocols.store import NewRecords
    from orcapod.protocols.values import RecordPath

__all__ = ["ArrowDirDatabase"]

ID_FIELD = pa.field("@id", pa.large_string(), nullable=False)  # column 0 of every batch file
# Path components cannot contain "@": no file is ever taken for a path, nor a path for a file.
SCHEMA_FILE = "@schema.arrow"
BATCH_PREFIX = "@batch-"


class _PathRecords:
    """The records of one path: its tables (the first ``flushed`` on disk) and an id index."""

    def __init__(self, schema: pa.Schema, tables: list[pa.Table]) -> None:
        self.schema = schema
        self.tables: list[pa.Table] = []
        self.flushed = len(tables)
        self.row_of: dict[str, tuple[int, int]] = {}
        for table in tables:
            self.append(table)

    def append(self, table: pa.Table) -> None:
        index = len(self.tables)
        self.tables.append(table)
        ids = table.column(0).to_pylist()
        self.row_of.update((record_id, (index, row)) for row, record_id in enumerate(ids))


class ArrowDirDatabase(BaseArrowDatabase):
    """An ArrowDatabase in a directory ``root`` (created at the first flush) of Arrow IPC files.

    Path ``("a", "b")`` is the directory ``root/a/b``: its schema is in
    ``@schema.arrow`` and each flush of its records one more ``@batch-*.arrow``
    file, written under a temporary name and renamed into place, so a crash never
    leaves half a batch. A path's files are read when the path is first used.
    One process writes a directory at a time.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DatabaseError(
                f"arrowdir store {str(self.root)!r} is a file, not a directory; "
                "give the path of a directory (it is created if missing)"
            )
        self._paths: dict[RecordPath, _PathRecords] = {}

    def __repr__(self) -> str:
        return f"ArrowDirDatabase({str(self.root)!r})"

    @property
    def uri(self) -> str:
        """``arrowdir:///absolute/root``: opens this store again (pipelines record it)."""
        return f"arrowdir://{self.root.absolute()}"

    @property
    def files_location(self) -> str:
        """Where pipelines keep the output files of this store's results."""
        return str(self.root.absolute() / "@files")

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        stored = self._load(path)
        return None if stored is None else stored.schema

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        return self._paths[path].row_of.keys() & ids

    def _keep(self, records: NewRecords) -> None:
        if records.new_path:
            self._paths[records.path] = _PathRecords(records.data.schema, [])
        self._paths[records.path].append(records.rows(ID_FIELD))

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        stored = self._paths[path]
        wanted: dict[int, list[int]] = {}
        for record_id in ids:
            if (where := stored.row_of.get(record_id)) is not None:
                wanted.setdefault(where[0], []).append(where[1])
        parts = [stored.tables[index].take(rows) for index, rows in sorted(wanted.items())]
        return pa.concat_tables(parts) if parts else None

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        tables = self._paths[path].tables
        return pa.concat_tables(tables) if tables else None

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        base = self.root.joinpath(*prefix)
        on_disk = base.rglob(SCHEMA_FILE) if base.is_dir() else ()
        return [*self._paths, *(file.parent.relative_to(self.root).parts for file in on_disk)]

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        for path, stored in self._paths.items():
            if stored.flushed == len(stored.tables) or (paths is not None and path not in paths):
                continue
            directory = self.root.joinpath(*path)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                if not (directory / SCHEMA_FILE).exists():
                    _write_atomically(directory / SCHEMA_FILE, stored.schema.empty_table())
                pending = pa.concat_tables(stored.tables[stored.flushed :])
                _write_atomically(directory / f"{BATCH_PREFIX}{uuid.uuid4().hex}.arrow", pending)
            except OSError as error:
                raise DatabaseError(
                    f"could not write the records of path {path!r} to {str(directory)!r}: "
                    f"{error}; they are still pending, fix the cause and flush again"
                ) from error
            stored.flushed = len(stored.tables)

    def _load(self, path: RecordPath) -> _PathRecords | None:
        """The path's records, read from disk the first time the path is used."""
        directory = self.root.joinpath(*path)
        if path in self._paths or not (directory / SCHEMA_FILE).is_file():
            return self._paths.get(path)
        try:
            files = [directory / SCHEMA_FILE, *sorted(directory.glob(f"{BATCH_PREFIX}*.arrow"))]
            schema, *tables = [
                pa.ipc.open_file(pa.py_buffer(f.read_bytes())).read_all() for f in files
            ]
        except (OSError, pa.ArrowInvalid) as error:
            raise DatabaseError(
                f"could not read the records of path {path!r} in {str(directory)!r}: {error}"
            ) from error
        stored = self._paths[path] = _PathRecords(schema.schema, tables)
        return stored


def _write_atomically(target: Path, table: pa.Table) -> None:
    """Write ``table`` as an Arrow IPC file that appears whole under ``target`` or not at all."""
    temporary = target.with_name(f"@tmp-{uuid.uuid4().hex}")
    try:
        with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
            out.write_table(table)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
