"""Properties of the operator algebra, and of concat_lists, checked by hypothesis."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core.operators import (
    Batch,
    Filter,
    Join,
    SelectPacketColumns,
    SelectTagColumns,
)
from orcapod.core.sources import DictSource, ListSource
from orcapod.core.system_columns import PROVENANCE, concat_lists

FAST = settings(max_examples=50, deadline=None)

PACKETS = ["p0", "p1", "p2", "p3"]
TAGS = ["t0", "t1", "t2"]


@st.composite
def _keyed_source(draw: st.DrawFn, name: str, key: str) -> DictSource:
    """A source tagged by ``key`` (small ints, repeats likely) and ``<name>_t``."""
    count = draw(st.integers(0, 8))
    rows = [
        {
            key: draw(st.integers(0, 3)),
            f"{name}_t": draw(st.sampled_from(["x", "y"])),
            f"{name}_v": draw(st.integers(-5, 5)),
        }
        for _ in range(count)
    ]
    schema = {key: int, f"{name}_t": str, f"{name}_v": int}
    return DictSource(rows, tag_columns=[key, f"{name}_t"], schema=schema, source_id=name)


@st.composite
def _wide_source(draw: st.DrawFn) -> DictSource:
    """A source of int tags TAGS and int packets PACKETS."""
    count = draw(st.integers(0, 10))
    rows = [{name: draw(st.integers(-3, 3)) for name in [*TAGS, *PACKETS]} for _ in range(count)]
    schema = dict.fromkeys([*TAGS, *PACKETS], int)
    return DictSource(rows, tag_columns=TAGS, schema=schema, source_id="wide")


@st.composite
def _sub_order(draw: st.DrawFn, names: list[str]) -> list[str]:
    """A non-empty subset of ``names`` in a random order."""
    return draw(
        st.permutations(names).flatmap(lambda p: st.integers(1, len(p)).map(lambda n: p[:n]))
    )


def _user_rows_with_provenance(
    stream: Any, *, reverse_provenance: bool
) -> list[tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]]:
    tag_names, packet_names = stream.keys()
    rows = stream.as_table(include_system_columns=True).to_pylist()
    out = []
    for row in rows:
        user = tuple(sorted((name, row[name]) for name in [*tag_names, *packet_names]))
        provenance = row[PROVENANCE][::-1] if reverse_provenance else row[PROVENANCE]
        out.append((user, tuple(provenance)))
    return sorted(out)


@FAST
@given(
    left=_keyed_source("a", "k"),
    right=st.sampled_from(["k", "j"]).flatmap(lambda key: _keyed_source("b", key)),
)
def test_join_is_commutative_up_to_column_and_row_order(
    left: DictSource, right: DictSource
) -> None:
    forward = Join()(left, right)
    backward = Join()(right, left)

    assert set(forward.keys()[0]) == set(backward.keys()[0])
    assert set(forward.keys()[1]) == set(backward.keys()[1])
    assert _user_rows_with_provenance(forward, reverse_provenance=False) == (
        _user_rows_with_provenance(backward, reverse_provenance=True)
    )


@FAST
@given(
    source=_wide_source(),
    orders=_sub_order(PACKETS).flatmap(lambda first: st.tuples(st.just(first), _sub_order(first))),
)
def test_select_packets_after_select_packets_equals_one_select(
    source: DictSource, orders: tuple[list[str], list[str]]
) -> None:
    first, second = orders

    twice = SelectPacketColumns(second)(SelectPacketColumns(first)(source))
    once = SelectPacketColumns(second)(source)

    assert twice.output_schema() == once.output_schema()
    assert twice.as_table(include_system_columns=True).equals(
        once.as_table(include_system_columns=True)
    )


@FAST
@given(
    source=_wide_source(),
    orders=_sub_order(TAGS).flatmap(lambda first: st.tuples(st.just(first), _sub_order(first))),
)
def test_select_tags_after_select_tags_equals_one_select(
    source: DictSource, orders: tuple[list[str], list[str]]
) -> None:
    first, second = orders

    twice = SelectTagColumns(second)(SelectTagColumns(first)(source))
    once = SelectTagColumns(second)(source)

    assert twice.output_schema() == once.output_schema()
    assert twice.as_table(include_system_columns=True).equals(
        once.as_table(include_system_columns=True)
    )


@FAST
@given(
    source=_wide_source(),
    kept=_sub_order(PACKETS),
    read=st.integers(0, 10),
    threshold=st.integers(-3, 3),
    tag=st.sampled_from(TAGS),
)
def test_filter_and_select_commute_when_the_filter_reads_only_kept_columns(
    source: DictSource, kept: list[str], read: int, threshold: int, tag: str
) -> None:
    column = [*kept, tag][read % (len(kept) + 1)]
    condition = pc.field(column) > threshold

    select_then_filter = Filter(condition)(SelectPacketColumns(kept)(source))
    filter_then_select = SelectPacketColumns(kept)(Filter(condition)(source))

    assert select_then_filter.output_schema() == filter_then_select.output_schema()
    assert select_then_filter.as_table(include_system_columns=True).equals(
        filter_then_select.as_table(include_system_columns=True)
    )


@FAST
@given(
    values=st.lists(st.integers(-100, 100), max_size=25),
    batch_size=st.integers(1, 5),
    drop_partial=st.booleans(),
)
def test_batch_then_flattening_gives_back_every_row_in_order(
    values: list[int], batch_size: int, drop_partial: bool
) -> None:
    source = ListSource(values, packet_column="x", value_type=int, source_id="vals")
    kept = len(values) // batch_size * batch_size if drop_partial else len(values)

    table = Batch(batch_size, drop_partial=drop_partial)(source).as_table(
        include_system_columns=True
    )

    lengths = [len(batch) for batch in table.column("x").to_pylist()]
    assert all(length == batch_size for length in lengths[:-1])
    assert all(0 < length <= batch_size for length in lengths)
    flat = {
        name: [v for batch in table.column(name).to_pylist() for v in batch]
        for name in table.column_names
    }
    assert flat["x"] == values[:kept]
    assert flat["index"] == list(range(kept))
    assert flat[PROVENANCE] == [f"vals:{i}" for i in range(kept)]


_LIST = st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=4)


@st.composite
def _list_array_pair(
    draw: st.DrawFn,
) -> tuple[pa.Array, pa.Array, list[list[int | None]], list[list[int | None]]]:
    """Two list arrays of equal length (list or large_list, maybe sliced) and their values."""
    first = draw(st.lists(_LIST, max_size=8))
    second = draw(st.lists(_LIST, min_size=len(first), max_size=len(first)))
    arrays = []
    for values in (first, second):
        large = draw(st.booleans())
        before = draw(st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=3))
        after = draw(st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=3))
        list_type = pa.large_list(pa.int64()) if large else pa.list_(pa.int64())
        whole = pa.array([*before, *values, *after], list_type)
        arrays.append(whole.slice(len(before), len(values)))
    return arrays[0], arrays[1], first, second


@FAST
@given(pair=_list_array_pair())
def test_concat_lists_equals_python_list_concatenation(
    pair: tuple[pa.Array, pa.Array, list[list[int | None]], list[list[int | None]]],
) -> None:
    first, second, first_values, second_values = pair

    result = concat_lists(first, second)

    assert pa.types.is_large_list(result.type)
    assert result.to_pylist() == [a + b for a, b in zip(first_values, second_values, strict=True)]
