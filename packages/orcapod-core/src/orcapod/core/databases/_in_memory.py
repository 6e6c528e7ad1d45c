"""InMemoryArrowDatabase: every record in this process's memory, found through an id index."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import DatabaseError, DuplicateRecordError, RecordSchemaError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from types import TracebackType

    from orcapod.protocols.values import RecordPath

__all__ = ["InMemoryArrowDatabase"]

SEGMENT_ROWS = 1 << 16
"""Segments stop merging at this many rows, so a row is copied at most ~17 times."""

RECENT_BATCHES = 1024
"""Batches added since the last read are concatenated into a segment at this count."""

FEW_ROWS = 16
"""Lookups of at most this many rows slice them out instead of concatenating and taking."""

_ID_FIELD = pa.field("__record_id", pa.large_string(), nullable=False)
_PREVIEW = 5


def _concatenate(tables: list[pa.Table]) -> pa.Table:
    """One contiguous table (one chunk per column) holding ``tables`` in order.

    Every copy of stored rows goes through here, so tests can count them.
    """
    return pa.concat_tables(tables).combine_chunks()


def _should_merge(older_rows: int, newer_rows: int) -> bool:
    """Merge the two newest segments until sizes halve from oldest to newest, or get big."""
    return older_rows < 2 * newer_rows and older_rows + newer_rows <= SEGMENT_ROWS


class _PathRecords:
    """The records at one path: an id index over appended batches merged into segments.

    Batches added since the last read wait as they came, their ids in a plain
    list. Lookups of one id, or of a few, slice rows out where they lie. The
    next read of more (or the ``RECENT_BATCHES``-th batch) concatenates the
    waiting batches once into a segment: a table holding the record ids as
    column 0 and the data columns after it. The newest segments are then
    merged log-structured, so each row is copied a bounded number of times
    however reads and writes interleave, and every segment is contiguous for
    a vectorised ``take``.
    """

    def __init__(self, data_schema: pa.Schema) -> None:
        self.data_schema = data_schema
        self.stored_schema = pa.schema([_ID_FIELD, *data_schema], metadata=data_schema.metadata)
        self.row_of: dict[str, int] = {}
        self.row_count = 0
        self._segments: list[pa.Table] = []
        self._segment_starts: list[int] = []
        self._recent: list[pa.Table] = []
        self._recent_starts: list[int] = []
        self._recent_ids: list[str] = []
        self._whole: pa.Table | None = None

    def append(self, ids: list[str], data: pa.Table) -> None:
        """Store ``data`` under ``ids`` (checked unique and unknown by the caller)."""
        start = self.row_count
        self.row_of.update(zip(ids, range(start, start + len(ids)), strict=True))
        self._recent.append(data)
        self._recent_starts.append(start)
        self._recent_ids += ids
        self.row_count += len(ids)
        self._whole = None
        if len(self._recent) >= RECENT_BATCHES:
            self._compact()

    def record(self, number: int) -> pa.Table:
        """Row ``number``'s data columns as a one-row table, without concatenating anything."""
        if self._recent and number >= self._recent_starts[0]:
            index = bisect_right(self._recent_starts, number) - 1
            batch = self._recent[index]
            record = batch.slice(number - self._recent_starts[index], 1)
            if batch.schema.metadata != self.data_schema.metadata:
                record = record.replace_schema_metadata(self.data_schema.metadata)
            return record
        index = bisect_right(self._segment_starts, number) - 1
        segment = self._segments[index]
        return segment.slice(number - self._segment_starts[index], 1).remove_column(0)

    def rows(self, numbers: list[int]) -> pa.Table:
        """The rows ``numbers`` (sorted, unique, non-empty) as a stored table.

        A few rows are sliced out where they lie, so looking up the record
        just added costs no concatenation; more are taken with one vectorised
        ``take`` per segment they fall in.
        """
        if len(numbers) <= FEW_ROWS:
            pieces = [self._stored_row(number) for number in numbers]
            return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        self._compact()
        pieces = []
        first = 0
        while first < len(numbers):
            index = bisect_right(self._segment_starts, numbers[first]) - 1
            start = self._segment_starts[index]
            segment = self._segments[index]
            end = bisect_left(numbers, start + segment.num_rows, first)
            offsets = pa.array([n - start for n in numbers[first:end]], pa.int64())
            pieces.append(segment.take(offsets))
            first = end
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def _stored_row(self, number: int) -> pa.Table:
        """Row ``number`` as a one-row stored table (ids first), without concatenating."""
        if self._recent and number >= self._recent_starts[0]:
            record_id = self._recent_ids[number - self._recent_starts[0]]
            ids = pa.array([record_id], pa.large_string())
            columns = self.record(number).columns
            return pa.Table.from_arrays([ids, *columns], schema=self.stored_schema)
        index = bisect_right(self._segment_starts, number) - 1
        return self._segments[index].slice(number - self._segment_starts[index], 1)

    def whole(self) -> pa.Table:
        """Every stored row, concatenated once and cached until the next write."""
        if self._whole is None:
            self._compact()
            self._whole = pa.concat_tables(self._segments)
        return self._whole

    def _compact(self) -> None:
        """Concatenate the recent batches into a segment, then merge the newest segments."""
        if not self._recent:
            return
        data = _concatenate(self._recent)
        ids = pa.array(self._recent_ids, pa.large_string())
        segment = pa.Table.from_arrays([ids, *data.columns], schema=self.stored_schema)
        self._segments.append(segment)
        self._segment_starts.append(self._recent_starts[0])
        self._recent, self._recent_starts, self._recent_ids = [], [], []
        while len(self._segments) >= 2 and _should_merge(
            self._segments[-2].num_rows, self._segments[-1].num_rows
        ):
            newer = self._segments.pop()
            self._segment_starts.pop()
            self._segments[-1] = _concatenate([self._segments[-1], newer])


