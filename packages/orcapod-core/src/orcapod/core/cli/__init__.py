"""The ``orcapod`` command line.

- ``_main``: the parser of every installed sub-command (core's and plugins',
  found through the plugin registry), ``main`` and its exit statuses;
- ``_host``: :class:`RegistryHost`, the services sub-commands receive;
- ``_commands``: the factories of core's own sub-commands, which the registry
  imports only when the parser is built;
- ``_plugins``: ``orcapod plugins``; ``_run``: ``orcapod run`` and ``orcapod demo``;
  ``_graph``: ``orcapod graph``;
- ``demo``: the demo's pipeline; ``_output``: what ``run`` and ``demo`` print.

The command line imports the registry and the pipeline; neither imports it.
"""

from orcapod.core.cli._host import RegistryHost
from orcapod.core.cli._main import build_parser, main

__all__ = ["RegistryHost", "build_parser", "main"]
