"""The storage layout of everything observers record (pinned in docs/observability.md).

One home for it: the observers write these tables and the reader reads them.
The names of the tables orcapod.core writes (results, node records), which the
reader's ``results`` reads, are at the end.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "HEARTBEATS_BRANCH",
    "HEARTBEAT_SCHEMA",
    "INPUT_HASH",
    "LOGS_BRANCH",
    "EARLIER_LOG_LAYOUTS",
    "LOG_COLUMNS",
    "OUTPUT_HASH",
    "PROVENANCE",
    "PYTHON_LOG",
    "RESULTS_BRANCH",
    "RESULT_RUN_ID",
    "RUNS_BRANCH",
    "RUN_SCHEMA",
    "SETUP_COLUMNS",
    "STATUS_BRANCH",
    "STATUS_COLUMNS",
    "UTC_TIME",
]

LOGS_BRANCH = "_logs"
STATUS_BRANCH = "_status"
RUNS_BRANCH = "_runs"
HEARTBEATS_BRANCH = "_heartbeats"

UTC_TIME = pa.timestamp("us", "UTC")
_STR = pa.large_string()

PYTHON_LOG = pa.struct(
    [
        ("time", UTC_TIME),
        ("level", _STR),
        ("logger", _STR),
        ("message", _STR),
        ("pathname", _STR),
        ("lineno", pa.int64()),
    ]
)
"""One captured ``logging`` record in a log row's ``__python_logs``."""

LOG_COLUMNS = pa.schema(
    [
        ("__log_id", _STR),
        ("__run_id", _STR),
        ("__node_label", _STR),
        ("__node_hash", _STR),
        ("__timestamp", UTC_TIME),
        ("__duration_s", pa.float64()),
        ("__stdout", _STR),
        ("__stderr", _STR),
        ("__python_logs", pa.large_list(PYTHON_LOG)),
        ("__traceback", _STR),
        ("__success", pa.bool_()),
        ("__attempt", pa.int64()),
        ("__executor_type", _STR),
        ("__capture_level", _STR),
        ("__stdout_bytes", pa.int64()),
        ("__stderr_bytes", pa.int64()),
        ("__stdout_truncated", pa.bool_()),
        ("__stderr_truncated", pa.bool_()),
        ("__python_logs_dropped", pa.int64()),
        ("__capture_error", _STR),
        ("__setup_output", _STR),
        ("__setup_failed", pa.bool_()),
        ("__packet_key", _STR),
    ]
)
"""The observer's own columns of a log row; tag columns follow."""

CAPTURE_METADATA_COLUMNS = (
    "__stdout_bytes",
    "__stderr_bytes",
    "__stdout_truncated",
    "__stderr_truncated",
    "__python_logs_dropped",
    "__capture_error",
)
"""Log columns added after the first release: a ``_logs`` table written before
them has every other column of LOG_COLUMNS, in the same order."""

SETUP_COLUMNS = ("__setup_output", "__setup_failed")
"""Log columns added after the capture metadata: what preparing an attempt's
environment printed and whether it failed (null for executors that prepare none)."""

EARLIER_LOG_LAYOUTS = (SETUP_COLUMNS, (*CAPTURE_METADATA_COLUMNS, *SETUP_COLUMNS))
"""The columns of LOG_COLUMNS that a ``_logs`` table of each earlier layout lacks,
newest layout first; it has the others, in the same order."""

STATUS_COLUMNS = pa.schema(
    [
        ("__status_id", _STR),
        ("__run_id", _STR),
        ("__node_label", _STR),
        ("__node_hash", _STR),
        ("__state", _STR),
        ("__timestamp", UTC_TIME),
        ("__attempt", pa.int64()),
        ("__error_summary", _STR),
        ("__source_run_id", _STR),
        ("__packet_key", _STR),
    ]
)
"""The observer's own columns of a status event; tag columns follow."""

RUN_SCHEMA = pa.schema(
    [
        ("__run_id", _STR),
        ("__pipeline", _STR),
        ("__pipeline_uri", _STR),
        ("__started_at", UTC_TIME),
        ("__ended_at", UTC_TIME),
        ("__state", _STR),
        ("__n_success", pa.int64()),
        ("__n_failed", pa.int64()),
        ("__n_cached", pa.int64()),
        ("__error", _STR),
        ("__host", _STR),
        ("__pid", pa.int64()),
        ("__orcapod_version", _STR),
        ("__python_version", _STR),
    ]
)
"""A run record (a run's start, or its end) at ``(pipeline, "_runs")``."""

HEARTBEAT_SCHEMA = pa.schema(
    [
        ("__run_id", _STR),
        ("__timestamp", UTC_TIME),
        ("__interval_s", pa.float64()),
        ("__host", _STR),
        ("__pid", pa.int64()),
        ("__process_key", _STR),
    ]
)
"""A heartbeat at ``(pipeline, "_heartbeats")``: the run's process lived at ``__timestamp``.

Written at the run's start and at its checkpoints (each flush), append-only,
in a table of its own so that ``_runs`` tables written before it keep their
schema. ``__interval_s`` is the most the writer means to let pass before the
next one; ``__process_key`` identifies the process exactly (see ``_liveness``).
"""

# -- what orcapod.core writes ------------------------------------------------------------
# orcapod.core writes these tables (its ResultCache and its function nodes'
# runs); they are named here so that ``ObservabilityReader.results`` can read a
# node's results from the store alone, without importing orcapod.core.

RESULTS_BRANCH = "_results"
"""Results of a function at ``("_results", <function name>, <identity with '-'>)``."""

INPUT_HASH = "__input_packet_hash"
"""The content hash of a result's input packet: the record id of a results table."""

OUTPUT_HASH = "__output_packet_hash"
"""The content hash of a result's output columns, in its results table and in node records."""

PROVENANCE = "__provenance"
"""A node record's source rows (a list of ``<source id>:<record id>`` strings)."""

RESULT_RUN_ID = "__run_id"
"""The run that computed a result (null for one stored outside any run)."""
