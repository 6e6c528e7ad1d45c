"""The Delta store's id index: time to find a batch's candidates against the rows indexed.

For each size, an index of that many random keys (one data file per 8,192
rows, as the store writes them) looks up batches of 8,192 stored keys, sorted
as a pipeline's batch is, spread over the whole table or one after another
(a re-run's order). Prints µs per key with the large runs searched through
their buckets and with plain binary searches (``np.searchsorted``), side by
side in one process. Asserts nothing.

    uv run python benchmarks/id_index.py [--sizes 100000,1000000,10000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from orcapod.db.delta import _index
from orcapod.protocols import keyindex

BATCH = 8_192


def footer(folder: Path) -> pq.FileMetaData:
    path = folder / "rows.parquet"
    pq.write_table(pa.table({"n": np.zeros(BATCH, np.int64)}), path, row_group_size=BATCH)
    return pq.ParquetFile(path).metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(24)
    print(f"{'rows':>11} {'order':>10} {'bucketed µs/key':>16} {'binary µs/key':>14} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        metadata = footer(Path(folder))
        for size in (int(size) for size in args.sizes.split(",")):
            files = max(1, size // BATCH)
            keys = rng.integers(0, 2**63, files * BATCH, dtype=np.int64).view(np.uint64) * 2
            index = _index.IdIndex()
            for number in range(files):
                index.add_file(
                    Path(f"f{number}"), metadata, keys[number * BATCH : (number + 1) * BATCH]
                )
            for order in ("spread", "in order"):
                batches = [
                    keys[rng.choice(len(keys), BATCH, replace=False)]
                    if order == "spread"
                    else keys[(start := int(rng.integers(0, files)) * BATCH) : start + BATCH]
                    for _ in range(args.rounds)
                ]
                figures = []
                for bucketed in (True, False):
                    limit = keyindex.BUCKETED_ROWS if bucketed else 1 << 62
                    with mock.patch.object(keyindex, "BUCKETED_ROWS", limit):
                        index.candidates(batches[0])  # builds the buckets
                        start = time.perf_counter()
                        for batch in batches:
                            index.candidates(batch)
                        figures.append((time.perf_counter() - start) / (len(batches) * BATCH) * 1e6)
                print(
                    f"{len(keys):>11,} {order:>10} {figures[0]:>16.3f} {figures[1]:>14.3f} "
                    f"{figures[1] / figures[0]:>6.2f}"
                )


if __name__ == "__main__":
    main()
