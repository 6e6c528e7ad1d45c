"""Where each record path's Delta table lives under a database root.

A path ``("pipeline", "node")`` is kept in ``<root>/pipeline/node/@delta``:
one directory per name, and the table itself in a directory named
:data:`TABLE_DIRECTORY`, which no validated name can equal (``@`` is not
allowed in one). So a path and a longer path under it, ``("a",)`` and
``("a", "b")``, never share or nest a table directory.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import InvalidRecordPathError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from orcapod.protocols.values import RecordPath

__all__ = ["TABLE_DIRECTORY", "compaction_lock", "find_paths", "has_table", "table_directory"]

COMPACTION_LOCK = "_orcapod_compaction.lock"
"""The lock file compactions of one table take (vacuum leaves ``_`` files alone)."""

TABLE_DIRECTORY = "@delta"
"""The name of the directory holding a path's Delta table."""

_COMMIT = re.compile(r"\d{20}\.(json|checkpoint\.parquet)")
"""A commit (or checkpoint) of a Delta log; a killed writer's temporary files never match."""


def table_directory(root: Path, path: RecordPath) -> Path:
    """The directory of ``path``'s Delta table, checked to lie inside ``root``.

    ``root`` must already be resolved (absolute, without symbolic links).

    Raises:
        InvalidRecordPathError: the path is not valid, or leads outside ``root``
            (through a symbolic link planted under it).
    """
    path = validate_record_path(path)
    directory = root.joinpath(*path, TABLE_DIRECTORY)
    resolved = directory.resolve()
    if not resolved.is_relative_to(root):
        raise InvalidRecordPathError(
            f"record path {path!r} leads to {resolved}, outside the database root {root} "
            "(a symbolic link under the root points elsewhere); remove the link"
        )
    return resolved


def has_table(directory: Path) -> bool:
    """Whether ``directory`` holds a Delta table with at least one commit."""
    log = directory / "_delta_log"
    try:
        with os.scandir(log) as entries:
            return any(_COMMIT.fullmatch(entry.name) for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def find_paths(root: Path, prefix: RecordPath) -> list[RecordPath]:
    """Every path with a committed table under ``root`` that starts with ``prefix``.

    Directories whose names are not valid path names are skipped (they were
    not made by the database), and so are symbolic links.
    """
    start = root.joinpath(*prefix)
    found: list[RecordPath] = []
    pending: list[tuple[Path, RecordPath]] = [(start, prefix)]
    while pending:
        directory, path = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name == TABLE_DIRECTORY:
                if path and has_table(Path(entry.path)):
                    found.append(path)
                continue
            child = (*path, entry.name)
            try:
                validate_record_path(child)
            except InvalidRecordPathError:
                continue
            pending.append((Path(entry.path), child))
    return sorted(found)


@contextmanager
def compaction_lock(directory: Path) -> Iterator[None]:
    """Hold the table's compaction lock: one compaction of it at a time, across processes.

    deltalake 1.6 lets two ``optimize`` commits that read the same version both
    succeed, each adding the rows of the files it rewrote: every row is then
    stored twice. Holding this lock (``flock`` on a file in the table's
    directory), a compactor reloads the table before compacting, so it never
    rewrites files another compaction already rewrote. Appends do not take it.
    Where ``flock`` is missing (Windows), compactions are not serialised.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(directory / COMPACTION_LOCK, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
