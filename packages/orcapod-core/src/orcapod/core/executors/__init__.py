"""Executors built into orcapod-core: where and how packet functions run.

Imported on first use, so that a worker process of :class:`ProcessExecutor`
loads only what it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    from orcapod.core.executors._local import LocalExecutor as LocalExecutor
    from orcapod.core.executors._process import ProcessExecutor as ProcessExecutor

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "LocalExecutor": "orcapod.core.executors._local",
        "ProcessExecutor": "orcapod.core.executors._process",
    },
)
