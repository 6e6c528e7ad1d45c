"""How much time capture adds to a call that prints nothing, per level.

Prints numbers; asserts nothing. Targets (design issue 4): sys mode adds at most
3 µs per call, fd mode at most 150 µs.

    uv run python benchmarks/capture_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import TYPE_CHECKING

from orcapod.capture import capture, run_captured

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.values import CaptureLevel


def quiet() -> int:
    """The captured call: does nothing, prints nothing."""
    return 1


def per_call_us(loop: Callable[[int], None], n: int, repeats: int) -> tuple[float, float]:
    """The best and the median of ``repeats`` runs of ``loop(n)``, per call, in µs.

    The best run is the cost itself; the median shows what noise (other
    processes on the machine) adds to it.
    """
    loop(max(1, n // 10))  # warm up: installs the hooks, starts the fd pump
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loop(n)
        times.append((time.perf_counter() - start) / n * 1e6)
    return min(times), statistics.median(times)


def bare(n: int) -> None:
    for _ in range(n):
        quiet()


def with_block(level: CaptureLevel, passthrough: bool) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            with capture(level, passthrough=passthrough) as cap:
                quiet()
            cap.result  # noqa: B018  # the result is part of the cost

    return loop


def helper(level: CaptureLevel, passthrough: bool) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            run_captured(quiet, level=level, passthrough=passthrough).unwrap()

    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    options = parser.parse_args()
    sys_n, fd_n, repeats = (20_000, 300, 3) if options.quick else (200_000, 3_000, 7)

    base_best, base_median = per_call_us(bare, sys_n, repeats)
    print(f"python {sys.version.split()[0]}; {repeats} runs; µs per call, best / median")
    print(f"{'bare call':<38} {base_best:8.3f} / {base_median:8.3f}")
    rows = [
        ("sys  with capture()", with_block("sys", True), sys_n, 3.0),
        ("sys  run_captured()", helper("sys", True), sys_n, 3.0),
        ("sys  run_captured(passthrough=False)", helper("sys", False), sys_n, 3.0),
        ("fd   with capture()", with_block("fd", True), fd_n, 150.0),
        ("fd   run_captured()", helper("fd", True), fd_n, 150.0),
        ("fd   run_captured(passthrough=False)", helper("fd", False), fd_n, 150.0),
    ]
    for name, loop, n, target in rows:
        best, median = per_call_us(loop, n, repeats)
        print(
            f"{name:<38} {best:8.3f} / {median:8.3f}   added "
            f"{best - base_best:8.3f} / {median - base_median:8.3f}   (target {target:g})"
        )


if __name__ == "__main__":
    main()
