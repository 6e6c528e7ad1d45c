"""The entry point of orcapod-observers: its observers and its command-line sub-commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.hooks import CliCommandFactory, ObserverFactory
    from orcapod.protocols.observability import ExecutionObserver


def make_logging_observer(**options: Any) -> ExecutionObserver:
    """``LoggingObserver(database=...)``."""
    from orcapod.observers._logging import LoggingObserver

    return LoggingObserver(**options)


def make_status_observer(**options: Any) -> ExecutionObserver:
    """``StatusObserver(database=...)``."""
    from orcapod.observers._status import StatusObserver

    return StatusObserver(**options)


def make_composite_observer(*, observers: Any = ()) -> ExecutionObserver:
    """``CompositeObserver(*observers)``."""
    from orcapod.observers._composite import CompositeObserver

    return CompositeObserver(*observers)


def make_progress_observer(**options: Any) -> ExecutionObserver:
    """``ProgressObserver(file=..., leave=..., min_interval=..., force=...)``."""
    from orcapod.observers._progress import ProgressObserver

    return ProgressObserver(**options)


@hookimpl
def orcapod_observers() -> Mapping[str, ObserverFactory]:
    """``logging``, ``status``, ``composite`` and ``progress``."""
    return {
        "logging": make_logging_observer,
        "status": make_status_observer,
        "composite": make_composite_observer,
        "progress": make_progress_observer,
    }


@hookimpl
def orcapod_cli_commands() -> Mapping[str, CliCommandFactory]:
    """``orcapod runs``, ``status``, ``logs``, ``results`` and ``report``."""
    from orcapod.observers._cli import cli_commands

    return cli_commands()
