"""What logging and status observers add to the headline pipeline.

The pipeline of ``pipeline_overhead.py`` (one function node over ``--rows``
packets, the sync orchestrator, an in-memory database), observed by
``CompositeObserver(LoggingObserver(db), StatusObserver(db))``: every packet
is captured, logged and given two status events. Prints, best of ``--rounds``:

- µs per packet over a bare Python loop calling the same function (target: at most 25);
- the same at a tenth of the rows, and the time ratio (target: at most 12, linear);
- a re-run with every packet cached (each gets a CACHED event).

Prints numbers; asserts nothing.

    uv run python benchmarks/observer_overhead.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from _timing import best_of
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver
from pipeline_overhead import affine, first_run, source_of

if TYPE_CHECKING:
    from orcapod.core import ArrowTableSource, Pipeline


def observed(source: ArrowTableSource, rounds: int) -> tuple[float, Pipeline]:
    """A first run observed by a logging and a status observer on its database."""
    return first_run(
        source,
        rounds,
        lambda database: CompositeObserver(LoggingObserver(database), StatusObserver(database)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, rounds = args.rows, args.rounds
    source, small = source_of(rows), source_of(rows // 10)
    values = source.as_table().column("x").to_pylist()

    bare = best_of(rounds, lambda: [affine(x=x) for x in values])
    full, pipeline = observed(source, rounds)
    tenth, _ = observed(small, 3 * rounds)
    print(f"one function node, LoggingObserver + StatusObserver; best of {rounds}")
    print(f"{'bare loop':<36} {bare * 1e6 / rows:8.2f} µs/packet")
    print(
        f"{f'observed pipeline, {rows:,} packets':<36} {full * 1e6 / rows:8.2f} µs/packet   "
        f"over bare: {(full - bare) * 1e6 / rows:.2f} µs/packet (target 25)"
    )
    print(
        f"{f'observed pipeline, {rows // 10:,} packets':<36} "
        f"{tenth * 1e6 / (rows // 10):8.2f} µs/packet   "
        f"time ratio {full / tenth:.1f} for 10x the packets (target at most 12)"
    )
    database = pipeline.database
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    cached = best_of(rounds, lambda: pipeline.run(observer=observer))
    print(f"{'re-run, everything cached':<36} {cached:8.3f} s")


if __name__ == "__main__":
    main()
