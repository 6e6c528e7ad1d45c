"""numpy arrays and frozen dataclasses as column and parameter types.

Round trips (Arrow tables, packet functions, pipelines on the in-memory
store), identity (hashes by dtype, shape and C-order bytes; nested File by
digest), a golden vector, the errors, and numpy staying optional.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import date, datetime  # noqa: TC003 - dataclass annotations are read at run time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis.extra.numpy as hnp
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcapod.core import DictSource, File, Pipeline, function_pod
from orcapod.core.datagrams import Packet
from orcapod.core.errors import (
    ReturnValueError,
    TypeMismatchError,
    UnsupportedTypeError,
)
from orcapod.core.function_pods import PythonPacketFunction
from orcapod.core.hashing import hash_schema, hash_table_rows
from orcapod.core.types import (
    LOGICAL_TYPE_KEY,
    NaiveDatetime,
    Schema,
    arrow_field,
    infer_schema,
    normalize_type,
    python_type,
    table_to_rows,
    to_arrow_table,
    type_name,
)
from orcapod.core.types._dataclasses import field_types

if TYPE_CHECKING:
    from collections.abc import Callable

# -- the classes and values under test -----------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Sample:
    name: str
    where: Point
    trace: np.ndarray
    labels: list[str]
    counts: dict[str, int]
    scale: float | None = None
    origin: Path | None = None
    taken: NaiveDatetime | None = None
    day: date | None = None
    more: list[Point] = field(default_factory=list)
    extra: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True)
class Attachment:
    label: str
    content: File


@dataclass(frozen=True)
class Doubled:
    x: int
    twice: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "twice", 2 * self.x)


@dataclass
class Mutable:
    x: int


_DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    hnp.byte_string_dtypes(max_len=4),
    hnp.unicode_string_dtypes(endianness="?", max_len=4),
)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Arrays of every storable kind, 0 to 3 dimensions (empty ones too), C or F order."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    array = draw(hnp.arrays(draw(_DTYPES), shape))
    return np.array(array, order="F") if draw(st.booleans()) else array


_finite = st.floats(allow_nan=False, width=64)
points = st.builds(Point, x=_finite, y=_finite)
samples = st.builds(
    Sample,
    name=st.text(max_size=5),
    where=points,
    trace=arrays(),
    labels=st.lists(st.text(max_size=3), max_size=3),
    counts=st.dictionaries(st.text(max_size=3), st.integers(-(2**63), 2**63 - 1), max_size=3),
    scale=st.none() | _finite,
    origin=st.none() | st.text("ab/", min_size=1, max_size=5).map(Path),
    taken=st.none() | st.datetimes(),
    day=st.none() | st.dates(),
    more=st.lists(points, max_size=2),
    extra=st.none() | hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2)),
)


def same_array(got: Any, expected: np.ndarray) -> bool:
    """Exactly the same array: class, dtype (byte order included), shape, bytes, memory order."""
    return (
        type(got) is np.ndarray
        and got.dtype == expected.dtype
        and got.dtype.str == expected.dtype.str
        and got.shape == expected.shape
        and got.tobytes() == expected.tobytes()
        and got.flags.c_contiguous == expected.flags.c_contiguous
        and got.flags.f_contiguous == expected.flags.f_contiguous
        and bool(got.flags.writeable)
    )


def same(got: Any, expected: Any) -> bool:
    """Equality that compares arrays exactly and looks inside dataclasses, lists and dicts."""
    if isinstance(expected, np.ndarray):
        return same_array(got, expected)
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        return type(got) is type(expected) and all(
            same(getattr(got, f.name), getattr(expected, f.name))
            for f in dataclasses.fields(expected)
        )
    if isinstance(expected, list):
        return (
            type(got) is list
            and len(got) == len(expected)
            and all(same(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            type(got) is dict
            and got.keys() == expected.keys()
            and all(same(got[k], expected[k]) for k in expected)
        )
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return type(got) is type(expected) and got == expected


def _round_trip(values: list[Any], tp: Any) -> list[Any]:
    table = to_arrow_table({"v": values}, Schema(v=tp))
    declared = [row["v"] for row in table_to_rows(table, Schema(v=tp))]
    from_metadata = [row["v"] for row in table_to_rows(table)]  # Schema.from_arrow
    for got in (declared, from_metadata):
        assert len(got) == len(values)
        for g, e in zip(got, values, strict=True):
            assert (g is None and e is None) or same(g, e), (g, e)
    return declared


def _hash(value: Any, tp: Any) -> str:
    return hash_table_rows(to_arrow_table({"v": [value]}, Schema(v=tp)))[0]


# -- arrays: annotations and round trips ------------------------------------------------


@pytest.mark.skipif(sys.version_info < (3, 12), reason="type aliases (TypeAliasType) are 3.12+")
def test_type_aliases_of_ndarray_normalise_to_ndarray() -> None:
    """numpy 2.5 made NDArray a ``type`` alias; any alias of ndarray is an array column."""
    import typing

    shape, dtype = typing.TypeVar("shape"), typing.TypeVar("dtype")
    alias = typing.TypeAliasType(  # type: ignore[attr-defined,unused-ignore]
        "Alias", np.ndarray[shape, dtype], type_params=(shape, dtype)
    )
    bare = typing.TypeAliasType("Bare", np.ndarray)  # type: ignore[attr-defined,unused-ignore]
    assert normalize_type(alias[tuple[int], np.dtype[np.float64]]) is np.ndarray
    assert normalize_type(bare) is np.ndarray
    assert normalize_type(list[bare] | None) == list[np.ndarray] | None


def test_ndarray_annotations_normalise_to_ndarray() -> None:
    assert normalize_type(np.ndarray) is np.ndarray
    assert normalize_type(npt.NDArray[np.float64]) is np.ndarray
    assert normalize_type(list[npt.NDArray[np.int8]] | None) == list[np.ndarray] | None
    assert Schema(a=npt.NDArray[np.float64]) == Schema(a=np.ndarray)
    assert type_name(np.ndarray) == "ndarray"
    column = arrow_field("a", np.ndarray | None)
    assert column.metadata[LOGICAL_TYPE_KEY] == b"numpy.ndarray"
    assert column.metadata[b"orcapod.identity"] == b"dtype,shape,data"
    assert column.nullable
    assert column.type.names == ["dtype", "shape", "order", "data"]
    assert python_type(column) == np.ndarray | None


@settings(max_examples=150, deadline=None)
@given(st.lists(arrays(), max_size=4))
def test_arrays_round_trip_exactly(values: list[np.ndarray]) -> None:
    _round_trip(values, np.ndarray)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.none() | st.lists(arrays(), max_size=2), max_size=3))
def test_optional_lists_of_arrays_round_trip(values: list[list[np.ndarray] | None]) -> None:
    _round_trip(values, list[np.ndarray] | None)


@pytest.mark.parametrize(
    "array",
    [
        np.array(7.5),  # 0-d
        np.array(True),
        np.zeros((0, 3)),
        np.zeros((0, 3), order="F"),
        np.zeros((2, 0, 4), dtype=">i2"),
        np.arange(12, dtype=">f8").reshape(3, 4),
        np.asfortranarray(np.arange(12, dtype=">u4").reshape(3, 4)),
        np.array([True, False, True]),
        np.array([1 + 2j, -3.5j], dtype=np.complex64),
        np.array([1 + 2j, np.nan], dtype=">c16"),
        np.array(["2024-01-01T12:00", "NaT"], dtype="datetime64[ns]"),
        np.array(["2024-05"], dtype="datetime64[M]"),
        np.array([1, -2], dtype="timedelta64[ms]"),
        np.array(["a", "héllo"], dtype="<U5"),
        np.array([b"\x00x", b""], dtype="S2"),
        np.array([np.nan, -0.0, np.inf], dtype=np.float16),
        np.array([2**64 - 1], dtype=np.uint64),
    ],
    ids=lambda array: f"{array.dtype.str}{list(array.shape)}",
)
def test_edge_case_arrays_round_trip(array: np.ndarray) -> None:
    (back,) = _round_trip([array], np.ndarray)
    back[...] = back  # a fresh, writable array


def test_non_contiguous_arrays_come_back_c_ordered_with_their_values() -> None:
    base = np.arange(24.0).reshape(4, 6)
    view = base[::2, 1::2]
    assert not view.flags.c_contiguous
    assert not view.flags.f_contiguous
    table = to_arrow_table({"v": [view]}, Schema(v=np.ndarray))
    (back,) = (row["v"] for row in table_to_rows(table))
    assert back.flags.c_contiguous
    assert np.array_equal(back, view)
    assert _hash(view, np.ndarray) == _hash(np.ascontiguousarray(view), np.ndarray)


def test_arrays_are_inferred_and_feed_packets() -> None:
    rows: list[dict[str, Any]] = [
        {"a": np.arange(3), "p": Point(1.0, 2.0)},
        {"a": None, "p": Point(0.0, 0.0)},
    ]
    assert infer_schema(rows) == Schema(a=np.ndarray | None, p=Point)
    packet = Packet.from_dict(rows[0])
    assert same(packet.as_dict(), rows[0])


# -- arrays: identity ---------------------------------------------------------------------


def test_f_ordered_array_hashes_as_the_c_ordered_one_and_keeps_its_order() -> None:
    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    f = np.asfortranarray(c)
    assert f.flags.f_contiguous
    assert not f.flags.c_contiguous
    assert _hash(c, np.ndarray) == _hash(f, np.ndarray)
    table = to_arrow_table({"v": [f]}, Schema(v=np.ndarray))
    assert table.column("v").to_pylist()[0]["order"] == "F"
    (back,) = (row["v"] for row in table_to_rows(table))
    assert same_array(back, f)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (np.zeros(2, dtype="<i4"), np.zeros(2, dtype="<f4")),  # same bytes, other dtype
        (np.zeros((2, 3)), np.zeros((3, 2))),  # same bytes, other shape
        (np.zeros(6), np.zeros((1, 6))),
        (np.array(1.0), np.array([1.0])),  # 0-d vs 1-d
        (np.array([1.0, 2.0]), np.array([1.0, 2.5])),  # other values
        (np.array([0.0]), np.array([-0.0])),  # other bytes: identified by bytes
        (np.arange(3, dtype="<i4"), np.arange(3, dtype=">i4")),  # other byte order
        (np.array(["ab"], dtype="<U2"), np.array(["ab"], dtype="<U3")),
    ],
)
def test_arrays_differing_in_dtype_shape_or_bytes_hash_differently(
    one: np.ndarray, other: np.ndarray
) -> None:
    assert _hash(one, np.ndarray) != _hash(other, np.ndarray)


@settings(max_examples=60, deadline=None)
@given(arrays())
def test_equal_arrays_hash_equal_whatever_their_memory_order(array: np.ndarray) -> None:
    copies = [array.copy(order="C"), array.copy(order="F")]
    assert len({_hash(copy, np.ndarray) for copy in [array, *copies]}) == 1


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def _str(s: str) -> bytes:
    encoded = s.encode()
    return _u64(len(encoded)) + encoded


def test_golden_content_hash_of_an_array() -> None:
    """Never update this digest to make the test pass (see test_hashing_golden.py)."""
    array = np.arange(6, dtype="<i4").reshape(2, 3)
    golden = "orcapod-v1-sha256:f66e521c3b0e11fa092b8b4a4dbbff5830575970636c8bcc57201759d208e145"
    assert _hash(array, np.ndarray) == golden
    assert Packet.from_dict({"v": array}).content_hash() == golden
    assert _hash(np.asfortranarray(array), np.ndarray) == golden

    # The same digest from the documented encoding (docs/identity.md): the row type
    # names every storage field; the value only the identity fields dtype, shape, data.
    struct_type = b"".join(
        [
            _str("struct"),
            _u64(4),
            _str("dtype") + _str("str"),
            _str("shape") + _str("list") + _str("int"),
            _str("order") + _str("str"),
            _str("data") + _str("bytes"),
        ]
    )
    column_type = _str("annotated") + _str("numpy.ndarray") + struct_type
    row_type = hashlib.sha256(
        _str("orcapod-v1:row-type") + _u64(1) + _str("v") + column_type
    ).digest()
    present = b"\x01"
    value = b"".join(
        [
            present,
            present + _str("<i4"),
            present + _u64(2) + present + struct.pack("<q", 2) + present + struct.pack("<q", 3),
            present + _u64(24) + array.tobytes(),
        ]
    )
    message = _str("orcapod-v1:row") + row_type + value
    assert golden == f"orcapod-v1-sha256:{hashlib.sha256(message).hexdigest()}"


# -- dataclasses -----------------------------------------------------------------------------


def test_dataclass_column_is_a_struct_naming_its_class() -> None:
    column = arrow_field("p", Sample)
    assert column.metadata[LOGICAL_TYPE_KEY] == f"dataclass:{__name__}.Sample".encode()
    assert pa.types.is_struct(column.type)
    assert [f.name for f in column.type] == [f.name for f in dataclasses.fields(Sample)]
    where = column.type.field("where")
    assert where.metadata[LOGICAL_TYPE_KEY] == f"dataclass:{__name__}.Point".encode()
    assert not where.nullable
    assert column.type.field("scale").nullable
    assert column.type.field("origin").metadata[LOGICAL_TYPE_KEY] == b"path"
    assert column.type.field("trace").metadata[b"orcapod.identity"] == b"dtype,shape,data"
    assert type_name(Sample) == "Sample"
    assert python_type(column) is Sample


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(samples, max_size=3))
def test_dataclasses_round_trip_exactly(values: list[Sample]) -> None:
    _round_trip(values, Sample)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.none() | st.dictionaries(st.text(max_size=2), points, max_size=2), max_size=3))
def test_dataclasses_inside_containers_round_trip(values: list[dict[str, Point] | None]) -> None:
    _round_trip(values, dict[str, Point] | None)


def test_fields_not_in_init_are_restored() -> None:
    (back,) = _round_trip([Doubled(4)], Doubled)
    assert back.twice == 8


def test_equal_dataclasses_hash_equal_and_different_ones_differently() -> None:
    one = Sample("s", Point(1.0, 2.0), np.eye(2), ["a"], {"k": 1})
    assert _hash(one, Sample) == _hash(dataclasses.replace(one), Sample)
    f_ordered = dataclasses.replace(one, trace=np.asfortranarray(np.eye(2)))
    assert _hash(one, Sample) == _hash(f_ordered, Sample)
    for changed in (
        dataclasses.replace(one, name="t"),
        dataclasses.replace(one, where=Point(1.0, 2.5)),
        dataclasses.replace(one, trace=np.eye(3)),
        dataclasses.replace(one, counts={}),
        dataclasses.replace(one, scale=1.0),
    ):
        assert _hash(changed, Sample) != _hash(one, Sample)


def test_a_file_inside_a_dataclass_is_identified_by_its_content(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("same bytes")
    (tmp_path / "b.txt").write_text("same bytes")
    (tmp_path / "c.txt").write_text("other bytes")
    a, b, c = (Attachment("x", File(tmp_path / name)) for name in ("a.txt", "b.txt", "c.txt"))
    content = arrow_field("v", Attachment).type.field("content")
    assert content.metadata[LOGICAL_TYPE_KEY] == b"file"
    assert content.metadata[b"orcapod.identity"] == b"digest"
    assert _hash(a, Attachment) == _hash(b, Attachment)  # the path is not part of it
    assert _hash(a, Attachment) != _hash(c, Attachment)
    assert _hash([a], list[Attachment]) == _hash([b], list[Attachment])
    (back,) = _round_trip([a], Attachment)
    assert back.content.path == a.content.path
    assert back.content.digest == a.content.digest


def test_schema_hash_names_the_class_and_its_fields() -> None:
    assert hash_schema(Schema(v=Point).to_arrow()) != hash_schema(Schema(v=Attachment).to_arrow())
    assert hash_schema(Schema(v=Point).to_arrow()) == hash_schema(Schema(v=Point).to_arrow())


def test_field_types_are_the_normalised_annotations() -> None:
    types = field_types(Sample)
    assert list(types) == [f.name for f in dataclasses.fields(Sample)]
    assert types["where"] is Point
    assert types["extra"] == np.ndarray | None
    assert types["origin"] == Path | None
    with pytest.raises(UnsupportedTypeError, match="frozen"):
        field_types(Mutable)


def test_a_dataclass_defined_by_exec_resolves_its_annotations_in_that_namespace() -> None:
    """Code run by exec (some notebooks, runners) defines classes outside their module."""
    namespace: dict[str, Any] = {"__name__": "__main__"}  # not the real __main__ namespace
    code = textwrap.dedent(
        """
        from __future__ import annotations
        from dataclasses import dataclass
        import numpy as np
        from orcapod.core.types import Schema

        @dataclass(frozen=True)
        class Inner:
            signal: np.ndarray

        @dataclass(frozen=True)
        class Outer:
            inner: Inner
            more: list[Inner]

        schema = Schema(o=Outer)
        """
    )
    exec(compile(code, "<exec>", "exec", dont_inherit=True), namespace)
    assert namespace["schema"] == Schema(o=namespace["Outer"])
    (back,) = _round_trip(
        [namespace["Outer"](namespace["Inner"](np.ones(2)), [])], namespace["Outer"]
    )
    assert same_array(back.inner.signal, np.ones(2))


def test_from_arrow_resolves_the_class_in_a_fresh_process(tmp_path: Path) -> None:
    """A table written by one process reads back as instances in another, by module import."""
    (tmp_path / "labdata.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            import numpy as np

            @dataclass(frozen=True)
            class Reading:
                channel: int
                samples: np.ndarray

                class Meta:
                    pass

            @dataclass(frozen=True)
            class Outer:
                @dataclass(frozen=True)
                class Inner:
                    reading: "Reading"

                inner: "Outer.Inner"
            """
        )
    )
    write = """
        import sys, numpy as np, pyarrow as pa
        from labdata import Outer, Reading
        from orcapod.core.types import Schema, to_arrow_table
        table = to_arrow_table(
            {"r": [Outer(Outer.Inner(Reading(3, np.arange(4, dtype=">i2"))))]}, Schema(r=Outer)
        )
        with pa.OSFile(sys.argv[1], "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
            out.write_table(table)
    """
    read = """
        import sys, pyarrow as pa
        from orcapod.core.types import Schema, table_to_rows
        table = pa.ipc.open_file(pa.memory_map(sys.argv[1])).read_all()
        assert "labdata" not in sys.modules
        print(Schema.from_arrow(table.schema))
        (row,) = table_to_rows(table)
        samples = row["r"].inner.reading.samples
        print(type(row["r"]).__module__, samples.dtype.str, samples.tolist())
    """
    stored = str(tmp_path / "table.arrow")
    env_path = {"PYTHONPATH": str(tmp_path)}
    _python(write, stored, cwd=tmp_path, env=env_path)
    out = _python(read, stored, cwd=tmp_path, env=env_path)
    assert out.splitlines() == ["Schema({'r': Outer})", "labdata >i2 [0, 1, 2, 3]"]
    failed = _python(read, stored, cwd=tmp_path.parent, env={}, check=False)
    assert "UnsupportedTypeError" in failed
    assert "labdata.Outer" in failed
    assert "sys.path" in failed


