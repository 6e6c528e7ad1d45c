"""Log and status rows are appended without reading what the store holds.

Their ids (``<run id>:<n>``) are new by construction, so the observers add
them with ``new_ids`` (``orcapod.protocols.database.add_new_records``): the
store looks for no duplicates. On every store, a second observed run, whose
log and status tables already hold the first run's rows, reads no stored id
of them: the Delta store builds no id index of those tables (through which
its lookups read); the SQL stores send no SELECT to those tables; the
toolkit asks no engine which of their ids it knows. Counts, never times.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.db.delta import DeltaTableDatabase
from orcapod.db.sql import SQLDatabase
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver

if TYPE_CHECKING:
    from pathlib import Path

    from orcapod.protocols.testing.postgres import PostgresServer
    from orcapod.protocols.values import RecordPath

PACKETS = 40


@function_pod(output_keys="y")
def triple(x: int) -> int:
    print(f"tripling {x}")
    if os.environ.get("ORCAPOD_TEST_TRIPLE_FAILS"):  # read at call time: not its identity
        raise RuntimeError("told to fail")
    return 3 * x


def _observed_run(database: Any, *, failing: bool) -> list[RecordPath]:
    """One observed run of the pipeline, each packet computed (and failing, or not); the
    paths of its log and status tables."""
    pipeline = Pipeline("appends", database)
    source = DictSource([{"k": i, "x": i} for i in range(PACKETS)], tag_columns=["k"])
    with pipeline:
        triple.pod(source, label="triple")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    with pytest.MonkeyPatch.context() as patch:
        if failing:
            patch.setenv("ORCAPOD_TEST_TRIPLE_FAILS", "1")
        else:
            patch.delenv("ORCAPOD_TEST_TRIPLE_FAILS", raising=False)
        result = pipeline.run(observer=observer, flush_every=7)  # several flushes
    assert result.n_failed == (PACKETS if failing else 0)
    assert result.n_computed == (0 if failing else PACKETS)
    name, label, node_hash = pipeline.nodes["triple"].pipeline_path
    return [(name, "_logs", label, node_hash), (name, "_status", label, node_hash)]


def _observed_runs(database: Any) -> list[RecordPath]:
    """A run whose every packet fails, then one whose every packet succeeds: the second
    appends log and status rows to tables holding the first one's."""
    _observed_run(database, failing=True)
    return _observed_run(database, failing=False)


def _assert_every_row_once(database: Any, paths: list[RecordPath]) -> None:
    """Both runs' rows, each once: a log row per packet and run, two events each."""
    logs, status = (database.get_all_records(path, record_id_column="id") for path in paths)
    assert logs is not None
    assert status is not None
    assert logs.num_rows == 2 * PACKETS
    assert sorted(logs.column("__success").to_pylist()) == [False] * PACKETS + [True] * PACKETS
    assert Counter(status.column("__state").to_pylist()) == {
        "RUNNING": 2 * PACKETS,
        "FAILED": PACKETS,
        "SUCCESS": PACKETS,
    }
    for table in (logs, status):
        ids = table.column("id").to_pylist()
        assert len(set(ids)) == len(ids)


class _Counting(InMemoryArrowDatabase):
    """An in-memory store counting the toolkit's questions about known ids, per path."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: Counter[RecordPath] = Counter()

    def _known_ids(self, path: RecordPath, ids: Any) -> Any:
        self.asked[path] += 1
        return super()._known_ids(path, ids)


def test_in_memory_log_and_status_appends_ask_for_no_known_ids() -> None:
    database = _Counting()
    paths = _observed_runs(database)
    _assert_every_row_once(database, paths)
    for path in paths:
        assert database.asked[path] == 0, path
    assert sum(database.asked.values()) > 0, "the results' adds still look for duplicates"


def test_delta_log_and_status_appends_build_no_id_index_and_read_no_row_group(
    tmp_path: Path,
) -> None:
    database = DeltaTableDatabase(tmp_path / "store")
    _observed_run(database, failing=True)
    database.close()
    database = DeltaTableDatabase(tmp_path / "store")  # a new process, as it were
    paths = _observed_run(database, failing=False)
    for path in paths:
        # no index: no stored id of the table was read (lookups read through it)
        assert database._paths[path].index is None, f"{path}: an id index was built"
    runs = database._paths[("appends", "_runs")]
    assert runs.index is not None, "run records are still added looking for duplicates"
    _assert_every_row_once(database, paths)
    database.close()


def _selects(engine: sa.Engine) -> Counter[str]:
    """The SELECT statements reading record ids sent on ``engine`` from now on, by the
    tables they name (PostgreSQL's flush reads the last row's place, ``max(_record_seq)``,
    to number the rows it appends: not a lookup, not counted)."""
    seen: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "_record_id" in statement:
            for word in ("_logs", "_status"):
                if word in statement:
                    seen[word] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    return seen


def _assert_sql_appends_select_nothing(database: SQLDatabase) -> None:
    _observed_run(database, failing=True)
    selects = _selects(database.engine)
    paths = _observed_run(database, failing=False)
    assert selects == Counter(), "log and status ids were looked up"
    _assert_every_row_once(database, paths)


def test_sqlite_log_and_status_appends_select_nothing(tmp_path: Path) -> None:
    database = SQLDatabase(f"sqlite:///{tmp_path / 'store.db'}")
    _assert_sql_appends_select_nothing(database)
    database.close()


def test_postgres_log_and_status_appends_select_nothing(postgres: PostgresServer) -> None:
    database = SQLDatabase(postgres.url())
    _assert_sql_appends_select_nothing(database)
    database.close()


def test_a_second_observer_of_a_kind_on_one_store_is_refused_not_duplicated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = Pipeline("twice", database)
    source = DictSource([{"k": i, "x": i} for i in range(5)], tag_columns=["k"])
    with pipeline:
        triple.pod(source, label="triple")
    observer = CompositeObserver(LoggingObserver(database), LoggingObserver(database))
    result = pipeline.run(observer=observer)
    assert result.n_computed == 5
    name, label, node_hash = pipeline.nodes["triple"].pipeline_path
    logs = database.get_all_records((name, "_logs", label, node_hash), record_id_column="id")
    assert logs is not None
    assert logs.num_rows == 5, "one row per packet, from the first observer"
    assert len(set(logs.column("id").to_pylist())) == 5
    assert "already writes the table" in caplog.text
