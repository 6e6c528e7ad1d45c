"""Capture metadata is stored in log rows and shown by ``orcapod logs``: byte counts,
truncation, dropped log records and a capture error, so that an empty ``__stdout``
says whether the call printed nothing or capture failed; log tables of an earlier
layout keep working; a 50 MB error message stays bounded from capture to screen; the
set-up output of an executor that prepares an environment is stored and shown."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.capture import capture
from orcapod.core import DictSource, InMemoryArrowDatabase, LocalExecutor, Pipeline, function_pod
from orcapod.observers import LoggingObserver, ObservabilityReader
from orcapod.observers._cli import LINE_CHARS, cli_commands
from orcapod.observers._layout import (
    CAPTURE_METADATA_COLUMNS,
    EARLIER_LOG_LAYOUTS,
    LOG_COLUMNS,
    SETUP_COLUMNS,
)
from orcapod.protocols.errors import RecordSchemaError
from orcapod.protocols.isolation import isolate

if TYPE_CHECKING:
    from collections.abc import Callable

import observability_records as helper

METADATA_TYPES = {
    "__stdout_bytes": pa.int64(),
    "__stderr_bytes": pa.int64(),
    "__stdout_truncated": pa.bool_(),
    "__stderr_truncated": pa.bool_(),
    "__python_logs_dropped": pa.int64(),
    "__capture_error": pa.large_string(),
}


@function_pod(output_keys="y")
def chatty(x: int) -> int:
    if x == 1:
        print("o" * 5000, end="")
        print("e" * 10, end="", file=sys.stderr)
        for i in range(30):
            logging.getLogger("orcapod.tests.metadata").warning("record %d", i)
    return x


@function_pod(output_keys="y")
def huge_error(x: int) -> int:
    print(f"before the huge error {x}")
    raise ValueError("E" * 50_000_000)


def _pipeline(database: InMemoryArrowDatabase, pod: Any, rows: int = 2) -> Pipeline:
    source = DictSource([{"k": i, "x": i} for i in range(rows)], tag_columns=["k"])
    pipeline = Pipeline("meta", database)
    with pipeline:
        pod.pod(source, label="node")
    return pipeline


def _log_rows(database: InMemoryArrowDatabase) -> dict[int, dict[str, Any]]:
    logs = ObservabilityReader(database, "meta").logs()
    return {row["k"]: row for row in logs.to_pylist()}


# -- stored ---------------------------------------------------------------------------


def test_the_metadata_columns_are_pinned_with_their_types() -> None:
    assert {name: LOG_COLUMNS.field(name).type for name in CAPTURE_METADATA_COLUMNS} == (
        METADATA_TYPES
    )
    assert LOG_COLUMNS.names[-1] == "__packet_key"


def test_byte_counts_truncation_and_dropped_records_are_stored() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database, chatty)
    pipeline.nodes["node"].executor = LocalExecutor(
        max_bytes=1000, max_records=10, passthrough=False
    )

    pipeline.run(observer=LoggingObserver(database))

    rows = _log_rows(database)
    quiet, loud = rows[0], rows[1]
    assert {name: quiet[name] for name in CAPTURE_METADATA_COLUMNS} == {
        "__stdout_bytes": 0,
        "__stderr_bytes": 0,
        "__stdout_truncated": False,
        "__stderr_truncated": False,
        "__python_logs_dropped": 0,
        "__capture_error": None,
    }
    assert loud["__stdout_bytes"] == 5000
    assert loud["__stdout_truncated"] is True
    assert len(loud["__stdout"]) < 1100
    assert (loud["__stderr_bytes"], loud["__stderr_truncated"]) == (10, False)
    assert loud["__python_logs_dropped"] == 20
    assert loud["__capture_error"] is None


def test_a_capture_that_failed_is_told_apart_from_a_call_that_printed_nothing() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database, chatty)
    pipeline.nodes["node"].executor = LocalExecutor(capture="fd", passthrough=False)

    # fd captures do not nest: inside this one, each packet's fd capture fails
    # (and falls back to sys), a real failure of capture.
    with pytest.warns(Warning, match="do not nest"), capture("fd", passthrough=False):
        pipeline.run(observer=LoggingObserver(database))

    rows = _log_rows(database)
    assert rows[0]["__stdout"] == ""
    assert "do not nest" in rows[0]["__capture_error"]
    assert rows[0]["__capture_level"] == "sys"


class _FieldsExecutor:
    """A third-party executor recording only the fields it is given (and success)."""

    executor_type = "terse"

    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def supports(self, packet_function: Any) -> bool:
        return True

    def with_options(self, **options: Any) -> _FieldsExecutor:
        return self

    def get_executor_data(self) -> dict[str, str]:
        return {}

    def get_executor_data_schema(self) -> Any:
        from orcapod.core.types import Schema

        return Schema()

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def execute_callable(self, fn: Callable[..., Any], kwargs: Any, *, logger: Any) -> Any:
        value = fn(**kwargs)
        if logger is not None:
            logger.record(success=True, executor_type="terse", **self.fields)
        return value

    async def async_execute_callable(
        self, fn: Callable[..., Any], kwargs: Any, *, logger: Any
    ) -> Any:
        return self.execute_callable(fn, kwargs, logger=logger)


def test_an_executor_that_does_not_say_leaves_the_metadata_null() -> None:
    database = InMemoryArrowDatabase()
    observer = LoggingObserver(database)
    pipeline = _pipeline(database, chatty, rows=1)
    pipeline.nodes["node"].executor = _FieldsExecutor(stdout="", stderr="")
    pipeline.run(observer=observer)

    (row,) = _log_rows(database).values()
    assert row["__executor_type"] == "terse"
    unsaid = (*CAPTURE_METADATA_COLUMNS, *SETUP_COLUMNS)
    assert {name: row[name] for name in unsaid} == dict.fromkeys(unsaid)


def _run_preparing(database: InMemoryArrowDatabase) -> None:
    pipeline = _pipeline(database, chatty, rows=1)
    pipeline.nodes["node"].executor = _FieldsExecutor(
        stdout="ran\n", setup_output="Installing numpy 2.1\n", setup_failed=False
    )
    pipeline.run(observer=LoggingObserver(database))


def test_set_up_output_is_stored_and_shown_before_the_attempts_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An executor that prepares the call's environment (Ray's runtime_env) records what
    the set-up printed: stored as __setup_output and __setup_failed, and shown by
    orcapod logs in a set-up section before stdout."""
    database = InMemoryArrowDatabase()
    _run_preparing(database)
    (row,) = _log_rows(database).values()
    assert (row["__setup_output"], row["__setup_failed"]) == ("Installing numpy 2.1\n", False)

    _orcapod_logs(_run_preparing)
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("--- set-up ---")
    assert lines[at + 1 : at + 4] == ["Installing numpy 2.1", "--- stdout ---", "ran"]


