"""The plugin hooks of orcapod, and the markers plugins implement them with.

A plugin is a module (or object) with functions decorated ``@hookimpl`` and
named after the specs below, declared as an entry point in the ``orcapod``
group::

    [project.entry-points.orcapod]
    my-plugin = "my_package._plugin"

Every hook takes no arguments. All but one return a mapping of *name* to
*factory*: all implementations are called and their mappings merged; a name
claimed by two plugins is reported and the first claim wins, where plugins
come before orcapod's built-ins (which register with ``trylast=True``).
Factories are called only when the user asks for that name, so a plugin
module imports its heavy dependencies inside its factories, never at module
level.

``orcapod_logical_types`` returns a list of logical types instead
(:class:`~orcapod.protocols.logical_types.LogicalTypeSpec`): Python classes
orcapod can then store. It is called once per process, the first time orcapod
looks up how to store a type (declaring a function pod, converting values,
reading a stored column), and by ``orcapod plugins``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

import pluggy

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.logical_types import LogicalTypeDefinition
    from orcapod.protocols.observability import ExecutionObserver

__all__ = [
    "PROJECT_NAME",
    "CliCommand",
    "CliCommandFactory",
    "CliHost",
    "DatabaseFactory",
    "ExecutorFactory",
    "ObserverFactory",
    "hookimpl",
    "hookspec",
    "orcapod_cli_commands",
    "orcapod_database_schemes",
    "orcapod_executors",
    "orcapod_logical_types",
    "orcapod_observers",
]

PROJECT_NAME = "orcapod"
"""The pluggy project name, which is also the entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

DatabaseFactory: TypeAlias = "Callable[..., ArrowDatabase]"
"""Called as ``factory(uri, create=...)``; returns an open database.

``uri`` is the whole URI (``"delta:///data/store"``). ``create`` is a
keyword-only ``bool``, true by default: with ``create=False`` the store must
already exist, and a missing one raises
:class:`~orcapod.protocols.errors.StoreNotFoundError` naming the URI and
creating nothing (no file, no directory, no table). Read-only commands
(``orcapod runs``, ``orcapod verify``) open stores that way. Write the
factory as ``def open_my_store(uri: str, *, create: bool = True)``.

A factory written before ``create`` existed (``def open_my_store(uri)``)
still works: orcapod calls it with the URI alone when ``create`` is true, and
when it is false calls it the same way after a warning naming the scheme and
the plugin, since such a factory may create the store it was asked to read.
"""

ExecutorFactory: TypeAlias = "Callable[..., PacketFunctionExecutor]"
"""Called with the user's keyword options; returns a new executor."""

ObserverFactory: TypeAlias = "Callable[..., ExecutionObserver]"
"""Called with the user's keyword options (``database=...``); returns a new observer."""


@runtime_checkable
class CliHost(Protocol):
    """Services the ``orcapod`` command offers to plugin sub-commands.

    Sub-commands receive it instead of importing ``orcapod.core``.
    """

    def open_database(self, uri: str, *, create: bool = True) -> ArrowDatabase:
        """Open a database by URI through every installed database plugin.

        With ``create=False`` a missing store raises
        :class:`~orcapod.protocols.errors.StoreNotFoundError` and nothing is
        created: sub-commands that only read pass it.
        """
        ...

    def get_executor(self, name: str, **options: Any) -> PacketFunctionExecutor:
        """A new executor of an installed kind."""
        ...

    def get_observer(self, name: str, **options: Any) -> ExecutionObserver:
        """A new observer of an installed kind."""
        ...


@runtime_checkable
class CliCommand(Protocol):
    """One sub-command of the ``orcapod`` command line."""

    @property
    def help(self) -> str:
        """One line shown in ``orcapod --help``."""
        ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the sub-command's arguments on its own parser."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Carry out the command; the return value is the process exit status."""
        ...


CliCommandFactory: TypeAlias = "Callable[[CliHost], CliCommand]"
"""Called with the host's services when the sub-command is about to run or be listed."""


@hookspec
def orcapod_database_schemes() -> Mapping[str, DatabaseFactory]:  # type: ignore[empty-body]
    """URI schemes this plugin opens databases for.

    Returns:
        Scheme (``"delta"``, ``"sqlite"``, without ``://``) to a factory called
        with the whole URI and the keyword ``create`` (see :data:`DatabaseFactory`).
    """


@hookspec
def orcapod_executors() -> Mapping[str, ExecutorFactory]:  # type: ignore[empty-body]
    """Executors this plugin provides.

    Returns:
        Name (``"ray"``) to a factory called with ``**options``.
    """


@hookspec
def orcapod_observers() -> Mapping[str, ObserverFactory]:  # type: ignore[empty-body]
    """Execution observers this plugin provides.

    Returns:
        Name (``"logging"``) to a factory called with ``**options``.
    """


@hookspec
def orcapod_cli_commands() -> Mapping[str, CliCommandFactory]:  # type: ignore[empty-body]
    """Sub-commands this plugin adds to the ``orcapod`` command line.

    Returns:
        Sub-command name (``"logs"``) to a factory called with a :class:`CliHost`.
    """


@hookspec
def orcapod_logical_types() -> Sequence[LogicalTypeDefinition]:  # type: ignore[empty-body]
    """Logical types this plugin provides: Python classes orcapod can then store.

    Called once per process, the first time orcapod looks up how to store a
    type (declaring a function pod, converting values, reading a stored
    column), so keep it cheap; the classes must be importable then.
    Each type is registered on its own: one that is malformed, or whose name or
    class another type already has, is reported naming this plugin and
    skipped, and the others are kept.

    Returns:
        A list of :class:`~orcapod.protocols.logical_types.LogicalTypeSpec`
        (or of any objects with the attributes of
        :class:`~orcapod.protocols.logical_types.LogicalTypeDefinition`).
    """
