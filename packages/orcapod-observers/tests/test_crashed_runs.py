"""Crashed runs are named: heartbeats written, CRASHED runs and LOST packets derived by readers.

Run records and heartbeats are written with the observers' own functions
(``write_run_start``, ``add_heartbeat``, ``write_run_end``), naming the
process that "ran" each run: this one, a real child process that has exited
(reaped, or a zombie), a pid now held by another process, or another host.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import observability_records as helper
import pyarrow as pa
import pytest

from orcapod.core import InMemoryArrowDatabase, Schema, Tag
from orcapod.core.datagrams._datagram import RowBlock
from orcapod.observers import _tables
from orcapod.observers._cli import cli_commands
from orcapod.observers._composite import CompositeObserver
from orcapod.observers._liveness import Liveness, Process, liveness, machine_key, this_process
from orcapod.observers._logging import LoggingObserver
from orcapod.observers._reader import (
    STALE_AFTER_AT_LEAST_S,
    STALE_AFTER_INTERVALS,
    ObservabilityReader,
)
from orcapod.observers._status import StatusObserver
from orcapod.observers._tables import add_heartbeat, write_run_end, write_run_start
from orcapod.protocols.errors import PacketCancelled
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
    from collections.abc import Iterator

LINUX_PROC = Path("/proc/self/stat").exists()
ELSEWHERE = "another-host.invalid"


def _run(run_id: str, started: datetime | None = None) -> RunInfo:
    return RunInfo(run_id, "lab", "memory://", started or datetime.now(UTC))


def _ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


@pytest.fixture
def dead_pid() -> int:
    """The pid of a child process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def zombie_pid() -> Iterator[int]:
    """The pid of a child that has exited and is not reaped yet (a zombie)."""
    if not LINUX_PROC:
        pytest.skip("zombies are recognised through /proc (Linux)")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    stat = Path(f"/proc/{child.pid}/stat")
    while stat.read_text().rpartition(")")[2].split()[0] != "Z":  # exited, not reaped
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    yield child.pid
    child.wait()


def _state(database: InMemoryArrowDatabase, run_id: str) -> dict[str, Any]:
    runs = ObservabilityReader(database, "lab").runs().to_pylist()
    [row] = [row for row in runs if row["__run_id"] == run_id]
    return row


# -- which process is alive ------------------------------------------------------------


def test_this_process_is_alive() -> None:
    assert liveness(this_process()) is Liveness.ALIVE


def test_a_reaped_child_is_gone(dead_pid: int) -> None:
    assert liveness(Process(socket.gethostname(), dead_pid)) is Liveness.GONE


def test_a_zombie_is_gone_though_its_pid_answers_signal_0(zombie_pid: int) -> None:
    os.kill(zombie_pid, 0)  # the kernel still knows the pid: a naive check says alive

    assert liveness(Process(socket.gethostname(), zombie_pid)) is Liveness.GONE


@pytest.mark.skipif(not LINUX_PROC, reason="start ticks are read from /proc (Linux)")
def test_a_pid_now_held_by_another_process_is_gone() -> None:
    me = this_process()
    assert me.key is not None
    machine, _, tick = me.key.rpartition("/")
    reused = Process(me.host, me.pid, f"{machine}/{int(tick) + 1}")  # started at another tick

    assert liveness(reused) is Liveness.GONE


def test_a_process_of_another_host_cannot_be_checked_from_here() -> None:
    assert liveness(Process(ELSEWHERE, os.getpid())) is Liveness.UNKNOWN


@pytest.mark.skipif(not LINUX_PROC, reason="pid namespaces are Linux's")
def test_a_process_of_another_pid_namespace_or_boot_cannot_be_checked_from_here() -> None:
    me = this_process()

    other = Process(me.host, me.pid, f"another-boot/pid:[4026531836]/{12345}")

    assert liveness(other) is Liveness.UNKNOWN


def test_a_pid_that_exists_without_a_key_is_not_taken_for_the_writer() -> None:
    # pid 1 exists in every pid namespace; as another user, signal 0 to it fails with
    # EPERM, which means it exists. Without a key nothing says it is the writer.
    assert liveness(Process(socket.gethostname(), 1)) is Liveness.EXISTS


