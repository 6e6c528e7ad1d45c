"""orcapod.db.sql: SQLite and PostgreSQL storage for orcapod over SQLAlchemy.

:class:`SQLDatabase` stores each record path as a table of a SQLite file
(``sqlite:///results.db``) or a PostgreSQL database
(``postgresql://user@host/db``, with ``pip install 'orcapod-db-sql[postgres]'``).
The ``sqlite://``, ``postgresql://`` and ``postgresql+psycopg://`` URI schemes
are registered with orcapod's plugin registry. SQLAlchemy is imported on first
use of :class:`SQLDatabase`, not by importing this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcapod.db.sql._database import SQLDatabase as SQLDatabase
    from orcapod.db.sql._plugin import open_sql_database as open_sql_database

__all__ = ["SQLDatabase", "open_sql_database"]


def __getattr__(name: str) -> Any:
    if name == "SQLDatabase":
        from orcapod.db.sql._database import SQLDatabase

        return SQLDatabase
    if name == "open_sql_database":
        from orcapod.db.sql._plugin import open_sql_database

        return open_sql_database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
