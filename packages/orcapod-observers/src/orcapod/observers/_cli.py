"""``orcapod runs``, ``status``, ``logs`` and ``results``: observability records, readably.

Each sub-command opens the database by URI through the host (so every
installed database plugin works), reads it with an
:class:`~orcapod.observers._reader.ObservabilityReader` and prints plain
text (``runs``, ``status`` and ``logs`` with ``--json``: JSON lines, one JSON
object per row, and nothing at all when there are no rows). Errors a user can
make (an unknown scheme, pipeline, node or run, a malformed ``--tag``) are one
line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.observers._follow import FollowedRows, RunFollower
from orcapod.observers._reader import RUN_ID, STATES, ObservabilityReader, list_pipelines
from orcapod.observers.errors import UnknownPipelineError
from orcapod.protocols.errors import OrcapodError, StoreNotCreatableError, StoreNotFoundError
from orcapod.protocols.text import colour_enabled, escape_control, paint_state, print_table

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import CliCommand, CliCommandFactory, CliHost

__all__ = [
    "FOLLOW_EXIT_STATUSES",
    "LogsCommand",
    "ReportCommand",
    "ResultsCommand",
    "RunsCommand",
    "StatusCommand",
    "cli_commands",
    "make_logs_command",
    "make_report_command",
    "make_results_command",
    "make_runs_command",
    "make_status_command",
]

SECTION_LINES = 20
"""Lines of each output section ``orcapod logs`` shows without ``--full``."""

LINE_CHARS = 400
"""Characters of each line ``orcapod logs`` shows without ``--full`` (start and end kept)."""

RESULTS_LIMIT = 50
"""Rows ``orcapod results`` shows without ``--limit``."""

CELL_CHARS = 60
"""Characters of each value ``orcapod results`` shows (longer ones are cut, on one line)."""

FOLLOW_INTERVAL_S = 0.5
"""Seconds between two reads of the store under ``--follow`` (without ``--interval``)."""

FOLLOW_EXIT_STATUSES = {
    "SUCCESS": 0,
    "PARTIAL": 3,
    "FAILED": 4,
    "INTERRUPTED": 5,
    "CRASHED": 6,
}
"""The exit status of ``orcapod logs/status --follow``: the followed run's outcome."""

EXIT_STOPPED = 130
"""``--follow`` stopped by Ctrl-C (128 + SIGINT): the run itself goes on."""

_NONE = "-"

_RUN_FIELDS = (
    "run_id",
    "state",
    "started_at",
    "ended_at",
    "n_success",
    "n_failed",
    "n_cached",
    "host",
    "pid",
    "error",
)
"""The fields of a run's JSON object under ``orcapod runs --json``: the table's columns."""

_JSON_FIELDS = {
    "runs": "per run, newest first: " + ", ".join(_RUN_FIELDS),
    "status": (
        "per packet: node_label, state, attempt, timestamp, run_id, "
        "tags (an object, tag name to value), detail"
    ),
    "logs": (
        "per executed attempt, oldest first: node_label, run_id, attempt, state "
        "(SUCCESS or FAILED), timestamp, tags (an object), stdout, stderr, python_logs, "
        "traceback, capture_error and every other column of the log row, without its "
        "leading '__'"
    ),
}
"""What ``--json`` prints, per sub-command (said in its help)."""


class _Failure(Exception):
    """A mistake in the command line, reported as one line on stderr."""


