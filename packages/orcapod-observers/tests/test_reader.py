"""ObservabilityReader over records laid out exactly as docs/observability.md pins them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import observability_records as helper
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers._composite import CompositeObserver
from orcapod.observers._logging import LoggingObserver
from orcapod.observers._reader import (
    LOG_SCHEMA,
    RUN_SCHEMA,
    RUNS_SCHEMA,
    STATUS_SCHEMA,
    SUMMARY_SCHEMA,
    ObservabilityReader,
    list_pipelines,
)
from orcapod.observers._status import StatusObserver
from orcapod.observers.errors import (
    ObservabilityError,
    TagTypeConflictError,
    UnknownNodeError,
    UnknownPipelineError,
    UnknownRunError,
)
from orcapod.protocols.database import ArrowDatabase
from orcapod.protocols.errors import InvalidRecordPathError, OrcapodError

at = helper.at


@pytest.fixture
def database() -> InMemoryArrowDatabase:
    database = InMemoryArrowDatabase()
    helper.demo_records(database)
    return database


@pytest.fixture
def reader(database: InMemoryArrowDatabase) -> ObservabilityReader:
    return ObservabilityReader(database, pipeline="demo")


def _where(table: pa.Table, column: str, value: Any) -> pa.Table:
    return table.filter(pc.equal(table[column], value))


def _states(table: pa.Table) -> dict[tuple[str, Any], str]:
    """(node, id tag) → state, for tables holding one row per packet."""
    return {
        (row["__node_label"], row["id"]): row["__state"]
        for row in table.select(["__node_label", "id", "__state"]).to_pylist()
    }


# -- runs ----------------------------------------------------------------------------


def test_runs_gives_one_row_per_run_newest_first(reader: ObservabilityReader) -> None:
    runs = reader.runs()

    assert runs["__run_id"].to_pylist() == ["r3", "r2", "r1"]
    assert runs.column_names == RUNS_SCHEMA.names
    assert RUNS_SCHEMA.names == [*RUN_SCHEMA.names, "__heartbeat_at"]


def test_runs_takes_the_end_record_of_a_finished_run(reader: ObservabilityReader) -> None:
    r2 = _where(reader.runs(), "__run_id", "r2").to_pylist()[0]

    assert r2["__state"] == "PARTIAL"
    assert r2["__ended_at"] == at(150)
    assert (r2["__n_success"], r2["__n_failed"], r2["__n_cached"]) == (1, 1, 3)
    assert r2["__host"] == "lab-host"
    assert r2["__pid"] == 4242


def test_runs_takes_the_start_record_of_a_run_without_end(reader: ObservabilityReader) -> None:
    r3 = reader.runs().to_pylist()[0]

    assert r3["__run_id"] == "r3"
    # Written before heartbeats existed, on another host, started long ago: silent too long.
    assert r3["__state"] == "CRASHED"
    assert r3["__error"].startswith("no heartbeat since its start at 2024-05-01 12:03:20 UTC")
    assert r3["__started_at"] == at(200)
    assert r3["__ended_at"] is None
    assert r3["__heartbeat_at"] is None
    assert r3["__n_success"] is None


def test_runs_keep_utc_timestamps(reader: ObservabilityReader) -> None:
    runs = reader.runs()

    assert runs.schema.field("__started_at").type == pa.timestamp("us", tz="UTC")
    assert runs.schema.field("__ended_at").type == pa.timestamp("us", tz="UTC")


def test_a_reader_sees_runs_recorded_after_it_was_made() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 10)
    reader = ObservabilityReader(database, "demo")
    assert reader.runs().num_rows == 1

    records.run("r2", 20)

    assert reader.runs()["__run_id"].to_pylist() == ["r2", "r1"]


def test_a_pipeline_with_only_status_events_has_no_runs() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.event("double", helper.K1, "RUNNING", run="r1", when=1)

    runs = ObservabilityReader(database, "demo").runs()

    assert runs.num_rows == 0
    assert runs.schema == RUNS_SCHEMA


# -- status --------------------------------------------------------------------------


def test_status_gives_the_latest_state_of_every_packet(reader: ObservabilityReader) -> None:
    status = reader.status()

    assert _states(status) == {
        ("double", 1): "CACHED",
        ("double", 2): "CACHED",
        ("double", 3): "FAILED",
        ("when", 10): "LOST",  # left RUNNING by r3, which crashed
        ("when", 20): "CACHED",
    }
    assert status.num_rows == 5


def test_status_of_a_cached_packet_names_the_run_that_computed_it(
    reader: ObservabilityReader,
) -> None:
    k1 = _where(reader.status(node="double"), "id", 1).to_pylist()

    assert [(row["__state"], row["__run_id"], row["__source_run_id"]) for row in k1] == [
        ("CACHED", "r2", "r1")
    ]


def test_status_at_one_instant_ranks_the_terminal_event_after_running(
    reader: ObservabilityReader,
) -> None:
    # In r2, k3's FAILED event was written before its RUNNING event, at the same instant.
    k3 = _where(reader.status(node="double", run_id="r2"), "id", 3)

    assert k3["__state"].to_pylist() == ["FAILED"]
    assert k3["__error_summary"].to_pylist() == ["ValueError: still 3"]


def test_status_at_one_instant_ranks_the_later_attempt_last() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0)
    records.heartbeat("r1", datetime.now(UTC))  # still running
    records.event("double", helper.K1, "RUNNING", run="r1", when=1, attempt=2)
    records.event("double", helper.K1, "FAILED", run="r1", when=1, attempt=1, error="E: 1")

    status = ObservabilityReader(database, "demo").status()

    assert status.select(["__state", "__attempt"]).to_pylist() == [
        {"__state": "RUNNING", "__attempt": 2}
    ]


def test_status_of_one_run_is_each_packets_state_in_that_run(
    reader: ObservabilityReader,
) -> None:
    status = reader.status(run_id="r1")

    assert _states(status) == {
        ("double", 1): "SUCCESS",
        ("double", 2): "SUCCESS",
        ("double", 3): "FAILED",
        ("when", 10): "SUCCESS",
        ("when", 20): "SUCCESS",
    }
    k3 = next(row for row in status.to_pylist() if row["id"] == 3)
    assert (k3["__attempt"], k3["__error_summary"]) == (2, "ValueError: worse 3")


def test_status_filters_by_node(reader: ObservabilityReader) -> None:
    status = reader.status(node="when")

    assert set(status["__node_label"].to_pylist()) == {"when"}
    assert sorted(status["id"].to_pylist()) == [10, 20]
    assert "sample" not in status.column_names


def test_status_without_latest_gives_every_event_in_time_order(
    reader: ObservabilityReader,
) -> None:
    events = reader.status(node="double", run_id="r1", latest=False)

    assert events.num_rows == 8
    k3 = _where(events, "id", 3)
    assert [(row["__state"], row["__attempt"]) for row in k3.to_pylist()] == [
        ("RUNNING", 1),
        ("FAILED", 1),
        ("RUNNING", 2),
        ("FAILED", 2),
    ]
    assert reader.status(latest=False).num_rows == 20


def test_status_returns_documented_columns_first_then_tags(reader: ObservabilityReader) -> None:
    status = reader.status()

    assert status.column_names[: len(STATUS_SCHEMA)] == STATUS_SCHEMA.names
    assert set(status.column_names[len(STATUS_SCHEMA) :]) == {"id", "sample", "when"}


def test_status_keeps_tag_columns_typed(reader: ObservabilityReader) -> None:
    schema = reader.status().schema

    assert schema.field("id").type == pa.int64()
    assert schema.field("sample").type == pa.large_string()
    assert schema.field("when").type == pa.timestamp("us", tz="UTC")
    w1 = _where(reader.status(node="when"), "id", 10)
    assert w1["when"].to_pylist() == [at(-3600)]


def test_nodes_without_a_tag_have_nulls_in_it(reader: ObservabilityReader) -> None:
    status = reader.status()
    double = _where(status, "__node_label", "double")

    assert double["when"].null_count == double.num_rows
    assert double["sample"].to_pylist() == ["a", "b", "c"]


def test_status_of_a_pipeline_without_status_events_is_empty_with_documented_columns() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 5)
    records.log("double", helper.K1, run="r1", when=1)

    status = ObservabilityReader(database, "demo").status()

    assert status.num_rows == 0
    assert status.schema == STATUS_SCHEMA


# -- logs ----------------------------------------------------------------------------


def test_logs_give_one_row_per_executed_attempt(reader: ObservabilityReader) -> None:
    logs = reader.logs()

    assert logs.num_rows == 8
    assert logs.column_names[: len(LOG_SCHEMA)] == LOG_SCHEMA.names
    assert len(set(logs["__log_id"].to_pylist())) == 8


def test_logs_hold_output_python_logs_and_tracebacks(reader: ObservabilityReader) -> None:
    rows = reader.logs(node="double", run_id="r1").to_pylist()

    k1 = rows[0]
    assert (k1["id"], k1["__stdout"], k1["__success"]) == (1, "doubling 1\n", True)
    assert k1["__python_logs"][0]["message"] == "input 1"
    assert k1["__python_logs"][0]["time"] == at(1.5)
    failed = [row for row in rows if not row["__success"]]
    assert [row["__attempt"] for row in failed] == [1, 2]
    assert failed[0]["__traceback"] == helper.TRACEBACK_1
    assert failed[0]["__stderr"] == "warn 3\n"


def test_logs_are_sorted_by_node_then_time(reader: ObservabilityReader) -> None:
    logs = reader.logs()
    pairs = list(
        zip(logs["__node_label"].to_pylist(), logs["__timestamp"].to_pylist(), strict=True)
    )

    assert pairs == sorted(pairs)


def test_logs_failed_only_keeps_failed_attempts(reader: ObservabilityReader) -> None:
    failed = reader.logs(failed_only=True)

    assert failed["__success"].to_pylist() == [False, False, False]
    assert failed["__traceback"].to_pylist() == [
        helper.TRACEBACK_1,
        helper.TRACEBACK_2,
        helper.TRACEBACK_R2,
    ]


def test_logs_filter_by_run_and_node_together(reader: ObservabilityReader) -> None:
    logs = reader.logs(node="when", run_id="r2")

    assert logs.select(["__node_label", "__run_id", "id", "__stdout"]).to_pylist() == [
        {"__node_label": "when", "__run_id": "r2", "id": 10, "__stdout": "tock\n"}
    ]


def test_logs_filters_that_match_nothing_give_an_empty_table(reader: ObservabilityReader) -> None:
    logs = reader.logs(node="when", failed_only=True)

    assert logs.num_rows == 0
    assert logs.schema == LOG_SCHEMA


def test_logs_keep_tag_columns_typed(reader: ObservabilityReader) -> None:
    schema = reader.logs().schema

    assert schema.field("id").type == pa.int64()
    assert schema.field("sample").type == pa.large_string()
    assert schema.field("when").type == pa.timestamp("us", tz="UTC")
    assert sorted(reader.logs(node="when")["when"].to_pylist()) == [at(-7200), at(-3600), at(-3600)]


def test_logs_of_one_node_have_only_that_nodes_tags(reader: ObservabilityReader) -> None:
    logs = reader.logs(node="double")

    assert [name for name in logs.column_names if not name.startswith("__")] == ["id", "sample"]


def test_records_of_a_node_under_two_hashes_are_read_together() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 5)
    records.log("double", helper.K1, run="r1", when=1, node_hash="old")
    records.log("double", helper.K2, run="r1", when=2, node_hash="new")

    logs = ObservabilityReader(database, "demo").logs(node="double")

    assert logs["__node_hash"].to_pylist() == ["old", "new"]


# -- summary -------------------------------------------------------------------------


def test_summary_counts_packet_states_per_node_in_the_latest_run(
    reader: ObservabilityReader,
) -> None:
    summary = reader.summary()

    assert summary.schema == SUMMARY_SCHEMA
    assert summary.to_pylist() == [
        {
            "__node_label": "double",
            "__run_id": "r3",
            "__n_running": 0,
            "__n_success": 0,
            "__n_failed": 0,
            "__n_cached": 0,
            "__n_cancelled": 0,
            "__n_lost": 0,
            "__n_total": 0,
        },
        {
            "__node_label": "when",
            "__run_id": "r3",
            "__n_running": 0,
            "__n_success": 0,
            "__n_failed": 0,
            "__n_cached": 0,
            "__n_cancelled": 0,
            "__n_lost": 1,  # r3 crashed while computing it
            "__n_total": 1,
        },
    ]


def test_summary_counts_each_packet_once_in_its_latest_state() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 10)
    records.run("r2", 20, 30)
    records.event("double", helper.K1, "SUCCESS", run="r1", when=1)
    for tags in (helper.K1, helper.K2):
        records.event("double", tags, "RUNNING", run="r2", when=21)
    records.event("double", helper.K1, "SUCCESS", run="r2", when=22)
    records.event("double", helper.K2, "FAILED", run="r2", when=22)
    records.event("double", helper.K2, "RUNNING", run="r2", when=23, attempt=2)
    records.event("double", helper.K2, "SUCCESS", run="r2", when=24, attempt=2)
    records.event("double", helper.K3, "CACHED", run="r2", when=25, source_run="r1")

    summary = ObservabilityReader(database, "demo").summary().to_pylist()

    assert summary == [
        {
            "__node_label": "double",
            "__run_id": "r2",
            "__n_running": 0,
            "__n_success": 2,
            "__n_failed": 0,
            "__n_cached": 1,
            "__n_cancelled": 0,
            "__n_lost": 0,
            "__n_total": 3,
        }
    ]


def test_summary_of_nodes_whose_tags_disagree_in_type_still_counts() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(
        database,
        "demo",
        {"a": pa.schema([("id", pa.int64())]), "b": pa.schema([("id", pa.large_string())])},
    )
    records.run("r1", 0, 5)
    records.event("a", {"id": 1}, "SUCCESS", run="r1", when=1)
    records.event("b", {"id": "x"}, "FAILED", run="r1", when=2, error="E: x")

    summary = ObservabilityReader(database, "demo").summary()

    assert summary.select(["__node_label", "__n_success", "__n_failed"]).to_pylist() == [
        {"__node_label": "a", "__n_success": 1, "__n_failed": 0},
        {"__node_label": "b", "__n_success": 0, "__n_failed": 1},
    ]


def test_summary_without_status_events_is_empty() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 5)
    records.log("double", helper.K1, run="r1", when=1)

    summary = ObservabilityReader(database, "demo").summary()

    assert summary.num_rows == 0
    assert summary.schema == SUMMARY_SCHEMA


# -- finding things, and errors ------------------------------------------------------


def test_nodes_lists_the_labels_with_records(reader: ObservabilityReader) -> None:
    assert reader.nodes() == ["double", "when"]


def test_list_pipelines_finds_pipelines_by_their_observer_branches(
    database: InMemoryArrowDatabase,
) -> None:
    helper.demo_records(database, pipeline="other")
    # A node's own results, with no observer records, make no pipeline.
    database.add_records(
        ("results_only", "double", "h1"), pa.table({"__id": ["x"], "y": [2]}), "__id"
    )

    assert list_pipelines(database) == ["demo", "other"]


def test_pipelines_in_one_database_are_read_apart(database: InMemoryArrowDatabase) -> None:
    records = helper.Records(database, "other", {"double": helper.DOUBLE_TAGS})
    records.run("x1", 500, 510)
    records.log("double", helper.K1, run="x1", when=501)

    assert ObservabilityReader(database, "other").runs()["__run_id"].to_pylist() == ["x1"]
    assert ObservabilityReader(database, "other").logs().num_rows == 1
    assert ObservabilityReader(database, "demo").logs().num_rows == 8


def test_an_unknown_pipeline_is_a_lookup_error_naming_the_known_ones(
    database: InMemoryArrowDatabase,
) -> None:
    reader = ObservabilityReader(database, "dmeo")

    for read in (reader.runs, reader.status, reader.logs, reader.summary, reader.nodes):
        with pytest.raises(UnknownPipelineError, match=r"'dmeo'.*pipelines with records: 'demo'"):
            read()
    with pytest.raises(LookupError):
        reader.runs()


def test_an_empty_database_says_no_pipeline_has_records() -> None:
    reader = ObservabilityReader(InMemoryArrowDatabase(), "demo")

    with pytest.raises(UnknownPipelineError, match="no pipeline has records"):
        reader.runs()


def test_an_unknown_node_is_an_error_listing_the_nodes(reader: ObservabilityReader) -> None:
    with pytest.raises(UnknownNodeError, match=r"'tripple'.*'double', 'when'"):
        reader.logs(node="tripple")
    with pytest.raises(UnknownNodeError, match="'tripple'"):
        reader.status(node="tripple")


def test_an_unknown_run_is_an_error_listing_recent_runs(reader: ObservabilityReader) -> None:
    with pytest.raises(UnknownRunError, match=r"no run 'r9'.*'r3', 'r2', 'r1'"):
        reader.logs(run_id="r9")
    with pytest.raises(UnknownRunError, match="'r9'"):
        reader.status(run_id="r9")


def test_the_errors_are_orcapod_errors() -> None:
    for error in (UnknownPipelineError, UnknownNodeError, UnknownRunError, TagTypeConflictError):
        assert issubclass(error, ObservabilityError)
        assert issubclass(error, OrcapodError)


def test_tags_of_one_name_and_two_types_are_an_error_naming_both() -> None:
    database = InMemoryArrowDatabase()
    records = helper.Records(
        database,
        "demo",
        {"a": pa.schema([("id", pa.int64())]), "b": pa.schema([("id", pa.large_string())])},
    )
    records.run("r1", 0, 5)
    records.log("a", {"id": 1}, run="r1", when=1)
    records.log("b", {"id": "x"}, run="r1", when=2)
    reader = ObservabilityReader(database, "demo")

    with pytest.raises(TagTypeConflictError, match=r"'id' is int64 in node 'a'.*node 'b'.*node="):
        reader.logs()
    assert reader.logs(node="b")["id"].to_pylist() == ["x"]


def test_a_pipeline_name_that_cannot_be_a_path_is_refused() -> None:
    with pytest.raises(InvalidRecordPathError):
        ObservabilityReader(InMemoryArrowDatabase(), "../demo")


# -- what the observers really write -------------------------------------------------


def test_the_reader_reads_what_the_observers_write_on_a_real_pipeline() -> None:
    @function_pod(output_keys="y")
    def halve(x: int) -> int:
        print(f"halving {x}")
        if x == 3:
            raise ValueError(f"odd {x}")
        return x // 2

    source = DictSource(
        [
            {"subject": f"s{i}", "when": datetime(2024, 5, 1, i, tzinfo=UTC), "x": i}
            for i in range(5)
        ],
        tag_columns=["subject", "when"],
        source_id="trials",
    )
    database = InMemoryArrowDatabase()
    pipeline = Pipeline("lab", database)
    with pipeline:
        halve.pod(source, label="halve")
    first = pipeline.run(
        "sync", observer=CompositeObserver(LoggingObserver(database), StatusObserver(database))
    )
    second = pipeline.run(
        "sync", observer=CompositeObserver(LoggingObserver(database), StatusObserver(database))
    )
    reader = ObservabilityReader(database, "lab")

    assert reader.runs()["__run_id"].to_pylist() == [second.run_id, first.run_id]
    assert reader.nodes() == ["halve"]
    status = reader.status()
    assert sorted(status["__state"].to_pylist()) == ["CACHED"] * 4 + ["FAILED"]
    assert status.schema.field("when").type == pa.timestamp("us", tz="UTC")
    failed = reader.logs(failed_only=True)
    assert failed["subject"].to_pylist() == ["s3", "s3"]
    assert all("ValueError: odd 3" in text for text in failed["__traceback"].to_pylist())
    summary = reader.summary().to_pylist()
    assert [(row["__run_id"], row["__n_cached"], row["__n_failed"]) for row in summary] == [
        (second.run_id, 4, 1)
    ]


class ProtocolOnlyDatabase:
    """Forwards the ArrowDatabase methods, and nothing else, to an in-memory database."""

    def __init__(self, inner: InMemoryArrowDatabase) -> None:
        self._inner = inner
        for name in (
            "add_record",
            "add_records",
            "get_record_by_id",
            "get_records_by_ids",
            "get_all_records",
            "get_records_with_column_value",
            "list_paths",
            "flush",
            "close",
        ):
            setattr(self, name, getattr(inner, name))


def test_the_reader_needs_nothing_but_the_database_protocol(
    database: InMemoryArrowDatabase,
) -> None:
    proxy: Any = ProtocolOnlyDatabase(database)
    assert isinstance(proxy, ArrowDatabase)
    reader = ObservabilityReader(proxy, "demo")

    assert reader.runs().num_rows == 3
    assert reader.status().num_rows == 5
    assert reader.logs(run_id="r1", failed_only=True).num_rows == 2
    assert reader.summary().num_rows == 2
    assert list_pipelines(proxy) == ["demo"]
