"""A compact index of a table's record ids: where each id's row is, in about 17 bytes per row.

The keys and positions are a :class:`~orcapod.protocols.keyindex.KeyIndex`:
for every stored row, a 64-bit key (Python's ``hash`` of the id, valid in this
process only, never written anywhere) and the row's position: its place in
the table's data files taken in the index's own order. Two ids may share a
key: a key only names a candidate row, which the caller confirms by reading
the id stored there.

Besides keys and positions, the index knows each data file's rows and
row-group boundaries (from the Parquet footer), so a candidate position
names one row group to read: lookups read row groups, never whole tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from orcapod.protocols.keyindex import KeyIndex, keys_of

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow.parquet as pq

__all__ = ["FOOTER_KEPT_BYTES", "DataFile", "IdIndex", "keys_of"]

FOOTER_KEPT_BYTES = 64 * 1024
"""A data file's footer is kept in memory only up to this size (serialized).

Files written with untruncated column statistics (by this package until
statistics were truncated, or by another writer) carry each row group's
smallest and largest value of every column in their footer: a megabyte each
for a column of 1 MB arrays.
Keeping those for every file would make the index grow with the data, not
with the rows; such a footer is read again with its file instead."""


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
    """Id keys and row positions of one table version, and its data files in order.

    Positions stay valid while rows are only appended (new files go after the
    known ones). A change that moves rows between files (a compaction) leaves
    the keys valid (the same ids are stored) but not the positions: see
    :meth:`forget_positions`.
    """

    def __init__(self) -> None:
        self._no_files()
        self._keys = KeyIndex()
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
        return self._keys.num_rows

    @property
    def runs(self) -> int:
        """How many sorted runs a lookup searches."""
        return self._keys.runs

    @property
    def nbytes(self) -> int:
        """The bytes held by the keys, positions and buckets (about 17 per row)."""
        return self._keys.nbytes

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
        self._keys.add(keys, np.arange(start, start + len(keys), dtype=np.int64))

    def forget_positions(self) -> None:
        """Rows moved between files (the same ids are stored): keep the keys, not where
        they are. Lookups that need a row then rebuild the index."""
        self.positions_known = False
        self._no_files()

    def add_unplaced(self, keys: np.ndarray) -> None:
        """Keys of rows stored in files the index does not know (after forget_positions)."""
        assert not self.positions_known
        self._keys.add(keys, np.full(len(keys), -1, np.int64))

    # -- finding -------------------------------------------------------------------------

    def contains_any(self, keys: np.ndarray) -> np.ndarray:
        """For each key, whether the index holds it (a candidate, to be confirmed)."""
        return self._keys.contains_any(keys)

    def candidates(self, keys: np.ndarray) -> Candidates:
        """Every row whose key equals one of ``keys``, grouped by file and row group.

        Needs known positions (see :meth:`forget_positions`).
        """
        assert self.positions_known
        wanted, positions = self._keys.find(keys)
        if not len(wanted):
            empty = np.zeros(0, np.int64)
            return Candidates(empty, empty, empty, empty)
        # one search each, for all rows at once (a file or row group of no rows starts
        # where the next one does: side="right" skips it)
        files = np.searchsorted(self.file_starts, positions, side="right") - 1
        group_numbers = np.searchsorted(self._group_starts, positions, side="right") - 1
        groups = group_numbers - self._first_groups[files]
        offsets = positions - self._group_starts[group_numbers]
        return Candidates(wanted, files, groups, offsets)