def _python(script: str, *args: str, cwd: Path, env: dict[str, str], check: bool = True) -> str:
    import os

    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | env
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
        return result.stdout
    assert result.returncode != 0
    return result.stderr


# -- through packet functions and pipelines ------------------------------------------------


def describe(sample: Sample, weights: np.ndarray) -> tuple[Sample, np.ndarray, float]:
    """A function of arrays and dataclasses (module level: its source is its identity)."""
    moved = dataclasses.replace(sample, where=Point(sample.where.x + 1.0, sample.where.y))
    return moved, weights, float(weights.size)


def test_packet_function_takes_and_returns_arrays_and_dataclasses() -> None:
    function = PythonPacketFunction(describe, ["moved", "same", "size"])
    assert function.input_schema() == Schema(sample=Sample, weights=np.ndarray)
    assert function.output_schema() == Schema(moved=Sample, same=np.ndarray, size=float)
    sample = Sample("s", Point(0.5, 1.0), np.arange(3.0), ["a"], {"n": 2}, more=[Point(0.0, 0.0)])
    weights = np.asfortranarray(np.ones((2, 2), dtype=">f4"))
    out = function.call(Packet.from_dict({"sample": sample, "weights": weights})).as_dict()
    assert same(out["moved"], dataclasses.replace(sample, where=Point(1.5, 1.0)))
    assert same_array(out["same"], weights)
    assert out["size"] == 4.0


