"""Observer wiring: which hooks a run calls, in which order, with which plain values."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import pytest

from orcapod.core._noop import NoOpObserver
from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.executors import LocalExecutor
from orcapod.core.function_pods import function_pod
from orcapod.core.operators import Filter, Join
from orcapod.core.pipeline import (
    AsyncPipelineOrchestrator,
    FunctionNode,
    Node,
    NodeCounts,
    Pipeline,
)
from orcapod.core.sources import DictSource
from orcapod.protocols.data import Packet as PacketProtocol
from orcapod.protocols.data import Schema as SchemaProtocol
from orcapod.protocols.data import Tag as TagProtocol
from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
from orcapod.protocols.testing import FirstReleaseObserver, RecordingObserver
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.core.pipeline import Orchestrator
    from orcapod.protocols.pods import PacketFunction


ORCHESTRATORS = ["sync", "async"]
PACKET_HOOKS = ("on_packet_start", "create_packet_logger", "on_packet_end", "on_packet_crash")


class CalibrationError(Exception):
    """The user's own error type."""


class WorkerLost(Exception):
    """An executor's own failure, not the function's."""


FAILING: set[int] = set()


@function_pod(output_keys="y")
def chatty(x: int) -> int:
    print(f"processing {x}")
    logging.getLogger("orcapod.tests.chatty").warning("careful with %d", x)
    if x in FAILING:
        raise CalibrationError(f"no calibration for {x}")
    return 10 * x


@function_pod(output_keys="z")
def plus_weight(y: int, w: float) -> float:
    return y + w


@function_pod(output_keys="y")
def interrupting(x: int) -> int:
    if x == 2:
        raise KeyboardInterrupt
    return x


@pytest.fixture(autouse=True)
def _reset_module_state() -> None:
    FAILING.clear()


class CrashingExecutor:
    """An executor whose worker is lost for every call."""

    executor_type = "crashing"

    def supports(self, packet_function: PacketFunction) -> bool:
        return True

    def with_options(self, **options: Any) -> CrashingExecutor:
        return self

    def get_executor_data(self) -> dict[str, str]:
        return {}

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        raise WorkerLost("worker died")

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        raise WorkerLost("worker died")


def _source(values: list[int]) -> DictSource:
    return DictSource(
        [{"id": f"s{i}", "x": x} for i, x in enumerate(values)],
        tag_columns=["id"],
        source_id="subjects",
    )


def _simple(values: list[int]) -> Pipeline:
    pipeline = Pipeline("simple", InMemoryArrowDatabase())
    with pipeline:
        chatty.pod(_source(values))
    return pipeline


def _joined() -> Pipeline:
    """subjects → chatty → Join(weights tagged by id and session) → plus_weight."""
    weights = DictSource(
        [
            {"id": "s0", "session": 1, "w": 0.5},
            {"id": "s1", "session": 1, "w": 1.5},
            {"id": "s1", "session": 2, "w": 2.5},
        ],
        tag_columns=["id", "session"],
        source_id="weights",
    )
    pipeline = Pipeline("joined", InMemoryArrowDatabase())
    with pipeline:
        plus_weight.pod(Join()(chatty.pod(_source([1, 2])), weights))
    return pipeline


# -- the run ---------------------------------------------------------------------------


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_run_start_comes_first_and_run_end_last(orchestrator: str) -> None:
    pipeline = _joined()
    observer = RecordingObserver()
    result = pipeline.run(orchestrator, observer=observer, run_id="run-7")
    hooks = observer.hooks()
    assert hooks[0] == "on_run_start"
    assert hooks[-1] == "on_run_end"
    assert hooks.count("on_run_start") == hooks.count("on_run_end") == 1
    [info] = observer.runs
    assert isinstance(info, RunInfo)
    assert info.run_id == "run-7"
    assert info.pipeline_name == "joined"
    assert info.started_at.tzinfo is not None
    [outcome] = observer.outcomes
    assert isinstance(outcome, RunOutcome)
    assert outcome.state is RunState.SUCCESS
    assert outcome.error is None
    assert outcome.n_success == result.n_computed == 5
    assert (outcome.n_failed, outcome.n_cached) == (0, 0)
    assert outcome.ended_at >= info.started_at


