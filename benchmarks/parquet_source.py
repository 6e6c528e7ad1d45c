"""Peak memory of a pipeline over a large Parquet file: ParquetSource against ArrowTableSource.

The parent writes one Parquet file of ``--rows`` rows (an int tag ``i``, an int
``x`` and a 24-character str ``label``; row groups of 1Mi rows). For each
source kind, a process of its own makes the source (``ParquetSource(path)``,
or ``ArrowTableSource(pyarrow.parquet.read_table(path))`` with the same source
id), runs a pipeline of one function node (a one-line function) on a fresh
store with the sync orchestrator, and prints the seconds to make the source,
to run, and the process's peak resident memory (``ru_maxrss``). The store is
Delta by default (it does not hold the results in memory; the in-memory store
would). Asserts nothing, except that every packet was computed.

    uv run python benchmarks/parquet_source.py [--rows 10000000] [--store delta|memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KINDS = ("parquet", "arrow")


def write(path: Path, rows: int) -> None:
    """The benchmark's file, written a row group at a time (the parent never holds it whole)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    group = 1 << 20
    schema = pa.schema([("i", pa.int64()), ("x", pa.int64()), ("label", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, group):
            numbers = pa.array(range(start, min(rows, start + group)), pa.int64())
            labels = pc.binary_join_element_wise(
                "label-", pc.utf8_lpad(numbers.cast(pa.string()), 18, "0"), ""
            )
            writer.write_table(pa.table([numbers, numbers, labels], schema=schema))


def child(kind: str, path: Path, store: str) -> dict[str, Any]:
    """One measurement, in this process (run by the parent in a process of its own)."""
    import pyarrow.parquet as pq

    from db_throughput import STORES
    from orcapod.core import (
        ArrowTableSource,
        InMemoryArrowDatabase,
        ParquetSource,
        Pipeline,
        function_pod,
    )

    @function_pod(output_keys="y")
    def plus_one(x: int) -> int:
        return x + 1

    with tempfile.TemporaryDirectory(prefix="orcapod-parquet-") as folder:
        database = InMemoryArrowDatabase() if store == "memory" else STORES[store](Path(folder))
        start = time.perf_counter()
        if kind == "parquet":
            source: Any = ParquetSource(path, ["i"], source_id="big")
        else:
            source = ArrowTableSource(pq.read_table(path), ["i"], source_id="big")
        made = time.perf_counter() - start
        pipeline = Pipeline("big", database)
        with pipeline:
            plus_one.pod(source, label="plus_one")
        start = time.perf_counter()
        result = pipeline.run()
        ran = time.perf_counter() - start
        rows = source.row_count()
        if result.nodes["plus_one"].computed != rows:
            sys.exit(f"{kind}: computed {result.nodes['plus_one'].computed} of {rows}")
        database.close()
    figures: dict[str, Any] = {"kind": kind, "rows": rows, "make_s": made, "run_s": ran}
    figures["run_us"] = ran / rows * 1e6
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if kind == "parquet":
        figures["whole_reads"] = source.reads.whole
    return figures


def measure(kind: str, path: Path, store: str) -> dict[str, Any]:
    """Run :func:`child` in a new process; its figures."""
    command = [sys.executable, __file__, "--child", kind, str(path), store]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=Path(__file__).parent, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stdout}{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--store", choices=("delta", "memory"), default="delta")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, store = args.child
        print(json.dumps(child(kind, Path(path), store)))
        return
    with tempfile.TemporaryDirectory(prefix="orcapod-parquet-file-") as folder:
        path = Path(folder) / "big.parquet"
        write(path, args.rows)
        megabytes = path.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {megabytes:.0f} MB of Parquet, {args.store} store")
        print(f"{'source':16} {'make s':>8} {'run s':>8} {'µs/packet':>10} {'peak MB':>9}")
        for kind in KINDS:
            figures = measure(kind, path, args.store)
            name = "ParquetSource" if kind == "parquet" else "ArrowTableSource"
            print(
                f"{name:16} {figures['make_s']:>8.1f} {figures['run_s']:>8.1f} "
                f"{figures['run_us']:>10.1f} {figures['peak_mb']:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
