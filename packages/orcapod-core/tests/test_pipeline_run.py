"""Pipeline runs: results, failures, incremental re-runs, executors and both orchestrators."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import textwrap
import threading
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.errors import OrcapodError
from orcapod.core.executors import LocalExecutor
from orcapod.core.function_pods import function_pod
from orcapod.core.operators import Filter, Join
from orcapod.core.pipeline import (
    AsyncPipelineOrchestrator,
    FunctionNode,
    NodeCounts,
    PacketFailure,
    Pipeline,
    RunResult,
    SyncPipelineOrchestrator,
)
from orcapod.core.sources import DictSource, ListSource
from orcapod.protocols.testing import RecordingObserver
from orcapod.protocols.values import RunState

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from orcapod.core.pipeline import Orchestrator


class CalibrationError(Exception):
    """The user's own error type."""


# Module-level state the functions read and write; their code stays the same.
CALLS: list[int] = []
FAILING: set[int] = set()
CALLS_LOCK = threading.Lock()
CONCURRENCY = {"active": 0, "peak": 0}


@function_pod(output_keys="y")
def scale(x: int) -> int:
    with CALLS_LOCK:
        CALLS.append(x)
    if x in FAILING:
        raise CalibrationError(f"no calibration for {x}")
    return 10 * x


@function_pod(output_keys="z")
def shift(y: int) -> int:
    return y + 1


@function_pod(output_keys="y")
def wrong_for_two(x: int) -> int:
    if x == 2:
        return "two"  # type: ignore[return-value]
    return x


@function_pod(output_keys="y")
def slow(x: int) -> int:
    with CALLS_LOCK:
        CONCURRENCY["active"] += 1
        CONCURRENCY["peak"] = max(CONCURRENCY["peak"], CONCURRENCY["active"])
    time.sleep(0.005)
    with CALLS_LOCK:
        CONCURRENCY["active"] -= 1
    return x


@function_pod(output_keys="y")
def slower_first(x: int) -> int:
    time.sleep(0.01 * (5 - x))  # the first packets finish last
    return 10 * x


@function_pod(output_keys="a")
def left(value: int) -> int:
    return value + 1


@function_pod(output_keys="b")
def right(value: int) -> int:
    return value * 3


@pytest.fixture(autouse=True)
def _reset_module_state() -> None:
    CALLS.clear()
    FAILING.clear()
    CONCURRENCY.update(active=0, peak=0)


def _source(values: list[int], source_id: str = "subjects") -> DictSource:
    return DictSource(
        [{"id": f"s{i}", "x": x} for i, x in enumerate(values)],
        tag_columns=["id"],
        source_id=source_id,
    )


def _scaled(database: InMemoryArrowDatabase, values: list[int], name: str = "demo") -> Pipeline:
    pipeline = Pipeline(name, database)
    with pipeline:
        shift.pod(scale.pod(_source(values)))
    return pipeline


def _import_module(tmp_path: Path, name: str, source: str) -> ModuleType:
    file = tmp_path / f"{name}.py"
    file.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"orcapod_test_{tmp_path.name}_{name}", file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ORCHESTRATORS = [
    pytest.param("sync", id="sync"),
    pytest.param("async", id="async"),
]


# -- RunResult -----------------------------------------------------------------------


def test_run_result_has_the_given_run_id() -> None:
    result = _scaled(InMemoryArrowDatabase(), [1, 2]).run(run_id="run-one")
    assert isinstance(result, RunResult)
    assert result.run_id == "run-one"
    assert result.pipeline == "demo"


