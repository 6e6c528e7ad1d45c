"""The storage contract every orcapod database backend fulfils."""

from __future__ import annotations

import inspect
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orcapod.protocols.errors import InvalidRecordPathError

if TYPE_CHECKING:
    import pyarrow as pa

    from orcapod.protocols.values import RecordPath

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_RETENTION_HOURS",
    "MAX_PATH_COMPONENT_LENGTH",
    "ArrowDatabase",
    "Compaction",
    "RecordCursor",
    "add_new_records",
    "check_batch_rows",
    "creating_no_stores",
    "flush_paths",
    "iter_records",
    "may_create_stores",
    "read_new_records",
    "validate_record_path",
]

MAX_PATH_COMPONENT_LENGTH = 128
_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=\-]*")


def validate_record_path(path: Sequence[str]) -> RecordPath:
    """Check that ``path`` is safe to use as table and file names anywhere.

    Each component must be 1-128 characters of letters, digits, ``_``, ``-``,
    ``.`` and ``=``, not starting with ``.`` or ``-`` (so never ``..``). That
    rules out separators, quotes, NUL, whitespace and shell or SQL
    metacharacters, so backends may build file paths and quoted SQL names
    from the components directly.

    Returns:
        The path as a tuple.

    Raises:
        InvalidRecordPathError: naming the offending component and the rule.
    """
    if isinstance(path, str | bytes) or not isinstance(path, Sequence):
        raise InvalidRecordPathError(
            f"record path {path!r} must be a tuple of names, e.g. ('pipeline', 'node')"
        )
    if not path:
        raise InvalidRecordPathError("record path is empty; give at least one name")
    for component in path:
        if not isinstance(component, str):
            raise InvalidRecordPathError(
                f"record path {tuple(path)!r}: component {component!r} is a "
                f"{type(component).__name__}, not a str"
            )
        if len(component) > MAX_PATH_COMPONENT_LENGTH:
            raise InvalidRecordPathError(
                f"record path {tuple(path)!r}: component {component[:20]!r}... is "
                f"{len(component)} characters long; the limit is {MAX_PATH_COMPONENT_LENGTH}"
            )
        if not _COMPONENT.fullmatch(component):
            raise InvalidRecordPathError(
                f"record path {tuple(path)!r}: component {component!r} is not allowed; "
                "use letters, digits, '_', '-', '.' and '=', not starting with '.' or '-'"
            )
    return tuple(path)


