"""RunSummaryObserver passes orcapod's observer contract and writes one line per run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from orcapod_plugin_template import RunSummaryObserver

from orcapod.protocols.testing import ObserverContract

if TYPE_CHECKING:
    from pathlib import Path


class TestRunSummaryObserver(ObserverContract):
    """Hook order of both orchestrators, isolation, flushes, a fresh state every run."""

    __test__ = True

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def make_observer(self) -> RunSummaryObserver:
        return RunSummaryObserver(self.directory / "runs.jsonl")

    def recorded_rows(self, observer: Any) -> list[dict[str, object]]:
        return list(observer.summaries())
