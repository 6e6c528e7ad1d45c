"""scripts/release.py: the built distributions pass its checks, its checks catch bad ones,
and ``bump`` moves every version in step.

The full rehearsal (a local package index, fresh environments, ``orcapod
demo``) is ``nox -s release``; these tests cover the checks and ``bump``.
"""

from __future__ import annotations

import datetime
import importlib.util
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("orcapod_release", ROOT / "scripts/release.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


release = _load_script()
PACKAGES = release.read_packages()
VERSION = release.shared_version(PACKAGES)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 7 sdists and 7 wheels, built from this tree by ``uv build`` (built once)."""
    if shutil.which("uv") is None:
        pytest.fail("building the distributions needs uv on PATH (pip install uv)")
    out = tmp_path_factory.mktemp("dist")
    release.build(out)
    return out


@pytest.fixture
def copy_of_dist(dist: Path, tmp_path: Path) -> Path:
    """A copy of the built distributions that a test may spoil."""
    return Path(shutil.copytree(dist, tmp_path / "dist"))


def _wheel(directory: Path, name: str) -> Path:
    return directory / f"{name.replace('-', '_')}-{VERSION}-py3-none-any.whl"


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"{wheel.name.split('-py3')[0]}.dist-info/METADATA").decode()


def _rewrite_wheel(
    wheel: Path,
    edit_metadata: Callable[[str], str] | None = None,
    *,
    rename_version: str | None = None,
    add: dict[str, str] | None = None,
    drop: str | None = None,
) -> Path:
    """Rewrite ``wheel`` in place (or under a new version): edited METADATA, files added or
    dropped. Returns the new path."""
    old_version = VERSION
    new_version = rename_version or old_version
    stem = wheel.name.split("-")[0]
    target = wheel.with_name(wheel.name.replace(f"-{old_version}-", f"-{new_version}-"))
    with zipfile.ZipFile(wheel) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    rewritten: dict[str, bytes] = {}
    for name, data in entries.items():
        if name == drop:
            continue
        new_name = name.replace(
            f"{stem}-{old_version}.dist-info", f"{stem}-{new_version}.dist-info"
        )
        if name.endswith(".dist-info/METADATA") and edit_metadata is not None:
            data = edit_metadata(data.decode()).encode()
        rewritten[new_name] = data
    for name, text in (add or {}).items():
        rewritten[name] = text.encode()
    wheel.unlink()
    with zipfile.ZipFile(target, "w") as out:
        for name, data in rewritten.items():
            out.writestr(name, data)
    return target


# --------------------------------------------------------------------------
# The built distributions pass
# --------------------------------------------------------------------------


def test_every_built_distribution_passes_every_check(dist: Path) -> None:
    assert sorted(p.name for p in dist.iterdir() if not p.name.startswith(".")) == sorted(
        name
        for package in PACKAGES.values()
        for name in (
            f"{package.stem}-{VERSION}.tar.gz",
            f"{package.stem}-{VERSION}-py3-none-any.whl",
        )
    )
    problems = release.check_dists(dist, tag=f"v{VERSION}")
    assert problems == [], "\n".join(map(str, problems))


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_each_wheel_declares_the_metadata_pypi_shows(dist: Path, name: str) -> None:
    wheel = _wheel(dist, name)
    assert [p for p in release.check_dists(dist) if p.file == wheel.name] == []
    # the same facts, read here without the script:
    text = _metadata(wheel)
    fields = [line.partition(": ") for line in text.split("\n\n", 1)[0].splitlines()]
    values: dict[str, list[str]] = {}
    for field, _, value in fields:
        values.setdefault(field, []).append(value)
    assert values["Version"] == [VERSION]
    assert values["Summary"][0].strip()
    assert values["License-Expression"] == ["MIT"]
    assert values["License-File"] == ["LICENSE"]
    assert values["Author"][0].strip()
    assert values["Keywords"][0].strip()
    assert values["Requires-Python"] == [">=3.11"]
    assert set(release.REQUIRED_CLASSIFIERS) <= set(values["Classifier"])
    urls = {url.partition(", ")[0] for url in values["Project-URL"]}
    assert urls >= set(release.REQUIRED_URLS)
    siblings = [
        Requirement(line)
        for line in values.get("Requires-Dist", [])
        if Requirement(line).name in PACKAGES
    ]
    assert all(str(r.specifier) == f"~={VERSION}" for r in siblings), siblings
    with zipfile.ZipFile(wheel) as archive:
        assert f"{PACKAGES[name].leaf}/py.typed" in archive.namelist()


def test_the_sibling_requirements_include_those_of_extras(dist: Path) -> None:
    text = _metadata(_wheel(dist, "orcapod-db-delta"))
    assert f"Requires-Dist: orcapod-core~={VERSION}; extra == 'source'" in text


# --------------------------------------------------------------------------
# A spoiled distribution fails, with a problem naming the file and the cause
# --------------------------------------------------------------------------


def _problems_of(directory: Path, file: str) -> list[str]:
    return [f"{p.message} | fix: {p.fix}" for p in release.check_dists(directory) if p.file == file]


def test_a_local_version_is_refused(copy_of_dist: Path) -> None:
    local = f"{VERSION}+g1234abc"
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-core"),
        lambda text: text.replace(f"Version: {VERSION}\n", f"Version: {local}\n", 1),
        rename_version=local,
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert any("has a local part (+g1234abc)" in p for p in problems), problems
    assert any(f"is not the shared version {VERSION}" in p for p in problems), problems


def test_a_missing_classifier_is_refused(copy_of_dist: Path) -> None:
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-capture"),
        lambda text: text.replace("Classifier: Typing :: Typed\n", ""),
    )
    assert _problems_of(copy_of_dist, wheel.name) == [
        "lacks the classifier 'Typing :: Typed' | fix: add it to classifiers in"
        " packages/orcapod-capture/pyproject.toml"
    ]


@pytest.mark.parametrize(
    ("written", "spoiled"),
    [
        (f"orcapod-protocols~={VERSION}", "orcapod-protocols"),
        (f"orcapod-protocols~={VERSION}", "orcapod-protocols>=0.1"),
        (f"orcapod-core~={VERSION}; extra == 'source'", "orcapod-core; extra == 'source'"),
    ],
    ids=["unbounded", "no-upper-bound", "extra-unbounded"],
)
def test_an_unbounded_sibling_requirement_is_refused(
    copy_of_dist: Path, written: str, spoiled: str
) -> None:
    def spoil(text: str) -> str:
        assert f"Requires-Dist: {written}\n" in text
        return text.replace(f"Requires-Dist: {written}\n", f"Requires-Dist: {spoiled}\n")

    wheel = _rewrite_wheel(_wheel(copy_of_dist, "orcapod-db-delta"), spoil)
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert f"Requires-Dist {spoiled!r}: a sibling must be required as" in problems[0]


@pytest.mark.parametrize(
    "field",
    [
        "License-Expression: MIT",
        "Project-URL: Changelog",
        "Author:",
        "Keywords:",
        "Summary:",
        "Requires-Python:",
        "Classifier: Programming Language :: Python :: 3.13",
    ],
)
def test_a_missing_field_is_refused(copy_of_dist: Path, field: str) -> None:
    def spoil(text: str) -> str:
        lines = text.split("\n\n", 1)
        kept = [line for line in lines[0].splitlines() if not line.startswith(field)]
        assert len(kept) < len(lines[0].splitlines()), field
        return "\n".join(kept) + "\n\n" + lines[1]

    wheel = _rewrite_wheel(_wheel(copy_of_dist, "orcapod-observers"), spoil)
    assert _problems_of(copy_of_dist, wheel.name), f"no problem without {field}"


def test_a_namespace_init_or_a_stray_file_is_refused(copy_of_dist: Path) -> None:
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-db-sql"),
        add={"orcapod/db/__init__.py": "", "orcapod/core/extra.py": "", "sneaky.pth": ""},
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert any("ships orcapod/db/__init__.py" in p for p in problems), problems
    stray = [p for p in problems if "holds files outside orcapod/db/sql/" in p]
    assert len(stray) == 1, problems
    assert "orcapod/core/extra.py, sneaky.pth" in stray[0]


def test_only_what_a_pyproject_includes_by_name_may_sit_beside_the_leaf(dist: Path) -> None:
    """orcapod-protocols' wheel carries an import guard at top level on purpose; others none."""
    for name, package in PACKAGES.items():
        with zipfile.ZipFile(_wheel(dist, name)) as wheel:
            top = {
                n for n in wheel.namelist() if not n.startswith(("orcapod/", package.stem + "-"))
            }
        assert top == set(package.extra_wheel_paths), name


def test_a_missing_license_file_is_refused(copy_of_dist: Path) -> None:
    wheel = _wheel(copy_of_dist, "orcapod-protocols")
    stem = wheel.name.split("-py3")[0]
    wheel = _rewrite_wheel(wheel, drop=f"{stem}.dist-info/licenses/LICENSE")
    problems = _problems_of(copy_of_dist, wheel.name)
    assert problems == [f"lacks {stem}.dist-info/licenses/LICENSE | fix: {release._LICENSE_FIX}"], (
        problems
    )


def test_a_relative_link_in_the_readme_is_refused(copy_of_dist: Path) -> None:
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-core"),
        lambda text: (
            text
            + "\nSee [the docs](../../docs/index.md) and [x](docs/x.md).\n"
            + "\n```python\nvalue = handlers[0](data)  # code, not a link\n```\n"
        ),
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert "relative links, dead on PyPI: ../../docs/index.md, docs/x.md |" in problems[0]


def test_a_tag_other_than_the_version_is_refused(dist: Path) -> None:
    problems = release.check_dists(dist, tag="v9.9.9")
    assert any(p.file == "tag v9.9.9" for p in problems)
    assert len([p for p in problems if "not the tag's version 9.9.9" in p.message]) == 14


def test_twine_check_is_consulted_per_file(copy_of_dist: Path) -> None:
    pytest.importorskip("twine")
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-capture"),
        lambda text: (
            text.replace(
                "Description-Content-Type: text/markdown", "Description-Content-Type: text/x-rst"
            )
            + "\n.. broken:: rst\n   :x\n\n`unclosed\n"
        ),
    )
    problems = release.check_twine(sorted(copy_of_dist.glob("*.whl")))
    assert [p.file for p in problems] == [wheel.name], problems