def test_run_ids_are_generated_and_differ_between_runs() -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2])
    first, second = pipeline.run(), pipeline.run()
    assert re.fullmatch(r"[0-9a-f]{32}", first.run_id)
    assert first.run_id != second.run_id


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_run_result_counts_rows_computed_and_state_per_node(orchestrator: str) -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3])
    result = pipeline.run(orchestrator)
    assert result.state is RunState.SUCCESS
    assert result.ok
    assert result.failures == []
    assert result.nodes == {
        "subjects": NodeCounts(rows=3),
        "scale": NodeCounts(computed=3, rows=3),
        "shift": NodeCounts(computed=3, rows=3),
    }
    assert result.n_computed == 6
    assert result.duration_s > 0
    assert result.started_at.tzinfo is not None
    assert result.started_at.utcoffset() == UTC.utcoffset(None)
    assert sorted(CALLS) == [1, 2, 3]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_failed_packets_are_reported_with_node_tag_type_and_message(orchestrator: str) -> None:
    FAILING.add(2)
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3])
    result = pipeline.run(orchestrator)
    assert result.state is RunState.PARTIAL
    assert not result.ok
    assert result.failures == [
        PacketFailure("scale", {"id": "s1"}, "CalibrationError", "no calibration for 2")
    ]
    assert result.nodes["scale"] == NodeCounts(computed=2, failed=1, rows=2)
    assert result.nodes["shift"] == NodeCounts(computed=2, rows=2)
    assert "CalibrationError" in str(result)


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_continue_skips_failed_packets_and_downstream_gets_only_successes(
    orchestrator: str,
) -> None:
    FAILING.update({1, 3})
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3, 4])
    result = pipeline.run(orchestrator, error_policy="continue")
    assert result.n_failed == 2
    assert {f.tag["id"] for f in result.failures} == {"s0", "s2"}
    assert sorted(CALLS) == [1, 2, 3, 4]  # the run went on after the first failure
    shifted = pipeline.nodes["shift"].as_table().sort_by("id")
    assert shifted.to_pydict() == {"id": ["s1", "s3"], "z": [21, 41]}
    assert pipeline.nodes["scale"].as_table().sort_by("id").to_pydict() == {
        "id": ["s1", "s3"],
        "y": [20, 40],
    }


@pytest.mark.parametrize(
    "orchestrator",
    [
        pytest.param("sync", id="sync"),
        pytest.param(AsyncPipelineOrchestrator(max_concurrency=1), id="async"),
    ],
)
def test_fail_fast_raises_the_users_error_and_stops(orchestrator: str | Orchestrator) -> None:
    FAILING.add(3)
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3, 4, 5])
    with pytest.raises(CalibrationError, match="no calibration for 3"):
        pipeline.run(orchestrator, error_policy="fail_fast")
    assert 4 not in CALLS
    assert 5 not in CALLS


@pytest.mark.parametrize(
    "orchestrator",
    [
        pytest.param("sync", id="sync"),
        pytest.param(AsyncPipelineOrchestrator(max_concurrency=1), id="async"),
    ],
)
def test_fail_fast_raises_the_users_error_when_the_first_packet_fails(
    orchestrator: str | Orchestrator,
) -> None:
    FAILING.add(1)
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3])
    with pytest.raises(CalibrationError, match="no calibration for 1"):
        pipeline.run(orchestrator, error_policy="fail_fast")
    assert CALLS == [1]


