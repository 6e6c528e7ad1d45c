"""Peak memory of a pipeline whose values are large arrays (issue 24's array target).

``--packets`` packets (default 20,000), each given to a function returning a
``--mb`` MB numpy array (default 1), whose results go through a second
function node (the array's sum), on a fresh store (default Delta), with the
sync orchestrator; then the same run again (every packet found stored). The
first run computes and stores ``packets * mb`` MB of arrays. Prints, for each
run, seconds and µs per packet, and the process's peak resident memory
(``ru_maxrss``) after each. Target: at most 1.5 GiB on Delta at 20,000 x 1 MB.
Asserts nothing.

    uv run python benchmarks/array_pipeline.py [--packets 20000] [--mb 1]
        [--store delta|sqlite|postgres|memory] [--batch-mb 32]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--store", default="delta")
    parser.add_argument("--batch-mb", type=int, default=32)
    options = parser.parse_args()

    from db_throughput import STORES
    from orcapod.core import ArrowTableSource, InMemoryArrowDatabase, Pipeline, function_pod

    values = int(options.mb * 1024 * 1024 / 8)

    @function_pod(output_keys="trace")
    def record(seed: int) -> npt.NDArray[np.float64]:
        return np.full(values, float(seed))

    @function_pod(output_keys="total")
    def total(trace: npt.NDArray[np.float64]) -> float:
        return float(trace.sum())

    n = options.packets
    print(f"{n} packets of {options.mb:g} MB arrays through two nodes on {options.store}")
    print(f"peak RSS after imports: {peak_mb():.0f} MB")
    with tempfile.TemporaryDirectory(prefix="orcapod-arrays-") as folder:
        database = (
            InMemoryArrowDatabase()
            if options.store == "memory"
            else STORES[options.store](Path(folder))
        )
        source = ArrowTableSource(
            pa.table({"i": pa.array(range(n), pa.int64()), "seed": pa.array(range(n), pa.int64())}),
            tag_columns=["i"],
            source_id="seeds",
        )
        pipeline = Pipeline("arrays", database)
        with pipeline:
            total.pod(record.pod(source, label="record"), label="total")
        for name in ("first", "cached"):
            start = time.perf_counter()
            result = pipeline.run(batch_bytes=options.batch_mb * 1024 * 1024)
            seconds = time.perf_counter() - start
            counts = result.nodes["total"]
            print(
                f"{name:>6} run: {seconds:7.1f} s, {seconds / n * 1e6:8.0f} µs per packet "
                f"(total: computed {counts.computed}, cached {counts.cached}), "
                f"peak RSS so far {peak_mb():.0f} MB"
            )
        database.close()


if __name__ == "__main__":
    main()
