"""Sources: rows, lists, Arrow tables, data frames and CSV files become validated streams."""

from __future__ import annotations

import decimal
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from orcapod.core.errors import (
    SchemaError,
    SourceError,
    TypeInferenceError,
    TypeMismatchError,
    UnsupportedTypeError,
)
from orcapod.core.sources import (
    ArrowTableSource,
    CSVSource,
    DataFrameSource,
    DictSource,
    ListSource,
    TableSource,
)
from orcapod.core.system_columns import PROVENANCE
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from orcapod.core.streams import StreamBase

ROWS: list[dict[str, Any]] = [
    {"subject": "m1", "trial": 1, "dose": 0.5, "files": [Path("/a.tif")], "note": None},
    {"subject": "m2", "trial": 2, "dose": 1.5, "files": [], "note": "late"},
]


def _provenance(source: StreamBase) -> list[list[str]]:
    table = source.as_table(include_system_columns=True)
    return table.column(PROVENANCE).to_pylist()  # type: ignore[no-any-return]


def _rows(source: StreamBase) -> list[dict[str, Any]]:
    return [{**tag.as_dict(), **packet.as_dict()} for tag, packet in source.iter_packets()]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# DictSource ---------------------------------------------------------------


def test_dict_source_has_the_schemas_keys_and_table_of_its_rows() -> None:
    source = DictSource(ROWS, tag_columns=["subject", "trial"])
    tag_schema, packet_schema = source.output_schema()
    assert tag_schema == Schema(subject=str, trial=int)
    assert packet_schema == Schema(dose=float, files=list[Path], note=str | None)
    assert source.keys() == (("subject", "trial"), ("dose", "files", "note"))
    table = source.as_table()
    assert table.column_names == ["subject", "trial", "dose", "files", "note"]
    assert table.num_rows == 2
    assert _rows(source) == ROWS
    assert isinstance(source, TableSource)


def test_tag_columns_come_first_in_the_order_given() -> None:
    source = DictSource([{"a": 1, "b": "x", "c": 2.0}], tag_columns=["c", "a"])
    assert source.keys() == (("c", "a"), ("b",))
    assert source.as_table().column_names == ["c", "a", "b"]
    assert DictSource([{"a": 1, "b": 2}], tag_columns="b").keys() == (("b",), ("a",))


def test_a_missing_tag_column_is_named() -> None:
    with pytest.raises(SchemaError, match=r"tag column 'id' is not a column.*\['subject', 'x'\]"):
        DictSource([{"subject": "m1", "x": 1}], tag_columns=["id"])


def test_a_tag_column_named_twice_is_an_error() -> None:
    with pytest.raises(SchemaError, match="'a' is named twice"):
        DictSource([{"a": 1, "b": 2}], tag_columns=["a", "a"])


def test_a_row_missing_a_column_is_named_with_the_column() -> None:
    rows = [{"id": "a", "x": 1, "y": 2}, {"id": "b", "x": 1}]
    with pytest.raises(
        SchemaError, match=r"row 1 has different columns.*missing \['y'\], extra \[\]"
    ):
        DictSource(rows, tag_columns="id")


def test_a_row_with_an_extra_column_is_named_with_the_column() -> None:
    rows = [{"id": "a", "x": 1}, {"id": "b", "x": 1}, {"id": "c", "x": 1, "z": 0}]
    with pytest.raises(
        SchemaError, match=r"row 2 has different columns.*missing \[\], extra \['z'\]"
    ):
        DictSource(rows, tag_columns="id")


def test_a_column_of_mixed_types_names_the_column_and_the_row() -> None:
    rows = [{"id": "a", "x": 1}, {"id": "b", "x": 2}, {"id": "c", "x": "three"}]
    with pytest.raises(TypeInferenceError, match=r"column 'x' row 2: value 'three' is a str"):
        DictSource(rows, tag_columns="id")


