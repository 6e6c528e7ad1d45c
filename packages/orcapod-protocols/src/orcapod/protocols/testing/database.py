"""The conformance suite every :class:`~orcapod.protocols.database.ArrowDatabase` passes.

A backend subclasses a contract class, sets ``__test__ = True`` and supplies
its factory; every inherited test then runs against it::

    from orcapod.protocols.testing.database import ArrowDatabaseContract

    class TestMyDatabase(ArrowDatabaseContract):
        __test__ = True

        def make_database(self, tmp_path: Path) -> ArrowDatabase:
            return MyDatabase(tmp_path / "store")

A backend whose records outlive ``close()`` subclasses
:class:`PersistentArrowDatabaseContract` instead and also supplies
``reopen_database``; one that several processes share subclasses
:class:`DurableArrowDatabaseContract` and also supplies ``database_opener``.
Tests compare schemas and values exactly; only the order of rows, which the
protocol leaves unspecified, is ignored.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.protocols.database import (
    ArrowDatabase,
    _flushes_paths,
    _takes_new_ids,
    add_new_records,
    flush_paths,
    iter_records,
    read_new_records,
)
from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    InvalidRecordPathError,
    RecordSchemaError,
)
from orcapod.protocols.testing import _writer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "ArrowDatabaseContract",
    "DurableArrowDatabaseContract",
    "PersistentArrowDatabaseContract",
]

_ID = "record_id"
"""The id column name the suite adds records with and asks reads for."""

_PATH = ("contract", "records")
_OTHER_PATH = ("contract", "other")

_STRING_MAP = pa.map_(pa.large_string(), pa.large_string())
_BERLIN = ZoneInfo("Europe/Berlin")

_EVERY_TYPE_SCHEMA = pa.schema(
    [
        ("count", pa.int64()),
        ("ratio", pa.float64()),
        ("flag", pa.bool_()),
        ("name", pa.large_string()),
        ("payload", pa.large_binary()),
        ("utc_time", pa.timestamp("us", tz="UTC")),
        ("berlin_time", pa.timestamp("us", tz="Europe/Berlin")),
        ("naive_time", pa.timestamp("us")),
        ("day", pa.date32()),
        ("labels", _STRING_MAP),
        ("numbers", pa.list_(pa.int64())),
        ("label_sets", pa.list_(_STRING_MAP)),
        (
            "sample",
            pa.struct(
                [
                    ("name", pa.large_string()),
                    ("score", pa.float64()),
                    ("labels", _STRING_MAP),
                    ("repeats", pa.list_(pa.int64())),
                ]
            ),
        ),
    ]
)
"""Every Arrow type orcapod's data model produces, nested where it nests."""

_EVERY_TYPE_ROWS: list[dict[str, Any]] = [
    {
        "count": 1,
        "ratio": 0.5,
        "flag": True,
        "name": "alpha",
        "payload": b"\x00\x01\xfe\xff",
        "utc_time": datetime(2024, 3, 31, 0, 30, 0, 123456, tzinfo=UTC),
        # just after the switch to summer time, where a lost zone shows as a lost hour
        "berlin_time": datetime(2024, 3, 31, 3, 30, tzinfo=_BERLIN),
        "naive_time": datetime(2024, 3, 31, 2, 30),
        "day": date(2024, 2, 29),
        "labels": {"species": "mouse", "lab": "north"},
        "numbers": [1, 2, 3],
        "label_sets": [{"a": "1"}, {}],
        "sample": {"name": "s1", "score": 1.5, "labels": {"k": "v"}, "repeats": [7]},
    },
    {
        "count": -(2**63),
        "ratio": -1e308,
        "flag": False,
        "name": "",
        "payload": b"",
        "utc_time": datetime(1900, 1, 1, tzinfo=UTC),
        "berlin_time": datetime(2023, 12, 24, 18, 0, tzinfo=_BERLIN),
        "naive_time": datetime(1970, 1, 1),
        "day": date(1900, 1, 1),
        "labels": {},
        "numbers": [],
        "label_sets": [],
        "sample": {"name": "", "score": 0.0, "labels": {}, "repeats": []},
    },
    {
        "count": 2**63 - 1,
        "ratio": math.inf,
        "flag": True,
        "name": "ünïcødé ✓ 🧪 'quoted' \"double\" ; DROP TABLE x; --",
        "payload": bytes(range(256)),
        "utc_time": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "berlin_time": datetime(1950, 6, 1, 12, 0, tzinfo=_BERLIN),
        "naive_time": datetime(2999, 12, 31, 23, 59, 59, 999999),
        "day": date(9999, 12, 31),
        "labels": {"empty value": "", "missing": None},
        "numbers": [None, 2**63 - 1, -(2**63)],
        "label_sets": [None, {}, {"x": "y", "z": None}],
        "sample": {"name": None, "score": None, "labels": None, "repeats": None},
    },
    dict.fromkeys(_EVERY_TYPE_SCHEMA.names),
]
"""Typical values, edge values (extremes, empties), nested nulls, and a row of nulls."""

_EVERY_TYPE_IDS = [f"row-{n}" for n in range(len(_EVERY_TYPE_ROWS))]


def _every_type_table() -> pa.Table:
    """The rows of :data:`_EVERY_TYPE_ROWS` as a table of :data:`_EVERY_TYPE_SCHEMA`."""
    return pa.Table.from_pylist(_EVERY_TYPE_ROWS, schema=_EVERY_TYPE_SCHEMA)


_SPECIAL_FLOATS: list[float | None] = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1.5, None]
"""Floats a careless store changes: NaN (to null), -0.0 (to 0.0), the infinities, and null."""

_NEGATIVE_ZERO_ROW = 3
"""The position of -0.0 in :data:`_SPECIAL_FLOATS` (``list.index`` would find 0.0 equal to it)."""

_SPECIAL_FLOAT_SCHEMA = pa.schema(
    [
        ("f64", pa.float64()),
        ("f32", pa.float32()),
        ("f64_list", pa.list_(pa.float64())),
        ("f32_list", pa.large_list(pa.float32())),
        ("f64_map", pa.map_(pa.large_string(), pa.float64())),
        ("struct", pa.struct([("x", pa.float32()), ("xs", pa.list_(pa.float64()))])),
        ("nested", pa.list_(pa.struct([("m", pa.map_(pa.large_string(), pa.float64()))]))),
    ]
)
"""Every place a float can sit in a record: a column of each width, and inside nested values."""


def _special_float_table() -> pa.Table:
    """One row per value of :data:`_SPECIAL_FLOATS`, the value in every column of the schema."""
    rows = [
        {
            "f64": value,
            "f32": value,
            "f64_list": [value, 2.0],
            "f32_list": [value],
            "f64_map": {"v": value},
            "struct": {"x": value, "xs": [value]},
            "nested": [{"m": {"v": value}}],
        }
        for value in _SPECIAL_FLOATS
    ]
    return pa.Table.from_pylist(rows, schema=_SPECIAL_FLOAT_SCHEMA)


