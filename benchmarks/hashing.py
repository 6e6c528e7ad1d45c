"""How fast orcapod.core.hashing content-hashes packets.

Builds tables of ``--rows`` packets and times, as the best of ``--rounds``:

- ``hash_table_rows`` of three columns (int, float, str): the target workload,
  a content hash per packet; in packets/s and µs per packet;
- the same with a fourth ``dict[str, str]`` (map) column of two entries;
- the same three columns split into 100 chunks (the layout must not matter);
- ``hash_table`` (one ordered hash of the whole table) of the three columns;
- ``hash_schema`` and ``combine_hashes``, in µs per call.

Prints numbers; asserts nothing.

    uv run python benchmarks/hashing.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random

import pyarrow as pa

from _timing import best_of
from orcapod.core.hashing import combine_hashes, hash_schema, hash_table, hash_table_rows

LABELS = pa.map_(pa.large_string(), pa.large_string())


def packets(count: int) -> pa.Table:
    """``count`` packets of an int, a float and a string column."""
    rng = random.Random(7)
    return pa.table(
        {
            "trial": pa.array(range(count), pa.int64()),
            "score": pa.array([rng.random() for _ in range(count)], pa.float64()),
            "subject": pa.array([f"subject-{n % 9973}" for n in range(count)], pa.large_string()),
        }
    )


def with_labels(table: pa.Table) -> pa.Table:
    """``table`` plus a map column of two entries per row."""
    count = table.num_rows
    offsets = pa.array(range(0, 2 * count + 1, 2), pa.int32())
    keys = pa.array(["species", "lab"] * count, pa.large_string())
    values = pa.array(["mouse", "north"] * count, pa.large_string())
    return table.append_column("labels", pa.MapArray.from_arrays(offsets, keys, values, LABELS))


def report(label: str, rows: int, seconds: float) -> None:
    print(
        f"{label:<42} {seconds:7.3f} s  {rows / seconds:>11,.0f} packets/s  "
        f"{seconds / rows * 1e6:6.2f} µs/packet"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    table = packets(args.rows)
    labelled = with_labels(table)
    chunked = pa.concat_tables(
        table.slice(start, args.rows // 100) for start in range(0, args.rows, args.rows // 100)
    )
    print(f"{args.rows:,} packets, best of {args.rounds}")
    report(
        "hash_table_rows (int, float, str)",
        args.rows,
        best_of(args.rounds, lambda: hash_table_rows(table)),
    )
    report(
        "hash_table_rows (+ map of 2 entries)",
        args.rows,
        best_of(args.rounds, lambda: hash_table_rows(labelled)),
    )
    report(
        "hash_table_rows (100 chunks)",
        args.rows,
        best_of(args.rounds, lambda: hash_table_rows(chunked)),
    )
    report(
        "hash_table (whole table, ordered)",
        args.rows,
        best_of(args.rounds, lambda: hash_table(table)),
    )

    calls = 10_000
    schema = labelled.schema
    seconds = best_of(args.rounds, lambda: [hash_schema(schema) for _ in range(calls)])
    print(f"{'hash_schema (4 columns)':<42} {seconds / calls * 1e6:7.2f} µs/call")
    parts = [hash_schema(schema)] * 3
    seconds = best_of(args.rounds, lambda: [combine_hashes("node", *parts) for _ in range(calls)])
    print(f"{'combine_hashes (3 parts)':<42} {seconds / calls * 1e6:7.2f} µs/call")


if __name__ == "__main__":
    main()
