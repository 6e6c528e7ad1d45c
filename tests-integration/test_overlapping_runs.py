"""Two runs of one pipeline on one store at once; one is killed with SIGKILL.

Run "A" computes packet 1 and records SUCCESS; run "B", started before A
ends, starts packets 1 and 2 in a process of its own and is killed there
(``kill -9``: no end record). A reader in a new process must show B CRASHED,
packet 1 SUCCESS (its result is stored: B's loss says nothing against it) and
packet 2 LOST; B's own view says B lost both. Every event is written by a real
StatusObserver, on real SQLite and Delta stores.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core import Schema, Tag, open_database
from orcapod.core.cli import main
from orcapod.core.datagrams._datagram import RowBlock
from orcapod.observers import ObservabilityReader, StatusObserver
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
    from pathlib import Path

SQUARE = Schema([("id", int)])

_KILLED_RUN = """
import os
import signal
import sys
from datetime import UTC, datetime

import pyarrow as pa

from orcapod.core import Schema, Tag, open_database
from orcapod.core.datagrams._datagram import RowBlock
from orcapod.observers import StatusObserver
from orcapod.protocols.values import RunInfo

uri, *ids = sys.argv[1:]
database = open_database(uri)
observer = StatusObserver(database)
observer.on_run_start(RunInfo("B", "lab", uri, datetime.now(UTC)))
node = observer.contextualize("lab", "square", "h1")
node.on_node_start("square", "h1", Schema([("id", int)]))
for value in ids:
    tag = Tag(RowBlock(pa.table({"id": [int(value)]}), Schema([("id", int)])), 0)
    node.on_packet_start("square", tag, tag)
observer.flush()  # the RUNNING events are stored, as at a checkpoint
os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no end record, nothing more written
"""


def _tag(value: int) -> Tag:
    return Tag(RowBlock(pa.table({"id": [value]}), SQUARE), 0)


def _current(reader: ObservabilityReader, **options: Any) -> list[tuple[int, str, str]]:
    rows = reader.status(node="square", **options).sort_by("id").to_pylist()
    return [(row["id"], row["__state"], row["__run_id"]) for row in rows]


@pytest.mark.parametrize("store", ["sqlite", "delta"])
def test_a_run_killed_on_a_packet_another_run_stored_does_not_make_it_lost(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'lab.db'}" if store == "sqlite" else f"delta://{tmp_path}"
    database = open_database(uri)
    # Run A: packet 1 computed and its SUCCESS stored; A is still running.
    observer = StatusObserver(database)
    run = RunInfo("A", "lab", uri, datetime.now(UTC))
    observer.on_run_start(run)
    node = observer.contextualize("lab", "square", "h1")
    node.on_node_start("square", "h1", SQUARE)
    node.on_packet_start("square", _tag(1), _tag(1))  # type: ignore[arg-type]
    node.on_packet_end("square", _tag(1), _tag(1), _tag(1), cached=False)  # type: ignore[arg-type]
    observer.flush()
    # Meanwhile run B starts packets 1 and 2 in its own process, and is killed.
    time.sleep(0.002)
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, uri, "1", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr
    time.sleep(0.002)
    observer.on_run_end(run, RunOutcome(RunState.SUCCESS, datetime.now(UTC), 1, 0, 0))
    database.close()

    database = open_database(uri)
    reader = ObservabilityReader(database, "lab")
    runs = {row["__run_id"]: row["__state"] for row in reader.runs().to_pylist()}
    current = _current(reader)
    in_b = _current(reader, run_id="B")
    [summary] = reader.summary().to_pylist()  # of the latest run, B
    database.close()
    assert main(["status", uri, "--pipeline", "lab"]) == 0
    status = capsys.readouterr().out.splitlines()

    assert runs == {"A": "SUCCESS", "B": "CRASHED"}
    assert current == [(1, "SUCCESS", "A"), (2, "LOST", "B")]  # only 2 has no result
    assert in_b == [(1, "LOST", "B"), (2, "LOST", "B")]  # B's own view: B lost both
    assert (summary["__run_id"], summary["__n_lost"], summary["__n_success"]) == ("B", 2, 0)
    assert status[1].split()[:2] == ["square", "SUCCESS"]
    assert status[1].split()[5] == "A"  # NODE STATE ATTEMPT DATE TIME RUN
    assert status[2].split()[:2] == ["square", "LOST"]
    assert status[2].endswith("left RUNNING: its run CRASHED before it finished")
    assert status[-1] == "2 packet(s): 1 SUCCESS, 1 LOST"
