"""Datagrams: Tag and Packet are immutable, dict-like, Arrow-backed rows that round-trip exactly."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from orcapod.core.datagrams import Datagram, Packet, RowBlock, Tag
from orcapod.core.errors import SchemaError, TypeInferenceError, TypeMismatchError
from orcapod.core.hashing import hash_row
from orcapod.core.sources import DictSource
from orcapod.core.system_columns import PROVENANCE
from orcapod.core.types import NaiveDatetime, Schema

BERLIN = ZoneInfo("Europe/Berlin")

# Every supported type, with a value of it: (name, declared type, value).
EVERY_TYPE: list[tuple[str, Any, Any]] = [
    ("count", int, -7),
    ("ratio", float, 0.25),
    ("ok", bool, True),
    ("label", str, "héllo"),
    ("blob", bytes, b"\x00\xff"),
    ("aware", datetime, datetime(2024, 7, 1, 14, 30, 15, 123456, tzinfo=BERLIN)),
    ("naive", NaiveDatetime, datetime(2024, 1, 2, 3, 4, 5, 6)),
    ("day", date, date(1969, 12, 31)),
    ("file", Path, Path("/data/run 1/img.tif")),
    ("counts", list[int], [3, 1, 2]),
    ("meta", dict[str, str], {"b": "2", "a": "1"}),
    ("nothing", dict[str, int], {}),
    ("maybe", int | None, None),
    ("nested", list[dict[str, int]], [{"x": 1}, {}, {"y": 2, "z": 3}]),
]
VALUES = {name: value for name, _, value in EVERY_TYPE}
SCHEMA = Schema([(name, tp) for name, tp, _ in EVERY_TYPE])


def _packet() -> Packet:
    return Packet.from_dict(VALUES, SCHEMA)


def test_a_datagram_reads_like_a_dict() -> None:
    packet = Packet.from_dict({"subject": "m1", "dose": 2.5})
    assert packet["subject"] == "m1"
    assert packet["dose"] == 2.5
    assert "dose" in packet
    assert "other" not in packet
    assert len(packet) == 2
    assert list(packet) == ["subject", "dose"]
    assert packet.get("other", "default") == "default"
    assert dict(packet.items()) == {"subject": "m1", "dose": 2.5}


def test_keys_are_a_tuple_in_column_order() -> None:
    packet = Packet.from_dict({"z": 1, "a": 2, "m": 3})
    assert packet.keys() == ("z", "a", "m")
    assert isinstance(packet.keys(), tuple)
    assert _packet().keys() == tuple(VALUES)


@pytest.mark.parametrize(("name", "tp", "value"), EVERY_TYPE, ids=[n for n, _, _ in EVERY_TYPE])
def test_as_dict_gives_back_each_supported_type_exactly(name: str, tp: Any, value: Any) -> None:
    back = Packet.from_dict({name: value}, {name: tp}).as_dict()
    assert back == {name: value}
    assert type(back[name]) is type(value)


def test_as_dict_gives_back_a_row_of_every_type_exactly() -> None:
    packet = _packet()
    back = packet.as_dict()
    assert back == VALUES
    assert list(back) == list(VALUES)
    assert packet.schema() == SCHEMA


def test_an_aware_datetime_keeps_its_zone_and_a_naive_one_stays_naive() -> None:
    back = _packet().as_dict()
    assert back["aware"].tzinfo == BERLIN
    assert back["aware"].utcoffset() == VALUES["aware"].utcoffset()
    assert back["naive"].tzinfo is None


def test_maps_come_back_as_dicts_and_paths_as_paths() -> None:
    back = _packet().as_dict()
    assert type(back["meta"]) is dict
    assert back["meta"] == {"a": "1", "b": "2"}
    assert type(back["nothing"]) is dict
    assert all(type(item) is dict for item in back["nested"])
    assert isinstance(back["file"], Path)


def test_an_empty_dict_keeps_its_declared_type() -> None:
    packet = Packet.from_dict({"m": {}}, {"m": dict[str, float]})
    assert packet.schema() == Schema(m=dict[str, float])
    assert packet.as_table().schema.field("m").type == pa.map_(
        pa.large_string(), pa.field("value", pa.float64(), nullable=False)
    )
    assert packet.as_dict() == {"m": {}}


def test_a_missing_column_names_the_column_and_lists_the_columns() -> None:
    packet = Packet.from_dict({"a": 1, "b": "x"})
    with pytest.raises(KeyError, match=r"Packet has no column 'c'; its columns are \['a', 'b'\]"):
        packet["c"]
    tag = Tag.from_dict({"subject": "m1"})
    with pytest.raises(KeyError, match=r"Tag has no column 'trial'.*\['subject'\]"):
        tag["trial"]


def test_a_system_column_is_not_read_by_name() -> None:
    tag, _ = next(iter(DictSource([{"id": "a", "x": 1}], "id", source_id="s")))
    assert PROVENANCE not in tag
    with pytest.raises(KeyError, match=PROVENANCE):
        tag[PROVENANCE]


def test_a_datagram_cannot_be_changed() -> None:
    packet = Packet.from_dict({"a": 1})
    with pytest.raises(TypeError):
        packet["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del packet["a"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        packet.note = "x"  # type: ignore[attr-defined]
    assert packet.as_dict() == {"a": 1}


def test_datagrams_of_equal_values_are_equal_and_hash_alike() -> None:
    one, two = _packet(), _packet()
    assert one == two
    assert hash(one) == hash(two)
    assert len({one, two}) == 1


def test_datagrams_differ_by_value_by_type_and_by_kind() -> None:
    packet = Packet.from_dict({"a": 1})
    assert packet != Packet.from_dict({"a": 2})
    assert packet != Packet.from_dict({"a": 1.0})  # same Python value, another type
    assert packet != Packet.from_dict({"b": 1})
    assert packet != Tag.from_dict({"a": 1})
    assert packet != {"a": 1}


def test_equal_datagrams_have_equal_hashes_even_for_one_instant_in_two_zones() -> None:
    utc = Packet.from_dict({"t": datetime(2024, 1, 1, 12, tzinfo=UTC)})
    berlin = Packet.from_dict({"t": datetime(2024, 1, 1, 13, tzinfo=BERLIN)})
    # Python's contract: a == b implies hash(a) == hash(b) (sets and dicts rely on it).
    assert utc != berlin or hash(utc) == hash(berlin)


def test_a_tag_from_a_stream_carries_its_provenance_as_system_tags() -> None:
    source = DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 2}], "id", source_id="trials")
    tags = [tag for tag, _ in source.iter_packets()]
    assert [tag.system_tags() for tag in tags] == [
        {PROVENANCE: ["trials:0"]},
        {PROVENANCE: ["trials:1"]},
    ]
    assert tags[1].as_dict() == {"id": "b"}


def test_a_tag_made_from_a_dict_has_no_system_tags() -> None:
    assert Tag.from_dict({"id": "a"}).system_tags() == {}


def test_as_table_is_one_row_with_system_columns_only_when_asked() -> None:
    source = DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 2}], "id", source_id="trials")
    tag, packet = list(source)[1]
    plain = tag.as_table()
    assert plain.num_rows == 1
    assert plain.column_names == ["id"]
    assert plain.to_pylist() == [{"id": "b"}]
    full = tag.as_table(include_system_columns=True)
    assert full.column_names == ["id", PROVENANCE]
    assert full.to_pylist() == [{"id": "b", PROVENANCE: ["trials:1"]}]
    assert packet.as_table(include_system_columns=True).to_pylist() == [{"x": 2}]


def test_as_table_of_a_datagram_keeps_the_canonical_arrow_types() -> None:
    table = _packet().as_table()
    assert table.num_rows == 1
    assert table.schema.field("file").metadata == {b"orcapod.logical_type": b"path"}
    assert table.schema.field("aware").type == pa.timestamp("us", tz="Europe/Berlin")
    assert table.schema.field("maybe").nullable
    assert not table.schema.field("count").nullable


def test_content_hash_equals_hash_row_of_the_same_values() -> None:
    row = {"x": 1, "s": "a", "l": [1, 2], "m": {"k": 2}, "o": None}
    types = {"x": int, "s": str, "l": list[int], "m": dict[str, int], "o": float | None}
    simple = Packet.from_dict(row, types)
    assert simple.content_hash() == hash_row(row, Schema(types).to_arrow())
    # Every type but Path (hash_row takes Arrow-ready values), zones included.
    values = {k: v for k, v in VALUES.items() if k != "file"}
    packet = Packet.from_dict(values, SCHEMA.drop(["file"]))
    assert packet.content_hash() == hash_row(values, packet.as_table().schema)


def test_content_hash_ignores_column_order_but_not_values_or_names() -> None:
    base = Packet.from_dict({"a": 1, "b": "x"}).content_hash()
    assert base == Packet.from_dict({"b": "x", "a": 1}).content_hash()
    assert base != Packet.from_dict({"a": 2, "b": "x"}).content_hash()
    assert base != Packet.from_dict({"a": 1, "c": "x"}).content_hash()
    assert base.startswith("orcapod-v1-sha256:")


def test_a_tag_and_a_packet_of_one_row_hash_only_their_own_columns() -> None:
    source = DictSource([{"id": "a", "x": 1}], "id", source_id="one")
    tag, packet = next(iter(source))
    assert tag.content_hash() == Tag.from_dict({"id": "a"}).content_hash()
    assert packet.content_hash() == Packet.from_dict({"x": 1}).content_hash()


def test_from_dict_infers_the_schema() -> None:
    packet = Packet.from_dict(
        {"n": 1, "f": 1.5, "s": "x", "l": [1, None], "m": {"a": 1.0}, "t": datetime(2024, 1, 1)}
    )
    assert packet.schema() == Schema(
        n=int, f=float, s=str, l=list[int | None], m=dict[str, float], t=NaiveDatetime
    )


def test_from_dict_takes_a_declared_schema_as_mapping_or_schema() -> None:
    declared = Packet.from_dict({"n": 1, "o": None}, {"n": float, "o": str | None})
    assert declared.schema() == Schema(n=float, o=str | None)
    assert declared.as_dict() == {"n": 1.0, "o": None}
    assert type(declared["n"]) is float
    assert Packet.from_dict({"n": 1}, Schema(n=int | None)).schema() == Schema(n=int | None)


def test_from_dict_refuses_what_it_cannot_type() -> None:
    with pytest.raises(TypeInferenceError, match="'o'"):
        Packet.from_dict({"o": None})
    with pytest.raises(TypeMismatchError, match="'n'"):
        Packet.from_dict({"n": "one"}, {"n": int})
    with pytest.raises(SchemaError):
        Packet.from_dict({"n": 1}, {"n": int, "m": int})


def test_from_dict_refuses_reserved_column_names() -> None:
    with pytest.raises(SchemaError, match=r"'__x' starts with '__'"):
        Packet.from_dict({"a": 1, "__x": 2})
    with pytest.raises(SchemaError, match=r"Tag\.from_dict"):
        Tag.from_dict({"__provenance": ["s:0"]})


@pytest.mark.parametrize("kind", [Tag, Packet])
def test_a_datagram_survives_pickling(kind: type[Datagram]) -> None:
    original = kind.from_dict(VALUES, SCHEMA)
    back = pickle.loads(pickle.dumps(original))
    assert type(back) is kind
    assert back == original
    assert back.as_dict() == VALUES
    assert back.schema() == SCHEMA
    assert back.content_hash() == original.content_hash()


def test_a_tag_keeps_its_provenance_through_pickling() -> None:
    source = DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 2}], "id", source_id="p")
    tag, packet = list(source)[1]
    back = pickle.loads(pickle.dumps(tag))
    assert back.as_dict() == {"id": "b"}
    assert back.system_tags() == {PROVENANCE: ["p:1"]}
    assert pickle.loads(pickle.dumps(packet)).as_dict() == {"x": 2}


def test_datagrams_of_one_block_read_their_own_row() -> None:
    table = pa.table({"a": pa.array([10, 20, 30], pa.int64())})
    block = RowBlock(table, Schema(a=int))
    rows = [Packet(block, i) for i in range(3)]
    assert [row["a"] for row in rows] == [10, 20, 30]
    assert [row.as_table().to_pylist() for row in rows] == [[{"a": 10}], [{"a": 20}], [{"a": 30}]]


def test_a_row_block_refuses_a_table_that_does_not_fit_its_schema() -> None:
    table = pa.table({"a": [1], "b": [2]})
    with pytest.raises(SchemaError, match=r"missing \['c'\], extra \['b'\]"):
        RowBlock(table, Schema(a=int, c=int))
    # System columns are not user columns: they may be there without the schema naming them.
    with_system = pa.table({"a": [1], "__provenance": [["s:0"]]})
    assert RowBlock(with_system, Schema(a=int)).system_names() == ("__provenance",)
