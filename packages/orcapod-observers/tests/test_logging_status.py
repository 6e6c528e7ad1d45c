"""LoggingObserver, StatusObserver, CompositeObserver and run records on real pipelines."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.core.errors import OrcapodError
from orcapod.core.pipeline import SyncPipelineOrchestrator
from orcapod.observers._composite import CompositeObserver
from orcapod.observers._layout import LOG_COLUMNS
from orcapod.observers._logging import LoggingObserver
from orcapod.observers._status import StatusObserver
from orcapod.protocols import ExecutionObserver

FAIL_ON = {3}


@function_pod(output_keys="y")
def noisy(x: int) -> int:
    print(f"out {x}")
    print(f"err {x}", file=sys.stderr)
    logging.getLogger("lab.noisy").warning("checked %d", x)
    if x in FAIL_ON:
        raise ValueError(f"bad value {x}")
    return 2 * x


def _source(rows: int = 6) -> DictSource:
    return DictSource(
        [
            {"subject": f"s{i}", "trial": i, "when": datetime(2024, 5, 1, i, tzinfo=UTC), "x": i}
            for i in range(rows)
        ],
        tag_columns=["subject", "trial", "when"],
        source_id="trials",
    )


def _pipeline(database: InMemoryArrowDatabase, rows: int = 6) -> Pipeline:
    pipeline = Pipeline("lab", database)
    with pipeline:
        noisy.pod(_source(rows), label="noisy")
    return pipeline


def _table(
    database: InMemoryArrowDatabase,
    branch: str,
    pipeline: Pipeline,
    id_column: str,
    node: str = "noisy",
) -> pa.Table:
    name, label, node_hash = pipeline.nodes[node].pipeline_path
    table = database.get_all_records((name, branch, label, node_hash), record_id_column=id_column)
    assert table is not None
    return table


@pytest.fixture(params=["sync", "async"])
def orchestrator(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_observers_satisfy_the_observer_protocol() -> None:
    database = InMemoryArrowDatabase()
    for observer in (LoggingObserver(database), StatusObserver(database), CompositeObserver()):
        assert isinstance(observer, ExecutionObserver)
        assert isinstance(observer.contextualize("p", "n", "h"), ExecutionObserver)


def test_log_rows_hold_what_each_packet_printed_logged_and_raised(orchestrator: str) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    result = pipeline.run(orchestrator, observer=LoggingObserver(database))

    logs = _table(database, "_logs", pipeline, "__log_id")
    rows = {row["trial"]: row for row in logs.to_pylist()}
    assert sorted(rows) == [0, 1, 2, 3, 4, 5]
    assert rows[1]["__stdout"] == "out 1\n"
    assert rows[1]["__stderr"] == "err 1\n"
    assert rows[1]["__success"] is True
    assert rows[1]["__traceback"] is None
    [record] = rows[1]["__python_logs"]
    assert (record["level"], record["logger"], record["message"]) == (
        "WARNING",
        "lab.noisy",
        "checked 1",
    )
    assert record["time"].tzinfo is not None
    failed = rows[3]
    assert failed["__success"] is False
    assert failed["__stdout"] == "out 3\n"  # printed before the error, kept
    assert "ValueError: bad value 3" in failed["__traceback"]
    assert {row["__run_id"] for row in rows.values()} == {result.run_id}
    assert {row["__executor_type"] for row in rows.values()} == {"local"}
    assert {row["__capture_level"] for row in rows.values()} == {"sys"}
    assert {row["__attempt"] for row in rows.values()} == {1}
    assert {row["__node_label"] for row in rows.values()} == {"noisy"}


def test_log_rows_keep_tag_columns_in_their_own_types() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    pipeline.run(observer=LoggingObserver(database))
    logs = _table(database, "_logs", pipeline, "__log_id")
    assert logs.schema.field("trial").type == pa.int64()
    assert pa.types.is_string(logs.schema.field("subject").type) or pa.types.is_large_string(
        logs.schema.field("subject").type
    )
    assert logs.schema.field("when").type == pa.timestamp("us", "UTC")
    assert set(LOG_COLUMNS.names) <= set(logs.column_names)


def test_status_events_of_a_first_run_a_rerun_and_failures(orchestrator: str) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    first = pipeline.run(orchestrator, observer=StatusObserver(database))
    second = pipeline.run(orchestrator, observer=StatusObserver(database))

    events = _table(database, "_status", pipeline, "__status_id").to_pylist()
    of_first = [e for e in events if e["__run_id"] == first.run_id]
    states = sorted((e["trial"], e["__state"]) for e in of_first)
    assert states == sorted(
        [(t, "RUNNING") for t in range(6)]
        + [(t, "SUCCESS") for t in (0, 1, 2, 4, 5)]
        + [(3, "FAILED")]
    )
    [failure] = [e for e in of_first if e["__state"] == "FAILED"]
    assert failure["__error_summary"] == "ValueError: bad value 3"

    of_second = [e for e in events if e["__run_id"] == second.run_id]
    cached = {e["trial"]: e for e in of_second if e["__state"] == "CACHED"}
    assert sorted(cached) == [0, 1, 2, 4, 5]
    assert {e["__source_run_id"] for e in cached.values()} == {first.run_id}
    # The packet that failed is tried again, and fails again.
    assert sorted(e["__state"] for e in of_second if e["trial"] == 3) == ["FAILED", "RUNNING"]


def test_run_records_say_how_each_run_ended_once_per_database() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    result = pipeline.run(observer=observer)
    runs = database.get_all_records(("lab", "_runs"), record_id_column="__record_id")
    assert runs is not None
    rows = {row["__record_id"]: row for row in runs.to_pylist()}
    assert sorted(rows) == [f"{result.run_id}:end", f"{result.run_id}:start"]
    start, end = rows[f"{result.run_id}:start"], rows[f"{result.run_id}:end"]
    assert start["__state"] == "RUNNING"
    assert start["__ended_at"] is None
    assert end["__state"] == "PARTIAL"
    assert (end["__n_success"], end["__n_failed"], end["__n_cached"]) == (5, 1, 0)
    assert end["__ended_at"] >= end["__started_at"]
    assert end["__pipeline"] == "lab"
    assert isinstance(end["__pid"], int)


def test_a_run_id_already_recorded_is_refused_and_the_earlier_runs_records_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A scheduler's job id reused on a requeue: the second run's rows would collide
    # with the first's (ids are "<run id>:<n>"). Pipeline.run refuses it before
    # anything runs; an orchestrator driven directly runs it, and then its observers
    # record nothing of it.
    database = InMemoryArrowDatabase()
    first = _pipeline(database).run(
        observer=CompositeObserver(LoggingObserver(database), StatusObserver(database)),
        run_id="job-42",
    )
    again = _pipeline(database, rows=7)
    name, label, node_hash = again.nodes["noisy"].pipeline_path

    def stored() -> list[int]:
        tables = [
            database.get_all_records((name, b, label, node_hash)) for b in ("_logs", "_status")
        ]
        return [0 if table is None else table.num_rows for table in tables]

    before = stored()
    with pytest.raises(OrcapodError, match="run id 'job-42' is already recorded"):
        again.run(run_id="job-42")
    assert stored() == before
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        second = SyncPipelineOrchestrator().run(
            again,
            observer=CompositeObserver(LoggingObserver(database), StatusObserver(database)),
            run_id="job-42",
        )

    assert second.n_computed == 1  # the run itself goes on: only its records are refused
    reports = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(reports) == 2  # one per observer
    assert all("run id 'job-42' is already recorded for pipeline 'lab'" in m for m in reports)
    assert stored() == before
    runs = database.get_all_records(("lab", "_runs"), record_id_column="__record_id")
    assert runs is not None
    end = {row["__record_id"]: row for row in runs.to_pylist()}["job-42:end"]
    assert (end["__n_success"], end["__n_failed"]) == (first.n_computed, first.n_failed)


class _Broken:
    """An observer that raises in every hook."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"broken {name}")

        return fail


