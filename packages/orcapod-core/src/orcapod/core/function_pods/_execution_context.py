"""The execution context stored with every result: what ran it, where, from which code.

``extra_info`` records the state of the git repository holding the function's
source file (or, failing that, the working directory's): the commit, whether
tracked files have uncommitted changes, and which files are untracked. Outside
any repository, or without git, the git keys are simply absent: provenance is
recorded as far as it can be known, never an error.
"""

from __future__ import annotations

import functools
import inspect
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "EXECUTION_DATA_SCHEMA",
    "MAX_UNTRACKED_LISTED",
    "extra_info",
    "git_info",
    "python_version",
]

EXECUTION_DATA_SCHEMA = Schema(
    executor_type=str,
    executor_info=dict[str, str],
    python_version=str,
    extra_info=dict[str, str],
)
"""The declared types of a packet function's execution data."""

MAX_UNTRACKED_LISTED = 10
"""Untracked files listed by name in ``git_untracked_files``; the count is always given."""

_GIT_TIMEOUT_S = 10


def extra_info(fn: Callable[..., object]) -> dict[str, str]:
    """Host and git state of the code of ``fn``: the ``extra_info`` of its execution data.

    Keys: ``host``; and, inside a repository, ``git_repository`` (its top
    folder), ``git_commit``, ``git_dirty`` (``"true"``/``"false"``),
    ``git_untracked_count`` and ``git_untracked_files`` (newline-separated,
    at most :data:`MAX_UNTRACKED_LISTED`).
    """
    info = {"host": socket.gethostname()}
    info.update(git_info(_code_folder(fn)))
    return info


def python_version() -> str:
    """``"CPython 3.11.7"``."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def _code_folder(fn: Callable[..., object]) -> Path:
    try:
        source = inspect.getsourcefile(inspect.unwrap(fn))
    except TypeError:
        source = None
    return Path(source).resolve().parent if source else Path.cwd()


def git_info(folder: Path) -> dict[str, str]:
    """The git state of the repository holding ``folder`` (or the working directory's).

    Read once per (folder, working directory) per process. Empty when neither is
    in a repository, or git is not installed.
    """
    return dict(_git_info(folder, Path.cwd()))


@functools.cache
def _git_info(folder: Path, cwd: Path) -> dict[str, str]:
    for candidate in (folder, cwd):
        top = _git(candidate, "rev-parse", "--show-toplevel")
        if top is not None:
            return _repository_state(Path(top))
    return {}


def _repository_state(top: Path) -> dict[str, str]:
    info = {"git_repository": str(top)}
    commit = _git(top, "rev-parse", "HEAD")
    if commit is not None:  # None in a repository without commits
        info["git_commit"] = commit
    changes = _git(top, "status", "--porcelain", "--untracked-files=no")
    if changes is not None:
        info["git_dirty"] = "true" if changes else "false"
    untracked = _git(top, "ls-files", "--others", "--exclude-standard")
    if untracked is not None:
        names = untracked.splitlines()
        info["git_untracked_count"] = str(len(names))
        info["git_untracked_files"] = "\n".join(names[:MAX_UNTRACKED_LISTED])
    return info


def _git(folder: Path, *args: str) -> str | None:
    """The stripped output of ``git -C folder args``, or None if it fails for any reason."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