# -- heartbeats written ----------------------------------------------------------------


class _FlushCounting(InMemoryArrowDatabase):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def _heartbeats(database: InMemoryArrowDatabase) -> list[dict[str, Any]]:
    table = database.get_all_records(("lab", "_heartbeats"), record_id_column="__heartbeat_id")
    return [] if table is None else table.sort_by("__timestamp").to_pylist()


def test_the_run_start_is_written_durably_with_a_first_heartbeat_of_this_process() -> None:
    database = _FlushCounting()
    before = datetime.now(UTC)

    StatusObserver(database).on_run_start(_run("r1"))

    assert database.flushes == 1  # the start record and the heartbeat, one flush
    [beat] = _heartbeats(database)
    me = this_process()
    assert (beat["__run_id"], beat["__host"], beat["__pid"]) == ("r1", me.host, me.pid)
    assert beat["__process_key"] == me.key
    assert beat["__timestamp"] >= before - timedelta(milliseconds=1)


def test_every_flush_of_a_run_refreshes_its_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tables, "HEARTBEAT_SPACING", 0.01)
    database = InMemoryArrowDatabase()
    observer = StatusObserver(database)
    observer.on_run_start(_run("r1"))

    for _ in range(3):
        time.sleep(0.02)
        observer.flush()

    beats = _heartbeats(database)
    assert len(beats) == 4
    assert len({beat["__timestamp"] for beat in beats}) == 4


def test_observers_sharing_a_database_write_one_heartbeat_per_checkpoint() -> None:
    database = InMemoryArrowDatabase()
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    run = _run("r1")

    observer.on_run_start(run)  # both write the start: one record, one heartbeat
    for child in (LoggingObserver, StatusObserver):
        child(database).on_run_start(run)  # even more writers of the same run: no error
    for child in observer.observers:
        child.flush()  # right after the start: no heartbeat is due yet

    assert len(_heartbeats(database)) == 1


def test_heartbeats_are_written_at_most_once_a_second_per_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = InMemoryArrowDatabase()
    observer = StatusObserver(database)
    observer.on_run_start(_run("r1"))
    for _ in range(50):
        observer.flush()
    assert len(_heartbeats(database)) == 1

    monkeypatch.setattr(_tables, "HEARTBEAT_SPACING", 0.0)
    observer.flush()

    assert len(_heartbeats(database)) == 2


def test_a_flush_outside_a_run_writes_no_heartbeat() -> None:
    database = InMemoryArrowDatabase()
    observer = StatusObserver(database)

    observer.flush()
    run = _run("r1")
    observer.on_run_start(run)
    observer.on_run_end(run, RunOutcome(RunState.SUCCESS, datetime.now(UTC), 0, 0, 0))
    observer.flush()

    assert [beat["__run_id"] for beat in _heartbeats(database)] == ["r1"]


def test_a_store_whose_runs_predate_heartbeats_takes_new_runs_beside_them() -> None:
    database = InMemoryArrowDatabase()
    old = helper.Records(database, "lab", {})
    old.run("old", 0, 10)

    StatusObserver(database).on_run_start(_run("new"))

    runs = ObservabilityReader(database, "lab").runs()
    assert dict(zip(runs["__run_id"].to_pylist(), runs["__state"].to_pylist(), strict=True)) == {
        "new": "RUNNING",
        "old": "SUCCESS",
    }


# -- runs: RUNNING or CRASHED ----------------------------------------------------------


def test_a_run_whose_process_is_gone_is_crashed_at_once(dead_pid: int) -> None:
    database = InMemoryArrowDatabase()
    process = Process(socket.gethostname(), dead_pid)
    write_run_start(database, _run("r1"), process=process)
    add_heartbeat(database, "lab", "r1", process=process)  # fresh: the pid says more

    row = _state(database, "r1")

    assert row["__state"] == "CRASHED"
    assert row["__error"] == f"process {dead_pid} on {socket.gethostname()} is gone"
    assert row["__ended_at"] is None
    assert row["__heartbeat_at"] is not None


