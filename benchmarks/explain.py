"""``explain`` on a 100,000-packet function node: how long the store takes to say why.

On each store (in-memory; SQLite and Delta when their packages are installed)
a pipeline with one function node over ``--rows`` packets (an int tag, a
packet of two int columns, so each computed packet records its columns'
hashes) runs twice:

1. every packet is new;
2. the function's version is bumped (its table moves) and one packet in ten
   has a column edited, so every packet is computed again, for one of two
   reasons.

Then ``explain`` of the second run is timed (best of ``--rounds``; target:
under 1 s), and the first run's extra cost of what it records for explain is
shown beside its total. Prints numbers; asserts nothing.

    uv run python benchmarks/explain.py [--rows 100000] [--rounds 3] [--stores memory sqlite delta]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from _timing import best_of
from orcapod.core import ArrowTableSource, Pipeline, function_pod, open_database
from orcapod.core.pipeline import explain


@function_pod(output_keys="y", name="affine")
def affine(x: int, z: int) -> int:
    return x * 2 + z


@function_pod(output_keys="y", name="affine", version="v1")
def affine_v1(x: int, z: int) -> int:
    return x * 2 + z


def source(rows: int, edited: bool) -> ArrowTableSource:
    """Rows ``id``, ``x``, ``z``; ``edited``: one packet in ten has another ``x``."""
    x = [v + 1 if edited and v % 10 == 0 else v for v in range(rows)]
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "x": pa.array(x, pa.int64()),
            "z": pa.array(range(rows), pa.int64()),
        }
    )
    return ArrowTableSource(table, tag_columns=["id"], source_id="numbers")


def run(database: Any, rows: int, pod: Any, edited: bool) -> float:
    pipeline = Pipeline("bench", database)
    with pipeline:
        pod.pod(source(rows, edited), label="affine")
    start = time.perf_counter()
    pipeline.run()
    return time.perf_counter() - start


def uri_of(store: str, where: Path) -> str | None:
    if store == "memory":
        return "memory://"
    if store == "sqlite" and importlib.util.find_spec("orcapod.db.sql"):
        return f"sqlite:///{where / 'bench.db'}"
    if store == "delta" and importlib.util.find_spec("orcapod.db.delta"):
        return f"delta://{where / 'delta'}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", nargs="*", default=["memory", "sqlite", "delta"])
    args = parser.parse_args()
    print(f"explain of a {args.rows:,}-packet node's second run; best of {args.rounds}")
    for store in args.stores:
        with tempfile.TemporaryDirectory() as where:
            uri = uri_of(store, Path(where))
            if uri is None:
                print(f"{store:<8} skipped: its package is not installed")
                continue
            database = open_database(uri)
            first = run(database, args.rows, affine, edited=False)
            second = run(database, args.rows, affine_v1, edited=True)
            result: list[Any] = []

            def explained(database: Any = database, result: list[Any] = result) -> None:
                result.append(explain(database, "bench", "affine"))

            seconds = best_of(args.rounds, explained)
            reasons = ", ".join(f"{count:,} {reason!r}" for reason, count in result[-1].reasons)
            print(
                f"{store:<8} explain {seconds:.3f} s (target under 1 s)   "
                f"runs: {first:.2f} s, {second:.2f} s   reasons: {reasons}"
            )
            database.close()


if __name__ == "__main__":
    main()
