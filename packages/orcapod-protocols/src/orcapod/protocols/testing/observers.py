"""Observers for testing what drives observers (orchestrators, nodes, executors).

:class:`RecordingObserver` writes down every hook call as plain values: every
hook becomes an :data:`Event`, and every packet logger keeps the fields it was
given, so a test compares lists instead of mocking calls.
:class:`FirstReleaseObserver` has only the hooks of the protocol's first
release: whatever drives observers must still serve it (optional hooks such as
``on_node_inputs`` are looked up, never assumed).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["Event", "FirstReleaseObserver", "RecordingLogger", "RecordingObserver"]

Event = tuple[
    str,  # hook
    str | None,  # node label
    dict[str, Any] | None,  # tag
    dict[str, Any] | None,  # (input) packet
    dict[str, Any] | None,  # output packet
    bool | None,  # cached
    str | None,  # source_run_id
    str | None,  # error type
]


class RecordingLogger:
    """A packet logger keeping every ``record(**fields)`` call."""

    def __init__(self, label: str, tag: dict[str, Any], packet: dict[str, Any]) -> None:
        self.label = label
        self.tag = tag
        self.packet = packet
        self.records: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> None:
        self.records.append(fields)


class _Log:
    """What the root observer and all its bound children write to (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Event] = []
        self.paths: list[tuple[str, ...]] = []
        # (hook, label, path of the bound child whose hook was called)
        self.bound: list[tuple[str, str | None, tuple[str, ...]]] = []
        self.arguments: list[Any] = []  # every raw argument a hook received
        self.node_starts: list[tuple[str, str, dict[str, Any]]] = []
        self.node_inputs: list[tuple[str, int | None]] = []
        self.node_progress: list[tuple[str, int]] = []
        self.loggers: list[RecordingLogger] = []
        self.runs: list[RunInfo] = []
        self.outcomes: list[RunOutcome] = []
        self.flushes = 0  # calls of ``flush`` (not events: the run's clock decides when)


