"""ArrowDirDatabase: records as Arrow IPC files, one directory per record path."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import DatabaseError, DuplicateRecordError, RecordSchemaError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from orcapod.protocols.values import RecordPath

__all__ = ["ArrowDirDatabase"]

ID_COLUMN = "@id"
"""The record ids inside each file. Record path components cannot contain ``@``,
so no file of ours is ever mistaken for a path's directory, and no path for a file."""
SCHEMA_FILE = "@schema.arrow"
BATCH_PREFIX = "@batch-"


class _PathRecords:
    """The records of one path: flushed tables, pending tables, and an index of their ids."""

    def __init__(self, schema: pa.Schema, tables: list[pa.Table]) -> None:
        self.schema = schema
        self.tables = tables  # each: the id column, then the data columns
        self.flushed = len(tables)  # tables[:flushed] are on disk, the rest are pending
        self.row_of: dict[str, tuple[int, int]] = {}
        for index, table in enumerate(tables):
            self._index(index, table)

    def _index(self, index: int, table: pa.Table) -> None:
        ids = table.column(0).to_pylist()
        self.row_of.update((record_id, (index, row)) for row, record_id in enumerate(ids))

    def append(self, table: pa.Table) -> None:
        self.tables.append(table)
        self._index(len(self.tables) - 1, table)

    def rows(self, record_ids: Collection[str]) -> pa.Table | None:
        """The rows of the known ids among ``record_ids``, each once, with one take per table."""
        wanted: dict[int, list[int]] = {}
        for record_id in dict.fromkeys(record_ids):
            where = self.row_of.get(record_id)
            if where is not None:
                wanted.setdefault(where[0], []).append(where[1])
        if not wanted:
            return None
        parts = [self.tables[index].take(rows) for index, rows in sorted(wanted.items())]
        return pa.concat_tables(parts)