def test_ints_and_floats_in_one_column_make_a_float_column() -> None:
    source = DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 2.5}], tag_columns="id")
    assert source.output_schema()[1] == Schema(x=float)
    assert [packet["x"] for _, packet in source] == [1.0, 2.5]
    assert all(type(packet["x"]) is float for _, packet in source)


def test_a_column_of_only_none_needs_a_declared_type() -> None:
    rows = [{"id": "a", "x": None}, {"id": "b", "x": None}]
    with pytest.raises(TypeInferenceError, match=r"column 'x'.*only None.*Declare"):
        DictSource(rows, tag_columns="id")
    source = DictSource(rows, tag_columns="id", schema={"x": float | None})
    assert source.output_schema()[1] == Schema(x=float | None)
    assert [packet["x"] for _, packet in source] == [None, None]


def test_a_reserved_column_name_is_named() -> None:
    with pytest.raises(SchemaError, match=r"column '__secret' starts with '__'"):
        DictSource([{"id": "a", "__secret": 1}], tag_columns="id")


def test_a_row_that_is_not_a_dict_is_named() -> None:
    with pytest.raises(SourceError, match=r"row 1 is a list, not a dict"):
        DictSource([{"id": "a"}, ["b"]], tag_columns="id")  # type: ignore[list-item]


def test_rows_given_as_a_dict_of_columns_are_refused_with_a_hint() -> None:
    with pytest.raises(SourceError, match=r"takes a list of rows.*got a dict.*ArrowTableSource"):
        DictSource({"id": ["a", "b"], "x": [1, 2]}, tag_columns="id")  # type: ignore[arg-type]


def test_no_rows_without_a_schema_is_an_error_and_with_one_an_empty_source() -> None:
    with pytest.raises(SchemaError, match=r"no rows.*declare them with schema"):
        DictSource([], tag_columns="id")
    empty = DictSource([], tag_columns="id", schema={"id": str, "x": int})
    assert empty.output_schema() == (Schema(id=str), Schema(x=int))
    assert empty.as_table().num_rows == 0
    assert list(empty) == []
    assert _provenance(empty) == []


def test_a_declared_schema_may_name_some_columns_and_the_rest_are_inferred() -> None:
    rows = [{"id": 1, "x": 1, "y": "a", "z": None}, {"id": 2, "x": 2, "y": "b", "z": 3}]
    source = DictSource(rows, tag_columns="id", schema={"x": float, "z": int | None})
    assert source.output_schema() == (Schema(id=int), Schema(x=float, y=str, z=int | None))
    assert _rows(source) == [
        {"id": 1, "x": 1.0, "y": "a", "z": None},
        {"id": 2, "x": 2.0, "y": "b", "z": 3},
    ]
    assert source.as_table().schema.field("x").type == pa.float64()


def test_a_value_against_its_declared_type_is_an_error() -> None:
    with pytest.raises(TypeMismatchError, match=r"column 'x' row 0: expected str"):
        DictSource([{"id": 1, "x": 5}], tag_columns="id", schema={"x": str})


def test_a_declared_column_the_rows_lack_is_named() -> None:
    with pytest.raises(SchemaError, match=r"schema declares column 'w'"):
        DictSource([{"id": 1, "x": 5}], tag_columns="id", schema={"w": str})


# ListSource ---------------------------------------------------------------


def test_list_source_tags_each_value_by_its_index() -> None:
    source = ListSource([1.5, 2.5, 4.0], "dose")
    assert source.output_schema() == (Schema(index=int), Schema(dose=float))
    assert source.keys() == (("index",), ("dose",))
    assert source.as_table().to_pylist() == [
        {"index": 0, "dose": 1.5},
        {"index": 1, "dose": 2.5},
        {"index": 2, "dose": 4.0},
    ]


