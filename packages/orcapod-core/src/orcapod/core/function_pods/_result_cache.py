"""ResultCache: results of packet functions, keyed by function identity and input content."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.datagrams import Packet, RowBlock
from orcapod.core.errors import SchemaError
from orcapod.core.files import FileStore, default_file_store
from orcapod.core.function_pods._file_outputs import FileOutputs
from orcapod.core.hashing import hash_table_rows
from orcapod.core.types import Schema, to_arrow_table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orcapod.protocols import data
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.pods import PacketFunction
    from orcapod.protocols.values import RecordPath

__all__ = ["INPUT_HASH", "OUTPUT_HASH", "CacheLookup", "ResultCache"]

INPUT_HASH = "__input_packet_hash"
"""The record id of a stored result: the content hash of the input packet."""

OUTPUT_HASH = "__output_packet_hash"
"""The content hash of a stored output packet."""

RUN_ID = "__run_id"
COMPUTED_AT = "__computed_at"
_CONTEXT_PREFIX = "__"
_CONTEXT_SCHEMA = Schema({RUN_ID: str | None, COMPUTED_AT: datetime})
_COMPUTED_AT = pa.timestamp("us", "UTC")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]")


REPAIR_ID = "__repair_id"
"""The record id of a repair: ``<input hash>|<output hash of the damaged result>``."""
REPAIRS_SUFFIX = ".repairs"
"""Ends the last component of the path of a function's repairs table."""
MAX_REPAIRS = 32
"""The longest chain of repairs a lookup follows."""


@dataclass(frozen=True)
class CacheLookup:
    """Stored results of a batch of input packets, aligned with the inputs.

    Attributes:
        outputs: one row per input: its stored output columns, or nulls where
            nothing is stored.
        hits: per input, whether a result is stored.
        run_ids: per input, the run that computed the stored result (``None``
            for a miss, or a result stored outside any run).
        output_hashes: per input, the content hash of the stored output packet
            (null for a miss).
        damaged: inputs whose stored result names a file that is missing or
            altered (a miss, to compute again) → the output hash of that result,
            which the new result repairs (see :meth:`ResultCache.store`).
    """

    outputs: pa.Table
    hits: list[bool]
    run_ids: list[str | None]
    output_hashes: pa.Array
    damaged: dict[int, str] = field(default_factory=dict)


