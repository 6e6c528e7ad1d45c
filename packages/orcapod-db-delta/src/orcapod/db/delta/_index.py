"""A compact index of a table's record ids: where each id's row is, in about 17 bytes per row.

The index holds, for every stored row, a 64-bit key (Python's ``hash`` of the
id, valid in this process only, never written anywhere) and the row's
position: its place in the table's data files taken in the index's own
order. Keys are kept in a few sorted NumPy arrays (runs), so finding k ids is
one vectorised search per run, and no Python object exists per stored row. Two ids may
share a key: a key only names a candidate row, which the caller confirms by
reading the id stored there.

Keys are hashes, spread evenly over 64 bits, so a large run is searched
through its buckets (:class:`_Buckets`): the key's top bits name the few keys
that can match, which one cache line or two hold. A plain binary search of
ten million keys touches about 20 lines far apart, most of them out of the
CPU's caches: about twice as fast at ten million keys (``benchmarks/id_index.py``).

Besides keys and positions, the index knows each data file's rows and
row-group boundaries (from the Parquet footer), so a candidate position
names one row group to read: lookups read row groups, never whole tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    import pyarrow.parquet as pq

__all__ = ["FOOTER_KEPT_BYTES", "DataFile", "IdIndex", "keys_of"]

MERGE_RATIO = 4
"""Runs are merged, newest first, until each holds at least this many times the rows of
the run after it: a row is copied about MERGE_RATIO / 2 times per level, and there are
about log(N / batch) / log(MERGE_RATIO) runs (a batch of new keys costs the same with a
million rows indexed or ten million; the last design kept one tail merged into on every
batch, at a cost growing with the rows indexed)."""


BUCKETED_ROWS = 1 << 21
"""Runs of at least this many keys are searched through buckets (:class:`_Buckets`);
smaller ones fit in the CPU's caches, where ``np.searchsorted`` is as fast or faster
(``benchmarks/id_index.py``: about even at 3M keys, 1.8 times faster at 10M)."""

BUCKET_KEYS = 8
"""Keys per bucket on average (about one byte of bucket starts per key)."""


FOOTER_KEPT_BYTES = 64 * 1024
"""A data file's footer is kept in memory only up to this size (serialized).

