"""A table observer holds a checkpoint's rows as Arrow chunks of CHUNK_ROWS rows.

Rows are turned into Arrow every CHUNK_ROWS rows (so thousands of held rows
are not thousands of Python objects) and reach the database only at the
run's flush: every row is written once, with its own running id, whatever
the number of chunks; a database that refuses an add keeps the chunks not
added for the next flush, and none is added twice.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, Tag, function_pod
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver
from orcapod.observers._tables import CHUNK_ROWS, CONSTANT_COLUMNS
from orcapod.protocols.errors import DatabaseError

PACKETS = 2 * CHUNK_ROWS + 300  # two whole chunks and part of a third


@function_pod(output_keys="y")
def shout(x: int) -> int:
    print(f"row {x}")
    return x * 3


def _pipeline(database: Any) -> Pipeline:
    source = DictSource([{"k": i, "x": i} for i in range(PACKETS)], tag_columns=["k"])
    pipeline = Pipeline("chunks", database)
    with pipeline:
        shout.pod(source, label="shout")
    return pipeline


def _tables(database: Any, pipeline: Pipeline) -> tuple[pa.Table, pa.Table]:
    name, label, node_hash = pipeline.nodes["shout"].pipeline_path
    logs = database.get_all_records((name, "_logs", label, node_hash), record_id_column="id")
    status = database.get_all_records((name, "_status", label, node_hash), record_id_column="id")
    assert logs is not None
    assert status is not None
    return logs, status


def test_every_row_of_many_chunks_is_written_once_with_its_own_id() -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(database)
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))

    # One checkpoint for the whole run: every row is held until the node's end.
    pipeline.run(observer=observer, flush_every=10 * PACKETS, flush_interval=3600)

    logs, status = _tables(database, pipeline)
    assert logs.num_rows == PACKETS
    assert status.num_rows == 2 * PACKETS
    for table in (logs, status):
        ids = table.column("id").to_pylist()
        assert len(set(ids)) == len(ids)
        run_ids = {i.rsplit(":", 1)[0] for i in ids}
        assert len(run_ids) == 1
        assert sorted(int(i.rsplit(":", 1)[1]) for i in ids) == list(range(table.num_rows))
    printed = sorted(logs.column("__stdout").to_pylist())
    assert printed == sorted(f"row {x}\n" for x in range(PACKETS))


class _RefusesOnce(InMemoryArrowDatabase):
    """An in-memory store whose second add of log rows fails once (as a store that
    lost its connection would), then works again."""

    def __init__(self) -> None:
        super().__init__()
        self.log_adds = 0

    def add_records(self, path: Any, records: pa.Table, *args: Any, **kwargs: Any) -> None:
        if "_logs" in path:
            self.log_adds += 1
            if self.log_adds == 2:
                raise DatabaseError("the store went away for a moment")
        super().add_records(path, records, *args, **kwargs)


def test_a_failed_add_keeps_the_chunks_not_added_and_adds_none_twice() -> None:
    database = _RefusesOnce()
    pipeline = _pipeline(database)
    logging_observer = LoggingObserver(database)

    result = pipeline.run(observer=logging_observer, flush_every=10 * PACKETS, flush_interval=3600)

    assert result.n_computed == PACKETS  # the observer's failure is not the run's
    # The failed add (the second chunk) made the observer skip the rest of the run;
    # the run's end still reaches it, and its flush there adds the chunks it held.
    assert database.log_adds > 2
    name, label, node_hash = pipeline.nodes["shout"].pipeline_path
    logs = database.get_all_records((name, "_logs", label, node_hash), record_id_column="id")
    assert logs is not None
    ids = logs.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == PACKETS


# -- what a held row keeps of its tag ---------------------------------------------------


class _Plain:
    """A tag of another kind: no Arrow row to read it from (values one by one)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def system_tags(self) -> dict[str, Any]:
        return {"__provenance": [f"plain:{self.k}"]}

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k}


def test_held_rows_leave_no_object_per_row_for_the_garbage_collector() -> None:
    """Rows held until the next conversion are values in one flat list: the Arrow table
    and row a tag is a view of (not the Tag), and one tail shared by every row. Holding
    them leaves no tracked object per row, so they make no young-generation collection
    (a tuple per row made one every few hundred packets) and move nothing to the
    oldest generation."""
    database = InMemoryArrowDatabase()
    tags = [tag for tag, _ in _source_tags(500)]
    context = StatusObserver(database).contextualize("lab", "node", "hash")
    context.on_node_start("node", "hash", tags[0].schema())
    context.on_packet_start("node", tags[0], tags[0])  # the first: sets the sink up
    gc.disable()
    try:
        before = gc.get_count()[0]
        for tag in tags[1:]:
            context.on_packet_start("node", tag, tag)
        grown = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert grown < 20  # 499 rows held: not one tracked object each
    values, stride = context.values, context.sink.stride  # type: ignore[attr-defined]
    assert len(values) == 500 * stride
    assert values[stride - 1 :: stride] == list(range(500))
    assert all(isinstance(table, pa.Table) for table in values[stride - 2 :: stride])
    assert len({id(tail) for tail in values[stride - 3 :: stride]}) == 1


