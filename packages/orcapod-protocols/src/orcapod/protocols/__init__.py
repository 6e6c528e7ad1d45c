"""orcapod.protocols: the contracts between orcapod core and its plugins.

Every shape that crosses a package boundary is a ``typing.Protocol`` here;
plugins depend on this package alone, never on ``orcapod.core``. Names are
resolved lazily so that importing one submodule (``orcapod.protocols.errors``)
does not pay for pyarrow or pluggy.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if getattr(sys.modules.get("orcapod"), "__file__", None):  # a foreign regular package
    from _orcapod_root_guard import foreign_package_error

    raise foreign_package_error(sys.modules["orcapod"].__file__)

if TYPE_CHECKING:
    # `name as name`: marks each as re-exported for type checkers (mypy --strict).
    from orcapod.protocols.data import (
        ContentIdentifiable as ContentIdentifiable,
    )
    from orcapod.protocols.data import (
        Datagram as Datagram,
    )
    from orcapod.protocols.data import (
        Packet as Packet,
    )
    from orcapod.protocols.data import (
        PipelineIdentifiable as PipelineIdentifiable,
    )
    from orcapod.protocols.data import (
        Schema as Schema,
    )
    from orcapod.protocols.data import (
        Tag as Tag,
    )
    from orcapod.protocols.database import (
        ArrowDatabase as ArrowDatabase,
    )
    from orcapod.protocols.database import (
        validate_record_path as validate_record_path,
    )
    from orcapod.protocols.errors import (
        DatabaseError as DatabaseError,
    )
    from orcapod.protocols.errors import (
        DuplicateRecordError as DuplicateRecordError,
    )
    from orcapod.protocols.errors import (
        InvalidRecordPathError as InvalidRecordPathError,
    )
    from orcapod.protocols.errors import (
        NotAvailableError as NotAvailableError,
    )
    from orcapod.protocols.errors import (
        OrcapodError as OrcapodError,
    )
    from orcapod.protocols.errors import (
        RecordSchemaError as RecordSchemaError,
    )
    from orcapod.protocols.errors import (
        SourceError as SourceError,
    )
    from orcapod.protocols.executors import (
        PacketFunctionExecutor as PacketFunctionExecutor,
    )
    from orcapod.protocols.executors import (
        PythonFunctionExecutor as PythonFunctionExecutor,
    )
    from orcapod.protocols.hooks import (
        CliCommand as CliCommand,
    )
    from orcapod.protocols.hooks import (
        CliCommandFactory as CliCommandFactory,
    )
    from orcapod.protocols.hooks import (
        CliHost as CliHost,
    )
    from orcapod.protocols.hooks import (
        DatabaseFactory as DatabaseFactory,
    )
    from orcapod.protocols.hooks import (
        ExecutorFactory as ExecutorFactory,
    )
    from orcapod.protocols.hooks import (
        ObserverFactory as ObserverFactory,
    )
    from orcapod.protocols.hooks import (
        hookimpl as hookimpl,
    )
    from orcapod.protocols.hooks import (
        hookspec as hookspec,
    )
    from orcapod.protocols.logical_types import (
        LogicalTypeDefinition as LogicalTypeDefinition,
    )
    from orcapod.protocols.logical_types import (
        LogicalTypeSpec as LogicalTypeSpec,
    )
    from orcapod.protocols.observability import (
        BaseObserver as BaseObserver,
    )
    from orcapod.protocols.observability import (
        ExecutionObserver as ExecutionObserver,
    )
    from orcapod.protocols.observability import (
        PacketExecutionLogger as PacketExecutionLogger,
    )
    from orcapod.protocols.pods import (
        FunctionPod as FunctionPod,
    )
    from orcapod.protocols.pods import (
        PacketFunction as PacketFunction,
    )
    from orcapod.protocols.pods import (
        Pod as Pod,
    )
    from orcapod.protocols.store import (
        BaseArrowDatabase as BaseArrowDatabase,
    )
    from orcapod.protocols.streams import Source as Source
    from orcapod.protocols.streams import SourceTable as SourceTable
    from orcapod.protocols.streams import Stream as Stream
    from orcapod.protocols.values import (
        CaptureLevel as CaptureLevel,
    )
    from orcapod.protocols.values import (
        ErrorPolicy as ErrorPolicy,
    )
    from orcapod.protocols.values import (
        ExecutionRecordFields as ExecutionRecordFields,
    )
    from orcapod.protocols.values import (
        PacketState as PacketState,
    )
    from orcapod.protocols.values import (
        PluginKind as PluginKind,
    )
    from orcapod.protocols.values import (
        PythonLogRecord as PythonLogRecord,
    )
    from orcapod.protocols.values import (
        RecordPath as RecordPath,
    )
    from orcapod.protocols.values import (
        RunInfo as RunInfo,
    )
    from orcapod.protocols.values import (
        RunOutcome as RunOutcome,
    )
    from orcapod.protocols.values import (
        RunState as RunState,
    )

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "ContentIdentifiable",
            "Datagram",
            "Packet",
            "PipelineIdentifiable",
            "Schema",
            "Tag",
        ],
        "data",
    ),
    **dict.fromkeys(["ArrowDatabase", "validate_record_path"], "database"),
    **dict.fromkeys(
        [
            "DatabaseError",
            "DuplicateRecordError",
            "InvalidRecordPathError",
            "NotAvailableError",
            "OrcapodError",
            "RecordSchemaError",
            "SourceError",
        ],
        "errors",
    ),
    **dict.fromkeys(["PacketFunctionExecutor", "PythonFunctionExecutor"], "executors"),
    **dict.fromkeys(
        [
            "CliCommand",
            "CliCommandFactory",
            "CliHost",
            "DatabaseFactory",
            "ExecutorFactory",
            "ObserverFactory",
            "hookimpl",
            "hookspec",
        ],
        "hooks",
    ),
    **dict.fromkeys(["LogicalTypeDefinition", "LogicalTypeSpec"], "logical_types"),
    **dict.fromkeys(
        ["BaseObserver", "ExecutionObserver", "PacketExecutionLogger"], "observability"
    ),
    **dict.fromkeys(["FunctionPod", "PacketFunction", "Pod"], "pods"),
    **dict.fromkeys(["BaseArrowDatabase"], "store"),
    **dict.fromkeys(["Source", "SourceTable", "Stream"], "streams"),
    **dict.fromkeys(
        [
            "CaptureLevel",
            "ErrorPolicy",
            "ExecutionRecordFields",
            "PacketState",
            "PluginKind",
            "PythonLogRecord",
            "RecordPath",
            "RunInfo",
            "RunOutcome",
            "RunState",
        ],
        "values",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(
    globals(), {name: f"orcapod.protocols.{module}" for name, module in _EXPORTS.items()}
)
