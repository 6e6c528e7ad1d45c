#!/usr/bin/env python3
"""Build, check, rehearse and version the seven orcapod distributions.

The seven distributions in ``packages/`` share one version number and are
released together from one git tag ``vX.Y.Z`` (RELEASING.md says why and
lists every step). This script does the mechanical parts::

    python scripts/release.py build [--out DIR]          # 7 sdists + 7 wheels into a clean DIR
    python scripts/release.py check DIR [--tag vX.Y.Z]   # are they (and the tree) fit to upload?
    python scripts/release.py rehearse DIR               # install them as a user would
    python scripts/release.py bump X.Y.Z                 # the next version, everywhere
    python scripts/release.py notes X.Y.Z                # that version's CHANGELOG section

With ``--tag``, ``check`` also requires the tag to name the shared version,
CHANGELOG.md to have that version's section and CITATION.cff to carry it: the
release workflow runs it before anything is published. ``nox -s release`` runs
build, check (without a tag) and rehearse in a temporary directory.
The script needs the standard library, ``packaging``, ``uv`` (for ``build``)
and ``twine`` (for ``check``).
"""

from __future__ import annotations

import argparse
import base64
import configparser
import contextlib
import csv
import datetime
import email.message
import email.parser
import fcntl
import functools
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import tomllib
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent

# What every distribution's metadata must say (besides its own name, summary,
# keywords and version, which differ).
REQUIRED_CLASSIFIERS = (
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
    "Typing :: Typed",
)
REQUIRED_URLS = ("Homepage", "Documentation", "Source", "Issues", "Changelog")
LICENSE_EXPRESSION = "MIT"

# PEP 420 namespace packages: no distribution may ship an __init__.py for them,
# or it would hide every other distribution's part of the namespace.
NAMESPACE_PACKAGES = ("orcapod", "orcapod/db", "orcapod/executors")

# A Markdown link or link definition whose target is neither absolute
# (scheme:...) nor an anchor in the same page: on PyPI it leads nowhere.
RELATIVE_LINK = re.compile(r"(?:\]\(|^\[[^\]]+\]:\s*)(?![a-zA-Z][a-zA-Z0-9+.-]*:|#)([^)\s]+)", re.M)


# --------------------------------------------------------------------------
# The workspace: what each packages/*/pyproject.toml declares
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One distribution of the workspace, as its ``pyproject.toml`` declares it."""

    name: str  # "orcapod-db-delta"
    directory: Path
    version: str
    requires_python: str  # its requires-python, as written ("" if none)
    dependencies: tuple[str, ...]  # its [project] dependencies, as written
    # its [project.optional-dependencies]: (extra, its requirements as written), in order
    optional_dependencies: tuple[tuple[str, tuple[str, ...]], ...]
    # the entry points its wheel must declare: (group, ((name, object reference), ...));
    # [project.scripts] is the group console_scripts, [project.gui-scripts] gui_scripts
    entry_points: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    extra_wheel_paths: tuple[str, ...]  # files outside its leaf it puts in its wheel on purpose

    @property
    def has_plugins(self) -> bool:
        """It declares ``[project.entry-points.orcapod]``."""
        return any(group == "orcapod" for group, _ in self.entry_points)

    @property
    def leaf(self) -> str:
        """The one package its wheel holds: ``orcapod/db/delta`` for orcapod-db-delta."""
        return "orcapod/" + self.name.removeprefix("orcapod-").replace("-", "/")

    @property
    def module(self) -> str:
        """The import name: ``orcapod.db.delta``."""
        return self.leaf.replace("/", ".")

    @property
    def stem(self) -> str:
        """The name as it starts a wheel's or sdist's file name: ``orcapod_db_delta``."""
        return self.name.replace("-", "_")

    @property
    def pyproject(self) -> Path:
        return self.directory / "pyproject.toml"


def read_packages(root: Path = ROOT) -> dict[str, Package]:
    """Every distribution under ``root/packages``, by name."""
    packages = {}
    for pyproject in sorted((root / "packages").glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        project = data["project"]
        targets = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
        groups = {
            "console_scripts": project.get("scripts", {}),
            "gui_scripts": project.get("gui-scripts", {}),
            **project.get("entry-points", {}),
        }
        package = Package(
            name=canonicalize_name(project["name"]),
            directory=pyproject.parent,
            version=str(project.get("version", "")),
            requires_python=str(project.get("requires-python", "")),
            dependencies=tuple(project.get("dependencies", [])),
            optional_dependencies=tuple(
                (str(extra), tuple(requirements))
                for extra, requirements in project.get("optional-dependencies", {}).items()
            ),
            entry_points=tuple(
                (group, tuple((str(k), str(v)) for k, v in entries.items()))
                for group, entries in groups.items()
                if entries
            ),
            extra_wheel_paths=_deliberate_extras(targets.get("wheel", {})),
        )
        packages[package.name] = package
    return packages


def _deliberate_extras(wheel: dict[str, Any]) -> tuple[str, ...]:
    """Paths in the wheel, outside ``orcapod/``, that the hatch config puts there by name.

    That is every ``force-include`` destination, and every ``only-include``
    entry outside ``src/orcapod`` (mapped through ``sources``).
    """
    paths = [str(destination).strip("/") for destination in wheel.get("force-include", {}).values()]
    sources = wheel.get("sources", [])
    for entry in wheel.get("only-include", []):
        path = str(entry).strip("/")
        for source in sources if isinstance(sources, list) else []:
            if path.startswith(str(source).strip("/") + "/"):
                path = path[len(str(source).strip("/")) + 1 :]
                break
        if path != "orcapod" and not path.startswith("orcapod/"):
            paths.append(path)
    return tuple(paths)


def shared_version(packages: dict[str, Package]) -> str:
    """The version most pyprojects declare (``check`` reports any that differ)."""
    counts = Counter(package.version for package in packages.values())
    if not counts:
        raise SystemExit("no packages/*/pyproject.toml found")
    return counts.most_common(1)[0][0]


# A release version: three numbers, digits only (no pre-, post-, dev- or local part).
RELEASE_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")


def release_version_error(version: str) -> str | None:
    """Why ``version`` cannot be a release's version, or None if it can (``X.Y.Z``)."""
    if not RELEASE_VERSION.fullmatch(version):
        return (
            f"{version!r} is not a release version: releases are X.Y.Z, three numbers of"
            " digits only (no 'v', no pre-, post-, dev- or local part; RELEASING.md)"
        )
    normal = ".".join(str(int(part)) for part in version.split("."))
    if normal != version:
        return f"{version!r} is not in normal form: write {normal}"
    return None


def sibling_bound(version: str) -> str:
    """The specifier every orcapod requirement on a sibling carries: ``~=0.1.0``."""
    return f"~={version}"


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------


