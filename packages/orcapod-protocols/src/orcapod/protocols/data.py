"""Contracts of the data model: schemas, datagrams, tags and packets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import pyarrow as pa

__all__ = ["ContentIdentifiable", "Datagram", "Packet", "PipelineIdentifiable", "Schema", "Tag"]


@runtime_checkable
class Schema(Protocol):
    """An ordered mapping of column name to Python type, with its Arrow schema.

    Supported types are ``int``, ``float``, ``bool``, ``str``, ``bytes``,
    ``datetime.datetime``, ``datetime.date``, ``pathlib.Path``, ``list[T]``,
    ``dict[str, T]``, ``T | None`` and their nested combinations.
    """

    def __getitem__(self, name: str) -> Any: ...

    def __iter__(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, Python type) pairs in column order."""
        ...

    def to_arrow(self) -> pa.Schema:
        """The Arrow schema these columns are stored with."""
        ...


@runtime_checkable
class ContentIdentifiable(Protocol):
    """Something with a data-inclusive identity, stable across processes and releases."""

    def content_hash(self) -> str:
        """The identity of this object *and its data*, as ``"<method>:<hex>"``."""
        ...


@runtime_checkable
class PipelineIdentifiable(Protocol):
    """Something whose place in a pipeline has an identity independent of the data."""

    def pipeline_hash(self) -> str:
        """The identity of schema and topology only, as ``"<method>:<hex>"``.

        A Merkle chain: this element's own identity combined with the
        pipeline hashes of everything upstream. Scopes where results are stored.
        """
        ...


@runtime_checkable
class Datagram(ContentIdentifiable, Protocol):
    """An immutable, Arrow-backed, dict-like row of named values.

    An implementation may also offer ``arrow_row() -> (pa.Table, int)``: the
    Arrow table the row is a view of (user and system columns) and its index
    there. Readers of many rows use it, when present, to take values column by
    column instead of row by row.
    """

    def __getitem__(self, name: str) -> Any: ...

    def __iter__(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...

    def keys(self) -> tuple[str, ...]:
        """The user column names, in order (system columns excluded)."""
        ...

    def schema(self) -> Schema:
        """The Python types of the user columns."""
        ...

    def as_dict(self) -> dict[str, Any]:
        """The user columns as plain Python values."""
        ...

    def as_table(self, *, include_system_columns: bool = False) -> pa.Table:
        """A one-row Arrow table of the values."""
        ...


@runtime_checkable
class Tag(Datagram, Protocol):
    """The columns that identify a row, plus its provenance system tags."""

    def system_tags(self) -> Mapping[str, Any]:
        """Reserved ``__``-prefixed columns recording which source rows this row derives from."""
        ...


@runtime_checkable
class Packet(Datagram, Protocol):
    """The payload columns of a row: what functions read and return."""
