"""``orcapod results`` as a real command on SQLite, Delta and PostgreSQL.

Each store gets three runs of pipeline ``lab``, each in a process of its own
(results_worker.py): a first run, a second after id 0 of the source was edited
(x 1 → 5; id 1 cached, id 2 fails in both), and a third killed with SIGKILL
after it stored a new result. ``orcapod results`` is then run as a
subprocess, with nothing but the store's URI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orcapod.core import open_database
from orcapod.observers import ObservabilityReader, UnknownPipelineError

if TYPE_CHECKING:
    from orcapod.protocols.testing.postgres import PostgresServer

WORKER = Path(__file__).with_name("results_worker.py")
SCRIPT = Path(sysconfig.get_path("scripts")) / "orcapod"
ORCAPOD = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "orcapod.core"]


def orcapod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORCAPOD, *args], capture_output=True, text=True, timeout=120, check=False
    )


def run_lab(uri: str, xs: dict[int, int]) -> str:
    done = subprocess.run(
        [sys.executable, str(WORKER), uri, json.dumps(xs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def run_lab_killed(uri: str, xs: dict[int, int], hang_at: int, marker: Path) -> None:
    """A run of ``lab`` killed with SIGKILL at ``x == hang_at``, once id 0 is stored SUCCESS."""
    env = {**os.environ, "HANG_AT": str(hang_at), "HANG_MARKER": str(marker)}
    process = subprocess.Popen([sys.executable, str(WORKER), uri, json.dumps(xs)], env=env)
    try:
        deadline = time.monotonic() + 90
        while not (marker.exists() and _id_0_succeeded_in_a_running_run(uri)):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never got to the hanging packet"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()


def _id_0_succeeded_in_a_running_run(uri: str) -> bool:
    database = open_database(uri, create=False)
    try:
        reader = ObservabilityReader(database, "lab")
        running = [r["__run_id"] for r in reader.runs().to_pylist() if r["__state"] == "RUNNING"]
        if not running:
            return False
        events = reader.status(node="double", run_id=running[0]).to_pylist()
        return any(e["id"] == 0 and e["__state"] == "SUCCESS" for e in events)
    except UnknownPipelineError:
        return False
    finally:
        database.close()


@dataclass
class Runs:
    first: str
    second: str


def three_runs(uri: str, tmp_path: Path) -> Runs:
    first = run_lab(uri, {0: 1, 1: 2, 2: -3})
    second = run_lab(uri, {0: 5, 1: 2, 2: -3})
    run_lab_killed(uri, {0: 7, 1: 8, 2: -3}, hang_at=8, marker=tmp_path / "hanging")
    return Runs(first, second)


def table(stdout: str) -> tuple[str, list[list[str]]]:
    """The header line, and the rows of the printed table (without its column names)."""
    lines = stdout.splitlines()
    assert lines[1].split() == ["id", "y"]
    return lines[0], [line.split() for line in lines[2:] if not line.startswith("...")]


def check_results_command(uri: str, tmp_path: Path) -> None:
    runs = three_runs(uri, tmp_path)

    latest = orcapod("results", uri, "--pipeline", "lab", "--node", "double")
    assert latest.returncode == 0, latest.stderr
    header, rows = table(latest.stdout)
    # The killed run (id 0 stored as 14) is skipped: the second run, id 1 cached, id 2 failed.
    assert header == f"node 'double' of pipeline 'lab' in run {runs.second} (PARTIAL): 2 row(s)"
    assert rows == [["0", "10"], ["1", "4"]]

    first = orcapod("results", uri, "--pipeline", "lab", "--node", "double", "--run", runs.first)
    assert first.returncode == 0, first.stderr
    header, rows = table(first.stdout)
    assert header.startswith(f"node 'double' of pipeline 'lab' in run {runs.first} (PARTIAL)")
    assert rows == [["0", "2"], ["1", "4"]]

    limited = orcapod("results", uri, "--pipeline", "lab", "--node", "double", "--limit", "1")
    assert limited.returncode == 0, limited.stderr
    assert table(limited.stdout)[1] == [["0", "10"]]
    assert limited.stdout.splitlines()[-1] == "... and 1 more row(s); --limit 2 shows them all"


def check_errors(uri: str) -> None:
    for args, expected in [
        (["--pipeline", "lab", "--node", "nope"], "no stored node 'nope'"),
        (
            ["--pipeline", "nope", "--node", "double"],
            "no observability records of a pipeline 'nope'",
        ),
        (["--pipeline", "lab", "--node", "double", "--run", "r-0"], "has no run 'r-0'"),
        (["--pipeline", "lab", "--node", "named"], "is an operator"),
    ]:
        done = orcapod("results", uri, *args)
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.startswith("orcapod results: error: ")
        assert expected in done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_sqlite(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/store.db"
    check_results_command(uri, tmp_path)
    check_errors(uri)


def test_delta(tmp_path: Path) -> None:
    uri = f"delta://{tmp_path}/store"
    check_results_command(uri, tmp_path)
    check_errors(uri)


@pytest.mark.postgres
def test_postgres(postgres: PostgresServer, tmp_path: Path) -> None:
    uri = postgres.url()
    check_results_command(uri, tmp_path)
    check_errors(uri)


def test_a_missing_store_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    done = orcapod("results", f"sqlite:///{tmp_path}/nope/store.db", "--node", "double")
    assert done.returncode == 1
    assert "orcapod results: error: cannot open database" in done.stderr
    assert "does not exist" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_node_is_required_and_the_limit_a_number(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/store.db"
    without_node = orcapod("results", uri)
    assert without_node.returncode == 2
    assert "--node" in without_node.stderr
    bad_limit = orcapod("results", uri, "--node", "double", "--limit", "0")
    assert bad_limit.returncode == 2
    assert "'0' is not a number of rows" in bad_limit.stderr
    assert list(tmp_path.iterdir()) == []
