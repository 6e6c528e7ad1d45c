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
TYPE_PLUGIN_EXAMPLE = Path(__file__).parent / "type_plugin_example"
PLUGIN_TEMPLATE = Path(__file__).parent.parent / "examples" / "plugin-template"


@pytest.fixture(scope="session")
def plugin_example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the worked plugin (plugin_example/) is installed from its own wheel.

    The wheel is built by its own build backend (hatchling, through ``uv build``)
    and unpacked, dist-info included, as an installer would: put the directory
    on ``sys.path`` (or ``PYTHONPATH``) and ``importlib.metadata`` finds its
    entry point like any installed distribution's.
    """
    return _installed_from_wheel(PLUGIN_EXAMPLE, tmp_path_factory)


@pytest.fixture(scope="session")
def type_plugin_example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the logical-type plugin (type_plugin_example/) is installed, the same way."""
    return _installed_from_wheel(TYPE_PLUGIN_EXAMPLE, tmp_path_factory)


@pytest.fixture(scope="session")
def plugin_template_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the plugin template (examples/plugin-template/) is installed, the same way."""
    return _installed_from_wheel(PLUGIN_TEMPLATE, tmp_path_factory)


def _installed_from_wheel(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail(f"building {project.name} needs uv on PATH (pip install uv)")
    wheels = tmp_path_factory.mktemp(f"{project.name}-wheel")
    built = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(wheels), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"uv build of {project} failed:\n{built.stderr}"
    (wheel,) = wheels.glob("*.whl")
    site = tmp_path_factory.mktemp(f"{project.name}-site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site
