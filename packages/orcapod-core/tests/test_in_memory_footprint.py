"""InMemoryArrowDatabase's id index: a compact key per id, never confused by shared keys.

The index maps a key of each id (its 64-bit hash) to its row, and checks the
id stored in that row. Here keys are cut to 2 bits, so that ids share keys all
the time: every read and duplicate check must still be exact. The footprint
test measures the Python heap the index takes per stored row (tracemalloc;
Arrow's buffers are not Python objects, so they are not counted).
"""

from __future__ import annotations

import gc
import tracemalloc

import pyarrow as pa
import pytest

from orcapod.core.databases import InMemoryArrowDatabase, _in_memory
from orcapod.protocols.database import add_new_records
from orcapod.protocols.errors import DuplicateRecordError

PATH = ("p",)


def records(ids: list[str]) -> pa.Table:
    return pa.table({"id": ids, "n": [int(i[1:]) for i in ids]})


@pytest.fixture
def shared_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_in_memory, "_key", lambda record_id: hash(record_id) & 0b11)


@pytest.mark.usefixtures("shared_keys")
def test_ids_sharing_keys_are_stored_found_and_refused_exactly() -> None:
    database = InMemoryArrowDatabase()
    database.add_records(PATH, records([f"r{n}" for n in range(0, 40)]), "id")
    for n in range(40, 60):
        database.add_record(PATH, f"r{n}", records([f"r{n}"]).drop_columns(["id"]))
    assert database._paths[PATH].collided, "keys of 2 bits: ids must have collided"
    for n in range(60):
        record = database.get_record_by_id(PATH, f"r{n}")
        assert record is not None
        assert record.column("n").to_pylist() == [n]
    assert database.get_record_by_id(PATH, "r60") is None
    asked = [f"r{n}" for n in range(0, 80, 3)]
    found = database.get_records_by_ids(PATH, asked, record_id_column="id")
    assert found is not None
    assert sorted(found.column("n").to_pylist()) == list(range(0, 60, 3))
    pairs = zip(found["n"].to_pylist(), found["id"].to_pylist(), strict=True)
    assert all(f"r{n}" == i for n, i in pairs)
    with pytest.raises(DuplicateRecordError, match="r7"):
        database.add_records(PATH, records(["r7", "r100"]), "id")
    database.add_records(PATH, records(["r7", "r100", "r101"]), "id", skip_duplicates=True)
    everything = database.get_all_records(PATH, record_id_column="id")
    assert everything is not None
    assert sorted(everything.column("n").to_pylist()) == [*range(60), 100, 101]
    few = database.get_records_by_ids(PATH, ["r101", "r3", "nope"], record_id_column="id")
    assert few is not None
    assert sorted(few.column("id").to_pylist()) == ["r101", "r3"]


@pytest.mark.usefixtures("shared_keys")
def test_ids_sharing_a_key_within_one_batch_are_each_indexed() -> None:
    database = InMemoryArrowDatabase()
    database.add_records(PATH, records([f"r{n}" for n in range(10)]), "id")  # 4 keys, 10 ids
    database.get_all_records(PATH)  # into a segment: ids read from Arrow from now on
    for n in range(10):
        assert database.get_record_by_id(PATH, f"r{n}").column("n").to_pylist() == [n]  # type: ignore[union-attr]
    many = database.get_records_by_ids(PATH, [f"r{n}" for n in range(20)])
    assert many is not None
    assert sorted(many.column("n").to_pylist()) == list(range(10))


@pytest.mark.usefixtures("shared_keys")
def test_many_ids_sharing_keys_are_told_stored_or_new_exactly() -> None:
    """The vectorised check of many ids (more than FEW_ROWS) against the rows their keys
    lead to: an id whose key another stored id holds is new, not a duplicate."""
    database = InMemoryArrowDatabase()
    database.add_records(PATH, records([f"r{n}" for n in range(0, 80, 2)]), "id")
    database.add_records(PATH, records([f"r{n}" for n in range(0, 80, 2)]), "id",
                         skip_duplicates=True)  # fmt: skip
    assert database.get_all_records(PATH).num_rows == 40  # type: ignore[union-attr]
    with pytest.raises(DuplicateRecordError, match=r"stored there: .r42., .*and 14 more"):
        database.add_records(PATH, records([f"r{n}" for n in range(41, 80)]), "id")
    database.add_records(PATH, records([f"r{n}" for n in range(40, 80)]), "id",
                         skip_duplicates=True)  # fmt: skip
    everything = database.get_all_records(PATH, record_id_column="id")
    assert everything is not None
    assert sorted(everything.column("n").to_pylist()) == [*range(0, 40, 2), *range(40, 80)]
    pairs = zip(everything["n"].to_pylist(), everything["id"].to_pylist(), strict=True)
    assert all(f"r{n}" == i for n, i in pairs)


