"""Checks of what SQLDatabase promises beyond the conformance kit, on SQLite and PostgreSQL.

Both backend test modules subclass :class:`SQLDatabaseChecks` and supply
``open_store(tmp_path)`` (a new SQLDatabase on ``tmp_path``'s store, the same
store each call). Loaded by file path (see ``load_checks`` in the test modules).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pytest
import sqlalchemy as sa

from orcapod.protocols.errors import DatabaseError, DuplicateRecordError, RecordSchemaError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from orcapod.db.sql import SQLDatabase

ID = "record_id"
PATH = ("checks", "records")
OTHER = ("checks", "other")

HOSTILE_NAMES = [
    'x"; DROP TABLE t; --',
    "'; DELETE FROM x; --",
    "select",
    "from",
    "table",
    "_record_id",
    "_col0",
    "Ünïcødé 🧪 名前",
    "a" * 500,
    "b" * 500,
    "nul\x00inside",
    "Case",
    "case",
    "",
    "orcapod_paths",
]
"""Column names that would break or inject SQL if formatted into it, or collide once mapped."""


def simple(ids: list[str], version: int = 1) -> pa.Table:
    return pa.table(
        {
            ID: pa.array(ids, pa.large_string()),
            "version": pa.array([version] * len(ids), pa.int64()),
        }
    )


def stored_ids(database: SQLDatabase, path: tuple[str, ...]) -> set[str]:
    table = database.get_all_records(path, record_id_column=ID)
    return set() if table is None else set(table.column(ID).to_pylist())


class StatementCounter:
    """Counts the SQL statements and commits an engine runs (its SQLAlchemy events)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[str] = []
        self.commits = 0
        self._engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)

    def _statement(self, *args: Any) -> None:
        if not args[2].startswith("BEGIN"):  # SQLite's explicit BEGIN is a statement too
            self.statements.append(args[2])

    def _commit(self, *args: Any) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.statements = []
        self.commits = 0