def build(out: Path, root: Path = ROOT) -> list[Path]:
    """Build every sdist and wheel with ``uv build --all-packages`` into a clean ``out``."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("build needs uv on PATH: pip install uv")
    if out.exists():
        leftovers = [p for p in out.iterdir() if p.name != ".gitignore"]
        strangers = [p.name for p in leftovers if not p.name.endswith((".whl", ".tar.gz"))]
        if strangers:
            raise SystemExit(
                f"{out} holds files that are not distributions ({', '.join(sorted(strangers))});"
                " build into an empty or new directory"
            )
        for path in leftovers:
            path.unlink()
        if leftovers:
            print(f"removed {len(leftovers)} earlier distributions from {out}")
    # --no-sources: build requirements come from the index, as when pip builds an sdist,
    # never from the workspace's [tool.uv.sources].
    command = [uv, "build", "--all-packages", "--no-sources", "--out-dir", str(out)]
    print("$ " + shlex.join(command), flush=True)
    subprocess.run(command, cwd=root, check=True)
    return sorted(p for p in out.iterdir() if p.name.endswith((".whl", ".tar.gz")))


# --------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file, and what to do about it."""

    file: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}\n    fix: {self.fix}"


def check(dist_dir: Path, tag: str | None = None, root: Path = ROOT) -> list[Problem]:
    """Everything ``check`` looks at: ``twine check --strict``, :func:`check_dists` and,
    given a tag, :func:`check_release` (the tag, CHANGELOG.md and CITATION.cff)."""
    files = sorted(p for p in dist_dir.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    problems = check_twine(files) + check_dists(dist_dir, tag, root)
    if tag is not None:
        problems += check_release(tag, root)
    return problems


CFF_VERSION_VALUE = re.compile(
    r"^version:[ \t]*(?P<q>[\"']?)(?P<version>[^\"'\n]*?)(?P=q)[ \t]*$", re.M
)


def check_release(tag: str, root: Path = ROOT) -> list[Problem]:
    """Is the tree ready to be released as ``tag``? Run before anything is published.

    The tag is ``vX.Y.Z`` with X.Y.Z the shared version; CHANGELOG.md has a
    non-empty section ``## [X.Y.Z]`` (the GitHub release's notes; ``bump``
    creates it); CITATION.cff, if there is one, says ``version: X.Y.Z``.
    """
    version = shared_version(read_packages(root))
    tagged = tag.removeprefix("v")
    error = release_version_error(tagged)
    if not tag.startswith("v") or error is not None:
        return [
            Problem(
                f"tag {tag}",
                "release tags are vX.Y.Z" + (f": {error}" if tag.startswith("v") else ""),
                f"delete the tag (git push --delete origin {tag}) and tag the release v{version}",
            )
        ]
    if tagged != version:
        return [
            Problem(
                f"tag {tag}",
                f"names {tagged}, but the pyprojects say {version}",
                f"tag v{version}, or release {tagged}: python scripts/release.py bump {tagged}",
            )
        ]
    problems = []
    bump_fix = (
        f"python scripts/release.py bump {version} (it turns ## [Unreleased] into"
        f" ## [{version}] - <date>), merge, then tag v{version}"
    )
    changelog = root / "CHANGELOG.md"
    if not changelog.exists():
        problems.append(Problem("CHANGELOG.md", "does not exist", bump_fix))
    else:
        try:
            section = changelog_section(changelog.read_text(), version)
        except ValueError as error_:
            problems.append(
                Problem("CHANGELOG.md", f"{error_}: the release has no notes", bump_fix)
            )
        else:
            if not section.strip():
                problems.append(
                    Problem(
                        "CHANGELOG.md",
                        f"its section ## [{version}] is empty: the release would have no notes",
                        f"write the release's entries under ## [{version}]",
                    )
                )
    citation = root / "CITATION.cff"
    if citation.exists():
        said = [m["version"] for m in CFF_VERSION_VALUE.finditer(citation.read_text())]
        if said != [version]:
            what = (
                f"says version {said[0]!r}"
                if len(said) == 1
                else f"has {len(said)} 'version:' lines"
            )
            problems.append(
                Problem(
                    "CITATION.cff",
                    f"{what}, not {version!r}",
                    f"version: {version} there ({bump_fix})",
                )
            )
    return problems


def check_twine(files: Sequence[Path]) -> list[Problem]:
    """``twine check --strict`` (what PyPI would refuse), one problem per failing file."""
    if not files:
        return []
    # Run where the files are, with wide lines, so that twine's report names each one on one line.
    folder = files[0].parent
    names = [str(p.relative_to(folder)) if p.parent == folder else str(p) for p in files]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *names],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "10000"},
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    if "No module named twine" in output:
        return [Problem(sys.executable, "twine is not installed", "pip install twine")]
    problems = []
    # twine prints "Checking PATH: PASSED|FAILED ..." and then the reasons of a failure.
    for block in re.split(r"(?m)^Checking ", output)[1:]:
        head, _, details = block.partition("\n")
        path, _, verdict = head.rpartition(": ")
        if "PASSED" in verdict and "warning" not in verdict:
            continue
        reasons = " ".join(details.split())
        problems.append(
            Problem(Path(path).name, f"twine check --strict: {verdict}: {reasons}", _TWINE)
        )
    if result.returncode != 0 and not problems:
        problems.append(Problem(" ".join(p.name for p in files), output.strip(), _TWINE))
    return problems


_TWINE = "fix what twine names: the package's README.md (long_description) or pyproject.toml"


