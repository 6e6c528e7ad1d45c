"""How InMemoryArrowDatabase's cost per record changes with the number of records stored.

For each size it fills one database with that many records (in bulk), then
times, as the median of several rounds:

- ``add_record`` of one new record, in µs per record;
- ``get_record_by_id`` of a random stored id, in µs per lookup;
- ``add_record`` followed by ``get_records_by_ids([that id])``, the pattern of
  a node storing each result and reading it back, in µs per record;
- ``get_records_by_ids`` of ``--ids`` random stored ids at once, in µs per id.

The first three should be about equal at every size: cost per record must
not grow with the records already stored. Prints numbers; asserts nothing.

    uv run python benchmarks/in_memory_database.py [--sizes 10000 1000000] [--rounds 5]

``--footprint N`` instead measures memory: the RSS a database holding N
records takes per record (filled in batches of 10,000, then read once, as a
node stores and looks up its results), beside the bytes of its Arrow data.
Each figure comes from a fresh process; ``--compare-with SRC`` also runs
another orcapod-core source tree (``git worktree add /tmp/old HEAD``, then
``--compare-with /tmp/old/packages/orcapod-core/src``), alternating the two.

    uv run python benchmarks/in_memory_database.py --footprint 1000000 [--compare-with SRC]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.core.databases import InMemoryArrowDatabase

if TYPE_CHECKING:
    from collections.abc import Callable

PATH = ("benchmark", "results")
ID = "record_id"
BULK_BATCH = 100_000
LABELS = pa.map_(pa.large_string(), pa.large_string())


def records(first: int, count: int) -> pa.Table:
    """``count`` records numbered from ``first``: ids and five columns of the usual types."""
    numbers = range(first, first + count)
    label_offsets = pa.array(range(0, 2 * count + 1, 2), pa.int32())
    label_keys = pa.array(["species", "lab"] * count, pa.large_string())
    label_values = pa.array(["mouse", "north"] * count, pa.large_string())
    return pa.table(
        {
            ID: pa.array([f"id-{n:09d}" for n in numbers], pa.large_string()),
            "subject": pa.array([f"subject-{n % 97}" for n in numbers], pa.large_string()),
            "trial": pa.array(numbers, pa.int64()),
            "value": pa.array([n / 7 for n in numbers], pa.float64()),
            "recorded_at": pa.array(
                [datetime(2024, 1, 1, tzinfo=UTC)] * count, pa.timestamp("us", tz="UTC")
            ),
            "labels": pa.MapArray.from_arrays(label_offsets, label_keys, label_values, LABELS),
        }
    )


def filled_database(size: int) -> InMemoryArrowDatabase:
    """A database holding ``size`` records at :data:`PATH`, added in bulk."""
    database = InMemoryArrowDatabase()
    for first in range(0, size, BULK_BATCH):
        database.add_records(PATH, records(first, min(BULK_BATCH, size - first)), ID)
    return database


def median_us(rounds: int, operations: int, run: Callable[[int], None]) -> float:
    """Median over ``rounds`` of the µs per operation of ``run(round)`` doing ``operations``."""
    samples = []
    for round_number in range(rounds):
        gc.collect()
        start = time.perf_counter()
        run(round_number)
        samples.append((time.perf_counter() - start) / operations * 1e6)
    return statistics.median(samples)


def measure(size: int, operations: int, ids_per_lookup: int, rounds: int) -> list[float]:
    """µs per add_record, per get_record_by_id, per add+read-back, per id of a batch lookup."""
    database = filled_database(size)
    new = records(10**8, 2 * rounds * operations).drop_columns([ID])
    new_rows = [new.slice(n, 1) for n in range(new.num_rows)]
    random_ids = random.Random(size)

    def add(round_number: int) -> None:
        for n in range(round_number * operations, (round_number + 1) * operations):
            database.add_record(PATH, f"new-{n}", new_rows[n])

    lookups = [
        [f"id-{n:09d}" for n in random_ids.sample(range(size), operations)] for _ in range(rounds)
    ]
    batches = [
        [f"id-{n:09d}" for n in random_ids.sample(range(size), ids_per_lookup)]
        for _ in range(rounds)
    ]

    def get(round_number: int) -> None:
        for record_id in lookups[round_number]:
            database.get_record_by_id(PATH, record_id)

    def add_and_read_back(round_number: int) -> None:
        first = (rounds + round_number) * operations
        for n in range(first, first + operations):
            database.add_record(PATH, f"new-{n}", new_rows[n])
            database.get_records_by_ids(PATH, [f"new-{n}"])

    def get_many(round_number: int) -> None:
        found = database.get_records_by_ids(PATH, batches[round_number])
        if found is None or found.num_rows != ids_per_lookup:
            raise RuntimeError("the batch lookup did not find every stored id")

    figures = [
        median_us(rounds, operations, add),
        median_us(rounds, operations, get),
        median_us(rounds, operations, add_and_read_back),
        median_us(rounds, ids_per_lookup, get_many),
    ]
    database.close()
    return figures


def rss_bytes() -> int:
    """This process's resident set size now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def footprint(size: int) -> None:
    """Print ``RSS-bytes-per-record arrow-bytes-per-record`` of a database of ``size`` records."""
    records(0, 10_000)  # warm up: Arrow's pool and the imports
    gc.collect()
    before = rss_bytes()
    database = InMemoryArrowDatabase()
    for first in range(0, size, 10_000):  # made and dropped as a node's results are
        database.add_records(PATH, records(first, min(10_000, size - first)), ID)
    database.get_records_by_ids(PATH, [f"id-{n:09d}" for n in range(0, size, 101)])
    gc.collect()
    used = rss_bytes() - before
    stored = database.get_all_records(PATH, record_id_column=ID)
    arrow = 0 if stored is None else stored.nbytes
    print(used / size, arrow / size)


