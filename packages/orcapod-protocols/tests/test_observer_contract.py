"""The observer contract, run against the protocol's own observers, and shown able to fail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from orcapod.protocols import BaseObserver, ExecutionObserver
from orcapod.protocols.testing import FirstReleaseObserver, ObserverContract, RecordingObserver

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class TestBaseObserver(ObserverContract):
    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        return BaseObserver()


class TestRecordingObserver(ObserverContract):
    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        return RecordingObserver()

    def recorded_rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]]:
        """One row per packet event, attributed to the run started last before it."""
        assert isinstance(observer, RecordingObserver)
        rows: list[dict[str, Any]] = []
        runs = iter(observer.runs)
        run_id = None
        for event in observer.events:
            if event[0] == "on_run_start":
                run_id = next(runs).run_id
            elif event[0] in {"on_packet_end", "on_packet_crash"}:
                rows.append({"run_id": run_id, "hook": event[0], "tag": event[2]})
        return rows


class _RaisesOnCrash(BaseObserver):
    """Raises in on_packet_crash: what the contract must catch."""

    def on_packet_crash(self, node_label, tag, packet, error) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug")


class _BrokenContract(ObserverContract):
    def make_observer(self) -> ExecutionObserver:
        return _RaisesOnCrash()


class _MisattributingObserver(RecordingObserver):
    """Keeps the first run as the current one forever: the second run's rows go to it."""

    def on_run_start(self, run):  # type: ignore[no-untyped-def]
        super().on_run_start(self.runs[0] if self.runs else run)


class _MisattributingContract(TestRecordingObserver):
    __test__ = False

    def make_observer(self) -> ExecutionObserver:
        return _MisattributingObserver()


@pytest.mark.parametrize(
    "check",
    [
        "test_sequential_run",
        "test_concurrent_run_interleaving_node_contexts",
        "test_packets_from_threads_while_the_run_flushes",
        "test_a_failed_run_still_ends",
        "test_two_runs_one_after_another",
        "test_isolation_passes_every_hook_through",
    ],
)
def test_the_contract_fails_an_observer_raising_in_a_hook(check: str) -> None:
    with pytest.raises((pytest.fail.Exception, AssertionError)) as failure:
        getattr(_BrokenContract(), check)()
    assert "on_packet_crash" in str(failure.value)


def test_the_contract_passes_the_broken_observer_where_it_does_not_crash_packets() -> None:
    _BrokenContract().test_flush_before_any_run_and_twice_in_a_row()
    _BrokenContract().test_a_run_without_nodes()


def test_the_contract_fails_rows_attributed_to_the_wrong_run() -> None:
    with pytest.raises(AssertionError):
        _MisattributingContract().test_each_run_s_rows_carry_its_own_run_id()


def test_without_recorded_rows_the_row_checks_are_skipped() -> None:
    with pytest.raises(pytest.skip.Exception):
        TestBaseObserver().test_each_run_s_rows_carry_its_own_run_id()


def test_the_contract_class_itself_is_not_collected() -> None:
    assert ObserverContract.__test__ is False
    with pytest.raises(NotImplementedError):
        ObserverContract().make_observer()


class TestObserverWrittenBeforeInputCounts(ObserverContract):
    """The contract passes an observer without the optional hook."""

    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        observer = FirstReleaseObserver()
        assert isinstance(observer, ExecutionObserver)
        assert not hasattr(observer, "on_node_inputs")
        return observer


class _RaisesOnInputs(BaseObserver):
    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        raise RuntimeError("observer bug")


class _RaisesOnInputsContract(ObserverContract):
    def make_observer(self) -> ExecutionObserver:
        return _RaisesOnInputs()


def test_the_contract_drives_the_input_count_hook_with_known_and_unknown_counts() -> None:
    observers: list[RecordingObserver] = []

    class Recording(TestRecordingObserver):
        def make_observer(self) -> ExecutionObserver:
            observers.append(RecordingObserver())
            return observers[-1]

    Recording().test_node_input_counts_known_unknown_and_wrong()
    Recording().test_sequential_run()
    Recording().test_concurrent_run_interleaving_node_contexts()
    told = [count for observer in observers for _, count in observer.node_inputs]
    assert 3 in told
    assert None in told
    assert 8 in told


def test_the_contract_fails_an_observer_raising_in_the_input_count_hook() -> None:
    with pytest.raises((pytest.fail.Exception, AssertionError)) as failure:
        _RaisesOnInputsContract().test_node_input_counts_known_unknown_and_wrong()
    assert "on_node_inputs" in str(failure.value)
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        _RaisesOnInputsContract().test_isolation_passes_every_hook_through()


class _RaisesOnProgress(BaseObserver):
    def on_node_progress(self, node_label: str, rows: int) -> None:
        raise RuntimeError("observer bug")


def test_the_contract_drives_the_progress_hook_of_operator_nodes() -> None:
    observer = RecordingObserver()
    contract = TestRecordingObserver()
    contract.make_observer = lambda: observer  # type: ignore[method-assign]
    contract.test_operator_nodes_telling_the_rows_they_are_done_with()
    told = [("inverse", 5), ("inverse", 3), ("summary", 8), ("inverse", 4)]
    assert observer.node_progress == told
    hooks = [hook for hook in observer.hooks() if hook.startswith("on_node")]
    assert hooks[3:7] == ["on_node_start", "on_node_inputs", "on_node_progress", "on_node_progress"]
    assert not hasattr(FirstReleaseObserver(), "on_node_progress")


def test_the_contract_fails_an_observer_raising_in_the_progress_hook() -> None:
    contract = ObserverContract()
    contract.make_observer = _RaisesOnProgress  # type: ignore[method-assign]
    with pytest.raises((pytest.fail.Exception, AssertionError)) as failure:
        contract.test_operator_nodes_telling_the_rows_they_are_done_with()
    assert "on_node_progress" in str(failure.value)
    with pytest.raises((pytest.fail.Exception, AssertionError)):
        contract.test_isolation_passes_every_hook_through()
