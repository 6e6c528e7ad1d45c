"""orcapod.protocols.keyindex: sorted runs of keys that find exactly the entries a
brute-force search finds, however keys arrive, and that stay few as entries are added."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from unittest import mock

import pytest

np = pytest.importorskip(
    "numpy",
    reason="orcapod.protocols.keyindex needs numpy, which orcapod-protocols does not "
    "depend on (its plugins that use the module do)",
)

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from orcapod.protocols import keyindex  # noqa: E402
from orcapod.protocols.keyindex import MERGE_RATIO, KeyIndex, _Run, keys_of  # noqa: E402

# Keys over the whole 64 bits (as hashes are), with runs of equal keys, and queries that
# are stored, fall between keys, or lie beyond either end.
uint64s = st.integers(0, 2**64 - 1)
ends = st.sampled_from([0, 2**64 - 1])
bucketed_runs = st.lists(
    st.one_of(uint64s, st.tuples(uint64s, st.integers(2, 40))), min_size=1, max_size=300
)


@settings(max_examples=200, deadline=None)
@given(run=bucketed_runs, extra=st.lists(st.one_of(uint64s, ends), max_size=40))
def test_a_bucketed_search_finds_what_a_binary_search_finds(
    run: list[int | tuple[int, int]], extra: list[int]
) -> None:
    keys: list[int] = []
    for item in run:  # a key, or a key repeated
        keys += [item] if isinstance(item, int) else [item[0]] * item[1]
    stored = np.array(sorted(keys), np.uint64)
    between = [key + 1 for key in keys[::5] if key < 2**64 - 1]
    queries = np.array(sorted(keys[::3] + extra + between), np.uint64)
    with mock.patch.object(keyindex, "BUCKETED_ROWS", 1):
        searched = _Run(stored, np.arange(len(stored), dtype=np.int64))
        assert searched.left(queries).tolist() == np.searchsorted(stored, queries).tolist()
        assert searched._buckets is not None  # the bucketed search was the one checked


def test_large_runs_are_searched_through_buckets_and_small_ones_are_not() -> None:
    rng = np.random.default_rng(11)
    large = np.sort(rng.integers(0, 2**63, keyindex.BUCKETED_ROWS).astype(np.uint64) * 2)
    small = large[:: keyindex.BUCKETED_ROWS // 1000]
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


def test_runs_stay_logarithmic_in_the_entries_held() -> None:
    """Each batch of keys starts a run; runs merge so that each is at least MERGE_RATIO
    times the next: after n batches there are at most about log(n) / log(MERGE_RATIO)
    + MERGE_RATIO of them, not one per batch."""
    index = KeyIndex()
    rng = np.random.default_rng(7)
    batches, batch = 2000, 100
    for number in range(batches):
        keys = rng.integers(0, 2**63, batch).astype(np.uint64)
        index.add(keys, np.arange(number * batch, (number + 1) * batch, dtype=np.int64))
    sizes = [len(run.keys) for run in index._runs]
    assert index.num_rows == sum(sizes) == batches * batch
    assert all(older >= MERGE_RATIO * newer for older, newer in itertools.pairwise(sizes))
    assert index.runs <= math.log(batches, MERGE_RATIO) + 2
    assert index.nbytes == 16 * batches * batch  # no run reaches BUCKETED_ROWS


# Keys from a few values, so that they repeat within and across batches, and from the
# whole 64 bits, ends included; positions are any int64 (a store's own), repeats allowed.
some_keys = st.one_of(st.integers(0, 12), ends, uint64s)
batches_of_entries = st.lists(
    st.lists(st.tuples(some_keys, st.integers(-(2**63), 2**63 - 1)), max_size=40),
    min_size=1,
    max_size=8,
)
queries = st.lists(st.one_of(st.integers(0, 14), ends, uint64s), max_size=30)

# batches of 40, 6 and 1 entries stay three runs
THREE_RUNS = [
    [(key % 7, position) for position, key in enumerate(range(40))],
    [(0, 100 + n) for n in range(3)] + [(2**64 - 1, 200 + n) for n in range(3)],
    [(0, -1)],
]


def _check_find(batches: list[list[tuple[int, int]]], asked: list[int]) -> KeyIndex:
    index = KeyIndex()
    stored: list[tuple[int, int]] = []
    for entries in batches:
        index.add(
            np.array([key for key, _ in entries], np.uint64),
            np.array([position for _, position in entries], np.int64),
        )
        stored += entries
    assert index.num_rows == len(stored)
    query = np.array(asked, np.uint64)
    wanted, positions = index.find(query)
    assert len(wanted) == len(positions)
    assert positions.tolist() == sorted(positions.tolist())
    expected = Counter(
        (number, position)
        for number, asked_key in enumerate(asked)
        for key, position in stored
        if key == asked_key
    )
    assert Counter(zip(wanted.tolist(), positions.tolist(), strict=True)) == expected
    held = {key for key, _ in stored}
    assert index.contains_any(query).tolist() == [key in held for key in asked]
    return index


@pytest.mark.parametrize("bucketed", [False, True], ids=["searchsorted", "buckets"])
@settings(max_examples=200, deadline=None)
@given(batches=batches_of_entries, asked=queries)
@example(batches=THREE_RUNS, asked=[0, 2**64 - 1, 3, 0, 41])
def test_find_gives_every_entry_holding_an_asked_key(
    bucketed: bool, batches: list[list[tuple[int, int]]], asked: list[int]
) -> None:
    """Several batches (so several runs), compared with a brute-force search; with
    BUCKETED_ROWS made small, every run of two keys or more is searched through buckets."""
    with mock.patch.object(keyindex, "BUCKETED_ROWS", 2 if bucketed else keyindex.BUCKETED_ROWS):
        index = _check_find(batches, asked)
        built = [run._buckets is not None for run in index._runs if len(run.keys) >= 2]
        assert built == [bucketed] * len(built)


def test_find_of_the_example_batches_searches_three_runs() -> None:
    index = _check_find(THREE_RUNS, [0, 2**64 - 1, 6])
    assert index.runs == 3


def test_a_key_shared_by_several_entries_gives_a_pair_each_in_order_of_position() -> None:
    index = KeyIndex()
    index.add(np.array([5, 9, 5], np.uint64), np.array([30, 10, 20], np.int64))
    index.add(np.array([5], np.uint64), np.array([0], np.int64))
    wanted, positions = index.find(np.array([7, 5, 9], np.uint64))
    assert list(zip(wanted.tolist(), positions.tolist(), strict=True)) == [
        (1, 0),
        (2, 10),
        (1, 20),
        (1, 30),
    ]


def test_an_empty_index_finds_nothing_and_clear_forgets_everything() -> None:
    index = KeyIndex()
    wanted, positions = index.find(np.array([1, 2], np.uint64))
    assert (wanted.dtype, positions.dtype, len(wanted), len(positions)) == (
        np.int64,
        np.int64,
        0,
        0,
    )
    index.add(np.array([1, 2], np.uint64), np.array([0, 1], np.int64))
    index.add(np.zeros(0, np.uint64), np.zeros(0, np.int64))  # an empty batch: no run
    assert (index.num_rows, index.runs) == (2, 1)
    index.clear()
    assert (index.num_rows, index.runs, index.nbytes) == (0, 0, 0)
    assert index.contains_any(np.array([1, 2], np.uint64)).tolist() == [False, False]
    assert len(index.find(np.array([1, 2], np.uint64))[0]) == 0


def test_keys_of_are_the_ids_hashes_as_uint64() -> None:
    ids = ["a", "b", "a", ""]
    keys = keys_of(iter(ids))
    assert keys.dtype == np.uint64
    assert keys.tolist() == [hash(text) % 2**64 for text in ids]
    assert len(keys_of([])) == 0