def test_a_run_whose_process_is_a_zombie_is_crashed(zombie_pid: int) -> None:
    database = InMemoryArrowDatabase()
    write_run_start(database, _run("r1"), process=Process(socket.gethostname(), zombie_pid))

    assert _state(database, "r1")["__state"] == "CRASHED"


@pytest.mark.skipif(not LINUX_PROC, reason="start ticks are read from /proc (Linux)")
def test_a_run_whose_pid_was_given_to_another_process_is_crashed() -> None:
    me = this_process()
    assert me.key is not None
    machine, _, tick = me.key.rpartition("/")
    write_run_start(
        database := InMemoryArrowDatabase(),
        _run("r1"),
        process=Process(me.host, me.pid, f"{machine}/{int(tick) - 1}"),
    )

    assert _state(database, "r1")["__state"] == "CRASHED"


def test_a_run_whose_process_lives_here_is_running_even_if_its_heartbeat_is_old() -> None:
    database = InMemoryArrowDatabase()
    write_run_start(database, _run("r1", _ago(3600)))
    add_heartbeat(database, "lab", "r1", when=_ago(3600))

    row = _state(database, "r1")

    assert row["__state"] == "RUNNING"
    assert row["__error"] is None


def test_a_run_of_another_host_with_a_fresh_heartbeat_is_running() -> None:
    database = InMemoryArrowDatabase()
    elsewhere = Process(ELSEWHERE, 4242)
    write_run_start(database, _run("r1", _ago(3600)), process=elsewhere)
    beat = _ago(3)
    add_heartbeat(database, "lab", "r1", when=_ago(1800), process=elsewhere)
    add_heartbeat(database, "lab", "r1", when=beat, process=elsewhere)  # the latest counts

    row = _state(database, "r1")

    assert row["__state"] == "RUNNING"
    assert abs(row["__heartbeat_at"] - beat) < timedelta(milliseconds=1)


def test_a_run_of_another_host_whose_heartbeat_is_stale_is_crashed() -> None:
    database = InMemoryArrowDatabase()
    elsewhere = Process(ELSEWHERE, 4242)
    write_run_start(database, _run("r1", _ago(7200)), process=elsewhere)
    add_heartbeat(database, "lab", "r1", when=_ago(3600), interval=5.0, process=elsewhere)

    row = _state(database, "r1")

    assert row["__state"] == "CRASHED"
    assert row["__error"].startswith("no heartbeat since ")
    assert row["__error"].endswith("(60 min ago, stale after 120s)")


@pytest.mark.parametrize(
    ("interval", "silent", "state"),
    [
        (5.0, STALE_AFTER_AT_LEAST_S - 10, "RUNNING"),  # 12 intervals are 60 s: the floor rules
        (5.0, STALE_AFTER_AT_LEAST_S + 10, "CRASHED"),
        (None, STALE_AFTER_AT_LEAST_S - 10, "RUNNING"),  # no interval named: the default
        (None, STALE_AFTER_AT_LEAST_S + 10, "CRASHED"),
        (60.0, STALE_AFTER_INTERVALS * 60 - 20, "RUNNING"),  # a long interval is honoured
        (60.0, STALE_AFTER_INTERVALS * 60 + 20, "CRASHED"),
    ],
)
def test_a_heartbeat_is_stale_after_many_promised_intervals_and_two_minutes_at_least(
    interval: float | None, silent: float, state: str
) -> None:
    database = InMemoryArrowDatabase()
    elsewhere = Process(ELSEWHERE, 4242)
    write_run_start(database, _run("r1", _ago(silent)), process=elsewhere, interval=interval)
    add_heartbeat(database, "lab", "r1", when=_ago(silent), interval=interval, process=elsewhere)

    assert _state(database, "r1")["__state"] == state


