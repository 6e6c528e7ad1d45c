"""ResultCache: results keyed by function identity and input content, with execution context."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.core.databases import InMemoryArrowDatabase
from orcapod.core.datagrams import Packet
from orcapod.core.errors import SchemaError
from orcapod.core.executors import LocalExecutor
from orcapod.core.function_pods import (
    EXECUTION_DATA_SCHEMA,
    CacheLookup,
    FunctionPod,
    ResultCache,
    function_pod,
)
from orcapod.core.function_pods._execution_context import (
    MAX_UNTRACKED_LISTED,
    extra_info,
    git_info,
    python_version,
)
from orcapod.core.sources import DictSource, ListSource
from orcapod.core.types import table_to_rows

if TYPE_CHECKING:
    from types import ModuleType

    from orcapod.core.function_pods import PythonPacketFunction

CALLS: list[int] = []
PLUS_02 = timezone(timedelta(hours=2))


@function_pod(output_keys="y")
def square(x: int) -> int:
    CALLS.append(x)
    return x * x


@function_pod(output_keys=["total", "text"])
def summarise(x: int, y: int) -> tuple[int, str]:
    CALLS.append(x)
    return x + y, f"{x}+{y}"


@function_pod(output_keys="at")
def local_noon(day: int) -> datetime:
    CALLS.append(day)
    return datetime(2024, 3, day, 12, 0, tzinfo=PLUS_02)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@pytest.fixture
def database() -> InMemoryArrowDatabase:
    return InMemoryArrowDatabase()


def _cached(function: PythonPacketFunction, database: InMemoryArrowDatabase) -> FunctionPod:
    return FunctionPod(function, result_cache=ResultCache(database))


def _stored_rows(database: InMemoryArrowDatabase) -> list[dict[str, Any]]:
    (path,) = database.list_paths()
    table = database.get_all_records(path)
    assert table is not None
    return table_to_rows(table)


# reuse ----------------------------------------------------------------------


def test_second_materialisation_from_the_same_pod_and_source_computes_nothing(
    database: InMemoryArrowDatabase,
) -> None:
    pod = _cached(square.pod.packet_function, database)
    source = ListSource([1, 2, 3], "x")
    first = pod(source).as_table()
    assert sorted(CALLS) == [1, 2, 3]

    CALLS.clear()
    second = pod(source).as_table()
    assert CALLS == []
    assert second.equals(first)
    assert second.column("y").to_pylist() == [1, 4, 9]


def test_a_new_pod_on_the_same_cache_reuses_results(database: InMemoryArrowDatabase) -> None:
    _cached(square.pod.packet_function, database)(ListSource([4, 5], "x")).as_table()
    CALLS.clear()
    out = _cached(square.pod.packet_function, database)(ListSource([4, 5], "x")).as_table()
    assert CALLS == []
    assert out.column("y").to_pylist() == [16, 25]


def test_identical_packets_within_one_stream_are_computed_once(
    database: InMemoryArrowDatabase,
) -> None:
    pod = _cached(square.pod.packet_function, database)
    out = pod(ListSource([3, 3, 7, 3, 7], "x")).as_table()
    assert sorted(CALLS) == [3, 7]
    assert out.column("y").to_pylist() == [9, 9, 49, 9, 49]
    assert len(_stored_rows(database)) == 2


def test_a_different_source_with_an_overlapping_packet_reuses_its_result(
    database: InMemoryArrowDatabase,
) -> None:
    pod = _cached(square.pod.packet_function, database)
    pod(DictSource([{"subject": "a", "x": 6}], tag_columns="subject")).as_table()
    CALLS.clear()

    other = DictSource(
        [{"trial": 1, "x": 6}, {"trial": 2, "x": 8}], tag_columns="trial", source_id="other"
    )
    out = pod(other).as_table()
    assert CALLS == [8]
    assert out.column("trial").to_pylist() == [1, 2]
    assert out.column("y").to_pylist() == [36, 64]


def test_tag_values_are_not_part_of_the_cache_key(database: InMemoryArrowDatabase) -> None:
    pod = _cached(summarise.pod.packet_function, database)
    pod(DictSource([{"id": "first", "x": 1, "y": 2}], tag_columns="id")).as_table()
    out = pod(DictSource([{"id": "second", "x": 1, "y": 2}], tag_columns="id")).as_table()
    assert CALLS == [1]
    assert out.column("id").to_pylist() == ["second"]
    assert out.column("total").to_pylist() == [3]
    assert out.column("text").to_pylist() == ["1+2"]


def test_a_changed_function_body_computes_again_and_keeps_the_old_table(
    database: InMemoryArrowDatabase,
) -> None:
    @function_pod(output_keys="y", name="scale")
    def scale_v1(x: int) -> int:
        CALLS.append(x)
        return x * 10

    @function_pod(output_keys="y", name="scale")
    def scale_v2(x: int) -> int:
        CALLS.append(x)
        return x * 100

    first, second = scale_v1.pod.packet_function, scale_v2.pod.packet_function
    assert first.content_hash() != second.content_hash()
    source = ListSource([1, 2], "x")
    assert _cached(first, database)(source).as_table().column("y").to_pylist() == [10, 20]
    CALLS.clear()
    assert _cached(second, database)(source).as_table().column("y").to_pylist() == [100, 200]
    assert CALLS == [1, 2]

    paths = database.list_paths()
    assert len(paths) == 2
    assert all(path[:2] == ("_results", "scale") for path in paths)
    cache = ResultCache(database)
    assert set(paths) == {cache.path_for(first), cache.path_for(second)}
    old = database.get_all_records(cache.path_for(first))
    assert old is not None
    assert old.column("y").to_pylist() == [10, 20]


def test_a_bumped_version_computes_again(database: InMemoryArrowDatabase) -> None:
    @function_pod(output_keys="y", name="versioned", version="v1")
    def versioned_v1(x: int) -> int:
        CALLS.append(x)
        return x

    @function_pod(output_keys="y", name="versioned", version="v2")
    def versioned_v2(x: int) -> int:
        CALLS.append(x)
        return x

    _cached(versioned_v1.pod.packet_function, database)(ListSource([1], "x")).as_table()
    _cached(versioned_v2.pod.packet_function, database)(ListSource([1], "x")).as_table()
    assert CALLS == [1, 1]
    assert len(database.list_paths()) == 2


def test_cache_prefix_scopes_storage(database: InMemoryArrowDatabase) -> None:
    cache = ResultCache(database, prefix=("team", "results"))
    FunctionPod(square.pod.packet_function, result_cache=cache)(ListSource([2], "x")).as_table()
    (path,) = database.list_paths()
    assert path[:3] == ("team", "results", "square")
    assert path == cache.path_for(square.pod.packet_function)


# process_packet, lookup and record_packet ------------------------------------


def test_process_packet_computes_on_a_miss_and_reads_the_cache_on_a_hit(
    database: InMemoryArrowDatabase,
) -> None:
    pod = _cached(square.pod.packet_function, database)
    tag, packet = next(iter(ListSource([12], "x")))

    out_tag, out = pod.process_packet(tag, packet)
    assert CALLS == [12]
    assert out_tag is tag
    assert out.as_dict() == {"y": 144}

    again_tag, again = pod.process_packet(tag, packet)
    assert CALLS == [12]
    assert again_tag is tag
    assert again.as_dict() == {"y": 144}


def test_process_packet_and_streams_share_the_cache(database: InMemoryArrowDatabase) -> None:
    pod = _cached(square.pod.packet_function, database)
    source = ListSource([5, 6], "x")
    tag, packet = next(iter(source))
    pod.process_packet(tag, packet)
    CALLS.clear()
    assert pod(source).as_table().column("y").to_pylist() == [25, 36]
    assert CALLS == [6]


def test_lookup_returns_none_for_an_unknown_packet(database: InMemoryArrowDatabase) -> None:
    cache = ResultCache(database)
    assert cache.lookup(square.pod.packet_function, Packet.from_dict({"x": 1})) is None


def test_lookup_hashes_aligns_hits_with_the_inputs(database: InMemoryArrowDatabase) -> None:
    function = square.pod.packet_function
    cache = ResultCache(database)
    FunctionPod(function, result_cache=cache)(ListSource([2, 4], "x")).as_table()
    packets = [Packet.from_dict({"x": v}) for v in (4, 3, 2)]
    found = cache.lookup_hashes(function, [p.content_hash() for p in packets])
    assert isinstance(found, CacheLookup)
    assert found.hits == [True, False, True]
    assert found.outputs.column("y").to_pylist() == [16, None, 4]
    assert found.run_ids == [None, None, None]


def test_record_packet_stores_an_external_result_that_is_then_used(
    database: InMemoryArrowDatabase,
) -> None:
    function = square.pod.packet_function
    cache = ResultCache(database)
    cache.record_packet(
        function,
        Packet.from_dict({"x": 5}),
        Packet.from_dict({"y": 999}),
        run_id="run-external",
    )

    stored = cache.lookup(function, Packet.from_dict({"x": 5}))
    assert stored is not None
    assert stored.as_dict() == {"y": 999}
    out = FunctionPod(function, result_cache=cache)(ListSource([5, 6], "x")).as_table()
    assert out.column("y").to_pylist() == [999, 36]
    assert CALLS == [6]
    found = cache.lookup_hashes(function, [Packet.from_dict({"x": 5}).content_hash()])
    assert found.run_ids == ["run-external"]


def test_record_packet_with_custom_execution_data_stores_it(
    database: InMemoryArrowDatabase,
) -> None:
    function = square.pod.packet_function
    cache = ResultCache(database)
    cache.record_packet(
        function,
        Packet.from_dict({"x": 2}),
        Packet.from_dict({"y": 4}),
        execution_data={
            "executor_type": "ray",
            "executor_info": {"num_cpus": "1"},
            "python_version": "CPython 3.12.1",
            "extra_info": {"host": "worker-7"},
        },
    )
    (row,) = _stored_rows(database)
    assert row["__executor_type"] == "ray"
    assert row["__executor_info"] == {"num_cpus": "1"}
    assert row["__python_version"] == "CPython 3.12.1"
    assert row["__extra_info"] == {"host": "worker-7"}


def test_record_packet_with_a_wrong_output_schema_is_refused(
    database: InMemoryArrowDatabase,
) -> None:
    cache = ResultCache(database)
    function = square.pod.packet_function
    with pytest.raises(SchemaError, match=r"cannot record a result of 'square'"):
        cache.record_packet(function, Packet.from_dict({"x": 1}), Packet.from_dict({"z": 1}))
    with pytest.raises(SchemaError, match=r"cannot record a result of 'square'"):
        cache.record_packet(function, Packet.from_dict({"x": 1}), Packet.from_dict({"y": "one"}))
    assert database.list_paths() == []


def test_the_first_stored_result_wins(database: InMemoryArrowDatabase) -> None:
    function = square.pod.packet_function
    cache = ResultCache(database)
    packet = Packet.from_dict({"x": 3})
    cache.record_packet(function, packet, Packet.from_dict({"y": 9}))
    cache.record_packet(function, packet, Packet.from_dict({"y": -1}))
    stored = cache.lookup(function, packet)
    assert stored is not None
    assert stored.as_dict() == {"y": 9}
    assert len(_stored_rows(database)) == 1


# execution context ----------------------------------------------------------


def test_execution_context_of_a_direct_call_is_stored_as_native_maps(
    database: InMemoryArrowDatabase,
) -> None:
    before = datetime.now(UTC)
    _cached(square.pod.packet_function, database)(ListSource([3], "x")).as_table()
    after = datetime.now(UTC)

    (path,) = database.list_paths()
    table = database.get_all_records(path)
    assert table is not None
    assert pa.types.is_map(table.schema.field("__executor_info").type)
    assert pa.types.is_map(table.schema.field("__extra_info").type)
    assert table.column("__executor_info").to_pylist(maps_as_pydicts="strict") == [{}]

    (row,) = table_to_rows(table)
    assert row["y"] == 9
    assert row["__executor_type"] == "direct"
    assert row["__executor_info"] == {}
    assert row["__python_version"] == python_version()
    assert sys.version.split()[0] in row["__python_version"]
    assert row["__run_id"] is None
    computed_at = row["__computed_at"]
    assert computed_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= computed_at <= after + timedelta(seconds=1)


def test_extra_info_names_the_host_and_the_git_state_of_the_code(
    database: InMemoryArrowDatabase,
) -> None:
    _cached(square.pod.packet_function, database)(ListSource([3], "x")).as_table()
    (row,) = _stored_rows(database)
    extra = row["__extra_info"]
    assert isinstance(extra, dict)
    assert extra["host"] == socket.gethostname()
    # this test file lives in the project's git checkout
    assert re.fullmatch(r"[0-9a-f]{40}", extra["git_commit"])
    assert extra["git_dirty"] in {"true", "false"}
    assert int(extra["git_untracked_count"]) >= 0
    assert all(isinstance(value, str) for value in extra.values())


def test_execution_context_with_local_executor_records_it(
    database: InMemoryArrowDatabase,
) -> None:
    @function_pod(output_keys="y")
    def cube(x: int) -> int:
        return x**3

    cube.pod.executor = LocalExecutor(max_records=5, passthrough=False)
    out = _cached(cube.pod.packet_function, database)(ListSource([2], "x")).as_table()
    assert out.column("y").to_pylist() == [8]

    (row,) = _stored_rows(database)
    assert row["__executor_type"] == "local"
    assert row["__executor_info"] == LocalExecutor(max_records=5).get_executor_data()
    assert row["__executor_info"]["capture"] == "sys"
    assert row["__executor_info"]["max_records"] == "5"


def test_execution_data_schema_is_declared() -> None:
    function = square.pod.packet_function
    data = function.get_execution_data()
    assert list(data) == list(function.get_execution_data_schema())
    assert function.get_execution_data_schema() == EXECUTION_DATA_SCHEMA
    assert data["executor_type"] == "direct"


def test_git_info_outside_any_repository_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert git_info(outside) == {}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=orcapod", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_git_info_reads_commit_dirty_flag_and_untracked_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "analysis.py").write_text("x = 1\n")
    _git(repo, "add", "analysis.py")
    _git(repo, "commit", "-q", "-m", "first")
    for i in range(MAX_UNTRACKED_LISTED + 5):
        (repo / f"scratch_{i:02d}.txt").write_text("tmp")

    clean = git_info(repo)
    assert clean["git_commit"] == _git(repo, "rev-parse", "HEAD")
    assert clean["git_dirty"] == "false"
    assert Path(clean["git_repository"]).resolve() == repo.resolve()
    assert clean["git_untracked_count"] == str(MAX_UNTRACKED_LISTED + 5)
    listed = clean["git_untracked_files"].splitlines()
    assert len(listed) == MAX_UNTRACKED_LISTED
    assert all(name.startswith("scratch_") for name in listed)

    (repo / "analysis.py").write_text("x = 2\n")
    dirty = git_info(repo / "sub")  # another folder: not the cached answer
    assert dirty["git_dirty"] == "true"
    assert dirty["git_commit"] == clean["git_commit"]


def test_git_info_in_a_repository_without_commits_has_no_commit(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    _git(repo, "init", "-q")
    info = git_info(repo)
    assert "git_commit" not in info
    assert Path(info["git_repository"]).resolve() == repo.resolve()


def test_extra_info_falls_back_to_the_working_directory_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_dir = tmp_path / "outside"
    module_dir.mkdir()
    repo = tmp_path / "work"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "notes.txt").write_text("n")
    _git(repo, "add", "notes.txt")
    _git(repo, "commit", "-q", "-m", "first")
    module = _import_module(module_dir, "elsewhere", ELSEWHERE)
    monkeypatch.chdir(repo)

    info = extra_info(module.f)
    assert info["host"] == socket.gethostname()
    assert info["git_commit"] == _git(repo, "rev-parse", "HEAD")
    assert Path(info["git_repository"]).resolve() == repo.resolve()


def test_extra_info_outside_any_repository_is_only_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _import_module(tmp_path, "nowhere", ELSEWHERE)
    monkeypatch.chdir(tmp_path)
    assert extra_info(module.f) == {"host": socket.gethostname()}


ELSEWHERE = """
def f(x: int) -> int:
    return x
