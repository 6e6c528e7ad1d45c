"""Functions returning ``File`` or ``Directory``: scratch directories, keeping, checking.

A call of such a function gets a fresh scratch directory (``scratch_dir()``);
what it returns is kept in the result cache's :class:`FileStore` (moved out of
the scratch directory, copied from anywhere else), and the output names the
stored copy. A stored result is used again only while every file it names is
still in the store with its digest (:meth:`FileOutputs.damaged_rows`).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import FileContentError, ReturnValueError
from orcapod.core.files import Directory, FileStore, PathValue, current_hasher
from orcapod.core.files._scratch import WithScratch
from orcapod.core.types import Schema, to_pylist
from orcapod.core.types._annotations import strip_optional

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    import pyarrow as pa

    from orcapod.protocols.pods import PacketFunction


__all__ = ["FileInputs", "FileOutputs", "changed_leaves", "holds_path_values"]


def holds_path_values(tp: Any) -> bool:
    """Whether values of a normalised type may hold ``File`` or ``Directory`` values."""
    tp = strip_optional(tp)
    if isinstance(tp, type):
        if issubclass(tp, PathValue):
            return True
        if dataclasses.is_dataclass(tp):
            return any(holds_path_values(t) for t in _field_types(tp).values())
        return False
    return any(holds_path_values(arg) for arg in typing.get_args(tp))


def _field_types(cls: type) -> dict[str, Any]:
    from orcapod.core.types._dataclasses import field_types

    return field_types(cls)


class FileOutputs:
    """The ``File``/``Directory`` outputs of one function, and the store they are kept in.

    Args:
        schema: the function's output schema.
        store: where outputs are kept (``None``: only checking stored outputs).
    """

    def __init__(self, schema: Schema, store: FileStore | None = None) -> None:
        self.schema = schema
        self.store = store
        self.columns = [name for name, tp in schema.items() if holds_path_values(tp)]

    @classmethod
    def of(cls, schema: Schema, store: Callable[[], FileStore]) -> FileOutputs | None:
        """The file outputs of ``schema``, or ``None`` when it has none (nothing to do)."""
        if not any(holds_path_values(tp) for tp in schema.types()):
            return None
        return cls(schema, store())

    def wrap(self, function: Callable[..., Any]) -> tuple[WithScratch, Path]:
        """``function`` called with a fresh scratch directory, and that directory."""
        store = self._keeping()
        scratch = store.new_scratch()
        return WithScratch(function, scratch), scratch

    def keep(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The output values with every ``File``/``Directory`` replaced by its stored copy.

        Raises:
            FileContentError: a returned path does not exist or is of the wrong kind.
        """
        hasher, store = current_hasher(), self._keeping()
        returned = [
            leaf
            for (_, tp), value in zip(self.schema.items(), values, strict=True)
            for leaf in _leaves(value, tp)
        ]
        # A file may be moved into the store only if nothing else returned names it
        # (the same file twice, or a file inside a returned directory).
        shared = _shared_paths(returned)
        kept_by_path: dict[tuple[str, str | None, str], PathValue] = {}

        def keep_one(value: PathValue) -> PathValue:
            key = (type(value).__name__, value._digest, str(value.path))
            if key not in kept_by_path:
                movable = str(value.path) not in shared
                kept_by_path[key] = store.keep(value, hasher=hasher, move=movable)
            return kept_by_path[key]

        kept = []
        for (_, tp), value in zip(self.schema.items(), values, strict=True):
            kept.append(_map(value, tp, keep_one))
        return tuple(kept)

    def keep_returned(self, returned: Any, function: PacketFunction) -> Any:
        """What ``function`` returned, its ``File``/``Directory`` values kept (as
        :meth:`keep`); returned as it is when it does not have the outputs' shape,
        for the caller's check to report."""
        try:
            values = function.split_outputs(returned)  # type: ignore[attr-defined]
        except ReturnValueError:
            return returned
        kept = self.keep(values)
        return kept[0] if len(kept) == 1 else kept

    def _keeping(self) -> FileStore:
        if self.store is None:
            raise RuntimeError("these FileOutputs only check stored outputs; give a FileStore")
        return self.store

    def discard(self, scratch: Path) -> None:
        """Remove a call's scratch directory (after its outputs were kept)."""
        self._keeping().discard_scratch(scratch)

    def files_of(self, outputs: pa.Table, row: int) -> list[PathValue]:
        """The ``File``/``Directory`` values one row of stored ``outputs`` names."""
        found: list[PathValue] = []
        for name in self.columns:
            tp = self.schema[name]
            (value,) = to_pylist(outputs.column(name).slice(row, 1), tp)
            found += _leaves(value, tp)
        return found

    def damaged_files(self, outputs: pa.Table, row: int) -> list[str]:
        """The paths of the files of one row that are missing or altered."""
        return [
            str(value.path) for value in self.files_of(outputs, row) if changed_leaves([(0, value)])
        ]

    def damaged_rows(self, outputs: pa.Table, rows: list[int]) -> list[int]:
        """Of ``rows`` of stored ``outputs``, those whose files are missing or altered
        (checked in one batch through the digest cache)."""
        leaves: list[tuple[int, PathValue]] = []
        for name in self.columns:
            tp = self.schema[name]
            values = to_pylist(outputs.column(name).take(rows), tp)
            leaves += [
                (row, leaf)
                for row, value in zip(rows, values, strict=True)
                for leaf in _leaves(value, tp)
            ]
        return sorted(changed_leaves(leaves))

    def relocated(self, outputs: pa.Table, rows: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Of ``rows`` of stored ``outputs`` (damaged where they say), those whose every
        file is intact where this store keeps its digest, each as its output values
        naming those places: the results of a store whose folder was moved."""
        if self.store is None or not rows:
            return {}
        store = self.store

        def here(value: PathValue) -> PathValue:
            return type(value)(store.location(value.digest), digest=value.digest, **value._extra())

        found: dict[int, dict[str, Any]] = {}
        for row in rows:
            values = {
                name: to_pylist(outputs.column(name).slice(row, 1), tp)[0]
                for name, tp in self.schema.items()
            }
            for name in self.columns:
                values[name] = _map(values[name], self.schema[name], here)
            leaves = [
                (0, leaf)
                for name in self.columns
                for leaf in _leaves(values[name], self.schema[name])
            ]
            if not changed_leaves(leaves):
                found[row] = values
        return found


def changed_leaves(leaves: Sequence[tuple[int, PathValue]]) -> dict[int, PathValue]:
    """Of (row, value) pairs, the rows whose value's content is not its digest (missing,
    altered, or of the wrong kind), each with the first such value; one batch for files."""
    hasher = current_hasher()
    changed: dict[int, PathValue] = {}
    files = [(row, value) for row, value in leaves if not isinstance(value, Directory)]
    found = hasher.present_digests([value.path for _, value in files])
    for (row, value), digest in zip(files, found, strict=True):
        if digest != value.digest:
            changed.setdefault(row, value)
    for row, value in leaves:
        if isinstance(value, Directory) and row not in changed:
            try:
                digest = hasher.directory_digest(value.path, value.ignore)
            except FileContentError:
                digest = None
            if digest != value.digest:
                changed[row] = value
    return changed


class FileInputs:
    """The ``File``/``Directory`` parameters of a function: their values are checked
    against their digests before a packet is computed or found stored, so a file that
    changed after its source read it is never computed (or found) under the old content.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.columns = [name for name, tp in schema.items() if holds_path_values(tp)]

    @classmethod
    def of(cls, schema: Schema, parameters: Sequence[str]) -> FileInputs | None:
        """The file parameters among ``parameters``, or ``None`` if there are none."""
        wanted = Schema([(name, schema[name]) for name in parameters])
        found = cls(wanted)
        return found if found.columns else None

    def changed(self, columns: Mapping[str, Sequence[Any]], rows: Sequence[int]) -> dict[int, str]:
        """Of ``rows``, those whose input files changed since their digests were taken,
        each with the error message to fail its packet with."""
        leaves = [
            (row, leaf)
            for name in self.columns
            for row in rows
            for leaf in _leaves(columns[name][row], self.schema[name])
        ]
        return {
            row: (
                f"input {value!r} changed after its digest was taken ({value.digest}): its "
                "content is missing or different now, so the packet is not computed or "
                "looked up under the old content. Make the source again (a new GlobSource "
                "or DictSource) and run again"
            )
            for row, value in changed_leaves(leaves).items()
        }


