"""The command line sits on top of core: the registry and the pipeline never import it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orcapod.core.plugins import AUTOLOAD_ENV_VAR, PluginRegistry
from orcapod.core.plugins._builtins import LazyCliCommand

CORE = Path(__file__).resolve().parents[1] / "src" / "orcapod" / "core"

_CLI_MODULES_AFTER = """
import json, sys
{statements}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[:3] == ["orcapod", "core", "cli"])))
"""


def _cli_modules_imported_by(*statements: str) -> list[str]:
    """The ``orcapod.core.cli`` modules a fresh process has imported after ``statements``."""
    code = _CLI_MODULES_AFTER.format(statements="\n".join(statements))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(done.stdout))


@pytest.mark.parametrize(
    "statements",
    [
        ["import orcapod.core.plugins"],
        # the builtins' hooks answered, every installed plugin loaded
        ["from orcapod.core.plugins import default_registry", "default_registry().provisions()"],
        ["import orcapod.core.pipeline"],
        ["import orcapod.core"],
    ],
    ids=["plugins", "registry-loaded", "pipeline", "core"],
)
def test_the_registry_and_the_pipeline_do_not_import_the_command_line(
    statements: list[str],
) -> None:
    assert _cli_modules_imported_by(*statements) == []


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (in functions, under TYPE_CHECKING)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_no_module_outside_the_command_line_imports_it_not_even_lazily() -> None:
    """The circle pipeline -> plugins -> builtins -> CLI -> pipeline cannot come back."""
    outside = [
        path
        for path in CORE.rglob("*.py")
        if "cli" not in path.relative_to(CORE).parts and path.name != "__main__.py"
    ]
    importers = {
        str(path.relative_to(CORE)): sorted(
            m for m in _imported_modules(path) if m.startswith("orcapod.core.cli")
        )
        for path in outside
    }

    assert {path: mods for path, mods in importers.items() if mods} == {}


def test_core_sub_commands_are_made_by_the_command_line_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "1")
    registry = PluginRegistry()
    from orcapod.core.cli import RegistryHost

    commands = registry.cli_commands()
    assert set(commands) == {"plugins", "demo", "run", "verify", "explain", "graph", "compact"}
    for name, factory in commands.items():
        assert isinstance(factory, LazyCliCommand), name
        command = factory(RegistryHost(registry))
        assert command.help, name


def test_a_core_sub_command_that_needs_orcapods_host_refuses_another() -> None:
    class OtherHost:
        pass

    with pytest.raises(TypeError, match="'orcapod run' needs orcapod's own command-line host"):
        LazyCliCommand("make_run_command")(OtherHost())  # type: ignore[arg-type]
