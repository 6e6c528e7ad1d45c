"""``orcapod``: the parser of every installed sub-command, and how a sub-command ends."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import warnings
from typing import TYPE_CHECKING

from orcapod.core.cli._host import RegistryHost
from orcapod.core.errors import OrcapodError, PluginLoadWarning
from orcapod.core.plugins import default_registry
from orcapod.protocols.values import PluginKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orcapod.core.plugins import PluginRegistry
    from orcapod.protocols.hooks import CliCommand

__all__ = ["EXIT_STATUSES", "build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process SIGPIPE ended

EXIT_STATUSES = {
    EXIT_OK: "success",
    EXIT_ERROR: (
        "an error, said in one line on stderr; 'run': a packet failed; "
        "'verify': a stored result is damaged"
    ),
    EXIT_USAGE: (
        "a usage error: no sub-command, an unknown option or a bad value; "
        "'verify': nothing could be checked"
    ),
    EXIT_BROKEN_PIPE: "the reader of the output went away early (orcapod logs URI | head)",
}
"""What each exit status of ``orcapod`` means, as ``orcapod --help`` and docs/cli.md say."""

_EPILOG = "exit status:\n" + "\n".join(
    textwrap.fill(meaning, 78, initial_indent=f"  {status:<5}", subsequent_indent=" " * 7)
    for status, meaning in EXIT_STATUSES.items()
)


def build_parser(registry: PluginRegistry) -> argparse.ArgumentParser:
    """The argument parser with every installed sub-command."""
    parser = argparse.ArgumentParser(
        prog="orcapod",
        description="orcapod: reproducible scientific data pipelines.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    host = RegistryHost(registry)
    for provision in registry.provisions(PluginKind.CLI_COMMAND):
        try:
            command: CliCommand = provision.factory(host)
            sub = subparsers.add_parser(provision.name, help=command.help, description=command.help)
            command.add_arguments(sub)
        except Exception as error:
            _warn(
                f"sub-command {provision.name!r} of plugin {provision.plugin!r} "
                f"({provision.distribution}) failed to set up and was skipped: "
                f"{type(error).__name__}: {error}"
            )
            continue
        sub.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``orcapod`` command line; returns the exit status.

    :data:`EXIT_STATUSES` says what each status means: 0 on success, 1 for an
    :class:`OrcapodError` (one line on stderr) or what a sub-command reports as
    a failure, 2 for no sub-command (argparse exits with 2 on a bad argument).
    A reader that goes away early (``orcapod logs URI | head -1``)
    ends every sub-command, core's and plugins', quietly, as Python's docs
    recommend: on ``BrokenPipeError`` stdout is pointed at ``os.devnull`` (so
    the interpreter's last flush cannot raise again), what was still buffered
    is dropped, and the status is 141 (128 + SIGPIPE, what a shell reports for
    a process SIGPIPE ended), with no traceback.
    """
    registry = default_registry()
    with warnings.catch_warnings():
        # Reported once below, in the command line's own words.
        warnings.simplefilter("ignore", PluginLoadWarning)
        parser = build_parser(registry)
        failures = registry.failures
    args = parser.parse_args(argv)
    command = getattr(args, "_command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command != "plugins":
        for failure in failures:
            _warn(failure.describe())
    try:
        status = int(command.run(args))
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at exit
        return status
    except OrcapodError as error:
        print(f"orcapod {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``orcapod logs ... | head``): what it read was all it
        # wanted. Output still buffered is dropped, not reported as another error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _warn(message: str) -> None:
    print(f"orcapod: warning: {message}", file=sys.stderr)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"orcapod-core {version('orcapod-core')}"
    except PackageNotFoundError:
        return "orcapod-core (not installed)"