@function_pod(output_keys="out")
def echo_array(a: np.ndarray) -> np.ndarray:
    return a


@function_pod(output_keys=["out", "first"])
def echo_sample(s: Sample) -> tuple[Sample, Point]:
    return s, s.where


def _run(pipeline_rows: list[dict[str, Any]], pod: Any, label: str) -> tuple[Pipeline, Any]:
    pipeline = Pipeline("p", "memory://")
    with pipeline:
        pod.pod(DictSource(pipeline_rows, tag_columns=["id"]), label=label)
    return pipeline, pipeline.run(error_policy="fail_fast")


def _results(pipeline: Pipeline, label: str) -> dict[int, dict[str, Any]]:
    rows = table_to_rows(pipeline.nodes[label].as_table())
    return {row.pop("id"): row for row in rows}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(arrays(), min_size=1, max_size=3))
def test_arrays_round_trip_through_a_pipeline(values: list[np.ndarray]) -> None:
    rows = [{"id": i, "a": value} for i, value in enumerate(values)]
    pipeline, result = _run(rows, echo_array, "echo")
    assert result.nodes["echo"].failed == 0
    results = _results(pipeline, "echo")
    assert sorted(results) == list(range(len(values)))
    for i, value in enumerate(values):
        assert same_array(results[i]["out"], value)
    # the same values again, in the other memory order, are found in the cache
    flipped = [
        {"id": i, "a": np.array(v, order="F" if v.flags.c_contiguous else "C")}
        for i, v in enumerate(values)
    ]
    database = pipeline.database
    again = Pipeline("p", database)
    with again:
        echo_array.pod(DictSource(flipped, tag_columns=["id"]), label="echo")
    counts = again.run(error_policy="fail_fast").nodes["echo"]
    assert counts.computed == 0
    assert counts.cached == len(values)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(samples, min_size=1, max_size=3))