def test_list_source_takes_a_tag_column_name_and_a_declared_value_type() -> None:
    source = ListSource([1, 2], packet_column="x", tag_column="pos", value_type=float | None)
    assert source.output_schema() == (Schema(pos=int), Schema(x=float | None))
    assert [(tag["pos"], packet["x"]) for tag, packet in source] == [(0, 1.0), (1, 2.0)]
    assert all(type(packet["x"]) is float for _, packet in source)


def test_list_source_values_of_nested_types_round_trip() -> None:
    values = [{"a": [1, 2]}, {}, {"b": []}]
    source = ListSource(values, "m", value_type=dict[str, list[int]])
    assert [packet["m"] for _, packet in source] == values


def test_list_source_refuses_one_name_for_both_columns() -> None:
    with pytest.raises(SchemaError, match=r"both 'x'"):
        ListSource([1, 2], packet_column="x", tag_column="x")


def test_list_source_refuses_mixed_values_reserved_names_and_non_lists() -> None:
    with pytest.raises(TypeInferenceError, match=r"column 'value' row 1"):
        ListSource([1, "two"])
    with pytest.raises(SchemaError, match=r"'__v'"):
        ListSource([1], packet_column="__v")
    with pytest.raises(SourceError, match="list of values"):
        ListSource("abc")


# ArrowTableSource ---------------------------------------------------------


def test_arrow_table_source_gives_its_input_back_without_copying() -> None:
    table = pa.table(
        {
            "x": pa.array([1.0, 2.0, 3.0]),
            "id": pa.array(["a", "b", "c"]),
            "l": pa.array([[1], [2, 3], []], pa.list_(pa.int64())),
        }
    )
    source = ArrowTableSource(table, tag_columns="id")
    out = source.as_table()
    assert out.column_names == ["id", "x", "l"]
    for name in ("x", "id"):
        ours, theirs = out.column(name).chunk(0), table.column(name).chunk(0)
        assert [b.address for b in ours.buffers() if b is not None] == [
            b.address for b in theirs.buffers() if b is not None
        ]
    assert out.column("l").chunk(0).buffers()[1].address == table["l"].chunk(0).buffers()[1].address
    assert source.output_schema() == (Schema(id=str), Schema(x=float, l=list[int]))


def test_nullable_fields_without_nulls_read_as_plain_types_at_every_level() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2]),
            "n": pa.array([1, 2]),
            "l": pa.array([[1], [2]], pa.list_(pa.int64())),
            "m": pa.array([[("a", 1)], []], pa.map_(pa.string(), pa.int64())),
            "ll": pa.array([[[1]], []], pa.large_list(pa.list_(pa.int64()))),
        }
    )
    assert all(field.nullable for field in table.schema)
    source = ArrowTableSource(table, "id")
    assert source.output_schema() == (
        Schema(id=int),
        Schema(n=int, l=list[int], m=dict[str, int], ll=list[list[int]]),
    )


def test_nulls_at_any_level_read_as_optional_types() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2]),
            "n": pa.array([1, None]),
            "l": pa.array([[1], [None]], pa.list_(pa.int64())),
            "m": pa.array([[("a", None)], []], pa.map_(pa.string(), pa.int64())),
        }
    )
    source = ArrowTableSource(table, "id")
    assert source.output_schema()[1] == Schema(
        n=int | None, l=list[int | None], m=dict[str, int | None]
    )
    assert _rows(source) == [
        {"id": 1, "n": 1, "l": [1], "m": {"a": None}},
        {"id": 2, "n": None, "l": [None], "m": {}},
    ]


