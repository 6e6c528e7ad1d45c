"""Pipelines (orcapod-core) run on a real local Ray cluster: both orchestrators, a
per-node executor, local and Ray nodes mixed, a dead worker and retries inside a run,
and what reached the observer."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import DictSource, LocalExecutor, Pipeline, function_pod, get_executor
from orcapod.core.pipeline import FunctionNode
from orcapod.executors.ray import RayExecutor
from orcapod.protocols.testing import RecordingObserver

if TYPE_CHECKING:
    from orcapod.protocols.testing import RecordingLogger

pytestmark = pytest.mark.usefixtures("ray_cluster")

ORCHESTRATORS = ["sync", "async"]


class CalibrationError(Exception):
    """The user's own exception type."""


@function_pod(output_keys="y")
def scale(x: int) -> int:
    print(f"scaling {x} in pid {os.getpid()}")
    if x == 13:
        raise CalibrationError("13 has no calibration")
    return 10 * x


@function_pod(output_keys="z")
def shift(y: int) -> int:
    print(f"shifting {y}")
    return y + 1


@function_pod(output_keys="y")
def dies_on_two(x: int) -> int:
    if x == 2:
        os._exit(1)
    return 10 * x


@function_pod(output_keys="y")
def flaky(x: int, marker: str) -> int:
    """Fails on the first attempt of each packet (counted in a file), succeeds after."""
    path = Path(marker) / f"{x}"
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    print(f"attempt {attempt} of {x}")
    if attempt == 1:
        raise CalibrationError(f"first attempt of {x}")
    return 10 * x


@function_pod(output_keys="met")
def meet(me: str, other: str, folder: str) -> bool:
    """Says it is running, and waits (up to 20 s) to see the other packet running too."""
    (Path(folder) / me).touch()
    deadline = time.monotonic() + 20
    while not (Path(folder) / other).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def function_node(pipeline: Pipeline, label: str) -> FunctionNode:
    node = pipeline.nodes[label]
    assert isinstance(node, FunctionNode)
    return node


def rows(*xs: int) -> DictSource:
    return DictSource([{"id": f"r{x}", "x": x} for x in xs], tag_columns=["id"])


def records_of(observer: RecordingObserver, label: str) -> dict[str, list[dict[str, Any]]]:
    """Per tag id, the records of the node's packet logger."""
    return {
        logger.tag["id"]: logger.records for logger in observer.loggers if logger.label == label
    }


