"""Peak memory of making and reading a large CSV file: CSVSource against ArrowTableSource.

The parent writes one CSV file of ``--rows`` rows (an int tag ``i``, an int
``x``, a 24-character str ``label`` and a column ``dose`` of ints whose last
field is ``0.5``, so that its type widens to float only at the end of the
file). For each source kind, a process of its own makes the source
(``CSVSource(path)``, or ``ArrowTableSource(pyarrow.csv.read_csv(path))`` with
the same source id), reads it (``content_hash()``, then every batch of
``iter_batches(include_system_columns=True)``) and prints the seconds to make
and to read it, and the process's peak resident memory (``ru_maxrss``).
Asserts nothing, except that both read every row.

    uv run python benchmarks/csv_source.py [--rows 2000000]
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

KINDS = ("csv", "arrow")


def write(path: Path, rows: int) -> None:
    """The benchmark's file, written 100,000 rows at a time (the parent never holds it whole)."""
    step = 100_000
    with path.open("w") as file:
        file.write("i,x,label,dose\n")
        for start in range(0, rows, step):
            file.write(
                "".join(
                    f"{i},{i * 7},label-{i:018d},{i if i < rows - 1 else 0.5}\n"
                    for i in range(start, min(rows, start + step))
                )
            )


def child(kind: str, path: Path) -> dict[str, Any]:
    """One measurement, in this process (run by the parent in a process of its own)."""
    from pyarrow import csv

    from orcapod.core import ArrowTableSource, CSVSource

    start = time.perf_counter()
    if kind == "csv":
        source: Any = CSVSource(path, ["i"], source_id="big")
    else:
        source = ArrowTableSource(csv.read_csv(path), ["i"], source_id="big")
    made = time.perf_counter() - start
    start = time.perf_counter()
    source.content_hash()
    rows = sum(batch.num_rows for batch in source.iter_batches(include_system_columns=True))
    read = time.perf_counter() - start
    if rows != source.row_count():
        sys.exit(f"{kind}: read {rows} of {source.row_count()} rows")
    figures: dict[str, Any] = {"kind": kind, "rows": rows, "make_s": made, "read_s": read}
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["dose"] = str(source.output_schema()[1]["dose"])
    if kind == "csv":
        figures["passes"] = source.reads.passes
        figures["whole_reads"] = source.reads.whole
    return figures


def measure(kind: str, path: Path) -> dict[str, Any]:
    """Run :func:`child` in a new process; its figures."""
    command = [sys.executable, __file__, "--child", kind, str(path)]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=Path(__file__).parent, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stdout}{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        print(json.dumps(child(kind, Path(path))))
        return
    with tempfile.TemporaryDirectory(prefix="orcapod-csv-file-") as folder:
        path = Path(folder) / "big.csv"
        write(path, args.rows)
        megabytes = path.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {megabytes:.0f} MB of CSV")
        print(f"{'source':16} {'make s':>8} {'read s':>8} {'peak MB':>9}  dose")
        for kind in KINDS:
            figures = measure(kind, path)
            name = "CSVSource" if kind == "csv" else "ArrowTableSource"
            print(
                f"{name:16} {figures['make_s']:>8.1f} {figures['read_s']:>8.1f} "
                f"{figures['peak_mb']:>9.0f}  {figures['dose']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