def test_tags_of_every_kind_in_one_chunk_are_written_with_their_keys_and_values() -> None:
    """A chunk holding Arrow rows (pipeline tags), tags without provenance (their key is
    their content hash) and tags of another kind is written value by value, exactly."""
    database = InMemoryArrowDatabase()
    status = StatusObserver(database)
    context = status.contextualize("lab", "node", "hash")
    pipeline_tags = [tag for tag, _ in _source_tags(3)]
    bare = Tag.from_dict({"k": 10})  # a row of a table without provenance
    tags: list[Any] = [*pipeline_tags, bare, _Plain(11)]
    context.on_node_start("node", "hash", pipeline_tags[0].schema())
    for tag in tags:
        context.on_packet_start("node", tag, tag)
    values, stride = context.values, context.sink.stride  # type: ignore[attr-defined]
    assert values[stride - 1 :: stride] == [0, 1, 2, -1, -1]
    context.on_node_end("node", "hash")
    events = database.get_all_records(("lab", "_status", "node", "hash"))
    assert events is not None
    assert events.column("k").to_pylist() == [0, 1, 2, 10, 11]
    keys = events.column("__packet_key").to_pylist()
    assert keys[:3] == [";".join(tag.system_tags()["__provenance"]) for tag in pipeline_tags]
    assert keys[3] == bare.content_hash()
    assert keys[4] == "plain:11"


def _source_tags(count: int) -> list[tuple[Any, Any]]:
    source = DictSource([{"k": i, "x": i} for i in range(count)], tag_columns=["k"])
    return list(source.iter_packets())


def test_a_chunk_of_more_rows_than_usual_is_numbered_on() -> None:
    """Rows appended by several threads while one converts can make a chunk larger than
    CHUNK_ROWS (and than the precomputed running numbers): ids stay consecutive."""
    database = InMemoryArrowDatabase()
    context = StatusObserver(database).contextualize("lab", "node", "hash")
    tags = [tag for tag, _ in _source_tags(3)]
    context.on_node_start("node", "hash", tags[0].schema())
    sink = context.sink  # type: ignore[attr-defined]
    table, row = sink.ref(tags[0])
    for count in (5, 5 * CHUNK_ROWS, 7):
        sink.values.extend(("RUNNING", 0, (1, None, None), table, row) * count)
        sink.convert()
    ids = [i for chunk in sink.chunks for i in chunk.column(0).to_pylist()]
    assert [int(i.rsplit(":", 1)[1]) for i in ids] == list(range(5 + 5 * CHUNK_ROWS + 7))


def test_a_chunk_of_rows_of_several_tables_reads_each_rows_tag_and_key() -> None:
    """Held rows whose tags are rows of several tables (batches), in runs, repeated and
    out of order, are written with each row's own tag values and packet key."""
    database = InMemoryArrowDatabase()
    context = StatusObserver(database).contextualize("lab", "node", "hash")
    sources = [
        DictSource([{"k": 100 * n + i, "x": i} for i in range(4)], tag_columns=["k"])
        for n in range(3)
    ]
    batches = [[tag for tag, _ in source.iter_packets()] for source in sources]
    assert len({id(tags[0].arrow_row()[0]) for tags in batches}) == 3  # three tables
    held = [
        batches[0][0],
        batches[0][1],
        batches[1][3],
        batches[1][3],
        batches[1][0],
        batches[2][2],
        batches[0][3],
        batches[2][2],
    ]
    context.on_node_start("node", "hash", held[0].schema())
    for tag in held:
        context.on_packet_start("node", tag, tag)
    context.on_node_end("node", "hash")

    events = database.get_all_records(("lab", "_status", "node", "hash"))
    assert events is not None
    assert events.column("k").to_pylist() == [tag.as_dict()["k"] for tag in held]
    assert events.column("__packet_key").to_pylist() == [
        ";".join(tag.system_tags()["__provenance"]) for tag in held
    ]


