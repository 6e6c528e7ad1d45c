"""The store toolkit: a store that implements only its engine passes the whole database kit.

``DictStore`` below is the smallest engine there is (a dict of tables per
path, pending until a flush); everything else comes from BaseArrowDatabase.
The tests after the kit pin what the base class promises engines.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.protocols.errors import DatabaseError, DuplicateRecordError, RecordSchemaError
from orcapod.protocols.store import BaseArrowDatabase
from orcapod.protocols.testing.database import ArrowDatabaseContract

if TYPE_CHECKING:
    from collections.abc import Iterable, Set
    from pathlib import Path

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.store import NewRecords
    from orcapod.protocols.values import RecordPath


class DictStore(BaseArrowDatabase):
    """Each path's tables (ids first) in a list; the newest ``pending`` of them unflushed."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[RecordPath, list[pa.Table]] = {}
        self.pending: dict[RecordPath, int] = {}
        self.kept: list[NewRecords] = []
        self.flushes: list[set[RecordPath] | None] = []

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        assert self._lock._is_owned()  # type: ignore[attr-defined]
        tables = self.tables.get(path)
        return None if tables is None else tables[0].schema.remove(0)

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        return {i for table in self.tables[path] for i in table.column(0).to_pylist()} & ids

    def _keep(self, records: NewRecords) -> None:
        self.kept.append(records)
        self.tables.setdefault(records.path, []).append(records.rows())
        self.pending[records.path] = self.pending.get(records.path, 0) + 1

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        rows = pa.concat_tables(self.tables[path])
        return rows.filter(pa.compute.is_in(rows.column(0), pa.array(ids, pa.large_string())))

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        return pa.concat_tables(self.tables[path])

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        return self.tables

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        self.flushes.append(None if paths is None else set(paths))
        for path in list(self.pending):
            if paths is None or path in paths:
                del self.pending[path]


class TestDictStoreConformance(ArrowDatabaseContract):
    """The whole database contract, met by an engine of sixty lines and the toolkit."""

    __test__ = True
    property_examples = 25

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        return DictStore()


PATH = ("runs", "node")


def table(ids: list[str], values: list[int]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.string()), "value": pa.array(values, pa.int64())})


def test_the_engine_is_given_distinct_new_rows_with_ids_as_large_strings() -> None:
    """Duplicates are settled before the engine sees a batch, and ids arrive as large_string."""
    store = DictStore()
    store.add_records(PATH, table(["a", "b"], [1, 2]), "id")
    store.add_records(PATH, table(["b", "c", "c"], [3, 4, 5]), "id", skip_duplicates=True)
    first, second = store.kept
    assert first.new_path
    assert not second.new_path
    assert second.ids == ["c"]
    assert second.id_array.to_pylist() == ["c"]
    assert second.id_array.type == pa.large_string()
    assert second.skip_duplicates
    assert second.data.to_pylist() == [{"value": 4}]


def test_a_batch_with_every_row_a_duplicate_reaches_no_engine() -> None:
    """Skipping every row of a batch keeps nothing, so no path is created from it."""
    store = DictStore()
    store.add_records(PATH, table(["a"], [1]), "id")
    store.add_records(PATH, table(["a", "a"], [2, 3]), "id", skip_duplicates=True)
    assert len(store.kept) == 1


def test_a_refused_batch_names_stored_and_repeated_ids_and_keeps_nothing() -> None:
    """The duplicate error lists both kinds, previews long lists, and nothing is kept."""
    store = DictStore()
    store.add_records(PATH, table([f"s{i}" for i in range(8)], list(range(8))), "id")
    batch = table([*(f"s{i}" for i in range(7)), "new", "new"], list(range(9)))
    with pytest.raises(DuplicateRecordError) as refused:
        store.add_records(PATH, batch, "id")
    message = str(refused.value)
    assert "already stored there: 's0', 's1', 's2', 's3', 's4' and 2 more" in message
    assert "repeated within the batch: 'new'" in message
    assert "skip_duplicates=True" in message
    assert len(store.kept) == 1


def test_flush_on_add_flushes_only_that_path() -> None:
    """``flush=True`` asks the engine to flush the path just written, not every path."""
    store = DictStore()
    store.add_records(("other",), table(["x"], [0]), "id")
    store.add_records(PATH, table(["a"], [1]), "id", flush=True)
    assert store.flushes == [{PATH}]
    assert store.pending == {("other",): 1}
    store.flush(paths=[["other"]])  # type: ignore[list-item]  # validated, made a tuple
    assert store.flushes[-1] == {("other",)}


