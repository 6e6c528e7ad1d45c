"""GlobSource: the files (or directories) a path pattern matches, tagged by its fields.

The pattern is matched when the source is made (so a pattern that matches
nothing fails at once); the files' content digests are taken when its table
is first needed, in one batch through the current file hasher, so a pipeline
run's store-backed hash cache spares re-reading unchanged files.
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from orcapod.core.errors import SchemaError, SourceError, TypeMismatchError, UnsupportedTypeError
from orcapod.core.files import Directory, File, current_hasher
from orcapod.core.files._digests import directory_files, tree_digest
from orcapod.core.sources._batched import SourceBase
from orcapod.core.sources._table_source import source_content_hash
from orcapod.core.system_columns import (
    PROVENANCE,
    check_source_id,
    check_user_columns,
    provenance_array,
)
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["GlobSource"]

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\*\*|\*|\?|[{}]|[^{}*?]+")
_INTEGER = re.compile(r"-?[0-9]+")
_INT64_LIMIT = 2**63
_GLOBSTAR = r"(?:(?!\.)[^/]+/)*"


@dataclass(frozen=True)
class _Component:
    """One ``/``-separated part of a pattern."""

    text: str
    literal: str | None  # the name, when the part has no field and no wildcard
    regex: str  # what matches one name (no ``/``)
    fields: tuple[str, ...]
    globstar: bool = False

    def matcher(self) -> re.Pattern[str]:
        return re.compile(self.regex)


class GlobSource(SourceBase):
    """The files a path pattern matches, one row each: its fields as tags, the file as packet.

    ``GlobSource("recordings/{subject}/{session}.wav")`` has the tag columns
    ``subject`` and ``session`` (``str``) and a packet column ``file`` holding a
    :class:`~orcapod.core.File` per matched file, identified by its content.

    The pattern, with ``/`` between path components:

    - ``{name}`` is a field: one or more characters of one path component (never
      ``/``), which become the tag column ``name``. A field may share its
      component with text or other fields (``{subject}_{session}.wav``); where a
      name could be split more than one way, earlier fields take as many
      characters as they can. Each field appears once. ``{{`` and ``}}`` stand
      for literal braces.
    - ``*`` matches any characters of one component (none included), ``?`` one
      character, and a ``**`` component any number of directories (none
      included). Character classes (``[abc]``) are not supported: brackets match
      themselves.
    - Fields and wildcards do not match a name starting with ``.`` (hidden files
      and directories) unless the component spells the dot itself (``.{name}``);
      ``**`` does not enter hidden directories, nor follow symbolic links to
      directories. Everything else follows symbolic links.
    - ``.`` and ``..`` may appear only among the leading components that have no
      field or wildcard; the last component cannot be ``**``.

    Rows are ordered by the matched path relative to :attr:`directory` (its
    UTF-8 bytes), which is also each row's record id in provenance, so editing
    one file changes only that row. Neither the record ids nor the default
    ``source_id`` depend on ``root``, and a file's identity is its content, so
    moving the whole tree keeps every row's identity. Wildcards make no tags:
    several files may share their tags (their provenance tells them apart),
    and a pattern without fields gives a source without tag columns.

    The pattern is matched when the source is made; the content digests are
    read when its table is first needed (``as_table``, ``content_hash``,
    iteration), all at once through :func:`orcapod.core.files.current_hasher`,
    so inside a pipeline run the run's file-hash cache is used. The source is a
    snapshot of the listing: make a new one to see files added since.

    Args:
        pattern: the path pattern; a relative one is taken from ``root``.
        root: the directory a relative pattern starts from; by default the
            current directory when the source is made.
        field_types: the type of some fields, ``str`` (the default) or ``int``,
            e.g. ``{"session": int}``; an ``int`` field's text must be a decimal
            integer (``-`` allowed, ``01`` is 1).
        kind: ``"file"`` matches regular files (packet values :class:`File`);
            ``"directory"`` matches directories (values :class:`Directory`,
            identified by the files they hold).
        packet_column: the name of the packet column; by default ``kind``
            (``"file"`` or ``"directory"``).
        ignore: with ``kind="directory"``, glob patterns of names each matched
            directory leaves out of its content (see :class:`Directory`).
        source_id: names this source in provenance; by default the pattern,
            with its braces dropped, runs of other characters than letters,
            digits, ``_``, ``.``, ``-`` replaced by ``_`` and ``_.-`` stripped
            from both ends (``recordings_subject_session.wav``; ``glob`` if
            nothing is left).

    Attributes:
        pattern, kind, ignore: as given.
        root: the absolute directory a relative pattern starts from.
        directory: the directory searched: ``root`` joined with the pattern's
            leading components that have no field or wildcard (``recordings``
            above); record ids are relative to it.

    Raises:
        SourceError: the pattern is malformed (an unmatched brace, a bad field
            name, a field used twice, ``**`` inside a component...), an argument
            is invalid, or the pattern matches nothing (names the pattern and the
            directory searched).
        SchemaError: a field or the packet column has a reserved or conflicting
            name, or ``field_types`` names a field the pattern does not have.
        UnsupportedTypeError: a field type other than ``str`` or ``int``.
        TypeMismatchError: an ``int`` field's text is not an integer (names the path).
        FileContentError: when the table is first needed, a matched file or
            directory is gone or cannot be read.
    """

    def __init__(
        self,
        pattern: str,
        *,
        root: str | os.PathLike[str] | None = None,
        field_types: Mapping[str, type] | None = None,
        kind: Literal["file", "directory"] = "file",
        packet_column: str | None = None,
        ignore: Sequence[str] = (),
        source_id: str | None = None,
    ) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise SourceError(
                f"GlobSource takes a path pattern (a non-empty str), got {pattern!r}; e.g. "
                "GlobSource('recordings/{subject}/{session}.wav')"
            )
        where = f"GlobSource {pattern!r}"
        if kind not in ("file", "directory"):
            raise SourceError(f"{where}: kind={kind!r}; use 'file' or 'directory'")
        if isinstance(ignore, str) or not all(isinstance(p, str) for p in ignore):
            raise SourceError(
                f"{where}: ignore= must be a sequence of glob patterns, e.g. "
                f"ignore=('__pycache__', '*.tmp'), got {ignore!r}"
            )
        if ignore and kind != "directory":
            raise SourceError(
                f"{where}: ignore= applies to matched directories (kind='directory'); "
                "leave files out with the pattern itself"
            )
        self.pattern = pattern
        self.kind = kind
        self.ignore = tuple(ignore)
        self.root = Path(os.path.abspath(os.fspath(root) if root is not None else os.curdir))
        self._source_id = check_source_id(
            _default_source_id(pattern) if source_id is None else source_id
        )
        prefix, components = _parse(pattern, where)
        absolute = pattern.startswith("/")
        base = os.path.abspath(os.path.join(os.sep if absolute else self.root, *prefix))
        self.directory = Path(base)

        names = [name for component in components for name in component.fields]
        types = _field_types(field_types, names, where)
        column = kind if packet_column is None else packet_column
        if not isinstance(column, str) or not column:
            raise SchemaError(f"{where}: packet_column {column!r} is not a non-empty str")
        check_user_columns([*names, column], where=where)
        if column in names:
            raise SchemaError(
                f"{where}: the packet column {column!r} is also a field of the pattern; "
                "rename the field or pass packet_column='...'"
            )
        self._tag_schema = Schema([(name, types.get(name, str)) for name in names])
        self._packet_schema = Schema([(column, File if kind == "file" else Directory)])

        full = re.compile("".join(_joined(components)))
        found = _find(base, components, kind == "directory", where)
        matches = _sorted(
            [(rel, path, m) for rel, path in found if (m := full.fullmatch(rel))], where
        )
        if not matches:
            what = "file" if kind == "file" else "directory"
            missing = "" if os.path.isdir(base) else ", which does not exist"
            start = (
                "" if absolute else f" and root= (a relative pattern starts at {str(self.root)!r})"
            )
            raise SourceError(
                f"{where} matches no {what} in {base!r}{missing}; check the pattern{start}"
            )
        self._relative = [relative for relative, _, _ in matches]
        self._paths = [path for _, path, _ in matches]
        self._tag_arrays = _tag_arrays(matches, self._tag_schema, where)
        self._content_hash: str | None = None

    # -- identity ----------------------------------------------------------------

    def content_hash(self) -> str:
        """The source id, schemas, and every row (file digests, not paths) with its provenance."""
        if self._content_hash is None:
            self._content_hash = source_content_hash(self)
        return self._content_hash

    @property
    def relative_paths(self) -> tuple[str, ...]:
        """The matched paths relative to :attr:`directory` (``/``-separated), in row order."""
        return tuple(self._relative)

    # -- the table ---------------------------------------------------------------

    def _compute_table(self) -> pa.Table:
        digests = self._digests()
        packet_field = self._packet_schema.to_arrow().field(0)
        children = [
            pa.array(self._paths, pa.large_string()),
            pa.array(digests, pa.large_string(), from_pandas=False),
        ]
        if self.kind == "directory":  # each directory keeps its ignore patterns
            patterns = pa.array([list(self.ignore)], packet_field.type.field("ignore").type)
            children.append(patterns.take(pa.array([0] * len(self._paths), pa.int64())))
        packet = pa.StructArray.from_arrays(children, fields=list(packet_field.type))
        provenance = provenance_array(
            self.source_id, pa.array(self._relative, pa.large_string(), from_pandas=False)
        )
        schema = pa.schema(
            [
                *self._tag_schema.to_arrow(),
                packet_field,
                pa.field(PROVENANCE, provenance.type, False),
            ]
        )
        return pa.Table.from_arrays([*self._tag_arrays, packet, provenance], schema=schema)

    def _digests(self) -> list[str]:
        """Every match's content digest, read in one batch by the current hasher."""
        hasher = current_hasher()
        if self.kind == "file":
            return hasher.file_digests(self._paths)
        listings = [directory_files(Path(path), self.ignore) for path in self._paths]
        digests = hasher.file_digests([file for listing in listings for _, file in listing])
        trees, start = [], 0
        for listing in listings:
            end = start + len(listing)
            trees.append(tree_digest([name for name, _ in listing], digests[start:end]))
            start = end
        return trees

    def __repr__(self) -> str:
        return (
            f"GlobSource({self.pattern!r}, root={str(self.root)!r}, "
            f"source_id={self.source_id!r}, tags={self._tag_schema!r}, "
            f"packets={self._packet_schema!r}, rows={len(self._paths)})"
        )


