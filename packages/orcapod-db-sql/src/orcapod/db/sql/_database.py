"""SQLDatabase: an ArrowDatabase over SQLite or PostgreSQL, through SQLAlchemy Core.

The contract's rules (arguments, schemas, duplicates, reads' id column, closed
stores, the lock, their messages) are :class:`~orcapod.protocols.store.BaseArrowDatabase`'s;
this module is the SQL engine under them: the catalog, pending rows and their
one-transaction flush, selecting in SQL, and the errors of a damaged store.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from orcapod.db.sql._catalog import (
    CATALOG_TABLE,
    COMMIT_COLUMN,
    ID_COLUMN,
    SEQ_COLUMN,
    PathTable,
    PendingBatch,
    catalog_table,
    path_from_text,
    path_to_text,
    schema_from_catalog,
    table_name,
)
from orcapod.db.sql._engines import (
    PG_SNAPSHOT,
    POSTGRESQL,
    SQLITE,
    BulkWriter,
    add_commit_column,
    advisory_lock,
    has_column,
    is_sqlite_access_error,
    memory_engine,
    open_engine,
    sqlite_cannot_open,
    sqlite_cannot_write,
    sqlite_file,
    write_transaction,
)
from orcapod.db.sql._ids import LOAD_ROWS, IdReads, StoredIds
from orcapod.db.sql._types import (
    SQLITE_NEGATIVE_ZERO,
    ColumnCodec,
    column_codec,
    decode_text,
    encode_text,
    text_needs_escape,
)
from orcapod.protocols.database import may_create_stores
from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    RecordSchemaError,
    StoreCorruptedError,
    StoreNotCreatableError,
    StoreNotFoundError,
)
from orcapod.protocols.store import (
    PREVIEW,
    BaseArrowDatabase,
    equal_mask,
    preview_ids,
    schema_differences,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Set

    from orcapod.db.sql._engines import OpenedEngine
    from orcapod.protocols.store import NewRecords
    from orcapod.protocols.values import RecordPath

__all__ = ["SQLDatabase"]


class _StoredMeanwhile(Exception):
    """Raised inside a flush: ids pending here without skip_duplicates were stored by
    another process meanwhile (their batches were dropped from the pending rows)."""

    def __init__(self, refusal: DuplicateRecordError) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


class _PathSchemaConflict(Exception):
    """Raised inside a flush: another process created a path with another schema."""

    def __init__(self, stored: PathTable, difference: str) -> None:
        super().__init__(difference)
        self.stored = stored
        self.difference = difference


_ID_FIELD = pa.field(ID_COLUMN, pa.large_string(), nullable=False)


@dataclass
class ScanReads:
    """What reads in batches (``iter_all_records``) read: queries and the rows they
    returned, counted as each page is read. Per store, for tests and benchmarks."""

    queries: int = 0
    rows: int = 0


_FLUSH_ATTEMPTS = 5
_FEW_IDS = 16
"""Lookups of at most this many ids slice pending rows out instead of concatenating them."""
AUTO_FLUSH_BATCHES = 1_000
AUTO_FLUSH_ROWS = 100_000
"""Pending batches or rows of one path at which an add flushes that path by itself."""


class SQLDatabase(BaseArrowDatabase):
    """An ArrowDatabase storing each record path as a table of a SQLite or PostgreSQL database.

    ``url`` is a SQLAlchemy URL: ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
    ``postgresql://user@host/db`` or ``postgresql+psycopg://user@host/db`` (psycopg 3;
    ``pip install 'orcapod-db-sql[postgres]'``). A ``schema`` (PostgreSQL only, also
    given as ``?schema=name`` in the URL) keeps every table in that namespace,
    created if missing.

    Added records are pending until :meth:`flush` (or ``flush=True``, or
    :meth:`close`, or the add that brings a path's pending records to
    ``AUTO_FLUSH_BATCHES`` batches or ``AUTO_FLUSH_ROWS`` rows), which writes
    every pending row in one transaction, with bulk inserts (``COPY`` on
    PostgreSQL). Reads see pending rows. Ids are found through an index of
    their keys and places held in memory per table, read when first needed and
    then kept up to date (see ``_ids``); in tables made by earlier versions,
    through their primary key. A flush checks the ids again against what other
    processes committed meanwhile: rows added with ``skip_duplicates=True`` are
    inserted only if absent, others refuse their batch. Safe to share between
    threads; several processes may write to one database at once.

    Within :func:`~orcapod.protocols.database.creating_no_stores` (``orcapod
    graph``) a store that exists is opened as with ``create=False``, and one
    that does not (no SQLite file, no catalog) is not created: an empty SQLite
    database in memory stands in for it.
    """

    def __init__(self, url: str, *, schema: str | None = None, create: bool = True) -> None:
        super().__init__()
        self._in_memory = False
        if create and not may_create_stores():
            try:
                self._open(open_engine(url, schema, create=False), create=False)
            except StoreNotFoundError:
                self._in_memory = True
                self._open(memory_engine(), create=True)
        else:
            self._open(open_engine(url, schema, create=create), create=create)

    def _open(self, opened: OpenedEngine, create: bool) -> None:
        """Use the engine ``opened``, making its catalog if ``create`` and it has none.

        Raises:
            StoreNotFoundError: ``create`` is false and there is no catalog.
            DatabaseError: the catalog cannot be read or made.
        """
        self._engine, self._dialect, self._schema = opened.engine, opened.dialect, opened.schema
        self._read_only = opened.read_only
        self._metadata = sa.MetaData(schema=self._schema)
        self._catalog = catalog_table(self._metadata)
        self._paths: dict[RecordPath, PathTable] = {}
        self._scan_reads = ScanReads()
        self._id_reads = IdReads()
        # A database dropped without close() still closes its pooled connections
        # (Python 3.13 warns about a garbage-collected, unclosed sqlite3 connection).
        weakref.finalize(self, self._engine.dispose)
        try:
            self._create_catalog(create)
        except sa.exc.SQLAlchemyError as error:
            self._engine.dispose()
            raise _open_error(self._engine, error, create) from error
        except DatabaseError:
            self._engine.dispose()
            raise

    def _create_catalog(self, create: bool) -> None:
        """Create the schema and catalog table unless they exist (checked without a lock).

        Opened to write (``create``), an existing SQLite store is written to at
        once (a write that changes nothing), so that a store this user may only
        read fails here rather than at the first flush of a pipeline run.

        Raises:
            StoreNotFoundError: ``create`` is false and there is no catalog.
        """
        with self._engine.connect() as conn:
            found = sa.inspect(conn).has_table(self._catalog.name, schema=self._schema)
        if found:
            if create and self._dialect == SQLITE:
                with write_transaction(self._engine, self._dialect) as conn:
                    conn.exec_driver_sql(f"UPDATE {CATALOG_TABLE} SET path = path WHERE 0")
            return
        if not create:
            where = "" if self._schema is None else f" in schema {self._schema!r}"
            raise StoreNotFoundError(
                f"{_safe_url(self._engine)} holds no orcapod store (no {self._catalog.name!r} "
                f"table{where}), and it was opened to read, so nothing was created; check "
                "the URL (and ?schema=), or run the pipeline that writes the store first"
            )
        with write_transaction(self._engine, self._dialect, lock_key="catalog") as conn:
            if self._schema is not None:
                conn.execute(sa.schema.CreateSchema(self._schema, if_not_exists=True))
            self._catalog.create(conn, checkfirst=True)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, for reading the tables with SQL (see ``docs/db-sql.md``)."""
        return self._engine

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema holding the tables, or None for the default one."""
        return self._schema

    @property
    def files_location(self) -> str | None:
        """Where a pipeline keeps its output files by default: ``<sqlite file>.files``
        beside an SQLite file; ``None`` (orcapod's default) for a server's database."""
        database = self._engine.url.database
        if self._dialect != SQLITE or not database or database == ":memory:":
            return None
        return os.path.abspath(database) + ".files"

    @property
    def uri(self) -> str:
        """A URL opening this store again (``open_database``), without its password."""
        url = self._engine.url.set(password=None)
        if url.get_backend_name() == "postgresql":
            url = url.set(drivername="postgresql")
            if self._schema is not None:
                url = url.update_query_dict({"schema": self._schema})
        return url.render_as_string(hide_password=False)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._paths)} paths open"
        if self._in_memory:
            state += ", not created: kept in memory"
        return f"SQLDatabase({_safe_url(self._engine)!r}, {state})"

    # -- the engine under BaseArrowDatabase: writes ---------------------------------------

    def _check_writable(self, path: RecordPath) -> None:
        if self._read_only is not None:
            raise DatabaseError(
                f"cannot add records to path {path!r}: {_safe_url(self._engine)} was "
                f"opened read-only, since {self._read_only}; nothing was added. To "
                "write, make the store writable and open it again with create=True"
            )

    def _check_new_schema(self, path: RecordPath, schema: pa.Schema) -> None:
        """Refuse column types SQL cannot store exactly, naming the column and a cast."""
        for field in schema:
            column_codec(field.name, field.type, self._dialect)

    def _path_schema(self, path: RecordPath) -> pa.Schema | None:
        stored = self._path_table(path)
        return None if stored is None else stored.schema

    def _known_ids(self, path: RecordPath, ids: Set[str]) -> Set[str]:
        """Those of ``ids`` pending here, and those stored: on SQLite the rows the id
        index names (none in a first run: no query), elsewhere one query selecting
        these ids by the primary key."""
        stored = self._paths[path]
        known = stored.pending_ids_among(ids)
        if stored.in_catalog and len(known) < len(ids):
            if self._indexed(stored):
                asked = [i for i in ids if i not in known]
                found = self._select_indexed(stored, asked, ids_only=True)
                if found is not None:
                    known.update(found.column(0).to_pylist())
                return known
            asked = sorted(ids - known)
            with self._reading_table(stored), self._engine.connect() as conn:
                query = sa.select(stored.table.c[ID_COLUMN]).where(
                    self._id_condition(stored, self._query_ids(asked))
                )
                values = conn.execute(query).scalars().all()
            if self._dialect == POSTGRESQL:
                values = [decode_text(v) for v in values]
            known.update(values)
        return known

    def _keep(self, records: NewRecords) -> None:
        """Encode the rows for the driver and keep them pending; flush a path with many."""
        path = records.path
        if records.new_path:
            stored = PathTable.create(path, records.data.schema, self._dialect, self._metadata)
        else:
            stored = self._paths[path]
        batch = pa.Table.from_arrays(
            [records.id_array, *records.data.columns], schema=_stored_schema(stored.schema)
        )
        try:
            rows = self._encode_rows(stored, batch)
        except (pa.ArrowException, ValueError, OverflowError) as error:
            raise RecordSchemaError(
                f"records for path {path!r} cannot be stored: {error}; nothing was added"
            ) from error
        self._paths[path] = stored
        stored.add_pending(batch, rows, records.skip_duplicates, records.new_ids)
        if len(stored.pending) >= AUTO_FLUSH_BATCHES or stored.pending_row_count >= AUTO_FLUSH_ROWS:
            self._flush({path})

    def _encode_rows(self, stored: PathTable, batch: pa.Table) -> list[tuple[Any, ...]]:
        """The rows of ``batch`` (ids first) as the driver binds them."""
        ids = batch.column(0)
        if self._dialect == POSTGRESQL and text_needs_escape(ids):
            id_values = [encode_text(i) for i in ids.to_pylist()]
        else:
            id_values = ids.to_pylist()
        columns = [id_values]
        for index, codec in enumerate(stored.codecs):
            columns.append(codec.encode(batch.column(index + 1)))
        return list(zip(*columns, strict=True))

    def _flush(self, paths: Set[RecordPath] | None) -> None:
        """Write every pending row in one transaction, retrying deadlocks.

        A batch that can never be written (its id was stored meanwhile by
        another process without skip_duplicates, or another process gave its
        new path another schema) is refused as a whole, the rest is written,
        and the refusal is raised afterwards. Any other failure leaves every
        record pending.
        """
        refusals: list[DatabaseError] = []
        conflicts = 0
        while True:
            dirty = [
                stored
                for path, stored in self._paths.items()
                if stored.pending and (paths is None or path in paths)
            ]
            if not dirty:
                break
            try:
                inserted = self._write(dirty)
            except _PathSchemaConflict as conflict:
                refusals.append(self._refuse_path(conflict))
                continue
            except _StoredMeanwhile as meanwhile:
                refusals.append(meanwhile.refusal)
                continue
            except sa.exc.IntegrityError as error:
                refusal = self._refuse_stored_duplicates(dirty)
                if refusal is None:
                    raise DatabaseError(
                        f"flushing {_describe_pending(dirty)} failed: {error.orig}; the "
                        "records are still pending"
                    ) from error
                refusals.append(refusal)
                continue
            except sa.exc.OperationalError as error:
                conflicts += 1
                if conflicts < _FLUSH_ATTEMPTS and _is_conflict(error):
                    time.sleep(0.05 * conflicts)
                    continue
                raise self._flush_error(dirty, error) from error
            except sa.exc.SQLAlchemyError as error:
                raise self._flush_error(dirty, error) from error
            for stored in dirty:
                stored.clear_pending()
                stored.in_catalog = True
                if stored.ids is not None:
                    stored.ids.foreign = False  # every id pending was checked, and is stored
            for stored, first_place, ids in inserted:
                assert stored.ids is not None
                stored.ids.add_own(first_place, ids)
            break
        if refusals:
            kind = (
                RecordSchemaError
                if any(isinstance(r, RecordSchemaError) for r in refusals)
                else DuplicateRecordError
            )
            raise kind(" ".join(str(refusal) for refusal in refusals)) from refusals[0]

    def _flush_error(self, dirty: list[PathTable], error: sa.exc.SQLAlchemyError) -> DatabaseError:
        """A failed flush: nothing was written, every record is still pending."""
        kept = "the records are still pending"
        cause = getattr(error, "orig", None)
        if self._dialect == SQLITE and is_sqlite_access_error(cause):
            refusal = sqlite_cannot_write(
                _safe_url(self._engine), sqlite_file(self._engine.url), cause
            )
            return DatabaseError(
                f"flushing {_describe_pending(dirty)} failed: {refusal}; {kept}, flush again "
                "once the store may be written"
            )
        if _is_damage(error):
            damaged = self._table_error(dirty[0], error, "flushing")
            return StoreCorruptedError(
                f"flushing {_describe_pending(dirty)} failed: {damaged}; {kept}, flush again "
                "once the store is repaired"
            )
        return DatabaseError(
            f"flushing {_describe_pending(dirty)} to {_safe_url(self._engine)} failed: "
            f"{_driver_message(error)}; {kept}, flush again to retry"
        )

    def _refuse_path(self, conflict: _PathSchemaConflict) -> RecordSchemaError:
        """Drop a path's pending rows: another process created it with another schema."""
        stored = conflict.stored
        count = sum(len(pending.rows) for pending in stored.pending)
        del self._paths[stored.path]  # the next use reads the path's shape from the catalog
        return RecordSchemaError(
            f"{count} record(s) for path {stored.path!r} were not stored: another process "
            f"created that path meanwhile with another schema ({conflict.difference})."
        )

    def _refuse_stored_duplicates(self, dirty: list[PathTable]) -> DuplicateRecordError | None:
        """Drop the pending batches (added without skip_duplicates) holding ids stored since."""
        messages = []
        for stored in dirty:
            if not stored.in_catalog and not self._path_table_in_db(stored):
                continue
            plain = [p for p in stored.pending if not p.skip_duplicates]
            ids = [i for pending in plain for i in pending.table.column(0).to_pylist()]
            if not ids:
                continue
            found = self._select(stored, self._id_condition(stored, self._query_ids(ids)))
            if found is None:
                continue
            taken = set(found.column(0).to_pylist())
            refused = _holding(plain, taken)
            stored.drop_pending(refused)
            messages.append(_stored_meanwhile(stored, taken, refused))
        return DuplicateRecordError(" ".join(messages)) if messages else None

    def _path_table_in_db(self, stored: PathTable) -> bool:
        with self._engine.connect() as conn:
            return self._catalog_row(conn, stored.path) is not None

    def _query_ids(self, ids: list[str]) -> list[str]:
        """``ids`` as the id column stores them."""
        if self._dialect == POSTGRESQL:
            return [encode_text(i) for i in ids]
        return ids

    def _write(self, dirty: list[PathTable]) -> list[tuple[PathTable, int, list[str]]]:
        """One transaction: create missing tables, then bulk-insert each path's rows.

        Returns, for each table whose ids are indexed here, the place of its first
        inserted row and the ids inserted, to index once committed.

        Raises:
            _StoredMeanwhile: a table indexed here holds ids pending here without
                skip_duplicates; their batches were dropped, nothing was written.
        """
        inserted = []
        with write_transaction(self._engine, self._dialect) as conn:
            writer = BulkWriter(conn, self._dialect)
            if self._dialect == POSTGRESQL:
                # Writers take turns at each table (in one order: no deadlock), so rows
                # are numbered (SEQ_COLUMN) in the order they commit; see _ids.
                for name in sorted(stored.name for stored in dirty):
                    advisory_lock(conn, name)
            for stored in dirty:
                created = not stored.in_catalog and self._register(conn, stored)
                if self._indexed(stored):
                    ids, first_place = self._insert_indexed(conn, writer, stored, created)
                    if ids:
                        inserted.append((stored, first_place, ids))
                    continue
                plain = [r for p in stored.pending if not p.skip_duplicates for r in p.rows]
                skipping = [r for p in stored.pending if p.skip_duplicates for r in p.rows]
                if plain:
                    writer.insert(stored.table, plain, skip_duplicates=False)
                if skipping:
                    writer.insert(stored.table, skipping, skip_duplicates=True)
        return inserted

    def _insert_indexed(
        self, conn: sa.Connection, writer: BulkWriter, stored: PathTable, created: bool
    ) -> tuple[list[str], int]:
        """Insert ``stored``'s pending rows (inside the write transaction, where no
        other writer of the table commits meanwhile), but those whose ids another
        process stored since they were checked; the ids inserted and the place
        (SEQ_COLUMN) of the first.

        Rows that all came with ``new_ids`` are inserted as they are, unchecked (their
        writer vouched for them): an index of the table reads them back when next
        caught up. A table ``created`` in this transaction holds nothing to check.

        Raises:
            _StoredMeanwhile: ids added without skip_duplicates are stored.
        """
        checked = [p for p in stored.pending if not p.new_ids]
        if not checked:
            rows = [row for pending in stored.pending for row in pending.rows]
            self._insert_placed(conn, writer, stored, rows, 1 if created else None)
            return [], 0
        if created:
            ids = stored.ids = StoredIds()
        else:
            ids = self._catch_up(stored, conn)
        taken: set[str] = set()
        if ids.foreign:
            asked = [i for pending in checked for i in pending.table.column(0).to_pylist()]
            found = self._select_indexed(stored, asked, ids_only=True, conn=conn)
            if found is not None:
                taken = set(found.column(0).to_pylist())
        refused = _holding([p for p in checked if not p.skip_duplicates], taken)
        if refused:
            stored.drop_pending(refused)
            named = taken.intersection(i for p in refused for i in p.table.column(0).to_pylist())
            raise _StoredMeanwhile(DuplicateRecordError(_stored_meanwhile(stored, named, refused)))
        rows, inserted = [], []  # the rows as the driver takes them (ids encoded), the ids
        for pending in stored.pending:
            pending_ids = pending.table.column(0).to_pylist()
            if pending.skip_duplicates and not taken.isdisjoint(pending_ids):
                kept = [n for n, i in enumerate(pending_ids) if i not in taken]
                rows += [pending.rows[n] for n in kept]
                inserted += [pending_ids[n] for n in kept]
            else:
                rows += pending.rows
                inserted += pending_ids
        if rows:
            self._insert_placed(conn, writer, stored, rows, ids.last + 1)
        return inserted, ids.last + 1

    def _insert_placed(
        self,
        conn: sa.Connection,
        writer: BulkWriter,
        stored: PathTable,
        rows: list[tuple[Any, ...]],
        first: int | None = None,
    ) -> None:
        """Insert ``rows`` at the places (SEQ_COLUMN) from ``first`` on (None: after the
        last row); the caller holds the table's write lock. SQLite numbers rows given
        no place after the last itself (SEQ_COLUMN is its rowid): nothing is read."""
        if first is None and self._dialect == SQLITE:
            writer.insert(stored.table, rows, skip_duplicates=False)
            return
        if first is None:
            first = self._last_place(conn, stored) + 1
        placed = [(*row, place) for place, row in enumerate(rows, first)]
        writer.insert(stored.table, placed, skip_duplicates=False, extra_columns=(SEQ_COLUMN,))

    def _last_place(self, conn: sa.Connection, stored: PathTable) -> int:
        """The place (SEQ_COLUMN) of the table's last row; 0 when it has none."""
        return int(conn.execute(self._last_place_query(stored)).scalar() or 0)

    def _last_place_query(self, stored: PathTable) -> sa.Select[int]:
        """``SELECT max(place)``: one search of the places' B-tree."""
        return sa.select(sa.func.max(self._position(stored))).select_from(stored.table)

    def _register(self, conn: sa.Connection, stored: PathTable) -> bool:
        """Create ``stored``'s table and catalog row unless another process already did
        (the caller holds the table's write lock); whether it created them.

        Raises:
            _PathSchemaConflict: the catalog holds the path with another schema.
        """
        row = self._catalog_row(conn, stored.path)
        if row is not None:
            schema = schema_from_catalog(row.arrow_schema)
            if not schema.equals(stored.schema, check_metadata=False):
                difference = "; ".join(schema_differences(schema, stored.schema))
                raise _PathSchemaConflict(stored, difference)
            # made elsewhere, maybe by an earlier version
            stored.seq_column = has_column(conn, stored.table, SEQ_COLUMN, "int8")
            return False
        stored.new_table(self._dialect).create(conn, checkfirst=True)
        stored.seq_column = True
        if self._dialect == POSTGRESQL:
            add_commit_column(conn, stored.table)
            stored.commit_column = True
        conn.execute(self._catalog.insert().values(**stored.catalog_row()))
        return True

    def _catalog_row(self, conn: sa.Connection, path: RecordPath) -> Any:
        query = sa.select(self._catalog).where(self._catalog.c.path == path_to_text(path))
        return conn.execute(query).first()

    def _close(self) -> None:
        """Flush pending rows (if that fails, the store stays open) and release the connections."""
        self._flush(None)
        self._paths.clear()
        self._engine.dispose()

    def _closed_message(self) -> str:
        return (
            f"this SQLDatabase ({_safe_url(self._engine)}) is closed; open a new "
            "SQLDatabase on the same URL to keep reading or writing"
        )

    # -- the engine: reads ----------------------------------------------------------------

    def _read_ids(self, path: RecordPath, ids: list[str]) -> pa.Table | None:
        """Stored rows of ``ids`` in one query, and pending ones."""
        if not ids:
            return None
        stored = self._paths[path]
        found = None
        if stored.in_catalog and self._indexed(stored):
            found = self._select_indexed(stored, ids)
        elif stored.in_catalog:
            found = self._select(stored, self._id_condition(stored, self._query_ids(ids)))
        if len(ids) <= _FEW_IDS:
            pending = stored.pending_rows_of(ids)
        else:
            pending = stored.pending_table()
            if pending is not None:
                wanted = pa.array(ids, pa.large_string())
                pending = pending.filter(pc.is_in(pending.column(0), wanted))
        return _combine(found, pending)

    def _indexed(self, stored: PathTable) -> bool:
        """Whether ids at ``stored`` are found through an index of their places
        (SEQ_COLUMN), not the primary key of a table made before."""
        if stored.seq_column is None:
            if not stored.in_catalog:
                return True  # made by the next flush, with the column
            with self._reading_table(stored), self._engine.connect() as conn:
                stored.seq_column = has_column(conn, stored.table, SEQ_COLUMN, "int8")
        return stored.seq_column

    def _position(self, stored: PathTable) -> sa.ColumnClause[int]:
        """The column of each row's place in ``stored``'s table."""
        return sa.literal_column(SEQ_COLUMN, sa.BigInteger())

    def _catch_up(self, stored: PathTable, conn: sa.Connection) -> StoredIds:
        """``stored``'s id index with every row committed so far (read on ``conn``):
        read whole at first, then only the rows after the last place it holds.
        Driver errors are the caller's to word (a flush keeps its rows pending)."""
        ids = stored.ids
        if ids is None:
            ids = stored.ids = StoredIds()
        place = self._position(stored)
        id_column = stored.table.c[ID_COLUMN]
        # one round trip: the last place, and the id at the last place indexed
        # (two scalar subqueries: each is one search of its B-tree)
        last_place = self._last_place_query(stored).scalar_subquery()
        fence = sa.select(id_column).where(place == ids.last).scalar_subquery()
        latest, fenced = conn.execute(sa.select(last_place, fence)).one()
        latest = int(latest or 0)
        if fenced is not None and self._dialect == POSTGRESQL:
            fenced = decode_text(fenced)
        if latest < ids.last or fenced != ids.fence:
            # rows were deleted behind this store's back: read the ids again
            ids = stored.ids = StoredIds()
        while ids.last < latest:
            query = (
                sa.select(place, id_column)
                .select_from(stored.table)
                .where(place > ids.last, place <= latest)
                .order_by(place)
                .limit(LOAD_ROWS)
            )
            # the driver's own tuples (SQLAlchemy's Row objects would double the cost)
            rows = conn.execute(query).cursor.fetchall()
            if not rows:  # deleted meanwhile: read again next time
                break
            places = np.fromiter((row[0] for row in rows), np.int64, len(rows))
            decode = decode_text if self._dialect == POSTGRESQL else str
            texts = [decode(row[1]) for row in rows]
            ids.add(places, texts, own=False)
            self._id_reads.indexed += len(rows)
        return ids

    def _select_indexed(
        self,
        stored: PathTable,
        ids: list[str],
        *,
        ids_only: bool = False,
        conn: sa.Connection | None = None,
    ) -> pa.Table | None:
        """The stored rows of ``ids`` (ids first; only the ids if ``ids_only``), read at
        the places the index names (:meth:`_catch_up` first), on ``conn`` if given
        (whose caller words driver errors), else on a connection of its own."""
        wording = self._reading_table(stored) if conn is None else nullcontext()
        with wording, self._connection(conn) as reading:
            places = self._catch_up(stored, reading).candidates(ids)
            if not places:
                return None
            place = self._position(stored)
            condition = place == places[0] if len(places) == 1 else self._among(place, places)
            if ids_only:
                id_column = stored.table.c[ID_COLUMN]
                values = reading.execute(sa.select(id_column).where(condition)).scalars().all()
                if self._dialect == POSTGRESQL:
                    values = [decode_text(value) for value in values]
                found = pa.table({ID_COLUMN: pa.array(values, pa.large_string())})
            else:
                found = self._select(stored, condition, reading)
        if found is None:
            return None
        self._id_reads.candidates += found.num_rows
        # a row the index names may hold another id of the same key
        found = found.filter(pc.is_in(found.column(0), pa.array(ids, pa.large_string())))
        return found if found.num_rows else None

    def _among(self, place: sa.ColumnClause[int], places: list[int]) -> sa.ColumnElement[bool]:
        """``place IN places``, the places sent as one JSON text parameter."""
        values = sa.bindparam("places", json.dumps(places), type_=sa.Text())
        if self._dialect == POSTGRESQL:
            each = sa.func.json_array_elements_text(sa.cast(values, sa.JSON()))
            return place.in_(
                sa.select(sa.cast(each.table_valued("value").c.value, sa.BigInteger()))
            )
        return place.in_(sa.select(sa.func.json_each(values).table_valued("value").c.value))

    def _id_condition(self, stored: PathTable, ids: list[str]) -> sa.ColumnElement[bool]:
        id_column = stored.table.c[ID_COLUMN]
        if len(ids) == 1:
            return id_column == ids[0]
        # The ids travel as one JSON text parameter (dumped in C; a driver's array
        # adaptation is Python per id), unpacked by the server into a set to join.
        ids_json = sa.bindparam("ids", json.dumps(ids), type_=sa.Text())
        if self._dialect == POSTGRESQL:
            elements = sa.func.json_array_elements_text(sa.cast(ids_json, sa.JSON()))
            return id_column.in_(sa.select(elements.table_valued("value").c.value))
        with_nul = [i for i in ids if "\x00" in i]
        if not with_nul:
            each_id = sa.func.json_each(ids_json).table_valued("value")
            return id_column.in_(sa.select(each_id.c.value))
        # SQLite's JSON functions cut text at NUL: ids holding one are matched by
        # their hex form instead (a scan of the ids, for these rare ids only).
        plain = [i for i in ids if "\x00" not in i]
        hexes = json.dumps([i.encode().hex().upper() for i in with_nul])
        by_hex = sa.func.json_each(sa.bindparam("hex_ids", hexes, type_=sa.Text()))
        each = sa.func.json_each(sa.bindparam("ids", json.dumps(plain), type_=sa.Text()))
        return sa.or_(
            id_column.in_(sa.select(each.table_valued("value").c.value)),
            sa.func.hex(id_column).in_(sa.select(by_hex.table_valued("value").c.value)),
        )

    def _read_all(self, path: RecordPath) -> pa.Table | None:
        stored = self._paths[path]
        found = self._select(stored, None) if stored.in_catalog else None
        return _combine(found, stored.pending_table())

    def _iter_all(self, path: RecordPath, batch_rows: int) -> Iterable[pa.Table]:
        """The stored rows a page of ``batch_rows`` at a time, then the pending rows (as
        they are now) but those a flush meanwhile stored; see :meth:`_pages`."""
        stored = self._paths[path]
        pending = stored.pending_table()
        if not stored.in_catalog:
            return () if pending is None else (pending,)
        return self._pages(stored, pending, batch_rows)

    def _pages(
        self, stored: PathTable, pending: pa.Table | None, batch_rows: int
    ) -> Iterator[pa.Table]:
        """The stored rows in pages of ``batch_rows`` rows, each read when asked for
        (:meth:`_page`), then ``pending``.

        No cursor, transaction or connection is held between pages, so a
        caller that takes its time over each batch blocks no writer (SQLite)
        and holds back no vacuum (PostgreSQL); a page costs the same wherever
        it starts. Rows another process commits meanwhile are read if they
        come after the page read last (on SQLite they always do). ``pending``
        rows stored meanwhile (a flush, or another process storing the id) come
        once, from storage.
        """
        pending_ids = None if pending is None else pending.column(0).combine_chunks()
        stored_pending: list[pa.Array] = []
        last: Any = None
        while True:
            with self._lock:
                self._require_open()
                page, last = self._page(stored, last, batch_rows)
            if page is None:
                break
            self._scan_reads.queries += 1
            self._scan_reads.rows += page.num_rows
            ids = page.column(0)
            if pending_ids is not None:
                stored_pending.append(ids.filter(pc.is_in(ids, pending_ids)).combine_chunks())
            yield page
            if last is None:
                break
        if pending is None:
            return
        found = [ids for ids in stored_pending if len(ids)]
        if found:
            taken = pa.concat_arrays(found)
            pending = pending.filter(pc.invert(pc.is_in(pending.column(0), taken)))
        yield pending

    def _page(self, stored: PathTable, last: Any, batch_rows: int) -> tuple[pa.Table | None, Any]:
        """The ``batch_rows`` stored rows after ``last`` (None: from the first), and what
        the next page starts after (None: this page was the last one).

        In the order rows were stored: ``place > last``, up to the ``batch_rows``-th
        such place (found in the places' index). In a table made by an earlier
        version, in the order of the ids, by the primary key: ``id > last ORDER
        BY id LIMIT n``.
        """
        if self._indexed(stored):
            place = self._position(stored)
            after = place > (last or 0)
            bound_query = (
                sa.select(place)
                .select_from(stored.table)
                .where(after)
                .order_by(place)
                .limit(1)
                .offset(batch_rows - 1)
            )
            with self._reading_table(stored), self._engine.connect() as conn:
                bound = conn.execute(bound_query).scalar()
                condition = after if bound is None else sa.and_(after, place <= bound)
                page = self._select(stored, condition, conn)
            return page, bound
        by_id = None
        if last is not None:
            by_id = stored.table.c[ID_COLUMN] > self._query_ids([last])[0]
        page = self._select(stored, by_id, first_by_id=batch_rows)
        if page is None or page.num_rows < batch_rows:
            return page, None
        return page, page.column(0)[-1].as_py()

    def _read_new(self, path: RecordPath, position: object) -> tuple[pa.Table | None, object]:
        """The rows stored since ``position``, and the pending rows.

        On SQLite, the rows whose place (SEQ_COLUMN; the rowid in a table made
        by an earlier version) is above ``position``. A flush numbers its rows
        from the table's last place on, and writers take turns (one write
        transaction at a time), so committed places grow in the order rows
        become durable. The largest place is read first; the rows are then read
        up to it, so a row committed in between is read next time.

        On PostgreSQL, the rows committed since the snapshot ``position``
        (:meth:`_read_committed_since`). Elsewhere, and for tables made before
        the commit column, every row (the toolkit's default).
        """
        stored = self._paths[path]
        if not stored.in_catalog:
            return super()._read_new(path, position)
        if self._dialect == POSTGRESQL:
            if not self._has_commit_column(stored):
                return super()._read_new(path, position)
            found, snapshot = self._read_committed_since(stored, position)
            return _combine(found, stored.pending_table()), snapshot
        place = SEQ_COLUMN if self._indexed(stored) else stored.rowid
        if place is None:
            return super()._read_new(path, position)
        column: sa.ColumnElement[Any] = sa.literal_column(place)
        with self._reading_table(stored), self._engine.connect() as conn:
            latest = conn.execute(sa.select(sa.func.max(column)).select_from(stored.table)).scalar()
        condition = None if latest is None else column <= latest
        if isinstance(position, int) and condition is not None:
            condition = sa.and_(column > position, condition)
        found = None if latest is None or latest == position else self._select(stored, condition)
        return _combine(found, stored.pending_table()), latest if latest is not None else position

    def _read_committed_since(
        self, stored: PathTable, position: object
    ) -> tuple[pa.Table | None, str]:
        """PostgreSQL: the rows of transactions that committed after the snapshot
        ``position`` was taken (all rows when None), and the snapshot now.

        One repeatable-read transaction takes a snapshot (``pg_current_snapshot``)
        and reads with it: a row is new when its transaction is visible now and
        was not in ``position``. Transactions older than that snapshot's
        ``xmin`` were all settled by then, so the index on the commit column
        limits the read to transactions from that ``xmin`` on. Unlike a
        sequence, this misses no row of a transaction that started before
        another one and committed after it.
        """
        committed: sa.ColumnElement[Any] = sa.literal_column(COMMIT_COLUMN)
        condition: sa.ColumnElement[bool] | None = None
        if isinstance(position, str):
            mark = sa.cast(position, PG_SNAPSHOT)
            condition = sa.and_(
                committed >= sa.func.pg_snapshot_xmin(mark),
                sa.not_(sa.func.pg_visible_in_snapshot(committed, mark)),
            )
        with self._reading_table(stored), self._engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(sa.text("SELECT pg_current_snapshot()::text")).scalar_one()
                found = self._select(stored, condition, conn)
        return found, str(snapshot)

    def _has_commit_column(self, stored: PathTable) -> bool:
        if stored.commit_column is None:
            with self._reading_table(stored), self._engine.connect() as conn:
                stored.commit_column = has_column(conn, stored.table, COMMIT_COLUMN, "xid8")
        return stored.commit_column

    def _read_matching(
        self, path: RecordPath, schema: pa.Schema, column_values: Mapping[str, Any]
    ) -> pa.Table | None:
        """Stored rows selected in SQL, and pending rows filtered in Arrow.

        None selects the SQL NULLs of a column of any type; a map, list or
        struct (JSON, whose text is no equality) is matched against None only.
        """
        stored = self._paths[path]
        conditions: list[sa.ColumnElement[bool]] | None = []
        for name, value in column_values.items():
            index = schema.get_field_index(name)
            codec = stored.codecs[index]
            # as in every store: the value must convert to the column's type, and
            # a map, list or struct is refused any value but None
            equal_mask(path, name, pa.array([], codec.arrow_type), value)
            column = stored.table.c[stored.sql_columns[index]]
            condition = column.is_(None) if value is None else self._equal(column, codec, value)
            if condition is None or conditions is None:
                conditions = None  # nothing stored can match
            else:
                conditions.append(condition)
        found = None
        if stored.in_catalog and conditions is not None:
            found = self._select(stored, sa.and_(sa.true(), *conditions))
        pending = stored.pending_table()
        if pending is not None and column_values:
            mask = None
            for name, value in column_values.items():
                column = pending.column(schema.get_field_index(name) + 1)
                matches = equal_mask(path, name, column, value)
                mask = matches if mask is None else pc.and_(mask, matches)
            pending = pending.filter(mask)
        return _combine(found, pending)

    def _equal(
        self, column: sa.ColumnElement[Any], codec: ColumnCodec, value: Any
    ) -> sa.ColumnElement[bool] | None:
        """``column = value`` as stored; None where nothing can be equal (NaN).

        ``codec`` is a scalar one: :func:`equal_mask` refused values for JSON columns.
        """
        if codec.is_json:
            raise AssertionError(f"no equality with a value in a JSON column: {codec.arrow_type}")
        encoded = codec.encode(pa.chunked_array([pa.array([value], codec.arrow_type)]))[0]
        if pa.types.is_floating(codec.arrow_type):
            number = float(value)
            if number != number:
                return None  # NaN equals nothing, as in Arrow
            if number == 0.0 and self._dialect == SQLITE:
                # SQLite stores -0.0 as text (bound as text: a float bind would parse it)
                marker = sa.literal(SQLITE_NEGATIVE_ZERO, type_=sa.Text())
                return sa.or_(column == 0.0, column == marker)
        equal: sa.ColumnElement[bool] = column == encoded
        return equal

    def _list_paths(self, prefix: RecordPath) -> Iterable[RecordPath]:
        with self._reading_catalog(None):
            with self._engine.connect() as conn:
                texts = conn.execute(sa.select(self._catalog.c.path)).scalars().all()
            paths = {path_from_text(text) for text in texts}
        paths.update(path for path, stored in self._paths.items() if stored.pending)
        return paths

    # -- helpers ---------------------------------------------------------------------------

    def _path_table(self, path: RecordPath) -> PathTable | None:
        """The shape of ``path`` as known here or stored in the catalog, or None."""
        stored = self._paths.get(path)
        if stored is not None:
            return stored
        with self._reading_catalog(path):
            with self._engine.connect() as conn:
                row = self._catalog_row(conn, path)
            if row is None:
                return None
            if row.table_name != table_name(path):
                raise DatabaseError(
                    f"the catalog maps path {path!r} to table {row.table_name!r}, not "
                    f"{table_name(path)!r}; the database was written by an incompatible version"
                )
            stored = PathTable.create(
                path,
                schema_from_catalog(row.arrow_schema),
                self._dialect,
                self._metadata,
                sql_columns=json.loads(row.columns),
            )
        stored.in_catalog = True
        self._paths[path] = stored
        return stored

    def _select(
        self,
        stored: PathTable,
        condition: sa.ColumnElement[bool] | None,
        conn: sa.Connection | None = None,
        *,
        first_by_id: int | None = None,
    ) -> pa.Table | None:
        """The stored rows matching ``condition`` (all when None), ids first; read on
        ``conn`` where given (inside its transaction), else on a connection of its own.
        ``first_by_id``: only that many rows, the first in the order of their ids."""
        table = stored.table
        selected: list[sa.ColumnElement[Any]] = [table.c[ID_COLUMN]]
        for sql_name, codec in zip(stored.sql_columns, stored.codecs, strict=True):
            column = table.c[sql_name]
            # jsonb is read as its text, parsed in one go rather than value by value
            json_text = codec.is_json and self._dialect == POSTGRESQL
            selected.append(sa.cast(column, sa.Text()) if json_text else column)
        query = sa.select(*selected)
        if condition is not None:
            query = query.where(condition)
        if first_by_id is not None:
            query = query.order_by(table.c[ID_COLUMN]).limit(first_by_id)
        dialect = self._engine.dialect
        # Where no column's type converts what the driver returns, its own tuples are
        # taken as they are (SQLAlchemy's Row objects cost a third of a large read).
        raw = all(column.type.result_processor(dialect, None) is None for column in selected)
        with self._reading_table(stored), self._connection(conn) as reading:
            result = reading.execute(query)
            rows = result.cursor.fetchall() if raw else result.all()
        if not rows:
            return None
        columns = list(zip(*rows, strict=True))
        ids = list(columns[0])
        with self._decoding(stored, ID_COLUMN):
            if self._dialect == POSTGRESQL:
                ids = [decode_text(v) for v in ids]
            arrays = [pa.array(ids, pa.large_string())]
        for index, (codec, values) in enumerate(zip(stored.codecs, columns[1:], strict=True)):
            with self._decoding(stored, stored.sql_columns[index], is_json=codec.is_json):
                arrays.append(codec.decode(list(values)))
        return pa.Table.from_arrays(arrays, schema=_stored_schema(stored.schema))

    @contextmanager
    def _connection(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """``conn`` if given (left open), else a new connection closed at the end."""
        if conn is not None:
            yield conn
            return
        with self._engine.connect() as new:
            yield new

    @contextmanager
    def _reading_table(self, stored: PathTable) -> Iterator[None]:
        """Driver errors of a read of ``stored``'s table as DatabaseErrors naming it."""
        try:
            yield
        except sa.exc.SQLAlchemyError as error:
            raise self._table_error(stored, error, "reading") from error

    def _table_error(
        self, stored: PathTable, error: sa.exc.SQLAlchemyError, doing: str
    ) -> DatabaseError:
        cause = _driver_message(error)
        if _is_damage(error):
            return StoreCorruptedError(
                f"the table {stored.name!r} of path {stored.path!r} in "
                f"{_safe_url(self._engine)} is not as orcapod's catalog describes it ({cause}): "
                "another program dropped or altered it; restore it from a backup, or drop it "
                f"and its catalog row (DELETE FROM {CATALOG_TABLE} WHERE table_name = "
                f"'{stored.name}') so that the path's records are computed again"
            )
        return DatabaseError(
            f"{doing} path {stored.path!r} (table {stored.name!r}) of "
            f"{_safe_url(self._engine)} failed: {cause}; check that the database is reachable "
            "and try again"
        )

    @contextmanager
    def _decoding(
        self, stored: PathTable, sql_column: str, *, is_json: bool = False
    ) -> Iterator[None]:
        """Values that do not decode as the catalog's type: the store was changed behind us."""
        try:
            yield
        except (ValueError, TypeError, KeyError, OverflowError, pa.ArrowException) as error:
            where = f"column {sql_column!r} of table {stored.name!r} (path {stored.path!r})"
            find = ""
            if self._dialect == SQLITE and is_json:
                find = (
                    f" (SELECT {ID_COLUMN} FROM {stored.name} WHERE NOT "
                    f'json_valid("{sql_column}") finds them)'
                )
            raise StoreCorruptedError(
                f"{where} in {_safe_url(self._engine)} holds a value orcapod did not store "
                f"there ({type(error).__name__}: {_first_line(error)}): another program "
                f"changed it; delete the damaged row(s){find} so that they are computed "
                "again, or restore the table from a backup"
            ) from error

    @contextmanager
    def _reading_catalog(self, path: RecordPath | None) -> Iterator[None]:
        """Errors reading the catalog table as DatabaseErrors naming it."""
        what = f"the catalog table {CATALOG_TABLE!r} of {_safe_url(self._engine)}"
        try:
            yield
        except sa.exc.SQLAlchemyError as error:
            cause = _driver_message(error)
            if _is_damage(error):
                raise StoreCorruptedError(
                    f"{what} cannot be read ({cause}): another program dropped or altered it; "
                    "restore the database from a backup, or move it away so that a new store "
                    "is made and the results are computed again"
                ) from error
            raise DatabaseError(
                f"reading {what} failed: {cause}; check that the database is reachable and "
                "try again"
            ) from error
        except (ValueError, TypeError, KeyError, AttributeError, pa.ArrowException) as error:
            row = "" if path is None else f" (the row of path {path!r})"
            raise StoreCorruptedError(
                f"{what}{row} holds a value orcapod did not store there "
                f"({type(error).__name__}: {_first_line(error)}): another program changed it; "
                "restore the database from a backup"
            ) from error


# -- module helpers ------------------------------------------------------------------------


def _stored_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_ID_FIELD, *schema], metadata=schema.metadata)


