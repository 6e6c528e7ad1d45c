"""DeltaTableDatabase: one Delta Lake table per record path, written in batched transactions."""

from __future__ import annotations

import random
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from orcapod.db.delta._layout import find_paths, has_table, table_directory
from orcapod.db.delta._log import added_data_files
from orcapod.db.delta._schema import (
    ID_COLUMN,
    TableLayout,
    check_schema,
    layout_for,
    read_layout,
)
from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    RecordSchemaError,
    StoreCorruptedError,
    StoreNotFoundError,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Collection, Iterable, Mapping
    from types import TracebackType

    from orcapod.protocols.values import RecordPath

__all__ = ["DeltaTableDatabase"]

COMPACT_AFTER_FILES = 16
"""A table is compacted when this many files were added to it since its last compaction."""

COMMIT_ATTEMPTS = 64
"""How often a flush retries a commit that lost a race with another writer."""

PENDING_BATCHES = 1024
"""Pending batches are concatenated into one at this count, so many one-row adds stay cheap."""

CACHE_CHUNKS = 64
"""The cached stored rows are made contiguous again when they reach this many chunks."""

FEW_IDS = 64
"""Lookups of more ids than this, before any index is built, scan the ids vectorised."""

INDEX_AFTER_SCANS = 8
"""After this many vectorised scans of a path's ids, build an id index for later lookups."""

_PREVIEW = 5
_ID_FIELD = pa.field(ID_COLUMN, pa.large_string(), nullable=False)


def _local_file(uri: str) -> Path:
    """The path of a data file the table lists (as a path or a ``file://`` URI)."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def _first_line(error: BaseException) -> str:
    """The first line of an error's message (deltalake appends a long Rust backtrace)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _corrupted(
    directory: Path, error: BaseException, file: Path | None = None
) -> StoreCorruptedError:
    """The error of a table whose log or data files cannot be read as written."""
    if file is not None:
        problem = "is missing" if isinstance(error, FileNotFoundError) else "cannot be read"
        # Arrow's message repeats the file's full path (twice before pyarrow 25, whose
        # read_table wraps it in "Error creating dataset"): the message names it once.
        cause = _first_line(error).replace(str(file), file.name)
        what = f"its data file {file.name!r} {problem} ({cause})"
        repair = (
            "restore the file from a backup; or drop it from the table with "
            f"deltalake.DeltaTable({str(directory)!r}).repair() (its records are then "
            "computed again); or move the table directory away so that the path starts over"
        )
    else:
        what = f"its Delta log cannot be read ({_first_line(error)})"
        repair = (
            "restore the _delta_log directory from a backup, or move the table directory "
            "away so that the path starts over and its records are computed again"
        )
    return StoreCorruptedError(
        f"the Delta table at {str(directory)!r} is damaged: {what}; {repair}"
    )


