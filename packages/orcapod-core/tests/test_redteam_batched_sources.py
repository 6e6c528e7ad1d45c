"""Red-team checks of the batched sources: a repeated record id that is not in the first
batch read is refused with the SourceError ArrowTableSource gives (not an Arrow error)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orcapod.core.errors import SourceError
from orcapod.core.sources import ArrowTableSource, ParquetSource, _parquet
from orcapod.core.sources._source_table import BatchedSourceTableSource

if TYPE_CHECKING:
    from pathlib import Path


def _table() -> pa.Table:
    ids = [f"s{n}" for n in range(10)] + ["s7"]  # repeated past the first batches
    return pa.table({"n": range(11), "id": pa.array(ids, pa.large_string())})


class _Batches:
    """A SourceTable giving its rows in batches of 2."""

    source_id = "t"
    tag_columns = ("n",)
    record_id_column = "id"

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def as_arrow(self) -> pa.Table:
        raise AssertionError("never called")

    def arrow_batches(self, max_rows: int) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(
            self._table.schema, self._table.to_batches(max_chunksize=2)
        )


def test_a_repeated_id_past_the_first_batch_of_a_source_table_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="value 's7' more than once"):
        ArrowTableSource(_table(), "n", record_id_column="id")
    with pytest.raises(SourceError, match="value 's7' more than once"):
        BatchedSourceTableSource(_Batches(_table()))


def test_a_repeated_id_past_the_first_batch_of_a_parquet_file_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_parquet, "CHECK_ROWS", 2)
    path = tmp_path / "t.parquet"
    pq.write_table(_table(), path, row_group_size=2)
    with pytest.raises(SourceError, match="value 's7' more than once"):
        ParquetSource(path, "n", record_id_column="id")
