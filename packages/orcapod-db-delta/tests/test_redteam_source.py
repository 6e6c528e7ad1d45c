"""Red-team check of DeltaTableSource read in batches: a record id repeated in a later
file is the SourceError the as_arrow path gives, not an Arrow error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from orcapod.core.errors import SourceError
from orcapod.core.sources._source_table import BatchedSourceTableSource, SourceTableSource
from orcapod.db.delta import DeltaTableSource

if TYPE_CHECKING:
    from pathlib import Path


def test_a_record_id_repeated_in_a_later_file_is_refused_as_by_as_arrow(tmp_path: Path) -> None:
    path = tmp_path / "t"
    for n in range(5):
        rows = {"k": [2 * n, 2 * n + 1], "v": [f"s{n}", f"t{n}"]}
        write_deltalake(path, pa.table(rows), mode="append")
    write_deltalake(path, pa.table({"k": [100], "v": ["s1"]}), mode="append")
    with pytest.raises(SourceError, match="value 's1' more than once"):
        SourceTableSource(DeltaTableSource(path, "k", record_id_column="v"))
    with pytest.raises(SourceError, match="value 's1' more than once"):
        BatchedSourceTableSource(DeltaTableSource(path, "k", record_id_column="v"))