class ArrowDirDatabase:
    """An :class:`~orcapod.protocols.database.ArrowDatabase` in a directory of Arrow IPC files.

    Path ``("a", "b")`` is the directory ``DIR/a/b``: its schema is in
    ``@schema.arrow`` and each flush of its records is one more
    ``@batch-<unique>.arrow`` file, written under a temporary name and renamed
    into place, so a crash never leaves half a batch. Arrow IPC keeps every
    type exactly (time zones, maps, large strings, nullability). A path's
    files are read once, when the path is first used; record ids are then
    found through an index in memory. One process writes a directory at a
    time.

    Args:
        root: the directory; created when the first records are flushed.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DatabaseError(
                f"arrowdir store {str(self.root)!r} is a file, not a directory; "
                "give the path of a directory (it is created if missing)"
            )
        self._paths: dict[RecordPath, _PathRecords] = {}
        self._lock = threading.RLock()
        self._closed = False

    def __repr__(self) -> str:
        return f"ArrowDirDatabase({str(self.root)!r})"

    # -- writing ---------------------------------------------------------------

    def add_record(
        self,
        path: RecordPath,
        record_id: str,
        record: pa.Table,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        """Add one record (a one-row table) under ``record_id``."""
        if not isinstance(record, pa.Table) or record.num_rows != 1:
            rows = record.num_rows if isinstance(record, pa.Table) else type(record).__name__
            raise RecordSchemaError(
                f"add_record at path {tuple(path)!r} takes a one-row pyarrow.Table, got {rows} "
                "rows; use add_records for several"
            )
        ids = pa.array([record_id], pa.large_string())
        self._add(path, ids, record, skip_duplicates=skip_duplicates, flush=flush)

    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        """Add many records; their ids are taken from ``record_id_column``."""
        if record_id_column not in records.column_names:
            raise RecordSchemaError(
                f"records for path {tuple(path)!r} have no id column {record_id_column!r}; "
                f"their columns are {records.column_names}"
            )
        ids = records.column(record_id_column)
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
            raise RecordSchemaError(
                f"id column {record_id_column!r} for path {tuple(path)!r} is {ids.type}; "
                "record ids must be strings"
            )
        if ids.null_count:
            raise RecordSchemaError(
                f"id column {record_id_column!r} for path {tuple(path)!r} has "
                f"{ids.null_count} null ids; every record needs an id"
            )
        data = records.drop_columns([record_id_column])
        self._add(path, ids.cast(pa.large_string()), data, skip_duplicates, flush)

    def _add(
        self,
        path: RecordPath,
        ids: pa.Array | pa.ChunkedArray,
        data: pa.Table,
        skip_duplicates: bool,
        flush: bool,
    ) -> None:
        with self._lock:
            path = self._usable(path)
            if ID_COLUMN in data.column_names:
                raise RecordSchemaError(
                    f"records for path {path!r} have a column named {ID_COLUMN!r}, which "
                    "arrowdir keeps for record ids; rename that column"
                )
            stored = self._load(path)
            if stored is not None:
                _check_schema(path, stored.schema, data.schema)
            keep = _new_rows(path, ids.to_pylist(), stored, skip_duplicates)
            if keep is not None:
                rows = pa.array(keep, pa.int64())
                ids, data = ids.take(rows), data.take(rows)
            if data.num_rows:
                table = pa.Table.from_arrays(
                    [ids, *data.columns],
                    schema=pa.schema([pa.field(ID_COLUMN, pa.large_string()), *data.schema]),
                )
                if stored is None:
                    _check_names(path, data.schema)
                    stored = self._paths[path] = _PathRecords(data.schema, [])
                stored.append(table)
            if flush:
                self._flush()

    def flush(self) -> None:
        """Write every path's pending records as one new file per path."""
        with self._lock:
            self._check_open()
            self._flush()

    def _flush(self) -> None:
        for path, stored in self._paths.items():
            if stored.flushed == len(stored.tables):
                continue
            directory = self.root.joinpath(*path)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                if not (directory / SCHEMA_FILE).exists():
                    _write_atomically(directory / SCHEMA_FILE, stored.schema.empty_table())
                pending = pa.concat_tables(stored.tables[stored.flushed :])
                name = f"{BATCH_PREFIX}{uuid.uuid4().hex}.arrow"
                _write_atomically(directory / name, pending)
            except OSError as error:
                raise DatabaseError(
                    f"could not write the records of path {path!r} to {str(directory)!r}: "
                    f"{error}; they are still pending, fix the cause and flush again"
                ) from error
            stored.flushed = len(stored.tables)

    def close(self) -> None:
        """Flush, then refuse every further use. Closing twice is harmless."""
        with self._lock:
            if not self._closed:
                self._flush()
                self._closed = True

    # -- reading ---------------------------------------------------------------

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """The record stored under ``record_id``, as a one-row table."""
        return self.get_records_by_ids(path, [record_id], record_id_column=record_id_column)

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records stored under any of ``record_ids``; unknown ids are left out."""
        if isinstance(record_ids, str):
            raise TypeError(
                f"record_ids must be a collection of ids, not the str {record_ids!r}; "
                "write [record_id]"
            )
        with self._lock:
            stored = self._load(self._usable(path))
            found = None if stored is None else stored.rows(record_ids)
            return _result(path, found, record_id_column)

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """Every record at ``path``, flushed and pending."""
        with self._lock:
            stored = self._load(self._usable(path))
            if stored is None:
                return None
            return _result(path, pa.concat_tables(stored.tables), record_id_column)

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records whose columns equal every value in ``column_values`` (``None``: null)."""
        with self._lock:
            path = self._usable(path)
            stored = self._load(path)
            if stored is None:
                return None
            for name in column_values:
                _check_comparable(path, stored.schema, name)
            parts = []
            for table in stored.tables:
                mask = pa.array([True] * table.num_rows, pa.bool_())
                for name, value in column_values.items():
                    column = table.column(name)
                    if value is None:
                        match = pc.is_null(column)
                    else:
                        match = pc.fill_null(pc.equal(column, pa.scalar(value, column.type)), False)
                    mask = pc.and_(mask, match)
                parts.append(table.filter(mask))
            matched = pa.concat_tables(parts)
            return _result(path, matched if matched.num_rows else None, record_id_column)

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        """Every path holding records (on disk or pending) that starts with ``prefix``."""
        with self._lock:
            self._check_open()
            prefix = validate_record_path(prefix) if prefix != () else ()
            found = set(self._paths)
            base = self.root.joinpath(*prefix)
            if base.is_dir():
                for schema_file in base.rglob(SCHEMA_FILE):
                    found.add(schema_file.parent.relative_to(self.root).parts)
            return sorted(path for path in found if path[: len(prefix)] == prefix)

    # -- helpers ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError(f"{self!r} is closed; open the store again to use it")

    def _usable(self, path: RecordPath) -> RecordPath:
        self._check_open()
        return validate_record_path(path)

    def _load(self, path: RecordPath) -> _PathRecords | None:
        """The path's records, read from disk the first time the path is used."""
        if path in self._paths:
            return self._paths[path]
        directory = self.root.joinpath(*path)
        if not (directory / SCHEMA_FILE).is_file():
            return None
        try:
            with pa.memory_map(str(directory / SCHEMA_FILE)) as source:
                schema = pa.ipc.open_file(source).schema
            tables = []
            for batch_file in sorted(directory.glob(f"{BATCH_PREFIX}*.arrow")):
                with pa.memory_map(str(batch_file)) as source:
                    tables.append(pa.ipc.open_file(source).read_all())
        except (OSError, pa.ArrowInvalid) as error:
            raise DatabaseError(
                f"could not read the records of path {path!r} in {str(directory)!r}: {error}"
            ) from error
        stored = self._paths[path] = _PathRecords(schema, tables)
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


