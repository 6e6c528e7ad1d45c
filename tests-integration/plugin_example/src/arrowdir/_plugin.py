"""The entry point module: tells orcapod that ``arrowdir://`` URIs are ours."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.protocols.errors import StoreNotFoundError
from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.database import ArrowDatabase

SCHEME = "arrowdir"


def open_arrowdir(uri: str, *, create: bool = True) -> ArrowDatabase:
    """``arrowdir://DIR`` -> the store in directory ``DIR`` (relative to the working directory).

    With ``create=False`` (orcapod's read-only commands) ``DIR`` must exist.
    """
    from arrowdir._database import ArrowDirDatabase  # imported when a store is opened, not before

    location = uri.split("://", 1)[1]
    if not location:
        raise ValueError(
            f"database URI {uri!r} names no directory; write {SCHEME}://DIR, "
            f"e.g. {SCHEME}://results"
        )
    if not create and not Path(location).is_dir():
        raise StoreNotFoundError(
            f"there is no arrowdir store at {uri!r}: the directory {location!r} does not "
            "exist; check the path, or run the pipeline that writes the store first"
        )
    return ArrowDirDatabase(location)


@hookimpl
def orcapod_database_schemes() -> dict[str, Callable[..., ArrowDatabase]]:
    """The URI schemes this plugin opens."""
    return {SCHEME: open_arrowdir}
