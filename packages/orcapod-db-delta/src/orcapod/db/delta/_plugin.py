"""The entry point of orcapod-db-delta: the ``delta://`` URI scheme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import DatabaseFactory


def open_delta_database(uri: str) -> ArrowDatabase:
    """Open ``delta:///abs/path`` or ``delta://rel/path``."""
    from orcapod.protocols.errors import NotAvailableError

    raise NotAvailableError(
        f"cannot open {uri!r}: DeltaTableDatabase is not implemented in this release "
        "of orcapod-db-delta; use 'memory://' until it is"
    )


@hookimpl
def orcapod_database_schemes() -> Mapping[str, DatabaseFactory]:
    """``delta://``."""
    return {"delta": open_delta_database}