@pytest.mark.parametrize(
    "orchestrator",
    [
        pytest.param("sync", id="sync"),
        pytest.param(AsyncPipelineOrchestrator(max_concurrency=1), id="async"),
    ],
)
def test_fail_fast_keeps_the_results_computed_before_the_failure(
    orchestrator: str | Orchestrator,
) -> None:
    FAILING.add(3)
    database = InMemoryArrowDatabase()
    pipeline = _scaled(database, [1, 2, 3, 4, 5])
    with pytest.raises(CalibrationError):
        pipeline.run(orchestrator, error_policy="fail_fast")
    assert pipeline.nodes["scale"].as_table().sort_by("id").to_pydict() == {
        "id": ["s0", "s1"],
        "y": [10, 20],
    }
    CALLS.clear()
    FAILING.clear()
    result = pipeline.run()
    assert result.nodes["scale"].cached == 2
    assert sorted(CALLS) == [3, 4, 5]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_wrong_return_type_fails_its_packet_naming_the_tag(orchestrator: str) -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        wrong_for_two.pod(_source([1, 2, 3]))
    result = pipeline.run(orchestrator)
    assert result.state is RunState.PARTIAL
    [failure] = result.failures
    assert failure.node == "wrong_for_two"
    assert failure.tag == {"id": "s1"}
    assert failure.error_type == "ReturnValueError"
    assert "'s1'" in failure.message
    assert "two" in failure.message
    table = pipeline.nodes["wrong_for_two"].as_table().sort_by("id")
    assert table.to_pydict() == {"id": ["s0", "s2"], "y": [1, 3]}


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_identical_packets_are_computed_once(orchestrator: str) -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [7, 7, 8, 7])
    result = pipeline.run(orchestrator)
    assert sorted(CALLS) == [7, 8]
    assert result.nodes["scale"] == NodeCounts(computed=2, cached=2, rows=4)
    table = pipeline.nodes["scale"].as_table().sort_by("id")
    assert table.to_pydict() == {"id": ["s0", "s1", "s2", "s3"], "y": [70, 70, 80, 70]}


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_batch_whose_packets_all_fail_is_reported_not_raised(orchestrator: str) -> None:
    FAILING.update({1, 2})
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2])
    result = pipeline.run(orchestrator)
    assert result.state is RunState.PARTIAL
    assert result.nodes["scale"] == NodeCounts(failed=2)
    assert result.nodes["shift"] == NodeCounts()
    assert sorted(f.tag["id"] for f in result.failures) == ["s0", "s1"]
    assert pipeline.nodes["scale"].as_table().num_rows == 0


def test_async_stores_each_result_with_its_own_packet_when_packets_finish_out_of_order() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        shift.pod(slower_first.pod(ListSource([0, 1, 2, 3, 4], packet_column="x")))
    pipeline.run(AsyncPipelineOrchestrator(max_concurrency=5))
    # what flowed downstream in this run is right ...
    assert pipeline.nodes["shift"].as_table().sort_by("index").column("z").to_pylist() == [
        1,
        11,
        21,
        31,
        41,
    ]
    # ... and so must be what was stored, which later runs read
    stored = pipeline.nodes["slower_first"].as_table().sort_by("index")
    assert stored.column("y").to_pylist() == [0, 10, 20, 30, 40]
    again = pipeline.run("sync")
    assert again.nodes["slower_first"] == NodeCounts(cached=5, rows=5)
    assert pipeline.nodes["shift"].as_table().sort_by("index").column("z").to_pylist() == [
        1,
        11,
        21,
        31,
        41,
    ]


def test_an_invalid_error_policy_is_refused() -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1])
    with pytest.raises(OrcapodError, match="error_policy"):
        pipeline.run(error_policy="ignore")  # type: ignore[arg-type]
    assert CALLS == []


def test_an_unknown_orchestrator_is_refused() -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1])
    with pytest.raises(OrcapodError, match="orchestrator"):
        pipeline.run("parallel")
    assert CALLS == []


@pytest.mark.parametrize("size", [0, -1, 1.5])
def test_async_orchestrator_refuses_invalid_sizes(size: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        AsyncPipelineOrchestrator(max_concurrency=size)
    with pytest.raises(ValueError, match="channel_size"):
        AsyncPipelineOrchestrator(channel_size=size)


# -- node tables -----------------------------------------------------------------------


def test_function_node_table_has_tags_and_outputs() -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2])
    assert pipeline.nodes["scale"].as_table().num_rows == 0  # nothing stored before a run
    pipeline.run()
    table = pipeline.nodes["scale"].as_table()
    assert table.column_names == ["id", "y"]
    assert table.sort_by("id").to_pydict() == {"id": ["s0", "s1"], "y": [10, 20]}
    with_system = pipeline.nodes["scale"].as_table(include_system_columns=True)
    assert with_system.column_names == ["id", "y", "__provenance"]


