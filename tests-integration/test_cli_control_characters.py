"""What ``orcapod`` prints of stored values, through real processes: control
characters escaped (a row stays one line, a terminal gets nothing to act on),
and a reader that stops early (``| head -1``) ends every command quietly."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(sysconfig.get_path("scripts")) / "orcapod"
ORCAPOD = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "orcapod.core"]

CONTROLS = textwrap.dedent(
    """
    from orcapod.core import DictSource, Pipeline, function_pod

    NAMES = ["plain", "nul\\x00byte", "red\\x1b[31mtext", "cr\\rhere", "tab\\tand\\nnewline"]

    @function_pod("shouted")
    def shout(who: str) -> str:
        print(f"\\x1b[31m{who}\\x00")
        return who.upper() + "\\x00\\x1b[31m!"

    source = DictSource(
        [{"name": name, "who": name} for name in NAMES], tag_columns=["name"], source_id="names"
    )
    pipeline = Pipeline("controls", "memory://")
    with pipeline:
        shout.pod(source, label="shout")
    """
)

MANY = textwrap.dedent(
    """
    from orcapod.core import DictSource, Pipeline, function_pod

    @function_pod("y")
    def double(x: int) -> int:
        print("a line of output, long enough to fill a pipe's buffer soon: " + "." * 100)
        return 2 * x

    source = DictSource([{"id": i, "x": i} for i in range(1500)], tag_columns=["id"], source_id="n")
    pipeline = Pipeline("many", "memory://")
    with pipeline:
        double.pod(source, label="double")
    """
)


def _orcapod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORCAPOD, *args], capture_output=True, text=True, timeout=300, check=False
    )


def _run_into(tmp_path: Path, source: str) -> tuple[str, str]:
    """``orcapod run`` of ``source`` into a new SQLite store: (the store's URI, what it printed)."""
    file = tmp_path / "pipeline.py"  # a file: orcapod reads the function's source
    file.write_text(source)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    done = _orcapod("run", str(file), "--db", uri, "--no-progress")
    assert done.returncode == 0, done.stderr
    return uri, done.stdout


@pytest.fixture(scope="module")
def controls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return _run_into(tmp_path_factory.mktemp("controls"), CONTROLS)


def _assert_escaped(out: str, *, allowed: str = "\n") -> None:
    """No control character but ``allowed`` in ``out``; the stored ones shown escaped."""
    assert not [char for char in out if not char.isprintable() and char not in allowed], out
    assert "nul\\x00byte" in out
    assert "red\\x1b[31mtext" in out


def test_run_prints_tags_and_values_with_control_characters_escaped(
    controls: tuple[str, str],
) -> None:
    _, out = controls
    _assert_escaped(out)
    assert "cr\\rhere" in out
    assert "tab\\tand\\nnewline  TAB\\tAND\\nNEWLINE\\x00\\x1b[31m!" in out  # one row, one line
    assert "PLAIN\\x00\\x1b[31m!" in out


@pytest.mark.parametrize(
    "command",
    [["status"], ["logs"], ["results", "--node", "shout"]],
    ids=lambda command: command[0],
)
def test_observer_commands_print_control_characters_escaped(
    controls: tuple[str, str], command: list[str]
) -> None:
    uri, _ = controls
    done = _orcapod(command[0], uri, "--pipeline", "controls", *command[1:])
    assert done.returncode == 0, done.stderr
    if command[0] == "logs":  # captured output: its lines stay lines, its tabs tabs
        _assert_escaped(done.stdout, allowed="\n\t")
        assert "\\x1b[31mnul\\x00byte\\x00" in done.stdout  # what the function printed
        assert "tags: name=tab\\tand\\nnewline\n" in done.stdout
    else:
        _assert_escaped(done.stdout)
        rows = [line for line in done.stdout.splitlines() if "tab\\tand" in line]
        assert rows
        assert all("tab\\tand\\nnewline" in row for row in rows)  # one line each


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri, _ = _run_into(tmp_path_factory.mktemp("many"), MANY)
    return uri


@pytest.mark.parametrize(
    "command",
    [["logs"], ["status"], ["results", "--node", "double", "--limit", "1500"]],
    ids=lambda command: command[0],
)
def test_a_reader_that_stops_after_one_line_ends_the_command_quietly(
    many: str, command: list[str]
) -> None:
    """``orcapod logs URI --pipeline many | head -1``: far more than a pipe holds is left
    to write when the reader goes away, so the command meets the closed pipe."""
    writer = subprocess.Popen(
        [*ORCAPOD, command[0], many, "--pipeline", "many", *command[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline()
    writer.stdout.close()
    _, stderr = writer.communicate(timeout=120)
    assert b"Traceback" not in stderr, stderr.decode()
    assert b"BrokenPipeError" not in stderr, stderr.decode()
    assert stderr == b"", stderr.decode()
    assert writer.returncode == 141
