"""The conformance kit itself: its persistent half runs, and it fails backends that are wrong.

The in-memory database cannot be reopened, so the persistent contract runs
here against a small snapshot database that saves InMemoryArrowDatabase's
paths to Arrow IPC files. Then deliberately broken backends, each wrong in
one way a real backend could be, must fail the kit test written for it: a
kit that passes everything would prove nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis.errors import HypothesisException

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.protocols.database import validate_record_path
from orcapod.protocols.errors import DuplicateRecordError, InvalidRecordPathError
from orcapod.protocols.testing.database import (
    ArrowDatabaseContract,
    DurableArrowDatabaseContract,
    PersistentArrowDatabaseContract,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from pathlib import Path

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.values import RecordPath


class SnapshotDatabase:
    """An InMemoryArrowDatabase saved whole to one Arrow IPC file per path on flush.

    Test-only, but a real persistent store: a new instance on the same root
    loads every path flushed there.
    """

    FILE_NAME = ".records.arrow"  # starts with '.', so no path component can clash with it
    ID_COLUMN = "__snapshot_record_id"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.memory = InMemoryArrowDatabase()
        self.changed: set[RecordPath] = set()
        self.closed = False
        for file in sorted(root.rglob(self.FILE_NAME)):
            with pa.OSFile(str(file), "rb") as source:
                table = pa.ipc.open_file(source).read_all()
            self.memory.add_records(file.parent.relative_to(root).parts, table, self.ID_COLUMN)

    def add_record(
        self,
        path: RecordPath,
        record_id: str,
        record: pa.Table,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        self.memory.add_record(path, record_id, record, skip_duplicates=skip_duplicates)
        self._changed(path, flush)

    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        self.memory.add_records(path, records, record_id_column, skip_duplicates=skip_duplicates)
        self._changed(path, flush)

    def get_record_by_id(
        self, path: RecordPath, record_id: str, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        return self.memory.get_record_by_id(path, record_id, record_id_column=record_id_column)

    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        return self.memory.get_records_by_ids(path, record_ids, record_id_column=record_id_column)

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        return self.memory.get_all_records(path, record_id_column=record_id_column)

    def get_records_with_column_value(
        self,
        path: RecordPath,
        column_values: Mapping[str, Any],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        return self.memory.get_records_with_column_value(
            path, column_values, record_id_column=record_id_column
        )

    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        return self.memory.list_paths(prefix)

    def flush(self) -> None:
        for path in sorted(self.changed):
            table = self.memory.get_all_records(path, record_id_column=self.ID_COLUMN)
            if table is None:  # an empty batch, or one whose every id was a duplicate
                continue
            directory = self.root.joinpath(*path)
            directory.mkdir(parents=True, exist_ok=True)
            partial = directory / (self.FILE_NAME + ".partial")
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
                out.write_table(table)
            os.replace(partial, directory / self.FILE_NAME)
        self.changed.clear()

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.memory.close()
            self.closed = True

    def _changed(self, path: RecordPath, flush: bool) -> None:
        self.changed.add(validate_record_path(path))
        if flush:
            self.flush()


class TestSnapshotDatabaseContract(PersistentArrowDatabaseContract):
    __test__ = True

    def make_database(self, tmp_path: Path) -> SnapshotDatabase:
        return SnapshotDatabase(tmp_path / "store")

    def reopen_database(self, database: ArrowDatabase, tmp_path: Path) -> SnapshotDatabase:
        return SnapshotDatabase(tmp_path / "store")


def test_the_kit_exports_only_the_contract_classes() -> None:
    from orcapod.protocols.testing import database

    assert database.__all__ == [
        "ArrowDatabaseContract",
        "DurableArrowDatabaseContract",
        "PersistentArrowDatabaseContract",
    ]
    assert ArrowDatabaseContract.__test__ is False
    assert PersistentArrowDatabaseContract.__test__ is False
    assert DurableArrowDatabaseContract.__test__ is False


def test_a_contract_without_a_factory_says_what_to_override(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match=r"override make_database\(tmp_path\)"):
        ArrowDatabaseContract().make_database(tmp_path)
    with pytest.raises(NotImplementedError, match=r"override reopen_database"):
        PersistentArrowDatabaseContract().reopen_database(InMemoryArrowDatabase(), tmp_path)
    with pytest.raises(NotImplementedError, match=r"override database_opener\(tmp_path\)"):
        DurableArrowDatabaseContract().database_opener(tmp_path)


# -- broken backends, each wrong in one way --------------------------------------------


class ReturnsIdsUnasked(InMemoryArrowDatabase):
    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        return super().get_all_records(path, record_id_column=record_id_column or "id")


class KeepsTheLastDuplicate(InMemoryArrowDatabase):
    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        if skip_duplicates:
            records = records.take(pa.array(range(records.num_rows - 1, -1, -1), pa.int64()))
        super().add_records(path, records, record_id_column, skip_duplicates=skip_duplicates)


class KeepsPartOfARejectedBatch(InMemoryArrowDatabase):
    def add_records(
        self,
        path: RecordPath,
        records: pa.Table,
        record_id_column: str,
        *,
        skip_duplicates: bool = False,
        flush: bool = False,
    ) -> None:
        ids = records.column(record_id_column).to_pylist()
        known = super().get_records_by_ids(path, ids) if path in self.list_paths() else None
        super().add_records(path, records, record_id_column, skip_duplicates=True)
        if not skip_duplicates and (known is not None or len(set(ids)) < len(ids)):
            raise DuplicateRecordError(f"duplicate ids at {path!r}")


class ForgetsTimeZones(InMemoryArrowDatabase):
    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        table = super().get_all_records(path, record_id_column=record_id_column)
        if table is None:
            return None
        fields = [
            field.with_type(pa.timestamp("us")) if pa.types.is_timestamp(field.type) else field
            for field in table.schema
        ]
        return table.cast(pa.schema(fields))


class CachesReadsForever(InMemoryArrowDatabase):
    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[tuple[RecordPath, str | None], pa.Table | None] = {}

    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        key = (path, record_id_column)
        if key not in self.cache:
            self.cache[key] = super().get_all_records(path, record_id_column=record_id_column)
        return self.cache[key]


class TrustsPathsOnReads(InMemoryArrowDatabase):
    def get_all_records(
        self, path: RecordPath, *, record_id_column: str | None = None
    ) -> pa.Table | None:
        try:
            return super().get_all_records(path, record_id_column=record_id_column)
        except InvalidRecordPathError:
            return None


class ReturnsRepeatedIdsTwice(InMemoryArrowDatabase):
    def get_records_by_ids(
        self,
        path: RecordPath,
        record_ids: Collection[str],
        *,
        record_id_column: str | None = None,
    ) -> pa.Table | None:
        found = [
            record
            for record_id in record_ids
            if (record := self.get_record_by_id(path, record_id, record_id_column=record_id_column))
            is not None
        ]
        return pa.concat_tables(found) if found else None


class MatchesPrefixesAsStrings(InMemoryArrowDatabase):
    def list_paths(self, prefix: RecordPath = ()) -> list[RecordPath]:
        text = "/".join(prefix)
        return [path for path in super().list_paths() if "/".join(path).startswith(text)]


class ForgetsPendingRecordsOnClose(SnapshotDatabase):
    def close(self) -> None:
        self.changed.clear()
        super().close()


class BrokenContract(PersistentArrowDatabaseContract):
    """The kit run against one broken backend (not collected: called test by test below)."""

    def __init__(self, backend: type[Any]) -> None:
        self.backend: Callable[..., ArrowDatabase] = backend
        self.saves_to_disk = issubclass(backend, SnapshotDatabase)
        self.property_examples = 60  # type: ignore[misc]

    def make_database(self, tmp_path: Path) -> ArrowDatabase:
        return self.reopen_database(None, tmp_path) if self.saves_to_disk else self.backend()

    def reopen_database(self, database: ArrowDatabase | None, tmp_path: Path) -> ArrowDatabase:
        return self.backend(tmp_path / "store")


BROKEN = [
    pytest.param(
        ReturnsIdsUnasked,
        "test_record_ids_are_returned_only_when_asked",
        {"read": "get_all_records"},
        id="ids-returned-unasked",
    ),
    pytest.param(
        KeepsTheLastDuplicate,
        "test_add_records_skipping_duplicates_keeps_the_first_of_each_id",
        {},
        id="last-duplicate-kept",
    ),
    pytest.param(
        KeepsTheLastDuplicate,
        "test_batches_skipping_duplicates_equal_the_first_occurrence_union",
        None,
        id="last-duplicate-kept-property",
    ),
    pytest.param(
        KeepsPartOfARejectedBatch,
        "test_add_records_with_a_stored_id_rejects_the_whole_batch",
        {},
        id="partial-batch-kept",
    ),
    pytest.param(
        KeepsPartOfARejectedBatch,
        "test_batches_without_skipping_duplicates_are_all_or_nothing",
        None,
        id="partial-batch-kept-property",
    ),
    pytest.param(
        ForgetsTimeZones,
        "test_every_supported_type_round_trips_through_add_records",
        {},
        id="time-zone-lost",
    ),
    pytest.param(
        CachesReadsForever,
        "test_reads_see_records_added_after_an_earlier_read",
        {},
        id="stale-cache",
    ),
    pytest.param(
        TrustsPathsOnReads,
        "test_hostile_paths_are_refused_by_every_method",
        {"method": "get_all_records", "path": ("pipeline", "..")},
        id="path-not-validated",
    ),
    pytest.param(
        ReturnsRepeatedIdsTwice,
        "test_get_records_by_ids_returns_each_record_once",
        {},
        id="record-returned-twice",
    ),
    pytest.param(
        MatchesPrefixesAsStrings,
        "test_list_paths_lists_exact_tuples_matching_the_prefix_by_whole_names",
        {},
        id="prefix-matched-as-string",
    ),
    pytest.param(
        ForgetsPendingRecordsOnClose,
        "test_close_flushes_pending_records",
        {},
        id="close-loses-pending",
    ),
]


@pytest.mark.parametrize(("backend", "test_name", "arguments"), BROKEN)
def test_the_kit_fails_a_backend_that_is_wrong(
    tmp_path: Path, backend: type[Any], test_name: str, arguments: dict[str, Any] | None
) -> None:
    contract = BrokenContract(backend)
    test = getattr(contract, test_name)
    database = contract.make_database(tmp_path)

    def run_the_kit_test() -> None:
        if arguments is None:
            test()
        elif test_name in vars(PersistentArrowDatabaseContract):
            test(database, lambda: contract.reopen_database(database, tmp_path))
        else:
            test(database, **arguments)

    failures = (AssertionError, pytest.fail.Exception, HypothesisException, ExceptionGroup)
    try:
        with pytest.raises(failures):
            run_the_kit_test()
    finally:
        database.close()
