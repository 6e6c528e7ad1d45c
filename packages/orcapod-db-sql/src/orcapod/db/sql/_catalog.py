"""Table and column names for record paths, and the catalog table that maps them back.

Every record path gets its own table, named ``t_<readable>_<hash>``: the path
lower-cased with anything but letters, digits and ``_`` replaced, cut to 40
characters, and 16 hex digits of the SHA-256 of the exact path. Names are
therefore ASCII, at most 59 bytes (below PostgreSQL's 63), distinct for paths
that differ only in case (SQLite compares names case-insensitively), and the
same in every process. The catalog table ``orcapod_paths`` maps each table back
to its exact path and holds the Arrow schema of its records and the SQL names of
its columns, so reads restore every type and ``list_paths`` the exact tuples.

Column names are the user's, quoted by SQLAlchemy, when they are safe everywhere:
at most 63 bytes of UTF-8, no NUL, distinct from the others ignoring case, and
not the id column's name, the commit or seq column's name or of the ``_colN``
form. Any other column is stored as ``_col<position>``; its real name is in the
catalog.

Each table also has the column ``_record_seq``: the row's place, in the order
rows were stored (a 64-bit integer, not null, uniquely indexed), by which ids
are found (see ``_ids``). On PostgreSQL each table also has ``_commit_xact``:
the id of the transaction that stored the row (``xid8``, filled by its
default), indexed, so that what was committed since a snapshot can be selected
(``get_new_records``). Neither is read back as a record's column.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from orcapod.db.sql._types import SQLITE, ColumnCodec, column_codec

if TYPE_CHECKING:
    from collections.abc import Set

    from orcapod.db.sql._ids import StoredIds
    from orcapod.protocols.values import RecordPath

__all__ = [
    "CATALOG_TABLE",
    "COMMIT_COLUMN",
    "ID_COLUMN",
    "SEQ_COLUMN",
    "PathTable",
    "PendingBatch",
    "catalog_table",
    "column_names",
    "path_from_text",
    "path_to_text",
    "rowid_name",
    "table_name",
]

CATALOG_TABLE = "orcapod_paths"
COMMIT_COLUMN = "_commit_xact"
"""PostgreSQL: the column of the transaction that stored each row."""
ID_COLUMN = "_record_id"
SEQ_COLUMN = "_record_seq"
"""Each row's place in its table, in the order rows were stored (see ``_ids``)."""
MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's limit (NAMEDATALEN - 1); longer names would be silently truncated."""

ROWID_NAMES = ("_rowid_", "rowid", "oid")
"""SQLite's names of a table's rowid; a column of the same name hides one."""

_READABLE_CHARS = 40
_UNSAFE = re.compile(r"[^a-z0-9_]+")
_POSITIONAL = re.compile(r"_col[0-9]+")


def table_name(path: RecordPath) -> str:
    """The table holding the records at ``path`` (a validated path)."""
    readable = _UNSAFE.sub("_", "__".join(path).lower())[:_READABLE_CHARS]
    digest = hashlib.sha256("/".join(path).encode()).hexdigest()[:16]
    return f"t_{readable}_{digest}"


def rowid_name(sql_columns: list[str]) -> str | None:
    """A name of a SQLite table's rowid that none of ``sql_columns`` hides; None if all are."""
    taken = {name.casefold() for name in sql_columns}
    return next((name for name in ROWID_NAMES if name not in taken), None)


def path_to_text(path: RecordPath) -> str:
    """``path`` as the catalog stores it (a JSON list)."""
    return json.dumps(list(path))


def path_from_text(text: str) -> RecordPath:
    """The path the catalog stored as ``text``."""
    return tuple(json.loads(text))


