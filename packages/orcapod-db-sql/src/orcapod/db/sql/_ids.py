"""Where a table's record ids are: their keys and places, held in memory.

A table this package makes has no primary key on its ids: its rows are kept
in the order stored, numbered by the flush (their place, ``_record_seq``:
on SQLite the table's ``INTEGER PRIMARY KEY``, a named rowid, which
``VACUUM`` keeps; on PostgreSQL not null and uniquely indexed), so a flush
appends them at the end of B-trees. A primary key
on the ids (hashes, in no order) is another B-tree, into which each new row
goes at a random place: once that tree has more leaf pages than a flush has
rows, every row dirties a page of its own, and a first run of ten million
packets cost 1.6 to 1.7 times what it did at 100,000 per packet
(``benchmarks/scale.py``).

Instead, a process that looks ids up reads each table's places and ids
once, and from then on only the rows after the last place it read
(:class:`StoredIds`). The ids' keys and places are kept in a
:class:`~orcapod.protocols.keyindex.KeyIndex` (about 17 bytes per row); a
lookup reads the rows at the candidate places (neighbouring pages, for ids
stored together) and keeps those whose id is the one asked for. Tables only
ever written (log and status rows, added with ``new_ids``) are never read
this way.

Duplicates: one writer at a time writes a table (SQLite's write lock; on
PostgreSQL a transaction-scoped advisory lock per table, which also makes
places grow in the order rows commit). A flush catches its index up inside
that transaction, so the rows every other writer committed are known,
checks the pending ids against it, and inserts only ids absent from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from orcapod.protocols.keyindex import KeyIndex, keys_of

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LOAD_ROWS", "IdReads", "StoredIds"]

LOAD_ROWS = 262_144
"""Rows read per query while catching an index up (bounds the Python objects made at once)."""


@dataclass
class IdReads:
    """What finding ids read, per store (for tests and benchmarks): rows read into an
    index (``indexed``), and rows read at the places an index named (``candidates``)."""

    indexed: int = 0
    candidates: int = 0


class StoredIds:
    """The keys and places of one table's stored ids, up to the place :attr:`last`.

    Attributes:
        last: every row with a place up to this one is in the index (0: none read yet).
        fence: the id of the row at :attr:`last`. Places are numbered from the last
            row's on, so rows deleted at the end of the table (behind orcapod's
            back) free their places for the next rows: if the row at ``last``
            no longer holds ``fence``, the index may name the wrong rows, and is
            read again.
        foreign: rows this process did not write were read since the last flush, so
            ids pending here were checked against fewer rows than are stored.
    """

    def __init__(self) -> None:
        self.keys = KeyIndex()
        self.last = 0
        self.fence: str | None = None
        self.foreign = False

    def add(self, places: np.ndarray, ids: Sequence[str], *, own: bool) -> None:
        """Index the rows at ``places`` (ascending, all above :attr:`last`) holding ``ids``."""
        if not len(ids):
            return
        self.keys.add(keys_of(ids), places)
        self.last = int(places[-1])
        self.fence = ids[-1]
        if not own:
            self.foreign = True

    def add_own(self, first_place: int, ids: Sequence[str]) -> None:
        """Index rows this process just inserted, at places from ``first_place`` on."""
        places = np.arange(first_place, first_place + len(ids), dtype=np.int64)
        self.add(places, ids, own=True)

    def candidates(self, ids: Sequence[str]) -> list[int]:
        """The places (ascending, distinct) of the rows that may hold some of ``ids``."""
        if not len(ids) or not self.keys.num_rows:
            return []
        _, places = self.keys.find(keys_of(ids))
        return np.unique(places).tolist()  # type: ignore[no-any-return]
