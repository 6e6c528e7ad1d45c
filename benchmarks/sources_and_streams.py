"""How fast sources are made and streams are read.

On a table of ``--rows`` rows (an int tag; int, float and str packet columns),
prints the best of ``--rounds``:

- making an ``ArrowTableSource`` (validation, schema), and whether its
  ``as_table()`` shares the input's buffers (zero-copy) and how long it takes;
- iterating every (tag, packet) pair of a new source, in pairs/s: this
  includes building the ``__provenance`` column on first use;
- iterating and reading one packet value per pair;
- iterating and taking every packet's ``content_hash()``: the per-packet
  hashing target, in packets/s;
- ``content_hash()`` of the whole source (every row and its provenance);
- ``source_id`` of a source not given one: derived from a hash of its data;
- making a ``DictSource`` of the same rows from Python dicts, in rows/s.

Prints numbers; asserts nothing.

    uv run python benchmarks/sources_and_streams.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
from typing import TYPE_CHECKING

import pyarrow as pa

from _timing import best_of
from orcapod.core import ArrowTableSource, DictSource

if TYPE_CHECKING:
    from collections.abc import Callable


def table_of(count: int) -> pa.Table:
    rng = random.Random(7)
    return pa.table(
        {
            "id": pa.array(range(count), pa.int64()),
            "trial": pa.array(range(count), pa.int64()),
            "score": pa.array([rng.random() for _ in range(count)], pa.float64()),
            "subject": pa.array([f"subject-{n % 9973}" for n in range(count)], pa.large_string()),
        }
    )


def iterate(source: ArrowTableSource) -> None:
    for _ in source.iter_packets():
        pass


def iterate_and_read(source: ArrowTableSource) -> None:
    for _, packet in source.iter_packets():
        packet["score"]


def iterate_and_hash(source: ArrowTableSource) -> None:
    for _, packet in source.iter_packets():
        packet.content_hash()


def shares_buffers(a: pa.Table, b: pa.Table) -> bool:
    return all(
        x.buffers()[1].address == y.buffers()[1].address
        for name in a.column_names
        for x, y in zip(a.column(name).chunks, b.column(name).chunks, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, rounds = args.rows, args.rounds
    table = table_of(rows)
    print(f"{rows:,} rows: int tag; int, float, str packet columns; best of {rounds}")

    made = best_of(rounds, lambda: ArrowTableSource(table, ["id"]))
    print(f"ArrowTableSource(...)            {made * 1e3:9.2f} ms")
    source = ArrowTableSource(table, ["id"])
    as_table = best_of(rounds, source.as_table)
    print(
        f"as_table()                       {as_table * 1e6:9.2f} µs   "
        f"zero-copy: {shares_buffers(table, source.as_table())}"
    )

    def fresh(action: Callable[[ArrowTableSource], None]) -> Callable[[], None]:
        return lambda: action(ArrowTableSource(table, ["id"], source_id="bench"))

    for label, action in (
        ("iterate pairs", iterate),
        ("iterate, read a value", iterate_and_read),
        ("iterate, content_hash()", iterate_and_hash),
    ):
        seconds = best_of(rounds, fresh(action))
        print(f"{label:<32} {rows / seconds:12,.0f} pairs/s  ({seconds * 1e6 / rows:.2f} µs each)")

    whole = best_of(rounds, lambda: ArrowTableSource(table, ["id"], source_id="b").content_hash())
    print(f"source content_hash()            {whole:9.2f} s")
    derived = best_of(rounds, lambda: ArrowTableSource(table, ["id"]).source_id)
    print(f"derived source_id                {derived:9.2f} s")

    dicts = table.slice(0, min(rows, 200_000)).to_pylist()
    seconds = best_of(rounds, lambda: DictSource(dicts, ["id"]))
    print(f"DictSource from dicts            {len(dicts) / seconds:12,.0f} rows/s")


if __name__ == "__main__":
    main()
