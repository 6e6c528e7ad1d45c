"""The entry point of orcapod-db-sql, loaded as orcapod would load it, without orcapod-core."""

from __future__ import annotations

import pytest

from orcapod.protocols.errors import NotAvailableError
from orcapod.protocols.testing import load_distribution_plugins


def test_entry_point_registers_the_sqlite_and_postgresql_schemes() -> None:
    provided = load_distribution_plugins("orcapod-db-sql")
    assert {kind: set(names) for kind, names in provided.items()} == {
        "database": {"sqlite", "postgresql", "postgresql+psycopg"}
    }


@pytest.mark.parametrize("uri", ["sqlite:///results.db", "postgresql://u@localhost/db"])
def test_opening_a_sql_uri_says_clearly_that_the_backend_is_not_available_yet(uri: str) -> None:
    scheme = uri.split("://")[0]
    factory = load_distribution_plugins("orcapod-db-sql")["database"][scheme]
    with pytest.raises(NotAvailableError, match=rf"{scheme}:// database: SQLDatabase"):
        factory(uri)


def test_plugin_module_does_not_import_sqlalchemy() -> None:
    import subprocess
    import sys

    code = "import sys, orcapod.db.sql._plugin; print('sqlalchemy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
