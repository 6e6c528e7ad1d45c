"""RunSummaryObserver: one JSON line per run, with what each node computed, reused and lost."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.protocols.observability import BaseObserver

if TYPE_CHECKING:
    import os

    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.values import RunInfo, RunOutcome

__all__ = ["RunSummaryObserver"]


class RunSummaryObserver(BaseObserver):
    """Appends a summary of every run to a JSON-lines file when the run ends.

    Each line holds the run's id, pipeline, final state and, per node, how many
    packets were computed, taken from the store (cached) and failed. The
    counts start afresh with every run, so an instance observes one run at a
    time: give runs that overlap an observer each. Every hook BaseObserver
    provides and this observer does not need stays a no-op.

    Args:
        path: the JSON-lines file (created if missing; lines are appended).
    """

    def __init__(self, path: str | os.PathLike[str] = "orcapod-runs.jsonl") -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # packets end on several threads at once
        self._counts: dict[str, Counter[str]] = {}

    def __repr__(self) -> str:
        return f"RunSummaryObserver({str(self.path)!r})"

    def on_run_start(self, run: RunInfo) -> None:
        with self._lock:
            self._counts = {}

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
        self._count(node_label, "cached" if cached else "computed")

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        self._count(node_label, "failed")

    def on_run_end(self, run: RunInfo, outcome: RunOutcome) -> None:
        with self._lock:
            nodes = {label: dict(counts) for label, counts in sorted(self._counts.items())}
        line = {
            "run_id": run.run_id,
            "pipeline": run.pipeline_name,
            "state": str(outcome.state),
            "ended_at": outcome.ended_at.isoformat(),
            "nodes": nodes,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def _count(self, node_label: str, what: str) -> None:
        with self._lock:
            self._counts.setdefault(node_label, Counter())[what] += 1

    def summaries(self) -> list[dict[str, object]]:
        """Every line written so far, oldest first."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines()]
