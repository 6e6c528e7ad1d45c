"""`orcapod compact URI`, through the real command: Delta (compacted), SQLite (nothing to do)."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.sql import SQLDatabase

if TYPE_CHECKING:
    from pathlib import Path


def orcapod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orcapod.core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"NO_COLOR": "1", "PATH": ""},
    )


def test_compact_rewrites_a_delta_store_and_says_what_it_did(tmp_path: Path) -> None:
    database = DeltaTableDatabase(tmp_path / "store")
    for n in range(12):
        database.add_records(("p", "t"), pa.table({"id": [f"r{n}"], "x": [n]}), "id", flush=True)
    database.close()

    done = orcapod("compact", f"delta://{tmp_path / 'store'}", "--retention-hours", "0")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["path", "files", "before", "files", "after", "files", "deleted"]
    assert lines[1].split() == ["p/t", "12", "1", "12"]
    assert lines[-1] == (
        "compacted 1 table(s); deleted 12 file(s) that no version of the last 0 hour(s) uses"
    )
    again = DeltaTableDatabase(tmp_path / "store", create=False)
    assert again.get_all_records(("p", "t")).num_rows == 12  # type: ignore[union-attr]
    again.close()


def test_a_store_without_compaction_says_it_has_nothing_to_do(tmp_path: Path) -> None:
    SQLDatabase(f"sqlite:///{tmp_path / 's.db'}").close()
    done = orcapod("compact", f"sqlite:///{tmp_path / 's.db'}")
    assert done.returncode == 0, done.stderr
    assert "this kind of store has nothing to compact" in done.stdout


def test_a_missing_store_or_a_bad_retention_is_one_error_line(tmp_path: Path) -> None:
    missing = orcapod("compact", f"delta://{tmp_path / 'nowhere'}")
    assert missing.returncode == 1
    assert missing.stderr.startswith("orcapod compact: error: cannot open")
    assert len(missing.stderr.splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()
    bad = orcapod("compact", f"delta://{tmp_path}", "--retention-hours", "1.5")
    assert bad.returncode == 2
    assert "'1.5' is not a whole number of hours (0 or more)" in bad.stderr
