"""FunctionPod: a packet function applied to every packet of a stream, with its result cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orcapod.core._recording import record
from orcapod.core.datagrams import Packet, RowBlock, Tag
from orcapod.core.errors import (
    FileChangedError,
    ReturnValueError,
    SchemaError,
    TypeMismatchError,
)
from orcapod.core.files import default_file_store
from orcapod.core.function_pods._file_outputs import FileInputs, FileOutputs
from orcapod.core.hashing import combine_hashes
from orcapod.core.sources import as_stream
from orcapod.core.streams import DerivedStream, schemas_of, side_by_side
from orcapod.core.system_columns import is_system_column
from orcapod.core.types import Schema, to_arrow_table

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from orcapod.core.function_pods._packet_function import PythonPacketFunction
    from orcapod.core.function_pods._result_cache import ResultCache
    from orcapod.protocols import data, pods
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.streams import Stream

__all__ = ["FunctionPod", "FunctionPodStream"]

_BATCH_ROWS = 8192
"""Rows hashed, looked up, computed and stored together."""


class FunctionPod:
    """Applies a packet function to each packet of one input stream; tags pass through.

    ``pod(stream)`` checks the stream's packet columns against the function's
    parameters at once and returns a lazy stream. With a :attr:`result_cache`,
    each packet's result is looked up by the function's identity and the
    packet's content hash first, and stored after it is computed, so nothing is
    computed twice.

    Args:
        packet_function: what to compute per packet.
        label: a human name for this pod (node labels in a pipeline).
        result_cache: where results are remembered; ``None`` computes every time.
    """

    def __init__(
        self,
        packet_function: PythonPacketFunction,
        *,
        label: str | None = None,
        result_cache: ResultCache | None = None,
    ) -> None:
        self._function = packet_function
        self._label = label
        self.result_cache = result_cache

    def __repr__(self) -> str:
        return f"FunctionPod({self._function!r}, label={self._label!r})"

    @property
    def packet_function(self) -> PythonPacketFunction:
        return self._function

    @property
    def label(self) -> str | None:
        return self._label

    @property
    def executor(self) -> PacketFunctionExecutor | None:
        """The packet function's executor (``None``: called directly, uncaptured)."""
        return self._function.executor

    @executor.setter
    def executor(self, executor: PacketFunctionExecutor | None) -> None:
        self._function.executor = executor

    def content_hash(self) -> str:
        """The identity of the function this pod applies."""
        return self._function.content_hash()

    def pipeline_hash(self) -> str:
        """The function's identity (it covers the schemas) as a pipeline element."""
        return combine_hashes("function-pod", self._function.content_hash())

    def output_schema(self, *streams: Stream) -> tuple[Schema, Schema]:
        """(the input's tag schema, the function's output schema).

        The input is a stream, or a plugin's ``SourceTable`` (read as its source).

        Raises:
            SchemaError: not exactly one input; a parameter with no column, or a column
                of another type (naming function, column and both types); an output
                key that is also a tag column.
            SourceError: the input is neither a stream nor a ``SourceTable``.
        """
        stream = self._single_input(streams)
        tag_schema, packet_schema = schemas_of(stream)
        where = f"function pod {self._display_name()!r}"
        self._function.check_inputs(packet_schema, where=where)
        clashes = [key for key in self._function.output_keys if key in tag_schema]
        if clashes:
            raise SchemaError(
                f"{where}: output key {clashes[0]!r} is also a tag column of the input; "
                "rename the output key or the tag column."
            )
        return tag_schema, self._function.output_schema()

    def __call__(self, *streams: Stream, label: str | None = None) -> FunctionPodStream:
        """The lazy stream of this pod's outputs for ``streams`` (exactly one).

        Inside a ``with Pipeline(...)`` block the call is also recorded as a node.

        Raises:
            SchemaError, SourceError: as :meth:`output_schema`.
        """
        stream = FunctionPodStream(self, self._single_input(streams), label=label or self._label)
        record(stream)
        return stream

    def process_packet(
        self, tag: data.Tag, packet: data.Packet, *, logger: PacketExecutionLogger | None = None
    ) -> tuple[data.Tag, Packet]:
        """One row's output: the cached result, or the function's, which is then stored.

        Raises:
            ReturnValueError: the function's value does not fit its outputs; names the tag.
            BaseException: whatever the function raised, unchanged.
        """
        cache, function = self.result_cache, self._function
        files = self._file_outputs()
        repairs = None
        if cache is not None:
            found = cache.lookup_hashes(function, [packet.content_hash()], files=files)
            if found.hits[0]:
                schema = Schema.of(function.output_schema())
                return tag, Packet(RowBlock(found.outputs, schema), 0)
            repairs = [found.damaged.get(0)] if found.damaged else None
        try:
            if files is None:
                output = function.call(packet, logger=logger)
            else:
                output = _call_keeping_files(function, files, packet, logger)
        except ReturnValueError as error:
            raise ReturnValueError(f"{error} (tag {tag.as_dict()})") from None
        if cache is not None:
            outputs = output.as_table().cast(function.output_schema().to_arrow())
            cache.store(function, [packet.content_hash()], outputs, repairs=repairs)
        return tag, output

    # -- whole tables ------------------------------------------------------------

    def apply(self, table: pa.Table, tag_schema: Schema, packet_schema: Schema) -> pa.Table:
        """The output table for an input table: its tag and system columns, then the outputs.

        Processes the rows in batches: their packets are hashed, looked up in the
        cache, computed where missing (each distinct packet once) and stored, a
        batch at a time.

        Raises:
            ReturnValueError: a value does not fit the outputs; names the tag.
            BaseException: whatever the function raised, unchanged (with a note naming
                the tag); results computed before it are stored first.
        """
        tag_names = [*tag_schema, *(n for n in table.column_names if is_system_column(n))]
        parts = []
        for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
            rows = pa.Table.from_batches([batch])
            tags = RowBlock(rows.select(tag_names), tag_schema)
            outputs = self._outputs(tags, RowBlock(rows.select(list(packet_schema)), packet_schema))
            parts.append(side_by_side(tags.table, outputs))
        if not parts:
            canonical = self._function.output_schema().to_arrow()
            return side_by_side(table.select(tag_names).slice(0, 0), canonical.empty_table())
        return pa.concat_tables(parts)

    def _refuse_changed_inputs(self, tags: RowBlock, packets: RowBlock) -> None:
        """Raise for the first packet whose input files changed since they were hashed.

        Raises:
            FileChangedError: naming the file and the tag.
        """
        present = [name for name in self._function.input_schema() if name in packets.schema]
        inputs = FileInputs.of(self._function.input_schema(), present)
        if inputs is None:
            return
        columns = {name: packets.values(name) for name in inputs.columns}
        changed = inputs.changed(columns, range(packets.num_rows))
        if changed:
            row, message = min(changed.items())
            raise FileChangedError(f"{message} (tag {Tag(tags, row).as_dict()})")

    def _file_outputs(self) -> FileOutputs | None:
        """The function's File/Directory outputs, kept beside the cache's database (or,
        without a cache, in a temporary file store of this process)."""
        if self.result_cache is not None:
            return self.result_cache.file_outputs(self._function)
        return FileOutputs.of(
            Schema.of(self._function.output_schema()), lambda: default_file_store(None)
        )

    def _display_name(self) -> str:
        return self._label or self._function.name

    def _single_input(self, streams: Sequence[Stream]) -> Stream:
        where = f"function pod {self._display_name()!r}"
        if len(streams) != 1:
            raise SchemaError(
                f"{where} takes exactly one input stream, got {len(streams)}; join streams "
                "first (Join) to feed several into one function."
            )
        return as_stream(streams[0], where=where)

    def _outputs(self, tags: RowBlock, packets: RowBlock) -> pa.Table:
        """The canonical output columns of one batch of packets, in row order."""
        function, cache = self._function, self.result_cache
        canonical = function.output_schema().to_arrow()
        count = packets.num_rows
        if cache is None:  # nothing to look up: no need to hash
            keys: Sequence[Hashable] = range(count)
            lookup = None
            hits = [False] * count
        else:
            keys = packets.content_hashes()
            lookup = cache.lookup_hashes(function, keys, files=self._file_outputs())
            if all(lookup.hits):
                self._refuse_changed_inputs(tags, packets)
                return lookup.outputs.cast(canonical)
            hits = lookup.hits
        self._refuse_changed_inputs(tags, packets)
        work = _Computed(function.output_keys)
        if lookup is not None and lookup.damaged:
            work.repairs = {keys[row]: link for row, link in lookup.damaged.items()}
        try:
            self._compute_missing(tags, packets, hits, keys, work)
        except BaseException:
            self._store(work, tags, keys)  # nothing computed is lost
            raise
        computed = self._store(work, tags, keys, raise_wrong_values=True)
        position = work.position
        if lookup is None or not any(hits):
            if len(position) == count:  # every row computed once, in order
                return computed
            return computed.take([position[key] for key in keys])
        found = lookup.outputs
        combined = pa.concat_tables([found, computed.cast(found.schema)])
        index = [row if hits[row] else count + position[key] for row, key in enumerate(keys)]
        return combined.take(index).cast(canonical)

    def _compute_missing(
        self,
        tags: RowBlock,
        packets: RowBlock,
        hits: list[bool],
        keys: Sequence[Hashable],
        work: _Computed,
    ) -> None:
        """Run the function once on each distinct packet not found in the cache.

        The loop runs once per packet, so it is written for speed: locals, no
        method calls but the function's own, one output key appended directly.
        """
        function = self._function
        fn, executor = function.function, function.executor
        files = self._file_outputs()
        columns = [
            (name, packets.values(name))
            for name in function.input_schema()
            if name in packets.schema
        ]
        present = {name for name, _ in columns}
        defaults = {name: v for name, v in function.defaults.items() if name not in present}
        split = None if len(function.output_keys) == 1 else function.split_outputs
        invoke = function.invoke if function.retries else None  # retries: its own loop
        outputs = list(work.values.values())
        position, rows = work.position, work.rows
        for row, key in enumerate(keys):
            if hits[row] or key in position:
                continue
            kwargs = {name: column[row] for name, column in columns}
            if defaults:
                kwargs.update(defaults)
            try:
                if files is not None:
                    values = _call_keeping_files(function, files, kwargs, None, split=True)
                elif invoke is not None:
                    value = invoke(kwargs)
                    values = (value,) if split is None else split(value)
                else:
                    value = (
                        fn(**kwargs) if executor is None else executor.execute_callable(fn, kwargs)  # type: ignore[attr-defined]
                    )
                    values = (value,) if split is None else split(value)
            except ReturnValueError as error:
                raise ReturnValueError(f"{error} (tag {Tag(tags, row).as_dict()})") from None
            except BaseException as error:
                error.add_note(
                    f"orcapod: raised by function {function.name!r} for tag "
                    f"{Tag(tags, row).as_dict()}"
                )
                raise
            position[key] = len(rows)
            rows.append(row)
            for column, item in zip(outputs, values, strict=True):
                column.append(item)

    def _store(
        self,
        work: _Computed,
        tags: RowBlock,
        keys: Sequence[Hashable],
        *,
        raise_wrong_values: bool = False,
    ) -> pa.Table:
        """Convert the computed values to canonical columns and store those that fit.

        Raises:
            ReturnValueError: with ``raise_wrong_values``, for the first row whose values
                do not fit the outputs (naming its tag), after the others are stored.
        """
        function, cache = self._function, self.result_cache
        table, kept, wrong = _to_outputs(work, function)
        if cache is not None and kept:  # then the keys are the input hashes
            hashes = [str(keys[work.rows[i]]) for i in kept]
            repairs = [work.repairs.get(h) for h in hashes] if work.repairs else None
            cache.store(function, hashes, table, repairs=repairs)
        if wrong is not None and raise_wrong_values:
            index, values = wrong
            error = function.value_error(dict(zip(function.output_keys, values, strict=True)))
            raise ReturnValueError(f"{error} (tag {Tag(tags, work.rows[index]).as_dict()})")
        return table


