"""A compaction's target size on disk is scaled so that a bin holds about the wanted bytes
of rows in memory: rows whose values encode well (constant arrays) get a far smaller
target on disk than rows that do not, so rewriting a bin never holds many GB."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from orcapod.db.delta._database import _compaction_target

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

IN_MEMORY = 32 * 1024 * 1024
VALUES = 128 * 1024  # 1 MB of float64 per row


def table_of(rows: list[np.ndarray]) -> pa.Table:
    return pa.table({"trace": pa.array(rows, pa.large_list(pa.float64()))})


def test_rows_that_encode_well_get_a_small_target_on_disk(tmp_path: Path) -> None:
    for start in range(0, 40, 8):  # several small files, as flushes make them
        rows = [np.full(VALUES, float(n)) for n in range(start, start + 8)]
        write_deltalake(str(tmp_path), table_of(rows), mode="append")
    target = _compaction_target(DeltaTable(str(tmp_path)), IN_MEMORY)
    # 1 MB in memory per row, a few KB on disk: a bin of 32 MB in memory is tiny on disk
    assert target < IN_MEMORY / 50


def test_rows_that_do_not_encode_keep_about_the_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):
        rows = [rng.random(VALUES // 16) for _ in range(8)]
        write_deltalake(str(tmp_path), table_of(rows), mode="append")
    target = _compaction_target(DeltaTable(str(tmp_path)), IN_MEMORY)
    assert IN_MEMORY / 2 < target <= IN_MEMORY


def test_the_sample_is_read_from_the_smallest_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compacted file can be large; the few rows measured come from the smallest."""
    write_deltalake(str(tmp_path), table_of([np.full(VALUES, 1.0)] * 64), mode="append")
    write_deltalake(str(tmp_path), table_of([np.full(VALUES, 2.0)]), mode="append")
    table = DeltaTable(str(tmp_path))
    opened: list[str] = []
    original = pq.ParquetFile.__init__

    def recording(self: pq.ParquetFile, source: object, *args: object, **kwargs: object) -> None:
        opened.append(str(source).rsplit("/", 1)[-1])
        original(self, source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "__init__", recording)
    _compaction_target(table, IN_MEMORY)
    names = [uri.rsplit("/", 1)[-1] for uri in table.file_uris()]
    smallest = min(names, key=lambda name: (tmp_path / name).stat().st_size)
    assert opened == [smallest]
