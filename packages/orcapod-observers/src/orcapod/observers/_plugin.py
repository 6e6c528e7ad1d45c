"""The entry point of orcapod-observers: the ``logging``, ``status``, ``composite``
and ``progress`` observers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.protocols.hooks import ObserverFactory
    from orcapod.protocols.observability import ExecutionObserver


def _not_implemented(class_name: str) -> Callable[..., ExecutionObserver]:
    def factory(**options: Any) -> ExecutionObserver:
        from orcapod.protocols.errors import NotAvailableError

        raise NotAvailableError(
            f"{class_name} is not implemented in this release of orcapod-observers; "
            "the 'noop' observer is the only one available until it is"
        )

    return factory


@hookimpl
def orcapod_observers() -> Mapping[str, ObserverFactory]:
    """``logging``, ``status``, ``composite`` and ``progress``."""
    return {
        "logging": _not_implemented("LoggingObserver"),
        "status": _not_implemented("StatusObserver"),
        "composite": _not_implemented("CompositeObserver"),
        "progress": _not_implemented("ProgressObserver"),
    }
