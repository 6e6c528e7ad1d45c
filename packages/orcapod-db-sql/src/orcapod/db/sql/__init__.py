"""orcapod.db.sql: SQLite and PostgreSQL storage for orcapod over SQLAlchemy.

The ``sqlite://``, ``postgresql://`` and ``postgresql+psycopg://`` URI schemes
are registered; ``SQLDatabase`` itself is not implemented in this release, and
opening such a URI says so.
"""

__all__: list[str] = []