class _PathState:
    """What this process knows of one path: its table, its stored ids, its pending rows.

    Stored ids and rows are read lazily from ``table`` at the version it was
    last brought to, ``version``: whoever moves the table to another version
    either forgets them (:meth:`synced`) or adds what it committed itself
    (:meth:`committed`), so both always describe that one version.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.layout: TableLayout | None = None
        self.table: DeltaTable | None = None
        self.version = -1
        self._ids: set[str] | None = None
        self._rows: pa.Table | None = None
        self._row_of: dict[str, int] | None = None
        self._scans = 0
        self.pending: list[pa.Table] = []
        self.pending_row_of: dict[str, int] = {}
        self.pending_whole: pa.Table | None = None
        self.files_at_compaction = 0

    @property
    def exists(self) -> bool:
        return self.table is not None or bool(self.pending_row_of)

    # -- what is stored ------------------------------------------------------------

    def synced(self) -> None:
        """Bring the table to its latest version, and what was read of it with it.

        Rows other writers appended are read from their new files only (found in
        the Delta log); after any other change, what was read is forgotten and
        read again when needed.
        """
        assert self.table is not None
        try:
            self.table.update_incremental()
        except Exception as error:  # deltalake raises plain Exception for some failures
            raise _corrupted(self.directory, error) from error
        latest = self.table.version()
        if latest == self.version:
            return
        if self._ids is not None or self._rows is not None:
            added = (
                None if self.version < 0 else added_data_files(self.directory, self.version, latest)
            )
            if added is None:
                self._ids, self._rows, self._row_of = None, None, None
            elif added:
                self._extend(self._read_files(added))
        self.version = latest

    def _read_files(self, files: list[Path]) -> pa.Table:
        """The rows (ids first) of some of the table's data files, or their ids only."""
        layout = self.layout
        assert layout is not None
        if self._rows is None:
            ids = [self._read_file(file, [ID_COLUMN]) for file in files]
            return self._checked(lambda: pa.concat_tables(ids).cast(pa.schema([_ID_FIELD])))
        physical = [self._read_file(file) for file in files]
        return self._checked(lambda: pa.concat_tables([layout.from_physical(t) for t in physical]))

    def _read_file(self, file: Path, columns: list[str] | None = None) -> pa.Table:
        """One data file of the table, or StoreCorruptedError naming it."""
        import pyarrow.parquet as pq

        try:
            return pq.read_table(file, columns=columns)
        except (OSError, pa.ArrowException) as error:
            raise _corrupted(self.directory, error, file) from error

    def _checked(self, read: Callable[[], pa.Table]) -> pa.Table:
        """``read()``, whose Arrow errors mean the files do not hold what the log says."""
        try:
            return read()
        except (pa.ArrowException, KeyError, ValueError) as error:
            raise _corrupted(self.directory, error) from error

    def stored_ids(self) -> set[str]:
        """The ids stored at ``version``, read once (the id column only, or the cached rows)."""
        if self._ids is None:
            if self.table is None:
                self._ids = set()
            elif self._rows is not None:
                self._ids = set(self._rows.column(0).to_pylist())
            else:
                ids = self._read_all(columns=[ID_COLUMN])
                if ids.num_columns != 1:
                    error = KeyError(f"a data file has no {ID_COLUMN!r} column")
                    raise _corrupted(self.directory, error)
                self._ids = set(ids.column(0).to_pylist())
        return self._ids

    def _read_all(self, columns: list[str] | None = None) -> pa.Table:
        """The table's current data files, read as local Parquet files.

        Not through ``to_pyarrow_dataset``: its Python file-system handler
        leaves Arrow threads that can abort the process as it exits
        ("terminate called without an active exception", delta-rs #2184).
        """
        table = self.table
        assert table is not None
        files = [_local_file(uri) for uri in table.file_uris()]
        if not files:
            return self._checked(
                lambda: table.to_pyarrow_dataset(as_large_types=True).to_table(columns=columns)
            )
        parts = [self._read_file(file, columns) for file in files]
        # Files written by other writers (or compaction) may use string, not large_string.
        return self._checked(lambda: pa.concat_tables(parts, promote_options="permissive"))

    def stored_rows(self) -> pa.Table | None:
        """Every row stored at ``version`` (ids first), read once and then kept."""
        if self.table is None or self.layout is None:
            return None
        if self._rows is None:
            layout, every_file = self.layout, self._read_all()
            self._rows, self._row_of = self._checked(lambda: layout.from_physical(every_file)), None
        return self._rows

    def stored_positions(self, wanted: Collection[str]) -> list[int]:
        """The sorted positions in :meth:`stored_rows` of the ``wanted`` ids stored."""
        rows = self.stored_rows()
        if rows is None:
            return []
        if self._row_of is None and len(wanted) > FEW_IDS and self._scans < INDEX_AFTER_SCANS:
            # one vectorised pass instead of building the index for an occasional big lookup
            self._scans += 1
            found = pc.is_in(rows.column(0), pa.array(list(wanted), pa.large_string()))
            return pc.indices_nonzero(found.combine_chunks()).to_pylist()  # type: ignore[no-any-return]
        if self._row_of is None:
            ids = rows.column(0).to_pylist()
            self._row_of = dict(zip(ids, range(len(ids)), strict=True))
        row_of = self._row_of
        return sorted(row for rid in wanted if (row := row_of.get(rid)) is not None)

    def committed(self, rows: pa.Table, version: int) -> None:
        """Move committed ``rows`` from pending to stored, now at ``version``."""
        self._extend(rows)
        self.version = version
        self.clear_pending()

    def _extend(self, rows: pa.Table) -> None:
        """Add newly stored ``rows`` (ids first; only ids if no rows were read) to what is known."""
        ids = rows.column(0).to_pylist()
        if self._ids is not None:
            self._ids.update(ids)
        if self._rows is not None:
            start = self._rows.num_rows
            stored = pa.concat_tables([self._rows, rows])
            if stored.column(0).num_chunks > CACHE_CHUNKS:
                stored = stored.combine_chunks()
            self._rows = stored
            if self._row_of is not None:
                self._row_of.update(zip(ids, range(start, start + len(ids)), strict=True))

    # -- what is pending -------------------------------------------------------------

    def known(self, record_id: str) -> bool:
        return record_id in self.pending_row_of or record_id in self.stored_ids()

    def add_pending(self, rows: pa.Table, ids: list[str]) -> None:
        start = len(self.pending_row_of)
        self.pending_row_of.update(zip(ids, range(start, start + len(ids)), strict=True))
        self.pending.append(rows)
        self.pending_whole = None
        if len(self.pending) >= PENDING_BATCHES:
            self.pending = [pa.concat_tables(self.pending).combine_chunks()]

    def pending_rows(self) -> pa.Table | None:
        if not self.pending:
            return None
        if self.pending_whole is None:
            self.pending_whole = pa.concat_tables(self.pending)
        return self.pending_whole

    def clear_pending(self) -> None:
        self.pending, self.pending_row_of, self.pending_whole = [], {}, None


