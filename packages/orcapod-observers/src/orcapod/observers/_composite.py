"""CompositeObserver: several observers as one, each isolated from the others' failures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from orcapod.observers._discard import DISCARD
from orcapod.observers._tables import NodeContext, QuietHooks
from orcapod.protocols.isolation import DISCARD as SKIPPED_LOGGER
from orcapod.protocols.isolation import Isolation

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["CompositeObserver"]

_Bound = list[tuple[Isolation, "Callable[..., Any]"]]


class CompositeObserver:
    """Hands every hook to every child observer, in order.

    Its packet logger hands each ``record`` to every child's logger, and
    :meth:`flush` flushes every child that has a ``flush``. Each child is
    isolated as :func:`orcapod.protocols.isolation.isolate` isolates an
    observer: the first exception a child raises (in any hook, its logger or
    its flush) is logged as an ERROR naming the child and the hook, and the
    child is then skipped for the rest of the run, its node contexts and
    loggers included; the run and the other children carry on. The next
    run's ``on_run_start`` gives it another chance.

    Args:
        observers: the children.
    """

    isolates_failures: ClassVar[bool] = True

    def __init__(self, *observers: ExecutionObserver) -> None:
        self._join(observers, tuple(Isolation(observer) for observer in observers))

    def _join(
        self, observers: tuple[ExecutionObserver, ...], isolations: tuple[Isolation, ...]
    ) -> None:
        self.observers: tuple[ExecutionObserver, ...] = observers
        self._isolations = isolations
        # The per-packet hooks and flush, bound once; a child's hook that does nothing
        # (or that it does not have) is left out.
        self._packet_start = _bound(observers, isolations, "on_packet_start")
        self._packet_end = _bound(observers, isolations, "on_packet_end")
        self._packet_crash = _bound(observers, isolations, "on_packet_crash")
        # This package's node contexts record by record_packet(tag, fields), called by
        # one fan-out logger per packet; the other children make loggers of their own.
        self._recorders: list[tuple[Isolation, Callable[..., Any], bool]] = []
        for observer, isolation in zip(observers, isolations, strict=True):
            record_packet = _recorder(observer)
            if record_packet is not None:
                keeps = bool(getattr(observer, "record_keeps", True))
                self._recorders.append((isolation, record_packet, keeps))
        recording = {id(observer) for observer in observers if _recorder(observer) is not None}
        self._packet_logger = _bound(
            [o for o in observers if id(o) not in recording],
            [i for o, i in zip(observers, isolations, strict=True) if id(o) not in recording],
            "create_packet_logger",
        )
        self._flush = _bound(observers, isolations, "flush")
        # optional: a child written before them lacks them and is not told
        self._node_inputs = _bound(observers, isolations, "on_node_inputs")
        self._node_progress = _bound(observers, isolations, "on_node_progress")

    def __repr__(self) -> str:
        return f"CompositeObserver({', '.join(map(repr, self.observers))})"

    def _each(self, hook: str, *args: Any) -> None:
        for isolation, observer in zip(self._isolations, self.observers, strict=True):
            if isolation.failed:
                continue
            try:
                getattr(observer, hook)(*args)
            except Exception as error:
                isolation.fail(hook, error)

    def on_run_start(self, run: RunInfo) -> None:
        for isolation in self._isolations:
            isolation.reset()
        self._each("on_run_start", run)

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """Every child hears how the run ended, one skipped since it failed too: its
        record of the run's end is what tells readers the run is over (a failure
        here is reported only if it is the child's first)."""
        for isolation, observer in zip(self._isolations, self.observers, strict=True):
            try:
                observer.on_run_end(run, outcome)
            except Exception as error:
                isolation.fail("on_run_end", error)

    def flush(self) -> None:
        """Flush every child that can (a child written before ``flush`` is skipped)."""
        for isolation, flush in self._flush:
            if isolation.failed:
                continue
            try:
                flush()
            except Exception as error:
                isolation.fail("flush", error)

    def contextualize(self, *pipeline_path: str) -> CompositeObserver:
        """The children's observers of one node, each sharing its parent's isolation."""
        children: list[ExecutionObserver] = []
        isolations: list[Isolation] = []
        for isolation, observer in zip(self._isolations, self.observers, strict=True):
            if isolation.failed:
                continue
            try:
                children.append(observer.contextualize(*pipeline_path))
            except Exception as error:
                isolation.fail("contextualize", error)
                continue
            isolations.append(isolation)
        composite = object.__new__(CompositeObserver)
        composite._join(tuple(children), tuple(isolations))
        return composite

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        self._each("on_node_start", node_label, node_hash, tag_schema)

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        """Tell every child that has the optional hook the node's input count."""
        _call_each(self._node_inputs, "on_node_inputs", node_label, count)

    def on_node_progress(self, node_label: str, rows: int) -> None:
        """Tell every child that has the optional hook the input rows an operator is done with."""
        _call_each(self._node_progress, "on_node_progress", node_label, rows)

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._each("on_node_end", node_label, node_hash)

    # The hooks called per packet are written out: they run a hundred thousand times.

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        for isolation, hook in self._packet_start:
            if isolation.failed:
                continue
            try:
                hook(node_label, tag, packet)
            except Exception as error:
                isolation.fail("on_packet_start", error)

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
        for isolation, hook in self._packet_end:
            if isolation.failed:
                continue
            try:
                hook(
                    node_label,
                    tag,
                    input_packet,
                    output_packet,
                    cached=cached,
                    source_run_id=source_run_id,
                )
            except Exception as error:
                isolation.fail("on_packet_end", error)

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        for isolation, hook in self._packet_crash:
            if isolation.failed:
                continue
            try:
                hook(node_label, tag, packet, error)
            except Exception as failure:
                isolation.fail("on_packet_crash", failure)

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """A logger handing each record to every child.

        It keeps records when one of the children does. When none does, the
        call is not captured, but a logger is still handed out when a child
        listens (a StatusObserver's hears of retried attempts through it,
        recorded by the run itself); with no child listening, the discarding
        one. This package's children are handed each record with the packet's
        tag (``record_packet``), without a logger object each.
        """
        alive = False
        keeps = False
        for isolation, _, child_keeps in self._recorders:
            if not isolation.failed:
                alive = True
                keeps = keeps or child_keeps
        loggers = []
        for isolation, hook in self._packet_logger:
            if isolation.failed:
                continue
            try:
                logger = hook(tag, packet)
                if logger is DISCARD or logger is SKIPPED_LOGGER:
                    continue
                entry = (isolation, logger, getattr(logger, "record_fields", None))
                child_keeps = bool(getattr(logger, "keeps_records", True))
            except Exception as error:  # the child's logger is the child's failure
                isolation.fail("create_packet_logger", error)
                continue
            loggers.append(entry)
            keeps = keeps or child_keeps
        if not (alive or loggers):
            return DISCARD
        kind = _FanOutLogger if keeps else _QuietFanOutLogger
        return kind(loggers, tag, self._recorders)


