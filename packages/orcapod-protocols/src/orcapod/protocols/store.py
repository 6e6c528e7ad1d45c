"""The store toolkit: every rule of the ArrowDatabase contract that no storage engine changes.

A store subclasses :class:`BaseArrowDatabase` and implements its engine: what
schema a path has, which ids it holds, how to keep new rows, how to read rows
back, which paths exist, how to flush and close. The base class owns the
rest, the same in every store:

- checks of every argument (paths, ids, tables, the id column, prefixes);
- a path's schema fixed by its first records, and the message naming every
  column that differs;
- duplicate ids, refused as a whole batch or skipped (``skip_duplicates``), or
  not looked for in what is stored when the caller vouches its ids are new
  (``new_ids``);
- the record-id column of reads, and every error message;
- one lock per store, and refusal of every use after :meth:`close`.

Engines that make checks of their own (a flush that meets ids another process
stored meanwhile) use the module's functions, so their messages read the same.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa

from orcapod.protocols.database import (
    DEFAULT_BATCH_ROWS,
    RecordCursor,
    check_batch_rows,
    validate_record_path,
)
from orcapod.protocols.errors import DatabaseError, DuplicateRecordError, RecordSchemaError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Set
    from types import TracebackType

    from orcapod.protocols.values import RecordPath

__all__ = [
    "ID_FIELD",
    "BaseArrowDatabase",
    "NewRecords",
    "check_schema",
    "duplicates_message",
    "equal_mask",
    "first_new_occurrences",
    "preview_ids",
    "schema_differences",
]

ID_FIELD = pa.field("__record_id", pa.large_string(), nullable=False)
"""Column 0 of the rows engines are given and return: the record ids.

