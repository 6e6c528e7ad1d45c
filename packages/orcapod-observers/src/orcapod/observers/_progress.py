"""A live progress bar per node: a function node's packets done, how many came from the
cache, how many failed; an operator's input rows done."""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from orcapod.observers._discard import DISCARD

if TYPE_CHECKING:
    from orcapod.protocols.data import Packet, Schema, Tag
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["ProgressObserver"]

_log = logging.getLogger("orcapod.observers")


class _Bar(Protocol):
    """The part of a tqdm bar this module uses."""

    leave: bool
    total: float | None
    unit: str

    def refresh(self) -> None: ...

    def update(self, n: float = 1) -> bool | None: ...

    def close(self) -> None: ...


class _NodeProgress:
    """The counts and the bar of one running node."""

    __slots__ = ("bar", "cached", "done", "failed", "label", "rows")

    def __init__(self, label: str) -> None:
        self.label = label
        self.done = 0
        """Packets with a result or a failure, or an operator's input rows done: the bar's
        count."""
        self.cached = 0
        self.failed = 0
        self.rows = False
        """Whether the node counts input rows (an operator, told by ``on_node_progress``),
        not packets."""
        self.bar: _Bar | None = None

    def postfix(self) -> str:
        """What the bar shows after its rate: ``cached=3 failed=1`` for packets; nothing for
        rows (an operator caches nothing, and has no packets to fail)."""
        return "" if self.rows else f"cached={self.cached} failed={self.failed}"


@functools.cache
def _bar_class() -> type[Any]:
    # tqdm takes ~0.1 s to import: only a run that shows a bar pays for it.
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    class NodeBar(tqdm):  # type: ignore[misc, unused-ignore]
        """A tqdm bar whose postfix is formatted from the node's counts when it is drawn.

        Drawing is already rate-limited by tqdm (``mininterval``, ``miniters``), so
        a packet costs an integer increment and ``update``, never a string.
        """

        def __init__(self, progress: _NodeProgress, **options: Any) -> None:
            # Set before tqdm's __init__, which draws the bar once.
            self._progress = progress
            self._failure: Exception | None = None
            try:
                super().__init__(**options)
            except BaseException:
                # A bar whose first draw failed (a broken stream) is never closed: when it
                # is collected, tqdm < 4.70 would fail again in __del__ ("no attribute
                # 'last_print_t'") and print that to stderr. Disabled, it closes as a no-op.
                self.disable = True
                raise

        def display(self, *args: Any, **kwargs: Any) -> Any:
            # tqdm's refresh holds tqdm's global lock while it draws and does not let go
            # of it when drawing raises: every other bar, in every thread, would then wait
            # for it forever. So the failure is kept, and raised once the lock is free.
            try:
                return super().display(*args, **kwargs)
            except Exception as error:
                self._failure = error
                return None

        def refresh(self, *args: Any, **kwargs: Any) -> Any:
            shown = super().refresh(*args, **kwargs)
            failure, self._failure = self._failure, None
            if failure is not None:
                raise failure
            return shown

        @property
        def format_dict(self) -> dict[str, Any]:
            values: dict[str, Any] = super().format_dict
            values["postfix"] = self._progress.postfix()
            return values

    return NodeBar


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class _SharedBars:
    """The settings and the open bars of an observer and of all its per-node children."""

    __slots__ = ("file", "force", "leave", "min_interval", "nodes")

    def __init__(self, file: TextIO | None, leave: bool, min_interval: float, force: bool) -> None:
        self.file = file
        self.leave = leave
        self.min_interval = min_interval
        self.force = force
        self.nodes: dict[str, _NodeProgress] = {}

    def open(self, node_label: str) -> None:
        """Show a bar for ``node_label``, unless the stream is not a terminal (and not forced)."""
        self.close(node_label)  # a node started twice: its earlier bar is over
        # Resolved now, not at construction: the process may redirect stderr in between.
        stream = self.file if self.file is not None else sys.stderr
        if not (self.force or _is_terminal(stream)):
            return
        node = _NodeProgress(node_label)
        try:
            node.bar = _bar_class()(
                node,
                desc=node_label,
                unit="pkt",
                file=stream,
                leave=self.leave,
                mininterval=self.min_interval,
                disable=False,
            )
        except Exception:
            _log.warning("progress bar of node %r not shown", node_label, exc_info=True)
            return
        self.nodes[node_label] = node

    def set_total(self, node_label: str, count: int) -> None:
        """Give the bar of ``node_label`` its total: it then shows a percentage and an ETA."""
        node = self.nodes.get(node_label)
        if node is None or node.bar is None:
            return
        try:
            node.bar.total = count
            node.bar.refresh()
        except Exception:
            _log.warning("progress bar of node %r shows no total", node_label, exc_info=True)

    def close(self, node_label: str) -> None:
        """Close the bar of ``node_label``; one that counted nothing is erased, not kept."""
        node = self.nodes.pop(node_label, None)
        if node is None or node.bar is None:
            return
        try:
            if node.done == 0:
                # Sources report no packets, nor a node without input: a "0 pkt" line is noise.
                node.bar.leave = False
            node.bar.close()
        except Exception:
            _log.warning("progress bar of node %r not closed", node_label, exc_info=True)

    def close_all(self) -> None:
        """Close every open bar."""
        for label in list(self.nodes):
            self.close(label)

    @staticmethod
    def count_rows(node: _NodeProgress) -> None:
        """From now on ``node``'s bar counts input rows: in ``row``, without a postfix."""
        node.rows = True
        if node.bar is not None:
            node.bar.unit = "row"

    def advance(self, node: _NodeProgress, count: int = 1) -> None:
        """Count ``count`` more finished packets (or input rows) of ``node`` on its bar."""
        node.done += count
        bar = node.bar
        if bar is None:
            return
        try:
            bar.update(count)
        except Exception:
            # Log once, then leave this bar alone: the run goes on without it.
            _log.warning(
                "progress bar of node %r failed; it is no longer updated",
                node.label,
                exc_info=True,
            )
            node.bar = None
            self.nodes.pop(node.label, None)
            try:
                bar.close()  # so tqdm stops reserving a screen line for it
            except Exception:
                _log.debug("broken progress bar of node %r not closed", node.label, exc_info=True)