class _ObservabilityCommand:
    """What the three sub-commands share: the URI, ``--pipeline``, and error reporting."""

    name = ""
    help = ""

    def __init__(self, host: CliHost) -> None:
        self.host = host

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """``URI`` and ``--pipeline``, then the sub-command's own options."""
        parser.add_argument(
            "uri",
            metavar="URI",
            help="the database the observers wrote to, e.g. delta://./orcapod-data",
        )
        parser.add_argument(
            "--pipeline",
            metavar="P",
            help="the pipeline's name; may be left out when the database holds one pipeline",
        )
        self.add_options(parser)
        if self.name in _JSON_FIELDS:
            parser.add_argument(
                "--json",
                action="store_true",
                help=(
                    "print JSON lines instead of text: one JSON object per row, newline-"
                    f"delimited ({_JSON_FIELDS[self.name]}); numbers stay numbers, missing "
                    "values are null, times are ISO 8601 strings, bytes are base64 strings, "
                    "text is complete (not cut, control characters left to JSON's escapes); "
                    "nothing is printed when there are no rows"
                ),
            )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """The sub-command's own options."""

    def run(self, args: argparse.Namespace) -> int:
        """Open the database, print what was asked; 0 on success, 1 (and a message) if not."""
        try:
            database = self._open(args)
        except (OrcapodError, ValueError, OSError, ImportError) as error:
            return self._fail(f"cannot open database {args.uri!r}: {error}")
        except KeyboardInterrupt:  # while waiting for the store to be created
            return EXIT_STOPPED
        try:
            status = self._show_from(database, args)
        finally:
            closed = self._close(database, args.uri)
        return status or closed

    def _open(self, args: argparse.Namespace) -> ArrowDatabase:
        """The database; under ``--follow``, once it exists (a run about to start makes it).

        A store no run could create (``memory://``, which lives in its own process;
        what :class:`StoreNotCreatableError` says) is an error at once, never waited for.
        """
        waiting = _Waiting(args)
        while True:
            try:
                return self.host.open_database(args.uri, create=False)
            except StoreNotCreatableError:
                raise
            except StoreNotFoundError:
                if not waiting.follow:
                    raise
            waiting.wait(f"for the store {args.uri!r} to be created")

    def _show_from(self, database: ArrowDatabase, args: argparse.Namespace) -> int:
        try:
            if getattr(args, "next", False) and (not args.follow or args.run is not None):
                raise _Failure("--next goes with --follow and without --run")
            if getattr(args, "follow", False):
                reader, args.run = _run_to_follow(database, args)
            else:
                reader = ObservabilityReader(database, _choose_pipeline(database, args.pipeline))
            return self.show(reader, args) or 0
        except (OrcapodError, _Failure) as error:
            return self._fail(str(error))
        except KeyboardInterrupt:  # while waiting for a run to start
            return EXIT_STOPPED

    def _close(self, database: ArrowDatabase, uri: str) -> int:
        try:
            database.close()
        except OrcapodError as error:
            return self._fail(f"closing database {uri!r} failed: {error}")
        return 0

    def show(self, reader: ObservabilityReader, args: argparse.Namespace) -> int | None:
        """Print the sub-command's output; the exit status, where not 0."""
        raise NotImplementedError

    def follow(
        self,
        reader: ObservabilityReader,
        args: argparse.Namespace,
        follower: RunFollower,
        show_rows: Callable[[FollowedRows], None],
    ) -> int:
        """Poll the store for the run's new rows and print them, until the run is over.

        Returns:
            The run's outcome as FOLLOW_EXIT_STATUSES says, or EXIT_STOPPED on Ctrl-C.
        """
        try:
            if not args.json:
                print(_following_line(follower))
            while True:
                found = follower.poll()
                show_rows(found)
                if found.over:
                    _print_end(follower, found, json_lines=args.json)
                    sys.stdout.flush()
                    return FOLLOW_EXIT_STATUSES.get(found.state, 1)
                sys.stdout.flush()  # a follower in a pipe sees each poll's rows at once
                clock.sleep(args.interval)
        except KeyboardInterrupt:
            return EXIT_STOPPED

    def _fail(self, message: str) -> int:
        one_line = " ".join(line.strip() for line in message.splitlines() if line.strip())
        print(f"orcapod {self.name}: error: {one_line}", file=sys.stderr)
        return 1


class RunsCommand(_ObservabilityCommand):
    """``orcapod runs URI [--pipeline P]``: one line per run, newest first."""

    name = "runs"
    help = "list the runs of a pipeline, newest first: state, times, packet counts, host"

    def show(self, reader: ObservabilityReader, args: argparse.Namespace) -> None:
        """Print the runs table (``CRASHED`` runs say why in ERROR)."""
        runs = reader.runs()
        if args.json:
            for row in runs.to_pylist():
                _print_json({name: row[f"__{name}"] for name in _RUN_FIELDS})
            return
        if runs.num_rows == 0:
            print(f"no runs recorded for pipeline {reader.pipeline!r}")
            return
        columns = runs.to_pydict()
        rows = [
            [
                columns["__run_id"][i],
                columns["__state"][i],
                _format_time(columns["__started_at"][i]),
                _format_time(columns["__ended_at"][i]),
                _format_value(columns["__n_success"][i]),
                _format_value(columns["__n_failed"][i]),
                _format_value(columns["__n_cached"][i]),
                _format_value(columns["__host"][i]),
                _format_value(columns["__pid"][i]),
                _first_line(columns["__error"][i]),
            ]
            for i in range(runs.num_rows)
        ]
        headers = [
            "RUN",
            "STATE",
            "STARTED (UTC)",
            "ENDED (UTC)",
            "SUCCESS",
            "FAILED",
            "CACHED",
            "HOST",
            "PID",
            "ERROR",
        ]
        print_table(headers, rows)


