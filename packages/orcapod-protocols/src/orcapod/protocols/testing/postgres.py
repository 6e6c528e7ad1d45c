"""A real PostgreSQL server for tests, from the standard ``PG*`` variables.

Tests that need one are marked ``postgres``. Where no server is reachable
they are skipped with the reason, unless ``ORCAPOD_REQUIRE_POSTGRES`` is set
(CI sets it), in which case they fail: a CI run must not pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["REQUIRE_ENV_VAR", "PostgresServer", "postgres_server", "temporary_database"]

REQUIRE_ENV_VAR = "ORCAPOD_REQUIRE_POSTGRES"


@dataclass(frozen=True)
class PostgresServer:
    """Where to connect: ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    @classmethod
    def from_environment(cls) -> PostgresServer:
        """Settings from ``PG*`` variables, defaulting to a local trust-auth server."""
        return cls(
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=int(os.environ.get("PGPORT", "5432")),
            user=os.environ.get("PGUSER", "postgres"),
            password=os.environ.get("PGPASSWORD") or None,
            dbname=os.environ.get("PGDATABASE", "postgres"),
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect``."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "connect_timeout": 5,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def url(self, driver: str = "psycopg") -> str:
        """A SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host:5432/db``."""
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV_VAR, "").strip() not in ("", "0"):
        pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV_VAR} is set) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason} (set PG* variables to point at a server)")


def postgres_server() -> PostgresServer:
    """The server of the ``PG*`` variables, checked to answer; skips or fails where it does not."""
    server = PostgresServer.from_environment()
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'orcapod-db-sql[postgres]')")
    try:
        with psycopg.connect(**server.connect_kwargs()) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        _unavailable(f"cannot connect to {server.user}@{server.host}:{server.port}: {error}")
    return server


@contextmanager
def temporary_database(server: PostgresServer) -> Iterator[PostgresServer]:
    """A new, empty database on ``server``, dropped afterwards, so tests never share state."""
    import psycopg
    from psycopg import sql

    name = f"orcapod_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**server.connect_kwargs(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield replace(server, dbname=name)
    finally:
        with psycopg.connect(**server.connect_kwargs(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
