"""The entry point of orcapod-db-sql: the ``sqlite://`` and ``postgresql://`` URI schemes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import DatabaseFactory


def open_sql_database(uri: str, *, create: bool = True) -> ArrowDatabase:
    """Open ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``postgresql://user@host/db``.

    ``postgresql+psycopg://`` URIs work too; a PostgreSQL URI may end in
    ``?schema=name`` to keep the tables in that schema. With ``create=False``
    the store must exist: the SQLite file, or the PostgreSQL database with
    orcapod's catalog table (in that schema); nothing is created.

    Raises:
        StoreNotFoundError: ``create`` is false and there is no store; or the
            PostgreSQL database does not exist.
        NotAvailableError: a PostgreSQL URI without psycopg installed (the
            message says ``pip install 'orcapod-db-sql[postgres]'``).
        DatabaseError: the URI is malformed or the database cannot be opened.
    """
    from orcapod.db.sql._database import SQLDatabase

    return SQLDatabase(uri, create=create)


@hookimpl
def orcapod_database_schemes() -> Mapping[str, DatabaseFactory]:
    """``sqlite://``, ``postgresql://`` and ``postgresql+psycopg://``."""
    return dict.fromkeys(("sqlite", "postgresql", "postgresql+psycopg"), open_sql_database)
