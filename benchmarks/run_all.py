"""Every benchmark, one after another, in one sitting: the figures of benchmarks/README.md.

Runs each script in its own process (so one's memory and threads do not
weigh on the next) and prints its output under a heading, then how long it
took. Scripts whose optional parts are missing (Ray, a PostgreSQL server,
the upstream venv) say so in their own output.

    uv run python benchmarks/run_all.py [--skip NAME ...] [--quick]

``--quick`` passes smaller sizes where a script has them (a smoke test, not
figures to report).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    # name: (arguments, arguments under --quick)
    "import_time": ([], ["--runs", "3"]),
    "capture_overhead": ([], ["--quick"]),
    "hashing": ([], ["--rows", "100000", "--rounds", "1"]),
    "type_conversion": ([], []),
    "sources_and_streams": ([], []),
    "function_pod": ([], ["--rows", "10000", "--rounds", "1"]),
    "in_memory_database": ([], ["--sizes", "10000", "--rounds", "1"]),
    "operators": ([], ["--rows", "100000", "--rounds", "1"]),
    "diamonds": ([], ["--sizes", "5", "30", "--rounds", "1"]),
    "pipeline_overhead": ([], ["--rows", "10000", "--rounds", "1"]),
    "observer_overhead": ([], ["--rows", "10000", "--rounds", "1"]),
    "db_throughput": ([], ["--rows", "10000", "--rounds", "1"]),
    "id_index": ([], ["--sizes", "100000", "--rounds", "3"]),
    "follow_poll": ([], ["--rows", "10000", "--rounds", "1"]),
    "explain": ([], ["--rows", "10000", "--rounds", "1"]),
    "file_hashing": ([], ["--files", "1", "--size", "16", "--small", "100", "--rounds", "1"]),
    "glob_source": ([], ["--files", "1000", "--rounds", "1"]),
    "file_pipeline": ([], ["--files", "500"]),
    # Each kill costs about one whole run of the worker: 3 per store here, 10 by itself.
    "crash_loss": (["--kills", "3"], ["--kills", "1", "--packets", "1000"]),
    "ray_overhead": ([], ["--rows", "200", "--rounds", "1"]),
    "process_executor": ([], ["--packets", "40", "--short", "200", "--rounds", "1"]),
    "compare_upstream": ([], ["--sizes", "100", "--rounds", "1"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=sorted(SCRIPTS))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_AUTH_MODE": "disabled"}
    failed = []
    for name, (normal, quick) in SCRIPTS.items():
        if name in args.skip:
            continue
        print(f"\n## {name}\n", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else normal)]
        code = subprocess.run(command, cwd=HERE, env=env, check=False).returncode
        print(f"\n({name}: {time.perf_counter() - started:.0f} s, exit status {code})", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
