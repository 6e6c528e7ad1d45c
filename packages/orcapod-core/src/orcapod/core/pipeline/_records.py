"""What a function node records so that a run can be explained from the store alone.

Three branches of the pipeline ``P`` (pinned in docs/observability.md, "Where
things are"):

- ``(P, "_identities")``: one row per node version (label and pipeline
  hash), written once: the function's identity and its components
  (``Dependency`` rows), the node's input columns and its upstream nodes.
- ``(P, "_node_runs")``: one row per run of each function node, at its start.
- ``(P, "_computed", label, hash)``: every packet of each run: its tags,
  input hash, outcome (``computed``, ``failed`` after its attempts, or
  ``cached``) and, for a computed or failed packet of several columns, the
  hash of each column. One
  record per write (a batch, or a checkpoint's part of one) holding a list per
  column, written with the results, at the same checkpoints;
  ``computed_packets`` reads them back one row per packet.
- ``(P, "_graph")``: one row per run, written when it starts: the pipeline's
  nodes (kind, label, what they are, their inputs, the executor of a function
  node) and the run's execution context (Python, host, git state), so that a
  report draws the whole DAG from the store alone.

The names a reader of the graph needs without core (the ``_graph``,
``_identities`` and ``_node_runs`` branches, their key columns and the
``_graph`` record's schema) are :mod:`orcapod.protocols.graph.records`'s,
imported here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.hashing import hash_table_rows
from orcapod.protocols.graph.records import (
    GRAPH_BRANCH,
    GRAPH_SCHEMA,
    IDENTITIES_BRANCH,
    NODE_HASH,
    NODE_LABEL,
    NODE_RUNS_BRANCH,
    RUN_ID,
    graph_path,
    identities_path,
    node_runs_path,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orcapod.protocols.values import RecordPath

__all__ = [
    "COMPONENT_TYPE",
    "COMPUTED_BRANCH",
    "GRAPH_BRANCH",
    "GRAPH_SCHEMA",
    "IDENTITIES_BRANCH",
    "IDENTITY_SCHEMA",
    "NODE_HASH",
    "NODE_LABEL",
    "NODE_RUNS_BRANCH",
    "NODE_RUN_SCHEMA",
    "RECORD_BRANCHES",
    "RUN_ID",
    "computed_packets",
    "computed_path",
    "computed_records",
    "graph_path",
    "graph_record",
    "identities_path",
    "identity_record",
    "node_run_record",
    "recorded_run",
    "node_runs_path",
]

COMPUTED_BRANCH = "_computed"
RECORD_BRANCHES = frozenset({IDENTITIES_BRANCH, NODE_RUNS_BRANCH, COMPUTED_BRANCH, GRAPH_BRANCH})
"""Branches of a pipeline that hold these records, never a node's own."""

RECORD_ID = "__record_id"
STARTED_AT = "__started_at"
INPUT_HASH = "__input_packet_hash"
OUTCOME = "__outcome"
COLUMN_HASHES = "__input_column_hashes"
COLUMN_SEPARATOR = ";"
"""Between the column hashes of ``COLUMN_HASHES`` (a rendered hash never holds it)."""

_STR = pa.large_string()
_TIME = pa.timestamp("us", "UTC")
_STRINGS = pa.list_(_STR)
COMPONENT_TYPE = pa.struct([pa.field(name, _STR) for name in ("name", "kind", "digest", "shown")])
"""One component of an identity: a ``orcapod.core.hashing.Dependency``."""

