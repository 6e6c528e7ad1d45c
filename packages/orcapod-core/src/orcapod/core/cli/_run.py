"""``orcapod demo`` and ``orcapod run FILE.py``: run pipelines observed, then say what happened.

Both open the store by URI, run with the installed logging, status and
progress observers (``orcapod-observers``; without it the run is not
recorded, and the command says so), print the results and the run's summary,
and point at the ``orcapod status`` / ``orcapod logs`` commands to read more.
"""

from __future__ import annotations

import argparse
import runpy
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orcapod.core.cli._output import print_outputs, print_summary
from orcapod.core.errors import OrcapodError, PluginNotFoundError
from orcapod.protocols.text import escape_control
from orcapod.protocols.values import PluginKind

if TYPE_CHECKING:
    from orcapod.core.cli._host import RegistryHost
    from orcapod.core.pipeline import Pipeline, RunResult
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["DemoCommand", "RunCommand", "default_store"]

DEMO_DIRECTORY = "orcapod-demo"
"""Where the demo keeps its store by default, in the current directory."""


class _Runner:
    """What both commands share: the store, the executor, the observers, the report."""

    help = ""

    def __init__(self, host: RegistryHost) -> None:
        self.host = host

    def add_common(self, parser: argparse.ArgumentParser, db_help: str) -> None:
        parser.add_argument("--db", metavar="URI", help=db_help)
        parser.add_argument(
            "--executor",
            metavar="NAME",
            default="local",
            help=(
                "where function nodes run: 'local' (default), 'processes' (worker processes, "
                "one per CPU) or an installed executor, e.g. 'ray'"
            ),
        )
        parser.add_argument(
            "--observer",
            metavar="NAME",
            action="append",
            help=(
                "observers to run with (repeatable; default: logging, status and progress, "
                "those that are installed)"
            ),
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")

    def executor(self, name: str) -> PacketFunctionExecutor:
        """The named executor; core's own (local, processes) keep what functions print off
        the terminal (it is recorded, and ``orcapod logs`` shows it)."""
        if name in ("local", "processes"):
            return self.host.get_executor(name, passthrough=False)
        return self.host.get_executor(name)

    def observer(
        self, args: argparse.Namespace, database: ArrowDatabase
    ) -> tuple[ExecutionObserver, list[str]]:
        """The run's observer (a composite of the wanted ones) and notes on what is missing."""
        names = args.observer or ["logging", "status", "progress"]
        if args.no_progress and "progress" in names:
            names = [name for name in names if name != "progress"]
        observers, notes = [], []
        for name in names:
            options: dict[str, Any] = (
                {"database": database} if name in ("logging", "status") else {}
            )
            try:
                observers.append(self.host.get_observer(name, **options))
            except PluginNotFoundError:
                if args.observer:  # asked for by name: an error, with what is installed
                    raise
                notes.append(name)
        if not observers:
            return self.host.get_observer("noop"), notes
        if len(observers) == 1:
            return observers[0], notes
        return self.host.get_observer("composite", observers=observers), notes

    def show_failures(self, result: RunResult, uri: str, recorded: bool) -> None:
        """The failed packets: from the store through ``orcapod logs`` where it can read them."""
        if not result.failures:
            return
        count = len(result.failures)
        print(f"\n{count} packet{'s' if count > 1 else ''} failed.", end=" ")
        logs = self.host.registry.cli_commands().get("logs")
        if recorded and logs is not None and not uri.startswith("memory:"):
            print("What it printed and its traceback, as the store has them:\n")
            argv = [uri, "--pipeline", result.pipeline, "--run", result.run_id, "--failed"]
            print(f"$ orcapod logs {' '.join(argv)}")
            sys.stdout.flush()
            command = logs(self.host)
            parser = argparse.ArgumentParser(prog="orcapod logs")
            command.add_arguments(parser)
            command.run(parser.parse_args(argv))
            return
        print()
        for failure in result.failures:
            line = f"{failure.node} {failure.tag}: {failure.error_type}: {failure.message}"
            print(f"  {escape_control(line)}")


class DemoCommand(_Runner):
    """``orcapod demo [--db URI] [--executor NAME] [--fresh]``."""

    help = "run a small scientific pipeline, observed, and show what orcapod recorded"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        uri, what = default_store(self.database_schemes())
        self.add_common(parser, f"the store (default: {uri}, {what})")
        parser.add_argument(
            "--fresh",
            action="store_true",
            help=f"start from an empty store: delete ./{DEMO_DIRECTORY} first (default store only)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from orcapod.core.cli.demo import build_demo

        uri = args.db or self.default_uri()
        if args.fresh:
            if args.db:
                raise OrcapodError(
                    "--fresh deletes the demo's own store only; to start over with "
                    f"--db {args.db}, remove that store yourself (or leave out --db)"
                )
            shutil.rmtree(DEMO_DIRECTORY, ignore_errors=True)
        print(
            "orcapod demo: sensor recordings of 4 subjects in 3 sessions; one recording is\n"
            "malformed. Steps: clean -> measure -> join with the subjects' gains -> "
            "per-subject summary.\n"
            f"store: {uri}   executor: {args.executor}\n"
        )
        database = self.host.open_database(uri)
        try:
            pipeline = build_demo(database)
            observer, missing = self.observer(args, database)
            result = pipeline.run(executor=self.executor(args.executor), observer=observer)
            print_outputs(pipeline, only="summary")
            print_summary(result)
        finally:
            database.close()
        if missing:
            print(
                f"\n(not recorded: {', '.join(missing)}; pip install orcapod-observers "
                "to keep logs and status)"
            )
        recorded = "logging" not in missing and "status" not in missing
        self.show_failures(result, uri, recorded="logging" not in missing)
        if result.n_computed == 0 and result.nodes["summary"].cached:
            print("\nEverything that succeeded before was cached: nothing was computed again.")
        suggestions = self.suggestions(uri, args.db, recorded=recorded)
        if suggestions:
            print("\nTry next:\n" + "\n".join(f"  {line}" for line in suggestions))
        return 0

    def database_schemes(self) -> set[str]:
        """The URI schemes of the installed database plugins."""
        return {p.name for p in self.host.registry.provisions(PluginKind.DATABASE)}

    def default_uri(self) -> str:
        """A Delta store in the demo directory, else SQLite, else memory (said so)."""
        uri, _ = default_store(self.database_schemes())
        if uri.startswith("sqlite:"):
            Path(DEMO_DIRECTORY).mkdir(exist_ok=True)
        if uri == "memory://":
            print("(no store on disk is installed: pip install orcapod-db-delta; using memory://)")
        return uri

    def suggestions(self, uri: str, db: str | None, *, recorded: bool) -> list[str]:
        """The commands worth running next, of those installed: the readers of what was
        recorded (a store on disk only) and the demo again (cached, on disk)."""
        from orcapod.core.cli.demo import DEMO_PIPELINE

        if uri.startswith("memory:"):  # nothing outlives the process: nothing to read back
            return []
        installed = self.host.registry.cli_commands()
        readers = {
            "runs": f"orcapod runs {uri}",
            "status": f"orcapod status {uri} --pipeline {DEMO_PIPELINE} --failed",
            "logs": f"orcapod logs {uri} --pipeline {DEMO_PIPELINE} --node clean",
        }
        lines = [line for name, line in readers.items() if recorded and name in installed]
        again = "orcapod demo" if db is None else f"orcapod demo --db {db}"
        return [*lines, f"{again:<24}# again: everything is cached"]


class RunCommand(_Runner):
    """``orcapod run FILE.py [--db URI] [--executor NAME] [--observer NAME]``."""

    help = "run the pipelines a Python file defines, observed, and summarise each run"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE.py", help="a file defining Pipeline objects")
        self.add_common(
            parser,
            "store every pipeline of the file here instead of in the database it names",
        )

    def run(self, args: argparse.Namespace) -> int:
        file = Path(args.file)
        if not file.is_file():
            raise OrcapodError(f"no such file: {args.file!r}")
        override = self.host.open_database(args.db) if args.db else None
        pipelines = _pipelines_of(file, override)
        if not pipelines:
            raise OrcapodError(
                f"{args.file} defines no Pipeline; build one at module level "
                "(`pipeline = Pipeline(...)` and a `with pipeline:` block)"
            )
        failed = False
        try:
            for pipeline in pipelines:
                uri = args.db or pipeline.uri
                print(f"pipeline {pipeline.name!r}   store: {uri}   executor: {args.executor}")
                observer, missing = self.observer(args, pipeline.database)
                result = pipeline.run(executor=self.executor(args.executor), observer=observer)
                print_outputs(pipeline)
                print_summary(result)
                pipeline.database.flush()
                self.show_failures(result, uri, recorded="logging" not in missing)
                failed = failed or not result.ok
                print()
        finally:
            if override is not None:
                override.close()
        return 1 if failed else 0


def default_store(schemes: set[str]) -> tuple[str, str]:
    """The demo's store where ``--db`` is not given, of the database ``schemes``
    installed, and what it is: Delta in the demo directory, else SQLite there,
    else memory."""
    if "delta" in schemes:
        return f"delta://{DEMO_DIRECTORY}", f"a Delta store in ./{DEMO_DIRECTORY}"
    if "sqlite" in schemes:
        return (
            f"sqlite:///{DEMO_DIRECTORY}/store.db",
            f"a SQLite file in ./{DEMO_DIRECTORY}, as orcapod-db-delta is not installed",
        )
    return (
        "memory://",
        "kept in memory and lost at exit, as no store on disk is installed "
        "(pip install orcapod-db-delta)",
    )


def _pipelines_of(file: Path, override: ArrowDatabase | None) -> list[Pipeline]:
    """Run ``file`` (not as ``__main__``) and collect the pipelines it made, in order."""
    from orcapod.core.pipeline._pipeline import COLLECTOR

    made: list[Pipeline] = []
    token = COLLECTOR.set((made, override))
    sys.path.insert(0, str(file.resolve().parent))
    try:
        runpy.run_path(str(file), run_name="__orcapod_run__")
    finally:
        sys.path.pop(0)
        COLLECTOR.reset(token)
    return [pipeline for pipeline in made if pipeline.nodes]
