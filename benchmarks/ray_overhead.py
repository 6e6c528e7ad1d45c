"""What RayExecutor and a pipeline add to running the same tasks on Ray yourself.

Prints, on one local Ray cluster (``--cpus`` CPUs, started here), for ``--rows``
trivial packets:

- plain Ray: ``ray.get([f.remote(x) for x in xs])`` where ``f`` runs the same
  function under the same fd-level capture (``orcapod.capture.run_captured``)
  and returns the capture and the value;
- a pipeline: one function node on a ``RayExecutor``, the async orchestrator
  (``--concurrency`` packets in flight), an in-memory database, and an observer
  whose packet loggers keep every record (so every call is captured);
- the ratio of the two (target: at most 1.5);
- the same pipeline under the sync orchestrator, which keeps the executor's
  ``concurrency`` packets of the node in flight.

Each figure is the best of ``--rounds`` runs (the pipeline on a fresh database
each time), the two alternating, after one warm-up of each. ``--concurrency 0``
(default) keeps the executor's own ``concurrency`` in flight. Prints numbers;
asserts nothing.

    uv run python benchmarks/ray_overhead.py [--rows 2000] [--rounds 5] [--cpus 2] [--concurrency 0]
"""

from __future__ import annotations

import os

# Workers use this venv as it is (no copy built by uv's hook) and a local
# cluster needs no token; both before Ray is imported.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import argparse
from typing import Any

import pyarrow as pa

from _timing import best_of
from orcapod.capture import run_captured
from orcapod.core import (
    ArrowTableSource,
    AsyncPipelineOrchestrator,
    InMemoryArrowDatabase,
    Pipeline,
    function_pod,
)
from orcapod.executors.ray import RayExecutor


def affine(x: int) -> int:
    return x * 2 + 1


affine_pod = function_pod(output_keys="y")(affine)


def captured(x: int) -> Any:
    """``affine`` under the capture RayExecutor uses: what the plain baseline runs."""
    call = run_captured(affine, (), {"x": x}, level="fd")
    return call.result, call.value


class KeepingLogger:
    """Keeps the latest record it receives (as a buffering observer hands rows on)."""

    def __init__(self, observer: KeepingObserver) -> None:
        self.observer = observer

    def record(self, **fields: Any) -> None:
        self.observer.records += 1
        self.observer.latest = fields


class KeepingObserver:
    """Receives every hook; its packet loggers keep records, so every call is captured."""

    def __init__(self) -> None:
        self.records = 0
        self.latest: dict[str, Any] = {}

    def on_run_start(self, run: Any) -> None: ...
    def on_run_end(self, run: Any, outcome: Any) -> None: ...
    def contextualize(self, *pipeline_path: str) -> KeepingObserver:
        return self

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Any) -> None: ...
    def on_node_end(self, node_label: str, node_hash: str) -> None: ...
    def on_packet_start(self, node_label: str, tag: Any, packet: Any) -> None: ...
    def on_packet_end(self, node_label: str, tag: Any, input_packet: Any, output_packet: Any, *,
                      cached: bool, source_run_id: str | None = None) -> None: ...  # fmt: skip
    def on_packet_crash(self, node_label: str, tag: Any, packet: Any, error: Any) -> None: ...
    def create_packet_logger(self, tag: Any, packet: Any) -> KeepingLogger:
        return KeepingLogger(self)


def source_of(rows: int) -> ArrowTableSource:
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pa.array(range(rows))})
    source = ArrowTableSource(table, ["id"], source_id=f"numbers-{rows}")
    source.as_table(include_system_columns=True)  # provenance built outside the timings
    return source


def run_pipeline(
    source: ArrowTableSource, executor: RayExecutor, concurrency: int | None, rows: int
) -> None:
    """The benchmark's pipeline: async orchestrator, or sync when ``concurrency`` is None."""
    pipeline = Pipeline("ray_bench", InMemoryArrowDatabase())
    with pipeline:
        affine_pod.pod(source, label="affine")
    observer = KeepingObserver()
    result = pipeline.run(
        orchestrator=(
            "sync"
            if concurrency is None
            else AsyncPipelineOrchestrator(max_concurrency=concurrency)
        ),
        executor=executor,
        observer=observer,
    )
    assert result.nodes["affine"].computed == rows, result
    assert observer.records == rows
    assert observer.latest["capture_level"] == "fd"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=0, help="0: the executor's own")
    args = parser.parse_args()

    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        plain_task = ray.remote(captured)
        xs = list(range(args.rows))
        source = source_of(args.rows)
        executor = RayExecutor()
        concurrency = args.concurrency or executor.concurrency

        def plain() -> None:
            results = ray.get([plain_task.remote(x) for x in xs])
            assert results[-1][1] == affine(xs[-1])

        def piped() -> None:
            run_pipeline(source, executor, concurrency, args.rows)

        def piped_sync() -> None:  # the node keeps executor.concurrency packets in flight
            run_pipeline(source, executor, None, args.rows)

        plain()  # warm-up: workers started, functions exported
        piped()
        # Rounds alternate, so that a busy spell of the machine hits every side.
        plain_s = pipe_s = sync_s = float("inf")
        for _ in range(args.rounds):
            plain_s = min(plain_s, best_of(1, plain))
            pipe_s = min(pipe_s, best_of(1, piped))
            sync_s = min(sync_s, best_of(1, piped_sync))
        print(f"rows={args.rows} cpus={args.cpus} concurrency={concurrency} rounds={args.rounds}")
        per_task, per_packet = plain_s / args.rows * 1e6, pipe_s / args.rows * 1e6
        print(f"plain ray.get of captured tasks: {plain_s:.3f} s ({per_task:.0f} µs/task)")
        print(f"pipeline on RayExecutor (async): {pipe_s:.3f} s ({per_packet:.0f} µs/packet)")
        print(f"ratio: {pipe_s / plain_s:.2f} (target: at most 1.5)")
        print(
            f"the same pipeline, sync orchestrator: {sync_s:.3f} s "
            f"(ratio {sync_s / plain_s:.2f}; {executor.concurrency} in flight)"
        )
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
