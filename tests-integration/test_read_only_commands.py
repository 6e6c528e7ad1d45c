"""Read-only commands never create a store: `orcapod runs/status/logs` and `graph`.

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


GRAPHED_FILE = """
from orcapod.core import DictSource, Pipeline, function_pod


@function_pod(output_keys="y")
def double(x: int) -> int:
    return 2 * x


pipeline = Pipeline("drawn", database={uri!r})
with pipeline:
    double.pod(DictSource([{{"id": 1, "x": 1}}], tag_columns=["id"]), label="double")
"""


@pytest.mark.parametrize("scheme", ["sqlite", "delta"])
def test_graph_of_a_file_naming_a_missing_store_draws_it_and_creates_nothing(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], workdir: Path, scheme: str
) -> None:
    """`orcapod graph FILE.py` runs the file, whose Pipeline names a store by URI: the
    store does not exist, so the DAG is drawn uncoloured and no store is left behind."""
    uri = f"sqlite:///{workdir}/new.db" if scheme == "sqlite" else f"delta://{workdir}/new-store"
    (workdir / "drawn.py").write_text(GRAPHED_FILE.format(uri=uri))
    done = orcapod("graph", "drawn.py", "-o", "drawn.mmd")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote drawn.mmd: pipeline 'drawn', 2 nodes, uncoloured\n"
    assert sorted(p.name for p in workdir.iterdir() if p.name != "__pycache__") == [
        "drawn.mmd",
        "drawn.py",
    ]


CONSTRUCTED_FILE = """
from orcapod.core import DictSource, Pipeline, function_pod
from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.sql import SQLDatabase


@function_pod(output_keys="y")
def double(x: int) -> int:
    return 2 * x


pipeline = Pipeline("drawn", database={store})
with pipeline:
    double.pod(DictSource([{{"id": 1, "x": 1}}], tag_columns=["id"]), label="double")
"""
CONSTRUCTED_STORES = {
    "delta": 'DeltaTableDatabase("stores/new-store")',
    "sqlite": 'SQLDatabase("sqlite:///stores/new.db")',
}


@pytest.mark.parametrize("scheme", ["sqlite", "delta"])
@pytest.mark.parametrize("runs", [False, True], ids=["built", "run-by-the-file"])
def test_graph_of_a_file_constructing_a_missing_store_draws_it_and_creates_nothing(
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
    workdir: Path,
    scheme: str,
    runs: bool,
) -> None:
    """The file builds its store itself (``DeltaTableDatabase(path)``, ``SQLDatabase(url)``,
    which create a missing store): drawing leaves none behind. A file that also runs its
    pipeline is coloured by that run, kept in memory."""
    text = CONSTRUCTED_FILE.format(store=CONSTRUCTED_STORES[scheme])
    (workdir / "drawn.py").write_text(text + ('pipeline.run(run_id="r1")\n' if runs else ""))
    done = orcapod("graph", "drawn.py", "-o", "drawn.mmd")
    assert done.returncode == 0, done.stderr
    coloured = "coloured by run r1" if runs else "uncoloured"
    assert done.stdout == f"wrote drawn.mmd: pipeline 'drawn', 2 nodes, {coloured}\n"
    assert sorted(p.name for p in workdir.iterdir() if p.name != "__pycache__") == [
        "drawn.mmd",
        "drawn.py",
    ]


def test_graph_of_a_file_whose_store_exists_is_coloured_by_its_runs(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], workdir: Path
) -> None:
    """After `orcapod run FILE.py` made the store and a run, `orcapod graph FILE.py`
    opens that store (creating nothing new) and colours the nodes by the run."""
    uri = f"sqlite:///{workdir}/runs.db"
    (workdir / "drawn.py").write_text(GRAPHED_FILE.format(uri=uri))
    ran = orcapod("run", "drawn.py")
    assert ran.returncode == 0, ran.stderr
    before = sorted(p.name for p in workdir.iterdir())
    done = orcapod("graph", "drawn.py", "-o", "drawn.mmd")
    assert done.returncode == 0, done.stderr
    assert "uncoloured" not in done.stdout
    assert "class n1 computed" in (workdir / "drawn.mmd").read_text()
    assert sorted(p.name for p in workdir.iterdir()) == sorted([*before, "drawn.mmd"])
