"""Fixtures shared by the cross-package tests."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orcapod.protocols.testing.postgres import PostgresServer, postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with temporary_database(postgres_server()) as database:
        yield database


PLUGIN_EXAMPLE = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="session")
def plugin_example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the worked plugin (plugin_example/) is installed from its own wheel.

    The wheel is built by its own build backend (hatchling, through ``uv build``)
    and unpacked, dist-info included, as an installer would: put the directory
    on ``sys.path`` (or ``PYTHONPATH``) and ``importlib.metadata`` finds its
    entry point like any installed distribution's.
    """
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("building the plugin example needs uv on PATH (pip install uv)")
    wheels = tmp_path_factory.mktemp("plugin-example-wheel")
    built = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(wheels), str(PLUGIN_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"uv build of {PLUGIN_EXAMPLE} failed:\n{built.stderr}"
    (wheel,) = wheels.glob("*.whl")
    site = tmp_path_factory.mktemp("plugin-example-site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site
