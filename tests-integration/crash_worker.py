"""A pipeline run made to be killed, and its resumption (used by test_crash_safety.py,
test_crash_history.py and benchmarks/crash_loss.py).

    python crash_worker.py run URI ORCHESTRATOR PACKETS SLEEP_MS FLUSH_INTERVAL PROGRESS [SHAPE]
    python crash_worker.py resume URI ORCHESTRATOR PACKETS SLEEP_MS FLUSH_INTERVAL PROGRESS [SHAPE]
    python crash_worker.py read URI ORCHESTRATOR PACKETS SLEEP_MS FLUSH_INTERVAL PROGRESS [SHAPE]

``run`` and ``resume`` run the pipeline ``crash`` (one node, ``square``, over
``PACKETS`` packets ``x = id``, under the async orchestrator two at a time)
observed by a LoggingObserver and a StatusObserver on the store at ``URI``. The
function appends ``"<x> <unix time>"`` to ``PROGRESS`` as it returns, so the
caller knows what finished and when. ``resume`` first prints (one JSON line)
what the store says succeeded (status SUCCESS events and successful log rows,
as ``x`` values), the run records, and per node the ``id`` of the rows of
``node.history()``, of ``node.as_table()`` and of its packets with a ``SUCCESS``
status event; then runs again and prints its counts. ``read`` prints that line
and runs nothing.

With ``SHAPE`` ``repeats``, each packet comes twice, side by side (``x = id // 2``),
and a second node, ``shift`` (``z = y + 1``, appending ``"<y> <unix time>"`` too),
follows ``square``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pyarrow.compute as pc

from orcapod.core import (
    AsyncPipelineOrchestrator,
    DictSource,
    Pipeline,
    function_pod,
    open_database,
)
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

mode, uri, orchestrator, packets, sleep_ms, flush_interval, progress = sys.argv[1:8]
repeats = sys.argv[8:] == ["repeats"]
PROGRESS = os.open(progress, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
SLEEP = int(sleep_ms) / 1000


@function_pod(output_keys="y")
def square(x: int) -> int:
    time.sleep(SLEEP)
    os.write(PROGRESS, f"{x} {time.time()}\n".encode())
    return x * x


@function_pod(output_keys="z")
def shift(y: int) -> int:
    time.sleep(SLEEP)
    os.write(PROGRESS, f"{y} {time.time()}\n".encode())
    return y + 1


database = open_database(uri)
rows = [{"id": i, "x": i // 2 if repeats else i} for i in range(int(packets))]
pipeline = Pipeline("crash", database)
with pipeline:
    squared = square.pod(DictSource(rows, tag_columns=["id"]), label="square")
    if repeats:
        shift.pod(squared, label="shift")


def _succeeded(label: str, branch: str, column: str, state: object) -> list[int]:
    name, label, node_hash = pipeline.nodes[label].pipeline_path
    table = database.get_all_records((name, branch, label, node_hash))
    if table is None:
        return []
    return sorted(table.filter(pc.equal(table.column(column), state)).column("id").to_pylist())


def _read(label: str) -> dict[str, list[int]]:
    node = pipeline.nodes[label]
    return {
        "history": sorted(node.history().column("id").to_pylist()),  # type: ignore[attr-defined]
        "as_table": sorted(node.as_table().column("id").to_pylist()),
        "success": _succeeded(label, "_status", "__state", "SUCCESS"),
    }


if mode in ("resume", "read"):
    runs = database.get_all_records(("crash", "_runs"))
    print(
        json.dumps(
            {
                "status_success": _succeeded("square", "_status", "__state", "SUCCESS"),
                "log_success": _succeeded("square", "_logs", "__success", True),
                "runs": [] if runs is None else runs.select(["__state"]).to_pylist(),
                "nodes": {label: _read(label) for label in ("square", "shift")[: 1 + repeats]},
            }
        ),
        flush=True,
    )
if mode != "read":
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    how = AsyncPipelineOrchestrator(max_concurrency=2) if orchestrator == "async" else orchestrator
    result = pipeline.run(how, observer=observer, flush_interval=float(flush_interval))
    counts = result.nodes["square"]
    print(
        json.dumps(
            {"state": str(result.state), "computed": counts.computed, "cached": counts.cached}
        )
    )
database.close()
