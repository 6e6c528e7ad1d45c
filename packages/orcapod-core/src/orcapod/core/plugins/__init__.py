"""The plugin registry: what installed plugins provide, found through entry points.

Entry points of the ``orcapod`` group are loaded on first use, once per
process; ``import orcapod.core`` does not touch them. Set
``ORCAPOD_DISABLE_PLUGIN_AUTOLOAD=1`` to load only the built-ins.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from orcapod.core.plugins._registry import (
    AUTOLOAD_ENV_VAR,
    ENTRY_POINT_GROUP,
    LogicalTypeProvision,
    PluginFailure,
    PluginProvision,
    PluginRegistry,
)
from orcapod.protocols.database import creating_no_stores, may_create_stores
from orcapod.protocols.errors import StoreNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import ExecutionObserver

__all__ = [
    "AUTOLOAD_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "LogicalTypeProvision",
    "PluginFailure",
    "PluginProvision",
    "PluginRegistry",
    "creating_nothing",
    "default_registry",
    "get_executor",
    "get_observer",
    "open_database",
]

_default: PluginRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> PluginRegistry:
    """The registry of this process, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginRegistry()
        return _default


def open_database(uri: str, *, create: bool = True) -> ArrowDatabase:
    """Open a database by URI: ``memory://``, ``delta://PATH``, ``sqlite:///PATH``, ...

    Args:
        uri: ``scheme://location``.
        create: create the store if it does not exist (the default). Pass
            ``create=False`` to read a store that must exist already: a missing
            SQLite file, Delta root or PostgreSQL database is then an error, and
            nothing is created. ``memory://`` with ``create=False`` is always an
            error: a new in-memory store is empty, so there is nothing to read.

    Raises:
        StoreNotFoundError: ``create`` is false and the store does not exist.
        PluginNotFoundError: no installed plugin handles the scheme; says what to install.
    """
    if not may_create_stores():
        try:
            return default_registry().open_database(uri, create=False)
        except StoreNotFoundError:
            from orcapod.core.databases import InMemoryArrowDatabase

            return InMemoryArrowDatabase()
    return default_registry().open_database(uri, create=create)


@contextmanager
def creating_nothing() -> Iterator[None]:
    """Within it, no store is created, for commands that only read.

    :func:`open_database` opens a store that exists as usual; one that does
    not (and ``memory://``) opens as a new, empty in-memory store. Store
    classes constructed meanwhile (``DeltaTableDatabase(path)``,
    ``SQLDatabase(url)``) create nothing either
    (:func:`orcapod.protocols.database.creating_no_stores`). So code that
    names a store it would create on first use (a pipeline file drawn by
    ``orcapod graph``) runs without leaving one behind, and reads nothing
    from it.
    """
    with creating_no_stores():
        yield


def get_executor(name: str, **options: Any) -> PacketFunctionExecutor:
    """A new executor by name (``"local"``, ``"ray"``), made with ``options``.

    Raises:
        PluginNotFoundError: no installed plugin provides it; says what to install.
    """
    return default_registry().get_executor(name, **options)


def get_observer(name: str, **options: Any) -> ExecutionObserver:
    """A new observer by name (``"noop"``, ``"logging"``), made with ``options``.

    Raises:
        PluginNotFoundError: no installed plugin provides it; says what to install.
    """
    return default_registry().get_observer(name, **options)
