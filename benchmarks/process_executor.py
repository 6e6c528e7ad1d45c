"""ProcessExecutor beside LocalExecutor (and Ray's start-up), on this machine.

Prints:

- a CPU-bound pure-Python function of about 20 ms per packet over ``--packets``
  packets (400): one function node run with LocalExecutor, then with
  ProcessExecutor (one worker per CPU, started before the run), side by side
  in this run, and the speed-up (target: at least 1.7 on 2 cores); the same
  run with ProcessExecutor's workers started by the run itself;
- about 1 ms packets over ``--short`` packets (2,000): time per packet with
  LocalExecutor, with one worker (its per-packet overhead over local: sending
  the arguments, fd capture in the worker, the answer back), and with one
  worker per CPU;
- the first packet's latency in a new process: ProcessExecutor's (the fork
  server, one worker, the function's module loaded there) and, if Ray is
  installed, ``ray.init(num_cpus=2)`` plus a first task.

Every run captures each call (an observer whose packet loggers keep every
record), in the sync orchestrator, on an in-memory database. Each timing is
the best of ``--rounds`` (the CPU-bound runs alternating). Prints numbers;
asserts nothing.

    uv run python benchmarks/process_executor.py [--packets 400] [--short 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import pyarrow as pa

from _timing import best_of
from orcapod.core import (
    ArrowTableSource,
    InMemoryArrowDatabase,
    LocalExecutor,
    Pipeline,
    ProcessExecutor,
    function_pod,
)
from pipeline_overhead import CountingObserver

LOOPS_PER_MS = 1
"""Iterations of :func:`burn`'s loop per millisecond here, set by :func:`calibrate`."""