@pytest.mark.parametrize(
    "orchestrator",
    [
        pytest.param("sync", id="sync"),
        pytest.param(AsyncPipelineOrchestrator(max_concurrency=1), id="async"),
    ],
)
def test_run_end_is_called_last_when_fail_fast_raises(orchestrator: str | Orchestrator) -> None:
    FAILING.add(2)
    pipeline = _simple([1, 2, 3])
    observer = RecordingObserver()
    with pytest.raises(CalibrationError):
        pipeline.run(orchestrator, observer=observer, error_policy="fail_fast")
    assert observer.hooks()[0] == "on_run_start"
    assert observer.hooks()[-1] == "on_run_end"
    [outcome] = observer.outcomes
    assert outcome.state is RunState.FAILED
    assert outcome.error is not None
    assert "CalibrationError" in outcome.error
    assert "no calibration for 2" in outcome.error
    assert outcome.n_failed >= 1
    [crash] = [e for e in observer.of("on_packet_crash") if e[7] == "CalibrationError"]
    assert crash[2] == {"id": "s1"}


@function_pod(output_keys="y")
def exiting(x: int) -> int:
    if x == 2:
        sys.exit(3)
    return x


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
@pytest.mark.parametrize(
    ("pod", "error_type"), [(interrupting, "KeyboardInterrupt"), (exiting, "SystemExit")]
)
def test_a_base_exception_raised_by_user_code_is_that_packets_failure(
    orchestrator: str, pod: Any, error_type: str
) -> None:
    # Only a real signal stops a run (test_durability.py); the same exception raised
    # by a function is its packet's failure, and under "continue" the run goes on.
    pipeline = Pipeline("interrupted", InMemoryArrowDatabase())
    with pipeline:
        pod.pod(_source([1, 2, 3]), label="node")
    observer = RecordingObserver()
    result = pipeline.run(orchestrator, observer=observer)  # error_policy="continue"
    assert result.state is RunState.PARTIAL
    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (2, 1)
    assert [(f.tag, f.error_type) for f in result.failures] == [({"id": "s1"}, error_type)]
    crashes = observer.of("on_packet_crash")
    assert [(crash[2], crash[7]) for crash in crashes] == [({"id": "s1"}, error_type)]
    assert sorted(pipeline.nodes["node"].as_table().column("y").to_pylist()) == [1, 3]
    [outcome] = observer.outcomes
    assert outcome.state is RunState.PARTIAL


def test_a_base_exception_of_user_code_stops_a_fail_fast_run_unchanged() -> None:
    pipeline = Pipeline("interrupted", InMemoryArrowDatabase())
    with pipeline:
        exiting.pod(_source([1, 2, 3]), label="node")
    observer = RecordingObserver()
    with pytest.raises(SystemExit):
        pipeline.run("sync", observer=observer, error_policy="fail_fast")
    [outcome] = observer.outcomes
    assert outcome.state is RunState.FAILED
    assert outcome.error == "SystemExit: 3"
    assert observer.of("on_node_end", "node")  # the node was closed too


