"""The cost of ``orcapod report`` for a large run: seconds to write it, its size, peak memory.

Builds a run of ``--packets`` packets (a trivial function; ``--failures`` of
them raise, each after printing a line and logging a record) with a
LoggingObserver and a StatusObserver, in a store of ``--store`` kind in a
temporary folder (untimed), then times ``orcapod report`` on it, as the
command does it (read from a freshly opened store, render, write), best of
``--rounds``; then runs the ``orcapod report`` command once in a process of
its own and reads that process's peak resident memory. Prints seconds, bytes
and megabytes; asserts nothing. The target (issue 22): 100,000 packets with
100 failures in under 5 s and under 5 MB.

    uv run python benchmarks/report_size.py [--packets 100000] [--failures 100]
        [--store sqlite|delta] [--rounds 3] [--keep report.html]
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import best_of
from orcapod.core import DictSource, Pipeline, function_pod, open_database
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver, write_report

PIPELINE = "report_benchmark"


def build_run(uri: str, packets: int, failures: int) -> tuple[str, float]:
    """Run a pipeline of ``packets`` packets, ``failures`` of them failing; (run id, seconds)."""
    every = max(packets // max(failures, 1), 1)

    @function_pod(output_keys="y")
    def square(x: int) -> int:
        if failures and x % every == every - 1 and x // every < failures:
            print(f"about to fail on {x}")
            logging.getLogger("benchmark").warning("input %s is bad", x)
            raise ValueError(f"bad input {x}")
        return x * x

    database = open_database(uri)
    source = DictSource([{"i": i, "x": i} for i in range(packets)], tag_columns=["i"])
    pipeline = Pipeline(PIPELINE, database)
    with pipeline:
        square.pod(source, label="square")
    start = time.perf_counter()
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    result = pipeline.run(observer=observer)
    took = time.perf_counter() - start
    database.close()
    return result.run_id, took


def command_peak_mb(uri: str, run_id: str) -> float:
    """The peak resident memory, in MB, of one ``orcapod report`` process on the run."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "orcapod.core", "report", uri, "--pipeline", PIPELINE]
        command += ["--run", run_id, "-o", str(Path(folder) / "report.html")]
        subprocess.run(command, check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--failures", type=int, default=100)
    parser.add_argument("--store", choices=("sqlite", "delta"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="copy the report here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="orcapod-report-"))
    try:
        uri = (
            f"sqlite:///{folder / 'store.db'}"
            if args.store == "sqlite"
            else f"delta://{folder / 'store'}"
        )
        run_id, took = build_run(uri, args.packets, args.failures)
        print(
            f"built: {args.packets:,} packets, {args.failures} failing, {args.store}, {took:.1f} s"
        )
        output = folder / "report.html"

        def report() -> None:
            database = open_database(uri, create=False)
            try:
                write_report(database, PIPELINE, output, run_id, uri=uri)
            finally:
                database.close()

        seconds = best_of(args.rounds, report)
        size = output.stat().st_size
        print(f"report: {seconds:.2f} s, {size:,} bytes ({size / 1e6:.2f} MB)")
        print(f"peak memory of the orcapod report command: {command_peak_mb(uri, run_id):.0f} MB")
        if args.keep:
            shutil.copyfile(output, args.keep)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
