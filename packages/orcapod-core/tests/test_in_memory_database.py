"""InMemoryArrowDatabase: the conformance suite, and what is particular to memory."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import orcapod.core.databases
from orcapod.core.databases import InMemoryArrowDatabase, _in_memory
from orcapod.protocols.database import add_new_records
from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    RecordSchemaError,
)
from orcapod.protocols.store import NewRecords
from orcapod.protocols.testing.database import ArrowDatabaseContract

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


ID = "record_id"
PATH = ("pipeline", "node")


def simple_records(ids: list[str]) -> pa.Table:
    """Records with an ``ID`` column and three data columns derived from the ids."""
    return pa.table(
        {
            ID: pa.array(ids, pa.large_string()),
            "subject": pa.array([f"subject-{i}" for i in ids], pa.large_string()),
            "version": pa.array([1] * len(ids), pa.int64()),
            "score": pa.array([n / 4 for n in range(len(ids))], pa.float64()),
        }
    )


def simple_record(record_id: str) -> pa.Table:
    return simple_records([record_id]).drop_columns([ID])


SIMPLE_SCHEMA = simple_record("x").schema


def ids_in(table: pa.Table | None) -> list[str]:
    """The ids of a read made with ``record_id_column=ID``, in the order returned."""
    assert table is not None
    ids: list[str] = table.column(ID).to_pylist()
    return ids


def by_id(table: pa.Table | None) -> dict[str, dict[str, Any]]:
    """The rows of a read made with ``record_id_column=ID``, by id."""
    assert table is not None
    return {row.pop(ID): row for row in table.to_pylist()}


class TestInMemoryArrowDatabaseContract(ArrowDatabaseContract):
    __test__ = True

    def make_database(self, tmp_path: Path) -> InMemoryArrowDatabase:
        return InMemoryArrowDatabase()


@pytest.fixture
def database() -> Iterator[InMemoryArrowDatabase]:
    database = InMemoryArrowDatabase()
    yield database
    database.close()


class Concatenations:
    """Every concatenation of stored rows the database makes: how many, and how many rows."""

    def __init__(self) -> None:
        self.calls = 0
        self.rows = 0

    def __call__(self, tables: list[pa.Table]) -> pa.Table:
        self.calls += 1
        self.rows += sum(table.num_rows for table in tables)
        return pa.concat_tables(tables).combine_chunks()


@pytest.fixture
def concatenations(monkeypatch: pytest.MonkeyPatch) -> Concatenations:
    counter = Concatenations()
    monkeypatch.setattr(_in_memory, "_concatenate", counter)
    return counter


@contextmanager
def small_segments(
    segment_rows: int, recent_batches: int, kept_batch_rows: int | None = None
) -> Iterator[None]:
    """Shrink the segment sizes so a few hundred rows exercise every layout (segments
    left in the batches' chunks too: from ``kept_batch_rows`` rows a batch, a quarter
    of a segment unless given)."""
    with (
        mock.patch.object(_in_memory, "SEGMENT_ROWS", segment_rows),
        mock.patch.object(_in_memory, "RECENT_ROWS", segment_rows),
        mock.patch.object(_in_memory, "RECENT_BATCHES", recent_batches),
        mock.patch.object(
            _in_memory, "KEPT_BATCH_ROWS", kept_batch_rows or max(1, segment_rows // 4)
        ),
    ):
        yield


# -- the package ------------------------------------------------------------------------


def test_the_package_exports_only_the_database() -> None:
    assert orcapod.core.databases.__all__ == ["InMemoryArrowDatabase"]


def test_importing_the_package_loads_no_optional_or_compute_library() -> None:
    script = "import sys, orcapod.core.databases; print('\\n'.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not loaded & {"pandas", "polars", "pyarrow.compute", "pluggy", "hypothesis"}


def test_the_memory_uri_opens_a_new_empty_in_memory_database() -> None:
    from orcapod.core.plugins import open_database

    database = open_database("memory://")
    assert isinstance(database, InMemoryArrowDatabase)
    assert database.list_paths() == []
    database.close()


# -- cost: concatenations ---------------------------------------------------------------


def test_lookups_of_a_few_ids_between_single_adds_concatenate_nothing(
    database: InMemoryArrowDatabase, concatenations: Concatenations
) -> None:
    for n in range(1000):
        database.add_record(PATH, f"r{n}", simple_record(f"r{n}"))
        record = database.get_record_by_id(PATH, f"r{n}", record_id_column=ID)
        assert list(by_id(record)) == [f"r{n}"]
        assert database.get_record_by_id(PATH, f"r{n // 2}") is not None
        few = [f"r{k}" for k in range(max(0, n - _in_memory.FEW_ROWS + 1), n + 1)]
        assert ids_in(database.get_records_by_ids(PATH, few, record_id_column=ID)) == few
    assert concatenations.calls == 0


def test_a_read_after_many_single_adds_concatenates_once_and_is_cached(
    database: InMemoryArrowDatabase, concatenations: Concatenations
) -> None:
    for n in range(500):
        database.add_record(PATH, f"r{n}", simple_record(f"r{n}"))
    for _ in range(3):
        assert len(ids_in(database.get_all_records(PATH, record_id_column=ID))) == 500
        assert database.get_records_by_ids(PATH, ["r1", "r499"]) is not None
        assert database.get_records_with_column_value(PATH, {"subject": "subject-r7"})
    assert (concatenations.calls, concatenations.rows) == (1, 500)
    database.add_record(PATH, "r500", simple_record("r500"))
    assert len(ids_in(database.get_all_records(PATH, record_id_column=ID))) == 501
    assert (concatenations.calls, concatenations.rows) == (2, 501)


@pytest.mark.parametrize("rounds", [1024, 4096])
def test_interleaved_adds_and_reads_copy_each_row_a_logarithmic_number_of_times(
    database: InMemoryArrowDatabase, concatenations: Concatenations, rounds: int
) -> None:
    for n in range(rounds):
        database.add_record(PATH, f"r{n}", simple_record(f"r{n}"))
        if n % 2:
            assert database.get_all_records(PATH) is not None
        else:
            recent = [f"r{k}" for k in range(max(0, n - 40), n + 1)]
            assert ids_in(database.get_records_by_ids(PATH, recent, record_id_column=ID)) == recent
    # re-concatenating everything on each read would copy rounds**2 / 2 rows
    assert concatenations.rows <= rounds * (math.log2(rounds) + 2)
    everything = database.get_all_records(PATH, record_id_column=ID)
    assert len(ids_in(everything)) == rounds
    # and never merging would hand out a table of one chunk per record
    assert everything is not None
    assert everything.column("subject").num_chunks <= math.log2(rounds) + 1


@pytest.mark.parametrize("rounds", [2000, 8000])
def test_copies_per_row_stay_bounded_once_segments_are_full(
    database: InMemoryArrowDatabase, concatenations: Concatenations, rounds: int
) -> None:
    with small_segments(segment_rows=64, recent_batches=8):
        for n in range(rounds):
            database.add_record(PATH, f"r{n}", simple_record(f"r{n}"))
            if n % 3 == 0:
                assert database.get_all_records(PATH) is not None
        assert concatenations.rows / rounds <= math.log2(64) + 2
        everything = database.get_all_records(PATH)
        assert everything is not None
        assert everything.column("subject").num_chunks <= 2 * rounds / 64 + math.log2(64) + 1
        wanted = [f"r{n}" for n in range(0, rounds, 7)]
        assert ids_in(database.get_records_by_ids(PATH, wanted, record_id_column=ID)) == wanted


def test_a_segment_of_big_batches_is_copied_only_when_a_read_takes_from_it(
    database: InMemoryArrowDatabase, concatenations: Concatenations
) -> None:
    with small_segments(segment_rows=256, recent_batches=64, kept_batch_rows=32):
        for first in range(0, 320, 64):  # five batches of 64: the fourth makes a segment
            ids = [f"r{n}" for n in range(first, first + 64)]
            database.add_records(PATH, simple_records(ids), ID)
            # a first run looks its new ids up before adding them: nothing found, no copy
            assert database.get_records_by_ids(PATH, [f"new{first}", f"new{first + 1}"]) is None
        assert concatenations.calls == 0  # a first run copies nothing
        everything = database.get_all_records(PATH, record_id_column=ID)
        assert ids_in(everything) == [f"r{n}" for n in range(320)]
        assert concatenations.calls == 1  # the last batch, read with the rest (64 rows)
        wanted = [f"r{n}" for n in range(3, 256, 5)]
        got = database.get_records_by_ids(PATH, wanted, record_id_column=ID)
        assert ids_in(got) == wanted
        assert got is not None
        assert got.column("subject").to_pylist() == [f"subject-{i}" for i in wanted]
        assert got.column("score").to_pylist() == [int(i[1:]) % 64 / 4 for i in wanted]
        assert (concatenations.calls, concatenations.rows) == (2, 64 + 256)  # once, then kept
        assert database.get_records_by_ids(PATH, wanted) is not None
        record = database.get_record_by_id(PATH, "r200", record_id_column=ID)
        assert ids_in(record) == ["r200"]
        assert concatenations.calls == 2


def test_slices_of_a_much_larger_table_are_copied_so_it_can_be_freed(
    database: InMemoryArrowDatabase, concatenations: Concatenations
) -> None:
    parent = simple_records([f"p{n:07d}" for n in range(100_000)])  # ~4 MB of buffers
    with small_segments(segment_rows=256, recent_batches=64, kept_batch_rows=32):
        for first in range(0, 256, 64):
            database.add_records(PATH, parent.slice(first, 64), ID)
        assert concatenations.calls == 1  # the segment was copied...
    (segment,) = database._paths[PATH].segments()
    del parent
    # ...so it holds its own rows, not the parent's buffers
    assert segment.get_total_buffer_size() < 2 * segment.nbytes
    assert ids_in(database.get_all_records(PATH, record_id_column=ID))[-1] == "p0000255"


def test_a_batch_of_many_small_chunks_is_copied_not_kept_as_its_chunks(
    database: InMemoryArrowDatabase, concatenations: Concatenations
) -> None:
    """A big batch built by concatenating one-row tables is a segment's worth of rows in
    thousands of chunks: kept as they are, each chunk's buffers and Arrow objects
    would stay allocated (4 times the rows' bytes at one row a chunk), so it is copied."""
    ids = [f"r{n}" for n in range(256)]
    batch = pa.concat_tables([simple_records([record_id]) for record_id in ids])
    with small_segments(segment_rows=256, recent_batches=64, kept_batch_rows=32):
        database.add_records(PATH, batch, ID)
        (segment,) = database._paths[PATH].segments()
    assert concatenations.calls == 1
    assert max(column.num_chunks for column in segment.columns) == 1
    assert ids_in(database.get_all_records(PATH, record_id_column=ID)) == ids


def test_a_segment_made_contiguous_is_not_held_also_in_its_chunks(
    database: InMemoryArrowDatabase,
) -> None:
    """get_all_records keeps the whole table until the next write; a lookup that then
    copies a segment left in chunks must not leave the chunks held by it beside the copy."""
    text = "x" * 2000
    with small_segments(segment_rows=256, recent_batches=64, kept_batch_rows=32):
        baseline = pa.total_allocated_bytes()
        for first in range(0, 256, 64):
            ids = [f"r{n}" for n in range(first, first + 64)]
            batch = simple_records(ids).append_column("text", pa.array([text] * 64))
            database.add_records(PATH, batch, ID)
        del batch
        stored_bytes = pa.total_allocated_bytes() - baseline  # the batches' own buffers
        assert database.get_all_records(PATH) is not None  # kept until the next write
        wanted = [f"r{n}" for n in range(0, 256, 3)]
        assert ids_in(database.get_records_by_ids(PATH, wanted, record_id_column=ID)) == wanted
    held = pa.total_allocated_bytes() - baseline
    assert held < 1.5 * stored_bytes  # the copy, not the copy and the chunks


# -- correctness over every storage layout -----------------------------------------------

_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add_records"), st.integers(0, 20)),
        st.tuples(st.just("add_record"), st.just(1)),
        st.tuples(st.just("get_records_by_ids"), st.lists(st.integers(0, 150), max_size=25)),
        st.tuples(st.just("get_record_by_id"), st.integers(0, 150)),
        st.tuples(st.just("get_all_records"), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations=_OPERATIONS)
def test_reads_match_a_dict_of_what_was_added_whatever_the_segment_layout(
    operations: list[tuple[str, Any]],
) -> None:
    added: list[str] = []
    with small_segments(segment_rows=8, recent_batches=3), InMemoryArrowDatabase() as database:
        for operation, argument in operations:
            if operation == "add_records":
                new = [f"r{len(added) + n}" for n in range(argument)]
                database.add_records(PATH, simple_records(new), ID)
                added += new
            elif operation == "add_record":
                new_id = f"r{len(added)}"
                database.add_record(PATH, new_id, simple_record(new_id))
                added.append(new_id)
            elif operation == "get_records_by_ids":
                asked = [f"r{n}" for n in argument]
                got = database.get_records_by_ids(PATH, asked, record_id_column=ID)
                expected = [record_id for record_id in added if record_id in set(asked)]
                assert (ids_in(got) if got is not None else []) == expected
                if got is not None:
                    assert got.column("subject").to_pylist() == [f"subject-{i}" for i in expected]
            elif operation == "get_record_by_id":
                got = database.get_record_by_id(PATH, f"r{argument}", record_id_column=ID)
                assert (ids_in(got) if got is not None else []) == (
                    [f"r{argument}"] if argument < len(added) else []
                )
            else:
                got = database.get_all_records(PATH, record_id_column=ID)
                assert (ids_in(got) if got is not None else []) == added


def test_records_across_full_sized_segments_are_found(database: InMemoryArrowDatabase) -> None:
    ids = [f"r{n:06d}" for n in range(_in_memory.SEGMENT_ROWS + 5000)]
    database.add_records(PATH, simple_records(ids[:40_000]), ID)
    for first in range(40_000, len(ids), 1000):
        database.add_records(PATH, simple_records(ids[first : first + 1000]), ID)
        database.get_all_records(PATH)
    wanted = ids[::997] + ids[-3:]
    assert ids_in(database.get_records_by_ids(PATH, wanted, record_id_column=ID)) == sorted(
        set(wanted)
    )
    record = database.get_record_by_id(PATH, ids[-1])
    assert record is not None
    assert record.column("subject").to_pylist() == [f"subject-{ids[-1]}"]


def test_reads_return_records_in_the_order_they_were_added(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["c", "a"]), ID)
    database.add_record(PATH, "b", simple_record("b"))
    assert ids_in(database.get_all_records(PATH, record_id_column=ID)) == ["c", "a", "b"]
    got = database.get_records_by_ids(PATH, ["b", "a", "c"], record_id_column=ID)
    assert ids_in(got) == ["c", "a", "b"]


