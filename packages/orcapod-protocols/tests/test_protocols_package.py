"""The public face of orcapod.protocols: what it exports, and that importing it is cheap."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Protocol

import pluggy

import orcapod.protocols as protocols
from orcapod.protocols import hooks

EXPECTED = {
    # data model
    "Schema",
    "Datagram",
    "Tag",
    "Packet",
    "ContentIdentifiable",
    "PipelineIdentifiable",
    "Stream",
    "Source",
    "SourceTable",
    "Pod",
    "FunctionPod",
    "PacketFunction",
    # execution and observation
    "PacketFunctionExecutor",
    "PythonFunctionExecutor",
    "ExecutionObserver",
    "PacketExecutionLogger",
    "BaseObserver",
    # storage
    "ArrowDatabase",
    "validate_record_path",
    "BaseArrowDatabase",
    # plugins
    "hookimpl",
    "hookspec",
    "CliCommand",
    "CliHost",
    "CliCommandFactory",
    "DatabaseFactory",
    "ExecutorFactory",
    "ObserverFactory",
    "LogicalTypeDefinition",
    "LogicalTypeSpec",
    # values and errors
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
    "OrcapodError",
    "NotAvailableError",
    "DatabaseError",
    "DuplicateRecordError",
    "InvalidRecordPathError",
    "RecordSchemaError",
    "SourceError",
}


def test_exported_names_are_exactly_the_contract() -> None:
    assert set(protocols.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in protocols.__all__:
        assert getattr(protocols, name) is not None, name


def test_contracts_are_protocols_not_base_classes() -> None:
    for name in [
        "Schema",
        "Datagram",
        "Tag",
        "Packet",
        "Stream",
        "Source",
        "SourceTable",
        "Pod",
        "FunctionPod",
        "PacketFunction",
        "PacketFunctionExecutor",
        "PythonFunctionExecutor",
        "ExecutionObserver",
        "PacketExecutionLogger",
        "ArrowDatabase",
        "CliCommand",
        "CliHost",
        "LogicalTypeDefinition",
    ]:
        value = getattr(protocols, name)
        assert Protocol in value.__mro__, name
        assert value._is_protocol, name
        assert value.__doc__, f"{name} has no docstring"


def test_a_class_with_the_right_methods_satisfies_the_runtime_checkable_logger() -> None:
    class ListLogger:
        def __init__(self) -> None:
            self.records: list[dict[str, object]] = []

        def record(self, **fields: object) -> None:
            self.records.append(fields)

    assert isinstance(ListLogger(), protocols.PacketExecutionLogger)
    assert not isinstance(object(), protocols.PacketExecutionLogger)


def test_a_plain_object_with_rows_and_their_identity_is_a_source_table() -> None:
    class Rows:
        source_id = "rows"
        tag_columns = ("id",)
        record_id_column = None

        def as_arrow(self) -> object:
            return {"id": [1]}

    class NoRows:
        source_id = "rows"
        tag_columns = ("id",)
        record_id_column = None

    assert isinstance(Rows(), protocols.SourceTable)
    assert not isinstance(NoRows(), protocols.SourceTable)
    assert not isinstance(Rows(), protocols.Stream)


def test_source_error_is_an_orcapod_value_error() -> None:
    assert issubclass(protocols.SourceError, protocols.OrcapodError)
    assert issubclass(protocols.SourceError, ValueError)


def test_hook_markers_use_the_orcapod_project_name() -> None:
    assert hooks.PROJECT_NAME == "orcapod"
    assert isinstance(hooks.hookimpl, pluggy.HookimplMarker)
    assert hooks.hookimpl.project_name == "orcapod"
    assert hooks.hookspec.project_name == "orcapod"


def test_every_hook_is_named_orcapod_star_takes_no_arguments_and_is_documented() -> None:
    specs = [f for name, f in vars(hooks).items() if hasattr(f, "orcapod_spec")]
    assert {f.__name__ for f in specs} == {
        "orcapod_database_schemes",
        "orcapod_executors",
        "orcapod_observers",
        "orcapod_cli_commands",
        "orcapod_logical_types",
    }
    for spec in specs:
        assert not inspect.signature(spec).parameters
        assert "Returns:" in (spec.__doc__ or "")


def test_plugin_manager_accepts_the_hook_specs() -> None:
    manager = pluggy.PluginManager(hooks.PROJECT_NAME)
    manager.add_hookspecs(hooks)

    class Plugin:
        @hooks.hookimpl
        def orcapod_executors(self) -> dict[str, object]:
            return {"x": dict}

    manager.register(Plugin())
    manager.check_pending()
    assert manager.hook.orcapod_executors() == [{"x": dict}]


def test_importing_errors_and_values_does_not_import_pyarrow_or_pluggy() -> None:
    code = (
        "import sys, orcapod.protocols.errors, orcapod.protocols.values\n"
        "print(sorted(m for m in ('pyarrow', 'pluggy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
