"""DeltaTableDatabase: one Delta Lake table per record path, written in batched transactions."""

from __future__ import annotations

import itertools
import random
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError

from orcapod.db.delta._index import DataFile, IdIndex, keys_of
from orcapod.db.delta._layout import compaction_lock, find_paths, has_table, table_directory
from orcapod.db.delta._log import LogChanges, added_data_files, log_changes
from orcapod.db.delta._schema import ID_COLUMN, TableLayout, layout_for, read_layout
from orcapod.protocols.database import DEFAULT_RETENTION_HOURS, Compaction, may_create_stores
from orcapod.protocols.errors import (
    DatabaseError,
    StoreCorruptedError,
    StoreNotCreatableError,
    StoreNotFoundError,
)
from orcapod.protocols.store import BaseArrowDatabase, check_schema

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator, Set

    from orcapod.protocols.store import NewRecords
    from orcapod.protocols.values import RecordPath

__all__ = ["DeltaTableDatabase"]

COMPACT_AFTER_FILES = 16
"""A table is compacted when this many files were added to it since its last compaction."""

COMMIT_ATTEMPTS = 64
"""How often a flush retries a commit that lost a race with another writer."""

PENDING_BATCHES = 1024
"""Pending batches are concatenated into one at this count, so many one-row adds stay cheap."""

COMPACT_TARGET_BYTES = 32 * 1024 * 1024
""":meth:`DeltaTableDatabase.compact` packs small files into files of about this many bytes
of rows (uncompressed, what a compaction holds at once), and leaves larger ones alone."""

AUTO_COMPACT_TARGET_BYTES = 8 * 1024 * 1024
"""Compaction after flushes packs files of fewer bytes of rows than this into files of
about this size, and leaves larger ones alone: each row is rewritten a bounded number of
times, however large the table, and a run's flushes of tens of thousands of rows (a
checkpoint's results, records or status events: 18-45 MB each) are not rewritten at
all. Merging those bought nothing (a lookup reads row groups through the id index,
whatever the files) and cost a rewrite of every status event and pipeline record a run
wrote (9.75 s of a 10M-packet cached re-run with observers), and a re-read of every
stored id to place the moved rows."""

ROW_GROUP_ROWS = 8_192
"""Rows per Parquet row group in the files the database writes (and compacts): a lookup
reads the row groups holding the ids it asks for, so smaller groups read less."""


