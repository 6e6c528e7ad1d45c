"""Operators on rows: Filter keeps some; Batch and GroupBy gather rows into lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.datagrams import Packet, RowBlock, Tag
from orcapod.core.errors import SchemaError
from orcapod.core.hashing import function_source_hash
from orcapod.core.operators._base import Operator
from orcapod.core.system_columns import PROVENANCE, is_system_column, row_numbers
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Batch", "Filter", "GroupBy"]

Predicate = Callable[[Tag, Packet], bool]


class Filter(Operator):
    """Keep the rows for which a predicate holds; schemas and provenance are unchanged.

    The predicate is either a ``pyarrow.compute`` expression over tag and packet
    columns, evaluated on whole tables (``Filter(pc.field("score") > 0.5)``), or a
    Python callable ``(tag, packet) -> bool`` called per row. A callable's identity
    is its normalised source, so define it with ``def`` (or pass ``code_identity``).

    Args:
        predicate: the expression or callable.
        code_identity: stands in for a callable's source (lambdas, REPL code).

    Raises:
        HashingError: a callable whose source cannot be read, without ``code_identity``.
        SchemaError: when applied, an expression naming a column the stream lacks, or
            not giving booleans.
    """

    streams = True  # each row is kept or not on its own

    def __init__(
        self,
        predicate: pc.Expression | Predicate,
        *,
        code_identity: str | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(label=label)
        self.predicate = predicate
        if isinstance(predicate, pc.Expression):
            self._identity = f"expression:{predicate}"
        elif callable(predicate):
            self._identity = (
                f"code-identity:{code_identity}"
                if code_identity is not None
                else f"source:{function_source_hash(predicate)}"
            )
        else:
            raise TypeError(
                f"Filter takes a pyarrow.compute expression or a callable (tag, packet) -> bool, "
                f"got {type(predicate).__name__}"
            )

    def parameters(self) -> dict[str, Any]:
        return {"predicate": self._identity}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        if isinstance(self.predicate, pc.Expression):
            tags, packets = schemas[0]
            empty = pa.schema([*tags.to_arrow(), *packets.to_arrow()]).empty_table()
            try:
                empty.filter(self.predicate)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
                raise SchemaError(
                    f"Filter expression {self.predicate} does not apply to the stream's columns "
                    f"{[*tags, *packets]}: {error}"
                ) from None
        return schemas[0]

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        table = tables[0]
        if isinstance(self.predicate, pc.Expression):
            return table.filter(self.predicate)
        return table.filter(self._mask(table, *schemas[0]))

    def _mask(self, table: pa.Table, tags: Schema, packets: Schema) -> pa.Array:
        predicate: Predicate = self.predicate
        system = [name for name in table.column_names if is_system_column(name)]
        keep: list[bool] = []
        for batch in table.to_batches(max_chunksize=65_536):
            rows = pa.Table.from_batches([batch])
            tag_block = RowBlock(rows.select([*tags, *system]), tags)
            packet_block = RowBlock(rows.select(list(packets)), packets)
            keep.extend(
                bool(predicate(Tag(tag_block, row), Packet(packet_block, row)))
                for row in range(rows.num_rows)
            )
        return pa.array(keep, pa.bool_())


class Batch(Operator):
    """Group consecutive rows into one row of lists, ``batch_size`` rows at a time.

    Every tag and packet column ``x: T`` becomes ``x: list[T]``; a batch's
    provenance is its rows' provenance, concatenated. The last batch may be
    shorter, unless ``drop_partial`` drops it. No values are copied.

    Raises:
        ValueError: ``batch_size`` is not a whole number of at least 1.
    """

    def __init__(
        self, batch_size: int, *, drop_partial: bool = False, label: str | None = None
    ) -> None:
        super().__init__(label=label)
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"Batch got batch_size={batch_size!r}; pass a whole number >= 1")
        self.batch_size = batch_size
        self.drop_partial = drop_partial

    def parameters(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "drop_partial": self.drop_partial}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        tags, packets = schemas[0]
        return _lists(tags), _lists(packets)

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        table = tables[0]
        count = table.num_rows
        full, rest = divmod(count, self.batch_size)
        kept = count if rest and not self.drop_partial else full * self.batch_size
        batches = full + (1 if kept > full * self.batch_size else 0)
        ends = pc.multiply(row_numbers(batches + 1), self.batch_size)
        offsets = pc.min_element_wise(ends, pa.scalar(kept, pa.int64()))
        fields, columns = [], []
        for field in table.schema:
            values = table.column(field.name).combine_chunks()
            if field.name == PROVENANCE:
                column = _regrouped(values, offsets)
                fields.append(pa.field(field.name, column.type, False))
            else:
                item = pa.field("item", field.type, field.nullable, field.metadata)
                column = pa.LargeListArray.from_arrays(offsets, values, type=pa.large_list(item))
                fields.append(pa.field(field.name, column.type, False))
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))


class GroupBy(Operator):
    """Rows with equal values of some tag columns become one row of lists.

    The ``by`` tag columns keep their values; every other tag and packet column
    ``x: T`` becomes ``x: list[T]``, its values in the order of the input rows;
    a group's provenance is its rows' provenance, concatenated. Groups come in
    the order of their first row.

    Args:
        by: tag columns of scalar types (not lists or maps).

    Raises:
        ValueError: no columns given.
        SchemaError: when applied, a ``by`` column that is not a tag column of the
            stream, or is a list or map.
    """

    def __init__(self, *by: str, label: str | None = None) -> None:
        super().__init__(label=label)
        if not by or not all(isinstance(name, str) for name in by):
            raise ValueError(
                f"GroupBy takes the tag columns to group by, e.g. GroupBy('subject'); got {by!r}"
            )
        self.by = by

    def parameters(self) -> dict[str, Any]:
        return {"by": list(self.by)}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        tags, packets = schemas[0]
        for name in self.by:
            if name not in tags:
                raise SchemaError(
                    f"GroupBy: {name!r} is not a tag column of the stream; its tag columns are "
                    f"{list(tags)}"
                )
            if pa.types.is_nested(tags.to_arrow().field(name).type):
                raise SchemaError(
                    f"GroupBy: tag column {name!r} holds {tags[name]}; group by columns of "
                    "scalar types"
                )
        grouped = Schema(
            (name, tp if name in self.by else list[tp])  # type: ignore[valid-type]
            for name, tp in tags.items()
        )
        return grouped, _lists(packets)

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        table = tables[0]
        numbered = table.select(list(self.by)).append_column("__row", row_numbers(table.num_rows))
        # Single-threaded, Arrow keeps groups in the order of their first row and each
        # group's rows in input order.
        groups = numbered.group_by(list(self.by), use_threads=False).aggregate([("__row", "list")])
        members = groups.column("__row_list").combine_chunks()
        order = pc.list_flatten(members)
        sizes = pc.list_value_length(members).cast(pa.int64())
        offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(sizes)])
        firsts = pc.list_element(members, 0)
        fields, columns = [], []
        for field in table.schema:
            if field.name in self.by:
                fields.append(field)
                columns.append(table.column(field.name).take(firsts))
                continue
            values = table.column(field.name).take(order).combine_chunks()
            if field.name == PROVENANCE:
                column = _regrouped(values, offsets)
            else:
                item = pa.field("item", field.type, field.nullable, field.metadata)
                column = pa.LargeListArray.from_arrays(offsets, values, type=pa.large_list(item))
            fields.append(pa.field(field.name, column.type, False))
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _lists(schema: Schema) -> Schema:
    return Schema((name, list[tp]) for name, tp in schema.items())  # type: ignore[valid-type]


def _regrouped(lists: pa.Array, offsets: pa.Array) -> pa.Array:
    """Lists of lists, grouped at ``offsets`` into longer lists (their items concatenated)."""
    starts = lists.offsets
    new_offsets = pc.subtract(pc.take(starts, offsets), starts[0])
    return pa.LargeListArray.from_arrays(new_offsets, pc.list_flatten(lists), type=lists.type)
