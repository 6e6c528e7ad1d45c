"""The PostgreSQL test fixture gives each test its own database on a real server."""

from __future__ import annotations

import pytest

from orcapod.protocols.testing.postgres import PostgresServer, temporary_database

pytestmark = pytest.mark.postgres


def _databases(server: PostgresServer) -> set[str]:
    import psycopg

    with psycopg.connect(**server.connect_kwargs()) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}


def test_each_temporary_database_is_isolated_and_dropped_afterwards(
    postgres: PostgresServer,
) -> None:
    import psycopg

    with psycopg.connect(**postgres.connect_kwargs()) as connection:
        connection.execute("CREATE TABLE marker (id int)")
        connection.execute("INSERT INTO marker VALUES (7)")
    with temporary_database(postgres) as other:
        with psycopg.connect(**other.connect_kwargs()) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'marker'"
            ).fetchone()
        assert tables == (0,)
        assert other.dbname in _databases(postgres)
    assert other.dbname not in _databases(postgres)
    with psycopg.connect(**postgres.connect_kwargs()) as connection:
        assert connection.execute("SELECT id FROM marker").fetchall() == [(7,)]


def test_sqlalchemy_url_connects_to_the_same_database(postgres: PostgresServer) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres.url())
    try:
        with engine.connect() as connection:
            name = connection.execute(sqlalchemy.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    assert name == postgres.dbname
