"""The entry point module: tells orcapod that ``arrowdir://`` URIs are ours."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.database import ArrowDatabase

SCHEME = "arrowdir"


def open_arrowdir(uri: str) -> ArrowDatabase:
    """``arrowdir://DIR`` -> the store in directory ``DIR`` (relative to the working directory)."""
    from arrowdir._database import ArrowDirDatabase  # imported when a store is opened, not before

    location = uri.split("://", 1)[1]
    if not location:
        raise ValueError(
            f"database URI {uri!r} names no directory; write {SCHEME}://DIR, "
            f"e.g. {SCHEME}://results"
        )
    return ArrowDirDatabase(location)


@hookimpl
def orcapod_database_schemes() -> dict[str, Callable[[str], ArrowDatabase]]:
    """The URI schemes this plugin opens."""
    return {SCHEME: open_arrowdir}