def test_a_sliced_table_is_read_by_its_own_rows_and_nulls() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4]),
            "n": pa.array([None, 2, 3, None]),
            "l": pa.array([[None], [2], [3, 4], [None]], pa.list_(pa.int64())),
            "m": pa.array(
                [[("a", None)], [("b", 2)], [], [("c", None)]], pa.map_(pa.string(), pa.int64())
            ),
        }
    )
    middle = ArrowTableSource(table.slice(1, 2), "id", source_id="mid")
    assert middle.output_schema()[1] == Schema(n=int, l=list[int], m=dict[str, int])
    assert _rows(middle) == [
        {"id": 2, "n": 2, "l": [2], "m": {"b": 2}},
        {"id": 3, "n": 3, "l": [3, 4], "m": {}},
    ]
    assert _provenance(middle) == [["mid:0"], ["mid:1"]]
    tail = ArrowTableSource(table.slice(2), "id")
    assert tail.output_schema()[1] == Schema(
        n=int | None, l=list[int | None], m=dict[str, int | None]
    )


def test_a_chunked_table_reads_as_one_sequence_of_rows() -> None:
    part = pa.table({"id": pa.array([1, 2]), "x": pa.array(["a", "b"])})
    source = ArrowTableSource(pa.concat_tables([part, part]), "id", source_id="c")
    assert [tag["id"] for tag, _ in source] == [1, 2, 1, 2]
    assert _provenance(source) == [["c:0"], ["c:1"], ["c:2"], ["c:3"]]


def test_arrow_path_metadata_reads_as_path() -> None:
    field = pa.field("p", pa.string(), metadata={b"orcapod.logical_type": b"path"})
    table = pa.table(
        {"id": [1], "p": pa.array(["/x/y"])}, schema=pa.schema([("id", pa.int64()), field])
    )
    source = ArrowTableSource(table, "id")
    assert source.output_schema()[1] == Schema(p=Path)
    assert next(iter(source))[1]["p"] == Path("/x/y")


@pytest.mark.parametrize(
    ("column", "array"),
    [
        ("price", pa.array([decimal.Decimal("1.50")], pa.decimal128(5, 2))),
        ("point", pa.array([{"x": 1, "y": 2}])),
        ("points", pa.array([[{"x": 1}]])),
        ("since", pa.array([1], pa.duration("s"))),
    ],
)
def test_an_unsupported_arrow_type_is_an_error_naming_the_column(
    column: str, array: pa.Array
) -> None:
    table = pa.table({"id": pa.array([1]), column: array})
    with pytest.raises(UnsupportedTypeError, match=f"column '{column}'"):
        ArrowTableSource(table, "id")


@pytest.mark.parametrize(
    ("column", "array"),
    [
        ("t", pa.array([1_704_067_200_000_000_001], pa.timestamp("ns"))),
        ("u", pa.array([2**64 - 1], pa.uint64())),
    ],
    ids=["nanoseconds", "uint64-past-int64"],
)
def test_values_that_cannot_be_read_are_refused_when_the_source_is_made(
    column: str, array: pa.Array
) -> None:
    # A source that builds must also read: refusing only at iteration is too late.
    table = pa.table({"id": pa.array([1]), column: array})
    with pytest.raises((SourceError, TypeMismatchError, UnsupportedTypeError), match=f"'{column}'"):
        ArrowTableSource(table, "id", source_id="s")


def test_arrow_table_source_refuses_what_is_not_a_table() -> None:
    with pytest.raises(SourceError, match=r"needs a pyarrow.Table, got dict"):
        ArrowTableSource({"id": [1]}, "id")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match=r"got RecordBatch"):
        ArrowTableSource(pa.record_batch({"id": [1]}), "id")  # type: ignore[arg-type]


def test_repeated_and_reserved_arrow_columns_are_named() -> None:
    repeated = pa.table({"a": [1], "b": [2]}).rename_columns(["a", "a"])
    with pytest.raises(SchemaError, match="column 'a' appears twice"):
        ArrowTableSource(repeated, [])
    with pytest.raises(SchemaError, match="'__b'"):
        ArrowTableSource(pa.table({"a": [1], "__b": [2]}), "a")


# DataFrameSource ----------------------------------------------------------