def test_dataclasses_round_trip_through_a_pipeline(values: list[Sample]) -> None:
    rows = [{"id": i, "s": value} for i, value in enumerate(values)]
    pipeline, result = _run(rows, echo_sample, "echo")
    assert result.nodes["echo"].failed == 0
    results = _results(pipeline, "echo")
    for i, value in enumerate(values):
        assert same(results[i]["out"], value)
        assert same(results[i]["first"], value.where)


# -- errors -----------------------------------------------------------------------------------

# Variable-width strings are numpy 2.0+: numpy 1.26 (the tested floor) cannot make them.
_STRING_DTYPE = getattr(np.dtypes, "StringDType", None)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.array([1, "x"], dtype=object), ["object dtype", "astype"]),
        (np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]), ["structured", "own"]),
        (np.zeros(2, dtype="V3"), ["structured"]),
        pytest.param(
            None if _STRING_DTYPE is None else np.array(["a"], dtype=_STRING_DTYPE()),
            ["variable-width", "astype(str)"],
            marks=pytest.mark.skipif(_STRING_DTYPE is None, reason="StringDType is numpy 2.0+"),
        ),
        (np.ma.masked_array([1, 2], mask=[False, True]), ["subclass", "numpy.asarray"]),
    ],
)
def test_unstorable_arrays_are_refused_naming_the_column_and_the_fix(
    array: np.ndarray, words: list[str]
) -> None:
    with pytest.raises(TypeMismatchError) as raised:
        to_arrow_table({"signal": [np.arange(2), array]}, Schema(signal=np.ndarray))
    message = str(raised.value)
    assert "column 'signal' row 1" in message
    for word in words:
        assert word in message


