"""``orcapod runs``, ``status`` and ``logs`` with ``--json``: JSON lines matching the reader,
run through argparse (as ``orcapod`` would) on the records of a real pipeline run, in memory."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import observability_records as helper
import pyarrow as pa
import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    StatusObserver,
)
from orcapod.observers._cli import cli_commands

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

CONTROL_TAG = "a\x00b\x1b[31mc"


@function_pod(output_keys="y")
def halve(x: int) -> int:
    print(f"halving {x}\x1b[0m")
    if x % 2:
        raise ValueError(f"odd input {x}")
    return x // 2


_STORES: dict[str, InMemoryArrowDatabase] = {}


def main(argv: list[str]) -> int:
    """``orcapod ARGV`` with this package's sub-commands, the URI naming a database of _STORES."""
    parser = argparse.ArgumentParser(prog="orcapod")
    subparsers = parser.add_subparsers(dest="command")
    for name, factory in cli_commands().items():
        command = factory(helper.SameDatabaseHost(_STORES[argv[1]]))
        sub = subparsers.add_parser(name, help=command.help)
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    args = parser.parse_args(argv)
    return args._command.run(args)  # type: ignore[no-any-return]


def open_database(uri: str) -> InMemoryArrowDatabase:
    _STORES[uri] = _STORES.get(uri) or InMemoryArrowDatabase()
    return _STORES[uri]


@pytest.fixture(scope="module")
def store() -> str:
    """A store holding one run of ``halve`` over three packets, one of them failing."""
    uri = "memory://store"
    database = open_database(uri)
    source = DictSource(
        [{"id": CONTROL_TAG, "x": 2}, {"id": "odd", "x": 3}, {"id": "even", "x": 4}],
        tag_columns=["id"],
    )
    pipeline = Pipeline("demo", database)
    with pipeline:
        halve.pod(source, label="halve")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    assert pipeline.run(observer=observer).state == "PARTIAL"
    return uri


def _reader_rows(uri: str, read: str, **options: Any) -> list[dict[str, Any]]:
    table = getattr(ObservabilityReader(open_database(uri), "demo"), read)(**options)
    return table.to_pylist()  # type: ignore[no-any-return]


def _json_lines(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert main(list(argv)) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return [json.loads(line) for line in out.splitlines()]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def test_runs_json_is_one_object_per_run_matching_the_reader(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _json_lines(capsys, "runs", store, "--json")
    expected = _reader_rows(store, "runs")
    assert len(lines) == len(expected) == 1
    for line, row in zip(lines, expected, strict=True):
        assert line == {
            "run_id": row["__run_id"],
            "state": "PARTIAL",
            "started_at": _iso(row["__started_at"]),
            "ended_at": _iso(row["__ended_at"]),
            "n_success": 2,
            "n_failed": 1,
            "n_cached": 0,
            "host": row["__host"],
            "pid": row["__pid"],
            "error": None,
        }
        assert isinstance(line["pid"], int)


def test_status_json_is_one_object_per_packet_matching_the_reader(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _json_lines(capsys, "status", store, "--json")
    expected = _reader_rows(store, "status", node="halve")
    assert len(lines) == len(expected) == 3
    for line, row in zip(lines, expected, strict=True):
        assert line == {
            "node_label": "halve",
            "state": row["__state"],
            "attempt": row["__attempt"],
            "timestamp": _iso(row["__timestamp"]),
            "run_id": row["__run_id"],
            "tags": {"id": row["id"]},
            "detail": row["__error_summary"],
        }
    states = {line["tags"]["id"]: line["state"] for line in lines}
    assert states == {CONTROL_TAG: "SUCCESS", "odd": "FAILED", "even": "SUCCESS"}
    failed = _json_lines(capsys, "status", store, "--json", "--failed")
    assert [line["tags"]["id"] for line in failed] == ["odd"]
    assert failed[0]["detail"] == "ValueError: odd input 3"


def test_logs_json_is_one_complete_object_per_attempt_matching_the_reader(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _json_lines(capsys, "logs", store, "--json")
    expected = _reader_rows(store, "logs")
    assert len(lines) == len(expected) == 3
    for line, row in zip(lines, expected, strict=True):
        assert line["tags"] == {"id": row["id"]}
        assert line["state"] == ("SUCCESS" if row["__success"] else "FAILED")
        assert line["timestamp"] == _iso(row["__timestamp"])
        for name, value in row.items():
            if name.startswith("__") and name != "__timestamp":
                assert line[name[2:]] == value, name
    failed = _json_lines(capsys, "logs", store, "--json", "--failed")
    assert len(failed) == 1
    assert failed[0]["stdout"] == "halving 3\x1b[0m\n"
    assert failed[0]["traceback"].rstrip().endswith("ValueError: odd input 3")


@pytest.mark.parametrize("command", ["status", "logs"])
def test_a_control_character_tag_round_trips_exactly(
    store: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, store]) == 0
    text = capsys.readouterr().out
    assert "\x00" not in text  # the text output stays escaped
    assert "\x1b" not in text
    assert "a\\x00b\\x1b[31mc" in text
    lines = _json_lines(capsys, command, store, "--json")
    assert sorted(line["tags"]["id"] for line in lines) == sorted([CONTROL_TAG, "odd", "even"])


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--node", "halve", "--failed"],
        ["logs", "--failed"],
        ["logs", "--tag", "id=nobody"],
        ["runs"],
    ],
)
def test_json_with_no_rows_prints_nothing_and_exits_as_text_does(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"memory://{tmp_path}"
    database = open_database(uri)
    records = helper.Records(database, "demo", {"halve": pa.schema([("id", pa.large_string())])})
    records.event("halve", {"id": "only"}, "SUCCESS", run="run-1", when=1.0)
    records.log("halve", {"id": "only"}, run="run-1", when=1.0)
    command, *options = argv
    assert main([command, uri, *options]) == 0
    assert capsys.readouterr().out.startswith("no ")
    assert main([command, uri, *options, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""