def test_a_flushed_sink_keeps_no_tag_alive() -> None:
    """What a sink remembers of the last tag (its start and end ask for it twice) goes
    with the checkpoint that writes its rows: a node's last tag, and its batch, are not
    kept alive by the observer after the node ends."""
    database = InMemoryArrowDatabase()
    context = StatusObserver(database).contextualize("lab", "node", "hash")
    tag = _source_tags(1)[0][0]
    context.on_node_start("node", "hash", tag.schema())
    before = sys.getrefcount(tag)
    context.on_packet_start("node", tag, tag)
    assert sys.getrefcount(tag) > before  # remembered while the packet may still end
    context.on_node_end("node", "hash")
    assert sys.getrefcount(tag) == before


_QUIET_LOCAL = {
    "stdout": "",
    "stderr": "",
    "python_logs": [],
    "traceback": None,
    "success": True,
    "attempt": 1,
    "executor_type": "local",
    "capture_level": "sys",
    "stdout_bytes": 0,
    "stderr_bytes": 0,
    "stdout_truncated": False,
    "stderr_truncated": False,
    "python_logs_dropped": 0,
    "capture_error": None,
}

_RECORDS = st.builds(
    lambda base, setup: {**base, **setup},
    # few kinds, so that a record often equals the last one but for its set-up fields
    st.sampled_from(
        [
            _QUIET_LOCAL,
            {**_QUIET_LOCAL, "stdout": "out\n", "stdout_bytes": 4},
            {**_QUIET_LOCAL, "python_logs": [{"level": "WARNING", "message": "w"}]},
            {**_QUIET_LOCAL, "success": 1, "attempt": 2.0, "executor_type": "ray"},
            {"stderr": "err\n", "success": False},  # an executor giving fewer fields
            {},
        ]
    ),
    st.sampled_from(
        [
            {},
            {"setup_output": None, "setup_failed": False},
            {"setup_output": "Installing numpy\n", "setup_failed": False},
            {"setup_output": "", "setup_failed": True},
        ]
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_RECORDS, min_size=1, max_size=40))
def test_log_rows_sharing_tails_hold_each_records_own_fields(
    records: list[dict[str, Any]],
) -> None:
    """Rows of records equal to the last one share its tail; whatever the sequence of
    records (quiet, noisy, of fewer fields, with set-up output or not), each stored
    row holds its own record's fields."""
    database = InMemoryArrowDatabase()
    context = LoggingObserver(database).contextualize("lab", "node", "hash")
    tags = [tag for tag, _ in _source_tags(len(records))]
    context.on_node_start("node", "hash", tags[0].schema())
    for tag, fields in zip(tags, records, strict=True):
        context.record_packet(tag, {"duration_s": 0.5, **fields})  # type: ignore[attr-defined]
    context.on_node_end("node", "hash")

    logs = database.get_all_records(("lab", "_logs", "node", "hash"))
    assert logs is not None
    for row, fields in zip(logs.to_pylist(), records, strict=True):
        assert row["__stdout"] == fields.get("stdout", "")
        assert row["__stderr"] == fields.get("stderr", "")
        assert row["__success"] is bool(fields.get("success", False))
        assert row["__attempt"] == int(fields.get("attempt", 1))
        assert row["__executor_type"] == fields.get("executor_type", "unknown")
        assert row["__stdout_bytes"] == fields.get("stdout_bytes")
        assert [r["message"] for r in row["__python_logs"]] == [
            r["message"] for r in fields.get("python_logs", [])
        ]
        assert row["__setup_output"] == fields.get("setup_output")
        assert row["__setup_failed"] == fields.get("setup_failed")
        assert row["__duration_s"] == 0.5


def test_chunks_of_one_length_share_their_constant_columns() -> None:
    """The run id, node label and node hash of every row are the same: chunks of as
    many rows hold one set of their arrays (no copy per chunk), with the right values."""
    database = InMemoryArrowDatabase()
    context = StatusObserver(database).contextualize("lab", "node", "hash")
    tag = _source_tags(1)[0][0]
    context.on_node_start("node", "hash", tag.schema())
    sink = context.sink  # type: ignore[attr-defined]
    table, row = sink.ref(tag)
    for count in (CHUNK_ROWS, CHUNK_ROWS, 3):
        sink.values.extend(("RUNNING", 0, (1, None, None), table, row) * count)
        sink.convert()
    first, second, short = sink.chunks
    for name, value in zip(CONSTANT_COLUMNS, sink.constants, strict=True):
        text = [chunk.column(name).chunk(0).buffers()[2].address for chunk in (first, second)]
        assert text[0] == text[1]  # one buffer of the values
        for chunk in (first, second, short):
            assert chunk.column(name).to_pylist() == [value] * chunk.num_rows
