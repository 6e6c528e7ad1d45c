"""The factories of orcapod-core's own sub-commands, as the plugin registry calls them.

The registry names them by attribute (see ``orcapod.core.plugins._builtins``)
and imports this module only when ``orcapod`` builds its parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.core.cli._host import RegistryHost

if TYPE_CHECKING:
    from orcapod.protocols.hooks import CliCommand, CliHost

__all__ = [
    "make_compact_command",
    "make_demo_command",
    "make_explain_command",
    "make_graph_command",
    "make_plugins_command",
    "make_run_command",
    "make_verify_command",
]


def make_plugins_command(host: CliHost) -> CliCommand:
    """``orcapod plugins``, which reads the host's own registry."""
    from orcapod.core.cli._plugins import PluginsCommand

    return PluginsCommand(_registry_host(host, "plugins").registry)


def make_demo_command(host: CliHost) -> CliCommand:
    """``orcapod demo``."""
    from orcapod.core.cli._run import DemoCommand

    return DemoCommand(_registry_host(host, "demo"))


def make_run_command(host: CliHost) -> CliCommand:
    """``orcapod run FILE.py``."""
    from orcapod.core.cli._run import RunCommand

    return RunCommand(_registry_host(host, "run"))


def make_verify_command(host: CliHost) -> CliCommand:
    """``orcapod verify URI``."""
    from orcapod.core._verify import VerifyCommand

    return VerifyCommand(host)


def make_explain_command(host: CliHost) -> CliCommand:
    """``orcapod explain URI --node N``."""
    from orcapod.core.pipeline._explain import ExplainCommand

    return ExplainCommand(host)


def make_graph_command(host: CliHost) -> CliCommand:
    """``orcapod graph FILE.py``."""
    from orcapod.core.cli._graph import GraphCommand

    return GraphCommand(_registry_host(host, "graph"))


def make_compact_command(host: CliHost) -> CliCommand:
    """``orcapod compact URI``."""
    from orcapod.core.cli._compact import CompactCommand

    return CompactCommand(host)


def _registry_host(host: CliHost, command: str) -> RegistryHost:
    """``host``, which must be orcapod's own: these commands read its registry."""
    if not isinstance(host, RegistryHost):
        raise TypeError(f"'orcapod {command}' needs orcapod's own command-line host, got {host!r}")
    return host
