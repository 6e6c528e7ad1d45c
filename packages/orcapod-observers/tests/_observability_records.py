"""Writes log rows, status events and run records exactly as docs/observability.md lays them out.

Loaded by file path from the reader and CLI tests (the tests folder is not a
package): see ``load_records_helper`` in them. Rows are written straight to
the database, so the reader is tested against the documented layout, not
against the observers' own code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from orcapod.protocols.database import ArrowDatabase

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
UTC_TIME = pa.timestamp("us", tz="UTC")
TEXT = pa.large_string()

PYTHON_LOG = pa.struct(
    [
        ("time", UTC_TIME),
        ("level", TEXT),
        ("logger", TEXT),
        ("message", TEXT),
        ("pathname", TEXT),
        ("lineno", pa.int64()),
    ]
)
LOG_COLUMNS = pa.schema(
    [
        ("__log_id", TEXT),
        ("__run_id", TEXT),
        ("__node_label", TEXT),
        ("__node_hash", TEXT),
        ("__timestamp", UTC_TIME),
        ("__duration_s", pa.float64()),
        ("__stdout", TEXT),
        ("__stderr", TEXT),
        ("__python_logs", pa.large_list(PYTHON_LOG)),
        ("__traceback", TEXT),
        ("__success", pa.bool_()),
        ("__attempt", pa.int64()),
        ("__executor_type", TEXT),
        ("__capture_level", TEXT),
        ("__stdout_bytes", pa.int64()),
        ("__stderr_bytes", pa.int64()),
        ("__stdout_truncated", pa.bool_()),
        ("__stderr_truncated", pa.bool_()),
        ("__python_logs_dropped", pa.int64()),
        ("__capture_error", TEXT),
        ("__packet_key", TEXT),
    ]
)
STATUS_COLUMNS = pa.schema(
    [
        ("__status_id", TEXT),
        ("__run_id", TEXT),
        ("__node_label", TEXT),
        ("__node_hash", TEXT),
        ("__state", TEXT),
        ("__timestamp", UTC_TIME),
        ("__attempt", pa.int64()),
        ("__error_summary", TEXT),
        ("__source_run_id", TEXT),
        ("__packet_key", TEXT),
    ]
)
RUN_COLUMNS = pa.schema(
    [
        ("__record_id", TEXT),
        ("__run_id", TEXT),
        ("__pipeline", TEXT),
        ("__pipeline_uri", TEXT),
        ("__started_at", UTC_TIME),
        ("__ended_at", UTC_TIME),
        ("__state", TEXT),
        ("__n_success", pa.int64()),
        ("__n_failed", pa.int64()),
        ("__n_cached", pa.int64()),
        ("__error", TEXT),
        ("__host", TEXT),
        ("__pid", pa.int64()),
        ("__orcapod_version", TEXT),
        ("__python_version", TEXT),
    ]
)
HEARTBEAT_COLUMNS = pa.schema(
    [
        ("__heartbeat_id", TEXT),
        ("__run_id", TEXT),
        ("__timestamp", UTC_TIME),
        ("__interval_s", pa.float64()),
        ("__host", TEXT),
        ("__pid", pa.int64()),
        ("__process_key", TEXT),
    ]
)


def at(seconds: float) -> datetime:
    """``seconds`` after the fixed start time of every test run."""
    return T0 + timedelta(seconds=seconds)


class Records:
    """Adds observability records of one pipeline to a database.

    Args:
        database: where the records go.
        pipeline: the pipeline's name.
        tag_types: each node's tag columns and their Arrow types.
    """

    def __init__(
        self, database: ArrowDatabase, pipeline: str, tag_types: Mapping[str, pa.Schema]
    ) -> None:
        self.database = database
        self.pipeline = pipeline
        self.tag_types = dict(tag_types)
        self._serial = 0

    def run(
        self,
        run_id: str,
        started: float,
        ended: float | None = None,
        *,
        state: str = "SUCCESS",
        counts: tuple[int, int, int] = (0, 0, 0),
        error: str | None = None,
    ) -> None:
        """A run's start record, and its end record unless ``ended`` is None (a crash)."""
        self._run_record(f"{run_id}:start", run_id, started, None, "RUNNING", None, None)
        if ended is not None:
            self._run_record(f"{run_id}:end", run_id, started, ended, state, counts, error)

    def _run_record(
        self,
        record_id: str,
        run_id: str,
        started: float,
        ended: float | None,
        state: str,
        counts: tuple[int, int, int] | None,
        error: str | None,
    ) -> None:
        n_success, n_failed, n_cached = counts if counts is not None else (None, None, None)
        row = {
            "__record_id": record_id,
            "__run_id": run_id,
            "__pipeline": self.pipeline,
            "__pipeline_uri": "memory://",
            "__started_at": at(started),
            "__ended_at": None if ended is None else at(ended),
            "__state": state,
            "__n_success": n_success,
            "__n_failed": n_failed,
            "__n_cached": n_cached,
            "__error": error,
            "__host": "lab-host",
            "__pid": 4242,
            "__orcapod_version": "0.0.0",
            "__python_version": "3.11.9",
        }
        table = pa.Table.from_pylist([row], schema=RUN_COLUMNS)
        self.database.add_records((self.pipeline, "_runs"), table, "__record_id")

    def heartbeat(
        self, run_id: str, when: datetime, *, interval: float | None = 5.0, pid: int = 4242
    ) -> None:
        """A heartbeat of ``run_id`` from ``lab-host`` at ``when`` (a real time, not ``at``)."""
        self._serial += 1
        row = {
            "__heartbeat_id": f"{run_id}:beat-{self._serial}",
            "__run_id": run_id,
            "__timestamp": when,
            "__interval_s": interval,
            "__host": "lab-host",
            "__pid": pid,
            "__process_key": None,
        }
        table = pa.Table.from_pylist([row], schema=HEARTBEAT_COLUMNS)
        self.database.add_records((self.pipeline, "_heartbeats"), table, "__heartbeat_id")

    def log(
        self,
        node: str,
        tags: Mapping[str, Any],
        *,
        run: str,
        when: float,
        success: bool = True,
        attempt: int = 1,
        stdout: str = "",
        stderr: str = "",
        python_logs: Sequence[tuple[str, str, str]] = (),
        traceback: str | None = None,
        packet_key: str | None = None,
        node_hash: str = "h1",
        capture: Mapping[str, Any] | None = None,
    ) -> None:
        """One log row of an executed attempt; ``python_logs`` as (level, logger, message);
        ``capture`` overrides capture metadata columns (``{"__stdout_truncated": True}``)."""
        self._serial += 1
        fixed = {
            "__log_id": f"log-{self._serial}",
            "__run_id": run,
            "__node_label": node,
            "__node_hash": node_hash,
            "__timestamp": at(when),
            "__duration_s": 0.25,
            "__stdout": stdout,
            "__stderr": stderr,
            "__python_logs": [
                {
                    "time": at(when),
                    "level": level,
                    "logger": logger,
                    "message": message,
                    "pathname": "/lab/pods.py",
                    "lineno": 7,
                }
                for level, logger, message in python_logs
            ],
            "__traceback": traceback,
            "__success": success,
            "__attempt": attempt,
            "__executor_type": "local",
            "__capture_level": "sys",
            "__stdout_bytes": len(stdout.encode()),
            "__stderr_bytes": len(stderr.encode()),
            "__stdout_truncated": False,
            "__stderr_truncated": False,
            "__python_logs_dropped": 0,
            "__capture_error": None,
            "__packet_key": packet_key or self.key(node, tags),
            **(capture or {}),
        }
        self._add(node, node_hash, "_logs", LOG_COLUMNS, fixed, tags)

    def event(
        self,
        node: str,
        tags: Mapping[str, Any],
        state: str,
        *,
        run: str,
        when: float,
        attempt: int = 1,
        error: str | None = None,
        source_run: str | None = None,
        node_hash: str = "h1",
    ) -> None:
        """One status event of a packet."""
        self._serial += 1
        fixed = {
            "__status_id": f"status-{self._serial}",
            "__run_id": run,
            "__node_label": node,
            "__node_hash": node_hash,
            "__state": state,
            "__timestamp": at(when),
            "__attempt": attempt,
            "__error_summary": error,
            "__source_run_id": source_run,
            "__packet_key": self.key(node, tags),
        }
        self._add(node, node_hash, "_status", STATUS_COLUMNS, fixed, tags)

    def key(self, node: str, tags: Mapping[str, Any]) -> str:
        """The packet key of a packet with ``tags`` (stands in for its provenance)."""
        return "src:" + "|".join(f"{name}={tags[name]}" for name in self.tag_types[node].names)

    def _add(
        self,
        node: str,
        node_hash: str,
        branch: str,
        fixed_schema: pa.Schema,
        fixed: dict[str, Any],
        tags: Mapping[str, Any],
    ) -> None:
        schema = pa.schema([*fixed_schema, *self.tag_types[node]])
        table = pa.Table.from_pylist([{**fixed, **tags}], schema=schema)
        path = (self.pipeline, branch, node, node_hash)
        self.database.add_records(path, table, fixed_schema.names[0])


