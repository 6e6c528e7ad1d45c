"""The services sub-commands receive: orcapod's own :class:`~orcapod.protocols.hooks.CliHost`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcapod.core.plugins import PluginRegistry
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["RegistryHost"]


class RegistryHost:
    """The services sub-commands receive (``orcapod.protocols.hooks.CliHost``), backed by
    a plugin registry."""

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