class StatusCommand(_ObservabilityCommand):
    """``orcapod status URI [--pipeline P] [--node N] [--failed]``: each packet's current state."""

    name = "status"
    help = "show the current state of every packet of a pipeline (or of one node)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """``--node``, ``--run``, ``--failed`` and the ``--follow`` options."""
        parser.add_argument("--node", metavar="N", help="only the node with this label")
        parser.add_argument(
            "--run",
            metavar="R",
            help="each packet's state at the end of the run with this id (with --follow: "
            "the run to follow)",
        )
        parser.add_argument(
            "--failed", action="store_true", help="only packets whose current state is FAILED"
        )
        _add_follow_options(parser, "each state change of the run's packets")

    def show(self, reader: ObservabilityReader, args: argparse.Namespace) -> int | None:
        """Print one line per packet, node by node, and the count of each state."""
        if args.follow:
            return self._follow_status(reader, args)
        rows: list[list[str]] = []
        counts: dict[str, int] = {}
        run_states: dict[str, str] | None = None  # read once, if a packet is LOST
        for node in _nodes(reader, args.node):
            events = reader.status(node=node, run_id=args.run)
            if args.failed:
                events = events.filter(pc.equal(events["__state"], "FAILED"))
            for state, count in _state_counts(events).items():
                counts[state] = counts.get(state, 0) + count
            if run_states is None and "LOST" in counts:
                run_states = _run_states(reader)
            if args.json:
                for record in _status_records(events, run_states or {}):
                    _print_json(record)
            else:
                rows += _status_rows(events, run_states or {})
        if args.json:
            return None
        if not rows:
            what = "failed packets" if args.failed else "status events"
            print(f"no {what} recorded for {_scope(reader, args.node)}")
            return None
        print_table(["NODE", "STATE", "ATTEMPT", "UPDATED (UTC)", "RUN", "TAGS", "DETAIL"], rows)
        order = [state for state in STATES if state in counts] + sorted(set(counts) - set(STATES))
        colour = colour_enabled()
        breakdown = ", ".join(
            f"{counts[state]} {paint_state(state, colour=colour)}" for state in order
        )
        print(f"\n{len(rows)} packet(s): {breakdown}")
        return None

    def _follow_status(self, reader: ObservabilityReader, args: argparse.Namespace) -> int:
        """``--follow``: one line per new status event of the run, then its end."""
        failed = _failed_events if args.failed else None
        follower = _follower(reader, args, logs=False, status=True, status_where=failed)
        colour = colour_enabled()

        def show_rows(found: FollowedRows) -> None:
            run_states = {follower.run_id: found.state}
            events = found.status + (found.lost if not args.failed else [])
            for record in (
                _status_record(event, run_states, _tag_names_of(event)) for event in events
            ):
                if args.json:
                    _print_json(record)
                else:
                    print(_status_line(record, colour=colour))

        return self.follow(reader, args, follower, show_rows)


class LogsCommand(_ObservabilityCommand):
    """``orcapod logs URI [--pipeline P] [--node N] [--run R] [--failed] [--tag k=v] [--full]``."""

    name = "logs"
    help = "show what packets printed, logged and raised, one block per executed attempt"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """``--node``, ``--run``, ``--failed``, ``--tag`` and ``--full``."""
        parser.add_argument("--node", metavar="N", help="only the node with this label")
        parser.add_argument("--run", metavar="R", help="only attempts of the run with this id")
        parser.add_argument("--failed", action="store_true", help="only attempts that failed")
        parser.add_argument(
            "--tag",
            metavar="KEY=VALUE",
            action="append",
            default=[],
            help=(
                "only packets whose tag KEY equals VALUE (repeatable; all must match); "
                "datetimes in ISO 8601, UTC when no offset is given"
            ),
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help=f"show all of every output and traceback, not {SECTION_LINES} lines of each",
        )
        _add_follow_options(parser, "each attempt of the run as it is stored")

    def show(self, reader: ObservabilityReader, args: argparse.Namespace) -> int | None:
        """Print one block per log row, node by node, oldest first."""
        wanted = [_parse_tag(text) for text in args.tag]
        if args.follow:
            return self._follow_logs(reader, args, wanted)
        per_node = [
            (node, reader.logs(node=node, run_id=args.run, failed_only=args.failed))
            for node in _nodes(reader, args.node)
        ]
        _check_tags_exist(wanted, per_node, _scope(reader, args.node))
        shown = 0
        for node, logs in per_node:
            for row in _filter_tags(logs, node, wanted).to_pylist():
                if args.json:
                    _print_json(_log_record(row))
                    continue
                print(("\n" if shown else "") + _log_block(row, full=args.full))
                shown += 1
        if not shown and not args.json:
            print(f"no log rows match in {_scope(reader, args.node)}")
        return None

    def _follow_logs(
        self, reader: ObservabilityReader, args: argparse.Namespace, wanted: list[tuple[str, str]]
    ) -> int:
        """``--follow``: one block per new log row of the run, then its end."""

        def where(node: str, logs: pa.Table) -> pa.Table:
            if args.failed:
                logs = logs.filter(pc.invert(pc.fill_null(logs["__success"], True)))
            return _filter_tags(logs, node, wanted)

        follower = _follower(reader, args, logs=True, status=False, logs_where=where)
        shown = 0

        def show_rows(found: FollowedRows) -> None:
            nonlocal shown
            for row in found.logs:
                if args.json:
                    _print_json(_log_record(row))
                    continue
                print("\n" + _log_block(row, full=args.full))
                shown += 1

        return self.follow(reader, args, follower, show_rows)


class ResultsCommand(_ObservabilityCommand):
    """``orcapod results URI [--pipeline P] --node N [--run R] [--limit K]``."""

    name = "results"
    help = (
        "show the rows of a function node in the latest finished run (or --run R), "
        "read from the store alone: tags and outputs"
    )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """``--node`` (required), ``--run`` and ``--limit``."""
        parser.add_argument("--node", metavar="N", required=True, help="the function node's label")
        parser.add_argument(
            "--run",
            metavar="R",
            help="the run (default: the latest finished one, never one running or CRASHED)",
        )
        parser.add_argument(
            "--limit",
            metavar="K",
            type=_positive,
            default=RESULTS_LIMIT,
            help=f"show at most K rows (default {RESULTS_LIMIT})",
        )

    def show(self, reader: ObservabilityReader, args: argparse.Namespace) -> None:
        """Print which run is shown, then one line per packet of the node in it."""
        run = args.run if args.run is not None else reader.latest_finished_run()
        table = reader.results(args.node, run_id=run)
        state = _run_states(reader).get(run or "", "?")
        print(
            f"node {args.node!r} of pipeline {reader.pipeline!r} in run {run} ({state}): "
            f"{table.num_rows} row(s)"
        )
        if table.num_rows == 0:
            return
        shown = table.slice(0, args.limit)
        rows = [[_cell(value) for value in row.values()] for row in shown.to_pylist()]
        print_table(shown.column_names, rows, state_columns=())  # user columns: no states
        if table.num_rows > shown.num_rows:
            more = table.num_rows - shown.num_rows
            print(f"... and {more} more row(s); --limit {table.num_rows} shows them all")


class ReportCommand(_ObservabilityCommand):
    """``orcapod report URI [--pipeline P] [--run R] [-o report.html]``."""

    name = "report"
    help = (
        "write one self-contained HTML page of a run (default: the latest): the DAG coloured "
        "by state, per node counts and durations, the runs, the failed packets, the context"
    )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """``--run``, ``-o`` and ``--failures``."""
        from orcapod.observers._report import FAILURES_SHOWN

        parser.add_argument("--run", metavar="R", help="the run (default: the latest one)")
        parser.add_argument(
            "-o",
            "--output",
            metavar="FILE",
            default="report.html",
            help="the HTML file to write (default: report.html)",
        )
        parser.add_argument(
            "--failures",
            metavar="K",
            type=_positive,
            default=FAILURES_SHOWN,
            help=f"list at most K failed packets, counting the rest (default {FAILURES_SHOWN})",
        )

    def show(self, reader: ObservabilityReader, args: argparse.Namespace) -> None:
        """Write the report; say where, for which run, and how large."""
        from orcapod.observers._report import build_report
        from orcapod.observers._report_html import render_report

        report = build_report(
            reader.database,
            reader.pipeline,
            args.run,
            uri=args.uri,
            failures_shown=args.failures,
        )
        page = render_report(report).encode("utf-8", errors="replace")
        try:
            with open(args.output, "wb") as file:
                file.write(page)
        except OSError as error:
            raise _Failure(f"cannot write the report to {args.output!r}: {error}") from error
        print(
            f"wrote {args.output} ({len(page) / 1024:,.0f} KiB): run {report.run_id} "
            f"({report.run.get('__state')}) of pipeline {reader.pipeline!r}, "
            f"{report.n_failed:,} failed packet(s), {len(report.failures):,} listed"
        )


def make_runs_command(host: CliHost) -> CliCommand:
    """``orcapod runs``."""
    return RunsCommand(host)


def make_status_command(host: CliHost) -> CliCommand:
    """``orcapod status``."""
    return StatusCommand(host)


def make_logs_command(host: CliHost) -> CliCommand:
    """``orcapod logs``."""
    return LogsCommand(host)


def make_results_command(host: CliHost) -> CliCommand:
    """``orcapod results``."""
    return ResultsCommand(host)


def make_report_command(host: CliHost) -> CliCommand:
    """``orcapod report``."""
    return ReportCommand(host)


def cli_commands() -> dict[str, CliCommandFactory]:
    """The sub-commands of orcapod-observers, for the ``orcapod_cli_commands`` hook."""
    return {
        "runs": make_runs_command,
        "status": make_status_command,
        "logs": make_logs_command,
        "results": make_results_command,
        "report": make_report_command,
    }


def _positive(text: str) -> int:
    """``--limit``'s value: a whole number of rows, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (1 or more)")
    return value


