"""SQLDatabase: an ArrowDatabase over SQLite or PostgreSQL, through SQLAlchemy Core."""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from orcapod.db.sql._catalog import (
    CATALOG_TABLE,
    ID_COLUMN,
    PathTable,
    catalog_table,
    path_from_text,
    path_to_text,
    schema_from_catalog,
    table_name,
)
from orcapod.db.sql._checks import (
    PREVIEW,
    check_new_schema,
    check_schema,
    checked_record_ids,
    equal_to,
    first_new_occurrences,
    preview,
    refuse_duplicates,
    require_str,
    require_table,
    schema_differences,
    validate_prefix,
)
from orcapod.db.sql._engines import (
    POSTGRESQL,
    SQLITE,
    BulkWriter,
    advisory_lock,
    is_sqlite_access_error,
    open_engine,
    sqlite_cannot_open,
    sqlite_cannot_write,
    sqlite_file,
    write_transaction,
)
from orcapod.db.sql._types import (
    SQLITE_NEGATIVE_ZERO,
    ColumnCodec,
    decode_text,
    encode_text,
    match_value,
    text_needs_escape,
)
from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    RecordSchemaError,
    StoreCorruptedError,
    StoreNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping
    from types import TracebackType

    from orcapod.protocols.values import RecordPath

__all__ = ["SQLDatabase"]


class _PathSchemaConflict(Exception):
    """Raised inside a flush: another process created a path with another schema."""

    def __init__(self, stored: PathTable, difference: str) -> None:
        super().__init__(difference)
        self.stored = stored
        self.difference = difference


_ID_FIELD = pa.field(ID_COLUMN, pa.large_string(), nullable=False)
_FLUSH_ATTEMPTS = 5
_FEW_IDS = 16
"""Lookups of at most this many ids slice pending rows out instead of concatenating them."""
AUTO_FLUSH_BATCHES = 1_000
AUTO_FLUSH_ROWS = 100_000
"""Pending batches or rows of one path at which an add flushes that path by itself."""