def test_a_record_sliced_from_a_bigger_table_is_stored_as_that_row(
    database: InMemoryArrowDatabase,
) -> None:
    big = simple_records([f"r{n}" for n in range(100)]).drop_columns([ID])
    database.add_record(PATH, "r42", big.slice(42, 1))
    expected = big.slice(42, 1).to_pylist()
    record = database.get_record_by_id(PATH, "r42")
    assert record is not None
    assert record.to_pylist() == expected
    assert database.get_records_by_ids(PATH, ["r42"]).to_pylist() == expected  # type: ignore[union-attr]


def test_a_table_read_earlier_does_not_change_when_records_are_added(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1", "r2"]), ID)
    before = database.get_all_records(PATH)
    assert before is not None
    database.add_records(PATH, simple_records([f"n{n}" for n in range(2000)]), ID)
    assert before.num_rows == 2
    assert before.column("subject").to_pylist() == ["subject-r1", "subject-r2"]


def test_the_first_records_fix_the_schema_metadata_included(
    database: InMemoryArrowDatabase,
) -> None:
    first = simple_record("r1").replace_schema_metadata({"origin": "first"})
    database.add_record(PATH, "r1", first)
    database.add_record(PATH, "r2", simple_record("r2").replace_schema_metadata({"x": "y"}))
    for read in (
        database.get_record_by_id(PATH, "r2"),
        database.get_all_records(PATH),
        database.get_records_by_ids(PATH, ["r1", "r2"]),
    ):
        assert read is not None
        assert read.schema.metadata == {b"origin": b"first"}


def test_ids_in_a_string_column_come_back_as_large_strings(
    database: InMemoryArrowDatabase,
) -> None:
    records = simple_records(["r1"]).set_column(0, ID, pa.array(["r1"], pa.string()))
    database.add_records(PATH, records, ID)
    got = database.get_all_records(PATH, record_id_column="the_id")
    assert got is not None
    assert got.schema.field("the_id").type == pa.large_string()
    assert got.column("the_id").to_pylist() == ["r1"]


def test_an_empty_batch_adds_nothing_and_creates_no_path(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records([]), ID)
    assert database.list_paths() == []
    assert database.get_all_records(PATH) is None


def test_an_empty_batch_of_the_wrong_schema_is_still_refused(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1"]), ID)
    with pytest.raises(RecordSchemaError, match="'score'"):
        database.add_records(PATH, simple_records([]).drop_columns(["score"]), ID)


# -- error messages -------------------------------------------------------------------


def test_a_duplicate_error_lists_stored_and_repeated_ids_and_the_fix(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["s1", "s2"]), ID)
    with pytest.raises(DuplicateRecordError) as caught:
        database.add_records(PATH, simple_records(["s1", "new", "again", "again", "s2"]), ID)
    message = str(caught.value)
    assert "already stored there: 's1', 's2'" in message
    assert "repeated within the batch: 'again'" in message
    assert "('pipeline', 'node')" in message
    assert "skip_duplicates=True" in message


def test_a_duplicate_error_shows_a_few_ids_and_counts_the_rest(
    database: InMemoryArrowDatabase,
) -> None:
    ids = [f"r{n}" for n in range(50)]
    database.add_records(PATH, simple_records(ids), ID)
    with pytest.raises(DuplicateRecordError, match="'r4' and 45 more"):
        database.add_records(PATH, simple_records(ids), ID)


def test_a_schema_error_names_both_types_and_how_to_fix_it(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1"]), ID)
    wrong = simple_records(["r2"]).set_column(2, "version", pa.array([1.0], pa.float64()))
    with pytest.raises(RecordSchemaError) as caught:
        database.add_records(PATH, wrong, ID)
    message = str(caught.value)
    assert "column 'version' is double here but int64 in the stored records" in message
    assert "records.cast(schema)" in message
    assert "('pipeline', 'node')" in message


def test_columns_in_another_order_are_refused_saying_how_to_reorder(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1"]), ID)
    reordered = simple_records(["r2"]).select([ID, "score", "subject", "version"])
    with pytest.raises(RecordSchemaError, match=r"records\.select\(\['subject', 'version'"):
        database.add_records(PATH, reordered, ID)


def test_a_column_that_may_hold_nulls_does_not_fit_one_that_may_not(
    database: InMemoryArrowDatabase,
) -> None:
    strict = pa.schema([pa.field("x", pa.int64(), nullable=False)])
    database.add_record(PATH, "r1", pa.table({"x": [1]}, schema=strict))
    with pytest.raises(RecordSchemaError, match="is int64 here but int64 not null"):
        database.add_record(PATH, "r2", pa.table({"x": [2]}))


def test_the_first_records_may_not_repeat_a_column_name(database: InMemoryArrowDatabase) -> None:
    twice = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"])
    with pytest.raises(RecordSchemaError, match="more than one column named 'x'"):
        database.add_record(PATH, "r1", twice)
    assert database.list_paths() == []


@pytest.mark.parametrize(
    ("records", "message"),
    [
        pytest.param(simple_records(["r1"]).drop_columns([ID]), "has no column", id="missing"),
        pytest.param(
            simple_records(["r1"]).set_column(0, ID, pa.array([1], pa.int64())),
            r"is int64, but record ids are strings; cast it",
            id="not-strings",
        ),
        pytest.param(
            simple_records(["r1"]).set_column(0, ID, pa.array([None], pa.large_string())),
            "1 null id",
            id="null-id",
        ),
        pytest.param(
            simple_records(["r1"]).append_column(ID, pa.array(["r2"], pa.large_string())),
            "has 2 columns named",
            id="two-id-columns",
        ),
    ],
)
def test_a_bad_record_id_column_is_refused_saying_what_is_wrong(
    database: InMemoryArrowDatabase, records: pa.Table, message: str
) -> None:
    with pytest.raises(RecordSchemaError, match=message):
        database.add_records(PATH, records, ID)
    assert database.list_paths() == []


def test_arguments_of_the_wrong_python_type_are_type_errors(
    database: InMemoryArrowDatabase,
) -> None:
    with pytest.raises(TypeError, match="record_id must be a str, got int"):
        database.add_record(PATH, 7, simple_record("r1"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pyarrow\.Table\.from_batches"):
        database.add_record(PATH, "r1", simple_record("r1").to_batches()[0])
    with pytest.raises(TypeError, match=r"pass \['r1'\]"):
        database.get_records_by_ids(PATH, "r1")
    assert database.list_paths() == []


def test_asking_for_ids_under_the_name_of_a_data_column_is_refused(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1"]), ID)
    reads: list[Callable[[], object]] = [
        lambda: database.get_all_records(PATH, record_id_column="subject"),
        lambda: database.get_record_by_id(PATH, "r1", record_id_column="subject"),
        lambda: database.get_records_by_ids(PATH, ["r1"], record_id_column="subject"),
    ]
    for read in reads:
        with pytest.raises(DatabaseError, match="'subject' is also a data column"):
            read()


# -- matching by column value -----------------------------------------------------------


def test_matching_a_column_that_does_not_exist_names_the_columns_there(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1"]), ID)
    with pytest.raises(
        DatabaseError, match=r"no column 'sbject'.*\['subject', 'version', 'score'\]"
    ):
        database.get_records_with_column_value(PATH, {"sbject": "x"})


def test_matching_a_value_of_the_wrong_type_names_column_and_value(
    database: InMemoryArrowDatabase,
) -> None:
    database.add_records(PATH, simple_records(["r1"]), ID)
    with pytest.raises(DatabaseError, match=r"column 'version' \(int64\).*'one'"):
        database.get_records_with_column_value(PATH, {"version": "one"})


def test_matching_a_map_column_by_value_is_refused_pointing_to_get_all_records(
    database: InMemoryArrowDatabase,
) -> None:
    labels = pa.array([{"a": "b"}], pa.map_(pa.large_string(), pa.large_string()))
    database.add_record(PATH, "r1", pa.table({"labels": labels}))
    with pytest.raises(DatabaseError, match=r"cannot be matched by value; read get_all_records"):
        database.get_records_with_column_value(PATH, {"labels": {"a": "b"}})


def test_matching_none_finds_nulls_and_matching_nothing_finds_everything(
    database: InMemoryArrowDatabase,
) -> None:
    records = simple_records(["r1", "r2"]).set_column(
        3, "score", pa.array([None, 2.0], pa.float64())
    )
    database.add_records(PATH, records, ID)
    nulls = database.get_records_with_column_value(PATH, {"score": None}, record_id_column=ID)
    assert ids_in(nulls) == ["r1"]
    everything = database.get_records_with_column_value(PATH, {}, record_id_column=ID)
    assert ids_in(everything) == ["r1", "r2"]


def test_matching_a_time_zone_aware_timestamp(database: InMemoryArrowDatabase) -> None:
    when = pa.array(
        [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)],
        pa.timestamp("us", tz="Europe/Berlin"),
    )
    database.add_records(PATH, pa.table({ID: ["r1", "r2"], "when": when}), ID)
    got = database.get_records_with_column_value(
        PATH, {"when": datetime(2024, 6, 1, tzinfo=UTC)}, record_id_column=ID
    )
    assert ids_in(got) == ["r2"]


# -- lifecycle ------------------------------------------------------------------------


def test_a_closed_database_refuses_every_call_saying_to_create_a_new_one() -> None:
    database = InMemoryArrowDatabase()
    database.add_records(PATH, simple_records(["r1"]), ID)
    database.close()
    calls: list[Callable[[], object]] = [
        lambda: database.add_record(PATH, "r2", simple_record("r2")),
        lambda: database.add_records(PATH, simple_records(["r2"]), ID),
        lambda: database.get_record_by_id(PATH, "r1"),
        lambda: database.get_records_by_ids(PATH, ["r1"]),
        lambda: database.get_all_records(PATH),
        lambda: database.get_records_with_column_value(PATH, {"version": 1}),
        database.list_paths,
        database.flush,
    ]
    for call in calls:
        with pytest.raises(DatabaseError, match=r"is closed.*create a new InMemoryArrowDatabase"):
            call()
    database.close()


def test_used_as_a_context_manager_it_closes_on_exit() -> None:
    with InMemoryArrowDatabase() as database:
        database.add_records(PATH, simple_records(["r1"]), ID)
        assert database.get_record_by_id(PATH, "r1") is not None
    with pytest.raises(DatabaseError, match="closed"):
        database.get_record_by_id(PATH, "r1")


def test_repr_counts_paths_and_records(database: InMemoryArrowDatabase) -> None:
    database.add_records(PATH, simple_records(["r1", "r2"]), ID)
    database.add_record(("other",), "r1", simple_record("r1"))
    assert repr(database) == "InMemoryArrowDatabase(2 paths, 3 records)"
    database.close()
    assert repr(database) == "InMemoryArrowDatabase(closed)"


def test_threads_adding_and_reading_at_once_lose_nothing(
    database: InMemoryArrowDatabase,
) -> None:
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for n in range(300):
                record_id = f"t{thread}-{n}"
                database.add_record(PATH, record_id, simple_record(record_id))
                assert database.get_record_by_id(PATH, record_id) is not None
                if n % 50 == 0:
                    assert database.get_all_records(PATH) is not None
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], errors
    stored = by_id(database.get_all_records(PATH, record_id_column=ID))
    assert set(stored) == {f"t{t}-{n}" for t in range(8) for n in range(300)}
    assert all(row["subject"] == f"subject-{k}" for k, row in stored.items())
    assert database.get_all_records(PATH).schema == SIMPLE_SCHEMA  # type: ignore[union-attr]


def test_ids_vouched_new_in_bulk_are_kept_as_arrow_until_a_lookup_needs_them(
    database: InMemoryArrowDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches added with new ids (an observer's log and status rows) to a path never
    looked up by id are kept without making their ids Python strings; the first lookup
    indexes them from Arrow, and batches added after it are indexed as they come."""
    made: list[int] = []
    ids = NewRecords.ids

    def counted(records: NewRecords) -> list[str]:
        made.append(1)
        return ids.fget(records)  # type: ignore[attr-defined, no-any-return]

    monkeypatch.setattr(NewRecords, "ids", property(counted))
    for start in range(0, 300, 100):
        batch = simple_records([f"r{n}" for n in range(start, start + 100)])
        add_new_records(database, PATH, batch, ID)
    assert made == []

    found = database.get_records_by_ids(PATH, ["r5", "r150", "r299"], record_id_column=ID)
    assert ids_in(found) == ["r5", "r150", "r299"]
    add_new_records(database, PATH, simple_records([f"r{n}" for n in range(300, 400)]), ID)
    assert made  # indexed as it came
    assert ids_in(database.get_record_by_id(PATH, "r350", record_id_column=ID)) == ["r350"]
    everything = database.get_all_records(PATH, record_id_column=ID)
    assert ids_in(everything) == [f"r{n}" for n in range(400)]