def test_operator_node_table_is_its_stored_output() -> None:
    database = InMemoryArrowDatabase()
    weights = DictSource(
        [{"id": "s0", "w": 0.5}, {"id": "s1", "w": 1.5}, {"id": "s9", "w": 9.0}],
        tag_columns=["id"],
        source_id="weights",
    )
    pipeline = Pipeline("demo", database)
    with pipeline:
        joined = Join()(scale.pod(_source([1, 2, 3])), weights)
        Filter(pc.field("w") > 1.0)(joined)
    pipeline.run()
    join = pipeline.nodes["join"]
    stored = database.get_all_records(join.pipeline_path)
    assert stored is not None
    assert stored.num_rows == 2
    assert join.as_table().sort_by("id").to_pydict() == {
        "id": ["s0", "s1"],
        "y": [10, 20],
        "w": [0.5, 1.5],
    }
    assert pipeline.nodes["filter"].as_table().to_pydict() == {"id": ["s1"], "y": [20], "w": [1.5]}
    filtered = database.get_all_records(pipeline.nodes["filter"].pipeline_path)
    assert filtered is not None
    assert filtered.num_rows == 1


def test_source_node_table_is_the_source() -> None:
    source = _source([4, 5])
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        scale.pod(source)
    assert pipeline.nodes["subjects"].as_table().equals(source.as_table())
    pipeline.run()
    assert pipeline.nodes["subjects"].as_table().to_pydict() == {"id": ["s0", "s1"], "x": [4, 5]}


# -- incremental runs ------------------------------------------------------------------


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_rerun_computes_nothing(orchestrator: str) -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3])
    first = pipeline.run(orchestrator)
    assert sorted(CALLS) == [1, 2, 3]
    second = pipeline.run(orchestrator)
    assert len(CALLS) == 3  # no new call
    assert second.n_computed == 0
    assert second.nodes["scale"] == NodeCounts(cached=3, rows=3)
    assert second.nodes["shift"] == NodeCounts(cached=3, rows=3)
    assert second.state is RunState.SUCCESS
    assert first.run_id != second.run_id
    assert pipeline.nodes["shift"].as_table().num_rows == 3


def test_a_source_with_new_rows_computes_only_the_new_rows() -> None:
    database = InMemoryArrowDatabase()
    _scaled(database, [1, 2, 3]).run()
    CALLS.clear()
    bigger = _scaled(database, [1, 2, 3, 4, 5])
    result = bigger.run()
    assert sorted(CALLS) == [4, 5]
    assert result.nodes["scale"] == NodeCounts(computed=2, cached=3, rows=5)
    assert result.nodes["shift"] == NodeCounts(computed=2, cached=3, rows=5)
    assert bigger.nodes["shift"].as_table().sort_by("id").to_pydict() == {
        "id": ["s0", "s1", "s2", "s3", "s4"],
        "z": [11, 21, 31, 41, 51],
    }


VERSION_ONE = """
    from orcapod.core import function_pod

    @function_pod(output_keys="y")
    def score(x: int) -> int:
        return x + 1
"""

VERSION_TWO = """
    from orcapod.core import function_pod

    @function_pod(output_keys="y")
    def score(x: int) -> int:
        return x + 100
"""


def test_editing_a_function_computes_into_a_new_table_and_keeps_the_old(tmp_path: Path) -> None:
    one = _import_module(tmp_path, "one", VERSION_ONE)
    two = _import_module(tmp_path, "two", VERSION_TWO)
    database = InMemoryArrowDatabase()
    source = _source([1, 2])
    old = Pipeline("demo", database)
    with old:
        one.score.pod(source)
    old.run()
    new = Pipeline("demo", database)
    with new:
        two.score.pod(source)
    result = new.run()

    assert result.nodes["score"] == NodeCounts(computed=2, rows=2)
    assert old.nodes["score"].pipeline_path != new.nodes["score"].pipeline_path
    results = [path for path in database.list_paths(("_results",)) if path[1] == "score"]
    assert len(results) == 2
    assert new.nodes["score"].as_table().sort_by("id").to_pydict()["y"] == [101, 102]
    assert old.nodes["score"].as_table().sort_by("id").to_pydict()["y"] == [2, 3]
    assert old.run().nodes["score"] == NodeCounts(cached=2, rows=2)