class SQLDatabase:
    """An ArrowDatabase storing each record path as a table of a SQLite or PostgreSQL database.

    ``url`` is a SQLAlchemy URL: ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
    ``postgresql://user@host/db`` or ``postgresql+psycopg://user@host/db`` (psycopg 3;
    ``pip install 'orcapod-db-sql[postgres]'``). A ``schema`` (PostgreSQL only, also
    given as ``?schema=name`` in the URL) keeps every table in that namespace,
    created if missing.

    Added records are pending until :meth:`flush` (or ``flush=True``, or
    :meth:`close`), which writes every pending row in one transaction, with bulk
    inserts (``COPY`` on PostgreSQL). Reads see pending rows. Ids are checked
    against an in-memory set per path, loaded once; rows added with
    ``skip_duplicates=True`` are inserted only if absent, so ids another process
    committed meanwhile are skipped at commit time. Safe to share between
    threads; several processes may write to one database at once.
    """

    def __init__(self, url: str, *, schema: str | None = None, create: bool = True) -> None:
        opened = open_engine(url, schema, create=create)
        self._engine, self._dialect, self._schema = opened.engine, opened.dialect, opened.schema
        self._read_only = opened.read_only
        self._metadata = sa.MetaData(schema=self._schema)
        self._catalog = catalog_table(self._metadata)
        self._paths: dict[RecordPath, PathTable] = {}
        self._lock = threading.RLock()
        self._closed = False
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
        return f"SQLDatabase({_safe_url(self._engine)!r}, {state})"

    def __enter__(self) -> SQLDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------

    def add_record(
        self,
        path: RecordPath,
        record_id: str,
        record: pa.Table,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        """Add one record (a one-row table) under ``record_id``.

        The record is pending until a flush: ``flush=True`` (of ``path``),
        :meth:`flush`, :meth:`close`, or the add that brings ``path``'s pending
        records to ``AUTO_FLUSH_BATCHES`` batches or ``AUTO_FLUSH_ROWS`` rows.

        Raises:
            DuplicateRecordError: ``record_id`` is stored or pending at ``path``
                and ``skip_duplicates`` is false.
            RecordSchemaError: ``record`` is not one row, or does not have the
                schema of the records already at ``path``, or has a column type
                that cannot be stored.
            DatabaseError: the flush this add made failed (see :meth:`flush`).
        """
        path = validate_record_path(path)
        require_str("record_id", record_id)
        require_table("record", record)
        if record.num_rows != 1:
            raise RecordSchemaError(
                f"add_record at path {path!r} takes a one-row table for record id "
                f"{record_id!r}, got {record.num_rows} rows; use add_records for many records"
            )
        ids = pa.array([record_id], pa.large_string())
        self._add(path, ids, record, skip_duplicates, flush)

    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        """Add many records at once; their ids are taken from ``record_id_column``.

        The batch goes in whole or not at all. With ``skip_duplicates``, rows
        whose id is stored, pending or earlier in ``records`` are dropped.
        The records are pending until a flush, as for :meth:`add_record`.

        Raises:
            DuplicateRecordError: an id is stored, pending or repeated and
                ``skip_duplicates`` is false; the error lists them.
            RecordSchemaError: ``record_id_column`` is missing, not strings or
                has nulls, or the other columns do not fit the path's schema.
            DatabaseError: the flush this add made failed (see :meth:`flush`).
        """
        path = validate_record_path(path)
        require_table("records", records)
        ids = checked_record_ids(path, records, record_id_column)
        data = records.drop_columns([record_id_column])
        self._add(path, ids, data, skip_duplicates, flush)

    def _add(
        self,
        path: RecordPath,
        ids: pa.Array | pa.ChunkedArray,
        data: pa.Table,
        skip_duplicates: bool,
        flush: bool,
    ) -> None:
        with self._lock:
            self._require_open()
            if self._read_only is not None:
                raise DatabaseError(
                    f"cannot add records to path {path!r}: {_safe_url(self._engine)} was "
                    f"opened read-only, since {self._read_only}; nothing was added. To "
                    "write, make the store writable and open it again with create=True"
                )
            stored = self._path_table(path)
            if stored is None:
                check_new_schema(path, data.schema)
                stored = self._new_path_table(path, data.schema)
            else:
                check_schema(path, stored.schema, data.schema)
            known = self._known_ids(stored)
            id_list: list[str] = ids.to_pylist()
            if skip_duplicates:
                keep = first_new_occurrences(id_list, known)
                if keep is not None:
                    id_list = [i for i, kept in zip(id_list, keep, strict=True) if kept]
                    mask = pa.array(keep, pa.bool_())
                    ids, data = ids.filter(mask), data.filter(mask)
            else:
                refuse_duplicates(path, id_list, known)
            if not id_list:
                return
            batch = pa.Table.from_arrays(
                [ids.cast(pa.large_string()), *data.columns],
                schema=_stored_schema(stored.schema),
            )
            try:
                rows = self._encode_rows(stored, batch)
            except (pa.ArrowException, ValueError, OverflowError) as error:
                raise RecordSchemaError(
                    f"records for path {path!r} cannot be stored: {error}; nothing was added"
                ) from error
            self._paths[path] = stored
            known.update(id_list)
            stored.add_pending(batch, rows, skip_duplicates)
            if (
                flush
                or len(stored.pending) >= AUTO_FLUSH_BATCHES
                or stored.pending_row_count >= AUTO_FLUSH_ROWS
            ):
                self._flush_locked({path})

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

    def flush(self, *, paths: Collection[RecordPath] | None = None) -> None:
        """Write every pending row, of every path, in one transaction.

        Args:
            paths: only these paths' rows (a writer flushing what it wrote, see
                ``orcapod.protocols.database.flush_paths``); all by default.

        Raises:
            DatabaseError: the database is closed, or the transaction failed
                (nothing pending is lost; flush again to retry).
            DuplicateRecordError: another process stored an id added here
                without ``skip_duplicates`` (nothing of this flush was written).
        """
        with self._lock:
            self._require_open()
            self._flush_locked(None if paths is None else {validate_record_path(p) for p in paths})

    def _flush_locked(self, paths: Collection[RecordPath] | None = None) -> None:
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
                self._write(dirty)
            except _PathSchemaConflict as conflict:
                refusals.append(self._refuse_path(conflict))
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
            refused = [p for p in plain if taken.intersection(p.table.column(0).to_pylist())]
            stored.drop_pending(refused)
            assert stored.known_ids is not None
            for pending in refused:
                stored.known_ids.difference_update(set(pending.table.column(0).to_pylist()) - taken)
            messages.append(
                f"another process stored record id(s) {preview(sorted(taken))} at path "
                f"{stored.path!r} after they were added here without skip_duplicates; the "
                f"{len(refused)} batch(es) holding them ("
                f"{sum(len(p.rows) for p in refused)} record(s)) were not stored, the rest was."
            )
        return DuplicateRecordError(" ".join(messages)) if messages else None

    def _path_table_in_db(self, stored: PathTable) -> bool:
        with self._engine.connect() as conn:
            return self._catalog_row(conn, stored.path) is not None

    def _query_ids(self, ids: list[str]) -> list[str]:
        """``ids`` as the id column stores them."""
        if self._dialect == POSTGRESQL:
            return [encode_text(i) for i in ids]
        return ids

    def _write(self, dirty: list[PathTable]) -> None:
        """One transaction: create missing tables, then bulk-insert each path's rows."""
        with write_transaction(self._engine, self._dialect) as conn:
            writer = BulkWriter(conn, self._dialect)
            for stored in dirty:
                if not stored.in_catalog:
                    self._register(conn, stored)
                plain = [r for p in stored.pending if not p.skip_duplicates for r in p.rows]
                skipping = [r for p in stored.pending if p.skip_duplicates for r in p.rows]
                if plain:
                    writer.insert(stored.table, plain, skip_duplicates=False)
                if skipping:
                    writer.insert(stored.table, skipping, skip_duplicates=True)

    def _register(self, conn: sa.Connection, stored: PathTable) -> None:
        """Create ``stored``'s table and catalog row unless another process already did.

        Raises:
            _PathSchemaConflict: the catalog holds the path with another schema.
        """
        if self._dialect == POSTGRESQL:
            advisory_lock(conn, stored.name)
        row = self._catalog_row(conn, stored.path)
        if row is not None:
            schema = schema_from_catalog(row.arrow_schema)
            if not schema.equals(stored.schema, check_metadata=False):
                difference = "; ".join(schema_differences(schema, stored.schema))
                raise _PathSchemaConflict(stored, difference)
            return
        stored.table.create(conn, checkfirst=True)
        conn.execute(self._catalog.insert().values(**stored.catalog_row()))

    def _catalog_row(self, conn: sa.Connection, path: RecordPath) -> Any:
        query = sa.select(self._catalog).where(self._catalog.c.path == path_to_text(path))
        return conn.execute(query).first()

    def close(self) -> None:
        """Flush pending rows and release the connections; closing twice is harmless.

        Raises:
            DatabaseError: the final flush failed; the database stays open so
                nothing pending is lost.
        """
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
            self._paths.clear()
            self._engine.dispose()

    # -- reads ----------------------------------------------------------------------------

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """The record stored under ``record_id`` as a one-row table, or None."""
        path = validate_record_path(path)
        require_str("record_id", record_id)
        return self._read_ids(path, [record_id], record_id_column)

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records stored under any of ``record_ids``, each once, in one query.

        Unknown ids are left out; None when none is known.
        """
        path = validate_record_path(path)
        if isinstance(record_ids, str | bytes):
            raise TypeError(
                f"record_ids must be a collection of ids, got the single id {record_ids!r}; "
                f"pass [{record_ids!r}] or use get_record_by_id"
            )
        wanted = list(dict.fromkeys(record_ids))
        if not all(type(record_id) is str for record_id in wanted):
            for record_id in wanted:
                require_str("each of record_ids", record_id)
        if not wanted:
            with self._lock:
                self._require_open()
            return None
        return self._read_ids(path, wanted, record_id_column)

    def _read_ids(
        self, path: RecordPath, ids: list[str], record_id_column: str | None
    ) -> pa.Table | None:
        with self._lock:
            stored = self._path_table(path)
            if stored is None:
                return None
            found = None
            if stored.in_catalog:
                found = self._select(stored, self._id_condition(stored, self._query_ids(ids)))
            if len(ids) <= _FEW_IDS:
                pending = stored.pending_rows_of(ids)
            else:
                pending = stored.pending_table()
                if pending is not None:
                    wanted = pa.array(ids, pa.large_string())
                    pending = pending.filter(pc.is_in(pending.column(0), wanted))
            return self._combine(stored, found, pending, record_id_column)

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

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        """Every record at ``path``, stored and pending, or None for an unknown path."""
        path = validate_record_path(path)
        with self._lock:
            stored = self._path_table(path)
            if stored is None:
                return None
            found = self._select(stored, None) if stored.in_catalog else None
            return self._combine(stored, found, stored.pending_table(), record_id_column)

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        """The records whose columns equal every value in ``column_values``, or None.

        A value of None matches nulls; an empty mapping matches every record.

        Raises:
            DatabaseError: a column does not exist at ``path``, a value does not
                convert to its column's type, or the column is a map, list or
                struct (which cannot be matched by value).
        """
        path = validate_record_path(path)
        with self._lock:
            stored = self._path_table(path)
            if stored is None:
                return None
            conditions, pending_mask = self._conditions(stored, column_values)
            found = None
            if stored.in_catalog and conditions is not None:
                found = self._select(stored, sa.and_(sa.true(), *conditions))
            pending = stored.pending_table()
            if pending is not None:
                pending = pending.filter(pending_mask(pending)) if column_values else pending
            return self._combine(stored, found, pending, record_id_column)

    def _conditions(
        self, stored: PathTable, column_values: Mapping[str, Any]
    ) -> tuple[list[sa.ColumnElement[bool]] | None, Any]:
        """SQL conditions (None: nothing can match) and a mask function for pending rows."""
        conditions: list[sa.ColumnElement[bool]] | None = []
        masks = []
        for name, value in column_values.items():
            index = stored.schema.get_field_index(name)
            if index < 0:
                raise DatabaseError(
                    f"path {stored.path!r} has no column {name!r} to match; its columns are "
                    f"{stored.schema.names}"
                )
            codec = stored.codecs[index]
            if not codec.comparable:
                raise DatabaseError(
                    f"column {name!r} at path {stored.path!r} is {codec.arrow_type}, which "
                    "cannot be matched by value; read get_all_records(path) and filter it"
                )
            column = stored.table.c[stored.sql_columns[index]]
            masks.append((index + 1, name, value))
            if value is None:
                condition: sa.ColumnElement[bool] | None = column.is_(None)
            else:
                condition = self._equal(column, codec, name, value)
            if condition is None or conditions is None:
                conditions = None
            else:
                conditions.append(condition)

        def pending_mask(table: pa.Table) -> Any:
            mask = None
            for position, name, value in masks:
                matches = equal_to(stored.path, name, table.column(position), value)
                mask = matches if mask is None else pc.and_(mask, matches)
            return mask

        return conditions, pending_mask

    def _equal(
        self, column: sa.ColumnElement[Any], codec: ColumnCodec, name: str, value: Any
    ) -> sa.ColumnElement[bool] | None:
        """``column = value`` as stored; None where nothing can be equal (NaN)."""
        encoded = match_value(codec, name, value)
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

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        """Every path holding records (stored or pending) whose first names are ``prefix``."""
        prefix = validate_prefix(prefix)
        with self._lock:
            self._require_open()
            with self._reading_catalog(None):
                with self._engine.connect() as conn:
                    texts = conn.execute(sa.select(self._catalog.c.path)).scalars().all()
                paths = {path_from_text(text) for text in texts}
            paths.update(path for path, stored in self._paths.items() if stored.pending)
            return sorted(path for path in paths if path[: len(prefix)] == prefix)

    # -- helpers ---------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._closed:
            raise DatabaseError(
                f"this SQLDatabase ({_safe_url(self._engine)}) is closed; open a new "
                "SQLDatabase on the same URL to keep reading or writing"
            )

    def _path_table(self, path: RecordPath) -> PathTable | None:
        """The shape of ``path`` as known here or stored in the catalog, or None."""
        self._require_open()
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

    def _new_path_table(self, path: RecordPath, schema: pa.Schema) -> PathTable:
        return PathTable.create(path, schema, self._dialect, self._metadata)

    def _known_ids(self, stored: PathTable) -> set[str]:
        """The ids stored or pending at ``stored``'s path, loaded from the table once."""
        if stored.known_ids is None:
            ids: set[str] = set()
            if stored.in_catalog:
                with self._reading_table(stored), self._engine.connect() as conn:
                    values = conn.execute(sa.select(stored.table.c[ID_COLUMN])).scalars().all()
                if self._dialect == POSTGRESQL:
                    ids = {decode_text(v) for v in values}
                else:
                    ids = set(values)
            stored.known_ids = ids
        return stored.known_ids

    def _select(
        self, stored: PathTable, condition: sa.ColumnElement[bool] | None
    ) -> pa.Table | None:
        """The stored rows matching ``condition`` (all when None), ids first."""
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
        dialect = self._engine.dialect
        # Where no column's type converts what the driver returns, its own tuples are
        # taken as they are (SQLAlchemy's Row objects cost a third of a large read).
        raw = all(column.type.result_processor(dialect, None) is None for column in selected)
        with self._reading_table(stored), self._engine.connect() as conn:
            result = conn.execute(query)
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

    def _combine(
        self,
        stored: PathTable,
        found: pa.Table | None,
        pending: pa.Table | None,
        record_id_column: str | None,
    ) -> pa.Table | None:
        """Stored and pending rows as readers get them; None when there are none."""
        if pending is not None and found is not None:
            # a row skipped as a duplicate may be pending here and committed by another process
            pending = pending.filter(pc.invert(pc.is_in(pending.column(0), found.column(0))))
        parts = [part for part in (found, pending) if part is not None and part.num_rows]
        if not parts:
            return None
        table = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        if record_id_column is None:
            return table.remove_column(0)
        require_str("record_id_column", record_id_column)
        if record_id_column in stored.schema.names:
            raise DatabaseError(
                f"record_id_column {record_id_column!r} is also a data column at path "
                f"{stored.path!r}; choose a name for the ids that is not one of "
                f"{stored.schema.names}"
            )
        return table.rename_columns([record_id_column, *stored.schema.names])


# -- module helpers ------------------------------------------------------------------------


def _stored_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_ID_FIELD, *schema], metadata=schema.metadata)


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
        return StoreNotFoundError(
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


def _describe_pending(dirty: list[PathTable]) -> str:
    rows = sum(len(pending.rows) for stored in dirty for pending in stored.pending)
    paths = ", ".join(repr(stored.path) for stored in dirty[:PREVIEW])
    return f"{rows} pending record(s) at {paths}"
