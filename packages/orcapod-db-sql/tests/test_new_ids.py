"""Records added with ``new_ids=True`` are appended without a SELECT of their ids.

On SQLite and PostgreSQL, adding rows as new to a table holding rows from
before sends no SELECT of stored ids (a plain add sends at least one). Tables
have no primary key on the ids (see ``orcapod.db.sql._ids``): as on Delta,
rows added as new are taken at their writer's word. Counts of statements,
never times.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from orcapod.db.sql import SQLDatabase

PATH = ("lab", "_logs", "node", "h1")


def _rows(first: int, count: int) -> pa.Table:
    numbers = range(first, first + count)
    return pa.table(
        {
            "id": pa.array([f"run:{n}" for n in numbers], pa.large_string()),
            "value": pa.array(list(numbers), pa.int64()),
        }
    )


def _selects(database: SQLDatabase) -> Counter[str]:
    """SELECT statements sent from now on that read ids of PATH's table (PostgreSQL's
    flush reads the number of the table's last row, ``max(_record_seq)``: not counted)."""
    seen: Counter[str] = Counter()
    table = database._paths[PATH].name

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        selects = statement.lstrip().upper().startswith("SELECT")
        if selects and table in statement and "_record_id" in statement:
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