# --------------------------------------------------------------------------
# bump
# --------------------------------------------------------------------------

CHANGELOG = """\
# Changelog

## [Unreleased]

### Fixed
- Something.

## [0.0.9] - 2020-01-01

- Older.

[Unreleased]: https://github.com/orcapod/orcapod/compare/v0.0.9...HEAD
[0.0.9]: https://github.com/orcapod/orcapod/releases/tag/v0.0.9
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the pyprojects, with a CITATION.cff and a CHANGELOG.md to bump."""
    for package in PACKAGES.values():
        target = tmp_path / "packages" / package.directory.name / "pyproject.toml"
        target.parent.mkdir(parents=True)
        shutil.copy(package.pyproject, target)
    (tmp_path / "CITATION.cff").write_text(
        f'cff-version: 1.2.0\ntitle: "orcapod"\nversion: {VERSION}\n'
        'date-released: "2020-01-01"\nlicense: MIT\n'
    )
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    return tmp_path


def _sibling_requirements(project: dict[str, object]) -> list[Requirement]:
    lines: list[str] = []
    table = project["project"]
    assert isinstance(table, dict)
    lines += table.get("dependencies", [])
    for group in table.get("optional-dependencies", {}).values():
        lines += group
    for group in project.get("dependency-groups", {}).values():  # type: ignore[attr-defined]
        lines += group
    return [r for r in map(Requirement, lines) if r.name in PACKAGES]


