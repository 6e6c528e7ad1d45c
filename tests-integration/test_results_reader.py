"""ObservabilityReader.results: a function node's rows in one run, read from the store alone.

Every run is a real pipeline run in a process of its own (as a user's would
be), on a real SQLite store; one is killed with SIGKILL mid-run. The reader
is given only the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core import open_database
from orcapod.observers import ObservabilityReader
from orcapod.observers.errors import (
    ObservabilityError,
    UnknownNodeError,
    UnknownPipelineError,
    UnknownRunError,
)
from orcapod.protocols.errors import StoreNotFoundError

if TYPE_CHECKING:
    from pathlib import Path

WORKER = textwrap.dedent(
    """
    import json
    import os
    import sys
    import time
    from pathlib import Path

    from orcapod.core import DictSource, Pipeline, function_pod, open_database
    from orcapod.core.operators import Join
    from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver


    @function_pod(output_keys="y")
    def double(x: int) -> int:
        if x < 0:
            raise ValueError(f"negative input {x}")
        if str(x) == os.environ.get("HANG_AT"):  # read at run time: not the function's identity
            Path(os.environ["HANG_MARKER"]).write_text("")
            time.sleep(600)
        return 2 * x


    uri, xs, source_id = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] or None
    db = open_database(uri)
    numbers = DictSource(
        [{"id": int(i), "x": x} for i, x in xs.items()], tag_columns=["id"], source_id=source_id
    )
    names = DictSource([{"id": int(i), "name": f"n{i}"} for i in xs], tag_columns=["id"])
    pipeline = Pipeline("lab", db)
    with pipeline:
        double.pod(numbers, label="double")
        Join(label="named")(numbers, names)
    if os.environ.get("AS_TABLE"):  # what the node gives with the code, without running
        print(json.dumps(pipeline.nodes["double"].as_table().to_pylist()))
        sys.exit(0)
    observers = [LoggingObserver(db)]
    if os.environ.get("OBSERVE") != "logs":
        observers.append(StatusObserver(db))
    result = pipeline.run(observer=CompositeObserver(*observers), flush_interval=0.1)
    print(json.dumps({"run_id": result.run_id, "state": str(result.state)}))
    """
)


class Lab:
    """Runs pipeline ``lab`` in processes of their own on one SQLite store."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.uri = f"sqlite:///{tmp_path}/store.db"
        self.script = tmp_path / "worker.py"
        self.script.write_text(WORKER)

    def run(self, xs: dict[int, int], *, source_id: str = "", observe: str = "all") -> str:
        """One run to its end; its run id."""
        done = subprocess.run(
            self._command(xs, source_id),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OBSERVE": observe},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        run_id: str = json.loads(done.stdout.splitlines()[-1])["run_id"]
        return run_id

    def run_killed(self, xs: dict[int, int], hang_at: int, *, wait_for: int) -> str:
        """A run killed with SIGKILL while computing ``x == hang_at``, once the packet
        ``id == wait_for`` is stored SUCCESS; its run id."""
        marker = self.tmp_path / "hanging"
        env = {**os.environ, "HANG_AT": str(hang_at), "HANG_MARKER": str(marker)}
        process = subprocess.Popen(self._command(xs, ""), env=env)
        try:
            deadline = time.monotonic() + 60
            while (run := self._running_with_success(wait_for)) is None or not marker.exists():
                assert process.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline, "the run never got to the hanging packet"
                time.sleep(0.05)
        finally:
            process.kill()
            process.wait()
        return run

    def reader(self) -> ObservabilityReader:
        return ObservabilityReader(open_database(self.uri, create=False), pipeline="lab")

    def _command(self, xs: dict[int, int], source_id: str) -> list[str]:
        return [sys.executable, str(self.script), self.uri, json.dumps(xs), source_id]

    def _running_with_success(self, packet: int) -> str | None:
        """The id of a RUNNING run in which packet ``id == packet`` is stored SUCCESS."""
        if not (self.tmp_path / "store.db").exists():
            return None
        try:
            reader = self.reader()
        except StoreNotFoundError:  # the file is made; its catalog is not committed yet
            return None
        try:
            runs = reader.runs().to_pylist()
        except UnknownPipelineError:  # the store exists; the run's start is not in it yet
            reader.database.close()
            return None
        try:
            running = [run["__run_id"] for run in runs if run["__state"] == "RUNNING"]
            if not running or "double" not in reader.nodes():
                return None
            events = reader.status(node="double", run_id=running[0]).to_pylist()
            done = any(e["id"] == packet and e["__state"] == "SUCCESS" for e in events)
            return running[0] if done else None
        finally:
            reader.database.close()


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda row: row["id"])


def _results(lab: Lab, node: str = "double", run_id: str | None = None) -> pa.Table:
    reader = lab.reader()
    try:
        return reader.results(node, run_id=run_id)
    finally:
        reader.database.close()


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


def test_a_source_edited_between_runs_gives_the_second_runs_rows(lab: Lab) -> None:
    first = lab.run({0: 1, 1: 2, 2: -3})
    second = lab.run({0: 5, 1: 2, 2: -3})  # id 0 edited; id 1 cached; id 2 fails again

    latest = _results(lab)
    assert latest.column_names == ["id", "y"]
    assert latest.schema.field("id").type == pa.int64()  # the tag's own type, not a string
    assert _rows(latest) == [{"id": 0, "y": 10}, {"id": 1, "y": 4}]
    assert _rows(_results(lab, run_id=second)) == _rows(latest)
    assert _rows(_results(lab, run_id=first)) == [{"id": 0, "y": 2}, {"id": 1, "y": 4}]


