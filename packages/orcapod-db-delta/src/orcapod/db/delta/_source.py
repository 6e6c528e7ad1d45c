"""DeltaTableSource: an existing Delta table as an orcapod source.

It is a ``SourceTable`` (``orcapod.protocols.streams``): the table's rows and
how to identify them, with the optional ``arrow_batches`` (the rows in batches).
orcapod-core reads it as one of its own sources wherever it takes a stream, so
this module needs orcapod-protocols, not orcapod-core.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from orcapod.db.delta._layout import TABLE_DIRECTORY
from orcapod.db.delta._schema import ID_COLUMN, LAYOUT_FORMAT, read_layout
from orcapod.protocols.errors import SourceError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Sequence

    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    from orcapod.db.delta._schema import TableLayout
    from orcapod.protocols.streams import SourceTable

__all__ = ["DeltaTableSource"]

_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


class DeltaTableSource:
    """The rows of a Delta table (its latest version, or ``version``) as a source.

    Pass it wherever orcapod takes a stream (``double.pod(trials)``,
    ``Join()(trials, other)``): orcapod-core reads it through
    :meth:`arrow_batches`, a batch at a time, never holding the table whole,
    with this source id and these tag columns, and the content hash and
    record ids of an ``ArrowTableSource`` over these rows
    (``orcapod.core.as_stream(trials)`` gives that source itself).

    The version is pinned when the source is made: its files (oldest first)
    are what every read gives, whatever is committed later; a file of it that
    a vacuum removed is a ``SourceError`` when read. A table written by
    :class:`~orcapod.db.delta.DeltaTableDatabase` comes back with the column names
    and Arrow types its records were added with, without the database's
    record-id column. Its rows are in the order they were added, so the row
    positions (the default record ids) of earlier rows stay when rows are appended.

    Args:
        path: the table's directory.
        tag_columns: the columns that identify a row; the others are the packet.
        source_id: names this source in provenance; by default ``"delta-<name>"``
            from the table's directory name (the record path's names for a table
            of a DeltaTableDatabase), so it is stable across runs and machines.
        record_id_column: a column of unique ``int`` or ``str`` row ids; by
            default the row's position.
        version: the table version to read; the latest by default.

    Raises:
        SourceError: ``path`` holds no Delta table (or not that version).

    Attributes:
        path: the table's directory, resolved.
        version: the Delta version read (pinned when the source is made).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        tag_columns: str | Sequence[str],
        *,
        source_id: str | None = None,
        record_id_column: str | None = None,
        version: int | None = None,
    ) -> None:
        location = Path(path).expanduser().resolve()
        self._dataset, self._layout, self.version = _pin(location, version)
        self._rows: pa.Table | None = None
        self.path = location
        self._tag_columns = (tag_columns,) if isinstance(tag_columns, str) else tuple(tag_columns)
        self._source_id = source_id if source_id is not None else default_source_id(location)
        self._record_id_column = record_id_column

    @property
    def source_id(self) -> str:
        """Names this source in the provenance of every row."""
        return self._source_id

    @property
    def tag_columns(self) -> tuple[str, ...]:
        """The columns that identify a row."""
        return self._tag_columns

    @property
    def record_id_column(self) -> str | None:
        """The column of row ids, or ``None`` for the row positions."""
        return self._record_id_column

    def as_arrow(self) -> pa.Table:
        """The rows of the version read, as one table (read at the first call, then the same
        table every time); orcapod-core reads :meth:`arrow_batches` instead."""
        if self._rows is None:
            self._rows = pa.concat_tables(
                [
                    pa.Table.from_batches([batch])
                    for batch in self._batches(self._dataset.to_batches())
                ]
                or [self._schema().empty_table()]
            )
        return self._rows

    def arrow_batches(self, max_rows: int) -> pa.RecordBatchReader:
        """The rows :meth:`as_arrow` gives, in its order, in record batches of at most
        ``max_rows`` rows, read from the table's files one batch at a time (never the whole
        table): how orcapod-core reads this source (the optional method of ``SourceTable``).

        Raises:
            SourceError: while reading, a file of the version is gone (a vacuum removed it).
        """
        scanner = self._dataset.scanner(
            batch_size=max_rows, batch_readahead=1, fragment_readahead=1
        )
        return pa.RecordBatchReader.from_batches(
            self._schema(), self._batches(scanner.to_batches())
        )

    def _schema(self) -> pa.Schema:
        if self._layout is None:
            return self._dataset.schema
        return self._layout.data_schema

    def _batches(self, read: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The batches read from the files, as records (for a table of a DeltaTableDatabase:
        its column names and types, without its record-id column)."""
        try:
            for batch in read:
                if self._layout is None:
                    yield batch
                    continue
                records = self._layout.from_physical(pa.Table.from_batches([batch]))
                yield from records.drop_columns([ID_COLUMN]).to_batches()
        except (OSError, pa.ArrowInvalid) as error:
            raise SourceError(
                f"DeltaTableSource {str(self.path)!r}: cannot read version {self.version} of "
                f"the table ({error}); a vacuum may have removed its files since the source "
                "was made: make a new DeltaTableSource to read the table as it is now."
            ) from None

    def __repr__(self) -> str:
        return (
            f"DeltaTableSource({str(self.path)!r}, tag_columns={list(self._tag_columns)!r}, "
            f"source_id={self._source_id!r}, version={self.version})"
        )


def default_source_id(location: Path) -> str:
    """``"delta-<name>"`` from the table's directory (or record path) name, made id-safe."""
    parts = [location.name]
    if location.name == TABLE_DIRECTORY:
        parts = [part for part in location.parent.parts[-2:] if part != "/"]
    name = _NOT_IN_ID.sub("_", ".".join(parts)).strip("._-") or "table"
    return f"delta-{name}"


def _pin(location: Path, version: int | None) -> tuple[ds.Dataset, TableLayout | None, int]:
    """The files of the table's version (oldest first), its layout if a DeltaTableDatabase
    wrote it, and the version: what the source reads, whatever is committed later."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        delta = DeltaTable(str(location), version=version)
    except (TableNotFoundError, DeltaError, OSError) as error:
        wanted = "Delta table" if version is None else f"version {version} of a Delta table"
        raise SourceError(
            f"DeltaTableSource: {str(location)!r} holds no {wanted} ({error}); pass the "
            "directory that contains the table's _delta_log"
        ) from None
    description = delta.metadata().description
    layout = None
    if description and LAYOUT_FORMAT in description:
        layout = read_layout(str(location), description)
    return _in_commit_order(delta, location), layout, delta.version()


def _in_commit_order(delta: DeltaTable, location: Path) -> ds.Dataset:
    """The table's files as a dataset, oldest first (read in that order).

    Rows are identified by their position unless a ``record_id_column`` is
    given, so the order must not change when rows are appended: Delta lists
    files in no documented order, and newest first in practice.

    The files are read through Arrow's own local file system, not deltalake's
    Python one: reading through that leaves Arrow threads that can abort the
    process as it exits ("terminate called without an active exception",
    delta-rs #2184).
    """
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    dataset = delta.to_pyarrow_dataset(as_large_types=True)
    if not isinstance(dataset, ds.FileSystemDataset):
        return dataset
    added = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
    added_at = {
        str(action["path"]).rsplit("/", 1)[-1]: action["modification_time"] for action in added
    }
    fragments = list(dataset.get_fragments())
    order = sorted(
        range(len(fragments)),
        key=lambda n: (added_at.get(fragments[n].path.rsplit("/", 1)[-1], 0), -n),
    )
    files = [_local_path(location, fragments[n].path) for n in order]
    if all(file is not None for file in files):
        local = pafs.LocalFileSystem()
        chosen = [
            dataset.format.make_fragment(
                str(file), local, partition_expression=fragments[n].partition_expression
            )
            for n, file in zip(order, files, strict=True)
        ]
        return ds.FileSystemDataset(chosen, dataset.schema, dataset.format, local)
    return ds.FileSystemDataset(
        [fragments[n] for n in order], dataset.schema, dataset.format, dataset.filesystem
    )


def _local_path(location: Path, relative: str) -> Path | None:
    """The data file ``relative`` (as the table lists it) under ``location``, if it is there."""
    from urllib.parse import unquote

    for name in (relative, unquote(relative)):
        file = location / name
        if file.is_file():
            return file
    return None


if TYPE_CHECKING:
    _shape: SourceTable = DeltaTableSource(".", "tag")  # the protocol it fulfils