IDENTITY_SCHEMA = pa.schema(
    [
        pa.field(NODE_LABEL, _STR, False),
        pa.field(NODE_HASH, _STR, False),
        pa.field("__function", _STR, False),
        pa.field("__version", _STR, False),
        pa.field("__identity", _STR, False),
        pa.field("__source_hash", _STR),
        pa.field("__input_schema_hash", _STR),
        pa.field("__output_schema_hash", _STR),
        pa.field("__input_columns", _STRINGS),
        pa.field("__upstream_labels", _STRINGS),
        pa.field("__upstream_hashes", _STRINGS),
        pa.field("__components", pa.list_(COMPONENT_TYPE)),
        pa.field("__recorded_at", _TIME, False),
    ]
)
NODE_RUN_SCHEMA = pa.schema(
    [
        pa.field(RUN_ID, _STR, False),
        pa.field(NODE_LABEL, _STR, False),
        pa.field(NODE_HASH, _STR, False),
        pa.field(STARTED_AT, _TIME, False),
    ]
)


def computed_path(pipeline: str, label: str, node_hash: str) -> RecordPath:
    """Where a node version's computed packets are recorded: beside its own path."""
    return (pipeline, COMPUTED_BRANCH, label, node_hash.replace(":", "-"))


def graph_record(
    run_id: str,
    nodes: Sequence[dict[str, Any]],
    context: Sequence[tuple[str, str, str]],
) -> pa.Table:
    """The one-row ``_graph`` record of a run (id column included: the run id).

    Args:
        run_id: the run.
        nodes: in topological order, each a dict of the fields of
            ``orcapod.protocols.graph.records.GRAPH_NODE_TYPE``.
        context: (node label or ``""``, name, value) facts of the run's execution context.
    """
    row = {
        RECORD_ID: run_id,
        RUN_ID: run_id,
        "__recorded_at": datetime.now(UTC),
        "__nodes": list(nodes),
        "__context": [{"node": n, "name": k, "value": v} for n, k, v in context],
    }
    schema = pa.schema([pa.field(RECORD_ID, _STR, False), *GRAPH_SCHEMA])
    return pa.Table.from_pylist([row], schema=schema)


def identity_record(
    *,
    label: str,
    node_hash: str,
    function: Any,
    input_columns: Sequence[str],
    upstreams: Sequence[tuple[str, str]],
) -> pa.Table:
    """The one-row ``_identities`` record of a node version (id column included).

    ``function`` is the node's packet function; the fields only a Python
    function has (source hash, schema hashes, dependencies) are read with
    ``getattr``, so another kind of packet function records nulls there.
    """
    components = [
        {"name": d.name, "kind": d.kind, "digest": d.digest, "shown": d.shown}
        for d in getattr(function, "code_dependencies", ())
    ]
    row = {
        RECORD_ID: f"{label}|{node_hash}",
        NODE_LABEL: label,
        NODE_HASH: node_hash,
        "__function": str(function.name),
        "__version": str(getattr(function, "version", "")),
        "__identity": function.content_hash(),
        "__source_hash": getattr(function, "source_hash", None),
        "__input_schema_hash": getattr(function, "input_schema_hash", None),
        "__output_schema_hash": getattr(function, "output_schema_hash", None),
        "__input_columns": sorted(input_columns),
        "__upstream_labels": [upstream for upstream, _ in upstreams],
        "__upstream_hashes": [hash_ for _, hash_ in upstreams],
        "__components": components,
        "__recorded_at": datetime.now(UTC),
    }
    schema = pa.schema([pa.field(RECORD_ID, _STR, False), *IDENTITY_SCHEMA])
    return pa.Table.from_pylist([row], schema=schema)


def recorded_run(database: Any, pipeline: str, run_id: str, labels: Sequence[str]) -> bool:
    """Whether the store already records run ``run_id`` of one of these nodes (one
    lookup by id, not a scan)."""
    if not labels:
        return False
    ids = [f"{run_id}|{label}" for label in labels]
    found = database.get_records_by_ids(node_runs_path(pipeline), ids)
    return found is not None and found.num_rows > 0


