"""orcapod.protocols: the contracts between orcapod core and its plugins.

Every shape that crosses a package boundary is a ``typing.Protocol`` here;
plugins depend on this package alone, never on ``orcapod.core``. Names are
resolved lazily so that importing one submodule (``orcapod.protocols.errors``)
does not pay for pyarrow or pluggy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    from orcapod.protocols.data import (
        ContentIdentifiable,
        Datagram,
        Packet,
        PipelineIdentifiable,
        Schema,
        Tag,
    )
    from orcapod.protocols.database import ArrowDatabase, validate_record_path
    from orcapod.protocols.errors import (
        DatabaseError,
        DuplicateRecordError,
        InvalidRecordPathError,
        NotAvailableError,
        OrcapodError,
        RecordSchemaError,
    )
    from orcapod.protocols.executors import PacketFunctionExecutor, PythonFunctionExecutor
    from orcapod.protocols.hooks import (
        CliCommand,
        CliCommandFactory,
        CliHost,
        DatabaseFactory,
        ExecutorFactory,
        ObserverFactory,
        hookimpl,
        hookspec,
    )
    from orcapod.protocols.observability import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.pods import FunctionPod, PacketFunction, Pod
    from orcapod.protocols.streams import Source, Stream
    from orcapod.protocols.values import (
        CaptureLevel,
        ErrorPolicy,
        ExecutionRecordFields,
        PacketState,
        PluginKind,
        PythonLogRecord,
        RecordPath,
        RunInfo,
        RunOutcome,
        RunState,
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
    **dict.fromkeys(["ExecutionObserver", "PacketExecutionLogger"], "observability"),
    **dict.fromkeys(["FunctionPod", "PacketFunction", "Pod"], "pods"),
    **dict.fromkeys(["Source", "Stream"], "streams"),
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
