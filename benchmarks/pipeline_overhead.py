"""The headline figure: what a pipeline adds per packet to calling the function yourself.

Prints:

- one function node (a trivial function) over ``--rows`` packets, the sync
  orchestrator, an in-memory database, and an observer that receives every
  hook and a packet logger that keeps every record (so each call is captured
  by the LocalExecutor): µs per packet over a bare Python loop calling the same
  function, both measured here (target: at most 15);
- the same at a tenth of the rows: the time ratio (target: at most 12, linear);
- a re-run of the first pipeline, every packet cached (target: under 0.5 s);
- the async orchestrator, a function sleeping 1 ms, ``max_concurrency=50``,
  over 1,000 packets (target: under 0.2 s).

Each figure is the best of ``--rounds`` runs on a fresh database. Prints
numbers; asserts nothing.

    uv run python benchmarks/pipeline_overhead.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from _timing import best_of
from orcapod.core import (
    ArrowTableSource,
    AsyncPipelineOrchestrator,
    InMemoryArrowDatabase,
    Pipeline,
    function_pod,
)

if TYPE_CHECKING:
    from collections.abc import Callable


@function_pod(output_keys="y")
def affine(x: int) -> int:
    return x * 2 + 1


@function_pod(output_keys="y")
def nap(x: int) -> int:
    time.sleep(0.001)
    return x


class CountingLogger:
    """Receives each record: counts it and keeps the latest (as a buffering observer would
    hand records on, rather than keep a hundred thousand dicts alive)."""

    def __init__(self, observer: CountingObserver) -> None:
        self.observer = observer

    def record(self, **fields: Any) -> None:
        self.observer.records += 1
        self.observer.latest = fields


class CountingObserver:
    """Receives every hook and every packet record, and counts them."""

    def __init__(self) -> None:
        self.hooks: dict[str, int] = {}
        self.records = 0
        self.latest: dict[str, Any] = {}

    def _count(self, hook: str) -> None:
        self.hooks[hook] = self.hooks.get(hook, 0) + 1

    def on_run_start(self, run: Any) -> None:
        self._count("run_start")

    def on_run_end(self, run: Any, outcome: Any) -> None:
        self._count("run_end")

    def contextualize(self, *pipeline_path: str) -> CountingObserver:
        return self

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Any) -> None:
        self._count("node_start")

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._count("node_end")

    def on_packet_start(self, node_label: str, tag: Any, packet: Any) -> None:
        self._count("packet_start")

    def on_packet_end(self, node_label: str, tag: Any, input_packet: Any, output_packet: Any, *,
                      cached: bool, source_run_id: str | None = None) -> None:  # fmt: skip
        self._count("packet_end")

    def on_packet_crash(self, node_label: str, tag: Any, packet: Any, error: Any) -> None:
        self._count("packet_crash")

    def create_packet_logger(self, tag: Any, packet: Any) -> CountingLogger:
        return CountingLogger(self)


def source_of(rows: int) -> ArrowTableSource:
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pa.array(range(rows))})
    source = ArrowTableSource(table, ["id"], source_id=f"numbers-{rows}")
    source.as_table(include_system_columns=True)  # provenance built outside the timings
    return source


def pipeline_of(source: ArrowTableSource, pod: Any) -> Pipeline:
    pipeline = Pipeline("bench", InMemoryArrowDatabase())
    with pipeline:
        pod(source, label="node")
    return pipeline


def first_run(
    source: ArrowTableSource,
    rounds: int,
    observer_of: Callable[[Any], Any] = lambda database: CountingObserver(),
) -> tuple[float, Pipeline]:
    """The best time of a first run on a fresh database (and the last pipeline run).

    ``observer_of`` makes the run's observer from the pipeline's database.
    """
    latest: list[Pipeline] = []

    def setup() -> None:
        # Only the latest pipeline is kept: each round starts from the same memory,
        # rather than with every earlier round's stored results still alive.
        latest[:] = [pipeline_of(source, affine.pod)]
        gc.collect()

    def run() -> None:
        latest[0].run(observer=observer_of(latest[0].database))

    return best_of(rounds, run, setup), latest[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, rounds = args.rows, args.rounds
    source, small = source_of(rows), source_of(rows // 10)
    values = source.as_table().column("x").to_pylist()

    bare = best_of(rounds, lambda: [affine(x=x) for x in values])
    full, pipeline = first_run(source, rounds)
    tenth, _ = first_run(small, 3 * rounds)  # short runs vary more: take more of them
    print(f"one function node, sync orchestrator, every hook observed; best of {rounds}")
    print(f"{'bare loop':<36} {bare * 1e6 / rows:8.2f} µs/packet")
    print(
        f"{f'pipeline, {rows:,} packets':<36} {full * 1e6 / rows:8.2f} µs/packet   over bare: "
        f"{(full - bare) * 1e6 / rows:.2f} µs/packet (target 15)"
    )
    print(
        f"{f'pipeline, {rows // 10:,} packets':<36} {tenth * 1e6 / (rows // 10):8.2f} µs/packet   "
        f"time ratio {full / tenth:.1f} for 10x the packets (target at most 12)"
    )
    cached = best_of(rounds, lambda: pipeline.run(observer=CountingObserver()))
    print(f"{'re-run, everything cached':<36} {cached:8.3f} s (target under 0.5 s)")

    sleepy = source_of(1000)
    orchestrator = AsyncPipelineOrchestrator(max_concurrency=50)
    slept = best_of(rounds, lambda: pipeline_of(sleepy, nap.pod).run(orchestrator))
    print(
        f"{'async, 1,000 x 1 ms sleep, 50 at once':<36} {slept:8.3f} s (target under 0.2 s; "
        f"serial would take 1 s)"
    )


if __name__ == "__main__":
    main()
