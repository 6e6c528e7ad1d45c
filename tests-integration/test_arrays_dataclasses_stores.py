"""numpy arrays and frozen dataclasses through the durable stores: Delta, SQLite, PostgreSQL.

A pipeline echoes arrays and dataclasses through function nodes; the store is
closed and opened again, the results read back exactly (dtype, byte order,
shape, memory order, values, classes), hash as the values they were given
(so the nested identity metadata survived the store), and a second run finds
every packet cached.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcapod.core import DictSource, File, Pipeline, function_pod, open_database
from orcapod.core.hashing import hash_table_rows
from orcapod.core.types import NaiveDatetime, Schema, table_to_rows, to_arrow_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.testing.postgres import PostgresServer


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
    more: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class Attachment:
    label: str
    content: File
    shape: np.ndarray


@function_pod(output_keys="out")
def echo_array(a: np.ndarray) -> np.ndarray:
    return a


@function_pod(output_keys="out")
def echo_sample(s: Sample) -> Sample:
    return s


@function_pod(output_keys="out")
def echo_attachment(f: Attachment) -> Attachment:
    return f


_DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    hnp.byte_string_dtypes(max_len=3),
    hnp.unicode_string_dtypes(endianness="?", max_len=3),
)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    array = draw(hnp.arrays(draw(_DTYPES), shape))
    return np.array(array, order="F") if draw(st.booleans()) else array


_finite = st.floats(allow_nan=False, width=64)
points = st.builds(Point, x=_finite, y=_finite)
samples = st.builds(
    Sample,
    name=st.text(max_size=4),
    where=points,
    trace=arrays(),
    labels=st.lists(st.text(max_size=3), max_size=2),
    counts=st.dictionaries(st.text(max_size=3), st.integers(-(2**63), 2**63 - 1), max_size=2),
    scale=st.none() | _finite,
    origin=st.none() | st.text("ab/", min_size=1, max_size=4).map(Path),
    taken=st.none() | st.datetimes(),
    more=st.lists(points, max_size=2),
)


def same(got: Any, expected: Any) -> bool:
    """Exact equality: arrays by dtype, shape, bytes and memory order; inside dataclasses too."""
    if isinstance(expected, np.ndarray):
        return (
            type(got) is np.ndarray
            and got.dtype.str == expected.dtype.str
            and got.shape == expected.shape
            and got.tobytes() == expected.tobytes()
            and got.flags.c_contiguous == expected.flags.c_contiguous
            and got.flags.f_contiguous == expected.flags.f_contiguous
        )
    if isinstance(expected, File):
        return type(got) is File and got.digest == expected.digest
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        return type(got) is type(expected) and all(
            same(getattr(got, f.name), getattr(expected, f.name))
            for f in dataclasses.fields(expected)
        )
    if isinstance(expected, list):
        return len(got) == len(expected) and all(
            same(g, e) for g, e in zip(got, expected, strict=True)
        )
    if isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in expected)
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return type(got) is type(expected) and got == expected


_names = itertools.count()


def _check(uri: str, pod: Any, column: str, tp: Any, values: list[Any]) -> None:
    """Run, reopen, read back exactly, hash as given, and find everything cached."""
    name = f"p{next(_names)}"
    rows = [{"id": i, column: value} for i, value in enumerate(values)]

    def pipeline(database: Any) -> Pipeline:
        built = Pipeline(name, database)
        with built:
            pod.pod(DictSource(rows, tag_columns=["id"]), label="echo")
        return built

    database = open_database(uri)
    try:
        first = pipeline(database).run(error_policy="fail_fast").nodes["echo"]
        assert (first.computed + first.cached, first.failed) == (len(values), 0)
    finally:
        database.close()

    database = open_database(uri)  # what another process would see
    try:
        again = pipeline(database)
        counts = again.run(error_policy="fail_fast").nodes["echo"]
        assert (counts.computed, counts.cached) == (0, len(values))
        table = again.nodes["echo"].as_table().sort_by("id")
        results = table_to_rows(table)
        assert [row["id"] for row in results] == list(range(len(values)))
        for row, value in zip(results, values, strict=True):
            assert same(row["out"], value), (row["out"], value)
        given_table = to_arrow_table({"out": values}, Schema(out=tp))
        assert hash_table_rows(table, ["out"]) == hash_table_rows(given_table)
    finally:
        database.close()


_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _arrays_on(uri: str) -> Callable[[list[np.ndarray]], None]:
    return lambda values: _check(uri, echo_array, "a", np.ndarray, values)


def _samples_on(uri: str) -> Callable[[list[Sample]], None]:
    return lambda values: _check(uri, echo_sample, "s", Sample, values)


def _attachments(directory: Path) -> list[Attachment]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "a.bin").write_bytes(b"\x00\x01 first")
    (directory / "b.bin").write_bytes(b"second")
    return [
        Attachment("a", File(directory / "a.bin"), np.array([3, 4], dtype=">i8")),
        Attachment("b", File(directory / "b.bin"), np.asfortranarray(np.eye(2))),
    ]


# -- Delta -------------------------------------------------------------------------------


@_SETTINGS
@given(st.lists(arrays(), min_size=1, max_size=3))
def test_delta_arrays(tmp_path: Path, values: list[np.ndarray]) -> None:
    _arrays_on(f"delta://{tmp_path}/store")(values)


@_SETTINGS
@given(st.lists(samples, min_size=1, max_size=3))
def test_delta_dataclasses(tmp_path: Path, values: list[Sample]) -> None:
    _samples_on(f"delta://{tmp_path}/store")(values)


def test_delta_file_inside_a_dataclass(tmp_path: Path) -> None:
    _check(f"delta://{tmp_path}/store", echo_attachment, "f", Attachment, _attachments(tmp_path))


# -- SQLite ------------------------------------------------------------------------------


@_SETTINGS
@given(st.lists(arrays(), min_size=1, max_size=3))
def test_sqlite_arrays(tmp_path: Path, values: list[np.ndarray]) -> None:
    _arrays_on(f"sqlite:///{tmp_path}/store.db")(values)


@_SETTINGS
@given(st.lists(samples, min_size=1, max_size=3))
def test_sqlite_dataclasses(tmp_path: Path, values: list[Sample]) -> None:
    _samples_on(f"sqlite:///{tmp_path}/store.db")(values)


def test_sqlite_file_inside_a_dataclass(tmp_path: Path) -> None:
    _check(
        f"sqlite:///{tmp_path}/store.db",
        echo_attachment,
        "f",
        Attachment,
        _attachments(tmp_path),
    )


# -- PostgreSQL --------------------------------------------------------------------------


@pytest.mark.postgres
@_SETTINGS
@given(values=st.lists(arrays(), min_size=1, max_size=3))
def test_postgres_arrays(postgres: PostgresServer, values: list[np.ndarray]) -> None:
    _arrays_on(postgres.url())(values)


@pytest.mark.postgres
@_SETTINGS
@given(values=st.lists(samples, min_size=1, max_size=3))
def test_postgres_dataclasses(postgres: PostgresServer, values: list[Sample]) -> None:
    _samples_on(postgres.url())(values)


@pytest.mark.postgres
def test_postgres_file_inside_a_dataclass(tmp_path: Path, postgres: PostgresServer) -> None:
    _check(postgres.url(), echo_attachment, "f", Attachment, _attachments(tmp_path))
