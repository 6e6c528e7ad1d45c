"""RayExecutor's own retries, as a LoggingObserver and a StatusObserver store them.

On a real local Ray cluster: a worker dies on a packet's first attempt and the
function raises on later ones; every attempt the executor makes is one log
row and one RUNNING/FAILED pair of status events, each written once (the
executor marks an attempt it tries again ``retried=True``; see
packages/orcapod-executors-ray/tests/test_ray_executor_retries.py for the
records themselves). Here because it needs the executor and the observers
installed together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

if TYPE_CHECKING:
    from collections.abc import Iterator

# Before Ray is first imported: workers use this venv as it is, and a local
# test cluster needs no token.
os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


class CalibrationError(Exception):
    """The user's own transient error."""


def _execution(marker: str) -> int:
    """This execution's number (1, 2, ...), counted in ``marker``."""
    path = Path(marker)
    number = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(number))
    return number


@function_pod(output_keys="y")
def fragile(x: int, folder: str) -> int:
    number = _execution(str(Path(folder) / str(x)))
    print(f"execution {number} of {x}", flush=True)
    if number == 1:
        os._exit(1)  # the worker dies
    if number <= x:
        raise CalibrationError(f"execution {number} of {x} failed")
    return 10 * x


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_stored_logs_and_status_events_show_each_attempt_once(
    orchestrator: str, tmp_path: Path
) -> None:
    from orcapod.executors.ray import RayExecutor

    database = InMemoryArrowDatabase()
    source = DictSource(
        [{"id": x, "x": x, "folder": str(tmp_path)} for x in (1, 2, 9)], tag_columns=["id"]
    )
    pipeline = Pipeline("executor_retries", database=database)
    with pipeline:
        fragile.pod(source, label="node")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    executor = RayExecutor(max_retries=2, retry_exceptions=[CalibrationError])

    pipeline.run(orchestrator=orchestrator, executor=executor, observer=observer)

    def rows(branch: str, *columns: str) -> dict[int, list[tuple[Any, ...]]]:
        name, label, node_hash = pipeline.nodes["node"].pipeline_path
        table = database.get_all_records((name, branch, label, node_hash))
        assert table is not None
        per_packet: dict[int, list[tuple[Any, ...]]] = {}
        for row in table.sort_by("__timestamp").to_pylist():  # stable: ties keep their order
            per_packet.setdefault(row["id"], []).append(tuple(row[c] for c in columns))
        return per_packet

    assert rows("_logs", "__attempt", "__success") == {
        1: [(1, False), (2, True)],
        2: [(1, False), (2, False), (3, True)],
        9: [(1, False), (2, False), (3, False)],
    }
    events = rows("_status", "__state", "__attempt")
    retried = [("RUNNING", 1), ("FAILED", 1), ("RUNNING", 2)]
    assert events == {
        1: [*retried, ("SUCCESS", 2)],
        2: [*retried, ("FAILED", 2), ("RUNNING", 3), ("SUCCESS", 3)],
        9: [*retried, ("FAILED", 2), ("RUNNING", 3), ("FAILED", 3)],
    }
