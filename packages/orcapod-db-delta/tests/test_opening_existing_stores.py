"""``create=False``: a Delta store opened to read must exist, and opening one creates nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.delta._plugin import open_delta_database
from orcapod.protocols.database import creating_no_stores
from orcapod.protocols.errors import StoreNotFoundError

if TYPE_CHECKING:
    from pathlib import Path


def test_a_missing_delta_root_opened_to_read_is_an_error_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreNotFoundError) as caught:
        open_delta_database("delta://does/not/exist", create=False)
    message = str(caught.value)
    assert str(tmp_path / "does" / "not" / "exist") in message
    assert "does not exist" in message
    assert "nothing was created" in message
    assert list(tmp_path.iterdir()) == [], "opening to read created a directory"


def test_a_delta_root_that_is_a_file_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a store")
    with pytest.raises(StoreNotFoundError, match="is not a directory"):
        DeltaTableDatabase(tmp_path / "file", create=False)
    assert (tmp_path / "file").read_text() == "not a store"


@pytest.mark.parametrize("opened", ["create=False", "within creating_no_stores"])
def test_an_existing_delta_store_opens_to_read_with_its_records(
    tmp_path: Path, opened: str
) -> None:
    """Opened to read by URI, or constructed while a command creates no store."""
    with DeltaTableDatabase(tmp_path / "store") as database:
        database.add_records(("a",), pa.table({"id": ["r1"], "value": [1]}), "id")
    if opened == "create=False":
        again = open_delta_database(f"delta://{tmp_path / 'store'}", create=False)
    else:
        with creating_no_stores():
            again = DeltaTableDatabase(tmp_path / "store")
    try:
        assert "kept in memory" not in repr(again)
        stored = again.get_record_by_id(("a",), "r1")
    finally:
        again.close()
    assert stored is not None
    assert stored.to_pylist() == [{"value": 1}]


def test_creating_is_still_the_default(tmp_path: Path) -> None:
    open_delta_database(f"delta://{tmp_path / 'new' / 'root'}").close()
    assert (tmp_path / "new" / "root").is_dir()


# -- creating_no_stores(): a command that only reads (orcapod graph) --------------------------


def test_a_store_constructed_while_creating_no_stores_creates_no_root_and_keeps_rows_in_memory(
    tmp_path: Path,
) -> None:
    """``DeltaTableDatabase(path)`` in a pipeline file drawn by ``orcapod graph``: the root
    is not made, the store reads as empty, and what it is given stays pending, readable."""
    with creating_no_stores():
        database = DeltaTableDatabase(tmp_path / "store")
    assert "not created: kept in memory" in repr(database)
    assert database.list_paths() == []
    database.add_records(("a",), pa.table({"id": ["r1", "r2"], "value": [1, 2]}), "id")
    database.flush()
    assert database.compact() == []
    stored = database.get_record_by_id(("a",), "r2")
    assert stored is not None
    assert stored.to_pylist() == [{"value": 2}]
    assert database.list_paths() == [("a",)]
    database.close()
    assert list(tmp_path.iterdir()) == [], "a store was created while creating no stores"


def test_create_false_still_needs_the_store_while_creating_no_stores(tmp_path: Path) -> None:
    with creating_no_stores(), pytest.raises(StoreNotFoundError, match="does not exist"):
        DeltaTableDatabase(tmp_path / "store", create=False)
    DeltaTableDatabase(tmp_path / "after").close()  # outside the block: created as before
    assert [path.name for path in tmp_path.iterdir()] == ["after"]
