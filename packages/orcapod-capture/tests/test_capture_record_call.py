"""record_call: an executor's capture of one attempt, as record fields.

It must record exactly what ``run_captured`` followed by ``as_record_fields``
records (it only skips the result object of a quiet call), never raise what
the call raised, and check its options before the call runs.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from typing import Any

import pytest

from orcapod.capture import CaptureOptionError, _buffer, capture, record_call, run_captured


def quiet(x: int) -> int:
    return x + 1


def noisy(x: int) -> int:
    print("out", x)
    print("err", x, file=sys.stderr)
    logging.getLogger("orcapod.tests.record_call").warning("logged %d", x)
    return x * 2


def failing(x: int) -> int:
    print("before")
    raise ValueError(f"bad {x}")


def interrupted(x: int) -> int:
    raise KeyboardInterrupt


def _comparable(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields but for those that differ between any two calls (time)."""
    kept = {name: value for name, value in fields.items() if name != "duration_s"}
    kept["python_logs"] = [
        {name: value for name, value in record.items() if name != "time"}
        for record in kept["python_logs"]
    ]
    return kept


@pytest.mark.parametrize("fn", [quiet, noisy, failing, interrupted])
@pytest.mark.parametrize(
    "options",
    [{}, {"max_bytes": 4}, {"max_records": 0}, {"level": "fd"}, {"passthrough": False}],
    ids=["defaults", "max_bytes", "max_records", "fd", "no_passthrough"],
)
def test_the_fields_value_and_error_are_those_of_run_captured(
    fn: Any, options: dict[str, Any]
) -> None:
    fields, value, error = record_call(fn, {"x": 3}, **options)
    call = run_captured(fn, (), {"x": 3}, **options)
    expected = call.result.as_record_fields()

    assert set(fields) == set(expected)
    assert _comparable(dict(fields)) == _comparable(dict(expected))
    assert isinstance(fields["duration_s"], float)
    assert fields["duration_s"] >= 0
    assert isinstance(fields["python_logs"], list)
    assert value == call.value
    assert type(error) is type(call.error)
    assert str(error) == str(call.error)


def test_the_traceback_starts_at_the_function_not_at_record_call() -> None:
    fields, _, error = record_call(failing, {"x": 1})

    assert isinstance(error, ValueError)
    assert fields["success"] is False
    traceback = fields["traceback"]
    assert traceback is not None
    assert "in failing" in traceback
    assert "in record_call" not in traceback
    assert traceback.rstrip().endswith("ValueError: bad 1")


def test_each_call_gets_a_new_dict() -> None:
    first, _, _ = record_call(quiet, {"x": 1})
    first["stdout"] = "changed"
    first["python_logs"].append({})  # type: ignore[arg-type]
    second, _, _ = record_call(quiet, {"x": 1})

    assert second["stdout"] == ""
    assert second["python_logs"] == []


def test_bad_options_are_refused_before_the_call_runs() -> None:
    called: list[int] = []

    def work() -> None:
        called.append(1)

    with pytest.raises(CaptureOptionError, match="max_bytes=-1"):
        record_call(work, {}, max_bytes=-1)
    with pytest.raises(CaptureOptionError, match="max_records"):
        record_call(work, {}, max_records=-2)
    with pytest.raises(CaptureOptionError, match="level"):
        record_call(work, {}, level="both")  # type: ignore[arg-type]
    assert called == []


def _prints() -> None:
    print("out")


@pytest.mark.parametrize("level", ["sys", "fd"])
def test_a_capture_warning_points_at_the_caller_of_record_call(
    level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture that fails (sys: its buffer refuses a write; fd: it is nested in another
    fd capture) warns at the line that called record_call, as run_captured does, not
    inside orcapod.capture."""

    def refuse(self: object, data: bytes) -> None:
        raise RuntimeError("the buffer refused")

    monkeypatch.setattr(_buffer.BoundedBuffer, "write", refuse)
    outer = capture("fd", passthrough=False) if level == "fd" else contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as caught, outer:
        warnings.simplefilter("always")
        fields, _, _ = record_call(_prints, {}, level=level)  # type: ignore[arg-type]
        line = sys._getframe().f_lineno - 1
    assert fields["capture_error"]
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]
