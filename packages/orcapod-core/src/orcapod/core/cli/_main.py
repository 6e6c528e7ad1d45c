"""The ``orcapod`` command line; plugins add sub-commands through a hook."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import OrcapodError, PluginLoadWarning
from orcapod.core.plugins import AUTOLOAD_ENV_VAR, PluginRegistry, default_registry
from orcapod.protocols.text import escape_control
from orcapod.protocols.values import PluginKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.hooks import CliCommand
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["PluginsCommand", "RegistryHost", "main"]


class RegistryHost:
    """The services sub-commands receive (``orcapod.protocols.hooks.CliHost``)."""

    def __init__(self, registry: PluginRegistry) -> None:
        self.registry = registry

    def open_database(self, uri: str, *, create: bool = True) -> ArrowDatabase:
        """Open a database by URI through the installed plugins (``create=False``: must exist)."""
        return self.registry.open_database(uri, create=create)

    def get_executor(self, name: str, **options: Any) -> PacketFunctionExecutor:
        """A new executor of an installed kind."""
        return self.registry.get_executor(name, **options)

    def get_observer(self, name: str, **options: Any) -> ExecutionObserver:
        """A new observer of an installed kind."""
        return self.registry.get_observer(name, **options)


class PluginsCommand:
    """``orcapod plugins``: what is installed, from which distribution, and what failed."""

    help = "list installed plugins: what they provide, their distributions and versions"

    def __init__(self, registry: PluginRegistry) -> None:
        self.registry = registry

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """``--json`` for machine-readable output."""
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object instead of a table"
        )

    def run(self, args: argparse.Namespace) -> int:
        """Print the table (or JSON); skipped plugins are listed as well."""
        if args.json:
            print(json.dumps(self.report(), indent=2))
        else:
            self.print_table()
        return 0

    def report(self) -> dict[str, Any]:
        """What is installed and what was skipped, as plain data."""
        return {
            "autoload": self.registry.autoload,
            "plugins": [
                {
                    "kind": str(p.kind),
                    "name": p.name,
                    "plugin": p.plugin,
                    "distribution": p.distribution,
                    "version": p.version,
                }
                for p in self.registry.provisions()
            ],
            "logical_types": [
                {
                    "name": p.name,
                    "class": _class_path(p.logical_type.python_class),
                    "storage_type": str(p.logical_type.storage_type),
                    "identity_fields": (
                        None
                        if p.logical_type.identity_fields is None
                        else list(p.logical_type.identity_fields)
                    ),
                    "description": p.logical_type.description,
                    "plugin": p.plugin,
                    "distribution": p.distribution,
                    "version": p.version,
                }
                for p in self.registry.logical_type_provisions()
            ],
            "failed": [
                {
                    "plugin": f.plugin,
                    "distribution": f.distribution,
                    "version": f.version,
                    "error": f.error,
                }
                for f in self.registry.failures
            ],
        }

    def print_table(self) -> None:
        """One aligned row per provided name, one per logical type, then notes on
        autoload and skipped plugins."""
        rows = [("KIND", "NAME", "DISTRIBUTION", "VERSION")]
        rows += [
            (str(p.kind), p.name, p.distribution, p.version) for p in self.registry.provisions()
        ]
        _print_aligned(rows)
        logical = [("LOGICAL TYPE", "CLASS", "DISTRIBUTION", "VERSION")]
        logical += [
            (p.name, _class_path(p.logical_type.python_class), p.distribution, p.version)
            for p in self.registry.logical_type_provisions()
        ]
        print()
        _print_aligned(logical)
        if not self.registry.autoload:
            print(
                f"\nPlugin autoloading is disabled ({AUTOLOAD_ENV_VAR}); only built-ins are listed."
            )
        failures = self.registry.failures
        if failures:
            print(f"\nSkipped {len(failures)} plugin(s) that failed to load:")
            for f in failures:
                print(f"  {f.plugin} ({f.distribution} {f.version}): {f.error}")


def _print_aligned(rows: Sequence[tuple[str, ...]]) -> None:
    rows = [tuple(escape_control(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _class_path(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def build_parser(registry: PluginRegistry) -> argparse.ArgumentParser:
    """The argument parser with every installed sub-command."""
    parser = argparse.ArgumentParser(
        prog="orcapod",
        description="orcapod: reproducible scientific data pipelines.",
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

    0 on success, 1 for an :class:`OrcapodError` (one line on stderr), 2 for no
    sub-command. A reader that goes away early (``orcapod logs URI | head -1``)
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
        return 2
    if args.command != "plugins":
        for failure in failures:
            _warn(failure.describe())
    try:
        status = int(command.run(args))
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at exit
        return status
    except OrcapodError as error:
        print(f"orcapod {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (``orcapod logs ... | head``): what it read was all it
        # wanted. Output still buffered is dropped, not reported as another error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE


def _warn(message: str) -> None:
    print(f"orcapod: warning: {message}", file=sys.stderr)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"orcapod-core {version('orcapod-core')}"
    except PackageNotFoundError:
        return "orcapod-core (not installed)"
