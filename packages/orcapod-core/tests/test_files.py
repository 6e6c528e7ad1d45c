"""File and Directory values: identity by content, the digest cache, the file store.

What is protected: editing an input file recomputes exactly its packet and
moving it recomputes nothing; a run over unchanged files reads none of them;
files a function returns outlive its scratch directory, are stored once per
content, and a stored result naming a missing or altered file is computed
again (never returned stale); ``verify`` reads the stored files again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orcapod.core import (
    DictSource,
    Directory,
    File,
    InMemoryArrowDatabase,
    OrcapodError,
    Pipeline,
    function_pod,
    scratch_dir,
)
from orcapod.core._verify import verify_store
from orcapod.core.errors import (
    FileContentError,
    FileStoreWarning,
    PathIdentityWarning,
    TypeMismatchError,
)
from orcapod.core.files import FileHasher, FileStore, hashing_with
from orcapod.core.files._digests import CACHE_PATH
from orcapod.core.hashing import hash_schema, hash_table_rows
from orcapod.core.types import Schema, to_arrow_table, to_pylist


def _old(path: Path) -> Path:
    """Backdate a file's mtime a minute, out of the racy window, so its digest is cached."""
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return _old(path)


def _row_hash(value: File | Directory) -> str:
    schema = Schema({"v": type(value)})
    return hash_table_rows(to_arrow_table({"v": [value]}, schema))[0]


# -- identity ----------------------------------------------------------------------


def test_a_file_is_identified_by_its_bytes_not_its_path(tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "data.txt", "3")
    second = _write(tmp_path / "b" / "copy.txt", "3")
    assert _row_hash(File(first)) == _row_hash(File(second))
    second.write_text("8")
    assert _row_hash(File(first)) != _row_hash(File(second))


def test_the_file_digest_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "hello.txt", "hello\n")
    # golden: `printf 'hello\n' | sha256sum`
    expected = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert File(path).digest == f"sha256:{expected}"


def test_a_directory_digest_is_a_merkle_digest_of_names_and_contents(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _write(root / "a.txt", "alpha")
    _write(root / "sub" / "b.txt", "beta")
    # golden vector: the layout docs/identity.md describes
    assert Directory(root).digest == (
        "sha256-tree:452ba61de14d76433129ecc3e15f41952feff82c613189ad058fa3b97a69a426"
    )
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    assert Directory(moved).digest == Directory(root).digest


@pytest.mark.parametrize("change", ["add", "remove", "edit", "rename"])
def test_any_nested_change_changes_the_directory_digest(tmp_path: Path, change: str) -> None:
    root = tmp_path / "d"
    _write(root / "x" / "y" / "deep.txt", "1")
    _write(root / "top.txt", "2")
    before = FileHasher().directory_digest(root)
    deep = root / "x" / "y" / "deep.txt"
    if change == "add":
        _write(root / "x" / "new.txt", "3")
    elif change == "remove":
        deep.unlink()
    elif change == "edit":
        deep.write_text("9")
    else:
        deep.rename(root / "x" / "y" / "renamed.txt")
    assert FileHasher().directory_digest(root) != before


def test_ignore_patterns_leave_names_out_of_a_directory_digest(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    _write(root / "mod.py", "x = 1")
    clean = Directory(root, ignore=["__pycache__", "*.tmp"]).digest
    _write(root / "__pycache__" / "mod.cpython-311.pyc", "bytecode")
    _write(root / "scratch.tmp", "junk")
    assert Directory(root, ignore=["__pycache__", "*.tmp"]).digest == clean
    assert Directory(root).digest != clean
    (root / "empty").mkdir()
    assert Directory(root, ignore=["__pycache__", "*.tmp"]).digest == clean


def test_unreadable_and_wrong_kinds_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileContentError, match="does not exist"):
        FileHasher().file_digest(tmp_path / "missing.txt")
    with pytest.raises(FileContentError, match="is a directory; annotate it as Directory"):
        FileHasher().file_digest(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileContentError, match="is not a directory"):
        FileHasher().directory_digest(tmp_path / "f")
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "again").symlink_to(loop)
    with pytest.raises(FileContentError, match="symbolic link loop"):
        FileHasher().directory_digest(loop)
    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "pipe")
    with pytest.raises(FileContentError, match="neither a file nor a directory"):
        FileHasher().directory_digest(fifo_dir)
    with pytest.raises(TypeMismatchError, match="does not exist"):
        to_arrow_table({"f": [File(tmp_path / "missing.txt")]}, Schema({"f": File}))
    with pytest.raises(TypeMismatchError, match=r"wrap the path: File\("):
        to_arrow_table({"f": [tmp_path / "f"]}, Schema({"f": File}))