def test_a_function_returning_an_object_array_fails_its_packet() -> None:
    @function_pod(output_keys="y")
    def objects(x: int) -> np.ndarray:
        return np.array([x, None], dtype=object)

    with pytest.raises(ReturnValueError, match="'y' must be ndarray"):
        objects.pod(DictSource([{"x": 1}], tag_columns=[])).as_table()


def test_a_mutable_dataclass_is_refused_saying_to_freeze_it() -> None:
    declarations: list[Callable[[], object]] = [
        lambda: Schema(m=Mutable),
        lambda: Schema(m=list[Mutable] | None),
        lambda: infer_schema([{"m": Mutable(1)}]),
    ]
    for declare in declarations:
        with pytest.raises(UnsupportedTypeError, match=r"not frozen.*frozen=True"):
            declare()
    with pytest.raises(UnsupportedTypeError, match="frozen=True"):

        @function_pod(output_keys="y")
        def uses(m: Mutable) -> int:
            return m.x


def _refused(tp: Any) -> str:
    with pytest.raises(UnsupportedTypeError) as raised:
        Schema(v=tp)
    return str(raised.value)


def test_unstorable_dataclasses_are_refused_at_declaration() -> None:
    @dataclass(frozen=True)
    class Zoned:
        when: datetime

    @dataclass(frozen=True)
    class Empty:
        pass

    @dataclass(frozen=True)
    class Node:
        value: int
        next: Node | None  # resolved through the module's globals, below

    @dataclass(frozen=True)
    class Odd:
        value: complex

    @dataclass(frozen=True)
    class Outer:
        inner: list[Mutable]

    @dataclass(frozen=True)
    class NeedsInit:
        x: int
        secret: dataclasses.InitVar[int]

    assert "NaiveDatetime" in _refused(Zoned)
    assert "no fields" in _refused(Empty)
    globals()["Node"] = Node  # so that get_type_hints resolves the self-reference
    try:
        assert "contains itself" in _refused(Node)
    finally:
        del globals()["Node"]
    assert "complex" in _refused(Odd)
    assert "field 'value'" in _refused(Odd)
    assert "Mutable is not frozen" in _refused(Outer)
    assert "InitVar" in _refused(NeedsInit)


