"""Join, SemiJoin and MergeJoin: rows of several streams matched on their shared tags."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core.errors import SchemaError
from orcapod.core.operators import Batch, Join, MapPackets, MergeJoin, OperatorStream, SemiJoin
from orcapod.core.sources import ArrowTableSource, DictSource, ListSource
from orcapod.core.system_columns import PROVENANCE, PROVENANCE_TYPE
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Callable

HASH = re.compile(r"orcapod-v1-sha256:[0-9a-f]{64}")


def _subjects() -> DictSource:
    return DictSource(
        [
            {"subject": "ann", "age": 31},
            {"subject": "bob", "age": 42},
            {"subject": "cat", "age": 27},
        ],
        tag_columns=["subject"],
        source_id="subjects",
    )


def _sessions() -> DictSource:
    return DictSource(
        [
            {"subject": "bob", "session": 1, "score": 0.5},
            {"subject": "ann", "session": 1, "score": 0.25},
            {"subject": "bob", "session": 2, "score": 0.75},
            {"subject": "dan", "session": 1, "score": 1.0},
        ],
        tag_columns=["subject", "session"],
        source_id="sessions",
    )


def _rows(stream: Any) -> list[dict[str, Any]]:
    return stream.as_table(include_system_columns=True).to_pylist()


# Join: values ------------------------------------------------------------------


def test_join_matches_rows_on_shared_tags_and_drops_unmatched_rows() -> None:
    joined = Join()(_subjects(), _sessions())

    assert _rows(joined) == [
        {
            "subject": "ann",
            "session": 1,
            "age": 31,
            "score": 0.25,
            PROVENANCE: ["subjects:0", "sessions:1"],
        },
        {
            "subject": "bob",
            "session": 1,
            "age": 42,
            "score": 0.5,
            PROVENANCE: ["subjects:1", "sessions:0"],
        },
        {
            "subject": "bob",
            "session": 2,
            "age": 42,
            "score": 0.75,
            PROVENANCE: ["subjects:1", "sessions:2"],
        },
    ]


def test_join_multiplies_rows_for_duplicate_keys() -> None:
    left = DictSource(
        [{"k": 1, "a": "x"}, {"k": 1, "a": "y"}, {"k": 2, "a": "z"}],
        tag_columns="k",
        source_id="left",
    )
    right = DictSource(
        [{"k": 1, "b": 10}, {"k": 1, "b": 20}, {"k": 1, "b": 30}],
        tag_columns="k",
        source_id="right",
    )

    table = Join()(left, right).as_table()

    assert table.num_rows == 6
    assert table.to_pylist() == [{"k": 1, "a": a, "b": b} for a in ("x", "y") for b in (10, 20, 30)]


def test_join_output_schema_is_every_tag_once_then_every_packet_in_input_order() -> None:
    joined = Join()(_subjects(), _sessions())

    tag_schema, packet_schema = joined.output_schema()

    assert tag_schema == Schema({"subject": str, "session": int})
    assert packet_schema == Schema({"age": int, "score": float})
    assert joined.keys() == (("subject", "session"), ("age", "score"))
    assert joined.as_table().column_names == ["subject", "session", "age", "score"]
    assert joined.as_table(include_system_columns=True).column_names == [
        "subject",
        "session",
        "age",
        "score",
        PROVENANCE,
    ]


def test_join_output_schema_follows_the_order_the_inputs_are_given() -> None:
    tag_schema, packet_schema = Join()(_sessions(), _subjects()).output_schema()

    assert list(tag_schema) == ["subject", "session"]
    assert list(packet_schema) == ["score", "age"]


def test_join_of_three_streams_matches_each_on_the_tags_it_shares_with_those_before() -> None:
    devices = DictSource(
        [{"session": 1, "device": "rig-a"}, {"session": 2, "device": "rig-b"}],
        tag_columns="session",
        source_id="devices",
    )

    joined = Join()(_subjects(), _sessions(), devices)

    assert joined.keys() == (("subject", "session"), ("age", "score", "device"))
    assert _rows(joined) == [
        {
            "subject": "ann",
            "session": 1,
            "age": 31,
            "score": 0.25,
            "device": "rig-a",
            PROVENANCE: ["subjects:0", "sessions:1", "devices:0"],
        },
        {
            "subject": "bob",
            "session": 1,
            "age": 42,
            "score": 0.5,
            "device": "rig-a",
            PROVENANCE: ["subjects:1", "sessions:0", "devices:0"],
        },
        {
            "subject": "bob",
            "session": 2,
            "age": 42,
            "score": 0.75,
            "device": "rig-b",
            PROVENANCE: ["subjects:1", "sessions:2", "devices:1"],
        },
    ]


def test_join_of_streams_sharing_no_tag_is_their_cross_product_left_major() -> None:
    doses = ListSource([1.0, 2.0], packet_column="dose", tag_column="d", source_id="doses")
    drugs = ListSource(["x", "y", "z"], packet_column="drug", tag_column="g", source_id="drugs")

    joined = Join()(doses, drugs)

    assert joined.keys() == (("d", "g"), ("dose", "drug"))
    assert _rows(joined) == [
        {"d": d, "g": g, "dose": dose, "drug": drug, PROVENANCE: [f"doses:{d}", f"drugs:{g}"]}
        for d, dose in enumerate([1.0, 2.0])
        for g, drug in enumerate(["x", "y", "z"])
    ]


def test_join_with_an_empty_stream_has_no_rows_and_the_full_schema() -> None:
    empty = DictSource(
        [], tag_columns="subject", schema={"subject": str, "weight": float}, source_id="none"
    )

    table = Join()(_subjects(), empty).as_table(include_system_columns=True)

    assert table.num_rows == 0
    assert table.column_names == ["subject", "age", "weight", PROVENANCE]


def test_join_with_no_matching_rows_keeps_the_provenance_column_type() -> None:
    other = DictSource([{"subject": "zed", "weight": 1.0}], tag_columns="subject", source_id="z")

    table = Join()(_subjects(), other).as_table(include_system_columns=True)

    assert table.num_rows == 0
    assert table.schema.field(PROVENANCE).type == PROVENANCE_TYPE


def test_join_iterates_as_tags_and_packets_with_concatenated_provenance() -> None:
    pairs = list(Join()(_subjects(), _sessions()))

    tag, packet = pairs[2]
    assert tag.as_dict() == {"subject": "bob", "session": 2}
    assert packet.as_dict() == {"age": 42, "score": 0.75}
    assert tag.system_tags() == {PROVENANCE: ["subjects:1", "sessions:2"]}


# Join: provenance ----------------------------------------------------------------


def test_join_provenance_is_the_inputs_provenance_concatenated_in_input_order() -> None:
    forward = _rows(Join()(_subjects(), _sessions()))
    backward = _rows(Join()(_sessions(), _subjects()))

    assert [row[PROVENANCE] for row in forward] == [
        ["subjects:0", "sessions:1"],
        ["subjects:1", "sessions:0"],
        ["subjects:1", "sessions:2"],
    ]
    assert [row[PROVENANCE] for row in backward] == [
        ["sessions:0", "subjects:1"],
        ["sessions:1", "subjects:0"],
        ["sessions:2", "subjects:1"],
    ]


def test_join_of_joins_carries_every_source_row_in_its_provenance() -> None:
    inner = Join()(_subjects(), _sessions())
    devices = DictSource([{"session": 2, "device": "rig"}], tag_columns="session", source_id="dev")

    rows = _rows(Join()(devices, inner))

    assert [row[PROVENANCE] for row in rows] == [["dev:0", "subjects:1", "sessions:2"]]


# Join: schema errors -------------------------------------------------------------


def test_join_refuses_a_packet_column_in_two_inputs_and_suggests_mappackets() -> None:
    left = DictSource([{"k": 1, "value": 1.0}], tag_columns="k")
    right = DictSource([{"k": 1, "value": 2.0}], tag_columns="k")

    with pytest.raises(SchemaError, match="'value'") as caught:
        Join()(left, right)

    assert "MapPackets" in str(caught.value)


def test_join_accepts_the_packet_column_once_it_is_renamed() -> None:
    left = DictSource([{"k": 1, "value": 1.0}], tag_columns="k")
    right = DictSource([{"k": 1, "value": 2.0}], tag_columns="k")

    joined = Join()(left, MapPackets({"value": "value_right"})(right))

    assert joined.as_table().to_pylist() == [{"k": 1, "value": 1.0, "value_right": 2.0}]


@pytest.mark.parametrize("tag_first", [True, False])
def test_join_refuses_a_column_that_is_a_tag_in_one_input_and_a_packet_in_another(
    tag_first: bool,
) -> None:
    as_tag = DictSource([{"k": 1, "trial": 3}], tag_columns=["k", "trial"])
    as_packet = DictSource([{"k": 1, "trial": 3}], tag_columns="k")
    inputs = (as_tag, as_packet) if tag_first else (as_packet, as_tag)

    with pytest.raises(SchemaError, match="'trial'"):
        Join()(*inputs)


def test_join_refuses_a_tag_key_of_different_types_naming_column_and_both_types() -> None:
    ints = DictSource([{"subject": 1, "x": 1}], tag_columns="subject")
    strs = DictSource([{"subject": "1", "y": 1}], tag_columns="subject")

    with pytest.raises(SchemaError, match="'subject'") as caught:
        Join()(ints, strs)

    message = str(caught.value)
    assert "int" in message
    assert "str" in message


def test_join_matches_int_keys_stored_in_different_arrow_widths() -> None:
    narrow = ArrowTableSource(pa.table({"t": pa.array([1, 2], pa.int32()), "q": [5, 6]}), "t")
    wide = DictSource([{"t": 2, "r": 7}], tag_columns="t")

    assert Join()(narrow, wide).as_table().to_pylist() == [{"t": 2, "q": 6, "r": 7}]


@pytest.mark.parametrize("count", [0, 1])
def test_join_refuses_fewer_than_two_inputs(count: int) -> None:
    with pytest.raises(SchemaError, match="at least 2"):
        Join()(*[_subjects()][:count])


# Join: order and types -------------------------------------------------------------


def _reference_join(
    left: list[dict[str, Any]], right: list[dict[str, Any]]
) -> list[tuple[int, int]]:
    """Row pairs of an inner join on "k", by a nested loop: left-row major."""
    return [
        (i, j)
        for i, lrow in enumerate(left)
        for j, rrow in enumerate(right)
        if lrow["k"] == rrow["k"]
    ]


def test_join_rows_are_sorted_by_the_first_inputs_row_then_the_seconds() -> None:
    rng = random.Random(6)
    left_rows = [{"k": rng.randrange(40), "a": i} for i in range(500)]
    right_rows = [{"k": rng.randrange(40), "b": i} for i in range(300)]
    left = DictSource(left_rows, tag_columns="k", source_id="l")
    right = DictSource(right_rows, tag_columns="k", source_id="r")

    table = Join()(left, right).as_table(include_system_columns=True)

    expected = _reference_join(left_rows, right_rows)
    assert table.num_rows == len(expected)
    pairs = zip(table.column("a").to_pylist(), table.column("b").to_pylist(), strict=True)
    assert list(pairs) == expected
    assert table.column(PROVENANCE).to_pylist() == [[f"l:{i}", f"r:{j}"] for i, j in expected]


def test_join_gives_the_same_table_every_time() -> None:
    rng = random.Random(7)
    left_rows = [{"k": rng.randrange(10), "a": i} for i in range(200)]
    right_rows = [{"k": rng.randrange(10), "b": i} for i in range(200)]

    def build() -> pa.Table:
        left = DictSource(left_rows, tag_columns="k", source_id="l")
        right = DictSource(right_rows, tag_columns="k", source_id="r")
        return Join()(left, right).as_table(include_system_columns=True)

    assert build().equals(build())


def test_list_map_and_path_packet_columns_survive_a_join() -> None:
    left = DictSource(
        [
            {"k": 1, "xs": [1, 2, 3], "meta": {"unit": "mV"}, "file": Path("/data/a.csv")},
            {"k": 2, "xs": [], "meta": {}, "file": Path("/data/b.csv")},
        ],
        tag_columns="k",
        source_id="l",
    )
    right = DictSource(
        [{"k": 2, "names": ["p", "q"]}, {"k": 1, "names": []}, {"k": 1, "names": ["r"]}],
        tag_columns="k",
        source_id="r",
    )

    joined = Join()(left, right)

    assert joined.output_schema()[1] == Schema(
        {"xs": list[int], "meta": dict[str, str], "file": Path, "names": list[str]}
    )
    assert [(tag.as_dict(), packet.as_dict()) for tag, packet in joined] == [
        (
            {"k": 1},
            {"xs": [1, 2, 3], "meta": {"unit": "mV"}, "file": Path("/data/a.csv"), "names": []},
        ),
        (
            {"k": 1},
            {"xs": [1, 2, 3], "meta": {"unit": "mV"}, "file": Path("/data/a.csv"), "names": ["r"]},
        ),
        ({"k": 2}, {"xs": [], "meta": {}, "file": Path("/data/b.csv"), "names": ["p", "q"]}),
    ]


# Join: laziness and identity ---------------------------------------------------


def test_join_computes_nothing_until_its_rows_are_read() -> None:
    left, right = _subjects(), _sessions()

    joined = Join()(left, right)

    assert isinstance(joined, OperatorStream)
    assert joined._table_cache is None
    assert left._table_cache is None
    assert right._table_cache is None
    joined.as_table()
    assert joined._table_cache is not None


def test_join_hashes_are_stable_across_constructions() -> None:
    first = Join()(_subjects(), _sessions())
    second = Join()(_subjects(), _sessions())

    assert HASH.fullmatch(first.content_hash())
    assert HASH.fullmatch(first.pipeline_hash())
    assert first.content_hash() == second.content_hash()
    assert first.pipeline_hash() == second.pipeline_hash()


def test_join_content_hash_changes_with_an_inputs_data_but_pipeline_hash_does_not() -> None:
    changed = DictSource(
        [
            {"subject": "ann", "age": 31},
            {"subject": "bob", "age": 43},
            {"subject": "cat", "age": 27},
        ],
        tag_columns=["subject"],
        source_id="subjects",
    )
    original = Join()(_subjects(), _sessions())
    edited = Join()(changed, _sessions())

    assert original.content_hash() != edited.content_hash()
    assert original.pipeline_hash() == edited.pipeline_hash()


def test_join_hashes_depend_on_the_order_of_the_inputs() -> None:
    forward = Join()(_subjects(), _sessions())
    backward = Join()(_sessions(), _subjects())

    # Documented: the output's column order and provenance follow the input order.
    assert forward.content_hash() != backward.content_hash()
    assert forward.pipeline_hash() != backward.pipeline_hash()


# SemiJoin -----------------------------------------------------------------------


def test_semijoin_keeps_left_rows_whose_shared_tags_are_in_the_right_in_left_order() -> None:
    left = DictSource(
        [
            {"subject": "cat", "session": 1, "x": 1},
            {"subject": "ann", "session": 1, "x": 2},
            {"subject": "bob", "session": 2, "x": 3},
            {"subject": "ann", "session": 2, "x": 4},
            {"subject": "dan", "session": 1, "x": 5},
        ],
        tag_columns=["subject", "session"],
        source_id="left",
    )
    # "ann" twice in the right must not duplicate left rows.
    right = DictSource(
        [
            {"subject": "bob", "y": 0.0},
            {"subject": "ann", "y": 1.0},
            {"subject": "ann", "y": 2.0},
            {"subject": "eve", "y": 3.0},
        ],
        tag_columns="subject",
        source_id="right",
    )

    kept = SemiJoin()(left, right)

    assert kept.output_schema() == left.output_schema()
    assert _rows(kept) == [
        {"subject": "ann", "session": 1, "x": 2, PROVENANCE: ["left:1"]},
        {"subject": "bob", "session": 2, "x": 3, PROVENANCE: ["left:2"]},
        {"subject": "ann", "session": 2, "x": 4, PROVENANCE: ["left:3"]},
    ]


def test_semijoin_keeps_left_order_on_many_rows() -> None:
    rng = random.Random(3)
    left_rows = [{"k": rng.randrange(100), "i": i} for i in range(2000)]
    right_rows = [{"k": k, "j": k} for k in rng.sample(range(100), 30)]
    wanted = {row["k"] for row in right_rows}

    kept = SemiJoin()(
        DictSource(left_rows, tag_columns="k", source_id="l"),
        DictSource(right_rows, tag_columns="k", source_id="r"),
    )

    assert kept.as_table().to_pylist() == [row for row in left_rows if row["k"] in wanted]


def test_semijoin_refuses_streams_that_share_no_tag() -> None:
    with pytest.raises(SchemaError, match="share no tag"):
        SemiJoin()(
            ListSource([1], tag_column="a", packet_column="x"),
            ListSource([1], tag_column="b", packet_column="y"),
        )


def test_semijoin_refuses_a_key_of_different_types() -> None:
    ints = DictSource([{"subject": 1, "x": 1}], tag_columns="subject")
    strs = DictSource([{"subject": "1", "y": 1}], tag_columns="subject")

    with pytest.raises(SchemaError, match="'subject'") as caught:
        SemiJoin()(ints, strs)

    assert "int" in str(caught.value)
    assert "str" in str(caught.value)


def test_semijoin_takes_exactly_two_inputs() -> None:
    with pytest.raises(SchemaError, match="exactly 2"):
        SemiJoin()(_subjects(), _subjects(), _subjects())


# MergeJoin ---------------------------------------------------------------------


def test_mergejoin_collects_same_named_packet_columns_into_lists_in_input_order() -> None:
    first = DictSource(
        [{"k": 1, "value": 1.0, "note": "a"}, {"k": 2, "value": 2.0, "note": "b"}],
        tag_columns="k",
        source_id="first",
    )
    second = DictSource(
        [{"k": 2, "value": 20.0}, {"k": 1, "value": 10.0}], tag_columns="k", source_id="second"
    )
    third = DictSource(
        [{"k": 1, "value": 100.0}, {"k": 2, "value": 200.0}], tag_columns="k", source_id="third"
    )

    merged = MergeJoin()(first, second, third)

    assert merged.output_schema() == (
        Schema({"k": int}),
        Schema({"value": list[float], "note": str}),
    )
    assert _rows(merged) == [
        {
            "k": 1,
            "value": [1.0, 10.0, 100.0],
            "note": "a",
            PROVENANCE: ["first:0", "second:1", "third:0"],
        },
        {
            "k": 2,
            "value": [2.0, 20.0, 200.0],
            "note": "b",
            PROVENANCE: ["first:1", "second:0", "third:1"],
        },
    ]
    assert [packet.as_dict() for _, packet in merged] == [
        {"value": [1.0, 10.0, 100.0], "note": "a"},
        {"value": [2.0, 20.0, 200.0], "note": "b"},
    ]


def test_mergejoin_merges_list_columns_into_lists_of_lists() -> None:
    first = DictSource([{"k": 1, "xs": [1, 2]}], tag_columns="k")
    second = DictSource([{"k": 1, "xs": []}], tag_columns="k", schema={"xs": list[int]})

    merged = MergeJoin()(first, second)

    assert merged.output_schema()[1] == Schema({"xs": list[list[int]]})
    assert merged.as_table().to_pylist() == [{"k": 1, "xs": [[1, 2], []]}]


def test_mergejoin_refuses_same_named_packet_columns_of_different_types() -> None:
    floats = DictSource([{"k": 1, "value": 1.0}], tag_columns="k")
    strs = DictSource([{"k": 1, "value": "one"}], tag_columns="k")

    with pytest.raises(SchemaError, match="'value'") as caught:
        MergeJoin()(floats, strs)

    assert "float" in str(caught.value)
    assert "str" in str(caught.value)


def test_mergejoin_leaves_columns_found_in_one_input_unchanged() -> None:
    merged = MergeJoin()(_subjects(), _sessions())

    assert merged.output_schema() == Join()(_subjects(), _sessions()).output_schema()
    assert merged.as_table().equals(Join()(_subjects(), _sessions()).as_table())


# join keys of list and map type ------------------------------------------------------


def _rows_or_refusal(build: Callable[[], Any]) -> list[dict[str, Any]] | str:
    """The rows of the stream ``build`` makes, or the message of its SchemaError."""
    try:
        stream = build()
    except SchemaError as error:
        return str(error)
    return stream.as_table().to_pylist()


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (Join(), [{"k": [1, 2], "x": 1, "y": 10}]),
        (SemiJoin(), [{"k": [1, 2], "x": 1}]),
    ],
)
def test_a_list_tag_key_is_matched_or_refused_when_the_join_is_built(
    operator: Any, expected: list[dict[str, Any]]
) -> None:
    left = DictSource([{"k": [1, 2], "x": 1}, {"k": [3], "x": 2}], tag_columns="k")
    right = DictSource([{"k": [1, 2], "y": 10}, {"k": [2, 1], "y": 20}], tag_columns="k")

    outcome = _rows_or_refusal(lambda: operator(left, right))

    assert outcome == expected or (isinstance(outcome, str) and "'k'" in outcome)


def test_joining_two_batched_streams_on_their_list_tags_is_matched_or_refused_when_built() -> None:
    doses = Batch(2)(ListSource([1.0, 2.0, 3.0], packet_column="dose"))
    drugs = Batch(2)(ListSource(["x", "y", "z"], packet_column="drug"))

    outcome = _rows_or_refusal(lambda: Join()(doses, drugs))

    assert outcome == [
        {"index": [0, 1], "dose": [1.0, 2.0], "drug": ["x", "y"]},
        {"index": [2], "dose": [3.0], "drug": ["z"]},
    ] or (isinstance(outcome, str) and "'index'" in outcome)
