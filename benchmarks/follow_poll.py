"""The cost of one poll of ``--follow``: reading what is new on a path that holds many rows.

For each store, a writer stores ``--rows`` log-like records (an id, a run id, a
node label, a UTC timestamp, a line of output) at one path; a reader (another
instance, as ``orcapod logs --follow`` in another process is) takes a cursor
with a first read of everything. Then, ``--rounds`` times, the writer stores
and flushes ``--new`` more records (untimed), and one poll of the reader is
timed, twice:

- **default**: what a store without incremental reads gets from
  ``read_new_records`` (``get_all_records``, then the ids already returned
  dropped); the store toolkit's default ``_read_new`` costs the same;
- **native**: the store's own ``get_new_records`` (Delta: the data files its
  log says were added since the cursor's version; SQLite: rowids above the
  cursor's; PostgreSQL: the rows of transactions committed since the cursor's snapshot).

Each poll must return exactly the ``--new`` records; the script says so if
not. Prints the best of the rounds per store; asserts nothing.

    uv run python benchmarks/follow_poll.py [--store delta|sqlite|postgres|all]
        [--rows 100000] [--new 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from db_throughput import KNOWN_STORES, STORES
from orcapod.protocols.database import RecordCursor, read_new_records

if TYPE_CHECKING:
    from orcapod.protocols.database import ArrowDatabase

PATH = ("benchmark", "_logs", "node", "hash")
ID = "__log_id"
BATCH = 10_000


class _WithoutIncrementalReads:
    """A store seen through the protocol's required methods only (no get_new_records)."""

    def __init__(self, database: ArrowDatabase) -> None:
        self._database = database

    def get_all_records(self, path: Any, *, record_id_column: str | None = None) -> Any:
        return self._database.get_all_records(path, record_id_column=record_id_column)


def rows(first: int, count: int) -> pa.Table:
    """``count`` log-like records numbered from ``first``."""
    numbers = range(first, first + count)
    now = datetime.now(UTC)
    return pa.table(
        {
            ID: pa.array([f"log-{n:09d}" for n in numbers], pa.large_string()),
            "__run_id": pa.array(["run-1"] * count, pa.large_string()),
            "__node_label": pa.array(["node"] * count, pa.large_string()),
            "__timestamp": pa.array([now] * count, pa.timestamp("us", "UTC")),
            "__stdout": pa.array([f"packet {n} says hello\n" for n in numbers], pa.large_string()),
            "id": pa.array(numbers, pa.int64()),
        }
    )


def poll_costs(store: str, total: int, new: int, rounds: int) -> dict[str, float]:
    """Best time of one poll returning ``new`` records, default and native."""
    costs: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"orcapod-follow-{store}-") as directory:
        writer = STORES[store](Path(directory))
        for first in range(0, total, BATCH):
            writer.add_records(PATH, rows(first, min(BATCH, total - first)), ID)
        writer.flush()
        stored = total
        for name in ("default", "native"):
            reader = STORES[store](Path(directory))
            through: Any = _WithoutIncrementalReads(reader) if name == "default" else reader
            _, cursor = read_new_records(through, PATH, record_id_column=ID)
            best = float("inf")
            for _ in range(rounds):
                writer.add_records(PATH, rows(stored, new), ID, flush=True)
                stored += new
                start = time.perf_counter()
                found, cursor = read_new_records(through, PATH, cursor, record_id_column=ID)
                best = min(best, time.perf_counter() - start)
                _check(store, name, found, new, cursor)
            costs[name] = best
            reader.close()
        writer.close()
    return costs


def _check(store: str, name: str, found: pa.Table | None, new: int, cursor: RecordCursor) -> None:
    got = 0 if found is None else found.num_rows
    if got != new:
        print(f"  {store} {name}: a poll returned {got} records, not {new} ({cursor!r})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=[*KNOWN_STORES, "all"], default="all")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stores = KNOWN_STORES if args.store == "all" else [args.store]
    print(
        f"one poll returning {args.new} new records of a path holding {args.rows:,} (best of "
        f"{args.rounds})"
    )
    print(f"{'store':<10} {'default':>12} {'native':>12} {'speed-up':>9}")
    for store in stores:
        try:
            costs = poll_costs(store, args.rows, args.new, args.rounds)
        except Exception as error:  # a missing server or plugin: say so, go on
            print(f"{store:<10} skipped: {type(error).__name__}: {str(error).splitlines()[0]}")
            continue
        default, native = costs["default"], costs["native"]
        print(
            f"{store:<10} {default * 1000:>10.1f} ms {native * 1000:>10.1f} ms "
            f"{default / native:>8.0f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
