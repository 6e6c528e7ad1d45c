"""StatusObserver: an append-only log of every packet's states."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.observers._layout import STATUS_BRANCH, STATUS_COLUMNS
from orcapod.observers._tables import NodeContext, TableObserver, now

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.observability import ExecutionObserver

__all__ = ["StatusObserver"]

_MAX_SUMMARY = 500


class StatusObserver(TableObserver):
    """Stores append-only status events per packet, under the pipeline's ``_status`` branch.

    ``RUNNING`` when a packet starts computing; then ``SUCCESS`` or ``FAILED``
    (with a one-line ``__error_summary``); or ``CACHED`` for a packet whose
    result was stored already, with the id of the run that computed it. The
    current state of a packet is its latest event; a ``RUNNING`` with no later
    event in a run that ended means the process died. The run's start and end
    are recorded too (``_runs``).

    Args:
        database: where events go (often the pipeline's own).
        flush_every: events buffered before they are written.
        flush_interval: seconds after which buffered events are written.
    """

    context_class: type[NodeContext]


class _StatusContext(NodeContext):
    branch = STATUS_BRANCH
    fixed = STATUS_COLUMNS

    def _event(
        self,
        tag: Tag,
        state: str,
        error: str | None = None,
        source_run_id: str | None = None,
        attempt: int = 1,
    ) -> None:
        self.parent.add(self.sink, (state, now(), attempt, error, source_run_id, tag))

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        self._event(tag, "RUNNING")

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
        if cached:
            self._event(tag, "CACHED", source_run_id=source_run_id)
        else:
            self._event(tag, "SUCCESS")

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        summary = f"{type(error).__name__}: {error}".splitlines()[0][:_MAX_SUMMARY]
        self._event(tag, "FAILED", error=summary)


StatusObserver.context_class = _StatusContext


if TYPE_CHECKING:
    _satisfies_the_protocol: ExecutionObserver = StatusObserver(...)  # type: ignore[arg-type]