def _shared_paths(returned: Sequence[PathValue]) -> set[str]:
    """The paths of returned files that another returned value also names: the same
    file again, or a file inside a returned directory."""
    files = [str(value.path) for value in returned if not isinstance(value, Directory)]
    folders = [str(value.path) + os.sep for value in returned if isinstance(value, Directory)]
    seen: set[str] = set()
    shared: set[str] = set()
    for path in files:
        if path in seen or any(path.startswith(folder) for folder in folders):
            shared.add(path)
        seen.add(path)
    return shared


def _map(value: Any, tp: Any, keep: Callable[[PathValue], PathValue]) -> Any:
    if value is None:
        return None
    bare = strip_optional(tp)
    if isinstance(value, PathValue):
        return keep(value)
    origin = typing.get_origin(bare)
    if origin is list:
        item = typing.get_args(bare)[0]
        return [_map(v, item, keep) for v in value]
    if origin is dict:
        item = typing.get_args(bare)[1]
        return {k: _map(v, item, keep) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        types = _field_types(type(value))
        changes = {
            name: _map(getattr(value, name), types[name], keep)
            for name in types
            if holds_path_values(types[name])
        }
        return dataclasses.replace(value, **changes) if changes else value
    return value


def _leaves(value: Any, tp: Any) -> list[PathValue]:
    found: list[PathValue] = []

    def note(leaf: PathValue) -> PathValue:
        found.append(leaf)
        return leaf

    _map(value, tp, note)
    return found
