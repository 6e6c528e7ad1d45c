"""A pod's retries in the stored records: a log row per attempt, FAILED / RUNNING per retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, LocalExecutor, Pipeline, function_pod
from orcapod.observers._composite import CompositeObserver
from orcapod.observers._logging import LoggingObserver
from orcapod.observers._progress import ProgressObserver
from orcapod.observers._reader import ObservabilityReader
from orcapod.observers._status import StatusObserver

if TYPE_CHECKING:
    import pyarrow as pa


class InstrumentBusy(Exception):
    """A transient failure worth another attempt."""


CALLS: dict[int, int] = {}
FAILS_FOR = {1: 0, 2: 1, 3: 9}
"""How many first attempts fail per x: 1 never, 2 once, 3 always (retries=2: 3 attempts)."""


@function_pod(output_keys="y", retries=2, retry_on=(InstrumentBusy,))
def scan(x: int) -> int:
    CALLS[x] = attempt = CALLS.get(x, 0) + 1
    print(f"attempt {attempt} for {x}")
    if attempt <= FAILS_FOR[x]:
        raise InstrumentBusy(f"busy on attempt {attempt} for {x}")
    return x


def _pipeline(database: InMemoryArrowDatabase) -> Pipeline:
    CALLS.clear()
    pipeline = Pipeline("lab", database)
    with pipeline:
        scan.pod(DictSource([{"k": x, "x": x} for x in (1, 2, 3)], tag_columns="k"), label="scan")
    return pipeline


def _branch(database: InMemoryArrowDatabase, pipeline: Pipeline, branch: str) -> pa.Table:
    name, label, node_hash = pipeline.nodes["scan"].pipeline_path
    table = database.get_all_records((name, branch, label, node_hash))
    assert table is not None
    return table


def _per_packet(table: pa.Table, *columns: str) -> dict[int, list[tuple[Any, ...]]]:
    rows: dict[int, list[tuple[Any, ...]]] = {}
    for row in table.sort_by("__timestamp").to_pylist():  # a stable sort: ties keep their order
        rows.setdefault(row["k"], []).append(tuple(row[c] for c in columns))
    return rows


EVENTS = {
    1: [("RUNNING", 1, None), ("SUCCESS", 1, None)],
    2: [
        ("RUNNING", 1, None),
        ("FAILED", 1, "InstrumentBusy: busy on attempt 1 for 2"),
        ("RUNNING", 2, None),
        ("SUCCESS", 2, None),
    ],
    3: [
        ("RUNNING", 1, None),
        ("FAILED", 1, "InstrumentBusy: busy on attempt 1 for 3"),
        ("RUNNING", 2, None),
        ("FAILED", 2, "InstrumentBusy: busy on attempt 2 for 3"),
        ("RUNNING", 3, None),
        ("FAILED", 3, "InstrumentBusy: busy on attempt 3 for 3"),
    ],
}
"""Every packet's status events, each exactly once, whoever else observes the run."""


@pytest.fixture(params=["sync", "async"])
def orchestrator(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _events(database: InMemoryArrowDatabase, pipeline: Pipeline) -> dict[int, list[Any]]:
    return _per_packet(
        _branch(database, pipeline, "_status"), "__state", "__attempt", "__error_summary"
    )


def test_a_status_observer_alone_sees_every_attempt_without_capturing(orchestrator: str) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)

    result = pipeline.run(orchestrator, observer=StatusObserver(database))

    assert (result.nodes["scan"].computed, result.nodes["scan"].failed) == (2, 1)
    assert _events(database, pipeline) == EVENTS
    assert (
        database.get_all_records(
            (pipeline.name, "_logs", *pipeline.nodes["scan"].pipeline_path[1:])
        )
        is None
    )  # nothing was captured for it


def test_beside_an_observer_keeping_no_records_attempts_are_still_heard(orchestrator: str) -> None:
    # A composite whose children keep no records captures nothing, yet its status
    # child hears each retried attempt that the run records itself.
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    observer = CompositeObserver(StatusObserver(database), ProgressObserver(force=False))

    pipeline.run(orchestrator, observer=observer)

    assert _events(database, pipeline) == EVENTS


@pytest.mark.parametrize("capture", ["sys", "fd"])
def test_beside_a_logging_observer_each_attempt_has_its_row_and_its_events_once(
    orchestrator: str, capture: str
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))

    pipeline.run(orchestrator, executor=LocalExecutor(capture), observer=observer)

    assert _events(database, pipeline) == EVENTS
    logs = _per_packet(_branch(database, pipeline, "_logs"), "__attempt", "__success", "__stdout")
    assert logs == {
        1: [(1, True, "attempt 1 for 1\n")],
        2: [(1, False, "attempt 1 for 2\n"), (2, True, "attempt 2 for 2\n")],
        3: [(n, False, f"attempt {n} for 3\n") for n in (1, 2, 3)],
    }


def test_the_reader_shows_each_packets_last_attempt_and_a_rerun_caches_the_retried_result(
    orchestrator: str,
) -> None:
    database = InMemoryArrowDatabase()
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    _pipeline(database).run(orchestrator, observer=observer)
    reader = ObservabilityReader(database, pipeline="lab")

    latest = {r["k"]: (r["__state"], r["__attempt"]) for r in reader.status().to_pylist()}
    assert latest == {1: ("SUCCESS", 1), 2: ("SUCCESS", 2), 3: ("FAILED", 3)}

    again = _pipeline(database).run(orchestrator, observer=observer)

    assert (again.nodes["scan"].cached, again.nodes["scan"].failed) == (2, 1)
    assert CALLS == {3: 3}  # only the failed packet ran again, with all its attempts
    run_id = again.run_id
    latest = {
        r["k"]: (r["__state"], r["__attempt"]) for r in reader.status(run_id=run_id).to_pylist()
    }
    assert latest == {1: ("CACHED", 1), 2: ("CACHED", 1), 3: ("FAILED", 3)}