def test_a_pandas_frame_becomes_a_source_with_nulls_only_where_there_are_some() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "n": [1, 2],
            "x": [0.5, None],
            "opt": pd.array([1, None], dtype="Int64"),
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("Europe/Berlin"),
        },
        index=[10, 20],
    )
    source = DataFrameSource(frame, "id")
    assert source.output_schema() == (
        Schema(id=str),
        Schema(n=int, x=float | None, opt=int | None, t=datetime),
    )
    rows = _rows(source)
    assert [row["x"] for row in rows] == [0.5, None]
    assert [row["opt"] for row in rows] == [1, None]
    assert rows[0]["t"].isoformat() == "2024-01-01T00:00:00+01:00"
    assert source.as_table().column_names == ["id", "n", "x", "opt", "t"]  # no index column


def test_a_polars_frame_becomes_a_source() -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "s": ["x", "y"],
            "l": [[1], [2, 3]],
            "f": [1.5, None],
            "t": [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)],
            "d": [date(2024, 1, 1), date(2024, 1, 2)],
        }
    )
    source = DataFrameSource(frame, ["id"])
    assert source.output_schema() == (
        Schema(id=int),
        Schema(s=str, l=list[int], f=float | None, t=datetime, d=date),
    )
    assert _rows(source) == [
        {"id": i, **packet}
        for i, packet in [
            (1, {"s": "x", "l": [1], "f": 1.5, "t": datetime(2024, 1, 1, tzinfo=UTC)}),
            (2, {"s": "y", "l": [2, 3], "f": None, "t": datetime(2024, 1, 2, tzinfo=UTC)}),
        ]
        for packet in [{**packet, "d": date(2024, 1, i)}]
    ]


def test_pandas_and_polars_frames_of_the_same_data_give_the_same_rows() -> None:
    data = {"id": ["a", "b"], "x": [1, 2], "y": [0.5, 1.5]}
    from_pandas = DataFrameSource(pd.DataFrame(data), "id")
    from_polars = DataFrameSource(pl.DataFrame(data), "id")
    assert from_pandas.output_schema() == from_polars.output_schema()
    assert _rows(from_pandas) == _rows(from_polars)


def test_pandas_nanosecond_timestamps_are_refused_when_the_source_is_made() -> None:
    frame = pd.DataFrame({"id": [1], "t": [pd.Timestamp("2024-01-01 00:00:00.000000001")]})
    with pytest.raises((SourceError, TypeMismatchError, UnsupportedTypeError), match="'t'"):
        DataFrameSource(frame, "id")


def test_a_data_frame_source_refuses_what_is_not_a_data_frame() -> None:
    with pytest.raises(
        SourceError, match=r"needs a pandas.DataFrame or polars.DataFrame, got builtins.list"
    ):
        DataFrameSource([{"id": 1}], "id")
    with pytest.raises(SourceError, match=r"LazyFrame.*\.collect\(\)"):
        DataFrameSource(pl.DataFrame({"id": [1]}).lazy(), "id")
    with pytest.raises(SourceError, match=r"got pandas.*Series"):
        DataFrameSource(pd.Series([1, 2]), "id")


def test_a_pandas_column_of_mixed_objects_is_a_clear_error() -> None:
    frame = pd.DataFrame({"id": [1, 2], "x": [1, "two"]})
    with pytest.raises(SourceError, match=r"cannot be converted to Arrow.*astype"):
        DataFrameSource(frame, "id")


def test_an_unsupported_data_frame_column_is_named() -> None:
    frame = pl.DataFrame({"id": [1], "c": ["x"]}, schema={"id": pl.Int64, "c": pl.Categorical})
    with pytest.raises(UnsupportedTypeError, match="column 'c'"):
        DataFrameSource(frame, "id")


# CSVSource ----------------------------------------------------------------

CSV_TEXT = "id,x,name,flag\n1,1.5,alpha,true\n2,2,,false\n"