# -- log tables of the earlier layout ----------------------------------------------------


def _earlier_layout_table(
    database: InMemoryArrowDatabase,
    pipeline: Pipeline,
    lacking: tuple[str, ...] = EARLIER_LOG_LAYOUTS[-1],
) -> tuple[str, ...]:
    """A ``_logs`` table for the pipeline's node, as an earlier release wrote it
    (without the columns ``lacking``)."""
    name, label, node_hash = pipeline.nodes["node"].pipeline_path
    path = (name, "_logs", label, node_hash)
    earlier = pa.schema(
        [field for field in LOG_COLUMNS if field.name not in lacking]
        + [pa.field("k", pa.int64(), nullable=False)]
    )
    row = {field.name: None for field in earlier}
    row.update(
        {
            "__log_id": "old:0",
            "__run_id": "old",
            "__node_label": label,
            "__node_hash": node_hash,
            "__stdout": "from the earlier release\n",
            "__stderr": "",
            "__python_logs": [],
            "__success": True,
            "__attempt": 1,
            "__executor_type": "local",
            "__packet_key": "old-key",
            "k": 99,
        }
    )
    database.add_records(path, pa.Table.from_pylist([row], schema=earlier), "__log_id")
    return path


@pytest.mark.parametrize(
    "lacking", EARLIER_LOG_LAYOUTS, ids=["before-set-up-output", "before-capture-metadata"]
)
def test_a_log_table_of_an_earlier_layout_gets_new_rows_without_the_new_columns(
    caplog: pytest.LogCaptureFixture, lacking: tuple[str, ...]
) -> None:
    """Each earlier layout of ``_logs`` (the first release's; the one before set-up
    output) gets new rows without the columns it lacks, with one warning naming them."""
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database, chatty)
    path = _earlier_layout_table(database, pipeline, lacking)

    with caplog.at_level(logging.WARNING, logger="orcapod.observers"):
        pipeline.run(observer=LoggingObserver(database))
        pipeline.run(observer=LoggingObserver(database))  # cached: no new rows, no warning

    stored = database.get_all_records(path)
    assert stored is not None
    assert stored.num_rows == 3  # the earlier row and this run's two
    assert not set(lacking) & set(stored.column_names)
    assert set(LOG_COLUMNS.names) - {*lacking, "__log_id"} <= set(stored.column_names)
    warnings = [r for r in caplog.records if "earlier orcapod-observers" in r.getMessage()]
    assert len(warnings) == 1
    assert ", ".join(lacking) in warnings[0].getMessage()
    assert "Move the table aside" in warnings[0].getMessage()
    # The reader gives every row; the new columns read as null where not stored.
    rows = _log_rows(database)
    assert sorted(rows) == [0, 1, 99]
    assert rows[99]["__stdout"] == "from the earlier release\n"


