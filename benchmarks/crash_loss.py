"""What a kill -9 loses: real runs killed with SIGKILL at random moments, on each persistent store.

A run of ``--packets`` packets (a function sleeping ``--sleep-ms``), one node
observed by a LoggingObserver and a StatusObserver, is started in its own
process (``tests-integration/crash_worker.py``, run by path) on a fresh store
and killed with SIGKILL at a moment drawn uniformly within its working time
(after its first packet finished, before the run could end: the span of an
uncut run on the same store, measured first). A fresh process then reads what
the store says succeeded and runs again: what it recomputes is what was lost.

Per kill it prints the moment (seconds after the first packet finished), the
packets finished (their function returned) before the kill, how many of those
were lost, the age at the kill of the oldest lost one, and whether any SUCCESS
status event or successful log row names a packet whose result is not stored
(it must be never), and the bound: one ``flush_interval`` of work (the packets
that finished in the ``flush_interval`` before the kill) plus the packets in
flight (1 under the sync orchestrator, 2 under the async one). Then per store
the worst loss beside its bound (and beside one ``flush_interval`` at the uncut
run's rate), how many kills lost more than their bound, and the worst age
beside ``flush_interval``.

Stores: a SQLite file, a Delta directory, and PostgreSQL at the ``PG*``
variables (default ``postgres@127.0.0.1:5432``), a database created for each
run and dropped after; skipped, with a note, when no server answers.

Prints numbers; asserts nothing.

    uv run python benchmarks/crash_loss.py [--kills 10] [--stores sqlite delta postgres]
        [--orchestrator sync|async] [--packets 5000] [--sleep-ms 2]
        [--flush-interval SECONDS] [--seed 17]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orcapod.core.pipeline._durability import DEFAULT_FLUSH_INTERVAL

if TYPE_CHECKING:
    from collections.abc import Iterator

WORKER = Path(__file__).resolve().parent.parent / "tests-integration" / "crash_worker.py"
STORES = ["sqlite", "delta", "postgres"]
IN_FLIGHT = {"sync": 1, "async": 2}


@dataclass
class Settings:
    orchestrator: str
    packets: int
    sleep_ms: int
    flush_interval: float
    env: dict[str, str]
    """The workers' environment: bytecode cached in a private directory, so that each of
    them does not compile its imports anew (with ``PYTHONDONTWRITEBYTECODE`` set, that
    takes seconds a process)."""

    def worker(self, mode: str, uri: str, progress: Path) -> list[str]:
        return [
            sys.executable, str(WORKER), mode, uri, self.orchestrator, str(self.packets),
            str(self.sleep_ms), str(self.flush_interval), str(progress),
        ]  # fmt: skip


@dataclass
class Kill:
    moment: float
    finished: int
    lost: int
    oldest_age: float | None
    window: int
    """Packets that finished in the last ``flush_interval`` before the kill."""
    success_without_result: int
    log_success_without_result: int
    consistent: bool
    """The resumed run computed exactly the missing packets and ended SUCCESS."""


def finished_of(progress: Path) -> dict[int, float]:
    """``x`` of each packet whose function returned, with the unix time it did."""
    if not progress.exists():
        return {}
    lines = progress.read_text().splitlines()
    return {int(x): float(t) for x, t in (line.split() for line in lines if line.count(" ") == 1)}


# -- stores ---------------------------------------------------------------------


def postgres_params() -> dict[str, Any]:
    params: dict[str, Any] = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": int(os.environ.get("PGPORT", "5432")),
        "user": os.environ.get("PGUSER", "postgres"),
        "dbname": os.environ.get("PGDATABASE", "postgres"),
        "connect_timeout": 5,
    }
    if os.environ.get("PGPASSWORD"):
        params["password"] = os.environ["PGPASSWORD"]
    return params


def postgres_unreachable() -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it answers."""
    try:
        import psycopg
    except ImportError as error:
        return f"psycopg is not installed ({error})"
    try:
        with psycopg.connect(**postgres_params()) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # any failure means: skip, and say why
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return first
    return None


