"""The entry point module (``[project.entry-points.orcapod]`` in pyproject.toml).

orcapod loads it when it looks for plugins; it must stay cheap to import, so
the store and the observer are imported only when one is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.hooks import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.observability import ExecutionObserver

SCHEME = "blobstore"
OBSERVER = "run-summary"


def open_blobstore(uri: str, *, create: bool = True) -> ArrowDatabase:
    """``blobstore://FILE`` -> the store in SQLite file ``FILE`` (relative to the working
    directory; ``blobstore:///abs/file.db`` for an absolute path, ``~`` for home).

    With ``create=False`` (orcapod's read-only commands) the store must exist,
    and is opened to read only.
    """
    from orcapod_plugin_template._database import BlobStore

    scheme, _, location = uri.partition("://")
    if scheme != SCHEME or not location:
        raise ValueError(
            f"database URI {uri!r} names no file; write {SCHEME}://FILE, e.g. {SCHEME}://runs.db"
        )
    return BlobStore(location, create=create)


def run_summary(**options: Any) -> ExecutionObserver:
    """The ``run-summary`` observer; ``path=`` names its JSON-lines file."""
    from orcapod_plugin_template._observer import RunSummaryObserver

    return RunSummaryObserver(**options)


@hookimpl
def orcapod_database_schemes() -> dict[str, Callable[..., ArrowDatabase]]:
    """The URI schemes this plugin opens."""
    return {SCHEME: open_blobstore}


@hookimpl
def orcapod_observers() -> dict[str, Callable[..., ExecutionObserver]]:
    """The observers this plugin provides, by name."""
    return {OBSERVER: run_summary}