def node_run_record(run_id: str, label: str, node_hash: str, started_at: datetime) -> pa.Table:
    """The one-row ``_node_runs`` record of a node's run (id column included)."""
    schema = pa.schema([pa.field(RECORD_ID, _STR, False), *NODE_RUN_SCHEMA])
    row = {
        RECORD_ID: f"{run_id}|{label}",
        RUN_ID: run_id,
        NODE_LABEL: label,
        NODE_HASH: node_hash,
        STARTED_AT: started_at,
    }
    return pa.Table.from_pylist([row], schema=schema)


def computed_records(
    tags: pa.Table,
    packets: pa.Table | None,
    input_hashes: pa.Array,
    counts: tuple[int, int, int],
    *,
    run_id: str,
    first: int,
) -> pa.Table:
    """The ``_computed`` record of packets of a run: one row of lists, a list per
    column (id column included).

    Args:
        tags: their tag columns: first the packets computed, then those that
            failed, then those found stored (or repeating a packet of the run).
        packets: the input packet columns of the computed and failed ones, when
            there are several (each column is hashed on its own); ``None`` for
            packets of one column. Cached packets get none: their input is
            known by its hash, whose columns an earlier computation recorded.
        input_hashes: their input packet hashes.
        counts: how many were computed, failed and cached, in that order.
        run_id: the run.
        first: how many packets the node's run recorded before these: the
            record's id is ``<run id>:<first>``.
    """
    computed, failed, cached = counts
    count = len(input_hashes)  # a stream without tags gives tables of no columns
    if packets is None or packets.num_columns < 2:
        column_hashes: pa.Array = pa.nulls(count, _STR)
    else:
        names = sorted(packets.column_names)
        width, called = len(names), packets.num_rows
        per_column = pa.concat_arrays(
            [pa.array(hash_table_rows(packets, [name]), _STR) for name in names]
        )
        # Column-major to row-major: row i's hashes are at j * called + i for each column j.
        order = pa.array([j * called + i for i in range(called) for j in range(width)], pa.int64())
        offsets = pa.array(range(0, (called + 1) * width, width), pa.int32())
        listed = pa.ListArray.from_arrays(offsets, per_column.take(order), type=_STRINGS)
        # One string per row, not a list: stores read strings without decoding each row.
        joined = pc.binary_join(listed, pa.scalar(COLUMN_SEPARATOR, _STR))
        column_hashes = pa.concat_arrays([joined, pa.nulls(count - called, _STR)])
    input_hashes = input_hashes.cast(_STR)
    outcomes = pa.concat_arrays(
        [
            pa.repeat(pa.scalar(outcome, _STR), number)
            for outcome, number in (("computed", computed), ("failed", failed), ("cached", cached))
        ]
    )
    # One record for them all: a row per packet would cost each store its per-row
    # bookkeeping (an id index) for every packet computed; explain reads them back
    # with ``computed_packets``.
    offsets = pa.array([0, count], pa.int32())

    def as_list(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        return pa.ListArray.from_arrays(offsets, values)

    return pa.Table.from_arrays(
        [
            *(as_list(column) for column in tags.columns),
            pa.array([run_id], _STR),
            as_list(input_hashes),
            as_list(outcomes),
            as_list(column_hashes),
            pa.array([f"{run_id}:{first}"], _STR),
        ],
        names=[*tags.column_names, RUN_ID, INPUT_HASH, OUTCOME, COLUMN_HASHES, RECORD_ID],
    )


def computed_packets(records: pa.Table | None) -> pa.Table | None:
    """The ``_computed`` records as one row per packet (tags, run id, input hash,
    outcome, column hashes), in the order recorded."""
    if records is None or records.num_rows == 0:
        return records
    lists = records.column(INPUT_HASH).combine_chunks()
    parents = pc.list_parent_indices(lists)
    columns = []
    for name in records.column_names:
        if name == RECORD_ID:
            continue
        column = records.column(name).combine_chunks()
        if name == RUN_ID:
            columns.append(column.take(parents))
        else:
            columns.append(pc.list_flatten(column))
    names = [name for name in records.column_names if name != RECORD_ID]
    return pa.Table.from_arrays(columns, names=names)