def _combine(found: pa.Table | None, pending: pa.Table | None) -> pa.Table | None:
    """Stored and pending rows (ids first) as one table; None when there are none."""
    if pending is not None and found is not None:
        # a row skipped as a duplicate may be pending here and committed by another process
        pending = pending.filter(pc.invert(pc.is_in(pending.column(0), found.column(0))))
    parts = [part for part in (found, pending) if part is not None and part.num_rows]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _safe_url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _open_error(engine: sa.Engine, error: sa.exc.SQLAlchemyError, create: bool) -> DatabaseError:
    """The error of a store that could not be opened; a missing PostgreSQL database is named.

    A SQLite store this user may not read, or (``create``) may not write, is
    said to be so, naming the file and why: never "damaged".
    """
    cause = getattr(error, "orig", None) or error
    url = _safe_url(engine)
    if engine.url.get_backend_name() == SQLITE and is_sqlite_access_error(cause):
        file = sqlite_file(engine.url)
        if create:
            return sqlite_cannot_write(url, file, cause)
        return sqlite_cannot_open(url, file, cause)
    name = engine.url.database
    if engine.url.get_backend_name() == POSTGRESQL and f'database "{name}" does not exist' in str(
        cause
    ):
        return StoreNotCreatableError(  # a run does not create databases either
            f"cannot open the SQL database {url}: the server has no database {name!r}; "
            f"create it first (createdb {name}, or CREATE DATABASE in psql) or correct the "
            "URL"
        )
    if engine.url.get_backend_name() == SQLITE and "file is not a database" in str(cause):
        return StoreCorruptedError(
            f"{url} is not a SQLite database ({cause}): the file was overwritten or "
            "damaged; restore it from a backup, or move it away so that a new store "
            "is made there and the results are computed again"
        )
    return DatabaseError(
        f"cannot open the SQL database {url}: {cause}; check the URL, that the server is "
        "running and that the user may create tables there"
    )


