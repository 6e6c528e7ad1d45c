"""ProgressObserver: a bar per node, counts in its postfix, silent off a terminal, never raising."""

from __future__ import annotations

import errno
import io
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pytest

from orcapod.observers._progress import ProgressObserver
from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
from orcapod.protocols.values import RunInfo, RunOutcome, RunState

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Schema, Tag

# The observer only passes tags, packets and schemas along: any object will do.
TAG = cast("Tag", object())
PACKET = cast("Packet", object())
SCHEMA = cast("Schema", object())
RUN = RunInfo("run-1", "pipe", "mem://", datetime.now(UTC))
OUTCOME = RunOutcome(RunState.PARTIAL, datetime.now(UTC), n_success=4, n_failed=1, n_cached=3)


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run_node(
    observer: ExecutionObserver,
    label: str,
    *,
    computed: int = 0,
    cached: int = 0,
    failed: int = 0,
    end: bool = True,
) -> ExecutionObserver:
    """Drive the hooks of one node as a pipeline would; return the node's observer."""
    node = observer.contextualize("pipe", label)
    node.on_node_start(label, "hash-" + label, SCHEMA)
    for _ in range(cached):
        node.on_packet_end(label, TAG, PACKET, PACKET, cached=True, source_run_id="run-0")
    for _ in range(computed):
        node.on_packet_start(label, TAG, PACKET)
        node.create_packet_logger(TAG, PACKET).record(stdout="", success=True)
        node.on_packet_end(label, TAG, PACKET, PACKET, cached=False)
    for _ in range(failed):
        node.on_packet_start(label, TAG, PACKET)
        node.on_packet_crash(label, TAG, PACKET, ValueError("bad packet"))
    if end:
        node.on_node_end(label, "hash-" + label)
    return node


def started(observer: ExecutionObserver, label: str, inputs: int | None) -> Any:
    """A node's observer, started and told its input count (the optional hook)."""
    node: Any = observer.contextualize("pipe", label)
    node.on_node_start(label, "hash-" + label, SCHEMA)
    node.on_node_inputs(label, inputs)
    return node


def last_line(text: str) -> str:
    """The bar as last drawn: tqdm redraws a line after each carriage return."""
    return [part for part in text.replace("\n", "\r").split("\r") if part.strip()][-1]


def open_bars(observer: ProgressObserver) -> dict[str, Any]:
    return {label: node.bar for label, node in observer._bars.nodes.items()}


def test_progress_observer_satisfies_the_observer_protocol() -> None:
    observer = ProgressObserver(io.StringIO(), force=True)
    assert isinstance(observer, ExecutionObserver)
    assert isinstance(observer.contextualize("pipe", "node"), ExecutionObserver)
    assert isinstance(observer.create_packet_logger(TAG, PACKET), PacketExecutionLogger)


class BrokenTerminal(FakeTerminal):
    """A terminal whose writes fail once ``broken`` is set (a full disk, say)."""

    broken = False

    def write(self, text: str) -> int:
        if self.broken:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)


def test_bar_shows_the_node_label_as_soon_as_the_node_starts() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True)
    run_node(observer, "square", end=False)
    assert "square" in out.getvalue()
    observer.on_run_end(RUN, OUTCOME)


def test_final_bar_shows_packets_done_cached_and_failed() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True)
    observer.on_run_start(RUN)
    run_node(observer, "square", computed=4, cached=3, failed=1)
    observer.on_run_end(RUN, OUTCOME)

    line = last_line(out.getvalue())
    assert line.startswith("square: 8pkt")
    assert "cached=3 failed=1" in line
    assert "pkt/s" in line  # the rate


def test_each_node_has_its_own_bar_and_counts() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True)
    first = run_node(observer, "first", computed=2, end=False)
    second = run_node(observer, "second", cached=5, end=False)
    first.on_packet_crash("first", TAG, PACKET, RuntimeError("boom"))
    nodes = observer._bars.nodes
    assert (nodes["first"].done, nodes["first"].cached, nodes["first"].failed) == (3, 0, 1)
    assert (nodes["second"].done, nodes["second"].cached, nodes["second"].failed) == (5, 5, 0)
    first.on_node_end("first", "hash-first")
    second.on_node_end("second", "hash-second")

    text = out.getvalue()
    assert "first: 3pkt" in text
    assert "cached=0 failed=1" in text
    assert "second: 5pkt" in text
    assert "cached=5 failed=0" in text


