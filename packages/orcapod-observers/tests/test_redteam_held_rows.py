"""Tags kept whole by a sink (no provenance in their table) are still written from their
Arrow rows: a datetime or array tag column is not rebuilt from its Python values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Tag
from orcapod.observers import StatusObserver


def _array(i: int) -> Any:
    # numpy is not a dependency of orcapod-observers: its own test session has none
    np = pytest.importorskip("numpy")
    return np.arange(i, dtype=np.int64)


VALUES = {
    "datetime": lambda i: dt.datetime(2020, 1, 1) + dt.timedelta(seconds=i),
    "array": _array,
}


@pytest.mark.parametrize("kind", sorted(VALUES))
@pytest.mark.parametrize("with_pipeline_tags", [False, True])
def test_tags_without_provenance_of_any_column_type_are_written(
    kind: str, with_pipeline_tags: bool
) -> None:
    make = VALUES[kind]
    database = InMemoryArrowDatabase()
    context = StatusObserver(database).contextualize("lab", "node", "hash")
    tags: list[Any] = []
    if with_pipeline_tags:  # one chunk: rows of a source's table, then bare tags
        source = DictSource(
            [{"t": make(i), "k": i, "x": i} for i in range(3)], tag_columns=["t", "k"]
        )
        tags += [tag for tag, _ in source.iter_packets()]
    bare = [Tag.from_dict({"t": make(i), "k": i}) for i in (5, 6)]
    tags += bare
    context.on_node_start("node", "hash", tags[0].schema())
    for tag in tags:
        context.on_packet_start("node", tag, tag)
    context.on_node_end("node", "hash")
    events = database.get_all_records(("lab", "_status", "node", "hash"))
    assert events is not None
    assert events.column("k").to_pylist() == [tag["k"] for tag in tags]
    expected = [tag.as_table().column("t")[0] for tag in tags]
    assert events.column("t").to_pylist() == [value.as_py() for value in expected]
    keys = events.column("__packet_key").to_pylist()
    assert keys[-2:] == [tag.content_hash() for tag in bare]
    assert keys[:-2] == [";".join(tag.system_tags()["__provenance"]) for tag in tags[:-2]]
