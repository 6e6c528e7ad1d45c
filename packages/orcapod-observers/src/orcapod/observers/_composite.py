"""CompositeObserver: several observers as one, each isolated from the others' failures."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from orcapod.observers._discard import DISCARD
from orcapod.observers._tables import QuietHooks

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["CompositeObserver"]

_log = logging.getLogger("orcapod.observers")


class CompositeObserver:
    """Hands every hook to every child observer, in order.

    Its packet logger hands each ``record`` to every child's logger. An
    exception raised by a child (in any hook, or its logger) is logged, naming
    the child and the hook, and goes no further: the run and the other
    children carry on as if that child were not there.

    Args:
        observers: the children.
    """

    def __init__(self, *observers: ExecutionObserver) -> None:
        self.observers: tuple[ExecutionObserver, ...] = observers
        # The per-packet hooks, bound once; a child's hook that does nothing is left out.
        self._packet_start = _bound(observers, "on_packet_start")
        self._packet_end = _bound(observers, "on_packet_end")
        self._packet_crash = _bound(observers, "on_packet_crash")
        self._packet_logger = _bound(observers, "create_packet_logger")

    def __repr__(self) -> str:
        return f"CompositeObserver({', '.join(map(repr, self.observers))})"

    def _each(self, hook: str, *args: Any, **kwargs: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args, **kwargs)
            except Exception:
                _failed(observer, hook)

    def on_run_start(self, run: RunInfo) -> None:
        self._each("on_run_start", run)

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        self._each("on_run_end", run, outcome)

    def contextualize(self, *pipeline_path: str) -> CompositeObserver:
        children = []
        for observer in self.observers:
            try:
                children.append(observer.contextualize(*pipeline_path))
            except Exception:
                _log.exception("observer %r failed in contextualize; it skips this node", observer)
        return CompositeObserver(*children)

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        self._each("on_node_start", node_label, node_hash, tag_schema)

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._each("on_node_end", node_label, node_hash)

    # The hooks called per packet are written out: they run a hundred thousand times.

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        for observer, hook in self._packet_start:
            try:
                hook(node_label, tag, packet)
            except Exception:
                _failed(observer, "on_packet_start")

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
        for observer, hook in self._packet_end:
            try:
                hook(
                    node_label,
                    tag,
                    input_packet,
                    output_packet,
                    cached=cached,
                    source_run_id=source_run_id,
                )
            except Exception:
                _failed(observer, "on_packet_end")

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        for observer, hook in self._packet_crash:
            try:
                hook(node_label, tag, packet, error)
            except Exception:
                _failed(observer, "on_packet_crash")

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """A logger handing each record to every child's logger.

        It keeps records when one of them does; when none does, the call is
        not captured, and no child hears of it.
        """
        loggers = []
        keeps = False
        for observer, hook in self._packet_logger:
            try:
                logger = hook(tag, packet)
            except Exception:
                _failed(observer, "create_packet_logger")
                continue
            if logger is not DISCARD:
                loggers.append((observer, logger))
                keeps = keeps or getattr(logger, "keeps_records", True)
        return _FanOutLogger(loggers) if keeps else DISCARD


class _FanOutLogger:
    """Hands each record to every child observer's logger, isolating their failures.

    A child logger with a ``record_fields(fields)`` method (this package's own)
    gets the fields as they came, without being unpacked and packed again.
    """

    __slots__ = ("loggers",)
    keeps_records = True  # made only when at least one child's logger keeps records

    def __init__(self, loggers: Sequence[tuple[ExecutionObserver, PacketExecutionLogger]]) -> None:
        self.loggers = loggers

    def record(self, **fields: Any) -> None:
        for observer, logger in self.loggers:
            try:
                take = getattr(logger, "record_fields", None)
                if take is not None:
                    take(fields)
                else:
                    logger.record(**fields)
            except Exception:
                _log.exception("the packet logger of observer %r failed in record", observer)


def _bound(
    observers: Sequence[ExecutionObserver], hook: str
) -> list[tuple[ExecutionObserver, Callable[..., Any]]]:
    """Each observer with its bound ``hook``, leaving out hooks known to do nothing."""
    quiet = getattr(QuietHooks, hook)
    return [
        (observer, getattr(observer, hook))
        for observer in observers
        if getattr(type(observer), hook, None) is not quiet
    ]


def _failed(observer: ExecutionObserver, hook: str) -> None:
    _log.exception("observer %r failed in %s; the run goes on without it", observer, hook)


if TYPE_CHECKING:
    _satisfies_the_protocol: ExecutionObserver = CompositeObserver()
