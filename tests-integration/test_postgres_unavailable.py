"""Without a reachable PostgreSQL server, postgres tests skip with the reason, or fail in CI."""

from __future__ import annotations

import pytest

from orcapod.protocols.testing.postgres import REQUIRE_ENV_VAR, postgres_server


@pytest.fixture
def unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "1")  # nothing listens on port 1


def test_unreachable_server_skips_naming_where_it_tried(
    unreachable_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE_ENV_VAR, raising=False)
    with pytest.raises(
        pytest.skip.Exception, match=r"PostgreSQL not available: cannot connect.*:1"
    ):
        postgres_server()


def test_unreachable_server_fails_when_postgres_is_required(
    unreachable_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_ENV_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match=f"PostgreSQL is required \\({REQUIRE_ENV_VAR}"):
        postgres_server()
