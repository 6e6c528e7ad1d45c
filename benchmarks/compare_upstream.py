"""Side by side with upstream orcapod 0.1.4: one function node, logged and tracked, over N packets.

The same work on both sides, for each N in ``--sizes``: one function node
(``y = 2x + 1``) over a source of N rows keyed by an int ``id`` tag, the sync
orchestrator, an in-memory database, and a logging observer and a status
observer on that database, composed. Every packet is computed (fresh database
each round), so each writes one log row and two status events (running, then
success).

- Ours: ``Pipeline("bench", InMemoryArrowDatabase())`` with ``pod(source)``
  inside ``with pipeline:``, run with
  ``observer=CompositeObserver(LoggingObserver(db), StatusObserver(db))``.
- Upstream (``orcapod==0.1.4`` from PyPI, in a separate virtual environment,
  ``--venv``): its ``Pipeline`` takes no database and is not run itself, so
  the equivalent is ``orcapod.PipelineJob("bench", store=db)`` with
  ``db = orcapod.databases.InMemoryArrowDatabase()`` and the pod called inside
  ``with job:``, a ``orcapod.sources.ArrowTableSource`` (``infer_nullable=True``:
  upstream rejects a nullable ``int`` column for an ``int`` parameter), run with
  ``observer=orcapod.pipeline.CompositeObserver(LoggingObserver(db.at("bench",
  "_log")), StatusObserver(db.at("bench", "_status")))``: upstream's own
  observers on the job's store, scoped as its documentation shows. Its script
  is generated here as text and run by the venv's python, one process per N,
  which prints its timing as JSON; nothing of upstream is imported here.

Only the run call is timed, on both sides (pipelines, databases and observers
are built beforehand), best of ``--rounds``, after an untimed warm-up run of
10 packets. Upstream grows quadratically (about 9 minutes for one run of
1,000 packets on a 2-core machine), so an upstream size is repeated only while
its runs take under ``--repeat-under`` seconds; the output says how many
rounds each figure is the best of. The first use creates the venv and
pip-installs ``orcapod==0.1.4`` into it; if that fails, the script says so and
prints our figures alone. Prints numbers; asserts nothing.

    uv run python benchmarks/compare_upstream.py [--sizes 100 1000] [--rounds 3]
        [--venv /tmp/orcapod-upstream] [--skip-upstream] [--repeat-under 60]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from _timing import best_of
from orcapod.core import ArrowTableSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    StatusObserver,
)

UPSTREAM_VERSION = "0.1.4"
WARM_UP = 10

# Run by the upstream venv's python: argv is N, rounds, warm-up rows, repeat-under seconds;
# prints one JSON object on its last line of stdout.
UPSTREAM_SCRIPT = """
import json, sys, time
from importlib.metadata import version

import pyarrow as pa
from orcapod import PipelineJob, function_pod
from orcapod.databases import InMemoryArrowDatabase
from orcapod.pipeline import CompositeObserver, LoggingObserver, StatusObserver
from orcapod.sources import ArrowTableSource

n, rounds, warm_up = (int(arg) for arg in sys.argv[1:4])
repeat_under = float(sys.argv[4])


@function_pod(output_keys="y")
def affine(x: int) -> int:
    return x * 2 + 1


def source_of(rows):
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pa.array(range(rows))})
    return ArrowTableSource(table, ["id"], source_id=f"numbers-{rows}", infer_nullable=True)


def prepared(source):
    db = InMemoryArrowDatabase()
    job = PipelineJob("bench", store=db)
    with job:
        affine.pod(source, label="node")
    logs = LoggingObserver(log_database=db.at("bench", "_log"))
    status = StatusObserver(status_database=db.at("bench", "_status"))
    return job, CompositeObserver(logs, status), logs, status


def timed_run(source):
    job, observer, logs, status = prepared(source)
    start = time.perf_counter()
    job.run(observer=observer)
    return time.perf_counter() - start, logs, status


timed_run(source_of(warm_up))
source = source_of(n)
times = []
for _ in range(rounds):
    elapsed, logs, status = timed_run(source)
    times.append(elapsed)
    if elapsed >= repeat_under:
        break
log_rows, status_rows = logs.get_logs(), status.get_status()
print(json.dumps({
    "version": version("orcapod"),
    "n": n,
    "times": times,
    "log_rows": 0 if log_rows is None else log_rows.num_rows,
    "status_rows": 0 if status_rows is None else status_rows.num_rows,
}))
"""


@function_pod(output_keys="y")
def affine(x: int) -> int:
    return x * 2 + 1


def source_of(rows: int) -> ArrowTableSource:
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pa.array(range(rows))})
    source = ArrowTableSource(table, ["id"], source_id=f"numbers-{rows}")
    source.as_table(include_system_columns=True)  # provenance built outside the timings
    return source


def prepared(source: ArrowTableSource) -> tuple[Pipeline, CompositeObserver, InMemoryArrowDatabase]:
    database = InMemoryArrowDatabase()
    pipeline = Pipeline("bench", database)
    with pipeline:
        affine.pod(source, label="node")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    return pipeline, observer, database


def ours(rows: int, rounds: int) -> dict[str, Any]:
    """Best of ``rounds`` timed runs, each on a pipeline and database built beforehand."""
    warm_up, observer, _ = prepared(source_of(WARM_UP))
    warm_up.run(observer=observer)
    source = source_of(rows)
    runs = [prepared(source) for _ in range(rounds)]
    pending = list(runs)

    def run() -> None:
        pipeline, observer, _ = pending.pop()
        pipeline.run(observer=observer)

    best = best_of(rounds, run)
    reader = ObservabilityReader(runs[-1][2], pipeline="bench")
    return {
        "best": best,
        "rounds": rounds,
        "log_rows": reader.logs().num_rows,
        "status_rows": reader.status(latest=False).num_rows,
    }


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def isolated_env() -> dict[str, str]:
    """This environment without what would make the venv's python see ours."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


def installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('orcapod'))"],
        capture_output=True,
        text=True,
        env=isolated_env(),
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_upstream(venv: Path) -> tuple[Path | None, str]:
    """The venv's python with orcapod 0.1.4 installed (creating both if needed), or why not."""
    python = venv_python(venv)
    if installed_version(python) == UPSTREAM_VERSION:
        return python, f"orcapod {UPSTREAM_VERSION} in {venv}"
    steps = []
    if not python.exists():
        steps.append([sys.executable, "-m", "venv", str(venv)])
    steps.append([str(python), "-m", "pip", "install", "-q", f"orcapod=={UPSTREAM_VERSION}"])
    print(f"installing orcapod=={UPSTREAM_VERSION} into {venv} ...", file=sys.stderr, flush=True)
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=isolated_env(), check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            return None, f"`{' '.join(step)}` failed (exit {done.returncode}):\n{tail}"
    found = installed_version(python)
    if found != UPSTREAM_VERSION:
        return None, f"installed, but {python} sees orcapod {found}, not {UPSTREAM_VERSION}"
    return python, f"orcapod {UPSTREAM_VERSION} in {venv} (installed now)"


def upstream(python: Path, rows: int, rounds: int, repeat_under: float) -> dict[str, Any]:
    """Runs the upstream script for one size in a fresh process; its result, or its error."""
    with tempfile.TemporaryDirectory() as scratch:  # nothing of this repository on its path
        done = subprocess.run(
            [str(python), "-c", UPSTREAM_SCRIPT, *map(str, (rows, rounds, WARM_UP, repeat_under))],
            capture_output=True,
            text=True,
            cwd=scratch,
            env=isolated_env(),
            check=False,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        return {"error": f"upstream run at N={rows} failed (exit {done.returncode}):\n{tail}"}
    result = json.loads(lines[-1])
    result["best"] = min(result["times"])
    result["rounds"] = len(result["times"])
    return result


def seconds(result: dict[str, Any] | None) -> str:
    return f"{result['best']:.3f}" if result and "best" in result else "-"


def per_packet(result: dict[str, Any] | None, rows: int) -> str:
    return f"{result['best'] * 1e6 / rows:,.0f}" if result and "best" in result else "-"


def growth(side: str, first: dict[str, Any], last: dict[str, Any], small: int, large: int) -> str:
    ratio = last["best"] / first["best"]
    exponent = math.log(ratio) / math.log(large / small)
    return (
        f"{side:<9} {ratio:8.1f}x the time for {large / small:g}x the packets "
        f"(time ~ N^{exponent:.2f}; 1 is linear, 2 quadratic)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venv", type=Path, default=Path("/tmp/orcapod-upstream"))
    parser.add_argument("--skip-upstream", action="store_true")
    parser.add_argument(
        "--repeat-under",
        type=float,
        default=60.0,
        help="repeat an upstream size only while its runs take under this many seconds "
        "(default 60; inf for every round)",
    )
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))

    python, upstream_note = None, "skipped (--skip-upstream)"
    if not args.skip_upstream:
        python, upstream_note = ensure_upstream(args.venv)
        if python is None:
            upstream_note = f"NOT AVAILABLE, our figures only: {upstream_note}"

    results: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    for rows in sizes:
        mine = ours(rows, args.rounds)
        theirs = None
        if python is not None:
            print(f"upstream, N={rows:,} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            theirs = upstream(python, rows, args.rounds, args.repeat_under)
            print(f"  done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            if "error" in theirs:
                upstream_note = f"FAILED, see below: {upstream_note}"
        results[rows] = (mine, theirs)

    print("one function node over N packets, sync orchestrator, in-memory database,")
    print("CompositeObserver(LoggingObserver, StatusObserver) on it; only the run call is timed")
    print(f"upstream: {upstream_note}")
    print(
        f"{'N':>7} {'ours (s)':>10} {'upstream (s)':>13} {'upstream/ours':>14} "
        f"{'ours µs/pkt':>12} {'upstream µs/pkt':>16}  rounds (ours/upstream)"
    )
    for rows, (mine, theirs) in results.items():
        ratio = f"{theirs['best'] / mine['best']:.1f}" if theirs and "best" in theirs else "-"
        up_rounds = theirs["rounds"] if theirs and "rounds" in theirs else "-"
        print(
            f"{rows:>7,} {seconds(mine):>10} {seconds(theirs):>13} {ratio:>14} "
            f"{per_packet(mine, rows):>12} {per_packet(theirs, rows):>16}  "
            f"best of {mine['rounds']}/{up_rounds}"
        )
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f"growth from N={small:,} to N={large:,}:")
        print(growth("ours", results[small][0], results[large][0], small, large))
        first, last = results[small][1], results[large][1]
        if first and last and "best" in first and "best" in last:
            print(growth("upstream", first, last, small, large))
    print("stored by the last timed run (log rows / status events):")
    for rows, (mine, theirs) in results.items():
        stored = f"{rows:>7,}  ours {mine['log_rows']:>7,} / {mine['status_rows']:<7,}"
        if theirs and "log_rows" in theirs:
            stored += f"  upstream {theirs['log_rows']:>7,} / {theirs['status_rows']:,}"
        print(stored.rstrip())
    for _, theirs in results.values():
        if theirs and "error" in theirs:
            print(theirs["error"])


if __name__ == "__main__":
    main()
