"""What orcapod-core itself provides, registered through the same hooks as any plugin.

``trylast=True`` lets an installed plugin deliberately take over a name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.errors import StoreNotFoundError
from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.core.cli import RegistryHost
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


def open_memory_database(uri: str, *, create: bool = True) -> ArrowDatabase:
    """A new, empty in-process database for ``memory://``.

    Raises:
        StoreNotFoundError: ``create`` is false: an in-memory store exists only
            inside the process that made it, so there is none to open for reading.
    """
    from orcapod.core.databases import InMemoryArrowDatabase

    if uri.lower() != "memory://":
        raise ValueError(
            f"database URI {uri!r}: memory:// takes no location, since an in-memory "
            "database lives only as long as this process; for a store on disk use "
            "'delta://PATH' or 'sqlite:///PATH'"
        )
    if not create:
        raise StoreNotFoundError(
            f"{uri!r} names no existing store: an in-memory database lives only inside the "
            "process that made it, and a new one is empty; read the store the pipeline "
            "wrote to instead, e.g. 'sqlite:///results.db' or 'delta://orcapod-data'"
        )
    return InMemoryArrowDatabase()


def make_local_executor(**options: Any) -> PacketFunctionExecutor:
    """The in-process executor, with capture: ``LocalExecutor(**options)``."""
    from orcapod.core.executors import LocalExecutor

    return LocalExecutor(**options)


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
    """``local``."""
    return {"local": make_local_executor}


@hookimpl(trylast=True)
def orcapod_observers() -> Mapping[str, ObserverFactory]:
    """``noop``."""
    return {"noop": make_noop_observer}


@hookimpl(trylast=True)
def orcapod_logical_types() -> list[LogicalType]:
    """``file`` and ``directory``."""
    from orcapod.core.types._logical import DIRECTORY_TYPE, FILE_TYPE

    return [FILE_TYPE, DIRECTORY_TYPE]


def make_plugins_command(host: CliHost) -> CliCommand:
    """``orcapod plugins``, which reads the host's own registry."""
    from orcapod.core.cli import PluginsCommand, RegistryHost

    if not isinstance(host, RegistryHost):
        raise TypeError(f"'orcapod plugins' needs orcapod's own command-line host, got {host!r}")
    return PluginsCommand(host.registry)


def make_demo_command(host: CliHost) -> CliCommand:
    """``orcapod demo``."""
    from orcapod.core._cli_run import DemoCommand

    return DemoCommand(_registry_host(host, "demo"))


def make_run_command(host: CliHost) -> CliCommand:
    """``orcapod run FILE.py``."""
    from orcapod.core._cli_run import RunCommand

    return RunCommand(_registry_host(host, "run"))


def make_verify_command(host: CliHost) -> CliCommand:
    """``orcapod verify URI``."""
    from orcapod.core._verify import VerifyCommand

    return VerifyCommand(_registry_host(host, "verify"))


def make_explain_command(host: CliHost) -> CliCommand:
    """``orcapod explain URI --node N``."""
    from orcapod.core.pipeline._explain import ExplainCommand

    return ExplainCommand(_registry_host(host, "explain"))


def _registry_host(host: CliHost, command: str) -> RegistryHost:
    from orcapod.core.cli import RegistryHost

    if not isinstance(host, RegistryHost):
        raise TypeError(f"'orcapod {command}' needs orcapod's own command-line host, got {host!r}")
    return host


@hookimpl(trylast=True)
def orcapod_cli_commands() -> Mapping[str, CliCommandFactory]:
    """``orcapod plugins``, ``demo``, ``run``, ``verify`` and ``explain``."""
    return {
        "plugins": make_plugins_command,
        "demo": make_demo_command,
        "run": make_run_command,
        "verify": make_verify_command,
        "explain": make_explain_command,
    }
