"""Checks of the orcapod workspace. ``uv run nox`` runs them all; ``nox -l`` lists them.

Each ``tests-<package>`` session installs that one distribution, built as a
wheel (not editable), with only its declared dependencies and test tools,
into a fresh environment: so orcapod-core's tests prove it works without
ray, deltalake or sqlalchemy, and a plugin's tests prove it works without
orcapod-core.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = {path.name: path for path in sorted((ROOT / "packages").iterdir()) if path.is_dir()}
TEST_TOOLS = ["pytest>=8.3", "hypothesis>=6.100"]


def _requirement_name(requirement: str) -> str:
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def _workspace_closure(names: list[str]) -> list[str]:
    """The named workspace packages and every workspace package they depend on."""
    seen: list[str] = []
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.append(name)
        project = tomllib.loads((PACKAGES[name] / "pyproject.toml").read_text())
        declared = project["project"].get("dependencies", [])
        declared += project.get("dependency-groups", {}).get("test", [])
        pending += [d for d in map(_requirement_name, declared) if d in PACKAGES]
    return seen


def _test_requirements(name: str) -> list[str]:
    """Third-party test requirements of a package (its ``test`` group, minus siblings)."""
    project = tomllib.loads((PACKAGES[name] / "pyproject.toml").read_text())
    group = project.get("dependency-groups", {}).get("test", [])
    return [r for r in group if _requirement_name(r) not in PACKAGES]


def _sync_workspace(session: nox.Session, *groups: str) -> None:
    """Install the whole locked workspace (every package, the dev group and ``groups``)."""
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--no-editable",
        *(f"--group={group}" for group in groups),
        # the session's interpreter, not .python-version's, so --force-python works
        "--python",
        session.virtualenv.location,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting (the locked ruff version)."""
    _sync_workspace(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy (strict, namespace packages) over every package's source and scripts/."""
    _sync_workspace(session)
    session.run("mypy", *(str(path / "src") for path in PACKAGES.values()), str(ROOT / "scripts"))


def _package_session(name: str) -> None:
    @nox.session(name=f"tests-{name}")
    def tests(session: nox.Session) -> None:
        paths = [str(PACKAGES[dep]) for dep in _workspace_closure([name])]
        session.install("--no-sources", *paths, *TEST_TOOLS, *_test_requirements(name))
        session.run(
            "python",
            "-m",
            "pytest",
            str(PACKAGES[name] / "tests"),
            "-m",
            "not postgres",
            *session.posargs,
        )

    tests.__doc__ = f"{name} alone: its tests against only its declared dependencies."


for _name in PACKAGES:
    _package_session(_name)


# Extras a package's tests use besides its dependencies. (orcapod-db-sql's `postgres`
# extra serves only tests marked postgres: the postgres session, at the locked versions.)
TESTED_EXTRAS = {"orcapod-protocols": ["testing"]}


def _floor_python() -> str:
    """The oldest Python of the workspace: each package says ``requires-python = ">=X.Y"``."""
    floors = set()
    for path in PACKAGES.values():
        project = tomllib.loads((path / "pyproject.toml").read_text())["project"]
        version = project["requires-python"].removeprefix(">=")
        floors.add(tuple(int(part) for part in version.split(".")))
    return ".".join(map(str, max(floors)))


def _declared_requirements(name: str) -> list[str]:
    """Third-party requirements of a package and of its tests, as declared (with their floors)."""
    project = tomllib.loads((PACKAGES[name] / "pyproject.toml").read_text())
    declared = list(project["project"].get("dependencies", []))
    for extra in TESTED_EXTRAS.get(name, []):
        declared += project["project"]["optional-dependencies"][extra]
    declared += project.get("dependency-groups", {}).get("test", [])
    declared += TEST_TOOLS
    return list(dict.fromkeys(r for r in declared if _requirement_name(r) not in PACKAGES))


@nox.session(python=_floor_python())
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def lowest(session: nox.Session, package: str) -> None:
    """Each package's tests at its floors: the oldest Python, each requirement's lowest version.

    As in ``tests-<package>``, the package and its siblings are built from their
    directories; uv's ``lowest-direct`` resolution lowers only the requirements
    named on the command line, so each declared requirement is named.
    """
    paths = [str(PACKAGES[dep]) for dep in _workspace_closure([package])]
    requirements = _declared_requirements(package)
    session.install("--no-sources", "--resolution=lowest-direct", *paths, *requirements)
    named = {_requirement_name(r) for r in requirements}
    frozen = session.run(
        "uv", "pip", "freeze", "--python", session.virtualenv.location, silent=True, external=True
    )
    tested = [line for line in str(frozen).splitlines() if _requirement_name(line) in named]
    session.log(f"{package} at its floors: {', '.join(tested)}")
    session.run(
        "python",
        "-m",
        "pytest",
        str(PACKAGES[package] / "tests"),
        "-m",
        "not postgres",
        *session.posargs,
    )


@nox.session
def integration(session: nox.Session) -> None:
    """Every package installed together: tests-integration/."""
    _sync_workspace(session)
    session.run(
        "python", "-m", "pytest", "tests-integration", "-m", "not postgres", *session.posargs
    )


@nox.session
def postgres(session: nox.Session) -> None:
    """Tests marked ``postgres``, against the server the PG* variables name."""
    _sync_workspace(session)
    session.run(
        "python",
        "-m",
        "pytest",
        "packages",
        "tests-integration",
        "-m",
        "postgres",
        *session.posargs,
    )


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict``, and every API page renders its members."""
    _sync_workspace(session, "docs")
    site = Path(session.create_tmp()) / "site"
    quiet = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=quiet)
    missing = _unrendered_members(site)
    if missing:
        session.error(f"API reference entries that rendered nothing: {', '.join(missing)}")


def _unrendered_members(site: Path) -> list[str]:
    """Objects an API page asks mkdocstrings for that are not in its HTML.

    mkdocstrings leaves out, without a warning, a listed member it cannot
    resolve statically (a name a lazy ``__getattr__`` provides and no import
    shows), so the check reads the built pages.
    """
    missing = []
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        html = (site / "reference" / page.stem / "index.html").read_text()
        wanted: list[tuple[str, list[str]]] = []
        for line in page.read_text().splitlines():
            if line.startswith("::: "):
                wanted.append((line.removeprefix("::: ").strip(), []))
            elif line.startswith("        - ") and wanted:
                wanted[-1][1].append(line.strip().removeprefix("- "))
        for target, members in wanted:
            anchors = [f"{target}.{name}" for name in members] or [target]
            missing += [anchor for anchor in anchors if f'id="{anchor}"' not in html]
    return missing


@nox.session
def release(session: nox.Session) -> None:
    """The release rehearsal: scripts/release.py's tests, then its build, check and rehearse.

    rehearse installs the built wheels, as README.md says, from a package index
    served on this machine into fresh environments and runs ``orcapod demo``
    (RELEASING.md).
    """
    session.install("twine>=6.1", "packaging>=24.2", "pytest>=8.3", "pyyaml>=6.0")
    script = str(ROOT / "scripts" / "release.py")
    tests = str(ROOT / "tests-integration" / "test_release.py")
    # --noconftest: these tests need no orcapod installed, only the script.
    session.run("python", "-m", "pytest", tests, "--noconftest", *session.posargs)
    dist = Path(session.create_tmp()) / "dist"
    session.run("python", script, "build", "--out", str(dist))
    session.run("python", script, "check", str(dist))
    session.run("python", script, "rehearse", str(dist))
