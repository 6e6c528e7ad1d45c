"""A failure of capture itself never breaks the call: it runs, completes, and its
result says what capture lost and why."""

from __future__ import annotations

import contextvars
import os
import sys
import tempfile
import warnings
from collections.abc import Callable

import pytest

from orcapod.capture import (
    CaptureWarning,
    _buffer,
    _capture,
    _spool,
    _streams,
    capture,
    run_captured,
)

Descriptors = Callable[[], dict[int, tuple[int, int]]]


def test_a_failing_output_buffer_lets_the_call_complete_and_reports_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(self: object, data: bytes) -> None:
        raise MemoryError("injected: buffer full")

    monkeypatch.setattr(_buffer.BoundedBuffer, "write", full)

    with pytest.warns(CaptureWarning, match="injected: buffer full"):
        call = run_captured(lambda: print("still printed") or 42)

    assert call.unwrap() == 42
    assert call.result.success
    assert call.result.capture_error == (
        "capturing output failed: MemoryError: injected: buffer full"
    )
    assert capsys.readouterr().out == "still printed\n"  # passthrough unaffected


def test_a_failing_log_record_conversion_lets_the_call_complete_and_reports_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(record: object, max_bytes: int) -> None:
        raise RuntimeError("injected: handler error")

    monkeypatch.setattr(_capture, "to_python_log_record", broken)

    def work() -> str:
        import logging

        logging.getLogger("orcapod.tests.capture.failures").warning("logged")
        print("printed")
        return "done"

    with pytest.warns(CaptureWarning, match="injected: handler error"):
        call = run_captured(work, passthrough=False)

    assert call.unwrap() == "done"
    assert call.result.stdout == "printed\n"  # the rest of capture carried on
    assert "capturing a log record failed" in (call.result.capture_error or "")


def test_failing_to_install_the_hooks_lets_the_call_complete_and_reports_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise OSError("injected: cannot install")

    monkeypatch.setattr(_capture, "ensure_installed", broken)

    with pytest.warns(CaptureWarning, match="installing the stream and logging hooks failed"):
        call = run_captured(lambda: "ran")

    assert call.unwrap() == "ran"
    assert "injected: cannot install" in (call.result.capture_error or "")


def test_the_warning_points_at_the_callers_line() -> None:
    def full(self: object, data: bytes) -> None:
        raise MemoryError("injected")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_buffer.BoundedBuffer, "write", full)
        with pytest.warns(CaptureWarning) as warned, capture(passthrough=False):
            print("x")
        with pytest.warns(CaptureWarning) as warned_helper:
            run_captured(print, ("x",), passthrough=False)

    assert warned[0].filename == __file__
    assert warned_helper[0].filename == __file__


def test_warnings_turned_into_errors_still_do_not_break_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(self: object, data: bytes) -> None:
        raise MemoryError("injected")

    monkeypatch.setattr(_buffer.BoundedBuffer, "write", full)

    with warnings.catch_warnings():
        warnings.simplefilter("error", CaptureWarning)
        call = run_captured(print, ("x",), passthrough=False)

    assert call.error is None
    assert call.result.capture_error is not None


@pytest.mark.parametrize("passthrough", [True, False], ids=["passthrough", "spool-only"])
def test_an_unwritable_spool_directory_falls_back_to_sys_capture_and_reports_why(
    passthrough: bool,
    monkeypatch: pytest.MonkeyPatch,
    descriptors: Descriptors,
    tmp_path: object,
) -> None:
    before = descriptors()
    monkeypatch.setattr(tempfile, "tempdir", os.path.join(str(tmp_path), "does-not-exist"))
    monkeypatch.setattr(_spool, "_spare", [])  # no spare spool to fall back on

    with pytest.warns(CaptureWarning, match="redirecting file descriptors 1 and 2 failed"):
        call = run_captured(print, ("python output",), level="fd", passthrough=passthrough)

    assert call.error is None
    assert descriptors() == before
    assert call.result.capture_level == "sys"
    assert call.result.stdout == "python output\n"
    assert "FileNotFoundError" in (call.result.capture_error or "")


def test_a_spool_that_fails_mid_call_lets_the_call_complete_and_keeps_passing_through(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tmp_path: object,
) -> None:
    read_only = os.path.join(str(tmp_path), "read-only-spool")
    open(read_only, "w").close()
    monkeypatch.setattr(_spool, "_spare", [])
    monkeypatch.setattr(_spool, "open_spool", lambda: os.open(read_only, os.O_RDONLY))

    def work() -> str:
        os.write(1, b"reaches the terminal\n")
        return "completed"

    with pytest.warns(CaptureWarning, match="writing the spool file failed"):
        call = run_captured(work, level="fd")

    assert call.unwrap() == "completed"
    assert call.result.capture_level == "fd"
    assert "reaches the terminal\n" in capfd.readouterr().out
    assert call.result.stdout == ""  # what the spool could not keep is lost, and said so


def test_a_capture_left_in_another_context_reports_it_instead_of_raising() -> None:
    cap = capture(passthrough=False)
    contextvars.copy_context().run(cap.__enter__)

    with pytest.warns(CaptureWarning, match="leaving the capture context failed"):
        cap.__exit__(None, None, None)

    assert cap.result.capture_error is not None
    assert cap.result.success


def test_output_outside_any_capture_never_reaches_the_capture_machinery(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with capture(passthrough=False):
        pass
    tee = sys.stdout
    assert isinstance(tee, _streams.TeeStream)

    def broken(fd: int, data: bytes) -> bool:
        raise AssertionError("must not be reached outside a capture")

    monkeypatch.setattr(_streams, "_route", broken)
    print("outside any capture")

    assert capsys.readouterr().out == "outside any capture\n"
