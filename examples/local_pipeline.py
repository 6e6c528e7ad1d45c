"""Growth rates of bacterial cultures: a pipeline on a local Delta store, with logs and status.

Optical density (OD) was read every 20 minutes in the wells of two plates.
The pipeline fits each well's growth rate, joins the plate's strain and keeps
the wells that grew. Run it twice: the second run computes nothing.

    uv run python examples/local_pipeline.py [STORE_URI]

STORE_URI defaults to ``delta://orcapod-example`` (a directory here). The same
pipeline runs on Ray (``ray_pipeline.py``) and on PostgreSQL
(``postgres_pipeline.py``) without changing a line of it.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from orcapod.core import DictSource, Pipeline, function_pod, open_database
from orcapod.core.operators import Filter, Join
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

if TYPE_CHECKING:
    from orcapod.core.pipeline import RunResult
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor


@function_pod(output_keys=["rate_per_h", "doubling_h"])
def growth(od: list[float], interval_min: float) -> tuple[float, float]:
    """The exponential growth rate: the least-squares slope of log(OD) over time."""
    hours = [i * interval_min / 60 for i in range(len(od))]
    logs = [math.log(x) for x in od]
    mean_t, mean_y = sum(hours) / len(hours), sum(logs) / len(logs)
    slope = sum((t - mean_t) * (y - mean_y) for t, y in zip(hours, logs, strict=True)) / sum(
        (t - mean_t) ** 2 for t in hours
    )
    print(f"fitted {len(od)} readings: {slope:.3f} per hour")
    return round(slope, 4), round(math.log(2) / slope, 2) if slope > 0 else math.inf


def readings() -> DictSource:
    """OD readings per (plate, well): each well grows at its own rate."""
    rows = []
    for plate in ("p1", "p2"):
        for well, rate in zip(("A1", "A2", "B1", "B2"), (0.9, 0.6, 0.02, 0.45), strict=True):
            scale = 1.2 if plate == "p2" else 1.0
            od = [round(0.05 * math.exp(scale * rate * i / 3), 4) for i in range(12)]
            rows.append({"plate": plate, "well": well, "od": od, "interval_min": 20.0})
    return DictSource(rows, tag_columns=["plate", "well"], source_id="od_readings")


def strains() -> DictSource:
    """Which strain each plate holds."""
    return DictSource(
        [{"plate": "p1", "strain": "wild type"}, {"plate": "p2", "strain": "fast mutant"}],
        tag_columns=["plate"],
        source_id="plates",
    )


def build(database: ArrowDatabase) -> Pipeline:
    """The pipeline, compiled on ``database``."""
    pipeline = Pipeline("growth", database)
    with pipeline:
        rates = growth.pod(readings(), label="growth")
        Filter(pc.field("rate_per_h") > 0.1, label="grew")(Join(label="strains")(rates, strains()))
    return pipeline


def main(uri: str, executor: PacketFunctionExecutor | None = None) -> RunResult:
    """Run the pipeline on the store at ``uri`` (on ``executor``) and print what happened."""
    database = open_database(uri)
    try:
        pipeline = build(database)
        observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
        result = pipeline.run(executor=executor, observer=observer)
        counts = result.nodes["growth"]
        print(f"growth: computed {counts.computed}, cached {counts.cached}")
        wells = (
            pipeline.nodes["grew"]
            .as_table()
            .sort_by([("plate", "ascending"), ("well", "ascending")])
        )
        for row in wells.to_pylist():
            print(
                f"{row['plate']} {row['well']} {row['strain']}: doubles every {row['doubling_h']} h"
            )
    finally:
        database.close()
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "delta://orcapod-example")