def _call_keeping_files(
    function: PythonPacketFunction,
    files: FileOutputs,
    arguments: data.Packet | dict[str, Any],
    logger: PacketExecutionLogger | None,
    *,
    split: bool = False,
) -> Any:
    """Call ``function`` with a scratch directory; its File/Directory outputs kept in the
    file store. The output packet, or (``split``) the tuple of output values."""
    wrapped, scratch = files.wrap(function.function)
    kwargs = arguments if isinstance(arguments, dict) else function.arguments(arguments)
    try:
        values = files.keep(
            function.split_outputs(function.invoke(kwargs, logger=logger, fn=wrapped))
        )
    finally:
        files.discard(scratch)
    return values if split else function.output_packet(values)


class _Computed:
    """The packets of one batch computed so far: their rows, keys and output values.

    A packet's key is its content hash when results are cached, else its row.
    """

    __slots__ = ("position", "repairs", "rows", "values")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.rows: list[int] = []
        self.position: dict[Hashable, int] = {}  # packet key -> index among the computed
        self.values: dict[str, list[Any]] = {key: [] for key in keys}
        self.repairs: dict[Hashable, str] = {}  # input hash -> the damaged result it repairs


def _to_outputs(
    work: _Computed, function: PythonPacketFunction
) -> tuple[pa.Table, list[int], tuple[int, list[Any]] | None]:
    """The computed values as a canonical table, the indices it holds, and the first misfit.

    Converts all values at once; only if some do not fit their types are they
    converted one row at a time, to keep the rows that do.
    """
    schema = function.output_schema()
    try:
        return canonical_outputs(work.values, schema), list(range(len(work.rows))), None
    except TypeMismatchError:
        pass
    canonical = schema.to_arrow()
    tables, kept, wrong = [], [], None
    keys = list(work.values)
    for index in range(len(work.rows)):
        values = [work.values[key][index] for key in keys]
        try:
            row = to_arrow_table({k: [v] for k, v in zip(keys, values, strict=True)}, schema)
        except TypeMismatchError:
            wrong = wrong or (index, values)
            continue
        tables.append(row.cast(canonical))
        kept.append(index)
    return (pa.concat_tables(tables) if tables else canonical.empty_table()), kept, wrong