class DeltaTableDatabase:
    """An ArrowDatabase keeping each record path in its own Delta Lake table under ``root``.

    Added records wait in memory (and are visible to every read of this
    instance) until :meth:`flush`, which commits each path's pending records
    as one Delta transaction: atomic, so a crash leaves a flush entirely
    stored or not at all. Record ids are checked against an in-memory index of
    the path's ids, loaded once (the id column only) when first needed; at
    commit, ids another process stored meanwhile are skipped
    (insert-if-absent), so each id is stored once however many processes
    write. Reads check the table's version first and read what other
    processes appended since (their new files only). Stored rows are read once
    and kept in memory for lookups. Tables are compacted when small files
    pile up. Safe to share between threads. See ``docs/db-delta.md``.

    Args:
        root: the directory holding the tables (created if missing).
        create: create ``root`` if it does not exist (the default); with
            ``create=False`` it must exist already, and nothing is created.

    Raises:
        DatabaseError: ``root`` exists and is not a directory.
        StoreNotFoundError: ``create`` is false and ``root`` does not exist.
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        location = Path(root).expanduser()
        if not create and not location.is_dir():
            problem = "is not a directory" if location.exists() else "does not exist"
            raise StoreNotFoundError(
                f"there is no Delta store at {str(location.absolute())!r}: it {problem}, and "
                "it was opened to read, so nothing was created; check the path "
                "('delta:///absolute/path' or 'delta://relative/path', relative to the working "
                "directory) or run the pipeline that writes the store first"
            )
        try:
            location.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:
            raise DatabaseError(
                f"cannot use {str(location)!r} as a DeltaTableDatabase root: it exists and is "
                "not a directory; choose a directory path"
            ) from error
        self._root = location.resolve()
        self._paths: dict[RecordPath, _PathState] = {}
        self._lock = threading.RLock()
        self._closed = False

    @property
    def root(self) -> Path:
        """The directory holding the tables."""
        return self._root

    @property
    def files_location(self) -> str:
        """Where a pipeline keeps its output files by default: ``<root>/.files`` (a name
        no record path can take, so it is never mistaken for a table)."""
        return str(self._root / ".files")

    @property
    def uri(self) -> str:
        """``delta:///absolute/root``: opens this store again (``open_database``)."""
        return f"delta://{self._root.as_posix()}"

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"DeltaTableDatabase({str(self._root)!r}, {state})"

    def __enter__(self) -> DeltaTableDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes -------------------------------------------------------------------

    def add_record(
        self,
        path: RecordPath,
        record_id: str,
        record: pa.Table,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        """Add one record (a one-row table) under ``record_id``.

        Raises:
            DuplicateRecordError: ``record_id`` is stored or pending at ``path``
                and ``skip_duplicates`` is false.
            RecordSchemaError: ``record`` is not one row, or does not fit the
                schema of the records at ``path``.
        """
        path = validate_record_path(path)
        _require_str("record_id", record_id)
        _require_table("record", record)
        if record.num_rows != 1:
            raise RecordSchemaError(
                f"add_record at path {path!r} takes a one-row table for record id "
                f"{record_id!r}, got {record.num_rows} rows; use add_records for many records"
            )
        with self._lock:
            state = self._state(path)
            layout = self._layout_for(path, state, record.schema)
            if state.known(record_id):
                if skip_duplicates:
                    return
                raise DuplicateRecordError(_duplicates_message(path, [record_id], []))
            state.layout = layout
            ids = pa.array([record_id], pa.large_string())
            state.add_pending(_logical_rows(layout, ids, record), [record_id])
            if flush:
                self._flush_path(path, state)

    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        """Add many records at once; their ids are taken from ``record_id_column``.

        The batch goes in whole or not at all. With ``skip_duplicates``, rows
        whose id is stored, pending or earlier in ``records`` are dropped instead.

        Raises:
            DuplicateRecordError: an id is stored, pending or repeated and
                ``skip_duplicates`` is false; the error lists them.
            RecordSchemaError: ``record_id_column`` is missing, not strings or
                has nulls, or the other columns do not fit the path's schema.
        """
        path = validate_record_path(path)
        _require_table("records", records)
        ids = _record_ids(path, records, record_id_column)
        id_column = records.column(record_id_column).cast(pa.large_string())
        data = records.drop_columns([record_id_column])
        with self._lock:
            state = self._state(path)
            layout = self._layout_for(path, state, data.schema)
            rows = _logical_rows(layout, id_column, data)
            if skip_duplicates:
                ids, rows = _first_new_occurrences(ids, rows, state)
            else:
                _refuse_duplicates(path, ids, state)
            if ids:
                state.layout = layout
                state.add_pending(rows, ids)
            if flush:
                self._flush_path(path, state)

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:
        """Commit every path's pending records, one Delta transaction per path.

        Every path is attempted; the first failure is raised afterwards, and
        the pending records of a path that failed stay pending (and readable).

        Args:
            paths: only these paths' records (a writer flushing what it wrote,
                see ``orcapod.protocols.database.flush_paths``); all by default.

        Raises:
            DatabaseError: a commit failed, or the database is closed.
        """
        with self._lock:
            self._require_open()
            failure: BaseException | None = None
            wanted = None if paths is None else {validate_record_path(p) for p in paths}
            for path, state in list(self._paths.items()):
                if wanted is not None and path not in wanted:
                    continue
                try:
                    self._flush_path(path, state)
                except Exception as error:
                    failure = failure or error
            if failure is not None:
                raise failure

    def close(self) -> None:
        """Flush, then release everything; closing twice is harmless.

        Raises:
            DatabaseError: the final flush failed; the database stays open, so
                nothing pending is lost and ``close`` can be called again.
        """
        with self._lock:
            if self._closed:
                return
            self.flush()
            self._paths.clear()
            self._closed = True

    # -- reads --------------------------------------------------------------------

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """The record stored or pending under ``record_id`` as a one-row table, or None."""
        path = validate_record_path(path)
        _require_str("record_id", record_id)
        with self._lock:
            state = self._readable_state(path)
            if state is None:
                return None
            return self._take(path, state, [record_id], record_id_column)

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records stored or pending under any of ``record_ids``, each once, or None.

        Unknown ids are left out.

        Raises:
            TypeError: ``record_ids`` is a single ``str`` rather than a collection.
        """
        path = validate_record_path(path)
        if isinstance(record_ids, str | bytes):
            raise TypeError(
                f"record_ids must be a collection of ids, got the single id {record_ids!r}; "
                f"pass [{record_ids!r}] or use get_record_by_id"
            )
        with self._lock:
            state = self._readable_state(path)
            if state is None:
                return None
            return self._take(path, state, record_ids, record_id_column)

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """Every record at ``path``, stored and pending, or None for an unknown path."""
        path = validate_record_path(path)
        with self._lock:
            state = self._readable_state(path)
            if state is None:
                return None
            return _present(path, state, self._every_row(state), record_id_column)

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records whose columns equal every value in ``column_values``, or None.

        A value of None matches nulls; an empty mapping matches every record.

        Raises:
            DatabaseError: a column does not exist at ``path``, a value does not
                convert to its column's type, or the column (a map, list or
                struct) cannot be compared.
        """
        path = validate_record_path(path)
        with self._lock:
            state = self._readable_state(path)
            if state is None:
                return None
            rows = self._every_row(state)
            mask = _matching_rows(path, rows, column_values)
            selected = rows if mask is None else rows.filter(mask)
            if selected.num_rows == 0:
                return None
            return _present(path, state, selected, record_id_column)

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        """Every path holding stored or pending records whose first names are ``prefix``."""
        if not (isinstance(prefix, tuple | list) and not prefix):
            prefix = validate_record_path(prefix)
        prefix = tuple(prefix)
        with self._lock:
            self._require_open()
            found = set(find_paths(self._root, prefix))
            found.update(
                path
                for path, state in self._paths.items()
                if state.exists and path[: len(prefix)] == prefix
            )
            return sorted(found)

    # -- paths and their tables -----------------------------------------------------

    def _require_open(self) -> None:
        if self._closed:
            raise DatabaseError(
                f"this DeltaTableDatabase at {str(self._root)!r} is closed; open it again "
                "(DeltaTableDatabase(root) or open_database('delta://...')) to use its records"
            )

    def _state(self, path: RecordPath) -> _PathState:
        """The path's state, opening its table (schema and ids) the first time it is used."""
        self._require_open()
        state = self._paths.get(path)
        if state is None:
            state = _PathState(table_directory(self._root, path))
            if has_table(state.directory):
                self._open_table(state)
            self._paths[path] = state
        return state

    def _open_table(self, state: _PathState) -> DeltaTable:
        try:
            table = DeltaTable(str(state.directory))
        except Exception as error:  # DeltaError, or plain Exception for some failures
            raise _corrupted(state.directory, error) from error
        layout = read_layout(str(state.directory), table.metadata().description)
        if state.layout is None:
            state.layout = layout
        state.table = table
        state.synced()
        state.files_at_compaction = len(table.file_uris())
        return table

    def _layout_for(self, path: RecordPath, state: _PathState, schema: pa.Schema) -> TableLayout:
        if state.layout is None:
            return layout_for(path, schema)
        check_schema(path, state.layout.data_schema, schema)
        return state.layout

    def _readable_state(self, path: RecordPath) -> _PathState | None:
        """The path's state brought up to the table's latest version, or None if it has none."""
        state = self._state(path)
        if state.table is None:
            if not has_table(state.directory):
                return state if state.pending_row_of else None
            self._open_table(state)
            return state
        state.synced()
        return state

    def _every_row(self, state: _PathState) -> pa.Table:
        parts = [part for part in (state.stored_rows(), state.pending_rows()) if part is not None]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def _take(
        self,
        path: RecordPath,
        state: _PathState,
        record_ids: Iterable[str],
        record_id_column: str | None,
    ) -> pa.Table | None:
        """The stored and pending rows of ``record_ids`` (each once), or None."""
        wanted = dict.fromkeys(record_ids)
        pieces = []
        pending_rows = sorted(
            row for rid in wanted if (row := state.pending_row_of.get(rid)) is not None
        )
        if len(pending_rows) < len(wanted):
            stored_rows = state.stored_positions(wanted.keys())
            if stored_rows:
                stored = state.stored_rows()
                assert stored is not None
                pieces.append(stored.take(pa.array(stored_rows, pa.int64())))
        pending = state.pending_rows()
        if pending_rows and pending is not None:
            pieces.append(pending.take(pa.array(pending_rows, pa.int64())))
        if not pieces:
            return None
        rows = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        return _present(path, state, rows, record_id_column)

    # -- committing -------------------------------------------------------------------

    def _flush_path(self, path: RecordPath, state: _PathState) -> None:
        """Commit the path's pending rows as one transaction, retrying lost races."""
        if not state.pending_row_of:
            return
        layout = state.layout
        assert layout is not None  # a path with pending rows has a schema
        for attempt in range(COMMIT_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0.005, 0.02) * min(attempt, 10))
            if state.table is None and not has_table(state.directory):
                if self._create_table(path, state, layout):
                    return
                continue
            table = state.table if state.table is not None else self._open_table(state)
            self._check_stored_layout(path, state, layout)
            state.synced()
            if self._append(path, state, table, layout):
                return
        raise DatabaseError(
            f"could not commit the pending records of path {path!r} to "
            f"{str(state.directory)!r}: other writers committed first {COMMIT_ATTEMPTS} times "
            "in a row; the records are still pending, call flush() again"
        )

    def _create_table(self, path: RecordPath, state: _PathState, layout: TableLayout) -> bool:
        """Create the table holding the pending rows; False if another process created it first."""
        rows = state.pending_rows()
        assert rows is not None
        try:
            write_deltalake(
                str(state.directory),
                layout.to_physical(rows),
                mode="error",
                description=layout.describe(),
            )
        except Exception as error:  # deltalake raises plain Exception for some failures
            if has_table(state.directory):
                return False  # another process won the race: append to its table instead
            raise DatabaseError(
                f"could not create the Delta table of path {path!r} at "
                f"{str(state.directory)!r}: {error}; the records are still pending"
            ) from error
        state.clear_pending()
        table = state.table = DeltaTable(str(state.directory))
        state.synced()  # version 0 is ours, or later ones too if others appended already
        state.files_at_compaction = 0
        self._maybe_compact(path, state, table)
        return True

    def _append(
        self, path: RecordPath, state: _PathState, table: DeltaTable, layout: TableLayout
    ) -> bool:
        """Append the pending rows whose ids are not stored, if no one committed meanwhile.

        The commit is made at exactly the next version of the table ``stored_ids``
        was read from (no retries inside deltalake), so it fails rather than
        interleave with a commit whose ids it has not checked: False then.
        """
        rows = state.pending_rows()
        assert rows is not None
        stored = state.stored_ids()
        fresh = [rid not in stored for rid in state.pending_row_of]
        if not all(fresh):
            rows = rows.filter(pa.array(fresh, pa.bool_()))
        if rows.num_rows == 0:
            state.clear_pending()
            return True
        version = state.version
        try:
            write_deltalake(
                table,
                layout.to_physical(rows),
                mode="append",
                commit_properties=CommitProperties(max_commit_retries=0),
            )
        except CommitFailedError:
            return False
        except Exception as error:  # deltalake raises plain Exception for some failures
            raise DatabaseError(
                f"could not commit the pending records of path {path!r} to "
                f"{str(state.directory)!r}: {error}; the records are still pending"
            ) from error
        state.committed(rows, version + 1)
        if table.version() != state.version:
            state.version = -1  # a version we did not check: forget it at the next sync
        self._maybe_compact(path, state, table)
        return True

    def _check_stored_layout(
        self, path: RecordPath, state: _PathState, layout: TableLayout
    ) -> None:
        """Refuse to commit into a table another process created with another schema."""
        assert state.table is not None
        stored = read_layout(str(state.directory), state.table.metadata().description)
        if stored != layout:
            check_schema(path, stored.data_schema, layout.data_schema)

    def _maybe_compact(self, path: RecordPath, state: _PathState, table: DeltaTable) -> None:
        """Compact the table once enough small files were added since its last compaction."""
        files = len(table.file_uris())
        if files - state.files_at_compaction < COMPACT_AFTER_FILES:
            return
        before = table.version()
        try:
            table.optimize.compact()
        except Exception as error:  # deltalake raises plain Exception for some failures
            # The records are committed; a compaction that lost a race is retried later.
            warnings.warn(
                f"compacting the Delta table of path {path!r} failed ({error}); its records "
                "are stored, and compaction is tried again after later flushes",
                RuntimeWarning,
                stacklevel=4,
            )
            return
        if state.version == before and table.version() == before + 1:
            state.version = before + 1  # the compaction moved rows between files, no more
        state.files_at_compaction = len(table.file_uris())


