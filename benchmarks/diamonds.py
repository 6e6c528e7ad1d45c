"""How building, hashing and running grow with chained diamonds.

A diamond: one stream read by two function pods, their outputs joined; the
join feeds the next diamond. Every identity (pipeline and content hash) is a
Merkle chain over everything upstream, and every stream of a diamond is
reached by two paths, so an identity computed by walking the graph anew at
each stream doubles with each diamond. Each element's identity is computed
once, so these grow linearly. No walk recurses into a stream's inputs (each
keeps a stack of its own), so any number of diamonds works with Python's
default recursion limit: 700 diamonds are 2,101 streams.

For each number of diamonds N, prints the wall time (seconds, best of
``--rounds``; each round on new objects, so nothing is remembered from the
round before) of:

- streams: making the 3N + 1 streams (pods and joins applied);
- pipeline_hash / content_hash: the last stream's identities;
- compile: recording them in a ``Pipeline`` (in-memory store) and compiling nodes;
- run: the first run (computes every packet), then a second (all cached);
- as_table: the last node's current results, read from the store.

Prints numbers; asserts nothing.

    uv run python benchmarks/diamonds.py [--sizes 5 10 20 30] [--rows 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from orcapod.core import DictSource, Join, Pipeline, function_pod

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.streams import Stream


MODULUS = 1_000_003
"""Values stay below it: a + b and a - b would double every two diamonds, and past about
120 a packet's output would no longer fit in 64 bits (its packet would fail)."""


@function_pod(output_keys="a")
def left(a: int, b: int) -> int:
    return (a + b) % MODULUS


@function_pod(output_keys="b")
def right(a: int, b: int) -> int:
    return (a - b) % MODULUS


def diamonds(count: int, rows: int) -> Stream:
    """``count`` chained diamonds over a source of ``rows`` rows; the last join."""
    stream: Stream = DictSource(
        [{"id": i, "a": i, "b": 2 * i} for i in range(rows)], tag_columns=["id"]
    )
    for _ in range(count):
        stream = Join()(left.pod(stream), right.pod(stream))
    return stream


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def measure(count: int, rows: int) -> dict[str, float]:
    """One round's times for ``count`` diamonds, every object made anew."""
    times: dict[str, float] = {}
    times["streams"], stream = timed(lambda: diamonds(count, rows))
    times["pipeline_hash"], _ = timed(stream.pipeline_hash)  # type: ignore[attr-defined]
    times["content_hash"], _ = timed(stream.content_hash)  # type: ignore[attr-defined]
    pipeline = Pipeline(f"diamonds_{count}", database="memory://")

    def compile_pipeline() -> None:
        with pipeline:
            diamonds(count, rows)

    times["compile"], _ = timed(compile_pipeline)
    times["run"], _ = timed(pipeline.run)
    times["run cached"], _ = timed(pipeline.run)
    last = list(pipeline.nodes.values())[-1]
    times["as_table"], _ = timed(last.as_table)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 30])
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    columns = ["streams", "pipeline_hash", "content_hash", "compile", "run", "run cached"]
    columns.append("as_table")
    print(f"chained diamonds over {args.rows} rows; seconds, best of {args.rounds}")
    print(f"{'N':>4} {'nodes':>6} " + " ".join(f"{name:>13}" for name in columns))
    for count in args.sizes:
        rounds = [measure(count, args.rows) for _ in range(args.rounds)]
        best = {name: min(r[name] for r in rounds) for name in columns}
        nodes = 3 * count + 1
        print(
            f"{count:>4} {nodes:>6} " + " ".join(f"{best[name]:>13.4f}" for name in columns),
            flush=True,
        )


if __name__ == "__main__":
    main()