def test_a_log_table_fitting_neither_layout_is_a_clear_error_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database, chatty, rows=1)
    name, label, node_hash = pipeline.nodes["node"].pipeline_path
    path = (name, "_logs", label, node_hash)
    alien = pa.table({"__log_id": ["x"], "something": ["else"]})
    database.add_records(path, alien, "__log_id")
    observer = isolate(LoggingObserver(database))  # as a run isolates its observer

    with caplog.at_level(logging.ERROR, logger="orcapod.observers"):
        result = pipeline.run(observer=observer)

    assert result.n_failed == 0  # the run went on
    (report,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert report.exc_info is not None
    assert isinstance(report.exc_info[1], RecordSchemaError)
    message = str(report.exc_info[1])
    assert repr(path) in message
    assert "fits neither" in message
    assert "move it aside" in message


# -- orcapod logs ---------------------------------------------------------------------


class _Host:
    """Opens ``memory://`` as a database built by ``build``."""

    def __init__(self, build: Callable[[InMemoryArrowDatabase], Any]) -> None:
        self.build = build

    def open_database(self, uri: str, *, create: bool = True) -> InMemoryArrowDatabase:
        database = InMemoryArrowDatabase()
        self.build(database)
        return database


def _orcapod_logs(build: Callable[[InMemoryArrowDatabase], Any], *options: str) -> None:
    parser = argparse.ArgumentParser(prog="orcapod")
    command = cli_commands()["logs"](_Host(build))  # type: ignore[arg-type]
    command.add_arguments(parser)
    args = parser.parse_args(["memory://", *options])
    assert command.run(args) == 0


def _records(database: InMemoryArrowDatabase, **capture_columns: Any) -> None:
    records = helper.Records(database, "demo", {"double": helper.DOUBLE_TAGS})
    records.run("r1", 0, 5)
    records.log(
        "double",
        helper.K1,
        run="r1",
        when=1,
        stdout=capture_columns.pop("stdout", "kept\n"),
        python_logs=capture_columns.pop("python_logs", ()),
        capture=capture_columns,
    )


def test_logs_say_when_output_was_truncated_and_how_much_was_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _orcapod_logs(
        lambda db: _records(
            db,
            __stdout_bytes=5_000_000,
            __stdout_truncated=True,
            __python_logs_dropped=20,
            python_logs=[("WARNING", "lab", "kept record")],
        )
    )
    out = capsys.readouterr().out
    assert (
        "--- stdout (truncated at capture: 5,000,000 bytes written, the head and tail kept) ---"
        in out.splitlines()
    )
    assert "--- python logs (20 records dropped at capture) ---" in out.splitlines()
    assert "capture failed" not in out


def test_logs_say_when_capture_failed_even_with_no_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _orcapod_logs(
        lambda db: _records(
            db, stdout="", __capture_error="redirecting file descriptors 1 and 2 failed: boom"
        )
    )
    lines = capsys.readouterr().out.splitlines()
    assert "capture failed: redirecting file descriptors 1 and 2 failed: boom" in lines
    assert lines[-1] == "(no output captured)"


def test_logs_show_a_set_up_failure_as_such_not_as_a_capture_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An executor that could not prepare the task's environment (Ray's runtime_env) says
    so in capture_error; the function never ran, so nothing 'may be missing'."""
    error = "set-up failed: Ray could not prepare the runtime_env (pip) of the task"
    _orcapod_logs(lambda db: _records(db, stdout="", __capture_error=error))
    lines = capsys.readouterr().out.splitlines()
    assert error in lines
    assert not any(line.startswith("capture failed") for line in lines)
    assert "(what the attempt printed or logged may be missing below)" not in lines


def test_logs_of_rows_without_metadata_show_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    _orcapod_logs(
        lambda db: _records(
            db,
            __stdout_bytes=None,
            __stdout_truncated=None,
            __python_logs_dropped=None,
        )
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:] == ["--- stdout ---", "kept"]


def _huge_error_run(database: InMemoryArrowDatabase) -> None:
    pipeline = _pipeline(database, huge_error, rows=1)
    pipeline.nodes["node"].executor = LocalExecutor(max_bytes=64 * 1024, passthrough=False)
    pipeline.run(observer=LoggingObserver(database))


def test_a_50_mb_error_message_is_stored_and_printed_bounded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = InMemoryArrowDatabase()
    _huge_error_run(database)
    (row,) = _log_rows(database).values()
    assert 64 * 1024 <= len(row["__traceback"].encode()) <= 64 * 1024 + 100
    assert row["__stdout"] == "before the huge error 0\n"

    _orcapod_logs(_huge_error_run, "--pipeline", "meta")
    shown = capsys.readouterr().out
    assert len(shown) < 30 * (LINE_CHARS + 100)
    assert "characters left out; --full shows them" in shown
    assert "ValueError: EEEE" in shown

    _orcapod_logs(_huge_error_run, "--pipeline", "meta", "--full")
    full = capsys.readouterr().out
    assert 64 * 1024 < len(full) < 64 * 1024 + 2000  # all that is stored, and no more