def _cell(value: Any) -> str:
    """A value of a results row on one line (control characters, newlines and tabs
    escaped), cut to ``CELL_CHARS``."""
    text = escape_control(_format_value(value, none="null"))
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 3] + "..."


# -- following a run ---------------------------------------------------------------------


def _add_follow_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--follow``, ``--interval`` and ``--stale-after``."""
    parser.add_argument(
        "--follow",
        action="store_true",
        help=(
            f"follow the latest run (or --run R) as it runs: print {what}, as the run's "
            "flushes make it durable (every flush_interval), then the run's end; exit with "
            "the run's outcome (0 SUCCESS, 3 PARTIAL, 4 FAILED, 5 INTERRUPTED, 6 CRASHED; "
            "130 when Ctrl-C stops following)"
        ),
    )
    parser.add_argument(
        "--next",
        action="store_true",
        help=(
            "with --follow: follow the next run to start, not the latest stored one (waits "
            "for it; without --next, follow waits only where the pipeline has no run yet)"
        ),
    )
    parser.add_argument(
        "--interval",
        metavar="S",
        type=_seconds,
        default=FOLLOW_INTERVAL_S,
        help=f"with --follow: seconds between reads of the store (default {FOLLOW_INTERVAL_S})",
    )
    parser.add_argument(
        "--stale-after",
        metavar="S",
        type=_seconds,
        default=None,
        help=(
            "with --follow: call the run CRASHED when its heartbeat is S seconds old (default: "
            "12 of its flush intervals, at least 120 s); on the run's own host a dead process "
            "is found at once"
        ),
    )


def _seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (above 0)")
    return value


class _Waiting:
    """Says once what ``--follow`` waits for (not under ``--json``), then sleeps between looks."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.follow = bool(getattr(args, "follow", False))
        self._args = args
        self._said = ""

    def wait(self, what: str) -> None:
        if what != self._said and not self._args.json:
            print(f"waiting {what}; Ctrl-C stops waiting", flush=True)
        self._said = what
        clock.sleep(self._args.interval)