def canonical_outputs(columns: dict[str, list[Any]], schema: Schema) -> pa.Table:
    """Output values (column name → values) as a table of the schema's canonical types.

    Aware datetimes are converted to UTC, so values in several zones fit one column.

    Raises:
        TypeMismatchError: a value does not fit its column's type.
    """
    canonical = schema.to_arrow()
    try:
        return to_arrow_table(columns, schema).cast(canonical)
    except TypeMismatchError:
        count = len(next(iter(columns.values()), []))
        rows = [
            to_arrow_table({name: [values[i]] for name, values in columns.items()}, schema)
            for i in range(count)
        ]  # one row at a time: each row's datetimes may be in a zone of their own
        return pa.concat_tables([row.cast(canonical) for row in rows])


class FunctionPodStream(DerivedStream):
    """The lazy output of a function pod on one input stream.

    Nothing runs until the stream is read; then every packet is computed (or
    found in the cache) once, and the result kept. Its identities too are
    computed once, at first use, and kept (see ``DerivedStream``): the pod's
    function identity is fixed at its first use, and the input is immutable.
    """

    def __init__(self, pod: FunctionPod, input_stream: Stream, *, label: str | None = None) -> None:
        self._pod = pod
        self._input = input_stream
        self._label = label
        self._schemas = pod.output_schema(input_stream)

    @property
    def pod(self) -> FunctionPod:
        return self._pod

    @property
    def input_stream(self) -> Stream:
        return self._input

    @property
    def upstreams(self) -> tuple[Stream, ...]:
        return (self._input,)

    @property
    def label(self) -> str | None:
        return self._label

    def output_schema(self) -> tuple[Schema, Schema]:
        return self._schemas

    def _compute_table(self) -> pa.Table:
        tag_schema, packet_schema = schemas_of(self._input)
        table = self._input.as_table(include_system_columns=True)
        return self._pod.apply(table, tag_schema, packet_schema)

    def _chained_content_hash(self) -> str:
        """The pod's identity chained to the input's content."""
        return combine_hashes(
            "function-pod-stream", self._pod.content_hash(), self._input.content_hash()
        )

    def _chained_pipeline_hash(self) -> str:
        """The pod's identity chained to the input's pipeline hash."""
        return combine_hashes(
            "function-pod-stream", self._pod.pipeline_hash(), self._input.pipeline_hash()
        )


if TYPE_CHECKING:
    _pod_protocol: pods.FunctionPod = FunctionPod(...)  # type: ignore[arg-type]  # shape only
