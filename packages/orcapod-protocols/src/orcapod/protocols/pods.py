"""Contracts of pods: operators, function pods and the packet functions behind them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orcapod.protocols.data import ContentIdentifiable, PipelineIdentifiable

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.streams import Stream

__all__ = ["FunctionPod", "PacketFunction", "Pod"]


@runtime_checkable
class Pod(ContentIdentifiable, PipelineIdentifiable, Protocol):
    """Something that turns input streams into one output stream.

    Calling a pod returns a lazy stream; inside a pipeline the call is also
    recorded as a node.
    """

    @property
    def label(self) -> str | None:
        """A human name for this pod, if one was given."""
        ...

    def output_schema(self, *streams: Stream) -> tuple[Schema, Schema]:
        """(tag schema, packet schema) of the output for these inputs.

        Raises:
            OrcapodError: the inputs do not fit this pod, naming what and why.
        """
        ...

    def __call__(self, *streams: Stream, label: str | None = None) -> Stream: ...


@runtime_checkable
class PacketFunction(ContentIdentifiable, Protocol):
    """A computation from one input packet to one output packet.

    Its content hash is the function's identity: name, declared version,
    input and output schemas and a hash of its normalised code.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def input_schema(self) -> Schema: ...

    def output_schema(self) -> Schema: ...

    @property
    def executor(self) -> PacketFunctionExecutor | None:
        """Where calls run; ``None`` means directly in this process, uncaptured."""
        ...

    @executor.setter
    def executor(self, executor: PacketFunctionExecutor | None) -> None: ...

    def call(self, packet: Packet, *, logger: PacketExecutionLogger | None = None) -> Packet | None:
        """Compute the output packet, or raise the function's own exception.

        The logger is handed down to the executor, which records what the call
        printed and logged; nothing about capture comes back in the result.
        """
        ...

    async def async_call(
        self, packet: Packet, *, logger: PacketExecutionLogger | None = None
    ) -> Packet | None:
        """As :meth:`call`, without blocking the event loop."""
        ...

    def get_execution_data(self) -> dict[str, Any]:
        """The execution context stored with each result.

        Keys: ``executor_type``, ``executor_info`` (dict[str, str]),
        ``python_version``, ``extra_info`` (dict[str, str]).
        """
        ...

    def get_execution_data_schema(self) -> Schema:
        """The declared types of :meth:`get_execution_data`."""
        ...


@runtime_checkable
class FunctionPod(Pod, Protocol):
    """A pod applying a packet function to every packet of one input stream."""

    @property
    def packet_function(self) -> PacketFunction: ...

    def process_packet(
        self, tag: Tag, packet: Packet, *, logger: PacketExecutionLogger | None = None
    ) -> tuple[Tag, Packet | None]:
        """Compute one row's output, or raise the function's own exception."""
        ...
