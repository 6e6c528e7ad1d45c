"""What Ray prints while preparing a task's runtime_env (packages, a working_dir, env
vars) is recorded beside the packet's own output, and a set-up that fails is a
set-up failure of its packets with Ray's output, not a bare error; the run goes on."""

from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import DictSource, Pipeline, function_pod
from orcapod.executors.ray import RayExecutor, RayExecutorOptionError, TaskSetupError
from orcapod.executors.ray import _setup as ray_setup
from orcapod.executors.ray._setup import SetupLog
from orcapod.protocols.testing import RecordingLogger, RecordingObserver

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.usefixtures("ray_cluster")

NO_SUCH_PACKAGE = "orcapod-no-such-package-xyz==0.0.1"


@function_pod(output_keys="seen")
def read_setup(x: int) -> str:
    with open("calibration.txt") as file:  # from the working_dir, the task's cwd
        shipped = file.read().strip()
    print(f"packet {x} sees {shipped}")
    return f"{os.environ.get('ORCAPOD_SETUP_PROBE')}:{shipped}:{x}"


def doubles(x: int) -> int:
    print(f"doubling {x}")
    return 2 * x


double = function_pod(output_keys="y")(doubles)


def rows(*xs: int) -> DictSource:
    return DictSource([{"id": f"r{x}", "x": x} for x in xs], tag_columns=["id"])


def zipped_working_dir(tmp_path: Path) -> str:
    """A working_dir as a task takes it: a zip by URI (a local directory is refused)."""
    archive = tmp_path / "working_dir.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("calibration.txt", f"gain-7 {tmp_path.name}\n")
    return f"file://{archive}"


def records_of(observer: RecordingObserver, label: str) -> list[dict[str, Any]]:
    return [record for log in observer.loggers if log.label == label for record in log.records]


def test_a_working_dir_and_env_vars_are_set_up_and_rays_set_up_output_is_recorded(
    tmp_path: Path,
) -> None:
    """Protects: a node whose executor ships a working_dir and env vars runs, and its
    records hold what Ray logged preparing that environment (the working_dir fetched),
    handed to one record; the others say nothing new was set up (``""``)."""
    uri = zipped_working_dir(tmp_path)
    env = {"env_vars": {"ORCAPOD_SETUP_PROBE": "set"}, "working_dir": uri}
    pipeline = Pipeline("setup_ok", database="memory://")
    with pipeline:
        read_setup.pod(rows(1, 2, 3), label="read")
    observer = RecordingObserver()
    result = pipeline.run(executor=RayExecutor(runtime_env=env), observer=observer)
    assert result.ok
    seen = sorted(pipeline.nodes["read"].as_table()["seen"].to_pylist())
    assert seen == [f"set:gain-7 {tmp_path.name}:{x}" for x in (1, 2, 3)]
    records = records_of(observer, "read")
    assert len(records) == 3
    assert all(r["success"] and r["setup_failed"] is False for r in records)
    outputs = [r["setup_output"] for r in records]
    assert all(isinstance(output, str) for output in outputs)
    with_output = [output for output in outputs if output]
    assert len(with_output) == 1  # the environment is prepared once, read once
    assert uri in with_output[0]  # Ray's own line: the package downloaded from the URI
    assert all("packet" in r["stdout"] and uri not in r["stdout"] for r in records)


def test_an_executor_without_runtime_env_records_no_set_up() -> None:
    """Protects: set-up fields appear only where a runtime_env was asked for."""
    logger = RecordingLogger("node", {}, {})
    assert RayExecutor().execute_callable(doubles, {"x": 2}, logger=logger) == 4
    (record,) = logger.records
    assert "setup_output" not in record
    assert "setup_failed" not in record


def test_a_package_that_cannot_be_installed_is_a_set_up_failure_with_rays_output(
    tmp_path: Path,
) -> None:
    """Protects: a pip set-up that fails (here a package that cannot exist) fails its
    packets as set-up failures, each recorded with Ray's output (the pip command), the
    function never run; the run's other node completes and the run is PARTIAL."""
    pipeline = Pipeline("setup_fails", database="memory://")
    source = rows(1, 2)
    with pipeline:
        double.pod(source, label="install")
        double.pod(source, label="plain")
    broken = RayExecutor(runtime_env={"pip": [NO_SUCH_PACKAGE]}, max_retries=2)
    pipeline.nodes["install"].executor = broken  # type: ignore[attr-defined]
    pipeline.nodes["plain"].executor = RayExecutor()  # type: ignore[attr-defined]
    observer = RecordingObserver()
    result = pipeline.run(observer=observer, error_policy="continue")
    assert not result.ok
    assert (result.nodes["install"].failed, result.nodes["plain"].computed) == (2, 2)
    records = records_of(observer, "install")
    assert len(records) == 2  # not retried: Ray already tried the set-up again
    for record in records:
        assert record["success"] is False
        assert record["setup_failed"] is True
        assert record["attempt"] == 1
        assert record["retried"] is False
        assert "pip" in record["setup_output"]  # Ray's output names what it ran
        assert record["stdout"] == ""
        assert "doubling" not in record["setup_output"]
        assert record["traceback"].startswith(
            "orcapod.executors.ray.errors.TaskSetupError: set-up failed:"
        )
        assert "\n" not in record["traceback"]  # Ray's output is stored once, as set-up
        assert record["capture_error"].startswith("set-up failed:")
        assert len(record["setup_output"].encode()) <= broken.max_bytes + 200
    # Ray's set-up log gains lines only where pip got as far as running: in an
    # environment without virtualenv (nox's) Ray refuses before writing any, so
    # only Ray's own message is certain. Reading the log is tested on its own below.
    assert all(record["setup_output"].startswith("Ray said:") for record in records)


