"""Files and directories as values identified by their content.

``File`` and ``Directory`` values carry a path and a content digest; a
function returning one has it kept in the pipeline's content-addressed
:class:`FileStore`. See docs/files.md.
"""

from __future__ import annotations

from orcapod.core.files._digests import (
    RACY_SECONDS,
    FileHasher,
    current_hasher,
    hashing_with,
)
from orcapod.core.files._scratch import scratch_dir
from orcapod.core.files._store import FileStore, default_file_store
from orcapod.core.files._values import Directory, File, PathValue

__all__ = [
    "RACY_SECONDS",
    "Directory",
    "File",
    "FileHasher",
    "FileStore",
    "PathValue",
    "current_hasher",
    "default_file_store",
    "hashing_with",
    "scratch_dir",
]