DOUBLE_TAGS = pa.schema([("id", pa.int64()), ("sample", pa.large_string())])
WHEN_TAGS = pa.schema([("when", UTC_TIME), ("id", pa.int64())])

K1 = {"id": 1, "sample": "a"}
K2 = {"id": 2, "sample": "b"}
K3 = {"id": 3, "sample": "c"}
W1 = {"when": at(-3600), "id": 10}
W2 = {"when": at(-7200), "id": 20}

TRACEBACK_1 = 'Traceback (most recent call last):\n  File "pods.py", line 7\nValueError: bad 3\n'
TRACEBACK_2 = 'Traceback (most recent call last):\n  File "pods.py", line 7\nValueError: worse 3\n'
TRACEBACK_R2 = 'Traceback (most recent call last):\n  File "pods.py", line 7\nValueError: still 3\n'


def demo_records(database: ArrowDatabase, pipeline: str = "demo") -> Records:
    """Three runs of a two-node pipeline, with a retry, cached packets and a crash.

    - ``r1`` (t=0..50, PARTIAL): ``double`` computes k1, k2; k3 fails twice
      (attempt 2 starts at the same instant attempt 1 fails); ``when``
      computes w1, w2.
    - ``r2`` (t=100..150, PARTIAL): k1, k2, w2 cached from r1; k3 fails
      again, its FAILED event at the same instant as its RUNNING event; w1
      computes.
    - ``r3`` (t=200, no end: the process died): w1 is RUNNING, nothing else.
      It has no heartbeat, so its start, long ago, was its last sign of life:
      readers show it CRASHED, and w1 LOST.
    """
    records = Records(database, pipeline, {"double": DOUBLE_TAGS, "when": WHEN_TAGS})
    records.run("r1", 0, 50, state="PARTIAL", counts=(4, 1, 0), error=None)
    records.run("r2", 100, 150, state="PARTIAL", counts=(1, 1, 3))
    records.run("r3", 200)

    for n, tags in enumerate((K1, K2), start=1):
        records.event("double", tags, "RUNNING", run="r1", when=n)
        records.event("double", tags, "SUCCESS", run="r1", when=n + 0.5)
        records.log(
            "double",
            tags,
            run="r1",
            when=n + 0.5,
            stdout=f"doubling {tags['id']}\n",
            python_logs=[("INFO", "lab.double", f"input {tags['id']}")],
        )
    records.event("double", K3, "RUNNING", run="r1", when=3)
    records.event("double", K3, "FAILED", run="r1", when=4, error="ValueError: bad 3")
    records.log(
        "double", K3, run="r1", when=4, success=False, stderr="warn 3\n", traceback=TRACEBACK_1
    )
    records.event("double", K3, "RUNNING", run="r1", when=4, attempt=2)
    records.event("double", K3, "FAILED", run="r1", when=5, attempt=2, error="ValueError: worse 3")
    records.log("double", K3, run="r1", when=5, success=False, attempt=2, traceback=TRACEBACK_2)
    for n, tags in enumerate((W1, W2), start=10):
        records.event("when", tags, "RUNNING", run="r1", when=n, node_hash="h2")
        records.event("when", tags, "SUCCESS", run="r1", when=n + 1, node_hash="h2")
        records.log("when", tags, run="r1", when=n + 1, stdout="tick\n", node_hash="h2")

    records.event("double", K1, "CACHED", run="r2", when=101, source_run="r1")
    records.event("double", K2, "CACHED", run="r2", when=101, source_run="r1")
    records.event("double", K3, "FAILED", run="r2", when=102, error="ValueError: still 3")
    records.event("double", K3, "RUNNING", run="r2", when=102)
    records.log("double", K3, run="r2", when=102, success=False, traceback=TRACEBACK_R2)
    records.event("when", W2, "CACHED", run="r2", when=103, source_run="r1", node_hash="h2")
    records.event("when", W1, "RUNNING", run="r2", when=104, node_hash="h2")
    records.event("when", W1, "SUCCESS", run="r2", when=105, node_hash="h2")
    records.log("when", W1, run="r2", when=105, stdout="tock\n", node_hash="h2")

    records.event("when", W1, "RUNNING", run="r3", when=201, node_hash="h2")
    return records


class KeptDatabase:
    """A database a command may close without losing it (the test reads it afterwards)."""

    def __init__(self, database: ArrowDatabase) -> None:
        self._database = database

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)

    def close(self) -> None:
        pass


class SameDatabaseHost:
    """A CLI host opening every URI as the database given (``memory://`` cannot be reopened)."""

    def __init__(self, database: ArrowDatabase) -> None:
        self.database = database

    def open_database(self, uri: str, *, create: bool = True) -> Any:
        return KeptDatabase(self.database)

    def get_executor(self, name: str, **options: Any) -> Any:
        raise NotImplementedError

    def get_observer(self, name: str, **options: Any) -> Any:
        raise NotImplementedError