def test_a_child_that_raises_everywhere_changes_nothing_for_the_run_or_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alone, beside = InMemoryArrowDatabase(), InMemoryArrowDatabase()
    expected = _pipeline(alone).run(observer=StatusObserver(alone))
    pipeline = _pipeline(beside)
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(observer=CompositeObserver(_Broken(), StatusObserver(beside)))  # type: ignore[arg-type]

    assert result.n_computed == expected.n_computed
    assert result.n_failed == expected.n_failed
    assert pipeline.nodes["noisy"].as_table().num_rows == 5
    events = _table(beside, "_status", pipeline, "__status_id")
    assert events.num_rows == 12
    assert any("_Broken" in record.getMessage() for record in caplog.records)


def test_rows_are_written_in_batches_of_the_runs_flush_every() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database, rows=10)
    writes: list[int] = []
    add_records = database.add_records

    def counting(path: Any, records: pa.Table, *args: Any, **kwargs: Any) -> None:
        if "_status" in path:
            writes.append(records.num_rows)
        add_records(path, records, *args, **kwargs)

    database.add_records = counting  # type: ignore[method-assign]
    pipeline.run(observer=StatusObserver(database), flush_every=2)
    assert sum(writes) == 20  # RUNNING and a terminal event per packet
    assert max(writes) <= 4  # two packets' events at each checkpoint
    assert len(writes) >= 5


