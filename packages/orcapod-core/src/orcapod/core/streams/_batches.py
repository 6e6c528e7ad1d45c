"""How large the tables nodes hand each other may be, and how a table is cut to size."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

__all__ = ["BATCH_BYTES", "BATCH_ROWS", "BatchSize", "split"]

BATCH_ROWS = 8192
"""Most rows in a table passed between nodes."""
BATCH_BYTES = 32 * 1024 * 1024
"""Most bytes (Arrow's ``nbytes``) in a table passed between nodes, unless one row is larger."""


_MOST = 2**62
"""The largest bound kept as given: Arrow slices take 64-bit signed lengths."""


@dataclass(frozen=True)
class BatchSize:
    """How large a table passed between nodes may be: ``rows`` rows and ``bytes`` bytes.

    A single row larger than ``bytes`` travels alone.

    Raises:
        ValueError: a bound is not a whole number of at least 1; names it.
    """

    rows: int = BATCH_ROWS
    bytes: int = BATCH_BYTES

    def __post_init__(self) -> None:
        rows, nbytes = self.check(self.rows, self.bytes, ("batch_rows", "batch_bytes"))
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "bytes", nbytes)

    @classmethod
    def of(cls, rows: int, nbytes: int, names: tuple[str, str]) -> BatchSize:
        """The size of these bounds, checked under the caller's ``names`` for them."""
        return cls(*cls.check(rows, nbytes, names))

    @staticmethod
    def check(rows: object, nbytes: object, names: tuple[str, str]) -> tuple[int, int]:
        """Both bounds as ``int`` (a NumPy integer is one); bounds above :data:`_MOST`
        (more than any table holds) stand for no bound.

        Raises:
            ValueError: a bound is not a whole number of at least 1 (``True`` is not).
        """
        checked = []
        for name, value in zip(names, (rows, nbytes), strict=True):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name}={value!r}; pass a whole number >= 1")
            checked.append(min(int(value), _MOST))
        return checked[0], checked[1]

    def rows_for(self, bytes_per_row: float) -> int:
        """Rows of ``bytes_per_row`` bytes each that fit in a batch (at least one)."""
        if bytes_per_row <= 0:
            return self.rows
        return max(1, min(self.rows, int(self.bytes // bytes_per_row)))


def split(table: pa.Table, size: BatchSize) -> Iterator[pa.Table]:
    """``table`` in slices of at most ``size.rows`` rows and ``size.bytes`` bytes, in order.

    Slices share ``table``'s buffers (nothing is copied). Rows vary in size, so
    a slice over the byte bound is split again; a row larger than the bound
    is a slice of its own. An empty table gives nothing.
    """
    rows = table.num_rows
    if rows == 0:
        return
    nbytes = table.nbytes
    if rows <= size.rows and nbytes <= size.bytes:
        yield table
        return
    step = min(rows, size.rows_for(nbytes / rows))
    for start in range(0, rows, step):
        piece = table.slice(start, step)
        if piece.num_rows > 1 and piece.nbytes > size.bytes:
            yield from split(piece, size)
        else:
            yield piece