def _require_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")


def _require_table(name: str, value: object) -> None:
    if not isinstance(value, pa.Table):
        raise TypeError(
            f"{name} must be a pyarrow.Table, got {type(value).__name__}; convert a record "
            "batch with pyarrow.Table.from_batches([batch])"
        )


def _record_ids(path: RecordPath, records: pa.Table, record_id_column: str) -> list[str]:
    """The ids in ``record_id_column`` of ``records``, checked to be non-null strings."""
    _require_str("record_id_column", record_id_column)
    found = records.schema.get_all_field_indices(record_id_column)
    if len(found) != 1:
        problem = "has no column" if not found else f"has {len(found)} columns"
        raise RecordSchemaError(
            f"records for path {path!r} {problem} named {record_id_column!r} "
            f"(columns: {records.column_names}); pass as record_id_column the name of "
            "the one column holding the record ids"
        )
    column = records.column(found[0])
    if not (
        pa.types.is_string(column.type)
        or pa.types.is_large_string(column.type)
        or pa.types.is_string_view(column.type)
    ):
        raise RecordSchemaError(
            f"record id column {record_id_column!r} for path {path!r} is {column.type}, but "
            f"record ids are strings; cast it to pyarrow.large_string() first"
        )
    if column.null_count:
        raise RecordSchemaError(
            f"record id column {record_id_column!r} for path {path!r} has "
            f"{column.null_count} null id(s); every record needs an id"
        )
    ids: list[str] = column.to_pylist()
    return ids


