"""Records added with ``new_ids=True`` are appended without a SELECT of their ids.

On SQLite and PostgreSQL, adding rows as new to a table holding rows from
before sends no SELECT naming the table (a plain add sends at least one), and
on PostgreSQL the primary key still refuses, at the flush, an id that was not
new. SQLite tables have no primary key (see ``orcapod.db.sql._ids``): there,
as on Delta, rows added as new are taken at their writer's word.
Counts of statements, never times.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from orcapod.db.sql import SQLDatabase
from orcapod.protocols.errors import DuplicateRecordError
from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PATH = ("lab", "_logs", "node", "h1")


def _rows(first: int, count: int) -> pa.Table:
    numbers = range(first, first + count)
    return pa.table(
        {
            "id": pa.array([f"run:{n}" for n in numbers], pa.large_string()),
            "value": pa.array(list(numbers), pa.int64()),
        }
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with temporary_database(postgres_server()) as server:
        yield server.url()


def _selects(database: SQLDatabase) -> Counter[str]:
    """SELECT statements sent from now on that name PATH's table."""
    seen: Counter[str] = Counter()
    table = database._paths[PATH].name

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            seen["select"] += 1

    sa.event.listen(database.engine, "before_cursor_execute", count)
    return seen


def test_rows_added_as_new_send_no_select_and_a_plain_add_does(url: str) -> None:
    database = SQLDatabase(url)
    database.add_records(PATH, _rows(0, 100), "id", flush=True)
    selects = _selects(database)
    for start in (100, 200, 300):
        database.add_records(PATH, _rows(start, 100), "id", new_ids=True)
    database.flush()
    assert selects == Counter()
    database.add_records(PATH, _rows(400, 100), "id")
    assert selects["select"] >= 1, "a plain add looks its ids up: the counter sees it"
    stored = database.get_all_records(PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("value").to_pylist()) == list(range(500))
    database.close()


@pytest.mark.postgres
def test_an_id_added_as_new_that_was_stored_is_refused_by_the_primary_key() -> None:
    with temporary_database(postgres_server()) as server:
        _refused_by_the_primary_key(server.url())


def _refused_by_the_primary_key(url: str) -> None:
    database = SQLDatabase(url)
    database.add_records(PATH, _rows(0, 10), "id", flush=True)
    database.add_records(PATH, _rows(5, 10), "id", new_ids=True)  # a broken promise
    with pytest.raises(DuplicateRecordError):
        database.flush()
    stored = database.get_all_records(PATH, record_id_column="id")
    assert stored is not None
    assert sorted(stored.column("value").to_pylist()) == list(range(10)), "stored once"
    database.close()