def test_csv_source_reads_a_file_with_inferred_types(tmp_path: Path) -> None:
    source = CSVSource(_write(tmp_path / "trials.csv", CSV_TEXT), "id")
    assert source.output_schema() == (Schema(id=int), Schema(x=float, name=str, flag=bool))
    assert source.keys() == (("id",), ("x", "name", "flag"))
    assert source.as_table().to_pylist() == [
        {"id": 1, "x": 1.5, "name": "alpha", "flag": True},
        {"id": 2, "x": 2.0, "name": "", "flag": False},
    ]


def test_csv_source_id_defaults_to_the_file_name(tmp_path: Path) -> None:
    assert (
        CSVSource(_write(tmp_path / "trials-2024.csv", CSV_TEXT), "id").source_id == "trials-2024"
    )
    spaced = CSVSource(_write(tmp_path / "my trials (v2).csv", CSV_TEXT), "id")
    assert spaced.source_id == "my_trials__v2_"
    assert _provenance(spaced) == [["my_trials__v2_:0"], ["my_trials__v2_:1"]]
    hidden = CSVSource(_write(tmp_path / "_hidden.csv", CSV_TEXT), "id")
    assert hidden.source_id == "csv_hidden"
    named = CSVSource(tmp_path / "trials-2024.csv", "id", source_id="mine")
    assert named.source_id == "mine"


def test_csv_declared_types_convert_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "id,x,empty\n1,1.5,\n2,2,\n")
    source = CSVSource(path, "id", schema={"x": str, "empty": float | None})
    assert source.output_schema() == (Schema(id=int), Schema(x=str, empty=float | None))
    assert source.as_table().to_pylist() == [
        {"id": 1, "x": "1.5", "empty": None},
        {"id": 2, "x": "2", "empty": None},
    ]


def test_csv_declared_path_column_reads_as_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "files.csv", "id,file\n1,/data/a.tif\n")
    source = CSVSource(path, "id", schema={"file": Path})
    assert source.output_schema()[1] == Schema(file=Path)
    assert next(iter(source))[1]["file"] == Path("/data/a.tif")


def test_csv_declared_optional_column_stays_optional_without_empty_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "full.csv", "id,x\n1,1.5\n2,2.5\n")
    source = CSVSource(path, "id", schema={"x": float | None})
    assert source.output_schema()[1] == Schema(x=float | None)


def test_csv_empty_field_in_a_column_declared_without_none_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "gap.csv", "id,x\n1,1\n2,\n")
    with pytest.raises((TypeMismatchError, SchemaError, SourceError), match="'x'"):
        CSVSource(path, "id", schema={"x": int})


def test_csv_column_of_only_empty_fields_asks_for_a_declared_type(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", "id,e\n1,\n2,\n")
    with pytest.raises(SchemaError, match=r"column 'e' has only empty fields.*schema="):
        CSVSource(path, "id")


def test_csv_declared_column_missing_from_the_file_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", CSV_TEXT)
    with pytest.raises(
        SchemaError, match=r"schema declares column 'zz'.*\['id', 'x', 'name', 'flag'\]"
    ):
        CSVSource(path, "id", schema={"zz": int})


def test_csv_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no file '.*nope\.csv'"):
        CSVSource(tmp_path / "nope.csv", "id")


@pytest.mark.parametrize(
    "content",
    [b"id,x\n1,2,3\n4\n", b"\x00\xff\xfe\x01garbage", b""],
    ids=["ragged", "binary", "empty"],
)
def test_csv_unreadable_file_is_a_source_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=r"cannot read '.*bad\.csv'"):
        CSVSource(path, "id")


def test_csv_directory_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot read"):
        CSVSource(tmp_path, "id")


def test_csv_other_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "id\tx\n1\ta\n")
    assert _rows(CSVSource(path, "id", delimiter="\t")) == [{"id": 1, "x": "a"}]


