"""A real pipeline, observed by every observer, then read back by the reader and the CLI."""

from __future__ import annotations

import argparse
import io
import logging
from typing import Any

import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    ProgressObserver,
    StatusObserver,
)
from orcapod.observers._cli import cli_commands


@function_pod(output_keys="ratio")
def ratio(a: int, b: int) -> float:
    print(f"dividing {a} by {b}")
    logging.getLogger("lab").info("ratio of %d and %d", a, b)
    return a / b


class _Borrowed:
    """The test's database, lent to one command: the command's close() leaves it open."""

    def __init__(self, database: InMemoryArrowDatabase) -> None:
        self._database = database

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)

    def close(self) -> None:
        pass


class _Host:
    def __init__(self, database: InMemoryArrowDatabase) -> None:
        self.database = database

    def open_database(self, uri: str, *, create: bool = True) -> Any:
        return _Borrowed(self.database)

    def get_executor(self, name: str, **options: Any) -> Any:
        raise NotImplementedError

    def get_observer(self, name: str, **options: Any) -> Any:
        raise NotImplementedError


def _orcapod(database: InMemoryArrowDatabase, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="orcapod")
    subparsers = parser.add_subparsers()
    for name, factory in cli_commands().items():
        command = factory(_Host(database))
        command.add_arguments(subparsers.add_parser(name))
        subparsers.choices[name].set_defaults(command=command)
    args = parser.parse_args(argv)
    return int(args.command.run(args))


@pytest.mark.parametrize("orchestrator", ["sync", "async"])
def test_an_observed_run_is_found_again_by_the_reader_and_the_cli(
    orchestrator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = Pipeline("lab", database)
    rows = [{"pair": i, "a": i, "b": i - 2} for i in range(5)]  # pair 2 divides by zero
    with pipeline:
        ratio.pod(DictSource(rows, tag_columns=["pair"]), label="ratio")
    progress = ProgressObserver(file=io.StringIO(), force=True)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database), progress)
    first = pipeline.run(orchestrator, observer=observer)
    second = pipeline.run(orchestrator, observer=observer)

    reader = ObservabilityReader(database, "lab")
    runs = reader.runs().to_pylist()
    assert {run["__run_id"] for run in runs} == {first.run_id, second.run_id}
    assert {run["__state"] for run in runs} == {"PARTIAL"}
    latest = {row["pair"]: row["__state"] for row in reader.status(node="ratio").to_pylist()}
    assert latest == {0: "CACHED", 1: "CACHED", 2: "FAILED", 3: "CACHED", 4: "CACHED"}
    failed = reader.logs(node="ratio", failed_only=True).to_pylist()
    assert {row["pair"] for row in failed} == {2}
    assert all("ZeroDivisionError" in row["__traceback"] for row in failed)
    assert all(row["__stdout"] == "dividing 2 by 0\n" for row in failed)

    capsys.readouterr()
    assert _orcapod(database, "logs", "memory://", "--failed", "--run", first.run_id) == 0
    shown = capsys.readouterr().out
    assert "dividing 2 by 0" in shown
    assert "ZeroDivisionError" in shown
    assert _orcapod(database, "status", "memory://", "--node", "ratio") == 0
    assert "FAILED" in capsys.readouterr().out
    assert _orcapod(database, "logs", "memory://", "--node", "nope") == 1
    assert "nope" in capsys.readouterr().err
