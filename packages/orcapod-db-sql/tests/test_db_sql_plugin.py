"""The entry point of orcapod-db-sql, loaded as orcapod would load it, without orcapod-core."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from orcapod.protocols.database import ArrowDatabase
from orcapod.protocols.errors import NotAvailableError
from orcapod.protocols.testing import load_distribution_plugins

if TYPE_CHECKING:
    from pathlib import Path


def test_entry_point_registers_the_sqlite_and_postgresql_schemes() -> None:
    provided = load_distribution_plugins("orcapod-db-sql")
    assert {kind: set(names) for kind, names in provided.items()} == {
        "database": {"sqlite", "postgresql", "postgresql+psycopg"}
    }


def test_the_sqlite_scheme_opens_a_working_sql_database(tmp_path: Path) -> None:
    from orcapod.db.sql import SQLDatabase

    factory = load_distribution_plugins("orcapod-db-sql")["database"]["sqlite"]
    database = factory(f"sqlite:///{tmp_path / 'results.db'}")
    assert isinstance(database, SQLDatabase)
    assert isinstance(database, ArrowDatabase)
    database.add_record(("node",), "r1", pa.table({"x": [1]}), flush=True)
    assert database.list_paths() == [("node",)]
    database.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg"])
def test_without_psycopg_a_postgresql_uri_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    factory = load_distribution_plugins("orcapod-db-sql")["database"][scheme]
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    with pytest.raises(NotAvailableError, match=r"pip install 'orcapod-db-sql\[postgres\]'"):
        factory(f"{scheme}://postgres@127.0.0.1/postgres")


def test_the_package_exports_what_it_means_to() -> None:
    import orcapod.db.sql

    assert orcapod.db.sql.__all__ == ["SQLDatabase", "open_sql_database"]
    for name in orcapod.db.sql.__all__:
        assert getattr(orcapod.db.sql, name).__name__ == name


@pytest.mark.parametrize("module", ["orcapod.db.sql._plugin", "orcapod.db.sql"])
def test_importing_the_plugin_or_the_package_does_not_import_sqlalchemy(module: str) -> None:
    code = f"import sys, {module}; print('sqlalchemy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
