"""A run of pipeline ``lab`` for test_results_command.py, in a process of its own.

    python results_worker.py URI XS_JSON

runs ``lab`` (a function node ``double`` over the source ``{id: x}``, and an
operator node ``named``) on the store at ``URI`` with a LoggingObserver and a
StatusObserver, and prints its run id. With ``HANG_AT=<x>`` in the
environment, the packet of that ``x`` writes the file ``HANG_MARKER`` names
and sleeps, to be killed; the function reads both at run time, so its
identity is the same in every run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from orcapod.core import DictSource, Pipeline, function_pod, open_database
from orcapod.core.operators import Join
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver


@function_pod(output_keys="y")
def double(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative input {x}")
    if str(x) == os.environ.get("HANG_AT"):
        Path(os.environ["HANG_MARKER"]).write_text("")
        time.sleep(600)
    return 2 * x


uri, xs = sys.argv[1], json.loads(sys.argv[2])
database = open_database(uri)
numbers = DictSource([{"id": int(i), "x": x} for i, x in xs.items()], tag_columns=["id"])
names = DictSource([{"id": int(i), "name": f"n{i}"} for i in xs], tag_columns=["id"])
pipeline = Pipeline("lab", database)
with pipeline:
    double.pod(numbers, label="double")
    Join(label="named")(numbers, names)
observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
result = pipeline.run(observer=observer, flush_interval=0.1)
database.close()
print(result.run_id)