def _local_file(uri: str) -> Path:
    """The path of a data file the table lists (as a path or a ``file://`` URI)."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    return Path(uri)


STATISTICS_BYTES = 256
"""Column statistics (a row group's smallest and largest value) keep at most this many
bytes of a value: untruncated, a column of 1 MB arrays puts 2 MB in every row group's
footer, which every reader parses. Record ids (under 100 bytes) keep exact bounds."""


def _writer_properties(rows: pa.Table | None = None) -> WriterProperties:
    """How the database writes Parquet files: row groups of :data:`ROW_GROUP_ROWS` rows,
    statistics truncated to :data:`STATISTICS_BYTES`.

    Given the ``rows`` to write (as written: the ids first), the ids are written
    without a dictionary (they are distinct: building one is wasted work), and so
    are string and binary columns holding only empty values (and nulls):
    deltalake's writer takes about six times as long per row over such a column
    (a log's stdout and stderr when nothing printed) as over one holding any
    other value, a third of which goes to the dictionary. Their statistics are
    kept: without them, deltalake's pyarrow datasets prune every file on a
    filter of that column (``stdout == ""`` found no row).
    """
    columns = None
    if rows is not None:
        plain = ColumnProperties(dictionary_enabled=False)
        columns = dict.fromkeys([rows.column_names[0], *_empty_byte_columns(rows)], plain)
    return WriterProperties(
        max_row_group_size=ROW_GROUP_ROWS,
        statistics_truncate_length=STATISTICS_BYTES,
        column_properties=columns,
    )


def _empty_byte_columns(rows: pa.Table) -> list[str]:
    """The string and binary columns of ``rows`` but the first (the ids) whose values are
    all empty strings (or null), at least one of them not null."""
    names = []
    for field, column in zip(list(rows.schema)[1:], rows.columns[1:], strict=True):
        kind = field.type
        if not (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
        ):
            continue
        if column.null_count < len(column) and pc.max(pc.binary_length(column)).as_py() == 0:
            names.append(field.name)
    return names


_SAMPLE_ROWS = 64
"""Rows read to measure a table's rows' size in memory (see :func:`_compaction_target`)."""


def _compaction_target(table: DeltaTable, in_memory: int) -> int:
    """The ``target_size`` (bytes on disk) of a compaction of ``table`` that merges files
    into about ``in_memory`` bytes of rows (Arrow's ``nbytes``) each.

    deltalake bins files by their size on disk and holds a bin's rows while it rewrites
    them. Values that encode well (an array of repeated values: 64 MB in a file of 1 KB)
    would make a bin of a few MB on disk many GB in memory, so the size on disk of a row
    is scaled by its size in memory, measured on the first rows of the smallest file (a
    file not compacted yet, as a rule): reading a few rows still reads their row group's
    column chunks, which in a compacted file can hold hundreds of MB.
    """
    uris = table.file_uris()
    if not uris:
        return in_memory
    file = min((_local_file(uri) for uri in uris), key=lambda path: path.stat().st_size)
    parquet = pq.ParquetFile(file)
    if parquet.metadata.num_rows == 0 or parquet.metadata.num_row_groups == 0:
        return in_memory
    first = next(parquet.iter_batches(_SAMPLE_ROWS, row_groups=[0], use_threads=False))
    memory_per_row = first.nbytes / max(first.num_rows, 1)
    disk_per_row = file.stat().st_size / parquet.metadata.num_rows
    return max(1, int(in_memory * min(1.0, disk_per_row / max(memory_per_row, 1.0))))


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


@dataclass
class ScanReads:
    """What reads in batches (``iter_all_records``) read from data files: files, row groups
    and their rows, counted as each is read. Per store, for tests and benchmarks."""

    files: int = 0
    row_groups: int = 0
    rows: int = 0


@dataclass
class LookupReads:
    """What lookups by id (``get_records_by_ids``, duplicate checks) read from data files:
    row groups and their rows. Counted per store, for tests and benchmarks."""

    row_groups: int = 0
    rows: int = 0


class _PathState:
    """What this process knows of one path: its table, an index of its ids, its pending rows.

    The id index (:class:`~orcapod.db.delta._index.IdIndex`) is built from the
    id column of ``table`` at the version it was last brought to,
    ``version``, when a lookup first needs it; whoever moves the table to
    another version brings the index along (:meth:`synced`). No stored rows
    are kept: lookups read the row groups holding the ids asked for, and
    other reads read the files and let them go.
    """

    def __init__(self, directory: Path, reads: LookupReads) -> None:
        self.directory = directory
        self.layout: TableLayout | None = None
        self.table: DeltaTable | None = None
        self.version = -1
        self.index: IdIndex | None = None
        self.reads = reads
        self.pending: list[pa.Table] = []
        self.pending_count = 0  # rows pending
        # the pending rows' ids, and their row numbers: indexed at the first read of
        # them (rows added with new_ids are mostly committed unread: never indexed)
        self._row_of: dict[str, int] = {}
        self._unindexed: list[tuple[int, list[str] | pa.Array | pa.ChunkedArray]] = []
        self.pending_whole: pa.Table | None = None
        # the pending ids a commit checks against the stored ones: not those added
        # with new_ids (vouched new by their writer), so their commit reads no ids
        self.pending_to_check: list[str] = []
        self.files_at_compaction = 0

    @property
    def exists(self) -> bool:
        return self.table is not None or bool(self.pending)

    # -- what is stored ------------------------------------------------------------

    def synced(self, *, refresh: bool = True) -> None:
        """Bring the table to its latest version, and the id index with it.

        The ids of rows appended since (by this process or others) are read
        from their new files only (found in the Delta log); a compaction keeps
        the index's ids but not where their rows are; after any other change,
        the index is dropped and built again when needed.
        """
        assert self.table is not None
        try:
            if refresh and (self.version < 0 or self._next_commit_exists()):
                self.table.update_incremental()
        except Exception as error:  # deltalake raises plain Exception for some failures
            raise _corrupted(self.directory, error) from error
        latest = self.table.version()
        if latest == self.version:
            return
        if self.index is not None:
            changes = (
                None if self.version < 0 else log_changes(self.directory, self.version, latest)
            )
            if changes is None:
                self.index = None
            else:
                try:
                    self._follow(self.index, changes)
                except BaseException:
                    self.index = None
                    raise
        self.version = latest

    def _next_commit_exists(self) -> bool:
        """Whether a version after the one the index follows is committed: one ``stat``.

        Delta numbers commits one by one, so none is newer unless the next
        version's log entry exists. ``update_incremental`` would list the whole
        log directory to find out, at a cost growing with the table's commits.
        """
        entry = self.directory / "_delta_log" / f"{self.version + 1:020d}.json"
        return entry.exists() or self.table.version() != self.version  # type: ignore[union-attr]

    def _follow(self, index: IdIndex, changes: LogChanges) -> None:
        """Add to ``index`` the rows of appended files, after forgetting where rows are if
        a compaction moved them."""
        if changes.moved and index.positions_known:
            index.forget_positions()
        for file in changes.added:
            if changes.moved and not file.exists():
                self.index = None  # compacted and vacuumed already: read the table again
                return
            metadata, keys = self._file_ids(file)
            if index.positions_known:
                index.add_file(file, metadata, keys)
            else:
                index.add_unplaced(keys)

    def _file_ids(self, file: Path) -> tuple[pq.FileMetaData, np.ndarray]:
        """A data file's footer and the index keys of its ids, or StoreCorruptedError."""
        try:
            parquet = pq.ParquetFile(file)
            ids = parquet.read(columns=[ID_COLUMN])
        except (OSError, pa.ArrowException) as error:
            raise _corrupted(self.directory, error, file) from error
        if ids.num_columns != 1:
            missing = KeyError(f"a data file has no {ID_COLUMN!r} column")
            raise _corrupted(self.directory, missing, file)
        return parquet.metadata, keys_of(ids.column(0).to_pylist())

    def id_index(self, *, placed: bool) -> IdIndex:
        """The index of the ids stored at ``version``, built (the id column only) if needed;
        ``placed``: with the positions of their rows, rebuilt if a compaction moved them."""
        index = self.index
        if index is None or (placed and not index.positions_known):
            index = IdIndex()
            if self.table is not None:
                for uri in self.table.file_uris():
                    file = _local_file(uri)
                    metadata, keys = self._file_ids(file)
                    index.add_file(file, metadata, keys)
            self.index = index
        return index

    def _read_groups(
        self, data_file: DataFile, groups: list[int], columns: list[str] | None
    ) -> pa.Table:
        """Some row groups of one data file, or StoreCorruptedError naming it."""
        try:
            parquet = pq.ParquetFile(data_file.path, metadata=data_file.metadata)
            return parquet.read_row_groups(groups, columns=columns, use_threads=False)
        except (OSError, pa.ArrowException) as error:
            raise _corrupted(self.directory, error, data_file.path) from error

    def find(self, ids: list[str], *, whole_rows: bool) -> list[pa.Table]:
        """The stored rows of those of ``ids`` stored at ``version``, in stored order (whole
        rows, ids first; or the id column only), read from the row groups holding them."""
        if self.table is None or self.layout is None or not ids:
            return []
        keys = keys_of(ids)
        index = self.id_index(placed=False)
        if not index.positions_known:  # rebuilt (every id read) only if an id is there
            if not index.contains_any(keys).any():
                return []
            index = self.id_index(placed=True)
        # one search of the keys: over ten million of them, each search misses the cache
        candidates = index.candidates(keys)
        if not len(candidates.files):
            return []  # the common case for new ids: nothing read
        found = []
        for file_number in np.unique(candidates.files):
            mine = candidates.files == file_number
            found.append(
                self._confirmed(
                    index.files[int(file_number)],
                    candidates.groups[mine],
                    candidates.offsets[mine],
                    [ids[at] for at in candidates.wanted[mine].tolist()],
                    whole_rows=whole_rows,
                )
            )
        return found

    def _confirmed(
        self,
        data_file: DataFile,
        groups: np.ndarray,
        offsets: np.ndarray,
        asked: list[str],
        *,
        whole_rows: bool,
    ) -> pa.Table:
        """The rows at ``offsets`` in row groups ``groups`` of a data file (in order), those
        holding the ids ``asked`` for there (index keys are hashes: two ids may share one)."""
        read_groups = np.unique(groups)
        sizes = np.diff(data_file.group_starts)[read_groups]
        columns = None if whole_rows else [ID_COLUMN]
        read = self._read_groups(data_file, read_groups.tolist(), columns)
        self.reads.row_groups += len(read_groups)
        self.reads.rows += int(sizes.sum())
        firsts = np.cumsum(sizes) - sizes  # where each group starts in ``read``
        rows = firsts[np.searchsorted(read_groups, groups)] + offsets
        layout = self.layout
        assert layout is not None
        try:
            # every row read, in order (a re-run's batch is its row groups): no copy
            every = len(rows) == read.num_rows and bool(np.all(rows[1:] > rows[:-1]))
            taken = read if every else read.take(pa.array(rows))
            if whole_rows:
                taken = layout.from_physical(taken)
            elif taken.num_columns != 1:
                raise KeyError(f"a data file has no {ID_COLUMN!r} column")
            stored = taken.column(0).cast(pa.large_string())
        except (pa.ArrowException, KeyError, IndexError) as error:
            raise _corrupted(self.directory, error, data_file.path) from error
        same = pc.equal(stored, pa.array(asked, pa.large_string()))
        return taken if pc.all(same).as_py() else taken.filter(same)

    def _checked(self, read: Callable[[], pa.Table]) -> pa.Table:
        """``read()``, whose Arrow errors mean the files do not hold what the log says."""
        try:
            return read()
        except (pa.ArrowException, KeyError, ValueError, IndexError) as error:
            raise _corrupted(self.directory, error) from error

    def stored_among(self, ids: list[str]) -> set[str]:
        """Those of ``ids`` stored at ``version``."""
        found: set[str] = set()
        for part in self.find(ids, whole_rows=False):
            found.update(part.column(0).to_pylist())
        return found

    def _read_file(self, file: Path, columns: list[str] | None = None) -> pa.Table:
        """One data file of the table, or StoreCorruptedError naming it."""
        try:
            return pq.read_table(file, columns=columns)
        except (OSError, pa.ArrowException) as error:
            raise _corrupted(self.directory, error, file) from error

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

    def rows_at_version(self) -> pa.Table | None:
        """Every row stored at ``version`` (ids first), read now and not kept."""
        if self.table is None or self.layout is None:
            return None
        layout, every_file = self.layout, self._read_all()
        return self._checked(lambda: layout.from_physical(every_file))

    def batches_at_version(self, reads: ScanReads, batch_rows: int) -> Iterator[pa.Table]:
        """Every row stored at ``version`` (ids first), read a row group at a time.

        The files are those of the version now; they are read as the iterator
        is advanced, each row group in pieces of at most ``batch_rows`` rows
        (Parquet's batch reader: a large row group written by another tool is
        not read whole either), and let go. ``reads`` counts what was read.
        """
        table, layout = self.table, self.layout
        if table is None or layout is None:
            return iter(())
        files = [_local_file(uri) for uri in table.file_uris()]
        return self._row_groups(files, layout, reads, batch_rows)

    def _row_groups(
        self, files: list[Path], layout: TableLayout, reads: ScanReads, batch_rows: int
    ) -> Iterator[pa.Table]:
        for file in files:
            try:
                parquet = pq.ParquetFile(file)
                reads.files += 1
                for group in range(parquet.num_row_groups):
                    reads.row_groups += 1
                    pieces = parquet.iter_batches(
                        batch_size=batch_rows, row_groups=[group], use_threads=False
                    )
                    for piece in pieces:
                        reads.rows += piece.num_rows
                        rows = pa.Table.from_batches([piece])
                        yield self._checked(partial(layout.from_physical, rows))
            except (OSError, pa.ArrowException) as error:
                raise _corrupted(self.directory, error, file) from error

    def rows_added(self, since: int) -> pa.Table | None:
        """The rows (ids first) appended in versions ``since + 1`` to ``version``; None
        when the Delta log cannot say (rows rewritten or deleted, the log cleaned up)."""
        layout = self.layout
        if layout is None or since > self.version:
            return None
        if since == self.version:
            return layout.rows_schema.empty_table()
        files = added_data_files(self.directory, since, self.version)
        if files is None:
            return None
        if not files:
            return layout.rows_schema.empty_table()
        parts = [self._read_file(file) for file in files]
        return self._checked(
            lambda: pa.concat_tables(
                [layout.from_physical(part) for part in parts], promote_options="permissive"
            )
        )

    # -- what is pending -------------------------------------------------------------

    def add_pending(
        self,
        rows: pa.Table,
        ids: list[str] | pa.Array | pa.ChunkedArray,
        *,
        checked: bool = True,
    ) -> None:
        """Keep ``rows`` under ``ids``; ``checked``: their commit checks them against the
        ids stored by then (false for ids vouched new, which may be given as Arrow)."""
        self._unindexed.append((self.pending_count, ids))
        self.pending_count += len(ids)
        if checked:
            assert isinstance(ids, list)
            self.pending_to_check += ids
        self.pending.append(rows)
        self.pending_whole = None
        if len(self.pending) >= PENDING_BATCHES:
            self.pending = [pa.concat_tables(self.pending).combine_chunks()]

    @property
    def pending_row_of(self) -> dict[str, int]:
        """Each pending id's row in :meth:`pending_rows` (indexed on first use)."""
        row_of = self._row_of
        for start, ids in self._unindexed:
            names = ids if isinstance(ids, list) else ids.to_pylist()
            row_of.update(zip(names, range(start, start + len(names)), strict=True))
        self._unindexed.clear()
        return row_of

    def pending_rows(self) -> pa.Table | None:
        if not self.pending:
            return None
        if self.pending_whole is None:
            self.pending_whole = pa.concat_tables(self.pending)
        return self.pending_whole

    def clear_pending(self) -> None:
        self.pending, self.pending_whole, self.pending_count = [], None, 0
        self._row_of, self._unindexed, self.pending_to_check = {}, [], []


class DeltaTableDatabase(BaseArrowDatabase):
    """An ArrowDatabase keeping each record path in its own Delta Lake table under ``root``.

    Added records wait in memory (and are visible to every read of this
    instance) until :meth:`flush`, which commits each path's pending records
    as one Delta transaction: atomic, so a crash leaves a flush entirely
    stored or not at all. Record ids are checked against an in-memory index of
    the path's ids, loaded once (the id column only) when first needed; at
    commit, ids another process stored meanwhile are skipped
    (insert-if-absent), so each id is stored once however many processes
    write. Reads check the table's version first and read what other
    processes appended since (their new files only). Lookups by id read only
    the row groups holding the ids (an index of about 17 bytes per stored row tells
    which); no stored table is kept in memory. Tables are compacted when
    small files pile up. Safe to share between threads. See ``docs/db-delta.md``.

    :class:`~orcapod.protocols.store.BaseArrowDatabase` holds the contract's
    rules (arguments, schemas, duplicates, the record-id column, closing);
    this class is the engine: tables, commits, retries, compaction.

    Args:
        root: the directory holding the tables (created if missing).
        create: create ``root`` if it does not exist (the default); with
            ``create=False`` it must exist already, and nothing is created.
            Within :func:`~orcapod.protocols.database.creating_no_stores`
            (``orcapod graph``) a missing ``root`` is not created either: the
            store reads as empty and keeps what it is given in memory, pending.

    Raises:
        DatabaseError: ``root`` exists and is not a directory.
        StoreNotFoundError: ``create`` is false and ``root`` does not exist.
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        location = Path(root).expanduser()
        if not create and not location.is_dir():
            problem = "is not a directory" if location.exists() else "does not exist"
            # a run cannot create a store where a file is: say so, rather than "not yet"
            error = StoreNotCreatableError if location.exists() else StoreNotFoundError
            raise error(
                f"there is no Delta store at {str(location.absolute())!r}: it {problem}, and "
                "it was opened to read, so nothing was created; check the path "
                "('delta:///absolute/path' or 'delta://relative/path', relative to the working "
                "directory) or run the pipeline that writes the store first"
            )
        # A command that only reads (orcapod graph) leaves a missing root uncreated.
        self._in_memory = not may_create_stores() and not location.exists()
        try:
            if not self._in_memory:
                location.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:
            raise DatabaseError(
                f"cannot use {str(location)!r} as a DeltaTableDatabase root: it exists and is "
                "not a directory; choose a directory path"
            ) from error
        super().__init__()
        self._root = location.resolve()
        self._paths: dict[RecordPath, _PathState] = {}
        self._lookup_reads = LookupReads()
        self._scan_reads = ScanReads()
        self._new_layout: TableLayout | None = None

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
        if self._in_memory and not self._closed:
            state = "open, not created: kept in memory"
        return f"DeltaTableDatabase({str(self._root)!r}, {state})"

    # -- the engine (BaseArrowDatabase holds the contract's rules) -------------------------

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        """The path's schema, opening its table the first time the path is used.

        Also opens a table another process created since, unless records are
        pending here (then the reads open it, and the commit appends to it).
        """
        state = self._paths.get(path)
        if state is None:
            state = self._paths[path] = _PathState(
                table_directory(self._root, path), self._lookup_reads
            )
        if state.table is None and not state.pending and has_table(state.directory):
            self._open_table(state)
        if state.layout is None or not state.exists:
            return None
        return state.layout.data_schema

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        # Brought up to date first, as a read is: another process may have compacted
        # and vacuumed the files this store's index names (one stat when it has not).
        state = self._readable_state(path)
        pending = state.pending_row_of if state.pending else None
        known = {record_id for record_id in ids if record_id in pending} if pending else set()
        unknown = [record_id for record_id in ids if record_id not in known]
        return known | state.stored_among(unknown)

    def _check_new_schema(self, path: RecordPath, schema: pa.Schema) -> None:
        # The layout is kept for _keep, which the base calls next (under the same lock).
        self._new_layout = layout_for(path, schema)

    def _keep(self, records: NewRecords) -> None:
        state = self._paths[records.path]
        if records.new_path:
            state.layout, self._new_layout = self._new_layout, None
        layout = state.layout
        assert layout is not None
        columns = [records.id_array, *records.data.columns]
        rows = pa.Table.from_arrays(columns, schema=layout.rows_schema)
        # ids vouched new stay Arrow until a read of pending rows needs them
        ids = records.id_array if records.new_ids else records.ids
        state.add_pending(rows, ids, checked=not records.new_ids)

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        state = self._readable_state(path)
        pending_of = state.pending_row_of
        pending_rows = sorted(row for rid in ids if (row := pending_of.get(rid)) is not None)
        unpending = [rid for rid in ids if rid not in pending_of] if pending_rows else ids
        pieces = state.find(unpending, whole_rows=True)
        pending = state.pending_rows()
        if pending_rows and pending is not None:
            pieces.append(pending.take(pa.array(pending_rows, pa.int64())))
        if not pieces:
            return None
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        state = self._readable_state(path)
        parts = [
            part for part in (state.rows_at_version(), state.pending_rows()) if part is not None
        ]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def _iter_all(self, path: RecordPath, batch_rows: int) -> Iterable[pa.Table]:
        """The table's files at its latest version, read one row group at a time, then the
        pending rows (as they are now)."""
        state = self._readable_state(path)
        stored = state.batches_at_version(self._scan_reads, batch_rows)
        pending = state.pending_rows()
        return stored if pending is None else itertools.chain(stored, (pending,))

    def _read_new(self, path: RecordPath, position: object) -> tuple[pa.Table | None, object]:
        """Rows of the data files the Delta log says were appended since table version
        ``position``, and the pending rows; every row where the log cannot say."""
        state = self._readable_state(path)
        stored = None
        if isinstance(position, int) and state.table is not None:
            stored = state.rows_added(position)
        if stored is None:
            stored = state.rows_at_version()
        parts = [part for part in (stored, state.pending_rows()) if part is not None]
        version = state.version if state.table is not None else None
        if not parts:
            return None, version
        return (parts[0] if len(parts) == 1 else pa.concat_tables(parts)), version

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        found = find_paths(self._root, prefix)
        return [*found, *(path for path, state in self._paths.items() if state.exists)]

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        """Commit each path's pending records, one Delta transaction per path, in the
        order ``paths`` gives them (a run's checkpoint names node records before the
        results they name: a kill between two commits leaves no result unrecorded).

        Every path is attempted; the first failure is raised afterwards, and
        the pending records of a path that failed stay pending (and readable).
        """
        failure: BaseException | None = None
        if paths is None:
            states = list(self._paths.items())
        else:
            states = [(path, self._paths[path]) for path in paths if path in self._paths]
        for path, state in states:
            try:
                self._flush_path(path, state)
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def _close(self) -> None:
        self._flush(None)
        self._paths.clear()

    def _closed_message(self) -> str:
        return (
            f"this DeltaTableDatabase at {str(self._root)!r} is closed; open it again "
            "(DeltaTableDatabase(root) or open_database('delta://...')) to use its records"
        )

    # -- compaction ---------------------------------------------------------------------

    def compact(self, *, retention_hours: int = DEFAULT_RETENTION_HOURS) -> list[Compaction]:
        """Compact every table of the store; what was done to each.

        Pending records are committed first. Then each table's small files are
        rewritten into few (``optimize.compact``), a checkpoint of its log is
        written (so opening it reads one file, not every commit), and files
        that no version younger than ``retention_hours`` uses are deleted
        (``vacuum``). Readers, in this process or others, keep working: what
        they read is kept for ``retention_hours``. Writers must not run
        meanwhile: ``vacuum`` also deletes files a writer has written but not
        yet committed, once they are older than ``retention_hours``.

        Raises:
            ValueError: ``retention_hours`` is not a whole number of hours, 0 or more.
            DatabaseError: the store is closed, or a table could not be compacted
                (the tables before it were; its records are intact).
        """
        if isinstance(retention_hours, bool) or not isinstance(retention_hours, int):
            raise ValueError(
                f"retention_hours must be a whole number of hours (0 or more), got "
                f"{retention_hours!r}"
            )
        if retention_hours < 0:
            raise ValueError(f"retention_hours must be 0 or more, got {retention_hours}")
        with self._lock:
            self._require_open()
            if self._in_memory:
                return []  # no table on disk, and the pending rows stay
            self._flush(None)
            done = []
            for path in sorted(set(find_paths(self._root, ()))):
                done.append(self._compact_table(path, retention_hours))
            self._paths.clear()  # versions moved on: each path's state is read again
        return done

    def _compact_table(self, path: RecordPath, retention_hours: int) -> Compaction:
        directory = table_directory(self._root, path)
        try:
            # vacuum too under the lock: it would delete the new, not yet committed
            # files of another process's compaction of the table
            with compaction_lock(directory):
                table = DeltaTable(str(directory))  # the latest version, read under the lock
                before = len(table.file_uris())
                on_disk = {file.name for file in directory.glob("*.parquet")}
                table.optimize.compact(
                    target_size=_compaction_target(table, COMPACT_TARGET_BYTES),
                    writer_properties=_writer_properties(),
                )
                table.create_checkpoint()
                removed = table.vacuum(
                    retention_hours=retention_hours,
                    dry_run=False,
                    enforce_retention_duration=False,
                )
            table.update_incremental()
            # vacuum names every file the log's tombstones list, deleted before or now
            deleted = [name for name in removed if name in on_disk]
        except Exception as error:  # deltalake raises plain Exception for some failures
            raise DatabaseError(
                f"could not compact the Delta table of path {path!r} at {str(directory)!r}: "
                f"{_first_line(error)}; its records are intact"
            ) from error
        return Compaction(path, before, len(table.file_uris()), len(deleted))

    # -- paths and their tables -----------------------------------------------------

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

    def _readable_state(self, path: RecordPath) -> _PathState:
        """The state of a path that has a schema, brought up to its table's latest version."""
        state = self._paths[path]
        if state.table is not None:
            state.synced()
        elif has_table(state.directory):  # created by another process while rows are pending
            self._open_table(state)
        return state

    # -- committing -------------------------------------------------------------------

    def _flush_path(self, path: RecordPath, state: _PathState) -> None:
        """Commit the path's pending rows as one transaction, retrying lost races (kept
        pending, in memory, by a store whose root was not created)."""
        if not state.pending or self._in_memory:
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
            physical = layout.to_physical(rows)
            write_deltalake(
                str(state.directory),
                physical,
                mode="error",
                description=layout.describe(),
                writer_properties=_writer_properties(physical),
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

        The commit is made at exactly the next version of the table whose ids
        were checked (no retries inside deltalake), so it fails rather than
        interleave with a commit whose ids it has not checked: False then.
        """
        rows = state.pending_rows()
        assert rows is not None
        # ids added with new_ids are not looked for: a path holding only those
        # commits without reading any stored id (nor building the id index)
        to_check = state.pending_to_check
        stored = state.stored_among(to_check) if to_check else set()
        if stored:
            ids = rows.column(0)
            rows = rows.filter(pc.invert(pc.is_in(ids, pa.array(list(stored), ids.type))))
        if rows.num_rows == 0:
            state.clear_pending()
            return True
        try:
            physical = layout.to_physical(rows)
            write_deltalake(
                table,
                physical,
                mode="append",
                commit_properties=CommitProperties(max_commit_retries=0),
                writer_properties=_writer_properties(physical),
            )
        except CommitFailedError:
            return False
        except Exception as error:  # deltalake raises plain Exception for some failures
            raise DatabaseError(
                f"could not commit the pending records of path {path!r} to "
                f"{str(state.directory)!r}: {error}; the records are still pending"
            ) from error
        state.clear_pending()
        try:
            # the table object is at the version just committed: the index reads its ids
            state.synced(refresh=False)
        except DatabaseError:
            state.index = None  # the rows are committed: the next use meets the damage
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
        try:
            with compaction_lock(state.directory):
                table.update_incremental()  # under the lock: never files compacted meanwhile
                table.optimize.compact(
                    target_size=_compaction_target(table, AUTO_COMPACT_TARGET_BYTES),
                    writer_properties=_writer_properties(),
                )
        except Exception as error:  # deltalake raises plain Exception for some failures
            # The records are committed; a compaction that lost a race is retried later.
            warnings.warn(
                f"compacting the Delta table of path {path!r} failed ({error}); its records "
                "are stored, and compaction is tried again after later flushes",
                RuntimeWarning,
                stacklevel=4,
            )
            return
        # the next sync finds that the compaction moved rows: the index keeps its ids
        state.files_at_compaction = len(table.file_uris())
