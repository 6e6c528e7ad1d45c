"""The import guard (_orcapod_root_guard): a regular package ``orcapod`` on the path is refused.

Every case runs in a subprocess, so that the test process's own imports are
never touched: with a fake ``orcapod`` put first on its ``sys.path``, or where
the message depends on how that directory got on ``sys.path``, in a scratch
virtual environment (``python -m venv --without-pip``) that starts the guard as
an installed orcapod-protocols does, with the fake ``orcapod`` in its
site-packages, its user site, on ``PYTHONPATH`` or in the current directory.
"""

from __future__ import annotations

import json
import os
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


def _python(
    code: str,
    *path: Path,
    options: tuple[str, ...] = (),
    python: Path | str = sys.executable,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run ``code`` after the PRELUDE with ``path`` first on ``sys.path``; its stdout."""
    script = PRELUDE.format(path=[str(p) for p in path]) + textwrap.dedent(code)
    result = subprocess.run(
        [python, *options, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
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


def _distribution(
    site: Path, name: str, version: str, files: list[str], *, editable: bool = False
) -> None:
    """A dist-info in ``site`` as an installer writes it, its RECORD listing ``files``.

    An ``editable`` one (an install in development mode) says so in its
    ``direct_url.json`` (PEP 610).
    """
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    _write(info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    if editable:
        url = {"url": f"file:///src/{name}", "dir_info": {"editable": True}}
        _write(info / "direct_url.json", json.dumps(url))
        record.append(f"{info.name}/direct_url.json")
    _write(info / "RECORD", "".join(f"{file},,\n" for file in record))


GUARD_DIRECTORY = Path(find_spec("_orcapod_root_guard").origin).parent  # type: ignore[arg-type, union-attr]


def _venv(where: Path, *options: str) -> tuple[Path, Path]:
    """A scratch virtual environment starting the guard as orcapod-protocols installed does.

    No pip, nothing installed: its site-packages holds a copy of the guard's
    module and its ``.pth``, and no distribution. Returns its python and its
    site-packages.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", *options, where], check=True)
    python = where / "bin" / "python"
    found = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    site = Path(found.stdout.strip())
    assert site.is_relative_to(where), site  # never write into another Python's site-packages
    for name in ("_orcapod_root_guard.py", "orcapod_protocols_root_guard.pth"):
        shutil.copy(GUARD_DIRECTORY / name, site)
    return python, site


def _base_executable(python: Path) -> str:
    """The interpreter a virtual environment is made from."""
    code = "import sys; print(sys._base_executable)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def _the_other(site: Path, marker: Path) -> None:
    """The other ``orcapod`` 0.1.4 installed in ``site``: a regular package and its core."""
    _write(site / "orcapod" / "__init__.py", _marking(marker))
    _write(site / "orcapod" / "core" / "__init__.py", _marking(marker))
    _distribution(site, "orcapod", "0.1.4", ["orcapod/__init__.py", "orcapod/core/__init__.py"])


def _marking(marker: Path) -> str:
    """Source of a module that leaves ``marker`` behind when it runs."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "the-foreign-package-ran"


def _fill_site(site: Path, marker: Path) -> Path:
    """The other ``orcapod`` 0.1.4 and one of ours sharing a file, in ``site``.

    The other ships a regular package (``orcapod/__init__.py``) and
    ``orcapod/core/__init__.py``; ``orcapod-example`` 2.0 stands for one of
    orcapod's distributions installed into the same directory, and claims
    ``orcapod/core/__init__.py`` too.
    """
    _the_other(site, marker)
    _write(site / "orcapod" / "example" / "__init__.py")
    _distribution(
        site, "orcapod-example", "2.0", ["orcapod/core/__init__.py", "orcapod/example/__init__.py"]
    )
    return site


@pytest.fixture
def foreign_site(tmp_path: Path, marker: Path) -> Path:
    """A directory (put on sys.path by the PRELUDE) where the other and one of ours share a file."""
    return _fill_site(tmp_path / "site", marker)


@pytest.fixture
def foreign_env(tmp_path: Path, marker: Path) -> tuple[Path, Path]:
    """A virtual environment whose site-packages the other and one of ours share a file in.

    orcapod-protocols is there too, as an editable install (its files elsewhere).
    Returns its python and its site-packages.
    """
    python, site = _venv(tmp_path / "venv")
    _fill_site(site, marker)
    _distribution(
        site, "orcapod-protocols", PROTOCOLS_VERSION, ["_orcapod_protocols.pth"], editable=True
    )
    return python, site


def _flat(message: str) -> str:
    return " ".join(message.split())


def _commands(message: str) -> list[str]:
    """The command lines of a message (indented by four spaces, after a blank line)."""
    return [line[4:] for line in message.splitlines() if line.startswith("    ")][1:]


@pytest.mark.parametrize("module", ["orcapod.core", "orcapod", "orcapod.protocols"])
def test_a_regular_orcapod_package_is_refused_before_it_runs(
    foreign_env: tuple[Path, Path], marker: Path, module: str
) -> None:
    python, site = foreign_env
    report = json.loads(_python(REFUSED.format(module=module), python=python))
    assert report["type"] == "ImportError"
    origin = str(site / "orcapod" / "__init__.py")
    assert report["name"] == "orcapod"
    assert report["path"] == origin
    assert report["last_frame"] == str(site / "_orcapod_root_guard.py")
    assert report["imported"] == []
    assert not marker.exists(), "the foreign orcapod/__init__.py ran"

    message = report["message"]
    flat = _flat(message)
    assert f"\n    {origin}\n" in message
    assert "is from the distribution orcapod 0.1.4" in flat
    assert f"It is in this environment's site-packages, {site}." in flat
    assert "orcapod-example 2.0" in flat
    assert f"orcapod-protocols {PROTOCOLS_VERSION}" in flat
    assert "cannot share an environment" in flat
    assert "(here: orcapod/core/__init__.py), so the one installed last has overwritten" in flat
    assert "stopped before any of its code ran" in flat
    # orcapod-example shares a file with it: it comes back; orcapod-protocols (editable) shares
    # none, and the other's uninstall leaves it alone
    assert _commands(message) == [
        "pip uninstall orcapod",
        "pip install --force-reinstall --no-deps orcapod-example==2.0",
    ]
    assert f"with this interpreter's pip ({python} -m pip)" in flat
    assert "separate virtual environments" in flat


def test_ours_in_development_mode_only_the_other_is_uninstalled(
    tmp_path: Path, marker: Path
) -> None:
    """Editable installs (a uv workspace's .venv): their files are in the source tree.

    Installing the other overwrote nothing of theirs, and reinstalling them from an
    index would replace the editable installs: the fix is uninstalling the other,
    with uv (a uv venv has no pip) or pip.
    """
    python, site = _venv(tmp_path / "venv")
    _the_other(site, marker)
    for name in ("orcapod-protocols", "orcapod-core"):
        _distribution(site, name, PROTOCOLS_VERSION, [f"_{name}.pth"], editable=True)
    report = json.loads(_python(REFUSED.format(module="orcapod.core"), python=python))
    assert report["type"] == "ImportError"
    assert not marker.exists()
    message = report["message"]
    flat = _flat(message)
    assert f"It is in this environment's site-packages, {site}." in flat
    assert f"orcapod-core {PROTOCOLS_VERSION}, orcapod-protocols {PROTOCOLS_VERSION}" in flat
    assert "installed in development mode" in flat
    assert "it has overwritten none of their files" in flat
    assert "the one installed last" not in flat
    assert "same directory" not in flat
    assert _commands(message) == [
        f"uv pip uninstall --python {python} orcapod",
        f"{python} -m pip uninstall orcapod",
    ]
    assert "--force-reinstall" not in message
    assert "need no reinstalling" in flat
    assert "uv sync removes it too" in flat


def _ours_elsewhere(tmp_path: Path) -> tuple[Path, Path]:
    """A scratch environment with orcapod-example 2.0 installed (not editable) in it."""
    python, site = _venv(tmp_path / "venv")
    _write(site / "orcapod" / "example" / "__init__.py")
    _distribution(site, "orcapod-example", "2.0", ["orcapod/example/__init__.py"])
    return python, site


def _ours_elsewhere_system(tmp_path: Path) -> tuple[Path, Path]:
    python, site = _venv(tmp_path / "venv", "--system-site-packages")
    _write(site / "orcapod" / "example" / "__init__.py")
    _distribution(site, "orcapod-example", "2.0", ["orcapod/example/__init__.py"])
    return python, site


def _assert_nothing_of_ours_to_reinstall(message: str, site: Path) -> str:
    """The other is elsewhere: no word of overwriting, no reinstall, no pip uninstall here."""
    flat = _flat(message)
    assert "is from the distribution orcapod 0.1.4" in flat
    assert f"They are installed in {site}, and share no file with it" in flat
    assert "it has overwritten none of theirs" in flat
    assert "same directory" not in flat
    assert "the one installed last" not in flat
    assert "--force-reinstall" not in message
    assert "need no reinstalling" in flat
    return flat


def test_the_other_on_pythonpath_is_taken_off_it(tmp_path: Path, marker: Path) -> None:
    """``PYTHONPATH=DIR`` (an unpacked wheel, a ``pip install --target`` directory).

    A virtual environment's ``pip uninstall`` leaves what is outside it ("Not
    uninstalling orcapod at DIR, outside environment"): the fix is PYTHONPATH.
    """
    python, site = _ours_elsewhere(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    _the_other(elsewhere, marker)
    entry = f"{elsewhere}/"  # as written in PYTHONPATH
    report = json.loads(
        _python(REFUSED.format(module="orcapod.core"), python=python, env={"PYTHONPATH": entry})
    )
    assert report["type"] == "ImportError"
    assert not marker.exists()
    message = report["message"]
    flat = _assert_nothing_of_ours_to_reinstall(message, site)
    assert f"It is in {elsewhere}, on sys.path through PYTHONPATH (its entry {entry})." in flat
    assert f"To fix it, take {entry} off PYTHONPATH, or rename or move {elsewhere}/orcapod" in flat
    assert "pip uninstall" not in message
    assert _commands(message) == []


def test_the_other_in_the_user_site_is_uninstalled_by_its_own_python(
    tmp_path: Path, marker: Path
) -> None:
    """``pip install --user``, seen by a virtual environment made with --system-site-packages.

    The environment's pip leaves it ("outside environment"): the pip of the
    Python whose user site it is, run outside the environment, uninstalls it.
    """
    python, site = _ours_elsewhere_system(tmp_path)
    env = {"PYTHONUSERBASE": str(tmp_path / "userbase")}
    user_site = Path(
        _python("print(__import__('site').getusersitepackages())", python=python, env=env).strip()
    )
    _the_other(user_site, marker)
    report = json.loads(_python(REFUSED.format(module="orcapod.core"), python=python, env=env))
    assert report["type"] == "ImportError"
    assert not marker.exists()
    message = report["message"]
    flat = _assert_nothing_of_ours_to_reinstall(message, site)
    assert f"It is in the user site directory, {user_site} (pip install --user)" in flat
    base = _base_executable(python)
    assert _commands(message) == [f"{base} -m pip uninstall orcapod"]
    assert "outside any virtual environment" in flat
    assert "PYTHONNOUSERSITE=1" in flat


def test_the_other_in_the_base_pythons_site_packages_is_uninstalled_there(
    tmp_path: Path, marker: Path
) -> None:
    """A virtual environment made with --system-site-packages sees its base Python's packages.

    (Simulated: the base prefix is pointed at a scratch directory.)
    """
    python, site = _ours_elsewhere(tmp_path)
    prefix = tmp_path / "base"
    code = f"import site; print(site.getsitepackages([{str(prefix)!r}])[0])"
    base_site = Path(_python(code, python=python).strip())
    _the_other(base_site, marker)
    code = f"sys.base_prefix = sys.base_exec_prefix = {str(prefix)!r}\n"
    code += f"sys.path.append({str(base_site)!r})\n" + REFUSED.format(module="orcapod.core")
    report = json.loads(_python(code, python=python))
    assert report["type"] == "ImportError"
    message = report["message"]
    flat = _assert_nothing_of_ours_to_reinstall(message, site)
    base = _base_executable(python)
    assert f"It is in {base_site}, the site-packages of the Python this virtual environment" in flat
    assert _commands(message) == [
        f"uv pip uninstall --python {base} orcapod",
        f"{base} -m pip uninstall orcapod",
    ]
    assert "without --system-site-packages" in flat


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
    assert f"It is in {site}, a directory on sys.path" in flat
    assert f"To fix it, rename or move {site}/orcapod, or take {site} off sys.path." in flat
    assert "pip uninstall" not in flat
    assert "same directory" not in flat


def _plain_package_refused(directory: Path, *command: str, cwd: Path | None = None) -> str:
    """The message of the guard (as the workspace starts it) for ``directory/orcapod/``."""
    _write(directory / "orcapod" / "__init__.py", "raise SystemExit('it ran')\n")
    result = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or directory,
    )
    assert result.returncode == 1, result.stderr
    assert "ImportError: 'orcapod' is another project's regular package" in result.stderr
    assert "it ran" not in result.stderr
    flat = _flat(result.stderr[result.stderr.index("ImportError: ") :])
    assert f"{directory}/orcapod/__init__.py" in flat
    assert "is in no installed distribution" in flat
    assert "same directory" not in flat
    assert "the one installed last" not in flat
    assert "pip " not in flat
    return flat


def test_a_plain_package_in_the_current_directory_is_named_so(tmp_path: Path) -> None:
    flat = _plain_package_refused(tmp_path, "-c", "import orcapod.core")
    assert f"It is in the current directory, {tmp_path}, which Python puts first" in flat
    assert "run Python from another directory, or with -P" in flat
    assert f"or rename or move {tmp_path}/orcapod." in flat


def test_a_plain_package_beside_the_script_is_named_so(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    _write(scripts / "run.py", "import orcapod.protocols\n")
    elsewhere = tmp_path / "elsewhere"  # the current directory
    elsewhere.mkdir()
    flat = _plain_package_refused(scripts, str(scripts / "run.py"), cwd=elsewhere)
    assert f"It is in the directory of the script being run, {scripts}" in flat
    assert "move the script, or run it with -P" in flat
    # and with -P (safe path) the script's directory is not on sys.path: nothing refused
    quiet = subprocess.run(
        [sys.executable, "-P", scripts / "run.py"], capture_output=True, text=True, cwd=tmp_path
    )
    assert quiet.returncode == 0, quiet.stderr


def test_a_stray_init_among_our_files_is_deleted_alone(tmp_path: Path, marker: Path) -> None:
    """An ``orcapod/__init__.py`` of no distribution where ours install their files."""
    python, site = _ours_elsewhere(tmp_path)
    _write(site / "orcapod" / "__init__.py", _marking(marker))
    report = json.loads(_python(REFUSED.format(module="orcapod.core"), python=python))
    flat = _flat(report["message"])
    assert "is in no installed distribution" in flat
    origin = site / "orcapod" / "__init__.py"
    assert f"To fix it, delete {origin} alone: {site}/orcapod holds files of orcapod's" in flat
    assert not marker.exists()


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

    Only because orcapod/<package>/__init__.py is still ours here: where the other
    distribution has overwritten it, its code runs and nothing of ours can refuse
    (tests-integration/test_import_root.py shows both with the real upstream package;
    orcapod.core's check is tested here where orcapod-core is installed).
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
