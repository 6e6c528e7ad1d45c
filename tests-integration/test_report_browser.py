"""``orcapod report``'s page opened in headless Chromium: it renders, and its script runs.

A pipeline with a failure runs on SQLite; ``orcapod report`` (a real process)
writes the page; Chromium loads it from disk, once dumping the DOM after the
page's script ran (with the console sent to stderr) and once taking a
screenshot. Chromium comes from the system's packages (``.ci/run`` installs
it): without it the test is skipped, unless ``CI`` is set, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from orcapod.core import DictSource, Pipeline, function_pod, open_database
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

SCRIPT = Path(sysconfig.get_path("scripts")) / "orcapod"
ORCAPOD = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "orcapod.core"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed, and CI must not skip: .ci/run installs it")
    pytest.skip("Chromium is not installed (apt-get install -y chromium); CI installs it")


def _browse(page: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Chromium, headless, on ``page``, with the console sent to stderr."""
    return subprocess.run(
        [
            _chromium(),
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            *options,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What the page wrote to its console (errors, uncaught exceptions, anything)."""
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@function_pod(output_keys="y")
def halve(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd input {x} <script>")
    return x // 2


@function_pod(output_keys="z")
def increment(y: int) -> int:
    return y + 1


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    uri = f"sqlite:///{folder / 'store.db'}"
    database = open_database(uri)
    source = DictSource([{"id": f"<b>&\x00{x}", "x": x} for x in range(6)], tag_columns=["id"])
    pipeline = Pipeline("lab", database)
    with pipeline:
        increment.pod(halve.pod(source, label="halve"), label="increment")
    pipeline.run(observer=CompositeObserver(LoggingObserver(database), StatusObserver(database)))
    database.close()
    page = folder / "report.html"
    done = subprocess.run(
        [*ORCAPOD, "report", uri, "--pipeline", "lab", "-o", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return page


def test_the_report_renders_in_chromium_with_its_script_run_and_no_console_output(
    report: Path,
) -> None:
    """The DOM after load: the script marked the page ready and caught no error, the DAG's
    SVG has a node per pipeline node (source, halve, increment), the failing node is
    marked, and the console stayed silent."""
    done = _browse(report, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-orcapod-report="ready"' in dom
    assert not re.search(r"<body[^>]*data-orcapod-error", dom)
    nodes = re.findall(r'<g class="orcapod-node[^"]*" id="orcapod-node-\d+"[^>]*>', dom)
    assert len(nodes) == 3
    assert re.search(r'data-label="halve" data-kind="function" data-state="partial"', dom)
    assert len(re.findall(r"<details class=\"failure\"", dom)) == 3
    assert _console(done) == []


def test_a_screenshot_of_the_report_is_taken(report: Path, tmp_path: Path) -> None:
    """Chromium draws the page to a PNG of the window's size."""
    picture = tmp_path / "report.png"
    done = _browse(report, f"--screenshot={picture}", "--window-size=1200,900")
    assert done.returncode == 0, done.stderr[-2000:]
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 900)
    assert len(data) > 10_000  # a drawn page, not a blank one


def test_the_console_check_sees_an_error(tmp_path: Path) -> None:
    """The check above can fail: a page whose script throws is caught by it."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>missing();</script></body></html>")
    done = _browse(page, "--dump-dom")
    assert any("Uncaught ReferenceError" in line for line in _console(done))
