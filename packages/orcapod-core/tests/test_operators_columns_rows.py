"""Column operators (select, drop, rename), Filter, Batch and GroupBy, and operator identity."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core.datagrams import Packet, Tag
from orcapod.core.errors import HashingError, SchemaError
from orcapod.core.operators import (
    Batch,
    DropPacketColumns,
    DropTagColumns,
    Filter,
    GroupBy,
    Join,
    MapPackets,
    MapTags,
    SelectPacketColumns,
    SelectTagColumns,
)
from orcapod.core.sources import ArrowTableSource, DictSource, ListSource
from orcapod.core.system_columns import PROVENANCE
from orcapod.core.types import Schema

HASH = re.compile(r"orcapod-v1-sha256:[0-9a-f]{64}")


def _trials() -> DictSource:
    return DictSource(
        [
            {"subject": "ann", "session": 1, "score": 0.5, "label": "a", "n": 3},
            {"subject": "bob", "session": 1, "score": 0.9, "label": "b", "n": 1},
            {"subject": "ann", "session": 2, "score": 0.1, "label": "c", "n": 4},
            {"subject": "cat", "session": 3, "score": 0.7, "label": "d", "n": 1},
        ],
        tag_columns=["subject", "session"],
        source_id="trials",
    )


def _rows(stream: Any) -> list[dict[str, Any]]:
    return stream.as_table(include_system_columns=True).to_pylist()


def _provenance(stream: Any) -> list[list[str]]:
    return stream.as_table(include_system_columns=True).column(PROVENANCE).to_pylist()


# Select and Drop -----------------------------------------------------------------


def test_select_packet_columns_keeps_the_named_columns_in_the_order_given() -> None:
    selected = SelectPacketColumns(["n", "score"])(_trials())

    assert selected.keys() == (("subject", "session"), ("n", "score"))
    assert selected.output_schema()[1] == Schema({"n": int, "score": float})
    assert selected.as_table().column_names == ["subject", "session", "n", "score"]
    assert selected.as_table().column("n").to_pylist() == [3, 1, 4, 1]
    assert _provenance(selected) == [[f"trials:{i}"] for i in range(4)]


def test_select_tag_columns_keeps_the_named_tags_in_the_order_given() -> None:
    selected = SelectTagColumns(["session", "subject"])(_trials())

    assert selected.keys() == (("session", "subject"), ("score", "label", "n"))
    assert next(tag.as_dict() for tag, _ in selected) == {"session": 1, "subject": "ann"}
    assert _provenance(selected) == [[f"trials:{i}"] for i in range(4)]


def test_select_accepts_one_column_name_as_a_str() -> None:
    assert SelectPacketColumns("label")(_trials()).keys()[1] == ("label",)


def test_drop_columns_removes_the_named_columns_and_keeps_the_rest_in_order() -> None:
    dropped = DropPacketColumns(["label"])(DropTagColumns("session")(_trials()))

    assert dropped.keys() == (("subject",), ("score", "n"))
    assert dropped.as_table().to_pylist()[1] == {"subject": "bob", "score": 0.9, "n": 1}
    assert _provenance(dropped) == [[f"trials:{i}"] for i in range(4)]


@pytest.mark.parametrize(
    ("operator", "missing", "listed"),
    [
        (SelectPacketColumns(["score", "weight"]), "weight", "['score', 'label', 'n']"),
        (DropPacketColumns("weight"), "weight", "['score', 'label', 'n']"),
        (SelectTagColumns("trial"), "trial", "['subject', 'session']"),
        (DropTagColumns("trial"), "trial", "['subject', 'session']"),
        (MapTags({"trial": "t"}), "trial", "['subject', 'session']"),
        (MapPackets({"weight": "w"}), "weight", "['score', 'label', 'n']"),
    ],
)
def test_an_unknown_column_is_named_with_the_columns_there_are(
    operator: Any, missing: str, listed: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        operator(_trials())

    assert repr(missing) in str(caught.value)
    assert listed in str(caught.value)


def test_a_packet_column_named_to_a_tag_operator_is_unknown() -> None:
    with pytest.raises(SchemaError, match="'score'"):
        SelectTagColumns(["score"])(_trials())


@pytest.mark.parametrize(
    "operator",
    [
        SelectPacketColumns([]),
        SelectTagColumns([]),
        DropPacketColumns(["score", "label", "n"]),
        DropTagColumns(["subject", "session"]),
    ],
)
def test_selecting_no_column_or_dropping_every_column_is_refused(operator: Any) -> None:
    with pytest.raises(SchemaError):
        operator(_trials())


def test_selecting_a_column_twice_is_refused() -> None:
    with pytest.raises(SchemaError, match="'score'"):
        SelectPacketColumns(["score", "score"])


# MapTags and MapPackets ------------------------------------------------------------


def test_maptags_renames_tags_keeping_values_order_and_provenance() -> None:
    renamed = MapTags({"subject": "animal"})(_trials())

    assert renamed.keys() == (("animal", "session"), ("score", "label", "n"))
    assert renamed.output_schema()[0] == Schema({"animal": str, "session": int})
    assert renamed.as_table().column("animal").to_pylist() == ["ann", "bob", "ann", "cat"]
    assert _provenance(renamed) == [[f"trials:{i}"] for i in range(4)]


def test_mappackets_renames_packets_keeping_values_and_provenance() -> None:
    renamed = MapPackets({"score": "accuracy"})(_trials())

    assert renamed.keys() == (("subject", "session"), ("accuracy", "label", "n"))
    assert [packet["accuracy"] for _, packet in renamed] == [0.5, 0.9, 0.1, 0.7]
    assert _provenance(renamed) == [[f"trials:{i}"] for i in range(4)]


def test_mappackets_can_swap_two_names() -> None:
    swapped = MapPackets({"label": "n", "n": "label"})(_trials())

    assert swapped.output_schema()[1] == Schema({"score": float, "n": str, "label": int})
    assert swapped.as_table().to_pylist()[0] == {
        "subject": "ann",
        "session": 1,
        "score": 0.5,
        "n": "a",
        "label": 3,
    }


def test_maptags_can_swap_two_names() -> None:
    swapped = MapTags({"subject": "session", "session": "subject"})(_trials())

    assert swapped.output_schema()[0] == Schema({"session": str, "subject": int})
    assert swapped.as_table().column("session").to_pylist() == ["ann", "bob", "ann", "cat"]


def test_renaming_a_tag_to_a_packet_column_name_is_refused() -> None:
    with pytest.raises(SchemaError, match="'score'") as caught:
        MapTags({"subject": "score"})(_trials())

    assert "packet" in str(caught.value)


def test_renaming_a_packet_to_a_tag_column_name_is_refused() -> None:
    with pytest.raises(SchemaError, match="'subject'") as caught:
        MapPackets({"score": "subject"})(_trials())

    assert "tag" in str(caught.value)


def test_renaming_a_packet_onto_another_packet_column_is_refused() -> None:
    with pytest.raises(SchemaError, match="'n'"):
        MapPackets({"score": "n"})(_trials())


@pytest.mark.parametrize("kind", [MapTags, MapPackets])
def test_renaming_to_a_reserved_name_is_refused(kind: Any) -> None:
    with pytest.raises(SchemaError, match="__x"):
        kind({"subject": "__x"})


def test_renaming_two_columns_to_one_name_is_refused() -> None:
    with pytest.raises(SchemaError, match="'both'"):
        MapPackets({"score": "both", "label": "both"})


# Filter ----------------------------------------------------------------------------


def test_filter_by_expression_keeps_matching_rows_with_their_provenance() -> None:
    kept = Filter(pc.field("score") > 0.4)(_trials())

    assert kept.output_schema() == _trials().output_schema()
    assert _rows(kept) == [
        {
            "subject": "ann",
            "session": 1,
            "score": 0.5,
            "label": "a",
            "n": 3,
            PROVENANCE: ["trials:0"],
        },
        {
            "subject": "bob",
            "session": 1,
            "score": 0.9,
            "label": "b",
            "n": 1,
            PROVENANCE: ["trials:1"],
        },
        {
            "subject": "cat",
            "session": 3,
            "score": 0.7,
            "label": "d",
            "n": 1,
            PROVENANCE: ["trials:3"],
        },
    ]


def test_filter_by_expression_can_read_tag_columns() -> None:
    kept = Filter((pc.field("subject") == "ann") & (pc.field("session") > 1))(_trials())

    assert _provenance(kept) == [["trials:2"]]


def test_filter_by_expression_on_many_rows_keeps_exactly_the_matching_rows() -> None:
    n = 100_000
    table = pa.table({"i": pa.array(range(n), pa.int64()), "x": [i % 7 for i in range(n)]})
    source = ArrowTableSource(table, "i", source_id="many")

    kept = Filter(pc.field("x") == 3)(source).as_table(include_system_columns=True)

    assert kept.column("i").to_pylist() == list(range(3, n, 7))
    assert kept.column(PROVENANCE).to_pylist()[:2] == [["many:3"], ["many:10"]]


def test_filter_expression_naming_an_unknown_column_is_refused_when_applied() -> None:
    condition = Filter(pc.field("weight") > 1)

    with pytest.raises(SchemaError, match="weight"):
        condition(_trials())


def test_filter_expression_not_giving_booleans_is_refused_when_applied() -> None:
    with pytest.raises(SchemaError):
        Filter(pc.field("score") + 1)(_trials())


def _is_ann(tag: Tag, packet: Packet) -> bool:
    return tag["subject"] == "ann" and packet["n"] > 2


def test_filter_by_a_def_predicate_keeps_rows_it_accepts() -> None:
    kept = Filter(_is_ann)(_trials())

    assert kept.output_schema() == _trials().output_schema()
    assert [tag.as_dict() for tag, _ in kept] == [
        {"subject": "ann", "session": 1},
        {"subject": "ann", "session": 2},
    ]
    assert _provenance(kept) == [["trials:0"], ["trials:2"]]


def test_filter_predicate_gets_each_rows_tag_and_packet() -> None:
    seen: list[tuple[type, dict[str, Any], type, dict[str, Any]]] = []

    def record(tag: Tag, packet: Packet) -> bool:
        seen.append((type(tag), tag.as_dict(), type(packet), packet.as_dict()))
        return True

    stream = Filter(record)(_trials())
    assert seen == []  # lazy: nothing is called at construction

    stream.as_table()

    assert seen[1] == (
        Tag,
        {"subject": "bob", "session": 1},
        Packet,
        {"score": 0.9, "label": "b", "n": 1},
    )
    assert len(seen) == 4


def test_filter_refuses_a_lambda_without_code_identity() -> None:
    with pytest.raises(HashingError, match="lambda"):
        Filter(lambda tag, packet: packet["n"] > 1)


def test_filter_accepts_a_lambda_with_code_identity() -> None:
    kept = Filter(lambda tag, packet: packet["n"] > 1, code_identity="n-above-1")(_trials())

    assert _provenance(kept) == [["trials:0"], ["trials:2"]]


def test_filter_refuses_a_predicate_that_is_neither_expression_nor_callable() -> None:
    with pytest.raises(TypeError):
        Filter("score > 1")  # type: ignore[arg-type]


def test_filter_of_a_join_keeps_the_joined_provenance() -> None:
    weights = DictSource(
        [{"subject": "ann", "w": 1.0}, {"subject": "bob", "w": 2.0}],
        tag_columns="subject",
        source_id="weights",
    )

    kept = Filter(pc.field("w") > 1.5)(Join()(_trials(), weights))

    assert _provenance(kept) == [["trials:1", "weights:1"]]


# Batch ------------------------------------------------------------------------------


def _numbers(count: int) -> ListSource:
    return ListSource(list(range(10, 10 + count)), packet_column="x", source_id="nums")


def test_batch_groups_consecutive_rows_into_lists_and_keeps_a_partial_last_batch() -> None:
    batched = Batch(3)(_numbers(7))

    assert _rows(batched) == [
        {"index": [0, 1, 2], "x": [10, 11, 12], PROVENANCE: ["nums:0", "nums:1", "nums:2"]},
        {"index": [3, 4, 5], "x": [13, 14, 15], PROVENANCE: ["nums:3", "nums:4", "nums:5"]},
        {"index": [6], "x": [16], PROVENANCE: ["nums:6"]},
    ]


def test_batch_drop_partial_drops_the_short_last_batch() -> None:
    batched = Batch(3, drop_partial=True)(_numbers(7))

    assert batched.as_table().to_pylist() == [
        {"index": [0, 1, 2], "x": [10, 11, 12]},
        {"index": [3, 4, 5], "x": [13, 14, 15]},
    ]


def test_batch_drop_partial_keeps_a_last_batch_that_is_full() -> None:
    assert Batch(3, drop_partial=True)(_numbers(6)).as_table().num_rows == 2


def test_batch_drop_partial_of_fewer_rows_than_one_batch_is_empty() -> None:
    assert Batch(5, drop_partial=True)(_numbers(3)).as_table().num_rows == 0


def test_batch_makes_every_column_a_list_of_its_type() -> None:
    source = DictSource(
        [
            {"k": 1, "f": Path("/a"), "xs": [1], "m": {"a": 1}, "o": None},
            {"k": 2, "f": Path("/b"), "xs": [], "m": {}, "o": 2.5},
        ],
        tag_columns="k",
        schema={"o": float | None},
    )

    batched = Batch(2)(source)

    assert batched.output_schema() == (
        Schema({"k": list[int]}),
        Schema(
            {
                "f": list[Path],
                "xs": list[list[int]],
                "m": list[dict[str, int]],
                "o": list[float | None],
            }
        ),
    )
    [(tag, packet)] = list(batched)
    assert tag.as_dict() == {"k": [1, 2]}
    assert packet.as_dict() == {
        "f": [Path("/a"), Path("/b")],
        "xs": [[1], []],
        "m": [{"a": 1}, {}],
        "o": [None, 2.5],
    }


def test_batch_concatenates_the_provenance_of_joined_rows() -> None:
    weights = DictSource(
        [{"subject": "ann", "w": 1.0}, {"subject": "bob", "w": 2.0}],
        tag_columns="subject",
        source_id="weights",
    )

    batched = Batch(2)(Join()(_trials(), weights))

    assert _provenance(batched) == [
        ["trials:0", "weights:0", "trials:1", "weights:1"],
        ["trials:2", "weights:0"],
    ]


def test_batch_of_a_filtered_stream_groups_only_the_kept_rows() -> None:
    batched = Batch(2)(Filter(pc.field("x").isin([11, 13, 15, 17]))(_numbers(9)))

    assert _rows(batched) == [
        {"index": [1, 3], "x": [11, 13], PROVENANCE: ["nums:1", "nums:3"]},
        {"index": [5, 7], "x": [15, 17], PROVENANCE: ["nums:5", "nums:7"]},
    ]


def test_batch_of_a_sliced_table_groups_the_rows_of_the_slice() -> None:
    table = pa.table({"i": list(range(10)), "v": [[i] for i in range(10)]}).slice(3, 5)

    batched = Batch(2)(ArrowTableSource(table, "i", source_id="sl"))

    assert _rows(batched) == [
        {"i": [3, 4], "v": [[3], [4]], PROVENANCE: ["sl:0", "sl:1"]},
        {"i": [5, 6], "v": [[5], [6]], PROVENANCE: ["sl:2", "sl:3"]},
        {"i": [7], "v": [[7]], PROVENANCE: ["sl:4"]},
    ]


def test_batch_of_a_batch_nests_lists_and_concatenates_provenance() -> None:
    twice = Batch(2)(Batch(2)(_numbers(5)))

    assert twice.output_schema()[1] == Schema({"x": list[list[int]]})
    assert _rows(twice) == [
        {
            "index": [[0, 1], [2, 3]],
            "x": [[10, 11], [12, 13]],
            PROVENANCE: ["nums:0", "nums:1", "nums:2", "nums:3"],
        },
        {"index": [[4]], "x": [[14]], PROVENANCE: ["nums:4"]},
    ]


@pytest.mark.parametrize("drop_partial", [False, True])
def test_batch_of_an_empty_stream_is_empty_with_list_schema(drop_partial: bool) -> None:
    empty = DictSource([], tag_columns="k", schema={"k": int, "v": str}, source_id="e")

    batched = Batch(4, drop_partial=drop_partial)(empty)

    assert batched.output_schema() == (Schema({"k": list[int]}), Schema({"v": list[str]}))
    table = batched.as_table(include_system_columns=True)
    assert table.num_rows == 0
    assert table.column_names == ["k", "v", PROVENANCE]
    assert list(batched) == []


@pytest.mark.parametrize("size", [0, -1, 2.0, "3", True, None])
def test_batch_size_must_be_a_whole_number_of_at_least_one(size: Any) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Batch(size)


def test_batch_is_lazy() -> None:
    batched = Batch(2)(_numbers(5))

    assert batched._table_cache is None


# identity ---------------------------------------------------------------------------


def test_operator_hash_depends_on_its_parameters() -> None:
    assert HASH.fullmatch(MapTags({"a": "b"}).content_hash())
    assert MapTags({"a": "b"}).content_hash() != MapTags({"a": "c"}).content_hash()
    assert Batch(2).content_hash() != Batch(3).content_hash()
    assert Batch(2).content_hash() != Batch(2, drop_partial=True).content_hash()
    assert Filter(pc.field("x") > 1).content_hash() != Filter(pc.field("x") > 2).content_hash()
    assert (
        SelectPacketColumns(["a", "b"]).content_hash()
        != SelectPacketColumns(["b", "a"]).content_hash()
    )


def test_operators_of_different_kinds_with_equal_parameters_differ() -> None:
    assert MapTags({"a": "b"}).content_hash() != MapPackets({"a": "b"}).content_hash()
    assert SelectTagColumns("a").content_hash() != SelectPacketColumns("a").content_hash()


def test_operator_hash_is_equal_for_equal_parameters_whatever_the_dict_order() -> None:
    assert (
        MapTags({"a": "b", "c": "d"}).content_hash() == MapTags({"c": "d", "a": "b"}).content_hash()
    )
    assert (
        DropPacketColumns(["a", "b"]).content_hash() == DropPacketColumns(["b", "a"]).content_hash()
    )
    assert Filter(pc.field("x") > 1).content_hash() == Filter(pc.field("x") > 1).content_hash()
    assert MapTags({"a": "b"}).pipeline_hash() == MapTags({"a": "b"}).content_hash()


def test_filter_hash_follows_the_code_identity_of_a_callable() -> None:
    def always(tag: Tag, packet: Packet) -> bool:
        return True

    first = Filter(always, code_identity="v1").content_hash()
    assert first == Filter(always, code_identity="v1").content_hash()
    assert first != Filter(always, code_identity="v2").content_hash()
    assert Filter(_is_ann).content_hash() == Filter(_is_ann).content_hash()
    assert Filter(_is_ann).content_hash() != first


def test_operator_stream_hashes_chain_the_operator_and_its_inputs() -> None:
    stream = MapTags({"subject": "animal"})(_trials())
    other_op = MapTags({"subject": "mouse"})(_trials())
    other_data = MapTags({"subject": "animal"})(Filter(pc.field("score") > 0.4)(_trials()))

    assert HASH.fullmatch(stream.content_hash())
    assert stream.content_hash() == MapTags({"subject": "animal"})(_trials()).content_hash()
    assert stream.content_hash() != _trials().content_hash()
    assert stream.content_hash() != other_op.content_hash()
    assert stream.pipeline_hash() != other_op.pipeline_hash()
    assert stream.content_hash() != other_data.content_hash()
    assert stream.pipeline_hash() != other_data.pipeline_hash()  # one more operator upstream


def test_operator_stream_pipeline_hash_ignores_the_data_of_its_sources() -> None:
    changed = DictSource(
        [{"subject": "zed", "session": 9, "score": 0.0, "label": "z", "n": 0}],
        tag_columns=["subject", "session"],
        source_id="trials",
    )

    original = SelectPacketColumns("score")(_trials())
    edited = SelectPacketColumns("score")(changed)

    assert original.pipeline_hash() == edited.pipeline_hash()
    assert original.content_hash() != edited.content_hash()


def test_operators_repr_names_kind_and_parameters() -> None:
    assert repr(MapTags({"a": "b"})) == "MapTags(mapping={'a': 'b'})"
    assert repr(Batch(2)) == "Batch(batch_size=2, drop_partial=False)"


# GroupBy -------------------------------------------------------------------------


def test_group_by_gathers_each_subjects_rows_in_order_of_first_appearance() -> None:
    grouped = GroupBy("subject")(_trials())

    assert _rows(grouped) == [
        {
            "subject": "ann",
            "session": [1, 2],
            "score": [0.5, 0.1],
            "label": ["a", "c"],
            "n": [3, 4],
            PROVENANCE: ["trials:0", "trials:2"],
        },
        {
            "subject": "bob",
            "session": [1],
            "score": [0.9],
            "label": ["b"],
            "n": [1],
            PROVENANCE: ["trials:1"],
        },
        {
            "subject": "cat",
            "session": [3],
            "score": [0.7],
            "label": ["d"],
            "n": [1],
            PROVENANCE: ["trials:3"],
        },
    ]


def test_group_by_keeps_the_group_columns_and_makes_the_others_lists() -> None:
    grouped = GroupBy("subject")(_trials())

    assert grouped.output_schema() == (
        Schema({"subject": str, "session": list[int]}),
        Schema({"score": list[float], "label": list[str], "n": list[int]}),
    )
    assert grouped.as_table().schema.field("subject").type == pa.large_string()


def test_group_by_several_columns_groups_by_their_combination() -> None:
    source = DictSource(
        [
            {"a": 1, "b": "x", "i": 0, "v": 0},
            {"a": 1, "b": "y", "i": 1, "v": 1},
            {"a": 1, "b": "x", "i": 2, "v": 2},
            {"a": 2, "b": "x", "i": 3, "v": 3},
        ],
        tag_columns=["a", "b", "i"],
        source_id="s",
    )

    grouped = GroupBy("a", "b")(source)

    assert grouped.as_table().to_pylist() == [
        {"a": 1, "b": "x", "i": [0, 2], "v": [0, 2]},
        {"a": 1, "b": "y", "i": [1], "v": [1]},
        {"a": 2, "b": "x", "i": [3], "v": [3]},
    ]


def test_group_by_concatenates_the_provenance_of_joined_rows() -> None:
    weights = DictSource(
        [{"subject": "ann", "w": 1.0}, {"subject": "bob", "w": 2.0}],
        tag_columns="subject",
        source_id="weights",
    )

    grouped = GroupBy("subject")(Join()(_trials(), weights))

    by_subject = dict(
        zip(
            grouped.as_table().column("subject").to_pylist(),
            _provenance(grouped),
            strict=True,
        )
    )
    assert by_subject == {
        "ann": ["trials:0", "weights:0", "trials:2", "weights:0"],
        "bob": ["trials:1", "weights:1"],
    }


def test_group_by_of_an_empty_stream_is_empty_with_the_grouped_schema() -> None:
    empty = DictSource([], tag_columns=["k", "j"], schema={"k": int, "j": int, "v": str})

    grouped = GroupBy("k")(empty)

    assert grouped.output_schema() == (Schema({"k": int, "j": list[int]}), Schema({"v": list[str]}))
    table = grouped.as_table(include_system_columns=True)
    assert table.num_rows == 0
    assert table.column_names == ["k", "j", "v", PROVENANCE]


def test_group_by_a_column_that_is_not_a_tag_is_refused_naming_it_and_the_tags() -> None:
    with pytest.raises(SchemaError, match=r"'score' is not a tag column.*\['subject', 'session'\]"):
        GroupBy("score")(_trials())


def test_group_by_a_list_column_is_refused() -> None:
    source = DictSource([{"k": [1], "v": 1}], tag_columns="k", source_id="l")
    with pytest.raises(SchemaError, match="scalar types"):
        GroupBy("k")(source)


@pytest.mark.parametrize("by", [(), (1,), (None,)])
def test_group_by_needs_column_names(by: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="GroupBy takes the tag columns"):
        GroupBy(*by)


def test_group_by_identity_depends_on_the_columns() -> None:
    trials = _trials()
    assert GroupBy("subject")(trials).pipeline_hash() == GroupBy("subject")(trials).pipeline_hash()
    assert GroupBy("subject")(trials).pipeline_hash() != GroupBy("session")(trials).pipeline_hash()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 5)), max_size=40))
def test_group_by_flattened_gives_back_each_groups_rows_in_input_order(
    rows: list[tuple[int, int]],
) -> None:
    source = DictSource(
        [{"g": g, "i": i, "v": v} for i, (g, v) in enumerate(rows)],
        tag_columns=["g", "i"],
        schema={"g": int, "i": int, "v": int},
        source_id="p",
    )

    grouped = GroupBy("g")(source).as_table(include_system_columns=True).to_pylist()

    assert [group["g"] for group in grouped] == list(dict.fromkeys(g for g, _ in rows))
    for group in grouped:
        expected = [(i, v) for i, (g, v) in enumerate(rows) if g == group["g"]]
        assert list(zip(group["i"], group["v"], strict=True)) == expected
        assert group[PROVENANCE] == [f"p:{i}" for i, _ in expected]