def test_nothing_is_written_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out)
    observer.on_run_start(RUN)
    run_node(observer, "square", computed=3, cached=2, failed=1)
    observer.on_run_end(RUN, OUTCOME)
    assert out.getvalue() == ""
    assert open_bars(observer) == {}


def test_bars_are_drawn_on_a_terminal_without_force() -> None:
    out = FakeTerminal()
    run_node(ProgressObserver(out), "square", computed=1)
    assert "square: 1pkt" in out.getvalue()


def test_stderr_is_used_by_default_and_is_silent_when_captured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_node(ProgressObserver(), "square", computed=2)
    assert capsys.readouterr().err == ""


def test_run_end_closes_the_bar_of_a_node_the_run_stopped_in() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True)
    observer.on_run_start(RUN)
    run_node(observer, "square", computed=2, failed=1, end=False)
    bar = open_bars(observer)["square"]
    assert not bar.disable

    observer.on_run_end(RUN, OUTCOME)

    assert open_bars(observer) == {}
    assert bar.disable  # tqdm marks a closed bar disabled
    assert "square: 3pkt" in last_line(out.getvalue())


def test_node_end_erases_a_bar_that_counted_no_packet() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True)
    run_node(observer, "source")
    assert open_bars(observer) == {}
    assert last_line(out.getvalue() + "\r-").strip() == "-"  # the line was blanked


def test_leave_false_erases_every_bar_when_its_node_ends() -> None:
    out = io.StringIO()
    run_node(ProgressObserver(out, force=True, leave=False), "square", computed=2)
    assert out.getvalue().endswith("\r")
    assert "square" not in last_line(out.getvalue() + "-")


def test_a_failing_bar_is_logged_and_dropped_without_failing_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    observer = ProgressObserver(io.StringIO(), force=True)
    node = run_node(observer, "square", computed=1, end=False)
    bar = open_bars(observer)["square"]

    def broken_update(n: float = 1) -> None:
        raise OSError("terminal went away")

    monkeypatch.setattr(bar, "update", broken_update)
    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        node.on_packet_end("square", TAG, PACKET, PACKET, cached=False)
        node.on_packet_crash("square", TAG, PACKET, ValueError("bad"))
        node.on_node_end("square", "hash-square")
        observer.on_run_end(RUN, OUTCOME)

    assert [record.getMessage() for record in caplog.records] == [
        "progress bar of node 'square' failed; it is no longer updated"
    ]
    assert open_bars(observer) == {}


def test_a_failing_close_is_logged_and_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    observer = ProgressObserver(io.StringIO(), force=True)
    run_node(observer, "square", computed=1, end=False)
    bar = open_bars(observer)["square"]
    real_close = bar.close

    def broken_close() -> None:
        raise OSError("terminal went away")

    monkeypatch.setattr(bar, "close", broken_close)
    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        observer.on_run_end(RUN, OUTCOME)
    assert "not closed" in caplog.text
    real_close()


def test_a_stream_that_cannot_be_written_shows_no_bar_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = BrokenTerminal()
    out.broken = True
    observer = ProgressObserver(out)
    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        run_node(observer, "square", computed=2, failed=1)
    assert "progress bar of node 'square' not shown" in caplog.text
    assert open_bars(observer) == {}


def test_a_stream_that_breaks_during_a_node_drops_the_bar_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = BrokenTerminal()
    observer = ProgressObserver(out, min_interval=0)
    node = run_node(observer, "square", computed=2, end=False)
    out.broken = True
    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        node.on_packet_end("square", TAG, PACKET, PACKET, cached=False)
        node.on_packet_end("square", TAG, PACKET, PACKET, cached=False)
        node.on_node_end("square", "hash-square")
    assert "square" in caplog.text
    assert "no longer updated" in caplog.text
    assert open_bars(observer) == {}


def test_packet_logger_keeps_nothing() -> None:
    logger = ProgressObserver(io.StringIO(), force=True).create_packet_logger(TAG, PACKET)
    logger.record(stdout="x", success=True)
    assert vars(logger) == {}


# -- totals: the node's input count ------------------------------------------------------


