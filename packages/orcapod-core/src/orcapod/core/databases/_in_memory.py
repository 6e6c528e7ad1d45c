"""InMemoryArrowDatabase: every record in this process's memory, found through an id index."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.protocols.store import BaseArrowDatabase

if TYPE_CHECKING:
    from collections.abc import Iterable, Set

    from orcapod.protocols.store import NewRecords
    from orcapod.protocols.values import RecordPath

__all__ = ["InMemoryArrowDatabase"]

SEGMENT_ROWS = 1 << 16
"""Segments stop merging at this many rows, so a row is copied at most ~17 times."""

RECENT_BATCHES = 1024
"""Batches added since the last read are concatenated into a segment at this count."""

FEW_ROWS = 16
"""Lookups of at most this many rows slice them out instead of concatenating and taking."""

_ID_FIELD = pa.field("__record_id", pa.large_string(), nullable=False)


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

    def segments(self) -> list[pa.Table]:
        """Every stored row, as the segments holding them now (stored tables, ids first)."""
        self._compact()
        return list(self._segments)

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


class InMemoryArrowDatabase(BaseArrowDatabase):
    """An ArrowDatabase that keeps every record in this process's memory.

    Records are found through an index from id to row, so adding a record and
    looking one up cost the same with ten records stored or ten million, and
    a lookup of many ids is one ``take`` per stored segment. Nothing is ever
    written anywhere: every record is visible at once, :meth:`flush` has
    nothing to do, and :meth:`close` releases every record (like closing an
    SQLite ``:memory:`` connection). Safe to share between threads.
    """

    def __init__(self) -> None:
        super().__init__()
        self._paths: dict[RecordPath, _PathRecords] = {}

    uri = "memory://"
    """What ``open_database`` opens one like it with (a new, empty one: memory is not shared)."""

    def __repr__(self) -> str:
        if self._closed:
            return "InMemoryArrowDatabase(closed)"
        records = sum(stored.row_count for stored in self._paths.values())
        return f"InMemoryArrowDatabase({len(self._paths)} paths, {records} records)"

    # -- the engine (BaseArrowDatabase holds the contract's rules) -------------------------

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        stored = self._paths.get(path)
        return None if stored is None else stored.data_schema

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        return self._paths[path].row_of.keys() & ids

    def _keep(self, records: NewRecords) -> None:
        if records.new_path:
            self._paths[records.path] = _PathRecords(records.data.schema)
        self._paths[records.path].append(records.ids, records.data)

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        stored = self._paths[path]
        row_of = stored.row_of
        rows = sorted(row for rid in ids if (row := row_of.get(rid)) is not None)
        return stored.rows(rows) if rows else None

    def _read_record(self, path: RecordPath, record_id: str) -> pa.Table | None:
        stored = self._paths[path]
        row = stored.row_of.get(record_id)
        return None if row is None else stored.record(row)

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        return self._paths[path].whole()

    def _iter_all(self, path: RecordPath, batch_rows: int) -> Iterable[pa.Table]:
        """The segments of the path as they are now: batches are slices of them (no copy)."""
        return self._paths[path].segments()

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        return list(self._paths)

    def _close(self) -> None:
        """Release every record; later calls (other than ``close``) raise DatabaseError."""
        self._paths.clear()

    def _closed_message(self) -> str:
        return (
            "this InMemoryArrowDatabase is closed and its records were released; "
            "create a new InMemoryArrowDatabase, and keep a database open until you "
            "have read what you need from it"
        )
