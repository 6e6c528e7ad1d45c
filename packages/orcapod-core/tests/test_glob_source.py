"""GlobSource: the files a path pattern matches become rows, tagged by the pattern's fields."""

from __future__ import annotations

import hashlib
import os
import time
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import Directory, File, GlobSource, Pipeline, function_pod
from orcapod.core.errors import (
    FileContentError,
    SchemaError,
    SourceError,
    TypeMismatchError,
    UnsupportedTypeError,
)
from orcapod.core.files import FileHasher, hashing_with
from orcapod.core.sources import GlobSource as GlobSourceFromSources
from orcapod.core.system_columns import PROVENANCE, check_source_id
from orcapod.core.types import Schema

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from orcapod.protocols.database import ArrowDatabase

AN_HOUR_AGO = time.time() - 3600


def _write(root: Path, relative: str, content: bytes | str, *, old: bool = True) -> Path:
    """Write a file; ``old`` backdates it, so the file-hash cache may keep its digest."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if old:
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return path


def _sha256(data: str) -> str:
    return f"sha256:{hashlib.sha256(data.encode()).hexdigest()}"


def _recordings(root: Path) -> Path:
    for subject in ("m1", "m2"):
        for session in (1, 2):
            _write(root, f"recordings/{subject}/{session}.wav", f"{subject}-{session}")
    return root


def _rows(source: GlobSource) -> list[dict[str, Any]]:
    return [{**tag.as_dict(), **packet.as_dict()} for tag, packet in source.iter_packets()]


class CountingHasher(FileHasher):
    """A FileHasher noting each batch it is asked for."""

    def __init__(self, database: ArrowDatabase | None = None) -> None:
        super().__init__(database)
        self.batches: list[int] = []

    def file_digests(self, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
        self.batches.append(len(paths))
        return super().file_digests(paths)


# -- tags and packets ------------------------------------------------------------------


def test_fields_become_str_tag_columns_and_the_file_a_file_packet_column(tmp_path: Path) -> None:
    source = GlobSource("recordings/{subject}/{session}.wav", root=_recordings(tmp_path))
    tags, packets = source.output_schema()
    assert tags == Schema({"subject": str, "session": str})
    assert packets == Schema({"file": File})
    assert source.keys() == (("subject", "session"), ("file",))
    rows = _rows(source)
    assert [(row["subject"], row["session"]) for row in rows] == [
        ("m1", "1"),
        ("m1", "2"),
        ("m2", "1"),
        ("m2", "2"),
    ]
    first = rows[0]["file"]
    assert isinstance(first, File)
    assert first.path == tmp_path / "recordings" / "m1" / "1.wav"
    assert first.digest_known
    assert first.digest == _sha256("m1-1")
    assert first.read_text() == "m1-1"


def test_the_file_column_stores_path_and_digest(tmp_path: Path) -> None:
    source = GlobSource("recordings/{subject}/{session}.wav", root=_recordings(tmp_path))
    stored = source.as_table().column("file").to_pylist()[3]
    assert stored == {
        "path": str(tmp_path / "recordings" / "m2" / "2.wav"),
        "digest": _sha256("m2-2"),
    }
    assert source.as_table().schema.field("file") == Schema({"file": File}).to_arrow().field(0)


def test_declared_int_fields_are_int_tag_columns(tmp_path: Path) -> None:
    source = GlobSource(
        "recordings/{subject}/{session}.wav",
        root=_recordings(tmp_path),
        field_types={"session": int},
    )
    assert source.output_schema()[0] == Schema({"subject": str, "session": int})
    assert source.as_table().column("session").to_pylist() == [1, 2, 1, 2]


def test_int_fields_read_signs_and_leading_zeros(tmp_path: Path) -> None:
    for name in ("007", "-3"):
        _write(tmp_path, f"{name}.txt", name)
    source = GlobSource("{n}.txt", root=tmp_path, field_types={"n": int})
    assert sorted(source.as_table().column("n").to_pylist()) == [-3, 7]


@pytest.mark.parametrize("name", ["x1", "1.5", "1_000", " 1", "99999999999999999999"])
def test_an_int_field_whose_text_is_not_an_integer_is_refused_naming_the_path(
    tmp_path: Path, name: str
) -> None:
    _write(tmp_path, "s/1.wav", "ok")
    _write(tmp_path, f"s/{name}.wav", "bad")
    with pytest.raises(TypeMismatchError, match=rf"'session'.*'s/{name}\.wav'.*not a 64-bit"):
        GlobSource("{subject}/{session}.wav", root=tmp_path, field_types={"session": int})


def test_several_fields_in_one_component_earlier_fields_take_the_most(tmp_path: Path) -> None:
    _write(tmp_path, "mouse_a_3.wav", "x")
    source = GlobSource("{subject}_{session}.wav", root=tmp_path, field_types={"session": int})
    assert _rows(source)[0]["subject"] == "mouse_a"
    assert _rows(source)[0]["session"] == 3


def test_a_field_matches_within_one_path_component(tmp_path: Path) -> None:
    _write(tmp_path, "a/x.txt", "1")
    _write(tmp_path, "a/b/x.txt", "2")
    source = GlobSource("{name}/x.txt", root=tmp_path)
    assert source.relative_paths == ("a/x.txt",)


def test_the_packet_column_can_be_named(tmp_path: Path) -> None:
    source = GlobSource(
        "recordings/{subject}/{session}.wav", root=_recordings(tmp_path), packet_column="audio"
    )
    assert source.keys()[1] == ("audio",)
    assert isinstance(_rows(source)[0]["audio"], File)


def test_orcapod_core_and_its_sources_export_the_same_class() -> None:
    assert GlobSource is GlobSourceFromSources


# -- order, record ids and source ids --------------------------------------------------


def test_rows_are_ordered_by_the_bytes_of_their_relative_paths(tmp_path: Path) -> None:
    names = ["b/2.txt", "a/10.txt", "B/1.txt", "a/2.txt", "é/1.txt", "a/1.txt"]
    for name in names:
        _write(tmp_path, name, name)
    source = GlobSource("{group}/{n}.txt", root=tmp_path)
    expected = sorted(names, key=str.encode)
    assert list(source.relative_paths) == expected
    assert [str(p) for p in source.as_table().column("file").to_pylist()] != []
    assert [r["file"].read_text() for r in _rows(source)] == expected


def test_the_record_id_of_a_row_is_its_path_relative_to_the_directory_searched(
    tmp_path: Path,
) -> None:
    source = GlobSource("recordings/{subject}/{session}.wav", root=_recordings(tmp_path))
    assert source.directory == tmp_path / "recordings"
    provenance = source.as_table(include_system_columns=True).column(PROVENANCE).to_pylist()
    assert provenance == [
        ["recordings_subject_session.wav:m1/1.wav"],
        ["recordings_subject_session.wav:m1/2.wav"],
        ["recordings_subject_session.wav:m2/1.wav"],
        ["recordings_subject_session.wav:m2/2.wav"],
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("recordings/{subject}/{session}.wav", "recordings_subject_session.wav"),
        ("**/*.csv", "csv"),
        ("{a}", "a"),
        ("*", "glob"),
        ("/abs/data set/{x}.txt", "abs_data_set_x.txt"),
    ],
)
def test_the_default_source_id_comes_from_the_pattern(
    tmp_path: Path, pattern: str, expected: str
) -> None:
    from orcapod.core.sources._glob import _default_source_id

    assert _default_source_id(pattern) == expected
    assert check_source_id(expected) == expected


def test_a_given_source_id_is_used_and_checked(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    source = GlobSource("recordings/{subject}/{session}.wav", root=root, source_id="audio-v1")
    assert source.source_id == "audio-v1"
    with pytest.raises(SourceError, match="source_id"):
        GlobSource("recordings/{subject}/{session}.wav", root=root, source_id="no spaces")


def test_a_relative_pattern_starts_from_the_current_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(_recordings(tmp_path))
    source = GlobSource("recordings/{subject}/{session}.wav")
    assert source.root == tmp_path
    assert len(source.relative_paths) == 4


def test_an_absolute_pattern_ignores_root(tmp_path: Path) -> None:
    _recordings(tmp_path)
    source = GlobSource(f"{tmp_path}/recordings/{{subject}}/1.wav", root="/nonexistent")
    assert source.relative_paths == ("m1/1.wav", "m2/1.wav")


def test_leading_dot_dot_components_are_resolved(tmp_path: Path) -> None:
    _recordings(tmp_path)
    (tmp_path / "work").mkdir()
    source = GlobSource("../recordings/{subject}/1.wav", root=tmp_path / "work")
    assert source.directory == tmp_path / "recordings"
    assert len(source.relative_paths) == 2


# -- wildcards ---------------------------------------------------------------------------


def test_star_and_question_mark_match_within_a_component(tmp_path: Path) -> None:
    for name in ("a1.txt", "a22.txt", "b1.txt", "a1.csv", "sub/a3.txt"):
        _write(tmp_path, name, name)
    assert GlobSource("a*.txt", root=tmp_path).relative_paths == ("a1.txt", "a22.txt")
    assert GlobSource("a?.txt", root=tmp_path).relative_paths == ("a1.txt",)
    assert GlobSource("*/a*.txt", root=tmp_path).relative_paths == ("sub/a3.txt",)


def test_double_star_matches_any_number_of_directories(tmp_path: Path) -> None:
    for name in ("x.csv", "a/x.csv", "a/b/c/x.csv", "a/b/y.txt"):
        _write(tmp_path, name, name)
    source = GlobSource("**/{name}.csv", root=tmp_path)
    assert source.relative_paths == ("a/b/c/x.csv", "a/x.csv", "x.csv")
    assert GlobSource("a/**/c/{name}.csv", root=tmp_path).relative_paths == ("b/c/x.csv",)
    assert GlobSource("{top}/**/x.csv", root=tmp_path).as_table().column("top").to_pylist() == [
        "a",
        "a",
    ]


def test_wildcards_skip_hidden_names_unless_the_dot_is_spelled(tmp_path: Path) -> None:
    for name in ("a.txt", ".hidden.txt", ".git/x.txt", "d/.x.txt", "d/y.txt"):
        _write(tmp_path, name, name)
    assert GlobSource("*.txt", root=tmp_path).relative_paths == ("a.txt",)
    assert GlobSource("**/*.txt", root=tmp_path).relative_paths == ("a.txt", "d/y.txt")
    assert GlobSource(".{name}.txt", root=tmp_path).relative_paths == (".hidden.txt",)
    assert GlobSource("**/.{name}.txt", root=tmp_path).relative_paths == (
        ".hidden.txt",
        "d/.x.txt",
    )


def test_literal_braces_are_doubled(tmp_path: Path) -> None:
    _write(tmp_path, "{raw}/a.txt", "x")
    source = GlobSource("{{raw}}/{name}.txt", root=tmp_path)
    assert source.directory == tmp_path / "{raw}"
    assert _rows(source)[0]["name"] == "a"
    assert GlobSource("{{{dir}}}/a.txt", root=tmp_path).as_table()["dir"].to_pylist() == ["raw"]


def test_only_regular_files_match_unless_directories_are_asked_for(tmp_path: Path) -> None:
    _write(tmp_path, "a/file.txt", "x")
    (tmp_path / "b").mkdir()
    assert GlobSource("{name}", root=tmp_path / "a").relative_paths == ("file.txt",)
    assert GlobSource("{name}", root=tmp_path, kind="directory").relative_paths == ("a", "b")


def test_symbolic_links_to_files_are_followed(tmp_path: Path) -> None:
    target = _write(tmp_path, "target.bin", "linked")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "a.bin").symlink_to(target)
    (tmp_path / "links" / "dangling.bin").symlink_to(tmp_path / "missing")
    source = GlobSource("links/{name}.bin", root=tmp_path)
    assert source.relative_paths == ("a.bin",)
    assert _rows(source)[0]["file"].digest == _sha256("linked")


def test_double_star_does_not_follow_links_to_directories(tmp_path: Path) -> None:
    _write(tmp_path, "a/x.txt", "x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    assert GlobSource("**/x.txt", root=tmp_path).relative_paths == ("a/x.txt",)


# -- nothing matched, bad patterns -----------------------------------------------------


def test_a_pattern_matching_nothing_names_the_pattern_and_the_directory(tmp_path: Path) -> None:
    _recordings(tmp_path)
    with pytest.raises(SourceError) as raised:
        GlobSource("recordings/{subject}/{session}.flac", root=tmp_path)
    message = str(raised.value)
    assert "'recordings/{subject}/{session}.flac'" in message
    assert repr(str(tmp_path / "recordings")) in message
    assert "matches no file" in message


def test_a_missing_directory_is_said_to_be_missing(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        GlobSource("nowhere/{subject}.wav", root=tmp_path)


def test_directories_matching_nothing_say_directory(tmp_path: Path) -> None:
    _write(tmp_path, "a.txt", "x")
    with pytest.raises(SourceError, match="matches no directory"):
        GlobSource("{name}", root=tmp_path, kind="directory")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "non-empty str"),
        ("{subject", "unmatched '{'"),
        ("sub}ject/{x}", "unmatched '}'"),
        ("{}/x", "not a field"),
        ("{sub-ject}/x", "not a field"),
        ("{1st}/x", "not a field"),
        ("{a}/{a}.wav", r"field \{a\} appears twice"),
        ("{a}{b}.wav", "side by side"),
        ("a**/x", r"'\*\*' must be a whole path component"),
        ("data/**", "cannot end with"),
        ("data//{x}", "empty path component"),
        ("data/{x}/", "empty path component"),
        ("{x}/../y", "may only lead"),
    ],
)
def test_malformed_patterns_are_refused(tmp_path: Path, pattern: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        GlobSource(pattern, root=tmp_path)


def test_a_field_with_a_reserved_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="__x"):
        GlobSource("{__x}.txt", root=tmp_path)


def test_a_field_named_like_the_packet_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="packet column 'file'"):
        GlobSource("{file}.txt", root=tmp_path)


def test_field_types_must_name_fields_of_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"'sesion'.*\['subject', 'session'\]"):
        GlobSource("{subject}/{session}.wav", root=tmp_path, field_types={"sesion": int})


@pytest.mark.parametrize("declared", [float, bool, "int", list[int], int | None])
def test_field_types_other_than_str_or_int_are_refused(tmp_path: Path, declared: Any) -> None:
    with pytest.raises(UnsupportedTypeError, match=r"'session'.*str or int"):
        GlobSource("{subject}/{session}.wav", root=tmp_path, field_types={"session": declared})


def test_bad_kind_and_ignore_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="kind="):
        GlobSource("{x}", root=tmp_path, kind="link")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="kind='directory'"):
        GlobSource("{x}", root=tmp_path, ignore=["*.tmp"])
    with pytest.raises(SourceError, match="sequence of glob patterns"):
        GlobSource("{x}", root=tmp_path, kind="directory", ignore="*.tmp")


# -- directories -------------------------------------------------------------------------


def test_directories_are_matched_as_directory_values(tmp_path: Path) -> None:
    for session in ("s1", "s2"):
        _write(tmp_path, f"sessions/{session}/a.txt", f"{session}-a")
        _write(tmp_path, f"sessions/{session}/sub/b.txt", f"{session}-b")
    source = GlobSource("sessions/{session}", root=tmp_path, kind="directory")
    assert source.output_schema() == (Schema({"session": str}), Schema({"directory": Directory}))
    rows = _rows(source)
    assert [row["session"] for row in rows] == ["s1", "s2"]
    value = rows[0]["directory"]
    assert isinstance(value, Directory)
    assert value.digest == Directory(tmp_path / "sessions" / "s1").digest
    assert value.digest != rows[1]["directory"].digest


def test_ignore_patterns_are_passed_to_the_directories(tmp_path: Path) -> None:
    _write(tmp_path, "runs/r1/data.txt", "data")
    _write(tmp_path, "runs/r1/scratch.tmp", "one")
    source = GlobSource("runs/{run}", root=tmp_path, kind="directory", ignore=["*.tmp"])
    digest = _rows(source)[0]["directory"].digest
    assert digest == Directory(tmp_path / "runs" / "r1", ignore=["*.tmp"]).digest
    assert digest != Directory(tmp_path / "runs" / "r1").digest
    _write(tmp_path, "runs/r1/scratch.tmp", "two, longer")
    again = GlobSource("runs/{run}", root=tmp_path, kind="directory", ignore=["*.tmp"])
    assert _rows(again)[0]["directory"].digest == digest


# -- hashing: lazy, in one batch, through the current hasher ------------------------------


def test_nothing_is_read_until_the_table_is_needed_then_all_in_one_batch(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    hasher = CountingHasher()
    with hashing_with(hasher):
        source = GlobSource("recordings/{subject}/{session}.wav", root=root)
        assert source.output_schema()[0].keys() == ("subject", "session")
        assert source.source_id == "recordings_subject_session.wav"
        assert hasher.batches == []
        assert hasher.reads == 0
        source.as_table()
        source.content_hash()
        list(source.iter_packets())
    assert hasher.batches == [4]
    assert hasher.reads == 4


def test_the_hasher_current_when_the_table_is_first_needed_is_used(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    source = GlobSource("recordings/{subject}/{session}.wav", root=root)  # made outside
    hasher = CountingHasher()
    with hashing_with(hasher):
        source.content_hash()
    assert hasher.batches == [4]


def test_directories_are_hashed_in_one_batch_of_all_their_files(tmp_path: Path) -> None:
    for run in ("r1", "r2", "r3"):
        _write(tmp_path, f"{run}/a.txt", run)
        _write(tmp_path, f"{run}/b/c.txt", run)
    hasher = CountingHasher()
    with hashing_with(hasher):
        GlobSource("{run}", root=tmp_path, kind="directory").as_table()
    assert hasher.batches == [6]


def test_unchanged_files_are_not_read_again_by_the_same_hasher(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    hasher = FileHasher()
    with hashing_with(hasher):
        GlobSource("recordings/{subject}/{session}.wav", root=root).as_table()
        GlobSource("recordings/{subject}/{session}.wav", root=root).as_table()
    assert hasher.reads == 4


def test_a_file_removed_after_listing_is_a_file_content_error(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    source = GlobSource("recordings/{subject}/{session}.wav", root=root)
    (root / "recordings" / "m1" / "2.wav").unlink()
    with pytest.raises(FileContentError, match="does not exist"):
        source.as_table()


def test_the_content_hash_follows_content_not_location(tmp_path: Path) -> None:
    first = _recordings(tmp_path / "one")
    second = _recordings(tmp_path / "two")
    pattern = "recordings/{subject}/{session}.wav"
    a, b = GlobSource(pattern, root=first), GlobSource(pattern, root=second)
    assert a.content_hash() == b.content_hash()
    assert a.pipeline_hash() == b.pipeline_hash()
    _write(second, "recordings/m2/1.wav", "edited")
    assert GlobSource(pattern, root=second).content_hash() != a.content_hash()


def test_repr_names_pattern_source_id_and_rows(tmp_path: Path) -> None:
    source = GlobSource("recordings/{subject}/{session}.wav", root=_recordings(tmp_path))
    text = repr(source)
    assert "'recordings/{subject}/{session}.wav'" in text
    assert "recordings_subject_session.wav" in text
    assert "rows=4" in text


# -- in a pipeline ---------------------------------------------------------------------------

CALLS: list[str] = []


@function_pod(output_keys="size")
def size_of(file: File) -> int:
    CALLS.append(file.name)
    return len(file.read_bytes())


def _run(root: Path, database: ArrowDatabase | str = "memory://") -> tuple[Pipeline, Any]:
    pipeline = Pipeline("p", database)
    with pipeline:
        size_of.pod(GlobSource("recordings/{subject}/{session}.wav", root=root))
    return pipeline, pipeline.run()


def _sizes(pipeline: Pipeline) -> dict[tuple[str, str], int]:
    table = pipeline.nodes["size_of"].as_table().to_pylist()
    return {(row["subject"], row["session"]): row["size"] for row in table}


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def test_editing_one_file_recomputes_exactly_that_packet(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    first, result = _run(root)
    assert result.nodes["size_of"].computed == 4
    assert _sizes(first) == {("m1", "1"): 4, ("m1", "2"): 4, ("m2", "1"): 4, ("m2", "2"): 4}

    # Same size and a fresh mtime: the racy-mtime rule of the hash cache must catch it.
    _write(root, "recordings/m2/1.wav", "M2-1", old=False)
    CALLS.clear()
    _, result = _run(root, first.database)
    assert result.nodes["size_of"].computed == 1
    assert result.nodes["size_of"].cached == 3
    assert CALLS == ["1.wav"]

    _write(root, "recordings/m2/1.wav", "a longer take")
    CALLS.clear()
    third, result = _run(root, first.database)
    assert result.nodes["size_of"].computed == 1
    assert _sizes(third)[("m2", "1")] == 13
    assert _sizes(third)[("m1", "1")] == 4


def test_moving_the_directory_of_unchanged_files_keeps_every_result(tmp_path: Path) -> None:
    root = _recordings(tmp_path / "before")
    first, _ = _run(root)
    before = _sizes(first)
    moved = tmp_path / "after" / "elsewhere"
    moved.parent.mkdir()
    root.rename(moved)
    CALLS.clear()
    second, result = _run(moved, first.database)
    assert result.nodes["size_of"].computed == 0
    assert result.nodes["size_of"].cached == 4
    assert CALLS == []
    assert _sizes(second) == before
    assert _sizes(first) == {}  # the old source names files that are gone: no result shown
    rows = second.nodes["size_of"].as_table(include_system_columns=True).to_pylist()
    assert {row[PROVENANCE][0] for row in rows} == {
        f"recordings_subject_session.wav:{name}"
        for name in ("m1/1.wav", "m1/2.wav", "m2/1.wav", "m2/2.wav")
    }


def test_renaming_a_subject_directory_keeps_the_other_subjects_results(tmp_path: Path) -> None:
    root = _recordings(tmp_path)
    _write(root, "recordings/m2/1.wav", "a different take")
    first, _ = _run(root)
    (root / "recordings" / "m2").rename(root / "recordings" / "m3")
    CALLS.clear()
    second, result = _run(root, first.database)
    assert result.nodes["size_of"].computed == 0  # each result is found by content
    sizes = _sizes(second)
    assert set(sizes) == {("m1", "1"), ("m1", "2"), ("m3", "1"), ("m3", "2")}
    assert sizes[("m3", "1")] == len("a different take")


def test_a_pipeline_run_hashes_the_files_through_its_store(tmp_path: Path) -> None:
    from orcapod.core.files._digests import CACHE_PATH

    root = _recordings(tmp_path)
    pipeline = Pipeline("p", "memory://")
    with pipeline:
        size_of.pod(GlobSource("recordings/{subject}/{session}.wav", root=root))
    pipeline.run()
    stored = pipeline.database.get_all_records(CACHE_PATH)
    assert stored is not None
    assert sorted(stored.column("path").to_pylist()) == sorted(
        str(path) for path in (root / "recordings").glob("*/*.wav")
    )
    # A second process (a fresh hasher on the same store) reads none of them.
    hasher = FileHasher(pipeline.database)
    with hashing_with(hasher):
        GlobSource("recordings/{subject}/{session}.wav", root=root).as_table()
    assert hasher.reads == 0
