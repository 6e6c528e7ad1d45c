"""The other ``orcapod`` on PyPI beside ours: the real upstream wheel, in throwaway environments.

An unrelated distribution named ``orcapod`` (0.1.4) ships a regular package
``orcapod/__init__.py`` and its own ``orcapod/core/__init__.py`` and
``orcapod/protocols/__init__.py``; ours share ``orcapod`` as a namespace
package. Installed into one environment, the last one installed overwrites the
other's files. Wherever it is importable from (the environment's site-packages,
``PYTHONPATH``, the user site), orcapod-protocols' import guard
(``_orcapod_root_guard``, started by its ``.pth`` in site-packages) must refuse
``import orcapod.core`` with a message naming both and the fix for that case,
before any code of the other runs; the fix it prints must work. Without the
``.pth`` (``python -S``) nothing of ours runs first: where the other has
overwritten ``orcapod/core/__init__.py``, its code runs, as the docs say.

Each test makes a virtual environment under its tmp_path (``uv venv --seed``),
installs our wheels built from this tree (``uv build``; uv's cache makes the
dependencies quick) and the real upstream wheel, with ``python -m pip`` as a
user would, or with ``uv pip``. The upstream wheel is /tmp/upstream's copy, or
fetched once with ``pip download --no-deps orcapod==0.1.4`` into pytest's cache;
when it cannot be had the tests are skipped, except where ``CI`` is set: there
they fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path
from statistics import median

import pytest

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = "orcapod==0.1.4"
UPSTREAM_WHEEL = "orcapod-0.1.4-py3-none-any.whl"
UPSTREAM_SHA256 = "c6490faf7bfe281264e68f480c5fe749c90cf39b6c7126af4153051a5cddfb8f"
UPSTREAM_COPY = Path("/tmp/upstream") / UPSTREAM_WHEEL
OURS = ["orcapod-protocols", "orcapod-capture", "orcapod-core"]  # orcapod-core and what it needs

PROBE = """
import json, sys

ran = []  # the file of every code object executed as a module (or by exec)


def audit(event, args):
    if event == "exec" and hasattr(args[0], "co_filename"):
        ran.append(args[0].co_filename)


sys.addaudithook(audit)
if "--without-guard" in sys.argv:
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "RootGuard"]
report = {"guard_first": type(sys.meta_path[0]).__module__ == "_orcapod_root_guard"}
try:
    import orcapod.core
except ImportError as error:
    report["error"] = type(error).__name__
    report["message"] = str(error)
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    report["frames"] = frames
else:
    report["core"] = orcapod.core.__file__
    report["namespace_file"] = getattr(sys.modules["orcapod"], "__file__", None)
    report["pipeline"] = orcapod.core.Pipeline.__module__
