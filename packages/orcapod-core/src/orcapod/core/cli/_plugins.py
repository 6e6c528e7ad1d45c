"""``orcapod plugins``: what is installed, from which distribution, and what failed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orcapod.core.plugins import AUTOLOAD_ENV_VAR
from orcapod.protocols.text import escape_control, print_table

if TYPE_CHECKING:
    import argparse

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
        print_table(
            ["KIND", "NAME", "DISTRIBUTION", "VERSION"],
            [(p.kind, p.name, p.distribution, p.version) for p in self.registry.provisions()],
        )
        print()
        print_table(
            ["LOGICAL TYPE", "CLASS", "DISTRIBUTION", "VERSION"],
            [
                (p.name, _class_path(p.logical_type.python_class), p.distribution, p.version)
                for p in self.registry.logical_type_provisions()
            ],
        )
        if not self.registry.autoload:
            print(
                f"\nPlugin autoloading is disabled ({AUTOLOAD_ENV_VAR}); only built-ins are listed."
            )
        failures = self.registry.failures
        if failures:
            print(f"\nSkipped {len(failures)} plugin(s) that failed to load:")
            for f in failures:
                print(escape_control(f"  {f.plugin} ({f.distribution} {f.version}): {f.error}"))


def _class_path(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"