def _run_to_follow(
    database: ArrowDatabase, args: argparse.Namespace
) -> tuple[ObservabilityReader, str | None]:
    """The pipeline's reader and the run ``--follow`` follows, waiting until it has started.

    ``--run R`` must name a stored run. Otherwise the latest run is followed
    (``--next``: the first run to start after this was called), and where there
    is none yet this waits for it: for the pipeline's first records, and where
    ``--pipeline`` is left out, for the store's first pipeline.
    """
    waiting = _Waiting(args)
    seen: set[str] | None = None  # under --next: the runs stored when following began
    while True:
        pipeline = args.pipeline if args.pipeline is not None else _only_pipeline(database)
        reader = None if pipeline is None else ObservabilityReader(database, pipeline)
        if reader is not None and args.run is not None:
            return reader, args.run  # RunFollower checks it, naming the recent runs
        runs = [] if reader is None else _run_ids(reader)  # newest first
        if args.next:
            seen = set(runs) if seen is None else seen
            started = [run for run in runs if run not in seen]
            if reader is not None and started:
                return reader, started[-1]  # the first of them to start
        elif reader is not None and runs:
            return reader, None
        name = "a pipeline" if pipeline is None else f"pipeline {pipeline!r}"
        waiting.wait(f"for {'the next' if args.next else 'a'} run of {name} to start")


def _run_ids(reader: ObservabilityReader) -> list[str]:
    """The ids of the pipeline's runs, newest first; none while it has no records."""
    try:
        return [str(run) for run in reader.runs()[RUN_ID].to_pylist()]
    except UnknownPipelineError:
        return []


def _only_pipeline(database: ArrowDatabase) -> str | None:
    """The database's only pipeline with records; None while it has none."""
    return _choose_pipeline(database, None) if list_pipelines(database) else None


def _follower(reader: ObservabilityReader, args: argparse.Namespace, **what: Any) -> RunFollower:
    return RunFollower(reader, args.run, node=args.node, stale_after_s=args.stale_after, **what)


