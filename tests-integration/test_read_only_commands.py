"""Read-only commands never create a store: ``orcapod runs/status/logs`` on a missing one.

Each test runs the real ``orcapod`` command in a fresh directory and checks
the exit status, the message, and that the directory is still empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


@pytest.fixture
def orcapod(workdir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the ``orcapod`` command in ``workdir``."""
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=workdir,
            env=env,
        )

    return run


@pytest.mark.parametrize("command", ["runs", "status", "logs"])
def test_reading_a_missing_sqlite_store_fails_and_creates_no_file(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], workdir: Path, command: str
) -> None:
    uri = f"sqlite:///{workdir}/nope/nope.db"
    done = orcapod(command, uri)
    assert done.returncode != 0
    assert f"orcapod {command}: error:" in done.stderr
    assert str(workdir / "nope" / "nope.db") in done.stderr
    assert "does not exist" in done.stderr
    assert "no observability records" not in done.stdout + done.stderr
    assert list(workdir.iterdir()) == [], "a read-only command created files"


def test_reading_a_missing_relative_sqlite_store_fails_and_creates_no_file(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], workdir: Path
) -> None:
    done = orcapod("runs", "sqlite:///nope/nope.db")
    assert done.returncode != 0
    assert str(workdir / "nope" / "nope.db") in done.stderr
    assert list(workdir.iterdir()) == []


def test_reading_a_missing_delta_store_fails_and_creates_no_directory(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], workdir: Path
) -> None:
    done = orcapod("runs", "delta://does/not/exist")
    assert done.returncode != 0
    assert "orcapod runs: error:" in done.stderr
    assert str(workdir / "does" / "not" / "exist") in done.stderr
    assert "does not exist" in done.stderr
    assert list(workdir.iterdir()) == [], "a read-only command created a directory"


def test_reading_memory_says_there_is_nothing_to_read(
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = orcapod("runs", "memory://")
    assert done.returncode != 0
    assert "in-memory database lives only inside the process" in done.stderr


def test_reading_a_missing_store_of_the_worked_plugin_creates_nothing(
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
    workdir: Path,
    plugin_example_site: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_example_site)])}
    done = orcapod("runs", "arrowdir://missing-store", env=env)
    assert done.returncode != 0
    assert "no arrowdir store at 'arrowdir://missing-store'" in done.stderr
    assert list(workdir.iterdir()) == []


def test_reading_an_existing_store_still_works_and_leaves_it_as_it_was(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], workdir: Path
) -> None:
    from orcapod.db.sql import SQLDatabase

    store = workdir / "store.db"
    SQLDatabase(f"sqlite:///{store}").close()
    before = sorted(p.name for p in workdir.iterdir())
    done = orcapod("runs", f"sqlite:///{store}")
    assert "does not exist" not in done.stderr
    assert "no orcapod store" not in done.stderr
    assert sorted(p.name for p in workdir.iterdir()) == before