def _logical_rows(layout: TableLayout, ids: pa.Array | pa.ChunkedArray, data: pa.Table) -> pa.Table:
    """Records as reads present them: ids first, columns exactly of the path's schema."""
    schema = pa.schema([_ID_FIELD, *layout.data_schema])
    return pa.Table.from_arrays([ids, *data.columns], schema=schema)


def _all_new_and_distinct(ids: list[str], state: _PathState) -> bool:
    """The common case, settled by set operations in C rather than a loop per id."""
    distinct = set(ids)
    return (
        len(distinct) == len(ids)
        and not any(map(state.pending_row_of.__contains__, distinct))
        and not any(map(state.stored_ids().__contains__, distinct))
    )


def _first_new_occurrences(
    ids: list[str], rows: pa.Table, state: _PathState
) -> tuple[list[str], pa.Table]:
    """``ids`` and ``rows`` without rows whose id is known or seen earlier in ``ids``."""
    if _all_new_and_distinct(ids, state):
        return ids, rows
    seen: set[str] = set()
    keep = []
    for record_id in ids:
        keep.append(not state.known(record_id) and record_id not in seen)
        seen.add(record_id)
    if all(keep):
        return ids, rows
    kept = [record_id for record_id, kept in zip(ids, keep, strict=True) if kept]
    return kept, rows.filter(pa.array(keep, pa.bool_()))


