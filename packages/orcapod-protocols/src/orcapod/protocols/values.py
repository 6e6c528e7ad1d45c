"""Small value types shared between core and plugins."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "CaptureLevel",
    "ErrorPolicy",
    "ExecutionRecordFields",
    "PacketState",
    "PluginKind",
    "PythonLogRecord",
    "RecordPath",
    "RunInfo",
    "RunOutcome",
    "RunState",
]

RecordPath: TypeAlias = tuple[str, ...]
"""Where a table lives in an ArrowDatabase: a tuple of validated names."""

CaptureLevel: TypeAlias = Literal["sys", "fd"]
"""How output was captured: ``sys`` (Python-level streams of this process) or
``fd`` (file descriptors 1 and 2, so C extensions and child processes too)."""

ErrorPolicy: TypeAlias = Literal["continue", "fail_fast"]
"""What a run does after a packet fails: record it and go on, or stop."""


class PacketState(enum.StrEnum):
    """States of a packet in the append-only status log; the latest event wins."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CACHED = "CACHED"
    CANCELLED = "CANCELLED"
    """The run stopped (``fail_fast``, or a signal) while the packet was in flight; written."""
    LOST = "LOST"
    """Derived by readers, never written: left ``RUNNING`` by a run that crashed."""


class RunState(enum.StrEnum):
    """States of a pipeline run in its run record."""

    RUNNING = "RUNNING"
    """Started and not ended (while its process lives and its heartbeat is fresh)."""
    SUCCESS = "SUCCESS"
    """Ended with every packet computed or cached."""
    PARTIAL = "PARTIAL"
    """Ended under ``error_policy="continue"`` with some packets failed."""
    FAILED = "FAILED"
    """Stopped early: ``fail_fast`` or an error outside any packet."""
    INTERRUPTED = "INTERRUPTED"
    """Ended cleanly by a signal (SIGTERM, SIGINT, SIGHUP): finished work was stored; written."""
    CRASHED = "CRASHED"
    """Derived by readers, never written: started, not ended, and its process is gone
    (same host, pid not alive) or its heartbeat is stale."""


class PluginKind(enum.StrEnum):
    """The kinds of things a plugin can contribute through the hooks."""

    DATABASE = "database"
    EXECUTOR = "executor"
    OBSERVER = "observer"
    CLI_COMMAND = "cli-command"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What an observer is told when a run starts."""

    run_id: str
    pipeline_name: str
    pipeline_uri: str
    """Where the pipeline's data lives (the database URI, or a description of it)."""
    started_at: datetime
    """Timezone-aware UTC."""
    flush_interval: float | None = None
    """Seconds between the run's checkpoints (``ExecutionObserver.flush`` calls), when known:
    how often a heartbeat written at each flush is refreshed."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What an observer is told when a run ends, however it ended."""

    state: RunState
    ended_at: datetime
    n_success: int
    n_failed: int
    n_cached: int
    error: str | None = None
    """The error that stopped the run, if one did (``"TypeError: ..."``)."""


class PythonLogRecord(TypedDict):
    """One captured ``logging`` record, structured so it can be queried."""

    time: datetime
    level: str
    logger: str
    message: str
    pathname: str
    lineno: int
    func: str


class ExecutionRecordFields(TypedDict, total=False):
    """The fields executors pass to ``PacketExecutionLogger.record``.

    The logger accepts any keyword, so an executor may add its own fields;
    these are the ones every observer understands.
    """

    stdout: str
    stderr: str
    stdout_bytes: int
    """Total bytes written, including any truncated."""
    stderr_bytes: int
    stdout_truncated: bool
    stderr_truncated: bool
    python_logs: list[PythonLogRecord]
    python_logs_dropped: int
    """Log records not kept because ``max_records`` was reached."""
    traceback: str | None
    success: bool
    duration_s: float
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""
    executor_type: str
    capture_level: CaptureLevel
    capture_error: str | None
    """Set when capture itself failed; the call still ran."""
    setup_output: str | None
    """What preparing the call's environment printed (Ray's runtime_env set-up: packages
    installed, a working directory fetched), for an executor that prepares one; None
    where it could not be read (``extra`` says why)."""
    setup_failed: bool
    """The environment could not be prepared: the function never ran."""
    extra: dict[str, Any]