class InMemoryArrowDatabase:
    """An ArrowDatabase that keeps every record in this process's memory.

    Records are found through an index from id to row, so adding a record and
    looking one up cost the same with ten records stored or ten million, and
    a lookup of many ids is one ``take`` per stored segment. Nothing is ever
    written anywhere: every record is visible at once, :meth:`flush` has
    nothing to do, and :meth:`close` releases every record (like closing an
    SQLite ``:memory:`` connection). Safe to share between threads.
    """

    def __init__(self) -> None:
        self._paths: dict[RecordPath, _PathRecords] = {}
        self._lock = threading.RLock()
        self._closed = False

    uri = "memory://"
    """What ``open_database`` opens one like it with (a new, empty one: memory is not shared)."""

    def __repr__(self) -> str:
        if self._closed:
            return "InMemoryArrowDatabase(closed)"
        records = sum(stored.row_count for stored in self._paths.values())
        return f"InMemoryArrowDatabase({len(self._paths)} paths, {records} records)"

    def __enter__(self) -> InMemoryArrowDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

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
            DuplicateRecordError: ``record_id`` is stored at ``path`` and
                ``skip_duplicates`` is false.
            RecordSchemaError: ``record`` is not one row, or does not have the
                schema of the records already at ``path``.
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
            stored = self._open_path(path)
            if stored is None:
                _check_new_schema(path, record.schema)
                stored = self._paths[path] = _PathRecords(record.schema)
            else:
                _check_schema(path, stored.data_schema, record.schema)
                if record_id in stored.row_of:
                    if skip_duplicates:
                        return
                    raise DuplicateRecordError(_duplicates_message(path, [record_id], []))
            stored.append([record_id], record)

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
        whose id is stored or earlier in ``records`` are dropped instead.

        Raises:
            DuplicateRecordError: an id is stored or repeated and
                ``skip_duplicates`` is false; the error lists them.
            RecordSchemaError: ``record_id_column`` is missing, not strings or
                has nulls, or the other columns do not have the schema of the
                records already at ``path``.
        """
        path = validate_record_path(path)
        _require_table("records", records)
        ids = _record_ids(path, records, record_id_column)
        data = records.drop_columns([record_id_column])
        with self._lock:
            stored = self._open_path(path)
            if stored is None:
                _check_new_schema(path, data.schema)
            else:
                _check_schema(path, stored.data_schema, data.schema)
            known = stored.row_of if stored is not None else {}
            if skip_duplicates:
                ids, data = _first_new_occurrences(ids, data, known)
            else:
                _refuse_duplicates(path, ids, known)
            if not ids:
                return
            if stored is None:
                stored = self._paths[path] = _PathRecords(data.schema)
            stored.append(ids, data)

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """The record stored under ``record_id`` as a one-row table, or None."""
        path = validate_record_path(path)
        _require_str("record_id", record_id)
        with self._lock:
            stored = self._open_path(path)
            row = None if stored is None else stored.row_of.get(record_id)
            if stored is None or row is None:
                return None
            return _present_record(path, stored, stored.record(row), record_id, record_id_column)

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records stored under any of ``record_ids``, each once, in the order added.

        Unknown ids are left out; None when none is known.
        """
        path = validate_record_path(path)
        if isinstance(record_ids, str | bytes):
            raise TypeError(
                f"record_ids must be a collection of ids, got the single id {record_ids!r}; "
                f"pass [{record_ids!r}] or use get_record_by_id"
            )
        with self._lock:
            stored = self._open_path(path)
            if stored is None:
                return None
            row_of = stored.row_of
            rows = sorted({row for rid in record_ids if (row := row_of.get(rid)) is not None})
            if not rows:
                return None
            return _present(path, stored, stored.rows(rows), record_id_column)

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """Every record at ``path`` in the order added, or None for an unknown path."""
        path = validate_record_path(path)
        with self._lock:
            stored = self._open_path(path)
            if stored is None:
                return None
            return _present(path, stored, stored.whole(), record_id_column)

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
            DatabaseError: a column does not exist at ``path``, a value cannot
                be converted to its column's type, or the column's type (a map,
                list or struct) cannot be compared.
        """
        path = validate_record_path(path)
        with self._lock:
            stored = self._open_path(path)
            if stored is None:
                return None
            whole = stored.whole()
            mask = _matching_rows(path, stored.data_schema, whole, column_values)
            selected = whole if mask is None else whole.filter(mask)
            if selected.num_rows == 0:
                return None
            return _present(path, stored, selected, record_id_column)

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        """Every path holding records whose first names are ``prefix``, sorted."""
        prefix = _validate_prefix(prefix)
        with self._lock:
            self._require_open()
            return sorted(path for path in self._paths if path[: len(prefix)] == prefix)

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:
        """Nothing to do: every record is visible the moment it is added.

        Args:
            paths: the paths to flush (see ``ArrowDatabase.flush``); all by default.

        Raises:
            DatabaseError: the database is closed.
        """
        with self._lock:
            self._require_open()

    def close(self) -> None:
        """Release every record; later calls (other than ``close``) raise DatabaseError."""
        with self._lock:
            self._paths.clear()
            self._closed = True

    def _open_path(self, path: RecordPath) -> _PathRecords | None:
        self._require_open()
        return self._paths.get(path)

    def _require_open(self) -> None:
        if self._closed:
            raise DatabaseError(
                "this InMemoryArrowDatabase is closed and its records were released; "
                "create a new InMemoryArrowDatabase, and keep a database open until you "
                "have read what you need from it"
            )


def _require_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")


def _require_table(name: str, value: object) -> None:
    if not isinstance(value, pa.Table):
        raise TypeError(
            f"{name} must be a pyarrow.Table, got {type(value).__name__}; convert a record "
            "batch with pyarrow.Table.from_batches([batch])"
        )


def _validate_prefix(prefix: RecordPath) -> RecordPath:
    if isinstance(prefix, tuple | list) and not prefix:
        return ()
    return validate_record_path(prefix)


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
            f"record id column {record_id_column!r} for path {path!r} is {column.type}, "
            f"but record ids are strings; cast it, e.g. records.set_column({found[0]}, "
            f"{record_id_column!r}, records[{record_id_column!r}].cast(pyarrow.large_string()))"
        )
    if column.null_count:
        raise RecordSchemaError(
            f"record id column {record_id_column!r} for path {path!r} has "
            f"{column.null_count} null id(s); every record needs an id"
        )
    ids: list[str] = column.to_pylist()
    return ids


def _check_new_schema(path: RecordPath, schema: pa.Schema) -> None:
    """The first records at a path fix its schema: names must be unique."""
    repeated = [name for name, count in Counter(schema.names).items() if count > 1]
    if repeated:
        raise RecordSchemaError(
            f"records for path {path!r} have more than one column named "
            f"{', '.join(map(repr, repeated))}; rename them so each column name is unique"
        )


def _check_schema(path: RecordPath, stored: pa.Schema, given: pa.Schema) -> None:
    """Refuse ``given`` unless it is ``stored`` exactly (metadata aside)."""
    if given.equals(stored, check_metadata=False):
        return
    raise RecordSchemaError(
        f"records for path {path!r} do not fit the schema stored there: "
        f"{'; '.join(_schema_differences(stored, given))}. Cast the records to the stored "
        f"schema (records.cast(schema), schema = {_describe_schema(stored)}) or store them "
        "under another path"
    )


def _schema_differences(stored: pa.Schema, given: pa.Schema) -> list[str]:
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


def _first_new_occurrences(
    ids: list[str], data: pa.Table, known: Mapping[str, int]
) -> tuple[list[str], pa.Table]:
    """``ids`` and ``data`` without rows whose id is ``known`` or seen earlier in ``ids``."""
    # The common cases, all new and distinct or all stored already, are settled by
    # set operations in C.
    distinct = set(ids)
    if len(distinct) == len(ids) and known.keys().isdisjoint(distinct):
        return ids, data
    if distinct <= known.keys():
        return [], data.slice(0, 0)
    seen: set[str] = set()
    keep = []
    for record_id in ids:
        keep.append(record_id not in known and record_id not in seen)
        seen.add(record_id)
    if all(keep):
        return ids, data
    kept_ids = [record_id for record_id, kept in zip(ids, keep, strict=True) if kept]
    return kept_ids, data.filter(pa.array(keep, pa.bool_()))


def _refuse_duplicates(path: RecordPath, ids: list[str], known: Mapping[str, int]) -> None:
    distinct = set(ids)  # the common case, all new and distinct, settled in C
    if len(distinct) == len(ids) and known.keys().isdisjoint(distinct):
        return
    seen: set[str] = set()
    stored: dict[str, None] = {}
    repeated: dict[str, None] = {}
    for record_id in ids:
        if record_id in known:
            stored[record_id] = None
        elif record_id in seen:
            repeated[record_id] = None
        seen.add(record_id)
    if stored or repeated:
        raise DuplicateRecordError(_duplicates_message(path, list(stored), list(repeated)))


def _duplicates_message(path: RecordPath, stored: list[str], repeated: list[str]) -> str:
    parts = []
    if stored:
        parts.append(f"record id(s) already stored there: {_preview(stored)}")
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
    path: RecordPath, stored: _PathRecords, table: pa.Table, record_id_column: str | None
) -> pa.Table:
    """A segment's rows as readers get them: ids dropped, or first under ``record_id_column``."""
    if record_id_column is None:
        return table.remove_column(0)
    _check_record_id_column(path, stored, record_id_column)
    return table.rename_columns([record_id_column, *stored.data_schema.names])


