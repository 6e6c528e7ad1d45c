"""Records added with ``new_ids=True`` are appended without reading any stored id.

A table holding rows from before (here: from another instance, as another
process would have stored them) gets more rows added as new and committed:
no id index is built for it and no row group is read for a lookup, where a
plain add of the same rows builds the index. Counts, never times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.db.delta import DeltaTableDatabase
from orcapod.protocols.errors import DuplicateRecordError

if TYPE_CHECKING:
    from pathlib import Path

PATH = ("lab", "_logs", "node", "h1")


def _rows(first: int, count: int) -> pa.Table:
    numbers = range(first, first + count)
    return pa.table(
        {
            "id": pa.array([f"run:{n}" for n in numbers], pa.large_string()),
            "value": pa.array(list(numbers), pa.int64()),
        }
    )


def _stored_before(tmp_path: Path) -> DeltaTableDatabase:
    """A store whose PATH holds 3 commits of rows, opened again."""
    first = DeltaTableDatabase(tmp_path / "store")
    for start in (0, 100, 200):
        first.add_records(PATH, _rows(start, 100), "id", flush=True)
    first.close()
    return DeltaTableDatabase(tmp_path / "store")


def test_rows_added_as_new_are_committed_without_an_id_index_or_a_lookup_read(
    tmp_path: Path,
) -> None:
    database = _stored_before(tmp_path)
    for start in (300, 400):
        database.add_records(PATH, _rows(start, 100), "id", new_ids=True)
        database.flush()
    assert database._paths[PATH].index is None
    assert (database._lookup_reads.row_groups, database._lookup_reads.rows) == (0, 0)
    stored = database.get_all_records(PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("value").to_pylist()) == list(range(500))
    database.close()


def test_a_plain_add_of_the_same_rows_builds_the_index(tmp_path: Path) -> None:
    database = _stored_before(tmp_path)
    database.add_records(PATH, _rows(300, 100), "id")
    database.flush()
    assert database._paths[PATH].index is not None, "the check above would catch a lookup"
    database.close()


def test_a_commit_checks_only_the_rows_not_added_as_new(tmp_path: Path) -> None:
    database = _stored_before(tmp_path)
    database.add_records(PATH, _rows(300, 50), "id", new_ids=True)
    database.add_records(PATH, _rows(350, 50), "id")  # plain: its ids are looked for
    other = DeltaTableDatabase(tmp_path / "store")  # another writer stores one of them
    other.add_records(PATH, _rows(399, 1), "id", flush=True)
    other.close()
    database.flush()  # the stored record of run:399 wins; run:300.. are not looked for
    stored = database.get_all_records(PATH, record_id_column="id")
    assert stored is not None
    ids = stored.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 400
    with pytest.raises(DuplicateRecordError):
        database.add_records(PATH, _rows(320, 1), "id")  # plain adds still find them
    database.close()