"""


def _import_module(folder: Path, name: str, source: str) -> ModuleType:
    file = folder / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(f"orcapod_test_{folder.name}_{name}", file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_git_info_inside_this_checkout_reads_the_commit() -> None:
    info = git_info(Path(__file__).resolve().parent)
    assert re.fullmatch(r"[0-9a-f]{40}", info["git_commit"])
    assert info["git_dirty"] in {"true", "false"}
    assert Path(info["git_repository"]).is_dir()
    assert Path(__file__).resolve().is_relative_to(Path(info["git_repository"]).resolve())


# stored values --------------------------------------------------------------


def test_aware_datetime_outputs_are_stored_and_returned_in_utc(
    database: InMemoryArrowDatabase,
) -> None:
    pod = _cached(local_noon.pod.packet_function, database)
    expected = [datetime(2024, 3, d, 12, 0, tzinfo=PLUS_02) for d in (1, 2)]

    first = pod(ListSource([1, 2], "day")).as_table()
    CALLS.clear()
    second = pod(ListSource([1, 2], "day")).as_table()
    assert CALLS == []

    for table in (first, second):
        values = table.column("at").to_pylist()
        assert values == expected  # the same instants
        assert all(value.utcoffset() == timedelta(0) for value in values)
        assert values[0].hour == 10

    (path,) = database.list_paths()
    stored = database.get_all_records(path)
    assert stored is not None
    assert stored.schema.field("at").type.tz == "UTC"
    assert stored.column("at").to_pylist() == expected


def test_cached_tuple_outputs_read_back_with_their_types(database: InMemoryArrowDatabase) -> None:
    pod = _cached(summarise.pod.packet_function, database)
    rows = [{"id": i, "x": i, "y": 10 * i} for i in range(4)]
    first = pod(DictSource(rows, tag_columns="id")).as_table()
    second = pod(DictSource(rows, tag_columns="id")).as_table()
    assert sorted(CALLS) == [0, 1, 2, 3]
    assert second.equals(first)
    assert second.schema.field("total").type == pa.int64()
    assert second.column("text").to_pylist() == ["0+0", "1+10", "2+20", "3+30"]


@function_pod(output_keys=["maybe", "labels"])
def optional_and_map(x: int) -> tuple[int | None, dict[str, str]]:
    CALLS.append(x)
    return (None if x % 2 else x), ({} if x == 0 else {"n": str(x)})


def test_optional_and_map_outputs_mix_cached_and_computed_rows(
    database: InMemoryArrowDatabase,
) -> None:
    pod = _cached(optional_and_map.pod.packet_function, database)
    pod(ListSource([1, 2], "x")).as_table()
    CALLS.clear()

    out = pod(ListSource([0, 1, 2, 3, 4], "x")).as_table()
    assert sorted(CALLS) == [0, 3, 4]
    rows = table_to_rows(out)
    assert [row["maybe"] for row in rows] == [0, None, 2, None, 4]
    assert [row["labels"] for row in rows] == [{}, {"n": "1"}, {"n": "2"}, {"n": "3"}, {"n": "4"}]
    assert pa.types.is_map(out.schema.field("labels").type)
