"""What ``orcapod`` prints, through real processes: colour, exit statuses, ``--json``."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orcapod.core.cli._main import EXIT_STATUSES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

MAKE = textwrap.dedent(
    """
    import sys
    from orcapod.core import DictSource, Pipeline, function_pod
    from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

    @function_pod("y")
    def halve(x: int) -> float:
        print(f"halving {x}")
        if x == 3:
            raise ValueError(f"{x} is odd")
        return x / 2

    rows = [{"k": f"k{i}", "x": i} for i in (2, 3, 4)]
    pipeline = Pipeline("halves", sys.argv[1])
    with pipeline:
        halve.pod(DictSource(rows, tag_columns=["k"], source_id="n"), label="halve")
    db = pipeline.database
    result = pipeline.run(observer=CompositeObserver(LoggingObserver(db), StatusObserver(db)))
    print(result.run_id)
    """
)


def _orcapod() -> list[str]:
    script = shutil.which("orcapod")
    return [script] if script else [sys.executable, "-m", "orcapod.core"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A SQLite store written by a pipeline run in its own process; its URI and the run id."""
    root = tmp_path_factory.mktemp("cli-output")
    script = root / "make.py"  # a file: orcapod reads the function's source
    script.write_text(MAKE)
    uri = f"sqlite:///{root / 'store.db'}"
    made = subprocess.run(
        [sys.executable, str(script), uri], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr
    return uri, made.stdout.strip().splitlines()[-1]


def _on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run ``orcapod ARGS`` with its stdout a pseudo-terminal; its status and output."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [*_orcapod(), *args], stdout=follower, stderr=subprocess.PIPE, env=env
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = process.wait(timeout=120)
    finally:
        os.close(leader)
    return status, b"".join(chunks).decode()


def _env(**changes: str | None) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# -- colour ----------------------------------------------------------------------------


def test_a_terminal_gets_states_in_colour(store: tuple[str, str]) -> None:
    status, out = _on_a_terminal("status", store[0], env=_env())

    assert status == 0
    assert "\x1b[31mFAILED\x1b[0m" in out
    assert "\x1b[32mSUCCESS\x1b[0m" in out
    assert "\x1b[1mSTATE\x1b[0m" in out


def test_no_color_turns_colour_off_on_a_terminal(store: tuple[str, str]) -> None:
    status, out = _on_a_terminal("status", store[0], env=_env(NO_COLOR="1"))

    assert status == 0
    assert "FAILED" in out
    assert "\x1b" not in out


def test_a_pipe_gets_no_colour(store: tuple[str, str]) -> None:
    for command in (["runs"], ["status"], ["results", "--node", "halve"]):
        done = subprocess.run(
            [*_orcapod(), *command, store[0]],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout


# -- exit statuses ---------------------------------------------------------------------


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_and_the_cli_page_say_what_every_exit_status_means() -> None:
    help_text = subprocess.run(
        [*_orcapod(), "--help"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    epilog = _words(help_text.partition("exit status:")[2])
    page = _words(DOCS.read_text().partition("exit status:")[2])

    for status, meaning in EXIT_STATUSES.items():
        assert f"{status} {_words(meaning)}" in epilog
        assert f"{status} {_words(meaning)}" in page


def test_the_exit_statuses_are_the_ones_documented(store: tuple[str, str], tmp_path: Path) -> None:
    def status_of(*args: str) -> int:
        done = subprocess.run([*_orcapod(), *args], capture_output=True, timeout=120)
        return done.returncode

    assert status_of("runs", store[0]) == 0
    assert status_of("runs", f"sqlite:///{tmp_path / 'missing.db'}") == 1  # an error
    assert status_of() == 2  # no sub-command
    assert status_of("runs", store[0], "--no-such-option") == 2
    assert set(EXIT_STATUSES) == {0, 1, 2, 141}  # 141: tests-integration/test_cli_pipes.py


def test_an_error_is_one_line_on_stderr(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_orcapod(), "logs", f"sqlite:///{tmp_path / 'missing.db'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert re.fullmatch(r"orcapod logs: error: [^\n]+\n", done.stderr), done.stderr


# -- --json, parsed back ---------------------------------------------------------------


def _json_lines(*args: str) -> list[dict[str, Any]]:
    """Run ``orcapod ARGS --json``; every line of its output, each parsed by ``json``."""
    done = subprocess.run(
        [*_orcapod(), *args, "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" or done.stdout.endswith("\n")  # whole lines only
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_runs_json_is_one_object_per_run(store: tuple[str, str]) -> None:
    uri, run_id = store

    [run] = _json_lines("runs", uri)

    assert run["run_id"] == run_id
    assert run["state"] == "PARTIAL"
    assert (run["n_success"], run["n_failed"], run["n_cached"]) == (2, 1, 0)
    assert run["pid"] > 0
    started = datetime.fromisoformat(run["started_at"])
    assert started <= datetime.fromisoformat(run["ended_at"])
    assert started.utcoffset() is not None  # UTC, with its offset


def test_status_json_is_one_object_per_packet(store: tuple[str, str]) -> None:
    uri, run_id = store

    packets = _json_lines("status", uri, "--pipeline", "halves")

    by_tag = {packet["tags"]["k"]: packet for packet in packets}
    assert sorted(by_tag) == ["k2", "k3", "k4"]
    assert {tag: packet["state"] for tag, packet in by_tag.items()} == {
        "k2": "SUCCESS",
        "k3": "FAILED",
        "k4": "SUCCESS",
    }
    assert {packet["node_label"] for packet in packets} == {"halve"}
    assert {packet["run_id"] for packet in packets} == {run_id}
    assert "ValueError: 3 is odd" in by_tag["k3"]["detail"]
    assert by_tag["k2"]["detail"] is None
    assert _json_lines("status", uri, "--failed") == [by_tag["k3"]]


def test_logs_json_is_one_object_per_attempt_with_its_output(store: tuple[str, str]) -> None:
    uri, run_id = store

    attempts = _json_lines("logs", uri, "--node", "halve")

    by_tag = {attempt["tags"]["k"]: attempt for attempt in attempts}
    assert sorted(by_tag) == ["k2", "k3", "k4"]
    failed = by_tag["k3"]
    assert (failed["state"], failed["run_id"], failed["attempt"]) == ("FAILED", run_id, 1)
    assert failed["stdout"] == "halving 3\n"
    assert failed["traceback"].rstrip().endswith("ValueError: 3 is odd")
    assert by_tag["k4"]["state"] == "SUCCESS"
    assert by_tag["k4"]["stdout"] == "halving 4\n"
    assert by_tag["k4"]["traceback"] is None
    assert _json_lines("logs", uri, "--failed") == [failed]


def test_json_prints_nothing_when_no_row_matches(store: tuple[str, str]) -> None:
    assert _json_lines("logs", store[0], "--tag", "k=no-such-tag") == []
