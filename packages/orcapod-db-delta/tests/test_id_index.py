"""The Delta store's id index: sorted runs of keys that find exactly the rows a brute-force
search finds, however keys arrive, and that stay few as rows are added."""

from __future__ import annotations

import itertools
import math
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.db.delta import _index
from orcapod.db.delta._index import MERGE_RATIO, IdIndex, _Run

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
@given(
    files=files_of_keys,
    asked=st.lists(st.integers(0, 45), max_size=30, unique=True),
    bucketed=st.booleans(),
)
def test_candidates_are_every_row_holding_an_asked_key(
    files: list[list[int]], asked: list[int], bucketed: bool
) -> None:
    with mock.patch.object(_index, "BUCKETED_ROWS", 1 if bucketed else _index.BUCKETED_ROWS):
        _check_candidates(files, asked)


def _check_candidates(files: list[list[int]], asked: list[int]) -> None:
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


def test_runs_stay_logarithmic_in_the_rows_indexed() -> None:
    """Each batch of keys starts a run; runs merge so that each is at least MERGE_RATIO
    times the next: after n batches there are at most about log(n) / log(MERGE_RATIO)
    + MERGE_RATIO of them, not one per batch."""
    index = IdIndex()
    rng = np.random.default_rng(7)
    batches, batch = 2000, 100
    for number in range(batches):
        keys = rng.integers(0, 2**63, batch).astype(np.uint64)
        index.add_file(Path(f"f{number}"), footer([batch]), keys)
    sizes = [len(run.keys) for run in index._runs]
    assert sum(sizes) == batches * batch
    assert all(older >= MERGE_RATIO * newer for older, newer in itertools.pairwise(sizes))
    assert index.runs <= math.log(batches, MERGE_RATIO) + 2


# Keys over the whole 64 bits (as hashes are), with runs of equal keys, and queries that
# are stored, fall between keys, or lie beyond either end.
uint64s = st.integers(0, 2**64 - 1)
bucketed_runs = st.lists(
    st.one_of(uint64s, st.tuples(uint64s, st.integers(2, 40))), min_size=1, max_size=300
)


@settings(max_examples=200, deadline=None)
@given(
    run=bucketed_runs,
    extra=st.lists(st.one_of(uint64s, st.sampled_from([0, 2**64 - 1])), max_size=40),
)
def test_a_bucketed_search_finds_what_a_binary_search_finds(
    run: list[int | tuple[int, int]], extra: list[int]
) -> None:
    keys: list[int] = []
    for item in run:  # a key, or a key repeated
        keys += [item] if isinstance(item, int) else [item[0]] * item[1]
    stored = np.array(sorted(keys), np.uint64)
    between = [key + 1 for key in keys[::5] if key < 2**64 - 1]
    queries = np.array(sorted(keys[::3] + extra + between), np.uint64)
    with mock.patch.object(_index, "BUCKETED_ROWS", 1):
        searched = _Run(stored, np.arange(len(stored), dtype=np.int64))
        assert searched.left(queries).tolist() == np.searchsorted(stored, queries).tolist()
        assert searched._buckets is not None  # the bucketed search was the one checked


def test_large_runs_are_searched_through_buckets_and_small_ones_are_not() -> None:
    rng = np.random.default_rng(11)
    large = np.sort(rng.integers(0, 2**63, _index.BUCKETED_ROWS).astype(np.uint64) * 2)
    small = large[:: _index.BUCKETED_ROWS // 1000]
    queries = np.sort(np.concatenate([large[::97], large[::89] + 1]))
    for keys, bucketed in ((large, True), (small, False)):
        run = _Run(keys, np.arange(len(keys), dtype=np.int64))
        assert run.left(queries).tolist() == np.searchsorted(keys, queries).tolist()
        assert (run._buckets is not None) == bucketed
    # about one byte of bucket starts per key, beside the key and position's 16
    assert run.nbytes == 16 * len(small)
    big = _Run(large, np.arange(len(large), dtype=np.int64))
    big.left(queries)
    assert 16 * len(large) < big.nbytes <= 17 * len(large) + 16
