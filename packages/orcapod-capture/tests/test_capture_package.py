"""The public face of orcapod.capture: exports, options, results and the run helper."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time
import typing
from datetime import datetime

import pytest

import orcapod.capture as capture_package
from orcapod.capture import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RECORDS,
    Capture,
    CapturedCall,
    CaptureError,
    CaptureOptionError,
    CaptureResult,
    capture,
    run_captured,
)
from orcapod.protocols.errors import OrcapodError
from orcapod.protocols.values import ExecutionRecordFields, PythonLogRecord

EXPECTED = {
    "capture",
    "record_call",
    "recover_spooled_output",
    "run_captured",
    "format_log_records",
    "bound_text",
    "pickled_exception",
    "Capture",
    "CaptureResult",
    "CapturedCall",
    "LogStyle",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RECORDS",
    "CaptureError",
    "CaptureOptionError",
    "CaptureWarning",
}


def test_exports_exactly_the_public_api() -> None:
    assert set(capture_package.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(capture_package, name) is not None


def test_importing_capture_pulls_in_neither_pyarrow_nor_pluggy() -> None:
    code = (
        "import sys, orcapod.capture; "
        "print(sorted(m for m in ('pyarrow', 'pluggy', 'tempfile', 'ctypes') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out.strip() == "[]"


def test_no_orcapod_init_module_is_shipped() -> None:
    import orcapod

    assert getattr(orcapod, "__file__", None) is None  # a PEP 420 namespace


def test_defaults_are_one_mebibyte_and_a_thousand_records() -> None:
    assert DEFAULT_MAX_BYTES == 1 << 20
    assert DEFAULT_MAX_RECORDS == 1000


def test_errors_derive_from_orcapod_error() -> None:
    assert issubclass(CaptureError, OrcapodError)
    assert issubclass(CaptureOptionError, CaptureError)
    assert issubclass(CaptureOptionError, ValueError)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"level": "process"}, r"level='process'; use level='sys' or level='fd'"),
        ({"max_bytes": -1}, r"max_bytes=-1; pass a whole number of bytes >= 0"),
        ({"max_bytes": 1.5}, r"max_bytes=1.5"),
        ({"max_bytes": True}, r"max_bytes=True"),
        ({"max_records": -5}, r"max_records=-5; pass a whole number of records >= 0"),
    ],
)
def test_invalid_options_are_refused_naming_the_value_and_the_fix(
    options: dict[str, typing.Any], message: str
) -> None:
    with pytest.raises(CaptureOptionError, match=message):
        capture(**options)
    with pytest.raises(CaptureOptionError, match=message):
        run_captured(print, **options)


def test_capture_returns_a_capture_of_the_asked_level() -> None:
    assert isinstance(capture(), Capture)
    assert capture().level == "sys"
    assert capture("fd").level == "fd"


def test_the_result_is_not_available_before_the_block_ends() -> None:
    with capture(passthrough=False) as cap, pytest.raises(CaptureError, match="after the block"):
        _ = cap.result


def test_a_capture_is_used_once() -> None:
    cap = capture(passthrough=False)
    with cap:
        pass
    with pytest.raises(CaptureError, match="call capture\\(\\) again"), cap:
        pass


def test_the_result_is_frozen_and_never_hashable() -> None:
    with capture(passthrough=False) as cap:
        print("x")

    with pytest.raises(dataclasses.FrozenInstanceError):
        cap.result.stdout = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(cap.result)


def test_a_result_built_directly_equals_the_captured_one() -> None:
    with capture(passthrough=False) as cap:
        pass
    fields = {f.name: getattr(cap.result, f.name) for f in dataclasses.fields(CaptureResult)}

    assert CaptureResult(**fields) == cap.result


def test_record_fields_are_named_and_typed_as_the_observers_expect() -> None:
    with capture(passthrough=False) as cap:
        print("out")
        logging.getLogger("orcapod.tests.capture.package").warning("w")

    record_fields = cap.result.as_record_fields()
    fields: dict[str, object] = dict(record_fields)
    declared = ExecutionRecordFields.__optional_keys__ | ExecutionRecordFields.__required_keys__

    # Everything but what only the executor knows (attempt, executor_type, extra, and
    # the set-up of an environment it prepares).
    executors_own = {"attempt", "executor_type", "extra", "setup_output", "setup_failed"}
    assert set(fields) == declared - executors_own
    expected_types: dict[str, type | tuple[type, ...]] = {
        "stdout": str,
        "stderr": str,
        "stdout_bytes": int,
        "stderr_bytes": int,
        "stdout_truncated": bool,
        "stderr_truncated": bool,
        "python_logs": list,
        "python_logs_dropped": int,
        "traceback": type(None),
        "success": bool,
        "duration_s": float,
        "capture_level": str,
        "capture_error": type(None),
    }
    for name, value in fields.items():
        assert isinstance(value, expected_types[name]), name
    (record,) = record_fields["python_logs"]
    assert set(record) == set(PythonLogRecord.__annotations__)
    assert isinstance(record["time"], datetime)
    assert (record_fields["stdout"], record_fields["capture_level"]) == ("out\n", "sys")


def test_record_fields_are_a_new_dict_of_the_same_fields_however_the_result_was_made() -> None:
    """as_record_fields copies the result's own fields: a quiet call's result (made
    without __init__), a noisy one's and one built directly give the same keys, the
    log records as a list, and a dict the caller may change without touching the result."""
    with capture(passthrough=False) as quiet:
        pass
    with capture(passthrough=False) as noisy:
        print("out")
    fields = {f.name: getattr(noisy.result, f.name) for f in dataclasses.fields(CaptureResult)}
    built = CaptureResult(**fields)
    names = {f.name for f in dataclasses.fields(CaptureResult)}

    for result in (quiet.result, noisy.result, built):
        record = result.as_record_fields()
        assert set(record) == names
        assert record == {**fields, **{n: getattr(result, n) for n in names}, "python_logs": []}
        record["stdout"] = "changed"
        record["python_logs"].append({})  # type: ignore[arg-type]
        assert result.stdout != "changed"
        assert result.python_logs == ()
        assert result.as_record_fields()["python_logs"] == []


def test_duration_is_the_time_the_call_took() -> None:
    with capture(passthrough=False) as cap:
        time.sleep(0.05)

    assert 0.04 < cap.result.duration_s < 1.0


def test_run_captured_returns_the_value_and_the_result() -> None:
    def add(a: int, b: int, *, scale: int = 1) -> int:
        print(f"adding {a} and {b}")
        return (a + b) * scale

    call = run_captured(add, (2, 3), {"scale": 10}, passthrough=False)

    assert isinstance(call, CapturedCall)
    assert call.value == 50
    assert call.error is None
    assert call.unwrap() == 50
    assert call.result.stdout == "adding 2 and 3\n"
    result, value, error = call  # unpacks as (result, value, error)
    assert (result, value, error) == (call.result, 50, None)


def test_run_captured_returns_the_exception_and_unwrap_reraises_it_unchanged() -> None:
    error = LookupError("no such row")

    def fail() -> None:
        print("partial output")
        raise error

    call = run_captured(fail, passthrough=False)

    assert call.error is error
    assert call.value is None
    assert not call.result.success
    assert call.result.stdout == "partial output\n"
    with pytest.raises(LookupError) as raised:
        call.unwrap()
    assert raised.value is error


def test_run_captured_traceback_starts_at_the_users_function() -> None:
    def user_function() -> None:
        raise ValueError("here")

    call = run_captured(user_function, passthrough=False)

    assert call.result.traceback is not None
    lines = call.result.traceback.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in user_function" in lines[1]
    assert "run_captured" not in call.result.traceback


def test_run_captured_records_an_interrupted_call_before_it_propagates() -> None:
    def interrupted() -> None:
        print("working")
        raise KeyboardInterrupt

    call = run_captured(interrupted, passthrough=False)

    assert isinstance(call.error, KeyboardInterrupt)
    assert call.result.stdout == "working\n"
    with pytest.raises(KeyboardInterrupt):
        call.unwrap()