def test_a_working_dir_that_cannot_be_fetched_fails_fast_as_a_set_up_failure(
    tmp_path: Path,
) -> None:
    """Protects: the direct call's error is TaskSetupError (not Ray's bare
    RuntimeEnvSetupError, not a retried system failure), offline and deterministic."""
    missing = f"file://{tmp_path}/no_such_working_dir.zip"
    executor = RayExecutor(runtime_env={"working_dir": missing}, max_retries=3)
    logger = RecordingLogger("node", {}, {})
    with pytest.raises(TaskSetupError, match=r"^set-up failed: .*working_dir") as caught:
        executor.execute_callable(doubles, {"x": 1}, logger=logger)
    assert "no_such_working_dir.zip" in str(caught.value)
    (record,) = logger.records
    assert record["setup_failed"] is True
    assert "no_such_working_dir.zip" in record["setup_output"]


def test_a_local_working_dir_is_refused_as_an_option_error_naming_the_fix(
    tmp_path: Path,
) -> None:
    """Protects: Ray refuses a local directory as a task's working_dir; the executor
    says which option and what to pass instead, rather than Ray's bare ValueError."""
    executor = RayExecutor(runtime_env={"working_dir": str(tmp_path)})
    with pytest.raises(RayExecutorOptionError, match=r"runtime_env=.*file:///"):
        executor.setup()


def test_a_set_up_failure_reads_as_such_in_orcapod_logs_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Protects: what a user reads: ``orcapod status`` says the packet's set-up failed,
    ``orcapod logs`` shows it with Ray's set-up output."""
    observers = pytest.importorskip("orcapod.observers")
    from orcapod.core.cli import main

    uri = f"sqlite:///{tmp_path}/runs.db"
    pipeline = Pipeline("setup_cli", database=uri)
    with pipeline:
        double.pod(rows(1), label="install")
    missing = f"file://{tmp_path}/gone.zip"
    pipeline.nodes["install"].executor = RayExecutor(  # type: ignore[attr-defined]
        runtime_env={"working_dir": missing}
    )
    database = pipeline.database  # type: ignore[attr-defined]
    observer = observers.CompositeObserver(
        observers.LoggingObserver(database), observers.StatusObserver(database)
    )
    assert not pipeline.run(observer=observer, error_policy="continue").ok
    capsys.readouterr()
    assert main(["status", uri, "--pipeline", "setup_cli"]) == 0
    status = capsys.readouterr().out
    assert "FAILED" in status
    assert "TaskSetupError: set-up failed" in status
    assert main(["logs", uri, "--pipeline", "setup_cli"]) == 0
    logs = capsys.readouterr().out
    assert "set-up failed" in logs
    assert "--- set-up ---" in logs
    assert "gone.zip" in logs.split("--- set-up ---")[1]
    (row,) = observers.ObservabilityReader(database, "setup_cli").logs().to_pylist()
    assert row["__setup_failed"] is True
    assert "gone.zip" in row["__setup_output"]


def test_the_set_up_log_is_read_from_where_the_last_read_ended_and_bounded(
    tmp_path: Path,
) -> None:
    """Protects: each record gets only the lines written since the previous read, and a
    huge set-up log is kept as head and tail within max_bytes, never read whole."""
    path = tmp_path / "runtime_env_setup-01000000.log"
    path.write_text("before the executor\n")
    log = SetupLog(str(path))
    assert log.read_new(1000) == ("", None)
    with path.open("a") as file:
        file.write("installing numpy\n")
    assert log.read_new(1000) == ("installing numpy\n", None)
    with path.open("a") as file:
        file.write("H" * 10_000 + "x" * 1_000_000 + "T" * 10_000)
    output, error = log.read_new(20_000)
    assert error is None
    assert output is not None
    assert output.startswith("H" * 10_000)
    assert output.endswith("T" * 10_000)
    assert "[... 1000000 bytes truncated ...]" in output


def test_a_set_up_log_that_cannot_be_read_is_noted_and_the_call_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects: reading Ray's set-up log never fails a call: the record says the
    output is unknown (None) and why, in ``extra``."""
    path = tmp_path / "runtime_env_setup-01000000.log"
    log = SetupLog(str(path))
    path.write_text("set-up lines\n")

    def broken(*args: Any) -> str:
        raise OSError("disk gone")

    monkeypatch.setattr(ray_setup, "_read_range", broken)
    executor = RayExecutor(runtime_env={"env_vars": {"ORCAPOD_SETUP_PROBE": "1"}})
    executor.setup()
    executor._setup_log = log
    logger = RecordingLogger("node", {}, {})
    assert executor.execute_callable(doubles, {"x": 3}, logger=logger) == 6
    (record,) = logger.records
    assert record["success"] is True
    assert record["setup_output"] is None
    assert "disk gone" in record["extra"]["setup_output_missing"]
