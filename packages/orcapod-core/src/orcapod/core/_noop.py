"""The default observer: it observes nothing, so no caller needs an ``is None`` check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["NoOpObserver", "NoOpPacketLogger"]


class NoOpPacketLogger:
    """A packet logger that discards every record."""

    keeps_records = False

    def record(self, **fields: Any) -> None:
        """Discard ``fields``."""


_NOOP_LOGGER = NoOpPacketLogger()


class NoOpObserver:
    """An execution observer whose hooks do nothing.

    Stateless, so one instance serves every node and run; :meth:`contextualize`
    returns the observer itself. It cannot fail, so a run does not isolate it.
    """

    isolates_failures = True

    def on_run_start(self, run: RunInfo) -> None:
        """Ignore the start of a run."""

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """Ignore the end of a run."""

    def flush(self) -> None:
        """Nothing is buffered: nothing to write."""

    def contextualize(self, *pipeline_path: str) -> NoOpObserver:
        """This observer: there is no per-node state to bind."""
        return self

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        """Ignore the start of a node."""

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        """Ignore the end of a node."""

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        """Ignore the start of a packet."""

    def on_packet_end(
        self,
        node_label: str,
        tag: Tag,
        input_packet: Packet,
        output_packet: Packet | None,
        *,
        cached: bool,
        source_run_id: str | None = None,
    ) -> None:
        """Ignore a packet's result."""

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        """Ignore a packet's failure."""

    def create_packet_logger(self, tag: Tag, packet: Packet) -> NoOpPacketLogger:
        """A logger that discards every record."""
        return _NOOP_LOGGER
