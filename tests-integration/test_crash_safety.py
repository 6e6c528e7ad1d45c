"""What survives a kill: real pipeline processes killed with SIGKILL and SIGTERM.

On each persistent store and under both orchestrators, a run of short packets
is killed mid-node; a fresh process then reads the store and runs again. The
promises checked (docs/pipelines.md, "Durability"):

- a SUCCESS (status event or log row) is never stored without its result;
- a kill loses at most the packets in flight and the last ``flush_interval``
  of finished work;
- SIGTERM ends the run cleanly: everything finished is stored, the run is
  recorded INTERRUPTED, and the process still ends by the signal;
- the resumed run computes only what is missing;
- a fresh process's ``node.history()`` and ``node.as_table()`` agree after any
  kill (runs of a two-node pipeline killed at several moments in a row).
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


def _worker(
    mode: str,
    uri: str,
    orchestrator: str,
    progress: Path,
    *shape: str,
    sleep_ms: int = SLEEP_MS,
    flush_interval: float = FLUSH_INTERVAL,
) -> list[str]:
    args = [str(PACKETS), str(sleep_ms), str(flush_interval), str(progress), *shape]
    return [sys.executable, str(WORKER), mode, uri, orchestrator, *args]


def _signalled(
    command: list[str], progress: Path, signum: int, after: float
) -> tuple[bool, float, int, str, str]:
    """Start a run, and send ``signum`` ``after`` seconds after its first packet finished
    unless it ended first: whether it was sent and when, the exit status, stdout, stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if first is None and progress.exists() and progress.stat().st_size:
            first = time.monotonic()
        if first is not None and time.monotonic() - first > after:
            break
        time.sleep(0.005)
    sent = process.poll() is None
    if sent:
        os.kill(process.pid, signum)
    signalled_at = time.time()
    stdout, stderr = process.communicate(timeout=120)
    return sent, signalled_at, process.returncode, stdout, stderr


def _kill_mid_run(uri: str, orchestrator: str, signum: int, tmp: Path) -> tuple[int, float, Any]:
    """Start a run, let it work for three flush intervals, then send ``signum``."""
    progress = tmp / "first.progress"
    command = _worker("run", uri, orchestrator, progress)
    sent, killed_at, returncode, _, stderr = _signalled(
        command, progress, signum, 3 * FLUSH_INTERVAL
    )
    assert sent, f"the run ended before the kill:\n{stderr}"
    return returncode, killed_at, stderr


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
        if orchestrator == "async":
            assert len(lost) <= 2, lost
        else:  # the one in flight only if its function wrote its line (younger than one
            # packet's sleep) and was returning, its call not yet back in the run
            assert len(lost) <= 1, lost
            assert all(age < SLEEP_MS / 1000 for age in lost.values()), lost
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


# -- history() and as_table() after kills ---------------------------------------------

HISTORY_SLEEP_MS = 3
HISTORY_FLUSH_INTERVAL = 0.2
KILLS = (0.4, 0.7, 1.0)
"""Seconds after a run's first packet finished at which it is killed: each run resumes
the last, so the kills fall in the first node's large batch, then (sync) in the second
node's; under async the last run may end before its moment (it is then not killed)."""


def _history_worker(mode: str, uri: str, orchestrator: str, progress: Path) -> list[str]:
    """The worker's two-node pipeline: each packet twice, ``square`` then ``shift``."""
    return _worker(
        mode,
        uri,
        orchestrator,
        progress,
        "repeats",
        sleep_ms=HISTORY_SLEEP_MS,
        flush_interval=HISTORY_FLUSH_INTERVAL,
    )


def _consistent(nodes: dict[str, Any], when: str) -> None:
    """Each node's history() holds exactly the rows of its as_table() (no source row is
    ever edited, so both cover the same inputs), and every SUCCESS is among them."""
    for label, node in nodes.items():
        history, current, success = set(node["history"]), set(node["as_table"]), node["success"]
        assert len(history) == len(node["history"]), f"{when}: {label}: a tag twice in history"
        assert history == current, (
            f"{when}: node {label!r}: {len(current)} rows in as_table(), {len(history)} in "
            f"history(); only in as_table: {sorted(current - history)[:10]}, only in "
            f"history: {sorted(history - current)[:10]}"
        )
        assert set(success) <= current, f"{when}: {label}: SUCCESS without a result"


def _check_history_after_kills(uri: str, orchestrator: str, tmp: Path) -> None:
    """Runs killed one after another, then one to its end. Each reads (``resume``) what
    the store holds before it runs: what the kill of the run before it left.

    A checkpoint in the middle of a batch stored that batch's results without the node
    records ``history()`` reads: a kill there left rows in ``as_table()`` that
    ``history()`` lacked until the next run ended.
    """
    sent = []
    for number, after in enumerate([*KILLS, None]):
        progress = tmp / f"run{number}.progress"
        command = _history_worker("resume", uri, orchestrator, progress)
        if after is None:  # the last run, to its end
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            returncode, stdout, stderr, killed = done.returncode, done.stdout, done.stderr, False
        else:
            killed, _, returncode, stdout, stderr = _signalled(
                command, progress, signal.SIGKILL, after
            )
        sent.append(killed)
        assert returncode == (-signal.SIGKILL if killed else 0), stderr
        before = json.loads(stdout.splitlines()[0])["nodes"]
        if number:
            _consistent(before, f"after kill {number - 1} at {KILLS[number - 1]}s")
        else:
            assert not any(node["as_table"] for node in before.values())  # a new store
    assert sent[0], "the first run ended before its kill: nothing was checked"
    assert before["square"]["as_table"], "nothing was stored before the last kill"
    read = subprocess.run(
        _history_worker("read", uri, orchestrator, tmp / "read.progress"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    final = json.loads(read.stdout.splitlines()[0])["nodes"]
    _consistent(final, "after the last run")
    assert [node["as_table"] for node in final.values()] == [list(range(PACKETS))] * 2


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_sqlite_history_agrees_with_as_table_after_kills(tmp_path: Path, orchestrator: str) -> None:
    _check_history_after_kills(f"sqlite:///{tmp_path}/store.db", orchestrator, tmp_path)


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_delta_history_agrees_with_as_table_after_kills(tmp_path: Path, orchestrator: str) -> None:
    _check_history_after_kills(f"delta://{tmp_path}/store", orchestrator, tmp_path)
