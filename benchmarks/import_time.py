"""How long ``import orcapod.core`` takes in a fresh interpreter (target: under 150 ms).

Runs ``python -X importtime -c "import orcapod.core"`` several times and prints
the cumulative import time of ``orcapod.core`` itself and the wall time of
the whole interpreter start, as medians.

    uv run python benchmarks/import_time.py [--runs 15] [--module orcapod.core]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def measure(module: str) -> tuple[float, float]:
    """(cumulative import time of ``module`` in ms, wall time of the process in ms)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = (time.perf_counter() - start) * 1000
    for line in result.stderr.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000, wall
    raise RuntimeError(f"{module} not found in -X importtime output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--module", default="orcapod.core")
    args = parser.parse_args()
    measure(args.module)  # warm the file-system cache
    samples = [measure(args.module) for _ in range(args.runs)]
    imports = [s[0] for s in samples]
    walls = [s[1] for s in samples]
    print(
        f"import {args.module}: median {statistics.median(imports):.1f} ms "
        f"(min {min(imports):.1f}, max {max(imports):.1f}) over {args.runs} runs"
    )
    print(f"whole interpreter start + import: median {statistics.median(walls):.1f} ms")


if __name__ == "__main__":
    main()