def test_a_bar_told_its_node_s_input_count_shows_the_total_a_percentage_and_an_eta() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True, min_interval=0)
    node = started(observer, "square", 8)
    for _ in range(4):
        node.on_packet_end("square", TAG, PACKET, PACKET, cached=False)
    bar = open_bars(observer)["square"]
    assert bar.total == 8
    line = last_line(out.getvalue())
    assert "50%" in line
    assert "4/8" in line
    assert "<" in line  # elapsed<remaining: the ETA
    node.on_node_end("square", "hash-square")


def test_a_bar_whose_count_is_not_known_shows_the_count_and_the_rate() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True, min_interval=0)
    node = started(observer, "square", None)
    node.on_packet_end("square", TAG, PACKET, PACKET, cached=False)
    assert open_bars(observer)["square"].total is None
    line = last_line(out.getvalue())
    assert line.startswith("square: 1pkt")
    assert "%" not in line
    node.on_node_end("square", "hash-square")


def test_a_count_for_a_node_without_a_bar_is_ignored() -> None:
    observer = ProgressObserver(io.StringIO())  # not a terminal: no bar
    node = observer.contextualize("pipe", "square")
    node.on_node_start("square", "hash-square", SCHEMA)
    node.on_node_inputs("square", 3)  # type: ignore[attr-defined]
    node.on_node_inputs("other", 3)  # type: ignore[attr-defined]
    assert open_bars(observer) == {}


