"""``orcapod plugins``: what is installed, from which distribution, and what failed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orcapod.core.plugins import AUTOLOAD_ENV_VAR
from orcapod.protocols.text import escape_control

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from orcapod.core.plugins import PluginRegistry

__all__ = ["PluginsCommand"]


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