def _failed_events(node: str, events: pa.Table) -> pa.Table:
    return events.filter(pc.fill_null(pc.equal(events["__state"], "FAILED"), False))


def _following_line(follower: RunFollower) -> str:
    start = follower.start
    where = f"on {start.get('__host') or '?'}, pid {_format_value(start.get('__pid'))}"
    return escape_control(
        f"following run {follower.run_id} of pipeline {follower.pipeline!r} (started "
        f"{_format_time(start.get('__started_at'))} UTC {where}); Ctrl-C stops following"
    )


def _print_end(follower: RunFollower, found: FollowedRows, *, json_lines: bool) -> None:
    """The run's end: how it ended, its counts, and why a CRASHED run is judged so."""
    run = found.run
    if json_lines:
        fields = {name: run.get(f"__{name}") for name in _RUN_FIELDS}
        _print_json({"event": "run_end", **fields, "state": found.state})
        return
    colour = colour_enabled()
    state = paint_state(found.state, colour=colour)
    if found.state == "CRASHED":
        lost = f"; {len(found.lost)} packet(s) it left RUNNING are LOST" if found.lost else ""
        text = (
            f"run {follower.run_id} CRASHED: {_first_line(run.get('__error'), 300) or '?'} "
            f"(it wrote no end){lost}"
        )
        print("\n" + escape_control(text).replace("CRASHED", state, 1))
        return
    counts = ", ".join(
        f"{_format_value(run.get(f'__n_{name}'))} {name}"
        for name in ("success", "failed", "cached")
    )
    ended = _format_time(run.get("__ended_at"))
    text = f"run {follower.run_id} ended {found.state} at {ended} UTC: {counts}"
    error = _first_line(run.get("__error"), 300)
    if error:
        text += f"; {error}"
    print("\n" + escape_control(text).replace(found.state, state, 1))


def _status_line(record: dict[str, Any], *, colour: bool) -> str:
    """One status event of a followed run on one line."""
    parts = [
        _format_time(record["timestamp"]),
        escape_control(str(record["node_label"])),
        paint_state(str(record["state"]), colour=colour),
        f"attempt {_format_value(record['attempt'])}",
        escape_control(_format_tags(record["tags"], list(record["tags"])) or "(no tags)"),
    ]
    detail = _first_line(record["detail"])
    if detail:
        parts.append(escape_control(detail))
    return "  ".join(parts)


# -- choosing what to read ---------------------------------------------------------------


def _choose_pipeline(database: ArrowDatabase, pipeline: str | None) -> str:
    """``pipeline`` if given, else the database's only pipeline with records."""
    if pipeline is not None:
        return pipeline
    known = list_pipelines(database)
    if len(known) == 1:
        return known[0]
    if not known:
        raise _Failure(
            "the database has no observability records; run a pipeline with a "
            "LoggingObserver or StatusObserver first"
        )
    raise _Failure(
        f"the database holds {len(known)} pipelines ({', '.join(known)}); "
        "choose one with --pipeline"
    )


def _nodes(reader: ObservabilityReader, node: str | None) -> list[str]:
    """The node asked for (checked by the reader when read), or every node with records."""
    return [node] if node is not None else reader.nodes()


def _scope(reader: ObservabilityReader, node: str | None) -> str:
    scope = f"pipeline {reader.pipeline!r}"
    return scope if node is None else f"node {node!r} of {scope}"


# -- --tag key=value -------------------------------------------------------------------


def _parse_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise _Failure(f"--tag {text!r}: write it as KEY=VALUE, e.g. --tag subject=s1")
    return key.strip(), value


def _check_tags_exist(
    wanted: Sequence[tuple[str, str]], per_node: Sequence[tuple[str, pa.Table]], scope: str
) -> None:
    """Refuse a tag no node has (when there are rows to filter at all)."""
    known = {name for _, logs in per_node if logs.num_rows for name in _tag_names(logs)}
    for key, _ in wanted:
        if known and key not in known:
            raise _Failure(
                f"--tag {key}=...: no node of {scope} has a tag {key!r}; "
                f"its tags: {', '.join(sorted(known))}"
            )


def _filter_tags(logs: pa.Table, node: str, wanted: Sequence[tuple[str, str]]) -> pa.Table:
    """The rows whose tags equal every wanted value; none if the node lacks one of the tags."""
    for key, text in wanted:
        if logs.num_rows == 0:
            break
        if key not in logs.column_names:
            return logs.slice(0, 0)
        column = logs[key]
        value = _tag_value(key, text, column.type, node)
        logs = logs.filter(pc.fill_null(pc.equal(column, value), False))
    return logs


