"""Fixtures shared by the SQL store's test modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from orcapod.protocols.testing.postgres import postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store's URL: a SQLite file, then a new PostgreSQL database (``postgres``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with temporary_database(postgres_server()) as server:
        yield server.url()