def test_wrong_field_values_are_refused_naming_column_row_and_field() -> None:
    cases: list[tuple[Any, str]] = [
        (Point("1", 2.0), "field 'x' must be float, got str '1'"),  # type: ignore[arg-type]
        (Point(None, 2.0), "field 'x' must be float, got None"),  # type: ignore[arg-type]
        (Sample("s", Point(0, 0), np.array([None], dtype=object), [], {}), "field 'trace'"),
        (Sample("s", Point("a", 0), np.zeros(1), [], {}), "field 'where': field 'x'"),  # type: ignore[arg-type]
    ]
    for value, words in cases:
        with pytest.raises(TypeMismatchError) as raised:
            to_arrow_table({"v": [value]}, Schema(v=type(value)))
        assert "column 'v' row 0" in str(raised.value)
        assert words in str(raised.value)


def test_a_subclass_instance_is_refused_for_its_base() -> None:
    @dataclass(frozen=True)
    class Point3(Point):
        z: float = 0.0

    with pytest.raises(TypeMismatchError, match="subclass of Point"):
        to_arrow_table({"v": [Point3(1.0, 2.0)]}, Schema(v=Point))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("dataclass:no_such_module_here.Thing", "no prefix of it is an importable module"),
        ("dataclass:json.JSONDecoder", "not a dataclass"),
        (f"dataclass:{__name__}.NoSuchClass", "has no NoSuchClass (was it renamed or moved?)"),
        (f"dataclass:{__name__}.f.<locals>.Point", "inside a function"),
        ("dataclass:__main__.NoSuchClass", "script run as __main__"),
    ],
)
def test_an_unresolvable_dataclass_name_is_a_clear_error(name: str, words: str) -> None:
    schema = pa.schema(
        [pa.field("v", pa.struct([("x", pa.int64())]), metadata={LOGICAL_TYPE_KEY: name.encode()})]
    )
    with pytest.raises(UnsupportedTypeError, match="column 'v'") as raised:
        Schema.from_arrow(schema)
    assert words in str(raised.value)