def test_a_failing_write_is_raised_at_the_flush_not_dropped() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    observer = StatusObserver(database)
    pipeline.run(observer=observer)  # the run record paths exist now
    database.add_records = refuse  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(observer=observer)


def test_invalid_flush_options_are_refused_before_the_run_starts() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    with pytest.raises(ValueError, match="flush_every=0"):
        pipeline.run(observer=StatusObserver(database), flush_every=0)
    with pytest.raises(ValueError, match="flush_interval=0"):
        pipeline.run(observer=StatusObserver(database), flush_interval=0)
    with pytest.raises(ValueError, match="flush_interval=nan"):
        pipeline.run(flush_interval=float("nan"))
    assert database.list_paths() == []  # refused before anything was written


class _FlushCounting(InMemoryArrowDatabase):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_the_run_start_is_flushed_before_any_node_runs_and_a_killed_run_has_no_end() -> None:
    database = _FlushCounting()
    seen_at_node_start: list[tuple[list[str], int]] = []
    status = StatusObserver(database)

    class Spy(StatusObserver):
        def contextualize(self, *pipeline_path: str) -> Any:
            runs = database.get_all_records(("lab", "_runs"), record_id_column="__record_id")
            ids = [] if runs is None else runs.column("__record_id").to_pylist()
            seen_at_node_start.append((ids, database.flushes))
            return status.contextualize(*pipeline_path)

    spy = Spy(database)
    pipeline = _pipeline(database)
    result = pipeline.run(observer=CompositeObserver(status, spy))
    ids, flushes = seen_at_node_start[0]
    assert ids == [f"{result.run_id}:start"]
    assert flushes >= 1

    # A process killed after the start leaves exactly what on_run_start wrote.
    from orcapod.protocols.values import RunInfo

    killed = RunInfo("killed-run", "lab", "memory://", datetime.now(UTC))
    StatusObserver(database).on_run_start(killed)
    runs = database.get_all_records(("lab", "_runs"), record_id_column="__record_id")
    assert runs is not None
    mine = [r for r in runs.column("__record_id").to_pylist() if r.startswith("killed-run")]
    assert mine == ["killed-run:start"]


def test_a_composite_keeps_records_only_if_a_child_logger_does() -> None:
    database = InMemoryArrowDatabase()
    tag = _source(1).iter_packets().__next__()[0]
    only_status = CompositeObserver(StatusObserver(database)).contextualize("lab", "n", "h")
    with_logging = CompositeObserver(StatusObserver(database), LoggingObserver(database))
    logger = with_logging.contextualize("lab", "n", "h").create_packet_logger(tag, tag)
    assert only_status.create_packet_logger(tag, tag).keeps_records is False  # type: ignore[attr-defined]
    assert logger.keeps_records is True  # type: ignore[attr-defined]


# -- retries: one log row and one status event per attempt ------------------------------

ATTEMPTS: dict[int, int] = {}


@function_pod(output_keys="y")
def flaky(x: int) -> int:
    ATTEMPTS[x] = ATTEMPTS.get(x, 0) + 1
    print(f"attempt {ATTEMPTS[x]} of {x}")
    if x == 1 and ATTEMPTS[x] == 1:
        raise ConnectionError("lost the instrument")
    if x == 2:
        raise ValueError(f"never works for {x}")
    return x


