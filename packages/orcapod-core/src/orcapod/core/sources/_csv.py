"""A source over a CSV file, read a block at a time, never held whole."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import SchemaError, SourceError, TypeMismatchError
from orcapod.core.sources._batched import BatchedSource, ColumnScan, FileStamp, check_unique_ids
from orcapod.core.sources._table_source import (
    _check_columns,
    _schema_of,
    check_record_id_column,
    tag_column_list,
)
from orcapod.core.system_columns import check_source_id
from orcapod.core.types import Schema, type_name

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from orcapod.core.streams import BatchSize

__all__ = ["CSVReads", "CSVSource", "file_source_id"]

_BLOCK_BYTES = 1 << 20
"""Bytes of the file Arrow parses at a time (its own default): each block is one batch."""

_KINDS: tuple[pa.DataType, ...] = (
    pa.null(),
    pa.int64(),
    pa.bool_(),
    pa.date32(),
    pa.time32("s"),
    pa.timestamp("s"),
    pa.timestamp("ns"),
    pa.timestamp("s", "UTC"),
    pa.timestamp("ns", "UTC"),
    pa.float64(),
    pa.string(),
    pa.binary(),
)
"""The types Arrow's CSV reader infers, in the order it tries them: a column is of the first
that converts every one of its fields."""
_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to ")
_INVALID = re.compile(r": invalid value '(.*)'$", re.DOTALL)


@dataclass
class CSVReads:
    """What a :class:`CSVSource` has read of its file (for tests and benchmarks).

    Attributes:
        passes: reads of the file a block at a time: when the source was made (its
            checks, including passes begun again), hashed or read in batches.
        restarts: passes begun again when the source was made, because a column held a
            field that the type inferred from the fields before it cannot convert.
        blocks: blocks those passes read (each one batch, of ``_BLOCK_BYTES`` of the file).
        whole: reads of the whole file at once (``as_table``).
    """

    passes: int = 0
    restarts: int = 0
    blocks: int = 0
    whole: int = 0


class _Unconvertible(SourceError):
    """A field that its column's type cannot convert, in column ``index`` of the file."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class CSVSource(BatchedSource):
    """A source over a CSV file with a header row, read in batches: the file is never held whole.

    Column types are inferred by Arrow's CSV reader (int, float, bool, str,
    dates, times, timestamps) unless declared in ``schema``; empty fields are
    nulls, except in ``str`` columns, where they are empty strings. An
    inferred column is ``T | None`` only if it has an empty field; a declared
    type stands as declared, and an empty field in a column declared without
    ``None`` is an error.

    The inferred types are those ``pyarrow.csv.read_csv`` infers from the
    whole file: a column is of the first of null, ``int64``, ``bool``,
    ``date32``, ``time32[s]``, ``timestamp[s]``, ``timestamp[ns]``,
    ``timestamp[s, UTC]``, ``timestamp[ns, UTC]``, ``float64``, ``str`` and
    ``binary`` that converts every one of its fields. When the source is made
    it reads the file a block (1 MiB) at a time, each column's type inferred
    from the first block; a later field that this type cannot convert (``1.5``
    in a column of ints so far, or text) moves its column to the next type of
    that list, and the pass begins again, until a pass converts the whole file.
    That pass makes the checks (empty fields, values orcapod cannot read
    exactly, null record ids) and counts the rows; record ids are checked
    unique in further passes of bounded memory over their column. Every read
    after converts with the settled types, a block at a time: the rows, record
    ids, provenance and ``content_hash()`` are those of
    ``ArrowTableSource(pyarrow.csv.read_csv(path), ...)`` with the same source
    id. ``as_table()`` reads the whole file.

    A file changed after the source was made (its size, modification time or
    inode) is an error when the source reads it.

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

    Attributes:
        path: the file.
        reads: counts of what the source has read (:class:`CSVReads`).

    Raises:
        SourceError: the file cannot be read or parsed (names the file and Arrow's
            reason) or changed while the source was made, ``source_id`` is invalid,
            or the record ids are null or repeated.
        SchemaError: a declared column is not in the file, a tag column is missing,
            a column has only empty fields, a column name is reserved or repeated.
        TypeMismatchError: a column declared without ``None`` has an empty field
            (names the data row), or a column holds values orcapod cannot read exactly.
        UnsupportedTypeError: a column's type has no orcapod equivalent.
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
        from pyarrow import csv

        self.path = Path(path)
        self.reads = CSVReads()
        self._file = str(self.path)
        if source_id is None:
            source_id = file_source_id(self.path, "csv")
        where = f"csv {source_id!r}"
        declared = Schema(schema or {})
        fields = {field.name: field for field in declared.to_arrow()}
        self._parse = csv.ParseOptions(delimiter=delimiter)
        self._stamp = self._first_stamp()
        self._types: dict[str, pa.DataType] = {name: field.type for name, field in fields.items()}
        blocks = self._blocks(infer=True)
        first = next(blocks, None)  # the header and the first block: the names and first types
        names = self._names_read
        undeclared = [name for name in fields if name not in names]
        if undeclared:
            raise SchemaError(
                f"CSVSource {self._file!r}: schema declares column {undeclared[0]!r}, which the "
                f"file does not have; its columns are {names}."
            )
        self._source_id = check_source_id(source_id)
        tags = tag_column_list(tag_columns, names, where=where)
        _check_columns(names, where)
        self._types = dict(self._types_read)
        scan = self._settle(first, blocks, set(fields), where)
        empty = [name for name in names if pa.types.is_null(self._types[name])]
        if empty:
            raise SchemaError(
                f"CSVSource {self._file!r}: column {empty[0]!r} has only empty fields, so its "
                f"type cannot be inferred; declare it with schema={{{empty[0]!r}: <type> | None}}."
            )
        for name, field in fields.items():
            if not field.nullable and scan.nulls[name]:
                raise TypeMismatchError(
                    f"CSVSource {self._file!r}: column {name!r} is declared "
                    f"{type_name(declared[name])} but data row {self._first_null(name) + 1} has "
                    f"an empty field; declare it {type_name(declared[name])} | None or fill the "
                    "field."
                )
        packets = [name for name in names if name not in tags]
        self._schema = pa.schema(
            [fields.get(name) or scan.field(name) for name in [*tags, *packets]]
        )
        output = _schema_of(self._schema.empty_table(), where)
        self._tag_schema = output.select(tags)
        self._packet_schema = output.select(packets)
        self._rows = scan.rows
        self._record_id_column = record_id_column
        if record_id_column is not None:
            check_record_id_column(record_id_column, self._schema, where)
            check_unique_ids(
                record_id_column,
                lambda: self._column(record_id_column),
                self._rows,
                scan.nulls[record_id_column],
                where,
            )
        self._content_hash: str | None = None

    def row_count(self) -> int:
        """The file's data rows, counted when the source was made."""
        return self._rows

    def _read(self, size: BatchSize, provenance: bool) -> Iterator[pa.Table]:
        """The file a block at a time, converted with the settled types (a block is cut to
        ``size`` after).

        Raises:
            SourceError: the file changed since the source was made.
        """
        for batch in self._blocks():
            yield pa.Table.from_batches([batch])

    def _read_whole(self) -> pa.Table:
        from pyarrow import csv

        self._check_unchanged()
        self.reads.whole += 1
        try:
            table = csv.read_csv(
                self.path,
                parse_options=self._parse,
                convert_options=csv.ConvertOptions(column_types=self._types),
            )
        except (pa.ArrowInvalid, OSError) as error:
            self._check_unchanged()
            raise SourceError(f"CSVSource: cannot read {self._file!r}: {error}") from None
        self._check_unchanged()
        return self._conform(table)

    def __repr__(self) -> str:
        return (
            f"CSVSource({self._file!r}, source_id={self.source_id!r}, "
            f"tags={self._tag_schema!r}, packets={self._packet_schema!r}, rows={self._rows})"
        )

    # Reading -------------------------------------------------------------

    def _blocks(
        self, columns: Sequence[str] = (), *, infer: bool = False
    ) -> Iterator[pa.RecordBatch]:
        """The file's blocks, one batch each, of ``columns`` only (all if none), converted to
        ``_types`` (with ``infer``: the declared types, the others inferred from the first
        block, as Arrow's streaming reader does; the names and types read are kept in
        ``_names_read`` and ``_types_read``).

        Raises:
            _Unconvertible: a field its column's type cannot convert.
            SourceError: the file is gone, changed, or cannot be read or parsed.
        """
        from pyarrow import csv

        self._check_unchanged()
        self.reads.passes += 1
        convert = csv.ConvertOptions(column_types=self._types, include_columns=list(columns))
        try:
            reader = csv.open_csv(
                self.path,
                read_options=csv.ReadOptions(block_size=_BLOCK_BYTES),
                parse_options=self._parse,
                convert_options=convert,
            )
            if infer:
                self._names_read: list[str] = reader.schema.names
                self._types_read = dict(zip(reader.schema.names, reader.schema.types, strict=True))
            for batch in reader:
                self._check_unchanged()
                self.reads.blocks += 1
                yield batch
        except (pa.ArrowInvalid, OSError) as error:
            self._check_unchanged()
            message = f"CSVSource: cannot read {self._file!r}: {error}"
            match = _CONVERSION.match(str(error))
            if match is not None:
                raise _Unconvertible(message, int(match[1])) from None
            raise SourceError(message) from None
        self._check_unchanged()

    def _settle(
        self,
        first: pa.RecordBatch | None,
        blocks: Iterator[pa.RecordBatch],
        declared: set[str],
        where: str,
    ) -> ColumnScan:
        """Read the file until a pass converts every field, moving a column to the next type
        Arrow infers when a field does not convert (the pass then begins again); what that
        pass found.

        Raises:
            SourceError: a declared column's field does not convert, or the file cannot be read.
            TypeMismatchError: a column holds values orcapod cannot read exactly.
        """
        names = list(self._types)
        pending = [] if first is None else [first]
        while True:
            scan = ColumnScan([pa.field(name, self._types[name]) for name in names], where)
            unreadable: TypeMismatchError | None = None
            try:
                for batch in _chain(pending, blocks):
                    if unreadable is None:
                        try:
                            scan.update(pa.Table.from_batches([batch]))
                        except TypeMismatchError as error:  # unless a later field widens its type
                            unreadable = error
            except _Unconvertible as error:
                name = names[error.index] if error.index < len(names) else None
                if name is None or name in declared:
                    raise SourceError(str(error)) from None
                self._types[name] = _wider(self._types[name], str(error))
                self.reads.restarts += 1
                pending = []
                blocks = self._blocks()
                continue
            if unreadable is not None:
                raise unreadable
            return scan

    def _first_null(self, name: str) -> int:
        """The position of column ``name``'s first null (which it has)."""
        row = 0
        for part in self._column(name):
            if part.null_count:
                return row + int(pc.index(part.is_null(), True).as_py())
            row += len(part)
        raise AssertionError(f"column {name!r} has no null")  # pragma: no cover

    def _column(self, name: str) -> Iterator[pa.Array]:
        """Column ``name``'s values, a block at a time."""
        for batch in self._blocks([name]):
            yield batch.column(0)

    def _first_stamp(self) -> FileStamp:
        try:
            return FileStamp.of(self.path)
        except FileNotFoundError:
            raise SourceError(f"CSVSource: no file {self._file!r}; check the path.") from None

    def _check_unchanged(self) -> None:
        self._stamp.check(self.path, self._changed)

    def _changed(self, how: str) -> SourceError:
        return SourceError(
            f"CSVSource {self._file!r}: the file changed after the source was made ({how}); "
            "its schema, checks and content hash are those of the file as it was. Make a new "
            f"CSVSource({self._file!r}, ...) to read the file as it is now."
        )


