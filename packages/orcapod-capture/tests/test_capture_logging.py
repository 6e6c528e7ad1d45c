"""Python ``logging`` records: structured, per context, bounded, and rendered as text."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.capture import CaptureOptionError, capture, format_log_records

if TYPE_CHECKING:
    from orcapod.protocols.values import PythonLogRecord

RunPython = Callable[[str], dict[str, Any]]

log = logging.getLogger("orcapod.tests.capture.logging")


@pytest.fixture
def debug_level() -> Iterator[logging.Logger]:
    """The test logger at DEBUG; put back afterwards."""
    old = log.level
    log.setLevel(logging.DEBUG)
    yield log
    log.setLevel(old)


def test_log_records_are_structured_with_time_level_logger_message_and_location(
    debug_level: logging.Logger,
) -> None:
    before = datetime.now(UTC)
    with capture(passthrough=False) as cap:
        log.info("loaded %d rows", 42)
    after = datetime.now(UTC)

    (record,) = cap.result.python_logs
    assert record["level"] == "INFO"
    assert record["logger"] == "orcapod.tests.capture.logging"
    assert record["message"] == "loaded 42 rows"
    assert record["pathname"] == __file__
    assert (
        record["func"]
        == "test_log_records_are_structured_with_time_level_logger_message_and_location"
    )
    assert isinstance(record["lineno"], int)
    assert before <= record["time"] <= after
    assert record["time"].tzinfo is UTC


def test_records_below_the_loggers_effective_level_are_not_captured(
    debug_level: logging.Logger,
) -> None:
    quiet = logging.getLogger("orcapod.tests.capture.logging.quiet")
    quiet.setLevel(logging.ERROR)
    try:
        with capture(passthrough=False) as cap:
            quiet.warning("below ERROR")
            quiet.error("at ERROR")
            log.debug("debug on a DEBUG logger")
    finally:
        quiet.setLevel(logging.NOTSET)

    assert [r["message"] for r in cap.result.python_logs] == [
        "at ERROR",
        "debug on a DEBUG logger",
    ]
    assert quiet.level == logging.NOTSET  # capture changed no level


def test_a_logged_exception_keeps_its_traceback_in_the_message() -> None:
    with capture(passthrough=False) as cap:
        try:
            raise KeyError("missing")
        except KeyError:
            log.exception("lookup failed")

    (record,) = cap.result.python_logs
    assert record["level"] == "ERROR"
    assert record["message"].startswith("lookup failed\nTraceback (most recent call last):")
    assert record["message"].endswith("KeyError: 'missing'")


def test_a_record_whose_arguments_do_not_fit_its_format_is_still_captured() -> None:
    # Not propagated, so pytest's own handler (which fails tests on such records)
    # does not see it; logging reports the error on stderr instead.
    isolated = logging.getLogger("orcapod.tests.capture.logging.isolated")
    isolated.propagate = False
    try:
        with capture(passthrough=False) as cap:
            isolated.warning("%d items", "not a number")
    finally:
        isolated.propagate = True

    (record,) = cap.result.python_logs
    assert record["message"].startswith("'%d items' % ('not a number',) (formatting failed:")
    assert "--- Logging error ---" in cap.result.stderr
    assert cap.result.capture_error is None


def test_records_of_loggers_that_do_not_propagate_are_captured() -> None:
    isolated = logging.getLogger("orcapod.tests.capture.logging.isolated")
    isolated.propagate = False
    isolated.addHandler(logging.NullHandler())
    try:
        with capture(passthrough=False) as cap:
            isolated.warning("kept to itself")
    finally:
        isolated.propagate = True
        isolated.handlers.clear()

    assert [r["message"] for r in cap.result.python_logs] == ["kept to itself"]


def test_log_records_beyond_max_records_keep_the_first_and_last_with_a_marker() -> None:
    with capture(max_records=4, passthrough=False) as cap:
        for i in range(10):
            log.warning("record %d", i)

    messages = [r["message"] for r in cap.result.python_logs]
    assert messages == [
        "record 0",
        "record 1",
        "[... 6 log records dropped ...]",
        "record 8",
        "record 9",
    ]
    assert cap.result.python_logs[2]["logger"] == "orcapod.capture"
    assert cap.result.python_logs_dropped == 6


def test_zero_max_records_keeps_no_records_but_counts_them() -> None:
    with capture(max_records=0, passthrough=False) as cap:
        log.warning("one")
        log.warning("two")

    assert cap.result.python_logs_dropped == 2
    assert [r["message"] for r in cap.result.python_logs] == ["[... 2 log records dropped ...]"]


def test_user_log_handlers_still_run_and_their_output_is_captured() -> None:
    with capture(passthrough=False):
        pass  # sys.stderr is now the tee; a handler made from here on writes through it
    stream_handler = logging.StreamHandler()
    stream_handler.setFormatter(logging.Formatter("handler saw: %(message)s"))
    log.addHandler(stream_handler)
    try:
        with capture(passthrough=False) as cap:
            log.warning("hello")
    finally:
        log.removeHandler(stream_handler)

    assert "handler saw: hello\n" in cap.result.stderr
    assert [r["message"] for r in cap.result.python_logs] == ["hello"]


def test_capture_does_not_disable_basic_config_or_the_last_resort_handler(
    run_python: RunPython,
) -> None:
    # A fresh interpreter: logging unconfigured, as in a user's script.
    report = run_python(
        """
        import json, logging, sys
        from orcapod.capture import capture

        with capture(passthrough=False) as before_config:
            logging.getLogger("app").warning("unconfigured warning")
        root_handlers_after_capture = len(logging.getLogger().handlers)
        logging.basicConfig(level=logging.INFO, format="CONFIGURED %(message)s")
        with capture(passthrough=False) as after_config:
            logging.getLogger("app").info("configured info")
        print(json.dumps({
            "root_handlers_after_capture": root_handlers_after_capture,
            "before_stderr": before_config.result.stderr,
            "before_logs": [r["message"] for r in before_config.result.python_logs],
            "after_stderr": after_config.result.stderr,
            "after_logs": [r["message"] for r in after_config.result.python_logs],
        }), file=sys.__stderr__)
        """
    )

    assert report["root_handlers_after_capture"] == 0
    assert report["before_stderr"] == "unconfigured warning\n"  # logging's last resort
    assert report["before_logs"] == ["unconfigured warning"]
    assert report["after_stderr"] == "CONFIGURED configured info\n"
    assert report["after_logs"] == ["configured info"]


def test_records_made_outside_any_capture_are_not_kept_anywhere() -> None:
    log.warning("outside")
    with capture(passthrough=False) as cap:
        pass

    assert cap.result.python_logs == ()


def test_a_replaced_log_record_factory_is_wrapped_again_without_double_capture() -> None:
    with capture(passthrough=False):
        pass
    ours = logging.getLogRecordFactory()
    made: list[str] = []

    def chaining_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = ours(*args, **kwargs)
        made.append(record.getMessage())
        return record

    logging.setLogRecordFactory(chaining_factory)
    try:
        with capture(passthrough=False) as cap:
            log.warning("once")
    finally:
        logging.setLogRecordFactory(ours)

    assert [r["message"] for r in cap.result.python_logs] == ["once"]
    assert made == ["once"]


def _record(level: str, message: str, lineno: int = 7) -> PythonLogRecord:
    return {
        "time": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "level": level,
        "logger": "pkg.mod",
        "message": message,
        "pathname": os.path.join("src", "pkg", "mod.py"),
        "lineno": lineno,
        "func": "run",
    }


def test_debug_format_shows_time_level_logger_location_and_message() -> None:
    text = format_log_records([_record("WARNING", "disk low"), _record("INFO", "ok", 9)])

    assert text.splitlines() == [
        "2026-01-02T03:04:05.678+00:00 | WARNING  | pkg.mod | mod.py:7 | disk low",
        "2026-01-02T03:04:05.678+00:00 | INFO     | pkg.mod | mod.py:9 | ok",
    ]


def test_short_format_shows_time_level_and_message() -> None:
    text = format_log_records([_record("ERROR", "failed")], style="short")

    assert text == "2026-01-02T03:04:05.678+00:00 | ERROR    | failed"


def test_an_unknown_format_style_is_refused_naming_the_choices() -> None:
    with pytest.raises(CaptureOptionError, match=r"style='loud'.*'debug'.*'short'"):
        format_log_records([], style="loud")  # type: ignore[arg-type]


def test_captured_records_render_in_the_debug_format() -> None:
    with capture(passthrough=False) as cap:
        log.error("rendered")

    (line,) = format_log_records(cap.result.python_logs).splitlines()
    assert " | ERROR    | orcapod.tests.capture.logging | test_capture_logging.py:" in line
    assert line.endswith(" | rendered")
