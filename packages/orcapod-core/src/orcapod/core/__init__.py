"""orcapod.core: reproducible scientific data pipelines.

Public names are imported on first use, so ``import orcapod.core`` stays fast
and never imports a plugin or an optional library.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if getattr(sys.modules.get("orcapod"), "__file__", None):  # a foreign regular package
    from _orcapod_root_guard import foreign_package_error

    raise foreign_package_error(sys.modules["orcapod"].__file__)

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    # `name as name`: marks each as re-exported for type checkers (mypy --strict).
    from orcapod.core._noop import NoOpObserver as NoOpObserver
    from orcapod.core.databases import InMemoryArrowDatabase as InMemoryArrowDatabase
    from orcapod.core.datagrams import Packet as Packet
    from orcapod.core.datagrams import Tag as Tag
    from orcapod.core.errors import OrcapodError as OrcapodError
    from orcapod.core.executors import LocalExecutor as LocalExecutor
    from orcapod.core.executors import ProcessExecutor as ProcessExecutor
    from orcapod.core.files import Directory as Directory
    from orcapod.core.files import File as File
    from orcapod.core.files import FileStore as FileStore
    from orcapod.core.files import scratch_dir as scratch_dir
    from orcapod.core.function_pods import (
        FunctionPod as FunctionPod,
    )
    from orcapod.core.function_pods import (
        PythonPacketFunction as PythonPacketFunction,
    )
    from orcapod.core.function_pods import (
        ResultCache as ResultCache,
    )
    from orcapod.core.function_pods import (
        function_pod as function_pod,
    )
    from orcapod.core.operators import Join as Join
    from orcapod.core.operators import SemiJoin as SemiJoin
    from orcapod.core.pipeline import (
        AsyncPipelineOrchestrator as AsyncPipelineOrchestrator,
    )
    from orcapod.core.pipeline import (
        Pipeline as Pipeline,
    )
    from orcapod.core.pipeline import (
        RunResult as RunResult,
    )
    from orcapod.core.pipeline import (
        SyncPipelineOrchestrator as SyncPipelineOrchestrator,
    )
    from orcapod.core.plugins import (
        PluginRegistry as PluginRegistry,
    )
    from orcapod.core.plugins import (
        get_executor as get_executor,
    )
    from orcapod.core.plugins import (
        get_observer as get_observer,
    )
    from orcapod.core.plugins import (
        open_database as open_database,
    )
    from orcapod.core.sources import (
        ArrowTableSource as ArrowTableSource,
    )
    from orcapod.core.sources import (
        CSVSource as CSVSource,
    )
    from orcapod.core.sources import (
        DataFrameSource as DataFrameSource,
    )
    from orcapod.core.sources import (
        DictSource as DictSource,
    )
    from orcapod.core.sources import (
        GlobSource as GlobSource,
    )
    from orcapod.core.sources import (
        ListSource as ListSource,
    )
    from orcapod.core.sources import (
        ParquetSource as ParquetSource,
    )
    from orcapod.core.sources import (
        as_stream as as_stream,
    )
    from orcapod.core.types import Schema as Schema

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "ArrowTableSource": "orcapod.core.sources",
        "CSVSource": "orcapod.core.sources",
        "DataFrameSource": "orcapod.core.sources",
        "DictSource": "orcapod.core.sources",
        "GlobSource": "orcapod.core.sources",
        "ListSource": "orcapod.core.sources",
        "ParquetSource": "orcapod.core.sources",
        "as_stream": "orcapod.core.sources",
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
        "ProcessExecutor": "orcapod.core.executors",
        "Directory": "orcapod.core.files",
        "File": "orcapod.core.files",
        "FileStore": "orcapod.core.files",
        "scratch_dir": "orcapod.core.files",
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