def test_a_run_written_before_heartbeats_is_judged_from_its_start() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "lab", {})  # host lab-host, no heartbeats
    records.run("long-ago", 0)

    row = _state(database, "long-ago")

    assert row["__state"] == "CRASHED"
    assert row["__error"].startswith("no heartbeat since its start at 2024-05-01 12:00:00 UTC")


def test_a_run_without_heartbeats_whose_pid_exists_here_stays_running() -> None:
    database = InMemoryArrowDatabase()
    run = _run("r1", _ago(3600))
    # Written as before heartbeats: only the start record, naming a pid that exists.
    _tables._add_run_record(
        database,
        run,
        "r1:start",
        _tables._run_row(
            run, None, "RUNNING", (None, None, None), None, Process(socket.gethostname(), 1)
        ),
    )

    assert _state(database, "r1")["__state"] == "RUNNING"


def test_a_run_without_a_start_time_or_heartbeat_elsewhere_is_not_called_crashed() -> None:
    database = InMemoryArrowDatabase()
    row = {name: None for name in helper.RUN_COLUMNS.names}
    row |= {"__record_id": "r1:start", "__run_id": "r1", "__state": "RUNNING", "__host": ELSEWHERE}
    table = pa.Table.from_pylist([row], schema=helper.RUN_COLUMNS)
    database.add_records(("lab", "_runs"), table, "__record_id")

    assert _state(database, "r1")["__state"] == "RUNNING"


@pytest.mark.parametrize("state", [RunState.SUCCESS, RunState.INTERRUPTED, RunState.FAILED])
def test_a_run_that_ended_keeps_its_written_state_whatever_its_process(
    dead_pid: int, state: RunState
) -> None:
    database = InMemoryArrowDatabase()
    process = Process(socket.gethostname(), dead_pid)
    run = _run("r1", _ago(3600))
    write_run_start(database, run, process=process)
    write_run_end(database, run, RunOutcome(state, _ago(3000), 1, 0, 0), process=process)

    row = _state(database, "r1")

    assert row["__state"] == str(state)
    assert row["__heartbeat_at"] is None


# -- packets: LOST and CANCELLED -------------------------------------------------------

TAGS = pa.schema([("id", pa.int64())])


def _packets(database: InMemoryArrowDatabase) -> helper.Records:
    return helper.Records(database, "lab", {"square": TAGS})


def test_packets_left_running_by_a_crashed_run_are_lost(dead_pid: int) -> None:
    database = InMemoryArrowDatabase()
    write_run_start(database, _run("r1"), process=Process(socket.gethostname(), dead_pid))
    records = _packets(database)
    records.event("square", {"id": 1}, "RUNNING", run="r1", when=1)
    records.event("square", {"id": 1}, "SUCCESS", run="r1", when=2)
    records.event("square", {"id": 2}, "RUNNING", run="r1", when=3)
    reader = ObservabilityReader(database, "lab")

    latest = reader.status(node="square")
    every = reader.status(node="square", latest=False)
    [summary] = reader.summary().to_pylist()

    assert latest["__state"].to_pylist() == ["SUCCESS", "LOST"]
    assert every["__state"].to_pylist() == ["RUNNING", "SUCCESS", "RUNNING"]  # as written
    assert (summary["__n_success"], summary["__n_running"], summary["__n_lost"]) == (1, 0, 1)


def test_packets_running_in_a_live_run_are_running() -> None:
    database = InMemoryArrowDatabase()
    write_run_start(database, _run("r1"))  # this process: alive
    _packets(database).event("square", {"id": 1}, "RUNNING", run="r1", when=1)
    reader = ObservabilityReader(database, "lab")

    assert reader.status()["__state"].to_pylist() == ["RUNNING"]
    assert reader.summary()["__n_running"].to_pylist() == [1]


def test_a_packet_left_running_by_a_run_that_ended_is_lost() -> None:
    database = InMemoryArrowDatabase()
    run = _run("r1")
    write_run_start(database, run)
    write_run_end(database, run, RunOutcome(RunState.INTERRUPTED, datetime.now(UTC), 0, 0, 0))
    _packets(database).event("square", {"id": 1}, "RUNNING", run="r1", when=1)

    status = ObservabilityReader(database, "lab").status(run_id="r1")

    assert status["__state"].to_pylist() == ["LOST"]


