"""A pipeline run made to be killed, and its resumption (used by test_crash_safety.py and
benchmarks/crash_loss.py).

    python crash_worker.py run URI ORCHESTRATOR PACKETS SLEEP_MS FLUSH_INTERVAL PROGRESS
    python crash_worker.py resume URI ORCHESTRATOR PACKETS SLEEP_MS FLUSH_INTERVAL PROGRESS

Both run the pipeline ``crash`` (one node, ``square``, over ``PACKETS`` packets,
under the async orchestrator two at a time)
observed by a LoggingObserver and a StatusObserver on the store at ``URI``. The
function appends ``"<x> <unix time>"`` to ``PROGRESS`` as it returns, so the
caller knows what finished and when. ``resume`` first prints (one JSON line)
what the store says succeeded (status SUCCESS events and successful log rows,
as ``x`` values) and the run records, then runs again and prints its counts.
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
PROGRESS = os.open(progress, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
SLEEP = int(sleep_ms) / 1000


@function_pod(output_keys="y")
def square(x: int) -> int:
    time.sleep(SLEEP)
    os.write(PROGRESS, f"{x} {time.time()}\n".encode())
    return x * x


database = open_database(uri)
source = DictSource([{"id": i, "x": i} for i in range(int(packets))], tag_columns=["id"])
pipeline = Pipeline("crash", database)
with pipeline:
    square.pod(source, label="square")
node = pipeline.nodes["square"]
name, label, node_hash = node.pipeline_path


def _succeeded(branch: str, column: str, state: object) -> list[int]:
    table = database.get_all_records((name, branch, label, node_hash))
    if table is None:
        return []
    return sorted(table.filter(pc.equal(table.column(column), state)).column("id").to_pylist())


if mode == "resume":
    runs = database.get_all_records((name, "_runs"))
    print(
        json.dumps(
            {
                "status_success": _succeeded("_status", "__state", "SUCCESS"),
                "log_success": _succeeded("_logs", "__success", True),
                "runs": [] if runs is None else runs.select(["__state"]).to_pylist(),
            }
        ),
        flush=True,
    )
observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
how = AsyncPipelineOrchestrator(max_concurrency=2) if orchestrator == "async" else orchestrator
result = pipeline.run(how, observer=observer, flush_interval=float(flush_interval))
counts = result.nodes["square"]
print(
    json.dumps({"state": str(result.state), "computed": counts.computed, "cached": counts.cached})
)
database.close()
