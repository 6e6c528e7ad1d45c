"""A source over a CSV file, read once when the source is made."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import SchemaError, SourceError, TypeMismatchError
from orcapod.core.sources._table_source import TableSource, without_false_nullability
from orcapod.core.types import Schema, type_name

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["CSVSource", "file_source_id"]


class CSVSource(TableSource):
    """A source over a CSV file with a header row.

    Column types are inferred by Arrow's CSV reader (int, float, bool, str,
    timestamps) unless declared in ``schema``; empty fields are nulls, except
    in ``str`` columns, where they are empty strings. An inferred column is
    ``T | None`` only if it has an empty field; a declared type stands as
    declared, and an empty field in a column declared without ``None`` is an error.

    Args:
        path: the file.
        tag_columns: the columns that identify a row; the others are the packet.
        schema: declared Python types of some or all columns.
        source_id: names this source in provenance; by default the file's name
            without its suffix (other characters than letters, digits, ``_``,
            ``.``, ``-`` replaced by ``_``).
        record_id_column: a column of unique ``int`` or ``str`` row ids; by default
            the row's position in the file.
        delimiter: the field separator.

    Raises:
        SourceError: the file cannot be read or parsed; names the file and Arrow's reason.
        SchemaError: a declared column is not in the file, a tag column is missing.
        TypeMismatchError: a column declared without ``None`` has an empty field.
    """

    def __init__(
        self,
        path: str | Path,
        tag_columns: str | Sequence[str],
        *,
        schema: Mapping[str, Any] | None = None,
        source_id: str | None = None,
        record_id_column: str | None = None,
        delimiter: str = ",",
    ) -> None:
        self.path = Path(path)
        if source_id is None:
            source_id = file_source_id(self.path, "csv")
        declared = Schema(schema or {})
        table = _read_csv(self.path, declared, delimiter)
        super().__init__(
            _as_declared(without_false_nullability(table), declared, self.path),
            tag_columns,
            source_id=source_id,
            record_id_column=record_id_column,
            kind="csv",
        )


def file_source_id(path: Path, kind: str) -> str:
    """The default source id of a file: its name without its suffix, other characters than
    letters, digits, ``_``, ``.``, ``-`` replaced by ``_``, prefixed by ``kind`` if it
    does not start with a letter or digit."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem)
    return name if name[:1].isalnum() else f"{kind}{name}"


def _read_csv(path: Path, declared: Schema, delimiter: str) -> pa.Table:
    from pyarrow import csv

    column_types = {
        name: field.type for name, field in zip(declared, declared.to_arrow(), strict=True)
    }
    try:
        table = csv.read_csv(
            path,
            parse_options=csv.ParseOptions(delimiter=delimiter),
            convert_options=csv.ConvertOptions(column_types=column_types),
        )
    except FileNotFoundError:
        raise SourceError(f"CSVSource: no file {str(path)!r}; check the path.") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise SourceError(f"CSVSource: cannot read {str(path)!r}: {error}") from None
    undeclared = [name for name in declared if name not in table.column_names]
    if undeclared:
        raise SchemaError(
            f"CSVSource {str(path)!r}: schema declares column {undeclared[0]!r}, which the "
            f"file does not have; its columns are {table.column_names}."
        )
    empty = [field.name for field in table.schema if pa.types.is_null(field.type)]
    if empty:
        raise SchemaError(
            f"CSVSource {str(path)!r}: column {empty[0]!r} has only empty fields, so its type "
            f"cannot be inferred; declare it with schema={{{empty[0]!r}: <type> | None}}."
        )
    return table


def _as_declared(table: pa.Table, declared: Schema, path: Path) -> pa.Table:
    """``table`` with each declared column's field exactly as declared (nullability, Path).

    Raises:
        TypeMismatchError: a column declared without ``None`` has a null; names the line.
    """
    if not declared:
        return table
    fields = {field.name: field for field in declared.to_arrow()}
    for name, field in fields.items():
        column = table.column(name)
        if not field.nullable and column.null_count:
            row = pc.index(column.is_null(), True).as_py()
            raise TypeMismatchError(
                f"CSVSource {str(path)!r}: column {name!r} is declared {type_name(declared[name])} "
                f"but data row {row + 1} has an empty field; declare it "
                f"{type_name(declared[name])} | None or fill the field."
            )
    schema = pa.schema(
        [fields.get(field.name, field) for field in table.schema], table.schema.metadata
    )
    return pa.Table.from_arrays(table.columns, schema=schema)
