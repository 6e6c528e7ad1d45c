"""The content-addressed file store: where a pipeline keeps the files its functions return.

Layout under the store's root::

    sha256/<2 hex>/<64 hex>          a stored file, read-only
    sha256-tree/<2 hex>/<64 hex>/    a stored directory
    scratch/<id>/                    a packet's scratch directory while it runs
    incoming/                        copies on their way in (renamed into place)

Each stored object is named by its digest, so identical outputs are stored
once, and a stored copy whose content no longer matches its name is detected
(:meth:`FileStore.intact`).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import stat
import tempfile
import uuid
import weakref
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import FileContentError
from orcapod.core.files._digests import (
    FileHasher,
    current_hasher,
    directory_files,
    read_digest,
    read_tree_digest,
)
from orcapod.core.files._values import Directory, PathValue

if TYPE_CHECKING:
    from orcapod.protocols.database import ArrowDatabase

__all__ = ["FileStore", "default_file_store", "intact"]


class FileStore:
    """Files and directories kept by their content digest under one root directory.

    Args:
        root: the directory (created when first written to).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self._swept = False

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    @property
    def scratch_root(self) -> Path:
        """Where the per-packet scratch directories are made."""
        return self.root / "scratch"

    def new_scratch(self) -> Path:
        """A fresh, not yet created, scratch directory path for one packet, named by the
        host and process it is made for (so that :meth:`sweep_scratch` can tell
        whose are left over)."""
        self.sweep_scratch()
        return self.scratch_root / f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"

    def sweep_scratch(self) -> None:
        """Remove the scratch directories and incoming copies a process of this host left
        when it was killed (once per store object and process; cheap: one listing each)."""
        if self._swept:
            return
        self._swept = True
        entries = []
        for folder in (self.scratch_root, self.root / "incoming"):
            with suppress(OSError):
                entries += list(os.scandir(folder))
        for entry in entries:
            host, _, pid = entry.name.split(".")[0].rpartition("-")[0].rpartition("-")
            if host != _HOST or not pid.isdigit() or _alive(int(pid)):
                continue
            _remove(Path(entry.path))

    def location(self, digest: str) -> Path:
        """Where the object of ``digest`` is (or would be) stored."""
        method, _, hexdigest = digest.partition(":")
        if method not in ("sha256", "sha256-tree") or len(hexdigest) != 64:
            raise FileContentError(f"{digest!r} is not a content digest this store keeps")
        return self.root / method / hexdigest[:2] / hexdigest

    def keep(
        self, value: PathValue, *, hasher: FileHasher | None = None, move: bool = True
    ) -> PathValue:
        """Store ``value``'s content and return the value naming the stored copy.

        The content is placed in ``incoming/`` first and read there, once:
        the stored object is named by what was read, and a value whose digest
        was already known must still have it. A regular file inside this
        store's scratch directories with no other link is moved; anything else
        (an input file returned as it is, a link, a directory) is copied,
        following links, so nothing outside the store is ever moved or shared.
        An object already stored intact is not stored again; several
        processes may keep the same content at once.

        Raises:
            FileContentError: the path is missing or of the wrong kind, or its
                content is not the digest the value claims.
        """
        hasher = current_hasher() if hasher is None else hasher
        claimed = value._digest
        extra = value._extra()
        if claimed is not None:
            known = self.location(claimed)
            if intact(known, claimed, hasher) and (
                value.path == known or _has_digest(value, claimed, hasher)
            ):
                return type(value)(known, digest=claimed, **extra)
        incoming = self.root / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        temporary = incoming / f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"
        is_directory = isinstance(value, Directory)
        try:
            if is_directory:
                _copy_tree(value.path, temporary, value.ignore)
                digest = read_tree_digest(temporary)
            else:
                if not value.path.exists():
                    raise FileContentError(f"File {str(value.path)!r} does not exist")
                if move and self._movable(value.path):
                    os.replace(value.path, temporary)
                else:
                    shutil.copyfile(value.path, temporary)
                os.chmod(temporary, 0o444)
                digest = read_digest(temporary)
            if claimed is not None and digest != claimed:
                raise FileContentError(
                    f"{value!r} changed while it was being kept: its digest was {claimed}, "
                    f"its content is now {digest}; a function must not change a file it "
                    "returns (or an input it returns) while orcapod runs"
                )
            target = self.location(digest)
            self._install(temporary, target, digest, is_directory, hasher)
        except OSError as error:
            _remove(temporary)
            if isinstance(error, FileContentError):
                raise
            raise FileContentError(
                f"cannot keep {value!r} in the file store at {str(self.root)!r}: {error}"
            ) from None
        # What was just read and placed is known: the next check of it is a stat.
        if is_directory:
            for _, path in directory_files(target):
                hasher.remember(path, read_digest(path))
        else:
            hasher.remember(target, digest)
        return type(value)(target, digest=digest, **extra)

    def _movable(self, source: Path) -> bool:
        """Whether ``source`` is a regular file of this store's scratch directories that
        nothing else links to (a move takes nothing from anyone)."""
        try:
            info = os.lstat(source)
        except OSError:
            return False
        real = os.path.realpath(source)
        scratch = os.path.realpath(self.scratch_root) + os.sep
        return real.startswith(scratch) and stat.S_ISREG(info.st_mode) and info.st_nlink == 1

    def _install(
        self, temporary: Path, target: Path, digest: str, is_directory: bool, hasher: FileHasher
    ) -> None:
        """Rename ``temporary`` to ``target`` atomically; another process's intact copy
        there is as good, a damaged one is replaced."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if not is_directory:
            os.replace(temporary, target)  # atomic, over a damaged copy too
            return
        try:
            os.rename(temporary, target)
            return
        except OSError:
            if intact(target, digest, hasher):
                _remove(temporary)
                return
        aside = temporary.parent / f"{temporary.name}.damaged"
        with suppress(FileNotFoundError):
            os.rename(target, aside)
        try:
            os.rename(temporary, target)
        except OSError:
            if not intact(target, digest, hasher):
                raise
            _remove(temporary)
        _remove(aside)

    def intact(self, target: Path, digest: str, hasher: FileHasher | None = None) -> bool:
        """Whether ``target`` exists and its content has ``digest`` (see :func:`intact`)."""
        return intact(target, digest, hasher)

    def discard_scratch(self, scratch: Path) -> None:
        """Remove a packet's scratch directory and what is left in it."""
        _remove(scratch)