@runtime_checkable
class ArrowDatabase(Protocol):
    """A store of Arrow records, grouped in tables addressed by a record path.

    Every record has a string id, unique within its path. Rows added and not
    yet flushed are *pending*: backends may buffer them, but reads in the
    same process always see them. Backends validate every path with
    :func:`validate_record_path` before using it.

    Reads return ``None`` when nothing matches (an unknown path, no such id).
    When ``record_id_column`` is given, the returned table carries the record
    ids in a column of that name (first, ``string`` or ``large_string``);
    otherwise ids are not returned. Each record comes back at most once per
    read; the order of rows is unspecified. A path exists once it holds a
    record: an empty batch, or one whose rows were all skipped as duplicates,
    creates none. The first records at a path fix its schema (names, order,
    types and nullability; metadata is not compared). After :meth:`close`,
    every method but ``close`` raises :class:`DatabaseError`.

    A backend may also offer a ``uri`` attribute: the URI that opens the same
    store again through the plugin registry (without secrets). Pipelines
    record it with every run, so that a run's records say where they live.

    A backend may also offer incremental reads, ``get_new_records(path,
    cursor=None, *, record_id_column=None)`` returning ``(table or None,
    cursor)``: the records at ``path`` that ``cursor`` has not returned yet
    (all of them without a cursor), each once across calls, and the cursor to
    pass next time. Readers call it through :func:`read_new_records`, which
    reads any other backend whole and drops what it returned before. The
    store toolkit (:class:`~orcapod.protocols.store.BaseArrowDatabase`) has it,
    and its engines may read only what is new (``_read_new``).

    A backend may also offer reads in batches, for paths larger than memory:
    ``iter_all_records(path, *, batch_rows=DEFAULT_BATCH_ROWS,
    record_id_column=None)`` returning an iterator of ``pyarrow.RecordBatch``:
    the rows :meth:`get_all_records` returns (stored and pending, the same
    columns and types), in batches of at most ``batch_rows`` rows, never
    empty, read as they are asked for, so that memory holds about one batch.
    An unknown path yields no batch (where ``get_all_records`` returns None).
    The path is checked, and a closed store refused, at the call; the rows are
    those stored or pending then (rows added while iterating may or may not
    come), each once. Callers go through :func:`iter_records`, which reads any
    other backend whole and cuts it into batches. The store toolkit has it
    (:meth:`~orcapod.protocols.store.BaseArrowDatabase.iter_all_records`).

    A backend may also take ``new_ids`` (keyword only, default false) in
    :meth:`add_records`: the caller vouches that every id of the batch is new
    at the path (ids unique by construction), so the backend adds the rows
    without looking for duplicates: it reads no stored id and builds no index
    of them, at the add or at the commit. Writers call it through
    :func:`add_new_records`, which adds to any other backend with its
    duplicate check. The store toolkit has it.

    A backend whose reads slow down as small writes accumulate may also offer
    ``compact(*, retention_hours)`` returning a list of :class:`Compaction`:
    rewrite its tables into fewer files and delete the files no table version
    younger than ``retention_hours`` needs (``orcapod compact URI`` calls it).
    It must be safe while other processes read; it need not be while they write.
    """

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
            DuplicateRecordError: the id is stored or pending and
                ``skip_duplicates`` is false.
            RecordSchemaError: the table is not exactly one row, or does not
                fit the path's schema (naming the path and the column).
        """
        ...

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

        The id column is not stored as a data column. With ``skip_duplicates``,
        rows whose id is already stored, pending, or earlier in ``records`` are
        dropped; without it, any such row rejects the whole batch and nothing
        of it is stored.

        Raises:
            DuplicateRecordError: a duplicate id without ``skip_duplicates``.
            RecordSchemaError: the id column is missing, not strings, or has
                nulls, or the data columns do not fit the path's schema.
        """
        ...

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """The record stored under ``record_id``, as a one-row table."""
        ...

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records stored under any of ``record_ids``, in one vectorised lookup.

        Unknown ids are left out. ``record_ids`` is a collection of strings; a
        single ``str`` is refused with ``TypeError`` rather than read as its
        characters.
        """
        ...

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """Every record at ``path``, stored and pending."""
        ...

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records whose columns equal every value in ``column_values``.

        ``None`` matches nulls, in a column of any type (maps, lists and
        structs included); an empty mapping matches every record.

        Raises:
            DatabaseError: a column that is not stored at the path, or a value
                other than ``None`` for a column whose type cannot be compared
                for equality (maps, lists, structs).
        """
        ...

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        """Every path holding records (stored or pending) that starts with ``prefix``."""
        ...

    def flush(self) -> None:
        """Make every pending record durable, as one transaction per path where possible.

        A failure is raised here, never swallowed; nothing pending is lost.

        A backend may also take ``paths`` (``flush(paths=...)``, keyword only):
        then only those paths' pending records are made durable, and only their
        failure is raised. Writers sharing a database flush what they wrote
        through :func:`flush_paths`, so that records one of them cannot store
        never fail another's flush.
        """
        ...

    def close(self) -> None:
        """Flush and release resources. Closing twice is harmless."""
        ...


DEFAULT_BATCH_ROWS = 65_536
"""Rows per batch of reads in batches (``iter_all_records``, :func:`iter_records`) by default."""