def _chain(
    pending: list[pa.RecordBatch], blocks: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    yield from pending
    yield from blocks


def _wider(arrow: pa.DataType, error: str) -> pa.DataType:
    """The next type Arrow's CSV inference tries after ``arrow`` that converts the field
    ``error`` names (``str`` after a type it never infers)."""
    index = _KINDS.index(arrow) if arrow in _KINDS else _KINDS.index(pa.string()) - 1
    value = _INVALID.search(error)
    for kind in _KINDS[index + 1 : -1]:
        if value is None or _converts(value[1], kind):
            return kind
    return _KINDS[-1]


def _converts(value: str, kind: pa.DataType) -> bool:
    """Whether Arrow's CSV reader converts the field ``value`` to ``kind`` (True where this
    cannot be told: a field holding a line break, or every separator tried)."""
    from pyarrow import csv

    separators = [char for char in "\x1f\x1e\t|;" if char not in value]
    if not separators or "\n" in value or "\r" in value:
        return True
    try:
        csv.read_csv(
            io.BytesIO(f"v\n{value}\n".encode()),
            read_options=csv.ReadOptions(use_threads=False),
            parse_options=csv.ParseOptions(delimiter=separators[0], quote_char=False),
            convert_options=csv.ConvertOptions(column_types={"v": kind}),
        )
    except pa.ArrowInvalid:
        return False
    return True


def file_source_id(path: Path, kind: str) -> str:
    """The default source id of a file: its name without its suffix, other characters than
    letters, digits, ``_``, ``.``, ``-`` replaced by ``_``, prefixed by ``kind`` if it
    does not start with a letter or digit."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem)
    return name if name[:1].isalnum() else f"{kind}{name}"
