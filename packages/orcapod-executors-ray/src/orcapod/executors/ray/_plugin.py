"""The entry point of orcapod-executors-ray: the ``ray`` executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.executors.ray._executor import RayExecutor
    from orcapod.protocols.hooks import ExecutorFactory


def make_ray_executor(**options: Any) -> RayExecutor:
    """A :class:`RayExecutor` made with ``options`` (``num_cpus=1``, ``address="auto"``, ...).

    Raises:
        TypeError: an option RayExecutor does not have.
        orcapod.executors.ray.RayExecutorOptionError: an option's value is unusable.
    """
    from orcapod.executors.ray._executor import RayExecutor

    return RayExecutor(**options)


@hookimpl
def orcapod_executors() -> Mapping[str, ExecutorFactory]:
    """``ray``: :class:`~orcapod.executors.ray.RayExecutor`."""
    return {"ray": make_ray_executor}
