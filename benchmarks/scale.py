"""Cost per packet and peak memory against the number of packets, per store (issue 24).

For each store, size and observer setting, a process of its own builds a
pipeline of one function node (a one-line function) over ``N`` packets on a
fresh store, runs it with the sync orchestrator (the first run: every packet
computed and stored), then runs it again in the same process (the cached
re-run: every packet found stored). It prints µs per packet of each run and
the process's peak resident memory (``ru_maxrss``), which includes building
the source's rows. Asserts nothing.

With ``--observers`` the runs have a LoggingObserver and a StatusObserver.
``--json FILE`` also writes the figures, for ``benchmarks/scale_plot.py``.
``--pairs K`` measures each store and size K times without and with observers,
alternating (this machine's speed drifts: a ratio is only fair within a pair),
and prints each pair's ratios, with observers ÷ without, and their median.
Targets (issue 24): per-packet cost at 10M within 1.25x of 100k, for both
runs, with and without observers, on Delta, SQLite and PostgreSQL; peak RSS
of a 10M-packet run at most 1.5 GiB on each persistent store.

    uv run python benchmarks/scale.py [--stores memory,delta,sqlite,postgres]
        [--sizes 100000,1000000] [--observers both|on|off] [--json FILE] [--pairs K]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STORE_NAMES = ("memory", "delta", "sqlite", "postgres")


def child(store: str, packets: int, observers: bool) -> dict[str, Any]:
    """One measurement, in this process (run by the parent in a process of its own)."""
    import pyarrow as pa

    from db_throughput import STORES
    from orcapod.core import ArrowTableSource, InMemoryArrowDatabase, Pipeline, function_pod

    @function_pod(output_keys="y")
    def plus_one(x: int) -> int:
        return x + 1

    with tempfile.TemporaryDirectory(prefix="orcapod-scale-") as folder:
        database = InMemoryArrowDatabase() if store == "memory" else STORES[store](Path(folder))
        source = ArrowTableSource(
            pa.table({"i": pa.array(range(packets), pa.int64()), "x": range(packets)}),
            tag_columns=["i"],
            source_id="scale",
        )
        pipeline = Pipeline("scale", database)
        with pipeline:
            plus_one.pod(source, label="plus_one")
        figures: dict[str, Any] = {"store": store, "packets": packets, "observers": observers}
        for name in ("first", "cached"):
            observer = _observers(database) if observers else None
            start = time.perf_counter()
            result = pipeline.run(observer=observer)
            seconds = time.perf_counter() - start
            done = result.nodes["plus_one"]
            expected = (packets, 0) if name == "first" else (0, packets)
            if (done.computed, done.cached) != expected:
                sys.exit(f"{name} run: computed {done.computed}, cached {done.cached}")
            figures[f"{name}_us"] = seconds / packets * 1e6
        database.close()
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _observers(database: Any) -> Any:
    from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

    return CompositeObserver(LoggingObserver(database), StatusObserver(database))


def measure(store: str, packets: int, observers: bool) -> dict[str, Any]:
    """Run :func:`child` in a new process; its figures."""
    command = [sys.executable, __file__, "--child", store, str(packets), str(int(observers))]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=Path(__file__).parent, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{store} at {packets:,} packets failed:\n{done.stdout}{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default=",".join(STORE_NAMES))
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--observers", choices=("both", "on", "off"), default="off")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument("--pairs", type=int, default=0, metavar="K")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store, packets, observers = args.child
        print(json.dumps(child(store, int(packets), observers == "1")))
        return
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = sorted(set(stores) - set(STORE_NAMES))
    if unknown:
        sys.exit(f"unknown store {unknown[0]!r}; choose among {', '.join(STORE_NAMES)}")
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.pairs:
        pairs(stores, sizes, args.pairs)
        return
    settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.observers]
    rows = []
    header = ("store", "observers", "packets", "first µs", "cached µs", "peak MB")
    print(f"{header[0]:10} " + " ".join(f"{name:>11}" for name in header[1:]))
    for observers in settings:
        for store in stores:
            for packets in sizes:
                figures = measure(store, packets, observers)
                rows.append(figures)
                print(
                    f"{store:10} {'on' if observers else 'off':>11} {packets:>11,} "
                    f"{figures['first_us']:>11.1f} {figures['cached_us']:>11.1f} "
                    f"{figures['peak_mb']:>11.0f}",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


def pairs(stores: list[str], sizes: list[int], count: int) -> None:
    """Each store and size ``count`` times without, then with, observers; the ratios."""
    print(f"{'store':10} {'packets':>11} {'off µs':>15} {'on µs':>15} {'on ÷ off':>15}")
    print(f"{'':10} {'':>11} {'first, cached':>15} {'first, cached':>15} {'first, cached':>15}")
    for store in stores:
        for packets in sizes:
            ratios: list[tuple[float, float]] = []
            for _ in range(count):
                off, on = measure(store, packets, False), measure(store, packets, True)
                ratio = (on["first_us"] / off["first_us"], on["cached_us"] / off["cached_us"])
                ratios.append(ratio)
                print(
                    f"{store:10} {packets:>11,} "
                    f"{off['first_us']:>7.1f} {off['cached_us']:>7.1f} "
                    f"{on['first_us']:>7.1f} {on['cached_us']:>7.1f} "
                    f"{ratio[0]:>7.2f} {ratio[1]:>7.2f}",
                    flush=True,
                )
            first = statistics.median(ratio[0] for ratio in ratios)
            cached = statistics.median(ratio[1] for ratio in ratios)
            print(f"{store:10} {packets:>11,} {'median':>31} {first:>7.2f} {cached:>7.2f}")


if __name__ == "__main__":
    main()
