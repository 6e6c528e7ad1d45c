"""The executor contract of orcapod-protocols, run against RayExecutor on a real local cluster."""

from __future__ import annotations

import pytest

from orcapod.executors.ray import RayExecutor
from orcapod.protocols.testing import ExecutorContract


@pytest.mark.usefixtures("ray_cluster")
class TestRayExecutor(ExecutorContract):
    __test__ = True

    def make_executor(self) -> RayExecutor:
        return RayExecutor(passthrough=False)