# source ids ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a:b", "a b", "", " a", "-a", "a/b", "é", 3, b"ab"])
def test_an_invalid_source_id_is_refused(bad: Any) -> None:
    with pytest.raises(SourceError, match=r"source_id .* is not valid"):
        DictSource([{"id": 1}], "id", source_id=bad)


def test_valid_source_ids_are_kept() -> None:
    for good in ("trials", "trials-2024", "T_1.v2", "0abc"):
        assert DictSource([{"id": 1}], "id", source_id=good).source_id == good


def test_default_source_id_is_stable_for_equal_data_and_differs_for_other_data() -> None:
    one = DictSource([{"id": "a", "x": 1}], "id")
    two = DictSource([{"id": "a", "x": 1}], "id")
    other = DictSource([{"id": "a", "x": 2}], "id")
    assert one.source_id == two.source_id
    assert one.source_id != other.source_id
    assert one.source_id.startswith("dict-")
    assert len(one.source_id) == len("dict-") + 16
    assert one.content_hash() == two.content_hash()
    arrow = ArrowTableSource(pa.table({"id": ["a"], "x": [1]}), "id")
    assert arrow.source_id.startswith("arrow-")


# record ids ---------------------------------------------------------------


def test_record_ids_name_the_rows_in_provenance() -> None:
    rows = [{"id": "a", "rid": "r-7", "x": 1}, {"id": "b", "rid": "r-3", "x": 2}]
    source = DictSource(rows, "id", source_id="s", record_id_column="rid")
    assert _provenance(source) == [["s:r-7"], ["s:r-3"]]
    table = pa.table({"id": [1, 2], "rid": [70, 30]})
    ints = ArrowTableSource(table, "id", source_id="t", record_id_column="rid")
    assert _provenance(ints) == [["t:70"], ["t:30"]]
    assert [tag.system_tags() for tag, _ in ints] == [
        {PROVENANCE: ["t:70"]},
        {PROVENANCE: ["t:30"]},
    ]


def test_record_ids_make_provenance_independent_of_row_position() -> None:
    rows = [{"id": "a", "rid": 1}, {"id": "b", "rid": 2}]
    forward = DictSource(rows, "id", source_id="s", record_id_column="rid")
    backward = DictSource(rows[::-1], "id", source_id="s", record_id_column="rid")
    assert sorted(_provenance(forward)) == sorted(_provenance(backward))


def test_repeated_record_ids_name_the_repeated_value() -> None:
    rows = [{"id": "a", "rid": 10}, {"id": "b", "rid": 11}, {"id": "c", "rid": 11}]
    with pytest.raises(
        SourceError, match=r"record_id_column 'rid' has the value 11 more than once"
    ):
        DictSource(rows, "id", record_id_column="rid")
    table = pa.table({"id": [1, 2], "rid": ["x", "x"]})
    with pytest.raises(SourceError, match=r"the value 'x' more than once"):
        ArrowTableSource(table, "id", record_id_column="rid")


def test_null_record_ids_are_refused() -> None:
    table = pa.table({"id": [1, 2, 3], "rid": ["x", None, None]})
    with pytest.raises(SourceError, match=r"record_id_column 'rid' has 2 null values"):
        ArrowTableSource(table, "id", record_id_column="rid")


@pytest.mark.parametrize(
    "ids", [pa.array([1.0, 2.0]), pa.array([True, False]), pa.array([[1], [2]])]
)
def test_record_ids_of_another_type_than_int_or_str_are_refused(ids: pa.Array) -> None:
    table = pa.table({"id": [1, 2], "rid": ids})
    with pytest.raises(
        SourceError, match=r"record_id_column 'rid' is of type .*must be int or str"
    ):
        ArrowTableSource(table, "id", record_id_column="rid")


def test_a_record_id_column_that_does_not_exist_is_named() -> None:
    with pytest.raises(SourceError, match=r"record_id_column 'nope' is not a column"):
        ArrowTableSource(pa.table({"id": [1]}), "id", record_id_column="nope")