class _FanOutLogger:
    """Hands each record to every child observer, isolating their failures.

    This package's node contexts get it with the packet's tag
    (``record_packet``); a child logger with a ``record_fields(fields)``
    method gets the fields as they came, without being unpacked and packed
    again; any other, ``record(**fields)``.
    """

    __slots__ = ("loggers", "recorders", "tag")
    keeps_records = True  # made only when at least one child keeps records

    def __init__(
        self,
        loggers: Sequence[tuple[Isolation, PacketExecutionLogger, Callable[..., Any] | None]],
        tag: Tag | None = None,
        recorders: Sequence[tuple[Isolation, Callable[..., Any], bool]] = (),
    ) -> None:
        self.loggers = loggers
        self.tag = tag
        self.recorders = recorders

    def record(self, **fields: Any) -> None:
        self.record_fields(fields)

    def record_fields(self, fields: Mapping[str, Any]) -> None:
        """:meth:`record`, given the fields as one mapping (handed on as it is)."""
        tag = self.tag
        for isolation, record_packet, _ in self.recorders:
            if isolation.failed:
                continue
            try:
                record_packet(tag, fields)
            except Exception as error:
                isolation.fail("record", error)
        for isolation, logger, take in self.loggers:
            if isolation.failed:
                continue
            try:
                if take is not None:
                    take(fields)
                else:
                    logger.record(**fields)
            except Exception as error:
                isolation.fail("record", error)


class _QuietFanOutLogger(_FanOutLogger):
    """A fan-out to children none of which keeps records: nothing is captured for it."""

    __slots__ = ()
    keeps_records = False


def _recorder(observer: object) -> Callable[..., Any] | None:
    """The ``record_packet(tag, fields)`` of one of this package's node contexts, else None."""
    if not isinstance(observer, NodeContext):
        return None
    record_packet: Callable[..., Any] | None = getattr(observer, "record_packet", None)
    return record_packet


def _call_each(bound: _Bound, hook: str, *args: Any) -> None:
    """Call each bound ``hook`` whose observer has not failed, isolating its failure."""
    for isolation, method in bound:
        if isolation.failed:
            continue
        try:
            method(*args)
        except Exception as error:
            isolation.fail(hook, error)


def _bound(
    observers: Sequence[ExecutionObserver], isolations: Sequence[Isolation], hook: str
) -> _Bound:
    """Each observer's isolation with its bound ``hook``, leaving out hooks known to do
    nothing and hooks the observer does not have."""
    quiet = getattr(QuietHooks, hook, None)
    bound: _Bound = []
    for observer, isolation in zip(observers, isolations, strict=True):
        method = getattr(observer, hook, None)
        if method is None or (quiet is not None and getattr(type(observer), hook, None) is quiet):
            continue
        bound.append((isolation, method))
    return bound


if TYPE_CHECKING:
    _satisfies_the_protocol: ExecutionObserver = CompositeObserver()
