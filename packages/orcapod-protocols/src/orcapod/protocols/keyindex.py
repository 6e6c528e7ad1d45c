"""A compact in-memory index of 64-bit keys and row positions, for stores to find rows by id.

A store that must answer "which of these ids do I hold, and where?" without
keeping a Python object per stored row keeps here, for each row, a 64-bit key
(:func:`keys_of`: Python's ``hash`` of the id) and an integer position whose
meaning is the store's own (a row number across its data files, say). About
16 bytes per row, 17 with the buckets of large runs.

Keys are held in a few sorted NumPy arrays (runs). Each :meth:`KeyIndex.add`
starts a run, and runs are merged, newest first, while the older one holds
fewer than :data:`MERGE_RATIO` times the rows of the newer: so there are
about log(rows / batch) runs, and a batch costs the same to add whatever the
rows already indexed. Finding k keys is one vectorised search per run.

Keys are hashes, spread evenly over 64 bits, so a run of at least
:data:`BUCKETED_ROWS` keys is searched through buckets named by the keys' top
bits (:class:`_Buckets`): a key's search stays within a few neighbouring keys
instead of touching a score of cache lines far apart, about twice as fast at
ten million keys (``benchmarks/id_index.py``).

A key is valid in this process only (string hashes are salted per process):
never write one anywhere. Two ids may share a key, so a key found only names a
candidate row, which the store confirms by reading the id stored there.

This module imports numpy, which orcapod-protocols does not depend on: a
plugin that uses it declares numpy among its own dependencies (as
orcapod-db-delta does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["BUCKETED_ROWS", "BUCKET_KEYS", "MERGE_RATIO", "KeyIndex", "keys_of"]

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


def keys_of(ids: Iterable[str]) -> np.ndarray:
    """The keys of ``ids`` (uint64, Python's ``hash`` of each), in order.

    Valid in this process only: string hashes differ from one process to the next.
    """
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
    """Sorted keys and their rows' positions (one of :class:`KeyIndex`'s runs)."""

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


class KeyIndex:
    """64-bit keys with a position each, in a few sorted runs; keys may repeat.

    Not thread-safe: a store calls it with its own lock held.
    """

    def __init__(self) -> None:
        self._runs: list[_Run] = []  # oldest and largest first

    @property
    def num_rows(self) -> int:
        """How many (key, position) entries are held."""
        return sum(len(run.keys) for run in self._runs)

    @property
    def runs(self) -> int:
        """How many sorted runs a search goes through."""
        return len(self._runs)

    @property
    def nbytes(self) -> int:
        """The bytes held by the keys, positions and buckets (about 17 per entry)."""
        return sum(run.nbytes for run in self._runs)

    def add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        """Hold ``keys`` (uint64) with ``positions`` (int64), pairwise; nothing is replaced.

        The batch becomes a run of its own, merged into older ones as :data:`MERGE_RATIO`
        says.
        """
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        runs = self._runs
        runs.append(_Run(keys[order], positions[order]))
        while len(runs) >= 2 and len(runs[-2].keys) < MERGE_RATIO * len(runs[-1].keys):
            newer = runs.pop()
            runs[-1] = _merged(runs[-1], newer)

    def clear(self) -> None:
        """Forget every key and position."""
        self._runs = []

    def contains_any(self, keys: np.ndarray) -> np.ndarray:
        """For each of ``keys``, whether any entry holds it (bool per key, in order)."""
        order = np.argsort(keys)  # sorted queries search the large array cache-friendly
        ordered = keys[order]
        found = np.zeros(len(keys), bool)
        for run in self._runs:
            stored = run.keys
            if len(stored):
                at = run.left(ordered)
                found[order] |= stored[np.minimum(at, len(stored) - 1)] == ordered
        return found

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every entry whose key equals one of ``keys``, as ``(wanted, positions)``.

        ``wanted[i]`` is the index in ``keys`` of the key matched and ``positions[i]`` the
        entry's position. An entry matching a key given twice, and a key held by several
        entries, give one pair each. Pairs are sorted by position (a stable sort).
        """
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
            # a key held by several entries (ids sharing it) is rare: a second search for
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
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        wanted = np.concatenate(wanted_parts)
        positions = np.concatenate(position_parts)
        order = np.argsort(positions, kind="stable")
        return wanted[order], positions[order]


def _merged(run: _Run, newer: _Run) -> _Run:
    """Two runs merged into one, in one linear pass."""
    if not len(run.keys):
        return newer
    if not len(newer.keys):
        return run
    at = np.searchsorted(run.keys, newer.keys, side="right")
    return _Run(np.insert(run.keys, at, newer.keys), np.insert(run.positions, at, newer.positions))
