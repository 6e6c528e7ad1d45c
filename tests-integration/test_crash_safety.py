"""What survives a kill: real pipeline processes killed with SIGKILL and SIGTERM.

On each persistent store and under both orchestrators, a run of short packets
is killed mid-node; a fresh process then reads the store and runs again. The
promises checked (docs/pipelines.md, "Durability"):

- a SUCCESS (status event or log row) is never stored without its result;
- a kill loses at most the packets in flight and the last ``flush_interval``
  of finished work;
- SIGTERM ends the run cleanly: everything finished is stored, the run is
  recorded INTERRUPTED, and the process still ends by the signal;
- the resumed run computes only what is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orcapod.protocols.testing.postgres import PostgresServer

WORKER = Path(__file__).with_name("crash_worker.py")
PACKETS = 600
SLEEP_MS = 5
FLUSH_INTERVAL = 0.5
SLACK = 0.5
"""Seconds of scheduling noise allowed beyond ``FLUSH_INTERVAL`` on a busy machine."""


def _finished(progress: Path) -> dict[int, float]:
    """``x`` of each packet whose function returned, with when it did."""
    if not progress.exists():
        return {}
    lines = progress.read_text().splitlines()
    return {int(x): float(t) for x, t in (line.split() for line in lines if line.count(" ") == 1)}


def _worker(mode: str, uri: str, orchestrator: str, progress: Path) -> list[str]:
    args = [str(PACKETS), str(SLEEP_MS), str(FLUSH_INTERVAL), str(progress)]
    return [sys.executable, str(WORKER), mode, uri, orchestrator, *args]


def _kill_mid_run(uri: str, orchestrator: str, signum: int, tmp: Path) -> tuple[int, float, Any]:
    """Start a run, let it work for three flush intervals, then send ``signum``."""
    progress = tmp / "first.progress"
    process = subprocess.Popen(
        _worker("run", uri, orchestrator, progress),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if first is None and _finished(progress):
            first = time.monotonic()
        if first is not None and time.monotonic() - first > 3 * FLUSH_INTERVAL:
            break
        time.sleep(0.01)
    assert process.poll() is None, f"the run ended before the kill:\n{process.stderr}"
    os.kill(process.pid, signum)
    killed_at = time.time()
    _, stderr = process.communicate(timeout=120)
    return process.returncode, killed_at, stderr


def _resume(
    uri: str, orchestrator: str, tmp: Path
) -> tuple[dict[str, Any], dict[str, Any], set[int]]:
    progress = tmp / "second.progress"
    done = subprocess.run(
        _worker("resume", uri, orchestrator, progress),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[0]), json.loads(lines[-1]), set(_finished(progress))


def _check_kill(uri: str, orchestrator: str, signum: int, tmp: Path) -> None:
    returncode, killed_at, stderr = _kill_mid_run(uri, orchestrator, signum, tmp)
    assert returncode == -signum, stderr  # SIGTERM too ends the process as the signal does
    finished = _finished(tmp / "first.progress")
    stored_before, resumed, recomputed = _resume(uri, orchestrator, tmp)

    # SUCCESS never without its result: no packet said to have succeeded is computed again.
    assert not set(stored_before["status_success"]) & recomputed
    assert not set(stored_before["log_success"]) & recomputed
    # The resumed run computes exactly what is missing, and takes the rest from the store.
    assert resumed["state"] == "SUCCESS"
    assert resumed["computed"] == len(recomputed)
    assert resumed["cached"] == PACKETS - len(recomputed)
    lost = {x: killed_at - when for x, when in finished.items() if x in recomputed}
    states = [run["__state"] for run in stored_before["runs"]]
    if signum == signal.SIGKILL:
        # Finished work older than one flush interval (and some slack) survived.
        assert all(age <= FLUSH_INTERVAL + SLACK for age in lost.values()), sorted(lost.values())
        assert len(finished) - len(lost) > 0  # checkpoints happened before the kill
        assert states == ["RUNNING"]  # a killed run cannot say it ended
    else:
        # A clean end: only packets in flight at the signal (two at most, async) are lost.
        assert len(lost) <= (2 if orchestrator == "async" else 0), lost
        assert sorted(states) == ["INTERRUPTED", "RUNNING"]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_sqlite_run_killed_mid_node(tmp_path: Path, orchestrator: str, signum: int) -> None:
    _check_kill(f"sqlite:///{tmp_path}/store.db", orchestrator, signum, tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_delta_run_killed_mid_node(tmp_path: Path, orchestrator: str, signum: int) -> None:
    _check_kill(f"delta://{tmp_path}/store", orchestrator, signum, tmp_path)


@pytest.mark.postgres
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_postgres_run_killed_mid_node(
    tmp_path: Path, postgres: PostgresServer, orchestrator: str, signum: int
) -> None:
    _check_kill(postgres.url(), orchestrator, signum, tmp_path)