def compare_footprints(size: int, other: str | None, rounds: int) -> None:
    """RSS per record of this code (and of ``other``), each a fresh process, alternating."""
    runs = {"this tree": None} if other is None else {"compared": other, "this tree": None}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, source in runs.items():
            environment = dict(os.environ)
            if source is not None:
                environment["PYTHONPATH"] = source
            command = [sys.executable, __file__, "--footprint-child", str(size)]
            output = subprocess.run(
                command, env=environment, capture_output=True, text=True, check=True
            )
            rss, arrow = map(float, output.stdout.split())
            figures[name].append((rss, arrow))
    print(f"{'code':>10} | {'records':>10} | {'RSS B/record':>12} | {'Arrow B/record':>14} | rest")
    for name, values in figures.items():
        rss = statistics.median(v[0] for v in values)
        arrow = statistics.median(v[1] for v in values)
        print(f"{name:>10} | {size:>10,} | {rss:>12.0f} | {arrow:>14.0f} | {rss - arrow:.0f}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--footprint-child":
        footprint(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--operations", type=int, default=2_000, help="per timed round")
    parser.add_argument("--ids", type=int, default=10_000, help="ids per batch lookup")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--footprint", type=int, help="measure RSS per record at this size")
    parser.add_argument("--compare-with", help="another orcapod-core src tree (--footprint)")
    args = parser.parse_args()
    if args.footprint:
        compare_footprints(args.footprint, args.compare_with, args.rounds)
        return
    print(
        f"{'stored records':>15} | {'add_record':>11} | {'get_by_id':>10} | "
        f"{'add+read back':>13} | {f'get_by_ids ({args.ids} ids)':>22}"
    )
    print(f"{'':>15} | {'µs/record':>11} | {'µs/lookup':>10} | {'µs/record':>13} | {'µs/id':>22}")
    for size in args.sizes:
        if size < args.ids:
            parser.error(f"--sizes {size} is smaller than --ids {args.ids}")
        add, get, add_and_read, get_many = measure(size, args.operations, args.ids, args.rounds)
        print(
            f"{size:>15,} | {add:>11.2f} | {get:>10.2f} | {add_and_read:>13.2f} | {get_many:>22.3f}"
        )


if __name__ == "__main__":
    main()