def _tag_value(key: str, text: str, arrow_type: pa.DataType, node: str) -> pa.Scalar:
    """``text`` as a scalar of the tag column's type."""
    try:
        return pa.scalar(_python_value(text, arrow_type), type=arrow_type)
    except (ValueError, TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise _Failure(
            f"--tag {key}={text}: tag {key!r} of node {node!r} holds {arrow_type} values, "
            f"and {text!r} is not one ({error})"
        ) from error


def _python_value(text: str, arrow_type: pa.DataType) -> Any:
    if pa.types.is_integer(arrow_type):
        return int(text)
    if pa.types.is_floating(arrow_type):
        return float(text)
    if pa.types.is_boolean(arrow_type):
        lowered = text.lower()
        if lowered not in {"true", "false", "1", "0"}:
            raise ValueError("use true or false")
        return lowered in {"true", "1"}
    if pa.types.is_timestamp(arrow_type):
        moment = datetime.fromisoformat(text)
        if arrow_type.tz is None:
            return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if pa.types.is_date(arrow_type):
        return date.fromisoformat(text)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return text
    return pa.scalar(text).cast(arrow_type).as_py()


# -- printing ----------------------------------------------------------------------------


def _run_states(reader: ObservabilityReader) -> dict[str, str]:
    runs = reader.runs()
    return dict(zip(runs["__run_id"].to_pylist(), runs["__state"].to_pylist(), strict=True))


def _status_rows(events: pa.Table, run_states: dict[str, str]) -> list[list[str]]:
    """One line per packet (the detail's first line); ``run_states`` (run id to state)
    says how a LOST packet's run ended."""
    return [
        [
            record["node_label"],
            record["state"],
            _format_value(record["attempt"]),
            _format_time(record["timestamp"]),
            record["run_id"],
            _format_tags(record["tags"], list(record["tags"])),
            _first_line(record["detail"]),
        ]
        for record in _status_records(events, run_states)
    ]


def _status_records(events: pa.Table, run_states: dict[str, str]) -> list[dict[str, Any]]:
    """One record per packet: the status table's columns, the detail complete."""
    tags = _tag_names(events)
    return [_status_record(event, run_states, tags) for event in events.to_pylist()]


def _status_record(
    event: dict[str, Any], run_states: dict[str, str], tags: Sequence[str]
) -> dict[str, Any]:
    """A status event as a record: its columns without ``__``, the tags nested, a detail."""
    state = event["__state"]
    detail: str | None
    if state in ("FAILED", "CANCELLED"):
        detail = event.get("__error_summary")
    elif state == "CACHED" and event.get("__source_run_id"):
        detail = f"computed in run {event['__source_run_id']}"
    elif state == "LOST":
        run_state = run_states.get(event["__run_id"], "ended")
        detail = f"left RUNNING: its run {run_state} before it finished"
    else:
        detail = None
    return {
        "node_label": event["__node_label"],
        "state": state,
        "attempt": event.get("__attempt"),
        "timestamp": event["__timestamp"],
        "run_id": event["__run_id"],
        "tags": {name: event.get(name) for name in tags},
        "detail": detail,
    }


def _log_record(row: dict[str, Any]) -> dict[str, Any]:
    """A log row as one JSON object: its columns without ``__``, a ``state``, the tags nested."""
    tags = _tag_names_of(row)
    record: dict[str, Any] = {
        "node_label": row["__node_label"],
        "run_id": row["__run_id"],
        "attempt": row.get("__attempt"),
        "state": "SUCCESS" if row["__success"] else "FAILED",
        "timestamp": row["__timestamp"],
        "tags": {name: row[name] for name in tags},
    }
    for name, value in row.items():
        if name.startswith("__"):
            record.setdefault(name[2:], value)
    return record


def _print_json(record: dict[str, Any]) -> None:
    """``record`` as one line of JSON (control characters escaped by JSON itself)."""
    print(json.dumps(_json_value(record)))


def _json_value(value: Any) -> Any:
    """``value`` as JSON-native data: times ISO 8601, bytes base64, containers walked."""
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _state_counts(events: pa.Table) -> dict[str, int]:
    if events.num_rows == 0:
        return {}
    counts = pc.value_counts(events["__state"])
    return {
        item["values"]: item["counts"] for item in counts.to_pylist() if item["values"] is not None
    }


SETUP_FAILED = "set-up failed:"
"""How an executor's ``capture_error`` says the task's environment could not be prepared
(orcapod-executors-ray's runtime_env): shown as it is, not as a capture failure."""


def _log_block(row: dict[str, Any], *, full: bool) -> str:
    """One log row: a header line, its tags, whether capture failed, then each
    non-empty output section (its title saying when it was truncated at capture):
    the set-up of its environment (Ray's runtime_env), stdout, stderr, Python logs
    and the traceback."""
    lines = [
        escape_control(_log_header(row)),
        escape_control(f"tags: {_format_tags(row, _tag_names_of(row)) or '(none)'}"),
    ]
    capture_error = row.get("__capture_error")
    if capture_error:
        message = _cut_line(escape_control(capture_error.strip()), full=full)
        if message.startswith(SETUP_FAILED):  # the executor never started the function
            lines.append(message)
        else:
            lines.append(f"capture failed: {message}")
            lines.append("(what the attempt printed or logged may be missing below)")
    sections = [
        ("set-up", row.get("__setup_output")),
        (_stream_title("stdout", row), row.get("__stdout")),
        (_stream_title("stderr", row), row.get("__stderr")),
        (_logs_title(row), _format_python_logs(row.get("__python_logs"))),
        ("traceback", row.get("__traceback")),
    ]
    shown = [(title, text) for title, text in sections if text]
    for title, text in shown:
        lines.append(f"--- {title} ---")
        section = [escape_control(line, keep="\t") for line in text.rstrip("\n").splitlines()]
        lines += _bounded(section, full=full)
    if not shown:
        lines.append("(no output captured)" if capture_error else "(no output)")
    return "\n".join(lines)


def _log_header(row: dict[str, Any]) -> str:
    outcome = "SUCCESS" if row["__success"] else "FAILED"
    duration = row.get("__duration_s")
    where = row.get("__executor_type") or "?"
    if row.get("__capture_level"):
        where += f", capture {row['__capture_level']}"
    parts = [
        f"=== {row['__node_label']}",
        f"run {row['__run_id']}",
        f"attempt {_format_value(row['__attempt'])}",
        outcome,
        f"{_format_time(row['__timestamp'])} UTC",
    ]
    if duration is not None:
        parts.append(f"{duration:.3f}s")
    parts.append(f"({where})")
    return "  ".join(parts)


def _tag_names_of(row: dict[str, Any]) -> list[str]:
    return [name for name in row if not name.startswith("__")]


def _stream_title(stream: str, row: dict[str, Any]) -> str:
    """``stdout``, or ``stdout (truncated at capture: 5,000,000 bytes written, ...)``."""
    if not row.get(f"__{stream}_truncated"):
        return stream
    written = row.get(f"__{stream}_bytes")
    size = f"{written:,} bytes written" if isinstance(written, int) else "more written"
    return f"{stream} (truncated at capture: {size}, the head and tail kept)"


def _logs_title(row: dict[str, Any]) -> str:
    dropped = row.get("__python_logs_dropped")
    if isinstance(dropped, int) and dropped > 0:
        return f"python logs ({dropped:,} records dropped at capture)"
    return "python logs"


def _bounded(lines: list[str], *, full: bool) -> list[str]:
    """The first and last lines of a long section, and how many were left out; each
    line cut to ``LINE_CHARS`` (all of it with ``--full``)."""
    if full:
        return lines
    if len(lines) > SECTION_LINES:
        head = SECTION_LINES // 2
        tail = SECTION_LINES - head
        omitted = len(lines) - SECTION_LINES
        lines = [
            *lines[:head],
            f"... {omitted} line(s) left out; --full shows everything ...",
            *lines[-tail:],
        ]
    return [_cut_line(line, full=False) for line in lines]


def _cut_line(line: str, *, full: bool) -> str:
    """``line``, or its start and end around how many characters were left out."""
    if full or len(line) <= LINE_CHARS:
        return line
    half = LINE_CHARS // 2
    omitted = len(line) - 2 * half
    return (
        f"{line[:half]} ... {omitted:,} characters left out; --full shows them ... {line[-half:]}"
    )


def _format_python_logs(records: list[dict[str, Any]] | None) -> str:
    if not records:
        return ""
    return "\n".join(
        f"{_format_clock(record.get('time'))} {record.get('level') or '?'} "
        f"{record.get('logger') or 'root'}: {record.get('message') or ''}"
        for record in records
    )


def _tag_names(table: pa.Table) -> list[str]:
    return [name for name in table.column_names if not name.startswith("__")]


def _format_tags(row: dict[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{name}={_format_value(row.get(name), none='null')}" for name in names)


def _format_value(value: Any, none: str = _NONE) -> str:
    if value is None:
        return none
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _format_time(moment: datetime | None) -> str:
    if moment is None:
        return _NONE
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _format_clock(moment: datetime | None) -> str:
    if moment is None:
        return "--:--:--"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%H:%M:%S")


def _first_line(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
