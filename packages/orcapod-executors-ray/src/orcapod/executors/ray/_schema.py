"""The declared schema of RayExecutor's executor data: every key a ``str``.

orcapod-core's ``Schema`` is not available here (plugins never import core), so
this is a small implementation of the ``orcapod.protocols.data.Schema`` contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

__all__ = ["StringSchema"]


class StringSchema:
    """An ordered, immutable set of column names, each of type ``str`` (Arrow ``large_string``).

    Args:
        names: the column names, in order.
    """

    __slots__ = ("_names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names

    def __repr__(self) -> str:
        return f"StringSchema({', '.join(self._names)})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringSchema):
            return self._names == other._names
        items = getattr(other, "items", None)
        return callable(items) and list(items()) == list(self.items())

    def __hash__(self) -> int:
        return hash(self._names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(f"no column {name!r}; the columns are {list(self._names)}")
        return str

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, ``str``) pairs in column order."""
        return ((name, str) for name in self._names)

    def to_arrow(self) -> pa.Schema:
        """Non-nullable ``large_string`` fields, as orcapod stores ``str`` columns."""
        import pyarrow as pa

        return pa.schema(
            [pa.field(name, pa.large_string(), nullable=False) for name in self._names]
        )