def _present_record(
    path: RecordPath,
    stored: _PathRecords,
    record: pa.Table,
    record_id: str,
    record_id_column: str | None,
) -> pa.Table:
    """One record's data columns as readers get them, with its id first if asked."""
    if record_id_column is None:
        return record
    _check_record_id_column(path, stored, record_id_column)
    field = _ID_FIELD.with_name(record_id_column)
    return record.add_column(0, field, pa.array([record_id], pa.large_string()))


def _check_record_id_column(path: RecordPath, stored: _PathRecords, record_id_column: str) -> None:
    _require_str("record_id_column", record_id_column)
    if record_id_column in stored.data_schema.names:
        raise DatabaseError(
            f"record_id_column {record_id_column!r} is also a data column at path {path!r}; "
            f"choose a name for the ids that is not one of {stored.data_schema.names}"
        )


def _matching_rows(
    path: RecordPath, schema: pa.Schema, whole: pa.Table, column_values: Mapping[str, Any]
) -> pa.ChunkedArray | None:
    """A mask of the rows of ``whole`` equal to every value, or None to keep them all."""
    import pyarrow.compute as pc

    mask = None
    for name, value in column_values.items():
        index = schema.get_field_index(name)
        if index < 0:
            raise DatabaseError(
                f"path {path!r} has no column {name!r} to match; its columns are {schema.names}"
            )
        matches = _equal_to(path, name, whole.column(index + 1), value)
        mask = matches if mask is None else pc.and_(mask, matches)
    return mask


def _equal_to(path: RecordPath, name: str, column: pa.ChunkedArray, value: Any) -> Any:
    import pyarrow.compute as pc

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