# -- executors -------------------------------------------------------------------------


def _stored_results(database: InMemoryArrowDatabase, name: str) -> pa.Table:
    [path] = [path for path in database.list_paths(("_results",)) if path[1] == name]
    table = database.get_all_records(path)
    assert table is not None
    return table


def test_run_executor_is_used_for_that_run_only() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _scaled(database, [1, 2])
    node = pipeline.nodes["scale"]
    assert isinstance(node, FunctionNode)
    own = node.executor
    observer = RecordingObserver()

    pipeline.run(executor=LocalExecutor(capture="fd"), observer=observer)

    assert node.executor is own
    assert isinstance(own, LocalExecutor)
    assert own.capture == "sys"
    infos = _stored_results(database, "scale").column("__executor_info").to_pylist()
    assert [dict(info)["capture"] for info in infos] == ["fd", "fd"]
    levels = [record["capture_level"] for lg in observer.loggers for record in lg.records]
    assert levels == ["fd"] * 4  # two packets in each of two function nodes

    observer = RecordingObserver()
    _scaled(database, [3]).run(observer=observer)
    infos = _stored_results(database, "scale").column("__executor_info").to_pylist()
    assert sorted(dict(info)["capture"] for info in infos) == ["fd", "fd", "sys"]
    assert {record["capture_level"] for lg in observer.loggers for record in lg.records} == {"sys"}


def test_a_replaced_node_executor_runs_that_node() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _scaled(database, [1, 2])
    node = pipeline.nodes["scale"]
    assert isinstance(node, FunctionNode)
    node.executor = LocalExecutor(capture="fd")
    observer = RecordingObserver()
    pipeline.run(observer=observer)
    levels = {lg.label: {r["capture_level"] for r in lg.records} for lg in observer.loggers}
    assert levels == {"scale": {"fd"}, "shift": {"sys"}}
    infos = _stored_results(database, "scale").column("__executor_info").to_pylist()
    assert [dict(info)["capture"] for info in infos] == ["fd", "fd"]


def test_a_node_without_executor_calls_its_function_directly() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _scaled(database, [1, 2])
    pipeline.nodes["scale"].executor = None  # type: ignore[attr-defined]
    observer = RecordingObserver()
    result = pipeline.run(observer=observer)
    assert result.nodes["scale"].computed == 2
    assert [lg.records for lg in observer.loggers if lg.label == "scale"] == [[], []]
    types = _stored_results(database, "scale").column("__executor_type").to_pylist()
    assert types == ["direct", "direct"]


# -- orchestrators ---------------------------------------------------------------------


def _mixed_pipeline(database: InMemoryArrowDatabase) -> Pipeline:
    """source → scale → Join(weights) → Filter → shift, with a failure and a duplicate."""
    weights = DictSource(
        [{"id": f"s{i}", "w": float(i)} for i in range(7)], tag_columns=["id"], source_id="weights"
    )
    pipeline = Pipeline("mixed", database)
    with pipeline:
        joined = Join()(scale.pod(_source([1, 2, 3, 2, 5, 6, 7])), weights)
        shift.pod(Filter(pc.field("w") >= 1.0)(joined))
    return pipeline


def _node_tables(pipeline: Pipeline) -> dict[str, pa.Table]:
    return {
        label: node.as_table().sort_by([(name, "ascending") for name in node.keys()[0]])
        for label, node in pipeline.nodes.items()
    }


