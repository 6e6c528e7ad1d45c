"""The entry point of orcapod-executors-ray: the ``ray`` executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.hooks import ExecutorFactory


def make_ray_executor(**options: Any) -> PacketFunctionExecutor:
    """A RayExecutor made with ``options``."""
    from orcapod.protocols.errors import NotAvailableError

    raise NotAvailableError(
        "the 'ray' executor (RayExecutor) is not implemented in this release of "
        "orcapod-executors-ray; run pipelines with the local executor until it is"
    )


@hookimpl
def orcapod_executors() -> Mapping[str, ExecutorFactory]:
    """``ray``."""
    return {"ray": make_ray_executor}
