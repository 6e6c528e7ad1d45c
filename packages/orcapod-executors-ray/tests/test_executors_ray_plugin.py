"""The entry point of orcapod-executors-ray, loaded as orcapod would, without orcapod-core."""

from __future__ import annotations

import pytest

from orcapod.protocols.errors import NotAvailableError
from orcapod.protocols.testing import load_distribution_plugins


def test_entry_point_registers_the_ray_executor() -> None:
    provided = load_distribution_plugins("orcapod-executors-ray")
    assert {kind: set(names) for kind, names in provided.items()} == {"executor": {"ray"}}


def test_asking_for_the_ray_executor_says_clearly_that_it_is_not_available_yet() -> None:
    factory = load_distribution_plugins("orcapod-executors-ray")["executor"]["ray"]
    with pytest.raises(NotAvailableError, match="RayExecutor"):
        factory(num_cpus=1)


def test_plugin_module_does_not_import_ray() -> None:
    import subprocess
    import sys

    code = "import sys, orcapod.executors.ray._plugin; print('ray' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