report["ran"] = [name for name in ran if "orcapod" in name]
print(json.dumps(report))
"""


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if _ci():
        pytest.fail(f"{reason} (CI is set: the upstream wheel is required there)")
    pytest.skip(reason)


def _run(
    *command: str | Path,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        pytest.fail("these tests need uv on PATH (pip install uv)")
    return found


@pytest.fixture(scope="module")
def upstream_wheel(
    uv: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The real wheel of the other orcapod, its digest checked."""
    if UPSTREAM_COPY.is_file():
        wheel = UPSTREAM_COPY
    else:
        cache = request.config.cache
        directory = (
            cache.mkdir("upstream-orcapod") if cache else tmp_path_factory.mktemp("upstream")
        )
        wheel = directory / UPSTREAM_WHEEL
        if not wheel.is_file():
            tools = tmp_path_factory.mktemp("pip-download")
            _run(uv, "venv", "--seed", "-q", "--python", sys.executable, tools / "venv")
            fetched = _run(
                _python(tools / "venv"),
                *("-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
                *("--dest", directory, UPSTREAM),
                check=False,
            )
            if fetched.returncode != 0 or not wheel.is_file():
                said = fetched.stderr.strip().splitlines() or [f"exit {fetched.returncode}"]
                _unavailable(
                    f"could not download the upstream wheel with pip download --no-deps "
                    f"{UPSTREAM}: {said[-1]}"
                )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert digest == UPSTREAM_SHA256, f"{wheel} is not PyPI's {UPSTREAM_WHEEL}"
    return wheel


@pytest.fixture(scope="module")
def our_wheels(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the wheels of orcapod-core and the workspace packages it needs."""
    wheels = tmp_path_factory.mktemp("our-wheels")
    for name in OURS:
        _run(uv, "build", "--wheel", "--package", name, "-o", wheels, cwd=ROOT)
    assert len(list(wheels.glob("*.whl"))) == len(OURS)
    return wheels


def _versions(wheels: Path) -> dict[str, str]:
    """The version of each wheel in ``wheels``, by name (it changes with each release)."""
    versions = {}
    for wheel in wheels.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        versions[name.replace("_", "-")] = version
    return versions


def _pyproject_version(root: Path, name: str) -> str:
    """The version a workspace package's pyproject.toml says (they change with each release)."""
    with (root / "packages" / name / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def _sharing(wheels: Path, upstream_wheel: Path) -> list[str]:
    """Ours whose wheels install a file the upstream wheel installs too."""
    with zipfile.ZipFile(upstream_wheel) as archive:
        theirs = {name for name in archive.namelist() if name.startswith("orcapod/")}
    sharing = []
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            if theirs & set(archive.namelist()):
                sharing.append(wheel.name.split("-")[0].replace("_", "-"))
    return sorted(sharing)


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _site(venv: Path) -> Path:
    found = _run(_python(venv), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    return Path(found.stdout.strip())


def _venv(uv: str, where: Path) -> Path:
    venv = where / "venv"
    _run(uv, "venv", "--seed", "-q", "--python", sys.executable, venv)
    return venv


def _install_ours(uv: str, venv: Path, wheels: Path, installer: str) -> None:
    files = sorted(wheels.glob("*.whl"))
    if installer == "pip":
        # their third-party dependencies through uv (its cache), the wheels by pip
        _run(uv, "pip", "install", "-q", "--python", _python(venv), *files)
        _run(_python(venv), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", *files)
    else:
        _run(uv, "pip", "install", "-q", "--python", _python(venv), *files)


def _install_upstream(uv: str, venv: Path, wheel: Path, installer: str) -> None:
    if installer == "pip":
        _run(_python(venv), "-m", "pip", "install", "-q", "--no-deps", wheel)
    else:
        _run(uv, "pip", "install", "-q", "--no-deps", "--python", _python(venv), wheel)


def _probe(venv: Path, *options: str, env: dict[str, str] | None = None) -> dict[str, object]:
    script = venv.parent / "probe.py"
    script.write_text(PROBE)
    report: dict[str, object] = json.loads(_run(_python(venv), script, *options, env=env).stdout)
    return report


def _wheel_member(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _commands(message: str) -> list[str]:
    """The command lines of a message (indented by four spaces, after the path it starts with)."""
    return [line[4:] for line in message.splitlines() if line.startswith("    ")][1:]


def _refusal(
    venv: Path,
    foreign: Path,
    guard: Path,
    versions: dict[str, str],
    env: dict[str, str] | None = None,
) -> str:
    """``import orcapod.core`` fails with our message and no code of the other ran.

    ``foreign`` is the directory holding the other's ``orcapod/``; ``guard`` our
    ``_orcapod_root_guard.py``. Returns the message, from ``ImportError: ``.
    """
    shown = _run(_python(venv), "-c", "import orcapod.core", check=False, env=env)
    assert shown.returncode == 1, shown.stderr
    assert "ImportError: 'orcapod' is another project's regular package" in shown.stderr
    message = shown.stderr[shown.stderr.index("ImportError: ") :]
    flat = _flat(message)
    assert f"\n    {foreign / 'orcapod' / '__init__.py'}\n" in message
    assert "is from the distribution orcapod 0.1.4" in flat
    for name in OURS:
        assert f"{name} {versions[name]}" in flat
    assert "cannot share an environment" in flat
    assert "stopped before any of its code ran" in flat
    assert "separate virtual environments" in flat

    report = _probe(venv, env=env)
    assert report["guard_first"] is True
    assert report["error"] == "ImportError"
    frames = report["frames"]
    assert isinstance(frames, list)
    assert frames[-1] == str(guard)
    foreign_package = str(foreign / "orcapod")
    assert not [name for name in frames if name.startswith(foreign_package)]
    assert report["ran"] == [], "code of the other orcapod ran"
    return message


def _assert_refused(venv: Path, site: Path, versions: dict[str, str]) -> str:
    """Both installed in ``site``: refused, and the fix is the other's uninstall and ours again."""
    message = _refusal(venv, site, site / "_orcapod_root_guard.py", versions)
    flat = _flat(message)
    assert f"It is in this environment's site-packages, {site}." in flat
    assert "orcapod/core/__init__.py" in flat  # a file both install
    assert "the one installed last has overwritten the other's" in flat
    assert "\n    pip uninstall orcapod\n" in message
    assert "\n    pip install --force-reinstall --no-deps " in message
    return message


def _assert_nothing_of_ours_overwritten(message: str) -> str:
    flat = _flat(message)
    assert "overwritten none of" in flat
    assert "the one installed last" not in flat
    assert "same directory" not in flat
    assert "--force-reinstall" not in message
    assert "need no reinstalling" in flat
    return flat


def test_without_the_guard_the_other_orcapods_code_runs(
    uv: str, our_wheels: Path, upstream_wheel: Path, tmp_path: Path
) -> None:
    """The control: what the probe sees when nothing stops the other package."""
    venv = _venv(uv, tmp_path)
    _install_ours(uv, venv, our_wheels, "uv")
    _install_upstream(uv, venv, upstream_wheel, "pip")
    report = _probe(venv, "--without-guard")
    ran = report["ran"]
    assert isinstance(ran, list)
    assert str(_site(venv) / "orcapod" / "__init__.py") in ran
    assert "core" not in report  # it fails on its own missing dependencies (installed --no-deps)


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_the_other_orcapod_installed_over_ours_is_refused(
    uv: str, our_wheels: Path, upstream_wheel: Path, tmp_path: Path, installer: str
) -> None:
    venv = _venv(uv, tmp_path)
    _install_ours(uv, venv, our_wheels, installer)
    _install_upstream(uv, venv, upstream_wheel, installer)
    site = _site(venv)
    # it did overwrite ours
    assert (site / "orcapod" / "core" / "__init__.py").read_bytes() == _wheel_member(
        upstream_wheel, "orcapod/core/__init__.py"
    )
    _assert_refused(venv, site, _versions(our_wheels))

    # Without the .pth (python -S, site-packages on PYTHONPATH) nothing of ours runs
    # first: the other's orcapod/__init__.py runs, then its own orcapod/core/__init__.py,
    # which replaced ours. What the docs promise for that case, and no more.
    bare = _run(
        _python(venv), "-S", "-c", "import orcapod.core", check=False, env={"PYTHONPATH": str(site)}
    )
    assert bare.returncode == 1  # on its own missing dependencies (installed --no-deps)
    assert f'File "{site / "orcapod" / "__init__.py"}"' in bare.stderr
    assert "another project's regular package" not in bare.stderr


def test_ours_installed_over_the_other_orcapod_is_refused(
    uv: str, our_wheels: Path, upstream_wheel: Path, tmp_path: Path
) -> None:
    venv = _venv(uv, tmp_path)
    _install_upstream(uv, venv, upstream_wheel, "pip")
    _install_ours(uv, venv, our_wheels, "pip")
    site = _site(venv)
    (core_wheel,) = our_wheels.glob("orcapod_core-*.whl")
    assert (site / "orcapod" / "core" / "__init__.py").read_bytes() == _wheel_member(
        core_wheel, "orcapod/core/__init__.py"
    )
    assert (site / "orcapod" / "__init__.py").is_file()
    _assert_refused(venv, site, _versions(our_wheels))

    # Without the .pth (python -S, site-packages on PYTHONPATH) nothing stops the other's
    # orcapod/__init__.py, but it imports orcapod.core, whose __init__ is ours (installed
    # last): it refuses.
    bare = _run(
        _python(venv), "-S", "-c", "import orcapod.core", check=False, env={"PYTHONPATH": str(site)}
    )
    assert bare.returncode == 1
    assert f'File "{site / "orcapod" / "__init__.py"}"' in bare.stderr  # it ran
    last_frame = bare.stderr[bare.stderr.rindex('File "') :].splitlines()[0]
    assert last_frame.startswith(f'File "{site / "orcapod" / "core" / "__init__.py"}"')
    flat = _flat(bare.stderr)
    assert "is from the distribution orcapod 0.1.4" in flat
    assert f"It is in this environment's site-packages, {site}." in flat
    assert "Its orcapod/__init__.py has already run" in flat
    assert "\n    pip uninstall orcapod\n" in bare.stderr


GUARD_SECTION = "## Another `orcapod` in the same environment"


def _docs_section() -> str:
    text = (ROOT / "docs" / "getting-started.md").read_text()
    section = text[text.index(GUARD_SECTION) :]
    following = section.find("\n## ", len(GUARD_SECTION))
    return section if following < 0 else section[:following]


def _assert_the_docs_show(message: str, versions: dict[str, str]) -> None:
    """The message the guard section of docs/getting-started.md shows is this one.

    Its block is compared by pieces (between its lines ``...``), flattened: any
    absolute path stands for a path, ``<version>`` for a version. It names no
    version of ours: they change with each release.
    """
    section = _docs_section()
    for name, version in versions.items():
        assert f"{name}=={version}" not in section
        assert f"{name} {version}" not in section
    block = section[section.index("```text\n") + len("```text\n") :]
    block = block[: block.index("```")]
    pieces: list[list[str]] = [[]]
    for line in block.splitlines():
        if line.strip() == "...":
            pieces.append([])
        else:
            pieces[-1].append(line)
    flat, position = _flat(message), 0
    for piece in filter(None, pieces):
        tokens = re.split(r"((?<![\w.])/[^\s,()]+|<version>)", _flat(" ".join(piece)))
        pattern = "".join(
            r"\S+"
            if token.startswith("/")
            else r"[\w.]+"
            if token == "<version>"
            else re.escape(token)
            for token in tokens
        )
        found = re.compile(pattern).search(flat, position)
        assert found, f"docs/getting-started.md shows {' '.join(piece)!r}, not printed:\n{message}"
        position = found.end()


@pytest.mark.parametrize("order", ["ours-then-upstream", "upstream-then-ours"])
def test_the_printed_fix_gives_ours_back(
    uv: str, our_wheels: Path, upstream_wheel: Path, tmp_path: Path, order: str
) -> None:
    venv = _venv(uv, tmp_path)
    if order == "ours-then-upstream":
        _install_ours(uv, venv, our_wheels, "pip")
        _install_upstream(uv, venv, upstream_wheel, "pip")
    else:
        _install_upstream(uv, venv, upstream_wheel, "pip")
        _install_ours(uv, venv, our_wheels, "pip")
    site = _site(venv)
    versions = _versions(our_wheels)
    message = _assert_refused(venv, site, versions)
    _assert_the_docs_show(message, versions)

    uninstall, reinstall = [
        line.split()[1:] for line in message.splitlines() if line.startswith("    pip ")
    ]
    assert uninstall == ["uninstall", "orcapod"]
    _run(_python(venv), "-m", "pip", *uninstall, "-y")
    # Uninstalling the other deletes the files it installed, the shared ones too:
    # hence the reinstall of ours that share a file with it (the others keep theirs).
    assert not (site / "orcapod" / "__init__.py").exists()
    assert not (site / "orcapod" / "core" / "__init__.py").exists()

    assert reinstall[:3] == ["install", "--force-reinstall", "--no-deps"]
    sharing = _sharing(our_wheels, upstream_wheel)
    assert "orcapod-core" in sharing
    assert sorted(reinstall[3:]) == [f"{name}=={versions[name]}" for name in sharing]
    # our wheels are not on PyPI: the same command, told where they are
    _run(_python(venv), "-m", "pip", *reinstall, "--no-index", "--find-links", our_wheels)

    report = _probe(venv)
    assert "error" not in report, report
    assert report["core"] == str(site / "orcapod" / "core" / "__init__.py")
    assert report["namespace_file"] is None
    assert report["pipeline"] == "orcapod.core.pipeline._pipeline"
    assert str(site / "orcapod" / "__init__.py") not in report["ran"]  # type: ignore[operator]


def test_the_other_orcapod_on_pythonpath_is_taken_off_it(
    uv: str, our_wheels: Path, upstream_wheel: Path, tmp_path: Path
) -> None:
    """``PYTHONPATH=DIR`` holding the other (an unpacked wheel, a ``pip install --target``).

    The environment's ``pip uninstall orcapod`` does nothing there ("outside
    environment"), and nothing of ours needs reinstalling: the fix is PYTHONPATH.
    """
    venv = _venv(uv, tmp_path)
    _install_ours(uv, venv, our_wheels, "uv")
    site = _site(venv)
    elsewhere = tmp_path / "upstream"
    with zipfile.ZipFile(upstream_wheel) as archive:
        archive.extractall(elsewhere)
    env = {"PYTHONPATH": str(elsewhere)}
    message = _refusal(venv, elsewhere, site / "_orcapod_root_guard.py", _versions(our_wheels), env)
    flat = _assert_nothing_of_ours_overwritten(message)
    assert f"It is in {elsewhere}, on sys.path through PYTHONPATH." in flat
    assert f"They are installed in {site}, and share no file with it" in flat
    assert f"To fix it, take {elsewhere} off PYTHONPATH" in flat
    assert "pip uninstall" not in message
    assert _commands(message) == []

    # what the message does not advise: the environment's pip leaves it
    left = _run(_python(venv), "-m", "pip", "uninstall", "-y", "orcapod", env=env, check=False)
    assert "outside environment" in left.stdout + left.stderr
    assert (elsewhere / "orcapod" / "__init__.py").is_file()
    # the fix: without that entry
    report = _probe(venv)
    assert "error" not in report, report
    assert report["core"] == str(site / "orcapod" / "core" / "__init__.py")


def test_the_other_orcapod_in_the_user_site_is_uninstalled_by_its_own_python(
    uv: str, our_wheels: Path, upstream_wheel: Path, tmp_path: Path
) -> None:
    """``pip install --user``, seen by a virtual environment with --system-site-packages."""
    venv = tmp_path / "venv"
    _run(uv, "venv", "--seed", "-q", "--system-site-packages", "--python", sys.executable, venv)
    _install_ours(uv, venv, our_wheels, "uv")
    site = _site(venv)
    env = {"PYTHONUSERBASE": str(tmp_path / "userbase")}  # not the real user's site
    base = _run(_python(venv), "-c", "import sys; print(sys._base_executable)").stdout.strip()
    user_site = _run(
        _python(venv), "-c", "import site; print(site.getusersitepackages())", env=env
    ).stdout.strip()
    installed = _run(
        base,
        *("-m", "pip", "install", "-q", "--user", "--no-deps", upstream_wheel),
        env={**env, "PIP_BREAK_SYSTEM_PACKAGES": "1"},
        check=False,
    )
    if installed.returncode != 0:
        pytest.skip(f"{base} cannot pip install --user: {installed.stderr.strip()[-200:]}")
    assert (Path(user_site) / "orcapod" / "__init__.py").is_file()

    message = _refusal(
        venv, Path(user_site), site / "_orcapod_root_guard.py", _versions(our_wheels), env
    )
    flat = _assert_nothing_of_ours_overwritten(message)
    assert f"It is in the user site directory, {user_site} (pip install --user)" in flat
    assert _commands(message) == [f"{base} -m pip uninstall orcapod"]

    # what the message does not advise: the environment's pip leaves it
    left = _run(_python(venv), "-m", "pip", "uninstall", "-y", "orcapod", env=env, check=False)
    assert "outside environment" in left.stdout + left.stderr
    # the printed command
    _run(*_commands(message)[0].split(), "-y", env=env)
    report = _probe(venv, env=env)
    assert "error" not in report, report
    assert report["core"] == str(site / "orcapod" / "core" / "__init__.py")


def test_the_other_orcapod_beside_editable_installs_is_only_uninstalled(
    uv: str, upstream_wheel: Path, tmp_path: Path
) -> None:
    """A development environment (as uv sync makes the workspace's): ours editable, no pip.

    Installing the other overwrote nothing of ours (their files are in this
    tree); the printed uv command alone gives ours back.
    """
    venv = tmp_path / "venv"
    _run(uv, "venv", "-q", "--python", sys.executable, venv)  # no pip, as uv sync makes it
    editable = [arg for name in OURS for arg in ("-e", str(ROOT / "packages" / name))]
    _run(uv, "pip", "install", "-q", "--python", _python(venv), *editable)
    _install_upstream(uv, venv, upstream_wheel, "uv")
    site = _site(venv)
    versions = {name: _pyproject_version(ROOT, name) for name in OURS}
    guard = ROOT / "packages" / "orcapod-protocols" / "src" / "_orcapod_root_guard.py"
    message = _refusal(venv, site, guard, versions)
    flat = _assert_nothing_of_ours_overwritten(message)
    assert "installed in development mode" in flat
    assert "uv sync removes it too" in flat
    uv_command, pip_command = _commands(message)
    assert uv_command == f"uv pip uninstall --python {_python(venv)} orcapod"
    assert pip_command == f"{_python(venv)} -m pip uninstall orcapod"
    assert _run(_python(venv), "-m", "pip", "--version", check=False).returncode != 0

    _run(uv, *uv_command.split()[1:])
    report = _probe(venv)
    assert "error" not in report, report
    core = ROOT / "packages" / "orcapod-core" / "src" / "orcapod" / "core" / "__init__.py"
    assert report["core"] == str(core)
    assert report["namespace_file"] is None


def test_the_docs_promise_what_the_guard_keeps() -> None:
    """Without the .pth, only modules of ours that are still ours can refuse: the docs say so."""
    section = _flat(_docs_section())
    assert "raise the same error themselves" not in section
    assert "python -S" in section
    assert "the other's code runs" in section
    assert "separate virtual environments" in section


def _start_up(python: Path, runs: int = 40) -> float:
    """The median wall time of ``python -c pass``, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return median(times) * 1000


def test_without_the_other_orcapod_ours_imports_and_starts_as_usual(
    uv: str, our_wheels: Path, tmp_path: Path
) -> None:
    venv = _venv(uv, tmp_path)
    _install_ours(uv, venv, our_wheels, "uv")
    site = _site(venv)
    report = _probe(venv)
    assert report["guard_first"] is True
    assert "error" not in report, report
    assert report["core"] == str(site / "orcapod" / "core" / "__init__.py")
    assert report["namespace_file"] is None

    # What the guard costs each interpreter start: reported, not asserted (timing is noisy).
    python, pth = _python(venv), site / "orcapod_protocols_root_guard.pth"
    _run(python, "-m", "compileall", "-q", site / "_orcapod_root_guard.py")
    with_guard = _start_up(python)
    pth.rename(pth.with_suffix(".off"))
    try:
        without = _start_up(python)
    finally:
        pth.with_suffix(".off").rename(pth)
    print(
        f"\npython -c pass, median of 40: {with_guard:.2f} ms with the guard's .pth, "
        f"{without:.2f} ms without ({with_guard - without:+.2f} ms)"
    )
