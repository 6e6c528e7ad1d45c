"""The import guard (_orcapod_root_guard): a regular package ``orcapod`` on the path is refused.

Every case runs in a subprocess, with a fake ``orcapod`` put first on its
``sys.path``, so that the test process's own imports are never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import distribution, version
from importlib.util import find_spec
from pathlib import Path

import pytest

PROTOCOLS_VERSION = version("orcapod-protocols")

PRELUDE = """
import json, sys
sys.path[:0] = {path!r}
import _orcapod_root_guard as guard
from _orcapod_root_guard import RootGuard
"""


def _python(code: str, *path: Path, options: tuple[str, ...] = ()) -> str:
    """Run ``code`` after the PRELUDE with ``path`` first on ``sys.path``; its stdout."""
    script = PRELUDE.format(path=[str(p) for p in path]) + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, *options, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


REFUSED = """
guard.install()
try:
    import {module}
except ImportError as error:
    print(json.dumps({{
        "type": type(error).__name__,
        "message": str(error),
        "name": error.name,
        "path": error.path,
        "imported": sorted(m for m in sys.modules if m.split(".")[0] == "orcapod"),
        "last_frame": error.__traceback__ and __import__("traceback").extract_tb(
            error.__traceback__)[-1].filename,
    }}))
else:
    print(json.dumps({{"type": None, "file": getattr(sys.modules["orcapod"], "__file__", None)}}))
"""


def _write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _distribution(site: Path, name: str, version: str, files: list[str]) -> None:
    """A dist-info in ``site`` as an installer writes it, its RECORD listing ``files``."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    _write(info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    _write(info / "RECORD", "".join(f"{file},,\n" for file in record))


