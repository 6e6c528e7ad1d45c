"""Streams: lazy, ordered (Tag, Packet) rows with provenance, and their two identities."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcapod.core.datagrams import Packet, Tag
from orcapod.core.sources import ArrowTableSource, DictSource, ListSource
from orcapod.core.system_columns import PROVENANCE, PROVENANCE_TYPE
from orcapod.core.types import Schema

ROWS_PAST_ONE_BATCH = 70_000  # iteration converts 65,536 rows at a time
HASH = re.compile(r"orcapod-v1-sha256:[0-9a-f]{64}")

GOLDEN_ROWS = [{"id": "a", "x": 1}, {"id": "b", "x": 2}]
GOLDEN_CONTENT_HASH = (
    "orcapod-v1-sha256:9c0d4f0bc59ac154ad96f0f7f0084abc69c83abd71bf6f2d4ee7b7514cc871f3"
)
GOLDEN_PIPELINE_HASH = (
    "orcapod-v1-sha256:2b633fc67fe3ed5ab1294ebeee676f16684c838af345f6206a126bb70122a82b"
)


def _golden() -> DictSource:
    return DictSource(GOLDEN_ROWS, tag_columns=["id"], source_id="golden")


@pytest.fixture(scope="module")
def big() -> ArrowTableSource:
    n = ROWS_PAST_ONE_BATCH
    table = pa.table(
        {
            "id": pa.array(list(range(n)), pa.int64()),
            "name": pa.array([f"row-{i}" for i in range(n)], pa.large_string()),
            "x": pa.array([i / 4 for i in range(n)], pa.float64()),
        }
    )
    return ArrowTableSource(table, "id", source_id="big")


# iteration ----------------------------------------------------------------


def test_iter_packets_yields_every_row_in_order_across_batches(big: ArrowTableSource) -> None:
    seen = 0
    for i, (tag, packet) in enumerate(big.iter_packets()):
        assert type(tag) is Tag
        assert type(packet) is Packet
        assert tag["id"] == i
        assert packet["name"] == f"row-{i}"
        assert packet["x"] == i / 4
        seen += 1
    assert seen == ROWS_PAST_ONE_BATCH


def test_rows_at_the_batch_boundary_have_their_own_values_and_provenance(
    big: ArrowTableSource,
) -> None:
    pairs = list(big)
    for i in (0, 65_535, 65_536, 65_537, ROWS_PAST_ONE_BATCH - 1):
        tag, packet = pairs[i]
        assert tag.as_dict() == {"id": i}
        assert packet.as_dict() == {"name": f"row-{i}", "x": i / 4}
        assert tag.system_tags() == {PROVENANCE: [f"big:{i}"]}
        assert (
            packet.content_hash()
            == Packet.from_dict({"name": f"row-{i}", "x": i / 4}).content_hash()
        )


def test_iterating_a_stream_twice_gives_the_same_rows() -> None:
    source = DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 2}], "id")
    first = [(tag.as_dict(), packet.as_dict()) for tag, packet in source]
    second = [(tag.as_dict(), packet.as_dict()) for tag, packet in source.iter_packets()]
    assert first == second == [({"id": "a"}, {"x": 1}), ({"id": "b"}, {"x": 2})]


def test_a_stream_of_no_columns_in_the_packet_still_yields_its_rows() -> None:
    source = DictSource([{"id": "a"}, {"id": "b"}], "id", source_id="tags-only")
    pairs = list(source)
    assert [(tag.as_dict(), packet.as_dict()) for tag, packet in pairs] == [
        ({"id": "a"}, {}),
        ({"id": "b"}, {}),
    ]


# tables and data frames ---------------------------------------------------


def test_as_table_with_system_columns_has_provenance_per_row(big: ArrowTableSource) -> None:
    table = big.as_table(include_system_columns=True)
    assert table.column_names == ["id", "name", "x", PROVENANCE]
    field = table.schema.field(PROVENANCE)
    assert field.type.equals(PROVENANCE_TYPE)
    assert pa.types.is_large_list(field.type)
    assert pa.types.is_large_string(field.type.value_type)
    provenance = table.column(PROVENANCE)
    assert provenance.null_count == 0
    assert provenance[0].as_py() == ["big:0"]
    assert provenance[65_536].as_py() == ["big:65536"]
    assert provenance[ROWS_PAST_ONE_BATCH - 1].as_py() == [f"big:{ROWS_PAST_ONE_BATCH - 1}"]
    assert big.system_columns() == (PROVENANCE,)


def test_as_table_without_system_columns_has_only_user_columns() -> None:
    source = DictSource([{"x": 1, "id": "a"}], "id")
    assert source.as_table().column_names == ["id", "x"]
    assert source.as_table(include_system_columns=False).to_pylist() == [{"id": "a", "x": 1}]


def test_to_pandas_and_to_polars_hold_the_same_values() -> None:
    rows = [{"id": "a", "n": 1, "x": 0.5, "o": None}, {"id": "b", "n": 2, "x": 1.5, "o": 3}]
    source = DictSource(rows, "id", source_id="frames")
    pandas_frame = source.to_pandas()
    assert list(pandas_frame.columns) == ["id", "n", "x", "o"]
    assert pandas_frame["id"].tolist() == ["a", "b"]
    assert pandas_frame["n"].tolist() == [1, 2]
    assert pandas_frame["x"].tolist() == [0.5, 1.5]
    assert pandas_frame["o"].isna().tolist() == [True, False]
    assert pandas_frame["o"].iloc[1] == 3
    polars_frame = source.to_polars()
    assert polars_frame.columns == ["id", "n", "x", "o"]
    assert polars_frame.to_dicts() == rows
    with_system = source.to_polars(include_system_columns=True)
    assert with_system[PROVENANCE].to_list() == [["frames:0"], ["frames:1"]]
    pandas_system = source.to_pandas(include_system_columns=True)
    assert [list(v) for v in pandas_system[PROVENANCE]] == [["frames:0"], ["frames:1"]]


def test_big_frames_agree_with_the_table(big: ArrowTableSource) -> None:
    frame = big.to_polars()
    assert frame.height == ROWS_PAST_ONE_BATCH
    assert frame.row(65_536) == (65_536, "row-65536", 65_536 / 4)
    assert big.to_pandas().iloc[65_536].tolist() == [65_536, "row-65536", 65_536 / 4]


# laziness -----------------------------------------------------------------


def test_a_source_computes_no_provenance_until_it_is_read() -> None:
    table = pa.table({"id": [1, 2], "x": ["a", "b"]})
    source = ArrowTableSource(table, "id", source_id="lazy")
    source.output_schema()
    source.keys()
    source.pipeline_hash()
    source.as_table()
    assert source._table_cache is None
    next(iter(source))
    assert source._table_cache is not None


def test_as_table_without_system_columns_is_the_same_table_each_time() -> None:
    source = ArrowTableSource(pa.table({"id": [1, 2], "x": ["a", "b"]}), "id")
    assert source.as_table() is source.as_table()


def test_the_full_table_is_computed_once() -> None:
    source = DictSource([{"id": 1, "x": 2}], "id")
    first = source.as_table(include_system_columns=True)
    list(source)
    assert source._table_cache is not None
    cached = source._table_cache
    source.as_table(include_system_columns=True)
    list(source)
    assert source._table_cache is cached
    assert first.equals(source.as_table(include_system_columns=True))


# identity: content hash ----------------------------------------------------


def test_hashes_are_rendered_with_their_method() -> None:
    source = _golden()
    assert HASH.fullmatch(source.content_hash())
    assert HASH.fullmatch(source.pipeline_hash())


def test_content_hash_is_the_same_for_equal_sources() -> None:
    assert _golden().content_hash() == _golden().content_hash()
    from_arrow = ArrowTableSource(_golden().as_table(), "id", source_id="golden")
    assert from_arrow.content_hash() == _golden().content_hash()


def test_content_hash_ignores_how_the_rows_are_laid_out_in_memory() -> None:
    table = pa.table(
        {
            "id": [0, 1, 2, 3],
            "l": pa.array([[None], [2], [3, 4], [None]], pa.list_(pa.int64())),
            "s": ["a", "b", "c", "d"],
        }
    )
    whole = ArrowTableSource(table, "id", source_id="x")
    chunked = ArrowTableSource(
        pa.concat_tables([table.slice(0, 1), table.slice(1)]), "id", source_id="x"
    )
    assert chunked.content_hash() == whole.content_hash()
    sliced = ArrowTableSource(table.slice(1, 2), "id")
    fresh = pa.table({"id": [1, 2], "l": pa.array([[2], [3, 4]]), "s": pa.array(["b", "c"])})
    contiguous = ArrowTableSource(fresh, "id")
    assert sliced.source_id == contiguous.source_id
    assert sliced.content_hash() == contiguous.content_hash()


def test_content_hash_changes_when_a_value_changes() -> None:
    changed = DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 3}], "id", source_id="golden")
    assert changed.content_hash() != _golden().content_hash()
    retagged = DictSource([{"id": "a", "x": 1}, {"id": "c", "x": 2}], "id", source_id="golden")
    assert retagged.content_hash() != _golden().content_hash()


def test_content_hash_changes_when_the_source_id_changes() -> None:
    renamed = DictSource(GOLDEN_ROWS, "id", source_id="golden2")
    assert renamed.content_hash() != _golden().content_hash()
    assert renamed.pipeline_hash() == _golden().pipeline_hash()


def test_content_hash_changes_when_rows_change_order() -> None:
    reordered = DictSource(GOLDEN_ROWS[::-1], "id", source_id="golden")
    assert reordered.content_hash() != _golden().content_hash()


def test_content_hash_changes_when_a_column_moves_between_tag_and_packet() -> None:
    both_tags = DictSource(GOLDEN_ROWS, ["id", "x"], source_id="golden")
    assert both_tags.content_hash() != _golden().content_hash()


def test_content_hash_changes_with_the_record_ids() -> None:
    rows = [{"id": "a", "rid": "u"}, {"id": "b", "rid": "v"}]
    by_position = DictSource(rows, "id", source_id="s")
    by_record = DictSource(rows, "id", source_id="s", record_id_column="rid")
    assert by_position.content_hash() != by_record.content_hash()


# identity: pipeline hash --------------------------------------------------


def test_pipeline_hash_depends_only_on_the_schemas() -> None:
    other_data = DictSource([{"id": "zz", "x": 99}], "id", source_id="elsewhere")
    assert other_data.pipeline_hash() == _golden().pipeline_hash()
    assert other_data.content_hash() != _golden().content_hash()
    as_list = ListSource([5, 6], "x", tag_column="id", value_type=int)
    other_ids = DictSource([{"id": 0, "x": 1}], "id")
    assert as_list.pipeline_hash() == other_ids.pipeline_hash()


def test_pipeline_hash_changes_when_a_column_type_changes() -> None:
    floats = DictSource([{"id": "a", "x": 1.0}], "id")
    assert floats.pipeline_hash() != _golden().pipeline_hash()
    optional = DictSource([{"id": "a", "x": None}], "id", schema={"x": int | None})
    assert optional.pipeline_hash() != _golden().pipeline_hash()


def test_pipeline_hash_changes_when_a_column_moves_between_tag_and_packet() -> None:
    rows = [{"id": "a", "x": 1, "y": 2}]
    assert DictSource(rows, "id").pipeline_hash() != DictSource(rows, ["id", "x"]).pipeline_hash()
    assert DictSource(rows, "id").pipeline_hash() != DictSource(rows, "x").pipeline_hash()


def test_pipeline_hash_changes_when_a_column_is_renamed() -> None:
    renamed = DictSource([{"id": "a", "y": 1}], "id")
    assert renamed.pipeline_hash() != _golden().pipeline_hash()


# golden vectors -----------------------------------------------------------


def test_golden_source_hashes_never_change() -> None:
    source = _golden()
    assert source.content_hash() == GOLDEN_CONTENT_HASH
    assert source.pipeline_hash() == GOLDEN_PIPELINE_HASH


def test_golden_content_hash_is_the_same_in_processes_of_different_hash_seeds() -> None:
    code = (
        "from orcapod.core.sources import DictSource\n"
        f"s = DictSource({GOLDEN_ROWS!r}, tag_columns=['id'], source_id='golden')\n"
        "print(s.content_hash())\n"
        "print(s.pipeline_hash())\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        for seed in ("0", "4242")
    ]
    outputs = []
    for process in processes:  # the two run at once
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        outputs.append(stdout.split())
    assert outputs[0] == outputs[1] == [GOLDEN_CONTENT_HASH, GOLDEN_PIPELINE_HASH]


# properties ---------------------------------------------------------------

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
DECLARED = {"opt": int | None, "ints": list[int], "counts": dict[str, int]}

COLUMNS: dict[str, st.SearchStrategy[Any]] = {
    "tag": st.text(max_size=8),
    "n": INT64,
    "f": st.floats(allow_nan=False),
    "s": st.text(max_size=8),
    "opt": st.none() | INT64,
    "ints": st.lists(INT64, max_size=4),
    "counts": st.dictionaries(st.text(max_size=4), INT64, max_size=3),
}
# Rows in one fixed column order (fixed_dictionaries does not promise one).
row_strategy = st.fixed_dictionaries(COLUMNS).map(lambda row: {name: row[name] for name in COLUMNS})


def _pairs(source: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(tag.as_dict(), packet.as_dict()) for tag, packet in source.iter_packets()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_strategy, min_size=1, max_size=6))
def test_iterating_a_dict_source_gives_back_its_rows_exactly(rows: list[dict[str, Any]]) -> None:
    source = DictSource(rows, "tag", schema=DECLARED)
    pairs = _pairs(source)
    assert [{**tag, **packet} for tag, packet in pairs] == rows
    assert [list(tag) for tag, _ in pairs] == [["tag"]] * len(rows)
    for (_, packet), row in zip(pairs, rows, strict=True):
        assert list(packet) == list(COLUMNS)[1:]
        assert type(packet["f"]) is float
        assert type(packet["counts"]) is dict
        assert [str(v) for v in (packet["f"], packet["n"])] == [str(row["f"]), str(row["n"])]
    assert source.output_schema() == (
        Schema(tag=str),
        Schema(n=int, f=float, s=str, opt=int | None, ints=list[int], counts=dict[str, int]),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_strategy, min_size=1, max_size=6))
def test_an_arrow_source_over_a_dict_sources_table_has_the_same_content(
    rows: list[dict[str, Any]],
) -> None:
    from_rows = DictSource(rows, "tag", schema=DECLARED, source_id="p")
    from_table = ArrowTableSource(from_rows.as_table(), "tag", source_id="p")
    ours, theirs = from_table.as_table(), from_rows.as_table()
    assert ours.column_names == theirs.column_names
    assert ours.to_pylist() == theirs.to_pylist()
    assert _pairs(from_table) == _pairs(from_rows)
    assert (
        from_table.as_table(include_system_columns=True)
        .column(PROVENANCE)
        .equals(from_rows.as_table(include_system_columns=True).column(PROVENANCE))
    )
