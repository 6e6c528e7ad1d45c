"""BlobStore passes orcapod's whole database contract, including reopening a flushed store."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from orcapod_plugin_template import BlobStore
from orcapod_plugin_template._plugin import open_blobstore

from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    StoreCorruptedError,
)
from orcapod.protocols.testing.database import PersistentArrowDatabaseContract

if TYPE_CHECKING:
    from pathlib import Path

    from orcapod.protocols.database import ArrowDatabase


class TestBlobStore(PersistentArrowDatabaseContract):
    """Every test of the contract, each on a fresh store in its own directory."""

    __test__ = True

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        return BlobStore(tmp_path / "store.db")

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> ArrowDatabase:
        return BlobStore(tmp_path / "store.db")


def test_two_stores_writing_one_file_store_each_id_once_and_one_schema(tmp_path: Path) -> None:
    """Ids and schemas another store committed meanwhile are checked again at the flush.

    A duplicate added with skip_duplicates is dropped (and never read twice); one
    added without refuses its batch, and a path another store created with another
    schema refuses this store's rows: the flush stores the rest and raises both.
    """
    first, second = BlobStore(tmp_path / "runs.db"), BlobStore(tmp_path / "runs.db")
    first.add_records(("p",), pa.table({"id": ["a", "b"], "v": [1, 2]}), "id")
    second.add_records(("p",), pa.table({"id": ["b", "c"], "v": [20, 30]}), "id")
    second.add_records(("q",), pa.table({"id": ["x"], "w": ["text"]}), "id")
    first.add_records(("q",), pa.table({"id": ["y"], "w": [1.5]}), "id")
    first.add_records(("r",), pa.table({"id": ["z"], "v": [1]}), "id", skip_duplicates=True)
    second.add_records(("r",), pa.table({"id": ["z"], "v": [2]}), "id")
    second.flush()
    assert first.get_all_records(("r",), record_id_column="id").to_pylist() == [  # type: ignore[union-attr]
        {"id": "z", "v": 2}
    ]
    with pytest.raises(DatabaseError) as refused:
        first.flush()
    assert "record id(s) already stored there: 'b'" in str(refused.value)
    assert "path ('q',) do not fit the schema stored there" in str(refused.value)
    with pytest.raises(DuplicateRecordError, match=r"'c'"):
        first.add_records(("p",), pa.table({"id": ["c"], "v": [0]}), "id")
    reader = BlobStore(tmp_path / "runs.db", create=False)
    everything = reader.get_all_records(("p",), record_id_column="id")
    assert everything is not None
    assert sorted(everything.column("id").to_pylist()) == ["b", "c"]
    assert reader.get_all_records(("q",)).to_pylist() == [{"w": "text"}]  # type: ignore[union-attr]
    assert reader.get_all_records(("r",)).to_pylist() == [{"v": 2}]  # type: ignore[union-attr]
    for store in (first, second, reader):
        store.close()


def test_a_store_opened_to_read_refuses_adds_and_never_writes_the_file(tmp_path: Path) -> None:
    writer = BlobStore(tmp_path / "runs.db")
    writer.add_records(("p",), pa.table({"id": ["a"], "v": [1]}), "id")
    writer.close()
    reader = BlobStore(tmp_path / "runs.db", create=False)
    assert reader.get_record_by_id(("p",), "a") is not None
    with pytest.raises(DatabaseError, match=r"opened to read \(create=False\); nothing was added"):
        reader.add_record(("p",), "b", pa.table({"v": [2]}))
    reader.close()

    other = tmp_path / "other.db"
    sqlite3.connect(other).executescript("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
    before = other.read_bytes()
    with pytest.raises(DatabaseError, match="not a blob store"):
        BlobStore(other, create=False)
    assert other.read_bytes() == before


def test_a_damaged_batch_is_reported_naming_the_file_and_the_repair(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "runs.db")
    store.add_records(("p",), pa.table({"id": ["a"], "v": [1]}), "id")
    store.close()
    with sqlite3.connect(tmp_path / "runs.db") as sql:
        sql.execute("UPDATE batches SET rows = X'00010203'")
    reopened = BlobStore(tmp_path / "runs.db", create=False)
    with pytest.raises(StoreCorruptedError, match=r"runs\.db' is damaged.*restore the file"):
        reopened.get_all_records(("p",))
    reopened.close()


def test_the_store_s_uri_opens_it_again_and_its_files_live_beside_it(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "runs.db")
    assert store.uri == f"blobstore://{tmp_path / 'runs.db'}"
    assert store.files_location == f"{tmp_path / 'runs.db'}.files"
    store.close()
    reopened = open_blobstore(store.uri, create=False)
    assert isinstance(reopened, BlobStore)
    assert reopened.file == store.file
    reopened.close()