Files written with untruncated column statistics (by this package until
statistics were truncated, or by another writer) carry each row group's
smallest and largest value of every column in their footer: a megabyte each
for a column of 1 MB arrays.
Keeping those for every file would make the index grow with the data, not
with the rows; such a footer is read again with its file instead."""


def keys_of(ids: Iterable[str]) -> np.ndarray:
    """The index keys of ``ids`` (uint64), in order."""
    return np.array(list(map(hash, ids)), np.int64).view(np.uint64)


class _Buckets:
    """Where the keys of a large sorted run start, by their top bits: ``starts[j]`` is
    the first key whose top bits are ``j``. A key's search is then a binary search
    of its bucket alone, a handful of keys next to each other, done for all queries
    at once with NumPy (one step per bit of the largest bucket's size)."""

    def __init__(self, keys: np.ndarray) -> None:
        bits = max(1, (len(keys) // BUCKET_KEYS).bit_length() - 1)
        self.shift = np.uint64(64 - bits)
        counts = np.bincount((keys >> self.shift).astype(np.intp), minlength=1 << bits)
        self.starts = np.zeros((1 << bits) + 1, np.int64)
        np.cumsum(counts, out=self.starts[1:])
        self.steps = int(counts.max()).bit_length()

    def left(self, keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """``np.searchsorted(keys, queries, side="left")``, for the ``keys`` built from."""
        bucket = (queries >> self.shift).astype(np.intp)
        low, high = self.starts[bucket], self.starts[bucket + 1]
        last = len(keys) - 1
        for _ in range(self.steps):
            middle = (low + high) >> 1
            searching = low < high
            below = keys[np.minimum(middle, last)] < queries
            low = np.where(searching & below, middle + 1, low)
            high = np.where(searching & ~below, middle, high)
        return low


class _Run:
    """Sorted keys and their rows' positions (one of :class:`IdIndex`'s runs)."""

    __slots__ = ("_buckets", "keys", "positions")

    def __init__(self, keys: np.ndarray, positions: np.ndarray) -> None:
        self.keys = keys
        self.positions = positions
        self._buckets: _Buckets | None = None

    @property
    def nbytes(self) -> int:
        buckets = 0 if self._buckets is None else self._buckets.starts.nbytes
        return self.keys.nbytes + self.positions.nbytes + buckets

    def left(self, queries: np.ndarray) -> np.ndarray:
        """Where each of ``queries`` (sorted) is, or would go: the first key not below it."""
        if len(self.keys) < BUCKETED_ROWS:
            return np.searchsorted(self.keys, queries, side="left")
        if self._buckets is None:  # built at the first search: a run merged on is not
            self._buckets = _Buckets(self.keys)
        return self._buckets.left(self.keys, queries)


@dataclass(frozen=True)
class DataFile:
    """One data file as the index knows it: where it is, and its row groups.

    Attributes:
        path: the local Parquet file.
        metadata: its Parquet footer (so reading it again parses nothing), or None
            when the footer is larger than :data:`FOOTER_KEPT_BYTES`: it is then
            read again with the file.
        start: the position of its first row in the index.
        group_starts: the offset in the file of each row group's first row,
            then the file's row count.
    """

    path: Path
    metadata: pq.FileMetaData | None
    start: int
    group_starts: np.ndarray

    @property
    def num_rows(self) -> int:
        return int(self.group_starts[-1])


@dataclass(frozen=True)
class Candidates:
    """Rows that may hold some looked-up ids: for each, the id asked for and where it is.

    Attributes:
        wanted: the index (in the looked-up ids) of the id each row may hold.
        files: the index (in :attr:`IdIndex.files`) of each row's data file.
        groups: the row group of each row in its file.
        offsets: each row's offset in its row group.
    """

    wanted: np.ndarray
    files: np.ndarray
    groups: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.wanted)


class IdIndex:
    """Sorted id keys and row positions of one table version, and its data files in order.

    Positions stay valid while rows are only appended (new files go after the
    known ones). A change that moves rows between files (a compaction) leaves
    the keys valid (the same ids are stored) but not the positions: see
    :meth:`forget_positions`.
    """

    def __init__(self) -> None:
        self._no_files()
        self._runs: list[_Run] = []  # oldest and largest first
        self.positions_known = True

    def _no_files(self) -> None:
        """Know no data file (where rows are): at first, and once rows moved."""
        self.files: list[DataFile] = []
        self.file_starts = np.zeros(1, np.int64)
        # every file's row groups, in order: the position of each one's first row, and
        # for each file the number of its first group in that list
        self._group_starts = np.zeros(0, np.int64)
        self._first_groups = np.zeros(0, np.int64)

    @property
    def num_rows(self) -> int:
        return sum(len(run.keys) for run in self._runs)

    @property
    def runs(self) -> int:
        """How many sorted runs a lookup searches."""
        return len(self._runs)

    @property
    def nbytes(self) -> int:
        """The bytes held by the keys, positions and buckets (about 17 per row)."""
        return sum(run.nbytes for run in self._runs)

    # -- growing -------------------------------------------------------------------------

    def add_file(self, path: Path, metadata: pq.FileMetaData, keys: np.ndarray) -> None:
        """Append a data file after the known ones, with the keys of its rows in order."""
        sizes = [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
        group_starts = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=group_starts[1:])
        if int(group_starts[-1]) != len(keys):
            raise ValueError(
                f"{path.name} has {int(group_starts[-1])} rows in its row groups and "
                f"{len(keys)} ids"
            )
        assert self.positions_known
        start = int(self.file_starts[-1])
        kept = metadata if metadata.serialized_size <= FOOTER_KEPT_BYTES else None
        self.files.append(DataFile(path, kept, start, group_starts))
        self.file_starts = np.append(self.file_starts, start + len(keys))
        self._first_groups = np.append(self._first_groups, len(self._group_starts))
        self._group_starts = np.append(self._group_starts, start + group_starts[:-1])
        self._add(keys, np.arange(start, start + len(keys), dtype=np.int64))

    def forget_positions(self) -> None:
        """Rows moved between files (the same ids are stored): keep the keys, not where
        they are. Lookups that need a row then rebuild the index."""
        self.positions_known = False
        self._no_files()

    def add_unplaced(self, keys: np.ndarray) -> None:
        """Keys of rows stored in files the index does not know (after forget_positions)."""
        assert not self.positions_known
        self._add(keys, np.full(len(keys), -1, np.int64))

    def _add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        runs = self._runs
        runs.append(_Run(keys[order], positions[order]))
        while len(runs) >= 2 and len(runs[-2].keys) < MERGE_RATIO * len(runs[-1].keys):
            newer = runs.pop()
            runs[-1] = _merged(runs[-1], newer)

    # -- finding -------------------------------------------------------------------------

    def contains_any(self, keys: np.ndarray) -> np.ndarray:
        """For each key, whether the index holds it (a candidate, to be confirmed)."""
        order = np.argsort(keys)  # sorted queries search the large array cache-friendly
        ordered = keys[order]
        found = np.zeros(len(keys), bool)
        for run in self._runs:
            stored = run.keys
            if len(stored):
                at = run.left(ordered)
                found[order] |= stored[np.minimum(at, len(stored) - 1)] == ordered
        return found

    def candidates(self, keys: np.ndarray) -> Candidates:
        """Every row whose key equals one of ``keys``, grouped by file and row group.

        Needs known positions (see :meth:`forget_positions`).
        """
        assert self.positions_known
        order = np.argsort(keys)  # sorted queries search the large array cache-friendly
        keys = keys[order]
        wanted_parts, position_parts = [], []
        for run in self._runs:
            stored, positions = run.keys, run.positions
            if not len(stored):
                continue
            left = run.left(keys)
            hit = np.nonzero(stored[np.minimum(left, len(stored) - 1)] == keys)[0]
            if not len(hit):
                continue
            # a key held by several rows (ids sharing it) is rare: a second search for
            # those only, found by their next entry holding the key too
            counts = np.ones(len(hit), np.int64)
            after = left[hit] + 1
            shared = np.nonzero(stored[np.minimum(after, len(stored) - 1)] == keys[hit])[0]
            shared = shared[after[shared] < len(stored)]
            if len(shared):
                right = np.searchsorted(stored, keys[hit[shared]], side="right")
                counts[shared] = right - left[hit[shared]]
            wanted = np.repeat(hit, counts)
            # the entries left[i] .. right[i] - 1 of each hit, one after another
            firsts = np.repeat(left[hit], counts)
            steps = np.arange(len(wanted)) - np.repeat(np.cumsum(counts) - counts, counts)
            wanted_parts.append(order[wanted])
            position_parts.append(positions[firsts + steps])
        if not wanted_parts:
            empty = np.zeros(0, np.int64)
            return Candidates(empty, empty, empty, empty)
        wanted = np.concatenate(wanted_parts)
        positions = np.concatenate(position_parts)
        order = np.argsort(positions, kind="stable")
        wanted, positions = wanted[order], positions[order]
        # one search each, for all rows at once (a file or row group of no rows starts
        # where the next one does: side="right" skips it)
        files = np.searchsorted(self.file_starts, positions, side="right") - 1
        group_numbers = np.searchsorted(self._group_starts, positions, side="right") - 1
        groups = group_numbers - self._first_groups[files]
        offsets = positions - self._group_starts[group_numbers]
        return Candidates(wanted, files, groups, offsets)


def _merged(run: _Run, newer: _Run) -> _Run:
    """Two runs merged into one, in one linear pass."""
    if not len(run.keys):
        return newer
    if not len(newer.keys):
        return run
    at = np.searchsorted(run.keys, newer.keys, side="right")
    return _Run(np.insert(run.keys, at, newer.keys), np.insert(run.positions, at, newer.positions))
