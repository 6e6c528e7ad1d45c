"""Content digests of files and directories, and the file-hash cache that spares re-reading.

A file's digest is the SHA-256 of its bytes, rendered ``"sha256:<hex>"`` (what
``sha256sum`` prints). A directory's is a Merkle digest, ``"sha256-tree:<hex>"``:
the SHA-256 of ``domain("directory") || u64(n) || (encode_str(name) || sha256)*``
over its ``n`` files sorted by the UTF-8 bytes of their relative POSIX names
(docs/identity.md gives the byte layout).

The cache maps a file's (absolute path, size, mtime_ns, inode, device) to its
digest; a changed stat means a rehash. A file modified less than
:data:`RACY_SECONDS` before it was hashed is not cached: an edit within the
same tick of a coarse filesystem clock (FAT: 2 s, ext3 and HFS+: 1 s) could
keep its size and mtime, so such a file is hashed again next time. What is
left open: a tool that restores an older mtime over new content of the same
size (``touch -d``, ``rsync -t``), or clocks skewed between a network
filesystem's server and this machine. ``strict=True`` always rehashes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import threading
import time
import warnings
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.core.errors import FileContentError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.values import RecordPath

__all__ = [
    "CACHE_PATH",
    "RACY_SECONDS",
    "FileHasher",
    "current_hasher",
    "directory_files",
    "hashing_with",
    "prefetch_digests",
    "read_digest",
    "read_tree_digest",
    "tree_digest",
]

CACHE_PATH: RecordPath = ("_file_hashes",)
"""Where a store keeps its file-hash cache."""

RACY_SECONDS = 2.0
"""A file modified this recently when hashed is not cached (see the module's docs)."""

FILE_METHOD = "sha256"
TREE_METHOD = "sha256-tree"
_CHUNK = 1 << 20
_MAX_MEMORY_ENTRIES = 1_000_000


class FileHasher:
    """Digests of files and directories, cached by stat in memory and, given one, in a store.

    Args:
        database: where the cache is kept across processes (at :data:`CACHE_PATH`);
            ``None`` keeps it in this process only.
        strict: always read the content (never trust the cache).

    Attributes:
        reads: how many files' content this hasher has read (a test's witness).
    """

    def __init__(self, database: ArrowDatabase | None = None, *, strict: bool = False) -> None:
        self.database = database
        self.strict = strict
        self.reads = 0
        self._memory = _MEMORY  # what a stat key's content is holds for every hasher
        self._pending: dict[str, tuple[str, str]] = {}  # key -> (path, digest), to store
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"FileHasher(database={self.database!r}, strict={self.strict})"

    # -- files -------------------------------------------------------------------

    def file_digest(self, path: str | os.PathLike[str]) -> str:
        """The ``"sha256:<hex>"`` digest of one file.

        Raises:
            FileContentError: it does not exist, is not a regular file, or cannot be read.
        """
        return self.file_digests([path])[0]

    def file_digests(self, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
        """The digests of many files, with one cache lookup in the store for all of them."""
        located = [_regular_file(Path(os.path.abspath(os.fspath(p)))) for p in paths]
        keys = [_stat_key(path, info) for path, info in located]
        digests: list[str | None] = [None] * len(keys)
        if not self.strict:
            with self._lock:
                for index, key in enumerate(keys):
                    digests[index] = self._memory.get(key)
            missing = [i for i, digest in enumerate(digests) if digest is None]
            if missing and self.database is not None:
                stored = self._stored([keys[i] for i in missing])
                for index in missing:
                    found = stored.get(keys[index])
                    if found is not None:
                        digests[index] = found
                        self._remember(keys[index], found)
        now = time.time()
        read: dict[str, str] = {}  # a path given twice is read once
        for index, digest in enumerate(digests):
            if digest is None:
                key = keys[index]
                digest = read.get(key)
                if digest is None:
                    path, info = located[index]
                    digest, steady = self._read(path, info)
                    read[key] = digest
                    if steady and now - info.st_mtime >= RACY_SECONDS:
                        self._remember(key, digest)
                        with self._lock:
                            self._pending[key] = (str(path), digest)
                digests[index] = digest
        return [d for d in digests if d is not None]

    def _read(self, path: Path, info: os.stat_result) -> tuple[str, bool]:
        """The digest of the file's content, and whether it held still while read (its
        size and mtime after the read are those of ``info``): only then is it cached."""
        try:
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, FILE_METHOD)
                after = os.fstat(handle.fileno())
        except OSError as error:
            raise FileContentError(f"cannot read file {str(path)!r}: {error}") from None
        with self._lock:
            self.reads += 1
        steady = (after.st_size, after.st_mtime_ns) == (info.st_size, info.st_mtime_ns)
        return f"{FILE_METHOD}:{digest.hexdigest()}", steady

    def _remember(self, key: str, digest: str) -> None:
        with _MEMORY_LOCK:
            if len(self._memory) >= _MAX_MEMORY_ENTRIES:
                self._memory.clear()
            self._memory[key] = digest

    @staticmethod
    def forget_memory() -> None:
        """Empty this process's memory of digests (which every hasher shares), as a
        new process starts: for measuring the store's cache alone."""
        with _MEMORY_LOCK:
            _MEMORY.clear()

    def remember(self, path: str | os.PathLike[str], digest: str) -> None:
        """Cache ``digest`` as the content of ``path`` as it is now, whatever its age.

        For files orcapod itself has just written and hashed (the file store's
        objects, which nothing else writes), so that the next check of them
        is a ``stat``; anything else goes through :meth:`file_digests`.
        """
        located = Path(os.path.abspath(os.fspath(path)))
        key = _stat_key(located, os.stat(located))
        self._remember(key, digest)
        with self._lock:
            self._pending[key] = (str(located), digest)

    def present_digests(self, paths: Sequence[str | os.PathLike[str]]) -> list[str | None]:
        """As :meth:`file_digests`, with ``None`` for a path that is missing or unreadable
        (one lookup in the store for all the others)."""
        present, found = [], []
        for index, path in enumerate(paths):
            try:
                _regular_file(Path(os.path.abspath(os.fspath(path))))
            except FileContentError:
                continue
            present.append(index)
            found.append(path)
        digests: list[str | None] = [None] * len(paths)
        try:
            for index, digest in zip(present, self.file_digests(found), strict=True):
                digests[index] = digest
        except FileContentError:  # one vanished since: check them one by one
            for index, path in zip(present, found, strict=True):
                try:
                    digests[index] = self.file_digest(path)
                except FileContentError:
                    digests[index] = None
        return digests

    def _stored(self, keys: list[str]) -> dict[str, str]:
        assert self.database is not None
        try:
            table = self.database.get_records_by_ids(CACHE_PATH, keys, record_id_column="key")
        except Exception as error:  # the cache only saves work: read the files instead
            warnings.warn(
                f"the file-hash cache of {self.database!r} cannot be read ({error}); "
                "reading the files instead",
                RuntimeWarning,
                stacklevel=3,
            )
            return {}
        if table is None or table.num_rows == 0:
            return {}
        return dict(
            zip(table.column("key").to_pylist(), table.column("digest").to_pylist(), strict=True)
        )

    def flush(self) -> None:
        """Write the digests learnt since the last flush to the store (one write)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending or self.database is None:
            return
        import pyarrow as pa

        keys = list(pending)
        table = pa.table(
            {
                "key": pa.array(keys, pa.large_string()),
                "path": pa.array([pending[k][0] for k in keys], pa.large_string()),
                "digest": pa.array([pending[k][1] for k in keys], pa.large_string()),
            }
        )
        self.database.add_records(CACHE_PATH, table, "key", skip_duplicates=True, flush=True)

    # -- directories -------------------------------------------------------------

    def directory_digest(self, path: str | os.PathLike[str], ignore: Sequence[str] = ()) -> str:
        """The Merkle digest of a directory: its files' relative names and digests.

        Raises:
            FileContentError: it does not exist, is not a directory, or holds
                something that is neither a file nor a directory.
        """
        root = Path(os.path.abspath(os.fspath(path)))
        files = directory_files(root, ignore)
        digests = self.file_digests([file for _, file in files])
        return tree_digest([name for name, _ in files], digests)


def tree_digest(names: Sequence[str], digests: Sequence[str]) -> str:
    """The ``"sha256-tree:<hex>"`` of files of these relative names and digests (sorted)."""
    from orcapod.core.hashing._encoding import domain, encode_str, u64

    entries = sorted(zip(names, digests, strict=True), key=lambda entry: entry[0].encode())
    message = hashlib.sha256(domain("directory") + u64(len(entries)))
    for name, digest in entries:
        message.update(encode_str(name))
        message.update(bytes.fromhex(digest.split(":", 1)[1]))
    return f"{TREE_METHOD}:{message.hexdigest()}"


def directory_files(root: Path, ignore: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """The files under ``root`` (following symbolic links) with their relative POSIX names,
    sorted by name, leaving out names and relative paths matching ``ignore``.

    Raises:
        FileContentError: ``root`` is not a directory, a link loops, or an entry is
            neither a file nor a directory (a socket, a FIFO, a device).
    """
    try:
        info = os.stat(root)
    except OSError as error:
        raise FileContentError(f"Directory {str(root)!r} cannot be read: {error}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise FileContentError(
            f"Directory {str(root)!r} is not a directory; annotate a file as File"
        )
    found: list[tuple[str, Path]] = []
    _walk(root, "", ignore, {(info.st_dev, info.st_ino)}, found)
    found.sort(key=lambda entry: entry[0].encode())
    return found


def _ignored(name: str, relative: str, ignore: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(relative, pattern)
        for pattern in ignore
    )


def _walk(
    directory: Path,
    prefix: str,
    ignore: Sequence[str],
    seen: set[tuple[int, int]],
    found: list[tuple[str, Path]],
) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError as error:
        raise FileContentError(f"cannot list directory {str(directory)!r}: {error}") from None
    for entry in entries:
        relative = f"{prefix}{entry.name}"
        if _ignored(entry.name, relative, ignore):
            continue
        try:
            info = entry.stat()  # follows symbolic links
        except OSError as error:
            raise FileContentError(f"cannot read {entry.path!r}: {error}") from None
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in seen:
                raise FileContentError(
                    f"directory {entry.path!r} is reached again through a symbolic link "
                    "loop; remove the link or ignore it (ignore=[...])"
                )
            _walk(Path(entry.path), f"{relative}/", ignore, seen | {key}, found)
        elif stat.S_ISREG(info.st_mode):
            found.append((relative, Path(entry.path)))
        else:
            raise FileContentError(
                f"{entry.path!r} is neither a file nor a directory, so it has no content "
                "digest; ignore it (ignore=[...]) or remove it"
            )


def _regular_file(path: Path) -> tuple[Path, os.stat_result]:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileContentError(f"File {str(path)!r} does not exist") from None
    except OSError as error:
        raise FileContentError(f"File {str(path)!r} cannot be read: {error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FileContentError(
            f"File {str(path)!r} is a directory; annotate it as Directory to identify it "
            "by the files it holds"
        )
    if not stat.S_ISREG(info.st_mode):
        raise FileContentError(f"File {str(path)!r} is not a regular file")
    return path, info


def _stat_key(path: Path, info: os.stat_result) -> str:
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{path}"


def prefetch_digests(values: Sequence[object]) -> None:
    """Take the digests of the ``File`` values among ``values`` that have none yet, in one
    batch (one lookup in the store's cache instead of one per file)."""
    from orcapod.core.files._values import File

    pending = [value for value in values if type(value) is File and not value.digest_known]
    if len(pending) < 2:
        return
    digests = current_hasher().present_digests([value.path for value in pending])
    for value, digest in zip(pending, digests, strict=True):
        if digest is not None:
            value._digest = digest


def read_digest(path: Path) -> str:
    """The digest of a file's content, read now (no cache).

    Raises:
        FileContentError: it cannot be read.
    """
    try:
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, FILE_METHOD)
    except OSError as error:
        raise FileContentError(f"cannot read file {str(path)!r}: {error}") from None
    return f"{FILE_METHOD}:{digest.hexdigest()}"


def read_tree_digest(root: Path) -> str:
    """The Merkle digest of a directory's content, every file read now (no cache)."""
    files = directory_files(root)
    return tree_digest([name for name, _ in files], [read_digest(path) for _, path in files])


_MEMORY: dict[str, str] = {}
_MEMORY_LOCK = threading.Lock()
_PROCESS_HASHER = FileHasher()
_CURRENT: ContextVar[FileHasher | None] = ContextVar("orcapod_file_hasher", default=None)


def current_hasher() -> FileHasher:
    """The hasher of the run in progress, else this process's (cache in memory only)."""
    hasher = _CURRENT.get()
    return _PROCESS_HASHER if hasher is None else hasher


@contextmanager
def hashing_with(hasher: FileHasher) -> Iterator[FileHasher]:
    """Make ``hasher`` the current one inside the block; flush what it learnt at the end."""
    token = _CURRENT.set(hasher)
    try:
        yield hasher
    except BaseException:
        _CURRENT.reset(token)
        # The block's own error is the one to see; the cache only saves work.
        with suppress(Exception):
            hasher.flush()
        raise
    _CURRENT.reset(token)
    hasher.flush()
