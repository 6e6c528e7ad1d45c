"""The entry point of orcapod-db-delta, loaded as orcapod would load it, without orcapod-core."""

from __future__ import annotations

import pytest

from orcapod.protocols.errors import NotAvailableError
from orcapod.protocols.testing import load_distribution_plugins


def test_entry_point_registers_the_delta_scheme() -> None:
    provided = load_distribution_plugins("orcapod-db-delta")
    assert {kind: set(names) for kind, names in provided.items()} == {"database": {"delta"}}


def test_opening_a_delta_uri_says_clearly_that_the_backend_is_not_available_yet() -> None:
    factory = load_distribution_plugins("orcapod-db-delta")["database"]["delta"]
    with pytest.raises(NotAvailableError, match=r"'delta://x'.*DeltaTableDatabase"):
        factory("delta://x")


def test_plugin_module_does_not_import_deltalake() -> None:
    import subprocess
    import sys

    code = "import sys, orcapod.db.delta._plugin; print('deltalake' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
