"""CSVSource: a CSV file read a block at a time, equal to the whole-file read it replaced.

What is protected:
- the rows, schemas, record ids, provenance and content hash of a CSVSource equal
  those of ArrowTableSource over ``pyarrow.csv.read_csv`` of the same file (what
  CSVSource was before it read in batches), also when a column's type widens only
  after the first block (``1.5`` or text in a column of ints, a value in a column
  empty so far), and for any file of mixed values (hypothesis);
- it never holds the file whole: every batch Arrow's reader gives it is one block,
  ``read_csv`` is never called but by ``as_table``, and a pipeline reads it in batches;
- declared types are not widened (a field they cannot convert is an error), empty
  fields in columns declared without ``None`` and repeated record ids are found
  after the first block;
- a file changed after the source was made is an error naming the file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyarrow import csv

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.errors import OrcapodError, SchemaError, SourceError, TypeMismatchError
from orcapod.core.function_pods import function_pod
from orcapod.core.pipeline import Pipeline
from orcapod.core.sources import ArrowTableSource, CSVSource, _csv
from orcapod.core.system_columns import PROVENANCE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BLOCK = 512
"""A block size small enough that the files here span many blocks."""


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_csv, "_BLOCK_BYTES", BLOCK)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    return path


def _cells(rows: int) -> list[list[str]]:
    """Rows whose types settle only after the first block: ``x`` is int until a float,
    ``late`` empty until an int, ``code`` int until text; ``name`` has empty fields."""
    return [
        [
            str(i),
            f"r{i * 7 % rows}",
            "1.5" if i == rows - 3 else str(i),
            str(i) if i >= rows - 5 else "",
            "A7" if i == rows - 1 else str(i % 10),
            "" if i % 4 == 0 else f"name {i}",
            "true" if i % 2 else "false",
            f"2024-01-{1 + i % 28:02d}",
        ]
        for i in range(rows)
    ]


HEADER = ["n", "id", "x", "late", "code", "name", "flag", "day"]


def _pair(
    path: Path, tags: list[str], record_id_column: str | None = None
) -> tuple[CSVSource, ArrowTableSource]:
    source = CSVSource(path, tags, source_id="cells", record_id_column=record_id_column)
    whole = ArrowTableSource(
        csv.read_csv(path), tags, source_id="cells", record_id_column=record_id_column
    )
    return source, whole


def _rows(source: Any) -> list[dict[str, Any]]:
    return [{**tag.as_dict(), **packet.as_dict()} for tag, packet in source.iter_packets()]


# Equality with the whole-file read --------------------------------------------


@pytest.mark.parametrize("record_id_column", [None, "id", "n"])
def test_a_csv_source_equals_the_arrow_table_source_of_the_whole_file(
    tmp_path: Path, record_id_column: str | None
) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(400))
    source, whole = _pair(path, ["n"], record_id_column)
    assert source.reads.restarts == 3  # x, late and code each widened after the first block
    assert source.output_schema() == whole.output_schema()
    packets = source.output_schema()[1]
    assert (packets["x"], packets["late"], packets["code"]) == (float, int | None, str)
    assert packets["name"] is str  # empty fields of a str column are empty strings
    assert source.row_count() == 400
    assert source.as_table().equals(whole.as_table())
    expected = whole.as_table(include_system_columns=True)
    assert source.as_table(include_system_columns=True).equals(expected)
    batches = list(source.iter_batches(include_system_columns=True, max_rows=37))
    assert all(0 < batch.num_rows <= 37 for batch in batches)
    assert pa.concat_tables(batches).equals(expected)
    assert _rows(source) == _rows(whole)
    assert source.content_hash() == whole.content_hash()
    assert source.pipeline_hash() == whole.pipeline_hash()
    assert source.system_columns() == whole.system_columns() == (PROVENANCE,)


def test_the_streaming_reader_alone_would_fail_on_the_widened_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(400))
    reader = csv.open_csv(path, read_options=csv.ReadOptions(block_size=BLOCK))
    with pytest.raises(pa.ArrowInvalid, match="conversion error"):
        reader.read_all()
    assert CSVSource(path, "n").output_schema()[1]["x"] is float


VALUES = [
    "",
    "1",
    "0",
    "-7",
    "42",
    "1.5",
    "-0.25",
    "1e3",
    "true",
    "False",
    "2024-01-01",
    "10:00:00",
    "2024-01-01 10:00:00",
    "2024-01-01 10:00:00.5",
    "2024-01-01T10:00:00Z",
    "NA",
    "null",
    "x",
    "a b",
    "0x1F",
    "9223372036854775808",
    " 3",
    "+1",
    "TRUE",
    "10:00",
    "2024-01-01 10",
    "2024-01-01T10:00:00.5+01:00",
    "inf",
    '"q,1"',
]


@st.composite
def _files(draw: st.DrawFn) -> list[list[str]]:
    """Rows of three columns, each of a few of ``VALUES`` (so that types mix and widen)."""
    palettes = [draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)) for _ in "abc"]
    count = draw(st.integers(0, 80))
    return [[draw(st.sampled_from(palette)) for palette in palettes] for _ in range(count)]


@settings(max_examples=80, deadline=None)
@given(_files(), st.integers(1, 40))
def test_any_file_reads_as_the_whole_file_read(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], max_rows: int
) -> None:
    path = tmp_path_factory.mktemp("c") / "t.csv"
    _write(path, ["n", "a", "b", "c"], [[str(i), *row] for i, row in enumerate(rows)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_csv, "_BLOCK_BYTES", 128)
        _assert_reads_as_the_whole_file(path, max_rows)


def _assert_reads_as_the_whole_file(path: Path, max_rows: int = 8192) -> None:
    """CSVSource(path) is ArrowTableSource(read_csv(path)), or fails as CSVSource did on it."""
    table = csv.read_csv(path)
    if any(pa.types.is_null(column.type) for column in table.columns):
        with pytest.raises(SchemaError, match="has only empty fields"):
            CSVSource(path, "n")
        return
    try:
        whole = ArrowTableSource(table, "n", source_id="t")
    except OrcapodError as error:  # a type orcapod has not (time32), or cannot read exactly
        with pytest.raises(type(error)):
            CSVSource(path, "n")
        return
    source = CSVSource(path, "n", source_id="t")
    assert source.output_schema() == whole.output_schema()
    assert source.content_hash() == whole.content_hash()
    batches = list(source.iter_batches(include_system_columns=True, max_rows=max_rows))
    expected = whole.as_table(include_system_columns=True)
    assert (pa.concat_tables(batches) if batches else expected.slice(0, 0)).equals(expected)
    assert source.as_table().equals(whole.as_table())


KINDS = [
    "",
    "1",
    "true",
    "2024-01-01",
    "10:00:00",
    "2024-01-01 10:00:00",
    "2024-01-01 10:00:00.5",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00:00.5+01:00",
    "1.5",
    "x",
]
"""A field of each type Arrow infers, in the order it tries them."""


@pytest.mark.parametrize("late", KINDS[1:])
@pytest.mark.parametrize("early", KINDS)
def test_a_field_of_any_type_after_the_first_block_widens_as_the_whole_file_read(
    tmp_path: Path, early: str, late: str
) -> None:
    rows = [[str(i), early if i < 200 else late] for i in range(202)]  # late: past a block
    _assert_reads_as_the_whole_file(_write(tmp_path / "t.csv", ["n", "v"], rows))


def test_default_source_id_is_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "my cells.v2.csv", HEADER, _cells(10))
    assert CSVSource(path, "n").source_id == "my_cells.v2"


# Bounded reading ---------------------------------------------------------------


class _CountingReader:
    def __init__(self, reader: Any, sizes: list[int]) -> None:
        self._reader = reader
        self._sizes = sizes
        self.schema = reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._reader:
            self._sizes.append(batch.num_rows)
            yield batch


def test_the_source_never_holds_more_than_a_block_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _cells(3000)
    path = _write(tmp_path / "cells.csv", HEADER, rows)
    shortest = min(len(",".join(row)) + 1 for row in rows)
    most_in_a_block = BLOCK // shortest + 1
    sizes: list[int] = []
    open_csv, read_csv = csv.open_csv, csv.read_csv

    def counting(*args: Any, **kwargs: Any) -> _CountingReader:
        return _CountingReader(open_csv(*args, **kwargs), sizes)

    def whole(source: Any, *args: Any, **kwargs: Any) -> pa.Table:
        assert source != path, "the file was read whole"
        return read_csv(source, *args, **kwargs)  # a field tried alone, settling a type

    monkeypatch.setattr(csv, "open_csv", counting)
    monkeypatch.setattr(csv, "read_csv", whole)
    source = CSVSource(path, ["n"], record_id_column="id")
    source.content_hash()
    batches = list(source.iter_batches(include_system_columns=True))
    packets = sum(1 for _ in source.iter_packets())
    assert packets == sum(batch.num_rows for batch in batches) == 3000
    assert len(sizes) > 100
    assert max(sizes) <= most_in_a_block < 3000 // 50
    assert source.reads.whole == 0
    # made: the first pass, one more per widened column, one over the (unique) ids;
    # then one to hash, one in batches, one in packets
    assert source.reads.restarts == 3
    assert source.reads.passes == 1 + 3 + 1 + 3


@function_pod(output_keys="y")
def double(n: int) -> int:
    return 2 * n


def test_a_pipeline_reads_the_file_in_batches_never_whole_with_the_whole_file_results(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(500))
    results = {}
    for kind, source in zip(("csv", "whole"), _pair(path, ["id"], "id"), strict=True):
        pipeline = Pipeline(f"p_{kind}", InMemoryArrowDatabase())
        with pipeline:
            double.pod(source, label="double")
        result = pipeline.run("sync", batch_rows=64)
        assert result.ok, result
        results[kind] = pipeline.nodes["double"].as_table(include_system_columns=True)
        if isinstance(source, CSVSource):
            assert source.reads.whole == 0
    mine, theirs = (
        table.sort_by("id").select(["id", "y", PROVENANCE]) for table in results.values()
    )
    assert mine.equals(theirs)
    assert sorted(mine.column("y").to_pylist()) == [2 * i for i in range(500)]


# Declared types and checks after the first block ------------------------------


def test_a_declared_type_is_not_widened(tmp_path: Path) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(400))
    with pytest.raises(SourceError, match=r"cannot read '.*cells\.csv'.*invalid value '1\.5'"):
        CSVSource(path, "n", schema={"x": int})
    source = CSVSource(path, "n", schema={"x": str, "late": float | None})
    packets = source.output_schema()[1]
    assert (packets["x"], packets["late"]) == (str, float | None)
    assert source.as_table().column("x")[397].as_py() == "1.5"


def test_an_empty_field_after_the_first_block_names_its_data_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(400))
    with pytest.raises(TypeMismatchError, match=r"column 'late' is declared int but data row 1 "):
        CSVSource(path, "n", schema={"late": int})
    rows = [[str(i), "" if i == 350 else str(i)] for i in range(400)]
    gap = _write(tmp_path / "gap.csv", ["n", "x"], rows)
    with pytest.raises(TypeMismatchError, match=r"column 'x' is declared int but data row 351 "):
        CSVSource(gap, "n", schema={"x": int})


def test_repeated_or_null_record_ids_after_the_first_block_are_refused(tmp_path: Path) -> None:
    rows = [[str(i), f"id-{i}"] for i in range(400)] + [["400", "id-42"]]
    path = _write(tmp_path / "ids.csv", ["n", "id"], rows)
    with pytest.raises(SourceError, match="'id' has the value 'id-42' more than once") as error:
        CSVSource(path, "n", record_id_column="id")
    assert "csv 'ids'" in str(error.value)
    ints = [[str(i), str(i * 3)] for i in range(400)]
    gaps = _write(tmp_path / "gaps.csv", ["n", "id"], [*ints, ["400", ""]])  # an int id left empty
    with pytest.raises(SourceError, match="'id' has 1 null values"):
        CSVSource(gaps, "n", record_id_column="id")
    repeated = _write(tmp_path / "repeated.csv", ["n", "id"], [*ints, ["400", "27"]])
    with pytest.raises(SourceError, match="'id' has the value 27 more than once"):
        CSVSource(repeated, "n", record_id_column="id")


def test_a_value_orcapod_cannot_read_is_refused_unless_its_column_widens(tmp_path: Path) -> None:
    nanos = [[str(i), "2024-01-01 10:00:00.123456789"] for i in range(300)]
    path = _write(tmp_path / "t.csv", ["n", "t"], nanos)
    with pytest.raises(TypeMismatchError, match="column 't' of type timestamp"):
        CSVSource(path, "n")
    widened = _write(tmp_path / "w.csv", ["n", "t"], [*nanos, ["300", "later"]])
    source, whole = _pair(widened, ["n"])
    assert source.output_schema() == whole.output_schema()
    assert source.content_hash() == whole.content_hash()


def test_a_repeated_or_reserved_column_name_is_refused_as_before(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="csv 't': column 'a' appears twice"):
        CSVSource(_write(tmp_path / "t.csv", ["n", "a", "a"], [["1", "2", "x"]]), "n")
    with pytest.raises(SchemaError, match="__a"):
        CSVSource(_write(tmp_path / "r.csv", ["n", "__a"], [["1", "2"]]), "n")


# A changed file ------------------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        lambda source: list(source.iter_batches()),
        lambda source: source.as_table(),
        lambda source: source.content_hash(),
        lambda source: list(source.iter_packets()),
    ],
)
@pytest.mark.parametrize("change", ["rewrite", "touch", "delete"])
def test_a_file_changed_after_the_source_was_made_is_an_error_when_read(
    tmp_path: Path, read: Any, change: str
) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(100))
    source = CSVSource(path, "n")
    if change == "rewrite":
        _write(path, HEADER, _cells(90))
    elif change == "touch":
        status = os.stat(path)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    else:
        path.unlink()
    with pytest.raises(SourceError, match="the file changed after the source was made") as error:
        read(source)
    message = str(error.value)
    assert str(path) in message
    assert "Make a new CSVSource" in message


def test_a_file_changed_while_it_is_read_is_an_error_at_the_next_block(tmp_path: Path) -> None:
    path = _write(tmp_path / "cells.csv", HEADER, _cells(400))
    source = CSVSource(path, "n")
    batches = source.iter_batches(max_rows=10)
    next(batches)
    _write(path, HEADER, _cells(300))
    with pytest.raises(SourceError, match="changed after the source was made"):
        list(batches)