def column_names(names: list[str]) -> list[str]:
    """The SQL column names of data columns ``names`` (see the module docstring)."""
    taken = {ID_COLUMN.casefold(), COMMIT_COLUMN.casefold(), SEQ_COLUMN.casefold()}
    result = []
    for position, name in enumerate(names):
        folded = name.casefold()
        unsafe = (
            not name
            or "\x00" in name
            or len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES
            or folded in taken
            or _POSITIONAL.fullmatch(folded) is not None
        )
        sql_name = f"_col{position}" if unsafe else name
        taken.add(sql_name.casefold())
        result.append(sql_name)
    return result


def catalog_table(metadata: sa.MetaData) -> sa.Table:
    """The catalog table: one row per record path."""
    return sa.Table(
        CATALOG_TABLE,
        metadata,
        sa.Column("table_name", sa.Text(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False, unique=True),
        sa.Column("arrow_schema", sa.LargeBinary(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
    )


@dataclass(frozen=True)
class PendingBatch:
    """Records added and not yet flushed."""

    table: pa.Table
    """The records as Arrow, ids in column 0: what reads see."""
    rows: list[tuple[Any, ...]]
    """The same records encoded for the driver: what the flush writes."""
    skip_duplicates: bool
    new_ids: bool = False
    """Added with ``new_ids``: their writer vouched that no other row holds these ids."""


@dataclass
class PathTable:
    """The stored shape of one record path: its table, schema and column codecs."""

    path: RecordPath
    name: str
    schema: pa.Schema
    sql_columns: list[str]
    codecs: list[ColumnCodec]
    table: sa.Table
    in_catalog: bool = False
    commit_column: bool | None = None
    """PostgreSQL: whether the table has COMMIT_COLUMN (tables made before it have not);
    None until known."""
    seq_column: bool | None = None
    """Whether the table has SEQ_COLUMN (tables made before it have not, and keep their
    primary key on the ids); None until known."""
    pending: list[PendingBatch] = field(default_factory=list)
    """Batches added but not flushed, in the order added."""
    ids: StoredIds | None = None
    """The stored ids' keys and places, read when first looked up (see ``_ids``)."""
    _pending_table: pa.Table | None = None
    _pending_by_id: dict[str, tuple[int, int]] | None = None
    """Pending id to (batch, row): a lookup of a few pending ids concatenates nothing.
    Made when first asked for (rows added with new_ids and never looked up, such as
    log rows, are never indexed), then kept up to date until the flush."""
    _pending_rows: int = 0

    @classmethod
    def create(
        cls,
        path: RecordPath,
        schema: pa.Schema,
        dialect: str,
        metadata: sa.MetaData,
        sql_columns: list[str] | None = None,
    ) -> PathTable:
        """The shape of ``path`` holding records of ``schema`` (codecs checked now).

        ``table`` is the columns orcapod reads and writes by name: the id column,
        then the data columns. A table made now has SEQ_COLUMN too (see
        :meth:`new_table`), and its id column is no primary key.
        """
        codecs = [column_codec(f.name, f.type, dialect) for f in schema]
        sql_columns = sql_columns or column_names(schema.names)
        name = table_name(path)
        table = sa.Table(
            name,
            metadata,
            sa.Column(ID_COLUMN, sa.Text(), nullable=False),
            *(
                sa.Column(sql_name, codec.sql_type, nullable=True)
                for sql_name, codec in zip(sql_columns, codecs, strict=True)
            ),
            extend_existing=True,
        )
        return cls(path, name, schema, sql_columns, codecs, table)

    def catalog_row(self) -> dict[str, Any]:
        """This path's row of the catalog table."""
        return {
            "table_name": self.name,
            "path": path_to_text(self.path),
            "arrow_schema": self.schema.serialize().to_pybytes(),
            "columns": json.dumps(self.sql_columns),
        }

    def new_table(self, dialect: str) -> sa.Table:
        """The table to create: :attr:`table`'s columns, then SEQ_COLUMN.

        On PostgreSQL a 64-bit integer, not null, with no default (a writer that
        does not number its rows is refused), uniquely indexed. On SQLite the
        table's ``INTEGER PRIMARY KEY``: the rowid itself, so rows are found by
        place in one B-tree search, and named, so ``VACUUM`` keeps it (it
        renumbers an unnamed rowid); a row inserted without it is numbered
        after the last, as a flush numbers its own.
        """
        columns = [sa.Column(c.name, c.type, nullable=c.nullable) for c in self.table.c]
        if dialect == SQLITE:
            place = sa.Column(SEQ_COLUMN, sa.Integer(), primary_key=True, autoincrement=False)
            return sa.Table(self.name, sa.MetaData(), *columns, place)
        return sa.Table(
            self.name,
            sa.MetaData(schema=self.table.schema),
            *columns,
            sa.Column(SEQ_COLUMN, sa.BigInteger(), nullable=False),
            sa.Index(f"{self.name}_s", SEQ_COLUMN, unique=True),
        )

    @property
    def rowid(self) -> str | None:
        """A name of the table's rowid no column hides (SQLite); None if all are."""
        return rowid_name(self.sql_columns)

    def add_pending(
        self,
        batch: pa.Table,
        rows: list[tuple[Any, ...]],
        skip_duplicates: bool,
        new_ids: bool = False,
    ) -> None:
        """Keep ``batch`` (ids first) and its encoded ``rows`` for the next flush."""
        number = len(self.pending)
        self.pending.append(PendingBatch(batch, rows, skip_duplicates, new_ids))
        self._pending_rows += len(rows)
        if self._pending_by_id is not None:
            _index_batch(self._pending_by_id, number, batch)
        self._pending_table = None

    def _by_id(self) -> dict[str, tuple[int, int]]:
        """The index of the pending ids (made now if it was not)."""
        by_id = self._pending_by_id
        if by_id is None:
            by_id = self._pending_by_id = {}
            for number, pending in enumerate(self.pending):
                _index_batch(by_id, number, pending.table)
        return by_id

    def pending_ids_among(self, ids: Set[str]) -> set[str]:
        """Those of ``ids`` that are pending."""
        if not self.pending:
            return set()
        pending = self._by_id()
        return {i for i in ids if i in pending}

    @property
    def pending_row_count(self) -> int:
        """How many rows are pending (ids are unique among them)."""
        return self._pending_rows

    def pending_rows_of(self, ids: list[str]) -> pa.Table | None:
        """The pending rows (ids first) of ``ids``, sliced out where they lie; None if none."""
        if not self.pending:
            return None
        by_id = self._by_id()
        found = [by_id[i] for i in ids if i in by_id]
        if not found:
            return None
        pieces = [self.pending[number].table.slice(row, 1) for number, row in found]
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def pending_table(self) -> pa.Table | None:
        """Every pending row (ids first), concatenated once until the next add."""
        if not self.pending:
            return None
        if self._pending_table is None:
            batches = [pending.table for pending in self.pending]
            self._pending_table = (
                batches[0] if len(batches) == 1 else pa.concat_tables(batches).combine_chunks()
            )
        return self._pending_table

    def clear_pending(self) -> None:
        """Forget the pending rows (they were committed)."""
        self.pending = []
        self._pending_table = None
        self._pending_by_id = None
        self._pending_rows = 0

    def drop_pending(self, refused: list[PendingBatch]) -> None:
        """Forget the ``refused`` pending batches and keep the others."""
        kept = [pending for pending in self.pending if pending not in refused]
        self.clear_pending()
        for pending in kept:
            self.add_pending(pending.table, pending.rows, pending.skip_duplicates, pending.new_ids)


def _index_batch(by_id: dict[str, tuple[int, int]], number: int, batch: pa.Table) -> None:
    ids = batch.column(0).to_pylist()
    by_id.update((record_id, (number, row)) for row, record_id in enumerate(ids))


def schema_from_catalog(blob: bytes) -> pa.Schema:
    """The Arrow schema the catalog stored as ``blob``."""
    return pa.ipc.read_schema(pa.py_buffer(blob))
