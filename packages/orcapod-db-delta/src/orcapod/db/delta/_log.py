"""What other writers added to a table: read from its Delta log, to avoid rereading the table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MAX_VERSIONS", "LogChanges", "added_data_files", "log_changes"]

MAX_VERSIONS = 256
"""Further behind than this, rereading the table is simpler than reading the log."""


@dataclass(frozen=True)
class LogChanges:
    """What versions of a table did that can be followed without rereading it.

    Attributes:
        added: the data files of rows appended, oldest first.
        moved: whether a compaction moved rows between files (the same rows are
            stored, in other files).
    """

    added: list[Path]
    moved: bool


def added_data_files(directory: Path, after: int, latest: int) -> list[Path] | None:
    """The data files of rows appended in versions ``after + 1`` to ``latest``, oldest first.

    None if the versions did anything else than append rows or move them
    between files (see :func:`log_changes`).
    """
    changes = log_changes(directory, after, latest)
    return None if changes is None else changes.added


def log_changes(directory: Path, after: int, latest: int) -> LogChanges | None:
    """What versions ``after + 1`` to ``latest`` did: rows appended, rows moved.

    Only commits that append rows can be followed this way; files that a
    compaction rewrote (``dataChange`` false) hold rows already known and are
    left out. Anything else (rows deleted or rewritten, a schema or protocol
    change, partitions, deletion vectors, a log entry already cleaned up, a
    file outside the table) answers None: read the whole table again.

    ``directory`` must be resolved (absolute, without symbolic links).
    """
    if latest - after > MAX_VERSIONS:
        return None
    files: list[Path] = []
    moved = False
    for version in range(after + 1, latest + 1):
        try:
            lines = (directory / "_delta_log" / f"{version:020d}.json").read_text("utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        for line in lines.splitlines():
            if not line.strip():
                continue
            try:
                action = json.loads(line)
            except json.JSONDecodeError:
                return None
            found = _followed(directory, action)
            if found is None:
                return None
            if found is _MOVED:
                moved = True
            else:
                files += found
    return LogChanges(files, moved)


_MOVED: list[Path] = []
"""What :func:`_followed` answers for an action that moves rows (no rows added)."""


def _followed(directory: Path, action: dict[str, object]) -> list[Path] | None:
    """The data files one log action appends ([] for none), or None if it cannot be followed."""
    add = action.get("add")
    if isinstance(add, dict):
        if add.get("dataChange") is False:
            return _MOVED
        if add.get("partitionValues") or add.get("deletionVector"):
            return None
        name = unquote(str(add.get("path", "")))
        if not name or "://" in name or name.startswith("/"):
            return None
        file = (directory / name).resolve()
        return [file] if file.is_relative_to(directory) else None
    remove = action.get("remove")
    if isinstance(remove, dict):
        return _MOVED if remove.get("dataChange") is False else None
    if "metaData" in action or "protocol" in action:
        return None
    return []  # commitInfo, txn, cdc, domain metadata: no rows added