def test_file_and_directory_round_trip_through_arrow_and_pickle(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.wav", "samples")
    schema = Schema({"f": File, "d": Directory | None, "many": list[File]})
    table = to_arrow_table(
        {"f": [File(path)], "d": [Directory(tmp_path)], "many": [[File(path), File(path)]]},
        schema,
    )
    assert Schema.from_arrow(table.schema) == schema
    (back,) = to_pylist(table.column("f"), File)
    assert back == File(path)
    assert back.digest == File(path).digest
    assert back.read_text() == "samples"
    assert back.suffix == ".wav"
    assert back.name == "r.wav"
    with back.open() as handle:
        assert handle.read() == "samples"
    assert os.fspath(back) == str(path)
    assert back / "x" == path / "x"
    again = pickle.loads(pickle.dumps(back))
    assert again == back
    assert again.digest_known
    directory = pickle.loads(pickle.dumps(Directory(tmp_path, ignore=["*.tmp"])))
    assert directory.ignore == ("*.tmp",)


def test_the_schema_hash_says_file_not_the_path(tmp_path: Path) -> None:
    assert hash_schema(Schema({"f": File}).to_arrow()) != hash_schema(
        Schema({"f": Directory}).to_arrow()
    )
    assert hash_schema(Schema({"f": File}).to_arrow()) != hash_schema(
        Schema({"f": Path}).to_arrow()
    )


@settings(max_examples=40, deadline=None)
@given(content=st.binary(max_size=4096))
def test_file_digest_matches_hashlib_for_any_bytes(content: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blob"
        path.write_bytes(content)
        expected = hashlib.sha256(content).hexdigest()
        assert FileHasher(strict=True).file_digest(path) == f"sha256:{expected}"


@settings(max_examples=25, deadline=None)
@given(
    files=st.dictionaries(
        st.lists(st.sampled_from(["a", "b", "ü", "sub", "x y"]), min_size=1, max_size=3).map(
            "/".join
        ),
        st.binary(max_size=64),
        max_size=6,
    ),
    reverse=st.booleans(),
)
def test_a_directory_digest_does_not_depend_on_creation_order(
    files: dict[str, bytes], reverse: bool
) -> None:
    import tempfile

    # A name that is also another's parent directory cannot exist on disk.
    names = sorted(files)
    names = [n for n in names if not any(o.startswith(n + "/") for o in names)]
    digests = []
    for order in (names, list(reversed(names)) if reverse else names):
        with tempfile.TemporaryDirectory() as folder:
            for name in order:
                path = Path(folder) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(files[name])
            digests.append(FileHasher().directory_digest(folder))
    assert digests[0] == digests[1]


# -- the digest cache ----------------------------------------------------------------


def test_the_cache_spares_reading_unchanged_files_across_hashers(tmp_path: Path) -> None:
    database = InMemoryArrowDatabase()
    paths = [_write(tmp_path / f"{i}.bin", str(i) * 100) for i in range(20)]
    first = FileHasher(database)
    digests = first.file_digests(paths)
    assert first.reads == 20
    first.flush()
    second = FileHasher(database)  # another run (or process) on the same store
    assert second.file_digests(paths) == digests
    assert second.reads == 0
    paths[3].write_text("changed")  # a changed stat means a rehash
    third = FileHasher(database)
    assert third.file_digests(paths)[3] != digests[3]
    assert third.reads == 1
    strict = FileHasher(database, strict=True)
    strict.file_digests(paths)
    assert strict.reads == 20


def test_a_file_modified_within_the_racy_window_is_not_cached(tmp_path: Path) -> None:
    path = tmp_path / "fresh.txt"
    path.write_text("just written")
    hasher = FileHasher(InMemoryArrowDatabase())
    hasher.file_digest(path)
    hasher.file_digest(path)
    assert hasher.reads == 2  # an edit in the same mtime tick could otherwise go unseen
    _old(path)
    hasher.file_digest(path)
    hasher.file_digest(path)
    assert hasher.reads == 3


# -- pipelines ------------------------------------------------------------------------


@function_pod(output_keys="value")
def read_value(data: File) -> int:
    return int(data.read_text())


def _values_pipeline(database: object, folder: Path) -> Pipeline:
    rows = [{"subject": name, "data": File(folder / f"{name}.txt")} for name in ("a", "b", "c")]
    pipeline = Pipeline("values", database)  # type: ignore[arg-type]
    with pipeline:
        read_value.pod(DictSource(rows, tag_columns=["subject"]), label="read")
    return pipeline


def test_editing_one_input_file_recomputes_exactly_its_packet(tmp_path: Path) -> None:
    for name, value in (("a", "1"), ("b", "2"), ("c", "3")):
        _write(tmp_path / f"{name}.txt", value)
    database = InMemoryArrowDatabase()
    first = _values_pipeline(database, tmp_path).run()
    assert first.nodes["read"].computed == 3
    (tmp_path / "b.txt").write_text("8")  # the bug this fixes: "1 cached", value = 2
    pipeline = _values_pipeline(database, tmp_path)
    second = pipeline.run()
    assert (second.nodes["read"].computed, second.nodes["read"].cached) == (1, 2)
    values = {row["subject"]: row["value"] for row in pipeline.nodes["read"].as_table().to_pylist()}
    assert values == {"a": 1, "b": 8, "c": 3}


def test_moving_unchanged_inputs_recomputes_nothing(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for name in "abc":
        _write(old / f"{name}.txt", "5")
    database = InMemoryArrowDatabase()
    _values_pipeline(database, old).run()
    old.rename(new)
    again = _values_pipeline(database, new).run()
    assert (again.nodes["read"].computed, again.nodes["read"].cached) == (0, 3)


@function_pod(output_keys="plot")
def plot(value: int) -> File:
    out = scratch_dir() / "plot.txt"
    out.write_text(f"plot of {value}")
    (scratch_dir() / "leftover.log").write_text("not returned")
    return File(out)


def _plot_pipeline(database: object, values: list[int], **options: object) -> Pipeline:
    pipeline = Pipeline("plots", database, **options)  # type: ignore[arg-type]
    rows = [{"i": i, "value": v} for i, v in enumerate(values)]
    with pipeline:
        plot.pod(DictSource(rows, tag_columns=["i"]), label="plot")
    return pipeline


def _stored_paths(pipeline: Pipeline, label: str = "plot") -> list[Path]:
    column = pipeline.nodes[label].as_table().column(label)
    return [Path(value["path"]) for value in column.to_pylist()]


def test_returned_files_are_kept_once_per_content_and_scratch_is_removed(tmp_path: Path) -> None:
    store = tmp_path / "files"
    pipeline = _plot_pipeline(InMemoryArrowDatabase(), [1, 1, 2], file_store=store)
    result = pipeline.run()
    assert result.nodes["plot"].computed == 2  # the repeated packet is computed once
    paths = _stored_paths(pipeline)
    assert paths[0] == paths[1]
    assert paths[0] != paths[2]
    assert all(
        path.is_relative_to(store) and path.read_text().startswith("plot of") for path in paths
    )
    objects = [p for p in (store / "sha256").rglob("*") if p.is_file()]
    assert len(objects) == 2
    assert not any((store / "scratch").iterdir())  # leftovers and all
    assert not any((store / "incoming").iterdir())
    assert Path(paths[0]).read_text() == "plot of 1"
    assert not os.access(paths[0], os.W_OK) or os.geteuid() == 0  # stored read-only


@pytest.mark.parametrize("damage", ["delete", "alter"])
def test_a_damaged_stored_output_is_recomputed_never_returned_stale(
    tmp_path: Path, damage: str
) -> None:
    database = InMemoryArrowDatabase()
    store = tmp_path / "files"
    pipeline = _plot_pipeline(database, [1, 2], file_store=store)
    pipeline.run()
    victim = _stored_paths(pipeline)[0]
    os.chmod(victim, 0o644)
    if damage == "delete":
        victim.unlink()
    else:
        victim.write_text("tampered")
    pipeline = _plot_pipeline(database, [1, 2], file_store=store)
    assert len(pipeline.nodes["plot"].as_table()) == 1  # the damaged one is left out
    with pytest.warns(FileStoreWarning, match="missing or altered"):
        again = pipeline.run()
    assert (again.nodes["plot"].computed, again.nodes["plot"].cached) == (1, 1)
    assert _stored_paths(pipeline)[0].read_text() == "plot of 1"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = _plot_pipeline(database, [1, 2], file_store=store).run()
    assert third.nodes["plot"].cached == 2


_COUNTER: list[int] = []


@function_pod(output_keys="report")
def noisy(value: int) -> File:
    _COUNTER.append(value)
    out = scratch_dir() / "report.txt"
    out.write_text(f"{value} at attempt {len(_COUNTER)}")  # not deterministic
    return File(out)


def test_a_repaired_result_that_differs_is_used_and_itself_repaired(tmp_path: Path) -> None:
    database, store = InMemoryArrowDatabase(), tmp_path / "files"

    def build() -> Pipeline:
        pipeline = Pipeline("noisy", database, file_store=store)
        with pipeline:
            noisy.pod(DictSource([{"i": 0, "value": 7}], tag_columns=["i"]), label="report")
        return pipeline

    build().run()
    for attempt in range(3):  # damage the result in use, three times over
        (path,) = _stored_paths(build(), "report")
        os.chmod(path, 0o644)
        path.unlink()
        with pytest.warns(FileStoreWarning):
            assert build().run().nodes["report"].computed == 1
        (now,) = _stored_paths(build(), "report")
        assert now.exists(), attempt
        assert now != path, attempt
    assert build().run().nodes["report"].cached == 1


@function_pod(output_keys="same")
def passthrough(data: File) -> File:
    return data


def test_returning_an_input_file_copies_it_and_leaves_the_input(tmp_path: Path) -> None:
    source = _write(tmp_path / "input.txt", "keep me")
    pipeline = Pipeline("pass", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        passthrough.pod(
            DictSource([{"i": 0, "data": File(source)}], tag_columns=["i"]), label="same"
        )
    pipeline.run()
    assert source.read_text() == "keep me"
    (stored,) = _stored_paths(pipeline, "same")
    assert stored.is_relative_to(tmp_path / "files")
    assert stored.read_text() == "keep me"


@function_pod(output_keys="out")
def returns_missing(value: int) -> File:
    return File(scratch_dir() / "never-written.txt")


def test_returning_a_missing_file_fails_the_packet_clearly(tmp_path: Path) -> None:
    pipeline = Pipeline("missing", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        returns_missing.pod(DictSource([{"i": 0, "value": 1}], tag_columns=["i"]), label="out")
    result = pipeline.run()
    (failure,) = result.failures
    assert "never-written.txt" in failure.message
    assert "does not exist" in failure.message
    assert not any((tmp_path / "files" / "scratch").iterdir())


@function_pod(output_keys="tree")
def make_tree(n: int) -> Directory:
    root = scratch_dir() / "tree"
    for i in range(n):
        (root / "nested").mkdir(parents=True, exist_ok=True)
        (root / "nested" / f"{i}.txt").write_text(str(i))
    (root / "cache.tmp").write_text("dropped")
    return Directory(root, ignore=["*.tmp"])


def test_directory_outputs_are_stored_as_trees_without_ignored_names(tmp_path: Path) -> None:
    pipeline = Pipeline("trees", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        make_tree.pod(DictSource([{"i": 0, "n": 3}], tag_columns=["i"]), label="tree")
    pipeline.run()
    (stored,) = _stored_paths(pipeline, "tree")
    assert sorted(p.name for p in stored.rglob("*") if p.is_file()) == ["0.txt", "1.txt", "2.txt"]
    assert stored.parent.parent.name == "sha256-tree"
    assert Directory(stored).digest == stored.name.join(("sha256-tree:", ""))


def test_file_outputs_work_with_the_async_orchestrator(tmp_path: Path) -> None:
    pipeline = _plot_pipeline(InMemoryArrowDatabase(), list(range(8)), file_store=tmp_path / "f")
    result = pipeline.run("async")
    assert result.nodes["plot"].computed == 8
    assert [p.read_text() for p in _stored_paths(pipeline)] == [f"plot of {i}" for i in range(8)]


def test_scratch_dir_outside_a_file_returning_function_is_an_error() -> None:
    with pytest.raises(OrcapodError, match="only available while orcapod runs a function"):
        scratch_dir()


@function_pod(output_keys="n")
def by_name(where: Path) -> int:
    return len(str(where))


def test_a_path_parameter_naming_a_file_warns_once_per_node(tmp_path: Path) -> None:
    files = [_write(tmp_path / f"{i}.txt", "x") for i in range(3)]
    pipeline = Pipeline("names", InMemoryArrowDatabase())
    with pipeline:
        by_name.pod(
            DictSource([{"i": i, "where": f} for i, f in enumerate(files)], tag_columns=["i"])
        )
    with pytest.warns(PathIdentityWarning, match="annotate File or Directory") as caught:
        pipeline.run()
    assert len([w for w in caught if w.category is PathIdentityWarning]) == 1


def test_verify_reads_stored_files_again(tmp_path: Path) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _plot_pipeline(database, [1, 2], file_store=tmp_path / "files")
    pipeline.run()
    report = verify_store(database)
    assert report.files == 2
    assert not report.problems
    victim = _stored_paths(pipeline)[1]
    os.chmod(victim, 0o644)
    victim.write_text("bit rot")
    (problem,) = verify_store(database).problems
    assert problem.kind == "file"
    assert str(victim) in problem.describe()
    with pytest.warns(FileStoreWarning):
        _plot_pipeline(database, [1, 2], file_store=tmp_path / "files").run()
    assert not verify_store(database).problems  # repaired: the repair is intact


def test_the_store_cache_lives_in_the_pipelines_store(tmp_path: Path) -> None:
    for name in "abc":
        _write(tmp_path / f"{name}.txt", "4")
    database = InMemoryArrowDatabase()
    hasher = FileHasher(database)
    with hashing_with(hasher):
        assert File(tmp_path / "a.txt").digest.startswith("sha256:")
    stored = database.get_all_records(CACHE_PATH)
    assert stored is not None
    assert stored.column("path").to_pylist() == [str(tmp_path / "a.txt")]


def test_file_store_keep_is_atomic_and_idempotent(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    source = _write(tmp_path / "x.txt", "payload")
    first = store.keep(File(source))
    second = store.keep(File(source))
    assert first == second
    assert source.exists()
    assert store.intact(first.path, first.digest)
    os.chmod(first.path, 0o644)
    first.path.write_text("other")
    assert not store.intact(first.path, first.digest)
    third = store.keep(File(source))  # an altered object is replaced
    assert third.path.read_text() == "payload"


def test_a_path_given_twice_is_read_once_and_a_file_changing_while_read_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "growing.log", "start")
    hasher = FileHasher(InMemoryArrowDatabase())
    assert len(set(hasher.file_digests([path, path, path]))) == 1
    assert hasher.reads == 1
    other = _write(tmp_path / "other.log", "start")
    real_fstat = os.fstat

    def fstat_after_an_append(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        return os.stat_result((*info[:6], info.st_size + 1, *info[7:]))

    monkeypatch.setattr(os, "fstat", fstat_after_an_append)
    hasher.file_digest(other)
    monkeypatch.undo()
    hasher.file_digest(other)
    assert hasher.reads == 3  # the digest of a file that moved under the read is not kept


# -- what a hostile tester found -------------------------------------------------------


def test_an_input_edited_after_its_source_read_it_is_never_computed_or_found_stale(
    tmp_path: Path,
) -> None:
    from orcapod.core.errors import FileChangedError

    path = _write(tmp_path / "in.txt", "4")
    database = InMemoryArrowDatabase()

    def build() -> Pipeline:
        pipeline = Pipeline("edits", database)
        with pipeline:
            rows = [{"i": 0, "data": File(path)}]
            read_value.pod(DictSource(rows, tag_columns=["i"]), label="read")
        return pipeline

    stale = build()  # its source took the digest of "4"
    _write(path, "7")
    result = stale.run()
    (failure,) = result.failures
    assert failure.error_type == FileChangedError.__name__
    assert "Make the source again" in failure.message
    fresh = build()
    assert fresh.run().nodes["read"].computed == 1
    assert fresh.nodes["read"].as_table().column("value").to_pylist() == [7]
    _write(path, "4")  # back to the content of the stale source's digest...
    _write(path, "9")  # ...and away again: the result of "4" is never served for "9"
    assert stale.run().failures
    claimed = File(path, digest="sha256:" + "0" * 64)  # a digest that is not the content
    with pytest.raises(FileChangedError, match="changed after its digest was taken"):
        read_value.pod(DictSource([{"i": 0, "data": claimed}], tag_columns=["i"])).as_table()


@function_pod(output_keys="out")
def link_and_return(data: File) -> File:
    linked = scratch_dir() / "inputs"
    linked.symlink_to(data.parent)
    return File(linked / data.name)


@function_pod(output_keys="out")
def hardlink_and_return(data: File) -> File:
    linked = scratch_dir() / "hard.txt"
    os.link(data.path, linked)
    return File(linked)


@pytest.mark.parametrize("function", [link_and_return, hardlink_and_return])
def test_an_input_reached_through_a_link_in_scratch_is_copied_not_taken(
    tmp_path: Path, function: object
) -> None:
    source = _write(tmp_path / "inputs" / "raw.txt", "precious")
    pipeline = Pipeline("links", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        function.pod(  # type: ignore[attr-defined]
            DictSource([{"i": 0, "data": File(source)}], tag_columns=["i"]), label="out"
        )
    result = pipeline.run()
    assert not result.failures
    assert source.read_text() == "precious"
    assert os.access(source, os.W_OK)  # not made read-only through a shared inode
    (stored,) = _stored_paths(pipeline, "out")
    assert stored.read_text() == "precious"
    assert os.stat(stored).st_ino != os.stat(source).st_ino


def test_concurrent_keeps_of_the_same_content_all_succeed(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = FileStore(tmp_path / "store")

    def keep(i: int) -> str:
        scratch = store.new_scratch()
        (scratch / "tree").mkdir(parents=True)
        (scratch / "tree" / "a.txt").write_text("same")
        (scratch / "one.txt").write_text("same")
        kept_file = store.keep(File(scratch / "one.txt"), hasher=FileHasher())
        kept_tree = store.keep(Directory(scratch / "tree"), hasher=FileHasher())
        store.discard_scratch(scratch)
        return f"{kept_file.digest} {kept_tree.digest}"

    with ThreadPoolExecutor(8) as pool:
        kept = list(pool.map(keep, range(64)))
    assert len(set(kept)) == 1
    assert [p.name for p in (store.root / "sha256-tree").rglob("a.txt")] == ["a.txt"]


@function_pod(output_keys=("tree", "inner"))
def tree_and_file(n: int) -> tuple[Directory, File]:
    root = scratch_dir() / "tree"
    root.mkdir()
    (root / "a.txt").write_text(str(n))
    (root / "b.txt").write_text("b")
    return Directory(root), File(root / "a.txt")


def test_a_file_returned_inside_a_returned_directory_is_kept_whole(tmp_path: Path) -> None:
    pipeline = Pipeline("nested", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        tree_and_file.pod(DictSource([{"i": 0, "n": 5}], tag_columns=["i"]), label="t")
    assert not pipeline.run().failures
    (row,) = pipeline.nodes["t"].as_table().to_pylist()
    assert sorted(p.name for p in Path(row["tree"]["path"]).iterdir()) == ["a.txt", "b.txt"]
    assert Path(row["inner"]["path"]).read_text() == "5"
    assert not verify_store(pipeline.database).problems


@function_pod(output_keys="same")
def same_directory(folder: Directory) -> Directory:
    return folder


def test_a_directory_returned_as_it_came_keeps_its_ignore_patterns(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _write(folder / "keep.txt", "k")
    _write(folder / "junk.tmp", "j")
    database = InMemoryArrowDatabase()

    def build() -> Pipeline:
        pipeline = Pipeline("dirs", database, file_store=tmp_path / "files")
        with pipeline:
            rows = [{"i": 0, "folder": Directory(folder, ignore=["*.tmp"])}]
            same_directory.pod(DictSource(rows, tag_columns=["i"]), label="same")
        return pipeline

    first = build()
    assert not first.run().failures
    (stored,) = _stored_paths(first, "same")
    assert [p.name for p in stored.iterdir()] == ["keep.txt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build().run().nodes["same"].cached == 1


@function_pod(output_keys="out")
def claims_a_digest(value: int) -> File:
    out = scratch_dir() / "x.txt"
    out.write_text(str(value))
    return File(out, digest="sha256:" + "ab" * 32)


def test_a_claimed_digest_that_is_not_the_content_fails_the_packet(tmp_path: Path) -> None:
    pipeline = Pipeline("claims", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        claims_a_digest.pod(DictSource([{"i": 0, "value": 1}], tag_columns=["i"]), label="out")
    (failure,) = pipeline.run().failures
    assert "changed while it was being kept" in failure.message
    assert not list((tmp_path / "files" / "sha256").rglob("*.txt"))


@function_pod(output_keys="tree")
def linked_tree(n: int) -> Directory:
    outside = scratch_dir().parent.parent / f"outside-{n}.txt"
    outside.write_text("outside")
    root = scratch_dir() / "tree"
    root.mkdir()
    (root / "link.txt").symlink_to(outside)
    return Directory(root)


def test_a_stored_directory_holds_read_only_copies_not_links(tmp_path: Path) -> None:
    pipeline = Pipeline("linked", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        linked_tree.pod(DictSource([{"i": 0, "n": 1}], tag_columns=["i"]), label="tree")
    pipeline.run()
    (stored,) = _stored_paths(pipeline, "tree")
    copy = stored / "link.txt"
    assert not copy.is_symlink()
    assert copy.read_text() == "outside"
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o444


def test_an_output_file_is_read_once_and_never_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orcapod.core.files import _digests, _store

    reads: list[Path] = []
    real_read, real_digest = _digests.FileHasher._read, _store.read_digest

    def counting_read(self: FileHasher, path: Path, info: os.stat_result) -> tuple[str, bool]:
        reads.append(path)
        return real_read(self, path, info)

    def counting_digest(path: Path) -> str:
        reads.append(path)
        return real_digest(path)

    monkeypatch.setattr(_digests.FileHasher, "_read", counting_read)
    monkeypatch.setattr(_store, "read_digest", counting_digest)
    database = InMemoryArrowDatabase()
    _plot_pipeline(database, [1, 2, 3], file_store=tmp_path / "files").run()
    assert len(reads) == 3  # each output, once: in incoming/, before it is named
    reads.clear()
    assert _plot_pipeline(database, [1, 2, 3], file_store=tmp_path / "files").run().n_cached == 3
    assert reads == []


def test_scratch_left_by_a_killed_process_is_swept(tmp_path: Path) -> None:
    from orcapod.core.files._store import _HOST

    store = FileStore(tmp_path / "store")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    left = store.scratch_root / f"{_HOST}-{dead}-{'0' * 32}"
    (left / "big").mkdir(parents=True)
    mine = store.scratch_root / f"{_HOST}-{os.getpid()}-{'1' * 32}"
    mine.mkdir()
    other_host = store.scratch_root / f"elsewhere-{dead}-{'2' * 32}"
    other_host.mkdir()
    store.new_scratch()
    assert not left.exists()
    assert mine.exists()
    assert other_host.exists()


@function_pod(output_keys=("inner", "tree"))
def file_then_tree(n: int) -> tuple[File, Directory]:
    root = scratch_dir() / "tree"
    root.mkdir()
    (root / "x.txt").write_text(str(n))
    return File(root / "x.txt"), Directory(root)


@function_pod(output_keys=("first", "second"))
def same_file_twice(n: int) -> tuple[File, list[File]]:
    out = scratch_dir() / "x.txt"
    out.write_text(str(n))
    return File(out), [File(out), File(out)]


@pytest.mark.parametrize("function", [file_then_tree, same_file_twice])
def test_a_file_returned_twice_is_kept_everywhere_it_is_named(
    tmp_path: Path, function: object
) -> None:
    pipeline = Pipeline("twice", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        function.pod(  # type: ignore[attr-defined]
            DictSource([{"i": 0, "n": 3}], tag_columns=["i"]), label="out"
        )
    assert not pipeline.run().failures
    (row,) = pipeline.nodes["out"].as_table().drop_columns(["i"]).to_pylist()
    for value in row.values():
        for stored in value if isinstance(value, list) else [value]:
            path = Path(stored["path"])
            assert (path / "x.txt" if path.is_dir() else path).read_text() == "3"
    assert not verify_store(pipeline.database).problems


@function_pod(output_keys="out")
def edits_and_returns(data: File) -> File:
    os.chmod(data.path, 0o644)
    data.path.write_text("edited in place")
    return data  # still claiming the digest of what it was given


def test_a_returned_value_claiming_another_stored_content_fails(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.txt", "original")
    pipeline = Pipeline("claims2", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    pipeline.file_store.keep(File(source))  # the original content is stored already
    with pipeline:
        edits_and_returns.pod(
            DictSource([{"i": 0, "data": File(source)}], tag_columns=["i"]), label="out"
        )
    (failure,) = pipeline.run().failures
    assert "changed while it was being kept" in failure.message


def test_the_incoming_copy_of_a_killed_process_is_swept(tmp_path: Path) -> None:
    from orcapod.core.files._store import _HOST

    store = FileStore(tmp_path / "store")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (store.root / "incoming").mkdir(parents=True)
    left = store.root / "incoming" / f"{_HOST}-{dead}-{'0' * 32}"
    left.write_bytes(b"half a copy")
    os.chmod(left, 0o444)
    store.sweep_scratch()
    assert not left.exists()


def test_as_table_leaves_out_rows_whose_input_files_changed(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.txt", "4")
    pipeline = Pipeline("stale-view", InMemoryArrowDatabase())
    with pipeline:
        read_value.pod(DictSource([{"i": 0, "data": File(path)}], tag_columns=["i"]), label="read")
    pipeline.run()
    assert len(pipeline.nodes["read"].as_table()) == 1
    _write(path, "5")
    assert len(pipeline.nodes["read"].as_table()) == 0  # never the value of "4" for "5"


def test_rows_sharing_a_damaged_packet_all_find_its_repair(tmp_path: Path) -> None:
    database, store = InMemoryArrowDatabase(), tmp_path / "files"
    pipeline = _plot_pipeline(database, [1, 1, 2], file_store=store)
    pipeline.run()
    victim = _stored_paths(pipeline)[0]
    os.chmod(victim, 0o644)
    victim.unlink()
    with pytest.warns(FileStoreWarning):
        _plot_pipeline(database, [1, 1, 2], file_store=store).run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = _plot_pipeline(database, [1, 1, 2], file_store=store).run()
    assert (again.n_computed, again.n_cached) == (0, 3)


def test_moving_the_store_and_its_files_keeps_every_result(tmp_path: Path) -> None:
    database = InMemoryArrowDatabase()
    before, after = tmp_path / "project" / "files", tmp_path / "moved" / "files"
    pipeline = _plot_pipeline(database, [1, 2, 3], file_store=before)
    pipeline.run()
    after.parent.mkdir()
    before.rename(after)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moved = _plot_pipeline(database, [1, 2, 3], file_store=after)
        result = moved.run()
    assert (result.n_computed, result.n_cached) == (0, 3)
    paths = _stored_paths(moved)
    assert all(path.is_relative_to(after) for path in paths)
    assert [path.read_text() for path in paths] == ["plot of 1", "plot of 2", "plot of 3"]
