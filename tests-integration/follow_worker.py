"""A slow observed pipeline, for tests that follow a run from another process.

Usage: ``python follow_worker.py URI PACKETS SLEEP_S [FLUSH_INTERVAL_S]``. Each
packet prints ``packet <i> printed at <unix time>`` and sleeps ``SLEEP_S``;
packet ``-1`` (when ``PACKETS`` is negative: ``-N`` runs N packets, the last
failing) raises. The run is observed by a LoggingObserver and a
StatusObserver, flushed every ``FLUSH_INTERVAL_S`` (default 0.5).
"""

from __future__ import annotations

import sys
import time

from orcapod.core import DictSource, Pipeline, function_pod, open_database
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

SLEEP_S = float(sys.argv[3])
COUNT = int(sys.argv[2])
FAIL_LAST = COUNT < 0
COUNT = abs(COUNT)


@function_pod(output_keys="y")
def slow(x: int) -> int:
    print(f"packet {x} printed at {time.time():.3f}", flush=True)
    time.sleep(SLEEP_S)
    if FAIL_LAST and x == COUNT - 1:
        raise ValueError(f"packet {x} fails on purpose")
    return 2 * x


database = open_database(sys.argv[1])
source = DictSource([{"id": i, "x": i} for i in range(COUNT)], tag_columns=["id"])
pipeline = Pipeline("lab", database)
with pipeline:
    slow.pod(source, label="slow")
observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
flush_interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
result = pipeline.run(observer=observer, flush_interval=flush_interval, error_policy="continue")
database.close()
print("ENDED", result.state, f"{time.time():.3f}", flush=True)