class RecordingObserver:
    """Records every hook call; ``contextualize`` returns a child bound to the given path.

    Attributes (shared by the root and its children):
        events: one :data:`Event` per hook call, in call order.
        paths: the paths ``contextualize`` was called with.
        bound: (hook, label, path) for each hook called on a bound child.
        node_starts: (label, hash, tag schema as ``{name: type}``) per ``on_node_start``.
        node_inputs: (label, count) per ``on_node_inputs`` (the optional hook).
        node_progress: (label, rows) per ``on_node_progress`` (the optional hook).
        loggers: the packet loggers handed out, in order.
        flushes: how many times the run called ``flush``.
    """

    def __init__(self, path: tuple[str, ...] = (), log: _Log | None = None) -> None:
        self.path = path
        self._log = log if log is not None else _Log()

    # -- views -------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        return self._log.events

    @property
    def paths(self) -> list[tuple[str, ...]]:
        return self._log.paths

    @property
    def bound(self) -> list[tuple[str, str | None, tuple[str, ...]]]:
        return self._log.bound

    @property
    def arguments(self) -> list[Any]:
        return self._log.arguments

    @property
    def node_starts(self) -> list[tuple[str, str, dict[str, Any]]]:
        return self._log.node_starts

    @property
    def node_inputs(self) -> list[tuple[str, int | None]]:
        return self._log.node_inputs

    @property
    def node_progress(self) -> list[tuple[str, int]]:
        return self._log.node_progress

    @property
    def loggers(self) -> list[RecordingLogger]:
        return self._log.loggers

    @property
    def runs(self) -> list[RunInfo]:
        return self._log.runs

    @property
    def outcomes(self) -> list[RunOutcome]:
        return self._log.outcomes

    def hooks(self) -> list[str]:
        return [event[0] for event in self.events]

    def of(self, hook: str, label: str | None = None) -> list[Event]:
        return [e for e in self.events if e[0] == hook and (label is None or e[1] == label)]

    # -- recording -------------------------------------------------------------------

    def _add(
        self,
        hook: str,
        label: str | None,
        arguments: tuple[Any, ...],
        *,
        tag: Tag | None = None,
        packet: Packet | None = None,
        output: Packet | None = None,
        cached: bool | None = None,
        source_run_id: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        event: Event = (
            hook,
            label,
            None if tag is None else tag.as_dict(),
            None if packet is None else packet.as_dict(),
            None if output is None else output.as_dict(),
            cached,
            source_run_id,
            None if error is None else type(error).__name__,
        )
        with self._log.lock:
            self._log.events.append(event)
            self._log.arguments.extend(arguments)
            if self.path:
                self._log.bound.append((hook, label, self.path))

    # -- the hooks -------------------------------------------------------------------

    def on_run_start(self, run: RunInfo) -> None:
        self._log.runs.append(run)
        self._add("on_run_start", None, (run,))

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        self._log.outcomes.append(outcome)
        self._add("on_run_end", None, (run, outcome))

    @property
    def flushes(self) -> int:
        return self._log.flushes

    def flush(self) -> None:
        with self._log.lock:
            self._log.flushes += 1

    def contextualize(self, *pipeline_path: str) -> RecordingObserver:
        with self._log.lock:
            self._log.paths.append(tuple(pipeline_path))
            self._log.arguments.extend(pipeline_path)
        return type(self)((*self.path, *pipeline_path), self._log)

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        self._log.node_starts.append((node_label, node_hash, dict(tag_schema.items())))
        self._add("on_node_start", node_label, (node_label, node_hash, tag_schema))

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        with self._log.lock:
            self._log.node_inputs.append((node_label, count))
        self._add("on_node_inputs", node_label, (node_label, count))

    def on_node_progress(self, node_label: str, rows: int) -> None:
        with self._log.lock:
            self._log.node_progress.append((node_label, rows))
        self._add("on_node_progress", node_label, (node_label, rows))

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._add("on_node_end", node_label, (node_label, node_hash))

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        self._add("on_packet_start", node_label, (node_label, tag, packet), tag=tag, packet=packet)

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
        self._add(
            "on_packet_end",
            node_label,
            (node_label, tag, input_packet, output_packet, cached, source_run_id),
            tag=tag,
            packet=input_packet,
            output=output_packet,
            cached=cached,
            source_run_id=source_run_id,
        )

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        self._add(
            "on_packet_crash",
            node_label,
            (node_label, tag, packet, error),
            tag=tag,
            packet=packet,
            error=error,
        )

    def create_packet_logger(self, tag: Tag, packet: Packet) -> RecordingLogger:
        label = self.path[1] if len(self.path) > 1 else None
        self._add("create_packet_logger", label, (tag, packet), tag=tag, packet=packet)
        logger = RecordingLogger(label or "", tag.as_dict(), packet.as_dict())
        with self._log.lock:
            self._log.loggers.append(logger)
        return logger


class FirstReleaseObserver:
    """An observer written against the protocol's first release: every hook it had,
    counting calls, and none added since (no ``on_node_inputs``, no ``on_node_progress``).

    Attributes:
        calls: per hook name, how many times it was called (its node contexts share it).
    """

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count(self, hook: str) -> None:
        with self._lock:
            self.calls[hook] = self.calls.get(hook, 0) + 1

    def on_run_start(self, run: RunInfo) -> None:
        self._count("on_run_start")

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        self._count("on_run_end")

    def flush(self) -> None:
        self._count("flush")

    def contextualize(self, *pipeline_path: str) -> FirstReleaseObserver:
        return self

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        self._count("on_node_start")

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._count("on_node_end")

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        self._count("on_packet_start")

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
        self._count("on_packet_end")

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        self._count("on_packet_crash")

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        from orcapod.protocols.observability import DiscardingPacketLogger

        self._count("create_packet_logger")
        return DiscardingPacketLogger()