class ResultCache:
    """Stores each result of a packet function once, and finds it again by its input.

    A result is keyed by the function's identity (name, version, schemas, code)
    and the content hash of its input packet, so the same input to the same code
    is never computed twice, whatever stream or pipeline it comes from. Each
    result is stored with the content hash of its output packet
    (``__output_packet_hash``) and its execution context: ``__executor_type``,
    ``__executor_info``, ``__python_version``, ``__extra_info`` (maps read back
    as dicts), ``__run_id`` and ``__computed_at``.

    Storage: one table per function identity, at
    ``(*prefix, <function name>, <identity>)`` of ``database``. Aware datetimes
    among the outputs are stored in UTC (one table holds one zone per column).

    Files: the ``File`` and ``Directory`` values a function returns are kept
    in :attr:`files`, and a stored result naming a file that is missing or
    altered is not used again: it is computed again, and the new result is
    stored as a *repair* of the damaged one, at
    ``(*prefix, <function name>, <identity>.repairs)``, under the id
    ``<input hash>|<output hash of the damaged result>``. A lookup follows
    that chain, so the first result stays stored as it was and no result is
    ever returned stale.

    Args:
        database: where results live.
        prefix: the path under which this cache keeps its tables.
        file_store: where output files are kept; by default beside the database
            (:func:`orcapod.core.files.default_file_store`).
    """

    def __init__(
        self,
        database: ArrowDatabase,
        *,
        prefix: RecordPath = ("_results",),
        file_store: FileStore | None = None,
    ) -> None:
        self.database = database
        self.prefix = tuple(prefix)
        self._files = file_store
        self._latest_context: tuple[tuple[str, str | None, dict[str, Any]], pa.Table] | None = None

    @property
    def files(self) -> FileStore:
        """The content-addressed store of the files results name."""
        if self._files is None:
            self._files = default_file_store(self.database)
        return self._files

    def __repr__(self) -> str:
        return f"ResultCache({self.database!r}, prefix={self.prefix!r})"

    def path_for(self, function: PacketFunction) -> RecordPath:
        """Where the results of ``function`` are stored."""
        name = _UNSAFE.sub("_", function.name)[:64].lstrip(".-") or "function"
        return (*self.prefix, name, function.content_hash().replace(":", "-"))

    def repairs_path_for(self, function: PacketFunction) -> RecordPath:
        """Where results computed again for damaged results of ``function`` are stored."""
        *head, last = self.path_for(function)
        return (*head, f"{last}{REPAIRS_SUFFIX}")

    def file_outputs(self, function: PacketFunction) -> FileOutputs | None:
        """What ``function``'s ``File``/``Directory`` outputs need, or ``None`` if it has none."""
        return FileOutputs.of(Schema.of(function.output_schema()), lambda: self.files)

    # -- reading ---------------------------------------------------------------

    def lookup(self, function: PacketFunction, packet: data.Packet) -> Packet | None:
        """The stored output packet of ``function`` for ``packet``, or ``None`` (also when
        it names a file that is missing or altered in the file store)."""
        found = self.lookup_hashes(
            function, [packet.content_hash()], files=self.file_outputs(function)
        )
        if not found.hits[0]:
            return None
        return Packet(RowBlock(found.outputs, Schema.of(function.output_schema())), 0)

    def lookup_hashes(
        self,
        function: PacketFunction,
        input_hashes: Sequence[str],
        *,
        files: FileOutputs | None = None,
    ) -> CacheLookup:
        """The stored outputs of ``function`` for inputs of these content hashes, in one read.

        With ``files`` (the function's file outputs), a result naming a file that
        is missing or altered is a miss, listed in ``damaged``, unless a repair
        of it is stored intact.
        """
        schema = Schema.of(function.output_schema())
        keys = list(schema)
        found = self.database.get_records_by_ids(
            self.path_for(function), input_hashes, record_id_column=INPUT_HASH
        )
        count = len(input_hashes)
        if found is None or found.num_rows == 0:
            return CacheLookup(
                _null_table(schema, count),
                [False] * count,
                [None] * count,
                pa.nulls(count, pa.large_string()),
            )
        stored_ids = found.column(INPUT_HASH).cast(pa.large_string())
        wanted = pa.array(input_hashes, pa.large_string())
        positions = pc.index_in(wanted, value_set=stored_ids)
        taken = found.select([*keys, RUN_ID, OUTPUT_HASH]).take(positions)
        hits = positions.is_valid().to_pylist()
        if files is not None and any(hits):
            return self._checked_files(function, files, input_hashes, taken, hits)
        return CacheLookup(
            taken.select(keys),
            hits,
            taken.column(RUN_ID).to_pylist(),
            taken.column(OUTPUT_HASH).combine_chunks().cast(pa.large_string()),
        )

    def _checked_files(
        self,
        function: PacketFunction,
        files: FileOutputs,
        input_hashes: Sequence[str],
        taken: pa.Table,
        hits: list[bool],
    ) -> CacheLookup:
        """The lookup of ``taken`` with damaged results replaced by their intact repairs,
        or turned into misses."""
        columns = taken.column_names
        candidates = [taken]
        choice = list(range(len(hits)))  # row of the concatenated candidates, per input
        hashes = taken.column(OUTPUT_HASH).to_pylist()
        damaged = {
            row: hashes[row]
            for row in files.damaged_rows(taken, [row for row, hit in enumerate(hits) if hit])
        }
        offset = taken.num_rows
        moved = files.relocated(taken, sorted(damaged))
        if moved:  # the store's folder moved: the same results, at their new place
            schema = Schema.of(function.output_schema())
            rows = sorted(moved)
            values = to_arrow_table({k: [moved[row][k] for row in rows] for k in schema}, schema)
            index = pa.array(rows, pa.int64())
            here = pa.Table.from_arrays(
                [
                    *values.columns,
                    taken.column(RUN_ID).take(index),
                    taken.column(OUTPUT_HASH).take(index),
                ],
                names=columns,
            ).cast(taken.schema)
            for position, row in enumerate(rows):
                choice[row] = offset + position
                del damaged[row]
            candidates.append(here)
            offset += here.num_rows
        for _ in range(MAX_REPAIRS):
            if not damaged:
                break
            ids: dict[str, list[int]] = {}  # rows of one packet share their repairs
            for row, link in damaged.items():
                ids.setdefault(f"{input_hashes[row]}|{link}", []).append(row)
            repairs = self.database.get_records_by_ids(
                self.repairs_path_for(function), list(ids), record_id_column=REPAIR_ID
            )
            if repairs is None or repairs.num_rows == 0:
                break
            repair_rows = [ids[i] for i in repairs.column(REPAIR_ID).to_pylist()]
            repairs = repairs.select(columns).cast(taken.schema)
            bad = set(files.damaged_rows(repairs, list(range(repairs.num_rows))))
            repaired_hashes = repairs.column(OUTPUT_HASH).to_pylist()
            for index, rows in enumerate(repair_rows):
                for row in rows:
                    if index in bad:
                        damaged[row] = repaired_hashes[index]
                    else:
                        choice[row] = offset + index
                        del damaged[row]
            candidates.append(repairs)
            offset += repairs.num_rows
        for row in damaged:
            hits[row] = False
        combined = pa.concat_tables(candidates).take(pa.array(choice, pa.int64()))
        run_ids = combined.column(RUN_ID).to_pylist()
        # A damaged row's values stay as they were: a miss, which no caller reads.
        return CacheLookup(
            combined.select(list(Schema.of(function.output_schema()))),
            hits,
            [run_id if hit else None for run_id, hit in zip(run_ids, hits, strict=True)],
            combined.column(OUTPUT_HASH).combine_chunks().cast(pa.large_string()),
            damaged,
        )

    # -- writing ---------------------------------------------------------------

    def store(
        self,
        function: PacketFunction,
        input_hashes: Sequence[str],
        outputs: pa.Table,
        *,
        run_id: str | None = None,
        execution_data: dict[str, Any] | None = None,
        output_hashes: pa.Array | None = None,
        repairs: Sequence[str | None] | None = None,
    ) -> None:
        """Store the outputs of ``function`` for inputs of these hashes, in one write.

        Results already stored are kept as they are (the first computation wins).
        A row with a ``repairs`` entry (the output hash of a damaged result,
        from :attr:`CacheLookup.damaged`) is stored as that result's repair.

        Args:
            outputs: one row per input hash: the output columns in canonical types.
            run_id: the run that computed them, if any.
            execution_data: the execution context; by default ``function``'s current one.
            output_hashes: the content hash of each output row, if already known.
        """
        count = outputs.num_rows
        if count == 0:
            return
        data = function.get_execution_data() if execution_data is None else execution_data
        one = self._context(function, data, run_id)
        first = pa.repeat(pa.scalar(0, pa.int64()), count)
        # Column by column: a table's take copies its map columns more slowly (2.5x).
        context = pa.Table.from_arrays(
            [
                *(column.take(first) for column in one.columns),
                pa.repeat(pa.scalar(datetime.now(UTC), _COMPUTED_AT), count),
            ],
            names=[*one.column_names, COMPUTED_AT],
        )
        ids = pa.array(input_hashes, pa.large_string())
        if output_hashes is None:
            output_hashes = pa.array(hash_table_rows(outputs), pa.large_string())
        columns = [ids, *outputs.columns, output_hashes, *context.columns]
        names = [INPUT_HASH, *outputs.column_names, OUTPUT_HASH, *context.column_names]
        table = pa.Table.from_arrays(columns, names=names)
        # The output fields' metadata goes with them: a File column says it is one, and
        # which of its fields identify it (verify rehashes the stored outputs).
        stored = table.schema
        outputs_at = range(1, 1 + outputs.num_columns)
        table = table.replace_schema_metadata(None).cast(
            pa.schema(
                [
                    stored.field(i).with_metadata(outputs.schema.field(i - 1).metadata)
                    if i in outputs_at
                    else stored.field(i)
                    for i in range(len(names))
                ]
            )
        )
        if repairs is None or not any(link is not None for link in repairs):
            self.database.add_records(
                self.path_for(function), table, INPUT_HASH, skip_duplicates=True
            )
            return
        repairing = pa.array([link is not None for link in repairs], pa.bool_())
        plain = table.filter(pc.invert(repairing))
        if plain.num_rows:
            self.database.add_records(
                self.path_for(function), plain, INPUT_HASH, skip_duplicates=True
            )
        repaired = table.filter(repairing)
        links = [f"{h}|{link}" for h, link in zip(input_hashes, repairs, strict=True) if link]
        self.database.add_records(
            self.repairs_path_for(function),
            repaired.add_column(0, REPAIR_ID, pa.array(links, pa.large_string())),
            REPAIR_ID,
            skip_duplicates=True,
        )

    def _context(
        self, function: PacketFunction, data: dict[str, Any], run_id: str | None
    ) -> pa.Table:
        """The one-row execution context stored beside each result, without ``__computed_at``.

        A run stores its results at every checkpoint with the same context:
        the latest one made is kept and made again only when it changes.
        """
        key = (function.content_hash(), run_id, data)
        latest = self._latest_context
        if latest is not None and latest[0] == key:
            return latest[1]
        fields = _context_fields(function, data)
        context = to_arrow_table(
            {**{name: [value] for name, value in fields.items()}, RUN_ID: [run_id]},
            Schema([*_context_schema(function).items()][:-1]),
        )
        self._latest_context = ((key[0], run_id, copy.deepcopy(data)), context)
        return context

    def record_packet(
        self,
        function: PacketFunction,
        input_packet: data.Packet,
        output_packet: data.Packet,
        *,
        run_id: str | None = None,
        execution_data: dict[str, Any] | None = None,
    ) -> None:
        """Store a result computed elsewhere, as if ``function`` had computed it here.

        Raises:
            SchemaError: ``output_packet`` does not have the function's output schema.
        """
        expected = Schema.of(function.output_schema())
        if Schema.of(output_packet.schema()) != expected:
            raise SchemaError(
                f"cannot record a result of {function.name!r}: the output packet has schema "
                f"{output_packet.schema()!r}, the function's outputs are {expected!r}"
            )
        outputs = output_packet.as_table().cast(expected.to_arrow())
        self.store(
            function,
            [input_packet.content_hash()],
            outputs,
            run_id=run_id,
            execution_data=execution_data,
        )


def _context_fields(function: PacketFunction, data: dict[str, Any]) -> dict[str, Any]:
    return {f"{_CONTEXT_PREFIX}{key}": data[key] for key in function.get_execution_data_schema()}


def _context_schema(function: PacketFunction) -> Schema:
    declared = Schema.of(function.get_execution_data_schema())
    return Schema(
        [*((f"{_CONTEXT_PREFIX}{k}", tp) for k, tp in declared.items()), *_CONTEXT_SCHEMA.items()]
    )


def _null_table(schema: Schema, count: int) -> pa.Table:
    arrow = schema.to_arrow()
    return pa.Table.from_arrays(
        [pa.nulls(count, field.type) for field in arrow],
        schema=pa.schema([field.with_nullable(True) for field in arrow]),
    )
