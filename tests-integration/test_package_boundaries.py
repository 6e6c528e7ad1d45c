"""Each distribution imports only the orcapod distributions it declares, and their public API.

A distribution that imports a sibling it does not declare works in the
workspace (where everything is installed) and breaks for a user who installs
it alone; one that imports a sibling's private module (a ``_name`` component)
breaks on the sibling's next internal change. And a plugin (observers,
executors, databases) never imports orcapod-core outside its tests, not even
through an extra or at first use (docs/plugins.md: a plugin depends on
orcapod-protocols only). All are read from the source with ``ast``, so a new
import is checked the day it is written.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[1] / "packages"
ROOTS = {
    "orcapod-protocols": "orcapod.protocols",
    "orcapod-capture": "orcapod.capture",
    "orcapod-core": "orcapod.core",
    "orcapod-observers": "orcapod.observers",
    "orcapod-executors-ray": "orcapod.executors.ray",
    "orcapod-db-delta": "orcapod.db.delta",
    "orcapod-db-sql": "orcapod.db.sql",
}
PLUGINS = ["orcapod-db-delta", "orcapod-db-sql", "orcapod-executors-ray", "orcapod-observers"]
"""Distributions that depend on orcapod-protocols (and orcapod-capture), never orcapod-core."""


def _declared(distribution: str, packages: Path = PACKAGES) -> set[str]:
    """The orcapod distributions ``distribution`` requires, in its dependencies or extras."""
    project = tomllib.loads((packages / distribution / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0] for requirement in requirements}
    return names & set(ROOTS)


def _imported_modules(source: Path) -> list[tuple[int, str]]:
    tree = ast.parse(source.read_text(), str(source))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _owner(module: str) -> str | None:
    for distribution, root in ROOTS.items():
        if module == root or module.startswith(root + "."):
            return distribution
    return None


def _problems(distribution: str, packages: Path = PACKAGES) -> list[str]:
    declared = _declared(distribution, packages)
    problems = []
    for source in sorted((packages / distribution / "src").rglob("*.py")):
        for line, module in _imported_modules(source):
            owner = _owner(module)
            if owner is None or owner == distribution:
                continue
            where = f"{source.relative_to(packages)}:{line} imports {module}"
            if owner not in declared:
                problems.append(f"{where}, from {owner}, which {distribution} does not declare")
            private = [part for part in module.split(".") if part.startswith("_")]
            if private:
                problems.append(f"{where}, a private module of {owner} ({'.'.join(private)})")
    return problems


def _core_imports(distribution: str, packages: Path = PACKAGES) -> list[str]:
    """Every import of orcapod.core in ``distribution``'s source, wherever it stands
    (at the top, in a function, under ``TYPE_CHECKING``)."""
    return [
        f"{source.relative_to(packages)}:{line} imports {module}"
        for source in sorted((packages / distribution / "src").rglob("*.py"))
        for line, module in _imported_modules(source)
        if _owner(module) == "orcapod-core"
    ]


@pytest.mark.parametrize("distribution", sorted(ROOTS))
def test_imports_only_declared_siblings_and_their_public_modules(distribution: str) -> None:
    assert _problems(distribution) == []


@pytest.mark.parametrize("distribution", PLUGINS)
def test_a_plugin_never_imports_orcapod_core(distribution: str) -> None:
    assert _core_imports(distribution) == []


def test_the_check_sees_an_undeclared_and_a_private_import(tmp_path: Path) -> None:
    package = tmp_path / "orcapod-db-sql"
    (package / "src").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[project]\nname = "orcapod-db-sql"\ndependencies = ["orcapod-protocols~=0.1.0"]\n'
        '[project.optional-dependencies]\nsource = ["orcapod-capture~=0.1.0"]\n'
    )
    (package / "src" / "example.py").write_text(
        "import orcapod.observers\n"
        "from orcapod.capture._spool import Spool\n"
        "from orcapod.protocols import hooks\n"
        "from orcapod.db.sql._database import SQLDatabase\n"
    )
    assert _problems("orcapod-db-sql", tmp_path) == [
        "orcapod-db-sql/src/example.py:1 imports orcapod.observers, from orcapod-observers, "
        "which orcapod-db-sql does not declare",
        "orcapod-db-sql/src/example.py:2 imports orcapod.capture._spool, a private module of "
        "orcapod-capture (_spool)",
    ]


def test_the_check_sees_a_core_import_in_a_function_of_a_plugin(tmp_path: Path) -> None:
    package = tmp_path / "orcapod-observers"
    (package / "src").mkdir(parents=True)
    (package / "src" / "example.py").write_text(
        "from orcapod.protocols.graph import render_svg\n"
        "def draw():\n"
        "    try:\n"
        "        from orcapod.core.pipeline import PipelineGraph\n"
        "    except ImportError:\n"
        "        return None\n"
    )
    assert _core_imports("orcapod-observers", tmp_path) == [
        "orcapod-observers/src/example.py:4 imports orcapod.core.pipeline"
    ]