def check_batch_rows(batch_rows: object) -> int:
    """``batch_rows`` checked to be a whole number of rows, 1 or more.

    Raises:
        ValueError: it is not an int (a bool is not), or less than 1.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(
            f"batch_rows must be a whole number of rows, 1 or more, got {batch_rows!r}"
        )
    return batch_rows


def iter_records(
    database: ArrowDatabase,
    path: RecordPath,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    record_id_column: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """The records at ``path`` (stored and pending) as record batches of at most
    ``batch_rows`` rows: what ``get_all_records`` returns, never a whole table at once
    where the store can read in batches.

    A database with ``iter_all_records`` (every store built on the store
    toolkit) reads in batches itself; any other is read whole
    (``get_all_records``) and cut into batches. An unknown path yields none;
    no batch is empty.

    Raises:
        ValueError: ``batch_rows`` is not a whole number, 1 or more.
    """
    check_batch_rows(batch_rows)
    native = getattr(database, "iter_all_records", None)
    if native is not None:
        batches: Iterator[pa.RecordBatch] = native(
            path, batch_rows=batch_rows, record_id_column=record_id_column
        )
        return batches
    table = database.get_all_records(path, record_id_column=record_id_column)
    if table is None:
        return iter(())
    return (b for b in table.to_batches(max_chunksize=batch_rows) if b.num_rows)


def add_new_records(
    database: ArrowDatabase,
    path: RecordPath,
    records: pa.Table,
    record_id_column: str,
    *,
    flush: bool = False,
) -> None:
    """Add ``records`` whose ids the caller made new at ``path`` (unique by construction,
    such as a run id and a running number), without the store looking for duplicates.

    A database whose ``add_records`` takes ``new_ids`` (every store built on
    the store toolkit) is given ``new_ids=True``: it reads no stored id. Any
    other adds them as usual, its duplicate check included.

    Raises:
        DatabaseError: as ``add_records`` raises.
    """
    if _takes_new_ids(type(database)):
        database.add_records(  # type: ignore[call-arg]
            path, records, record_id_column, flush=flush, new_ids=True
        )
    else:
        database.add_records(path, records, record_id_column, flush=flush)


_TAKES_NEW_IDS: dict[type, bool] = {}


def _takes_new_ids(kind: type) -> bool:
    """Whether ``kind.add_records`` takes a ``new_ids`` keyword (asked once per class)."""
    known = _TAKES_NEW_IDS.get(kind)
    if known is None:
        known = _TAKES_NEW_IDS[kind] = _takes_keyword(getattr(kind, "add_records", None), "new_ids")
    return known


def _takes_keyword(method: object, name: str) -> bool:
    try:
        parameters = inspect.signature(method).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    found = parameters.get(name)
    return found is not None and found.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


def flush_paths(database: ArrowDatabase, paths: Collection[RecordPath]) -> None:
    """Make the pending records of ``paths`` durable: the flush of one writer of a shared
    database, which another writer's unflushable records do not fail.

    A database whose ``flush`` takes ``paths`` flushes only those; any other
    flushes everything it holds.

    Raises:
        DatabaseError: flushing those paths (or, without ``paths``, any) failed.
    """
    if _flushes_paths(type(database)):
        database.flush(paths=paths)  # type: ignore[call-arg]
    else:
        database.flush()


_FLUSHES_PATHS: dict[type, bool] = {}


def _flushes_paths(kind: type) -> bool:
    """Whether ``kind.flush`` takes a ``paths`` keyword (asked once per class)."""
    known = _FLUSHES_PATHS.get(kind)
    if known is None:
        try:
            parameters = inspect.signature(kind.flush).parameters  # type: ignore[attr-defined]
        except (AttributeError, TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        found = parameters.get("paths")
        known = found is not None and found.kind in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
        _FLUSHES_PATHS[kind] = known
    return known


DEFAULT_RETENTION_HOURS = 168
"""What a backend's ``compact`` keeps by default, and ``orcapod compact``: the files that
table versions of the last 7 days (Delta's own default) read."""


@dataclass(frozen=True)
class Compaction:
    """What compacting one table of a store did (the optional ``compact`` of a backend).

    Attributes:
        path: the record path of the table.
        files_before: its data files in use before.
        files_after: its data files in use after.
        files_deleted: files removed from disk (no longer used by any version kept).
    """

    path: RecordPath
    files_before: int
    files_after: int
    files_deleted: int


class RecordCursor:
    """Where incremental reads of one path got to: give it to the next read of that path.

    A cursor belongs to one path of one open database; reads update it in
    place and return it. ``seen`` holds the ids already returned, so no record
    is returned twice; ``position`` is the store's own mark of what it has
    read (a Delta table version, a SQLite rowid), None where it has none.
    """

    __slots__ = ("path", "position", "seen")

    def __init__(self, path: RecordPath) -> None:
        self.path = path
        self.position: object = None
        self.seen: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"RecordCursor({self.path!r}, position={self.position!r}, "
            f"{len(self.seen)} record(s) returned)"
        )

    @classmethod
    def checked(cls, path: RecordPath, cursor: RecordCursor | None) -> RecordCursor:
        """``cursor``, or a new one, for ``path``; refuses a cursor of another path."""
        if cursor is None:
            return cls(path)
        if not isinstance(cursor, RecordCursor):
            raise TypeError(
                f"cursor must be a RecordCursor returned by an earlier read, or None, got "
                f"{type(cursor).__name__}"
            )
        if cursor.path != path:
            raise ValueError(
                f"the cursor is of path {cursor.path!r}, not {path!r}; keep one cursor per path"
            )
        return cursor

    def keep_unseen(
        self, rows: pa.Table | None, ids: pa.Array | pa.ChunkedArray | None
    ) -> pa.Table | None:
        """The ``rows`` whose ``ids`` (aligned) were not returned before; remembers them."""
        if rows is None or ids is None or rows.num_rows == 0:
            return None
        seen = self.seen
        fresh: list[bool] = []
        for record_id in ids.to_pylist():
            fresh.append(record_id not in seen)
            seen.add(record_id)
        if all(fresh):
            return rows
        import pyarrow as pa

        kept = rows.filter(pa.array(fresh, pa.bool_()))
        return kept if kept.num_rows else None