# -- the pattern ---------------------------------------------------------------


def _parse(pattern: str, where: str) -> tuple[list[str], list[_Component]]:
    """(the leading plain components, the components matched below them).

    Raises:
        SourceError: the pattern is malformed.
    """
    parts = pattern.split("/")
    if pattern.startswith("/"):
        parts = parts[1:]
    if any(part == "" for part in parts):
        raise SourceError(
            f"{where}: an empty path component (a doubled or trailing '/'); write e.g. "
            "'recordings/{subject}/{session}.wav'"
        )
    components = [_component(part, where) for part in parts]
    if components[-1].globstar:
        raise SourceError(
            f"{where}: the pattern cannot end with '**'; end it with a name, e.g. 'data/**/*.csv'"
        )
    plain = 0
    while plain < len(components) - 1 and components[plain].literal is not None:
        plain += 1
    rest = components[plain:]
    dotted = [c.text for c in rest if c.literal in (".", "..")]
    if dotted:
        raise SourceError(
            f"{where}: {dotted[0]!r} may only lead the pattern (before any field or wildcard)"
        )
    names = [name for component in rest for name in component.fields]
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise SourceError(f"{where}: field {{{repeated[0]}}} appears twice; name each field once")
    return [c.literal for c in components[:plain] if c.literal is not None], rest


