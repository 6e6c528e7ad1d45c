"""BaseObserver: every hook of the observer protocol, doing nothing, to subclass."""

from __future__ import annotations

import inspect

from orcapod.protocols import BaseObserver, ExecutionObserver
from orcapod.protocols.observability import DiscardingPacketLogger, PacketExecutionLogger


def _hooks() -> list[str]:
    return [
        name
        for name, member in vars(ExecutionObserver).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]


def test_it_is_an_execution_observer_with_every_hook_of_the_protocol() -> None:
    assert isinstance(BaseObserver(), ExecutionObserver)
    hooks = _hooks()
    assert {"on_run_start", "flush", "contextualize", "create_packet_logger"} <= set(hooks)
    for name in hooks:
        ours = inspect.signature(getattr(BaseObserver, name))
        theirs = inspect.signature(getattr(ExecutionObserver, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        assert [p.kind for p in ours.parameters.values()] == [
            p.kind for p in theirs.parameters.values()
        ], name
        assert getattr(BaseObserver, name).__doc__, f"{name} has no docstring"


def test_its_hooks_do_nothing_and_its_logger_keeps_nothing() -> None:
    observer = BaseObserver()
    assert observer.contextualize("pipeline", "node") is observer
    logger = observer.create_packet_logger({"id": 1}, {"x": 1})  # type: ignore[arg-type]
    assert isinstance(logger, DiscardingPacketLogger)
    assert isinstance(logger, PacketExecutionLogger)
    assert logger.keeps_records is False
    logger.record(stdout="ignored")


def test_a_subclass_overrides_only_what_it_needs_and_is_isolated_by_default() -> None:
    class CountCrashes(BaseObserver):
        def __init__(self) -> None:
            self.crashes = 0

        def on_packet_crash(self, node_label, tag, packet, error) -> None:  # type: ignore[no-untyped-def]
            self.crashes += 1

    observer = CountCrashes()
    observer.contextualize("p").on_packet_crash("n", {}, {}, ValueError("x"))  # type: ignore[arg-type]
    assert observer.crashes == 1
    assert isinstance(observer, ExecutionObserver)
    # a plugin's observer may fail: unless it says otherwise, the run isolates it
    assert getattr(CountCrashes, "isolates_failures", False) is False