@contextlib.contextmanager
def fresh_store(kind: str, directory: Path) -> Iterator[str]:
    """The URI of a new, empty store of ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'store.db'}"
    elif kind == "delta":
        yield f"delta://{directory / 'store'}"
    elif kind == "postgres":
        from urllib.parse import quote

        import psycopg

        params = postgres_params()
        name = f"orcapod_crash_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        auth = quote(params["user"], safe="")
        if "password" in params:
            auth += ":" + quote(params["password"], safe="")
        try:
            yield f"postgresql+psycopg://{auth}@{params['host']}:{params['port']}/{name}"
        finally:
            with psycopg.connect(**params, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        raise ValueError(kind)
    shutil.rmtree(directory, ignore_errors=True)


# -- runs -----------------------------------------------------------------------


def uncut_run(kind: str, settings: Settings, root: Path) -> tuple[float, float]:
    """One whole run: its working span (first to last packet finished) and wall time."""
    directory = Path(tempfile.mkdtemp(dir=root))
    progress = directory / "uncut.progress"
    with fresh_store(kind, directory) as uri:
        started = time.time()
        done = subprocess.run(
            settings.worker("run", uri, progress),
            capture_output=True,
            text=True,
            check=False,
            env=settings.env,
        )
        wall = time.time() - started
        if done.returncode:
            raise SystemExit(f"the uncut run on {kind} failed:\n{done.stderr}")
        times = sorted(finished_of(progress).values())
    return times[-1] - times[0], wall


def killed_run(kind: str, settings: Settings, root: Path, moment: float) -> Kill | None:
    """A run killed ``moment`` s after its first packet finished, then resumed; None if it
    ended before the moment."""
    directory = Path(tempfile.mkdtemp(dir=root))
    first_progress = directory / "first.progress"
    second_progress = directory / "second.progress"
    with fresh_store(kind, directory) as uri:
        errors = directory / "first.stderr"
        with errors.open("w") as stderr:  # a file, not a pipe: a full pipe would stall the run
            process = subprocess.Popen(
                settings.worker("run", uri, first_progress),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=settings.env,
            )
        first: float | None = None
        while process.poll() is None and first is None:
            finished = finished_of(first_progress)
            if finished:
                first = min(finished.values())
            else:
                time.sleep(0.002)
        if first is None:
            raise SystemExit(f"the run on {kind} ended before any packet:\n{errors.read_text()}")
        while process.poll() is None and time.time() < first + moment:
            time.sleep(min(0.005, max(0.0, first + moment - time.time())))
        if process.poll() is not None:
            return None
        os.kill(process.pid, signal.SIGKILL)
        killed_at = time.time()
        process.wait()
        finished = finished_of(first_progress)

        resumed = subprocess.run(
            settings.worker("resume", uri, second_progress),
            capture_output=True,
            text=True,
            check=False,
            env=settings.env,
        )
        if resumed.returncode:
            raise SystemExit(f"the resumed run on {kind} failed:\n{resumed.stderr}")
        lines = resumed.stdout.strip().splitlines()
        stored, counts = json.loads(lines[0]), json.loads(lines[-1])
        recomputed = set(finished_of(second_progress))

    lost = {x: when for x, when in finished.items() if x in recomputed}
    consistent = (
        counts["state"] == "SUCCESS"
        and counts["computed"] == len(recomputed)
        and counts["cached"] == settings.packets - len(recomputed)
    )
    return Kill(
        moment=killed_at - first,
        finished=len(finished),
        lost=len(lost),
        oldest_age=killed_at - min(lost.values()) if lost else None,
        window=sum(1 for when in finished.values() if when > killed_at - settings.flush_interval),
        success_without_result=len(set(stored["status_success"]) & recomputed),
        log_success_without_result=len(set(stored["log_success"]) & recomputed),
        consistent=consistent,
    )


def one_store(
    kind: str, settings: Settings, kills: int, rng: random.Random, root: Path
) -> dict[str, Any]:
    span, wall = uncut_run(kind, settings, root)
    rate = (settings.packets - 1) / span
    print(
        f"\n## {kind}: uncut run {wall:.1f} s, working span {span:.2f} s "
        f"({rate:.0f} packets/s, {1e3 / rate:.2f} ms a packet)",
        flush=True,
    )
    print(
        f"{'kill':>4} {'moment s':>9} {'finished':>9} {'lost':>6} {'oldest lost age s':>18} "
        f"{'bound':>6} {'SUCCESS w/o result (status/log)':>32}"
    )
    in_flight = IN_FLIGHT[settings.orchestrator]
    results: list[Kill] = []
    ended_first = 0
    while len(results) < kills:
        moment = rng.uniform(0, span)
        kill = killed_run(kind, settings, root, moment)
        if kill is None:
            ended_first += 1
            print(f"{'':>4} {moment:9.3f}  the run ended before this moment; another is drawn")
            continue
        results.append(kill)
        age = "-" if kill.oldest_age is None else f"{kill.oldest_age:.3f}"
        flag = "" if kill.consistent else "   (resumed counts do not add up)"
        print(
            f"{len(results):>4} {kill.moment:9.3f} {kill.finished:>9} {kill.lost:>6} {age:>18} "
            f"{kill.window + in_flight:>6} "
            f"{f'{kill.success_without_result} / {kill.log_success_without_result}':>32}{flag}",
            flush=True,
        )
    ages = [k.oldest_age for k in results if k.oldest_age is not None]
    worst = max(results, key=lambda k: (k.lost - k.window, k.lost))
    return {
        "store": kind,
        "rate_bound": math.ceil(settings.flush_interval * rate) + in_flight,
        "worst_lost": max(k.lost for k in results),
        "worst_over": worst.lost - (worst.window + in_flight),
        "over_bound": sum(k.lost > k.window + in_flight for k in results),
        "bound_at_worst": max(results, key=lambda k: k.lost).window + in_flight,
        "worst_age": max(ages) if ages else None,
        "success_without_result": sum(
            k.success_without_result + k.log_success_without_result for k in results
        ),
        "inconsistent": sum(not k.consistent for k in results),
        "kills": len(results),
        "ended_first": ended_first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per store")
    parser.add_argument("--stores", nargs="+", default=STORES, choices=STORES)
    parser.add_argument("--orchestrator", default="sync", choices=sorted(IN_FLIGHT))
    parser.add_argument("--packets", type=int, default=5000)
    parser.add_argument("--sleep-ms", type=int, default=2)
    parser.add_argument(
        "--flush-interval", type=float, default=DEFAULT_FLUSH_INTERVAL,
        help=f"seconds between checkpoints (default: the engine's, {DEFAULT_FLUSH_INTERVAL})",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(
        f"{args.packets:,} packets of {args.sleep_ms} ms, {args.orchestrator} orchestrator, "
        f"flush_interval {args.flush_interval} s, SIGKILL at {args.kills} random moments per "
        f"store (seed {args.seed})"
    )
    print(
        "moment: seconds after the first packet finished; finished: packets whose function "
        "returned before the kill;\nlost: of those, recomputed by the resumed run (not stored); "
        "oldest lost age: seconds from its return to the kill"
    )
    summaries = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orcapod-crash-") as tmp:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        settings = Settings(
            args.orchestrator, args.packets, args.sleep_ms, args.flush_interval, env
        )
        for kind in args.stores:
            if kind == "postgres":
                why = postgres_unreachable()
                if why is not None:
                    print(f"\n## postgres: skipped, no server answers at the PG* variables: {why}")
                    continue
            summaries.append(one_store(kind, settings, args.kills, rng, Path(tmp)))

    in_flight = IN_FLIGHT[args.orchestrator]
    interval = args.flush_interval
    print(
        f"\n## summary: the bound is one flush_interval ({interval} s) of work plus {in_flight} "
        f"packet(s) in flight;\nin packets, per kill: those finished in the {interval} s before "
        f"it, + {in_flight} (in brackets: {interval} s at the uncut run's rate, + {in_flight})"
    )
    print(
        f"{'store':<9} {'kills':>5} {'worst lost':>10} {'its bound':>15} {'kills over bound':>17} "
        f"{'worst age s':>11} {'bound s':>7} {'SUCCESS w/o result':>19}"
    )
    for s in summaries:
        age = "-" if s["worst_age"] is None else f"{s['worst_age']:.3f}"
        over = str(s["over_bound"])
        if s["over_bound"]:
            over += f" (by {s['worst_over']})"
        bound = f"{s['bound_at_worst']} ({s['rate_bound']})"
        print(
            f"{s['store']:<9} {s['kills']:>5} {s['worst_lost']:>10} {bound:>15} {over:>17} "
            f"{age:>11} {interval:>7.3f} "
            f"{'never' if not s['success_without_result'] else s['success_without_result']:>19}"
        )
        if s["worst_age"] is not None and s["worst_age"] > interval:
            print(
                f"  worst age over flush_interval by {s['worst_age'] - interval:.3f} s (a "
                "checkpoint is due at the first packet to finish after flush_interval, then "
                "takes time to write)"
            )
        if s["inconsistent"]:
            print(f"  {s['inconsistent']} resumed run(s) computed other than exactly the missing")
        if s["ended_first"]:
            print(f"  {s['ended_first']} drawn moment(s) fell after the run had ended: redrawn")
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
