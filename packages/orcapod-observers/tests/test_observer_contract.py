"""The observer contract of orcapod-protocols, run against every observer of this package."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from orcapod.core import InMemoryArrowDatabase
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ProgressObserver,
    StatusObserver,
)
from orcapod.protocols.testing import ObserverContract
from orcapod.protocols.testing.observer_contract import NODES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from orcapod.protocols import ExecutionObserver


def _rows(database: InMemoryArrowDatabase, branch: str) -> list[dict[str, Any]]:
    """Every row of the contract's nodes under ``branch``, with its run id as ``run_id``."""
    rows: list[dict[str, Any]] = []
    for node in NODES:
        pipeline, *rest = node.path
        table = database.get_all_records((pipeline, branch, *rest))
        if table is not None:
            rows += [{**row, "run_id": row["__run_id"]} for row in table.to_pylist()]
    return rows


class TestStatusObserver(ObserverContract):
    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        self.database = InMemoryArrowDatabase()
        return StatusObserver(self.database)

    def recorded_rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]]:
        return _rows(self.database, "_status")


class TestLoggingObserver(ObserverContract):
    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        self.database = InMemoryArrowDatabase()
        return LoggingObserver(self.database)

    def recorded_rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]]:
        return _rows(self.database, "_logs")


class TestProgressObserver(ObserverContract):
    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        return ProgressObserver(io.StringIO(), force=True, min_interval=0)


class TestCompositeObserver(ObserverContract):
    __test__ = True

    def make_observer(self) -> ExecutionObserver:
        self.database = InMemoryArrowDatabase()
        return CompositeObserver(
            LoggingObserver(self.database),
            StatusObserver(self.database),
            ProgressObserver(io.StringIO(), force=True, min_interval=0),
        )

    def recorded_rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]]:
        return _rows(self.database, "_status") + _rows(self.database, "_logs")
