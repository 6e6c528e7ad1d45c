"""``orcapod demo`` as a new user meets it: a real process, a Delta store on disk, twice."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

STORE = "delta://orcapod-demo"


@pytest.fixture
def orcapod(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the ``orcapod`` command in an empty directory."""
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "orcapod.core"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    return run


def test_the_demo_runs_records_and_then_finds_everything_cached(
    orcapod: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    first = orcapod("demo")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert f"store: {STORE}" in out
    assert "results of node 'summary' (4 rows)" in out
    assert "computed 27, cached 0, failed 1" in out
    # the failing packet, read back from the store by `orcapod logs`
    assert f"$ orcapod logs {STORE} --pipeline sensor_demo" in out
    assert "tags: subject=s3, session=2" in out
    assert "measuring 0 samples at 100 Hz" in out  # what it printed before it failed
    assert "ValueError: only 0 usable samples of 200" in out
    assert (tmp_path / "orcapod-demo").is_dir()

    second = orcapod("demo")
    assert second.returncode == 0, second.stderr
    assert "computed 0, cached 27, failed 1" in second.stdout
    assert "nothing was computed again" in second.stdout


def test_the_commands_the_demo_suggests_work_on_its_store(
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    assert orcapod("demo").returncode == 0

    runs = orcapod("runs", STORE)
    assert runs.returncode == 0, runs.stderr
    assert "PARTIAL" in runs.stdout
    status = orcapod("status", STORE, "--pipeline", "sensor_demo", "--failed")
    assert status.returncode == 0, status.stderr
    assert "s3" in status.stdout
    logs = orcapod("logs", STORE, "--pipeline", "sensor_demo", "--node", "clean")
    assert logs.returncode == 0, logs.stderr
    assert "kept 197 of 200 samples: 3 spikes, 0 missing" in logs.stdout
    assert "200 of 200 samples are missing (NaN)" in logs.stdout  # a logged warning


def test_the_demo_fresh_starts_from_an_empty_store(
    orcapod: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    assert orcapod("demo").returncode == 0

    fresh = orcapod("demo", "--fresh")

    assert fresh.returncode == 0, fresh.stderr
    assert "computed 27, cached 0, failed 1" in fresh.stdout