def _exact_floats(value: Any) -> Any:
    """``value`` with every float made comparable bit for bit: NaN equal to NaN, -0.0 not 0.0."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, dict):
        return {key: _exact_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_exact_floats(item) for item in value]
    return value


def _assert_same_floats(actual: pa.Table | None, expected: pa.Table) -> None:
    """The same schema and the same values, where NaN equals NaN and -0.0 differs from 0.0."""
    assert actual is not None, "expected records, the read returned None"
    assert actual.schema.names == expected.schema.names
    for field in expected.schema:
        stored = actual.schema.field(field.name)
        assert stored == field, f"column {field.name!r} came back as {stored}, not {field}"
        got = _exact_floats(actual.column(field.name).to_pylist(maps_as_pydicts="strict"))
        want = _exact_floats(expected.column(field.name).to_pylist(maps_as_pydicts="strict"))
        assert got == want, f"column {field.name!r}: {got!r} != {want!r}"


def _with_ids(records: pa.Table, ids: Sequence[str]) -> pa.Table:
    """``records`` with the ``ids`` prepended as the :data:`_ID` column."""
    return records.add_column(0, _ID, pa.array(list(ids), pa.large_string()))


def _simple_records(ids: Sequence[str], version: int = 1) -> pa.Table:
    """Records with an :data:`_ID` column; ``version`` tells apart rows added under one id."""
    ids = list(ids)
    return pa.table(
        {
            _ID: pa.array(ids, pa.large_string()),
            "subject": pa.array([f"subject-{i}" for i in ids], pa.large_string()),
            "version": pa.array([version] * len(ids), pa.int64()),
            "score": pa.array([float(n) / 4 for n in range(len(ids))], pa.float64()),
        }
    )


def _simple_record(record_id: str, version: int = 1) -> pa.Table:
    """One record (without its id) as :meth:`ArrowDatabase.add_record` takes it."""
    return _simple_records([record_id], version).drop_columns([_ID])


_SIMPLE_SCHEMA = _simple_record("x").schema


def _by_id(table: pa.Table | None) -> dict[str, dict[str, Any]]:
    """Rows of a read made with ``record_id_column=_ID``, keyed by id; each id must come once."""
    assert table is not None, "expected records, the read returned None"
    assert table.column_names[0] == _ID, f"ids must come first, got {table.column_names}"
    rows: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist(maps_as_pydicts="strict"):
        record_id = row.pop(_ID)
        assert record_id not in rows, f"record id {record_id!r} was returned twice"
        rows[record_id] = row
    return rows


def _numbered(start: int, stop: int) -> pa.Table:
    """Records ``n<k>`` holding ``k``, for ``k`` in ``range(start, stop)``."""
    numbers = list(range(start, stop))
    return pa.table({_ID: [f"n{k}" for k in numbers], "n": pa.array(numbers, pa.int64())})


def _ids_of(table: pa.Table | None) -> list[str]:
    """The sorted ids of ``table`` (ids in column ``_ID``); none for None."""
    return [] if table is None else sorted(table.column(_ID).to_pylist())


def _sorted_by_id(table: pa.Table | None) -> pa.Table:
    """A read made with ``record_id_column=_ID``, its rows sorted by id and the ids dropped."""
    assert table is not None, "expected records, the read returned None"
    assert table.column_names[0] == _ID, f"ids must come first, got {table.column_names}"
    return table.sort_by(_ID).drop_columns([_ID])


def _assert_same_records(actual: pa.Table | None, expected: pa.Table) -> None:
    """Exactly the same schema (names, order, types, nullability) and the same values.

    Maps compare as dicts: their key order is not part of a record.
    """
    assert actual is not None, "expected records, the read returned None"
    assert actual.schema.names == expected.schema.names
    for field in expected.schema:
        stored = actual.schema.field(field.name)
        assert stored == field, f"column {field.name!r} came back as {stored}, not {field}"
    for name in expected.column_names:
        got = actual.column(name).to_pylist(maps_as_pydicts="strict")
        want = expected.column(name).to_pylist(maps_as_pydicts="strict")
        assert got == want, f"column {name!r}: {got!r} != {want!r}"


def _hostile_paths() -> list[Any]:
    components = {
        "dot-dot": "..",
        "dot": ".",
        "empty-component": "",
        "slash": "a/b",
        "backslash": "a\\b",
        "single-quote": "'",
        "double-quote": '"',
        "nul": "a\x00b",
        "leading-space": " spaced",
        "not-a-str": 3,
        "bytes": b"node",
    }
    paths = [pytest.param(("pipeline", bad), id=name) for name, bad in components.items()]
    paths += [
        pytest.param(("..",), id="only-dot-dot"),
        pytest.param((), id="empty-path"),
        pytest.param("pipeline/node", id="str-path"),
        pytest.param(None, id="none-path"),
    ]
    return paths


_PATH_USES: dict[str, Callable[[ArrowDatabase, Any], object]] = {
    "add_record": lambda db, path: db.add_record(path, "r1", _simple_record("r1")),
    "add_records": lambda db, path: db.add_records(path, _simple_records(["r1"]), _ID),
    "get_record_by_id": lambda db, path: db.get_record_by_id(path, "r1"),
    "get_records_by_ids": lambda db, path: db.get_records_by_ids(path, ["r1"]),
    "get_all_records": lambda db, path: db.get_all_records(path),
    "get_records_with_column_value": lambda db, path: db.get_records_with_column_value(
        path, {"version": 1}
    ),
    "list_paths": lambda db, path: db.list_paths(path),
    "iter_records": lambda db, path: list(iter_records(db, path)),
}


def _hostile_uses() -> list[Any]:
    return [
        pytest.param(method, path.values[0], id=f"{method}-{path.id}")
        for method in _PATH_USES
        for path in _hostile_paths()
        # an empty prefix is list_paths' ordinary "everything", not a path
        if not (method == "list_paths" and path.values[0] == ())
    ]


_READS: dict[str, Callable[[ArrowDatabase, str | None], pa.Table | None]] = {
    "get_record_by_id": lambda db, column: db.get_record_by_id(
        _PATH, "r2", record_id_column=column
    ),
    "get_records_by_ids": lambda db, column: db.get_records_by_ids(
        _PATH, ["r2", "r3"], record_id_column=column
    ),
    "get_all_records": lambda db, column: db.get_all_records(_PATH, record_id_column=column),
    "get_records_with_column_value": lambda db, column: db.get_records_with_column_value(
        _PATH, {"version": 1}, record_id_column=column
    ),
}

_RECORD_IDS = st.sampled_from([f"id-{n}" for n in range(10)])
_BATCH = st.lists(st.tuples(_RECORD_IDS, st.integers(-(2**63), 2**63 - 1)), max_size=8)
_FREE_IDS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def _batch_table(batch: list[tuple[str, int]]) -> pa.Table:
    return pa.table(
        {
            _ID: pa.array([record_id for record_id, _ in batch], pa.large_string()),
            "value": pa.array([value for _, value in batch], pa.int64()),
        }
    )


def _values_by_id(table: pa.Table | None) -> dict[str, int]:
    return {} if table is None else {k: row["value"] for k, row in _by_id(table).items()}


class ArrowDatabaseContract:
    """Behaviour every ArrowDatabase backend must have; subclass it and supply the factory.

    Set ``__test__ = True`` in the subclass and override :meth:`make_database`.
    ``property_examples`` bounds how many databases each property test
    creates; lower it for a slow backend.
    """

    __test__: ClassVar[bool] = False
    property_examples: ClassVar[int] = 40

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        """A new, empty database keeping whatever it stores under ``tmp_path``."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_database(tmp_path) to return a new, "
            "empty database of the backend under test"
        )

    @pytest.fixture
    def database(self, tmp_path: Path) -> Iterator[ArrowDatabase]:
        """A new, empty database, closed after the test."""
        database = self.make_database(tmp_path)
        yield database
        database.close()

    @contextmanager
    def fresh_database(self) -> Iterator[ArrowDatabase]:
        """A new, empty database in its own temporary directory (for property tests)."""
        with tempfile.TemporaryDirectory(prefix="orcapod-contract-") as directory:
            database = self.make_database(Path(directory))
            try:
                yield database
            finally:
                database.close()

    # -- the protocol itself ------------------------------------------------------

    def test_database_is_an_arrow_database(self, database: ArrowDatabase) -> None:
        assert isinstance(database, ArrowDatabase)

    def test_new_database_has_no_paths(self, database: ArrowDatabase) -> None:
        assert database.list_paths() == []

    # -- round trips --------------------------------------------------------------

    def test_every_supported_type_round_trips_through_add_records(
        self, database: ArrowDatabase
    ) -> None:
        expected = _every_type_table()
        database.add_records(_PATH, _with_ids(expected, _EVERY_TYPE_IDS), _ID)
        _assert_same_records(database.get_all_records(_PATH), expected)
        read = database.get_all_records(_PATH, record_id_column=_ID)
        _assert_same_records(_sorted_by_id(read), expected)

    def test_every_supported_type_round_trips_through_add_record(
        self, database: ArrowDatabase
    ) -> None:
        expected = _every_type_table()
        for n, record_id in enumerate(_EVERY_TYPE_IDS):
            database.add_record(_PATH, record_id, expected.slice(n, 1))
        for n, record_id in enumerate(_EVERY_TYPE_IDS):
            _assert_same_records(database.get_record_by_id(_PATH, record_id), expected.slice(n, 1))
        read = database.get_all_records(_PATH, record_id_column=_ID)
        _assert_same_records(_sorted_by_id(read), expected)

    def test_every_supported_type_round_trips_through_lookups_by_ids(
        self, database: ArrowDatabase
    ) -> None:
        expected = _every_type_table()
        database.add_records(_PATH, _with_ids(expected, _EVERY_TYPE_IDS), _ID)
        read = database.get_records_by_ids(_PATH, _EVERY_TYPE_IDS, record_id_column=_ID)
        _assert_same_records(_sorted_by_id(read), expected)

    def test_maps_come_back_as_maps_and_empty_maps_stay_empty_maps(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _with_ids(_every_type_table(), _EVERY_TYPE_IDS), _ID)
        table = _sorted_by_id(database.get_all_records(_PATH, record_id_column=_ID))
        labels = table.column("labels")
        assert labels.type == _STRING_MAP
        assert labels.to_pylist(maps_as_pydicts="strict") == [
            {"species": "mouse", "lab": "north"},
            {},
            {"empty value": "", "missing": None},
            None,
        ]
        empty = labels[1]
        assert empty.is_valid, "an empty map must not come back as null"
        assert len(empty) == 0
        assert table.column("label_sets").type == pa.list_(_STRING_MAP)
        assert table.column("label_sets")[0].as_py(maps_as_pydicts="strict") == [{"a": "1"}, {}]
        sample = table.column("sample")[1].as_py(maps_as_pydicts="strict")
        assert sample == {"name": "", "score": 0.0, "labels": {}, "repeats": []}

    def test_timestamps_keep_their_time_zone_and_naive_ones_stay_naive(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _with_ids(_every_type_table(), _EVERY_TYPE_IDS), _ID)
        record = database.get_record_by_id(_PATH, "row-0")
        assert record is not None
        berlin = record.column("berlin_time")[0].as_py()
        assert berlin == datetime(2024, 3, 31, 3, 30, tzinfo=_BERLIN)
        assert berlin.utcoffset() == _BERLIN.utcoffset(datetime(2024, 3, 31, 3, 30))
        assert str(berlin.tzinfo) == "Europe/Berlin"
        assert record.column("utc_time")[0].as_py().utcoffset().total_seconds() == 0
        naive = record.column("naive_time")[0].as_py()
        assert naive == datetime(2024, 3, 31, 2, 30)
        assert naive.tzinfo is None

    def test_a_record_of_nulls_comes_back_as_nulls_of_the_declared_types(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _with_ids(_every_type_table(), _EVERY_TYPE_IDS), _ID)
        record = database.get_record_by_id(_PATH, "row-3")
        assert record is not None
        assert record.schema == _EVERY_TYPE_SCHEMA
        assert record.to_pylist() == [dict.fromkeys(_EVERY_TYPE_SCHEMA.names)]

    def test_nan_infinities_and_negative_zero_round_trip_exactly_wherever_a_float_sits(
        self, database: ArrowDatabase
    ) -> None:
        expected = _special_float_table()
        ids = [f"f{n}" for n in range(expected.num_rows)]
        database.add_records(_PATH, _with_ids(expected, ids), _ID)
        _assert_same_floats(
            _sorted_by_id(database.get_all_records(_PATH, record_id_column=_ID)), expected
        )
        database.flush()
        _assert_same_floats(
            _sorted_by_id(database.get_all_records(_PATH, record_id_column=_ID)), expected
        )
        read = database.get_records_by_ids(_PATH, ids, record_id_column=_ID)
        _assert_same_floats(_sorted_by_id(read), expected)
        negative_zero = _NEGATIVE_ZERO_ROW
        _assert_same_floats(
            database.get_record_by_id(_PATH, ids[negative_zero]), expected.slice(negative_zero, 1)
        )

    def test_half_floats_are_stored_exactly_or_refused_before_anything_is_stored(
        self, database: ArrowDatabase
    ) -> None:
        values = pa.array(_SPECIAL_FLOATS, pa.float32()).cast(pa.float16())
        records = pa.table({_ID: [f"h{n}" for n in range(len(values))], "half": values})
        try:
            database.add_records(_PATH, records, _ID, flush=True)
        except RecordSchemaError as error:
            _assert_names(error, "half")
            assert database.list_paths() == []
            return
        _assert_same_floats(
            _sorted_by_id(database.get_all_records(_PATH, record_id_column=_ID)),
            records.drop_columns([_ID]),
        )

    def test_float_nan_and_infinities_round_trip(self, database: ArrowDatabase) -> None:
        values = [math.nan, math.inf, -math.inf, -0.0, 5e-324]
        ids = [f"f{n}" for n in range(len(values))]
        database.add_records(_PATH, pa.table({_ID: ids, "x": pa.array(values, pa.float64())}), _ID)
        got = {
            k: row["x"]
            for k, row in _by_id(database.get_all_records(_PATH, record_id_column=_ID)).items()
        }
        assert math.isnan(got["f0"])
        assert [got[k] for k in ids[1:]] == values[1:]
        assert math.copysign(1.0, got["f3"]) == -1.0

    def test_strings_with_nul_and_control_characters_round_trip(
        self, database: ArrowDatabase
    ) -> None:
        values = ["a\x00b", "tab\tnew\nline\r", "\x7f\x1b[0m", "\u2028", "\\", "%_*?"]
        ids = [f"s{n}" for n in range(len(values))]
        database.add_records(
            _PATH, pa.table({_ID: ids, "text": pa.array(values, pa.large_string())}), _ID
        )
        got = _by_id(database.get_all_records(_PATH, record_id_column=_ID))
        assert [got[k]["text"] for k in ids] == values

    def test_sql_keywords_as_column_names_round_trip(self, database: ArrowDatabase) -> None:
        expected = pa.table(
            {
                "select": pa.array([1], pa.int64()),
                "from": pa.array(["x"], pa.large_string()),
                "order": pa.array([True], pa.bool_()),
                "group": pa.array([None], pa.float64()),
            }
        )
        database.add_record(_PATH, "r1", expected)
        _assert_same_records(database.get_record_by_id(_PATH, "r1"), expected)
        _assert_same_records(database.get_records_with_column_value(_PATH, {"select": 1}), expected)

    def test_record_ids_of_any_text_round_trip(self, database: ArrowDatabase) -> None:
        ids = ["", " ", "'", '"', "a'; DROP TABLE records; --", "ünï ✓", "x" * 1000, "%", "_"]
        database.add_records(_PATH, _simple_records(ids), _ID)
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == set(ids)
        for record_id in ids:
            record = database.get_record_by_id(_PATH, record_id, record_id_column=_ID)
            assert list(_by_id(record)) == [record_id]
        assert set(
            _by_id(database.get_records_by_ids(_PATH, ids[:4], record_id_column=_ID))
        ) == set(ids[:4])

    # -- reads ----------------------------------------------------------------------

    def test_every_read_of_an_unknown_path_is_none(self, database: ArrowDatabase) -> None:
        database.add_records(_OTHER_PATH, _simple_records(["r1"]), _ID)
        assert database.get_record_by_id(_PATH, "r1") is None
        assert database.get_records_by_ids(_PATH, ["r1"]) is None
        assert database.get_all_records(_PATH) is None
        assert database.get_records_with_column_value(_PATH, {"version": 1}) is None
        assert database.get_all_records(("contract",)) is None, "a prefix is not a path"

    def test_unknown_record_id_is_none(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        assert database.get_record_by_id(_PATH, "r3") is None
        assert database.get_record_by_id(_PATH, "R1") is None
        assert database.get_record_by_id(_PATH, "r1 ") is None

    def test_get_record_by_id_returns_that_one_record(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2", "r3"]), _ID)
        record = database.get_record_by_id(_PATH, "r2")
        assert record is not None
        assert record.num_rows == 1
        assert record.to_pylist() == [{"subject": "subject-r2", "version": 1, "score": 0.25}]

    @pytest.mark.parametrize("read", list(_READS))
    def test_record_ids_are_returned_only_when_asked(
        self, database: ArrowDatabase, read: str
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2", "r3"]), _ID)
        without = _READS[read](database, None)
        assert without is not None
        assert without.schema == _SIMPLE_SCHEMA
        with_column = _READS[read](database, "the_id")
        assert with_column is not None
        assert with_column.column_names == ["the_id", *_SIMPLE_SCHEMA.names]
        id_type = with_column.schema.field("the_id").type
        assert pa.types.is_string(id_type) or pa.types.is_large_string(id_type)
        subjects = with_column.column("subject").to_pylist()
        assert subjects == [f"subject-{i}" for i in with_column.column("the_id").to_pylist()]

    def test_get_records_by_ids_returns_every_requested_known_record(
        self, database: ArrowDatabase
    ) -> None:
        ids = [f"r{n:04d}" for n in range(1000)]
        database.add_records(_PATH, _simple_records(ids), _ID)
        wanted = ids[::3] + ids[500:700]
        got = _by_id(database.get_records_by_ids(_PATH, wanted, record_id_column=_ID))
        assert set(got) == set(wanted)
        assert all(row["subject"] == f"subject-{k}" for k, row in got.items())

    def test_get_records_by_ids_leaves_unknown_ids_out(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2", "r3"]), _ID)
        got = database.get_records_by_ids(
            _PATH, ["nope", "r3", "r1", "also-nope"], record_id_column=_ID
        )
        assert set(_by_id(got)) == {"r1", "r3"}
        assert database.get_records_by_ids(_PATH, ["nope", "never"]) is None

    def test_get_records_by_ids_with_no_ids_is_none(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        assert database.get_records_by_ids(_PATH, []) is None
        assert database.get_records_by_ids(_PATH, set()) is None

    def test_get_records_by_ids_returns_each_record_once(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2", "r3"]), _ID)
        got = database.get_records_by_ids(_PATH, ["r1", "r1", "r2", "r1"], record_id_column=_ID)
        assert set(_by_id(got)) == {"r1", "r2"}
        as_set = database.get_records_by_ids(_PATH, {"r2", "r3"}, record_id_column=_ID)
        assert set(_by_id(as_set)) == {"r2", "r3"}
        as_tuple = database.get_records_by_ids(_PATH, ("r3",), record_id_column=_ID)
        assert set(_by_id(as_tuple)) == {"r3"}

    def test_get_records_with_column_value_matches_one_column(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2", "r3"]), _ID)
        database.add_records(_PATH, _simple_records(["r4", "r5"], version=2), _ID)
        got = database.get_records_with_column_value(_PATH, {"version": 2}, record_id_column=_ID)
        assert set(_by_id(got)) == {"r4", "r5"}
        one = database.get_records_with_column_value(_PATH, {"subject": "subject-r2"})
        assert one is not None
        assert one.to_pylist() == [{"subject": "subject-r2", "version": 1, "score": 0.25}]

    def test_get_records_with_column_value_must_match_every_column(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        database.add_records(_PATH, _simple_records(["r3"], version=2), _ID)
        both = database.get_records_with_column_value(
            _PATH, {"subject": "subject-r3", "version": 2}, record_id_column=_ID
        )
        assert set(_by_id(both)) == {"r3"}
        assert (
            database.get_records_with_column_value(_PATH, {"subject": "subject-r3", "version": 1})
            is None
        )

    def test_get_records_with_column_value_without_a_match_is_none(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        assert database.get_records_with_column_value(_PATH, {"version": 99}) is None
        assert database.get_records_with_column_value(_PATH, {"subject": "'; --"}) is None

    @pytest.mark.parametrize("flush", [False, True], ids=["pending", "stored"])
    def test_none_matches_the_nulls_of_a_column_of_every_type(
        self, database: ArrowDatabase, flush: bool
    ) -> None:
        database.add_records(_PATH, _with_ids(_every_type_table(), _EVERY_TYPE_IDS), _ID)
        if flush:
            database.flush()
        null_row = _EVERY_TYPE_IDS[-1]  # the row of nulls; the others hold nested nulls at most
        for name in _EVERY_TYPE_SCHEMA.names:
            got = database.get_records_with_column_value(_PATH, {name: None}, record_id_column=_ID)
            assert got is not None, f"{name!r} (a {_EVERY_TYPE_SCHEMA.field(name).type}) is null"
            assert list(_by_id(got)) == [null_row], f"None matches the nulls of {name!r}"
        both = database.get_records_with_column_value(
            _PATH, {"labels": None, "sample": None, "count": None}, record_id_column=_ID
        )
        assert list(_by_id(both)) == [null_row]
        assert database.get_records_with_column_value(_PATH, {"numbers": None, "count": 1}) is None

    @pytest.mark.parametrize("name", ["labels", "numbers", "label_sets", "sample"])
    def test_matching_a_map_list_or_struct_against_a_value_is_refused_naming_both(
        self, database: ArrowDatabase, name: str
    ) -> None:
        database.add_records(_PATH, _with_ids(_every_type_table(), _EVERY_TYPE_IDS), _ID)
        values: dict[str, Any] = {
            "labels": {"lab": "north"},
            "numbers": [1, 2, 3],
            "label_sets": [{}],
            "sample": {"name": "s1"},
        }
        value = values[name]
        with pytest.raises(DatabaseError) as caught:
            database.get_records_with_column_value(_PATH, {name: value})
        _assert_names(caught.value, repr(name), repr(value), "None")

    def test_reads_see_records_added_after_an_earlier_read(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {"r1"}
        assert database.get_records_by_ids(_PATH, ["r2"]) is None
        database.add_record(_PATH, "r2", _simple_record("r2"))
        database.add_records(_PATH, _simple_records(["r3"]), _ID)
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {
            "r1",
            "r2",
            "r3",
        }
        assert set(
            _by_id(database.get_records_by_ids(_PATH, ["r2", "r3"], record_id_column=_ID))
        ) == {
            "r2",
            "r3",
        }
        got = database.get_records_with_column_value(_PATH, {"version": 1}, record_id_column=_ID)
        assert set(_by_id(got)) == {"r1", "r2", "r3"}

    # -- pending rows -----------------------------------------------------------------

    def test_pending_records_are_visible_to_every_read_before_flush(
        self, database: ArrowDatabase
    ) -> None:
        database.add_record(_PATH, "r1", _simple_record("r1"))
        database.add_records(_PATH, _simple_records(["r2", "r3"]), _ID)
        self._assert_r1_to_r3_readable(database)
        database.flush()
        self._assert_r1_to_r3_readable(database)

    def test_records_added_with_flush_are_readable(self, database: ArrowDatabase) -> None:
        database.add_record(_PATH, "r1", _simple_record("r1"), flush=True)
        database.add_records(_PATH, _simple_records(["r2", "r3"]), _ID, flush=True)
        self._assert_r1_to_r3_readable(database)

    def test_flush_with_nothing_pending_is_harmless(self, database: ArrowDatabase) -> None:
        database.flush()
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        database.flush()
        database.flush()
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {"r1"}

    @staticmethod
    def _assert_r1_to_r3_readable(database: ArrowDatabase) -> None:
        assert database.list_paths() == [_PATH]
        assert database.get_record_by_id(_PATH, "r1") is not None
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {
            "r1",
            "r2",
            "r3",
        }
        assert set(
            _by_id(database.get_records_by_ids(_PATH, ["r1", "r3"], record_id_column=_ID))
        ) == {
            "r1",
            "r3",
        }
        got = database.get_records_with_column_value(
            _PATH, {"subject": "subject-r2"}, record_id_column=_ID
        )
        assert set(_by_id(got)) == {"r2"}

    # -- duplicates -------------------------------------------------------------------

    def test_add_record_with_a_stored_id_is_refused_naming_path_and_id(
        self, database: ArrowDatabase
    ) -> None:
        database.add_record(_PATH, "r1", _simple_record("r1", version=1), flush=True)
        with pytest.raises(DuplicateRecordError) as caught:
            database.add_record(_PATH, "r1", _simple_record("r1", version=2))
        _assert_names(caught.value, "r1", *_PATH)
        assert _by_id(database.get_all_records(_PATH, record_id_column=_ID))["r1"]["version"] == 1

    def test_add_record_with_a_pending_id_is_refused(self, database: ArrowDatabase) -> None:
        database.add_record(_PATH, "r1", _simple_record("r1", version=1))
        with pytest.raises(DuplicateRecordError):
            database.add_record(_PATH, "r1", _simple_record("r1", version=2))
        with pytest.raises(DuplicateRecordError):
            database.add_records(_PATH, _simple_records(["r1"], version=3), _ID)
        assert _by_id(database.get_all_records(_PATH, record_id_column=_ID)) == {
            "r1": {"subject": "subject-r1", "version": 1, "score": 0.0}
        }

    def test_add_record_skipping_duplicates_keeps_the_first(self, database: ArrowDatabase) -> None:
        database.add_record(_PATH, "r1", _simple_record("r1", version=1))
        database.add_record(_PATH, "r1", _simple_record("r1", version=2), skip_duplicates=True)
        database.flush()
        database.add_record(_PATH, "r1", _simple_record("r1", version=3), skip_duplicates=True)
        got = _by_id(database.get_all_records(_PATH, record_id_column=_ID))
        assert got == {"r1": {"subject": "subject-r1", "version": 1, "score": 0.0}}

    def test_add_records_with_a_stored_id_rejects_the_whole_batch(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID, flush=True)
        with pytest.raises(DuplicateRecordError) as caught:
            database.add_records(_PATH, _simple_records(["new-1", "r2", "new-2"], version=2), _ID)
        _assert_names(caught.value, "r2", *_PATH)
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {"r1", "r2"}
        assert database.get_records_by_ids(_PATH, ["new-1", "new-2"]) is None

    def test_add_records_with_an_id_repeated_in_the_batch_rejects_the_whole_batch(
        self, database: ArrowDatabase
    ) -> None:
        with pytest.raises(DuplicateRecordError) as caught:
            database.add_records(_PATH, _simple_records(["a", "b", "a"]), _ID)
        _assert_names(caught.value, "a", *_PATH)
        assert database.get_all_records(_PATH) is None
        assert database.list_paths() == []

    def test_add_records_skipping_duplicates_keeps_the_first_of_each_id(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["stored"], version=1), _ID, flush=True)
        database.add_record(_PATH, "pending", _simple_record("pending", version=1))
        batch = pa.concat_tables(
            [
                _simple_records(["stored", "pending", "new", "twice"], version=2),
                _simple_records(["twice", "new"], version=3),
            ]
        )
        database.add_records(_PATH, batch, _ID, skip_duplicates=True)
        versions = {
            k: row["version"]
            for k, row in _by_id(database.get_all_records(_PATH, record_id_column=_ID)).items()
        }
        assert versions == {"stored": 1, "pending": 1, "new": 2, "twice": 2}

    def test_add_records_skipping_duplicates_of_only_known_ids_adds_nothing(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        database.add_records(
            _PATH, _simple_records(["r2", "r1"], version=2), _ID, skip_duplicates=True
        )
        got = _by_id(database.get_all_records(_PATH, record_id_column=_ID))
        assert {k: row["version"] for k, row in got.items()} == {"r1": 1, "r2": 1}

    # -- records whose ids are new by construction (add_new_records, new_ids) --------

    def test_records_added_as_new_are_read_like_any_other_pending_and_stored(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["old"]), _ID, flush=True)
        add_new_records(database, _PATH, _simple_records(["r1", "r2"]), _ID)
        add_new_records(database, _PATH, _simple_records(["r3"], version=2), _ID)
        for _ in ("pending", "stored"):
            got = _by_id(database.get_all_records(_PATH, record_id_column=_ID))
            assert {k: row["version"] for k, row in got.items()} == {
                "old": 1,
                "r1": 1,
                "r2": 1,
                "r3": 2,
            }
            found = database.get_records_by_ids(_PATH, ["r3", "old", "r1"], record_id_column=_ID)
            assert set(_by_id(found)) == {"r3", "old", "r1"}
            record = database.get_record_by_id(_PATH, "r2", record_id_column=_ID)
            assert _by_id(record) == {"r2": {"subject": "subject-r2", "version": 1, "score": 0.25}}
            database.flush()

    def test_records_added_as_new_make_a_path_and_its_schema(self, database: ArrowDatabase) -> None:
        add_new_records(database, _PATH, _simple_records([]), _ID)
        assert database.list_paths() == [], "an empty batch creates no path"
        add_new_records(database, _PATH, _simple_records(["r1"]), _ID, flush=True)
        assert database.list_paths() == [_PATH]
        wrong = _simple_records(["r2"]).set_column(2, "version", pa.array([1.5], pa.float64()))
        with pytest.raises(RecordSchemaError) as caught:
            add_new_records(database, _PATH, wrong, _ID)
        _assert_names(caught.value, "version", *_PATH)
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {"r1"}

    def test_a_store_taking_new_ids_refuses_them_with_skip_duplicates(
        self, database: ArrowDatabase
    ) -> None:
        if not _takes_new_ids(type(database)):
            pytest.skip("add_records takes no new_ids: add_new_records checks for duplicates")
        with pytest.raises(ValueError, match="skip_duplicates"):
            database.add_records(  # type: ignore[call-arg]
                _PATH, _simple_records(["r1"]), _ID, skip_duplicates=True, new_ids=True
            )
        assert database.list_paths() == []

    def test_the_id_column_is_not_stored_as_data(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        stored = database.get_all_records(_PATH)
        assert stored is not None
        assert stored.column_names == _SIMPLE_SCHEMA.names
        record = database.get_record_by_id(_PATH, "r1", record_id_column="other_name")
        assert record is not None
        assert record.column_names == ["other_name", *_SIMPLE_SCHEMA.names]

    def test_ids_from_add_record_and_add_records_share_one_namespace(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        with pytest.raises(DuplicateRecordError):
            database.add_record(_PATH, "r1", _simple_record("r1"))
        database.add_record(_PATH, "r2", _simple_record("r2"))
        with pytest.raises(DuplicateRecordError):
            database.add_records(_PATH, _simple_records(["r2"]), _ID)

    # -- schemas and shapes -------------------------------------------------------------

    def test_a_column_of_another_type_is_refused_naming_path_and_column(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        wrong = _simple_records(["r3"]).set_column(
            2, "version", pa.array(["one"], pa.large_string())
        )
        with pytest.raises(RecordSchemaError) as caught:
            database.add_records(_PATH, wrong, _ID)
        _assert_names(caught.value, "version", *_PATH)
        with pytest.raises(RecordSchemaError) as caught_one:
            database.add_record(_PATH, "r3", wrong.drop_columns([_ID]))
        _assert_names(caught_one.value, "version", *_PATH)
        self._assert_only_r1_r2(database)

    @pytest.mark.parametrize(
        ("change", "column"),
        [
            pytest.param(lambda t: t.drop_columns(["score"]), "score", id="missing-column"),
            pytest.param(
                lambda t: t.append_column("extra", pa.array([1], pa.int64())),
                "extra",
                id="extra-column",
            ),
        ],
    )
    def test_missing_or_extra_columns_are_refused_naming_the_column(
        self, database: ArrowDatabase, change: Callable[[pa.Table], pa.Table], column: str
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        with pytest.raises(RecordSchemaError) as caught:
            database.add_records(_PATH, change(_simple_records(["r3"])), _ID)
        _assert_names(caught.value, column, *_PATH)
        self._assert_only_r1_r2(database)

    def _assert_only_r1_r2(self, database: ArrowDatabase) -> None:
        stored = database.get_all_records(_PATH, record_id_column=_ID)
        assert set(_by_id(stored)) == {"r1", "r2"}
        assert stored is not None
        assert stored.drop_columns([_ID]).schema == _SIMPLE_SCHEMA
        assert database.get_record_by_id(_PATH, "r3") is None

    @pytest.mark.parametrize("rows", [0, 2], ids=["no-rows", "two-rows"])
    def test_add_record_refuses_a_table_that_is_not_one_row(
        self, database: ArrowDatabase, rows: int
    ) -> None:
        table = _simple_records([f"r{n}" for n in range(rows)]).drop_columns([_ID])
        with pytest.raises(DatabaseError):
            database.add_record(_PATH, "r1", table)
        assert database.list_paths() == []
        assert database.get_record_by_id(_PATH, "r1") is None

    def test_add_records_without_the_id_column_is_refused_naming_it(
        self, database: ArrowDatabase
    ) -> None:
        with pytest.raises(DatabaseError) as caught:
            database.add_records(_PATH, _simple_records(["r1"]), "no_such_column")
        _assert_names(caught.value, "no_such_column")
        assert database.list_paths() == []

    # -- paths ------------------------------------------------------------------------

    @pytest.mark.parametrize(("method", "path"), _hostile_uses())
    def test_hostile_paths_are_refused_by_every_method(
        self, database: ArrowDatabase, method: str, path: Any
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        with pytest.raises(InvalidRecordPathError):
            _PATH_USES[method](database, path)
        assert database.list_paths() == [_PATH]
        assert set(_by_id(database.get_all_records(_PATH, record_id_column=_ID))) == {"r1"}

    def test_list_paths_lists_exact_tuples_matching_the_prefix_by_whole_names(
        self, database: ArrowDatabase
    ) -> None:
        paths = [("a",), ("a", "b"), ("a", "b", "c"), ("ab",), ("b", "a"), ("a", "bc")]
        for n, path in enumerate(paths):
            database.add_records(path, _simple_records([f"r{n}"]), _ID)
        assert _sorted(database.list_paths()) == _sorted(paths)
        assert all(type(path) is tuple for path in database.list_paths())
        assert _sorted(database.list_paths(("a",))) == [
            ("a",),
            ("a", "b"),
            ("a", "b", "c"),
            ("a", "bc"),
        ]
        assert _sorted(database.list_paths(("a", "b"))) == [("a", "b"), ("a", "b", "c")]
        assert database.list_paths(("a", "b", "c")) == [("a", "b", "c")]
        assert database.list_paths(("ab",)) == [("ab",)]
        assert database.list_paths(("a", "b", "c", "d")) == []
        assert database.list_paths(("c",)) == []
        assert database.list_paths(("b",)) == [("b", "a")]

    def test_paths_nested_in_each_other_hold_separate_records(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(("a",), _simple_records(["r1"]), _ID)
        database.add_records(("a", "b"), _simple_records(["r2"]), _ID)
        assert set(_by_id(database.get_all_records(("a",), record_id_column=_ID))) == {"r1"}
        assert set(_by_id(database.get_all_records(("a", "b"), record_id_column=_ID))) == {"r2"}

    def test_many_paths_are_independent(self, database: ArrowDatabase) -> None:
        paths = [("independent", f"node{n}") for n in range(12)]
        for n, path in enumerate(paths):
            database.add_records(path, _simple_records(["shared", f"own-{n}"], version=n), _ID)
        text_record = pa.table({"text": pa.array(["x"], pa.large_string())})
        database.add_record(("independent", "typed"), "shared", text_record)
        with pytest.raises(DuplicateRecordError):
            database.add_record(paths[0], "shared", _simple_record("shared"))
        database.add_record(paths[1], "only-here", _simple_record("only-here", version=1))
        for n, path in enumerate(paths):
            got = _by_id(database.get_all_records(path, record_id_column=_ID))
            expected_ids = {"shared", f"own-{n}"} | ({"only-here"} if n == 1 else set())
            assert set(got) == expected_ids
            assert got["shared"]["version"] == n
        _assert_same_records(
            database.get_record_by_id(("independent", "typed"), "shared"), text_record
        )
        assert _sorted(database.list_paths(("independent",))) == _sorted(
            [*paths, ("independent", "typed")]
        )

    # -- lifecycle --------------------------------------------------------------------

    def test_closing_twice_is_harmless(self, database: ArrowDatabase) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        database.close()
        database.close()

    # -- properties -------------------------------------------------------------------

    def test_batches_skipping_duplicates_equal_the_first_occurrence_union(self) -> None:
        @settings(max_examples=self.property_examples, deadline=None)
        @given(batches=st.lists(_BATCH, max_size=5))
        def check(batches: list[list[tuple[str, int]]]) -> None:
            expected: dict[str, int] = {}
            for batch in batches:
                for record_id, value in batch:
                    expected.setdefault(record_id, value)
            with self.fresh_database() as database:
                for batch in batches:
                    database.add_records(_PATH, _batch_table(batch), _ID, skip_duplicates=True)
                assert (
                    _values_by_id(database.get_all_records(_PATH, record_id_column=_ID)) == expected
                )
                assert database.list_paths() == ([_PATH] if expected else [])

        check()

    def test_batches_without_skipping_duplicates_are_all_or_nothing(self) -> None:
        @settings(max_examples=self.property_examples, deadline=None)
        @given(batches=st.lists(_BATCH, max_size=5))
        def check(batches: list[list[tuple[str, int]]]) -> None:
            expected: dict[str, int] = {}
            with self.fresh_database() as database:
                for batch in batches:
                    ids = [record_id for record_id, _ in batch]
                    clean = len(set(ids)) == len(ids) and not set(ids) & set(expected)
                    if clean:
                        database.add_records(_PATH, _batch_table(batch), _ID)
                        expected.update(batch)
                    else:
                        with pytest.raises(DuplicateRecordError):
                            database.add_records(_PATH, _batch_table(batch), _ID)
                    got = database.get_all_records(_PATH, record_id_column=_ID)
                    assert _values_by_id(got) == expected

        check()

    def test_get_records_by_ids_returns_exactly_the_requested_known_ids(self) -> None:
        @settings(max_examples=self.property_examples, deadline=None)
        @given(stored=st.sets(_FREE_IDS, max_size=30), asked=st.lists(_FREE_IDS, max_size=30))
        def check(stored: set[str], asked: list[str]) -> None:
            stored_ids = sorted(stored)
            asked = asked + stored_ids[::2]
            with self.fresh_database() as database:
                if stored_ids:
                    database.add_records(_PATH, _simple_records(stored_ids), _ID)
                got = database.get_records_by_ids(_PATH, asked, record_id_column=_ID)
                known = set(asked) & stored
                if not known:
                    assert got is None
                    return
                rows = _by_id(got)
                assert set(rows) == known
                assert all(row["subject"] == f"subject-{k}" for k, row in rows.items())

        check()

    # -- reads in batches (iter_records, iter_all_records) -----------------------------

    def test_reading_in_batches_gives_what_get_all_records_gives_stored_and_pending(
        self, database: ArrowDatabase
    ) -> None:
        """Every type (maps, lists, structs, time zones), stored rows and pending ones: the
        batches joined are get_all_records' table, with the ids asked for or without."""
        every = _with_ids(_every_type_table(), _EVERY_TYPE_IDS)
        database.add_records(_PATH, every.slice(0, 2), _ID, flush=True)
        database.add_records(_PATH, every.slice(2, 1), _ID)  # pending
        database.add_record(_PATH, _EVERY_TYPE_IDS[3], every.slice(3, 1).drop_columns([_ID]))
        whole = database.get_all_records(_PATH, record_id_column=_ID)
        for batch_rows in (1, 3, 1000):
            batches = list(
                iter_records(database, _PATH, batch_rows=batch_rows, record_id_column=_ID)
            )
            assert all(isinstance(batch, pa.RecordBatch) for batch in batches)
            assert all(0 < batch.num_rows <= batch_rows for batch in batches)
            joined = pa.Table.from_batches(batches)
            _assert_same_records(_sorted_by_id(joined), _sorted_by_id(whole))
            _assert_same_records(_sorted_by_id(joined), _every_type_table())
        without = list(iter_records(database, _PATH, batch_rows=2))
        assert all(batch.schema.names == _EVERY_TYPE_SCHEMA.names for batch in without)
        assert sum(batch.num_rows for batch in without) == len(_EVERY_TYPE_IDS)

    def test_batches_never_exceed_batch_rows_and_hold_every_record_once(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _numbered(0, 700), _ID, flush=True)
        for start in range(700, 1000, 50):  # many small batches, half of them pending
            database.add_records(_PATH, _numbered(start, start + 50), _ID, flush=start < 850)
        expected = [f"n{k}" for k in range(1000)]
        for batch_rows in (1, 7, 256, 999, 1000, 5000):
            batches = list(
                iter_records(database, _PATH, batch_rows=batch_rows, record_id_column=_ID)
            )
            sizes = [batch.num_rows for batch in batches]
            assert all(0 < size <= batch_rows for size in sizes), (batch_rows, sizes)
            ids = [i for batch in batches for i in batch.column(0).to_pylist()]
            assert sorted(ids) == sorted(expected), f"batch_rows={batch_rows}"
            if batch_rows >= 256:
                assert len(batches) <= -(-1000 // batch_rows) + 8, (batch_rows, sizes)

    def test_reading_an_unknown_path_in_batches_yields_no_batch(
        self, database: ArrowDatabase
    ) -> None:
        assert list(iter_records(database, _PATH)) == []
        database.add_records(_OTHER_PATH, _simple_records(["r1"]), _ID)
        assert list(iter_records(database, _PATH, record_id_column=_ID)) == []
        assert list(iter_records(database, ("contract",))) == [], "a prefix is not a path"
        database.add_records(_PATH, _simple_records([]), _ID)  # an empty batch makes no path
        assert list(iter_records(database, _PATH)) == []

    @pytest.mark.parametrize("batch_rows", [0, -1, True, 1.5, "10"])
    def test_batch_rows_must_be_a_whole_number_of_rows(
        self, database: ArrowDatabase, batch_rows: Any
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        with pytest.raises(ValueError, match="batch_rows"):
            list(iter_records(database, _PATH, batch_rows=batch_rows))

    def test_batches_are_read_as_they_are_asked_for_and_a_closed_store_refuses(
        self, database: ArrowDatabase
    ) -> None:
        """Taking some batches and dropping the rest is fine; after close() a read in
        batches is refused, like every other read."""
        database.add_records(_PATH, _numbered(0, 100), _ID, flush=True)
        batches = iter_records(database, _PATH, batch_rows=10, record_id_column=_ID)
        first = next(iter(batches))
        assert first.num_rows == 10
        database.add_records(_PATH, _numbered(100, 101), _ID)  # a write while reading
        rest = [i for batch in batches for i in batch.column(0).to_pylist()]
        seen = first.column(0).to_pylist() + rest
        assert len(seen) == len(set(seen)), "a record came twice"
        assert {f"n{k}" for k in range(100)} <= set(seen)
        database.close()
        with pytest.raises(DatabaseError):
            list(iter_records(database, _PATH))

    # -- incremental reads (read_new_records, get_new_records) ------------------------

    def test_incremental_reads_return_each_record_once_pending_or_stored(
        self, database: ArrowDatabase
    ) -> None:
        """What a follower polls with: each record comes back once, whether read while
        pending, after its flush, or never read before; ids in the asked column."""
        rows, cursor = read_new_records(database, _PATH, record_id_column=_ID)
        assert rows is None  # no such path yet
        database.add_records(_PATH, _numbered(0, 3), _ID, flush=True)
        rows, cursor = read_new_records(database, _PATH, cursor, record_id_column=_ID)
        assert _ids_of(rows) == ["n0", "n1", "n2"]
        assert read_new_records(database, _PATH, cursor, record_id_column=_ID)[0] is None
        database.add_records(_PATH, _numbered(3, 5), _ID)  # pending
        rows, cursor = read_new_records(database, _PATH, cursor, record_id_column=_ID)
        assert _ids_of(rows) == ["n3", "n4"]
        database.flush()
        assert read_new_records(database, _PATH, cursor, record_id_column=_ID)[0] is None
        database.add_records(_PATH, _numbered(5, 6), _ID, flush=True)
        rows, cursor = read_new_records(database, _PATH, cursor)
        assert rows is not None
        assert rows.column_names == ["n"]
        assert rows.column("n").to_pylist() == [5]

    def test_an_incremental_read_refuses_a_cursor_of_another_path(
        self, database: ArrowDatabase
    ) -> None:
        database.add_records(_PATH, _numbered(0, 1), _ID)
        database.add_records((*_PATH, "other"), _numbered(0, 1), _ID)
        _, cursor = read_new_records(database, _PATH)
        with pytest.raises(ValueError, match="cursor"):
            read_new_records(database, (*_PATH, "other"), cursor)


class PersistentArrowDatabaseContract(ArrowDatabaseContract):
    """Behaviour of a backend whose records outlive ``close()``: everything above, and reopening.

    Override :meth:`reopen_database` as well as :meth:`make_database`.
    """

    __test__: ClassVar[bool] = False

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> ArrowDatabase:
        """A new instance on the storage ``database`` uses (which may be open or closed)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override reopen_database(database, tmp_path) to open "
            "a second database on the same storage as make_database(tmp_path) made"
        )

    @pytest.fixture
    def reopen(
        self, database: ArrowDatabase, tmp_path: Path
    ) -> Iterator[Callable[[], ArrowDatabase]]:
        """Open ``database``'s storage again; every database opened is closed after the test."""
        opened: list[ArrowDatabase] = []

        def reopen() -> ArrowDatabase:
            again = self.reopen_database(database, tmp_path)
            opened.append(again)
            return again

        yield reopen
        for again in opened:
            again.close()

    def test_every_supported_type_survives_close_and_reopen(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        expected = _every_type_table()
        database.add_records(_PATH, _with_ids(expected, _EVERY_TYPE_IDS), _ID, flush=True)
        database.close()
        again = reopen()
        _assert_same_records(
            _sorted_by_id(again.get_all_records(_PATH, record_id_column=_ID)), expected
        )
        _assert_same_records(again.get_record_by_id(_PATH, "row-1"), expected.slice(1, 1))
        labels = again.get_record_by_id(_PATH, "row-1")
        assert labels is not None
        assert labels.column("labels").to_pylist(maps_as_pydicts="strict") == [{}]

    def test_nan_infinities_and_negative_zero_survive_close_and_reopen(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        expected = _special_float_table()
        ids = [f"f{n}" for n in range(expected.num_rows)]
        database.add_records(_PATH, _with_ids(expected, ids), _ID, flush=True)
        database.close()
        again = reopen()
        _assert_same_floats(
            _sorted_by_id(again.get_all_records(_PATH, record_id_column=_ID)), expected
        )
        _assert_same_floats(
            _sorted_by_id(again.get_records_by_ids(_PATH, ids, record_id_column=_ID)), expected
        )
        matched = again.get_records_with_column_value(_PATH, {"f64": -0.0}, record_id_column=_ID)
        zeros = {ids[n] for n, value in enumerate(_SPECIAL_FLOATS) if value == 0.0}
        assert set(_by_id(matched)) == zeros, "-0.0 equals 0.0, as in Arrow"

    def test_close_flushes_pending_records(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_record(_PATH, "r1", _simple_record("r1"))
        database.add_records(_PATH, _simple_records(["r2", "r3"]), _ID)
        database.close()
        again = reopen()
        assert set(_by_id(again.get_all_records(_PATH, record_id_column=_ID))) == {"r1", "r2", "r3"}

    def test_flushed_records_are_visible_to_a_second_instance(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        database.flush()
        second = reopen()
        assert set(_by_id(second.get_all_records(_PATH, record_id_column=_ID))) == {"r1", "r2"}

    def test_flush_paths_makes_only_those_paths_durable(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        # Writers sharing a database flush what they wrote (flush_paths): a backend
        # whose flush takes ``paths`` leaves the other paths pending; any other
        # flushes everything, which is what flush_paths then does.
        database.add_records(("mine",), _simple_records(["m1"]), _ID)
        database.add_records(("theirs",), _simple_records(["t1"]), _ID)
        flush_paths(database, [("mine",)])
        second = reopen()
        assert set(_by_id(second.get_all_records(("mine",), record_id_column=_ID))) == {"m1"}
        if _flushes_paths(type(database)):
            assert second.get_all_records(("theirs",)) is None, "only the paths given"
        assert set(_by_id(database.get_all_records(("theirs",), record_id_column=_ID))) == {"t1"}, (
            "pending records stay readable in their own database"
        )
        database.flush()
        third = reopen()
        assert set(_by_id(third.get_all_records(("theirs",), record_id_column=_ID))) == {"t1"}

    def test_reopened_database_lists_the_same_paths(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        paths = [("a",), ("a", "b"), ("ab",), ("z", "y", "x")]
        for n, path in enumerate(paths):
            database.add_records(path, _simple_records([f"r{n}"]), _ID)
        database.close()
        again = reopen()
        assert _sorted(again.list_paths()) == _sorted(paths)
        assert _sorted(again.list_paths(("a",))) == [("a",), ("a", "b")]

    def test_ids_stored_before_reopening_are_still_duplicates(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"], version=1), _ID)
        database.close()
        again = reopen()
        with pytest.raises(DuplicateRecordError):
            again.add_record(_PATH, "r1", _simple_record("r1", version=2))
        with pytest.raises(DuplicateRecordError):
            again.add_records(_PATH, _simple_records(["r3", "r2"], version=2), _ID)
        again.add_records(
            _PATH, _simple_records(["r2", "r3"], version=2), _ID, skip_duplicates=True
        )
        versions = {
            k: row["version"]
            for k, row in _by_id(again.get_all_records(_PATH, record_id_column=_ID)).items()
        }
        assert versions == {"r1": 1, "r2": 1, "r3": 2}

    def test_the_schema_stored_before_reopening_still_applies(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        database.close()
        again = reopen()
        wrong = _simple_records(["r2"]).set_column(2, "version", pa.array([1.5], pa.float64()))
        with pytest.raises(RecordSchemaError) as caught:
            again.add_records(_PATH, wrong, _ID)
        _assert_names(caught.value, "version", *_PATH)
        assert set(_by_id(again.get_all_records(_PATH, record_id_column=_ID))) == {"r1"}

    def test_records_added_as_new_after_reopening_join_the_old_ones(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1", "r2"]), _ID)
        database.close()
        again = reopen()
        add_new_records(again, _PATH, _simple_records(["r3"], version=2), _ID)
        add_new_records(again, _PATH, _simple_records(["r4", "r5"], version=3), _ID, flush=True)
        assert set(_by_id(again.get_all_records(_PATH, record_id_column=_ID))) == {
            "r1",
            "r2",
            "r3",
            "r4",
            "r5",
        }
        again.close()
        third = reopen()
        got = _by_id(third.get_records_by_ids(_PATH, ["r1", "r3", "r5"], record_id_column=_ID))
        assert {k: row["version"] for k, row in got.items()} == {"r1": 1, "r3": 2, "r5": 3}
        with pytest.raises(DuplicateRecordError):  # plain adds still find them
            third.add_records(_PATH, _simple_records(["r4"], version=9), _ID)

    def test_records_added_after_reopening_join_the_old_ones(
        self, database: ArrowDatabase, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_records(_PATH, _simple_records(["r1"]), _ID)
        database.close()
        again = reopen()
        again.add_record(_PATH, "r2", _simple_record("r2"))
        again.add_records(_OTHER_PATH, _simple_records(["r3"]), _ID)
        again.close()
        third = reopen()
        assert set(_by_id(third.get_all_records(_PATH, record_id_column=_ID))) == {"r1", "r2"}
        assert set(_by_id(third.get_records_by_ids(_PATH, ["r1", "r2"], record_id_column=_ID))) == {
            "r1",
            "r2",
        }
        assert _sorted(third.list_paths()) == _sorted([_PATH, _OTHER_PATH])


def _sorted(paths: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(paths)


def _assert_names(error: BaseException, *names: str) -> None:
    message = str(error)
    for name in names:
        assert name in message, f"the error should name {name!r}: {message}"


_WRITER_MAIN = f"import sys; from {_writer.__name__} import main; main(sys.argv[1:])"
"""Runs a writer process (not ``-m``: the kit's package imports the module already)."""


class DurableArrowDatabaseContract(PersistentArrowDatabaseContract):
    """Behaviour of a persistent backend shared between processes: everything above, and

    - a writer killed (SIGKILL) in the middle of a flush leaves a readable store
      holding each flush entirely or not at all, which accepts new writes;
    - two processes adding overlapping record ids with ``skip_duplicates=True``
      at the same time lose nothing and store no id twice.

    The tests run real writer processes (:mod:`orcapod.protocols.testing._writer`),
    so override :meth:`database_opener` as well.
    """

    __test__: ClassVar[bool] = False
    writer_timeout_s: ClassVar[float] = 120.0
    """How long a writer process may take before the test fails."""

    def database_opener(self, tmp_path: Path) -> tuple[str, str]:
        """``("package.module:callable", argument)``: ``callable(argument)`` run in another
        process opens the storage that ``make_database(tmp_path)`` opened."""
        raise NotImplementedError(
            f"{type(self).__name__} must override database_opener(tmp_path) to return "
            "('package.module:callable', argument) opening make_database(tmp_path)'s storage "
            "in another process"
        )

    def _writer(self, tmp_path: Path, *arguments: str) -> subprocess.Popen[str]:
        opener, argument = self.database_opener(tmp_path)
        return subprocess.Popen(
            [sys.executable, "-c", _WRITER_MAIN, opener, argument, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _wait(self, process: subprocess.Popen[str]) -> str:
        """The writer's output once it has ended; it must have succeeded."""
        try:
            out, err = process.communicate(timeout=self.writer_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"the writer process did not finish in {self.writer_timeout_s} s: {err}")
        assert process.returncode == 0, f"the writer process failed:\n{err}"
        return out

    def test_a_writer_killed_mid_flush_leaves_whole_flushes_and_a_writable_store(
        self, database: ArrowDatabase, tmp_path: Path, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        rows = 3000
        database.add_records(_writer.PATH, _writer.batch_records("before", 0, rows), _writer.ID)
        database.close()
        # The kill lands at several moments of the third flush: before, early, late, after.
        delays = [0.0, 0.005, 0.02, 0.08]
        for attempt, delay in enumerate(delays):
            # More flushes than it can finish before the kill, on the fastest store.
            process = self._writer(tmp_path, "batches", f"w{attempt}", "1000", str(rows))
            assert process.stdout is not None
            for line in process.stdout:
                if line.strip() == "flushing 2":
                    time.sleep(delay)
                    process.send_signal(signal.SIGKILL)
                    break
            else:
                pytest.fail(f"the writer ended before its third flush: {process.communicate()[1]}")
            process.wait(timeout=self.writer_timeout_s)
            assert process.returncode == -signal.SIGKILL, (
                f"the writer ended by itself (exit status {process.returncode}) before it was "
                f"killed: {process.communicate()[1]}"
            )

        again = reopen()
        stored = again.get_all_records(_writer.PATH, record_id_column=_writer.ID)
        assert stored is not None
        ids = stored.column(_writer.ID).to_pylist()
        assert len(ids) == len(set(ids)), "a record id is stored twice after the kills"
        per_flush: dict[tuple[str, str], int] = {}
        for record_id in ids:
            prefix, flush, _ = record_id.split("-")
            per_flush[prefix, flush] = per_flush.get((prefix, flush), 0) + 1
        assert per_flush.pop(("before", "0000")) == rows
        for attempt in range(len(delays)):
            flushes = sorted(int(f) for p, f in per_flush if p == f"w{attempt}")
            # flushes 0 and 1 were done, the kill came during or after flush 2
            assert len(flushes) >= 2, f"writer {attempt} lost finished flushes: {flushes}"
            assert flushes == list(range(len(flushes))), f"writer {attempt} left {flushes}"
        partial = {key: count for key, count in per_flush.items() if count != rows}
        assert not partial, f"flushes stored in part: {partial} (each holds {rows} records)"

        again.add_records(_writer.PATH, _writer.batch_records("after", 0, 10), _writer.ID)
        again.flush()
        found = again.get_records_by_ids(
            _writer.PATH, ["after-0000-00009", "before-0000-00000"], record_id_column=_writer.ID
        )
        assert found is not None
        assert found.num_rows == 2

    def test_two_writers_with_overlapping_ids_at_once_store_each_id_once(
        self, database: ArrowDatabase, tmp_path: Path, reopen: Callable[[], ArrowDatabase]
    ) -> None:
        database.add_records(_writer.PATH, _writer.id_records(0, [0]), _writer.ID)
        database.close()
        # One writer counts up, the other down: both write 1,500..2,999 at about the same time.
        first = self._writer(tmp_path, "ids", "1", "0", "2999", "1", "100")
        second = self._writer(tmp_path, "ids", "2", "4499", "1500", "-1", "100")
        for process in (first, second):  # both have opened the store: let them go at once
            assert process.stdout is not None
            assert process.stdin is not None
            ready = process.stdout.readline().strip()
            assert ready == "ready", f"the writer did not start: {ready} {process.communicate()}"
        for process in (first, second):
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [self._wait(first), self._wait(second)]
        assert all(out.rstrip().endswith("done") for out in outputs), outputs

        again = reopen()
        stored = again.get_all_records(_writer.PATH, record_id_column=_writer.ID)
        assert stored is not None
        ids = stored.column(_writer.ID).to_pylist()
        assert len(ids) == len(set(ids)), "an id added by both writers is stored twice"
        assert set(ids) == {f"id-{n:06d}" for n in range(4500)}
        writers = dict(zip(ids, stored.column("writer").to_pylist(), strict=True))
        assert writers["id-000000"] == 0, "the record stored before the writers was replaced"
        assert {writers["id-000001"], writers["id-004499"]} == {1, 2}
