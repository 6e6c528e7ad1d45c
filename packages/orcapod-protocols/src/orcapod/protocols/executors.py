"""Contracts of executors: where and how a packet function runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.protocols.data import Schema
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.pods import PacketFunction

__all__ = ["PacketFunctionExecutor", "PythonFunctionExecutor"]


@runtime_checkable
class PacketFunctionExecutor(Protocol):
    """The slim base of every executor: identity, compatibility and lifecycle.

    Kept free of anything Python-specific so executors for other kinds of
    packet functions (a container, a remote service) fit the same slot.
    """

    @property
    def executor_type(self) -> str:
        """A short stable name of the kind of executor, e.g. ``"local"`` or ``"ray"``."""
        ...

    def supports(self, packet_function: PacketFunction) -> bool:
        """Whether this executor can run ``packet_function``."""
        ...

    def with_options(self, **options: Any) -> Self:
        """A new executor like this one with ``options`` changed; this one is untouched.

        Raises:
            TypeError: an option this executor does not know, naming it.
        """
        ...

    def get_executor_data(self) -> dict[str, str]:
        """What to record about where calls ran (versions, addresses, resources)."""
        ...

    def get_executor_data_schema(self) -> Schema:
        """The declared keys and types of :meth:`get_executor_data`."""
        ...

    def setup(self) -> None:
        """Acquire what calls need (a cluster connection, ...). Idempotent."""
        ...

    def teardown(self) -> None:
        """Release what :meth:`setup` acquired. Idempotent."""
        ...


@runtime_checkable
class PythonFunctionExecutor(PacketFunctionExecutor, Protocol):
    """An executor of plain Python callables."""

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """Call ``fn(**kwargs)`` under capture and return its value.

        What the call printed and logged is passed to ``logger.record(...)``
        (see ``ExecutionRecordFields``) whether it succeeds or fails; then the
        user's exception, if any, is re-raised unchanged.
        """
        ...

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """As :meth:`execute_callable`, without blocking the event loop."""
        ...
