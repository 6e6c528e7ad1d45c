"""File-descriptor (``fd``) capture: C-level writes and child processes too, and the
descriptors always put back."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.capture import (
    CaptureOptionError,
    CaptureWarning,
    _fd,
    _pump,
    capture,
    recover_spooled_output,
    run_captured,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptors")

log = logging.getLogger("orcapod.tests.capture.fd")

Descriptors = Callable[[], dict[int, tuple[int, int]]]

both = pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "spool-only"])


@pytest.fixture(params=["epoll", "threads"])
def pump_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the epoll pump and with the reader-thread fallback."""
    if request.param == "epoll":
        if not hasattr(select, "epoll"):
            pytest.skip("no epoll here")
        yield "epoll"
        return
    old = _pump.set_pump(_pump.ThreadPump())
    yield "threads"
    _pump.set_pump(old)


def libc_printf(text: bytes) -> None:
    """Write through C stdio (buffered by libc, not by Python)."""
    libc = ctypes.CDLL(None)
    libc.printf(b"%s", text)


@both
def test_captures_os_write_c_stdio_and_child_processes(passthrough: bool, pump_kind: str) -> None:
    def work() -> None:
        os.write(1, b"os.write\n")
        libc_printf(b"C printf\n")
        subprocess.run(["echo", "child process"], check=True)
        subprocess.run(["sh", "-c", "echo child stderr >&2"], check=True)

    call = run_captured(work, level="fd", passthrough=passthrough)

    result = call.result
    assert result.capture_level == "fd"
    assert result.capture_error is None
    assert "os.write\n" in result.stdout
    assert "C printf\n" in result.stdout
    assert "child process\n" in result.stdout
    assert result.stderr == "child stderr\n"


@both
def test_python_and_descriptor_writes_keep_their_order(passthrough: bool) -> None:
    def work() -> None:
        print("1 print")
        os.write(1, b"2 os.write\n")
        sys.stdout.write("3 write, no flush\n")
        subprocess.run(["echo", "4 child"], check=True)
        print("5 print")

    result = run_captured(work, level="fd", passthrough=passthrough).result

    assert result.stdout == "1 print\n2 os.write\n3 write, no flush\n4 child\n5 print\n"


