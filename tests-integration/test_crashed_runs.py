"""A run killed mid-node is named CRASHED, its packet in flight LOST; one stopped by SIGTERM
is INTERRUPTED, its packet in flight CANCELLED.

A real process runs a pipeline on a SQLite store, observed by a LoggingObserver
and a StatusObserver. Its function computes packet 0 at once and blocks in
packet 1: it writes a file saying so, then sleeps. The test waits until the
store holds packet 1's RUNNING event (made durable by the run's timed
checkpoint while the function sleeps), then kills the process, and reads the
store with ObservabilityReader and with the ``orcapod`` command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from orcapod.core import open_database
from orcapod.observers import ObservabilityReader

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9 and SIGTERM are POSIX")

PIPELINE = """
    import sys
    import time
    from pathlib import Path

    from orcapod.core import DictSource, Pipeline, function_pod, open_database
    from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

    BLOCKED = Path(sys.argv[2])

    @function_pod(output_keys="y")
    def slow(x: int) -> int:
        if x == 1:
            BLOCKED.write_text("in packet 1")
            time.sleep(120)  # killed long before
        return 2 * x

    database = open_database(sys.argv[1])
    source = DictSource([{"id": i, "x": i} for i in range(3)], tag_columns=["id"])
    pipeline = Pipeline("lab", database)
    with pipeline:
        slow.pod(source, label="slow")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    result = pipeline.run(observer=observer, flush_interval=0.2)
    print("ENDED", result.state)
"""

DEADLINE_S = 60.0


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the pipeline and return once packet 1 is RUNNING durably in the store."""
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(PIPELINE))
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    blocked = tmp_path / "blocked"
    process = subprocess.Popen(
        [sys.executable, str(script), uri, str(blocked)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + DEADLINE_S
    while not blocked.exists():
        _check_alive(process, deadline, "to enter packet 1")
        time.sleep(0.02)
    while _states(uri).get(1) != "RUNNING":
        _check_alive(process, deadline, "to make packet 1's RUNNING event durable")
        time.sleep(0.05)
    return process, uri


def _check_alive(process: subprocess.Popen[str], deadline: float, what: str) -> None:
    if process.poll() is not None:
        out, err = process.communicate()
        pytest.fail(f"the pipeline ended (status {process.returncode}) before {what}:\n{out}{err}")
    if time.monotonic() > deadline:
        process.kill()
        process.communicate()
        pytest.fail(f"the pipeline took over {DEADLINE_S:.0f}s {what}")


def _states(uri: str) -> dict[int, str]:
    """Packet id to its state, as a reader in this process sees it now."""
    database = open_database(uri, create=False)
    try:
        status = ObservabilityReader(database, "lab").status()
    finally:
        database.close()
    if status.num_rows == 0:  # the run started; no status event is durable yet
        return {}
    return dict(zip(status["id"].to_pylist(), status["__state"].to_pylist(), strict=True))


def _read(uri: str) -> tuple[dict[str, Any], dict[int, tuple[str, str | None]], dict[str, Any]]:
    """The run's row, each packet's (state, error summary), and the summary's row."""
    database = open_database(uri, create=False)
    try:
        reader = ObservabilityReader(database, "lab")
        [run] = reader.runs().to_pylist()
        status = reader.status(node="slow").to_pylist()
        [summary] = reader.summary().to_pylist()
    finally:
        database.close()
    packets = {row["id"]: (row["__state"], row["__error_summary"]) for row in status}
    return run, packets, summary


def _orcapod(*argv: str) -> str:
    script = Path(sysconfig.get_path("scripts")) / "orcapod"
    done = subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_run_killed_mid_node_is_crashed_and_its_packet_in_flight_lost(tmp_path: Path) -> None:
    process, uri = _start(tmp_path)

    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    run, packets, summary = _read(uri)

    assert run["__state"] == "CRASHED"
    assert run["__error"] == f"process {process.pid} on {socket.gethostname()} is gone"
    assert run["__ended_at"] is None
    assert run["__heartbeat_at"] is not None
    assert packets == {0: ("SUCCESS", None), 1: ("LOST", None)}  # 2 never started
    assert (summary["__n_success"], summary["__n_lost"], summary["__n_running"]) == (1, 1, 0)

    runs = _orcapod("runs", uri).splitlines()
    assert runs[1].split()[1] == "CRASHED"
    assert runs[1].endswith("is gone")
    status = _orcapod("status", uri).splitlines()
    assert [line.split()[:2] for line in status[1:3]] == [["slow", "SUCCESS"], ["slow", "LOST"]]
    assert status[2].endswith("left RUNNING: its run CRASHED before it finished")
    assert status[-1] == "2 packet(s): 1 SUCCESS, 1 LOST"


def test_a_run_stopped_by_sigterm_is_interrupted_and_its_packet_in_flight_cancelled(
    tmp_path: Path,
) -> None:
    process, uri = _start(tmp_path)

    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=DEADLINE_S)
    assert process.returncode == -signal.SIGTERM  # the signal is redelivered once the run ended
    run, packets, summary = _read(uri)

    assert run["__state"] == "INTERRUPTED"
    assert run["__ended_at"] is not None
    assert packets[0] == ("SUCCESS", None)
    state, error = packets[1]
    assert state == "CANCELLED"
    assert error is not None
    assert error.startswith("cancelled")
    assert (summary["__n_success"], summary["__n_cancelled"]) == (1, 1)

    status = _orcapod("status", uri).splitlines()
    assert status[2].split()[:2] == ["slow", "CANCELLED"]
    assert status[-1] == "2 packet(s): 1 SUCCESS, 1 CANCELLED"


def test_the_killed_process_is_gone_even_before_it_is_reaped(tmp_path: Path) -> None:
    process, uri = _start(tmp_path)
    os.kill(process.pid, signal.SIGKILL)
    if Path("/proc").is_dir():  # until its parent (this process) reaps it, it is a zombie
        stat = Path(f"/proc/{process.pid}/stat")
        deadline = time.monotonic() + DEADLINE_S
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)

    run, packets, _ = _read(uri)
    process.communicate()

    assert run["__state"] == "CRASHED"
    assert packets[1] == ("LOST", None)


def test_packet_states_are_read_from_the_store_alone(tmp_path: Path) -> None:
    """The reader of another process names the same states as this one (nothing is cached)."""
    process, uri = _start(tmp_path)
    process.kill()
    process.communicate()

    reader = tmp_path / "reader.py"
    reader.write_text(
        textwrap.dedent(
            """
            import sys
            from orcapod.core import open_database
            from orcapod.observers import ObservabilityReader

            database = open_database(sys.argv[1], create=False)
            reader = ObservabilityReader(database, "lab")
            print(reader.runs()["__state"].to_pylist(), reader.summary()["__n_lost"].to_pylist())
            database.close()
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(reader), uri], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['CRASHED'] [1]"