class RetryingExecutor:
    """Runs a call up to ``attempts`` times, recording each attempt (as RayExecutor does)."""

    executor_type = "retrying"

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def supports(self, packet_function: Any) -> bool:
        return True

    def with_options(self, **options: Any) -> RetryingExecutor:
        return RetryingExecutor(options.get("attempts", self.attempts))

    def get_executor_data(self) -> dict[str, str]:
        return {"attempts": str(self.attempts)}

    def get_executor_data_schema(self) -> Any:
        from orcapod.core.types import Schema

        return Schema(attempts=str)

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def execute_callable(self, fn: Any, kwargs: Any, *, logger: Any = None) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                value = fn(**kwargs)
            except Exception as error:
                if logger is not None:
                    logger.record(
                        success=False, attempt=attempt, traceback=f"{type(error).__name__}: {error}"
                    )
                if attempt == self.attempts:
                    raise
                continue
            if logger is not None:
                logger.record(success=True, attempt=attempt, stdout=f"attempt {attempt}\n")
            return value
        raise AssertionError("unreachable")

    async def async_execute_callable(self, fn: Any, kwargs: Any, *, logger: Any = None) -> Any:
        return self.execute_callable(fn, kwargs, logger=logger)


def _flaky_pipeline(database: InMemoryArrowDatabase) -> Pipeline:
    ATTEMPTS.clear()
    pipeline = Pipeline("lab", database)
    with pipeline:
        flaky.pod(DictSource([{"k": x, "x": x} for x in (0, 1, 2)], tag_columns="k"), label="flaky")
    return pipeline


def _per_packet(table: pa.Table, *columns: str) -> dict[int, list[tuple[Any, ...]]]:
    rows: dict[int, list[tuple[Any, ...]]] = {}
    for row in table.sort_by("__timestamp").to_pylist():
        rows.setdefault(row["k"], []).append(tuple(row[c] for c in columns))
    return rows


def test_a_retried_packet_has_a_log_row_and_status_events_per_attempt(orchestrator: str) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _flaky_pipeline(database)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))

    result = pipeline.run(orchestrator, executor=RetryingExecutor(2), observer=observer)

    assert (result.nodes["flaky"].computed, result.nodes["flaky"].failed) == (2, 1)
    path = (
        *pipeline.nodes["flaky"].pipeline_path[:1],
        "_status",
        *pipeline.nodes["flaky"].pipeline_path[1:],
    )
    status = database.get_all_records(path)
    assert status is not None
    events = _per_packet(status, "__state", "__attempt", "__error_summary")
    assert events[0] == [("RUNNING", 1, None), ("SUCCESS", 1, None)]
    assert events[1] == [
        ("RUNNING", 1, None),
        ("FAILED", 1, "ConnectionError: lost the instrument"),
        ("RUNNING", 2, None),
        ("SUCCESS", 2, None),
    ]
    assert events[2] == [
        ("RUNNING", 1, None),
        ("FAILED", 1, "ValueError: never works for 2"),
        ("RUNNING", 2, None),
        ("FAILED", 2, "ValueError: never works for 2"),
    ]
    logs = _per_packet(
        _table(database, "_logs", pipeline, "__log_id", "flaky"), "__attempt", "__success"
    )
    assert logs == {0: [(1, True)], 1: [(1, False), (2, True)], 2: [(1, False), (2, False)]}


def test_a_status_observer_alone_captures_nothing_and_records_final_states_only() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _flaky_pipeline(database)

    pipeline.run(executor=RetryingExecutor(2), observer=StatusObserver(database))

    path = (
        *pipeline.nodes["flaky"].pipeline_path[:1],
        "_status",
        *pipeline.nodes["flaky"].pipeline_path[1:],
    )
    status = database.get_all_records(path)
    assert status is not None
    events = _per_packet(status, "__state", "__attempt")
    assert events[1] == [("RUNNING", 1), ("SUCCESS", 1)]  # its retry went unheard: no logger
    assert events[2] == [("RUNNING", 1), ("FAILED", 1)]
