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
import stat
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import FileContentError
from orcapod.core.files._digests import FileHasher, current_hasher
from orcapod.core.files._values import Directory, File, PathValue

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

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    @property
    def scratch_root(self) -> Path:
        """Where the per-packet scratch directories are made."""
        return self.root / "scratch"

    def new_scratch(self) -> Path:
        """A fresh, not yet created, scratch directory path for one packet."""
        return self.scratch_root / uuid.uuid4().hex

    def location(self, digest: str) -> Path:
        """Where the object of ``digest`` is (or would be) stored."""
        method, _, hexdigest = digest.partition(":")
        if method not in ("sha256", "sha256-tree") or len(hexdigest) != 64:
            raise FileContentError(f"{digest!r} is not a content digest this store keeps")
        return self.root / method / hexdigest[:2] / hexdigest

    def keep(self, value: PathValue, *, hasher: FileHasher | None = None) -> PathValue:
        """Store ``value``'s content and return the value naming the stored copy.

        Content inside this store's scratch directories is moved; anything
        else (an input file returned as it is, say) is copied, never moved.
        An object already stored intact is not stored again.

        Raises:
            FileContentError: the value's path is missing or of the wrong kind.
        """
        hasher = current_hasher() if hasher is None else hasher
        digest = value.digest
        target = self.location(digest)
        if self.intact(target, digest, hasher):
            return type(value)(target, digest=digest)
        incoming = self.root / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        temporary = incoming / uuid.uuid4().hex
        source = value.path
        movable = source.is_relative_to(self.scratch_root) and not source.is_symlink()
        try:
            if isinstance(value, Directory):
                _place_directory(source, temporary, value.ignore, move=movable)
            else:
                if movable:
                    os.replace(source, temporary)
                else:
                    shutil.copyfile(source, temporary)
                os.chmod(temporary, 0o444)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                _remove(target)  # altered or partial: the new copy replaces it
            os.replace(temporary, target)
        except OSError as error:
            _remove(temporary)
            raise FileContentError(
                f"cannot keep {value!r} in the file store at {str(self.root)!r}: {error}"
            ) from None
        stored = type(value)(target, digest=digest)
        # What was just stored is known to match: spare the check of the next lookup.
        hasher.file_digests([target]) if isinstance(stored, File) else None
        return stored

    def intact(self, target: Path, digest: str, hasher: FileHasher | None = None) -> bool:
        """Whether ``target`` exists and its content has ``digest`` (see :func:`intact`)."""
        return intact(target, digest, hasher)

    def discard_scratch(self, scratch: Path) -> None:
        """Remove a packet's scratch directory and what is left in it."""
        _remove(scratch)


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


def _place_directory(source: Path, temporary: Path, ignore: tuple[str, ...], *, move: bool) -> None:
    from orcapod.core.files._digests import directory_files

    if move and not ignore:
        os.replace(source, temporary)
        return
    temporary.mkdir()
    for name, path in directory_files(source, ignore):
        destination = temporary / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


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