def test_an_engine_check_of_a_new_schema_refuses_before_anything_is_kept() -> None:
    """``_check_new_schema`` runs on a path's first records; its refusal stores nothing."""

    class NoFloats(DictStore):
        def _check_new_schema(self, path: RecordPath, schema: pa.Schema) -> None:
            if any(pa.types.is_floating(field.type) for field in schema):
                raise RecordSchemaError(f"path {path!r}: floats cannot be stored here")

    store = NoFloats()
    with pytest.raises(RecordSchemaError, match="floats cannot be stored"):
        store.add_record(PATH, "a", pa.table({"x": [1.5]}))
    assert store.kept == []
    assert store.list_paths() == []


def test_a_close_that_fails_leaves_the_store_open_and_usable() -> None:
    """If the engine's final flush fails, close raises and nothing pending is lost."""

    class FailingFlush(DictStore):
        fail = True

        def _flush(self, paths: Set[RecordPath] | None) -> None:
            if self.fail:
                raise DatabaseError("disk full")
            super()._flush(paths)

    store = FailingFlush()
    store.add_record(PATH, "a", pa.table({"x": [1]}))
    with pytest.raises(DatabaseError, match="disk full"):
        store.close()
    assert store.get_record_by_id(PATH, "a") is not None
    store.fail = False
    store.close()
    with pytest.raises(DatabaseError, match="is closed"):
        store.list_paths()
    store.close()  # closing twice is harmless


def test_a_store_that_leaves_out_an_engine_method_says_which() -> None:
    """A half-written engine fails with NotImplementedError at the missing method."""

    class NoReads(BaseArrowDatabase):
        def _path_schema(self, path: RecordPath) -> pa.Schema | None:
            return None

    with pytest.raises(NotImplementedError):
        NoReads().list_paths()


def test_one_store_serves_threads_writing_the_same_path() -> None:
    """The base class's lock makes concurrent adds of distinct ids all land, once each."""
    store = DictStore()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(50):
                store.add_record(PATH, f"{worker}-{n}", pa.table({"x": [n]}))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    everything = store.get_all_records(PATH, record_id_column="id")
    assert everything is not None
    assert everything.num_rows == 200
    assert len(set(everything.column("id").to_pylist())) == 200


def test_an_id_utf8_cannot_encode_is_refused_before_anything_is_kept() -> None:
    """A lone surrogate cannot be stored as text: refused at the add, naming the id and fix.

    Before, such an id was accepted into memory and broke every later read of its path.
    """
    store = DictStore()
    with pytest.raises(ValueError, match=r"record_id 'bad\\ud800' is not valid text.*surrogate"):
        store.add_record(PATH, "bad\ud800", pa.table({"x": [1]}))
    assert store.kept == []
    store.add_record(PATH, "good é", pa.table({"x": [1]}))
    with pytest.raises(ValueError, match="each of record_ids"):
        store.get_records_by_ids(PATH, ["good é", "bad\ud800"])
    with pytest.raises(ValueError, match="not valid text"):
        store.get_record_by_id(PATH, "bad\ud800")


@pytest.mark.parametrize(
    ("record_ids", "message"),
    [
        (None, r"collection of str ids, got NoneType"),
        ([1], r"each of record_ids must be a str, got int 1"),
        ([b"r1"], r"each of record_ids must be a str, got bytes"),
        ([["r1"]], r"collection of str ids, got list .*unhashable"),
    ],
)
def test_record_ids_that_are_not_str_ids_are_refused_naming_them(
    record_ids: object, message: str
) -> None:
    """Every store answers such ids alike (before, each store did something else)."""
    store = DictStore()
    store.add_record(PATH, "r1", pa.table({"x": [1]}))
    with pytest.raises(TypeError, match=message):
        store.get_records_by_ids(PATH, record_ids)  # type: ignore[arg-type]


def test_column_values_that_are_not_a_mapping_are_refused_naming_the_fix() -> None:
    store = DictStore()
    store.add_record(PATH, "r1", pa.table({"x": [1]}))
    with pytest.raises(TypeError, match=r"column_values must be a mapping.*got list"):
        store.get_records_with_column_value(PATH, [("x", 1)])  # type: ignore[arg-type]
