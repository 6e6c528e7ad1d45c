"""Tables have no primary key on the ids: ids are found through an index of their keys
and places (SQLite's rowid, PostgreSQL's ``_record_seq``) held per table
(``orcapod.db.sql._ids``), caught up with what other writers committed.

What reads cost is asserted on the store's counters (``_id_reads``: rows read into
an index, rows read at the rowids it named), never on times.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from orcapod.db.sql import SQLDatabase
from orcapod.db.sql._catalog import table_name
from orcapod.protocols.errors import DuplicateRecordError
from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from pathlib import Path

PATH = ("lab", "results")


def _rows(ids: list[str], version: int = 1) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.large_string()),
            "version": pa.array([version] * len(ids), pa.int64()),
        }
    )


def _ids(first: int, count: int) -> list[str]:
    return [f"r{n}" for n in range(first, first + count)]


def _versions(database: SQLDatabase) -> dict[str, int]:
    table = database.get_all_records(PATH, record_id_column="id")
    assert table is not None
    ids, versions = table["id"].to_pylist(), table["version"].to_pylist()
    assert len(ids) == len(set(ids)), "an id is stored twice"
    return dict(zip(ids, versions, strict=True))


def _primary_key(database: SQLDatabase) -> list[str]:
    return list(
        sa.inspect(database.engine).get_pk_constraint(table_name(PATH))["constrained_columns"]
    )


def _sql(database: SQLDatabase, statement: str) -> None:
    with database.engine.begin() as conn:
        for part in statement.split(";"):
            if part.strip():
                conn.exec_driver_sql(part)


def _refuses_then_skips(database: SQLDatabase, stored_id: str, total: int) -> None:
    """``stored_id`` (stored, version 1) refuses a plain add, and is skipped beside a new
    id by an add skipping duplicates: ``total`` ids stored after."""
    with pytest.raises(DuplicateRecordError):
        database.add_records(PATH, _rows([stored_id, "new"]), "id")
    database.add_records(PATH, _rows([stored_id, "new"], version=2), "id", skip_duplicates=True)
    database.flush()
    versions = _versions(database)
    assert len(versions) == total
    assert versions[stored_id] == 1
    assert versions["new"] == 2


def test_new_tables_have_no_primary_key_on_the_ids(url: str) -> None:
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(["a"]), "id", flush=True)
        # SQLite: the places are the table's INTEGER PRIMARY KEY (its rowid)
        expected = ["_record_seq"] if url.startswith("sqlite") else []
        assert _primary_key(database) == expected


def test_a_lookup_reads_the_ids_once_then_only_the_rows_added_since(url: str) -> None:
    with SQLDatabase(url) as writer:
        writer.add_records(PATH, _rows(_ids(0, 1000)), "id", flush=True)
        with SQLDatabase(url) as reader:
            reads = reader._id_reads
            found = reader.get_records_by_ids(PATH, _ids(0, 10), record_id_column="id")
            assert found is not None
            assert found.num_rows == 10
            assert (reads.indexed, reads.candidates) == (1000, 10)

            writer.add_records(PATH, _rows(_ids(1000, 5)), "id", flush=True)
            found = reader.get_records_by_ids(PATH, ["r1003", "r7"], record_id_column="id")
            assert found is not None
            assert sorted(found["id"].to_pylist()) == ["r1003", "r7"]
            assert (reads.indexed, reads.candidates) == (1005, 12), "only the 5 new rows"

            assert reader.get_records_by_ids(PATH, ["nowhere", "r-1"]) is None
            assert (reads.indexed, reads.candidates) == (1005, 12), "no row holds their keys"


def test_a_first_run_adds_without_reading_a_row(url: str) -> None:
    """Ids none of which is stored name no candidate: an add reads no stored row."""
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(_ids(0, 100)), "id", flush=True)
        for first in range(100, 1000, 100):
            database.add_records(PATH, _rows(_ids(first, 100)), "id", flush=True)
        assert database._id_reads.candidates == 0
        assert len(_versions(database)) == 1000


def test_ids_sharing_one_key_are_told_apart_by_the_stored_id(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id given the same key: lookups still return exactly the ids asked for, and
    duplicates are still found."""
    import orcapod.db.sql._ids as ids_module

    monkeypatch.setattr(ids_module, "keys_of", lambda ids: np.zeros(len(ids), np.uint64))
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(_ids(0, 50)), "id", flush=True)
        found = database.get_records_by_ids(PATH, ["r3", "r40", "absent"], record_id_column="id")
        assert found is not None
        assert sorted(found["id"].to_pylist()) == ["r3", "r40"]
        _refuses_then_skips(database, "r10", total=51)