# -- nodes -----------------------------------------------------------------------------


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_contextualize_is_called_with_each_nodes_pipeline_path(orchestrator: str) -> None:
    pipeline = _joined()
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    expected = sorted(node.pipeline_path for node in pipeline.nodes.values())
    assert sorted(observer.paths) == expected
    # every hook but the run's own was called on the child bound to its node's path
    assert len(observer.bound) == len(observer.events) - 2
    for hook, label, path in observer.bound:
        assert path == pipeline.nodes[label].pipeline_path, hook


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_node_start_gets_label_hash_and_tag_schema(orchestrator: str) -> None:
    pipeline = _joined()
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    starts = {label: (node_hash, schema) for label, node_hash, schema in observer.node_starts}
    assert set(starts) == set(pipeline.nodes)
    for label, node in pipeline.nodes.items():
        assert starts[label][0] == node.node_hash
    assert starts["subjects"][1] == {"id": str}
    assert starts["chatty"][1] == {"id": str}
    assert starts["weights"][1] == {"id": str, "session": int}
    assert starts["join"][1] == {"id": str, "session": int}
    assert starts["plus_weight"][1] == {"id": str, "session": int}
    packet_tags = {tuple(e[2]) for e in observer.of("on_packet_end", "plus_weight")}
    assert packet_tags == {("id", "session")}


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_each_node_is_started_before_its_packets_and_ended_after(orchestrator: str) -> None:
    pipeline = _joined()
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    hooks = [(event[0], event[1]) for event in observer.events]
    for label in pipeline.nodes:
        start = hooks.index(("on_node_start", label))
        end = hooks.index(("on_node_end", label))
        assert hooks.count(("on_node_start", label)) == hooks.count(("on_node_end", label)) == 1
        packets = [i for i, (hook, lb) in enumerate(hooks) if lb == label and hook in PACKET_HOOKS]
        assert all(start < i < end for i in packets)
    upstream_end = hooks.index(("on_node_end", "chatty"))
    assert upstream_end < hooks.index(("on_packet_start", "plus_weight"))


# -- packets ---------------------------------------------------------------------------


def test_each_executed_packet_is_started_given_a_logger_then_ended_or_crashed() -> None:
    FAILING.add(2)
    pipeline = _simple([1, 2, 3])
    observer = RecordingObserver()
    pipeline.run(observer=observer)
    packet_events = [e for e in observer.events if e[0] in PACKET_HOOKS]
    assert [(e[0], e[2]) for e in packet_events] == [
        ("on_packet_start", {"id": "s0"}),
        ("create_packet_logger", {"id": "s0"}),
        ("on_packet_end", {"id": "s0"}),
        ("on_packet_start", {"id": "s1"}),
        ("create_packet_logger", {"id": "s1"}),
        ("on_packet_crash", {"id": "s1"}),
        ("on_packet_start", {"id": "s2"}),
        ("create_packet_logger", {"id": "s2"}),
        ("on_packet_end", {"id": "s2"}),
    ]
    ends = observer.of("on_packet_end")
    assert [(e[3], e[4], e[5], e[6]) for e in ends] == [
        ({"x": 1}, {"y": 10}, False, None),
        ({"x": 3}, {"y": 30}, False, None),
    ]
    [crash] = observer.of("on_packet_crash")
    assert crash[1:4] == ("chatty", {"id": "s1"}, {"x": 2})
    assert crash[7] == "CalibrationError"


