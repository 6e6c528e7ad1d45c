"""Fixtures shared by the cross-package tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from orcapod.protocols.testing.postgres import PostgresServer, postgres_server, temporary_database

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with temporary_database(postgres_server()) as database:
        yield database
