"""The entry point of orcapod-db-sql: the ``sqlite://`` and ``postgresql://`` URI schemes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import DatabaseFactory


def open_sql_database(uri: str) -> ArrowDatabase:
    """Open ``sqlite:///path.db`` or ``postgresql://user@host/db``."""
    from orcapod.protocols.errors import NotAvailableError

    scheme = uri.split("://", 1)[0]
    raise NotAvailableError(
        f"cannot open a {scheme}:// database: SQLDatabase is not implemented in this "
        "release of orcapod-db-sql; use 'memory://' until it is"
    )


@hookimpl
def orcapod_database_schemes() -> Mapping[str, DatabaseFactory]:
    """``sqlite://``, ``postgresql://`` and ``postgresql+psycopg://``."""
    return dict.fromkeys(("sqlite", "postgresql", "postgresql+psycopg"), open_sql_database)
