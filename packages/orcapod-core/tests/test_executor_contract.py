"""The executor contract of orcapod-protocols, run against every executor of orcapod-core."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.core import LocalExecutor, ProcessExecutor
from orcapod.protocols.testing import ExecutorContract

if TYPE_CHECKING:
    from orcapod.protocols.executors import PythonFunctionExecutor


class TestLocalExecutorSys(ExecutorContract):
    __test__ = True

    def make_executor(self) -> LocalExecutor:
        return LocalExecutor("sys", passthrough=False)

    def calls_in_flight(self, executor: PythonFunctionExecutor) -> int:
        """It declares no concurrency (nodes run its packets one at a time), but its
        async path runs the concurrent orchestrator's packets at the same time."""
        return 2


class TestLocalExecutorFd(ExecutorContract):
    __test__ = True

    def make_executor(self) -> LocalExecutor:
        return LocalExecutor("fd", passthrough=False)


class TestProcessExecutor(ExecutorContract):
    """Worker processes of this machine, capturing at file-descriptor level."""

    __test__ = True

    def make_executor(self) -> ProcessExecutor:
        return ProcessExecutor(max_workers=2, passthrough=False)