def test_a_packet_cached_in_the_run_is_there_and_a_failed_one_is_not(lab: Lab) -> None:
    lab.run({0: 1, 1: 2})
    second = lab.run({0: 1, 1: 2, 2: -3})
    reader = lab.reader()
    try:
        states = {e["id"]: e["__state"] for e in reader.status("double", second).to_pylist()}
        rows = _rows(reader.results("double"))
    finally:
        reader.database.close()

    assert states == {0: "CACHED", 1: "CACHED", 2: "FAILED"}
    assert rows == [{"id": 0, "y": 2}, {"id": 1, "y": 4}]


def test_a_fixed_source_id_edited_and_edited_back_gives_each_runs_own_value(lab: Lab) -> None:
    # Provenance is "trials:<id>" in every run, so a packet key names several records;
    # the run each result was computed in tells them apart.
    first = lab.run({0: 1, 1: 2}, source_id="trials")
    second = lab.run({0: 5, 1: 2}, source_id="trials")
    third = lab.run({0: 1, 1: 2}, source_id="trials")  # id 0 CACHED from the first run

    assert _rows(_results(lab, run_id=first)) == [{"id": 0, "y": 2}, {"id": 1, "y": 4}]
    assert _rows(_results(lab, run_id=second)) == [{"id": 0, "y": 10}, {"id": 1, "y": 4}]
    assert _rows(_results(lab, run_id=third)) == [{"id": 0, "y": 2}, {"id": 1, "y": 4}]
    assert _rows(_results(lab)) == _rows(_results(lab, run_id=third))


def test_a_killed_run_is_skipped_for_the_latest_finished_one(lab: Lab) -> None:
    finished = lab.run({0: 1, 1: 2, 2: 3})
    killed = lab.run_killed({0: 7, 1: 8, 2: 3}, hang_at=8, wait_for=0)  # id 0 stored as 14

    reader = lab.reader()
    try:
        assert reader.latest_finished_run() == finished
        assert _rows(reader.results("double")) == [
            {"id": 0, "y": 2},
            {"id": 1, "y": 4},
            {"id": 2, "y": 6},
        ]
        assert reader.runs().to_pylist()[0]["__state"] == "CRASHED"
        # Named, the killed run gives what it stored before the kill: id 0's result
        # (SUCCESS) and id 2's (CACHED). Its batch never ended, but each checkpoint records
        # the rows of the results it stores (the kill waited for id 0's SUCCESS, written
        # after them); id 1 was in flight.
        assert _rows(reader.results("double", run_id=killed)) == [
            {"id": 0, "y": 14},
            {"id": 2, "y": 6},
        ]
    finally:
        reader.database.close()


def test_results_are_what_as_table_gives_with_the_code(lab: Lab) -> None:
    lab.run({0: 1, 1: 2, 2: -3, 3: 4})
    xs = {0: 5, 1: 2, 2: -3, 3: 6}
    lab.run(xs)
    done = subprocess.run(
        [sys.executable, str(lab.script), lab.uri, json.dumps(xs), ""],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AS_TABLE": "1"},
        check=True,
    )
    with_code = sorted(json.loads(done.stdout), key=lambda row: row["id"])

    assert (
        _rows(_results(lab))
        == with_code
        == [
            {"id": 0, "y": 10},
            {"id": 1, "y": 4},
            {"id": 3, "y": 12},
        ]
    )


def test_a_run_without_a_status_observer_is_a_clear_error(lab: Lab) -> None:
    observed = lab.run({0: 1})
    unobserved = lab.run({0: 5}, observe="logs")

    with pytest.raises(ObservabilityError) as caught:
        _results(lab, run_id=unobserved)
    message = str(caught.value)
    assert unobserved in message
    assert "without a StatusObserver" in message
    assert "as_table()" in message
    # The latest finished run has no status events either: the default says the same.
    with pytest.raises(ObservabilityError, match="without a StatusObserver"):
        _results(lab)
    assert _rows(_results(lab, run_id=observed)) == [{"id": 0, "y": 2}]


def test_a_node_never_observed_by_a_status_observer_is_a_clear_error(lab: Lab) -> None:
    lab.run({0: 1}, observe="logs")

    with pytest.raises(ObservabilityError) as caught:
        _results(lab)
    assert "no status events" in str(caught.value)
    assert "StatusObserver" in str(caught.value)
    assert "pipeline.nodes['double'].as_table()" in str(caught.value)


def test_an_operator_node_is_refused_naming_as_table(lab: Lab) -> None:
    lab.run({0: 1})

    with pytest.raises(ObservabilityError) as caught:
        _results(lab, node="named")
    assert not isinstance(caught.value, UnknownNodeError)
    assert "operator" in str(caught.value)
    assert "pipeline.nodes['named'].as_table()" in str(caught.value)


def test_unknown_node_pipeline_and_run_are_clear_errors(lab: Lab) -> None:
    lab.run({0: 1})
    database = open_database(lab.uri, create=False)
    try:
        with pytest.raises(UnknownNodeError, match=r"no stored node 'nope'.*'double', 'named'"):
            ObservabilityReader(database, "lab").results("nope")
        with pytest.raises(UnknownRunError, match=r"no run 'r-none'"):
            ObservabilityReader(database, "lab").results("double", run_id="r-none")
        with pytest.raises(UnknownPipelineError, match=r"'other'.*'lab'"):
            ObservabilityReader(database, "other").results("double")
    finally:
        database.close()


def test_no_finished_run_is_a_clear_error(lab: Lab) -> None:
    killed = lab.run_killed({0: 7, 1: 8}, hang_at=8, wait_for=0)

    with pytest.raises(ObservabilityError) as caught:
        _results(lab)
    assert "no finished run" in str(caught.value)
    assert f"{killed} (CRASHED)" in str(caught.value)
