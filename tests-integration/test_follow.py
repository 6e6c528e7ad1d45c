"""``orcapod logs/status --follow``: a run followed from another process, as it runs.

A real process runs a slow pipeline (``follow_worker.py``: each packet prints a
line with the time, then sleeps) on a Delta or SQLite store with a short
``flush_interval``; another real process runs ``orcapod logs URI --follow``
and the test reads its stdout line by line, noting when each line arrives.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from orcapod.core import open_database
from orcapod.observers import ObservabilityReader

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9 and SIGINT are POSIX")

WORKER = Path(__file__).parent / "follow_worker.py"
FLUSH_INTERVAL_S = 0.3
SLEEP_S = 1.0
DEADLINE_S = 90.0
ORCAPOD = str(Path(sysconfig.get_path("scripts")) / "orcapod")

STORES = {
    "delta": lambda tmp: f"delta://{tmp / 'store'}",
    "sqlite": lambda tmp: f"sqlite:///{tmp / 'store.db'}",
}


def _start_run(
    uri: str, packets: int, cwd: Path, sleep_s: float = SLEEP_S
) -> subprocess.Popen[str]:
    """Start the slow pipeline; return once its run's start is stored."""
    process = subprocess.Popen(
        [sys.executable, str(WORKER), uri, str(packets), str(sleep_s), str(FLUSH_INTERVAL_S)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + DEADLINE_S
    while not _has_run(uri):
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the pipeline ended (status {process.returncode}) early:\n{out}{err}")
        assert time.monotonic() < deadline, "the run's start was never stored"
        time.sleep(0.05)
    return process


def _has_run(uri: str) -> bool:
    try:
        database = open_database(uri, create=False)
    except Exception:  # not created yet
        return False
    try:
        return ObservabilityReader(database, "lab").runs().num_rows > 0
    except Exception:
        return False
    finally:
        database.close()


def _follow(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ORCAPOD, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _lines(process: subprocess.Popen[str]) -> list[tuple[float, str]]:
    """Each line of ``process``'s stdout with the time it arrived, until it exits."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    lines = []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if not selector.select(timeout=1.0):
            continue
        line = process.stdout.readline()
        if not line:
            break
        lines.append((time.time(), line.rstrip("\n")))
    else:
        process.kill()
        pytest.fail(f"following took over {DEADLINE_S:.0f}s; it printed {lines}")
    process.wait(timeout=30)
    return lines


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_printed_line_appears_before_the_run_ends_and_follow_exits_with_its_state(
    store: str, tmp_path: Path
) -> None:
    """The headline of --follow: what a packet printed is shown while the run goes on
    (within flush_interval plus a second of the packet's end), and the follower ends
    with the run, exit status 0 for SUCCESS. Prints the latencies measured."""
    uri = STORES[store](tmp_path)
    run = _start_run(uri, packets=6, cwd=tmp_path)
    follower = _follow("logs", uri, "--follow", "--interval", "0.1")
    lines = _lines(follower)
    run_out, _ = run.communicate(timeout=60)

    assert follower.returncode == 0, follower.stderr.read() if follower.stderr else ""
    run_ended_at = float(run_out.split("ENDED SUCCESS ")[1].split()[0])
    following_since = lines[0][0]  # the follower's first line: it started reading
    shown = {
        int(text.split()[1]): (at, float(text.rsplit(" ", 1)[1]))
        for at, text in lines
        if text.startswith("packet ")
    }
    assert sorted(shown) == list(range(6))
    assert min(at for at, _ in shown.values()) < run_ended_at - 0.5, "no line before the end"
    # Each line is printed at its packet's start; its log row exists from the packet's
    # end (SLEEP_S later), durable at the next checkpoint. Lines of packets that ended
    # before the follower started reading were caught up at once: not latencies.
    latencies = [
        at - printed - SLEEP_S
        for at, printed in shown.values()
        if printed + SLEEP_S > following_since
    ]
    print(
        f"\n{store}: follow latency after each packet's end: "
        + ", ".join(f"{latency:.2f}s" for latency in latencies)
        + f" (target: flush_interval {FLUSH_INTERVAL_S}s + 1s)"
    )
    assert latencies
    assert max(latencies) < FLUSH_INTERVAL_S + 1.0 + 1.0  # slack for a loaded machine
    assert lines[-1][1].startswith("run ")
    assert "ended SUCCESS" in lines[-1][1]


def test_status_follow_prints_state_changes_as_json_lines_and_exits_with_partial(
    tmp_path: Path,
) -> None:
    """--json --follow: one JSON object per state change (RUNNING, then SUCCESS or
    FAILED, per packet), then a run_end object; exit status 3 for a PARTIAL run."""
    uri = STORES["sqlite"](tmp_path)
    run = _start_run(uri, packets=-3, cwd=tmp_path, sleep_s=0.3)
    follower = _follow("status", uri, "--follow", "--json", "--interval", "0.1")
    lines = [json.loads(text) for _, text in _lines(follower)]
    run.communicate(timeout=60)

    assert follower.returncode == 3
    *events, end = lines
    assert end["event"] == "run_end"
    assert end["state"] == "PARTIAL"
    assert end["n_success"] == 2
    assert end["n_failed"] == 1
    changes = [(event["tags"]["id"], event["state"]) for event in events]
    assert changes == [
        (0, "RUNNING"),
        (0, "SUCCESS"),
        (1, "RUNNING"),
        (1, "SUCCESS"),
        (2, "RUNNING"),
        (2, "FAILED"),
    ]


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_killed_run_is_reported_crashed_once_its_heartbeat_is_stale(
    store: str, tmp_path: Path
) -> None:
    """A run killed with SIGKILL writes no end: a follower on another host (the process
    cannot be checked, so only the heartbeat speaks) says CRASHED once the heartbeat is
    --stale-after seconds old, names the packet left LOST, and exits with 6."""
    uri = STORES[store](tmp_path)
    run = _start_run(uri, packets=3, cwd=tmp_path, sleep_s=60.0)
    # Another host: the follower's hostname is not the run's, so its pid says nothing.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "sitecustomize.py").write_text(
        "import socket\nsocket.gethostname = lambda: 'another-host'\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(elsewhere), os.environ.get("PYTHONPATH")])),
    }
    follower = _follow(
        "status", uri, "--follow", "--interval", "0.1", "--stale-after", "2", env=env
    )
    time.sleep(1.5)  # packet 0 is RUNNING, durable at the next checkpoint
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    killed_at = time.time()
    lines = _lines(follower)

    assert follower.returncode == 6, follower.stderr.read() if follower.stderr else ""
    end_at, end = lines[-1]
    assert "CRASHED" in end
    assert "no heartbeat since" in end
    assert "LOST" in end
    assert end_at - killed_at < 2.0 + 5.0  # stale after 2 s, and some polls
    assert any(" LOST " in text for _, text in lines)


def test_a_killed_run_on_this_host_is_crashed_at_once(tmp_path: Path) -> None:
    """On the run's own host, the follower asks the kernel: a SIGKILLed run is CRASHED
    without waiting for its heartbeat to go stale (exit status 6)."""
    uri = STORES["sqlite"](tmp_path)
    run = _start_run(uri, packets=3, cwd=tmp_path, sleep_s=60.0)
    follower = _follow("logs", uri, "--follow", "--interval", "0.1")
    time.sleep(0.5)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    lines = _lines(follower)
    assert follower.returncode == 6
    assert "CRASHED: process" in lines[-1][1]
    assert "is gone" in lines[-1][1]


def test_ctrl_c_stops_following_quietly_with_status_130(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) ends the follower, not the run: no traceback, status 130."""
    uri = STORES["sqlite"](tmp_path)
    run = _start_run(uri, packets=2, cwd=tmp_path, sleep_s=60.0)
    try:
        follower = _follow("status", uri, "--follow", "--interval", "0.1")
        assert follower.stdout is not None
        assert follower.stdout.readline().startswith("following run ")
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
        assert follower.returncode == 130
        assert "Traceback" not in err
        assert run.poll() is None  # the run goes on
    finally:
        run.kill()
        run.communicate(timeout=30)


@pytest.mark.parametrize("store", sorted(STORES))
def test_follow_started_before_the_store_exists_waits_for_the_run(
    store: str, tmp_path: Path
) -> None:
    """A follower started before the run (and before its store exists) says what it
    waits for, then follows the run once it starts, to its end (exit status 0)."""
    uri = STORES[store](tmp_path)
    follower = _follow("logs", uri, "--follow", "--interval", "0.1")
    assert follower.stdout is not None
    assert follower.stdout.readline().startswith(f"waiting for the store {uri!r} to be created")
    run = _start_run(uri, packets=2, cwd=tmp_path, sleep_s=0.3)
    lines = [text for _, text in _lines(follower)]
    run.communicate(timeout=60)

    assert follower.returncode == 0, follower.stderr.read() if follower.stderr else ""
    following = next(i for i, text in enumerate(lines) if text.startswith("following run "))
    assert all(text.startswith("waiting for ") for text in lines[:following])
    assert sum(text.startswith("packet ") for text in lines) == 2
    assert "ended SUCCESS" in lines[-1]


def test_next_follows_the_next_run_not_the_finished_one(tmp_path: Path) -> None:
    """--next: with a finished run stored, the follower waits for the next run to start
    and follows that one (its run id is the new run's), not the finished run."""
    uri = STORES["sqlite"](tmp_path)
    first = _start_run(uri, packets=-1, cwd=tmp_path, sleep_s=0.0)
    first.communicate(timeout=60)  # FAILED: following it would exit with 4
    follower = _follow("status", uri, "--follow", "--next", "--json", "--interval", "0.1")
    time.sleep(1.0)  # the follower has looked at least once and found no new run
    assert follower.poll() is None, "--next followed a finished run"
    second = subprocess.Popen(
        [sys.executable, str(WORKER), uri, "2", "0.3", str(FLUSH_INTERVAL_S)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = [json.loads(text) for _, text in _lines(follower)]
    second.communicate(timeout=60)

    assert follower.returncode == 0, follower.stderr.read() if follower.stderr else ""
    runs = ObservabilityReader(open_database(uri, create=False), "lab").runs()
    newest = runs["__run_id"][0].as_py()
    assert {line["run_id"] for line in lines} == {newest}
    assert lines[-1]["event"] == "run_end"
    assert lines[-1]["state"] == "SUCCESS"


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("memory", "in-memory"),
        ("sqlite-directory", "is not a file"),
        ("delta-file", "is not a directory"),
        ("postgresql-no-database", "has no database"),
    ],
)
def test_follow_of_a_store_no_run_could_create_fails_at_once(
    store: str, expected: str, tmp_path: Path
) -> None:
    """--follow waits for a store a run will create, never for one no run could: an
    in-memory store (it lives in its own process), a SQLite path that is a directory,
    a Delta root that is a file, a PostgreSQL database the server lacks (only createdb
    makes one). One error line at once, status 1, no "waiting" line."""
    if store == "memory":
        uri = "memory://"
    elif store == "sqlite-directory":
        (tmp_path / "store.db").mkdir()
        uri = STORES["sqlite"](tmp_path)
    elif store == "delta-file":
        (tmp_path / "store").write_text("not a store")
        uri = STORES["delta"](tmp_path)
    else:
        from orcapod.protocols.testing.postgres import postgres_server

        server = postgres_server()
        uri = server.url().rsplit("/", 1)[0] + f"/no_such_database_{tmp_path.name[-8:]}"
    follower = _follow("logs", uri, "--follow", "--interval", "0.1")
    try:
        out, err = follower.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        follower.kill()
        out, err = follower.communicate()
        pytest.fail(f"--follow waited for a store no run could create: {out!r}")
    assert (follower.returncode, out) == (1, "")
    assert err.startswith("orcapod logs: error: cannot open database ")
    assert expected in err
    assert len(err.strip().splitlines()) == 1