def _tag(value: int) -> Tag:
    return Tag(RowBlock(pa.table({"id": [value]}), Schema([("id", int)])), 0)


def test_a_packet_stopped_in_flight_is_cancelled_with_the_reason() -> None:
    database = InMemoryArrowDatabase()
    observer = StatusObserver(database)
    run = _run("r1")
    observer.on_run_start(run)
    node = observer.contextualize("lab", "square", "h1")
    node.on_node_start("square", "h1", Schema([("id", int)]))
    stopped, failed = _tag(1), _tag(2)
    for tag in (stopped, failed):
        node.on_packet_start("square", tag, tag)  # type: ignore[arg-type]
    reason = PacketCancelled("fail_fast: another packet failed\nmore detail")
    node.on_packet_crash("square", stopped, stopped, reason)  # type: ignore[arg-type]
    node.on_packet_crash("square", failed, failed, ValueError("bad 2"))  # type: ignore[arg-type]
    observer.on_run_end(run, RunOutcome(RunState.FAILED, datetime.now(UTC), 0, 1, 0))

    rows = ObservabilityReader(database, "lab").status().to_pylist()

    assert [(row["id"], row["__state"], row["__error_summary"]) for row in rows] == [
        (1, "CANCELLED", "cancelled: fail_fast: another packet failed"),
        (2, "FAILED", "ValueError: bad 2"),
    ]


# -- the command line ------------------------------------------------------------------


class _Host:
    """Lends one database to the commands (their close() leaves it open)."""

    def __init__(self, database: InMemoryArrowDatabase) -> None:
        self.database = database

    def open_database(self, uri: str, **options: Any) -> Any:
        database = self.database

        class Borrowed:
            def __getattr__(self, name: str) -> Any:
                return getattr(database, name)

            def close(self) -> None:
                pass

        return Borrowed()

    def get_executor(self, name: str, **options: Any) -> Any:
        raise NotImplementedError

    def get_observer(self, name: str, **options: Any) -> Any:
        raise NotImplementedError


def _orcapod(database: InMemoryArrowDatabase, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="orcapod")
    subparsers = parser.add_subparsers()
    for name, factory in cli_commands().items():
        command = factory(_Host(database))  # type: ignore[arg-type]
        sub = subparsers.add_parser(name)
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    args = parser.parse_args(argv)
    return args._command.run(args)  # type: ignore[no-any-return]