def check_dists(dist_dir: Path, tag: str | None = None, root: Path = ROOT) -> list[Problem]:
    """All checks of the built files in ``dist_dir`` except twine's.

    The versions (one shared, public, equal to the tag), the namespace layout,
    the metadata PyPI shows, the licence files and the README links.
    """
    packages = read_packages(root)
    version = shared_version(packages)
    problems = [
        Problem(
            _relative(p.pyproject),
            f"version {p.version!r} differs from the shared version {version!r}",
            f'all seven share one version: version = "{version}" there',
        )
        for p in packages.values()
        if p.version != version
    ]
    error = release_version_error(version)
    if error is not None:
        problems += [
            Problem(_relative(p.pyproject), error, "python scripts/release.py bump X.Y.Z")
            for p in packages.values()
            if p.version == version
        ]
    license_text = (root / "LICENSE").read_bytes() if (root / "LICENSE").exists() else None
    expect = _Expectations(packages, version, tag.removeprefix("v") if tag else None, license_text)

    found: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(dist_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.name.endswith(".whl"):
            kind, checker = "wheel", _check_wheel
        elif path.name.endswith(".tar.gz"):
            kind, checker = "sdist", _check_sdist
        else:
            problems.append(
                Problem(path.name, "is not a distribution", f"remove it from {dist_dir}")
            )
            continue
        name, file_problems = checker(path, expect)
        problems += file_problems
        found.setdefault((name, kind), []).append(path)

    for name in packages:
        for kind in ("sdist", "wheel"):
            paths = found.get((name, kind), [])
            if len(paths) != 1:
                what = "no" if not paths else f"{len(paths)} ({', '.join(p.name for p in paths)})"
                problems.append(
                    Problem(
                        str(dist_dir),
                        f"{what} {kind} of {name}: exactly one of each is uploaded",
                        "python scripts/release.py build --out DIR (a clean directory)",
                    )
                )
    return problems


@dataclass(frozen=True)
class _Expectations:
    packages: dict[str, Package]
    version: str
    tagged: str | None
    license_text: bytes | None


def _check_wheel(path: Path, expect: _Expectations) -> tuple[str, list[Problem]]:
    try:
        name, version, _, tags = parse_wheel_filename(path.name)
    except (InvalidWheelFilename, InvalidVersion) as error:
        return path.name, [Problem(path.name, f"not a valid wheel name: {error}", _REBUILD)]
    problems = []
    package = expect.packages.get(name)
    if package is None:
        return name, [Problem(path.name, f"{name} is not a workspace package", _NOT_OURS)]
    if {str(t) for t in tags} != {"py3-none-any"}:
        problems.append(
            Problem(path.name, "is not a pure-Python py3-none-any wheel", "build with hatchling")
        )
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        dist_info = f"{package.stem}-{version}.dist-info"
        problems += _check_layout(path.name, package, names, dist_info)
        metadata_name = f"{dist_info}/METADATA"
        if metadata_name not in names:
            return name, [*problems, Problem(path.name, f"has no {metadata_name}", _REBUILD)]
        metadata = _parse_metadata(wheel.read(metadata_name))
        problems += _check_metadata(path.name, package, str(version), metadata, expect)
        problems += _check_wheel_file(path.name, wheel, f"{dist_info}/WHEEL", tags)
        problems += _check_record(path.name, wheel, f"{dist_info}/RECORD")
        problems += _check_entry_points(path.name, package, wheel, dist_info)
        for license_file in metadata.get_all("License-File") or []:
            inside = f"{dist_info}/licenses/{license_file}"
            if inside not in names:
                problems.append(Problem(path.name, f"lacks {inside}", _LICENSE_FIX))
            elif expect.license_text is not None and wheel.read(inside) != expect.license_text:
                problems.append(Problem(path.name, f"{inside} differs from LICENSE", _LICENSE_FIX))
    return name, problems


def _check_layout(file: str, package: Package, names: set[str], dist_info: str) -> list[Problem]:
    """Only the leaf package, the dist-info and deliberate extras; no namespace ``__init__``."""
    problems = []
    for namespace in NAMESPACE_PACKAGES:
        if f"{namespace}/__init__.py" in names:
            problems.append(
                Problem(
                    file,
                    f"ships {namespace}/__init__.py: {namespace.replace('/', '.')} must stay a"
                    " PEP 420 namespace package, or it hides every other orcapod distribution",
                    f"delete {_relative(package.directory)}/src/{namespace}/__init__.py",
                )
            )
    strays = sorted(
        n
        for n in names
        if not n.startswith((package.leaf + "/", dist_info + "/"))
        and not any(n == e or n.startswith(e + "/") for e in package.extra_wheel_paths)
        and n.removesuffix("/__init__.py") not in NAMESPACE_PACKAGES
    )
    if strays:
        problems.append(
            Problem(
                file,
                f"holds files outside {package.leaf}/ and its dist-info: {', '.join(strays)}",
                f"in {_relative(package.pyproject)}, keep [tool.hatch.build.targets.wheel]"
                f' only-include = ["src/{package.leaf}"]; force-include what belongs there',
            )
        )
    # What the pyproject puts there by name must be there (orcapod-protocols' .pth
    # without the module it imports prints a traceback at every interpreter start).
    missing = [
        extra
        for extra in package.extra_wheel_paths
        if not any(n == extra or n.startswith(extra + "/") for n in names)
    ]
    if missing:
        problems.append(
            Problem(
                file,
                f"lacks {', '.join(missing)}, which {_relative(package.pyproject)}"
                " includes by name",
                f"rebuild; check that the sources named in {_relative(package.pyproject)}'s"
                " [tool.hatch.build.targets.wheel] (only-include, force-include) exist",
            )
        )
    for needed in ("__init__.py", "py.typed"):
        if f"{package.leaf}/{needed}" not in names:
            problems.append(
                Problem(
                    file,
                    f"lacks {package.leaf}/{needed}",
                    f"add {_relative(package.directory)}/src/{package.leaf}/{needed}",
                )
            )
    return problems


def _check_wheel_file(
    file: str, wheel: zipfile.ZipFile, name: str, tags: Iterable[object]
) -> list[Problem]:
    """The dist-info's WHEEL: wheel format 1, pure Python, the tags of the file name."""
    try:
        raw = wheel.read(name)
    except KeyError:
        return [Problem(file, f"has no {name}: pip refuses to install it", _REBUILD)]
    fields = _parse_metadata(raw)
    problems = []
    if not fields.get("Wheel-Version", "").strip().startswith("1."):
        problems.append(
            Problem(
                file, f"{name}: Wheel-Version {fields.get('Wheel-Version')!r}, not 1.x", _REBUILD
            )
        )
    if fields.get("Root-Is-Purelib", "").strip().lower() != "true":
        problems.append(Problem(file, f"{name}: Root-Is-Purelib is not true", _REBUILD))
    declared = {t.strip() for t in fields.get_all("Tag") or []}
    if declared != {str(t) for t in tags}:
        problems.append(
            Problem(
                file,
                f"{name}: Tag {', '.join(sorted(declared)) or 'none'} differs from its file name",
                _REBUILD,
            )
        )
    return problems


def _check_record(file: str, wheel: zipfile.ZipFile, name: str) -> list[Problem]:
    """The dist-info's RECORD lists every file of the wheel with its sha256 and size."""
    try:
        raw = wheel.read(name).decode()
    except KeyError:
        return [Problem(file, f"has no {name}: pip refuses to install it", _REBUILD)]
    except UnicodeDecodeError:
        return [Problem(file, f"{name} is not UTF-8", _REBUILD)]
    listed: dict[str, tuple[str, str]] = {}
    for row in csv.reader(raw.splitlines()):
        if row:
            path, digest, size = [*row, "", ""][:3]
            listed[path] = (digest, size)
    files = {n for n in wheel.namelist() if not n.endswith("/")}
    problems = []
    unlisted = sorted(files - listed.keys())
    if unlisted:
        problems.append(Problem(file, f"{name} does not list {', '.join(unlisted)}", _REBUILD))
    absent = sorted(listed.keys() - files)
    if absent:
        problems.append(
            Problem(file, f"{name} lists files it lacks: {', '.join(absent)}", _REBUILD)
        )
    wrong = []
    for path in sorted(files & listed.keys() - {name}):
        data = wheel.read(path)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if listed[path] != (f"sha256={digest}", str(len(data))):
            wrong.append(path)
    if wrong:
        problems.append(
            Problem(file, f"{name}: wrong hash or size of {', '.join(wrong)}", _REBUILD)
        )
    return problems


def _check_entry_points(
    file: str, package: Package, wheel: zipfile.ZipFile, dist_info: str
) -> list[Problem]:
    """The wheel's entry_points.txt declares exactly the pyproject's scripts and entry points."""
    name = f"{dist_info}/entry_points.txt"
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # names are case-sensitive
    try:
        parser.read_string(wheel.read(name).decode() if name in wheel.namelist() else "")
    except (configparser.Error, UnicodeDecodeError) as error:
        return [Problem(file, f"{name} does not parse: {error}", _REBUILD)]

    def reference(value: str) -> str:
        return re.sub(r"\s*:\s*", ":", value.strip())

    found = {
        (group, key, reference(value))
        for group in parser.sections()
        for key, value in parser.items(group)
    }
    wanted = {
        (group, key, reference(value))
        for group, entries in package.entry_points
        for key, value in entries
    }
    if found == wanted:
        return []
    differences = [f"lacks [{g}] {k} = {v}" for g, k, v in sorted(wanted - found)]
    differences += [f"has [{g}] {k} = {v}, not declared" for g, k, v in sorted(found - wanted)]
    return [
        Problem(
            file,
            f"its entry points differ from {_relative(package.pyproject)}:"
            f" {'; '.join(differences)}",
            f"rebuild from {_relative(package.pyproject)} ([project.scripts],"
            " [project.entry-points.*])",
        )
    ]


def _check_sdist(path: Path, expect: _Expectations) -> tuple[str, list[Problem]]:
    try:
        name, version = parse_sdist_filename(path.name)
    except (InvalidSdistFilename, InvalidVersion) as error:
        return path.name, [Problem(path.name, f"not a valid sdist name: {error}", _REBUILD)]
    package = expect.packages.get(name)
    if package is None:
        return name, [Problem(path.name, f"{name} is not a workspace package", _NOT_OURS)]
    top = f"{package.stem}-{version}"
    problems = []
    with tarfile.open(path) as sdist:
        names = set(sdist.getnames())

        def read(member: str) -> bytes | None:
            extracted = sdist.extractfile(member) if member in names else None
            return extracted.read() if extracted is not None else None

        pkg_info = read(f"{top}/PKG-INFO")
        if pkg_info is None:
            return name, [Problem(path.name, f"has no {top}/PKG-INFO", _REBUILD)]
        metadata = _parse_metadata(pkg_info)
        problems += _check_metadata(path.name, package, str(version), metadata, expect)
        for license_file in metadata.get_all("License-File") or []:
            text = read(f"{top}/{license_file}")
            if text is None:
                problems.append(Problem(path.name, f"lacks {top}/{license_file}", _LICENSE_FIX))
            elif expect.license_text is not None and text != expect.license_text:
                problems.append(
                    Problem(path.name, f"{top}/{license_file} differs from LICENSE", _LICENSE_FIX)
                )
        for namespace in NAMESPACE_PACKAGES:
            if f"{top}/src/{namespace}/__init__.py" in names:
                problems.append(
                    Problem(
                        path.name,
                        f"ships src/{namespace}/__init__.py: a namespace package must have none",
                        f"delete {_relative(package.directory)}/src/{namespace}/__init__.py",
                    )
                )
    return name, problems


_REBUILD = "python scripts/release.py build --out DIR (a clean directory)"
_NOT_OURS = "build into a clean directory; only the seven orcapod distributions belong there"
_LICENSE_FIX = (
    'copy the repository\'s LICENSE into the package directory; license-files = ["LICENSE"]'
)


def _parse_metadata(raw: bytes) -> email.message.Message:
    return email.parser.BytesParser().parsebytes(raw)


def _check_metadata(
    file: str,
    package: Package,
    version: str,
    metadata: email.message.Message,
    expect: _Expectations,
) -> list[Problem]:
    """The core metadata (a wheel's METADATA or an sdist's PKG-INFO) of one distribution."""
    pyproject = _relative(package.pyproject)
    problems = []

    def problem(message: str, fix: str) -> None:
        problems.append(Problem(file, message, fix))

    declared = metadata.get("Version", "")
    if declared != version:
        problem(f"Version {declared!r} in its metadata, {version!r} in its file name", _REBUILD)
    try:
        parsed = Version(version)
    except InvalidVersion:
        parsed = None
        problem(f"version {version!r} is not a PEP 440 version", f"fix version in {pyproject}")
    if parsed is not None and parsed.local is not None:
        problem(
            f"version {version} has a local part (+{parsed.local}), which PyPI refuses",
            f'a static version = "{expect.version}" in {pyproject}, no version plugin',
        )
    if parsed is not None and str(parsed) != version:
        problem(f"version {version} is not in normal form ({parsed})", f"use {parsed}")
    if version != expect.version:
        problem(
            f"version {version} is not the shared version {expect.version}",
            "rebuild from the current tree (python scripts/release.py build)",
        )
    if expect.tagged is not None and version != expect.tagged:
        problem(
            f"version {version} is not the tag's version {expect.tagged}",
            f"python scripts/release.py bump {expect.tagged}, or tag v{version}"
            if release_version_error(expect.tagged) is None
            else f"tag v{version}: release tags are vX.Y.Z",
        )

    if canonicalize_name(metadata.get("Name", "")) != package.name:
        problem(f"Name {metadata.get('Name')!r} is not {package.name}", _REBUILD)
    for field in ("Summary", "Requires-Python", "Keywords"):
        if not metadata.get(field, "").strip():
            problem(f"no {field}", f"set it in [project] of {pyproject}")
    problems += _check_requires_python(file, package, metadata.get("Requires-Python", ""))
    if not (metadata.get("Author", "") + metadata.get("Author-email", "")).strip():
        problem("no Author", f"set authors in [project] of {pyproject}")
    if metadata.get("License-Expression") != LICENSE_EXPRESSION:
        problem(
            f"License-Expression is {metadata.get('License-Expression')!r}, not MIT",
            f'license = "MIT" in {pyproject}',
        )
    if not metadata.get_all("License-File"):
        problem("no License-File", f'license-files = ["LICENSE"] in {pyproject}')
    classifiers = set(metadata.get_all("Classifier") or [])
    for classifier in REQUIRED_CLASSIFIERS:
        if classifier not in classifiers:
            problem(f"lacks the classifier {classifier!r}", f"add it to classifiers in {pyproject}")
    urls = {
        label.strip(): url.strip()
        for label, _, url in (u.partition(",") for u in metadata.get_all("Project-URL") or [])
    }
    for label in REQUIRED_URLS:
        if not urls.get(label, "").startswith("https://"):
            problem(f"no https Project-URL {label!r}", f"add it to [project.urls] of {pyproject}")

    bound = sibling_bound(expect.version)
    found: list[_RequirementKey] = []
    for line in metadata.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problem(f"Requires-Dist {line!r} does not parse: {error}", f"fix it in {pyproject}")
            continue
        key = _requirement_key(requirement)
        found.append(key)
        sibling = canonicalize_name(requirement.name)
        if sibling in expect.packages and requirement.specifier != SpecifierSet(bound):
            problem(
                f"Requires-Dist {line!r}: a sibling must be required as {sibling}{bound}",
                f"write {sibling}{bound} in {pyproject} (python scripts/release.py bump keeps"
                " every sibling bound in step)",
            )
        if sibling in expect.packages and key.marker:
            problem(
                f"Requires-Dist {line!r}: a sibling requirement must hold everywhere, without"
                f" a marker (here {key.marker!r})",
                f"write {sibling}{bound} without a marker in {pyproject}",
            )
    problems += _compare_requirements(file, package, found, metadata)

    description = metadata.get_payload()
    if isinstance(description, str):
        problems += _check_links(file, "its description (README.md)", description, package)
    return problems


def _check_requires_python(file: str, package: Package, declared: str) -> list[Problem]:
    """The metadata's Requires-Python is the pyproject's requires-python."""
    pyproject = _relative(package.pyproject)
    if not package.requires_python:
        return [Problem(file, f"{pyproject} has no requires-python", f"set it in {pyproject}")]
    if not declared.strip():
        return []  # reported as a missing field
    try:
        same = SpecifierSet(declared) == SpecifierSet(package.requires_python)
    except InvalidSpecifier as error:
        return [Problem(file, f"Requires-Python {declared!r} does not parse: {error}", _REBUILD)]
    if same:
        return []
    return [
        Problem(
            file,
            f"Requires-Python {declared!r} is not {pyproject}'s"
            f" requires-python {package.requires_python!r}",
            _REBUILD,
        )
    ]


@dataclass(frozen=True, order=True)
class _RequirementKey:
    """A requirement in a comparable form: names canonical, markers normalized, and
    the condition ``extra == "..."`` of an extra's requirement taken out of its marker."""

    extra: str  # "" for a requirement of the distribution itself
    name: str
    extras: tuple[str, ...]
    specifier: str
    url: str
    marker: str  # the marker besides the extra condition, "" if none

    def __str__(self) -> str:
        text = self.name + (f"[{','.join(self.extras)}]" if self.extras else "")
        text += f" @ {self.url}" if self.url else self.specifier
        conditions = [c for c in (self.marker, self.extra and f"extra == {self.extra!r}") if c]
        return text + (f"; {' and '.join(conditions)}" if conditions else "")


_EXTRA_CONDITION = re.compile(r"(?:(?P<rest>.*) and )?extra == \"(?P<extra>[^\"]*)\"", re.S)


def _requirement_key(requirement: Requirement, extra: str = "") -> _RequirementKey:
    """The key of a requirement as core metadata writes it (``extra`` empty) or of one that
    the pyproject declares in the extra ``extra``.

    Core metadata writes an extra's requirement with the marker ``extra == "x"``, or
    ``(M) and extra == "x"`` if the pyproject gave it the marker M.
    """
    marker = str(requirement.marker) if requirement.marker is not None else ""
    if not extra and marker:
        found = _EXTRA_CONDITION.fullmatch(marker)  # str(Marker) writes "extra == \"x\""
        rest = found["rest"] if found else None
        # `a or b and extra == "x"` means `a or (b and extra == "x")`: not only in extra x
        if found and (rest is None or not _has_top_level_or(rest)):
            with contextlib.suppress(InvalidMarker):  # then it is compared as it stands
                marker = str(Marker(rest)) if rest is not None else ""
                extra = found["extra"]
    return _RequirementKey(
        extra=canonicalize_name(extra) if extra else "",
        name=canonicalize_name(requirement.name),
        extras=tuple(sorted(canonicalize_name(e) for e in requirement.extras)),
        specifier=str(requirement.specifier),
        url=requirement.url or "",
        marker=marker,
    )


def _has_top_level_or(marker: str) -> bool:
    """Whether ``or`` joins parts of ``marker`` outside parentheses and quoted values."""
    depth, quote = 0, ""
    for index, char in enumerate(marker):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif depth == 0 and marker.startswith(" or ", index):
            return True
    return False


def _compare_requirements(
    file: str, package: Package, found: list[_RequirementKey], metadata: email.message.Message
) -> list[Problem]:
    """Requires-Dist and Provides-Extra say what the pyproject declares, no more, no less."""
    pyproject = _relative(package.pyproject)
    wanted: list[_RequirementKey] = []
    declared = [("", package.dependencies), *package.optional_dependencies]
    for extra, lines in declared:
        for line in lines:
            try:
                wanted.append(_requirement_key(Requirement(line), extra))
            except InvalidRequirement as error:
                return [Problem(file, f"{pyproject}: {line!r} does not parse: {error}", "fix it")]
    problems = []
    lacking = Counter(wanted) - Counter(found)
    undeclared = Counter(found) - Counter(wanted)
    if lacking or undeclared:
        differences = [f"lacks {k}" for k in sorted(lacking.elements())]
        differences += [f"has {k}, not declared" for k in sorted(undeclared.elements())]
        problems.append(
            Problem(
                file,
                f"its Requires-Dist differs from what {pyproject} declares"
                f" (dependencies, optional-dependencies): {'; '.join(differences)}",
                f"rebuild from {pyproject}",
            )
        )
    extras = {canonicalize_name(e) for e in metadata.get_all("Provides-Extra") or []}
    if extras != {canonicalize_name(extra) for extra, _ in package.optional_dependencies}:
        problems.append(
            Problem(
                file,
                f"Provides-Extra {', '.join(sorted(extras)) or 'none'} differs from"
                f" {pyproject}'s optional-dependencies",
                f"rebuild from {pyproject}",
            )
        )
    return problems


def _check_links(file: str, where: str, text: str, package: Package) -> list[Problem]:
    prose = re.sub(r"^```.*?^```|`[^`\n]*`", "", text, flags=re.M | re.S)  # not code
    links = sorted(set(RELATIVE_LINK.findall(prose)))
    if not links:
        return []
    return [
        Problem(
            file,
            f"{where} has relative links, dead on PyPI: {', '.join(links)}",
            f"make them absolute (https://github.com/orcapod/orcapod/blob/main/...) in"
            f" {_relative(package.directory)}/README.md",
        )
    ]


# --------------------------------------------------------------------------
# rehearse
# --------------------------------------------------------------------------


class RehearsalFailed(Exception):
    """A step of the rehearsal did not do what a user needs."""


def rehearse(
    dist_dir: Path,
    *,
    python: str = sys.executable,
    cache: Path | None = None,
    refresh: bool = False,
    root: Path = ROOT,
) -> None:
    """Install the built wheels the way users will, from a package index on this machine.

    1. The third-party requirements of the wheels are downloaded once into a
       wheelhouse under ``cache`` (reused while it satisfies them).
    2. A PEP 503 index of that wheelhouse plus ``dist_dir`` is served on
       127.0.0.1; pip is pointed at it alone, so nothing can come from PyPI
       (where ``orcapod-core`` today is someone else's placeholder).
    3. In a fresh virtual environment: README.md's ``pip install`` line,
       ``orcapod demo`` in an empty directory and ``orcapod plugins``.
    4. Every distribution the README line does not install, alone in its own
       fresh environment: installed and imported.
    """
    dist_dir = dist_dir.resolve()  # the commands run in other directories
    packages = read_packages(root)
    version = shared_version(packages)
    wheels = {}
    for package in packages.values():
        wheel = dist_dir / f"{package.stem}-{version}-py3-none-any.whl"
        if not wheel.exists():
            raise RehearsalFailed(f"no {wheel.name} in {dist_dir}: run build first")
        wheels[package.name] = wheel
    readme_line = readme_install_line(root / "README.md", set(packages))
    first = shlex.split(readme_line)[2:]
    rest = [name for name in packages if name not in first]

    with tempfile.TemporaryDirectory(prefix="orcapod-rehearsal-") as scratch:
        work = Path(scratch)
        print(f"==> rehearsing {len(wheels)} wheels at {version} with {python}", flush=True)
        # The README's environment, still empty: its fresh pip also fills the wheelhouse.
        venv = _venv(work / "readme-venv", python)
        wheelhouse = _wheelhouse(venv, sorted(wheels.values()), cache, refresh)
        index_root = work / "index"
        sdists = sorted(dist_dir.glob("*.tar.gz"))
        count = write_simple_index(index_root, [*wheelhouse, *wheels.values(), *sdists])
        with _serve(index_root) as index_url:
            print(f"==> serving {count} projects at {index_url} (pip's only index)", flush=True)
            env = _isolated_pip_env(PIP_INDEX_URL=index_url, PIP_NO_CACHE_DIR="1")

            _user_command(readme_line, venv, env, work)
            _expect_installed(venv, env, _closure(first, packages), version)
            demo_dir = work / "demo"
            demo_dir.mkdir()
            demo = _user_command("orcapod demo", venv, env, demo_dir)
            _show(demo, lines=22)
            if not (demo_dir / "orcapod-demo").is_dir():
                raise RehearsalFailed("orcapod demo left no store in ./orcapod-demo")
            _show(_user_command("orcapod plugins", venv, env, demo_dir))
            _expect_plugins(venv, env, demo_dir, _closure(first, packages), packages, version)

            for name in rest:
                print(f"==> {name} alone, in a fresh environment", flush=True)
                venv = _venv(work / f"{name}-venv", python)
                _user_command(f"pip install {name}", venv, env, work)
                closure = _closure([name], packages)
                _expect_installed(venv, env, closure, version)
                _expect_imports(venv, env, work, packages[name].module, "orcapod-core" in closure)
    print(f"==> rehearsal passed: all {len(wheels)} wheels install from a package index")


def readme_install_line(readme: Path, names: set[str]) -> str:
    """The first line of README.md that pip-installs orcapod distributions by name alone."""
    for line in readme.read_text().splitlines():
        words = line.split()
        if words[:2] == ["pip", "install"] and len(words) > 2 and set(words[2:]) <= names:
            return line.strip()
    raise RehearsalFailed(f"{readme} has no line 'pip install <orcapod distributions>'")


def _closure(names: Iterable[str], packages: dict[str, Package]) -> set[str]:
    """These distributions and every sibling they require."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending += [
                requirement.name
                for requirement in map(Requirement, packages[name].dependencies)
                if canonicalize_name(requirement.name) in packages
            ]
    return {canonicalize_name(name) for name in seen}


def _isolated_pip_env(**settings: str) -> dict[str, str]:
    """The environment for pip: none of this machine's pip configuration, except how to
    reach a server (certificates, proxy, timeouts); never where to look for packages."""
    transport = ("PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES")
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "VIRTUAL_ENV", "CONDA_PREFIX")
    env = {
        key: value
        for key, value in os.environ.items()
        if (not key.startswith("PIP_") or key in transport) and key not in dropped
    }
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # no pip.conf of any level is read
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    env.update(settings)
    return env


def _run(
    command: Sequence[str] | str, *, env: dict[str, str], cwd: Path, echo: bool = True
) -> subprocess.CompletedProcess[str]:
    if echo:
        print(f"$ {command if isinstance(command, str) else shlex.join(command)}", flush=True)
    result = subprocess.run(
        command,
        shell=isinstance(command, str),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shown = command if isinstance(command, str) else shlex.join(command)
        raise RehearsalFailed(
            f"{shown} exited with {result.returncode} (in {cwd}):\n{result.stdout}{result.stderr}"
        )
    return result


def _venv(path: Path, python: str) -> Path:
    """A fresh virtual environment with the pip its Python bundles, as ``python -m venv`` makes."""
    _run([python, "-m", "venv", str(path)], env=_isolated_pip_env(), cwd=path.parent, echo=False)
    return path


def _bin(venv: Path, program: str) -> str:
    return str(venv / "bin" / program)  # POSIX only, like fcntl (orcapod runs on Linux, macOS)


def _user_command(
    line: str, venv: Path, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``line`` in a shell where ``venv`` is active, as a user types it."""
    active = {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{Path(_bin(venv, 'python')).parent}"}
    active["PATH"] += os.pathsep + env.get("PATH", os.defpath)
    result = _run(line, env=active, cwd=cwd)
    if line.startswith("pip install"):
        said = result.stdout.splitlines()
        for shown in [s for s in said if s.startswith(("Looking in indexes", "Successfully"))]:
            print(f"    {shown}")
    return result


def _show(result: subprocess.CompletedProcess[str], lines: int | None = None) -> None:
    out = result.stdout.rstrip().splitlines()
    if lines is not None and len(out) > lines:
        out = [*out[:lines], f"... ({len(out) - lines} more lines)"]
    print("\n".join(f"    {line}" for line in out), flush=True)


def _expect_installed(venv: Path, env: dict[str, str], names: set[str], version: str) -> None:
    """Exactly these orcapod distributions, at the shared version, with consistent requirements."""
    python = _bin(venv, "python")
    _run([python, "-m", "pip", "check"], env=env, cwd=venv, echo=False)
    listed = _run([python, "-m", "pip", "list", "--format=json"], env=env, cwd=venv, echo=False)
    ours = {
        canonicalize_name(d["name"]): d["version"]
        for d in json.loads(listed.stdout)
        if canonicalize_name(d["name"]).startswith("orcapod")
    }
    if ours != dict.fromkeys(names, version):
        raise RehearsalFailed(f"expected {sorted(names)} at {version}, installed: {ours}")
    print(f"    pip check passed; orcapod distributions: {', '.join(sorted(ours))} ({version})")


def _expect_plugins(
    venv: Path,
    env: dict[str, str],
    cwd: Path,
    installed: set[str],
    packages: dict[str, Package],
    version: str,
) -> None:
    """``orcapod plugins --json``: every installed plugin distribution loaded, none failed."""
    command = [_bin(venv, "orcapod"), "plugins", "--json"]
    report = json.loads(_run(command, env=env, cwd=cwd, echo=False).stdout)
    listed = {(p["distribution"], p["version"]) for p in report["plugins"]}
    wanted = {(n, version) for n in installed if packages[n].has_plugins or n == "orcapod-core"}
    if report.get("failed") or not wanted <= listed:
        raise RehearsalFailed(
            f"orcapod plugins: expected plugins of {sorted(wanted)}, listed {sorted(listed)},"
            f" failed {report.get('failed')}"
        )


def _expect_imports(
    venv: Path, env: dict[str, str], cwd: Path, module: str, core_expected: bool
) -> None:
    """``module`` imports; orcapod.core is importable exactly when it was meant to be installed."""
    code = (
        "import importlib, importlib.util\n"
        f"importlib.import_module({module!r})\n"
        "print(importlib.util.find_spec('orcapod.core') is not None)\n"
    )
    result = _run([_bin(venv, "python"), "-c", code], env=env, cwd=cwd, echo=False)
    has_core = result.stdout.strip().endswith("True")
    if has_core != core_expected:
        raise RehearsalFailed(f"orcapod.core {'is' if has_core else 'is not'} importable")
    print(f"    import {module}: ok{'' if core_expected else ', without orcapod-core'}")


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("ORCAPOD_RELEASE_CACHE", Path(base) / "orcapod-release"))


def _wheelhouse(
    venv: Path, wheels: Sequence[Path], cache: Path | None, refresh: bool
) -> list[Path]:
    """The third-party distributions the wheels need, for ``venv``'s Python and platform.

    They are kept in a cache directory per interpreter and platform. A run
    that finds everything there (an offline ``pip download``) does not ask
    PyPI at all; otherwise ``venv``'s fresh pip, with no configuration (so
    this machine's find-links or constraints cannot slip anything in),
    downloads what is missing.
    """
    python = _bin(venv, "python")
    probe = "import sys, sysconfig; print(sys.implementation.cache_tag, sysconfig.get_platform())"
    interpreter = _run([python, "-c", probe], env=_isolated_pip_env(), cwd=venv, echo=False)
    house = (cache or _default_cache()) / "wheelhouse" / "-".join(interpreter.stdout.split())
    house.mkdir(parents=True, exist_ok=True)
    env = _isolated_pip_env()
    download = [python, "-m", "pip", "download", "--quiet", "--dest", str(house)]
    ours = ["--find-links", str(wheels[0].parent), *map(str, wheels)]
    with open(house / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another rehearsal may be filling it too
        _drop_damaged(house)  # e.g. cut short by a killed run: pip would reuse it as it is
        offline = [*download, "--no-index", "--find-links", str(house), *ours]
        if refresh or subprocess.run(offline, env=env, capture_output=True).returncode != 0:
            print(f"==> downloading third-party requirements from PyPI into {house}", flush=True)
            print(f"$ pip download --dest {house} --find-links {wheels[0].parent} <the wheels>")
            _run([*download, *ours], env=env, cwd=venv, echo=False)
        else:
            print(f"==> third-party requirements: all found in {house}", flush=True)
        # pip download copies the wheels it was given there too; ours are served from DIR.
        for copy in house.glob("orcapod*"):
            copy.unlink()
    return sorted(p for p in house.iterdir() if p.name.endswith((".whl", ".tar.gz", ".zip")))


def _drop_damaged(house: Path) -> None:
    for wheel in house.glob("*.whl"):
        try:
            zipfile.ZipFile(wheel).close()
        except zipfile.BadZipFile:
            print(f"removing the damaged {wheel}")
            wheel.unlink()


def write_simple_index(root: Path, files: Iterable[Path]) -> int:
    """A PEP 503 "simple" index of ``files`` in ``root/simple``; returns the number of projects."""
    projects: dict[str, list[Path]] = {}
    for path in files:
        if path.name.endswith(".whl"):
            name = str(parse_wheel_filename(path.name)[0])
        else:
            name = str(parse_sdist_filename(path.name)[0])
        projects.setdefault(name, []).append(path)
    (root / "files").mkdir(parents=True)
    simple = root / "simple"
    simple.mkdir()
    page = "<!DOCTYPE html>\n<html><body>\n{}</body></html>\n"
    for name, paths in sorted(projects.items()):
        links = []
        for path in sorted(paths):
            (root / "files" / path.name).symlink_to(path.resolve())
            digest = _sha256(path)
            links.append(f'<a href="../../files/{path.name}#sha256={digest}">{path.name}</a><br>\n')
        (simple / name).mkdir()
        (simple / name / "index.html").write_text(page.format("".join(links)))
    index = "".join(f'<a href="{name}/">{name}</a><br>\n' for name in sorted(projects))
    (simple / "index.html").write_text(page.format(index))
    return len(projects)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(functools.partial(file.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free port of 127.0.0.1; yields the index URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------
# bump
# --------------------------------------------------------------------------

VERSION_LINE = re.compile(r'^(version\s*=\s*)"[^"]*"', re.M)
CFF_VERSION = re.compile(r"^version:[ \t]*(?P<q>[\"']?)[^\"'\n]*(?P=q)[ \t]*$", re.M)
CFF_DATE = re.compile(r"^date-released:[ \t]*(?P<q>[\"']?)[^\"'\n]*(?P=q)[ \t]*$", re.M)
UNRELEASED = re.compile(r"^## \[Unreleased\][ \t]*$", re.M)
UNRELEASED_LINK = re.compile(
    r"^\[Unreleased\]:[ \t]*(?P<repo>https://github\.com/[^/\s]+/[^/\s]+)/(?P<target>\S*)[ \t]*$",
    re.M | re.I,
)


def _sibling_requirement(names: Iterable[str]) -> re.Pattern[str]:
    """A quoted requirement on a sibling with a ``~=`` bound: ``"orcapod-core[x]~=0.1.0``."""
    spelled = "|".join(re.escape(n).replace(r"\-", "[-_.]") for n in sorted(names))
    return re.compile(
        rf"""(?P<start>["'](?:{spelled})(?:\s*\[[^\]]*\])?)\s*~=\s*[^"';,\s]+""", re.I
    )


def bump(version: str, root: Path = ROOT, today: datetime.date | None = None) -> list[Path]:
    """Set ``version`` as the shared version; returns the files it changed.

    In every ``packages/*/pyproject.toml``: ``version`` and each ``~=`` bound
    on a sibling (dependencies, extras, dependency groups). ``CITATION.cff``:
    ``version`` (and ``date-released`` if it has one). ``CHANGELOG.md``: the
    ``## [Unreleased]`` section becomes ``## [X.Y.Z] - <today>`` under a new,
    empty ``Unreleased``. Nothing is written unless every file can be changed.

    ``version`` must be ``X.Y.Z`` (digits only: no pre-, post-, dev- or local
    release). It may equal the current version once, for a first release whose
    number the pyprojects already carry: the CHANGELOG refuses a second
    ``## [X.Y.Z]`` section.
    """
    error = release_version_error(version)
    if error is not None:
        raise SystemExit(error)
    parsed = Version(version)
    packages = read_packages(root)
    current = shared_version(packages)
    if Version(current) > parsed:
        raise SystemExit(f"{version} is below the current version {current}")
    if Version(current) == parsed:  # the first release: the pyprojects already say it
        print(f"the pyprojects already say {version}: only the CHANGELOG and CITATION.cff change")
    day = (today or datetime.date.today()).isoformat()

    changes: dict[Path, str] = {}
    errors = []
    sibling = _sibling_requirement(packages)
    for package in packages.values():
        text = package.pyproject.read_text()
        new, count = VERSION_LINE.subn(rf'\g<1>"{version}"', text)
        if count != 1:
            errors.append(
                f"{_relative(package.pyproject)}: {count} 'version = \"...\"' lines, not 1"
            )
        changes[package.pyproject] = sibling.sub(rf"\g<start>~={version}", new)

    citation = root / "CITATION.cff"
    if citation.exists():
        text = citation.read_text()
        new, count = CFF_VERSION.subn(rf"version: \g<q>{version}\g<q>", text)
        if count != 1:
            errors.append(f"CITATION.cff: {count} 'version:' lines, not 1")
        changes[citation] = CFF_DATE.sub(rf"date-released: \g<q>{day}\g<q>", new)
    else:
        print("no CITATION.cff: skipped")

    changelog = root / "CHANGELOG.md"
    if changelog.exists():
        try:
            changes[changelog] = _release_changelog(changelog.read_text(), version, day)
        except ValueError as error:
            errors.append(f"CHANGELOG.md: {error}")
    else:
        print("no CHANGELOG.md: skipped")

    if errors:
        raise SystemExit("nothing changed:\n  " + "\n  ".join(errors))
    changed = []
    for path, text in changes.items():
        if path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def _release_changelog(text: str, version: str, day: str) -> str:
    """The CHANGELOG with its Unreleased section titled ``version`` and a new one above."""
    if re.search(rf"^## \[{re.escape(version)}\]", text, re.M):
        raise ValueError(f"already has a section ## [{version}]")
    heading = UNRELEASED.search(text)
    if heading is None:
        raise ValueError("no '## [Unreleased]' heading to turn into the release's section")
    if not changelog_section(text, "Unreleased").strip():
        print("warning: CHANGELOG.md's Unreleased section is empty")
    text = UNRELEASED.sub(f"## [Unreleased]\n\n## [{version}] - {day}", text, count=1)
    link = UNRELEASED_LINK.search(text)
    if link is not None:  # Keep a Changelog's link definitions at the bottom
        repo = link["repo"]
        compare = re.fullmatch(r"compare/(?P<since>\S+)\.\.\.HEAD", link["target"])
        since = compare["since"] if compare else None
        target = f"compare/{since}...v{version}" if since else f"releases/tag/v{version}"
        links = f"[Unreleased]: {repo}/compare/v{version}...HEAD\n[{version}]: {repo}/{target}"
        text = text[: link.start()] + links + text[link.end() :]
    return text


def changelog_section(text: str, version: str) -> str:
    """The body of the CHANGELOG section ``## [version]`` (without link definitions)."""
    heading = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n", text, re.M)
    if heading is None:
        raise ValueError(f"no section ## [{version}]")
    rest = text[heading.end() :]
    end = re.search(r"^## |^\[[^\]]+\]:\s", rest, re.M)
    return rest[: end.start() if end else len(rest)].strip("\n")


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)

    build_cmd = commands.add_parser("build", help="uv build --all-packages into a clean DIR")
    build_cmd.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")

    check_cmd = commands.add_parser("check", help="check the 14 files in DIR before upload")
    check_cmd.add_argument("dist_dir", type=Path, metavar="DIR")
    check_cmd.add_argument(
        "--tag",
        help="the git tag being released, e.g. v0.1.0: also check the tag, CHANGELOG.md and"
        " CITATION.cff",
    )

    rehearse_cmd = commands.add_parser("rehearse", help="install DIR's wheels from a local index")
    rehearse_cmd.add_argument("dist_dir", type=Path, metavar="DIR")
    rehearse_cmd.add_argument("--python", default=sys.executable, help="default: this Python")
    rehearse_cmd.add_argument("--cache", type=Path, help=f"default: {_default_cache()}")
    rehearse_cmd.add_argument(
        "--refresh", action="store_true", help="resolve against PyPI even if the cache suffices"
    )

    bump_cmd = commands.add_parser("bump", help="make X.Y.Z the shared version everywhere")
    bump_cmd.add_argument("version", metavar="X.Y.Z")
    bump_cmd.add_argument("--date", type=datetime.date.fromisoformat, help="default: today")

    notes_cmd = commands.add_parser("notes", help="print the CHANGELOG section of X.Y.Z")
    notes_cmd.add_argument("version", metavar="X.Y.Z")

    args = parser.parse_args(argv)
    if args.command == "build":
        built = build(args.out)
        print(f"built {len(built)} distributions in {args.out}")
    elif args.command == "check":
        problems = check(args.dist_dir, args.tag)
        if problems:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            print(f"{count} in {args.dist_dir}:", file=sys.stderr)
            print("\n".join(map(str, problems)), file=sys.stderr)
            return 1
        files = [p for p in args.dist_dir.iterdir() if not p.name.startswith(".")]
        ready = f"; CHANGELOG.md and CITATION.cff ready for {args.tag}" if args.tag else ""
        print(f"{len(files)} distributions in {args.dist_dir} checked: no problems{ready}")
    elif args.command == "rehearse":
        try:
            rehearse(args.dist_dir, python=args.python, cache=args.cache, refresh=args.refresh)
        except RehearsalFailed as error:
            print(f"rehearsal failed: {error}", file=sys.stderr)
            return 1
    elif args.command == "bump":
        for path in bump(args.version, today=args.date):
            print(f"updated {_relative(path)}")
        print(f"now {args.version}; run `uv lock` to update uv.lock")
    elif args.command == "notes":
        try:
            print(changelog_section((ROOT / "CHANGELOG.md").read_text(), args.version))
        except (OSError, ValueError) as error:
            print(f"CHANGELOG.md: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
