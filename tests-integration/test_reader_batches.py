"""ObservabilityReader.iter_batches gives the rows of logs() and status(), on every store.

The records are the reader tests' demo (two nodes with different tags, three
runs: a retry, cached packets, a crashed run with a LOST packet), written
straight to each store as docs/observability.md lays them out. Every way of
reading is compared with the table method, rows in any order.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core import InMemoryArrowDatabase
from orcapod.observers import ObservabilityReader
from orcapod.observers.errors import UnknownNodeError, UnknownRunError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.testing.postgres import PostgresServer


def _records_helper() -> Any:
    name = "observability_records"
    if name not in sys.modules:
        location = (
            Path(__file__).parent.parent
            / "packages/orcapod-observers/tests/_observability_records.py"
        )
        spec = importlib.util.spec_from_file_location(name, location)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helper = _records_helper()

READS: list[tuple[str, dict[str, Any]]] = [
    ("logs", {}),
    ("logs", {"node": "double"}),
    ("logs", {"run_id": "r1"}),
    ("logs", {"failed_only": True}),
    ("logs", {"node": "when", "run_id": "r2"}),
    ("status", {}),
    ("status", {"latest": False}),
    ("status", {"node": "when"}),
    ("status", {"run_id": "r2"}),
    ("status", {"run_id": "r3"}),
    ("status", {"node": "double", "run_id": "r1", "latest": False}),
]


@pytest.fixture(
    params=["memory", "delta", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArrowDatabase]:
    kind = request.param
    if kind == "memory":
        store: ArrowDatabase = InMemoryArrowDatabase()
    elif kind == "delta":
        from orcapod.db.delta import DeltaTableDatabase

        store = DeltaTableDatabase(tmp_path / "delta")
    elif kind == "sqlite":
        from orcapod.db.sql import SQLDatabase

        store = SQLDatabase(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        from orcapod.db.sql import SQLDatabase

        server: PostgresServer = request.getfixturevalue("postgres")
        store = SQLDatabase(server.url())
    records = helper.demo_records(store)
    store.flush()
    # and pending rows, not flushed: a later attempt's log and status events
    records.log("double", helper.K1, run="r2", when=120, stdout="pending\n")
    records.event("double", helper.K2, "RUNNING", run="r2", when=121)
    records.event("double", helper.K2, "SUCCESS", run="r2", when=122)
    yield store
    store.close()


def _sorted(table: pa.Table) -> pa.Table:
    key = "__log_id" if "__log_id" in table.column_names else "__status_id"
    return table.sort_by([("__node_label", "ascending"), (key, "ascending")])


def _same(batches: list[pa.RecordBatch], expected: pa.Table) -> None:
    assert all(batch.num_rows for batch in batches), "an empty batch"
    if expected.num_rows == 0:
        assert batches == []
        return
    got = pa.Table.from_batches(batches)
    # a node none of whose rows match still adds its tag columns: null
    extra = [name for name in got.column_names if name not in expected.column_names]
    assert all(got[name].null_count == got.num_rows for name in extra), extra
    got = got.drop_columns(extra)
    assert sorted(got.schema.names) == sorted(expected.schema.names)
    documented = [name for name in expected.schema.names if name.startswith("__")]
    assert got.schema.names[: len(documented)] == documented
    got = got.select(expected.schema.names)  # tags of nodes left out come later
    for field in expected.schema:
        assert got.schema.field(field.name).type == field.type, field.name
    assert _sorted(got).to_pylist() == _sorted(expected).to_pylist()


@pytest.mark.parametrize(("table", "arguments"), READS, ids=[f"{t}-{a}" for t, a in READS])
def test_iter_batches_gives_the_rows_of_the_table_method(
    database: ArrowDatabase, table: str, arguments: dict[str, Any]
) -> None:
    reader = ObservabilityReader(database, pipeline="demo")
    expected = getattr(reader, table)(**arguments)
    assert expected.num_rows > 0 or table == "status"
    for batch_rows in (1, 3, 65_536):
        batches = list(reader.iter_batches(table, batch_rows=batch_rows, **arguments))  # type: ignore[arg-type]
        assert all(batch.num_rows <= batch_rows for batch in batches)
        _same(batches, expected)


def test_iter_batches_refuses_what_the_table_methods_refuse(database: ArrowDatabase) -> None:
    reader = ObservabilityReader(database, pipeline="demo")
    with pytest.raises(UnknownNodeError):
        reader.iter_batches("logs", node="nope")
    with pytest.raises(UnknownRunError):
        reader.iter_batches("status", run_id="nope")
    with pytest.raises(ValueError, match="'logs' or 'status'"):
        reader.iter_batches("runs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_rows"):
        reader.iter_batches("logs", batch_rows=0)
