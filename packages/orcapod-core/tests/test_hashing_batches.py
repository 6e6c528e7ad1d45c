"""A table hashed a batch at a time has the digest of the whole table (hash_table_batches)."""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core.errors import HashingError
from orcapod.core.hashing import TableHasher, hash_table, hash_table_batches

SMALL = pa.schema(
    [
        ("i", pa.int32()),
        ("s", pa.string()),
        ("l", pa.list_(pa.float32())),
        ("m", pa.map_(pa.string(), pa.int8())),
        ("p", pa.list_(pa.string())),
    ]
)
LARGE = pa.schema(
    [
        ("i", pa.int64()),
        ("s", pa.large_string()),
        ("l", pa.large_list(pa.float64())),
        ("m", pa.map_(pa.large_string(), pa.int64())),
        ("p", pa.large_list(pa.large_string())),
    ]
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "i": st.none() | st.integers(-(2**31), 2**31 - 1),
            "s": st.none() | st.text(max_size=10),
            "l": st.none() | st.lists(st.none() | st.floats(width=32), max_size=3),
            "m": st.none()
            | st.dictionaries(st.text(max_size=3), st.integers(-9, 9), max_size=3).map(
                lambda d: list(d.items())
            ),
            "p": st.lists(st.text(max_size=5), max_size=2),
        }
    ),
    max_size=40,
)


def _pieces(table: pa.Table, cuts: list[int], *, large: pa.Schema | None) -> list[Any]:
    """``table`` cut at ``cuts`` into tables and record batches (some empty), the odd ones of
    the ``large`` schema if given (other physical types, same logical ones)."""
    bounds = sorted({0, table.num_rows, *(c % (table.num_rows + 1) for c in cuts)})
    pieces: list[Any] = [table.slice(0, 0)]
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        piece = table.slice(start, end - start)
        if large is not None and index % 2:
            piece = piece.cast(large)
        pieces.append(piece.to_batches()[0] if index % 3 == 0 and piece.num_rows else piece)
    return pieces


@settings(max_examples=150, deadline=None)
@given(rows, st.lists(st.integers(0, 40), max_size=6), st.booleans())
def test_hashing_a_table_in_batches_gives_the_digest_of_the_whole_table(
    data: list[dict[str, Any]], cuts: list[int], mixed: bool
) -> None:
    table = pa.Table.from_pylist(data, schema=SMALL)
    pieces = _pieces(table, cuts, large=LARGE if mixed else None)
    assert hash_table_batches(table.schema, table.num_rows, pieces) == hash_table(table)
    columns = ["s", "i"]
    assert hash_table_batches(table.schema, table.num_rows, pieces, columns=columns) == hash_table(
        table, columns
    )


def test_an_empty_table_hashes_as_no_batches() -> None:
    table = pa.Table.from_pylist([], schema=SMALL)
    assert hash_table_batches(SMALL, 0, []) == hash_table(table)


def test_a_wrong_row_count_or_other_columns_are_refused() -> None:
    table = pa.table({"a": [1, 2, 3]})
    with pytest.raises(HashingError, match="of 4 rows from batches of 3"):
        hash_table_batches(table.schema, 4, [table])
    hasher = TableHasher(table.schema, 3)
    with pytest.raises(HashingError, match="other columns or types"):
        hasher.update(pa.table({"a": ["x"]}))
    with pytest.raises(HashingError, match="other columns or types"):
        hasher.update(pa.table({"b": [1]}))
