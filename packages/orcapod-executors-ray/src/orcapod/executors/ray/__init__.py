"""orcapod.executors.ray: run orcapod function pods on a Ray cluster.

    from orcapod.executors.ray import RayExecutor

    pipeline.run(executor=RayExecutor(num_cpus=1, max_retries=2))

Importing this package does not import Ray; the executor connects on first use.
"""

from __future__ import annotations

from orcapod.executors.ray._executor import RayExecutor
from orcapod.executors.ray.errors import (
    RayExecutorError,
    RayExecutorOptionError,
    RayTaskSystemError,
    RemoteExceptionError,
    TaskSetupError,
    WorkerDiedError,
)

__all__ = [
    "RayExecutor",
    "RayExecutorError",
    "RayExecutorOptionError",
    "RayTaskSystemError",
    "RemoteExceptionError",
    "TaskSetupError",
    "WorkerDiedError",
]