def test_async_packets_follow_the_same_order_per_packet() -> None:
    FAILING.add(2)
    pipeline = _simple([1, 2, 3, 4])
    observer = RecordingObserver()
    pipeline.run("async", observer=observer)
    for index in range(4):
        tag = {"id": f"s{index}"}
        hooks = [e[0] for e in observer.events if e[0] in PACKET_HOOKS and e[2] == tag]
        last = "on_packet_crash" if index == 1 else "on_packet_end"
        assert hooks == ["on_packet_start", "create_packet_logger", last]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_cache_hits_end_with_cached_and_the_computing_run_id(orchestrator: str) -> None:
    pipeline = _simple([1, 2])
    pipeline.run("sync", run_id="first")
    observer = RecordingObserver()
    result = pipeline.run(orchestrator, observer=observer, run_id="second")
    assert result.nodes["chatty"] == NodeCounts(cached=2, rows=2)
    assert observer.of("on_packet_start") == []
    assert observer.of("create_packet_logger") == []
    assert observer.loggers == []
    ends = sorted(observer.of("on_packet_end"), key=repr)
    assert [(e[1], e[2], e[3], e[4], e[5], e[6]) for e in ends] == [
        ("chatty", {"id": "s0"}, {"x": 1}, {"y": 10}, True, "first"),
        ("chatty", {"id": "s1"}, {"x": 2}, {"y": 20}, True, "first"),
    ]
    assert observer.outcomes[0].n_cached == 2


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_repeated_packet_in_one_run_is_a_cache_hit_of_this_run(orchestrator: str) -> None:
    pipeline = _simple([5, 5])
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer, run_id="only")
    assert [e[2] for e in observer.of("on_packet_start")] == [{"id": "s0"}]
    ends = sorted(observer.of("on_packet_end"), key=repr)
    assert [(e[2], e[4], e[5], e[6]) for e in ends] == [
        ({"id": "s0"}, {"y": 50}, False, None),
        ({"id": "s1"}, {"y": 50}, True, "only"),
    ]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_the_packet_logger_receives_what_the_function_printed(orchestrator: str) -> None:
    FAILING.add(2)
    pipeline = _simple([1, 2])
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    loggers = {lg.tag["id"]: lg for lg in observer.loggers}
    assert set(loggers) == {"s0", "s1"}
    assert loggers["s0"].label == "chatty"
    assert loggers["s0"].packet == {"x": 1}
    [ok] = loggers["s0"].records
    assert ok["stdout"] == "processing 1\n"
    assert ok["success"] is True
    assert ok["executor_type"] == "local"
    assert ok["attempt"] == 1
    assert ok["capture_level"] == "sys"
    assert ok["traceback"] is None
    assert [r["message"] for r in ok["python_logs"]] == ["careful with 1"]
    [failed] = loggers["s1"].records
    assert failed["stdout"] == "processing 2\n"  # printed before the error: kept
    assert failed["success"] is False
    assert "CalibrationError: no calibration for 2" in failed["traceback"]
    assert failed["attempt"] == 1


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_an_executor_crash_is_a_packet_crash(orchestrator: str) -> None:
    pipeline = _simple([1, 2])
    node = pipeline.nodes["chatty"]
    assert isinstance(node, FunctionNode)
    node.executor = CrashingExecutor()  # type: ignore[assignment]
    observer = RecordingObserver()
    result = pipeline.run(orchestrator, observer=observer)
    assert result.state is RunState.PARTIAL
    assert result.nodes["chatty"] == NodeCounts(failed=2)
    assert {(f.error_type, f.message) for f in result.failures} == {("WorkerLost", "worker died")}
    crashes = sorted(observer.of("on_packet_crash"), key=repr)
    assert [(e[2], e[7]) for e in crashes] == [
        ({"id": "s0"}, "WorkerLost"),
        ({"id": "s1"}, "WorkerLost"),
    ]
    assert observer.of("on_packet_end") == []


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_the_noop_observer_and_no_observer_run_the_same(orchestrator: str) -> None:
    FAILING.add(2)
    results = []
    for observer in (None, NoOpObserver()):
        pipeline = _joined()
        result = pipeline.run(orchestrator, observer=observer)
        results.append((result.nodes, result.failures, pipeline.nodes["plus_weight"].as_table()))
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    assert results[0][2].equals(results[1][2])
    assert results[0][0]["chatty"] == NodeCounts(computed=1, failed=1, rows=1)
    assert isinstance(NoOpObserver(), ExecutionObserver)


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_hooks_receive_only_plain_values_and_protocol_types(orchestrator: str) -> None:
    FAILING.add(2)
    pipeline = _joined()
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    pipeline.run(orchestrator, observer=observer)  # cache hits too
    plain = (str, bool, int, float, type(None), RunInfo, RunOutcome, BaseException)
    protocols = (TagProtocol, PacketProtocol, SchemaProtocol)
    assert observer.arguments
    for argument in observer.arguments:
        assert not isinstance(argument, Node)
        assert not isinstance(argument, LocalExecutor)
        assert isinstance(argument, plain + protocols), type(argument)
    kinds = {type(argument) for argument in observer.arguments}
    assert any(issubclass(kind, TagProtocol) for kind in kinds)
    assert any(issubclass(kind, SchemaProtocol) for kind in kinds)


def test_packet_hooks_get_tags_and_packets_of_the_protocols() -> None:
    received: list[tuple[str, Any, Any]] = []

    class Checking(NoOpObserver):
        def on_packet_start(self, node_label: str, tag: Any, packet: Any) -> None:
            received.append((node_label, tag, packet))

        def on_packet_end(
            self,
            node_label: str,
            tag: Any,
            input_packet: Any,
            output_packet: Any,
            *,
            cached: bool,
            source_run_id: str | None = None,
        ) -> None:
            received.append((node_label, tag, input_packet))
            received.append((node_label, tag, output_packet))

    pipeline = _simple([1, 2])
    pipeline.run(observer=Checking())
    pipeline.run(observer=Checking())
    assert len(received) == 2 + 4 + 4
    for label, tag, packet in received:
        assert label == "chatty"
        assert isinstance(tag, TagProtocol)
        assert isinstance(packet, PacketProtocol)
        assert set(tag.keys()) == {"id"}