def _refuse_duplicates(path: RecordPath, ids: list[str], state: _PathState) -> None:
    if _all_new_and_distinct(ids, state):
        return
    seen: set[str] = set()
    stored: dict[str, None] = {}
    repeated: dict[str, None] = {}
    for record_id in ids:
        if state.known(record_id):
            stored[record_id] = None
        elif record_id in seen:
            repeated[record_id] = None
        seen.add(record_id)
    if stored or repeated:
        raise DuplicateRecordError(_duplicates_message(path, list(stored), list(repeated)))


def _duplicates_message(path: RecordPath, stored: list[str], repeated: list[str]) -> str:
    parts = []
    if stored:
        parts.append(f"record id(s) already stored or pending there: {_preview(stored)}")
    if repeated:
        parts.append(f"record id(s) repeated within the batch: {_preview(repeated)}")
    return (
        f"cannot add to path {path!r}: {'; '.join(parts)}. Nothing was added; pass "
        "skip_duplicates=True to keep the first record of each id and drop the rest"
    )


def _preview(ids: list[str]) -> str:
    shown = ", ".join(map(repr, ids[:_PREVIEW]))
    return shown if len(ids) <= _PREVIEW else f"{shown} and {len(ids) - _PREVIEW} more"


def _present(
    path: RecordPath, state: _PathState, rows: pa.Table, record_id_column: str | None
) -> pa.Table:
    """Rows (ids first) as readers get them: ids dropped, or first under ``record_id_column``."""
    if record_id_column is None:
        return rows.remove_column(0)
    _require_str("record_id_column", record_id_column)
    names = rows.column_names[1:]
    if record_id_column in names:
        raise DatabaseError(
            f"record_id_column {record_id_column!r} is also a data column at path {path!r}; "
            f"choose a name for the ids that is not one of {names}"
        )
    return rows.rename_columns([record_id_column, *names])