def spin(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


@function_pod(output_keys="y")
def burn(x: int, loops: int) -> int:
    """Pure-Python work: ``loops`` turns of a loop (about ``loops / LOOPS_PER_MS`` ms)."""
    return spin(loops) + x


@function_pod(output_keys="y")
def square(x: int) -> int:
    return x * x


def calibrate() -> int:
    """Loop turns per millisecond of :func:`spin` in this process."""
    loops = 100_000
    best = min(_timed(spin, loops) for _ in range(5))
    return max(1, int(loops / (best * 1000)))


def _timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def source_of(packets: int, loops: int) -> ArrowTableSource:
    table = pa.table(
        {
            "id": pa.array(range(packets), pa.int64()),
            "x": pa.array(range(packets), pa.int64()),
            "loops": pa.array([loops] * packets, pa.int64()),
        }
    )
    return ArrowTableSource(table, ["id"], source_id=f"burn-{packets}-{loops}")


def run_once(source: ArrowTableSource, executor: Any) -> float:
    """Seconds of one run of ``burn`` over ``source`` on a fresh database."""
    pipeline = Pipeline("bench", InMemoryArrowDatabase())
    with pipeline:
        burn.pod(source, label="burn")
    start = time.perf_counter()
    result = pipeline.run(executor=executor, observer=CountingObserver())
    elapsed = time.perf_counter() - start
    assert result.nodes["burn"].computed == source.as_table().num_rows, result.nodes
    return elapsed


def cpu_bound(packets: int, ms: float, rounds: int) -> None:
    loops = int(ms * LOOPS_PER_MS)
    source = source_of(packets, loops)
    one = min(_timed(spin, loops) for _ in range(3))
    print(f"CPU-bound packets: {packets} x {one * 1000:.1f} ms of pure Python")
    local = LocalExecutor(passthrough=False)
    processes = ProcessExecutor(passthrough=False)
    processes.setup()
    run_once(source_of(processes.max_workers * 2, loops), processes)  # workers ready
    local_times, process_times = [], []
    for _ in range(rounds):  # alternating, so that both meet the same machine
        local_times.append(run_once(source, local))
        process_times.append(run_once(source, processes))
    processes.teardown()
    local_s, process_s = min(local_times), min(process_times)
    print(f"  LocalExecutor:                       {local_s:7.2f} s")
    print(
        f"  ProcessExecutor ({processes.max_workers} workers, started): "
        f"{process_s:7.2f} s   speed-up {local_s / process_s:.2f}x"
    )
    cold = ProcessExecutor(passthrough=False)
    cold_s = run_once(source, cold)
    cold.teardown()
    print(
        f"  ProcessExecutor, workers started by the run: {cold_s:5.2f} s   "
        f"speed-up {local_s / cold_s:.2f}x"
    )


def short_packets(packets: int, rounds: int) -> None:
    loops = LOOPS_PER_MS
    source = source_of(packets, loops)
    one = min(_timed(spin, loops) for _ in range(20))
    print(f"\nShort packets: {packets} x {one * 1000:.2f} ms")
    local_s = best_of(rounds, lambda: run_once(source, LocalExecutor(passthrough=False)))
    timings = {}
    for workers in (1, os.cpu_count() or 1):
        executor = ProcessExecutor(workers, passthrough=False)
        executor.setup()
        run_once(source_of(4, loops), executor)  # workers ready
        timings[workers] = best_of(rounds, lambda e=executor: run_once(source, e))
        executor.teardown()
    per = {name: 1e6 * seconds / packets for name, seconds in timings.items()}
    local_us = 1e6 * local_s / packets
    print(f"  LocalExecutor:          {local_us:7.0f} µs/packet")
    for workers, us in per.items():
        extra = f"   overhead over local {us - local_us:+.0f} µs/packet" if workers == 1 else ""
        print(f"  ProcessExecutor({workers}):     {us:7.0f} µs/packet{extra}")


def first_packet_here() -> None:
    """(In a new process.) Seconds from a new ProcessExecutor to its first result."""
    start = time.perf_counter()
    executor = ProcessExecutor(1, passthrough=False)
    value = executor.execute_callable(square.pod.packet_function.function, {"x": 3})
    cold = time.perf_counter() - start
    executor.teardown()
    start = time.perf_counter()  # the fork server runs now: a new pool, a new worker
    executor = ProcessExecutor(1, passthrough=False)
    executor.execute_callable(square.pod.packet_function.function, {"x": 4})
    warm = time.perf_counter() - start
    executor.teardown()
    print(json.dumps({"cold": cold, "warm": warm, "value": value}))


def ray_first_task_here() -> None:
    """(In a new process.) Seconds for ``import ray``, ``ray.init`` and a first task."""
    start = time.perf_counter()
    import ray

    imported = time.perf_counter() - start
    ray.init(num_cpus=2, include_dashboard=False)
    started = time.perf_counter() - start
    value = ray.get(ray.remote(spin).remote(10))
    first = time.perf_counter() - start
    ray.shutdown()
    print(json.dumps({"import": imported, "init": started, "first": first, "value": value}))


def first_packet() -> None:
    print("\nFirst packet, in a new process")
    found = _child("--first-packet-here")
    print(f"  ProcessExecutor, new process (fork server + worker): {found['cold']:5.2f} s")
    print(f"  ProcessExecutor, new pool (fork server running):     {found['warm']:5.2f} s")
    try:
        import importlib.util

        has_ray = importlib.util.find_spec("ray") is not None
    except ImportError:
        has_ray = False
    if not has_ray:
        print("  Ray: not installed")
        return
    env = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_AUTH_MODE": "disabled"}
    ray = _child("--ray-first-task-here", env)
    print(
        f"  Ray: import {ray['import']:.2f} s, + ray.init(num_cpus=2) "
        f"{ray['init'] - ray['import']:.2f} s, + first task {ray['first'] - ray['init']:.2f} s"
        f" = {ray['first']:.2f} s"
    )


def _child(flag: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, flag],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    global LOOPS_PER_MS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=400)
    parser.add_argument("--ms", type=float, default=20.0, help="ms of work per CPU-bound packet")
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--first-packet-here", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ray-first-task-here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_packet_here:
        first_packet_here()
        return
    if args.ray_first_task_here:
        ray_first_task_here()
        return
    LOOPS_PER_MS = calibrate()
    print(f"{os.cpu_count()} CPUs; start method {ProcessExecutor().start_method!r}\n")
    cpu_bound(args.packets, args.ms, args.rounds)
    short_packets(args.short, args.rounds)
    first_packet()


if __name__ == "__main__":
    main()
