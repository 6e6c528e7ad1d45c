"""Join, MergeJoin and SemiJoin: rows of several streams matched on their shared tags.

All three work on row numbers: the tag columns alone go through Arrow's hash
join, which yields, per output row, the number of the row it takes from each
input; every other column is then one ``take`` per input. That keeps list and
map columns (which Arrow's join cannot carry) and makes the row order
deterministic: sorted by the first input's row, then the second's, and so on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import SchemaError
from orcapod.core.hashing import hash_table_rows
from orcapod.core.operators._base import Operator
from orcapod.core.system_columns import (
    PROVENANCE,
    concat_new_items,
    is_system_column,
    row_numbers,
)
from orcapod.core.types import Schema, type_name
from orcapod.core.types._annotations import is_optional, strip_optional

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Join", "MergeJoin", "SemiJoin"]

_ROW = "__row_{}"


class Join(Operator):
    """Inner join of two or more streams on the tag columns they share.

    The output's tags are every input's tag columns (shared ones once); its
    packets are every input's packet columns, which must not repeat a name
    (rename with MapPackets first). Each row's provenance is its inputs'
    provenance, concatenated in input order, each input adding the references
    an earlier one does not already name (two branches of one stream name its
    rows once). Streams that share no tag column are combined row by row (a
    cross product).
    """

    inputs = (2, None)

    def parameters(self) -> dict[str, Any]:
        return {}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        tags = _joined_tags(schemas, self.kind)
        packets = Schema()
        for index, (_, packet_schema) in enumerate(schemas):
            for name, tp in packet_schema.items():
                if name in packets:
                    raise SchemaError(
                        f"{self.kind}: packet column {name!r} is in an earlier input and in "
                        f"input {index}; rename one first, e.g. "
                        f"MapPackets({{{name!r}: '{name}_{index}'}}), or use MergeJoin to "
                        "collect both into a list."
                    )
                if name in tags:
                    raise SchemaError(
                        f"{self.kind}: column {name!r} is a tag of one input and a packet "
                        "column of another; rename one of them."
                    )
                packets = Schema([*packets.items(), (name, tp)])
        return tags, packets

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        tags, _ = self.check(schemas)
        rows = match_rows(tables, schemas)
        columns: dict[str, tuple[pa.Field, pa.ChunkedArray]] = {}
        for table, taken_rows in zip(tables, rows, strict=True):
            for field in table.schema:
                if field.name not in columns and not is_system_column(field.name):
                    if field.name in tags:
                        field = field.with_nullable(is_optional(tags[field.name]))
                    columns[field.name] = (field, table.column(field.name).take(taken_rows))
        return _with_system_columns(columns, tables, rows)


class MergeJoin(Join):
    """A join in which packet columns of the same name are merged into one list column.

    A packet column ``x: T`` found in several inputs becomes ``x: list[T]``
    holding their values in input order (the order the streams were given);
    columns found in one input stay as they are. Same-named columns must have
    the same type.
    """

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        tags = _joined_tags(schemas, self.kind)
        seen: dict[str, tuple[Any, int]] = {}
        for index, (_, packet_schema) in enumerate(schemas):
            for name, tp in packet_schema.items():
                if name in tags:
                    raise SchemaError(
                        f"{self.kind}: column {name!r} is a tag of one input and a packet "
                        "column of another; rename one of them."
                    )
                if name in seen and seen[name][0] != tp:
                    raise SchemaError(
                        f"{self.kind}: packet column {name!r} is {type_name(seen[name][0])} in "
                        f"one input and {type_name(tp)} in input {index}; convert one so "
                        "they can be merged."
                    )
                seen[name] = (tp, seen.get(name, (tp, 0))[1] + 1)
        packets = Schema(
            (name, list[tp] if count > 1 else tp)  # type: ignore[valid-type]
            for name, (tp, count) in seen.items()
        )
        return tags, packets

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        tags, _ = self.check(schemas)
        rows = match_rows(tables, schemas)
        columns: dict[str, tuple[pa.Field, Any]] = {}
        for index, (tag_schema, _) in enumerate(schemas):
            for name in tag_schema:
                if name not in columns:
                    field = tables[index].schema.field(name).with_nullable(is_optional(tags[name]))
                    columns[name] = (field, tables[index].column(name).take(rows[index]))
        holders: dict[str, list[int]] = {}
        for index, (_, packet_schema) in enumerate(schemas):
            for name in packet_schema:
                holders.setdefault(name, []).append(index)
        for name, indices in holders.items():
            field = tables[indices[0]].schema.field(name)
            parts = [tables[i].column(name).take(rows[i]) for i in indices]
            if len(parts) == 1:
                columns[name] = (field, parts[0])
            else:
                merged = _lists_of(parts, field)
                columns[name] = (pa.field(name, merged.type, False), merged)
        return _with_system_columns(columns, tables, rows)


class SemiJoin(Operator):
    """The rows of the first stream whose shared tags appear in the second.

    The output is the first stream, filtered: its schema, values and
    provenance, in its own order. The two must share at least one tag column.
    """

    inputs = (2, 2)

    def parameters(self) -> dict[str, Any]:
        return {}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        (left_tags, left_packets), (right_tags, _) = schemas
        shared = [name for name in left_tags if name in right_tags]
        if not shared:
            raise SchemaError(
                f"{self.kind}: the streams share no tag column (left tags {list(left_tags)}, "
                f"right tags {list(right_tags)}); rename a tag with MapTags so they match."
            )
        _check_key_types(shared, schemas[:2], self.kind)
        return left_tags, left_packets

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        (left_tags, _), (right_tags, _) = schemas
        keys = [name for name in left_tags if name in right_tags]
        left = _keys_with_rows(tables[0], keys, left_tags, 0)
        right = _keys_with_rows(tables[1], keys, right_tags, 1).select(keys)
        kept = left.join(right, keys=keys, join_type="left semi").column(_ROW.format(0))
        return tables[0].take(kept.take(pc.sort_indices(kept)))


def match_rows(
    tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
) -> list[pa.Array]:
    """Per input, the row each output row takes from it, for an inner join on shared tags.

    Inputs are joined left to right; each is matched on the tag columns it shares
    with all before it (or crossed with them if it shares none). Output rows are
    sorted by the first input's row, then the second's, and so on.
    """
    seen = dict(schemas[0][0].items())
    joined = _keys_with_rows(tables[0], list(seen), schemas[0][0], 0)
    for index in range(1, len(tables)):
        tag_schema = schemas[index][0]
        keys = [name for name in tag_schema if name in seen]
        right = _keys_with_rows(tables[index], list(tag_schema), tag_schema, index)
        joined = _inner(joined, right, keys)
        seen.update(tag_schema.items())
    order = [(_ROW.format(i), "ascending") for i in range(len(tables))]
    joined = joined.take(pc.sort_indices(joined, sort_keys=order))
    return [joined.column(_ROW.format(i)).combine_chunks() for i in range(len(tables))]


def _inner(left: pa.Table, right: pa.Table, keys: list[str]) -> pa.Table:
    if keys:
        return left.join(right, keys=keys, join_type="inner", coalesce_keys=True)
    return _cross(left, right)


def _cross(left: pa.Table, right: pa.Table) -> pa.Table:
    """Every row of ``left`` with every row of ``right``, left-major."""
    count = left.num_rows * right.num_rows
    if count == 0:
        return pa.concat_tables([left.slice(0, 0), right.slice(0, 0)], promote_options="default")
    every = row_numbers(count)
    left_rows = pc.divide(every, right.num_rows)
    right_rows = pc.subtract(every, pc.multiply(left_rows, right.num_rows))
    taken_left, taken_right = left.take(left_rows), right.take(right_rows)
    return pa.Table.from_arrays(
        [*taken_left.columns, *taken_right.columns],
        names=[*taken_left.column_names, *taken_right.column_names],
    )


def _keys_with_rows(table: pa.Table, keys: list[str], tag_schema: Schema, index: int) -> pa.Table:
    """The key columns, comparable across inputs, plus the row numbers of ``table``.

    Scalar keys are cast to their canonical Arrow types; list and map keys, which
    Arrow's join cannot compare, are replaced by the content hash of each value.
    """
    columns = []
    for field in tag_schema.select(keys).to_arrow():
        if (
            pa.types.is_list(field.type)
            or pa.types.is_large_list(field.type)
            or pa.types.is_map(field.type)
        ):
            hashes = hash_table_rows(table, [field.name])
            columns.append(pa.array(hashes, pa.large_string()))
        else:
            columns.append(table.column(field.name).cast(field.type))
    return pa.Table.from_arrays(
        [*columns, row_numbers(table.num_rows)], names=[*keys, _ROW.format(index)]
    )


def _key_type(name: str, first: Any, second: Any, kind: str, where: str) -> Any:
    """The type of a join key of these two types (``T | None`` if either may be None).

    Raises:
        SchemaError: the types differ by more than optionality.
    """
    if strip_optional(first) != strip_optional(second):
        raise SchemaError(
            f"{kind}: tag column {name!r} is {type_name(first)} {where} but "
            f"{type_name(second)}; a join key has one type. Convert one of them."
        )
    return first if is_optional(first) else second


def _joined_tags(schemas: Sequence[tuple[Schema, Schema]], kind: str) -> Schema:
    tags: dict[str, Any] = {}
    for index, (tag_schema, _) in enumerate(schemas):
        for name, tp in tag_schema.items():
            where = f"in an earlier input, and in input {index} it is"
            tags[name] = _key_type(name, tags[name], tp, kind, where) if name in tags else tp
    return Schema(tags)


def _check_key_types(keys: list[str], schemas: Sequence[tuple[Schema, Schema]], kind: str) -> None:
    (left, _), (right, _) = schemas
    for name in keys:
        _key_type(name, left[name], right[name], kind, "in the first stream, in the second")


def _lists_of(parts: list[pa.ChunkedArray | pa.Array], field: pa.Field) -> pa.Array:
    """Row by row, a list of the values of ``parts`` (equally long arrays), in order.

    The list's item field is ``field`` (its type, nullability and metadata) named ``item``.
    """
    arrays = [
        part.combine_chunks() if isinstance(part, pa.ChunkedArray) else part for part in parts
    ]
    count, width = len(arrays[0]), len(arrays)
    values = pa.concat_arrays(arrays)
    # Interleave: output item k is row k // width of array k % width.
    every = row_numbers(count * width)
    row = pc.divide(every, width)
    which = pc.subtract(every, pc.multiply(row, width))
    items = values.take(pc.add(pc.multiply(which, count), row))
    offsets = pc.multiply(row_numbers(count + 1), width)
    item = pa.field("item", field.type, field.nullable, field.metadata)
    return pa.LargeListArray.from_arrays(offsets, items, type=pa.large_list(item))


def _with_system_columns(
    columns: dict[str, tuple[pa.Field, Any]], tables: Sequence[pa.Table], rows: list[pa.Array]
) -> pa.Table:
    """A table of ``columns`` (name → field, values) and every input's provenance, concatenated,
    each reference once per input that first names it (see ``concat_new_items``)."""
    provenance = None
    for table, taken_rows in zip(tables, rows, strict=True):
        if PROVENANCE in table.column_names:
            taken = table.column(PROVENANCE).take(taken_rows).combine_chunks()
            provenance = taken if provenance is None else concat_new_items(provenance, taken)
    if provenance is not None:
        columns[PROVENANCE] = (pa.field(PROVENANCE, provenance.type, False), provenance)
    fields = [field for field, _ in columns.values()]
    return pa.Table.from_arrays(
        [values for _, values in columns.values()], schema=pa.schema(fields)
    )