def loggers_of(observer: RecordingObserver, label: str) -> list[RecordingLogger]:
    return [logger for logger in observer.loggers if logger.label == label]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_pipeline_runs_on_ray_with_each_packets_output_recorded(orchestrator: str) -> None:
    pipeline = Pipeline("on_ray", database="memory://")
    with pipeline:
        shift.pod(scale.pod(rows(1, 2, 3), label="scale"), label="shift")
    observer = RecordingObserver()
    result = pipeline.run(
        orchestrator=orchestrator, executor=RayExecutor(num_cpus=1), observer=observer
    )
    assert result.ok
    assert (result.nodes["scale"].computed, result.nodes["shift"].computed) == (3, 3)
    table = pipeline.nodes["shift"].as_table()
    assert sorted(zip(table["id"].to_pylist(), table["z"].to_pylist(), strict=True)) == [
        ("r1", 11),
        ("r2", 21),
        ("r3", 31),
    ]
    scaled = records_of(observer, "scale")
    assert set(scaled) == {"r1", "r2", "r3"}
    for tag_id, (record,) in scaled.items():
        assert f"scaling {tag_id[1:]} in pid" in record["stdout"]
        assert str(os.getpid()) not in record["stdout"]  # printed by a worker
        assert (record["executor_type"], record["capture_level"], record["attempt"]) == (
            "ray",
            "fd",
            1,
        )
        assert record["success"] is True
    shifted = records_of(observer, "shift").values()
    assert sorted(r[0]["stdout"] for r in shifted) == [f"shifting {y}\n" for y in (10, 20, 30)]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_per_node_ray_executor_mixes_with_local_nodes(orchestrator: str) -> None:
    pipeline = Pipeline("mixed", database="memory://")
    with pipeline:
        shift.pod(scale.pod(rows(1, 2), label="scale"), label="shift")
    shifting, scaling = function_node(pipeline, "shift"), function_node(pipeline, "scale")
    shifting.executor = RayExecutor(max_in_flight=2)
    assert isinstance(scaling.executor, LocalExecutor)
    observer = RecordingObserver()
    result = pipeline.run(orchestrator=orchestrator, observer=observer)
    assert result.ok
    assert sorted(pipeline.nodes["shift"].as_table()["z"].to_pylist()) == [11, 21]
    local = [r for records in records_of(observer, "scale").values() for r in records]
    remote = [r for records in records_of(observer, "shift").values() for r in records]
    assert [r["executor_type"] for r in local] == ["local", "local"]
    assert all(f"in pid {os.getpid()}" in r["stdout"] for r in local)
    assert [r["executor_type"] for r in remote] == ["ray", "ray"]
    assert sorted(r["stdout"] for r in remote) == ["shifting 10\n", "shifting 20\n"]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_users_exception_fails_only_its_packet_with_its_own_type(orchestrator: str) -> None:
    pipeline = Pipeline("failing", database="memory://")
    with pipeline:
        scale.pod(rows(1, 13, 3), label="scale")
    observer = RecordingObserver()
    result = pipeline.run(orchestrator=orchestrator, executor=RayExecutor(), observer=observer)
    assert (result.nodes["scale"].computed, result.nodes["scale"].failed) == (2, 1)
    (failure,) = result.failures
    assert (failure.tag, failure.error_type) == ({"id": "r13"}, "CalibrationError")
    assert [event[7] for event in observer.of("on_packet_crash")] == ["CalibrationError"]
    (record,) = records_of(observer, "scale")["r13"]
    assert record["success"] is False
    assert "scaling 13" in record["stdout"]
    assert "CalibrationError: 13 has no calibration" in record["traceback"]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_dead_worker_fails_only_its_packet_and_the_others_complete(orchestrator: str) -> None:
    pipeline = Pipeline("dying", database="memory://")
    with pipeline:
        dies_on_two.pod(rows(1, 2, 3), label="dies")
    observer = RecordingObserver()
    result = pipeline.run(orchestrator=orchestrator, executor=RayExecutor(), observer=observer)
    assert (result.nodes["dies"].computed, result.nodes["dies"].failed) == (2, 1)
    (failure,) = result.failures
    assert (failure.tag, failure.error_type) == ({"id": "r2"}, "WorkerDiedError")
    assert "dies_on_two" in failure.message
    assert sorted(pipeline.nodes["dies"].as_table()["y"].to_pylist()) == [10, 30]
    (record,) = records_of(observer, "dies")["r2"]
    assert (record["success"], record["executor_type"]) == (False, "ray")
    assert "WorkerDiedError" in record["traceback"]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_retries_in_a_run_record_each_attempt_of_each_packet(
    orchestrator: str, tmp_path: Path
) -> None:
    source = DictSource(
        [{"id": f"r{x}", "x": x, "marker": str(tmp_path)} for x in (1, 2)], tag_columns=["id"]
    )
    pipeline = Pipeline("retrying", database="memory://")
    with pipeline:
        flaky.pod(source, label="flaky")
    observer = RecordingObserver()
    executor = RayExecutor(max_retries=1, retry_exceptions=[CalibrationError])
    result = pipeline.run(orchestrator=orchestrator, executor=executor, observer=observer)
    assert result.ok
    for tag_id, records in records_of(observer, "flaky").items():
        x = tag_id[1:]
        assert [(r["attempt"], r["success"]) for r in records] == [(1, False), (2, True)]
        assert [r["stdout"] for r in records] == [f"attempt 1 of {x}\n", f"attempt 2 of {x}\n"]
        assert f"first attempt of {x}" in records[0]["traceback"]
    assert observer.of("on_packet_crash") == []


def test_a_rerun_on_ray_computes_nothing_and_records_nothing() -> None:
    pipeline = Pipeline("rerun", database="memory://")
    with pipeline:
        scale.pod(rows(1, 2), label="scale")
    executor = RayExecutor()
    pipeline.run(executor=executor)
    observer = RecordingObserver()
    again = pipeline.run(executor=executor, observer=observer)
    assert (again.nodes["scale"].computed, again.nodes["scale"].cached) == (0, 2)
    assert loggers_of(observer, "scale") == []


def test_get_executor_finds_the_ray_executor_through_the_plugin_registry() -> None:
    executor = get_executor("ray", num_cpus=1, max_retries=2)
    assert isinstance(executor, RayExecutor)
    assert (executor.num_cpus, executor.max_retries) == (1, 2)
    pipeline = Pipeline("by_name", database="memory://")
    with pipeline:
        scale.pod(rows(4), label="scale")
    assert pipeline.run(executor=executor).ok
    assert pipeline.nodes["scale"].as_table()["y"].to_pylist() == [40]


def test_the_sync_orchestrator_runs_a_ray_nodes_packets_concurrently(tmp_path: Path) -> None:
    source = DictSource(
        [
            {"id": "a", "me": "a", "other": "b", "folder": str(tmp_path)},
            {"id": "b", "me": "b", "other": "a", "folder": str(tmp_path)},
        ],
        tag_columns=["id"],
    )
    pipeline = Pipeline("meeting", database="memory://")
    with pipeline:
        meet.pod(source, label="meet")
    result = pipeline.run(orchestrator="sync", executor=RayExecutor())
    assert result.ok
    # Each packet saw the other running: they were in flight together.
    assert pipeline.nodes["meet"].as_table()["met"].to_pylist() == [True, True]


def test_the_executor_supports_python_packet_functions_only() -> None:
    from types import SimpleNamespace

    pipeline = Pipeline("supports", database="memory://")
    with pipeline:
        scale.pod(rows(1), label="scale")
    executor = RayExecutor()
    assert executor.supports(function_node(pipeline, "scale").function)
    not_python: Any = SimpleNamespace(function=None, uri="container://fit")
    assert not executor.supports(not_python)
