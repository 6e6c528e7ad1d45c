"""Reading a plugin's ``SourceTable`` (rows and how to identify them) as a core source."""

from __future__ import annotations

import reprlib
import weakref
from typing import Any

import pyarrow as pa

from orcapod.core.errors import SourceError
from orcapod.core.sources._table_source import (
    ArrowTableSource,
    TableSource,
    without_false_nullability,
)
from orcapod.core.streams import StreamBase
from orcapod.core.system_columns import check_source_id
from orcapod.protocols.streams import SourceTable, Stream

__all__ = ["SourceTableSource", "as_stream"]

_READ: dict[int, SourceTableSource] = {}
"""The source each live ``SourceTable`` was read as, by the table's ``id``."""


class SourceTableSource(ArrowTableSource):
    """The :class:`ArrowTableSource` of a ``SourceTable``'s rows (a plugin's source).

    Its checks, content hash, source id and record ids are those of
    ``ArrowTableSource(table.as_arrow(), table.tag_columns,
    source_id=table.source_id, record_id_column=table.record_id_column)``;
    only its messages name the table's class (``DeltaTableSource 'delta-trials':
    ...``). Made by :func:`as_stream`, once per table.

    Raises:
        SourceError: ``as_arrow()`` did not give a ``pyarrow.Table``, the source id
            is not valid, or the record ids are not unique (naming the table's class).
        SchemaError: a tag column is missing, a column name is reserved or repeated.
        UnsupportedTypeError: a column's type has no orcapod equivalent.
    """

    def __init__(self, table: SourceTable) -> None:
        kind = type(table).__name__
        try:
            source_id = check_source_id(table.source_id)
        except SourceError as error:
            raise SourceError(f"{kind}: {error}") from None
        rows = table.as_arrow()
        if not isinstance(rows, pa.Table):
            raise SourceError(
                f"{kind} {source_id!r}: as_arrow() gave a {type(rows).__name__}, not a "
                "pyarrow.Table; a SourceTable gives its rows as one pyarrow.Table."
            )
        TableSource.__init__(
            self,
            without_false_nullability(rows),
            table.tag_columns,
            source_id=source_id,
            record_id_column=table.record_id_column,
            kind=kind,
        )


def as_stream(value: Any, *, where: str = "input") -> Stream:
    """The stream orcapod reads ``value`` as, where it takes a stream.

    A stream (a source, or the output of a pod or operator) is itself. A
    ``SourceTable`` (``orcapod.protocols.streams.SourceTable``, a plugin's
    source such as orcapod-db-delta's ``DeltaTableSource``) is read as a
    :class:`SourceTableSource`, once: the same table gives the same source
    every time, so it is one node of a pipeline, read and hashed once.

    Args:
        value: a stream or a ``SourceTable``.
        where: names the taker in the error message (``"function pod 'double'"``).

    Raises:
        SourceError: ``value`` is neither; names it, and what to pass instead.
    """
    if isinstance(value, StreamBase | Stream):
        return value
    if isinstance(value, SourceTable):
        return _read_once(value)
    raise SourceError(
        f"{where}: {reprlib.repr(value)} (a {type(value).__name__}) is not a stream; pass "
        "a source (DictSource(rows, tag_columns=[...]), ArrowTableSource(table, "
        "tag_columns=[...]), ...), the output of a function pod or operator, or a plugin's "
        "SourceTable (source_id, tag_columns, record_id_column and as_arrow())."
    )


def _read_once(table: SourceTable) -> SourceTableSource:
    known = _READ.get(id(table))
    if known is not None:
        return known
    source = SourceTableSource(table)
    try:  # forgotten with the table (the source keeps no reference to it)
        weakref.finalize(table, _READ.pop, id(table), None)
    except TypeError:  # a table without weak references is read at each use
        return source
    _READ[id(table)] = source
    return source