def test_sync_and_async_give_the_same_tables_and_observer_events() -> None:
    FAILING.add(5)
    seen = {}
    for name in ("sync", "async"):
        pipeline = _mixed_pipeline(InMemoryArrowDatabase())
        first, second = RecordingObserver(), RecordingObserver()
        one = pipeline.run(name, observer=first, run_id="run-1")
        two = pipeline.run(name, observer=second, run_id="run-2")
        seen[name] = (
            _node_tables(pipeline),
            sorted(first.events, key=repr),
            sorted(second.events, key=repr),
            one.nodes,
            two.nodes,
            one.failures,
            sorted(first.paths),
        )
    sync, asynchronous = seen["sync"], seen["async"]
    assert sync[0].keys() == asynchronous[0].keys()
    for label, table in sync[0].items():
        assert table.equals(asynchronous[0][label]), label
    assert sync[1] == asynchronous[1]
    assert sync[2] == asynchronous[2]
    assert sync[3] == asynchronous[3]
    assert sync[4] == asynchronous[4]
    assert sync[5] == asynchronous[5]
    assert sync[6] == asynchronous[6]
    # the comparison is not vacuous: computed, cached, duplicate and failed packets are in it
    hooks = {(event[0], event[5]) for event in sync[1]}
    assert {("on_packet_end", False), ("on_packet_end", True), ("on_packet_crash", None)} <= hooks
    assert sync[3]["scale"] == NodeCounts(computed=5, cached=1, failed=1, rows=6)
    assert sync[0]["shift"].num_rows == 5


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_function_node_whose_input_is_empty_gives_an_empty_table(orchestrator: str) -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        kept = Filter(pc.field("y") > 1000)(scale.pod(_source([1, 2])))
        shift.pod(kept)
    result = pipeline.run(orchestrator)
    assert result.state is RunState.SUCCESS
    assert result.nodes["filter"].rows == 0
    assert result.nodes["shift"] == NodeCounts()
    assert pipeline.nodes["shift"].as_table().to_pydict() == {"id": [], "z": []}


def test_a_function_applied_twice_to_the_same_input_gives_the_same_rows_in_both_orders() -> None:
    # Sync runs the second node after the first stored its results: all cached.
    # Async runs both at once, so both may compute (documented in docs/pipelines.md);
    # either way both nodes hold the same rows.
    tables: dict[str, list[Any]] = {}
    for name in ("sync", "async"):
        CALLS.clear()
        source = _source([1, 2, 3])
        pipeline = Pipeline("twice", InMemoryArrowDatabase())
        with pipeline:
            scale.pod(source)
            scale.pod(source)
        result = pipeline.run(name, run_id="run")
        if name == "sync":
            assert result.nodes["scale_2"] == NodeCounts(cached=3, rows=3)
            assert sorted(CALLS) == [1, 2, 3]
        else:
            assert result.nodes["scale_2"].computed + result.nodes["scale_2"].cached == 3
        tables[name] = [
            sorted(pipeline.nodes[label].as_table().to_pylist(), key=repr)
            for label in ("scale", "scale_2")
        ]
    assert tables["sync"] == tables["async"]
    assert tables["sync"][0] == tables["sync"][1]


def test_async_respects_max_concurrency_and_runs_concurrently() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        slow.pod(ListSource(list(range(40)), packet_column="x"))
    result = pipeline.run(AsyncPipelineOrchestrator(max_concurrency=3))
    assert result.nodes["slow"].computed == 40
    assert 1 < CONCURRENCY["peak"] <= 3


def test_a_nodes_own_max_concurrency_overrides_the_orchestrators() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        slow.pod(ListSource(list(range(30)), packet_column="x"))
    node = pipeline.nodes["slow"]
    assert isinstance(node, FunctionNode)
    node.max_concurrency = 2
    result = pipeline.run(AsyncPipelineOrchestrator(max_concurrency=10))
    assert result.nodes["slow"].computed == 30
    assert CONCURRENCY["peak"] == 2