class SQLDatabaseChecks:
    """What SQLDatabase promises beyond the kit; subclasses supply :meth:`open_store`."""

    __test__: ClassVar[bool] = False

    def open_store(self, tmp_path: Path) -> SQLDatabase:
        raise NotImplementedError

    @pytest.fixture
    def database(self, tmp_path: Path) -> Iterator[SQLDatabase]:
        database = self.open_store(tmp_path)
        yield database
        database.close()

    # -- transactions and bulk writes -----------------------------------------------------

    def test_a_flush_of_many_paths_and_rows_is_one_transaction_of_few_statements(
        self, database: SQLDatabase
    ) -> None:
        counter = StatementCounter(database.engine)
        for n in range(3):
            database.add_records(("bulk", f"p{n}"), simple([f"r{i}" for i in range(2000)]), ID)
            database.add_records(
                ("bulk", f"p{n}"), simple([f"s{i}" for i in range(2000)]), ID, skip_duplicates=True
            )
        # adding looks each new path up in the catalog, and writes nothing
        assert len(counter.statements) == 3
        assert counter.commits == 0
        database.flush()
        assert counter.commits == 1
        # a bounded number of statements per path, however many rows
        assert len(counter.statements) < 3 + 3 * 10, counter.statements
        assert all(len(stored_ids(database, ("bulk", f"p{n}"))) == 4000 for n in range(3))

    def test_a_batch_whose_id_another_process_stored_meanwhile_is_refused_at_flush(
        self, database: SQLDatabase, tmp_path: Path
    ) -> None:
        database.add_records(PATH, simple(["a"]), ID, flush=True)
        database.add_records(OTHER, simple(["o1"]), ID, flush=True)
        with self.open_store(tmp_path) as other:
            # this instance knows the ids of PATH now; the other process adds "b" meanwhile
            assert other.get_record_by_id(PATH, "a") is not None
            database.add_records(OTHER, simple(["o2"]), ID)
            database.add_records(PATH, simple(["b"]), ID)
            other.add_records(PATH, simple(["b"], version=2), ID, flush=True)
        with pytest.raises(DuplicateRecordError, match=r"another process stored .*'b'"):
            database.flush()
        # the batch holding "b" was refused as a whole; the rest of the flush is stored
        with self.open_store(tmp_path) as reader:
            assert stored_ids(reader, OTHER) == {"o1", "o2"}
            record = reader.get_record_by_id(PATH, "b")
            assert record is not None
            assert record["version"].to_pylist() == [2]
        assert stored_ids(database, PATH) == {"a", "b"}
        database.add_records(PATH, simple(["c"]), ID, flush=True)
        assert stored_ids(database, PATH) == {"a", "b", "c"}

    def test_skip_duplicates_skips_ids_another_instance_committed_meanwhile(
        self, database: SQLDatabase, tmp_path: Path
    ) -> None:
        database.add_records(PATH, simple(["a"]), ID, flush=True)
        with self.open_store(tmp_path) as other:
            other.add_records(PATH, simple(["b", "c"], version=2), ID)
            database.add_records(PATH, simple(["b", "d"], version=3), ID, skip_duplicates=True)
            other.flush()
            database.flush()
        table = database.get_all_records(PATH, record_id_column=ID)
        assert table is not None
        versions = dict(zip(table[ID].to_pylist(), table["version"].to_pylist(), strict=True))
        assert versions == {"a": 1, "b": 2, "c": 2, "d": 3}

    # -- lifecycle --------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "use",
        [
            lambda db: db.add_records(PATH, simple(["z"]), ID),
            lambda db: db.add_record(PATH, "z", simple(["z"]).drop_columns([ID])),
            lambda db: db.get_record_by_id(PATH, "a"),
            lambda db: db.get_records_by_ids(PATH, ["a"]),
            lambda db: db.get_records_by_ids(PATH, []),
            lambda db: db.get_all_records(PATH),
            lambda db: db.get_records_with_column_value(PATH, {"version": 1}),
            lambda db: db.list_paths(),
            lambda db: db.flush(),
        ],
        ids=[
            "add_records",
            "add_record",
            "get_record_by_id",
            "get_records_by_ids",
            "get_records_by_no_ids",
            "get_all_records",
            "get_records_with_column_value",
            "list_paths",
            "flush",
        ],
    )
    def test_a_closed_database_refuses_every_use_clearly(
        self, database: SQLDatabase, use: Any
    ) -> None:
        database.add_records(PATH, simple(["a"]), ID)
        database.close()
        with pytest.raises(DatabaseError, match="is closed; open a new SQLDatabase"):
            use(database)
        database.close()

    # -- hostile and awkward names ------------------------------------------------------------

    def test_hostile_column_names_round_trip_and_inject_nothing(
        self, database: SQLDatabase, tmp_path: Path
    ) -> None:
        columns = {name: pa.array([n, None], pa.int64()) for n, name in enumerate(HOSTILE_NAMES)}
        expected = pa.table(columns)
        database.add_records(PATH, expected.add_column(0, ID, pa.array(["r1", "r2"])), ID)
        database.add_records(OTHER, simple(["o"]), ID)
        database.close()
        with self.open_store(tmp_path) as again:
            got = again.get_all_records(PATH, record_id_column=ID)
            assert got is not None
            got = got.sort_by(ID).drop_columns([ID])
            assert got.schema == expected.schema
            assert got.to_pylist() == expected.to_pylist()
            for n, name in enumerate(HOSTILE_NAMES):
                match = again.get_records_with_column_value(PATH, {name: n})
                assert match is not None
                assert match.num_rows == 1
            assert stored_ids(again, OTHER) == {"o"}, "another table was dropped or emptied"
            assert sorted(again.list_paths()) == [OTHER, PATH]
            tables = set(sa.inspect(again.engine).get_table_names(schema=again.schema))
            assert len(tables) == 3

    @pytest.mark.filterwarnings("ignore:Did not recognize type .xid8.:sqlalchemy.exc.SAWarning")
    def test_long_names_map_to_identifiers_postgresql_keeps_whole(
        self, database: SQLDatabase
    ) -> None:
        long_path = tuple(f"{n}{'x' * 127}" for n in range(8))
        cased = ("Case",)
        database.add_records(long_path, simple(["a"]), ID)
        database.add_records(cased, simple(["b"]), ID)
        database.add_records(("case",), simple(["c"]), ID)
        database.add_record(PATH, "r", pa.table({"y" * 500: [1], "z" * 500: [2]}))
        database.flush()
        inspector = sa.inspect(database.engine)
        for table in inspector.get_table_names(schema=database.schema):
            assert len(table.encode()) <= 63
            for column in inspector.get_columns(table, schema=database.schema):
                assert len(column["name"].encode()) <= 63
        assert sorted(database.list_paths()) == sorted([long_path, cased, ("case",), PATH])
        assert stored_ids(database, cased) == {"b"}
        assert stored_ids(database, ("case",)) == {"c"}
        record = database.get_record_by_id(PATH, "r")
        assert record is not None
        assert record.to_pylist() == [{"y" * 500: 1, "z" * 500: 2}]

    # -- types beyond the kit -----------------------------------------------------------------

    def test_more_arrow_types_round_trip_exactly(
        self, database: SQLDatabase, tmp_path: Path
    ) -> None:
        float_map = pa.map_(pa.int64(), pa.float64())
        expected = pa.table(
            {
                "i8": pa.array([-128, 127, None], pa.int8()),
                "i16": pa.array([-(2**15), 2**15 - 1, None], pa.int16()),
                "i32": pa.array([-(2**31), 2**31 - 1, None], pa.int32()),
                "u8": pa.array([0, 255, None], pa.uint8()),
                "u32": pa.array([0, 2**32 - 1, None], pa.uint32()),
                "u64": pa.array([0, 2**64 - 1, None], pa.uint64()),
                "f32": pa.array([1.5, -math.inf, None], pa.float32()),
                "s": pa.array(["plain", "\x01starts with the mark", None], pa.string()),
                "ts_s": pa.array([0, 2**31, None], pa.timestamp("s", tz="America/New_York")),
                "ts_ms": pa.array([-1, 1_700_000_000_123, None], pa.timestamp("ms")),
                "ts_ns": pa.array([1, 1_700_000_000_123_456_789, None], pa.timestamp("ns", "UTC")),
                "t": pa.array([time(0, 0), time(23, 59, 59, 999999), None], pa.time64("us")),
                "d": pa.array([timedelta(0), timedelta(days=-3, microseconds=7), None]),
                "fb": pa.array([b"abcd", b"\x00\x00\x00\x00", None], pa.binary(4)),
                "b": pa.array([b"", b"\x00\xff", None], pa.binary()),
                "floats": pa.array([[math.nan, -0.0, math.inf], [], None], pa.list_(pa.float64())),
                "by_number": pa.array([[(1, 0.5), (2, math.nan)], [], None], float_map),
                "nested": pa.array(
                    [
                        {"bytes": b"\x00", "when": datetime(2024, 1, 1, tzinfo=UTC)},
                        {"bytes": None, "when": None},
                        None,
                    ],
                    pa.struct([("bytes", pa.binary()), ("when", pa.timestamp("us", "UTC"))]),
                ),
                "nested_text": pa.array(
                    [["a\x00b", "\x01x", "\\0"], ["plain"], None], pa.large_list(pa.string())
                ),
                "dates": pa.array([[date(1, 1, 1), date(9999, 12, 31)], [], None]),
            }
        )
        ids = ["r0", "r1", "r2"]
        database.add_records(PATH, expected.add_column(0, ID, pa.array(ids)), ID)
        self._assert_rows(database.get_all_records(PATH, record_id_column=ID), expected)
        database.close()
        with self.open_store(tmp_path) as again:
            self._assert_rows(again.get_all_records(PATH, record_id_column=ID), expected)
            one = again.get_records_with_column_value(PATH, {"u64": 2**64 - 1, "i8": 127})
            assert one is not None
            assert one.num_rows == 1
            text = again.get_records_with_column_value(PATH, {"s": "\x01starts with the mark"})
            assert text is not None
            assert text.num_rows == 1

    @staticmethod
    def _assert_rows(actual: pa.Table | None, expected: pa.Table) -> None:
        assert actual is not None
        actual = actual.sort_by(ID).drop_columns([ID])
        assert actual.schema == expected.schema
        for name in expected.column_names:
            got_column, want_column = actual[name], expected[name]
            if pa.types.is_timestamp(want_column.type) and want_column.type.unit == "ns":
                # without pandas, to_pylist cannot hold nanoseconds: compare the integers
                got_column, want_column = got_column.cast(pa.int64()), want_column.cast(pa.int64())
            got = got_column.to_pylist(maps_as_pydicts="lossy")
            want = want_column.to_pylist(maps_as_pydicts="lossy")
            assert repr(got) == repr(want), name  # repr: NaN equals NaN, -0.0 differs from 0.0

    def test_zero_matches_negative_zero_and_nan_matches_nothing(
        self, database: SQLDatabase
    ) -> None:
        values = [0.0, -0.0, math.nan, 1.0]
        table = pa.table({ID: ["zero", "minus-zero", "nan", "one"], "x": values})
        database.add_records(PATH, table, ID, flush=True)
        database.add_records(PATH, pa.table({ID: ["pending-zero"], "x": [-0.0]}), ID)
        for value in (0.0, -0.0):
            got = database.get_records_with_column_value(PATH, {"x": value}, record_id_column=ID)
            assert got is not None
            assert set(got[ID].to_pylist()) == {"zero", "minus-zero", "pending-zero"}
        assert database.get_records_with_column_value(PATH, {"x": math.nan}) is None

    @pytest.mark.parametrize(
        ("column", "message"),
        [
            pytest.param(pa.array([Decimal("1.5")]), "decimal", id="decimal"),
            pytest.param(pa.array(["a"]).dictionary_encode(), "dictionary", id="dictionary"),
            pytest.param(pa.array([[Decimal("1")]]), "decimal", id="nested-decimal"),
        ],
    )
    def test_types_that_cannot_be_stored_are_refused_naming_the_column(
        self, database: SQLDatabase, column: pa.Array, message: str
    ) -> None:
        with pytest.raises(RecordSchemaError, match=rf"column 'odd' is .*{message}"):
            database.add_records(PATH, pa.table({ID: ["r"], "odd": column}), ID)
        assert database.list_paths() == []

    def test_a_map_with_a_repeated_key_is_refused_and_nothing_is_added(
        self, database: SQLDatabase
    ) -> None:
        labels = pa.map_(pa.string(), pa.string())
        database.add_records(
            PATH, pa.table({ID: ["ok"], "m": pa.array([[("a", "1")]], labels)}), ID
        )
        bad = pa.table(
            {ID: ["new", "bad"], "m": pa.array([[("b", "1")], [("k", "1"), ("k", "2")]], labels)}
        )
        with pytest.raises(RecordSchemaError, match=r"\['k'\] more than once"):
            database.add_records(PATH, bad, ID)
        assert stored_ids(database, PATH) == {"ok"}
        database.add_records(PATH, bad.slice(0, 1), ID)
        assert stored_ids(database, PATH) == {"ok", "new"}

    def test_a_path_created_elsewhere_with_another_schema_is_refused_at_flush(
        self, database: SQLDatabase, tmp_path: Path
    ) -> None:
        with self.open_store(tmp_path) as other:
            database.add_records(PATH, simple(["a"]), ID)
            database.add_records(OTHER, simple(["o"]), ID)
            other.add_records(PATH, pa.table({ID: ["b"], "version": ["text"]}), ID, flush=True)
        with pytest.raises(
            RecordSchemaError, match=r"not stored: .*'version' is int64 here but string"
        ):
            database.flush()
        assert stored_ids(database, OTHER) == {"o"}
        assert stored_ids(database, PATH) == {"b"}
        database.add_records(PATH, pa.table({ID: ["c"], "version": ["more"]}), ID, flush=True)
        assert stored_ids(database, PATH) == {"b", "c"}

    def test_record_ids_with_nul_are_found_exactly_and_never_confused(
        self, database: SQLDatabase, tmp_path: Path
    ) -> None:
        ids = ["a\x00b", "a", "\x01", "x\x00", "ü\x00", "plain"]
        database.add_records(PATH, simple(ids), ID, flush=True)
        database.add_records(PATH, simple(["pending\x00"]), ID)
        asked = ["a\x00b", "x\x00", "unknown\x00", "\x01", "ü\x00", "pending\x00"]
        found = database.get_records_by_ids(PATH, asked, record_id_column=ID)
        assert found is not None
        assert sorted(found[ID].to_pylist()) == sorted(set(asked) - {"unknown\x00"})
        with pytest.raises(DuplicateRecordError):
            database.add_record(PATH, "a\x00b", simple(["x"]).drop_columns([ID]))
        database.close()
        with self.open_store(tmp_path) as again:
            assert stored_ids(again, PATH) == {*ids, "pending\x00"}
            with pytest.raises(DuplicateRecordError):
                again.add_record(PATH, "x\x00", simple(["x"]).drop_columns([ID]))

    def test_records_added_one_by_one_are_committed_in_batches_and_found_while_pending(
        self, database: SQLDatabase
    ) -> None:
        from orcapod.db.sql._database import AUTO_FLUSH_BATCHES

        counter = StatementCounter(database.engine)
        record = simple(["x"]).drop_columns([ID])
        for n in range(AUTO_FLUSH_BATCHES + 10):
            assert database.get_record_by_id(PATH, f"r{n}") is None
            database.add_record(PATH, f"r{n}", record)
            found = database.get_record_by_id(PATH, f"r{n}", record_id_column=ID)
            assert found is not None
            assert found[ID].to_pylist() == [f"r{n}"]
        assert counter.commits == 1, "one automatic flush, not one per record"
        assert len(stored_ids(database, PATH)) == AUTO_FLUSH_BATCHES + 10

    # -- reads in batches ------------------------------------------------------------------

    def test_a_read_in_batches_reads_one_page_per_batch_taken_never_the_table(
        self, database: SQLDatabase
    ) -> None:
        """Each batch is one query on the primary key returning at most batch_rows rows,
        run when the batch is asked for (counted by the store: _scan_reads)."""
        ids = [f"r{n:05d}" for n in range(2500)]
        database.add_records(PATH, simple(ids), ID, flush=True)
        reads = database._scan_reads
        batches = database.iter_all_records(PATH, batch_rows=1000, record_id_column=ID)
        assert (reads.queries, reads.rows) == (0, 0), "nothing read at the call"
        first = next(batches)
        assert first.num_rows == 1000
        assert (reads.queries, reads.rows) == (1, 1000)
        second = next(batches)
        assert (reads.queries, reads.rows) == (2, 2000)
        rest = list(batches)
        assert [b.num_rows for b in rest] == [500]
        assert (reads.queries, reads.rows) == (3, 2500)
        got = [i for b in (first, second, *rest) for i in b.column(ID).to_pylist()]
        assert got == ids, "pages come in the order of the ids, each row once"

    def test_a_read_in_batches_holds_no_connection_between_batches(
        self, database: SQLDatabase
    ) -> None:
        database.add_records(PATH, simple([f"r{n}" for n in range(300)]), ID, flush=True)
        batches = database.iter_all_records(PATH, batch_rows=100, record_id_column=ID)
        first = next(batches)
        pool = database.engine.pool
        assert pool.checkedout() == 0, "a connection is held while the caller has a batch"
        # another writer commits meanwhile (an id after the pages read: it is read too)
        database.add_records(PATH, simple(["zzz", "r0-late"]), ID, flush=True)
        rest = [i for b in batches for i in b.column(ID).to_pylist()]
        ids = first.column(ID).to_pylist() + rest
        assert len(ids) == len(set(ids))
        assert {f"r{n}" for n in range(300)} | {"zzz"} <= set(ids)

    def test_pending_rows_flushed_during_a_read_in_batches_come_once(
        self, database: SQLDatabase
    ) -> None:
        database.add_records(PATH, simple([f"s{n:03d}" for n in range(250)]), ID, flush=True)
        database.add_records(PATH, simple([f"p{n:03d}" for n in range(50)]), ID)  # pending
        batches = database.iter_all_records(PATH, batch_rows=100, record_id_column=ID)
        first = next(batches)
        database.flush()  # "p..." sort before "s...": the pages still to read hold none
        later = database.iter_all_records(PATH, batch_rows=100, record_id_column=ID)
        later_first = next(later)
        ids = first.column(ID).to_pylist() + [i for b in batches for i in b.column(ID).to_pylist()]
        database.add_records(PATH, simple(["t000"]), ID, flush=True)  # after later's pages
        assert sorted(ids) == sorted(
            [f"s{n:03d}" for n in range(250)] + [f"p{n:03d}" for n in range(50)]
        )
        rest = [i for b in later for i in b.column(ID).to_pylist()]
        again = later_first.column(ID).to_pylist() + rest
        assert len(again) == len(set(again)) == 301
