"""as_table and history after the inputs changed, on every persistent store, across reopenings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import DictSource, Pipeline, function_pod, open_database

if TYPE_CHECKING:
    from pathlib import Path

    from orcapod.protocols.testing.postgres import PostgresServer


@function_pod(output_keys="y")
def square(x: float) -> float:
    return x * x


def _pipeline(uri: str, xs: dict[str, float]) -> Pipeline:
    source = DictSource([{"id": i, "x": x} for i, x in xs.items()], tag_columns=["id"])
    pipeline = Pipeline("current", open_database(uri))
    with pipeline:
        square.pod(source, label="square")
    return pipeline


def _check(uri: str) -> None:
    first = _pipeline(uri, {"a": 1.0, "b": 2.0})
    run_1 = first.run()
    first.database.close()
    edited = _pipeline(uri, {"a": 5.0, "b": 2.0, "c": -0.0})  # reopened: a new process's view
    run_2 = edited.run()
    current = sorted(edited.nodes["square"].as_table().to_pylist(), key=lambda row: row["id"])
    assert current == [{"id": "a", "y": 25.0}, {"id": "b", "y": 4.0}, {"id": "c", "y": 0.0}]
    history: list[dict[str, Any]] = edited.nodes["square"].history().to_pylist()
    assert sorted((row["id"], row["y"], row["__run_id"]) for row in history) == sorted(
        [
            ("a", 1.0, run_1.run_id),
            ("b", 4.0, run_1.run_id),
            ("a", 25.0, run_2.run_id),
            ("c", 0.0, run_2.run_id),
        ]
    )
    edited.database.close()


def test_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path}/store.db")


def test_delta(tmp_path: Path) -> None:
    _check(f"delta://{tmp_path}/store")


@pytest.mark.postgres
def test_postgres(postgres: PostgresServer) -> None:
    _check(postgres.url())