def test_passthrough_shows_the_output_live_on_the_original_descriptor(
    tmp_path: Path, pump_kind: str
) -> None:
    # The original descriptor is a file of the test's own, read without being
    # truncated: capfd's readouterr() truncates its file after reading, so a
    # write passed through between its read and its truncate would be lost.
    original = tmp_path / "original-stdout"
    seen_during_call: list[str] = []

    def work() -> None:
        os.write(1, b"live line\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # wait until it has reached the original file
            if "live line" in original.read_text():
                seen_during_call.append("live line")
                break
            time.sleep(0.01)

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with original.open("wb") as file:
            os.dup2(file.fileno(), 1)
        result = run_captured(work, level="fd").result
    finally:
        os.dup2(saved, 1)
        os.close(saved)

    assert seen_during_call == ["live line"]
    assert result.stdout == "live line\n"
    assert original.read_text() == "live line\n"


def test_spool_only_mode_keeps_output_off_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    result = run_captured(os.write, (1, b"hidden\n"), level="fd", passthrough=False).result

    assert result.stdout == "hidden\n"
    assert capfd.readouterr().out == ""


def test_log_records_of_the_capturing_context_are_captured_in_fd_mode() -> None:
    def work() -> None:
        log.warning("structured in fd mode")

    result = run_captured(work, level="fd", passthrough=False).result

    assert [r["message"] for r in result.python_logs] == ["structured in fd mode"]


def test_fd_mode_captures_a_handler_writing_to_a_stream_grabbed_before_capture() -> None:
    handler = logging.StreamHandler(sys.__stderr__)  # past any sys.stderr replacement
    handler.setFormatter(logging.Formatter("handler: %(message)s"))
    log.addHandler(handler)
    try:
        result = run_captured(log.warning, ("text too",), level="fd", passthrough=False).result
    finally:
        log.removeHandler(handler)

    if sys.__stderr__ is not None and sys.__stderr__.fileno() == 2:
        assert "handler: text too\n" in result.stderr


@both
def test_descriptors_are_put_back_after_a_successful_call(
    passthrough: bool, descriptors: Descriptors, open_descriptors: Callable[[], int]
) -> None:
    run_captured(print, ("warm up",), level="fd", passthrough=passthrough)
    before, fds_before = descriptors(), open_descriptors()

    for _ in range(5):
        run_captured(print, ("x",), level="fd", passthrough=passthrough)

    assert descriptors() == before
    assert open_descriptors() == fds_before  # nothing leaked


@both
def test_descriptors_are_put_back_when_the_call_raises(
    passthrough: bool, descriptors: Descriptors
) -> None:
    before = descriptors()
    error = RuntimeError("boom")

    cap = capture("fd", passthrough=passthrough)

    def fail() -> None:
        with cap:
            os.write(1, b"before the error\n")
            raise error

    with pytest.raises(RuntimeError) as raised:
        fail()

    assert raised.value is error
    assert descriptors() == before
    assert cap.result.stdout == "before the error\n"
    assert not cap.result.success
    assert cap.result.traceback is not None
    assert "RuntimeError: boom" in cap.result.traceback


@both
def test_descriptors_are_put_back_on_keyboard_interrupt(
    passthrough: bool, descriptors: Descriptors, pump_kind: str
) -> None:
    before = descriptors()

    cap = capture("fd", passthrough=passthrough)

    def interrupted() -> None:
        with cap:
            os.write(1, b"interrupted\n")
            signal.raise_signal(signal.SIGINT)  # the real thing: Ctrl-C's signal
            time.sleep(1)  # not reached

    with pytest.raises(KeyboardInterrupt):
        interrupted()

    assert descriptors() == before
    assert cap.result.stdout == "interrupted\n"
    assert cap.result.traceback is not None
    assert "KeyboardInterrupt" in cap.result.traceback
    # and the lock was released: another fd capture works
    assert run_captured(os.write, (1, b"next\n"), level="fd").result.stdout == "next\n"


@both
def test_descriptors_are_put_back_when_redirecting_fails_half_way(
    passthrough: bool,
    descriptors: Descriptors,
    open_descriptors: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_captured(print, ("warm up",), level="fd", passthrough=passthrough)
    before, fds_before = descriptors(), open_descriptors()
    real_dup2 = os.dup2
    calls: list[int] = []

    def dup2_failing_on_stderr(fd: int, fd2: int, inheritable: bool = True) -> int:
        calls.append(fd2)
        if fd2 == 2 and len(calls) == 2:  # stdout already redirected, stderr fails
            raise OSError(9, "injected dup2 failure")
        return real_dup2(fd, fd2, inheritable)

    monkeypatch.setattr(os, "dup2", dup2_failing_on_stderr)
    with pytest.warns(CaptureWarning, match="injected dup2 failure"):
        call = run_captured(print, ("still runs",), level="fd", passthrough=passthrough)
    monkeypatch.undo()

    assert descriptors() == before
    assert open_descriptors() == fds_before
    assert call.error is None
    assert call.result.stdout == "still runs\n"  # captured at sys level instead
    assert call.result.capture_level == "sys"
    assert "redirecting file descriptors 1 and 2 failed" in (call.result.capture_error or "")
    assert run_captured(os.write, (1, b"next\n"), level="fd").result.capture_level == "fd"


@both
def test_descriptors_are_put_back_when_interrupted_while_the_capture_ends(
    passthrough: bool,
    descriptors: Descriptors,
    open_descriptors: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_captured(print, ("warm up",), level="fd", passthrough=passthrough)
    before, fds_before = descriptors(), open_descriptors()
    real_flush = _fd._flush_all
    flushes: list[int] = []

    def flush_interrupted_on_the_way_out() -> None:
        flushes.append(1)
        if len(flushes) == 2:
            raise KeyboardInterrupt
        real_flush()

    monkeypatch.setattr(_fd, "_flush_all", flush_interrupted_on_the_way_out)
    cap = capture("fd", passthrough=passthrough)

    def interrupted_on_exit() -> None:
        with cap:
            os.write(1, b"done\n")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        with pytest.raises(KeyboardInterrupt):
            interrupted_on_exit()
    monkeypatch.undo()

    assert descriptors() == before
    assert "restoring file descriptors 1 and 2 failed" in (cap.result.capture_error or "")
    assert run_captured(os.write, (1, b"next\n"), level="fd").result.stdout == "next\n"
    assert open_descriptors() == fds_before


def test_descriptors_are_put_back_when_interrupted_while_the_capture_starts(
    descriptors: Descriptors,
    open_descriptors: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
    pump_kind: str,
) -> None:
    run_captured(print, ("warm up",), level="fd")
    before, fds_before = descriptors(), open_descriptors()

    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_fd, "_enlarge_pipe", interrupt)
    cap = capture("fd")
    with pytest.raises(KeyboardInterrupt):
        cap.__enter__()
    called: list[str] = []
    with pytest.raises(KeyboardInterrupt):  # not hidden behind a missing result
        run_captured(called.append, ("never",), level="fd")
    monkeypatch.undo()

    assert called == []

    assert descriptors() == before
    assert open_descriptors() == fds_before
    assert run_captured(os.write, (1, b"next\n"), level="fd").result.stdout == "next\n"


def test_fd_captures_in_two_threads_take_turns() -> None:
    inside = threading.Event()
    release = threading.Event()
    results: dict[str, str] = {}

    def first() -> None:
        def work() -> None:
            os.write(1, b"first\n")
            inside.set()
            release.wait(5)

        results["first"] = run_captured(work, level="fd", passthrough=False).result.stdout

    def second() -> None:
        inside.wait(5)
        results["second"] = run_captured(
            os.write, (1, b"second\n"), level="fd", passthrough=False
        ).result.stdout

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait(5)
    time.sleep(0.1)  # the second capture is now waiting for the lock
    assert "second" not in results
    release.set()
    for thread in threads:
        thread.join(10)

    assert results == {"first": "first\n", "second": "second\n"}


def test_a_nested_fd_capture_in_the_same_thread_falls_back_to_sys_and_says_so() -> None:
    with capture("fd", passthrough=False) as outer:
        with pytest.warns(CaptureWarning, match="already active in this thread"):
            inner = run_captured(print, ("inner",), level="fd")
        os.write(1, b"outer\n")

    assert inner.result.capture_level == "sys"
    assert inner.result.stdout == "inner\n"
    assert outer.result.capture_level == "fd"
    assert outer.result.stdout == "inner\nouter\n"  # passed through by the inner capture


def test_a_child_that_outlives_the_call_does_not_hold_it_up_for_long(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_fd, "DRAIN_TIMEOUT_S", 0.2)
    children: list[subprocess.Popen[bytes]] = []

    def work() -> None:
        print("before")
        children.append(subprocess.Popen(["sh", "-c", "sleep 0.6; echo late child"]))

    start = time.monotonic()
    with pytest.warns(CaptureWarning, match="still arriving"):
        call = run_captured(work, level="fd")
    took = time.monotonic() - start
    children[0].wait(10)
    time.sleep(0.1)

    assert took < 0.55
    assert call.result.stdout == "before\n"
    assert "late child" in capfd.readouterr().out  # passed through after the call


def test_a_child_that_outlives_the_call_leaks_no_descriptors(
    monkeypatch: pytest.MonkeyPatch, open_descriptors: Callable[[], int], pump_kind: str
) -> None:
    run_captured(print, ("warm up",), level="fd")
    fds_before = open_descriptors()
    monkeypatch.setattr(_fd, "DRAIN_TIMEOUT_S", 0.05)
    children: list[subprocess.Popen[bytes]] = []

    def work() -> None:
        children.append(subprocess.Popen(["sh", "-c", "sleep 0.3; echo late"]))

    with pytest.warns(CaptureWarning):
        run_captured(work, level="fd")
    children[0].wait(10)
    # the pump closes the channel when the child's end closes
    assert open_descriptors() == fds_before


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fd_capture_works_in_a_forked_child() -> None:
    run_captured(print, ("start the pump in the parent",), level="fd")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            result = run_captured(os.write, (1, b"in the child\n"), level="fd").result
            os.write(write_end, json.dumps([result.stdout, result.capture_error]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as report:
        stdout, error = json.loads(report.read())
    os.waitpid(pid, 0)

    assert [stdout, error] == ["in the child\n", None]


@both
def test_output_past_max_bytes_keeps_head_and_tail_in_fd_mode(passthrough: bool) -> None:
    def work() -> None:
        os.write(1, b"HEAD" + b"." * 10_000 + b"TAIL")

    result = run_captured(work, level="fd", max_bytes=8, passthrough=passthrough).result

    assert result.stdout == "HEAD\n[... 10000 bytes truncated ...]\nTAIL"
    assert result.stdout_bytes == 10_008
    assert result.stdout_truncated
    assert not result.stderr_truncated


# -- named spools: what a process that died had written ---------------------------------

DYING_WRITER = """
import os, subprocess, sys, time
from orcapod.capture import capture

with capture("fd", spool_to=sys.argv[1], passthrough=sys.argv[2] == "1"):
    print("python print", flush=True)
    os.write(2, b"to stderr\\n")
    subprocess.run(["echo", "child process"], check=True)
    time.sleep(0.3)  # the pass-through pump copies what is in the pipe
    os._exit(3)
"""


@both
def test_output_of_a_process_that_died_during_the_call_is_recovered_from_its_spool(
    passthrough: bool, tmp_path: Any
) -> None:
    spool_to = str(tmp_path / "task-1")
    died = subprocess.run(
        [sys.executable, "-c", DYING_WRITER, spool_to, "1" if passthrough else "0"],
        capture_output=True,
        timeout=60,
    )
    assert died.returncode == 3

    recovered = recover_spooled_output(spool_to)

    assert recovered is not None
    stdout, stderr = recovered
    assert stdout == "python print\nchild process\n"
    assert stderr == "to stderr\n"
    assert list(tmp_path.iterdir()) == []  # recovering removes the spool files
    assert recover_spooled_output(spool_to) is None


@both
def test_named_spools_hold_the_output_during_the_call_and_are_removed_after_it(
    passthrough: bool, tmp_path: Any
) -> None:
    spool_to = str(tmp_path / "call")
    seen: list[bytes] = []

    def work() -> None:
        os.write(1, b"so far\n")
        time.sleep(0.1)  # the pump's copy, in pass-through mode
        with open(f"{spool_to}.stdout", "rb") as spool:
            seen.append(spool.read())

    call = run_captured(work, level="fd", passthrough=passthrough, spool_to=spool_to)

    assert seen == [b"so far\n"]
    assert call.result.stdout == "so far\n"
    assert list(tmp_path.iterdir()) == []


def test_a_spool_that_cannot_be_named_there_falls_back_and_capture_goes_on(
    tmp_path: Any,
) -> None:
    spool_to = str(tmp_path / "missing-directory" / "call")

    call = run_captured(lambda: os.write(1, b"kept\n"), level="fd", spool_to=spool_to)

    assert call.result.capture_level == "fd"
    assert call.result.stdout == "kept\n"
    assert recover_spooled_output(spool_to) is None


def test_recovered_output_is_bounded_like_captured_output(tmp_path: Any) -> None:
    spool_to = str(tmp_path / "big")
    with open(f"{spool_to}.stdout", "wb") as spool:
        spool.write(b"a" * 1000 + b"b" * 1000)

    recovered = recover_spooled_output(spool_to, max_bytes=100)

    assert recovered is not None
    stdout, stderr = recovered
    assert stdout.startswith("a" * 50)
    assert stdout.endswith("b" * 50)
    assert "[... 1900 bytes truncated ...]" in stdout
    assert stderr == ""


def test_spool_to_is_only_for_fd_capture() -> None:
    with pytest.raises(CaptureOptionError, match="only level='fd' spools to files"):
        capture("sys", spool_to="/tmp/x")