# -- numpy stays optional ---------------------------------------------------------------


def test_orcapod_core_imports_and_works_without_numpy() -> None:
    """numpy is never imported by orcapod itself: with numpy unimportable, core still works.

    (pyarrow imports numpy on its own when numpy is installed, so ``"numpy" in
    sys.modules`` after ``import orcapod.core`` says nothing about orcapod; blocking
    the import does.)
    """
    script = """
        import sys
        sys.modules["numpy"] = None  # any `import numpy` now raises ImportError
        import orcapod.core
        import orcapod.core.types
        from dataclasses import dataclass
        from orcapod.core.types import Schema, normalize_type, table_to_rows, to_arrow_table

        @dataclass(frozen=True)
        class P:
            x: int

        table = to_arrow_table({"a": [1], "p": [P(2)]}, Schema(a=int, p=P))
        print(table_to_rows(table))
        try:
            normalize_type(object)
        except TypeError as error:
            print(type(error).__name__)
        assert sys.modules["numpy"] is None
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[{'a': 1, 'p': P(x=2)}]", "UnsupportedTypeError"]


def test_no_orcapod_module_imports_numpy_at_module_level() -> None:
    import ast

    import orcapod.core

    (root,) = orcapod.core.__path__
    offenders = []
    for path in Path(root).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "numpy" or name.startswith("numpy.") for name in names):
                offenders.append(str(path))
    assert offenders == []


def test_padded_long_doubles_are_refused_with_the_fix() -> None:
    if np.finfo(np.longdouble).nmant >= 112 or np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("this machine's long double has no padding")
    with pytest.raises(TypeMismatchError, match=r"long double.*float64"):
        to_arrow_table({"x": [np.zeros(3, dtype=np.longdouble)]}, Schema(x=np.ndarray))