Reads find the ids by position, never by name, so any data column may be
called ``__record_id`` too."""

PREVIEW = 5
"""How many ids an error lists before saying how many more there are."""


class NewRecords:
    """Records checked by the base class, for the engine to keep.

    Their ids are distinct, none is stored or pending at ``path`` (unless
    another process stores it meanwhile: an engine that commits later checks
    again), and ``data`` has exactly the path's schema (``new_path``: it fixes
    that schema now). ``skip_duplicates`` says whether the caller asked to skip
    duplicates: then a commit that finds an id stored meanwhile drops that row
    rather than refusing the batch. ``new_ids`` says that the caller vouched
    for the ids being new (``add_records(..., new_ids=True)``): nothing checked
    them against the stored ids, and a commit need not either.
    """

    __slots__ = ("_id_array", "_ids", "data", "new_ids", "new_path", "path", "skip_duplicates")

    def __init__(
        self,
        path: RecordPath,
        ids: list[str] | None,
        id_array: pa.Array | pa.ChunkedArray | None,
        data: pa.Table,
        *,
        new_path: bool,
        skip_duplicates: bool,
        new_ids: bool = False,
    ) -> None:
        assert ids is not None or id_array is not None
        self.path = path
        self._ids = ids
        self._id_array = id_array
        self.data = data
        self.new_path = new_path
        self.skip_duplicates = skip_duplicates
        self.new_ids = new_ids

    @property
    def ids(self) -> list[str]:
        """The ids as Python strings (made from ``id_array`` on first use)."""
        if self._ids is None:
            assert self._id_array is not None
            self._ids = self._id_array.to_pylist()
        return self._ids

    @property
    def id_array(self) -> pa.Array | pa.ChunkedArray:
        """``ids`` as a ``large_string`` array."""
        if self._id_array is None:
            self._id_array = pa.array(self._ids, pa.large_string())
        elif not pa.types.is_large_string(self._id_array.type):
            self._id_array = self._id_array.cast(pa.large_string())
        return self._id_array

    def rows(self, id_field: pa.Field = ID_FIELD) -> pa.Table:
        """The ids (as ``id_field``) followed by the data columns, as one table."""
        schema = pa.schema([id_field, *self.data.schema], metadata=self.data.schema.metadata)
        return pa.Table.from_arrays([self.id_array, *self.data.columns], schema=schema)


class BaseArrowDatabase:
    """An :class:`~orcapod.protocols.database.ArrowDatabase` but for its storage engine.

    Subclasses call ``super().__init__()`` and implement the engine methods
    below (the ones that raise ``NotImplementedError``). Every engine method is
    called with ``self._lock`` held, on an open store, with a validated path.
    The rows engines return hold the record ids in column 0 (any name) and
    the data columns after it, in the path's schema; the base class presents
    them as the contract says.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the engine ---------------------------------------------------------------------

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        """The data schema of ``path`` if it holds stored or pending records, else None."""
        raise NotImplementedError

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        """Those of ``ids`` stored or pending at ``path`` (a path that has a schema).

        ``ids`` is a set (a ``dict`` keys view), iterated in the order the ids
        were added: an engine may use that order (a re-run adds ids in the
        order it stored them)."""
        raise NotImplementedError

    def _keep(self, records: NewRecords) -> None:
        """Keep checked ``records``: pending until a flush, or stored at once."""
        raise NotImplementedError

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        """The rows of those of ``ids`` (distinct) stored or pending at ``path``, or None."""
        raise NotImplementedError

    def _read_record(self, path: RecordPath, record_id: str) -> pa.Table | None:
        """The data columns (no ids) of the record ``record_id``, or None.

        By default through :meth:`_read_ids`; an engine with a faster way to
        find one row (the lookup of each result just stored) overrides this.
        """
        rows = self._read_ids(path, [record_id])
        return None if rows is None else rows.remove_column(0)

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        """Every row stored or pending at ``path``, or None."""
        raise NotImplementedError

    def _iter_all(self, path: RecordPath, batch_rows: int) -> Iterable[pa.Table | pa.RecordBatch]:
        """Every row stored or pending at ``path``, in pieces read as they are asked for.

        Called with the lock held, which the iteration of what it returns is
        not: take under it what the read needs (the files of the table's
        current version, the pending rows), and read the rows lazily, a piece
        of about ``batch_rows`` rows (or one file, one row group) at a time.
        Pieces are tables or record batches in the rows' schema; the base
        class cuts them into batches of at most ``batch_rows`` rows and joins
        small ones. By default :meth:`_read_all`, read at once: correct for
        every engine, but it holds the whole path in memory.
        """
        rows = self._read_all(path)
        return () if rows is None else (rows,)

    def _read_matching(
        self, path: RecordPath, schema: pa.Schema, column_values: Mapping[str, Any]
    ) -> pa.Table | None:
        """The rows whose columns equal ``column_values`` (names checked against ``schema``).

        By default :meth:`_read_all` filtered with Arrow; an engine that can
        select in storage overrides this.
        """
        import pyarrow.compute as pc

        rows = self._read_all(path)
        if rows is None or not column_values:
            return rows
        mask = None
        for name, value in column_values.items():
            column = rows.column(schema.get_field_index(name) + 1)
            matches = equal_mask(path, name, column, value)
            mask = matches if mask is None else pc.and_(mask, matches)
        return rows.filter(mask)

    def _read_new(self, path: RecordPath, position: object) -> tuple[pa.Table | None, object]:
        """The rows stored at ``path`` since ``position``, and every pending row; and the
        position now reached (what the next call is given).

        ``position`` is None at the first read of a cursor, else what this
        method returned last time for the path. The rows may include some
        returned before: the base class drops the ids it returned already. So
        the default, every row (:meth:`_read_all`) and position None, is
        correct for every engine; an engine that can tell what was stored
        since a mark (a table version, an increasing row number) overrides
        this to read only that. The position must be taken no later than the
        rows are read, so that a row stored meanwhile is read next time.
        """
        return self._read_all(path), None

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        """The paths holding records; at least those starting with ``prefix``."""
        raise NotImplementedError

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        """Make the pending records of ``paths`` (None: all) durable, or raise.

        ``paths`` iterates in the order the caller of :meth:`flush` named them:
        an engine committing path by path commits them in that order (a run
        names its node records before the results they name, so that a kill
        between two commits never leaves a result without its record).
        """

    def _close(self) -> None:
        """Flush and release resources. If it raises, the store stays open."""
        self._flush(None)

    def _check_writable(self, path: RecordPath) -> None:
        """Raise if records cannot be added to ``path`` here (a read-only store)."""

    def _check_new_schema(self, path: RecordPath, schema: pa.Schema) -> None:
        """Raise RecordSchemaError if the engine cannot store columns of ``schema``."""

    def _closed_message(self) -> str:
        """What the error of a use after :meth:`close` says."""
        return f"{self!r} is closed; open the store again to use its records"

    # -- writes -------------------------------------------------------------------------

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
        _require_id("record_id", record_id)
        _require_table("record", record)
        if record.num_rows != 1:
            raise RecordSchemaError(
                f"add_record at path {path!r} takes a one-row table for record id "
                f"{record_id!r}, got {record.num_rows} rows; use add_records for many records"
            )
        self._add(path, [record_id], None, record, skip_duplicates, flush)

    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
        new_ids: bool = False,
    ) -> None:
        """Add many records at once; their ids are taken from ``record_id_column``.

        The batch goes in whole or not at all. With ``skip_duplicates``, rows
        whose id is stored, pending or earlier in ``records`` are dropped.

        With ``new_ids``, the caller vouches that every id is new at ``path``
        (stored nowhere, pending nowhere, not repeated in ``records``: ids made
        unique by construction, such as a run id and a running number). The
        ids are then not looked for at all: no stored id is read, no index of
        them is built, at the add or at the commit. Breaking that promise is the
        caller's error: a store may then refuse the batch (a primary key) or
        keep both records.

        Raises:
            DuplicateRecordError: an id is stored, pending or repeated and
                ``skip_duplicates`` is false (not looked for with ``new_ids``).
            RecordSchemaError: ``record_id_column`` is missing, not strings or
                has nulls, or the other columns do not fit the path's schema.
            ValueError: both ``skip_duplicates`` and ``new_ids`` are true.
        """
        path = validate_record_path(path)
        _require_table("records", records)
        id_column = _record_id_column(path, records, record_id_column)
        data = records.drop_columns([record_id_column])
        if new_ids:
            if skip_duplicates:
                raise ValueError(
                    "add_records takes skip_duplicates=True or new_ids=True, not both: new "
                    "ids have no duplicates to skip"
                )
            self._add(path, None, id_column, data, False, flush, new_ids=True)
            return
        self._add(path, id_column.to_pylist(), id_column, data, skip_duplicates, flush)

    def _add(
        self,
        path: RecordPath,
        ids: list[str] | None,
        id_array: pa.Array | pa.ChunkedArray | None,
        data: pa.Table,
        skip_duplicates: bool,
        flush: bool,
        *,
        new_ids: bool = False,
    ) -> None:
        """Add checked arguments; ``ids`` None (made from ``id_array`` if an engine needs
        them) only with ``new_ids``, whose ids are not looked for anywhere."""
        with self._lock:
            self._require_open()
            self._check_writable(path)
            schema = self._path_schema(path)
            if schema is None:
                _check_unique_names(path, data.schema)
                self._check_new_schema(path, data.schema)
            else:
                check_schema(path, schema, data.schema)
            if new_ids:
                if data.num_rows:
                    self._keep(
                        NewRecords(
                            path,
                            ids,
                            id_array,
                            data,
                            new_path=schema is None,
                            skip_duplicates=False,
                            new_ids=True,
                        )
                    )
                if flush:
                    self._flush({path})
                return
            assert ids is not None
            distinct = dict.fromkeys(ids).keys()  # a set, in the order given
            known = frozenset() if schema is None else self._known_ids(path, distinct)
            if known or len(distinct) != len(ids):
                if not skip_duplicates:
                    raise DuplicateRecordError(duplicates_message(path, ids, known))
                if distinct <= known:  # every id stored: a re-run's records
                    ids = []
                else:
                    keep = first_new_occurrences(ids, known)
                    ids = [record_id for record_id, kept in zip(ids, keep, strict=True) if kept]
                    if ids:  # else nothing is kept, and filtering would be wasted
                        mask = pa.array(keep, pa.bool_())
                        id_array = None if id_array is None else id_array.filter(mask)
                        data = data.filter(mask)
            if ids:
                new = schema is None
                records = NewRecords(
                    path, ids, id_array, data, new_path=new, skip_duplicates=skip_duplicates
                )
                self._keep(records)
            if flush:
                self._flush({path})

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:
        """Make pending records durable: of ``paths`` only (committed in the order
        given, where the engine commits path by path), or of every path.

        Raises:
            DatabaseError: the store is closed, or the flush failed (nothing
                pending is lost; flush again to retry).
        """
        # Ordered (a dict's keys: still a set), so that _flush may keep the caller's order.
        wanted = None if paths is None else dict.fromkeys(map(validate_record_path, paths)).keys()
        with self._lock:
            self._require_open()
            self._flush(wanted)

    def close(self) -> None:
        """Flush and release resources; every later use but ``close`` raises DatabaseError.

        Closing twice is harmless. If the final flush fails, the store stays
        open, so nothing pending is lost and ``close`` can be called again.
        """
        with self._lock:
            if not self._closed:
                self._close()
                self._closed = True

    # -- reads --------------------------------------------------------------------------

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """The record stored or pending under ``record_id`` as a one-row table, or None."""
        path = validate_record_path(path)
        _require_id("record_id", record_id)
        with self._lock:
            if self._readable_schema(path, record_id_column) is None:
                return None
            record = self._read_record(path, record_id)
        if record is None or record.num_rows == 0:
            return None
        if record_id_column is None:
            return record
        ids = pa.array([record_id], pa.large_string())
        return record.add_column(0, ID_FIELD.with_name(record_id_column), ids)

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
            TypeError: ``record_ids`` is a single ``str`` rather than a collection,
                or holds something other than ``str`` ids.
        """
        path = validate_record_path(path)
        wanted = _distinct_ids(record_ids)
        return self._read(path, record_id_column, lambda _: self._read_ids(path, wanted))

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """Every record at ``path``, stored and pending, or None for an unknown path."""
        path = validate_record_path(path)
        return self._read(path, record_id_column, lambda _: self._read_all(path))

    def iter_all_records(
        self,
        path: RecordPath,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        record_id_column: str | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Every record at ``path``, stored and pending, as record batches read one at a time.

        The rows, columns and types of :meth:`get_all_records`, in batches of
        at most ``batch_rows`` rows, none empty; an unknown path yields none.
        The engine reads a batch when it is asked for (see :meth:`_iter_all`),
        so memory holds about one batch, not the path. The path and the
        arguments are checked at the call, where a closed store is refused
        too; the rows are those stored or pending at the call, each once
        (rows added while iterating may or may not come). The store's lock is
        not held between batches.

        Raises:
            ValueError: ``batch_rows`` is not a whole number, 1 or more.
            DatabaseError: the store is closed, or ``record_id_column`` is a data column.
        """
        path = validate_record_path(path)
        check_batch_rows(batch_rows)
        with self._lock:
            schema = self._readable_schema(path, record_id_column)
            if schema is None:
                return iter(())
            pieces = self._iter_all(path, batch_rows)
        return _presented(_rebatched(pieces, batch_rows), record_id_column)

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records whose columns equal every value in ``column_values``, or None.

        A value of None matches nulls, in a column of any type; an empty mapping
        matches every record.

        Raises:
            DatabaseError: a column does not exist at ``path``, a value does not
                convert to its column's type, or a value other than None is
                given for a column that cannot be compared (a map, list or
                struct).
        """
        path = validate_record_path(path)
        if not isinstance(column_values, Mapping):
            raise TypeError(
                f"column_values must be a mapping of column name to value, got "
                f"{type(column_values).__name__} {column_values!r:.80}; "
                "write e.g. {'name': value}"
            )

        def matching(schema: pa.Schema) -> pa.Table | None:
            for name in column_values:
                if schema.get_field_index(name) < 0:
                    raise DatabaseError(
                        f"path {path!r} has no column {name!r} to match; its columns are "
                        f"{schema.names}"
                    )
            return self._read_matching(path, schema, column_values)

        return self._read(path, record_id_column, matching)

    def get_new_records(
        self,
        path: RecordPath,
        cursor: RecordCursor | None = None,
        *,
        record_id_column: str | None = None,
    ) -> tuple[pa.Table | None, RecordCursor]:
        """The records at ``path`` that ``cursor`` has not returned yet, and the cursor.

        Without a cursor, every record (stored and pending) and a new cursor;
        with one, only the records added since it last read, each once
        (updating ``cursor`` in place, and returning it). Followers of a
        growing path (``orcapod logs --follow``) poll with it: the engine
        reads only what was stored since its last position where it can
        (see :meth:`_read_new`), else everything, filtered here.

        Raises:
            TypeError, ValueError: ``cursor`` was not returned by a read of ``path``.
        """
        path = validate_record_path(path)
        cursor = RecordCursor.checked(path, cursor)
        with self._lock:
            schema = self._readable_schema(path, record_id_column)
            if schema is None:
                return None, cursor
            rows, position = self._read_new(path, cursor.position)
            fresh = cursor.keep_unseen(rows, None if rows is None else rows.column(0))
            cursor.position = position
        if fresh is None:
            return None, cursor
        if record_id_column is None:
            return fresh.remove_column(0), cursor
        return fresh.rename_columns([record_id_column, *fresh.column_names[1:]]), cursor

    def _read(
        self,
        path: RecordPath,
        record_id_column: str | None,
        read: Callable[[pa.Schema], pa.Table | None],
    ) -> pa.Table | None:
        """What ``read(path's schema)`` returns, presented as the contract says."""
        with self._lock:
            schema = self._readable_schema(path, record_id_column)
            if schema is None:
                return None
            rows = read(schema)
        if rows is None or rows.num_rows == 0:
            return None
        if record_id_column is None:
            return rows.remove_column(0)
        return rows.rename_columns([record_id_column, *rows.column_names[1:]])

    def _readable_schema(self, path: RecordPath, record_id_column: str | None) -> pa.Schema | None:
        """The schema of ``path`` for a read (None: no records), ``record_id_column`` checked."""
        self._require_open()
        schema = self._path_schema(path)
        if schema is not None and record_id_column is not None:
            _check_record_id_column(path, schema, record_id_column)
        return schema

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        """Every path holding stored or pending records whose first names are ``prefix``."""
        if isinstance(prefix, tuple | list) and not prefix:
            prefix = ()
        else:
            prefix = validate_record_path(prefix)
        with self._lock:
            self._require_open()
            found = set(self._list_paths(prefix))
        return sorted(path for path in found if path[: len(prefix)] == prefix)

    def _require_open(self) -> None:
        if self._closed:
            raise DatabaseError(self._closed_message())


def _rebatched(
    pieces: Iterable[pa.Table | pa.RecordBatch], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """``pieces`` as record batches of exactly ``batch_rows`` rows but the last (fewer),
    none empty, all in the first piece's schema: pieces are cut where they are larger
    and joined where smaller (a copy of at most one batch); slices otherwise copy nothing."""
    schema: pa.Schema | None = None
    waiting: list[pa.RecordBatch] = []
    waiting_rows = 0
    for piece in pieces:
        for batch in piece.to_batches() if isinstance(piece, pa.Table) else (piece,):
            if batch.num_rows == 0:
                continue
            if schema is None:
                schema = batch.schema
            elif not batch.schema.equals(schema, check_metadata=True):
                batch = _in_schema(batch, schema)
            while batch.num_rows:
                room = batch_rows - waiting_rows
                head = batch.slice(0, room)
                batch = batch.slice(head.num_rows)
                if not waiting and head.num_rows == batch_rows:
                    yield head
                    continue
                waiting.append(head)
                waiting_rows += head.num_rows
                if waiting_rows == batch_rows:
                    yield _joined(waiting)
                    waiting, waiting_rows = [], 0
    if waiting:
        yield _joined(waiting)


def _in_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``: its metadata, or its types where an engine's piece differs."""
    if batch.schema.equals(schema, check_metadata=False):
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    return batch.rename_columns(schema.names).cast(schema)


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


def _presented(
    batches: Iterator[pa.RecordBatch], record_id_column: str | None
) -> Iterator[pa.RecordBatch]:
    """Engine batches (ids in column 0) with the ids dropped, or in ``record_id_column``."""
    for batch in batches:
        if record_id_column is None:
            yield batch.remove_column(0)
        else:
            yield batch.rename_columns([record_id_column, *batch.schema.names[1:]])


# -- the rules, for engines checking again at commit ------------------------------------


def _require_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")


def _require_id(name: str, value: object) -> None:
    """A record id is a ``str`` that UTF-8 can encode (every store keeps ids as text)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as error:
            raise ValueError(
                f"{name} {value!r} is not valid text: {error.reason} at position "
                f"{error.start}; ids are stored as UTF-8, so use ids without lone surrogates"
            ) from error


def _distinct_ids(record_ids: object) -> list[str]:
    """``record_ids`` checked to be a collection of ids, without repeats."""
    if isinstance(record_ids, str | bytes):
        raise TypeError(
            f"record_ids must be a collection of ids, got the single id {record_ids!r}; "
            f"pass [{record_ids!r}] or use get_record_by_id"
        )
    try:
        wanted = list(dict.fromkeys(record_ids))  # type: ignore[call-overload]
    except TypeError as error:
        raise TypeError(
            f"record_ids must be a collection of str ids, got {type(record_ids).__name__} "
            f"{record_ids!r:.80} ({error}); pass e.g. ['id-1', 'id-2']"
        ) from error
    if not all(type(record_id) is str for record_id in wanted) or not "".join(wanted).isascii():
        for record_id in wanted:
            _require_id("each of record_ids", record_id)
    return wanted


def _require_table(name: str, value: object) -> None:
    if not isinstance(value, pa.Table):
        raise TypeError(
            f"{name} must be a pyarrow.Table, got {type(value).__name__}; convert a record "
            "batch with pyarrow.Table.from_batches([batch])"
        )


def _record_id_column(
    path: RecordPath, records: pa.Table, record_id_column: str
) -> pa.ChunkedArray:
    """The ``record_id_column`` of ``records``, checked to be non-null strings."""
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
            f"record id column {record_id_column!r} for path {path!r} is {column.type}, "
            f"but record ids are strings; cast it, e.g. records.set_column({found[0]}, "
            f"{record_id_column!r}, records[{record_id_column!r}].cast(pyarrow.large_string()))"
        )
    if column.null_count:
        raise RecordSchemaError(
            f"record id column {record_id_column!r} for path {path!r} has "
            f"{column.null_count} null id(s); every record needs an id"
        )
    return column


def _check_unique_names(path: RecordPath, schema: pa.Schema) -> None:
    """The first records at a path fix its schema: names must be unique."""
    repeated = [name for name, count in Counter(schema.names).items() if count > 1]
    if repeated:
        raise RecordSchemaError(
            f"records for path {path!r} have more than one column named "
            f"{', '.join(map(repr, repeated))}; rename them so each column name is unique"
        )


def check_schema(path: RecordPath, stored: pa.Schema, given: pa.Schema) -> None:
    """Refuse ``given`` unless it is ``stored`` exactly: names, order, types, nullability.

    Raises:
        RecordSchemaError: naming the path, every column that differs and the fix.
    """
    if given.equals(stored, check_metadata=False):
        return
    raise RecordSchemaError(
        f"records for path {path!r} do not fit the schema stored there: "
        f"{'; '.join(schema_differences(stored, given))}. Cast the records to the stored "
        f"schema (records.cast(schema), schema = {_describe_schema(stored)}) or store them "
        "under another path"
    )


def schema_differences(stored: pa.Schema, given: pa.Schema) -> list[str]:
    """Each way ``given`` differs from ``stored``, as a phrase naming the column."""
    given_fields = {field.name: field for field in given}
    stored_fields = {field.name: field for field in stored}
    differences = []
    for field in stored:
        other = given_fields.get(field.name)
        if other is None:
            differences.append(f"column {field.name!r} ({_describe(field)}) is missing")
        elif not other.equals(field):
            differences.append(
                f"column {field.name!r} is {_describe(other)} here but {_describe(field)} "
                "in the stored records"
            )
    differences += [
        f"column {field.name!r} ({_describe(field)}) is not in the stored records"
        for field in given
        if field.name not in stored_fields
    ]
    if not differences and len(given.names) != len(set(given.names)):
        differences.append(f"column names repeat: {given.names}")
    if not differences:
        differences.append(
            f"the columns come in the order {given.names} but are stored in the order "
            f"{stored.names} (reorder them with records.select({stored.names}))"
        )
    return differences


def _describe(field: pa.Field) -> str:
    return f"{field.type}" if field.nullable else f"{field.type} not null"


def _describe_schema(schema: pa.Schema) -> str:
    return "{" + ", ".join(f"{f.name!r}: {_describe(f)}" for f in schema) + "}"


def first_new_occurrences(ids: list[str], known: Set[str]) -> list[bool]:
    """Which rows hold the first occurrence of an id not in ``known``."""
    seen: set[str] = set()
    keep = []
    for record_id in ids:
        keep.append(record_id not in known and record_id not in seen)
        seen.add(record_id)
    return keep


def duplicates_message(path: RecordPath, ids: list[str], known: Set[str]) -> str:
    """The error of a batch holding ids in ``known`` or repeated: lists some of each."""
    seen: set[str] = set()
    stored: dict[str, None] = {}
    repeated: dict[str, None] = {}
    for record_id in ids:
        if record_id in known:
            stored[record_id] = None
        elif record_id in seen:
            repeated[record_id] = None
        seen.add(record_id)
    parts = []
    if stored:
        parts.append(f"record id(s) already stored there: {preview_ids(list(stored))}")
    if repeated:
        parts.append(f"record id(s) repeated within the batch: {preview_ids(list(repeated))}")
    return (
        f"cannot add to path {path!r}: {'; '.join(parts)}. Nothing was added; pass "
        "skip_duplicates=True to keep the first record of each id and drop the rest"
    )


def preview_ids(ids: list[str]) -> str:
    """The first few of ``ids``, and how many more there are."""
    shown = ", ".join(map(repr, ids[:PREVIEW]))
    return shown if len(ids) <= PREVIEW else f"{shown} and {len(ids) - PREVIEW} more"


def _check_record_id_column(path: RecordPath, schema: pa.Schema, record_id_column: str) -> None:
    _require_str("record_id_column", record_id_column)
    if record_id_column in schema.names:
        raise DatabaseError(
            f"record_id_column {record_id_column!r} is also a data column at path {path!r}; "
            f"choose a name for the ids that is not one of {schema.names}"
        )


def equal_mask(
    path: RecordPath, name: str, column: pa.Array | pa.ChunkedArray, value: Any
) -> pa.Array | pa.ChunkedArray:
    """Which values of ``column`` equal ``value`` (None: which are null), never null.

    None matches the nulls of a column of any type, maps, lists and structs
    included; those types match no other value.

    Raises:
        DatabaseError: ``value`` is not None and the column is a map, list or
            struct (which cannot be compared), or ``value`` does not convert
            to the column's type; naming the column and the value.
    """
    import pyarrow.compute as pc

    if value is None:
        return pc.is_null(column)
    if pa.types.is_nested(column.type):
        raise _unmatchable(path, name, column.type, value)
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
        raise _unmatchable(path, name, column.type, value) from error


def _unmatchable(path: RecordPath, name: str, arrow_type: pa.DataType, value: Any) -> DatabaseError:
    return DatabaseError(
        f"cannot match column {name!r} ({arrow_type}) at path {path!r} against {value!r:.80}: "
        "its type cannot be matched by value; read get_all_records(path) and filter it "
        "instead, or pass None to match the records where it is null"
    )
