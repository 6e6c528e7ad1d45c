"""Contracts of executors: where and how a packet function runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import pyarrow as pa

    from orcapod.protocols.data import Schema
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.pods import PacketFunction

__all__ = ["PacketFunctionExecutor", "PythonFunctionExecutor", "StringSchema"]


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


class StringSchema:
    """A declared schema of executor data: an ordered set of names, each of type ``str``.

    Executor data maps ``str`` to ``str``, so this small implementation of the
    ``orcapod.protocols.data.Schema`` contract is all an executor plugin needs for
    :meth:`PacketFunctionExecutor.get_executor_data_schema` (without orcapod-core).

    Args:
        names: the column names, in order.
    """

    __slots__ = ("_names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names

    def __repr__(self) -> str:
        return f"StringSchema({', '.join(self._names)})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringSchema):
            return self._names == other._names
        items = getattr(other, "items", None)
        return callable(items) and list(items()) == list(self.items())

    def __hash__(self) -> int:
        return hash(self._names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(f"no column {name!r}; the columns are {list(self._names)}")
        return str

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, ``str``) pairs in column order."""
        return ((name, str) for name in self._names)

    def to_arrow(self) -> pa.Schema:
        """Non-nullable ``large_string`` fields, as orcapod stores ``str`` columns."""
        import pyarrow as pa

        return pa.schema(
            [pa.field(name, pa.large_string(), nullable=False) for name in self._names]
        )