_DAMAGE_STATES = {"42P01", "42703", "42804", "42883", "22P02", "42P10"}
"""PostgreSQL errors of a table not as the catalog says: undefined table or column,
datatype mismatch, no operator for the column's type, invalid text for the column's
type, wrong ON CONFLICT key."""

_SQLITE_DAMAGE = (
    "no such table",
    "no such column",
    "has no column named",
    "malformed",
    "datatype mismatch",
    "not a database",
)


def _is_damage(error: sa.exc.SQLAlchemyError) -> bool:
    """Whether a driver error says the stored tables are not what orcapod made."""
    cause = getattr(error, "orig", None)
    if getattr(cause, "sqlstate", None) in _DAMAGE_STATES:
        return True
    text = str(cause if cause is not None else error)
    return any(mark in text for mark in _SQLITE_DAMAGE)


def _driver_message(error: sa.exc.SQLAlchemyError) -> str:
    """The driver's own message, first line only: no SQL text, no bound parameters."""
    cause = getattr(error, "orig", None)
    return _first_line(cause if isinstance(cause, BaseException) else error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= 300 else line[:300] + "..."


def _is_conflict(error: sa.exc.OperationalError) -> bool:
    """A deadlock or serialization failure: retrying the transaction may succeed."""
    code = getattr(error.orig, "sqlstate", None)
    return code in {"40001", "40P01"}


def _holding(batches: list[PendingBatch], taken: Set[str]) -> list[PendingBatch]:
    """Those of ``batches`` holding some of the ids ``taken``."""
    if not taken:
        return []
    return [p for p in batches if not taken.isdisjoint(p.table.column(0).to_pylist())]


def _stored_meanwhile(stored: PathTable, taken: Set[str], refused: list[PendingBatch]) -> str:
    """What a flush says of the batches ``refused``: ``taken`` ids were stored meanwhile."""
    return (
        f"another process stored record id(s) {preview_ids(sorted(taken))} at path "
        f"{stored.path!r} after they were added here without skip_duplicates; the "
        f"{len(refused)} batch(es) holding them ("
        f"{sum(len(p.rows) for p in refused)} record(s)) were not stored, the rest was."
    )


def _describe_pending(dirty: list[PathTable]) -> str:
    rows = sum(len(pending.rows) for stored in dirty for pending in stored.pending)
    paths = ", ".join(repr(stored.path) for stored in dirty[:PREVIEW])
    return f"{rows} pending record(s) at {paths}"