def _matching_rows(
    path: RecordPath, rows: pa.Table, column_values: Mapping[str, Any]
) -> pa.ChunkedArray | None:
    """A mask of the rows equal to every value, or None to keep them all."""
    names = rows.column_names[1:]
    mask = None
    for name, value in column_values.items():
        if name not in names:
            raise DatabaseError(
                f"path {path!r} has no column {name!r} to match; its columns are {names}"
            )
        matches = _equal_to(path, name, rows.column(names.index(name) + 1), value)
        mask = matches if mask is None else pc.and_(mask, matches)
    return mask


def _equal_to(path: RecordPath, name: str, column: pa.ChunkedArray, value: Any) -> Any:
    if value is None:
        return pc.is_null(column)
    try:
        scalar = pa.scalar(value, type=column.type)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as error:
        raise DatabaseError(
            f"cannot match column {name!r} ({column.type}) at path {path!r} against "
            f"{value!r}: {error}; pass a value of the column's type"
        ) from error
    try:
        return pc.fill_null(pc.equal(column, scalar), False)
    except pa.ArrowNotImplementedError as error:
        raise DatabaseError(
            f"column {name!r} at path {path!r} is {column.type}, which cannot be matched "
            "by value; read get_all_records(path) and filter it instead"
        ) from error