class _NotKeeping(RecordingObserver):
    """A recording observer whose packet loggers say they keep nothing."""

    def create_packet_logger(self, tag: Any, packet: Any) -> Any:
        logger = super().create_packet_logger(tag, packet)
        logger.keeps_records = False
        return logger


def test_a_logger_that_keeps_no_records_gets_none_and_the_call_is_not_captured() -> None:
    keeping, not_keeping = RecordingObserver(), _NotKeeping()
    for observer in (keeping, not_keeping):
        pipeline = Pipeline("quiet", InMemoryArrowDatabase())
        with pipeline:
            chatty.pod(_source([1, 2]))
        pipeline.run(observer=observer)
    assert [len(logger.records) for logger in keeping.loggers] == [1, 1]
    assert [len(logger.records) for logger in not_keeping.loggers] == [0, 0]


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_base_observer_subclass_hears_what_it_overrides_and_a_failing_one_is_isolated(
    orchestrator: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A plugin's observer from orcapod-protocols' BaseObserver: one hook is enough."""
    from orcapod.protocols import BaseObserver

    class CountCrashes(BaseObserver):
        def __init__(self) -> None:
            self.crashes: list[str] = []

        def on_packet_crash(self, node_label: str, tag: Any, packet: Any, error: Any) -> None:
            self.crashes.append(node_label)

    class Broken(BaseObserver):
        def on_node_start(self, node_label: str, node_hash: str, tag_schema: Any) -> None:
            raise RuntimeError("this observer is broken")

    FAILING.add(2)
    counting = CountCrashes()
    result = _joined().run(orchestrator, observer=counting)
    assert counting.crashes == ["chatty"]
    assert result.nodes["chatty"] == NodeCounts(computed=1, failed=1, rows=1)

    FAILING.add(2)
    with caplog.at_level(logging.WARNING):
        again = _joined().run(orchestrator, observer=Broken())
    assert again.nodes == result.nodes  # the run went on without the broken observer
    assert "this observer is broken" in caplog.text


# -- input counts (the optional on_node_inputs hook) --------------------------------------


@function_pod(output_keys="w")
def halve(y: int) -> float:
    return y / 2


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_each_node_with_inputs_is_told_its_input_count_before_its_packets(
    orchestrator: str,
) -> None:
    pipeline = _joined()
    observer = RecordingObserver()
    pipeline.run(orchestrator, observer=observer)
    join_rows = pipeline.nodes["join"].as_table().num_rows
    weights = pipeline.nodes["weights"].as_table().num_rows
    # sources read no inputs: they are not told; the rest hear the rows of their inputs
    assert dict(observer.node_inputs) == {
        "chatty": 2,
        "join": 2 + weights,
        "plus_weight": join_rows,
    }
    hooks = [(event[0], event[1]) for event in observer.events]
    for label in ("chatty", "join", "plus_weight"):
        told = hooks.index(("on_node_inputs", label))
        assert hooks.index(("on_node_start", label)) < told
        packets = [i for i, (hook, lb) in enumerate(hooks) if lb == label and hook in PACKET_HOOKS]
        assert all(told < i for i in packets)


def _chained() -> Pipeline:
    pipeline = Pipeline("chained", InMemoryArrowDatabase())
    with pipeline:
        halve.pod(chatty.pod(_source([1, 2, 3]), label="chatty"), label="halve")
    return pipeline


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_function_node_fed_by_another_is_told_its_count_before_its_packets(
    orchestrator: str,
) -> None:
    """Under async, halve reads chatty's rows as chatty sends them: it is told chatty's
    input count (one row sent per row that does not fail), before its first packet."""
    observer = RecordingObserver()
    _chained().run(orchestrator, observer=observer)
    assert observer.node_inputs == [("chatty", 3), ("halve", 3)]
    hooks = [(event[0], event[1]) for event in observer.events]
    told = hooks.index(("on_node_inputs", "halve"))
    assert all(
        told < i for i, (hook, lb) in enumerate(hooks) if lb == "halve" and hook in PACKET_HOOKS
    )


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_an_upstream_failure_corrects_the_count_told(orchestrator: str) -> None:
    """chatty fails one of its 3 packets (error policy continue): halve reads 2 rows.
    In batches of one row, halve starts on chatty's first row under both orchestrators:
    it is told 3 (chatty's input count), then 2 once chatty has ended, so a bar ends at
    2/2, not 2/3."""
    FAILING.add(2)
    observer = RecordingObserver()
    result = _chained().run(orchestrator, observer=observer, error_policy="continue", batch_rows=1)
    assert result.n_failed == 1
    assert result.nodes["halve"].computed == 2
    assert observer.node_inputs == [("chatty", 3), ("halve", 3), ("halve", 2)]


# -- operators' progress (the optional on_node_progress hook) -----------------------------


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
@pytest.mark.parametrize("batch_rows", [None, 1], ids=["one-batch", "row-batches"])
def test_operators_tell_the_input_rows_they_are_done_with_up_to_their_input_count(
    orchestrator: str, batch_rows: int | None
) -> None:
    """An operator reports no packets: it tells the input rows it is done with instead,
    after its input count and before its end, a batch at a time where it streams (the
    Filter), all at once where it needs all its input (the Join). Function nodes and
    sources are never told."""
    FAILING.add(2)
    weights = DictSource([{"id": f"s{i}", "w": i / 2} for i in range(3)], tag_columns=["id"])
    pipeline = Pipeline("operators", InMemoryArrowDatabase())
    with pipeline:
        computed = chatty.pod(_source([1, 2, 3]), label="chatty")  # 2 fails: 2 rows out
        kept = Filter(pc.field("y") > 0)(computed, label="kept")
        plus_weight.pod(Join()(kept, weights, label="join"), label="plus_weight")
    observer = RecordingObserver()
    batches: dict[str, Any] = {} if batch_rows is None else {"batch_rows": batch_rows}
    pipeline.run(orchestrator, observer=observer, error_policy="continue", **batches)
    done: dict[str, int] = {}
    for label, rows in observer.node_progress:
        assert rows > 0
        done[label] = done.get(label, 0) + rows
    inputs = dict(observer.node_inputs)  # the last count told to each node
    assert done == {"kept": 2, "join": 2 + 3} == {k: inputs[k] for k in ("kept", "join")}
    if batch_rows == 1:
        assert ("kept", 1) in observer.node_progress
    assert [rows for label, rows in observer.node_progress if label == "join"] == [5]
    hooks = [(event[0], event[1]) for event in observer.events]
    for label in ("kept", "join"):
        told = [i for i, hook in enumerate(hooks) if hook == ("on_node_progress", label)]
        assert hooks.index(("on_node_inputs", label)) < told[0]
        assert told[-1] < hooks.index(("on_node_end", label))


class _SelfIsolatingFirstReleaseObserver(FirstReleaseObserver):
    isolates_failures = True


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
@pytest.mark.parametrize("isolates_failures", [False, True], ids=["isolated", "self-isolating"])
def test_an_observer_written_before_input_counts_still_observes_every_run(
    orchestrator: str, isolates_failures: bool, caplog: pytest.LogCaptureFixture
) -> None:
    observer = (
        _SelfIsolatingFirstReleaseObserver()
        if isolates_failures  # not wrapped by the run: the hook's absence is met directly
        else FirstReleaseObserver()
    )
    assert isinstance(observer, ExecutionObserver)
    assert not hasattr(observer, "on_node_inputs")
    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = _joined().run(orchestrator, observer=observer)
    assert result.state is RunState.SUCCESS
    assert observer.calls["on_packet_end"] == result.n_computed == 5
    assert observer.calls["on_node_start"] == len(_joined().nodes)
    assert caplog.records == []  # it was never skipped as failing