def test_a_flush_skips_or_refuses_ids_another_store_committed_after_the_add(
    url: str,
) -> None:
    """The ids were checked at the add, when nothing held them; another store commits
    them before the flush: the flush sees them (its index catches up inside the write
    transaction)."""
    with SQLDatabase(url) as mine, SQLDatabase(url) as other:
        mine.add_records(PATH, _rows(["a"]), "id", flush=True)
        other.add_records(PATH, _rows(["seen"]), "id", flush=True)
        mine.add_records(PATH, _rows(["b", "c"], version=2), "id", skip_duplicates=True)
        mine.add_records(PATH, _rows(["d"], version=2), "id")
        assert mine.get_records_by_ids(PATH, ["seen"]) is not None  # mine catches up now
        other.add_records(PATH, _rows(["b", "d"], version=3), "id", flush=True)
        with pytest.raises(DuplicateRecordError, match="'d'") as refusal:
            mine.flush()
        assert "'b'" not in str(refusal.value), "b was skipped, not refused"
        assert _versions(mine) == {"a": 1, "seen": 1, "b": 3, "c": 2, "d": 3}
        mine.add_records(PATH, _rows(["e"], version=4), "id", flush=True)
        assert _versions(other)["e"] == 4


def test_rows_deleted_behind_the_store_are_forgotten(url: str) -> None:
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(_ids(0, 10)), "id", flush=True)
        assert database.get_records_by_ids(PATH, ["r9"]) is not None
        _sql(database, f"DELETE FROM {table_name(PATH)} WHERE _record_id IN ('r8', 'r9')")
        assert database.get_records_by_ids(PATH, ["r9"]) is None
        database.add_records(PATH, _rows(["r9"], version=2), "id", flush=True)
        assert _versions(database)["r9"] == 2


def test_places_freed_at_the_end_and_taken_again_by_another_writer_are_read(url: str) -> None:
    """Rows deleted at the end of a table free their places for the next rows another
    writer stores: a store whose index had reached those places notices (the row at
    its last place holds another id) and reads the ids again."""
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(_ids(0, 10)), "id", flush=True)
        assert database.get_records_by_ids(PATH, ["r9"]) is not None
        _sql(database, f"DELETE FROM {table_name(PATH)} WHERE _record_id IN ('r8', 'r9')")
        with SQLDatabase(url) as other:
            other.add_records(PATH, _rows(["n1", "n2"], version=2), "id", flush=True)
        found = database.get_records_by_ids(PATH, ["n1", "n2"], record_id_column="id")
        assert found is not None
        assert sorted(found["id"].to_pylist()) == ["n1", "n2"]
        database.add_records(PATH, _rows(["n2", "n3"], version=3), "id", skip_duplicates=True)
        database.flush()
        versions = _versions(database)  # asserts no id twice
        assert (versions["n2"], versions["n3"]) == (2, 3)


def test_vacuum_after_a_delete_moves_no_place(tmp_path: Path) -> None:
    """SQLite's VACUUM renumbers rowids after a delete: places are a column of their own,
    so a running store's index still names the right rows (it stored r5 twice when
    places were rowids)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(_ids(0, 10)), "id", flush=True)
        assert database.get_record_by_id(PATH, "r9") is not None
        _sql(database, f"DELETE FROM {table_name(PATH)} WHERE _record_id IN ('r3', 'r9')")
        other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)  # a program
        other.execute("VACUUM")
        other.close()
        with SQLDatabase(url) as rerun:
            rerun.add_records(PATH, _rows(["r3", "r9"], version=2), "id", flush=True)
        database.add_records(PATH, _rows(["r5"], version=3), "id", skip_duplicates=True)
        database.flush()
        versions = _versions(database)  # asserts no id twice
        assert (versions["r5"], versions["r9"]) == (1, 2)


def test_a_row_inserted_without_its_place_is_refused_or_read(url: str) -> None:
    """A program (or an earlier orcapod) inserting a row without its place never stores a
    row no index reads: PostgreSQL refuses it, SQLite numbers it after the last row (its
    rowid), where a running store's next catch-up reads it."""
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(["a"]), "id", flush=True)
        assert database.get_record_by_id(PATH, "a") is not None
        insert = f"INSERT INTO {table_name(PATH)} (_record_id, version) VALUES ('b', 2)"
        if url.startswith("postgresql"):
            with pytest.raises(sa.exc.IntegrityError):
                _sql(database, insert)
            assert _versions(database) == {"a": 1}
            return
        _sql(database, insert)
        assert database.get_record_by_id(PATH, "b") is not None
        database.add_records(PATH, _rows(["b", "c"], version=3), "id", skip_duplicates=True)
        database.flush()
        assert _versions(database) == {"a": 1, "b": 2, "c": 3}