def test_bump_moves_every_version_and_sibling_bound(tree: Path) -> None:
    day = datetime.date(2031, 2, 3)
    changed = release.bump("0.2.0", root=tree, today=day)
    assert len(changed) == len(PACKAGES) + 2

    bumped = release.read_packages(tree)
    assert {p.version for p in bumped.values()} == {"0.2.0"}
    bounds = []
    for package in bumped.values():
        text = package.pyproject.read_text()
        original = PACKAGES[package.name].pyproject.read_text()
        requirements = _sibling_requirements(tomllib.loads(text))
        bounds += requirements
        assert all(str(r.specifier) == "~=0.2.0" for r in requirements), requirements
        # only the version and the sibling bounds changed
        changed_lines = [
            (a, b) for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b
        ]
        assert all(b == a.replace(VERSION, "0.2.0") for a, b in changed_lines), changed_lines
        assert VERSION not in text
    delta = tomllib.loads(bumped["orcapod-db-delta"].pyproject.read_text())
    assert delta["project"]["optional-dependencies"]["source"] == ["orcapod-core~=0.2.0"]
    observers = tomllib.loads(bumped["orcapod-observers"].pyproject.read_text())
    assert observers["dependency-groups"]["test"] == ["orcapod-core~=0.2.0"]

    citation = (tree / "CITATION.cff").read_text()
    assert "\nversion: 0.2.0\n" in citation
    assert '\ndate-released: "2031-02-03"\n' in citation

    changelog = (tree / "CHANGELOG.md").read_text()
    assert "## [Unreleased]\n\n## [0.2.0] - 2031-02-03\n\n### Fixed\n- Something.\n" in changelog
    assert changelog.count("## [Unreleased]") == 1
    assert "[Unreleased]: https://github.com/orcapod/orcapod/compare/v0.2.0...HEAD\n" in changelog
    assert "[0.2.0]: https://github.com/orcapod/orcapod/compare/v0.0.9...v0.2.0\n" in changelog
    assert release.changelog_section(changelog, "0.2.0") == "### Fixed\n- Something."
    assert release.changelog_section(changelog, "Unreleased") == ""


