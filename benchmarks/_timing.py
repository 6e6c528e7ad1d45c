"""Timing shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def best_of(
    rounds: int, action: Callable[[], object], setup: Callable[[], object] | None = None
) -> float:
    """The shortest wall time of ``rounds`` runs of ``action``, in seconds.

    The best run is the cost itself; slower runs measure what else the machine did.
    ``setup``, if given, runs before each round, untimed.
    """
    times = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)