def test_the_commands_show_a_crashed_run_and_its_lost_and_cancelled_packets(
    dead_pid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    database = InMemoryArrowDatabase()
    host = socket.gethostname()
    write_run_start(database, _run("r1"), process=Process(host, dead_pid))
    records = _packets(database)
    records.event("square", {"id": 1}, "RUNNING", run="r1", when=1)
    records.event("square", {"id": 2}, "RUNNING", run="r1", when=1)
    records.event("square", {"id": 2}, "CANCELLED", run="r1", when=2, error="cancelled: SIGTERM")

    assert _orcapod(database, "runs", "memory://") == 0
    runs = capsys.readouterr().out.splitlines()
    assert _orcapod(database, "status", "memory://") == 0
    status = capsys.readouterr().out.splitlines()

    assert runs[1].split()[:2] == ["r1", "CRASHED"]
    assert runs[1].endswith(f"process {dead_pid} on {host} is gone")
    assert status[1].split()[:2] == ["square", "LOST"]
    assert status[1].endswith("left RUNNING: its run CRASHED before it finished")
    assert status[2].split()[:2] == ["square", "CANCELLED"]
    assert status[2].endswith("cancelled: SIGTERM")
    assert status[-1] == "2 packet(s): 1 CANCELLED, 1 LOST"


def test_machine_key_names_boot_and_pid_namespace_on_linux() -> None:
    key = machine_key()
    if LINUX_PROC:
        assert key is not None
        assert "/pid:[" in key
    else:
        assert key is None


# -- a stored result is not LOST because another run crashed on the same packet --------
#
# Two processes run one pipeline on one store at once: run "A" computes packet 1 and
# records SUCCESS; run "B", started a moment later (before A ends), starts packet 1 too
# (and packet 2, which only B reaches) and is killed. Every event is written by a real
# StatusObserver; B's process is simulated here (a dead pid), and is a real process
# killed with SIGKILL in tests-integration/test_overlapping_runs.py.

SQUARE = Schema([("id", int)])


class _ObservedRun:
    """One run of node ``square`` as a pipeline's StatusObserver records it; open until end()."""

    def __init__(
        self,
        database: Any,
        run_id: str,
        *,
        node_hash: str = "h1",
        succeeded: tuple[int, ...] = (),
        cached: tuple[int, ...] = (),
        failed: tuple[int, ...] = (),
        cancelled: tuple[int, ...] = (),
        running: tuple[int, ...] = (),
    ) -> None:
        self.observer = StatusObserver(database)
        self.run = _run(run_id)
        self.observer.on_run_start(self.run)
        node = self.observer.contextualize("lab", "square", node_hash)
        node.on_node_start("square", node_hash, SQUARE)
        for value in cached:
            tag = _tag(value)
            node.on_packet_end("square", tag, tag, tag, cached=True, source_run_id="earlier")  # type: ignore[arg-type]
        for value in (*succeeded, *failed, *cancelled, *running):
            tag = _tag(value)
            node.on_packet_start("square", tag, tag)  # type: ignore[arg-type]
        for value in succeeded:
            tag = _tag(value)
            node.on_packet_end("square", tag, tag, tag, cached=False)  # type: ignore[arg-type]
        for value in failed:
            tag = _tag(value)
            node.on_packet_crash("square", tag, tag, ValueError(f"bad {value}"))  # type: ignore[arg-type]
        for value in cancelled:
            tag = _tag(value)
            node.on_packet_crash("square", tag, tag, PacketCancelled("SIGTERM"))  # type: ignore[arg-type]
        self.observer.flush()  # a checkpoint: the events are stored

    def end(self, state: RunState = RunState.SUCCESS) -> None:
        time.sleep(0.002)  # the end is later than any other run's start
        self.observer.on_run_end(self.run, RunOutcome(state, datetime.now(UTC), 0, 0, 0))


def _ended_run(database: Any, run_id: str, state: RunState, **packets: Any) -> None:
    _ObservedRun(database, run_id, **packets).end(state)


def _crashed_run_here(
    database: InMemoryArrowDatabase,
    dead_pid: int,
    monkeypatch: pytest.MonkeyPatch,
    run_id: str = "B",
    **packets: Any,
) -> None:
    """A run observed by a StatusObserver in a process that is gone (``dead_pid``)."""
    time.sleep(0.002)  # it starts after the runs before it
    with monkeypatch.context() as patch:
        patch.setattr(_tables, "this_process", lambda: Process(socket.gethostname(), dead_pid))
        _ObservedRun(database, run_id, **packets)


def _current(reader: ObservabilityReader, **options: Any) -> list[tuple[int, str, str]]:
    """(id, state, run) of each packet of node ``square`` as ``status`` shows it."""
    rows = reader.status(node="square", **options).sort_by("id").to_pylist()
    return [(row["id"], row["__state"], row["__run_id"]) for row in rows]


@pytest.mark.parametrize("result", ["SUCCESS", "CACHED"])
def test_a_result_outranks_the_running_of_a_run_that_crashed_beside_its_run(
    result: str, dead_pid: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", **{"succeeded" if result == "SUCCESS" else "cached": (1,)})
    _crashed_run_here(database, dead_pid, monkeypatch, running=(1, 2))
    a.end()
    reader = ObservabilityReader(database, "lab")

    assert _state(database, "B")["__state"] == "CRASHED"
    assert _current(reader) == [(1, result, "A"), (2, "LOST", "B")]
    assert _current(reader, run_id="B") == [(1, "LOST", "B"), (2, "LOST", "B")]
    every = reader.status(node="square", latest=False)
    assert every["__state"].to_pylist()[-2:] == ["RUNNING", "RUNNING"]  # as written

    assert _orcapod(database, "status", "memory://") == 0
    status = capsys.readouterr().out.splitlines()
    assert status[1].split()[:2] == ["square", result]
    assert status[-1] == f"2 packet(s): 1 {result}, 1 LOST"


def test_a_result_of_a_run_still_running_outranks_a_crashed_runs_running(
    dead_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = InMemoryArrowDatabase()
    _ObservedRun(database, "A", succeeded=(1,))  # no end yet: this process, alive
    _crashed_run_here(database, dead_pid, monkeypatch, running=(1,))

    assert _current(ObservabilityReader(database, "lab")) == [(1, "SUCCESS", "A")]


def test_a_packet_cancelled_by_a_run_beside_the_one_that_stored_it_keeps_its_result() -> None:
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", succeeded=(1,))
    _ended_run(database, "B", RunState.INTERRUPTED, cancelled=(1, 2))
    a.end()
    reader = ObservabilityReader(database, "lab")

    assert _current(reader) == [(1, "SUCCESS", "A"), (2, "CANCELLED", "B")]
    assert _current(reader, run_id="B") == [(1, "CANCELLED", "B"), (2, "CANCELLED", "B")]


def test_several_runs_that_lost_a_packet_beside_the_one_that_stored_it_change_nothing(
    dead_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # B ended INTERRUPTED leaving packet 1 RUNNING (LOST as well), then C crashed on it.
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", succeeded=(1,))
    b = _ObservedRun(database, "B", running=(1,))
    _crashed_run_here(database, dead_pid, monkeypatch, run_id="C", running=(1,))
    b.end(RunState.INTERRUPTED)
    a.end()
    reader = ObservabilityReader(database, "lab")

    assert _current(reader) == [(1, "SUCCESS", "A")]
    assert _current(reader, run_id="B") == [(1, "LOST", "B")]
    assert _current(reader, run_id="C") == [(1, "LOST", "C")]


@pytest.mark.parametrize("result", ["succeeded", "cached"])
def test_a_run_started_after_the_results_run_ended_that_lost_the_packet_shows_lost(
    result: str, dead_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run started after A's end would have found A's result: it computed packet 1
    # because the result was gone (deleted, say, after `orcapod verify`). Its loss stands.
    database = InMemoryArrowDatabase()
    _ended_run(database, "A", RunState.SUCCESS, **{result: (1,)})
    _crashed_run_here(database, dead_pid, monkeypatch, running=(1,))

    assert _current(ObservabilityReader(database, "lab")) == [(1, "LOST", "B")]


def test_a_packet_computing_now_in_a_live_run_shows_running_beside_a_result() -> None:
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", succeeded=(1,))
    _ObservedRun(database, "B", running=(1,))  # this process: alive
    a.end()

    assert _current(ObservabilityReader(database, "lab")) == [(1, "RUNNING", "B")]


def test_a_later_failure_is_still_shown_beside_a_result() -> None:
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", succeeded=(1,))
    _ended_run(database, "B", RunState.PARTIAL, failed=(1,))
    a.end()

    assert _current(ObservabilityReader(database, "lab")) == [(1, "FAILED", "B")]


def test_a_packet_that_failed_and_was_then_lost_stays_lost(
    dead_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", failed=(1,))
    _crashed_run_here(database, dead_pid, monkeypatch, running=(1,))
    a.end(RunState.PARTIAL)

    assert _current(ObservabilityReader(database, "lab")) == [(1, "LOST", "B")]


def test_a_result_of_another_version_of_the_node_does_not_hide_a_lost_packet(
    dead_pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = InMemoryArrowDatabase()
    a = _ObservedRun(database, "A", node_hash="v1", succeeded=(1,))
    _crashed_run_here(database, dead_pid, monkeypatch, node_hash="v2", running=(1,))
    a.end()

    assert _current(ObservabilityReader(database, "lab")) == [(1, "LOST", "B")]
