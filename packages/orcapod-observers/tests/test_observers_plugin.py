"""The entry point of orcapod-observers, loaded as orcapod would load it, without orcapod-core."""

from __future__ import annotations

import subprocess
import sys

import orcapod.observers
from orcapod.protocols import ExecutionObserver
from orcapod.protocols.testing import load_distribution_plugins

OBSERVERS = {"logging", "status", "composite", "progress"}
COMMANDS = {"runs", "status", "logs", "results", "report"}


class _Database:
    """Enough of an ArrowDatabase to build an observer (nothing is written here)."""

    def add_records(self, *args: object, **kwargs: object) -> None:
        pass

    def flush(self) -> None:
        pass


def test_entry_point_registers_the_four_observers_and_three_commands() -> None:
    provided = load_distribution_plugins("orcapod-observers")
    assert {kind: set(names) for kind, names in provided.items()} == {
        "observer": OBSERVERS,
        "cli-command": COMMANDS,
    }


def test_every_observer_factory_builds_an_execution_observer() -> None:
    factories = load_distribution_plugins("orcapod-observers")["observer"]
    database = _Database()
    built = [
        factories["logging"](database=database),
        factories["status"](database=database),
        factories["progress"](),
    ]
    built.append(factories["composite"](observers=built))
    for observer in built:
        assert isinstance(observer, ExecutionObserver)


def test_the_exported_names_are_what_we_mean_to_publish() -> None:
    assert set(orcapod.observers.__all__) == {
        "CompositeObserver",
        "LoggingObserver",
        "ObservabilityError",
        "ObservabilityReader",
        "ProgressObserver",
        "StatusObserver",
        "TagTypeConflictError",
        "UnknownNodeError",
        "UnknownPipelineError",
        "UnknownRunError",
        "list_pipelines",
        "write_report",
    }
    for name in orcapod.observers.__all__:
        assert getattr(orcapod.observers, name) is not None


def test_importing_orcapod_observers_imports_neither_core_nor_tqdm() -> None:
    code = "import orcapod.observers, sys; print('\\n'.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not {name for name in loaded if name.startswith("orcapod.core")}
    assert "tqdm" not in loaded
