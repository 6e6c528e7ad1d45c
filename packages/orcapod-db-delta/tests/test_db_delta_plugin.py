"""The entry point of orcapod-db-delta, loaded as orcapod would load it, without orcapod-core."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from orcapod.db.delta import DeltaTableDatabase
from orcapod.protocols.database import ArrowDatabase
from orcapod.protocols.testing import load_distribution_plugins

if TYPE_CHECKING:
    from pathlib import Path


def test_entry_point_registers_the_delta_scheme() -> None:
    provided = load_distribution_plugins("orcapod-db-delta")
    assert {kind: set(names) for kind, names in provided.items()} == {"database": {"delta"}}


def test_opening_a_delta_uri_gives_a_working_delta_table_database(tmp_path: Path) -> None:
    factory = load_distribution_plugins("orcapod-db-delta")["database"]["delta"]
    database = factory(f"delta://{tmp_path}")
    assert isinstance(database, DeltaTableDatabase)
    assert isinstance(database, ArrowDatabase)
    database.close()


def test_plugin_module_does_not_import_deltalake() -> None:
    code = "import sys, orcapod.db.delta._plugin; print('deltalake' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