def test_a_stream_breaking_while_a_total_is_drawn_is_logged_and_never_blocks_other_bars(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = BrokenTerminal()
    observer = ProgressObserver(out, min_interval=0)
    node = run_node(observer, "square", computed=1, end=False)
    out.broken = True
    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        node.on_node_inputs("square", 5)  # type: ignore[attr-defined]
    assert "shows no total" in caplog.text
    # tqdm's refresh keeps its global lock when drawing raises; the bar lets go of it,
    # so a bar drawn from another thread is not blocked forever
    out.broken = False
    other = ProgressObserver(FakeTerminal(), min_interval=0)
    worker = threading.Thread(target=run_node, args=(other, "elsewhere"), kwargs={"computed": 2})
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "tqdm's lock was left held by the broken bar"
    node.on_node_end("square", "hash-square")


def test_an_operator_s_bar_counts_the_input_rows_it_is_done_with() -> None:
    out = io.StringIO()
    observer = ProgressObserver(out, force=True, min_interval=0)
    node = started(observer, "kept", 9)
    node.on_node_progress("kept", 4)
    assert "4/9" in last_line(out.getvalue())
    assert_counts_rows(last_line(out.getvalue()))
    node.on_node_progress("kept", 5)
    bar = open_bars(observer)["kept"]
    assert (bar.n, bar.total, observer._bars.nodes["kept"].done) == (9, 9, 9)
    node.on_node_end("kept", "hash-kept")
    line = last_line(out.getvalue())
    assert line.startswith("kept: 100%")  # kept on screen, not erased
    assert "9/9" in line
    assert_counts_rows(line)
    node.on_node_progress("kept", 1)  # its bar is closed: ignored
    assert last_line(out.getvalue()) == line


def assert_counts_rows(line: str) -> None:
    """An operator's bar: rows and their rate, no packets, no cached or failed count."""
    assert "row/s" in line, line
    assert "pkt" not in line, line
    assert "cached" not in line, line
    assert "failed" not in line, line


def test_a_bar_that_counts_rows_keeps_them_without_a_count_of_packets() -> None:
    """Told its rows while its count is not known, an operator's bar shows them with the
    unit ``row``; a function node's bar beside it keeps its packets and their counts."""
    out = io.StringIO()
    observer = ProgressObserver(out, force=True, min_interval=0)
    node = started(observer, "joined", None)
    node.on_node_progress("joined", 7)
    line = last_line(out.getvalue())
    assert line.startswith("joined: 7row")
    assert_counts_rows(line)
    node.on_node_end("joined", "hash-joined")
    run_node(observer, "square", computed=2, cached=1)
    line = last_line(out.getvalue())
    assert line.startswith("square: 3pkt")
    assert "cached=1 failed=0" in line


def test_a_bar_failing_while_an_operator_advances_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = BrokenTerminal()
    observer = ProgressObserver(out, min_interval=0)
    node = started(observer, "joined", 3)
    out.broken = True
    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        node.on_node_progress("joined", 3)
    assert "no longer updated" in caplog.text
    assert open_bars(observer) == {}
    node.on_node_end("joined", "hash-joined")


def _bars_at_close(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, float, Any]]:
    """(done, the bar's count, its total) of each bar as its node ends, by node label."""
    from orcapod.observers._progress import _SharedBars

    shown: dict[str, tuple[int, float, Any]] = {}
    close = _SharedBars.close

    def recording_close(self: _SharedBars, node_label: str) -> None:
        node = self.nodes.get(node_label)
        if node is not None and node.bar is not None:
            shown[node_label] = (node.done, node.bar.n, node.bar.total)
        close(self, node_label)

    monkeypatch.setattr(_SharedBars, "close", recording_close)
    return shown


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_every_node_s_bar_ends_full_operators_included(
    orchestrator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.compute as pc

    from orcapod.core.databases import InMemoryArrowDatabase
    from orcapod.core.function_pods import function_pod
    from orcapod.core.operators import Filter, Join
    from orcapod.core.pipeline import Pipeline
    from orcapod.core.sources import DictSource

    @function_pod(output_keys="y")
    def ratio(x: int, z: int) -> float:
        return x / z  # z is 0 in one row: that packet fails

    @function_pod(output_keys="w")
    def double(y: float) -> float:
        return 2 * y

    xs = DictSource([{"id": i, "x": i} for i in range(6)], tag_columns=["id"])
    zs = DictSource([{"id": i, "z": i % 4} for i in range(1, 6)], tag_columns=["id"])
    pipeline = Pipeline("progress_operators", InMemoryArrowDatabase())
    with pipeline:
        joined = Join()(xs, zs, label="joined")  # needs all its input: 11 rows in, 5 out
        ratios = ratio.pod(joined, label="ratio")  # id 4 fails: 4 rows out
        kept = Filter(pc.field("y") < 2)(ratios, label="kept")  # streams: 3 rows out
        double.pod(kept, label="double")
    for attempt in ("computed", "cached"):
        shown = _bars_at_close(monkeypatch)
        out = io.StringIO()
        pipeline.run(orchestrator, observer=ProgressObserver(out, force=True, min_interval=0))
        totals = {label: bar for label, bar in shown.items() if bar[2] is not None}
        assert totals == {
            "joined": (11, 11, 11),
            "ratio": (5, 5, 5),
            "kept": (4, 4, 4),
            "double": (3, 3, 3),
        }, attempt
        # the sources, told no count and counting nothing, have their bars erased
        assert all(bar == (0, 0, None) for label, bar in shown.items() if label not in totals)
        drawn = out.getvalue().replace("\r", "\n").splitlines()
        for label, (_, _, total) in totals.items():
            last = [line for line in drawn if line.startswith(f"{label}:")][-1]
            assert "100%" in last, (attempt, last)
            assert f"{total}/{total}" in last, (attempt, last)
            if label in ("joined", "kept"):  # operators: rows, nothing cached
                assert_counts_rows(last)
            else:  # function nodes: packets, cached and failed
                assert "pkt/s" in last, (attempt, last)
                assert "cached=" in last, (attempt, last)
                assert "failed=" in last, (attempt, last)
        monkeypatch.undo()


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_a_pipeline_run_gives_each_function_node_s_bar_its_input_count(orchestrator: str) -> None:
    from orcapod.core.databases import InMemoryArrowDatabase
    from orcapod.core.function_pods import function_pod
    from orcapod.core.pipeline import Pipeline
    from orcapod.core.sources import DictSource

    @function_pod(output_keys="y")
    def triple(x: int) -> int:
        return 3 * x

    source = DictSource([{"id": i, "x": i} for i in range(7)], tag_columns=["id"])
    pipeline = Pipeline("progress_totals", InMemoryArrowDatabase())
    with pipeline:
        triple.pod(source, label="triple")
    out = io.StringIO()
    pipeline.run(orchestrator, observer=ProgressObserver(out, force=True, min_interval=0))
    lines = [line for line in out.getvalue().replace("\r", "\n").splitlines() if "triple" in line]
    assert lines, out.getvalue()
    assert "100%" in lines[-1]
    assert "7/7" in lines[-1]