def _component(text: str, where: str) -> _Component:
    """One path component: its literal name, or the regex of the names it matches."""
    if text == "**":
        return _Component(text, None, _GLOBSTAR, (), globstar=True)
    literal: list[str] = []
    regex: list[str] = []
    fields: list[str] = []
    plain = True
    previous = ""
    for token in _TOKEN.finditer(text):
        value = token.group(0)
        if value in ("{{", "}}"):
            literal.append(value[0])
            regex.append(re.escape(value[0]))
            kind = "text"
        elif token.group(1) is not None:
            name = token.group(1)
            if _FIELD_NAME.fullmatch(name) is None:
                raise SourceError(
                    f"{where}: {value!r} is not a field; a field is a name of letters, "
                    "digits and '_' in braces, e.g. '{subject}' ('{{' for a literal brace)"
                )
            if previous == "field":
                raise SourceError(
                    f"{where}: fields {{{fields[-1]}}} and {value} are side by side in "
                    f"{text!r}, so nothing tells where one ends; put text between them"
                )
            fields.append(name)
            regex.append(f"(?P<{name}>[^/]+)")
            plain, kind = False, "field"
        elif value == "**":
            raise SourceError(
                f"{where}: '**' must be a whole path component (as in 'data/**/*.csv'), "
                f"not part of {text!r}"
            )
        elif value in ("*", "?"):
            regex.append("[^/]*" if value == "*" else "[^/]")
            plain, kind = False, "wildcard"
        elif value in ("{", "}"):
            raise SourceError(
                f"{where}: unmatched {value!r} in {text!r}; a field is '{{name}}', and "
                f"'{value}{value}' stands for a literal {value!r}"
            )
        else:
            literal.append(value)
            regex.append(re.escape(value))
            kind = "text"
        previous = kind
    name = "".join(literal)
    if plain:
        return _Component(text, name, re.escape(name), ())
    hidden = "" if text.startswith(".") else r"(?!\.)"
    return _Component(text, None, hidden + "".join(regex), tuple(fields))


