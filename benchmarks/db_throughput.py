"""Throughput of the persistent ArrowDatabase backends: bulk adds, one flush, batched lookups.

For each store it times, on a fresh store in a temporary directory:

- adding ``--rows`` records (a str tag, an int, a float, a str and a
  ``map<str, str>``) in batches of ``--batch`` with ``add_records``, then one
  ``flush()``: the add phase, the flush, and both together (target for Delta:
  at most 3 s for 100,000 rows);
- ``get_records_by_ids`` of ``--lookups`` random stored ids in one call, on the
  instance that wrote them (warm: best of ``--rounds``; target at most 0.2 s)
  and on a newly opened instance (cold: its first read loads the table);
- one more batch added and flushed on top of the stored records (best of
  ``--rounds``), which should cost the same whatever is stored already.

Prints numbers; asserts nothing. A store is one factory in :data:`STORES`.

    uv run python benchmarks/db_throughput.py [--store delta|sqlite|postgres|all]
        [--rows 100000] [--batch 1000] [--lookups 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from _timing import best_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.database import ArrowDatabase

PATH = ("benchmark", "throughput")
ID = "record_id"
LABELS = pa.map_(pa.large_string(), pa.large_string())


def delta_store(directory: Path) -> ArrowDatabase:
    """DeltaTableDatabase with its root in ``directory``."""
    from orcapod.db.delta import DeltaTableDatabase

    return DeltaTableDatabase(directory / "delta")


def sqlite_store(directory: Path) -> ArrowDatabase:
    """SQLDatabase on a SQLite file in ``directory``."""
    from orcapod.db.sql import SQLDatabase

    return SQLDatabase(f"sqlite:///{directory / 'store.db'}")


_POSTGRES_SCHEMAS: set[str] = set()


def postgres_store(directory: Path) -> ArrowDatabase:
    """SQLDatabase on the PostgreSQL server of the ``PG*`` variables (default: local, trust).

    Each ``directory`` gets a schema of its own, dropped when the benchmark ends.
    """
    import atexit
    import os

    from orcapod.db.sql import SQLDatabase

    url = (
        f"postgresql+psycopg://{os.environ.get('PGUSER', 'postgres')}"
        f"@{os.environ.get('PGHOST', '127.0.0.1')}:{os.environ.get('PGPORT', '5432')}"
        f"/{os.environ.get('PGDATABASE', 'postgres')}"
    )
    schema = "orcapod_bench_" + hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    if not _POSTGRES_SCHEMAS:
        atexit.register(_drop_postgres_schemas, url)
    _POSTGRES_SCHEMAS.add(schema)
    return SQLDatabase(url, schema=schema)


def _drop_postgres_schemas(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for schema in _POSTGRES_SCHEMAS:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


STORES: dict[str, Callable[[Path], ArrowDatabase]] = {
    "delta": delta_store,
    "sqlite": sqlite_store,
    "postgres": postgres_store,
}
"""Store name to a factory opening that store on ``directory``; the same call must reopen it."""

KNOWN_STORES = ["delta", "sqlite", "postgres"]


def record_ids(first: int, count: int) -> list[str]:
    """Ids like the content hashes orcapod uses: long and in no order."""
    return [hashlib.sha256(str(n).encode()).hexdigest() for n in range(first, first + count)]


def batch(first: int, count: int) -> pa.Table:
    """``count`` records numbered from ``first``: an id and the five benchmark columns."""
    numbers = range(first, first + count)
    offsets = pa.array(range(0, 2 * count + 1, 2), pa.int32())
    keys = pa.array(["species", "lab"] * count, pa.large_string())
    values = pa.array(["mouse", "north"] * count, pa.large_string())
    return pa.table(
        {
            ID: pa.array(record_ids(first, count), pa.large_string()),
            "subject": pa.array([f"subject-{n % 97}" for n in numbers], pa.large_string()),
            "trial": pa.array(numbers, pa.int64()),
            "value": pa.array([n / 7 for n in numbers], pa.float64()),
            "note": pa.array([f"note {n}" for n in numbers], pa.large_string()),
            "labels": pa.MapArray.from_arrays(offsets, keys, values, LABELS),
        }
    )


def measure(name: str, rows: int, batch_rows: int, lookups: int, rounds: int) -> None:
    """Print the figures of one store."""
    factory = STORES[name]
    batches = [batch(first, min(batch_rows, rows - first)) for first in range(0, rows, batch_rows)]
    wanted = random.Random(0).sample(record_ids(0, rows), min(lookups, rows))
    with tempfile.TemporaryDirectory(prefix=f"orcapod-bench-{name}-") as directory:
        database = factory(Path(directory))
        start = time.perf_counter()
        for records in batches:
            database.add_records(PATH, records, ID)
        added = time.perf_counter()
        database.flush()
        flushed = time.perf_counter()
        found = database.get_records_by_ids(PATH, wanted)
        if found is None or found.num_rows != len(wanted):
            sys.exit(f"{name}: the lookup of {len(wanted)} stored ids lost records")
        warm = best_of(rounds, lambda: database.get_records_by_ids(PATH, wanted))
        extra = iter([batch(rows + n * batch_rows, batch_rows) for n in range(rounds)])
        one_more = best_of(rounds, lambda: database.add_records(PATH, next(extra), ID, flush=True))
        database.close()

        reopened = factory(Path(directory))
        cold_start = time.perf_counter()
        reopened.get_records_by_ids(PATH, wanted)
        cold = time.perf_counter() - cold_start
        reopened.close()
    print(
        f"{name:<9} add {rows:,} rows in batches of {batch_rows:,}: {added - start:6.3f} s  "
        f"flush: {flushed - added:6.3f} s  total: {flushed - start:6.3f} s  "
        f"({rows / (flushed - start):,.0f} rows/s)"
    )
    print(
        f"{'':<9} get_records_by_ids of {len(wanted):,} ids: warm {warm:6.3f} s  "
        f"cold (reopened) {cold:6.3f} s"
    )
    print(f"{'':<9} one more batch of {batch_rows:,} added and flushed: {one_more:6.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=[*KNOWN_STORES, "all"], default="all")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = list(STORES) if args.store == "all" else [args.store]
    missing = [name for name in names if name not in STORES]
    if missing:
        sys.exit(f"store {missing[0]!r} has no factory in STORES yet; available: {list(STORES)}")
    for name in names:
        measure(name, args.rows, args.batch, args.lookups, args.rounds)


if __name__ == "__main__":
    main()
