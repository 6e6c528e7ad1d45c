"""Parquet footers stay small, and the id index never keeps a large one.

A footer holds each row group's smallest and largest value of every column.
Untruncated, a column of large binary values (arrays) puts two whole values
in it: 2 MB per file for 1 MB arrays. The index keeps the footer of every
data file it knows, so such footers made memory grow with the data stored
(20,000 arrays of 1 MB: about 40 KB per packet). The store now writes
statistics truncated to ``STATISTICS_BYTES``, and keeps a footer read from a
file written otherwise only if it is small (``FOOTER_KEPT_BYTES``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import WriterProperties

from orcapod.db.delta import DeltaTableDatabase, _database
from orcapod.db.delta._index import FOOTER_KEPT_BYTES

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

PATH = ("pipeline", "arrays")
VALUE_BYTES = 200_000
"""Each row's binary value: its footer statistics, untruncated, are twice this per group."""


def records(start: int, stop: int) -> pa.Table:
    return pa.table(
        {
            "id": [f"record-{n:06d}" for n in range(start, stop)],
            "n": pa.array(range(start, stop), pa.int64()),
            # distinct values, so a group's smallest and largest differ
            "blob": pa.array([bytes([n % 251]) * VALUE_BYTES for n in range(start, stop)]),
        }
    )


def footer_sizes(root: Path) -> list[int]:
    files = sorted(root.rglob("*.parquet"))
    assert files, "the store wrote no data file"
    return [pq.ParquetFile(file).metadata.serialized_size for file in files]


def test_files_the_store_writes_have_truncated_statistics(tmp_path: Path) -> None:
    with DeltaTableDatabase(tmp_path) as database:
        for start in range(0, 12, 4):
            database.add_records(PATH, records(start, start + 4), "id", flush=True)
    assert max(footer_sizes(tmp_path)) < 4 * _database.STATISTICS_BYTES + 8_192


def test_large_footers_of_files_written_before_are_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written with untruncated statistics (as this package wrote them before) is
    read correctly, and its index keeps none of its large footers."""
    with monkeypatch.context() as before:
        before.setattr(
            _database,
            "_writer_properties",
            lambda rows=None: WriterProperties(max_row_group_size=_database.ROW_GROUP_ROWS),
        )
        with DeltaTableDatabase(tmp_path) as database:
            for start in range(0, 12, 4):
                database.add_records(PATH, records(start, start + 4), "id", flush=True)
    assert min(footer_sizes(tmp_path)) > FOOTER_KEPT_BYTES  # the case this test is about

    database = DeltaTableDatabase(tmp_path)
    found = database.get_records_by_ids(PATH, ["record-000005", "record-000010"])
    assert found is not None
    assert sorted(found.column("n").to_pylist()) == [5, 10]
    assert found.column("blob").to_pylist()[0][:1] in (bytes([5]), bytes([10]))
    index = database._paths[PATH].index
    assert index is not None
    assert len(index.files) == 3
    assert all(data_file.metadata is None for data_file in index.files)
    # rows appended now (small footers) are kept, and found beside the old ones
    database.add_records(PATH, records(12, 14), "id", flush=True)
    found = database.get_records_by_ids(PATH, ["record-000001", "record-000013"])
    assert found is not None
    assert sorted(found.column("n").to_pylist()) == [1, 13]
    assert [data_file.metadata is None for data_file in index.files] == [True] * 3 + [False]
    database.close()
