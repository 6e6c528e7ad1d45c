"""A Delta store damaged on disk: every read and flush says so with a StoreCorruptedError.

The damage is real: data files deleted, truncated or overwritten, log entries
garbled. The error names the table directory (and the file) and says how to
repair it; pending records of a failed flush are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.delta._schema import ID_COLUMN
from orcapod.protocols.errors import DatabaseError, StoreCorruptedError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_PATH = ("pipeline", "node")


def _records(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": ids,
            "value": pa.array(range(len(ids)), pa.int64()),
            "labels": pa.array([{"k": i} for i in ids], pa.map_(pa.string(), pa.string())),
        }
    )


def _stored_table(tmp_path: Path) -> Path:
    """A store with two commits at ``_PATH``; the directory of that path's table."""
    with DeltaTableDatabase(tmp_path / "store") as database:
        database.add_records(_PATH, _records(["a", "b"]), "id", flush=True)
        database.add_records(_PATH, _records(["c"]), "id", flush=True)
    return tmp_path / "store" / "pipeline" / "node" / "@delta"


def _delete_a_data_file(table: Path) -> None:
    sorted(table.glob("*.parquet"))[0].unlink()


def _truncate_a_data_file(table: Path) -> None:
    file = sorted(table.glob("*.parquet"))[0]
    file.write_bytes(file.read_bytes()[:40])


def _overwrite_a_data_file(table: Path) -> None:
    file = sorted(table.glob("*.parquet"))[0]
    file.write_bytes(b"\x00garbage" * 64)


def _garble_the_first_log_entry(table: Path) -> None:
    sorted((table / "_delta_log").glob("*.json"))[0].write_text('{"add": {not json')


def _garble_the_last_log_entry(table: Path) -> None:
    sorted((table / "_delta_log").glob("*.json"))[-1].write_text("\x00\x01 not json at all")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "data-file-deleted": _delete_a_data_file,
    "data-file-truncated": _truncate_a_data_file,
    "data-file-overwritten": _overwrite_a_data_file,
    "first-log-entry-garbled": _garble_the_first_log_entry,
    "last-log-entry-garbled": _garble_the_last_log_entry,
}

READS: dict[str, Callable[[DeltaTableDatabase], object]] = {
    "get_all_records": lambda db: db.get_all_records(_PATH),
    "get_record_by_id": lambda db: db.get_record_by_id(_PATH, "a"),
    "get_records_by_ids": lambda db: db.get_records_by_ids(_PATH, ["a", "c"]),
    "get_records_with_column_value": lambda db: db.get_records_with_column_value(
        _PATH, {"value": 0}
    ),
    "add_records": lambda db: db.add_records(_PATH, _records(["new"]), "id"),
}


def _assert_names_table_and_repair(error: StoreCorruptedError, table: Path) -> None:
    message = str(error)
    assert str(table) in message, f"the error should name the table directory: {message}"
    assert "restore" in message, f"the error should say how to repair: {message}"
    assert "<unknown>" not in message, f"deltalake's backtrace leaked: {message}"
    assert len(message) < 1000, f"the message is {len(message)} characters long"


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("use", list(READS))
def test_every_use_of_a_damaged_table_is_a_store_corrupted_error_naming_it(
    tmp_path: Path, damage: str, use: str
) -> None:
    table = _stored_table(tmp_path)
    DAMAGE[damage](table)
    database = DeltaTableDatabase(tmp_path / "store")
    with pytest.raises(StoreCorruptedError) as caught:
        READS[use](database)
    _assert_names_table_and_repair(caught.value, table)
    assert isinstance(caught.value, DatabaseError)


@pytest.mark.parametrize(
    "damage", ["data-file-deleted", "data-file-truncated", "data-file-overwritten"]
)
def test_a_damaged_data_file_is_named_once_however_deep_the_store(
    tmp_path: Path, damage: str
) -> None:
    """Arrow's own message names the file by its full path (pyarrow < 25: twice); ours does not."""
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 8)
    table = _stored_table(deep)
    file = sorted(table.glob("*.parquet"))[0]
    DAMAGE[damage](table)
    with pytest.raises(StoreCorruptedError) as caught:
        DeltaTableDatabase(deep / "store").get_all_records(_PATH)
    message = str(caught.value)
    assert str(file) not in message, message
    assert file.name in message
    # the table directory itself is named (twice: where, and in the repair), nothing longer
    assert len(message.replace(str(table), "")) < 700, message
    assert "restore" in message


def test_a_deleted_data_file_is_named_with_deltalakes_repair(tmp_path: Path) -> None:
    table = _stored_table(tmp_path)
    deleted = sorted(table.glob("*.parquet"))[0]
    deleted.unlink()
    with pytest.raises(StoreCorruptedError) as caught:
        DeltaTableDatabase(tmp_path / "store").get_all_records(_PATH)
    message = str(caught.value)
    assert deleted.name in message
    assert "is missing" in message
    assert ".repair()" in message


def test_the_repair_the_message_names_makes_the_table_readable_again(tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    table = _stored_table(tmp_path)
    deleted = sorted(table.glob("*.parquet"))[0]
    lost = set(pq.read_table(deleted).column(ID_COLUMN).to_pylist())
    deleted.unlink()
    DeltaTable(str(table)).repair()
    again = DeltaTableDatabase(tmp_path / "store")
    stored = again.get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    kept = set(stored.column("id").to_pylist())
    assert kept == {"a", "b", "c"} - lost, "the rows of the deleted file are gone, the rest read"


def test_a_flush_that_meets_a_garbled_log_keeps_its_records_pending(tmp_path: Path) -> None:
    table = _stored_table(tmp_path)
    database = DeltaTableDatabase(tmp_path / "store")
    database.add_records(_PATH, _records(["d", "e"]), "id")
    # another writer's commit, garbled: the next version of the log
    versions = sorted((table / "_delta_log").glob("*.json"))
    garbled = table / "_delta_log" / f"{len(versions):020d}.json"
    garbled.write_text("{garbled")
    with pytest.raises(StoreCorruptedError) as caught:
        database.flush()
    _assert_names_table_and_repair(caught.value, table)
    with pytest.raises(StoreCorruptedError):
        database.close()  # closing flushes, fails the same way, and keeps the database open

    garbled.unlink()  # the repair: the broken entry removed
    database.flush()
    database.close()
    stored = DeltaTableDatabase(tmp_path / "store").get_all_records(_PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("id").to_pylist()) == ["a", "b", "c", "d", "e"]
