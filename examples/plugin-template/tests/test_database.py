"""BlobStore passes orcapod's whole database contract, including reopening a flushed store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod_plugin_template import BlobStore

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