def test_sync_runs_one_packet_at_a_time() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        slow.pod(ListSource(list(range(5)), packet_column="x"))
    pipeline.run(SyncPipelineOrchestrator())
    assert CONCURRENCY["peak"] == 1


class ConcurrentLocalExecutor(LocalExecutor):
    """A LocalExecutor that says it can run ``concurrency`` calls at once (as Ray's does)."""

    def __init__(self, concurrency: int) -> None:
        super().__init__()
        self.concurrency = concurrency


def test_sync_runs_packets_concurrently_on_an_executor_with_concurrency() -> None:
    pipeline = Pipeline("demo", InMemoryArrowDatabase())
    with pipeline:
        slow.pod(ListSource(list(range(30)), packet_column="x"))
    result = pipeline.run("sync", executor=ConcurrentLocalExecutor(3))
    assert result.nodes["slow"].computed == 30
    assert 1 < CONCURRENCY["peak"] <= 3
    values = pipeline.nodes["slow"].as_table().sort_by("index")
    assert values.column("y").to_pylist() == list(range(30))


@pytest.mark.parametrize("concurrency", [1, 4], ids=["serial", "concurrent"])
def test_sync_with_a_concurrent_executor_reports_like_the_serial_path(concurrency: int) -> None:
    FAILING.add(3)
    database = InMemoryArrowDatabase()
    observer = RecordingObserver()
    result = _scaled(database, [1, 2, 3, 4, 2]).run(
        "sync", executor=ConcurrentLocalExecutor(concurrency), observer=observer
    )
    assert result.nodes["scale"] == NodeCounts(computed=3, cached=1, failed=1, rows=4)
    assert [f.tag for f in result.failures] == [{"id": "s2"}]
    assert sorted(CALLS) == [1, 2, 3, 4]
    assert len(observer.of("on_packet_start", "scale")) == 4
    assert len(observer.of("on_packet_end", "scale")) == 4  # three computed, one cached
    assert len(observer.of("on_packet_crash", "scale")) == 1


def test_sync_fail_fast_on_a_concurrent_executor_raises_the_users_error() -> None:
    FAILING.add(2)
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3])
    with pytest.raises(CalibrationError, match="no calibration for 2"):
        pipeline.run("sync", executor=ConcurrentLocalExecutor(2), error_policy="fail_fast")


def test_sync_on_a_concurrent_executor_works_inside_a_running_event_loop() -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1, 2, 3])

    async def main() -> RunResult:
        return pipeline.run("sync", executor=ConcurrentLocalExecutor(2))

    result = asyncio.run(main())
    assert result.nodes["scale"].computed == 3
    assert sorted(pipeline.nodes["shift"].as_table().column("z").to_pylist()) == [11, 21, 31]


def test_async_inside_a_running_event_loop_is_an_error() -> None:
    pipeline = _scaled(InMemoryArrowDatabase(), [1])

    async def main() -> None:
        pipeline.run("async")

    with pytest.raises(OrcapodError, match="running event loop"):
        asyncio.run(main())
    assert CALLS == []


def test_async_diamond_with_small_channels_completes() -> None:
    count = 20_000  # more than one batch (8192 rows) through channels of one batch
    source = ListSource(list(range(count)))
    pipeline = Pipeline("diamond", InMemoryArrowDatabase())
    with pipeline:
        Join()(left.pod(source), right.pod(source))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = pipeline.run(AsyncPipelineOrchestrator(channel_size=1))
        except BaseException as error:  # reported below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the async run did not finish: deadlock?"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.nodes["left"] == NodeCounts(computed=count, rows=count)
    assert result.nodes["right"] == NodeCounts(computed=count, rows=count)
    assert result.nodes["join"].rows == count
    joined = pipeline.nodes["join"].as_table().sort_by("index")
    assert joined.column("a").to_pylist()[:3] == [1, 2, 3]
    assert joined.column("b").to_pylist()[-1] == 3 * (count - 1)
