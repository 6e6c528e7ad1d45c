"""Checks of what callers pass to SQLDatabase, with errors naming the object, value and fix."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import DatabaseError, DuplicateRecordError, RecordSchemaError

if TYPE_CHECKING:
    from orcapod.protocols.values import RecordPath

__all__ = [
    "check_new_schema",
    "check_schema",
    "checked_record_ids",
    "describe",
    "equal_to",
    "first_new_occurrences",
    "preview",
    "refuse_duplicates",
    "require_str",
    "require_table",
    "schema_differences",
    "validate_prefix",
]

PREVIEW = 5
"""How many ids an error lists before saying how many more there are."""


def require_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")


def require_table(name: str, value: object) -> None:
    if not isinstance(value, pa.Table):
        raise TypeError(
            f"{name} must be a pyarrow.Table, got {type(value).__name__}; convert a record "
            "batch with pyarrow.Table.from_batches([batch])"
        )


def validate_prefix(prefix: RecordPath) -> RecordPath:
    if isinstance(prefix, tuple | list) and not prefix:
        return ()
    return validate_record_path(prefix)


def checked_record_ids(
    path: RecordPath, records: pa.Table, record_id_column: str
) -> pa.ChunkedArray:
    """The ``record_id_column`` of ``records``, checked to be non-null strings."""
    require_str("record_id_column", record_id_column)
    found = records.schema.get_all_field_indices(record_id_column)
    if len(found) != 1:
        problem = "has no column" if not found else f"has {len(found)} columns"
        raise RecordSchemaError(
            f"records for path {path!r} {problem} named {record_id_column!r} "
            f"(columns: {records.column_names}); pass as record_id_column the name of "
            "the one column holding the record ids"
        )
    column = records.column(found[0])
    if not (
        pa.types.is_string(column.type)
        or pa.types.is_large_string(column.type)
        or pa.types.is_string_view(column.type)
    ):
        raise RecordSchemaError(
            f"record id column {record_id_column!r} for path {path!r} is {column.type}, "
            f"but record ids are strings; cast it, e.g. records.set_column({found[0]}, "
            f"{record_id_column!r}, records[{record_id_column!r}].cast(pyarrow.large_string()))"
        )
    if column.null_count:
        raise RecordSchemaError(
            f"record id column {record_id_column!r} for path {path!r} has "
            f"{column.null_count} null id(s); every record needs an id"
        )
    return column


def check_new_schema(path: RecordPath, schema: pa.Schema) -> None:
    """The first records at a path fix its schema: names must be unique."""
    repeated = [name for name, count in Counter(schema.names).items() if count > 1]
    if repeated:
        raise RecordSchemaError(
            f"records for path {path!r} have more than one column named "
            f"{', '.join(map(repr, repeated))}; rename them so each column name is unique"
        )


def check_schema(path: RecordPath, stored: pa.Schema, given: pa.Schema) -> None:
    """Refuse ``given`` unless it is ``stored`` exactly (metadata aside)."""
    if given.equals(stored, check_metadata=False):
        return
    raise RecordSchemaError(
        f"records for path {path!r} do not fit the schema stored there: "
        f"{'; '.join(schema_differences(stored, given))}. Cast the records to the stored "
        "schema (records.cast(schema)) or store them under another path"
    )


def schema_differences(stored: pa.Schema, given: pa.Schema) -> list[str]:
    given_fields = {field.name: field for field in given}
    stored_fields = {field.name: field for field in stored}
    differences = []
    for field in stored:
        other = given_fields.get(field.name)
        if other is None:
            differences.append(f"column {field.name!r} ({describe(field)}) is missing")
        elif not other.equals(field):
            differences.append(
                f"column {field.name!r} is {describe(other)} here but {describe(field)} "
                "in the stored records"
            )
    differences += [
        f"column {field.name!r} ({describe(field)}) is not in the stored records"
        for field in given
        if field.name not in stored_fields
    ]
    if not differences:
        differences.append(
            f"the columns come in the order {given.names} but are stored in the order "
            f"{stored.names} (reorder them with records.select({stored.names}))"
        )
    return differences


def describe(field: pa.Field) -> str:
    return f"{field.type}" if field.nullable else f"{field.type} not null"


def first_new_occurrences(ids: list[str], known: set[str]) -> list[bool] | None:
    """Which rows to keep (first occurrence of an unknown id); None to keep them all."""
    distinct = set(ids)
    if len(distinct) == len(ids) and known.isdisjoint(distinct):
        return None
    seen: set[str] = set()
    keep = []
    for record_id in ids:
        keep.append(record_id not in known and record_id not in seen)
        seen.add(record_id)
    return keep


def refuse_duplicates(path: RecordPath, ids: list[str], known: set[str]) -> None:
    distinct = set(ids)
    if len(distinct) == len(ids) and known.isdisjoint(distinct):
        return
    seen: set[str] = set()
    stored: dict[str, None] = {}
    repeated: dict[str, None] = {}
    for record_id in ids:
        if record_id in known:
            stored[record_id] = None
        elif record_id in seen:
            repeated[record_id] = None
        seen.add(record_id)
    parts = []
    if stored:
        parts.append(f"record id(s) already stored there: {preview(list(stored))}")
    if repeated:
        parts.append(f"record id(s) repeated within the batch: {preview(list(repeated))}")
    raise DuplicateRecordError(
        f"cannot add to path {path!r}: {'; '.join(parts)}. Nothing was added; pass "
        "skip_duplicates=True to keep the first record of each id and drop the rest"
    )


def preview(ids: list[str]) -> str:
    shown = ", ".join(map(repr, ids[:PREVIEW]))
    return shown if len(ids) <= PREVIEW else f"{shown} and {len(ids) - PREVIEW} more"


def equal_to(path: RecordPath, name: str, column: pa.ChunkedArray, value: Any) -> Any:
    if value is None:
        return pc.is_null(column)
    try:
        scalar = pa.scalar(value, type=column.type)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as error:
        raise DatabaseError(
            f"cannot match column {name!r} ({column.type}) at path {path!r} against "
            f"{value!r}: {error}; pass a value of the column's type"
        ) from error
    return pc.fill_null(pc.equal(column, scalar), False)
