"""Logical types: how a plugin tells orcapod to store values of a Python class.

A *logical type* says how values of one Python class (a ``Fraction``, a
pandas ``DataFrame``, a pydantic model) are stored in Arrow and which part of
the stored value identifies them. A plugin returns logical types from the
``orcapod_logical_types`` hook (:mod:`orcapod.protocols.hooks`); orcapod-core
registers them, after which function pods may take and return that class,
sources may hold it, and every store keeps it as its Arrow storage type, with
the logical type's name in the column's field metadata.

A plugin returns :class:`LogicalTypeSpec` objects, or any objects with the
attributes of :class:`LogicalTypeDefinition` (orcapod-core's own
``LogicalType`` has them too). Nothing here imports orcapod-core or pyarrow at
run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

__all__ = ["IDENTITY_KEY", "LOGICAL_TYPE_KEY", "LogicalTypeDefinition", "LogicalTypeSpec"]

LOGICAL_TYPE_KEY = b"orcapod.logical_type"
"""Field metadata naming a column's logical type (``b"path"``, ``b"file"``, a plugin's name)."""

IDENTITY_KEY = b"orcapod.identity"
"""Field metadata naming the struct fields that identify a value (comma-separated)."""


@runtime_checkable
class LogicalTypeDefinition(Protocol):
    """What the ``orcapod_logical_types`` hook returns: one logical type.

    orcapod reads these attributes once, when it registers the type. Every one
    must be there (:class:`LogicalTypeSpec` defaults ``identity_fields`` to
    ``None`` and ``description`` to ``""``).
    """

    @property
    def name(self) -> str:
        """The type's name in field metadata and in every schema hash.

        Namespaced by the plugin and never changed once data is stored under it:
        lower-case, dot-separated, e.g. ``"mylab.fraction"``. Renaming it changes
        every hash of data holding the type, so everything is recomputed.
        """
        ...

    @property
    def python_class(self) -> type:
        """The class of the values; an annotation of exactly this class selects the type."""
        ...

    @property
    def storage_type(self) -> pa.DataType:
        """The Arrow type values are stored as (a struct for several parts).

        Built only of types every orcapod store keeps and orcapod hashes: null,
        bool, integers, floats, (large) strings, (large) binary, date,
        timestamp, lists, maps and structs.
        """
        ...

    @property
    def to_storage(self) -> Callable[[Any], Any]:
        """A value -> what ``pyarrow.array([...], storage_type)`` takes (a dict for a struct).

        Raises ``TypeError`` or ``ValueError`` for a value it cannot store.
        Equal values must give equal storage (in the identity fields).
        """
        ...

    @property
    def from_storage(self) -> Callable[[Any], Any]:
        """What ``to_pylist()`` gives for ``storage_type`` -> an equal value of ``python_class``."""
        ...

    @property
    def identity_fields(self) -> tuple[str, ...] | None:
        """The fields of a struct ``storage_type`` a content hash covers; ``None``: all of it.

        Use it for parts that describe a value without identifying it (a
        ``File``'s path beside its digest, a float approximation beside the
        exact value).
        """
        ...

    @property
    def description(self) -> str:
        """One line for ``orcapod plugins``."""
        ...


@dataclass(frozen=True)
class LogicalTypeSpec:
    """A ready-made :class:`LogicalTypeDefinition`: what most plugins return.

    Example::

        from fractions import Fraction

        import pyarrow as pa

        from orcapod.protocols.hooks import hookimpl
        from orcapod.protocols.logical_types import LogicalTypeSpec

        FRACTION = LogicalTypeSpec(
            name="mylab.fraction",
            python_class=Fraction,
            storage_type=pa.struct([("numerator", pa.large_string()),
                                    ("denominator", pa.large_string())]),
            to_storage=lambda f: {"numerator": str(f.numerator),
                                  "denominator": str(f.denominator)},
            from_storage=lambda s: Fraction(int(s["numerator"]), int(s["denominator"])),
        )

        @hookimpl
        def orcapod_logical_types():
            return [FRACTION]

    A list given as ``identity_fields`` is kept as a tuple.
    """

    name: str
    python_class: type
    storage_type: pa.DataType
    to_storage: Callable[[Any], Any]
    from_storage: Callable[[Any], Any]
    identity_fields: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.identity_fields, list):
            object.__setattr__(self, "identity_fields", tuple(self.identity_fields))
