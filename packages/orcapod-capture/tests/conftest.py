"""Fixtures shared by the capture tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest

from orcapod.capture._spool import forget_spares

RunPython = Callable[[str], dict[str, Any]]


@pytest.fixture
def run_python() -> RunPython:
    """Run code in a fresh interpreter (clean logging and streams, honest memory
    figures). The code reports a JSON object as its last line on stderr; its
    stdout goes to /dev/null."""

    def run(code: str) -> dict[str, Any]:
        process = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
        assert process.returncode == 0, process.stderr
        report: dict[str, Any] = json.loads(process.stderr.strip().splitlines()[-1])
        return report

    return run


@pytest.fixture
def descriptors() -> Callable[[], dict[int, tuple[int, int]]]:
    """What descriptors 1 and 2 point at (device, inode), to check they were put back."""

    def identity() -> dict[int, tuple[int, int]]:
        return {fd: (os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2)}

    return identity


@pytest.fixture
def open_descriptors() -> Callable[[], int]:
    """How many file descriptors this process has open (Linux), spare spool files
    not counted (they are closed first). The first call is the baseline; later
    calls wait briefly for the pump to close what a finished call left it."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to list descriptors")
    baseline: list[int] = []

    def count() -> int:
        forget_spares()
        current = len(os.listdir("/proc/self/fd"))
        deadline = time.monotonic() + 2
        while baseline and current > baseline[0] and time.monotonic() < deadline:
            time.sleep(0.01)
            current = len(os.listdir("/proc/self/fd"))
        if not baseline:
            baseline.append(current)
        return current

    return count