def test_the_index_holds_no_python_string_per_id() -> None:
    """About 100-120 bytes of Python heap per stored row (a dict entry, a key and a row
    number), not the ids' text as Python strings (113 bytes more for a 64-character id)."""
    rows = 100_000
    ids = [f"{n:064x}" for n in range(rows)]
    batches = [records_of(ids[start : start + 10_000]) for start in range(0, rows, 10_000)]
    del ids
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    database = InMemoryArrowDatabase()
    for batch in batches:
        database.add_records(PATH, batch, "id")
    database.get_records_by_ids(PATH, [f"{n:064x}" for n in range(0, rows, 997)])  # compacts
    del batches
    gc.collect()
    per_row = (tracemalloc.get_traced_memory()[0] - before) / rows
    tracemalloc.stop()
    assert per_row < 130, f"{per_row:.0f} bytes of Python heap per stored row"
    assert database.get_record_by_id(PATH, f"{rows - 1:064x}") is not None


def records_of(ids: list[str]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.large_string()), "n": range(len(ids))})


def test_a_path_only_appended_to_keeps_no_index_until_looked_up() -> None:
    """Rows added as new by construction (an observer's log rows) and never looked up by
    id cost no index; the first lookup by id indexes every row, wherever it lies."""
    database = InMemoryArrowDatabase()
    for start in range(0, 3_000, 100):
        add_new_records(database, PATH, records_of_numbers(start, start + 100), "id")
    stored = database._paths[PATH]
    assert not stored.row_of, "rows never looked up by id must not be indexed"
    everything = database.get_all_records(PATH)  # compacted into segments
    assert everything is not None
    assert everything.num_rows == 3_000
    add_new_records(database, PATH, records_of_numbers(3_000, 3_050), "id")  # one recent batch
    assert not stored.row_of
    found = database.get_records_by_ids(PATH, [f"r{n}" for n in range(0, 3_100, 7)])
    assert found is not None
    assert sorted(found.column("n").to_pylist()) == list(range(0, 3_050, 7))
    assert len(stored.row_of) == 3_050
    add_new_records(database, PATH, records_of_numbers(3_050, 3_060), "id")
    assert database.get_record_by_id(PATH, "r3055") is not None  # indexed as added now


@pytest.mark.usefixtures("shared_keys")
def test_an_index_built_late_tells_ids_sharing_keys_apart() -> None:
    database = InMemoryArrowDatabase()
    add_new_records(database, PATH, records_of_numbers(0, 40), "id")
    database.get_all_records(PATH)
    add_new_records(database, PATH, records_of_numbers(40, 50), "id")
    for n in range(50):
        assert database.get_record_by_id(PATH, f"r{n}").column("n").to_pylist() == [n]  # type: ignore[union-attr]
    assert database._paths[PATH].collided, "keys of 2 bits: ids must have collided"
    with pytest.raises(DuplicateRecordError, match="r45"):
        database.add_records(PATH, records(["r45", "r99"]), "id")


def records_of_numbers(start: int, stop: int) -> pa.Table:
    return records([f"r{n}" for n in range(start, stop)])


def test_a_re_run_s_ids_in_stored_order_are_known_and_a_new_one_among_them_is_not() -> None:
    """Ids added again in the order they were stored are found all stored with one
    comparison of the range between the first and the last; a new id in the middle
    of such a range (its ends stored, its length right) is still told apart."""
    database = InMemoryArrowDatabase()
    for start in range(0, 70_000, 10_000):  # segments of 65,536 rows: ranges cross one
        database.add_records(PATH, records_of_numbers(start, start + 10_000), "id")
    for start in (0, 60_000):
        database.add_records(PATH, records_of_numbers(start, start + 8_000), "id",
                             skip_duplicates=True)  # fmt: skip
    assert database.get_all_records(PATH).num_rows == 70_000  # type: ignore[union-attr]
    ids = [f"r{n}" for n in range(60_000, 68_000)]
    ids[4_000] = "new"
    again = pa.table({"id": ids, "n": range(8_000)})
    database.add_records(PATH, again, "id", skip_duplicates=True)
    everything = database.get_all_records(PATH, record_id_column="id")
    assert everything is not None
    assert everything.num_rows == 70_001
    with pytest.raises(DuplicateRecordError, match="r60000"):
        database.add_records(PATH, records_of_numbers(60_000, 60_100), "id")