def _marking(marker: Path) -> str:
    """Source of a module that leaves ``marker`` behind when it runs."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "the-foreign-package-ran"


@pytest.fixture
def foreign_site(tmp_path: Path, marker: Path) -> Path:
    """A site directory where the other ``orcapod`` 0.1.4 and one of ours share files.

    The other ships a regular package (``orcapod/__init__.py``) and
    ``orcapod/core/__init__.py``; ``orcapod-example`` 2.0 stands for one of
    orcapod's distributions installed into the same directory, and claims
    ``orcapod/core/__init__.py`` too.
    """
    site = tmp_path / "site"
    _write(site / "orcapod" / "__init__.py", _marking(marker))
    _write(site / "orcapod" / "core" / "__init__.py", _marking(marker))
    _write(site / "orcapod" / "example" / "__init__.py")
    _distribution(site, "orcapod", "0.1.4", ["orcapod/__init__.py", "orcapod/core/__init__.py"])
    _distribution(
        site, "orcapod-example", "2.0", ["orcapod/core/__init__.py", "orcapod/example/__init__.py"]
    )
    return site


def _flat(message: str) -> str:
    return " ".join(message.split())


@pytest.mark.parametrize("module", ["orcapod.core", "orcapod", "orcapod.protocols"])
def test_a_regular_orcapod_package_is_refused_before_it_runs(
    foreign_site: Path, marker: Path, module: str
) -> None:
    report = json.loads(_python(REFUSED.format(module=module), foreign_site))
    assert report["type"] == "ImportError"
    origin = str(foreign_site / "orcapod" / "__init__.py")
    assert report["name"] == "orcapod"
    assert report["path"] == origin
    assert report["last_frame"].endswith("_orcapod_root_guard.py")
    assert report["imported"] == []
    assert not marker.exists(), "the foreign orcapod/__init__.py ran"

    message = report["message"]
    flat = _flat(message)
    assert f"\n    {origin}\n" in message
    assert "is from the distribution orcapod 0.1.4" in flat
    assert "orcapod-example 2.0" in flat
    assert f"orcapod-protocols {PROTOCOLS_VERSION}" in flat
    assert "cannot share an environment" in flat
    assert "(here: orcapod/core/__init__.py)" in flat
    assert "overwritten" in flat
    assert "stopped before any of its code ran" in flat
    assert "\n    pip uninstall orcapod\n" in message
    reinstall = next(line for line in message.splitlines() if "--force-reinstall" in line)
    assert reinstall.startswith("    pip install --force-reinstall --no-deps ")
    assert "orcapod-example==2.0" in reinstall.split()
    assert f"orcapod-protocols=={PROTOCOLS_VERSION}" in reinstall.split()
    assert "orcapod==0.1.4" not in reinstall
    assert "separate virtual environments" in flat


def test_the_refusal_holds_for_every_later_import(foreign_site: Path) -> None:
    code = """
    guard.install()
    outcomes = []
    for _ in range(2):
        try:
            import orcapod.core
        except ImportError as error:
            outcomes.append(type(error).__name__)
    print(outcomes)
    """
    assert _python(code, foreign_site).strip() == "['ImportError', 'ImportError']"


def test_a_regular_package_of_no_distribution_is_refused_with_its_own_fix(tmp_path: Path) -> None:
    site = tmp_path / "checkout"
    _write(site / "orcapod" / "__init__.py")
    report = json.loads(_python(REFUSED.format(module="orcapod.core"), site))
    assert report["type"] == "ImportError"
    flat = _flat(report["message"])
    assert str(site / "orcapod" / "__init__.py") in flat
    assert "is in no installed distribution" in flat
    assert "rename or move that directory" in flat
    assert "pip uninstall" not in flat


def test_reading_metadata_failing_does_not_hide_the_refusal(foreign_site: Path) -> None:
    code = textwrap.dedent("""
        import importlib.metadata
        def broken(**kwargs):
            raise OSError("unreadable")
        importlib.metadata.distributions = broken
    """) + REFUSED.format(module="orcapod.core")
    report = json.loads(_python(code, foreign_site))
    assert report["type"] == "ImportError"
    assert "cannot share an environment" in _flat(report["message"])


def test_namespace_portions_alone_import_as_usual(tmp_path: Path) -> None:
    portion = tmp_path / "portion"
    _write(portion / "orcapod" / "example" / "__init__.py", "VALUE = 1\n")
    code = """
    guard.install()
    assert isinstance(sys.meta_path[0], RootGuard)
    assert RootGuard().find_spec("orcapod", None) is None
    import orcapod.protocols, orcapod.example
    print(json.dumps({
        "file": getattr(sys.modules["orcapod"], "__file__", None),
        "value": orcapod.example.VALUE,
        "protocols": orcapod.protocols.__file__,
    }))
    """
    report = json.loads(_python(code, portion))
    assert report["file"] is None
    assert report["value"] == 1
    assert report["protocols"] == find_spec("orcapod.protocols").origin  # type: ignore[union-attr]


def test_other_names_are_not_looked_at(foreign_site: Path) -> None:
    _write(foreign_site / "orcapodx" / "__init__.py", "VALUE = 2\n")
    code = """
    from importlib.machinery import PathFinder
    asked = []
    original = PathFinder.find_spec
    def counting(fullname, path=None, target=None):
        asked.append(fullname)
        return original(fullname, path, target)
    PathFinder.find_spec = counting
    finder = RootGuard()
    names = ["json", "orcapodx", "orcapod.core", "orcapod.protocols", "_orcapod_root_guard"]
    found = [finder.find_spec(name, None) for name in names]
    PathFinder.find_spec = original
    guard.install()
    import orcapodx
    print(json.dumps({"found": [repr(spec) for spec in found], "asked": asked,
                      "value": orcapodx.VALUE}))
    """
    report = json.loads(_python(code, foreign_site))
    assert report == {"found": ["None"] * 5, "asked": [], "value": 2}


def test_install_puts_one_guard_first() -> None:
    code = """
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, RootGuard)]
    guard.install()
    guard.install()
    print(sum(isinstance(f, RootGuard) for f in sys.meta_path), type(sys.meta_path[0]).__name__)
    """
    assert _python(code).split() == ["1", "RootGuard"]


def test_importing_and_installing_the_guard_imports_nothing_else() -> None:
    """It runs in every Python process of the environment: it must cost next to nothing."""
    directory = Path(find_spec("_orcapod_root_guard").origin).parent  # type: ignore[arg-type, union-attr]
    code = f"""
    import sys
    sys.path.insert(0, {str(directory)!r})
    before = set(sys.modules)
    import _orcapod_root_guard
    _orcapod_root_guard.install()
    print(sorted(set(sys.modules) - before))
    """
    result = subprocess.run(
        [sys.executable, "-S", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "['_orcapod_root_guard']"


def test_the_installed_distribution_starts_the_guard_with_every_interpreter() -> None:
    files = {str(file) for file in distribution("orcapod-protocols").files or ()}
    assert "orcapod_protocols_root_guard.pth" in files
    pth = distribution("orcapod-protocols").locate_file("orcapod_protocols_root_guard.pth")
    assert Path(str(pth)).read_text().startswith("import _orcapod_root_guard;")
    code = "import sys; print(type(sys.meta_path[0]).__module__)"
    started = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert started.stdout.strip() == "_orcapod_root_guard", started.stderr
    # -S: no site-packages, no .pth files, no guard.
    bare = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert bare.stdout.strip() != "_orcapod_root_guard"


@pytest.mark.parametrize("package", ["protocols", "core"])
def test_without_the_guard_our_package_refuses_a_foreign_parent(
    tmp_path: Path, marker: Path, package: str
) -> None:
    """No .pth processed: the foreign orcapod/__init__.py runs, then ours refuses to.

    (orcapod.core's check is tested where orcapod-core is installed; with the real
    upstream package in tests-integration/test_import_root.py too.)
    """
    ours = find_spec(f"orcapod.{package}")
    if ours is None:
        pytest.skip(f"orcapod.{package} is not installed here")
    assert ours.submodule_search_locations is not None
    site = tmp_path / "site"
    _write(site / "orcapod" / "__init__.py", _marking(marker))
    shutil.copytree(
        next(iter(ours.submodule_search_locations)),
        site / "orcapod" / package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = "sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, RootGuard)]\n"
    code += REFUSED.format(module=f"orcapod.{package}").replace("guard.install()", "")
    report = json.loads(_python(code, site))
    assert report["type"] == "ImportError"
    assert report["last_frame"] == str(site / "orcapod" / package / "__init__.py")
    assert marker.exists()
    flat = _flat(report["message"])
    assert str(site / "orcapod" / "__init__.py") in flat
    assert "has already run" in flat
    assert "cannot share an environment" in flat
