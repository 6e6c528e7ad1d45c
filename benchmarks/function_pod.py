"""What a function pod with a result cache costs per packet, over calling the function.

On ``--rows`` packets of one int column (an ArrowTableSource with an int tag),
with a trivial function ``x * 2 + 1``, prints the best of ``--rounds``:

- a bare Python loop calling the function on the same values (the baseline);
- the pod with no cache: the output table (``as_table()``), and iterating the
  output (tag, packet) pairs;
- first pass with a ResultCache on a new InMemoryArrowDatabase: everything is
  computed and stored; µs per packet over the bare loop (target: at most 10);
- second pass, everything cached: packets/s (target: at least 300,000);
- the same first pass with the function run by a LocalExecutor (sys capture)
  and a packet logger per call, as a pipeline node will run it.

Prints numbers; asserts nothing.

    uv run python benchmarks/function_pod.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
from typing import Any

import pyarrow as pa

from _timing import best_of
from orcapod.core import ArrowTableSource, InMemoryArrowDatabase, ResultCache, function_pod
from orcapod.core.executors import LocalExecutor


@function_pod(output_keys="y")
def affine(x: int) -> int:
    return x * 2 + 1


def iterate(stream: Any) -> None:
    for _ in stream.iter_packets():
        pass


class DiscardingLogger:
    def record(self, **fields: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, rounds = args.rows, args.rounds
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pa.array(range(rows))})
    source = ArrowTableSource(table, ["id"], source_id="bench")
    source.as_table(include_system_columns=True)  # provenance built once, outside the timings
    values = table.column("x").to_pylist()
    pod = affine.pod
    print(f"{rows:,} packets, one int column; best of {rounds}")

    def per_packet(seconds: float) -> str:
        return f"{seconds * 1e6 / rows:7.2f} µs/packet  {rows / seconds:12,.0f} packets/s"

    bare = best_of(rounds, lambda: [affine(x=x) for x in values])
    print(f"{'bare loop calling the function':<44} {per_packet(bare)}")

    pod.result_cache = None
    seconds = best_of(rounds, lambda: pod(source).as_table())
    print(f"{'pod, no cache: as_table()':<44} {per_packet(seconds)}")
    seconds = best_of(rounds, lambda: iterate(pod(source)))
    print(f"{'pod, no cache: iterate pairs':<44} {per_packet(seconds)}")

    caches: list[ResultCache] = []

    def first_pass() -> None:
        pod.result_cache = ResultCache(InMemoryArrowDatabase())
        caches.append(pod.result_cache)
        pod(source).as_table()

    first = best_of(rounds, first_pass)
    print(
        f"{'first pass, cache on (computed + stored)':<44} {per_packet(first)}"
        f"   over bare: {(first - bare) * 1e6 / rows:.2f} µs/packet (target 10)"
    )
    second = best_of(rounds, lambda: pod(source).as_table())
    print(f"{'second pass, all cached: as_table()':<44} {per_packet(second)}   (target 300,000/s)")
    second_iter = best_of(rounds, lambda: iterate(pod(source)))
    print(f"{'second pass, all cached: iterate pairs':<44} {per_packet(second_iter)}")

    pod.executor = LocalExecutor()
    logger = DiscardingLogger()
    function = pod.packet_function
    captured = best_of(rounds, lambda: [function.invoke({"x": x}, logger=logger) for x in values])
    print(f"{'LocalExecutor(sys) + logger, per call':<44} {per_packet(captured)}")
    pod.executor = None


if __name__ == "__main__":
    main()
