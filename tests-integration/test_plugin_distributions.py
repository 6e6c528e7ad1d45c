"""Every orcapod distribution installed together: each entry point loads, the host finds all."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from orcapod.core.plugins import PluginRegistry
from orcapod.protocols import PluginKind
from orcapod.protocols.testing import load_distribution_plugins

PLUGIN_DISTRIBUTIONS = {
    "orcapod-observers",
    "orcapod-executors-ray",
    "orcapod-db-delta",
    "orcapod-db-sql",
}


def _declaring_distributions() -> set[str]:
    return {ep.dist.name for ep in entry_points(group="orcapod") if ep.dist is not None}


def test_the_plugin_distributions_are_exactly_the_ones_declaring_entry_points() -> None:
    assert _declaring_distributions() == PLUGIN_DISTRIBUTIONS


@pytest.mark.parametrize("distribution", sorted(PLUGIN_DISTRIBUTIONS))
def test_every_declared_entry_point_loads_and_registers(distribution: str) -> None:
    provided = load_distribution_plugins(distribution)
    assert provided, f"{distribution} provides nothing"


def test_host_registry_loads_every_plugin_without_failures() -> None:
    registry = PluginRegistry()
    assert registry.failures == []
    by_kind = {
        kind: {p.name: p.distribution for p in registry.provisions(kind)} for kind in PluginKind
    }
    assert by_kind[PluginKind.DATABASE] == {
        "memory": "orcapod-core",
        "delta": "orcapod-db-delta",
        "sqlite": "orcapod-db-sql",
        "postgresql": "orcapod-db-sql",
        "postgresql+psycopg": "orcapod-db-sql",
    }
    assert by_kind[PluginKind.EXECUTOR] == {
        "local": "orcapod-core",
        "processes": "orcapod-core",
        "ray": "orcapod-executors-ray",
    }
    assert set(by_kind[PluginKind.OBSERVER]) == {
        "noop",
        "logging",
        "status",
        "composite",
        "progress",
    }


def test_orcapod_console_script_lists_what_the_entry_points_provide() -> None:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]
    result = subprocess.run(
        [*command, "plugins", "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == []
    expected = {
        (str(kind), name, dist)
        for dist in PLUGIN_DISTRIBUTIONS
        for kind, names in load_distribution_plugins(dist).items()
        for name in names
    }
    listed = {(p["kind"], p["name"], p["distribution"]) for p in report["plugins"]}
    assert listed - {row for row in listed if row[2] == "orcapod-core"} == expected
