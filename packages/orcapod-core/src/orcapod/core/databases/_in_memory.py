"""InMemoryArrowDatabase: every record in this process's memory, found through an id index."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import repeat
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
"""Batches added since the last read are concatenated into a segment at this count..."""

RECENT_ROWS = SEGMENT_ROWS
"""...or once they hold this many rows: the copy a concatenation makes while the batches
still exist is of at most this many rows (and a bit), not of everything added in bulk."""

FEW_ROWS = 16
"""Lookups of at most this many rows slice them out instead of concatenating and taking."""

KEPT_BATCH_ROWS = 1024
"""Batches this big on average, their chunks too, a segment's worth of them, become a
segment as they are..."""

KEPT_SLACK_BYTES = 1 << 20
"""...unless the buffers they hold exceed twice their own bytes and this: slices of tables
much larger than what is stored, whose buffers only a copy lets go."""

_ID_FIELD = pa.field("__record_id", pa.large_string(), nullable=False)

_key = hash
"""An id's key in the index: its ``hash``, a 64-bit int (computed in C, and cached by the
``str``). Two ids may share one; the index checks the id stored in the row it finds."""


def _keys(ids: list[str]) -> list[int]:
    """The index keys of ``ids`` (computed in C: ``map``, no Python-level loop)."""
    return list(map(_key, ids))


def _concatenate(tables: list[pa.Table]) -> pa.Table:
    """One contiguous table (one chunk per column) holding ``tables`` in order.

    Every copy of stored rows goes through here, so tests can count them.
    """
    return pa.concat_tables(tables).combine_chunks()


def _segment_of(batches: list[pa.Table]) -> pa.Table:
    """``batches`` as one table: as their own chunks (no copy) when they are a segment's
    worth of big batches, in big chunks, that hold little more than their rows; else one
    contiguous copy.

    A first run adds its results in batches of thousands and may never read them
    back: copying them into a segment would only cost time (about 40 ms per
    segment of a function node's results). A segment left in chunks is made
    contiguous by the first read that takes rows from it (:meth:`_PathRecords.rows`).
    """
    chunks = pa.concat_tables(batches)
    rows = chunks.num_rows
    # big chunks, not just big batches: a batch concatenated from one-row tables holds
    # a chunk per row, whose buffers and Arrow objects only a copy lets go
    most_chunks = max((column.num_chunks for column in chunks.columns), default=len(batches))
    if (
        rows >= SEGMENT_ROWS
        and rows >= KEPT_BATCH_ROWS * max(len(batches), most_chunks)
        and chunks.get_total_buffer_size() <= 2 * chunks.nbytes + KEPT_SLACK_BYTES
    ):
        return chunks
    return _concatenate(batches)


def _chunked(table: pa.Table) -> bool:
    """Whether a column of ``table`` has more than one chunk."""
    return any(column.num_chunks > 1 for column in table.columns)


def _contiguous(segment: pa.Table) -> pa.Table:
    """``segment`` with one chunk per column (a copy only if it was left in chunks)."""
    return _concatenate([segment]) if _chunked(segment) else segment


def _should_merge(older_rows: int, newer_rows: int) -> bool:
    """Merge the two newest segments until sizes halve from oldest to newest, or get big."""
    return older_rows < 2 * newer_rows and older_rows + newer_rows <= SEGMENT_ROWS


class _PathRecords:
    """The records at one path: an id index over appended batches merged into segments.

    The index maps a key of each id (its ``hash``, a 64-bit int), not the id
    itself, to its row: the id's text lives once, in the rows' id column, and
    not also as a Python ``str`` (49 bytes and more). A key found is checked
    against the id stored in that row, so two ids with one key are never
    confused; the rare id whose key another id holds already is kept by its
    text in ``collided``. The index is built by the path's first lookup by id
    (:meth:`index`), and kept up to date from then on.

    Batches added since the last read wait as they came, their ids too (as
    Arrow text; a batch of a few, as Python strings). Lookups of one id, or of
    a few, slice rows out where they lie. The next read of more (or the
    ``RECENT_BATCHES``-th batch, or ``RECENT_ROWS`` rows) concatenates the
    waiting batches once into a segment: a table holding the record ids as
    column 0 and the data columns after it. The newest segments are then
    merged log-structured, so each row is copied a bounded number of times
    however reads and writes interleave, and every segment is contiguous for
    a vectorised ``take`` by the time one takes from it. (A segment's worth
    of big batches becomes a segment without a copy, see :func:`_segment_of`,
    and is copied contiguous only if a read takes from it.)
    """

    def __init__(self, data_schema: pa.Schema) -> None:
        self.data_schema = data_schema
        self.stored_schema = pa.schema([_ID_FIELD, *data_schema], metadata=data_schema.metadata)
        self.row_of: dict[int, int] = {}
        self.collided: dict[str, int] = {}
        self.indexed = False  # see index()
        self.row_count = 0
        self._segments: list[pa.Table] = []
        self._segment_starts: list[int] = []
        self._id_views: dict[int, tuple[pa.Table, memoryview, memoryview]] = {}
        self._recent: list[pa.Table] = []
        self._recent_starts: list[int] = []
        self._recent_ids: list[list[str] | pa.Array] = []
        self._whole: pa.Table | None = None

    def append(self, ids: list[str] | None, id_array: pa.Array | None, data: pa.Table) -> None:
        """Store ``data`` under ``ids`` (checked unique and unknown by the caller; also
        as ``id_array``, if given, a ``large_string`` array). ``ids`` may be None
        (then ``id_array`` is given) while the path is not indexed and more than
        ``FEW_ROWS`` are added: they would only be made to be let go."""
        start = self.row_count
        row_of = self.row_of
        if ids is None:
            assert id_array is not None
            assert not self.indexed
            count = len(id_array)
        else:
            count = len(ids)
        # Not indexed yet (ids may then be None): the first lookup by id indexes every
        # row, these included.
        if ids is not None and self.indexed:
            if count == 1:  # one record (a node storing each result)
                key = _key(ids[0])
                if key in row_of:
                    self.collided[ids[0]] = start
                else:
                    row_of[key] = start
            else:
                known = len(row_of)
                row_of.update(zip(_keys(ids), range(start, start + count), strict=True))
                if len(row_of) != known + count:  # a key was taken: index every id again
                    self._reindex(ids, start)
        self._recent.append(data)
        self._recent_starts.append(start)
        # Many ids wait as Arrow text, not as the caller's Python strings: those die with
        # the call, before the next batch's, so that their memory is used again.
        few = ids is not None and (id_array is None or count <= FEW_ROWS)
        self._recent_ids.append(ids if few else id_array)
        self.row_count += count
        self._whole = None
        if (
            len(self._recent) >= RECENT_BATCHES
            or self.row_count - self._recent_starts[0] >= RECENT_ROWS
        ):
            self._compact()

    def index(self) -> None:
        """Index every stored id, if not done yet: called by each lookup by id.

        A path only ever added to and read whole (an observer's log rows and
        status events, whose ids are new by construction) never pays for an
        index: about 0.2 µs and 100 bytes per row.
        """
        if self.indexed:
            return
        self.indexed = True
        stored = self._stored_ids()
        self.row_of = dict(zip(_keys(stored), range(len(stored)), strict=True))
        if len(self.row_of) != len(stored):  # two ids with one key: one by one
            self._reindex([], self.row_count)

    def _stored_ids(self) -> list[str]:
        """Every stored id, in row order, as Python strings."""
        return [
            record_id
            for part in [segment.column(0) for segment in self._segments] + self._recent_ids
            for record_id in (part if isinstance(part, list) else part.to_pylist())
        ]

    def _reindex(self, ids: list[str], start: int) -> None:
        """Index every row again, one by one, ``ids`` (rows from ``start``) last: an id
        whose key an earlier one holds goes to ``collided``. Only after two ids met with
        one key (a 64-bit hash: about once in 10^10 stores of a million ids)."""
        row_of, collided = self.row_of, self.collided
        row_of.clear()
        collided.clear()
        number = 0
        for record_id in [*self._stored_ids(), *ids]:
            key = _key(record_id)
            if key in row_of:
                collided[record_id] = number
            else:
                row_of[key] = number
            number += 1
        assert number == start + len(ids)

    def row(self, record_id: str) -> int | None:
        """The row of ``record_id``, or None."""
        self.index()
        if self.collided:
            found = self.collided.get(record_id)
            if found is not None:
                return found
        row = self.row_of.get(_key(record_id))
        if row is None or self.id_at(row) != record_id:
            return None
        return row

    def _candidates(self, ids: list[str]) -> tuple[pa.Array, pa.Array]:
        """Where those of ``ids`` whose key is indexed may be: their positions in ``ids``
        and the rows their keys lead to, ascending by row (both int64 arrays). Each row
        is still to be checked against the id stored there (two ids may share a key)."""
        import pyarrow.compute as pc  # not at import: it loads slowly

        self.index()
        rows = list(map(self.row_of.get, map(_key, ids), repeat(-1)))  # in C
        if self.collided and not self.collided.keys().isdisjoint(ids):
            collided = self.collided
            for position, record_id in enumerate(ids):
                if record_id in collided:
                    rows[position] = collided[record_id]
        missing = rows.count(-1)
        if missing == len(rows):  # none stored, as a first run's lookups find
            nothing = pa.array([], pa.int64())
            return nothing, nothing
        found = pa.array(rows, pa.int64())
        order = pc.sort_indices(found).slice(missing)  # the -1s sort first: left out
        return order, found.take(order)

    def _matching(self, stored_ids: pa.Array, ids: list[str], positions: pa.Array) -> pa.Array:
        """Which of ``stored_ids`` (read from the rows of candidates) equal the ids asked
        for at ``positions``: a boolean array."""
        import pyarrow.compute as pc  # not at import: it loads slowly

        return pc.equal(stored_ids, pa.array(ids, pa.large_string()).take(positions))

    def known(self, ids: Set[str]) -> set[str]:
        """Those of ``ids`` stored here."""
        import pyarrow.compute as pc  # not at import: it loads slowly

        if len(ids) == 1:  # adding one record: its id is new, as a rule
            (record_id,) = ids
            return set() if self.row(record_id) is None else {record_id}
        self.index()
        collided = self.collided
        if self.row_of.keys().isdisjoint(map(_key, ids)) and (
            not collided or collided.keys().isdisjoint(ids)
        ):
            return set()  # new ids, as a rule: one lookup each, in C
        asked = list(ids)
        if self._all_in_one_range(asked):
            return set(ids)  # every id stored, as a re-run adding what it stored finds them
        positions, rows = self._candidates(asked)
        if len(rows) <= FEW_ROWS:
            return {
                asked[p]
                for p, row in zip(positions.to_pylist(), rows.to_pylist(), strict=True)
                if self.id_at(row) == asked[p]
            }
        same = self._matching(self.rows(rows, ids_only=True).column(0), asked, positions)
        if len(rows) == len(asked) and pc.all(same).as_py():
            return set(ids)  # every id stored, as a re-run finds them
        return {asked[p] for p in positions.filter(same).to_pylist()}

    def _all_in_one_range(self, ids: list[str]) -> bool:
        """Whether ``ids`` (distinct, in the order given) are all stored, found the cheap
        way: when the first and last lead to the ends of a range of as many rows (a
        re-run adds ids in the order it stored them), the range's ids are compared with
        ``ids`` in one Arrow comparison, with no lookup per id. False when that does
        not settle it."""
        import pyarrow.compute as pc  # not at import: it loads slowly

        if len(ids) <= FEW_ROWS:
            return False
        first = self.row_of.get(_key(ids[0]))
        last = self.row_of.get(_key(ids[-1]))
        if first is None or last is None or last - first != len(ids) - 1:
            return False
        self._compact()
        pieces: list[pa.Array] = []
        index = bisect_right(self._segment_starts, first) - 1
        at = first
        while at <= last:
            start, segment = self._segment_starts[index], self._segments[index]
            count = min(last + 1, start + segment.num_rows) - at
            pieces += segment.column(0).slice(at - start, count).chunks
            at += count
            index += 1
        stored = pa.chunked_array(pieces, pa.large_string())
        return bool(pc.all(pc.equal(stored, pa.array(ids, pa.large_string()))).as_py())

    def read(self, ids: Iterable[str]) -> pa.Table | None:
        """The stored rows of those of ``ids`` (distinct) stored here, or None."""
        import pyarrow.compute as pc  # not at import: it loads slowly

        asked = list(ids)
        positions, rows = self._candidates(asked)
        if len(rows) <= FEW_ROWS:
            numbers = [
                row
                for p, row in zip(positions.to_pylist(), rows.to_pylist(), strict=True)
                if self.id_at(row) == asked[p]
            ]
            return self.rows(numbers) if numbers else None
        table = self.rows(rows)
        same = self._matching(table.column(0), asked, positions)
        if pc.all(same).as_py():
            return table
        table = table.filter(same)  # a key shared by two ids: not the one asked for
        return table if table.num_rows else None

    def id_at(self, number: int) -> str:
        """The id of row ``number``."""
        if self._recent and number >= self._recent_starts[0]:
            batch = bisect_right(self._recent_starts, number) - 1
            found = self._recent_ids[batch][number - self._recent_starts[batch]]
            return found if isinstance(found, str) else found.as_py()
        index = bisect_right(self._segment_starts, number) - 1
        offsets, text = self._segment_ids(index)
        at = number - self._segment_starts[index]
        return str(text[offsets[at] : offsets[at + 1]], "utf-8")

    def _segment_ids(self, index: int) -> tuple[memoryview, memoryview]:
        """The id column of segment ``index`` as its offsets and text (cached: segments
        never change), to read one id without making Arrow scalars."""
        cached = self._id_views.get(index)
        segment = self._segments[index]
        if cached is None or cached[0] is not segment:
            segment = self._contiguous(index)
            ids = segment.column(0).chunk(0)
            buffers = ids.buffers()
            offsets = memoryview(buffers[1]).cast("q")[ids.offset : ids.offset + len(ids) + 1]
            # bytes ("B"): a pyarrow buffer's own format compares value by value
            text = memoryview(buffers[2] if buffers[2] is not None else b"").cast("B")
            cached = self._id_views[index] = (segment, offsets, text)
        return cached[1], cached[2]

    def record_of(self, record_id: str) -> pa.Table | None:
        """The data columns of ``record_id``'s row as a one-row table, or None: one
        search for the segment, the id checked in its bytes."""
        self.index()
        number = self.collided.get(record_id) if self.collided else None
        if number is None:
            number = self.row_of.get(_key(record_id))
            if number is None:
                return None
            if not self._recent or number < self._recent_starts[0]:
                index = bisect_right(self._segment_starts, number) - 1
                at = number - self._segment_starts[index]
                offsets, text = self._segment_ids(index)
                if text[offsets[at] : offsets[at + 1]] != record_id.encode():
                    return None
                return self._segments[index].slice(at, 1).remove_column(0)
            if self.id_at(number) != record_id:
                return None
        return self.record(number)

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

    def rows(self, numbers: list[int] | pa.Array, *, ids_only: bool = False) -> pa.Table:
        """The rows ``numbers`` (ascending, non-empty; a list or an int64 array) as a
        stored table (``ids_only``: its id column only).

        A few rows are sliced out where they lie, so looking up the record
        just added costs no concatenation; more are taken with one vectorised
        ``take`` per segment they fall in.
        """
        import pyarrow.compute as pc  # not at import: it loads slowly

        if len(numbers) <= FEW_ROWS and not ids_only:
            listed = numbers if isinstance(numbers, list) else numbers.to_pylist()
            pieces = [self._stored_row(number) for number in listed]
            return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        self._compact()
        if isinstance(numbers, list):
            listed, numbers = numbers, pa.array(numbers, pa.int64())
        else:
            listed = numbers.to_pylist()
        pieces = []
        first = 0
        while first < len(listed):
            index = bisect_right(self._segment_starts, listed[first]) - 1
            start = self._segment_starts[index]
            segment = self._contiguous(index)
            end = bisect_left(listed, start + segment.num_rows, first)
            offsets = pc.subtract(numbers.slice(first, end - first), start)
            pieces.append((segment.select([0]) if ids_only else segment).take(offsets))
            first = end
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def _contiguous(self, index: int) -> pa.Table:
        """Segment ``index``, made contiguous (once) if it was left in chunks."""
        segment = self._segments[index]
        copy = _contiguous(segment)
        if copy is not segment:
            self._segments[index] = copy
            # the whole table read last holds the chunks: let them go with the segment
            self._whole = None
        return copy

    def _stored_row(self, number: int) -> pa.Table:
        """Row ``number`` as a one-row stored table (ids first), without concatenating."""
        if self._recent and number >= self._recent_starts[0]:
            ids = pa.array([self.id_at(number)], pa.large_string())
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
        data = _segment_of(self._recent)
        parts: list[pa.Array] = []
        texts: list[str] = []  # the ids of consecutive batches of a few, made one array
        for part in self._recent_ids:
            if isinstance(part, list):
                texts += part
                continue
            if texts:
                parts.append(pa.array(texts, pa.large_string()))
                texts = []
            parts.append(part)
        if texts:
            parts.append(pa.array(texts, pa.large_string()))
        if len(parts) == 1:
            ids: pa.Array | pa.ChunkedArray = parts[0]
        elif _chunked(data):  # left in chunks: the ids too
            ids = pa.chunked_array(parts, pa.large_string())
        else:
            ids = pa.concat_arrays(parts)
        segment = pa.Table.from_arrays([ids, *data.columns], schema=self.stored_schema)
        self._segments.append(segment)
        self._segment_starts.append(self._recent_starts[0])
        self._recent, self._recent_starts, self._recent_ids = [], [], []
        self._id_views.clear()  # segments merge below: hold no view of a replaced one
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

    It holds everything in RAM by design. Its footprint is the records' Arrow
    data plus about 150 bytes per record (268 bytes of RSS per record of
    118 bytes of Arrow data, at a million records of six columns,
    ``benchmarks/in_memory_database.py --footprint``): about 105 bytes of id
    index (a dict entry from a 64-bit key of each id to its row; the id's
    text lives only in the Arrow id column; none for a path never looked up
    by id, such as an observer's log rows), and Arrow's pool keeping the
    last concatenation's copy of at most ``RECENT_ROWS`` rows for reuse. See
    "The in-memory store's footprint" in ``docs/architecture.md``.
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
        return self._paths[path].known(ids)

    def _keep(self, records: NewRecords) -> None:
        if records.new_path:
            self._paths[records.path] = _PathRecords(records.data.schema)
        stored = self._paths[records.path]
        id_array = None
        if records.data.num_rows > FEW_ROWS:
            id_array = records.id_array
            if isinstance(id_array, pa.ChunkedArray):
                id_array = id_array.combine_chunks()
            if not stored.indexed:  # as Python strings only to index them (see append)
                stored.append(None, id_array, records.data)
                return
        stored.append(records.ids, id_array, records.data)

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        return self._paths[path].read(ids)

    def _read_record(self, path: RecordPath, record_id: str) -> pa.Table | None:
        return self._paths[path].record_of(record_id)

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
