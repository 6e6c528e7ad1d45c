"""``File`` and ``Directory``: path-like values identified by their content."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["Directory", "File", "PathValue"]

_METHOD = {"file": "sha256", "directory": "sha256-tree"}
_DIGEST = {kind: re.compile(rf"{method}:[0-9a-f]{{64}}") for kind, method in _METHOD.items()}
_ANY = re.compile(r"(sha256|sha256-tree):[0-9a-f]{64}")


class PathValue(os.PathLike[str]):
    """What ``File`` and ``Directory`` share: an absolute path and a content digest.

    The path says where the content is; the digest says what it is. Identity
    (a packet's content hash, a result's cache key) uses the digest alone, so
    moving an unchanged file keeps its identity and editing one byte changes it.
    The digest is computed on first use, through the run's file-hash cache.
    """

    __slots__ = ("_digest", "_path")
    kind = "path"

    def __init__(self, path: str | os.PathLike[str], *, digest: str | None = None) -> None:
        if isinstance(path, PathValue):
            path = path.path
        if not isinstance(path, str | os.PathLike):
            raise TypeError(
                f"{type(self).__name__}() takes a path (str or os.PathLike), got "
                f"{type(path).__name__} {path!r}"
            )
        text = os.fspath(path)
        if not text:
            raise ValueError(f"{type(self).__name__}() takes a path, got an empty one")
        self._path = Path(os.path.abspath(text))
        if digest is not None and (
            not isinstance(digest, str)
            or _DIGEST.get(type(self).kind, _ANY).fullmatch(digest) is None
        ):
            raise ValueError(
                f"{type(self).__name__}({str(self._path)!r}, digest={digest!r}): a digest is "
                f"'{_METHOD.get(type(self).kind, 'sha256')}:' and 64 lowercase hex digits; "
                "leave it out to have it read from the content"
            )
        self._digest = digest

    @property
    def path(self) -> Path:
        """The absolute path of the content."""
        return self._path

    @property
    def digest(self) -> str:
        """The content digest, computed (through the file-hash cache) on first use.

        Raises:
            FileContentError: the path does not exist or is not of this kind.
        """
        if self._digest is None:
            self._digest = self._compute_digest()
        return self._digest

    @property
    def digest_known(self) -> bool:
        """Whether the digest is known without reading anything."""
        return self._digest is not None

    def _compute_digest(self) -> str:
        raise NotImplementedError

    # -- path-like -------------------------------------------------------------

    def __fspath__(self) -> str:
        return str(self._path)

    def __str__(self) -> str:
        return str(self._path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._path)!r})"

    def __truediv__(self, other: str | os.PathLike[str]) -> Path:
        return self._path / other

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, PathValue)
        if self._path != other._path:
            return False
        known = self._digest is not None and other._digest is not None
        return not known or self._digest == other._digest

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._path))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self._path), self._digest, self._extra()))

    def _extra(self) -> dict[str, Any]:
        return {}

    def __getattr__(self, name: str) -> Any:
        # Everything else a pathlib.Path offers: stat, exists, with_suffix, parent...
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._path, name)

    @property
    def name(self) -> str:
        return self._path.name

    @property
    def stem(self) -> str:
        return self._path.stem

    @property
    def suffix(self) -> str:
        return self._path.suffix

    @property
    def parent(self) -> Path:
        return self._path.parent

    def exists(self) -> bool:
        return self._path.exists()


def _rebuild(
    kind: type[PathValue], path: str, digest: str | None, extra: dict[str, Any]
) -> PathValue:
    return kind(path, digest=digest, **extra)


class File(PathValue):
    """A file whose identity is the SHA-256 of its bytes (``"sha256:<hex>"``).

    Annotate a parameter or return value ``File`` to have it identified by
    content; it works like a ``pathlib.Path`` (``open``, ``read_bytes``,
    ``read_text``, ``name``, ``suffix``, ``stat``...).

    Args:
        path: the file (made absolute).
        digest: its digest, if already known (stored values carry it).
    """

    __slots__ = ()
    kind = "file"

    def _compute_digest(self) -> str:
        from orcapod.core.files._digests import current_hasher

        return current_hasher().file_digest(self._path)

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        return self._path.open(mode, *args, **kwargs)

    def read_bytes(self) -> bytes:
        return self._path.read_bytes()

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        return self._path.read_text(encoding=encoding, errors=errors)


class Directory(PathValue):
    """A directory whose identity is a Merkle digest of its files' names and digests.

    The digest (``"sha256-tree:<hex>"``) covers every file under the directory,
    by its relative POSIX name and its own SHA-256, except files and
    directories matching ``ignore``; empty directories are not part of it.

    Args:
        path: the directory (made absolute).
        ignore: glob patterns (``fnmatch``) of names to leave out, matched
            against each name and each relative path, e.g. ``("__pycache__", "*.tmp")``.
        digest: its digest, if already known.
    """

    __slots__ = ("_ignore",)
    kind = "directory"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ignore: Sequence[str] = (),
        digest: str | None = None,
    ) -> None:
        super().__init__(path, digest=digest)
        if isinstance(ignore, str) or not all(isinstance(p, str) for p in ignore):
            raise TypeError(
                f"Directory ignore= must be a sequence of glob patterns, e.g. "
                f"ignore=('__pycache__', '*.tmp'), got {ignore!r}"
            )
        self._ignore = tuple(ignore)

    @property
    def ignore(self) -> tuple[str, ...]:
        """The glob patterns of names left out of the digest."""
        return self._ignore

    def _extra(self) -> dict[str, Any]:
        return {"ignore": self._ignore}

    def _compute_digest(self) -> str:
        from orcapod.core.files._digests import current_hasher

        return current_hasher().directory_digest(self._path, self._ignore)

    def files(self) -> list[Path]:
        """The files the digest covers, sorted by relative name."""
        from orcapod.core.files._digests import directory_files

        return [path for _, path in directory_files(self._path, self._ignore)]

    def iterdir(self) -> Iterator[Path]:
        return self._path.iterdir()

    def glob(self, pattern: str) -> Iterator[Path]:
        return self._path.glob(pattern)

    def rglob(self, pattern: str) -> Iterator[Path]:
        return self._path.rglob(pattern)