def _joined(components: Sequence[_Component]) -> list[str]:
    """The regex of a whole path relative to the directory searched."""
    parts: list[str] = []
    for index, component in enumerate(components):
        parts.append(component.regex)
        if not component.globstar and index < len(components) - 1:
            parts.append("/")
    return parts


def _field_types(
    declared: Mapping[str, type] | None, names: Sequence[str], where: str
) -> dict[str, type]:
    if declared is None:
        return {}
    if not hasattr(declared, "items"):
        raise SourceError(
            f"{where}: field_types must map field names to str or int, e.g. "
            f"field_types={{'session': int}}, got {declared!r}"
        )
    types = dict(declared.items())
    unknown = [name for name in types if name not in names]
    if unknown:
        raise SchemaError(
            f"{where}: field_types names {unknown[0]!r}, which is not a field of the "
            f"pattern; its fields are {list(names)}"
        )
    for name, tp in types.items():
        if tp is not str and tp is not int:
            raise UnsupportedTypeError(
                f"{where}: field {name!r} is declared {tp!r}; a field is str or int "
                "(convert other types in a function pod)"
            )
    return types


def _default_source_id(pattern: str) -> str:
    unbraced = re.sub(r"\{([^{}]*)\}", r"\1", pattern)
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", unbraced).strip("_.-")
    return name or "glob"


# -- matching ------------------------------------------------------------------


