"""The public face of orcapod.core: what it exports, and that importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import orcapod.core
from orcapod.core import NoOpObserver
from orcapod.protocols import ExecutionObserver, PacketExecutionLogger

HEAVY = ("ray", "deltalake", "sqlalchemy", "pandas", "polars")


def test_exported_names_are_what_we_mean_to_publish() -> None:
    assert set(orcapod.core.__all__) == {
        "ArrowTableSource",
        "CSVSource",
        "DataFrameSource",
        "DictSource",
        "GlobSource",
        "ListSource",
        "ParquetSource",
        "as_stream",
        "Packet",
        "Schema",
        "Tag",
        "FunctionPod",
        "Join",
        "SemiJoin",
        "Pipeline",
        "RunResult",
        "SyncPipelineOrchestrator",
        "AsyncPipelineOrchestrator",
        "LocalExecutor",
        "ProcessExecutor",
        "File",
        "Directory",
        "FileStore",
        "scratch_dir",
        "PythonPacketFunction",
        "ResultCache",
        "function_pod",
        "InMemoryArrowDatabase",
        "NoOpObserver",
        "OrcapodError",
        "PluginRegistry",
        "get_executor",
        "get_observer",
        "open_database",
    }
    for name in orcapod.core.__all__:
        assert getattr(orcapod.core, name) is not None


def test_unknown_attribute_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'Pipelin'"):
        orcapod.core.Pipelin  # type: ignore[attr-defined]  # noqa: B018


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.splitlines())


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_import_orcapod_core_imports_no_heavy_or_optional_library() -> None:
    loaded = _top_level(_modules_after("import orcapod.core"))
    assert not loaded & set(HEAVY)


def test_import_orcapod_core_does_not_load_plugins() -> None:
    loaded = _modules_after("import orcapod.core")
    assert "pluggy" not in loaded
    assert "importlib.metadata" not in loaded
    assert not {
        m for m in loaded if m.startswith(("orcapod.db", "orcapod.executors", "orcapod.observers"))
    }


def test_importing_every_public_name_imports_no_heavy_or_optional_library() -> None:
    loaded = _modules_after("from orcapod.core import *")
    assert not _top_level(loaded) & set(HEAVY)


def test_building_and_reading_a_source_imports_no_plugin_library() -> None:
    # pyarrow itself imports pandas, when installed, the first time it converts
    # Python values; orcapod adds no import of its own.
    code = (
        "from orcapod.core import DictSource\n"
        "s = DictSource([{'id': 'a', 'x': 1}], tag_columns=['id'])\n"
        "list(s.iter_packets()); s.content_hash(); s.as_table()"
    )
    assert not _top_level(_modules_after(code)) & (set(HEAVY) - {"pandas"})


def test_opening_a_memory_database_still_imports_no_heavy_library() -> None:
    loaded = _modules_after("from orcapod.core import open_database\nopen_database('memory://')")
    assert not _top_level(loaded) & set(HEAVY)


def test_noop_observer_accepts_every_hook_and_hands_out_a_logger() -> None:
    observer = NoOpObserver()
    assert isinstance(observer, ExecutionObserver)
    node = observer.contextualize("demo", "double")
    assert node is observer
    logger = node.create_packet_logger(tag=None, packet=None)  # type: ignore[arg-type]
    assert isinstance(logger, PacketExecutionLogger)
    logger.record(stdout="ignored", success=True)


def test_every_source_s_read_counter_is_exported_beside_the_sources() -> None:
    """The ``reads`` counters of the sources (``ParquetReads``, ``CSVReads``, ...) are
    public names of ``orcapod.core.sources``, as the sources themselves are."""
    import importlib
    import inspect
    import pkgutil

    import orcapod.core.sources as sources

    counters = {
        name
        for info in pkgutil.iter_modules(sources.__path__, sources.__name__ + ".")
        for name, value in vars(importlib.import_module(info.name)).items()
        if inspect.isclass(value) and name.endswith("Reads") and value.__module__ == info.name
    }
    assert {"CSVReads", "ParquetReads", "SourceTableReads"} <= counters
    for name in counters:
        assert name in sources.__all__, name
        assert getattr(sources, name).__name__ == name
