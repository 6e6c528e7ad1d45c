"""Observers that cannot break a run: one that fails is reported once, then skipped.

A run hands its observer to :func:`isolate`, and ``CompositeObserver`` isolates
each of its children the same way, with the same :class:`Isolation`. An
observer whose hook, packet logger or ``flush`` raises an ``Exception`` is
reported once (an ERROR on the ``orcapod.observers`` logger naming the
observer, the hook and the error, with its traceback) and skipped for the rest
of the run: its node contexts and packet loggers share its state, so none of
them is called again. Only the run's end still reaches it (``on_run_end``):
its record of how the run ended is what tells readers the run is over. The
next run's ``on_run_start`` gives it another chance.

Only ``Exception`` is caught: a ``KeyboardInterrupt`` arriving while an
observer runs is the user's, not the observer's.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["IsolatedObserver", "Isolation", "PacketHooks", "isolate"]

_log = logging.getLogger("orcapod.observers")

_DESCRIPTION_LIMIT = 200
_MESSAGE_LIMIT = 2000


def isolate(observer: ExecutionObserver) -> ExecutionObserver:
    """``observer``, made unable to break the run it observes.

    An observer that isolates failures itself (an :class:`IsolatedObserver`, a
    ``CompositeObserver``: any whose class sets ``isolates_failures = True``) is
    returned as it is; any other is wrapped in an :class:`IsolatedObserver`.
    """
    if getattr(type(observer), "isolates_failures", False) is True:
        return observer
    return IsolatedObserver(observer)


class PacketHooks:
    """An isolated observer's per-packet hooks, unwrapped, and where their failures go.

    A run calls these a hundred thousand times. Through an
    :class:`IsolatedObserver` each call costs a second call and a packet logger
    a wrapper; a run that catches the failures itself (``try``, then
    ``isolation.fail``, and nothing called once ``isolation.failed``) calls the
    observer's own hooks instead.

    Args:
        observer: an observer that isolates its failures (see :func:`isolate`):
            an :class:`IsolatedObserver` gives its observer's hooks and its
            isolation; any other gives its own hooks, and an isolation that
            only its own misbehaviour would use.
    """

    __slots__ = ("create_packet_logger", "isolation", "on_packet_end", "on_packet_start")

    def __init__(self, observer: ExecutionObserver) -> None:
        if isinstance(observer, IsolatedObserver):
            self.isolation = observer.isolation
            observer = observer.observer
        else:
            self.isolation = Isolation(observer)
        self.on_packet_start = _hook(observer, "on_packet_start")
        self.on_packet_end = _hook(observer, "on_packet_end")
        self.create_packet_logger = _hook(observer, "create_packet_logger")


class Isolation:
    """Whether one observer failed in the current run; reports its first failure.

    Shared by the observer, its node contexts and its packet loggers.

    Args:
        observer: the observer, named in the report.
    """

    __slots__ = ("_lock", "failed", "observer")

    def __init__(self, observer: object) -> None:
        self.observer = observer
        self.failed = False
        """True from the first failure until :meth:`reset`: skip the observer."""
        self._lock = threading.Lock()

    def fail(self, hook: str, error: BaseException) -> None:
        """Note that ``hook`` raised ``error``: log it if it is the first failure, and
        skip the observer from now on."""
        with self._lock:
            if self.failed:
                return
            self.failed = True
        _log.error(
            "observer %s failed in %s: %s; it is skipped for the rest of this run",
            describe(self.observer),
            hook,
            _summary(error),
            exc_info=(type(error), error, error.__traceback__),
        )

    def reset(self) -> None:
        """Give the observer another chance (a new run starts)."""
        self.failed = False


class IsolatedObserver:
    """An observer whose failures are reported once and then skipped, never raised.

    Made by :func:`isolate`. Hooks bound once, when made, so a per-packet hook
    costs one call, one flag test and a ``try``.

    Args:
        observer: the observer to isolate.
        isolation: the state to share (a node context shares its parent's).
    """

    isolates_failures: ClassVar[bool] = True

    __slots__ = (
        "_create_packet_logger",
        "_on_packet_crash",
        "_on_packet_end",
        "_on_packet_start",
        "isolation",
        "observer",
    )

    def __init__(self, observer: ExecutionObserver, isolation: Isolation | None = None) -> None:
        self.observer = observer
        self.isolation = isolation if isolation is not None else Isolation(observer)
        self._on_packet_start = _hook(observer, "on_packet_start")
        self._on_packet_end = _hook(observer, "on_packet_end")
        self._on_packet_crash = _hook(observer, "on_packet_crash")
        self._create_packet_logger = _hook(observer, "create_packet_logger")

    def __repr__(self) -> str:
        return f"isolate({describe(self.observer)})"

    def _call(self, hook: str, *args: Any) -> None:
        isolation = self.isolation
        if isolation.failed:
            return
        try:
            method = getattr(self.observer, hook, None)
            if method is not None:  # an observer written before the hook: nothing to call
                method(*args)
        except Exception as error:
            isolation.fail(hook, error)

    def on_run_start(self, run: RunInfo) -> None:
        self.isolation.reset()
        self._call("on_run_start", run)

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """Told even after the observer failed: its record of the run's end is what
        tells readers the run is over (a failure here is reported only if first)."""
        try:
            method = getattr(self.observer, "on_run_end", None)
            if method is not None:
                method(run, outcome)
        except Exception as error:
            self.isolation.fail("on_run_end", error)

    def flush(self) -> None:
        self._call("flush")

    def contextualize(self, *pipeline_path: str) -> ExecutionObserver:
        isolation = self.isolation
        if isolation.failed:
            return SKIPPED
        try:
            child = self.observer.contextualize(*pipeline_path)
        except Exception as error:
            isolation.fail("contextualize", error)
            return SKIPPED
        return IsolatedObserver(child, isolation)

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        self._call("on_node_start", node_label, node_hash, tag_schema)

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        """Passed on to an observer that has the optional hook (see ``BaseObserver``)."""
        self._call("on_node_inputs", node_label, count)

    def on_node_progress(self, node_label: str, rows: int) -> None:
        """Passed on to an observer that has the optional hook (see ``BaseObserver``)."""
        self._call("on_node_progress", node_label, rows)

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        self._call("on_node_end", node_label, node_hash)

    # The hooks called per packet are written out: they run a hundred thousand times.

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        if self.isolation.failed:
            return
        try:
            self._on_packet_start(node_label, tag, packet)
        except Exception as error:
            self.isolation.fail("on_packet_start", error)

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
        if self.isolation.failed:
            return
        try:
            self._on_packet_end(
                node_label,
                tag,
                input_packet,
                output_packet,
                cached=cached,
                source_run_id=source_run_id,
            )
        except Exception as error:
            self.isolation.fail("on_packet_end", error)

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        if self.isolation.failed:
            return
        try:
            self._on_packet_crash(node_label, tag, packet, error)
        except Exception as failure:
            self.isolation.fail("on_packet_crash", failure)

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """The observer's logger, isolated (and saying whether it keeps records, as the
        observer's does)."""
        isolation = self.isolation
        if isolation.failed:
            return DISCARD
        try:
            logger = self._create_packet_logger(tag, packet)
            keeps = bool(getattr(logger, "keeps_records", True))
        except Exception as error:
            isolation.fail("create_packet_logger", error)
            return DISCARD
        if keeps:
            return _new_logger(IsolatedLogger, (logger, isolation))
        # It may still be handed records (beside a logger that keeps them): isolated too.
        return _new_logger(_IsolatedQuietLogger, (logger, isolation))


class IsolatedLogger(tuple):  # type: ignore[type-arg]  # (logger, isolation)
    """A packet logger whose failures count as its observer's (reported once, then skipped).

    A tuple ``(logger, isolation)``: one is made per packet, and a tuple is made
    without a Python-level ``__init__`` (a third of the cost).
    """

    keeps_records: ClassVar[bool] = True

    __slots__ = ()

    @property
    def logger(self) -> PacketExecutionLogger:
        """The observer's packet logger."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def isolation(self) -> Isolation:
        """Its observer's state."""
        return self[1]  # type: ignore[no-any-return]

    def record(self, **fields: Any) -> None:
        self.record_fields(fields)

    def record_fields(self, fields: Mapping[str, Any]) -> None:
        """:meth:`record`, given the fields as one mapping."""
        logger, isolation = self
        if isolation.failed:
            return
        try:
            # A logger taking the fields as one mapping is spared their repacking.
            take = getattr(logger, "record_fields", None)
            if take is not None:
                take(fields)
            else:
                logger.record(**fields)
        except Exception as error:
            isolation.fail("record", error)


class _IsolatedQuietLogger(IsolatedLogger):
    """An isolated logger that, like the one it wraps, keeps nothing: no capture for it."""

    keeps_records: ClassVar[bool] = False

    __slots__ = ()


_new_logger = tuple.__new__


class _Skipped:
    """What an observer skipped for the rest of the run is replaced by: nothing."""

    isolates_failures: ClassVar[bool] = True

    def on_run_start(self, run: RunInfo) -> None:
        pass

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        pass

    def flush(self) -> None:
        pass

    def contextualize(self, *pipeline_path: str) -> _Skipped:
        return self

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        pass

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        pass

    def on_node_progress(self, node_label: str, rows: int) -> None:
        pass

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        pass

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        pass

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
        pass

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        pass

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        return DISCARD


class _Discard:
    """Keeps nothing, and says so: the call is not captured for it."""

    keeps_records: ClassVar[bool] = False

    def record(self, **fields: Any) -> None:
        pass


SKIPPED = _Skipped()
"""The observer of a node whose observer is skipped for the rest of the run."""

DISCARD = _Discard()
"""The packet logger of an observer skipped for the rest of the run."""


def describe(observer: object) -> str:
    """The observer as a report names it: its repr, shortened (or its type, if repr fails)."""
    try:
        text = repr(observer)
    except Exception:
        text = f"<{type(observer).__qualname__}>"
    if len(text) > _DESCRIPTION_LIMIT:
        text = text[: _DESCRIPTION_LIMIT - 3] + "..."
    return text


def _summary(error: BaseException) -> str:
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:
        text = type(error).__name__
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return text


def _hook(observer: object, name: str) -> Callable[..., Any]:
    """``observer``'s bound hook ``name``; a hook it lacks does nothing."""
    hook: Callable[..., Any] | None = getattr(observer, name, None)
    return hook if hook is not None else _nothing


def _nothing(*args: Any, **kwargs: Any) -> Any:
    return DISCARD  # create_packet_logger's answer; the other hooks' is ignored
