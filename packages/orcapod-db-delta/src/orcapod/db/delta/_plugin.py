"""The entry point of orcapod-db-delta: the ``delta://`` URI scheme.

Importing this module stays cheap (no deltalake): the database is imported
when a URI is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.protocols.errors import DatabaseError
from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import DatabaseFactory

__all__ = ["open_delta_database", "orcapod_database_schemes", "root_of_uri"]

_SCHEME = "delta://"
_EXAMPLES = "'delta:///absolute/path' or 'delta://relative/path'"


def root_of_uri(uri: str) -> Path:
    """The root directory a ``delta://`` URI names.

    ``delta:///abs/path`` is the absolute path ``/abs/path``; ``delta://rel/path``
    is ``rel/path`` under the current working directory (resolved now, so a
    later ``chdir`` does not move the database).

    Raises:
        DatabaseError: the URI is not a str, has another scheme, or names no
            directory; the message shows the two accepted forms.
    """
    if not isinstance(uri, str):
        raise DatabaseError(f"a Delta database URI must be a str like {_EXAMPLES}, got {uri!r}")
    if not uri.startswith(_SCHEME):
        raise DatabaseError(
            f"{uri!r} is not a Delta database URI: it must start with {_SCHEME!r}, as in "
            f"{_EXAMPLES}"
        )
    location = uri[len(_SCHEME) :]
    if not location or location == "/" or "\x00" in location:
        raise DatabaseError(
            f"{uri!r} names no usable directory; give one after {_SCHEME!r}, as in {_EXAMPLES}"
        )
    if location.startswith("/"):
        return Path(location)
    return Path.cwd() / location


def open_delta_database(uri: str, *, create: bool = True) -> ArrowDatabase:
    """Open ``delta:///abs/path`` or ``delta://rel/path`` as a DeltaTableDatabase.

    With ``create=False`` the root directory must exist; nothing is created.

    Raises:
        DatabaseError: the URI is malformed (see :func:`root_of_uri`).
        StoreNotFoundError: ``create`` is false and the root directory does not exist.
    """
    root = root_of_uri(uri)
    from orcapod.db.delta._database import DeltaTableDatabase

    return DeltaTableDatabase(root, create=create)


@hookimpl
def orcapod_database_schemes() -> Mapping[str, DatabaseFactory]:
    """``delta://``: DeltaTableDatabase."""
    return {"delta": open_delta_database}