def _new_rows(
    path: RecordPath, ids: list[str], stored: _PathRecords | None, skip_duplicates: bool
) -> list[int] | None:
    """Rows to keep (``None``: all of them), or :class:`DuplicateRecordError`."""
    known = {} if stored is None else stored.row_of
    seen: set[str] = set()
    keep: list[int] = []
    for row, record_id in enumerate(ids):
        duplicate = record_id in known or record_id in seen
        if duplicate and not skip_duplicates:
            where = "is already stored" if record_id in known else "comes twice in the batch"
            raise DuplicateRecordError(
                f"record id {record_id!r} at path {path!r} {where}; nothing of the batch was "
                "added (pass skip_duplicates=True to keep the first record of each id)"
            )
        if not duplicate:
            keep.append(row)
        seen.add(record_id)
    return None if len(keep) == len(ids) else keep


def _check_names(path: RecordPath, schema: pa.Schema) -> None:
    repeated = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if repeated:
        raise RecordSchemaError(
            f"records for path {path!r} name the columns {repeated} more than once; "
            "give every column its own name"
        )


def _check_schema(path: RecordPath, stored: pa.Schema, given: pa.Schema) -> None:
    """The records must have exactly the path's schema (metadata aside)."""
    if given.equals(stored, check_metadata=False):
        return
    problems = [f"column {name!r} is missing" for name in stored.names if name not in given.names]
    problems += [
        f"column {name!r} is not stored here" for name in given.names if name not in stored.names
    ]
    for field in given:
        if field.name in stored.names and stored.field(field.name) != field:
            kept = stored.field(field.name)
            problems.append(
                f"column {field.name!r} is {field.type} (nullable={field.nullable}), "
                f"stored as {kept.type} (nullable={kept.nullable})"
            )
    if not problems:
        problems.append(f"the columns are in another order than {stored.names}")
    raise RecordSchemaError(
        f"records for path {path!r} do not fit its schema: {'; '.join(problems)}. "
        "Cast them to the stored schema, or store them under another path"
    )


def _check_comparable(path: RecordPath, schema: pa.Schema, name: str) -> None:
    if name not in schema.names:
        raise DatabaseError(
            f"path {path!r} has no column {name!r} to match; its columns are {schema.names}"
        )
    kind = schema.field(name).type
    if pa.types.is_nested(kind):
        raise DatabaseError(
            f"column {name!r} at path {path!r} is {kind}, which cannot be matched by equality; "
            "match on a column of a scalar type"
        )


def _result(
    path: RecordPath, table: pa.Table | None, record_id_column: str | None
) -> pa.Table | None:
    """``table`` as a read returns it: ids dropped, or renamed to ``record_id_column``."""
    if table is None:
        return None
    if record_id_column is None:
        return table.drop_columns([ID_COLUMN])
    if record_id_column in table.column_names[1:]:
        raise DatabaseError(
            f"record_id_column {record_id_column!r} is a data column of path {path!r}; "
            "choose another name for the ids"
        )
    return table.rename_columns([record_id_column, *table.column_names[1:]])
