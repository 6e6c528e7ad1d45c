"""The observed pipeline on every durable store, each step in a fresh process.

A first process runs a pipeline (one packet fails) with LoggingObserver and
StatusObserver on the store; a second reads everything back from the store
alone; a third runs again and finds every result cached.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from orcapod.protocols.testing.postgres import PostgresServer

PIPELINE = """
    import logging
    import sys
    from datetime import datetime, timezone

    from orcapod.core import DictSource, Pipeline, function_pod, open_database
    from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

    @function_pod(output_keys="ratio")
    def ratio(a: int, b: int) -> float:
        print(f"dividing {a} by {b}")
        logging.getLogger("lab").warning("ratio of %d and %d", a, b)
        return a / b

    database = open_database(sys.argv[1])
    source = DictSource(
        [
            {
                "subject": f"s{i}",
                "trial": i,
                "when": datetime(2024, 5, 1, 9, i, tzinfo=timezone.utc),
                "a": 10 * i,
                "b": i - 2,
            }
            for i in range(5)
        ],
        tag_columns=["subject", "trial", "when"],
        source_id="trials",
    )
    pipeline = Pipeline("lab", database)
    with pipeline:
        ratio.pod(source, label="ratio")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    result = pipeline.run(observer=observer)
    counts = result.nodes["ratio"]
    print(f"RESULT {counts.computed} {counts.cached} {counts.failed}")
    database.close()
"""

READER = """
    import json
    import sys

    from orcapod.core import open_database
    from orcapod.observers import ObservabilityReader

    database = open_database(sys.argv[1])
    reader = ObservabilityReader(database, pipeline="lab")
    runs = reader.runs()
    logs = reader.logs(node="ratio")
    failed = reader.logs(node="ratio", failed_only=True).to_pylist()
    latest = reader.status(node="ratio")
    print(json.dumps({
        "runs": sorted(runs.column("__state").to_pylist()),
        "log_rows": logs.num_rows,
        "tag_types": {n: str(logs.schema.field(n).type) for n in ("subject", "trial", "when")},
        "failed": [
            {"subject": r["subject"], "stdout": r["__stdout"], "traceback": r["__traceback"]}
            for r in failed
        ],
        "warnings": sorted(
            log["message"] for r in logs.to_pylist() for log in r["__python_logs"]
        ),
        "states": sorted(
            zip(latest.column("subject").to_pylist(), latest.column("__state").to_pylist())
        ),
    }))
    database.close()
"""


def _run(script: str, uri: str, cwd: Path) -> str:
    """Run ``script`` from a file (function pods need their source) in a new process."""
    file = cwd / ("pipeline.py" if script is PIPELINE else "reader.py")
    file.write_text(textwrap.dedent(script))
    result = subprocess.run(
        [sys.executable, str(file), uri],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _check_store(uri: str, cwd: Path) -> None:
    first = _run(PIPELINE, uri, cwd)
    assert "RESULT 4 0 1" in first

    read = json.loads(_run(READER, uri, cwd).strip().splitlines()[-1])
    assert read["runs"] == ["PARTIAL"]
    assert read["log_rows"] == 5
    assert read["tag_types"] == {
        "subject": "large_string",
        "trial": "int64",
        "when": "timestamp[us, tz=UTC]",
    }
    [failed] = read["failed"]
    assert failed["subject"] == "s2"
    assert failed["stdout"] == "dividing 20 by 0\n"
    assert "ZeroDivisionError: division by zero" in failed["traceback"]
    assert read["warnings"] == [f"ratio of {10 * i} and {i - 2}" for i in range(5)]
    assert read["states"] == [
        ["s0", "SUCCESS"],
        ["s1", "SUCCESS"],
        ["s2", "FAILED"],
        ["s3", "SUCCESS"],
        ["s4", "SUCCESS"],
    ]

    again = _run(PIPELINE, uri, cwd)
    assert "RESULT 0 4 1" in again  # the failed packet is tried again, and fails again
    reread: dict[str, Any] = json.loads(_run(READER, uri, cwd).strip().splitlines()[-1])
    assert reread["runs"] == ["PARTIAL", "PARTIAL"]
    assert ["s0", "CACHED"] in reread["states"]


def test_delta_store_keeps_results_logs_and_status_across_processes(tmp_path: Path) -> None:
    _check_store("delta://store", tmp_path)


def test_sqlite_store_keeps_results_logs_and_status_across_processes(tmp_path: Path) -> None:
    _check_store(f"sqlite:///{tmp_path}/store.db", tmp_path)


@pytest.mark.postgres
def test_postgres_store_keeps_results_logs_and_status_across_processes(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    _check_store(postgres.url(), tmp_path)