class ProgressObserver:
    """Shows a live progress bar per node on stderr: packets done, cached, failed, and the rate.

    A function node's bar counts every packet that got a result or failed
    (``pkt``); its postfix says how many of those came from the cache and how
    many failed (``cached=3 failed=1``). An operator's bar counts the input
    rows it is done with (``on_node_progress``), in ``row``, without that
    postfix: an operator caches nothing, and has no packets to fail. Until
    its first rows are told it cannot be told from a function node's bar, and
    shows ``pkt``. When the run tells a node's input count
    (``on_node_inputs``) the bar shows ``done/total``, a percentage and an ETA,
    and ends full once the node has done all its input; when the count is not
    known (an input streamed from an upstream node still running) it shows the
    count and the rate. A node that counted nothing (a source, a node without
    input) has its bar erased when it ends.

    Nothing at all is written when the stream is not a terminal, unless ``force``.
    A failing bar (a broken terminal) is logged to the ``orcapod.observers``
    logger and dropped; it never fails the run.

    Args:
        file: where the bars are drawn; ``None`` for ``sys.stderr`` as it is when
            each node starts.
        leave: keep each node's final bar on screen after the node ends.
        min_interval: the least time, in seconds, between two redraws of a bar.
        force: draw the bars even when ``file`` is not a terminal.
    """

    def __init__(
        self,
        file: TextIO | None = None,
        *,
        leave: bool = True,
        min_interval: float = 0.1,
        force: bool = False,
    ) -> None:
        self._bars = _SharedBars(file, leave, min_interval, force)
        self._pipeline_path: tuple[str, ...] = ()

    def __repr__(self) -> str:
        where = "/".join(self._pipeline_path)
        return f"{type(self).__name__}({where!r})" if where else f"{type(self).__name__}()"

    def on_run_start(self, run: RunInfo) -> None:
        """Nothing to do: bars open as nodes start."""

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        """Close the bars still open, such as that of a node the run stopped in."""
        self._bars.close_all()

    def flush(self) -> None:
        """Nothing is stored: nothing to write."""

    def contextualize(self, *pipeline_path: str) -> ProgressObserver:
        """An observer for one node, drawing on the same bars as this one."""
        child = object.__new__(type(self))
        child._bars = self._bars
        child._pipeline_path = pipeline_path
        return child

    def on_node_start(self, node_label: str, node_hash: str, tag_schema: Schema) -> None:
        """Open the node's bar."""
        self._bars.open(node_label)

    def on_node_inputs(self, node_label: str, count: int | None) -> None:
        """Give the node's bar its total, when the count is known."""
        if count is not None:
            self._bars.set_total(node_label, count)

    def on_node_progress(self, node_label: str, rows: int) -> None:
        """Count the input rows an operator is done with on its bar, which counts rows."""
        node = self._bars.nodes.get(node_label)
        if node is not None:
            if not node.rows:
                self._bars.count_rows(node)
            self._bars.advance(node, rows)

    def on_node_end(self, node_label: str, node_hash: str) -> None:
        """Close the node's bar."""
        self._bars.close(node_label)

    def on_packet_start(self, node_label: str, tag: Tag, packet: Packet) -> None:
        """Nothing to do: a packet is counted when it ends."""

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
        """Count a packet done, and cached if it came from the store."""
        node = self._bars.nodes.get(node_label)
        if node is None:
            return
        if cached:
            node.cached += 1
        self._bars.advance(node)

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        """Count a packet done and failed."""
        node = self._bars.nodes.get(node_label)
        if node is None:
            return
        node.failed += 1
        self._bars.advance(node)

    def create_packet_logger(self, tag: Tag, packet: Packet) -> PacketExecutionLogger:
        """A logger that discards every record."""
        return DISCARD