def test_a_table_made_with_a_primary_key_by_an_earlier_version_still_works(
    url: str,
) -> None:
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(_ids(0, 20)), "id", flush=True)
        table = table_name(PATH)
        _sql(  # as versions before made it
            database,
            f"""
            CREATE TABLE old ("_record_id" TEXT NOT NULL, version BIGINT,
                              PRIMARY KEY ("_record_id"));
            INSERT INTO old SELECT "_record_id", version FROM {table};
            DROP TABLE {table};
            ALTER TABLE old RENAME TO {table}
            """,
        )
    with SQLDatabase(url) as database:
        assert _primary_key(database) == ["_record_id"]
        found = database.get_records_by_ids(PATH, ["r1", "r19", "r20"], record_id_column="id")
        assert found is not None
        assert sorted(found["id"].to_pylist()) == ["r1", "r19"]
        _refuses_then_skips(database, "r5", total=21)


def _write_overlapping(url: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    with SQLDatabase(url) as database:
        for batch in range(20):
            # each batch shares half its ids with the other worker's batch of that number
            ids = _ids(batch * 100, 100) if worker == 0 else _ids(batch * 100 + 50, 100)
            database.add_records(PATH, _rows(ids, version=worker), "id", skip_duplicates=True)
            database.flush()


def test_two_processes_writing_overlapping_ids_store_each_id_once(url: str) -> None:
    with SQLDatabase(url) as database:
        database.add_records(PATH, _rows(["seed"]), "id", flush=True)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_write_overlapping, args=(url, n, start)) for n in (0, 1)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    with SQLDatabase(url) as database:
        versions = _versions(database)  # asserts no id twice
    assert set(versions) == {"seed", *_ids(0, 2050)}


@pytest.mark.postgres
def test_a_flush_waiting_for_another_writer_reads_its_rows_at_any_default_isolation() -> None:
    """With the server's default isolation at REPEATABLE READ, a flush's snapshot would be
    taken by its first statement, the lock it then waits for: it would not see the rows
    of the writer holding the lock, and number its own rows with places already taken.
    Flushes write at READ COMMITTED."""
    import threading
    import time

    import psycopg
    from psycopg import sql

    from orcapod.db.sql._engines import advisory_lock

    with temporary_database(postgres_server()) as server:
        with psycopg.connect(**server.connect_kwargs(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET default_transaction_isolation = {}").format(
                    sql.Identifier(server.dbname), sql.Literal("repeatable read")
                )
            )
        url = server.url()
        with SQLDatabase(url) as setup:
            setup.add_records(PATH, _rows(["a"]), "id", flush=True)
        with SQLDatabase(url) as first, SQLDatabase(url) as second:
            second.add_records(PATH, _rows(["c"]), "id", skip_duplicates=True)
            with first.engine.connect() as holder:  # a flush of "first", under way
                transaction = holder.begin()
                advisory_lock(holder, table_name(PATH))
                errors: list[Exception] = []

                def flush_second() -> None:
                    try:
                        second.flush()
                    except Exception as error:  # reported below
                        errors.append(error)

                waiting = threading.Thread(target=flush_second)
                waiting.start()
                time.sleep(1.0)  # second waits for the table's lock
                holder.exec_driver_sql(
                    f"INSERT INTO {table_name(PATH)} (_record_id, version, _record_seq) "
                    f"SELECT 'b', 1, max(_record_seq) + 1 FROM {table_name(PATH)}"
                )
                transaction.commit()
            waiting.join(timeout=60)
            assert not errors, errors
            assert sorted(_versions(second)) == ["a", "b", "c"]