def test_bump_to_the_current_version_dates_the_first_release_once(tree: Path) -> None:
    """The first release: the pyprojects already carry its number; the CHANGELOG does not."""
    pyprojects = {p: p.read_text() for p in (tree / "packages").rglob("pyproject.toml")}
    changed = release.bump(VERSION, root=tree, today=datetime.date(2031, 2, 3))
    assert sorted(changed) == [tree / "CHANGELOG.md", tree / "CITATION.cff"]
    assert {p: p.read_text() for p in pyprojects} == pyprojects
    assert (
        f"## [Unreleased]\n\n## [{VERSION}] - 2031-02-03\n" in (tree / "CHANGELOG.md").read_text()
    )
    with pytest.raises(SystemExit, match=rf"already has a section ## \[{VERSION}\]"):
        release.bump(VERSION, root=tree)


def test_bump_without_citation_and_changelog_changes_the_pyprojects(tree: Path) -> None:
    (tree / "CITATION.cff").unlink()
    (tree / "CHANGELOG.md").unlink()
    changed = release.bump("0.1.1", root=tree)
    assert sorted(changed) == sorted(p.pyproject for p in release.read_packages(tree).values())
    assert {p.version for p in release.read_packages(tree).values()} == {"0.1.1"}


def test_bump_changes_nothing_when_it_cannot_change_everything(tree: Path) -> None:
    (tree / "CHANGELOG.md").write_text("# Changelog\n\nNo unreleased heading.\n")
    before = {p: p.read_text() for p in tree.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit, match="Unreleased"):
        release.bump("0.2.0", root=tree)
    assert {p: p.read_text() for p in tree.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("version", ["0.0.1", "0.2.0+local", "0.2", "v0.2.0", "x"])
def test_bump_refuses_versions_that_would_not_release(tree: Path, version: str) -> None:
    before = {p: p.read_text() for p in tree.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit):
        release.bump(version, root=tree)
    assert {p: p.read_text() for p in tree.rglob("*") if p.is_file()} == before
