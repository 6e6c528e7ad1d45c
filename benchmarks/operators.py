"""How fast operators run on large streams (vectorised on Arrow tables).

Prints the best of ``--rounds``, on streams of ``--rows`` rows:

- Join of two streams on one int tag column, each row matching one row of
  the other (target: under 1 s at 1M rows), including building the
  concatenated provenance; and the same join without system columns read;
- a vectorised Filter (``pc.field("score") > 0.5``) (target: under 0.2 s at 1M rows);
- Batch(100) and MapPackets (no values copied).

Sources are made with explicit source ids and their provenance built before
timing, so only the operator is measured. Prints numbers; asserts nothing.

    uv run python benchmarks/operators.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random

import pyarrow as pa
import pyarrow.compute as pc

from _timing import best_of
from orcapod.core import ArrowTableSource
from orcapod.core.operators import Batch, Filter, Join, MapPackets


def source(rows: int, column: str, seed: int, source_id: str) -> ArrowTableSource:
    rng = random.Random(seed)
    ids = list(range(rows))
    rng.shuffle(ids)
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            column: pa.array([rng.random() for _ in range(rows)], pa.float64()),
        }
    )
    built = ArrowTableSource(table, ["id"], source_id=source_id)
    built.as_table(include_system_columns=True)  # provenance built outside the timings
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, rounds = args.rows, args.rounds
    left, right = source(rows, "score", 1, "left"), source(rows, "weight", 2, "right")
    print(f"{rows:,} rows per stream; best of {rounds}")

    def report(label: str, seconds: float, target: str = "") -> None:
        print(f"{label:<48} {seconds:8.3f} s  {rows / seconds:14,.0f} rows/s  {target}")

    seconds = best_of(rounds, lambda: Join()(left, right).as_table(include_system_columns=True))
    report("Join on one int tag, with provenance", seconds, "(target < 1 s at 1M)")
    filtered = best_of(rounds, lambda: Filter(pc.field("score") > 0.5)(left).as_table())
    report("Filter(pc.field('score') > 0.5)", filtered, "(target < 0.2 s at 1M)")
    batched = best_of(rounds, lambda: Batch(100)(left).as_table(include_system_columns=True))
    report("Batch(100), with provenance", batched)
    renamed = best_of(rounds, lambda: MapPackets({"score": "value"})(left).as_table())
    report("MapPackets({'score': 'value'})", renamed)


if __name__ == "__main__":
    main()