def _has_digest(value: PathValue, digest: str, hasher: FileHasher) -> bool:
    """Whether ``value``'s own content (not the stored copy) has ``digest``."""
    try:
        if isinstance(value, Directory):
            found = hasher.directory_digest(value.path, value.ignore)
        else:
            found = hasher.file_digest(value.path)
    except FileContentError:
        return False
    return found == digest


def intact(path: Path, digest: str, hasher: FileHasher | None = None) -> bool:
    """Whether ``path`` exists and its content has ``digest`` (through the hash cache)."""
    hasher = current_hasher() if hasher is None else hasher
    try:
        if digest.startswith("sha256-tree:"):
            found = hasher.directory_digest(path)
        else:
            found = hasher.file_digest(path)
    except FileContentError:
        return False
    return found == digest


def _copy_tree(source: Path, temporary: Path, ignore: tuple[str, ...]) -> None:
    """Copy the files a directory's digest covers (links followed), read-only."""
    files = directory_files(source, ignore)
    temporary.mkdir()
    for name, path in files:
        destination = temporary / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        os.chmod(destination, 0o444)


_HOST = socket.gethostname().replace("-", "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=_writable_then_retry)
    elif path.exists() or path.is_symlink():
        try:
            path.unlink()
        except PermissionError:
            os.chmod(path.parent, stat.S_IRWXU)
            path.unlink()


def _writable_then_retry(function: Any, path: str, _info: Any) -> None:
    os.chmod(os.path.dirname(path), stat.S_IRWXU)
    function(path)


_TEMPORARY_STORES: weakref.WeakKeyDictionary[Any, FileStore] = weakref.WeakKeyDictionary()
_TEMPORARY_BY_ID: dict[int, FileStore] = {}


def default_file_store(database: ArrowDatabase | None) -> FileStore:
    """The file store beside ``database``.

    A database may say where its files belong (a ``files_location`` attribute:
    ``<delta root>/.files``, ``<sqlite file>.files``). An in-memory database,
    or no database, gets a temporary directory that lives as long as the
    process; any other database a directory under the user's cache
    (``$XDG_CACHE_HOME/orcapod/files/<hash of its URI>``), which a pipeline
    spanning machines should replace with a shared path (``file_store=``).
    """
    location = getattr(database, "files_location", None)
    if location is not None:
        return FileStore(location)
    uri = getattr(database, "uri", None)
    if database is None or uri is None or str(uri).startswith("memory://"):
        return _temporary_store(database)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = hashlib.sha256(str(uri).encode()).hexdigest()[:16]
    return FileStore(Path(cache) / "orcapod" / "files" / name)


def _temporary_store(database: Any) -> FileStore:
    try:
        found = _TEMPORARY_STORES.get(database)
    except TypeError:  # not weakly referenceable
        found = _TEMPORARY_BY_ID.get(id(database))
    if found is None:
        found = FileStore(tempfile.mkdtemp(prefix="orcapod-files-"))
        atexit.register(shutil.rmtree, found.root, ignore_errors=True)
        try:
            _TEMPORARY_STORES[database] = found
        except TypeError:
            _TEMPORARY_BY_ID[id(database)] = found
    return found
