"""What orcapod-core itself provides, registered through the same hooks as any plugin.

``trylast=True`` lets an installed plugin deliberately take over a name. Nothing
here imports ``orcapod.core.cli``: the command line depends on the registry,
never the other way round.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orcapod.protocols.errors import StoreNotCreatableError
from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.core.types._logical import LogicalType
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.hooks import (
        CliCommand,
        CliCommandFactory,
        CliHost,
        DatabaseFactory,
        ExecutorFactory,
        ObserverFactory,
    )
    from orcapod.protocols.observability import ExecutionObserver

CLI_COMMANDS_MODULE = "orcapod.core.cli._commands"
"""Where core's own sub-commands are made; imported when one is first made, never before."""


def open_memory_database(uri: str, *, create: bool = True) -> ArrowDatabase:
    """A new, empty in-process database for ``memory://``.

    Raises:
        StoreNotCreatableError: ``create`` is false: an in-memory store exists only
            inside the process that made it, so there is none to open for reading
            (nor will a run make one another process could open).
    """
    from orcapod.core.databases import InMemoryArrowDatabase

    if uri.lower() != "memory://":
        raise ValueError(
            f"database URI {uri!r}: memory:// takes no location, since an in-memory "
            "database lives only as long as this process; for a store on disk use "
            "'delta://PATH' or 'sqlite:///PATH'"
        )
    if not create:
        raise StoreNotCreatableError(
            f"{uri!r} names no existing store: an in-memory database lives only inside the "
            "process that made it, and a new one is empty; read the store the pipeline "
            "wrote to instead, e.g. 'sqlite:///results.db' or 'delta://orcapod-data'"
        )
    return InMemoryArrowDatabase()


def make_local_executor(**options: Any) -> PacketFunctionExecutor:
    """The in-process executor, with capture: ``LocalExecutor(**options)``."""
    from orcapod.core.executors import LocalExecutor

    return LocalExecutor(**options)


def make_process_executor(**options: Any) -> PacketFunctionExecutor:
    """Worker processes of this machine, with capture: ``ProcessExecutor(**options)``."""
    from orcapod.core.executors import ProcessExecutor

    return ProcessExecutor(**options)


def make_noop_observer(**options: Any) -> ExecutionObserver:
    """The observer that observes nothing."""
    from orcapod.core._noop import NoOpObserver

    if options:
        raise TypeError(f"the 'noop' observer takes no options, got {sorted(options)}")
    return NoOpObserver()


@hookimpl(trylast=True)
def orcapod_database_schemes() -> Mapping[str, DatabaseFactory]:
    """``memory://``."""
    return {"memory": open_memory_database}


@hookimpl(trylast=True)
def orcapod_executors() -> Mapping[str, ExecutorFactory]:
    """``local`` and ``processes``."""
    return {"local": make_local_executor, "processes": make_process_executor}


@hookimpl(trylast=True)
def orcapod_observers() -> Mapping[str, ObserverFactory]:
    """``noop``."""
    return {"noop": make_noop_observer}


@hookimpl(trylast=True)
def orcapod_logical_types() -> list[LogicalType]:
    """``file`` and ``directory``."""
    from orcapod.core.types._logical import DIRECTORY_TYPE, FILE_TYPE

    return [FILE_TYPE, DIRECTORY_TYPE]


class LazyCliCommand:
    """A factory of one of core's own sub-commands that imports the command line only
    when called.

    The registry lists ``orcapod run`` without importing ``orcapod.core.cli`` (which
    imports the registry and the pipeline): the factory is named by the
    ``orcapod.core.cli._commands`` attribute that makes it, as an entry point is.
    """

    def __init__(self, factory: str) -> None:
        self.factory = factory

    def __call__(self, host: CliHost) -> CliCommand:
        module = importlib.import_module(CLI_COMMANDS_MODULE)
        make: CliCommandFactory = getattr(module, self.factory)
        return make(host)

    def __repr__(self) -> str:
        return f"LazyCliCommand({CLI_COMMANDS_MODULE}:{self.factory})"


@hookimpl(trylast=True)
def orcapod_cli_commands() -> Mapping[str, CliCommandFactory]:
    """``orcapod plugins``, ``demo``, ``run``, ``verify``, ``explain``, ``graph`` and
    ``compact``."""
    names = ("plugins", "demo", "run", "verify", "explain", "graph", "compact")
    return {name: LazyCliCommand(f"make_{name}_command") for name in names}
