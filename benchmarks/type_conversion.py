"""Throughput of orcapod's Python ↔ Arrow type converter, in rows per second.

For each case it builds Python columns of a schema, then times (best of
``--rounds``):

- Python lists → Arrow table (``to_arrow_table``, with every value checked);
- Arrow table → Python lists (``table_to_columns``, exact round trip);
- for reference, the bare ``pa.array(values, type=...)`` / ``to_pylist()``
  calls with no checking, so the converter's overhead is visible.

Simple columns (int, float, str) must convert without a per-value Python
loop; nested, datetime and path columns are checked value by value. Prints
numbers; asserts nothing.

    uv run python benchmarks/type_conversion.py [--rows 1000000] [--nested-rows 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from orcapod.core.types import Schema, table_to_columns, to_arrow_table

if TYPE_CHECKING:
    from collections.abc import Callable


def simple_columns(rows: int) -> tuple[Schema, dict[str, list[Any]]]:
    """int, float and str columns."""
    schema = Schema(id=int, value=float, name=str)
    columns: dict[str, list[Any]] = {
        "id": list(range(rows)),
        "value": [n / 7 for n in range(rows)],
        "name": [f"subject-{n % 97}" for n in range(rows)],
    }
    return schema, columns


def optional_columns(rows: int) -> tuple[Schema, dict[str, list[Any]]]:
    """The simple columns, nullable, with every tenth value None."""
    schema = Schema(id=int | None, value=float | None, name=str | None)
    _, columns = simple_columns(rows)
    for values in columns.values():
        values[::10] = [None] * len(values[::10])
    return schema, columns


def nested_columns(rows: int) -> tuple[Schema, dict[str, list[Any]]]:
    """list[int], dict[str, str] and list[dict[str, float | None]] columns."""
    schema = Schema(trials=list[int], labels=dict[str, str], scores=list[dict[str, float | None]])
    columns: dict[str, list[Any]] = {
        "trials": [[n, n + 1, n + 2] for n in range(rows)],
        "labels": [{"species": "mouse", "lab": f"lab-{n % 5}"} for n in range(rows)],
        "scores": [[{"a": n / 3, "b": None}] for n in range(rows)],
    }
    return schema, columns


def datetime_and_path_columns(rows: int) -> tuple[Schema, dict[str, list[Any]]]:
    """Zoned datetimes, UTC datetimes and paths."""
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    schema = Schema(local=datetime, utc=datetime, file=Path)
    columns: dict[str, list[Any]] = {
        "local": [(start + timedelta(minutes=n)).astimezone(berlin) for n in range(rows)],
        "utc": [start + timedelta(seconds=n) for n in range(rows)],
        "file": [Path(f"/data/run-{n % 1000}/image.tif") for n in range(rows)],
    }
    return schema, columns


CASES: dict[str, Callable[[int], tuple[Schema, dict[str, list[Any]]]]] = {
    "simple (int, float, str)": simple_columns,
    "optional simple (10% None)": optional_columns,
    "nested (list, map, list of map)": nested_columns,
    "datetime (zoned, UTC) and Path": datetime_and_path_columns,
}


def best_seconds(action: Callable[[], object], rounds: int) -> float:
    """The fastest of ``rounds`` timings of ``action``."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def bare_arrow(arrow: pa.Schema, columns: dict[str, list[Any]]) -> pa.Table:
    """What plain pyarrow does with the same lists and types, unchecked (paths as str)."""
    arrays = []
    for field in arrow:
        values = columns[field.name]
        if values and isinstance(values[0], Path):
            values = [str(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=arrow)


def measure(
    build: Callable[[int], tuple[Schema, dict[str, list[Any]]]], rows: int, rounds: int
) -> list[float]:
    """rows/s of: converter py→arrow, bare py→arrow, converter arrow→py, bare arrow→py."""
    schema, columns = build(rows)
    table = to_arrow_table(columns, schema)
    assert table_to_columns(table) == columns, "round trip lost data"
    seconds = [
        best_seconds(lambda: to_arrow_table(columns, schema), rounds),
        best_seconds(lambda: bare_arrow(table.schema, columns), rounds),
        best_seconds(lambda: table_to_columns(table, schema), rounds),
        best_seconds(
            lambda: [c.to_pylist(maps_as_pydicts="strict") for c in table.columns], rounds
        ),
    ]
    return [rows / s for s in seconds]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the simple cases")
    parser.add_argument("--nested-rows", type=int, default=200_000, help="rows of the others")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    header = f"{'case':34} {'rows':>9} {'py→arrow':>12} {'bare':>12} {'arrow→py':>12} {'bare':>12}"
    print(header)
    print("-" * len(header))
    for name, build in CASES.items():
        rows = args.rows if name.startswith(("simple", "optional")) else args.nested_rows
        rates = measure(build, rows, args.rounds)
        print(f"{name:34} {rows:>9,} " + " ".join(f"{rate:>12,.0f}" for rate in rates))
    print(f"\nrows/s, best of {args.rounds} rounds; 'bare' = unchecked pyarrow on the same data")


if __name__ == "__main__":
    main()
