"""Records a store refuses, on a database the run and its observers share.

Every writer of a shared database flushes what it wrote (``flush_paths``), so
rows one writer cannot store never fail another's flush:

- an observer whose rows the store refuses is reported once and skipped, and
  the run, its results and the other observers' rows are stored as usual;
- a result the store refuses fails the run with the store's error, the
  packets whose results were not stored are reported failed after their
  success (so no status says SUCCESS for a result the store does not hold),
  and the run's end is still recorded (FAILED with that error, never left
  RUNNING for readers to call CRASHED).

The refusal is SQLite's own: a connection's SQLITE_LIMIT_LENGTH lowered to a
few kilobytes makes SQLite refuse a longer value at the flush ("string or
blob too big"), as it refuses a value over its 1 GB default.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from orcapod.core import DictSource, Pipeline, function_pod
from orcapod.db.sql import SQLDatabase
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    StatusObserver,
)
from orcapod.protocols.errors import DatabaseError

if TYPE_CHECKING:
    from pathlib import Path

LIMIT = 4096
"""Bytes: the longest value the test's SQLite connections store."""
PACKETS = 6


@function_pod(output_keys="y")
def chatty(x: int) -> int:
    print("x" * (2 * LIMIT))  # a log row whose stdout the store refuses
    return x + 1


@function_pod(output_keys="text")
def verbose(x: int) -> str:
    return "t" * (2 * LIMIT) if x == 3 else "short"  # one result the store refuses


def limited(uri: str) -> SQLDatabase:
    """A SQLite store whose connections refuse values over LIMIT bytes."""
    database = SQLDatabase(uri)

    def lower_limit(connection: Any, _record: Any) -> None:
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMIT)

    engine: sa.Engine = database._engine  # the store's own engine: its connections
    sa.event.listen(engine, "connect", lower_limit)
    engine.dispose()  # connections made before the listener are not reused
    return database


def pipeline_of(database: SQLDatabase, pod: Any) -> Pipeline:
    source = DictSource([{"id": i, "x": i} for i in range(PACKETS)], tag_columns=["id"])
    pipeline = Pipeline("refusals", database)
    with pipeline:
        pod.pod(source, label="node")
    return pipeline


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_an_observer_whose_rows_the_store_refuses_never_fails_the_run(
    tmp_path: Path, orchestrator: str, caplog: pytest.LogCaptureFixture
) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    database = limited(uri)
    pipeline = pipeline_of(database, chatty)
    logging_observer = LoggingObserver(database)
    observer = CompositeObserver(logging_observer, StatusObserver(database))

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(orchestrator, observer=observer, flush_every=2)

    assert result.n_computed == PACKETS
    assert str(result.state) == "SUCCESS"
    reports = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(reports) == 1, "reported once, then skipped"
    assert "LoggingObserver" in reports[0].getMessage()
    assert "string or blob too big" in reports[0].getMessage()

    # Another process's view: the results, the status events and the run's end are stored.
    reader_db = SQLDatabase(uri)
    try:
        rows = pipeline.nodes["node"].as_table()
        assert sorted(rows.column("y").to_pylist()) == [x + 1 for x in range(PACKETS)]
        reader = ObservabilityReader(reader_db, "refusals")
        (run,) = reader.runs().to_pylist()
        assert run["__state"] == "SUCCESS"
        status = reader.status()
        assert status.num_rows == PACKETS
    finally:
        reader_db.close()
    with pytest.raises(DatabaseError, match="string or blob too big"):
        database.close()  # the refused log rows are still pending: closing says so


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_result_the_store_refuses_fails_the_run_and_its_end_is_recorded(
    tmp_path: Path, orchestrator: str
) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    database = limited(uri)
    pipeline = pipeline_of(database, verbose)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))

    with pytest.raises(DatabaseError, match="string or blob too big"):
        pipeline.run(orchestrator, observer=observer)

    reader_db = SQLDatabase(uri)
    try:
        reader = ObservabilityReader(reader_db, "refusals")
        (run,) = reader.runs().to_pylist()
        assert run["__state"] == "FAILED", "recorded failed, not left for readers to call CRASHED"
        assert "string or blob too big" in run["__error"]
        # The node's results were to be stored at its end, in one flush: none is stored,
        # and no packet's status says SUCCESS for a result the store does not hold.
        results_path = pipeline.nodes["node"].written_paths()[-1]
        assert reader_db.get_all_records(results_path) is None
        status = reader.status().to_pylist()
        assert len(status) == PACKETS
        assert {row["__state"] for row in status} == {"FAILED"}
        assert all("could not be stored" in row["__error_summary"] for row in status)
    finally:
        reader_db.close()


def test_a_refused_result_at_a_checkpoint_fails_only_the_packets_since_the_last_one(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    database = limited(uri)
    pipeline = pipeline_of(database, verbose)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))

    # Checkpoints after packets 0-1 (stored) and 2-3 (3's result refused: both lost).
    with pytest.raises(DatabaseError, match="string or blob too big"):
        pipeline.run(observer=observer, flush_every=2)

    reader_db = SQLDatabase(uri)
    try:
        states = {
            row["id"]: row["__state"]
            for row in ObservabilityReader(reader_db, "refusals").status().to_pylist()
        }
        assert states == {0: "SUCCESS", 1: "SUCCESS", 2: "FAILED", 3: "FAILED"}
        stored = reader_db.get_all_records(pipeline.nodes["node"].written_paths()[-1])
        assert stored is not None
        assert stored.num_rows == 2
    finally:
        reader_db.close()


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_repeated_packets_of_refused_results_are_counted_failed_not_cached(
    tmp_path: Path, orchestrator: str
) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    database = limited(uri)
    source = DictSource([{"id": i, "x": i % 4} for i in range(PACKETS)], tag_columns=["id"])
    pipeline = Pipeline("refusals", database)
    with pipeline:
        verbose.pod(source, label="node")  # ids 4 and 5 repeat the packets of ids 0 and 1

    with pytest.raises(DatabaseError, match="string or blob too big"):
        pipeline.run(orchestrator, observer=StatusObserver(database))

    reader_db = SQLDatabase(uri)
    try:
        (run,) = ObservabilityReader(reader_db, "refusals").runs().to_pylist()
        counts = (run["__n_success"], run["__n_failed"], run["__n_cached"])
        assert counts == (0, PACKETS, 0)
    finally:
        reader_db.close()
