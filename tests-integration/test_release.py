"""scripts/release.py: the built distributions pass its checks, its checks catch bad ones,
``check --tag`` refuses a tree not ready for the tag, and ``bump`` moves every version in
step.

The full rehearsal (a local package index, fresh environments, ``orcapod
demo``) is ``nox -s release``; these tests cover the checks and ``bump``. No
version is written here: each is derived from the tree's current shared version,
so that the tests pass after any ``bump``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import importlib.util
import re
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

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
VERSION = release.shared_version(PACKAGES)  # the tree's version, whatever it is
_X, _Y, _Z = Version(VERSION).release
NEXT_PATCH = f"{_X}.{_Y}.{_Z + 1}"
NEXT_MINOR = f"{_X}.{_Y + 1}.0"
NEXT_MAJOR = f"{_X + 1}.0.0"
# a release below the current one (none below 0.0.0)
BELOW = next(
    (
        v
        for v, ok in [(f"{_X}.{_Y}.{_Z - 1}", _Z), (f"{_X}.{_Y - 1}.0", _Y), (f"{_X - 1}.0.0", _X)]
        if ok
    ),
    None,
)


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


def _dist_info(wheel: Path) -> str:
    return wheel.name.split("-py3")[0] + ".dist-info"


def _rewrite_wheel(
    wheel: Path,
    edit_metadata: Callable[[str], str] | None = None,
    *,
    rename_version: str | None = None,
    add: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    edit: dict[str, Callable[[str], str]] | None = None,
    record: bool = True,
) -> Path:
    """Rewrite ``wheel`` in place (or under a new version): METADATA or other dist-info files
    (``edit``, by name) edited, files added or dropped. Its RECORD is rewritten to match,
    as a build would, unless ``record`` is false. Returns the new path."""
    old_version = VERSION
    new_version = rename_version or old_version
    stem = wheel.name.split("-")[0]
    target = wheel.with_name(wheel.name.replace(f"-{old_version}-", f"-{new_version}-"))
    old_info, new_info = f"{stem}-{old_version}.dist-info", f"{stem}-{new_version}.dist-info"
    edits = {**(edit or {}), **({"METADATA": edit_metadata} if edit_metadata else {})}
    with zipfile.ZipFile(wheel) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    rewritten: dict[str, bytes] = {}
    for name, data in entries.items():
        if name in drop:
            continue
        new_name = name.replace(old_info, new_info)
        change = edits.get(name.removeprefix(old_info + "/")) if name.startswith(old_info) else None
        rewritten[new_name] = change(data.decode()).encode() if change else data
    for name, text in (add or {}).items():
        rewritten[name] = text.encode()
    record_name = f"{new_info}/RECORD"
    if record and record_name in rewritten:
        rows = [
            f"{name},sha256={_digest(data)},{len(data)}"
            for name, data in rewritten.items()
            if name != record_name
        ]
        del rewritten[record_name]  # RECORD comes last
        rewritten[record_name] = "".join(f"{row}\n" for row in [*rows, f"{record_name},,"]).encode()
    wheel.unlink()
    with zipfile.ZipFile(target, "w") as out:
        for name, data in rewritten.items():
            out.writestr(name, data)
    return target


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


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
    assert values["Requires-Python"] == [PACKAGES[name].requires_python]
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


def test_the_requirements_include_those_of_extras(dist: Path) -> None:
    text = _metadata(_wheel(dist, "orcapod-db-sql"))
    assert f"Requires-Dist: {_postgres_extra()}; extra == 'postgres'" in text
    assert "Provides-Extra: postgres\n" in text


def _postgres_extra() -> str:
    """orcapod-db-sql's ``postgres`` extra's requirement, as its metadata writes it."""
    (written,) = dict(PACKAGES["orcapod-db-sql"].optional_dependencies)["postgres"]
    return str(Requirement(written))


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
    ],
    ids=["unbounded", "no-upper-bound"],
)
def test_an_unbounded_sibling_requirement_is_refused(
    copy_of_dist: Path, written: str, spoiled: str
) -> None:
    def spoil(text: str) -> str:
        assert f"Requires-Dist: {written}\n" in text
        return text.replace(f"Requires-Dist: {written}\n", f"Requires-Dist: {spoiled}\n")

    wheel = _rewrite_wheel(_wheel(copy_of_dist, "orcapod-db-delta"), spoil)
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 2, problems
    assert f"Requires-Dist {spoiled!r}: a sibling must be required as" in problems[0]
    assert "its Requires-Dist differs from what" in problems[1]  # not what the pyproject says


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
    info = _dist_info(wheel)
    wheel = _rewrite_wheel(wheel, drop=(f"{info}/licenses/LICENSE",))
    problems = _problems_of(copy_of_dist, wheel.name)
    assert problems == [f"lacks {info}/licenses/LICENSE | fix: {release._LICENSE_FIX}"], problems


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
    tag = f"v{NEXT_MAJOR}"
    problems = release.check_dists(dist, tag=tag)
    assert len([p for p in problems if f"not the tag's version {NEXT_MAJOR}" in p.message]) == 14
    assert [p.file for p in release.check_release(tag)] == [f"tag {tag}"]


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


@pytest.mark.parametrize("dropped", PACKAGES["orcapod-protocols"].extra_wheel_paths)
def test_a_wheel_without_a_file_its_pyproject_includes_by_name_is_refused(
    copy_of_dist: Path, dropped: str
) -> None:
    """orcapod-protocols' .pth imports _orcapod_root_guard at every interpreter start:
    a wheel with one and not the other would print a traceback there each time."""
    assert set(PACKAGES["orcapod-protocols"].extra_wheel_paths) == {
        "orcapod_protocols_root_guard.pth",
        "_orcapod_root_guard.py",
    }
    wheel = _rewrite_wheel(_wheel(copy_of_dist, "orcapod-protocols"), drop=(dropped,))
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"lacks {dropped}, which packages/orcapod-protocols/pyproject.toml includes by name"
    )


def test_a_requires_python_other_than_the_pyprojects_is_refused(copy_of_dist: Path) -> None:
    declared = PACKAGES["orcapod-core"].requires_python
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-core"),
        lambda text: text.replace(f"Requires-Python: {declared}\n", "Requires-Python: >=2.7\n", 1),
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"Requires-Python '>=2.7' is not packages/orcapod-core/pyproject.toml's"
        f" requires-python {declared!r}"
    )


def _third_party(name: str) -> str:
    """The name of the first third-party requirement of ``name``."""
    return next(
        Requirement(line).name
        for line in PACKAGES[name].dependencies
        if Requirement(line).name not in PACKAGES
    )


@pytest.mark.parametrize(
    ("name", "written", "spoiled", "reported"),
    [
        (  # a dropped sibling requirement
            "orcapod-core",
            f"orcapod-protocols~={VERSION}",
            None,
            [f"lacks orcapod-protocols~={VERSION}"],
        ),
        (  # a sibling bound that no Python applies
            "orcapod-core",
            f"orcapod-protocols~={VERSION}",
            f"orcapod-protocols~={VERSION}; python_version < '3'",
            [
                "a sibling requirement must hold everywhere, without a marker",
                f'has orcapod-protocols~={VERSION}; python_version < "3", not declared',
            ],
        ),
        (  # an extra's requirement made unconditional
            "orcapod-db-sql",
            f"{_postgres_extra()}; extra == 'postgres'",
            _postgres_extra(),
            [f"lacks {_postgres_extra()}; extra == 'postgres'; has {_postgres_extra()},"],
        ),
        (  # a third-party requirement unbounded
            "orcapod-db-sql",
            None,  # its first third-party requirement, as written in the pyproject
            _third_party("orcapod-db-sql"),
            [f"has {_third_party('orcapod-db-sql')}, not declared"],
        ),
        (  # an undeclared requirement
            "orcapod-capture",
            "",
            "requests>=2",
            ["has requests>=2, not declared"],
        ),
    ],
    ids=["sibling-dropped", "sibling-marker", "extra-unconditional", "floor-dropped", "added"],
)
def test_a_requires_dist_other_than_the_pyprojects_is_refused(
    copy_of_dist: Path, name: str, written: str | None, spoiled: str | None, reported: list[str]
) -> None:
    if written is None:
        written = next(
            d for d in PACKAGES[name].dependencies if Requirement(d).name not in PACKAGES
        )
        written = str(Requirement(written))

    def spoil(text: str) -> str:
        head, _, body = text.partition("\n\n")
        lines = head.splitlines()
        if written:
            assert f"Requires-Dist: {written}" in lines, lines
            index = lines.index(f"Requires-Dist: {written}")
            lines[index : index + 1] = [f"Requires-Dist: {spoiled}"] if spoiled else []
        else:
            lines.append(f"Requires-Dist: {spoiled}")
        return "\n".join(lines) + "\n\n" + body

    wheel = _rewrite_wheel(_wheel(copy_of_dist, name), spoil)
    problems = _problems_of(copy_of_dist, wheel.name)
    for expected in reported:
        assert any(expected in p for p in problems), (expected, problems)
    differs = [p for p in problems if "its Requires-Dist differs from what" in p]
    assert len(differs) == 1, problems


def test_a_provides_extra_other_than_the_pyprojects_is_refused(copy_of_dist: Path) -> None:
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-db-sql"),
        lambda text: text.replace("Provides-Extra: postgres\n", "Provides-Extra: other\n", 1),
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert problems[0].startswith("Provides-Extra other differs from")


@pytest.mark.parametrize(
    ("written", "declared", "extra"),
    [
        # what hatchling writes (tried with hatchling 1.33) for what a pyproject declares
        ("bar-baz[a,x]>=2", "Bar_Baz [x,a] >= 2", ""),
        (
            "q @ https://example.com/q.whl ; os_name == 'nt'",
            "q@https://example.com/q.whl ; os_name=='nt'",
            "",
        ),
        ("y; extra == 'some-extra'", "y", "Some_Extra"),
        ("w; (python_version < '3.12') and extra == 'x'", "w; python_version<'3.12'", "x"),
        (
            "z>=1; (python_version < '3.12' or os_name == 'nt') and extra == 'x'",
            "z>=1; python_version < '3.12' or os_name == 'nt'",
            "x",
        ),
    ],
)
def test_requires_dist_is_compared_with_the_pyproject_by_meaning(
    written: str, declared: str, extra: str
) -> None:
    assert release._requirement_key(Requirement(written)) == release._requirement_key(
        Requirement(declared), extra
    )


def test_a_marker_that_only_partly_depends_on_the_extra_is_not_the_extras() -> None:
    """``a or b and extra == "x"`` is ``a or (b and extra == "x")``: installed without x too."""
    written = Requirement("z; python_version < '3.12' or os_name == 'nt' and extra == 'x'")
    declared = Requirement("z; python_version < '3.12' or os_name == 'nt'")
    assert release._requirement_key(written) != release._requirement_key(declared, "x")
    assert release._requirement_key(written).extra == ""


@pytest.mark.parametrize("dropped", ["RECORD", "WHEEL"])
def test_a_wheel_without_record_or_wheel_is_refused(copy_of_dist: Path, dropped: str) -> None:
    wheel = _wheel(copy_of_dist, "orcapod-capture")
    info = _dist_info(wheel)
    wheel = _rewrite_wheel(wheel, drop=(f"{info}/{dropped}",))
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"has no {info}/{dropped}: pip refuses"), problems


def test_a_record_that_omits_or_misstates_a_file_is_refused(copy_of_dist: Path) -> None:
    wheel = _wheel(copy_of_dist, "orcapod-capture")
    info = _dist_info(wheel)
    wheel = _rewrite_wheel(
        wheel,
        lambda text: text.replace(
            "Classifier: Typing :: Typed\n", "Classifier: Typing :: Typed\n\n"
        ),
        add={"orcapod/capture/unrecorded.py": ""},
        record=False,
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert any(f"{info}/RECORD does not list orcapod/capture/unrecorded.py" in p for p in problems)
    assert any(f"{info}/RECORD: wrong hash or size of {info}/METADATA" in p for p in problems)


def test_a_wheel_tag_other_than_its_file_names_is_refused(copy_of_dist: Path) -> None:
    wheel = _rewrite_wheel(
        _wheel(copy_of_dist, "orcapod-capture"),
        edit={
            "WHEEL": lambda text: text.replace("Root-Is-Purelib: true", "Root-Is-Purelib: false")
        },
    )
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert "WHEEL: Root-Is-Purelib is not true" in problems[0]


@pytest.mark.parametrize(
    ("name", "spoil", "reported"),
    [
        (
            "orcapod-db-delta",
            lambda text: text.replace("[orcapod]", "[orcapod_plugins]"),
            "lacks [orcapod] db-delta = orcapod.db.delta._plugin;"
            " has [orcapod_plugins] db-delta = orcapod.db.delta._plugin, not declared",
        ),
        (
            "orcapod-core",
            lambda text: text.replace("orcapod.core.cli:main", "orcapod.core.cli:other"),
            "lacks [console_scripts] orcapod = orcapod.core.cli:main;"
            " has [console_scripts] orcapod = orcapod.core.cli:other, not declared",
        ),
        (
            "orcapod-observers",
            lambda text: text + "\n[console_scripts]\nsneaky = os:abort\n",
            "has [console_scripts] sneaky = os:abort, not declared",
        ),
        (
            "orcapod-observers",
            lambda text: "",
            "lacks [orcapod] observers = orcapod.observers._plugin",
        ),
    ],
    ids=["group-renamed", "script-retargeted", "script-added", "emptied"],
)
def test_entry_points_other_than_the_pyprojects_are_refused(
    copy_of_dist: Path, name: str, spoil: Callable[[str], str], reported: str
) -> None:
    wheel = _rewrite_wheel(_wheel(copy_of_dist, name), edit={"entry_points.txt": spoil})
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"its entry points differ from packages/{name}/pyproject.toml: {reported} |"
    ), problems


def test_entry_points_are_compared_for_a_wheel_without_entry_points_txt(
    copy_of_dist: Path,
) -> None:
    wheel = _wheel(copy_of_dist, "orcapod-capture")  # declares none
    info = _dist_info(wheel)
    with zipfile.ZipFile(wheel) as archive:
        assert f"{info}/entry_points.txt" not in archive.namelist()
    wheel = _rewrite_wheel(wheel, add={f"{info}/entry_points.txt": "[orcapod]\nx = y\n"})
    problems = _problems_of(copy_of_dist, wheel.name)
    assert len(problems) == 1, problems
    assert "has [orcapod] x = y, not declared" in problems[0]


# --------------------------------------------------------------------------
# check --tag: the tree is ready for the tag, before anything is published
# --------------------------------------------------------------------------


def test_check_tag_passes_a_tree_bumped_to_the_tags_version(tree: Path) -> None:
    release.bump(VERSION, root=tree)  # the first release: dates the CHANGELOG section
    assert release.check_release(f"v{VERSION}", root=tree) == []
    changelog = tree / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace("## [Unreleased]\n", "## [Unreleased]\n\n- A fix.\n")
    )
    release.bump(NEXT_PATCH, root=tree)
    assert release.check_release(f"v{NEXT_PATCH}", root=tree) == []


def test_check_tag_refuses_a_changelog_without_the_tags_section(tree: Path, dist: Path) -> None:
    """The GitHub release's notes are that section: its absence must stop the release
    in the build job, before anything reaches TestPyPI or PyPI."""
    problems = release.check_release(f"v{VERSION}", root=tree)
    assert [(p.file, p.message) for p in problems] == [
        ("CHANGELOG.md", f"no section ## [{VERSION}]: the release has no notes")
    ]
    assert f"python scripts/release.py bump {VERSION}" in problems[0].fix
    # check DIR --tag (the workflow's build job) includes it
    assert [
        p for p in release.check(dist, tag=f"v{VERSION}", root=tree) if p.file == "CHANGELOG.md"
    ]


def test_check_tag_refuses_an_empty_changelog_section(tree: Path) -> None:
    (tree / "CHANGELOG.md").write_text(CHANGELOG.replace("### Fixed\n- Something.\n\n", ""))
    release.bump(VERSION, root=tree)
    problems = release.check_release(f"v{VERSION}", root=tree)
    assert [(p.file, p.message) for p in problems] == [
        ("CHANGELOG.md", f"its section ## [{VERSION}] is empty: the release would have no notes")
    ]


def test_check_tag_refuses_a_citation_of_another_version(tree: Path) -> None:
    release.bump(VERSION, root=tree)
    citation = tree / "CITATION.cff"
    citation.write_text(
        citation.read_text().replace(f"version: {VERSION}", f"version: {BELOW or 'x'}")
    )
    problems = release.check_release(f"v{VERSION}", root=tree)
    assert [(p.file, p.message) for p in problems] == [
        ("CITATION.cff", f"says version {BELOW or 'x'!r}, not {VERSION!r}")
    ]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        (VERSION, "release tags are vX.Y.Z"),
        (f"v{VERSION}rc1", "release tags are vX.Y.Z: "),
        (f"v{VERSION}.dev0", "release tags are vX.Y.Z: "),
        (f"v{NEXT_PATCH}", f"names {NEXT_PATCH}, but the pyprojects say {VERSION}"),
    ],
)
def test_check_tag_refuses_a_tag_that_is_not_the_version(
    tree: Path, tag: str, message: str
) -> None:
    release.bump(VERSION, root=tree)
    problems = release.check_release(tag, root=tree)
    assert [p.file for p in problems] == [f"tag {tag}"], problems
    assert problems[0].message.startswith(message)


def test_the_release_workflow_checks_the_tag_first_and_can_finish_a_partial_upload() -> None:
    yaml = pytest.importorskip("yaml")
    jobs = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())["jobs"]

    def needs(job: str) -> set[str]:
        direct = jobs[job].get("needs", [])
        direct = [direct] if isinstance(direct, str) else direct
        return set(direct).union(*(needs(n) for n in direct))

    build = [step.get("run", "") for step in jobs["build"]["steps"]]
    assert 'python scripts/release.py check dist --tag "$GITHUB_REF_NAME"' in build
    uploads = {
        name: step
        for name, job in jobs.items()
        for step in job["steps"]
        if step.get("uses", "").startswith("pypa/gh-action-pypi-publish@")
    }
    assert set(uploads) == {"publish-testpypi", "publish-pypi"}
    for name, step in uploads.items():
        assert "build" in needs(name), name
        # a re-run after a partial upload uploads the rest instead of failing on the first
        assert step["with"]["skip-existing"] is True, name


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
    new = NEXT_MINOR
    changed = release.bump(new, root=tree, today=day)
    assert len(changed) == len(PACKAGES) + 2

    bumped = release.read_packages(tree)
    assert {p.version for p in bumped.values()} == {new}
    bounds = []
    for package in bumped.values():
        text = package.pyproject.read_text()
        original = PACKAGES[package.name].pyproject.read_text()
        requirements = _sibling_requirements(tomllib.loads(text))
        bounds += requirements
        assert all(str(r.specifier) == f"~={new}" for r in requirements), requirements
        # only the version and the sibling bounds changed
        changed_lines = [
            (a, b) for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b
        ]
        assert changed_lines
        assert all(b == a.replace(VERSION, new) for a, b in changed_lines), changed_lines
        assert f'"{VERSION}"' not in text
        assert f"~={VERSION}" not in text
    observers = tomllib.loads(bumped["orcapod-observers"].pyproject.read_text())
    assert observers["dependency-groups"]["test"] == [f"orcapod-core~={new}"]

    citation = (tree / "CITATION.cff").read_text()
    assert f"\nversion: {new}\n" in citation
    assert '\ndate-released: "2031-02-03"\n' in citation

    changelog = (tree / "CHANGELOG.md").read_text()
    assert f"## [Unreleased]\n\n## [{new}] - 2031-02-03\n\n### Fixed\n- Something.\n" in changelog
    assert changelog.count("## [Unreleased]") == 1
    assert f"[Unreleased]: https://github.com/orcapod/orcapod/compare/v{new}...HEAD\n" in changelog
    assert f"[{new}]: https://github.com/orcapod/orcapod/compare/v0.0.9...v{new}\n" in changelog
    assert release.changelog_section(changelog, new) == "### Fixed\n- Something."
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
    changed = release.bump(NEXT_PATCH, root=tree)
    assert sorted(changed) == sorted(p.pyproject for p in release.read_packages(tree).values())
    assert {p.version for p in release.read_packages(tree).values()} == {NEXT_PATCH}


def test_bump_changes_nothing_when_it_cannot_change_everything(tree: Path) -> None:
    (tree / "CHANGELOG.md").write_text("# Changelog\n\nNo unreleased heading.\n")
    before = {p: p.read_text() for p in tree.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit, match="Unreleased"):
        release.bump(NEXT_MINOR, root=tree)
    assert {p: p.read_text() for p in tree.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("version", "message"),
    [
        *([(BELOW, f"is below the current version {VERSION}")] if BELOW else []),
        (f"{NEXT_MINOR}+local", "is not a release version: releases are X.Y.Z"),
        (f"{NEXT_MINOR}.dev0", "is not a release version: releases are X.Y.Z"),
        (f"{NEXT_MINOR}rc1", "is not a release version: releases are X.Y.Z"),
        (f"{NEXT_MINOR}.post1", "is not a release version: releases are X.Y.Z"),
        (f"{_X}.{_Y + 1}", "is not a release version: releases are X.Y.Z"),
        (f"{NEXT_MINOR}.0", "is not a release version: releases are X.Y.Z"),
        (f"v{NEXT_MINOR}", "is not a release version: releases are X.Y.Z"),
        (f"0{NEXT_MAJOR}", f"is not in normal form: write {NEXT_MAJOR}"),
        ("x", "is not a release version: releases are X.Y.Z"),
    ],
)
def test_bump_refuses_versions_that_would_not_release(
    tree: Path, version: str, message: str
) -> None:
    before = {p: p.read_text() for p in tree.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit, match=re.escape(message)):
        release.bump(version, root=tree)
    assert {p: p.read_text() for p in tree.rglob("*") if p.is_file()} == before