def _find(
    base: str, components: Sequence[_Component], directories: bool, where: str
) -> list[tuple[str, str]]:
    """(relative path, absolute path) of what the components match under ``base``, unsorted."""
    found: list[tuple[str, str]] = []
    matchers = [component.matcher() for component in components]
    hidden = any(c.text.startswith(".") for c in components)

    def descend(directory: str, prefix: str, index: int) -> None:
        component = components[index]
        last = index == len(components) - 1
        if component.globstar:
            _everything(directory, prefix, directories, hidden, found, where)
            return
        if component.literal is not None:
            path = os.path.join(directory, component.literal)
            mode = _mode(path)
            entries = [] if mode is None else [(component.literal, path, mode)]
        else:
            entries = [
                (entry.name, entry.path, mode)
                for entry in _scan(directory, where)
                if matchers[index].fullmatch(entry.name) is not None
                and (mode := _entry_mode(entry)) is not None
            ]
        for name, path, mode in entries:
            if not last:
                if stat.S_ISDIR(mode):
                    descend(path, f"{prefix}{name}/", index + 1)
            elif stat.S_ISDIR(mode) if directories else stat.S_ISREG(mode):
                found.append((f"{prefix}{name}", path))

    if os.path.isdir(base):
        descend(base, "", 0)
    return found


def _everything(
    directory: str,
    prefix: str,
    directories: bool,
    hidden: bool,
    found: list[tuple[str, str]],
    where: str,
) -> None:
    """Every file (or directory) below ``directory``, without entering linked directories."""
    for entry in _scan(directory, where):
        if not hidden and entry.name.startswith("."):
            continue
        relative = f"{prefix}{entry.name}"
        mode = _entry_mode(entry)
        if mode is None:
            continue
        if stat.S_ISDIR(mode) if directories else stat.S_ISREG(mode):
            found.append((relative, entry.path))
        if stat.S_ISDIR(mode) and not entry.is_symlink():
            _everything(entry.path, f"{relative}/", directories, hidden, found, where)


def _scan(directory: str, where: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []  # gone since it was seen
    except OSError as error:
        raise SourceError(f"{where}: cannot list directory {directory!r}: {error}") from None


def _mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def _entry_mode(entry: os.DirEntry[str]) -> int | None:
    try:
        return entry.stat().st_mode  # follows symbolic links
    except OSError:
        return None  # a dangling link, or gone since it was listed


def _sorted(
    matches: list[tuple[str, str, re.Match[str]]], where: str
) -> list[tuple[str, str, re.Match[str]]]:
    """The matches by their relative paths' UTF-8 bytes."""
    keyed = []
    for relative, path, match in matches:
        try:
            keyed.append((relative.encode("utf-8"), relative, path, match))
        except UnicodeEncodeError:
            raise SourceError(
                f"{where}: the name {path.encode('utf-8', 'surrogateescape')!r} is not valid "
                "UTF-8, so it cannot be a tag or a record id; rename it"
            ) from None
    keyed.sort(key=lambda entry: entry[0])
    return [(relative, path, match) for _, relative, path, match in keyed]


def _tag_arrays(
    matches: Sequence[tuple[str, str, re.Match[str]]], schema: Schema, where: str
) -> list[pa.Array]:
    """Each field's values, read from the matches, as Arrow arrays."""
    arrays = []
    for field in schema.to_arrow():
        values: list[Any] = [match.group(field.name) for _, _, match in matches]
        if schema[field.name] is int:
            values = [
                _integer(text, field.name, relative, where)
                for text, (relative, _, _) in zip(values, matches, strict=True)
            ]
        arrays.append(pa.array(values, field.type, from_pandas=False))
    return arrays


def _integer(text: str, name: str, relative: str, where: str) -> int:
    if _INTEGER.fullmatch(text) is None or not -_INT64_LIMIT <= int(text) < _INT64_LIMIT:
        raise TypeMismatchError(
            f"{where}: field {name!r} is declared int, but {relative!r} gives it {text!r}, "
            "which is not a 64-bit integer; rename the file, or declare the field str"
        )
    return int(text)
