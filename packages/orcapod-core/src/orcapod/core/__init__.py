"""orcapod.core: reproducible scientific data pipelines.

Public names are imported on first use, so ``import orcapod.core`` stays fast
and never imports a plugin or an optional library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    from orcapod.core._noop import NoOpObserver
    from orcapod.core.databases import InMemoryArrowDatabase
    from orcapod.core.datagrams import Packet, Tag
    from orcapod.core.errors import OrcapodError
    from orcapod.core.executors import LocalExecutor
    from orcapod.core.function_pods import (
        FunctionPod,
        PythonPacketFunction,
        ResultCache,
        function_pod,
    )
    from orcapod.core.operators import Join, SemiJoin
    from orcapod.core.pipeline import (
        AsyncPipelineOrchestrator,
        Pipeline,
        RunResult,
        SyncPipelineOrchestrator,
    )
    from orcapod.core.plugins import PluginRegistry, get_executor, get_observer, open_database
    from orcapod.core.sources import (
        ArrowTableSource,
        CSVSource,
        DataFrameSource,
        DictSource,
        ListSource,
    )
    from orcapod.core.types import Schema

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "ArrowTableSource": "orcapod.core.sources",
        "CSVSource": "orcapod.core.sources",
        "DataFrameSource": "orcapod.core.sources",
        "DictSource": "orcapod.core.sources",
        "ListSource": "orcapod.core.sources",
        "Packet": "orcapod.core.datagrams",
        "Schema": "orcapod.core.types",
        "Tag": "orcapod.core.datagrams",
        "FunctionPod": "orcapod.core.function_pods",
        "Join": "orcapod.core.operators",
        "Pipeline": "orcapod.core.pipeline",
        "RunResult": "orcapod.core.pipeline",
        "SyncPipelineOrchestrator": "orcapod.core.pipeline",
        "AsyncPipelineOrchestrator": "orcapod.core.pipeline",
        "SemiJoin": "orcapod.core.operators",
        "LocalExecutor": "orcapod.core.executors",
        "PythonPacketFunction": "orcapod.core.function_pods",
        "ResultCache": "orcapod.core.function_pods",
        "function_pod": "orcapod.core.function_pods",
        "InMemoryArrowDatabase": "orcapod.core.databases",
        "NoOpObserver": "orcapod.core._noop",
        "OrcapodError": "orcapod.core.errors",
        "PluginRegistry": "orcapod.core.plugins",
        "get_executor": "orcapod.core.plugins",
        "get_observer": "orcapod.core.plugins",
        "open_database": "orcapod.core.plugins",
    },
)
