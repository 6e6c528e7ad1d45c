"""Operators on columns: select, drop and rename tag or packet columns (no data copied)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.core.errors import SchemaError
from orcapod.core.operators._base import Operator
from orcapod.core.system_columns import check_user_columns, is_system_column
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import pyarrow as pa

__all__ = [
    "DropPacketColumns",
    "DropTagColumns",
    "MapPackets",
    "MapTags",
    "SelectPacketColumns",
    "SelectTagColumns",
]


class _ColumnOperator(Operator):
    """An operator on the tag (``part = 0``) or packet (``part = 1``) columns of one stream."""

    part: int
    part_name: str
    streams = True  # each row's columns alone

    def _schema_part(self, schemas: Sequence[tuple[Schema, Schema]]) -> Schema:
        return schemas[0][self.part]

    def _unknown(self, names: Iterable[str], schema: Schema) -> None:
        missing = [name for name in names if name not in schema]
        if missing:
            raise SchemaError(
                f"{self.kind}: {missing[0]!r} is not a {self.part_name} column; the "
                f"{self.part_name} columns are {list(schema)}."
            )

    def _with_part(
        self, schemas: Sequence[tuple[Schema, Schema]], part: Schema
    ) -> tuple[Schema, Schema]:
        tags, packets = schemas[0]
        return (part, packets) if self.part == 0 else (tags, part)

    def compute(
        self, tables: Sequence[pa.Table], schemas: Sequence[tuple[Schema, Schema]]
    ) -> pa.Table:
        tags, packets = self.check(schemas)
        table = tables[0]
        system = [name for name in table.column_names if is_system_column(name)]
        renamed = self._renaming()
        source = {renamed.get(name, name): name for name in table.column_names}
        selected = table.select([source[name] for name in [*tags, *packets]] + system)
        return selected.rename_columns([*tags, *packets, *system])

    def _renaming(self) -> Mapping[str, str]:
        return {}


class _Select(_ColumnOperator):
    def __init__(self, columns: str | Sequence[str], *, label: str | None = None) -> None:
        super().__init__(label=label)
        self.columns = [columns] if isinstance(columns, str) else list(columns)
        if len(set(self.columns)) != len(self.columns):
            raise SchemaError(f"{self.kind}: columns {self.columns} name a column twice.")

    def parameters(self) -> dict[str, Any]:
        return {"columns": self.columns}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        part = self._schema_part(schemas)
        self._unknown(self.columns, part)
        if not self.columns:
            raise SchemaError(
                f"{self.kind}: selecting no {self.part_name} column leaves none; name at least one."
            )
        return self._with_part(schemas, part.select(self.columns))


class _Drop(_ColumnOperator):
    def __init__(self, columns: str | Sequence[str], *, label: str | None = None) -> None:
        super().__init__(label=label)
        self.columns = [columns] if isinstance(columns, str) else list(columns)

    def parameters(self) -> dict[str, Any]:
        return {"columns": sorted(set(self.columns))}

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        part = self._schema_part(schemas)
        self._unknown(self.columns, part)
        kept = part.drop(self.columns)
        if not len(kept):
            raise SchemaError(
                f"{self.kind}: dropping {self.columns} leaves no {self.part_name} column; "
                "keep at least one."
            )
        return self._with_part(schemas, kept)


class _Map(_ColumnOperator):
    def __init__(self, mapping: Mapping[str, str], *, label: str | None = None) -> None:
        super().__init__(label=label)
        self.mapping = dict(mapping)
        for old, new in self.mapping.items():
            if not isinstance(new, str) or not new:
                raise SchemaError(f"{self.kind}: new name {new!r} for {old!r} is not a name.")
        check_user_columns(self.mapping.values(), where=self.kind)
        targets = list(self.mapping.values())
        repeated = sorted({name for name in targets if targets.count(name) > 1})
        if repeated:
            raise SchemaError(
                f"{self.kind}: two columns would both be named {repeated[0]!r}; "
                "give each a name of its own."
            )

    def parameters(self) -> dict[str, Any]:
        return {"mapping": dict(sorted(self.mapping.items()))}

    def _renaming(self) -> Mapping[str, str]:
        return self.mapping

    def check(self, schemas: Sequence[tuple[Schema, Schema]]) -> tuple[Schema, Schema]:
        part = self._schema_part(schemas)
        self._unknown(self.mapping, part)
        tags, packets = schemas[0]
        renamed = Schema((self.mapping.get(name, name), tp) for name, tp in part.items())
        other = packets if self.part == 0 else tags
        clash = [name for name in renamed if name in other]
        if clash:
            raise SchemaError(
                f"{self.kind}: renaming gives {clash[0]!r}, which is already a "
                f"{'packet' if self.part == 0 else 'tag'} column; choose another name."
            )
        return self._with_part(schemas, renamed)


class SelectTagColumns(_Select):
    """Keep only the named tag columns, in the order given."""

    part, part_name = 0, "tag"


class SelectPacketColumns(_Select):
    """Keep only the named packet columns, in the order given."""

    part, part_name = 1, "packet"


class DropTagColumns(_Drop):
    """Drop the named tag columns."""

    part, part_name = 0, "tag"


class DropPacketColumns(_Drop):
    """Drop the named packet columns."""

    part, part_name = 1, "packet"


class MapTags(_Map):
    """Rename tag columns: ``MapTags({"old": "new"})``; unnamed columns keep their names."""

    part, part_name = 0, "tag"


class MapPackets(_Map):
    """Rename packet columns: ``MapPackets({"old": "new"})``; unnamed columns keep their names."""

    part, part_name = 1, "packet"
