"""Logical types: Python classes stored as an Arrow storage type, named in field metadata.

A logical type says how values of one Python class are stored in Arrow
(``storage_type``, ``to_storage``, ``from_storage``) and which part of the
stored value identifies it (``identity_fields``: the struct fields a content
hash covers; all of it by default). A column of a logical type is a field of
the storage type with the metadata ``{b"orcapod.logical_type": name}`` (and
``{b"orcapod.identity": b"field,field"}`` when only some fields identify a
value), so any store that keeps the storage type keeps the value, and the
schema hash says "a File", never the path.

``File`` and ``Directory`` are built in. ``numpy.ndarray`` and frozen
dataclasses are resolved on demand, and distributions add their own through
the ``orcapod_logical_types`` plugin hook.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.core.errors import UnsupportedTypeError
from orcapod.core.files._values import Directory, File
from orcapod.protocols.logical_types import IDENTITY_KEY, LOGICAL_TYPE_KEY, LogicalTypeSpec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "IDENTITY_KEY",
    "LogicalType",
    "logical_type_named",
    "logical_type_of",
    "logical_types",
    "register_logical_type",
    "register_resolver",
]


@dataclass(frozen=True)
class LogicalType(LogicalTypeSpec):
    """How values of a Python class are stored in Arrow and identified: the plugins'
    :class:`~orcapod.protocols.logical_types.LogicalTypeSpec`, as the registry holds it.

    Attributes:
        name: the logical type's name in field metadata: stable, unique, e.g.
            ``"file"`` or ``"mylab.decimal"``. Part of every schema hash.
        python_class: the class of the values (and the annotation that selects it).
        storage_type: the Arrow type values are stored as.
        to_storage: a value → what ``pyarrow.array`` takes for ``storage_type``
            (a dict for a struct). Raise ``TypeError`` or ``ValueError`` to refuse it.
        from_storage: what ``to_pylist`` gives for ``storage_type`` → the value.
        identity_fields: the fields of a struct ``storage_type`` that identify a
            value; ``None``: all of it.
        description: one line for ``orcapod plugins``.
    """

    def field_metadata(self) -> dict[bytes, bytes]:
        """The metadata of a field of this type: its name, and its identity fields."""
        metadata = {LOGICAL_TYPE_KEY: self.name.encode()}
        if self.identity_fields is not None:
            metadata[IDENTITY_KEY] = ",".join(self.identity_fields).encode()
        return metadata


_LOCK = threading.RLock()
_BY_CLASS: dict[type, LogicalType] = {}
_BY_NAME: dict[str, LogicalType] = {}
_RESOLVERS: list[Callable[[Any], LogicalType | None]] = []
_RESERVED = frozenset({"path"})
_plugins_loaded = False


def register_logical_type(logical: LogicalType) -> LogicalType:
    """Make ``logical`` known: annotations of its class, and fields of its name, use it.

    Registering the same type again is harmless.

    Raises:
        UnsupportedTypeError: another type has its name or class, or it is malformed.
    """
    _check(logical)
    with _LOCK:
        known = _BY_NAME.get(logical.name)
        if known is not None and known != logical:
            raise UnsupportedTypeError(
                f"logical type {logical.name!r} is registered twice, for "
                f"{known.python_class.__qualname__} and {logical.python_class.__qualname__}; "
                "give each logical type a unique name (prefix it with your package's name)"
            )
        known = _BY_CLASS.get(logical.python_class)
        if known is not None and known != logical:
            raise UnsupportedTypeError(
                f"class {logical.python_class.__qualname__} is registered twice, as logical "
                f"types {known.name!r} and {logical.name!r}; register it once"
            )
        _BY_NAME[logical.name] = logical
        _BY_CLASS[logical.python_class] = logical
    return logical


def _check(logical: LogicalType) -> None:
    what = f"logical type {getattr(logical, 'name', logical)!r}"
    if not isinstance(logical, LogicalType):
        raise UnsupportedTypeError(f"{what} is not an orcapod.core.types.LogicalType")
    if not isinstance(logical.name, str) or not logical.name or logical.name in _RESERVED:
        raise UnsupportedTypeError(f"{what}: name must be a non-empty str other than 'path'")
    if not isinstance(logical.python_class, type):
        raise UnsupportedTypeError(f"{what}: python_class must be a class")
    if not isinstance(logical.storage_type, pa.DataType):
        raise UnsupportedTypeError(f"{what}: storage_type must be a pyarrow DataType")
    if not callable(logical.to_storage) or not callable(logical.from_storage):
        raise UnsupportedTypeError(f"{what}: to_storage and from_storage must be callables")
    fields = logical.identity_fields
    if fields is not None:
        storage = logical.storage_type
        names = (
            {storage.field(i).name for i in range(storage.num_fields)}
            if pa.types.is_struct(storage)
            else set()
        )
        if not fields or not set(fields) <= names:
            raise UnsupportedTypeError(
                f"{what}: identity_fields {fields!r} must name fields of its struct "
                f"storage type {storage}"
            )


def register_resolver(resolver: Callable[[Any], LogicalType | None]) -> None:
    """Add a function that makes the logical type of annotations no class lookup finds
    (a generic alias, a family of classes such as frozen dataclasses)."""
    with _LOCK:
        _RESOLVERS.append(resolver)


def logical_type_of(tp: Any) -> LogicalType | None:
    """The logical type an annotation stands for, or ``None`` if it is no logical type."""
    try:
        found = _BY_CLASS.get(tp)
    except TypeError:  # an unhashable annotation
        return None
    if found is None and _load_plugins():  # plugins' types before resolvers', from the start
        found = _BY_CLASS.get(tp)
    if found is not None:
        return found
    for resolver in list(_RESOLVERS):
        found = resolver(tp)
        if found is not None:
            return found
    return None


def logical_type_named(name: str) -> LogicalType | None:
    """The logical type of that name, or ``None`` if none is known in this process."""
    found = _BY_NAME.get(name)
    if found is None and _load_plugins():
        found = _BY_NAME.get(name)
    for resolver in list(_NAME_RESOLVERS):
        if found is not None:
            break
        found = resolver(name)
    return found


def logical_types() -> list[LogicalType]:
    """Every logical type registered so far (plugins' included), by name."""
    _load_plugins()
    with _LOCK:
        return sorted(_BY_NAME.values(), key=lambda logical: logical.name)


def _load_plugins() -> bool:
    """Register the plugins' logical types, once per process; whether any new one came."""
    global _plugins_loaded
    with _LOCK:
        if _plugins_loaded:
            return False
        _plugins_loaded = True
        before = len(_BY_NAME)
    from orcapod.core.plugins import default_registry

    load = getattr(default_registry(), "logical_types", None)
    if load is not None:
        load()
    return len(_BY_NAME) > before


# -- the built-in logical types -----------------------------------------------

_PATH_AND_DIGEST = [
    pa.field("path", pa.large_string(), nullable=False),
    pa.field("digest", pa.large_string(), nullable=False),
]
_FILE_STORAGE = pa.struct(_PATH_AND_DIGEST)
# A directory keeps its ignore patterns (not part of its identity), so that a
# directory read back and returned as it is stands for the same files.
_DIRECTORY_STORAGE = pa.struct(
    [
        *_PATH_AND_DIGEST,
        pa.field(
            "ignore", pa.large_list(pa.field("item", pa.large_string(), nullable=False)), False
        ),
    ]
)


def _file_to_storage(value: Any) -> dict[str, str]:
    if not isinstance(value, File):
        raise TypeError("expected File")
    return {"path": str(value.path), "digest": value.digest}


def _file_from_storage(stored: dict[str, str]) -> File:
    return File(stored["path"], digest=stored["digest"])


def _directory_to_storage(value: Any) -> dict[str, Any]:
    if not isinstance(value, Directory):
        raise TypeError("expected Directory")
    return {"path": str(value.path), "digest": value.digest, "ignore": list(value.ignore)}


def _directory_from_storage(stored: dict[str, Any]) -> Directory:
    return Directory(stored["path"], digest=stored["digest"], ignore=stored["ignore"])


FILE_TYPE = register_logical_type(
    LogicalType(
        name="file",
        python_class=File,
        storage_type=_FILE_STORAGE,
        to_storage=_file_to_storage,
        from_storage=_file_from_storage,
        identity_fields=("digest",),
        description="a file, identified by the SHA-256 of its bytes",
    )
)
DIRECTORY_TYPE = register_logical_type(
    LogicalType(
        name="directory",
        python_class=Directory,
        storage_type=_DIRECTORY_STORAGE,
        to_storage=_directory_to_storage,
        from_storage=_directory_from_storage,
        identity_fields=("digest",),
        description="a directory, identified by a Merkle digest of its files",
    )
)


# -- numpy arrays and frozen dataclasses, resolved on demand ------------------------

_NAME_RESOLVERS: list[Callable[[str], LogicalType | None]] = []
"""Functions from a stored logical type name to its type, for names registered lazily."""


def _register_on_demand_types() -> None:
    from orcapod.core.types import _arrays, _dataclasses

    for module in (_arrays, _dataclasses):
        register_resolver(module.resolve)
        _NAME_RESOLVERS.append(module.resolve_name)


_register_on_demand_types()