def read_new_records(
    database: ArrowDatabase,
    path: RecordPath,
    cursor: RecordCursor | None = None,
    *,
    record_id_column: str | None = None,
) -> tuple[pa.Table | None, RecordCursor]:
    """The records at ``path`` that ``cursor`` has not returned yet (None: none), and the
    cursor for the next read; without a cursor, every record.

    Each record is returned once across the reads of one cursor, stored or
    pending alike. A database with ``get_new_records`` (every store built on
    the store toolkit) answers itself, reading only what is new where its
    engine can; any other is read whole (``get_all_records``) and what was
    returned before is dropped, so every backend can be followed.

    Raises:
        TypeError, ValueError: ``cursor`` is not one this path's reads returned.
    """
    native = getattr(database, "get_new_records", None)
    if native is not None:
        rows, found = native(path, cursor, record_id_column=record_id_column)
        return rows, found
    path = validate_record_path(path)
    cursor = RecordCursor.checked(path, cursor)
    ids_name = record_id_column or "__read_new_records_id"
    rows = database.get_all_records(path, record_id_column=ids_name)
    if rows is None:
        return None, cursor
    fresh = cursor.keep_unseen(rows, rows.column(0))
    if fresh is None or record_id_column is not None:
        return fresh, cursor
    return fresh.remove_column(0), cursor


_CREATING_NO_STORES: ContextVar[bool] = ContextVar("orcapod_creating_no_stores", default=False)


@contextmanager
def creating_no_stores() -> Iterator[None]:
    """Within it, no store is created, for commands that only read (``orcapod graph``).

    A store opened by URI that does not exist opens as a new, empty in-memory
    store (``orcapod.core.plugins.open_database``). A store class that creates
    its store when constructed (``create=True``, the default) checks
    :func:`may_create_stores` instead: within this block it opens a store
    that exists as with ``create=False``, and one that does not as an empty
    store that keeps what it is given in memory and writes nothing. An
    explicit ``create=False`` keeps its meaning: the store must exist.
    """
    token = _CREATING_NO_STORES.set(True)
    try:
        yield
    finally:
        _CREATING_NO_STORES.reset(token)


def may_create_stores() -> bool:
    """Whether a store opened now may be created: false within :func:`creating_no_stores`."""
    return not _CREATING_NO_STORES.get()
