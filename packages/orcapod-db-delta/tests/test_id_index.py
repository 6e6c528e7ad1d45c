"""The Delta store's id index: the rows it finds are placed in the right file, row group
and offset, exactly those a brute-force search finds. (The sorted runs of keys it holds are
tested with orcapod-protocols: tests/test_keyindex.py.)"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.db.delta._index import IdIndex

if TYPE_CHECKING:
    from collections.abc import Sequence

FOLDER = tempfile.TemporaryDirectory(prefix="orcapod-id-index-")


@cache
def _footer(group_sizes: tuple[int, ...]) -> pq.FileMetaData:
    path = Path(FOLDER.name) / ("-".join(map(str, group_sizes)) + ".parquet")
    with pq.ParquetWriter(path, pa.schema([("n", pa.int64())])) as writer:
        for size in group_sizes:
            writer.write_table(pa.table({"n": pa.array(range(size), pa.int64())}))
    return pq.ParquetFile(path).metadata


def footer(group_sizes: Sequence[int]) -> pq.FileMetaData:
    """The footer of a real Parquet file with row groups of these sizes."""
    return _footer(tuple(group_sizes))


# Keys drawn from a small range, so that keys repeat within and across files (two ids
# sharing a key), as the index must allow.
files_of_keys = st.lists(
    st.lists(st.integers(0, 40), min_size=1, max_size=30), min_size=1, max_size=25
)


@settings(max_examples=150, deadline=None)
@given(files=files_of_keys, asked=st.lists(st.integers(0, 45), max_size=30, unique=True))
def test_candidates_are_every_row_holding_an_asked_key(
    files: list[list[int]], asked: list[int]
) -> None:
    index = IdIndex()
    stored: list[int] = []
    for number, keys in enumerate(files):
        half = max(1, len(keys) // 2)
        groups = [half, len(keys) - half] if len(keys) > half else [half]
        index.add_file(Path(f"f{number}"), footer(groups), np.array(keys, np.uint64))
        stored += keys
    assert index.num_rows == len(stored)
    query = np.array(asked, np.uint64)
    assert index.contains_any(query).tolist() == [key in stored for key in asked]
    found = index.candidates(query)
    got = set()
    for wanted, file, group, offset in zip(
        found.wanted, found.files, found.groups, found.offsets, strict=True
    ):
        starts = index.files[file].group_starts
        position = index.files[file].start + starts[group] + offset
        got.add((asked[wanted], int(position)))
    expected = {(key, position) for position, key in enumerate(stored) if key in asked}
    assert got == expected
