"""A source over a pandas or polars data frame (neither is imported by orcapod.core)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.core.errors import SourceError
from orcapod.core.sources._table_source import TableSource, without_false_nullability

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DataFrameSource"]


class DataFrameSource(TableSource):
    """A source over a ``pandas.DataFrame`` or a ``polars.DataFrame``.

    The frame is converted to Arrow once, when the source is made. A pandas
    index is not a column: ``reset_index()`` first to keep it. A column without
    nulls is read as ``T``, with nulls as ``T | None``.

    Args:
        frame: the data frame.
        tag_columns: the columns that identify a row; the others are the packet.
        source_id: names this source in provenance; derived from the data by default.
        record_id_column: a column of unique ``int`` or ``str`` row ids; by default
            the row's position.

    Raises:
        SourceError: ``frame`` is not a pandas or polars data frame, or a column
            cannot be converted to Arrow (pandas ``object`` columns of mixed values).
        SchemaError, UnsupportedTypeError: as for every source.
    """

    def __init__(
        self,
        frame: Any,
        tag_columns: str | Sequence[str],
        *,
        source_id: str | None = None,
        record_id_column: str | None = None,
    ) -> None:
        where = "DataFrameSource" if source_id is None else f"DataFrameSource {source_id!r}"
        super().__init__(
            without_false_nullability(_to_arrow(frame, where)),
            tag_columns,
            source_id=source_id,
            record_id_column=record_id_column,
            kind="dataframe",
        )


def _to_arrow(frame: Any, where: str) -> pa.Table:
    library = type(frame).__module__.split(".", 1)[0]
    if library == "polars" and type(frame).__name__ == "DataFrame":
        return frame.to_arrow()
    if library == "pandas" and type(frame).__name__ == "DataFrame":
        try:
            return pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
            raise SourceError(
                f"{where}: the data frame cannot be converted to Arrow: {error}. Give the "
                "column one type (df[column].astype(...))."
            ) from None
    raise SourceError(
        f"{where} needs a pandas.DataFrame or polars.DataFrame, got "
        f"{type(frame).__module__}.{type(frame).__qualname__}; for a polars LazyFrame call "
        ".collect() first."
    )
