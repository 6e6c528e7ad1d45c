"""Output is bounded: a call that prints hundreds of megabytes does not grow memory,
and the result keeps the head and the tail with the true size."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from orcapod.capture import capture

RunPython = Callable[[str], dict[str, Any]]

MEMORY_PROBE = """
    import json, resource, sys
    from orcapod.capture import run_captured

    chunk = "x" * (1 << 20)
    run_captured(print, ("warm up",), level={level!r})  # hooks, pump, spools in place
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def noisy():
        sys.stdout.write("FIRST")
        for _ in range(200):
            sys.stdout.write(chunk)
        sys.stdout.write("LAST")

    result = run_captured(noisy, level={level!r}, passthrough={passthrough!r}).result
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({{
        "growth_mb": (after - before) / 1024,  # ru_maxrss is in KiB on Linux
        "stdout_bytes": result.stdout_bytes,
        "truncated": result.stdout_truncated,
        "kept": len(result.stdout),
        "starts": result.stdout[:5],
        "ends": result.stdout[-4:],
        "error": result.capture_error,
    }}), file=sys.__stderr__)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units and fd spooling")
@pytest.mark.parametrize(
    ("level", "passthrough"),
    [("sys", True), ("fd", True), ("fd", False)],
    ids=["sys", "fd-passthrough", "fd-spool-only"],
)
def test_printing_200_mb_grows_peak_memory_by_less_than_50_mb(
    level: str, passthrough: bool, run_python: RunPython
) -> None:
    report = run_python(MEMORY_PROBE.format(level=level, passthrough=passthrough))

    assert report["error"] is None
    assert report["growth_mb"] < 50, report
    assert report["stdout_bytes"] == 200 * (1 << 20) + 9
    assert report["truncated"]
    assert report["kept"] < 2 * (1 << 20)
    assert (report["starts"], report["ends"]) == ("FIRST", "LAST")


def test_output_past_max_bytes_keeps_head_and_tail_with_the_true_total() -> None:
    with capture(max_bytes=10, passthrough=False) as cap:
        print("start")
        for i in range(1000):
            print(f"line {i}")
        print("end")

    result = cap.result
    assert result.stdout_truncated
    assert result.stdout_bytes == len("start\n") + sum(len(f"line {i}\n") for i in range(1000)) + 4
    head, tail = result.stdout.split(f"\n[... {result.stdout_bytes - 10} bytes truncated ...]\n")
    assert (head, tail) == ("start", "\nend\n")
    assert not result.stderr_truncated


def test_each_stream_has_its_own_bound() -> None:
    with capture(max_bytes=4, passthrough=False) as cap:
        sys.stdout.write("ab")
        sys.stderr.write("0123456789")

    assert (cap.result.stdout, cap.result.stdout_truncated) == ("ab", False)
    assert cap.result.stderr == "01\n[... 6 bytes truncated ...]\n89"
    assert (cap.result.stderr_bytes, cap.result.stderr_truncated) == (10, True)
